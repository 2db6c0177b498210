#!/usr/bin/env bash
# Instructions per served request, counted by callgrind: armsim's poll and backup POST against the hyper
# floor sent the same requests. Not a test: it prints and asserts nothing.
#
#   bench/instructions.sh                      # builds armsim and the floor (release)
#   ARMSIM_BIN=path/to/armsim bench/instructions.sh
#
# wrk's figures on a shared 2-core host move by a third between runs; the instructions a server executes
# per request move by a fraction of a percent on a quiet machine (callgrind counts them). Each server runs under
# valgrind with instrumentation off; after a warm-up (armsim's, long enough for its background RSA key),
# instrumentation is switched on for a wrk run of CG_SECONDS (10) at 64 connections, then dumped. The count
# is user space only (the kernel's work, half to two thirds of a served request's time in perf samples, is
# not in it), and divided by the requests wrk completed in that run. Takes about 3 minutes. Load on the machine
# moves the counts by a few percent (fewer requests share each wakeup): compare counts from quiet runs.
#
# Environment: ARMSIM_BIN, CG_SECONDS (10), ARMSIM_WARMUP (25 s), SERVER_CPU / LOAD_CPU (0/1).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bench="$root/bench"
secs="${CG_SECONDS:-10}"
warm="${ARMSIM_WARMUP:-25}"
scpu="${SERVER_CPU:-0}"
lcpu="${LOAD_CPU:-1}"
work="$(mktemp -d /tmp/armsim-instructions.XXXXXX)"
pids=()

BENCH_NAME=instructions
START_WAIT_S=60 # a server under valgrind starts in seconds, not milliseconds
# shellcheck source=bench/lib.sh
source "$bench/lib.sh"
command -v valgrind >/dev/null || { log "valgrind is needed (apt-get install valgrind)"; exit 2; }
binaries

# count LABEL WARMUP URL [WRK ARGS...] : instructions per request of the server $pid for wrk against URL.
count() {
    local label="$1" warmup="$2" url="$3"; shift 3
    taskset -c "$lcpu" wrk -t1 -c64 -d"${warmup}s" "$@" "$url" >/dev/null
    callgrind_control -i on "$pid" >/dev/null
    taskset -c "$lcpu" wrk -t1 -c64 -d"${secs}s" "$@" "$url" >"$work/wrk-$label.txt"
    callgrind_control -d "$label" "$pid" >/dev/null
    callgrind_control -i off "$pid" >/dev/null
    local n; n="$(awk '/ requests in / {print $1}' "$work/wrk-$label.txt")"
    local dump="$work/cg.$pid.out.1"
    local ir; ir="$(awk '/^summary:/ {print $2}' "$dump")"
    awk -v ir="$ir" -v n="$n" -v l="$label" 'BEGIN { printf "%s %.0f %d\n", l, ir / n, n }'
}
grind() { # NAME CMD... : start CMD under callgrind, instrumentation off
    local name="$1"; shift
    start "$name" valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$work/cg.%p.out" "$@"
}

post="$svc_path/contoso-apim/backup?api-version=2024-05-01"

# One server process per count: with valgrind 3.19, a dump taken after instrumentation has once been
# switched off reports a nonsense total (2^64 minus a little, seen both with it left off and switched on
# again); dumps while it stays on are right (two in a row on the floor: 8.4 k a request each).
log "the floor: GET /x, the poll's request, the backup POST, the poll with armsim's headers (${secs}s each)"
grind floor "$floor" 127.0.0.1:0
count floor 2 "$ep/x" >>"$work/counts"; stop "$pid"
grind floor "$floor" 127.0.0.1:0
count floor-poll 2 "$ep$poll_shape" -H 'Authorization: Bearer bench' >>"$work/counts"; stop "$pid"
grind floor "$floor" 127.0.0.1:0
ARMSIM_KEY=any count floor-post 2 "$ep$post" -s "$bench/lua/post.lua" >>"$work/counts"; stop "$pid"
grind floor-arm "$floor" 127.0.0.1:0 --arm-headers
count floor-arm-poll 2 "$ep$poll_shape" -H 'Authorization: Bearer bench' >>"$work/counts"; stop "$pid"

log "armsim: the poll and the backup POST (warm-up ${warm}s each)"
grind armsim "$armsim" serve --addr 127.0.0.1:0 --tls off --auth permissive --clock manual --world "$work/small.json"
count armsim-poll "$warm" "$(poll_target "$ep")" -H 'Authorization: Bearer bench' >>"$work/counts"; stop "$pid"
grind armsim "$armsim" serve --addr 127.0.0.1:0 --tls off --auth permissive --clock manual --world "$work/small.json"
ARMSIM_KEY="$(key_of "$ep")" count armsim-post "$warm" "$ep$post" -s "$bench/lua/post.lua" >>"$work/counts"; stop "$pid"

awk '
    { ir[$1] = $2; n[$1] = $3 }
    function row(label, what, against) {
        printf "| %s | %.0f | %d | %s |\n", what, ir[label], n[label],
            (against == "" ? "" : sprintf("%.2f× the instructions of %s", ir[label] / ir[against], against))
    }
    END {
        print "| server, request | instructions per request (user space) | requests counted | |"
        print "|---|---|---|---|"
        row("floor", "floor, GET /x", "")
        row("floor-poll", "floor sent the poll", "floor")
        row("floor-arm-poll", "floor with the twelve headers as constants, sent the poll", "floor-poll")
        row("floor-post", "floor sent the backup POST", "floor")
        row("armsim-poll", "armsim, poll GET", "floor-arm-poll")
        row("armsim-post", "armsim, backup POST", "floor-post")
    }
' "$work/counts"
