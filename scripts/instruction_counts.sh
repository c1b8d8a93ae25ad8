#!/usr/bin/env bash
# Instructions per call of each case of benches/instructions.rs, by callgrind:
# each case runs with 100,000 and 200,000 iterations (receive cases: 20,000
# and 40,000 events) and the difference is divided by 100,000 (20,000), so
# set-up and start-up cancel out.
#
#   scripts/instruction_counts.sh [BENCH_BINARY]
#
# Without an argument it builds the bench (`cargo bench --no-run`) and uses
# that binary; pass another build's binary to compare two versions.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v valgrind >/dev/null || { echo "valgrind is required (apt-get install valgrind)" >&2; exit 1; }
BIN="${1:-}"
if [ -z "$BIN" ]; then
    BIN=$(cargo bench --bench instructions --no-run --message-format=json 2>/dev/null \
        | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "instructions" and m.get("executable"):
        print(m["executable"])')
fi
count() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$BIN" "$1" "$2" 2>&1 \
        | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
# CASES="send_1 send_10" picks cases; all by default.
CASES="${CASES:-send_0 send_1 send_10 send_100 send_robust_1 send_robust_10 send_filtered_10 send_filtered_cached_1 send_filtered_cached_10 send_filtered_cached_100 has_listeners_miss receive_typed receive_state state_apply state_scan_apply}"
for case in $CASES; do
    # A `receive_*` iteration is one event of a 100-event message: fewer.
    case "$case" in receive_*|state_*) n=20000 ;; *) n=100000 ;; esac
    low=$(count "$case" "$n")
    high=$(count "$case" $((2 * n)))
    echo "$case $(( (high - low) / n ))"
done
