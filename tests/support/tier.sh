# What the bash test tiers (tests/security/, tests/packaging/) share: assertions counted into
# "N passed, M failed", bounded waits, free ports, and background processes stopped by PID
# when the test exits. The sourcing lib.sh sets T (its private work directory) first.
# shellcheck shell=bash

PASS=0
FAIL=0
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
# check DESC CMD...: passes when CMD succeeds.
check() {
    local desc=$1
    shift
    if "$@"; then pass "$desc"; else fail "$desc"; fi
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
# A port nobody listens on, found by binding it. It is drawn at random from below Linux's
# ephemeral range (32768-60999), where the tests' own client connections take their local
# ports, so only another test picking the same port can race us; callers retry.
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
