#!/usr/bin/env bash
# Builds the two Debian packages, pdsync-server and pdsync-client, from a Release build in a
# directory of its own, reused from run to run so a rebuild is mostly ccache hits; prints
# the .deb paths. Usage: deploy/package.sh [BUILD_DIR]   (default: build-pkg, or
# $PDSYNC_PKG_BUILD_DIR). The packages land in BUILD_DIR/packages/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD=${1:-${PDSYNC_PKG_BUILD_DIR:-$ROOT/build-pkg}}
JOBS=$(nproc)

launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
# Debian's hardening flags (what dpkg-buildflags gives, less its -ffile-prefix-map, which
# names this checkout and so would defeat the shared compiler cache): lintian checks them.
hardening_cxx="-fstack-protector-strong -fstack-clash-protection -fcf-protection -D_FORTIFY_SOURCE=2 -Wformat -Werror=format-security"
hardening_ld="-Wl,-z,relro -Wl,-z,now"

# Warnings are errors in the test build (deploy/test.sh), not here: -O3 makes GCC 12 warn
# falsely in the standard library (-Wrestrict), and a package must not fail on that.
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DPDSYNC_BUILD_TESTS=OFF -DPDSYNC_WERROR=OFF \
    -DPDSYNC_SANITIZE=OFF -DCMAKE_INSTALL_PREFIX=/usr "${launcher[@]}" \
    -DCMAKE_CXX_FLAGS="$hardening_cxx" -DCMAKE_EXE_LINKER_FLAGS="$hardening_ld" >/dev/null
cmake --build "$BUILD" -j"$JOBS" --target pdsync-server pdsync-client pdsync pdsync_packaging_files \
    | { grep -Ev '^\[ *[0-9]+%\]' || true; }
rm -rf "$BUILD/packages"
(cd "$BUILD" && cpack -G DEB -B "$BUILD/packages" >/dev/null)
ls "$BUILD"/packages/*.deb
