#!/usr/bin/env bash
# Checks that every C++ file of the project follows .clang-format (no file is changed).
# `deploy/check-format.sh --fix` rewrites them instead.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.cpp' '*.hpp' 2>/dev/null || find . -name '*.cpp' -o -name '*.hpp')
[ "${#files[@]}" -gt 0 ] || exit 0
if [ "${1:-}" = "--fix" ]; then
  clang-format -i "${files[@]}"
  exit 0
fi
if ! clang-format --dry-run --Werror "${files[@]}" 2>/tmp/pdsync-format.log; then
  echo "check-format: these files differ from .clang-format (run deploy/check-format.sh --fix):"
  grep -oE "^[^: ]+\.[ch]pp" /tmp/pdsync-format.log | sort -u | sed "s/^/  /"
  exit 1
fi
echo "check-format: ${#files[@]} files ok"
