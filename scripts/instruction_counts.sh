#!/usr/bin/env bash
# Instructions per call of each case of the instruction benches, by callgrind:
# the core's send cases (signals/benches/instructions.rs) and the Celery
# crate's receive cases (signals-celery/benches/receive_instructions.rs). Each
# case runs with 100,000 and 200,000 iterations (receive cases: 20,000 and
# 40,000 events) and the difference is divided by 100,000 (20,000), so set-up
# and start-up cancel out.
#
#   scripts/instruction_counts.sh [SEND_BENCH_BINARY [RECEIVE_BENCH_BINARY]]
#
# Without arguments it builds both benches (`cargo bench --no-run`) and uses
# those binaries; pass another build's binaries to compare two versions.
# SIGNALS_BENCH_FEATURES=tracing-spans builds the send bench with that feature
# (and SIGNALS_BENCH_SUBSCRIBER=1 then records every span).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v valgrind >/dev/null || { echo "valgrind is required (apt-get install valgrind)" >&2; exit 1; }
bench_binary() { # PACKAGE BENCH [FEATURES...]
    cargo bench -p "$1" --bench "$2" --no-run --message-format=json "${@:3}" 2>/dev/null \
        | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == sys.argv[1] and m.get("executable"):
        print(m["executable"])' "$2"
}
SEND_BIN="${1:-$(bench_binary signals-dispatch instructions ${SIGNALS_BENCH_FEATURES:+--features "$SIGNALS_BENCH_FEATURES"})}"
RECEIVE_BIN="${2:-$(bench_binary signals-celery receive_instructions)}"
count() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$1" "$2" "$3" 2>&1 \
        | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
# CASES="send_1 send_10" picks cases; all by default.
CASES="${CASES:-send_0 send_1 send_10 send_100 send_robust_1 send_robust_10 send_filtered_10 send_filtered_cached_1 send_filtered_cached_10 send_filtered_cached_100 has_listeners_miss receive_typed receive_state state_apply state_scan_apply}"
for case in $CASES; do
    # A `receive_*` iteration is one event of a 100-event message: fewer.
    case "$case" in
        receive_*|state_*) n=20000; bin="$RECEIVE_BIN" ;;
        *) n=100000; bin="$SEND_BIN" ;;
    esac
    low=$(count "$bin" "$case" "$n")
    high=$(count "$bin" "$case" $((2 * n)))
    echo "$case $(( (high - low) / n ))"
done
