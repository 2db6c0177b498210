#!/usr/bin/env bash
# armsim's benchmarks, measured in one run against a minimal hyper server built here (the practical floor).
# Not a test: figures are printed and written to bench/latest.md, never asserted.
#
#   bench/run.sh                       # everything, ~7 minutes with the default 60 s storm
#   BENCH_SECONDS=5 STORM_SECONDS=10 bench/run.sh   # a quick look
#
# Environment:
#   BENCH_SECONDS   duration of each throughput measurement (default 10)
#   STORM_SECONDS   duration of the POST storm (default 60)
#   CONNECTIONS     wrk connections for throughput (default 64)
#   SERVER_CPU / LOAD_CPU   cores for the server and for wrk (default 0 and 1)
#   RATIO_ROUNDS / RATIO_SECONDS   interleaved rounds for the two target ratios (default 5 of 5 s each)
#   ARMSIM_BIN      measure this armsim binary instead of building the repo's: to compare two commits
#                   in alternating runs on the same machine (the floor is rebuilt and measured each run)
#
# Besides wrk's throughput and latency, each throughput row reports the server's CPU time per request
# (user + system, from /proc): a figure that moves far less than req/s when the machine is busy.
#
# Installs wrk with apt-get when missing; builds armsim and bench/hyper-floor in release mode.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bench="$root/bench"
secs="${BENCH_SECONDS:-10}"
storm="${STORM_SECONDS:-60}"
conns="${CONNECTIONS:-64}"
ratio_rounds="${RATIO_ROUNDS:-5}"
ratio_secs="${RATIO_SECONDS:-5}"
scpu="${SERVER_CPU:-0}"
lcpu="${LOAD_CPU:-1}"
work="$(mktemp -d /tmp/armsim-bench.XXXXXX)"
out="$bench/latest.md"
pids=()

# Logging, cleanup of what is started, wrk installed, the worlds written; then the helpers.
# shellcheck source=bench/lib.sh
source "$bench/lib.sh"

binaries

declare -A R
# ---- 1. the hyper floor ---------------------------------------------------------------------------------
log "hyper floor: GET, the backup POST and the poll for ${secs}s each at $conns connections, then GET with armsim's twelve headers as constants"
start floor "$floor" 127.0.0.1:0
read -r R[floor_rps] R[floor_p50] R[floor_p99] _ _ R[floor_cpu] < <(wrkrun floor -c"$conns" -d"${secs}s" "$ep/x")
# The same floor sent the benchmark's backup POST (headers and JSON body, which it reads to the end): what
# hyper costs for that request with nothing behind it. The key is any text; the floor checks nothing.
read -r R[floorpost_rps] R[floorpost_p50] R[floorpost_p99] _ _ R[floorpost_cpu] < <(ARMSIM_KEY=any wrkrun floor-post -c"$conns" -d"${secs}s" -s "$bench/lua/post.lua" "$ep$svc_path/contoso-apim/backup?api-version=2024-05-01")
# And sent the poll: lib.sh's path of the poll's shape, with its Authorization header.
read -r R[floorpoll_rps] R[floorpoll_p50] R[floorpoll_p99] _ _ R[floorpoll_cpu] < <(wrkrun floor-poll -c"$conns" -d"${secs}s" -H 'Authorization: Bearer bench' "$ep$poll_shape")
stop "$pid"
start floor-arm "$floor" 127.0.0.1:0 --arm-headers
read -r R[floorarm_rps] R[floorarm_p50] R[floorarm_p99] _ _ R[floorarm_cpu] < <(wrkrun floor-arm -c"$conns" -d"${secs}s" "$ep/x")
stop "$pid"

# ---- 2. armsim: poll GET, backup POST, the 409 path -----------------------------------------------------
log "armsim: poll GET, backup POST"
start armsim "$armsim" serve --addr 127.0.0.1:0 --tls off --auth permissive --clock manual --world "$work/small.json"
key="$(key_of "$ep")"
loc="$(poll_target "$ep")"
read -r R[poll_rps] R[poll_p50] R[poll_p99] R[poll_non2xx] _ R[poll_cpu] < <(wrkrun poll -c"$conns" -d"${secs}s" -H 'Authorization: Bearer bench' "$loc")
read -r R[post_rps] R[post_p50] R[post_p99] R[post_non2xx] _ R[post_cpu] < <(ARMSIM_KEY="$key" wrkrun post -c"$conns" -d"${secs}s" -s "$bench/lua/post.lua" "$ep$svc_path/contoso-apim/backup?api-version=2024-05-01")
# The busy path: a service whose backup takes 9 minutes answers 409 to every POST after the first.
read -r R[busy_rps] R[busy_p50] R[busy_p99] R[busy_non2xx] _ R[busy_cpu] < <(ARMSIM_KEY="$key" wrkrun busy -c"$conns" -d"${secs}s" -s "$bench/lua/post.lua" "$ep$svc_path/contoso-apim-dr/backup?api-version=2024-05-01")
stop "$pid"

# ---- the floor again, right after armsim's poll and POST --------------------------------------------------
# Every ratio in the table is to the mean of this and the first floor, as compare.sh's are to its round's
# two: a host's speed drifts within a run (one measured its floor at 170 k req/s and, a minute later, the
# floor's own variants at 0.80-0.91 of that), and a floor measured once, before, charged all of the drift
# to armsim's rows.
log "hyper floor again: GET for ${secs}s"
start floor-again "$floor" 127.0.0.1:0
read -r R[floor2_rps] R[floor2_p50] R[floor2_p99] _ _ R[floor2_cpu] < <(wrkrun floor-again -c"$conns" -d"${secs}s" "$ep/x")
stop "$pid"
R[floor_mean]="$(awk -v a="${R[floor_rps]}" -v b="${R[floor2_rps]}" 'BEGIN { printf "%.0f", (a + b) / 2 }')"

# ---- the two target ratios, over interleaved rounds ------------------------------------------------------
# One floor-armsim-floor pass is one sample of a host whose speed drifts: the same build has measured a
# POST at 0.59× and 0.67× of the floor an hour apart. The targets are judged on the median over rounds,
# each round's poll and POST divided by that round's own two floors (measure_round in lib.sh, as
# compare.sh does), with the range beside it.
log "the poll and POST ratios: $ratio_rounds interleaved rounds of floor, poll, POST, floor (${ratio_secs}s each)"
for round in $(seq 1 "$ratio_rounds"); do
    measure_round "$round" floor floor "" "$work/rounds.txt" "$ratio_secs"
    measure_round "$round" armsim poll "$armsim" "$work/rounds.txt" "$ratio_secs"
    measure_round "$round" armsim post "$armsim" "$work/rounds.txt" "$ratio_secs"
    measure_round "$round" floor floor "" "$work/rounds.txt" "$ratio_secs"
done
python3 "$bench/rounds.py" "$work/rounds.txt" >"$work/rounds.md"
read -r _ _ R[poll_med] R[poll_min] R[poll_max] _ < <(python3 "$bench/rounds.py" "$work/rounds.txt" --plain | awk '$1 == "poll"')
read -r _ _ R[post_med] R[post_min] R[post_max] _ < <(python3 "$bench/rounds.py" "$work/rounds.txt" --plain | awk '$1 == "post"')

# ---- 2a. backups named apart, as DR clients name them: each is kept as a blob, as storage keeps it ------
log "armsim: backup POST, each with a blob name of its own"
start named "$armsim" serve --addr 127.0.0.1:0 --tls off --auth permissive --clock manual --world "$work/small.json"
read -r R[named_rps] R[named_p50] R[named_p99] R[named_non2xx] _ R[named_cpu] < <(ARMSIM_KEY="$(key_of "$ep")" wrkrun named -c"$conns" -d"${secs}s" -s "$bench/lua/post-named.lua" "$ep$svc_path/contoso-apim/backup?api-version=2024-05-01")
R[named_rss]="$(rss_kb "$pid")"
stop "$pid"

# ---- 2b. the poll under serve's default, strict auth: a real RS256 token from armsim's own Azure AD ----
log "armsim: poll GET with strict auth (a signed token on every request)"
start strict "$armsim" serve --addr 127.0.0.1:0 --tls off --auth strict --clock manual --world "$work/small.json"
token="$(curl -sf "$ep/11111111-1111-1111-1111-111111111111/oauth2/v2.0/token" -d grant_type=client_credentials \
    -d client_id=22222222-2222-2222-2222-222222222222 -d client_secret=armsim-contributor-secret \
    -d scope=https://management.azure.com/.default | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"
loc="$(poll_target "$ep" "$token")"
read -r R[strict_rps] R[strict_p50] R[strict_p99] R[strict_non2xx] _ R[strict_cpu] < <(wrkrun strict -c"$conns" -d"${secs}s" -H "Authorization: Bearer $token" "$loc")
stop "$pid"

# ---- 2c. the simulator alone, in process: no network, no hyper, no kernel (simulator/benches/handle.rs) --
log "Simulator::handle in process (cargo bench --bench handle)"
(cd "$root" && cargo bench -q -p armsim-simulator --bench handle --locked 2>/dev/null) >"$work/handle.txt" || true
read -r R[handle_poll_ns] R[handle_poll_allocs] < <(awk '/^  poll GET  / {print $3, $5}' "$work/handle.txt")
read -r R[handle_post_ns] R[handle_post_allocs] < <(awk '/^  backup POST/ {print $3, $5}' "$work/handle.txt")
read -r R[handle_strict_ns] R[handle_strict_allocs] < <(awk '/strict auth/ {print $(NF-5), $(NF-3)}' "$work/handle.txt")

# ---- 3. cold start and idle RSS -------------------------------------------------------------------------
log "cold start (median of 7) and idle RSS"
read -r R[cold_ms] R[idle_rss] < <(python3 - "$armsim" "$scpu" <<'PY'
import socket, subprocess, sys, time, statistics
armsim, cpu = sys.argv[1], sys.argv[2]
times, rss = [], 0
for i in range(7):
    port = 18600 + i
    t0 = time.perf_counter()
    p = subprocess.Popen(["taskset", "-c", cpu, armsim, "serve", "--addr", f"127.0.0.1:{port}", "--clock", "manual", "--tls", "off", "--auth", "permissive"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=1)
            s.sendall(b"GET /_armsim/health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            if s.recv(12).startswith(b"HTTP/1.1 200"):
                times.append((time.perf_counter() - t0) * 1000)
                s.close()
                break
        except OSError:
            time.sleep(0.0005)
        if time.perf_counter() - t0 > 10:
            p.kill()
            sys.exit("armsim did not answer within 10 s")
    time.sleep(0.3)
    rss = max(rss, int(next(l.split()[1] for l in open(f"/proc/{p.pid}/status") if l.startswith("VmRSS"))))
    p.kill(); p.wait()
print(f"{statistics.median(times):.1f} {rss}")
PY
)

# ---- 4. the POST storm ----------------------------------------------------------------------------------
log "POST storm for ${storm}s (scaled clock, retention 1m, journal 10,000) with RSS sampled every second"
start storm "$armsim" serve --addr 127.0.0.1:0 --tls off --auth permissive --world "$work/small.json" --operation-retention 1m
key="$(key_of "$ep")"
R[storm_rss_before]="$(rss_kb "$pid")"
( for _ in $(seq 1 $((storm + 5))); do rss_kb "$pid" >>"$work/storm-rss.txt" 2>/dev/null || break; sleep 1; done ) &
sampler=$!
read -r R[storm_rps] R[storm_p50] R[storm_p99] R[storm_non2xx] _ R[storm_cpu] < <(ARMSIM_KEY="$key" wrkrun storm -c"$conns" -d"${storm}s" -s "$bench/lua/post.lua" "$ep$svc_path/contoso-apim/backup?api-version=2024-05-01")
kill "$sampler" 2>/dev/null || true
R[storm_rss_after]="$(rss_kb "$pid")"
# Flat: the peak over the storm's second half against the peak over its first half.
read -r R[storm_rss_half1] R[storm_rss_half2] < <(awk '{ v[NR] = $1 } END { h = int(NR / 2); for (i = 1; i <= NR; i++) { if (i <= h && v[i] > a) a = v[i]; if (i > h && v[i] > b) b = v[i] } print a, b }' "$work/storm-rss.txt")
read -r R[after_rps] R[after_p50] R[after_p99] _ _ _ < <(wrkrun after -c"$conns" -d"${secs}s" -H 'Authorization: Bearer bench' "$ep/_armsim/health")
stop "$pid"

# ---- 5. 10,000 operations in flight, polled concurrently ------------------------------------------------
log "10,000 operations in flight, polled at 256 connections"
start inflight "$armsim" serve --addr 127.0.0.1:0 --tls off --auth permissive --clock manual --world "$work/bulk.json"
key="$(key_of "$ep")"
bulk_paths "$ep" "$key" "$work/paths.txt"
R[inflight_rss]="$(rss_kb "$pid")"
read -r R[inflight_rps] R[inflight_p50] R[inflight_p99] R[inflight_non2xx] _ R[inflight_cpu] < <(ARMSIM_PATHS="$work/paths.txt" wrkrun inflight -c256 -d"${secs}s" -s "$bench/lua/paths.lua" "$ep")
stop "$pid"

# ---- 6. a durable write (--data-dir) -------------------------------------------------------------------
log "durable writes: clock advances with --data-dir, one connection"
start durable "$armsim" serve --addr 127.0.0.1:0 --tls off --auth permissive --clock manual --data-dir "$work/data"
read -r R[durable_rps] R[durable_p50] R[durable_p99] _ _ _ < <(wrkrun durable -c1 -d"${secs}s" -s "$bench/lua/advance.lua" "$ep/_armsim/clock/advance")
stop "$pid"

# ---- 7. the harness's scenario catalogue ---------------------------------------------------------------
# The step scenarios run against in-process simulators; the client scenarios run the reference client
# (tests/clients/reference.py, standard library only) against served ones, where its own sleeping at the
# scaled Retry-After is most of the time.
log "the scenario catalogue: simulator mode, then client mode with the reference client"
catalogue() { # LABEL ARGS... -> "seconds summary"
    local label="$1"; shift
    local t0; t0=$(date +%s.%N)
    (cd "$root" && "$armsim" run "$@") >"$work/catalogue-$label.txt" 2>&1 || true
    local t1; t1=$(date +%s.%N)
    printf '%s %s\n' "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')" \
        "$(grep -Eo '[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped' "$work/catalogue-$label.txt" | tail -1 | tr ' ' '_')"
}
read -r R[cat_sim_s] R[cat_sim] < <(catalogue sim scenarios)
read -r R[cat_client_s] R[cat_client] < <(catalogue client scenarios --client "python3 tests/clients/reference.py")

# ---- report ---------------------------------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f×", a / b; else print "n/a" }'; }
machine="$(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(awk '/MemTotal/ {printf "%.0f GB", $2/1048576}' /proc/meminfo), load average before: $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%Y-%m-%d)"
{
echo "Machine: $machine. Server on core $scpu, wrk on core $lcpu, ${secs}s per measurement, $conns connections unless said."
[ -n "${ARMSIM_BIN:-}" ] && echo "armsim binary: $ARMSIM_BIN."
echo
echo "| measurement | result | server CPU per request | target | ratio to the hyper floor |"
echo "|---|---|---|---|---|"
echo "| hyper floor, fixed 202 (Location, Retry-After): the mean of its two measurements | ${R[floor_mean]} req/s | | — | 1.00× |"
echo "| hyper floor, measured first | ${R[floor_rps]} req/s, p50 ${R[floor_p50]} ms, p99 ${R[floor_p99]} ms | ${R[floor_cpu]} µs | — | $(ratio "${R[floor_rps]}" "${R[floor_mean]}") |"
echo "| hyper floor, measured again after armsim's poll and POST | ${R[floor2_rps]} req/s, p50 ${R[floor2_p50]} ms, p99 ${R[floor2_p99]} ms | ${R[floor2_cpu]} µs | — | $(ratio "${R[floor2_rps]}" "${R[floor_mean]}") |"
echo "| hyper floor sent the backup POST (same request, body read) | ${R[floorpost_rps]} req/s, p50 ${R[floorpost_p50]} ms, p99 ${R[floorpost_p99]} ms | ${R[floorpost_cpu]} µs | — | $(ratio "${R[floorpost_rps]}" "${R[floor_mean]}") |"
echo "| hyper floor sent the poll (its path and Authorization) | ${R[floorpoll_rps]} req/s, p50 ${R[floorpoll_p50]} ms, p99 ${R[floorpoll_p99]} ms | ${R[floorpoll_cpu]} µs | — | $(ratio "${R[floorpoll_rps]}" "${R[floor_mean]}") |"
echo "| hyper floor with armsim's twelve headers, as constants | ${R[floorarm_rps]} req/s, p50 ${R[floorarm_p50]} ms, p99 ${R[floorarm_p99]} ms | ${R[floorarm_cpu]} µs | — | $(ratio "${R[floorarm_rps]}" "${R[floor_mean]}") |"
echo "| armsim poll GET (running operation, 202) | ${R[poll_rps]} req/s, p50 ${R[poll_p50]} ms, p99 ${R[poll_p99]} ms (non-2xx: ${R[poll_non2xx]}) | ${R[poll_cpu]} µs | ≥ 0.8×, p99 ≤ 3 ms | **${R[poll_med]}× (${R[poll_min]}–${R[poll_max]})** over $ratio_rounds rounds; single pass $(ratio "${R[poll_rps]}" "${R[floor_mean]}") ($(ratio "${R[poll_rps]}" "${R[floorpoll_rps]}") of the floor sent the poll) |"
echo "| armsim backup POST (0 s backups: every POST accepted, 202; serve's bound of 100,000 finished operations) | ${R[post_rps]} req/s, p50 ${R[post_p50]} ms, p99 ${R[post_p99]} ms (non-2xx: ${R[post_non2xx]}) | ${R[post_cpu]} µs | ≥ 0.7×, p99 ≤ 3 ms | **${R[post_med]}× (${R[post_min]}–${R[post_max]})** over $ratio_rounds rounds; single pass $(ratio "${R[post_rps]}" "${R[floor_mean]}") ($(ratio "${R[post_rps]}" "${R[floorpost_rps]}") of the floor sent the same POST) |"
echo "| armsim poll GET under serve's default strict auth (RS256 token) | ${R[strict_rps]} req/s, p50 ${R[strict_p50]} ms, p99 ${R[strict_p99]} ms (non-2xx: ${R[strict_non2xx]}) | ${R[strict_cpu]} µs | — | $(ratio "${R[strict_rps]}" "${R[floor_mean]}") |"
echo "| armsim backup POST on a busy service (409 path) | ${R[busy_rps]} req/s, p50 ${R[busy_p50]} ms, p99 ${R[busy_p99]} ms (non-2xx: ${R[busy_non2xx]}) | ${R[busy_cpu]} µs | — | $(ratio "${R[busy_rps]}" "${R[floor_mean]}") |"
echo "| armsim backup POST, each with a blob name of its own (every backup kept as a blob) | ${R[named_rps]} req/s, p50 ${R[named_p50]} ms, p99 ${R[named_p99]} ms (non-2xx: ${R[named_non2xx]}), RSS after $(mb "${R[named_rss]}") MB | ${R[named_cpu]} µs | — | $(ratio "${R[named_rps]}" "${R[floor_mean]}") |"
echo "| cold start to first answered request (median of 7) | ${R[cold_ms]} ms | | ≤ 30 ms | |"
echo "| idle RSS | $(mb "${R[idle_rss]}") MB | | ≤ 15 MB | |"
echo "| POST storm, ${storm}s (scaled clock, retention 1m) | ${R[storm_rps]} req/s, p50 ${R[storm_p50]} ms, p99 ${R[storm_p99]} ms (non-2xx: ${R[storm_non2xx]}) | ${R[storm_cpu]} µs | p99 ≤ 3 ms | $(ratio "${R[storm_rps]}" "${R[floor_mean]}") |"
echo "| RSS: before the storm → peak of 1st half → peak of 2nd half → after | $(mb "${R[storm_rss_before]}") → $(mb "${R[storm_rss_half1]}") → $(mb "${R[storm_rss_half2]}") → $(mb "${R[storm_rss_after]}") MB | | flat | |"
echo "| health GET after the storm | ${R[after_rps]} req/s, p99 ${R[after_p99]} ms | | p99 ≤ 3 ms | |"
echo "| 10,000 operations in flight, polled round robin at 256 connections | ${R[inflight_rps]} req/s, p50 ${R[inflight_p50]} ms, p99 ${R[inflight_p99]} ms (non-2xx: ${R[inflight_non2xx]}), RSS $(mb "${R[inflight_rss]}") MB | ${R[inflight_cpu]} µs | — | $(ratio "${R[inflight_rps]}" "${R[floor_mean]}") |"
echo "| durable write with --data-dir (clock advance, 1 connection) | ${R[durable_rps]} writes/s, p50 ${R[durable_p50]} ms, p99 ${R[durable_p99]} ms | | — | |"
echo "| scenario catalogue, simulator mode (\`armsim run scenarios\`) | ${R[cat_sim_s]} s wall: ${R[cat_sim]//_/ } | | — | |"
echo "| scenario catalogue, client mode with tests/clients/reference.py | ${R[cat_client_s]} s wall: ${R[cat_client]//_/ } | | — | |"
echo
echo "The two target ratios over $ratio_rounds interleaved rounds of ${ratio_secs}s (floor, poll, POST, floor; each divided by its round's floors; **bold** in the table above):"
echo
cat "$work/rounds.md"
echo
echo "In process (\`cargo bench -p armsim-simulator --bench handle\`, best of 5): \`Simulator::handle\` alone takes ${R[handle_poll_ns]:-?} ns and ${R[handle_poll_allocs]:-?} allocations per poll, ${R[handle_post_ns]:-?} ns and ${R[handle_post_allocs]:-?} per backup POST, ${R[handle_strict_ns]:-?} ns and ${R[handle_strict_allocs]:-?} per poll under strict auth."
} | tee "$out"
log "written to $out"
