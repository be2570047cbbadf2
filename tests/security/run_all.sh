#!/usr/bin/env bash
# Runs every security test in tests/security/ (each starts and stops its own broker on free
# ports) and prints one summary line per script and the total. Exit status is non-zero if
# any assertion failed. A script's full output is shown only when it failed, or with -v.
# Each script runs twice: against the dynamic security plugin with the rights pdsync-server
# writes (dynsec, fleet-init.sh's default; needs BUILD_DIR's pdsync binaries) and against
# the password file and ACL (passwd). A script that covers both modes itself says
# "# sec-modes: one" and runs once.
#
#   bash tests/security/run_all.sh [-v] [BUILD_DIR]
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
verbose=0
[ "${1:-}" = -v ] && { verbose=1; shift; }
export PDSYNC_BUILD_DIR=${1:-${PDSYNC_BUILD_DIR:-$here/../../build-test}}

total_pass=0 total_fail=0 broken=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT
start=$(date +%s)
for test in "$here"/test_*.sh; do
    modes="dynsec passwd"
    grep -qx '# sec-modes: one' "$test" && modes=one
    for mode in $modes; do
        name=$(basename "$test" .sh)
        [ "$mode" = one ] || name="$name/$mode"
        rc=0
        PDSYNC_SEC_AUTH=${mode/one/dynsec} bash "$test" >"$out" 2>&1 || rc=$?
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
        printf '%-26s %s\n' "$name" "$last"
        if [ "$verbose" = 1 ] || [ "$rc" -ne 0 ]; then sed 's/^/    /' "$out"; fi
    done
done
echo "security suite: $((total_fail + broken)) failing, in $(($(date +%s) - start)) s"
echo "$total_pass passed, $((total_fail + broken)) failed"
[ "$((total_fail + broken))" -eq 0 ]
