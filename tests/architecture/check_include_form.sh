#!/usr/bin/env bash
# Fails when a project source includes a header with quotes by a path that is not rooted at
# a top-level folder (shared/, topics/, server-node/, client-node/, tests/). Such a path is
# looked up beside the including file first and so walks around the per-library include
# roots (cmake/PdsyncTarget.cmake). Library headers use <angle brackets>.
set -euo pipefail
cd "${1:-$(dirname "$0")/../..}"
bad=$(git ls-files '*.cpp' '*.hpp' '*.h' '*.c' | xargs grep -nE '^\s*#\s*include\s+"' |
  grep -vE '#\s*include\s+"(shared|topics|server-node|client-node|tests)/[^"]*"' |
  grep -vE '#\s*include\s+"[^"]*/\.\./' || true)
bad+=$(git ls-files '*.cpp' '*.hpp' '*.h' '*.c' | xargs grep -nE '^\s*#\s*include\s+"[^"]*\.\./' || true)
if [ -n "$bad" ]; then
  printf 'check_include_form: includes that bypass the include roots:\n%s\n' "$bad"
  exit 1
fi
echo "check_include_form: every project include is rooted at a top-level folder"
