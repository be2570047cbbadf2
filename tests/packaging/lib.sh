# Helpers for the packaging tests in tests/packaging/: assertions counted into
# "N passed, M failed", bounded waits, a private work directory and processes stopped by PID
# when the test exits. The work directory is under $PDSYNC_PACKAGING_WORK (the build tree),
# not /tmp, because the sandbox test hides /tmp as the units' PrivateTmp= does.
# shellcheck shell=bash

set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DEADLINE_S=15
PASS=0
FAIL=0
work_base=${PDSYNC_PACKAGING_WORK:-${TMPDIR:-/tmp}}
mkdir -p "$work_base"
T=$(mktemp -d "$work_base/pdsync-pkg.XXXXXX")
chmod 0755 "$T"
BG_PIDS=()

cleanup() {
    local pid
    for pid in "${BG_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${BG_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$T"
}
trap cleanup EXIT

pass() { PASS=$((PASS + 1)); printf 'ok      %s\n' "$1"; }
fail() {
    FAIL=$((FAIL + 1))
    printf 'FAILED  %s\n' "$1"
    [ -z "${2:-}" ] || printf '%s\n' "$2" | sed 's/^/        | /'
}
check() {
    local desc=$1
    shift
    if "$@"; then pass "$desc"; else fail "$desc"; fi
}
finish() {
    echo "$PASS passed, $FAIL failed"
    [ "$FAIL" -eq 0 ]
}
need() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || { echo "missing tool: $c (deploy/install-deps.sh)"; echo "0 passed, 1 failed"; exit 1; }
    done
}

now_ns() { date +%s%N; }
# wait_until SECONDS CMD...: polls CMD until it succeeds; fails once SECONDS have passed.
wait_until() {
    local end=$(($(now_ns) + $1 * 1000000000))
    shift
    until "$@"; do
        [ "$(now_ns)" -lt "$end" ] || return 1
        sleep 0.02
    done
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# A port nobody listens on, from below Linux's ephemeral range (see tests/security/lib.sh).
free_port() {
    python3 -c '
import random, socket
while True:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", random.randint(20000, 32000)))
        print(s.getsockname()[1])
        break
    except OSError:
        pass
    finally:
        s.close()'
}
