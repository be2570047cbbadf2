#!/usr/bin/env bash
# The test command: installs the Debian packages, builds every target with AddressSanitizer
# and UBSan and warnings as errors, checks formatting, and runs every test tier (unit,
# integration, security, fault, fuzz smoke). CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

bash deploy/install-deps.sh

BUILD=${PDSYNC_TEST_BUILD_DIR:-$ROOT/build-test}
JOBS=$(nproc)
# ccache (installed above) makes a second run on the same machine cheap; paths are taken
# relative to the checkout, so another clone of the same commit hits the same entries.
export CCACHE_BASEDIR=$ROOT
LAUNCHER=()
if command -v ccache >/dev/null 2>&1; then LAUNCHER=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
echo "== configure ($BUILD): Debug, ASan+UBSan, -Werror"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Debug -DPDSYNC_SANITIZE=ON -DPDSYNC_WERROR=ON -DPDSYNC_BUILD_TESTS=ON "${LAUNCHER[@]}" >/dev/null
echo "== build"
cmake --build "$BUILD" -j"$JOBS" 2>&1 | grep -v "^\[" || true
cmake --build "$BUILD" -j"$JOBS" >/dev/null  # fails the script if the build failed

# Sanitizer findings fail the process that has them; leaks in a daemon show in its log.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$ROOT/tests/lsan.supp}


echo "== tests"
status=0
ctest --test-dir "$BUILD" --output-on-failure -j"$JOBS" --timeout 300 "$@" || status=1

echo "== packages (deploy/test-packages.sh: .deb build, dpkg -x, --version, ldd, lintian)"
bash deploy/test-packages.sh || status=1

echo "== fuzz smoke (libFuzzer, clang-14, a few seconds per target)"
bash deploy/fuzz.sh --smoke || status=1

echo "== contract and README build checks (AsyncAPI parser from npm; Release, default options)"
bash deploy/check-asyncapi.sh "$BUILD" || status=1
bash deploy/check-readme-build.sh "$BUILD" || status=1

echo "== format check"

bash deploy/check-format.sh || status=1
exit $status

