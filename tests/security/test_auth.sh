#!/usr/bin/env bash
# Security: who may connect at all (docs/protocol.md §6). No anonymous client (MQTT 5 and
# 3.1.1), no wrong or missing password, no unknown user; the fleet's own accounts connect
# (positive control). The plaintext listener is bound to loopback only.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

make_fleet
enroll mfp-1
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

echo "# listeners"
check "plaintext listener bound to loopback only" grep -qx "listener $PORT 127.0.0.1" "$FLEET/mosquitto.conf"
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
