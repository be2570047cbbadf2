#!/usr/bin/env bash
# Validates topics/asyncapi.yaml with the reference AsyncAPI parser (npm @asyncapi/parser 3,
# pinned by tests/contract/package-lock.json). The parser is a test tool only: it is
# installed into the build tree (not globally), once per lock file, and nothing of it ships.
# Fails on any diagnostic of severity error and on a document with no channels.
#
#   bash deploy/check-asyncapi.sh [BUILD_DIR]     (default build-test)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD=${1:-${PDSYNC_TEST_BUILD_DIR:-$ROOT/build-test}}
TOOLS=$BUILD/contract-tools

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "check-asyncapi: node and npm are needed (deploy/install-deps.sh installs them)" >&2
    exit 1
fi
mkdir -p "$TOOLS"
# Reinstall only when the lock file changed; --ignore-scripts: no install-time code runs.
if ! cmp -s tests/contract/package-lock.json "$TOOLS/package-lock.json" ||
    [ ! -d "$TOOLS/node_modules/@asyncapi/parser" ]; then
    cp tests/contract/package.json tests/contract/package-lock.json "$TOOLS/"
    (cd "$TOOLS" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
fi
node tests/contract/check_asyncapi.cjs "$TOOLS" topics/asyncapi.yaml
