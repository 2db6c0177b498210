# Shared by the bench scripts (sourced, not run). Expects: $work (a scratch directory),
# $scpu and $lcpu (the server's and wrk's cores), an array pids=() and, optionally, BENCH_NAME (the log
# prefix). Sourcing it installs the cleanup trap (kills what `start` started, removes $work), raises the
# open-file limit, installs wrk with apt-get when missing, and writes the benchmark worlds into $work:
# small.json and bulk.json.

log() { printf '%s: %s\n' "${BENCH_NAME:-bench}" "$*" >&2; }
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
ulimit -n 65536 2>/dev/null || ulimit -n 4096 2>/dev/null || true

if ! command -v wrk >/dev/null; then
    log "installing wrk"
    apt-get update -qq >/dev/null && apt-get install -y -qq wrk >/dev/null
fi
command -v python3 >/dev/null || { log "python3 is needed (world generation, timing)"; exit 2; }

# binaries : sets $armsim (ARMSIM_BIN made absolute, or the repo's release build, built here) and $floor
# (bench/hyper-floor, built here). Expects $root and $bench.
binaries() {
    if [ -n "${ARMSIM_BIN:-}" ]; then
        armsim="$(cd "$(dirname "$ARMSIM_BIN")" && pwd)/$(basename "$ARMSIM_BIN")"
        [ -x "$armsim" ] || { log "ARMSIM_BIN=$ARMSIM_BIN is not an executable"; exit 2; }
        log "measuring $armsim; building hyper-floor (release)"
    else
        log "building armsim and hyper-floor (release)"
        (cd "$root" && cargo build --release --locked --bin armsim -q)
        armsim="$root/target/release/armsim"
    fi
    floor_binary
}

# floor_binary : builds bench/hyper-floor (release) and sets $floor.
floor_binary() {
    (cd "$bench/hyper-floor" && cargo build --release -q --target-dir "$root/target/hyper-floor")
    floor="$root/target/hyper-floor/release/hyper-floor"
}

# start NAME CMD... : runs CMD on the server core, waits (START_WAIT_S, 5 s) for its JSON ready line, sets
# $pid and $ep.
start() {
    local name="$1"; shift
    taskset -c "$scpu" "$@" >"$work/$name.out" 2>"$work/$name.err" &
    pid=$!
    pids+=("$pid")
    for _ in $(seq 1 $((${START_WAIT_S:-5} * 100))); do
        if [ -s "$work/$name.out" ]; then break; fi
        sleep 0.01
    done
    ep="$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["endpoint"])' "$work/$name.out")"
}
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# wrkrun LABEL ARGS... : runs wrk on the load core against the server $pid; prints
# "rps p50ms p99ms non2xx errors cpu_us_per_request".
wrkrun() {
    local label="$1"; shift
    local t0; t0="$(cpu_ticks "$pid")"
    taskset -c "$lcpu" wrk -t1 --latency "$@" >"$work/wrk-$label.txt" 2>&1 || true
    local t1; t1="$(cpu_ticks "$pid")"
    awk -v ticks="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" '
        function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
        /Requests\/sec/ { rps = $2 }
        / requests in / { n = $1 }
        $1 == "50%" { p50 = ms($2) }
        $1 == "99%" { p99 = ms($2) }
        /Non-2xx/ { non = $NF }
        /Socket errors/ { gsub(",", ""); err = $4 + $6 + $8 + $10 }
        END { printf "%.0f %.3f %.3f %d %d %.1f\n", rps, p50, p99, non, err, (n > 0 ? ticks * 1e6 / hz / n : 0) }
    ' "$work/wrk-$label.txt"
}

# measure_round ROUND LABEL MODE BIN RESULTS SECONDS : one measurement of an interleaved round, on a fresh
# server, appended to RESULTS as "round label mode rps cpu p99". MODE is floor (the floor's `GET /x`; BIN
# unused), poll or post (armsim at BIN, on small.json). Used by compare.sh and run.sh, whose ratios divide
# each measurement by its own round's floors. The same load runs for WARMUP_SECONDS (2) first, unmeasured:
# a fresh server's first second of POSTs fills the journal's 10,000 entries and serve's bound of 100,000
# finished operations, and a round of a few seconds would otherwise measure that filling with the rest
# (three rounds of 3 s on 2026-12-08: the POST at 0.61× cold and 0.62× warmed, p99 3.47 ms and 0.94 ms).
measure_round() {
    local round="$1" label="$2" mode="$3" bin="$4" results="$5" secs="$6" rps p50 p99 non2xx errors cpu
    # Each start gets its own name: `start` reads the endpoint from that name's ready file.
    local name="r$round-$label-$mode-$RANDOM" args=() key=""
    if [ "$mode" = floor ]; then
        start "$name" "$floor" 127.0.0.1:0
        args=("$ep/x")
    else
        start "$name" "$bin" serve --addr 127.0.0.1:0 --tls off --auth permissive --clock manual --world "$work/small.json"
        key="$(key_of "$ep")"
        if [ "$mode" = poll ]; then
            args=(-H 'Authorization: Bearer bench' "$(poll_target "$ep")")
        else
            args=(-s "$bench/lua/post.lua" "$ep$svc_path/contoso-apim/backup?api-version=2024-05-01")
        fi
    fi
    ARMSIM_KEY="$key" taskset -c "$lcpu" wrk -t1 -c"$conns" -d"${WARMUP_SECONDS:-2}s" "${args[@]}" >/dev/null 2>&1 || true
    read -r rps p50 p99 non2xx errors cpu < <(ARMSIM_KEY="$key" wrkrun "$name" -c"$conns" -d"${secs}s" "${args[@]}")
    if [ "$non2xx" != 0 ] || [ "$errors" != 0 ]; then
        log "round $round, $label $mode: $non2xx non-2xx answers and $errors socket errors"
    fi
    stop "$pid"
    echo "$round $label $mode $rps $cpu $p99" >>"$results"
}

# ---- worlds ---------------------------------------------------------------------------------------------
# small.json: backups of contoso-apim take 0 s (each POST is accepted and settles on the next request, so a
# storm of POSTs is 202s, not 409s), backups of contoso-apim-premium never finish (a stable poll target),
# contoso-apim-dr's take the default 9 minutes (the busy path). bulk.json: the same plus 10,000 services.
python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
def world(n, prefix, extra_blob=False):
    w = {
        "resourceGroups": [{"name": "contoso-dr", "location": "westus"}],
        "services": [
            {"name": "contoso-apim", "sku": "Developer"},
            {"name": "contoso-apim-premium", "sku": "Premium"},
            {"name": "contoso-apim-dr", "sku": "Developer"},
        ] + [{"name": f"{prefix}-{i:04d}", "sku": "Developer"} for i in range(n)],
        "storageAccounts": [{"name": "contosobackups", "containers": [{"name": "apim-backups", "blobs": []}]}],
        "behaviour": {"outcomes": [
            {"kind": "backup", "service": "contoso-apim", "duration": "0s"},
            {"kind": "backup", "service": "contoso-apim-premium", "neverFinish": True},
        ]},
    }
    if extra_blob:
        w["storageAccounts"][0]["containers"][0]["blobs"].append({"name": "seed", "age": "1h", "backup": {
            "service": "seed", "sku": "Developer", "location": "West US"}})
    return w
json.dump(world(0, "bulk"), open(f"{work}/small.json", "w"))
json.dump(world(10000, "bulk"), open(f"{work}/bulk.json", "w"))
PY

key_of() { # ENDPOINT [TOKEN] -> key1 (the token: any under --auth permissive)
    curl -sf -X POST -H "Authorization: Bearer ${2:-bench}" \
        "$1/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/contoso-dr/providers/Microsoft.Storage/storageAccounts/contosobackups/listKeys?api-version=2023-01-01" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["keys"][0]["value"])'
}
svc_path="/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/contoso-dr/providers/Microsoft.ApiManagement/service"
# A path of the poll's shape and length (an operation id like armsim's), for the floor: hyper parses a
# 250-byte URI byte by byte (`PathAndQuery::from_shared`, about 2,400 instructions in callgrind).
poll_shape="$svc_path/contoso-apim-premium/operationresults/d2VzdHVzOmNvbnRvc28tYXBpbS1wcmVtaXVtX0JhY2t1cF8xODI1ZjEwZA==?api-version=2024-05-01"
poll_target() { # ENDPOINT [TOKEN] -> the Location of a backup of contoso-apim-premium (never finishes)
    local token="${2:-bench}" key body
    key="$(key_of "$1" "$token")"
    body="{\"storageAccount\":\"contosobackups\",\"containerName\":\"apim-backups\",\"backupName\":\"b\",\"accessType\":\"AccessKey\",\"accessKey\":\"$key\"}"
    curl -sf -D - -o /dev/null -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -d "$body" \
        "$1$svc_path/contoso-apim-premium/backup?api-version=2024-05-01" | awk 'tolower($1) == "location:" {print $2}' | tr -d '\r'
}

bulk_paths() { # ENDPOINT KEY OUT: starts a backup of each of bulk.json's 10,000 services, writes their poll paths to OUT
    python3 - "$1" "$2" "$3" <<'PY'
import http.client, json, sys, urllib.parse
ep, key, out = sys.argv[1], sys.argv[2], sys.argv[3]
u = urllib.parse.urlparse(ep)
c = http.client.HTTPConnection(u.hostname, u.port)
sub = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/contoso-dr/providers/Microsoft.ApiManagement/service"
paths = []
for i in range(10000):
    body = json.dumps({"storageAccount": "contosobackups", "containerName": "apim-backups", "backupName": f"b{i}", "accessType": "AccessKey", "accessKey": key})
    c.request("POST", f"{sub}/bulk-{i:04d}/backup?api-version=2024-05-01", body=body, headers={"authorization": "Bearer b", "content-type": "application/json"})
    r = c.getresponse(); r.read()
    assert r.status == 202, r.status
    paths.append(urllib.parse.urlparse(r.getheader("location")).path + "?api-version=2024-05-01")
open(out, "w").write("\n".join(paths) + "\n")
PY
}
