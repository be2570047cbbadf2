#!/usr/bin/env bash
# Builds the way README.md tells a user to (a Release build with the default options), so a
# compiler warning can never again stop a user's build while the test build passes. To stay
# cheap it builds only the translation unit that once failed that way: tests/unit/
# codec_test.cpp, where GCC 12 reports a false -Wrestrict inside std::string at -O3.
# Warnings as errors stay on for the test command and CI (deploy/test.sh passes
# -DPDSYNC_WERROR=ON); a plain build defaults to off.
#
#   bash deploy/check-readme-build.sh [BUILD_DIR]     (default build-test)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD=${1:-${PDSYNC_TEST_BUILD_DIR:-$ROOT/build-test}}/readme-build
readme_line='cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build -j'
if ! grep -qxF "$readme_line" README.md; then
    echo "check-readme-build: README.md no longer says '$readme_line'; update this check" >&2
    exit 1
fi
# The README's options exactly; a compiler launcher (ccache) changes no flag.
launcher=()
if command -v ccache >/dev/null 2>&1; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
# A fresh cache each time: the defaults of this checkout, not options cached by an earlier run.
rm -f "$BUILD/CMakeCache.txt"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" &&
    make -C "$BUILD/tests/unit" codec_test.cpp.o; } >"$log" 2>&1; then
    cat "$log"
    echo "check-readme-build: FAIL: the README's Release build does not compile" >&2
    exit 1
fi
echo "check-readme-build: ok: a Release build with the default options compiles codec_test.cpp"
