#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang-14 in build-fuzz/ and runs each for
# a bounded time, then prints target / runs / result. Exits non-zero if any target found a
# crash, a leak, a timeout or a broken invariant; the input that did it is kept under
# build-fuzz/fuzz-artifacts/<target>/ and the command to replay it is printed.
#
#   deploy/fuzz.sh [SECONDS_PER_TARGET]   each target for that long (default 60)
#   deploy/fuzz.sh --smoke                each target for 5 s (the test command's tier)
#   deploy/fuzz.sh --make-corpus          regenerate the seed corpus in tests/fuzz/corpus
#
# Seeds are read from tests/fuzz/corpus/<target>/ and never written; what the fuzzer
# learns goes to build-fuzz/fuzz-corpus/<target>/, kept between runs (a smoke run starts
# from the seeds alone). The build tree is reused, so only the first run pays for the
# build (about 1.5 min at -j2; a smoke run after that takes about 16 s).
# Environment: PDSYNC_FUZZ_BUILD_DIR (build-fuzz), PDSYNC_FUZZ_CXX (clang++-14),
# PDSYNC_FUZZ_JOBS (2).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD=${PDSYNC_FUZZ_BUILD_DIR:-$ROOT/build-fuzz}
CXX_BIN=${PDSYNC_FUZZ_CXX:-clang++-14}
JOBS=${PDSYNC_FUZZ_JOBS:-2}
TARGETS=(fuzz_payload fuzz_topic fuzz_server_batch)

seconds=60
smoke=0
make_corpus=0
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke)
      seconds=5
      smoke=1
      ;;
    --make-corpus) make_corpus=1 ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      if [[ "$1" =~ ^[0-9]+$ ]] && [ "$1" -gt 0 ]; then
        seconds=$1
      else
        echo "fuzz.sh: unknown argument '$1' (see --help)" >&2
        exit 2
      fi
      ;;
  esac
  shift
done

command -v "$CXX_BIN" >/dev/null || {
  echo "fuzz.sh: $CXX_BIN not found (apt-get install clang-14 libclang-rt-14-dev)" >&2
  exit 2
}

# Configure once. When tests/CMakeLists.txt has the PDSYNC_BUILD_FUZZERS switch, the
# project builds tests/fuzz itself; until then a two-line wrapper project adds it.
if grep -q PDSYNC_BUILD_FUZZERS "$ROOT/tests/CMakeLists.txt"; then
  mode=project
  src=$ROOT
  bindir=$BUILD/tests/fuzz
  mode_args=(-DPDSYNC_BUILD_TESTS=ON -DPDSYNC_BUILD_FUZZERS=ON)
else
  mode=wrapper
  src=$BUILD/wrapper-src
  bindir=$BUILD/fuzz
  mode_args=(-DPDSYNC_BUILD_TESTS=OFF)
  mkdir -p "$src"
  cat >"$src/CMakeLists.txt.new" <<EOF
# Written by deploy/fuzz.sh: the project plus its fuzz targets.
cmake_minimum_required(VERSION 3.22)
project(pdsync_fuzz LANGUAGES CXX)
add_subdirectory("$ROOT" pdsync)
add_subdirectory("$ROOT/tests/fuzz" fuzz)
EOF
  if ! cmp -s "$src/CMakeLists.txt.new" "$src/CMakeLists.txt" 2>/dev/null; then
    mv "$src/CMakeLists.txt.new" "$src/CMakeLists.txt"
  else
    rm "$src/CMakeLists.txt.new"
  fi
fi
stamp="$mode $CXX_BIN $ROOT"
if [ ! -f "$BUILD/CMakeCache.txt" ] || [ "$(cat "$BUILD/.fuzz-config" 2>/dev/null)" != "$stamp" ]; then
  echo "== configure $BUILD ($CXX_BIN, $mode)"
  mkdir -p "$BUILD"
  rm -rf "$BUILD/CMakeCache.txt" "$BUILD/CMakeFiles"
  # -Wshadow=local is GCC's spelling; clang does not know it (see docs), hence the
  # -Wno-unknown-warning-option. Everything else stays -Werror.
  launcher=()
  if command -v ccache >/dev/null 2>&1; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
  cmake -S "$src" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$CXX_BIN" \
    -DCMAKE_CXX_FLAGS=-Wno-unknown-warning-option -DPDSYNC_WERROR=ON "${launcher[@]}" "${mode_args[@]}" >"$BUILD/fuzz-configure.log" 2>&1 ||
    {
      cat "$BUILD/fuzz-configure.log" >&2
      exit 1
    }
  echo "$stamp" >"$BUILD/.fuzz-config"
fi

echo "== build (-j$JOBS)"
build_targets=("${TARGETS[@]}")
[ "$make_corpus" = 1 ] && build_targets+=(fuzz_make_corpus)
if ! cmake --build "$BUILD" -j"$JOBS" --target "${build_targets[@]}" >"$BUILD/fuzz-build.log" 2>&1; then
  grep -E "error|Error" "$BUILD/fuzz-build.log" | head -40 >&2
  echo "fuzz.sh: build failed, see $BUILD/fuzz-build.log" >&2
  exit 1
fi

binary() {
  echo "$bindir/$1"
}

if [ "$make_corpus" = 1 ]; then
  "$(binary fuzz_make_corpus)" "$ROOT/tests/fuzz/corpus"
  du -sh --apparent-size "$ROOT/tests/fuzz/corpus"
  exit 0
fi

# libFuzzer reports through the sanitizers; keep their verdicts fatal and readable.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=0
rows=()
for t in "${TARGETS[@]}"; do
  bin=$(binary "$t")
  seeds=$ROOT/tests/fuzz/corpus/$t
  work=$BUILD/fuzz-corpus/$t
  # A smoke run starts from the seeds alone: replaying a grown corpus would eat its 5 s.
  [ "$smoke" = 1 ] && work=$BUILD/fuzz-corpus-smoke/$t && rm -rf "$work"
  artifacts=$BUILD/fuzz-artifacts/$t
  log=$BUILD/fuzz-logs/$t.log
  mkdir -p "$work" "$artifacts" "$(dirname "$log")"
  max_len=4096
  [ "$t" = fuzz_server_batch ] && max_len=16384
  echo "== $t: ${seconds}s"
  set +e
  "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len="$max_len" \
    -print_final_stats=1 -artifact_prefix="$artifacts/" "$work" "$seeds" >"$log" 2>&1
  rc=$?
  set -e
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  # A run that died before its first coverage line has none: not a reason to stop here.
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2 || true)
  if [ "$rc" -eq 0 ]; then
    result="ok"
  else
    failed=1
    artifact=$(grep -oE "Test unit written to [^ ]+" "$log" | tail -1 | cut -d' ' -f5 || true)
    result="FAILED (exit $rc)"
    echo "---- $t failed; last lines of $log:"
    { grep -A2 "fuzz invariant failed" "$log" || true
      grep -E "ERROR: |runtime error|SUMMARY|Test unit written" "$log" || true; } | head -20
    [ -n "$artifact" ] && echo "replay: $bin $artifact"
  fi
  rows+=("$(printf '%-20s %12s %8s  %s' "$t" "${runs:-?}" "${cov:-?}" "$result")")
done

echo
printf '%-20s %12s %8s  %s\n' target runs coverage result
for r in "${rows[@]}"; do echo "$r"; done
exit "$failed"
