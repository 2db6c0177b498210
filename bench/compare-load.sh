#!/usr/bin/env bash
# Two armsim binaries compared on the two loads bench/compare.sh leaves out, in alternating rounds: the
# POST storm (scaled clock, retention 1m) and 10,000 operations in flight polled round robin. Not a test:
# it prints and asserts nothing.
#
#   bench/compare-load.sh OLD_ARMSIM NEW_ARMSIM      # 3 rounds: a 10 s storm, then a 5 s poll, per build
#
# Each load runs on a fresh server, as in bench/run.sh, so a round compares the builds at the same moment
# of the host. Prints one line per round, build and load: req/s, p99, the server's CPU per request, and
# for the storm its RSS at the end.
#
# Environment: ROUNDS (3), STORM_SECONDS (10), POLL_SECONDS (5), SERVER_CPU / LOAD_CPU (0/1).
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: bench/compare-load.sh OLD_ARMSIM NEW_ARMSIM" >&2; exit 2; }
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bench="$root/bench"
scpu="${SERVER_CPU:-0}"
lcpu="${LOAD_CPU:-1}"
bins=()
for b in "$1" "$2"; do
    [ -x "$b" ] || { echo "compare-load: $b is not an executable" >&2; exit 2; }
    bins+=("$(cd "$(dirname "$b")" && pwd)/$(basename "$b")")
done
work="$(mktemp -d /tmp/armsim-compare-load.XXXXXX)"
pids=()
BENCH_NAME=compare-load
# shellcheck source=bench/lib.sh
source "$bench/lib.sh"

for round in $(seq 1 "${ROUNDS:-3}"); do
    for which in old new; do
        bin="${bins[0]}"
        [ "$which" = new ] && bin="${bins[1]}"
        start storm "$bin" serve --addr 127.0.0.1:0 --tls off --auth permissive --world "$work/small.json" --operation-retention 1m
        key="$(key_of "$ep")"
        read -r rps _ p99 non _ cpu < <(ARMSIM_KEY="$key" wrkrun storm -c64 -d"${STORM_SECONDS:-10}s" -s "$bench/lua/post.lua" "$ep$svc_path/contoso-apim/backup?api-version=2024-05-01")
        echo "round $round $which storm: $rps req/s, p99 $p99 ms, $cpu µs a request, non-2xx $non, RSS $(mb "$(rss_kb "$pid")") MB"
        stop "$pid"

        start inflight "$bin" serve --addr 127.0.0.1:0 --tls off --auth permissive --clock manual --world "$work/bulk.json"
        key="$(key_of "$ep")"
        bulk_paths "$ep" "$key" "$work/paths.txt"
        read -r rps _ p99 non _ cpu < <(ARMSIM_PATHS="$work/paths.txt" wrkrun inflight -c256 -d"${POLL_SECONDS:-5}s" -s "$bench/lua/paths.lua" "$ep")
        echo "round $round $which 10,000 in flight: $rps req/s, p99 $p99 ms, $cpu µs a request, non-2xx $non"
        stop "$pid"
    done
done
