#!/usr/bin/env bash
# Runs every check and test of the workspace: formatting, clippy with -D warnings,
# all unit, integration and doc tests. Installs what the tests need when missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

if ! command -v cargo >/dev/null 2>&1; then
    echo "test.sh: cargo is required (https://rustup.rs)" >&2
    exit 1
fi
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt clippy

# The Redis tests start their own redis-server (Debian's package); the TLS test
# makes its certificates with openssl; the Celery virtualenv needs python3-venv.
MISSING=()
command -v redis-server >/dev/null 2>&1 || MISSING+=(redis-server)
command -v openssl >/dev/null 2>&1 || MISSING+=(openssl)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || MISSING+=(python3-venv)
# The AMQP tests start their own RabbitMQ node (Debian's package) on free ports.
[ -x /usr/sbin/rabbitmq-server ] || MISSING+=(rabbitmq-server)
# celeryscope's `top` is tested in a tmux pane.
command -v tmux >/dev/null 2>&1 || MISSING+=(tmux)
if [ ${#MISSING[@]} -gt 0 ]; then
    echo "== installing ${MISSING[*]} (apt-get)"
    if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${MISSING[@]}" >/dev/null
    # The package may start a system-wide node listening on every interface;
    # the tests run their own, so stop it.
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet rabbitmq-server 2>/dev/null; then
        $SUDO systemctl stop rabbitmq-server || true
        $SUDO systemctl disable rabbitmq-server >/dev/null 2>&1 || true
    fi
fi

# The Celery interop tests run real Celery (PyPI) from a virtualenv of their own.
VENV="$PWD/target/celery-venv"
if ! "$VENV/bin/python" -c 'import celery, kombu, redis' >/dev/null 2>&1 \
    || ! cmp -s signals-celery/tests/celery/requirements.txt "$VENV/requirements.txt"; then
    echo "== creating $VENV (Celery from PyPI)"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r signals-celery/tests/celery/requirements.txt
    cp signals-celery/tests/celery/requirements.txt "$VENV/requirements.txt"
fi
export SIGNALS_CELERY_PYTHON="$VENV/bin/python"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
echo "== each published crate with no feature and with each feature alone (lib only, as a user's build sees it)"
# The macros have no features and the workspace run above checks them; the
# core's one feature, tracing-spans, gets its own step below.
echo "   signals-dispatch: no features"
cargo clippy -p signals-dispatch --no-default-features -- -D warnings
for features in "" redis redis-tls redis-sentinel amqp; do
    echo "   signals-celery: ${features:-no features}"
    cargo clippy -p signals-celery --no-default-features ${features:+--features "$features"} -- -D warnings
done
for features in "" redis redis-tls amqp; do
    echo "   signals-celery-rs: ${features:-no features}"
    cargo clippy -p signals-celery-rs --no-default-features ${features:+--features "$features"} -- -D warnings
done
echo "== cargo test (unit, integration, doc tests)"
# Release mode: the stress and million-cycle tests run in seconds instead of minutes.
cargo test --workspace --release
echo "== the tracing-spans feature (spans per send and receiver): clippy, then the signals crate's tests with it on"
cargo clippy -p signals-dispatch --all-targets --features tracing-spans -- -D warnings
cargo test --release -p signals-dispatch --features tracing-spans
echo "== loom model tests of the publication protocol, the retry timer and the dispatcher's close gate (--cfg loom, own target dir)"
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test --release -p signals-loom-model
echo "== cargo doc (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --all-features --quiet
echo "== cargo publish --dry-run, every published crate in dependency order"
# The dry run verifies each crate against the others through a local registry
# under target/package, and cargo unpacks that registry's crates into
# $CARGO_HOME/registry/src/-<hash of its path>/ without replacing a copy already
# there. A checkout that is built again at the same path would then verify
# against the crates of an older commit, so those unpacked copies go first.
# (No crate of this workspace is on crates.io, so nothing else is removed.)
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
for crate in $(cargo metadata --no-deps --format-version 1 \
    | python3 -c 'import json, sys; print(" ".join(p["name"] + "-" + p["version"] for p in json.load(sys.stdin)["packages"]))'); do
    rm -rf "$cargo_home"/registry/src/-*/"$crate"
done
cargo publish --workspace --dry-run --allow-dirty --quiet
