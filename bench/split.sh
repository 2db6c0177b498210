#!/usr/bin/env bash
# Where armsim's extra time per request goes: its own instructions (user time) or the kernel's (system
# time), each against a floor given the same answer and the same user time. Not a test: it prints and
# asserts nothing.
#
#   bench/split.sh                 # 5 interleaved rounds of 4 s per measurement, about 3 minutes
#   ARMSIM_BIN=path/to/armsim ROUNDS=3 bench/split.sh
#
# A round measures, for the poll and then for the backup POST:
#   1. armsim, its user and system CPU per request (from /proc/PID/stat);
#   2. the floor with armsim's headers as constants (`hyper-floor --arm-headers`), sent the same request;
#   3. that floor again with `--busy-ns` set to armsim's extra user time measured in step 1 and 2, so its
#      user time matches armsim's while its memory and code stay a spin loop's;
# then the bare floor's `GET /x`, which the issue's ratios divide by. Step 3's system time is what the
# kernel costs a server as busy as armsim in user space; armsim's system time above it is what armsim's
# footprint (its code, its heap, its journal) costs the kernel's own work on the same core.
#
# Environment: ARMSIM_BIN, ROUNDS (5), SECONDS_EACH (4), CONNECTIONS (64), SERVER_CPU / LOAD_CPU (0/1).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bench="$root/bench"
rounds="${ROUNDS:-5}"
secs="${SECONDS_EACH:-4}"
conns="${CONNECTIONS:-64}"
scpu="${SERVER_CPU:-0}"
lcpu="${LOAD_CPU:-1}"
work="$(mktemp -d /tmp/armsim-split.XXXXXX)"
pids=()

BENCH_NAME=split
# shellcheck source=bench/lib.sh
source "$bench/lib.sh"
binaries

post="$svc_path/contoso-apim/backup?api-version=2024-05-01"
results="$work/results.txt"

# cpu_split LABEL WRK-ARGS... : wrk against the server $pid; prints "rps user_us sys_us" per request.
cpu_split() {
    local u0 s0 u1 s1
    read -r u0 s0 < <(awk '{ print $14, $15 }' "/proc/$pid/stat")
    taskset -c "$lcpu" wrk -t1 -c"$conns" -d"${secs}s" "${@:2}" >"$work/wrk-$1.txt" 2>&1 || true
    read -r u1 s1 < <(awk '{ print $14, $15 }' "/proc/$pid/stat")
    awk -v u="$((u1 - u0))" -v s="$((s1 - s0))" -v hz="$(getconf CLK_TCK)" '
        / requests in / { n = $1 }
        /Requests\/sec/ { rps = $2 }
        /Non-2xx/ { bad = 1 }
        END { if (n == 0 || bad) { print "0 0 0"; exit } printf "%.0f %.3f %.3f\n", rps, u * 1e6 / hz / n, s * 1e6 / hz / n }
    ' "$work/wrk-$1.txt"
}

# measure ROUND MODE : armsim, the constant-headers floor, and that floor busy for armsim's extra user time.
measure() {
    local round="$1" mode="$2" name="r$1-$2" rps user sys url floor_path busy_ns
    local opts=(-H 'Authorization: Bearer bench')
    start "$name" "$armsim" serve --addr 127.0.0.1:0 --tls off --auth permissive --clock manual --world "$work/small.json"
    if [ "$mode" = poll ]; then
        url="$(poll_target "$ep")"
        floor_path="$poll_shape"
    else
        ARMSIM_KEY="$(key_of "$ep")"
        export ARMSIM_KEY
        opts=(-s "$bench/lua/post.lua")
        url="$ep$post"
        floor_path="$post"
    fi
    read -r rps user sys < <(cpu_split "$name" "${opts[@]}" "$url")
    stop "$pid"
    echo "$round $mode armsim $rps $user $sys" >>"$results"
    local armsim_user="$user"
    start "$name-floor" "$floor" 127.0.0.1:0 --arm-headers
    read -r rps user sys < <(cpu_split "$name-floor" "${opts[@]}" "$ep$floor_path")
    stop "$pid"
    echo "$round $mode floor-arm $rps $user $sys" >>"$results"
    busy_ns="$(awk -v a="$armsim_user" -v f="$user" 'BEGIN { d = (a - f) * 1000; printf "%d", (d > 0 ? d : 0) }')"
    start "$name-busy" "$floor" 127.0.0.1:0 --arm-headers --busy-ns "$busy_ns"
    read -r rps user sys < <(cpu_split "$name-busy" "${opts[@]}" "$ep$floor_path")
    stop "$pid"
    echo "$round $mode floor-busy $rps $user $sys" >>"$results"
}

for round in $(seq 1 "$rounds"); do
    log "round $round of $rounds"
    measure "$round" poll
    measure "$round" post
    start "r$round-floor" "$floor" 127.0.0.1:0
    read -r rps user sys < <(cpu_split "r$round-floor" "$ep/x")
    stop "$pid"
    echo "$round floor floor $rps $user $sys" >>"$results"
done

echo "armsim: $armsim"
echo "$rounds rounds of ${secs}s at $conns connections; server on core $scpu, wrk on core $lcpu; $(date -u +%Y-%m-%dT%H:%MZ)"
python3 - "$results" <<'PY'
import collections, statistics, sys
rows, floor = collections.defaultdict(list), {}
for line in open(sys.argv[1]):
    rnd, mode, who, rps, user, sys_ = line.split()
    if float(rps) == 0:
        print(f"round {rnd}: {mode} {who} failed (no requests, or non-2xx answers); left out")
        continue
    if mode == "floor":
        floor[rnd] = float(rps)
    else:
        rows[(mode, who)].append((rnd, float(rps), float(user), float(sys_)))
def med(xs):
    return f"{statistics.median(xs):.2f} ({min(xs):.2f}–{max(xs):.2f})"
print("| request | server | ÷ floor `GET /x` | user µs/request | system µs/request | total µs/request |")
print("|---|---|---|---|---|---|")
names = {"armsim": "armsim", "floor-arm": "floor, armsim's headers", "floor-busy": "same, busy for armsim's extra user time"}
for mode in ("poll", "post"):
    for who in ("armsim", "floor-arm", "floor-busy"):
        got = [r for r in rows[(mode, who)] if r[0] in floor]
        if not got:
            continue
        print(f"| {mode} | {names[who]} | {med([r[1] / floor[r[0]] for r in got])} | {med([r[2] for r in got])} "
              f"| {med([r[3] for r in got])} | {med([r[2] + r[3] for r in got])} |")
    pairs = {r[0]: r for r in rows[(mode, "armsim")]}
    extra = [pairs[r[0]][3] - r[3] for r in rows[(mode, "floor-busy")] if r[0] in pairs]
    if extra:
        print(f"\n{mode}: armsim's system time above the busy floor's, same round: median {statistics.median(extra):.2f} µs "
              f"({min(extra):.2f}–{max(extra):.2f}) a request\n")
PY
