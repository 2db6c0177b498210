#!/usr/bin/env bash
# What `armsim fuzz` finds in the broken-client zoo, and whether the reference client survives it.
# Not a test (minutes of real client sleeping): it prints a table for notes and docs.
#
#   scripts/fuzz-zoo.sh                      # every broken client, 200 cases at seed 42, backup
#   REFERENCE_CASES=1000 scripts/fuzz-zoo.sh # and the reference client for 1000 cases (≈ 20 min)
#
# Environment: CASES (200), SEED (42), OPERATION (backup), REFERENCE_CASES (0: skip), OUT (a temp dir).
# For each broken client: the case on which the first failure was found, the shrunk size, the rules the
# shrunk case breaks, and whether `armsim run FILE --client CMD` on the written scenario fails again.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cases="${CASES:-200}"
seed="${SEED:-42}"
operation="${OPERATION:-backup}"
out="${OUT:-$(mktemp -d /tmp/armsim-fuzz-zoo.XXXXXX)}"
abilities=(--ability custom-poll-interval --ability tolerates-early-404)

(cd "$root" && cargo build --release --locked --bin armsim -q)
armsim="$root/target/release/armsim"
cd "$root"

echo "armsim fuzz --cases $cases --seed $seed --operation $operation ${abilities[*]} (outputs in $out)"
echo
echo "| client | found | shrunk size | rules the shrunk case breaks | replayed scenario fails | wall |"
echo "|---|---|---|---|---|---|"
for client in tests/clients/broken_*.py; do
    name="$(basename "$client" .py)"
    dir="$out/$name"
    mkdir -p "$dir"
    t0=$(date +%s)
    status=0
    "$armsim" fuzz --client "python3 $client" --operation "$operation" --cases "$cases" --seed "$seed" \
        "${abilities[@]}" --out "$dir" >"$dir/fuzz.txt" 2>&1 || status=$?
    wall=$(( $(date +%s) - t0 ))
    if [ "$status" -eq 0 ]; then
        echo "| $name | no failure in $cases cases | | | | ${wall} s |"
        continue
    fi
    # "armsim fuzz: case 0 of seed 42 failed (8 cases run in 19.6 s)", "shrunk from size 3 to 1 in 2 client
    # runs:", "it breaks lro.retry-after-honoured (as the original case did):"
    found="$(grep -Eo 'case [0-9]+ of seed [0-9]+ failed \([0-9]+ cases run' "$dir/fuzz.txt" | head -1 |
        sed -E 's/case ([0-9]+) of seed [0-9]+ failed \(([0-9]+) cases run/case \1 (\2 run)/' || true)"
    size="$(grep -Eo 'shrunk from size [0-9]+ to [0-9]+' "$dir/fuzz.txt" | head -1 | sed -E 's/shrunk from size ([0-9]+) to ([0-9]+)/\1 → \2/' || true)"
    rules="$(grep -Eo '^it breaks [^(]*' "$dir/fuzz.txt" | head -1 | sed -E 's/^it breaks //; s/ +$//' || true)"
    file="$(find "$dir" -name '*.yaml' | head -1)"
    replay="no file"
    if [ -n "$file" ]; then
        if "$armsim" run "$file" --client "python3 $client" "${abilities[@]}" >"$dir/replay.txt" 2>&1; then
            replay="no (passed)"
        else
            replay="yes"
        fi
    fi
    echo "| $name | $found | $size | $rules | $replay | ${wall} s |"
done

if [ "${REFERENCE_CASES:-0}" -gt 0 ]; then
    echo
    t0=$(date +%s)
    status=0
    "$armsim" fuzz --client "python3 tests/clients/reference.py" --operation "$operation" \
        --cases "$REFERENCE_CASES" --seed "$seed" "${abilities[@]}" --out "$out/reference" \
        >"$out/reference.txt" 2>&1 || status=$?
    wall=$(( $(date +%s) - t0 ))
    echo "reference client, $REFERENCE_CASES cases: exit $status in ${wall} s ($(awk -v n="$REFERENCE_CASES" -v s="$wall" 'BEGIN { printf "%.2f", n / s }') cases/s); last lines:"
    tail -3 "$out/reference.txt"
fi
