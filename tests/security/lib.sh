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

T=$(mktemp -d "${TMPDIR:-/tmp}/pdsync-sec.XXXXXX")
# shellcheck source-path=SCRIPTDIR source=../support/tier.sh
. "$REPO/tests/support/tier.sh"
BROKER_PID=""
BROKER_LOG=$T/broker.log

# The broker's rights: dynsec (the dynamic security plugin, written by pdsync-server, what
# fleet-init.sh sets up by default) or passwd (the password file and ACL of
# `fleet-init.sh --broker-auth passwd`). run_all.sh runs each test in both.
SEC_AUTH=${PDSYNC_SEC_AUTH:-dynsec}
# The build tree holding pdsync-server, pdsync-client and pdsync (dynsec mode runs them).
BUILD=${PDSYNC_BUILD_DIR:-$REPO/build-test}

finish() {
    if [ "$FAIL" -gt 0 ] && [ -f "$BROKER_LOG" ]; then
        echo "---- broker log (last 30 lines) ----"
        tail -n 30 "$BROKER_LOG"
    fi
    if [ "$FAIL" -gt 0 ] && [ -f "$T/server.log" ]; then
        echo "---- server log (last 30 lines) ----"
        tail -n 30 "$T/server.log"
    fi
    echo "$PASS passed, $FAIL failed"
    [ "$FAIL" -eq 0 ]
}

# quietly CMD...: runs a deploy script with its chatter kept in the test's log.
quietly() { "$@" >>"$T/commands.log" 2>&1 || { cat "$T/commands.log"; return 1; }; }

need mosquitto mosquitto_pub mosquitto_sub mosquitto_passwd openssl timeout flock python3

# ---- Fleet and broker ---------------------------------------------------------------------

# make_fleet [fleet-init options]: a fleet in $FLEET_DIR (default $T/fleet) on fresh ports,
# TLS on 127.0.0.1, its broker rights as SEC_AUTH says.
# The broker runs as the invoking user (root would otherwise drop to 'mosquitto', which
# cannot enter the private temporary directory).
# shellcheck disable=SC2120  # the options are optional
make_fleet() {
    FLEET=${FLEET_DIR:-$T/fleet}
    PORT=$(free_port)
    TLS_PORT=$(free_port)
    while [ "$TLS_PORT" = "$PORT" ]; do TLS_PORT=$(free_port); done
    ROOT=$PDS_DEFAULT_ROOT
    # No web admin page: parallel fleets would all bind its port.
    if ! "$REPO/deploy/fleet-init.sh" "$FLEET" --port "$PORT" --tls-port "$TLS_PORT" --web-listen off \
        --tls-addr 127.0.0.1 --server-host localhost --run-user "$(id -un)" \
        --broker-auth "$SEC_AUTH" "$@" >"$T/fleet-init.log" 2>&1; then
        cat "$T/fleet-init.log"
        echo "0 passed, 1 failed"
        exit 1
    fi
    SERVER_PW=$(cat "$FLEET/secrets/$PDS_SERVER_USER.password")
    INSPECTOR_PW=$(cat "$FLEET/secrets/$PDS_INSPECTOR_USER.password")
    if [ "$SEC_AUTH" = dynsec ]; then
        local b
        for b in server-node/pdsync-server client-node/pdsync-client client-node/pdsync; do
            [ -x "$BUILD/$b" ] || { echo "dynsec mode needs $BUILD/$b (PDSYNC_BUILD_DIR)"; echo "0 passed, 1 failed"; exit 1; }
        done
        # The test's own stand-in for the server: an account holding the role pdsync-server
        # wrote, but no client id, so a test can publish as "the server" while it watches
        # as it (the server's own account is bound to the running server's client id).
        TEST_SERVER_USER=sec-test-server
        TEST_SERVER_PW=$(openssl rand -hex 16)
    fi
}

# enroll NAME...: passwd mode: enroll-device.sh now. dynsec mode: enroll-device.sh asks the
# running server for the account (`pdsync machines provision`), and the device's own daemon
# then says hello so the server makes it a member; before the broker runs, the names wait
# for start_fleet_broker.
ENROLL_LATER=()
enroll() {
    local name
    if [ "$SEC_AUTH" = dynsec ] && [ -z "$BROKER_PID" ]; then ENROLL_LATER+=("$@"); return; fi
    if [ "$SEC_AUTH" = dynsec ]; then dynsec_enroll "$@"; return; fi
    for name in "$@"; do
        "$REPO/deploy/enroll-device.sh" "$FLEET" "$name" >>"$T/enroll.log" 2>&1 \
            || { cat "$T/enroll.log"; echo "0 passed, 1 failed"; exit 1; }
    done
}

die_setup() { echo "$1"; [ -z "${2:-}" ] || cat "$2"; echo "$PASS passed, $((FAIL + 1)) failed"; exit 1; }

# server_start / server_stop: the fleet's pdsync-server (dynsec mode), by PID. Ready once it
# has written the broker's rights (roles, inspector, claim account).
SERVER_PID=""
SERVER_SOCK=$T/server.sock
SERVER_CLIENT_ID=sec-fleet-server
server_start() {
    local before
    before=$(grep -c 'join: broker rights in place' "$T/server.log" 2>/dev/null || true)
    "$BUILD/server-node/pdsync-server" --config "$FLEET/pdsync-server.conf" \
        --admin-socket "$SERVER_SOCK" --server-id "$SERVER_CLIENT_ID" >>"$T/server.log" 2>&1 &
    SERVER_PID=$!
    BG_PIDS+=("$SERVER_PID")
    wait_until 30 server_ready "${before:-0}" || die_setup "pdsync-server did not set up the broker's rights" "$T/server.log"
}
server_ready() { [ "$(grep -c 'join: broker rights in place' "$T/server.log" || true)" -gt "$1" ]; }
server_stop() {
    [ -n "$SERVER_PID" ] || return 0
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}
# pdsync CLI against the running server.
pdsync_cli() { PDSYNC_SERVER_SOCKET=$SERVER_SOCK "$BUILD/client-node/pdsync" "$@"; }

# dynsec_enroll NAME...: accounts from the running server, then each device's daemon joins
# (its hello makes the server promote it to member) and is stopped again, so the tests
# alone use the device's credentials. Leaves the server running.
dynsec_enroll() {
    local name pids=() was_running=$SERVER_PID before
    [ -n "$SERVER_PID" ] || server_start
    for name in "$@"; do
        PDSYNC_CLI="$BUILD/client-node/pdsync" PDSYNC_SERVER_SOCKET=$SERVER_SOCK \
            "$REPO/deploy/enroll-device.sh" "$FLEET" "$name" >>"$T/enroll.log" 2>&1 \
            || die_setup "enroll-device.sh $name failed" "$T/enroll.log"
        before=$(grep -c "join: device '$name' is now a member" "$T/server.log" || true)
        "$BUILD/client-node/pdsync-client" --device-id "$name" --root "$ROOT" \
            --broker "mqtts://127.0.0.1:$TLS_PORT" --ca-file "$FLEET/tls/ca.crt" \
            --username "$name" --password-file "$FLEET/secrets/device-$name.password" \
            --fleet-key-file "$FLEET/secrets/fleet.key" --store "$T/device-$name.db" \
            --socket "$T/device-$name.sock" >>"$T/device-$name.log" 2>&1 &
        pids+=($!)
        BG_PIDS+=($!)
        wait_until 30 member_since "$name" "${before:-0}" || die_setup "$name did not become a member" "$T/server.log"
        # The promotion ends its session; stop it only once it is back, not mid-handshake.
        wait_until 30 reconnected "$T/device-$name.log" || die_setup "$name did not reconnect as a member" "$T/device-$name.log"
    done
    for name in "${pids[@]}"; do kill "$name" 2>/dev/null || true; wait "$name" 2>/dev/null || true; done
    [ -n "$was_running" ] || server_stop
}
reconnected() { [ "$(grep -c 'connected to mqtts://' "$1" || true)" -ge 2 ]; }
member_since() { [ "$(grep -c "join: device '$1' is now a member" "$T/server.log" || true)" -gt "$2" ]; }

# The devices' daemons leave their retained presence behind; the tests expect a clean slate.
clear_retained() {
    local topic
    auth server
    for topic in "$@"; do
        timeout "$DEADLINE_S" mosquitto_pub -V mqttv5 -q 1 "${AUTH[@]}" -t "$topic" -r -n \
            >>"$T/commands.log" 2>&1 || fail "clearing retained $topic failed"
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
    : >>"$BROKER_LOG"  # exists before broker_running reads it
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
# fleet to new ports (fleet-init re-renders the config) and tries again. In dynsec mode it
# then runs the server once, so the broker holds the rights pdsync-server writes, and the
# devices enrolled so far join (see dynsec_enroll).
start_fleet_broker() {
    local attempt probe=$PORT
    [ "$SEC_AUTH" = passwd ] || probe=""
    for attempt in 1 2 3; do
        if start_broker "$FLEET/mosquitto.conf" "$probe"; then
            [ "$SEC_AUTH" = passwd ] || dynsec_setup
            return 0
        fi
        echo "# port taken (attempt $attempt), moving the fleet to new ports"
        PORT=$(free_port)
        TLS_PORT=$(free_port)
        quietly "$REPO/deploy/fleet-init.sh" "$FLEET" --port "$PORT" --tls-port "$TLS_PORT"
    done
    echo "the broker could not get free ports"
    echo "$PASS passed, $((FAIL + 1)) failed"
    exit 1
}

dynsec_setup() {
    server_start
    if [ "${#ENROLL_LATER[@]}" -gt 0 ]; then
        dynsec_enroll "${ENROLL_LATER[@]}"
        ENROLL_LATER=()
    fi
    server_stop
    # The stand-in's account, made with the server's (the plugin's admin) credentials and
    # client id while the server is stopped.
    if ! ctrl createClient "$TEST_SERVER_USER" -p "$TEST_SERVER_PW" \
        || ! ctrl addClientRole "$TEST_SERVER_USER" pdsync-server; then
        die_setup "could not make the test's server account" "$T/commands.log"
    fi
    local name
    for name in $(dynsec_devices); do clear_retained "$ROOT/devices/$name/presence"; done
    clear_retained "$ROOT/server/status"
}
# ctrl ARGS...: `mosquitto_ctrl dynsec ARGS...` as the plugin's admin (the server account).
ctrl() {
    timeout "$DEADLINE_S" mosquitto_ctrl -h 127.0.0.1 -p "$TLS_PORT" --cafile "$FLEET/tls/ca.crt" \
        -u "$PDS_SERVER_USER" -P "$SERVER_PW" -i "$SERVER_CLIENT_ID" dynsec "$@" >>"$T/commands.log" 2>&1
}
dynsec_devices() { find "$FLEET/secrets" -name 'device-*.password' -printf '%f\n' | sed 's/^device-//; s/\.password$//'; }

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

# Connection arguments for WHO, into the array AUTH, and the client id the broker will log
# for it in AUTH_ID (empty: mosquitto's random one):
#   server | inspector | anon | NAME (an enrolled device, its password)
#   pw:USER:PASSWORD | tls:NAME (enrolled device's certificate on the TLS listener)
#   tlscert:CERT:KEY (any certificate on the TLS listener) | tlsnocert
#   tlsinspector (the inspector's certificate from fleet-init, as MQTT Explorer would use it)
# passwd mode: password logins on the loopback listener. dynsec mode: every login is a
# password over TLS (the only listener), with the account's own client id, which the plugin
# binds; "server" is the test's stand-in (see make_fleet), "realserver" the server's own
# account; tls:NAME and tlsinspector are
# the password logins (no certificate logins in this mode).
auth() {
    local who=$1 rest
    AUTH_ID=""
    if [ "$SEC_AUTH" = dynsec ]; then
        local tls=(-h 127.0.0.1 -p "$TLS_PORT" --cafile "$FLEET/tls/ca.crt")
        case $who in
            server) AUTH=("${tls[@]}" -u "$TEST_SERVER_USER" -P "$TEST_SERVER_PW") ;;
            # The server's own account under its bound client id (the daemon is stopped):
            # the only one whose session table the broker's session plugin takes.
            realserver)
                AUTH_ID=$SERVER_CLIENT_ID
                AUTH=("${tls[@]}" -u "$PDS_SERVER_USER" -P "$SERVER_PW" -i "$AUTH_ID") ;;
            inspector | tlsinspector)
                AUTH_ID=$PDS_INSPECTOR_USER
                AUTH=("${tls[@]}" -u "$PDS_INSPECTOR_USER" -P "$INSPECTOR_PW" -i "$AUTH_ID") ;;
            anon) AUTH=("${tls[@]}") ;;
            pw:*) rest=${who#pw:}; AUTH_ID=${rest%%:*}; AUTH=("${tls[@]}" -u "$AUTH_ID" -P "${rest#*:}" -i "$AUTH_ID") ;;
            tlscert:* | tlsnocert) echo "auth $who: no certificate logins in dynsec mode" >&2; AUTH=("${tls[@]}") ;;
            *)
                AUTH_ID=${who#tls:}
                AUTH=("${tls[@]}" -u "$AUTH_ID" -P "$(cat "$FLEET/secrets/device-$AUTH_ID.password")" -i "$AUTH_ID") ;;
        esac
        return
    fi
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
# Its client id is ID, or in dynsec mode the account's own (the plugin binds it).
declare -A CLIENT_PID=()
client_start() {
    local id=$1 who=$2 cid before
    shift 2
    auth "$who"
    cid=${AUTH_ID:-$id}
    before=$(grep -cF "as $cid (" "$BROKER_LOG" || true)
    [ -n "$AUTH_ID" ] || AUTH+=(-i "$cid")
    mosquitto_sub -V mqttv5 -q 1 "${AUTH[@]}" "$@" >"$T/client-$id.out" 2>&1 &
    CLIENT_PID[$id]=$!
    BG_PIDS+=("${CLIENT_PID[$id]}")
    wait_until "$DEADLINE_S" log_has_more "as $cid (" "${before:-0}" \
        || fail "client $id did not connect" "$(cat "$T/client-$id.out")"
}
log_has_more() { [ "$(grep -cF "$1" "$BROKER_LOG" || true)" -gt "$2" ]; }
# client_kill ID: kill -9, so the broker sees a lost connection and fires the will.
client_kill() {
    kill -9 "${CLIENT_PID[$1]}" 2>/dev/null || true
    wait "${CLIENT_PID[$1]}" 2>/dev/null || true
}
client_gone() { ! kill -0 "${CLIENT_PID[$1]}" 2>/dev/null; }
