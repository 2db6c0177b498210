#!/usr/bin/env bash
# Measures the wall time of a backup and of a restore on `armsim serve` with default settings, polled the
# way a well-behaved client polls: first poll after the 202's Retry-After, then after each poll's
# Retry-After. Prints one line per operation.
#
# Usage: scripts/lro-wall-time.sh [path/to/armsim]   (default: target/release/armsim, built if missing)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${1:-$root/target/release/armsim}"
[ -x "$bin" ] || (cd "$root" && cargo build --release --quiet)
out="$(mktemp)"
"$bin" serve --addr 127.0.0.1:0 >"$out" 2>/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$out"' EXIT
for _ in $(seq 100); do [ -s "$out" ] && break; sleep 0.05; done
ready="$(head -n1 "$out")"
ep="$(sed -E 's/.*"endpoint":"([^"]+)".*/\1/' <<<"$ready")"
ca="$(sed -nE 's/.*"ca_cert":"([^"]+)".*/\1/p' <<<"$ready")"
curl_() { if [ -n "$ca" ]; then curl --cacert "$ca" "$@"; else curl "$@"; fi; }
token="$(curl_ -s "$ep/11111111-1111-1111-1111-111111111111/oauth2/v2.0/token" -d grant_type=client_credentials \
  -d client_id=22222222-2222-2222-2222-222222222222 -d client_secret=armsim-contributor-secret \
  -d scope=https://management.azure.com/.default | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"
rg="$ep/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/contoso-dr/providers"
key="$(curl_ -s -X POST -H "Authorization: Bearer $token" \
  "$rg/Microsoft.Storage/storageAccounts/contosobackups/listKeys?api-version=2023-01-01" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["keys"][0]["value"])')"

run() { # service action
  local body start headers loc wait code polls=0
  body="{\"storageAccount\":\"contosobackups\",\"containerName\":\"apim-backups\",\"backupName\":\"timing.bak\",\"accessKey\":\"$key\"}"
  start=$(date +%s.%N)
  headers="$(curl_ -s -D - -o /dev/null -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    "$rg/Microsoft.ApiManagement/service/$1/$2?api-version=2024-05-01" -d "$body")"
  loc="$(awk 'tolower($1)=="location:"{print $2}' <<<"$headers" | tr -d '\r')"
  wait="$(awk 'tolower($1)=="retry-after:"{print $2}' <<<"$headers" | tr -d '\r')"
  while :; do
    sleep "$wait"
    polls=$((polls + 1))
    headers="$(curl_ -s -D - -o /dev/null -H "Authorization: Bearer $token" "$loc")"
    code="$(head -n1 <<<"$headers" | awk '{print $2}')"
    [ "$code" = 202 ] || break
    wait="$(awk 'tolower($1)=="retry-after:"{print $2}' <<<"$headers" | tr -d '\r')"
  done
  printf '%-8s %-16s -> %s after %d polls, %.1f s wall\n' "$2" "$1" "$code" "$polls" "$(echo "$(date +%s.%N) - $start" | bc)"
}
run contoso-apim backup
run contoso-apim-dr restore
