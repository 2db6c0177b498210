#!/usr/bin/env bash
# Two armsim binaries compared in interleaved rounds, each round with its own hyper floor: the before/after
# that a shared machine allows. Not a test: it prints and asserts nothing.
#
#   bench/compare.sh OLD_ARMSIM NEW_ARMSIM          # 5 rounds of 5 s per measurement
#   ROUNDS=8 SECONDS_EACH=4 bench/compare.sh A B
#
# A round measures the floor, then poll GET and backup POST for OLD and NEW, then the floor again. On a
# host whose speed drifts (one measured the same floor at 7.0 and 9.9 µs per request three minutes apart)
# whole runs of bench/run.sh one after the other compare the host's moments as much as the builds; measured
# within a round, against that round's floor, the drift cancels. Prints, per binary and measurement, the
# median and range over the rounds of the throughput ratio to the floor and the server's CPU per request.
#
# Environment: ROUNDS (5), SECONDS_EACH (5), WARMUP_SECONDS (2, unmeasured, before each), CONNECTIONS (64),
# SERVER_CPU / LOAD_CPU (0/1).
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: bench/compare.sh OLD_ARMSIM NEW_ARMSIM" >&2; exit 2; }
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bench="$root/bench"
rounds="${ROUNDS:-5}"
secs="${SECONDS_EACH:-5}"
conns="${CONNECTIONS:-64}"
scpu="${SERVER_CPU:-0}"
lcpu="${LOAD_CPU:-1}"
bins=()
for b in "$1" "$2"; do
    [ -x "$b" ] || { echo "compare: $b is not an executable" >&2; exit 2; }
    bins+=("$(cd "$(dirname "$b")" && pwd)/$(basename "$b")")
done
work="$(mktemp -d /tmp/armsim-compare.XXXXXX)"
pids=()

BENCH_NAME=compare
# Logging, cleanup, wrk, the worlds; then the helpers.
# shellcheck source=bench/lib.sh
source "$bench/lib.sh"
floor_binary

results="$work/results.txt"

for round in $(seq 1 "$rounds"); do
    log "round $round of $rounds"
    measure_round "$round" floor floor "" "$results" "$secs"
    for mode in poll post; do
        measure_round "$round" old "$mode" "${bins[0]}" "$results" "$secs"
        measure_round "$round" new "$mode" "${bins[1]}" "$results" "$secs"
    done
    measure_round "$round" floor floor "" "$results" "$secs"
done

echo "old: ${bins[0]}"
echo "new: ${bins[1]}"
echo "$rounds rounds of ${secs}s at $conns connections; server on core $scpu, wrk on core $lcpu; $(date -u +%Y-%m-%dT%H:%MZ)"
python3 "$bench/rounds.py" "$results"
