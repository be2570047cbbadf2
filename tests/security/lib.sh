# Helpers for the security tests in tests/security/: each test sources this file, makes its
# own fleet with deploy/fleet-init.sh (whose broker config comes from
# broker-config/render.sh) in a private temporary directory, starts its own mosquitto on
# free ports, and stops it by PID when it exits. Assertions count into "N passed, M failed".
#
# Refusals are asserted on conditions, never on a quiet period: a forbidden publish must get
# a "Not authorized" PUBACK, and a watcher that must NOT see a message is ended by a control
# message published legitimately afterwards. The broker delivers in order, so if the
# forbidden message had been routed it would arrive before the control one.
# shellcheck shell=bash

set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../../deploy/lib/common.sh
. "$REPO/deploy/lib/common.sh"

# Every wait in these tests is bounded by one of these; success never waits for them.
DEADLINE_S=10

PASS=0
FAIL=0
T=$(mktemp -d "${TMPDIR:-/tmp}/pdsync-sec.XXXXXX")
BG_PIDS=()
BROKER_PID=""
BROKER_LOG=$T/broker.log

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
finish() {
    if [ "$FAIL" -gt 0 ] && [ -f "$BROKER_LOG" ]; then
        echo "---- broker log (last 30 lines) ----"
        tail -n 30 "$BROKER_LOG"
    fi
    echo "$PASS passed, $FAIL failed"
    [ "$FAIL" -eq 0 ]
}

# quietly CMD...: runs a deploy script with its chatter kept in the test's log.
quietly() { "$@" >>"$T/commands.log" 2>&1 || { cat "$T/commands.log"; return 1; }; }

need() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || { echo "missing tool: $c (deploy/install-deps.sh)"; echo "0 passed, 1 failed"; exit 1; }
    done
}
need mosquitto mosquitto_pub mosquitto_sub mosquitto_passwd openssl timeout flock

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

# A port nobody listens on, found by binding it. It is drawn at random from below Linux's
# ephemeral range (32768-60999), where the tests' own client connections take their local
# ports, so only another test picking the same port can race us; start_fleet_broker retries.
free_port() {
    if command -v python3 >/dev/null 2>&1; then
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
    else
        local p
        while :; do
            p=$((20000 + RANDOM % 12000))
            port_open "$p" || { echo "$p"; return; }
        done
    fi
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ---- Fleet and broker ---------------------------------------------------------------------

# make_fleet [fleet-init options]: a fleet in $FLEET_DIR (default $T/fleet) on fresh ports,
# TLS on 127.0.0.1.
# The broker runs as the invoking user (root would otherwise drop to 'mosquitto', which
# cannot enter the private temporary directory).
# shellcheck disable=SC2120  # the options are optional
make_fleet() {
    FLEET=${FLEET_DIR:-$T/fleet}
    PORT=$(free_port)
    TLS_PORT=$(free_port)
    while [ "$TLS_PORT" = "$PORT" ]; do TLS_PORT=$(free_port); done
    ROOT=$PDS_DEFAULT_ROOT
    if ! "$REPO/deploy/fleet-init.sh" "$FLEET" --port "$PORT" --tls-port "$TLS_PORT" \
        --tls-addr 127.0.0.1 --server-host localhost --run-user "$(id -un)" --broker-auth passwd "$@" \
        >"$T/fleet-init.log" 2>&1; then
        cat "$T/fleet-init.log"
        echo "0 passed, 1 failed"
        exit 1
    fi
    SERVER_PW=$(cat "$FLEET/secrets/$PDS_SERVER_USER.password")
    INSPECTOR_PW=$(cat "$FLEET/secrets/$PDS_INSPECTOR_USER.password")
}

enroll() {
    local name
    for name in "$@"; do
        "$REPO/deploy/enroll-device.sh" "$FLEET" "$name" >>"$T/enroll.log" 2>&1 \
            || { cat "$T/enroll.log"; echo "0 passed, 1 failed"; exit 1; }
    done
}

# start_broker CONF [PORT]: starts mosquitto and returns once it logged that it is running
# (it does so after opening every listener) and PORT accepts connections. Only the plaintext
# port is probed: a bare TCP probe of the TLS port would log a failed handshake. Returns 1
# if the broker lost a race for its port, and ends the test on any other failure to start.
start_broker() {
    local before
    before=$(grep -c ' running$' "$BROKER_LOG" 2>/dev/null || true)
    local in_use
    in_use=$(grep -c 'Address already in use' "$BROKER_LOG" 2>/dev/null || true)
    mosquitto -c "$1" >>"$BROKER_LOG" 2>&1 &
    BROKER_PID=$!
    BG_PIDS+=("$BROKER_PID")
    wait_until "$DEADLINE_S" broker_up_or_gone "${before:-0}" "${2:-}" || true
    if broker_running "${before:-0}" "${2:-}"; then return 0; fi
    wait "$BROKER_PID" 2>/dev/null || true
    if [ "$(grep -c 'Address already in use' "$BROKER_LOG" || true)" -gt "${in_use:-0}" ]; then
        return 1
    fi
    echo "the broker did not start:"
    cat "$BROKER_LOG"
    echo "$PASS passed, $((FAIL + 1)) failed"
    exit 1
}
broker_running() {
    kill -0 "$BROKER_PID" 2>/dev/null && [ "$(grep -c ' running$' "$BROKER_LOG")" -gt "$1" ] \
        && { [ -z "$2" ] || port_open "$2"; }
}
broker_up_or_gone() { broker_running "$1" "$2" || ! kill -0 "$BROKER_PID" 2>/dev/null; }

# Starts the fleet's broker; if another process took one of its ports meanwhile, moves the
# fleet to new ports (fleet-init re-renders the config) and tries again.
start_fleet_broker() {
    local attempt
    for attempt in 1 2 3; do
        start_broker "$FLEET/mosquitto.conf" "$PORT" && return 0
        echo "# port taken (attempt $attempt), moving the fleet to new ports"
        PORT=$(free_port)
        TLS_PORT=$(free_port)
        quietly "$REPO/deploy/fleet-init.sh" "$FLEET" --port "$PORT" --tls-port "$TLS_PORT"
    done
    echo "the broker could not get free ports"
    echo "$PASS passed, $((FAIL + 1)) failed"
    exit 1
}

stop_broker() {
    kill "$BROKER_PID" 2>/dev/null || true
    wait "$BROKER_PID" 2>/dev/null || true
}

# SIGHUP by PID, then waits for the broker to log the reload. Mosquitto reloads in its
# single event loop right after that line, so any connection made afterwards sees the result.
reload_broker() {
    local before
    before=$(grep -c 'Reloading config' "$BROKER_LOG" || true)
    kill -HUP "$BROKER_PID"
    wait_until "$DEADLINE_S" reloaded_since "$before" || fail "broker logged no reload after SIGHUP"
}
reloaded_since() { [ "$(grep -c 'Reloading config' "$BROKER_LOG" || true)" -gt "$1" ]; }

# ---- Clients --------------------------------------------------------------------------------

# Connection arguments for WHO, into the array AUTH:
#   server | inspector | anon | NAME (an enrolled device, password, loopback listener)
#   pw:USER:PASSWORD | tls:NAME (enrolled device's certificate on the TLS listener)
#   tlscert:CERT:KEY (any certificate on the TLS listener) | tlsnocert
#   tlsinspector (the inspector's certificate from fleet-init, as MQTT Explorer would use it)
auth() {
    local who=$1 rest
    case $who in
        server) AUTH=(-h 127.0.0.1 -p "$PORT" -u "$PDS_SERVER_USER" -P "$SERVER_PW") ;;
        inspector) AUTH=(-h 127.0.0.1 -p "$PORT" -u "$PDS_INSPECTOR_USER" -P "$INSPECTOR_PW") ;;
        anon) AUTH=(-h 127.0.0.1 -p "$PORT") ;;
        pw:*) rest=${who#pw:}; AUTH=(-h 127.0.0.1 -p "$PORT" -u "${rest%%:*}" -P "${rest#*:}") ;;
        tls:*)
            rest=${who#tls:}
            AUTH=(-h 127.0.0.1 -p "$TLS_PORT" --cafile "$FLEET/tls/ca.crt"
                  --cert "$FLEET/devices/$rest/client.crt" --key "$FLEET/devices/$rest/client.key") ;;
        tlscert:*)
            rest=${who#tlscert:}
            AUTH=(-h 127.0.0.1 -p "$TLS_PORT" --cafile "$FLEET/tls/ca.crt"
                  --cert "${rest%%:*}" --key "${rest#*:}") ;;
        tlsnocert) AUTH=(-h 127.0.0.1 -p "$TLS_PORT" --cafile "$FLEET/tls/ca.crt") ;;
        tlsinspector)
            AUTH=(-h 127.0.0.1 -p "$TLS_PORT" --cafile "$FLEET/tls/ca.crt"
                  --cert "$FLEET/tls/$PDS_INSPECTOR_USER.crt" --key "$FLEET/tls/$PDS_INSPECTOR_USER.key") ;;
        *) AUTH=(-h 127.0.0.1 -p "$PORT" -u "$who" -P "$(cat "$FLEET/secrets/device-$who.password")") ;;
    esac
}

# pub WHO TOPIC PAYLOAD [mosquitto_pub options]: one MQTT v5 QoS 1 publish. Returns 0 when
# the broker acknowledged it, 1 when the PUBACK refused it, 2 when the connection failed.
# mosquitto_pub exits 0 on a refusing PUBACK, so its warning is what tells the two apart.
pub() {
    local who=$1 topic=$2 payload=$3 rc=0
    shift 3
    auth "$who"
    PUB_OUT=$(timeout "$DEADLINE_S" mosquitto_pub -V mqttv5 -q 1 "${AUTH[@]}" -t "$topic" -m "$payload" "$@" 2>&1) || rc=$?
    if [ "$rc" -ne 0 ]; then return 2; fi
    if [[ $PUB_OUT == *"Publish 1 failed"* ]]; then return 1; fi
    return 0
}

expect_pub_ok() {
    local desc=$1 rc=0
    shift
    pub "$@" || rc=$?
    if [ "$rc" -eq 0 ]; then pass "$desc"; else fail "$desc" "publish result $rc: $PUB_OUT"; fi
}
expect_pub_denied() {
    local desc=$1 rc=0
    shift
    pub "$@" || rc=$?
    if [ "$rc" -eq 1 ] && [[ $PUB_OUT == *"Not authorized"* ]]; then
        pass "$desc"
    else
        fail "$desc" "expected a 'Not authorized' PUBACK; publish result $rc: ${PUB_OUT:-accepted}"
    fi
}

# connects WHO [VERSION]: true when WHO can connect (and subscribe); output in CONNECT_OUT.
connects() {
    auth "$1"
    CONNECT_OUT=$(timeout "$DEADLINE_S" mosquitto_sub -V "${2:-mqttv5}" -q 1 "${AUTH[@]}" -E -t "$ROOT/connect-check" 2>&1)
}
expect_connect_ok() {
    if connects "$2" "${3:-mqttv5}"; then pass "$1"; else fail "$1" "$CONNECT_OUT"; fi
}
# expect_connect_refused DESC WHO [VERSION] [WHY]: the connection fails, and the client's
# error holds WHY (default: the CONNACK's "Not authorized"), so a refusal for another reason
# (a dead broker, a wrong port) does not pass for the one asserted.
expect_connect_refused() {
    local why=${4:-Not authorized}
    if connects "$2" "${3:-mqttv5}"; then
        fail "$1" "connection was accepted"
    elif [[ $CONNECT_OUT == *"$why"* ]]; then
        pass "$1"
    else
        fail "$1" "refused, but not with '$why': $CONNECT_OUT"
    fi
}

# ---- Watchers: subscribers that prove what does (not) arrive --------------------------------

# watch_start ID WHO COUNT TOPIC...: subscribes WHO to TOPIC... in the background and returns
# once the subscription is live. Liveness is itself a condition: the watcher also subscribes
# to a marker topic holding a retained message, and the SUBSCRIBE is active once that arrives.
# The watcher exits after COUNT messages past the marker (or the deadline).
watch_start() {
    local id=$1 who=$2 count=$3 marker topic targs=()
    shift 3
    case $who in
        server) marker=$ROOT/test-ready/$id ;;
        inspector | tlsinspector) marker=$ROOT/inspect/test-ready/$id ;;
        *) marker=$ROOT/shared/test-ready-$id ;;
    esac
    pub server "$marker" "READY" -r || fail "watcher $id: marker publish failed" "$PUB_OUT"
    for topic in "$marker" "$@"; do targs+=(-t "$topic"); done
    auth "$who"
    : >"$T/watch-$id.out"  # exists before the poll below reads it
    mosquitto_sub -V mqttv5 -q 1 "${AUTH[@]}" -F '%t %p' -C $((count + 1)) -W "$DEADLINE_S" \
        "${targs[@]}" >"$T/watch-$id.out" 2>"$T/watch-$id.err" &
    WATCH_PID[$id]=$!
    BG_PIDS+=("${WATCH_PID[$id]}")
    # A watcher that never got ready is one failure; the expectation on it then fails too.
    wait_until "$DEADLINE_S" grep -qx "$marker READY" "$T/watch-$id.out" \
        || fail "watcher $id did not become ready" "$(cat "$T/watch-$id.err")"
}
declare -A WATCH_PID=()

# watch_wait ID: waits for watcher ID to exit (it has COUNT messages, or the deadline passed).
# Must run in the test's own shell: `wait` in a $(...) subshell cannot wait for it.
watch_wait() { wait "${WATCH_PID[$1]}" 2>/dev/null || true; }

# expect_watch DESC ID EXPECTED...: watcher ID received exactly the lines EXPECTED, in order.
expect_watch() {
    local desc=$1 id=$2 got want
    shift 2
    watch_wait "$id"
    got=$(tail -n +2 "$T/watch-$id.out")
    want=$(printf '%s\n' "$@")
    if [ "$got" = "$want" ]; then
        pass "$desc"
    else
        fail "$desc" "expected:
$want
received:
$got
watcher output (marker first) and errors:
$(cat "$T/watch-$id.out" "$T/watch-$id.err")"
    fi
}

# ---- Long-lived clients ----------------------------------------------------------------------

# client_start ID WHO [mosquitto_sub options]: a client that stays connected (subscribed to
# TOPIC given in the options) until killed; returns once the broker logged its connection.
declare -A CLIENT_PID=()
client_start() {
    local id=$1 who=$2
    shift 2
    auth "$who"
    mosquitto_sub -V mqttv5 -q 1 "${AUTH[@]}" -i "$id" "$@" >"$T/client-$id.out" 2>&1 &
    CLIENT_PID[$id]=$!
    BG_PIDS+=("${CLIENT_PID[$id]}")
    wait_until "$DEADLINE_S" grep -qF "as $id (" "$BROKER_LOG" \
        || fail "client $id did not connect" "$(cat "$T/client-$id.out")"
}
# client_kill ID: kill -9, so the broker sees a lost connection and fires the will.
client_kill() {
    kill -9 "${CLIENT_PID[$1]}" 2>/dev/null || true
    wait "${CLIENT_PID[$1]}" 2>/dev/null || true
}
client_gone() { ! kill -0 "${CLIENT_PID[$1]}" 2>/dev/null; }
