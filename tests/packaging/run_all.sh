#!/usr/bin/env bash
# The packaging tier (ctest -L packaging): installs the build tree into a scratch root with
# `cmake --install` (DESTDIR, prefix /usr, both components: what the packages hold) and runs
# every test_*.sh in tests/packaging/ against it. deploy/test-packages.sh runs the same tests
# against the trees the .deb files unpack to.
#   bash tests/packaging/run_all.sh BUILD_DIR [-v]
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=$(cd "${1:?usage: run_all.sh BUILD_DIR [-v]}" && pwd)
verbose=0
[ "${2:-}" = -v ] && verbose=1

# Not under /tmp or /var/tmp: the sandbox test hides both (PrivateTmp=). So under the build
# tree, unless the build tree itself is there (a checkout in /tmp, as CI may make).
case "$build/" in
    /tmp/* | /var/tmp/*) PDSYNC_PACKAGING_WORK=/var/lib/pdsync-packaging-tests ;;
    *) PDSYNC_PACKAGING_WORK=$build/packaging-tests ;;
esac
export PDSYNC_PACKAGING_WORK
mkdir -p "$PDSYNC_PACKAGING_WORK"
root=$(mktemp -d "$PDSYNC_PACKAGING_WORK/root.XXXXXX")
out=$(mktemp "$PDSYNC_PACKAGING_WORK/out.XXXXXX")
trap 'rm -rf "$root" "$out"' EXIT
chmod 0755 "$root"

start=$(date +%s)
if ! DESTDIR=$root cmake --install "$build" --prefix /usr >"$out" 2>&1; then
    cat "$out"
    echo "0 passed, 1 failed"
    exit 1
fi

total_pass=0 total_fail=0
for test in "$here"/test_*.sh; do
    name=$(basename "$test" .sh)
    case $name in
        test_config_keys) arg=$root/usr/bin ;;
        *) arg=$root ;;
    esac
    rc=0
    bash "$test" "$arg" >"$out" 2>&1 || rc=$?
    last=$(tail -n 1 "$out")
    if [[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
        total_pass=$((total_pass + BASH_REMATCH[1]))
        total_fail=$((total_fail + BASH_REMATCH[2]))
        if [ "$rc" -ne 0 ] && [ "${BASH_REMATCH[2]}" -eq 0 ]; then total_fail=$((total_fail + 1)); fi
    else
        total_fail=$((total_fail + 1))
        last="no summary line (exit $rc)"
    fi
    printf '%-20s %s\n' "$name" "$last"
    if [ "$verbose" = 1 ] || [ "$rc" -ne 0 ]; then sed 's/^/    /' "$out"; fi
done
echo "packaging tier: $total_fail failing, in $(($(date +%s) - start)) s"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
