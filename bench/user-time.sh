#!/usr/bin/env bash
# Two or more armsim binaries compared by the server's user and system CPU per request, in interleaved
# rounds on fresh servers. Not a test: it prints and asserts nothing.
#
#   bench/user-time.sh old=OLD_ARMSIM new=NEW_ARMSIM          # backup POSTs, 5 rounds of 6 s
#   MODE=poll ROUNDS=6 SECONDS_EACH=5 bench/user-time.sh a=A b=B c=C
#
# compare.sh gives each build's throughput as a ratio to a floor measured in the same round; on this
# shared host that ratio moves by a tenth between rounds. The user time a served request costs the
# server moves by a few percent, and it is the part armsim's own code decides (the kernel's share is the
# same for a server that spends the same user time: bench/split.sh), so a change to armsim's code is
# best judged by it. Each round starts every build's server afresh (the POST's fills serve's bound of
# 100,000 finished operations within its first second or two, so rounds of 6 s or more measure mostly the
# steady state), warms it for 1 s, then runs wrk for SECONDS_EACH and reads utime and stime from
# /proc/PID/stat around it. Prints per build the median req/s, the median and range of user µs per request
# and the median system µs, and each round's user figure.
#
# Environment: MODE (post | poll), ROUNDS (5), SECONDS_EACH (6), CONNECTIONS (64), SERVER_CPU / LOAD_CPU (0/1).
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: bench/user-time.sh LABEL=ARMSIM [LABEL=ARMSIM ...]" >&2; exit 2; }
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bench="$root/bench"
mode="${MODE:-post}"
rounds="${ROUNDS:-5}"
secs="${SECONDS_EACH:-6}"
conns="${CONNECTIONS:-64}"
scpu="${SERVER_CPU:-0}"
lcpu="${LOAD_CPU:-1}"
case "$mode" in post | poll) ;; *) echo "user-time: MODE=$mode: expected post or poll" >&2; exit 2 ;; esac
labels=() bins=()
for spec in "$@"; do
    label="${spec%%=*}" bin="${spec#*=}"
    [ "$label" != "$spec" ] && [ -x "$bin" ] || { echo "user-time: $spec is not LABEL=EXECUTABLE" >&2; exit 2; }
    labels+=("$label")
    bins+=("$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")")
done
work="$(mktemp -d /tmp/armsim-user-time.XXXXXX)"
pids=()

BENCH_NAME=user-time
# shellcheck source=bench/lib.sh
source "$bench/lib.sh"
hz="$(getconf CLK_TCK)"

for round in $(seq 1 "$rounds"); do
    log "round $round of $rounds ($mode)"
    for i in "${!bins[@]}"; do
        start "r$round-$i" "${bins[$i]}" serve --addr 127.0.0.1:0 --tls off --auth permissive --clock manual --world "$work/small.json"
        if [ "$mode" = poll ]; then
            args=(-H 'Authorization: Bearer bench' "$(poll_target "$ep")")
        else
            export ARMSIM_KEY; ARMSIM_KEY="$(key_of "$ep")"
            args=(-s "$bench/lua/post.lua" "$ep$svc_path/contoso-apim/backup?api-version=2024-05-01")
        fi
        taskset -c "$lcpu" wrk -t1 -c"$conns" -d1s "${args[@]}" >/dev/null
        read -r u0 s0 < <(awk '{ print $14, $15 }' "/proc/$pid/stat")
        taskset -c "$lcpu" wrk -t1 -c"$conns" -d"${secs}s" "${args[@]}" >"$work/wrk.txt"
        read -r u1 s1 < <(awk '{ print $14, $15 }' "/proc/$pid/stat")
        awk -v l="${labels[$i]}" -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v hz="$hz" '
            / requests in / { n = $1 }
            /Requests\/sec/ { r = $2 }
            END { printf "%s %.0f %.3f %.3f\n", l, r, u * 1e6 / hz / n, s * 1e6 / hz / n }
        ' "$work/wrk.txt" >>"$work/results"
        stop "$pid"
    done
done

echo "$mode, $rounds rounds of ${secs}s at $conns connections; server on core $scpu, wrk on core $lcpu; $(date -u +%Y-%m-%dT%H:%MZ)"
python3 - "$work/results" <<'PY'
import collections, statistics as st, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    label, rps, user, sys_ = line.split()
    runs[label].append((float(rps), float(user), float(sys_)))
print("| build | req/s, median | user µs per request: median (range) | system µs, median | each round's user µs |")
print("|---|---|---|---|---|")
for label, v in runs.items():
    users = [u for _, u, _ in v]
    print(f"| {label} | {st.median(r for r, _, _ in v):.0f} | {st.median(users):.2f} ({min(users):.2f}–{max(users):.2f}) "
          f"| {st.median(s for _, _, s in v):.2f} | {' '.join(f'{u:.2f}' for u in users)} |")
PY
