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
# Environment: ROUNDS (5), SECONDS_EACH (5), CONNECTIONS (64), SERVER_CPU / LOAD_CPU (0/1).
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
# measure ROUND LABEL MODE BIN : one measurement appended to $results as "round label mode rps cpu p99".
measure() {
    local round="$1" label="$2" mode="$3" bin="$4" rps p50 p99 non2xx errors cpu
    # Each start gets its own name: `start` reads the endpoint from that name's ready file.
    local name="r$round-$label-$mode-$RANDOM"
    if [ "$mode" = floor ]; then
        start "$name" "$floor" 127.0.0.1:0
        read -r rps p50 p99 non2xx errors cpu < <(wrkrun "$name" -c"$conns" -d"${secs}s" "$ep/x")
    else
        start "$name" "$bin" serve --addr 127.0.0.1:0 --tls off --auth permissive --clock manual --world "$work/small.json"
        local key loc
        key="$(key_of "$ep")"
        if [ "$mode" = poll ]; then
            loc="$(poll_target "$ep")"
            read -r rps p50 p99 non2xx errors cpu < <(wrkrun "$name" -c"$conns" -d"${secs}s" -H 'Authorization: Bearer bench' "$loc")
        else
            read -r rps p50 p99 non2xx errors cpu < <(ARMSIM_KEY="$key" wrkrun "$name" -c"$conns" -d"${secs}s" -s "$bench/lua/post.lua" "$ep$svc_path/contoso-apim/backup?api-version=2024-05-01")
        fi
        if [ "$non2xx" != 0 ] || [ "$errors" != 0 ]; then
            log "round $round, $label $mode: $non2xx non-2xx answers and $errors socket errors"
        fi
    fi
    stop "$pid"
    echo "$round $label $mode $rps $cpu $p99" >>"$results"
}

for round in $(seq 1 "$rounds"); do
    log "round $round of $rounds"
    measure "$round" floor floor ""
    for mode in poll post; do
        measure "$round" old "$mode" "${bins[0]}"
        measure "$round" new "$mode" "${bins[1]}"
    done
    measure "$round" floor floor ""
done

echo "old: ${bins[0]}"
echo "new: ${bins[1]}"
echo "$rounds rounds of ${secs}s at $conns connections; server on core $scpu, wrk on core $lcpu; $(date -u +%Y-%m-%dT%H:%MZ)"
python3 - "$results" <<'PY'
import collections, statistics, sys
floors, rows = collections.defaultdict(list), collections.defaultdict(list)
for line in open(sys.argv[1]):
    rnd, label, mode, rps, cpu, p99 = line.split()
    (floors[rnd] if mode == "floor" else rows[(mode, label)]).append((rnd, float(rps), float(cpu), float(p99)))
def floor_of(rnd):
    f = floors[rnd]
    return statistics.mean(x[1] for x in f), statistics.mean(x[2] for x in f)
print("| measurement | build | throughput ÷ floor: median (range) | server CPU per request: median (range) | p99 median |")
print("|---|---|---|---|---|")
for mode in ("poll", "post"):
    for label in ("old", "new"):
        got = rows[(mode, label)]
        ratios = [rps / floor_of(rnd)[0] for rnd, rps, _, _ in got]
        cpus = [cpu for _, _, cpu, _ in got]
        p99s = [p99 for _, _, _, p99 in got]
        name = {"poll": "poll GET", "post": "backup POST"}[mode]
        print(f"| {name} | {label} | {statistics.median(ratios):.2f}× ({min(ratios):.2f}–{max(ratios):.2f}) "
              f"| {statistics.median(cpus):.1f} µs ({min(cpus):.1f}–{max(cpus):.1f}) | {statistics.median(p99s):.2f} ms |")
fl = [x for v in floors.values() for x in v]
print(f"\nFloor over the rounds: {min(x[1] for x in fl):.0f}–{max(x[1] for x in fl):.0f} req/s, "
      f"{min(x[2] for x in fl):.1f}–{max(x[2] for x in fl):.1f} µs CPU per request.")
PY
