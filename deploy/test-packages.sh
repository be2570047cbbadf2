#!/usr/bin/env bash
# The packages step of the test command (deploy/test.sh): builds pdsync-server and
# pdsync-client (deploy/package.sh: Release, its own reused build directory, ccache), unpacks
# both into a scratch root with `dpkg -x`, runs the installed `pdsync --version`,
# `pdsync-client --version` and `pdsync-server --version`, checks that `ldd` of the
# installed `pdsync` lists at most 25 libraries, runs lintian (no error allowed), and runs
# tests/packaging's unit and sandbox tests on the unpacked tree.
#   deploy/test-packages.sh [BUILD_DIR]   (default build-pkg, as deploy/package.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD=${1:-${PDSYNC_PKG_BUILD_DIR:-$ROOT/build-pkg}}
MAX_PDSYNC_LIBS=25
start=$(date +%s)
status=0
say() { printf '%s\n' "$*"; }
bad() { say "FAILED  $*"; status=1; }

echo "== packages: build (deploy/package.sh $BUILD)"
debs=$(bash deploy/package.sh "$BUILD")
server_deb=$(grep '/pdsync-server_[^/]*\.deb$' <<<"$debs")
client_deb=$(grep '/pdsync-client_[^/]*\.deb$' <<<"$debs")
built=$(date +%s)
say "built $(basename "$server_deb") and $(basename "$client_deb") in $((built - start)) s"

# Under the build tree, not /tmp: the sandbox test hides /tmp (PrivateTmp=).
# Not under /tmp or /var/tmp: the sandbox test hides both (PrivateTmp=), as in run_all.sh.
case "$BUILD/" in
    /tmp/* | /var/tmp/*) PDSYNC_PACKAGING_WORK=/var/lib/pdsync-packaging-tests ;;
    *) PDSYNC_PACKAGING_WORK=$BUILD/packaging-tests ;;
esac
export PDSYNC_PACKAGING_WORK
mkdir -p "$PDSYNC_PACKAGING_WORK"
scratch=$(mktemp -d "$PDSYNC_PACKAGING_WORK/deb-root.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
chmod 0755 "$scratch"
dpkg -x "$server_deb" "$scratch"
dpkg -x "$client_deb" "$scratch"

echo "== packages: the installed binaries"
version=$(sed -n 's/^project(pdsync VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
for bin in pdsync pdsync-client pdsync-server; do
    got=$("$scratch/usr/bin/$bin" --version 2>&1) || true
    if [ "$got" = "$bin $version" ]; then say "ok      $bin --version: $got"
    else bad "$bin --version printed '$got', expected '$bin $version'"; fi
done
libs=$(ldd "$scratch/usr/bin/pdsync" | wc -l)
client_libs=$(ldd "$scratch/usr/bin/pdsync-client" | wc -l)
if [ "$libs" -le "$MAX_PDSYNC_LIBS" ]; then
    say "ok      ldd pdsync lists $libs libraries (at most $MAX_PDSYNC_LIBS; pdsync-client: $client_libs)"
else
    bad "ldd pdsync lists $libs libraries, more than $MAX_PDSYNC_LIBS (pdsync-client: $client_libs): the CLI still links server code"
fi

# The broker's session plugin, where fleet-init.sh looks for it on a machine with the package.
plugin=$(ls "$scratch"/usr/lib/*/pdsync/pdsync_sessions.so 2>/dev/null | head -n 1)
if [ -n "$plugin" ] && nm -D --defined-only "$plugin" | grep -q ' mosquitto_plugin_init$'; then
    say "ok      the server package holds the session plugin (${plugin#"$scratch"})"
else
    bad "the server package holds no pdsync_sessions.so under /usr/lib/<arch>/pdsync/"
fi

echo "== packages: lintian"
lintian_out=$(lintian --fail-on error --display-info "$server_deb" "$client_deb" 2>&1) || bad "lintian reports errors"
say "${lintian_out:-(lintian: no tags)}"

echo "== packages: tests/packaging on the unpacked tree"
for test in test_units test_sandbox; do
    if out=$(bash tests/packaging/$test.sh "$scratch" 2>&1); then
        say "ok      $test: $(tail -n 1 <<<"$out")"
    else
        bad "$test"
        say "$out"
    fi
done
say "packages step: $(($(date +%s) - start)) s (build $((built - start)) s)"
exit $status
