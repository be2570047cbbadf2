# Helpers for the packaging tests in tests/packaging/: assertions counted into
# "N passed, M failed", bounded waits, a private work directory and processes stopped by PID
# when the test exits. The work directory is under $PDSYNC_PACKAGING_WORK (the build tree),
# not /tmp, because the sandbox test hides /tmp as the units' PrivateTmp= does.
# shellcheck shell=bash

set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DEADLINE_S=15
work_base=${PDSYNC_PACKAGING_WORK:-${TMPDIR:-/tmp}}
mkdir -p "$work_base"
T=$(mktemp -d "$work_base/pdsync-pkg.XXXXXX")
chmod 0755 "$T"
# shellcheck source-path=SCRIPTDIR source=../support/tier.sh
. "$REPO/tests/support/tier.sh"

finish() {
    echo "$PASS passed, $FAIL failed"
    [ "$FAIL" -eq 0 ]
}
