#!/usr/bin/env bash
# Runs every security test in tests/security/ (each starts and stops its own broker on free
# ports) and prints one summary line per script and the total. Exit status is non-zero if
# any assertion failed. A script's full output is shown only when it failed, or with -v.
#
#   bash tests/security/run_all.sh [-v]
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
verbose=0
[ "${1:-}" = -v ] && verbose=1

total_pass=0 total_fail=0 broken=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT
start=$(date +%s)
for test in "$here"/test_*.sh; do
    name=$(basename "$test" .sh)
    rc=0
    bash "$test" >"$out" 2>&1 || rc=$?
    last=$(tail -n 1 "$out")
    if [[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
        total_pass=$((total_pass + BASH_REMATCH[1]))
        total_fail=$((total_fail + BASH_REMATCH[2]))
    else
        broken=$((broken + 1))
        last="no summary line (exit $rc)"
    fi
    # A script that exits non-zero with "0 failed" still counts as failed.
    if [ "$rc" -ne 0 ] && [[ $last == *" 0 failed" ]]; then broken=$((broken + 1)); fi
    printf '%-20s %s\n' "$name" "$last"
    if [ "$verbose" = 1 ] || [ "$rc" -ne 0 ]; then sed 's/^/    /' "$out"; fi
done
echo "security suite: $((total_fail + broken)) failing, in $(($(date +%s) - start)) s"
echo "$total_pass passed, $((total_fail + broken)) failed"
[ "$((total_fail + broken))" -eq 0 ]
