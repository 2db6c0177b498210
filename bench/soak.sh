#!/usr/bin/env bash
# Soak: 1,000 connections of mixed backup / restore / poll traffic for 60 s on loopback, with armsim's RSS
# sampled from /proc every second. Reports errors (target: none) and memory over time. Bounded: wrk stops
# after SOAK_SECONDS and the script kills what it started.
#
#   bench/soak.sh                           # 1,000 connections, 60 s
#   SOAK_SECONDS=20 SOAK_CONNECTIONS=500 bench/soak.sh
#
# Traffic (bench/lua/mixed.lua): 10% backup POSTs and 5% restore POSTs on random services of SOAK_SERVICES
# (default 1,000), 85% polls of Locations the load generator was given. Under a scaled clock (180×) a backup
# takes 3 s of wall time and a restore 10 s, so services are often busy: 409 is an expected answer and is
# counted apart. An error is a socket error or any status other than 200, 202 and 409.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bench="$root/bench"
secs="${SOAK_SECONDS:-60}"
conns="${SOAK_CONNECTIONS:-1000}"
services="${SOAK_SERVICES:-1000}"
# Finished operations are forgotten after this much virtual time (180× faster than wall time): 10m is
# 3.3 s of wall time, so memory reaches its plateau early in the soak. With serve's default (24h) it
# plateaus at serve's bound of 100,000 finished operations instead (--max-finished-operations).
retention="${SOAK_RETENTION:-10m}"
work="$(mktemp -d /tmp/armsim-soak.XXXXXX)"
pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
log() { printf 'soak: %s\n' "$*" >&2; }
ulimit -n 65536 2>/dev/null || ulimit -n 4096

command -v wrk >/dev/null || { log "installing wrk"; apt-get update -qq >/dev/null && apt-get install -y -qq wrk >/dev/null; }
(cd "$root" && cargo build --release --locked --bin armsim -q)

python3 - "$work/soak.json" "$services" <<'PY'
import json, sys
n = int(sys.argv[2])
json.dump({
    "resourceGroups": [{"name": "contoso-dr", "location": "westus"}],
    "services": [{"name": f"soak-{i:04d}", "sku": "Developer"} for i in range(n)],
    "storageAccounts": [{"name": "contosobackups", "containers": [{"name": "apim-backups", "blobs": [
        {"name": "seed", "age": "1h", "backup": {"service": "seed", "sku": "Developer", "location": "West US"}}]}]}],
}, open(sys.argv[1], "w"))
PY
taskset -c 0 "$root/target/release/armsim" serve --addr 127.0.0.1:0 --tls off --auth permissive --world "$work/soak.json" \
    --max-connections $((conns + 100)) --operation-retention "$retention" >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 1 500); do [ -s "$work/out" ] && break; sleep 0.01; done
ep="$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["endpoint"])' "$work/out")"
key="$(curl -sf -X POST -H 'Authorization: Bearer soak' \
    "$ep/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/contoso-dr/providers/Microsoft.Storage/storageAccounts/contosobackups/listKeys?api-version=2023-01-01" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["keys"][0]["value"])')"

log "$conns connections for ${secs}s against $ep ($services services, retention $retention)"
( for t in $(seq 0 $((secs + 2))); do
      printf '%s %s\n' "$t" "$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)"
      sleep 1
  done ) >"$work/rss.txt" &
sampler=$!
ARMSIM_KEY="$key" ARMSIM_SERVICES="$services" timeout $((secs + 30)) \
    taskset -c 1 wrk -t1 -c"$conns" -d"${secs}s" --timeout 10s --latency -s "$bench/lua/mixed.lua" "$ep/" >"$work/wrk.txt" 2>&1 || true
kill "$sampler" 2>/dev/null || true
alive=yes; kill -0 "$pid" 2>/dev/null || alive=no

cat "$work/wrk.txt"
echo
echo "RSS over time (MB), every 5 s:"
awk '$1 % 5 == 0 { printf "  t=%3ds  %.1f MB\n", $1, $2 / 1024 }' "$work/rss.txt"
awk '{ if (min == "" || $2 < min) min = $2; if ($2 > max) max = $2 } END { printf "RSS min %.1f MB, max %.1f MB\n", min / 1024, max / 1024 }' "$work/rss.txt"
echo "armsim still running after the soak: $alive"
result="$(grep soak-result "$work/wrk.txt" || echo 'soak-result missing')"
echo "$result"
if [ "$alive" != yes ] || ! grep -q 'unexpected_status=0 socket_errors=0' <<<"$result"; then
    log "errors during the soak (target: none)"
    exit 1
fi
log "no errors"
