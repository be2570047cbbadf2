#!/usr/bin/env bash
# Security: who may connect at all (docs/protocol.md §6). No anonymous client (MQTT 5 and
# 3.1.1), no wrong or missing password, no unknown user; the fleet's own accounts connect
# (positive control). The plaintext listener is bound to loopback only. With the dynamic
# security plugin (PDSYNC_SEC_AUTH=dynsec, what fleet-init.sh sets up) there is no plaintext
# listener at all, and every account is bound to its client id: a device's credentials
# cannot take over the server's session or another device's.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

make_fleet
enroll mfp-1 mfp-2
start_fleet_broker
DEV_PW=$(cat "$FLEET/secrets/device-mfp-1.password")

echo "# refused"
expect_connect_refused "anonymous client refused (MQTT 5)" anon mqttv5
expect_connect_refused "anonymous client refused (MQTT 3.1.1)" anon mqttv311 "not authorised"
expect_connect_refused "wrong password refused" "pw:mfp-1:${DEV_PW}x"
expect_connect_refused "wrong password refused (MQTT 3.1.1)" "pw:mfp-1:${DEV_PW}x" mqttv311 "not authorised"
expect_connect_refused "empty password refused" "pw:mfp-1:"
expect_connect_refused "a device's password for another user refused" "pw:mfp-2:$DEV_PW"
expect_connect_refused "the server account with a device's password refused" "pw:$PDS_SERVER_USER:$DEV_PW"
expect_connect_refused "the inspector with the server's password refused" "pw:$PDS_INSPECTOR_USER:$SERVER_PW"
expect_connect_refused "unknown user refused" "pw:nobody:secret"
# A refused CONNECT must not get as far as publishing.
expect_pub_denied_at_connect() {
    local rc=0
    pub anon "$ROOT/devices/mfp-1/changes" x || rc=$?
    if [ "$rc" -eq 2 ] && [[ $PUB_OUT == *"Not authorized"* ]]; then pass "$1"; else fail "$1" "result $rc: $PUB_OUT"; fi
}
expect_pub_denied_at_connect "an anonymous publish is refused at CONNECT (reason: not authorized)"

echo "# accepted (positive control)"
expect_connect_ok "enrolled device connects with its password" mfp-1
expect_connect_ok "enrolled device connects with MQTT 3.1.1 too" mfp-1 mqttv311
expect_connect_ok "the server account connects" server
expect_connect_ok "the inspector account connects" inspector

if [ "$SEC_AUTH" = dynsec ]; then
    echo "# client ids are bound to accounts"
    expect_connect_ok "mfp-2 connects under its own client id" mfp-2
    bound_refused() {  # bound_refused DESC USER PASSWORD CLIENT_ID
        local out
        if out=$(timeout "$DEADLINE_S" mosquitto_sub -V mqttv5 -h 127.0.0.1 -p "$TLS_PORT" \
            --cafile "$FLEET/tls/ca.crt" -u "$2" -P "$3" -i "$4" -E -t "$ROOT/server/status" 2>&1); then
            fail "$1" "connection was accepted"
        elif [[ $out == *"Not authorized"* ]]; then
            pass "$1"
        else
            fail "$1" "refused, but not as not authorized: $out"
        fi
    }
    client_start holder mfp-2 -t "$ROOT/devices/mfp-2/inbox"
    bound_refused "mfp-1's credentials under mfp-2's client id refused" mfp-1 "$DEV_PW" mfp-2
    bound_refused "mfp-1's credentials under the server's client id refused" mfp-1 "$DEV_PW" "$SERVER_CLIENT_ID"
    bound_refused "mfp-1's credentials under the inspector's client id refused" mfp-1 "$DEV_PW" "$PDS_INSPECTOR_USER"
    bound_refused "the server's own account under another client id refused" \
        "$PDS_SERVER_USER" "$SERVER_PW" not-the-server
    check "mfp-2's live session was not taken over" kill -0 "${CLIENT_PID[holder]}"
    # One connection per account: a second login with the same credentials (and so the
    # same client id) replaces the first rather than adding one.
    client_start second mfp-2 -t "$ROOT/devices/mfp-2/inbox"
    check "a second connection of mfp-2 replaces its first (one connection per account)" \
        wait_until "$DEADLINE_S" grep -q "Client mfp-2 already connected, closing old connection" "$BROKER_LOG"
    client_kill second
    client_kill holder
fi

echo "# listeners"
if [ "$SEC_AUTH" = dynsec ]; then
    check "exactly one listener, TLS on 127.0.0.1" test "$(grep '^listener ' "$FLEET/mosquitto.conf")" = "listener $TLS_PORT 127.0.0.1"
    check "it takes password logins only (the plugin checks them)" grep -qx "use_identity_as_username false" "$FLEET/mosquitto.conf"
    PORT=$TLS_PORT  # the plaintext check below: the TLS port must not be reachable off loopback either
else
    check "plaintext listener bound to loopback only" grep -qx "listener $PORT 127.0.0.1" "$FLEET/mosquitto.conf"
fi
check "anonymous access is off in the rendered config" grep -qx "allow_anonymous false" "$FLEET/mosquitto.conf"
# If this machine has a non-loopback address, the plaintext port must not answer on it.
other=$(hostname -I 2>/dev/null | tr ' ' '\n' | grep -v -e '^127\.' -e ':' -e '^$' | head -n 1 || true)
if [ -n "$other" ]; then
    if (exec 3<>"/dev/tcp/$other/$PORT") 2>/dev/null; then
        fail "plaintext port closed on $other"
    else
        pass "plaintext port closed on $other"
    fi
fi

finish
