#!/usr/bin/env bash
# Security: revoking a device with `enroll-device.sh DIR NAME --revoke`. After the broker is
# reloaded (SIGHUP by PID, what `systemctl reload mosquitto-pdsync` sends) the device is
# refused with its password and with its certificate (through the CRL), its live password
# session is closed, and other devices are untouched. The refusal survives a broker restart,
# and re-enrolling the name issues new credentials while the old certificate stays revoked.
# With the dynamic security plugin, --revoke is `pdsync machines remove`: the server deletes
# the account and the broker ends the device's live session at once, with no reload.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

if [ "$SEC_AUTH" = dynsec ]; then
    make_fleet
    enroll mfp-1 mfp-2
    start_fleet_broker
    old_pw=$(cat "$FLEET/secrets/device-mfp-1.password")
    revoke() {
        PDSYNC_CLI="$BUILD/client-node/pdsync" PDSYNC_SERVER_SOCKET=$SERVER_SOCK \
            quietly "$REPO/deploy/enroll-device.sh" "$FLEET" "$1" --revoke
    }

    echo "# before revocation (positive control)"
    expect_connect_ok "mfp-1 connects with its password" mfp-1
    client_start live-mfp-1 mfp-1 -t "$ROOT/server/status"
    client_start live-mfp-2 mfp-2 -t "$ROOT/server/status"

    echo "# revoke: no reload, no restart"
    server_start
    check "enroll-device.sh --revoke succeeds (pdsync machines remove)" revoke mfp-1
    t0=$(now_ns)
    check "the broker ended mfp-1's live session within a second" wait_until 1 client_gone live-mfp-1
    echo "# live session ended $((($(now_ns) - t0) / 1000000)) ms after the command returned"
    check "its password and bundle are deleted" test ! -e "$FLEET/secrets/device-mfp-1.password" -a ! -e "$FLEET/devices/mfp-1.tar.gz"
    expect_connect_refused "revoked mfp-1 refused with its password" "pw:mfp-1:$old_pw"
    check "mfp-2's live session is untouched" kill -0 "${CLIENT_PID[live-mfp-2]}"
    expect_connect_ok "mfp-2 still connects" mfp-2
    check "a second --revoke is harmless" revoke mfp-1
    server_stop

    echo "# after a broker restart"
    stop_broker
    start_broker "$FLEET/mosquitto.conf" || fail "the broker did not restart"
    expect_connect_refused "revoked mfp-1 still refused" "pw:mfp-1:$old_pw"
    expect_connect_ok "mfp-2 still connects" mfp-2

    echo "# re-provisioning the name: new credentials, but a removed machine stays out"
    server_start
    PDSYNC_CLI="$BUILD/client-node/pdsync" PDSYNC_SERVER_SOCKET=$SERVER_SOCK \
        quietly "$REPO/deploy/enroll-device.sh" "$FLEET" mfp-1 || fail "enroll-device.sh mfp-1 again"
    new_pw=$(cat "$FLEET/secrets/device-mfp-1.password")
    check "a new password was generated" test "$new_pw" != "$old_pw"
    expect_connect_ok "re-provisioned mfp-1 connects with its new password" mfp-1
    expect_connect_refused "the old password stays refused" "pw:mfp-1:$old_pw"
    auth mfp-1
    users=$(timeout "$DEADLINE_S" mosquitto_sub -V mqttv5 -q 1 "${AUTH[@]}" -E -t "$ROOT/users/#" -t "$ROOT/shared/#" 2>&1 || true)
    check "it is only a candidate: its SUBSCRIBE to users/# and shared/# is refused" \
        grep -q "All subscription requests were denied" <<<"$users"
    finish
    exit
fi

make_fleet
enroll mfp-1 mfp-2
start_fleet_broker
old_pw=$(cat "$FLEET/secrets/device-mfp-1.password")
cp "$FLEET/devices/mfp-1/client.crt" "$T/old.crt"
cp "$FLEET/devices/mfp-1/client.key" "$T/old.key"

echo "# before revocation (positive control)"
expect_connect_ok "mfp-1 connects with its password" mfp-1
expect_connect_ok "mfp-1 connects with its certificate" tls:mfp-1
client_start live-mfp-1 mfp-1 -t "$ROOT/devices/mfp-1/inbox"
# The copies: revoking deletes the device's files from the fleet directory.
client_start live-tls-mfp-1 "tlscert:$T/old.crt:$T/old.key" -t "$ROOT/devices/mfp-1/inbox"

echo "# revoke and reload"
check "enroll-device.sh --revoke succeeds" quietly "$REPO/deploy/enroll-device.sh" "$FLEET" mfp-1 --revoke
check "mfp-1 is gone from the password file" bash -c "! grep -q '^mfp-1:' '$FLEET/passwd'"
check "its certificate is in the broker's CRL" bash -c \
    "openssl crl -in '$FLEET/tls/crl.pem' -noout -text | grep -q 'Serial Number: $(openssl x509 -in "$T/old.crt" -noout -serial | cut -d= -f2)'"
check "its bundle is deleted" test ! -e "$FLEET/devices/mfp-1.tar.gz"
check "a second --revoke is a no-op" quietly "$REPO/deploy/enroll-device.sh" "$FLEET" mfp-1 --revoke
reload_broker
expect_connect_refused "revoked mfp-1 refused with its password" "pw:mfp-1:$old_pw"
cert_refused() {
    local before
    before=$(grep -c "certificate verify failed" "$BROKER_LOG" || true)
    if connects "tlscert:$T/old.crt:$T/old.key"; then
        fail "$1" "connection was accepted"
    elif wait_until "$DEADLINE_S" log_count_above "$before"; then
        pass "$1"
    else
        fail "$1" "the broker did not log a certificate failure; client: $CONNECT_OUT"
    fi
}
log_count_above() { [ "$(grep -c "certificate verify failed" "$BROKER_LOG" || true)" -gt "$1" ]; }
cert_refused "revoked mfp-1 refused with its certificate (CRL)"
check "the reload closed mfp-1's live password session" wait_until "$DEADLINE_S" client_gone live-mfp-1
expect_connect_ok "mfp-2 still connects with its password" mfp-2
expect_connect_ok "mfp-2 still connects with its certificate" tls:mfp-2

echo "# after a broker restart"
# A reload does not re-check live TLS sessions (mosquitto 2.0.11); a restart cuts them. The
# client (mosquitto_sub, like a device's Paho client) reconnects and meets the CRL.
log_lines=$(wc -l <"$BROKER_LOG")
failures=$(grep -c "certificate verify failed" "$BROKER_LOG" || true)
stop_broker
start_fleet_broker
check "the revoked device's TLS client reconnects after the restart and is refused" \
    wait_until "$DEADLINE_S" log_count_above "$failures"
check "its TLS session did not come back" \
    bash -c "! tail -n +$((log_lines + 1)) '$BROKER_LOG' | grep -qF 'as live-tls-mfp-1 ('"
client_kill live-tls-mfp-1
expect_connect_refused "revoked mfp-1 still refused with its password" "pw:mfp-1:$old_pw"
cert_refused "revoked mfp-1 still refused with its certificate"

echo "# re-enrolling the name"
enroll mfp-1
reload_broker
new_pw=$(cat "$FLEET/secrets/device-mfp-1.password")
check "a new password was generated" test "$new_pw" != "$old_pw"
check "a new certificate was issued" bash -c "! cmp -s '$T/old.crt' '$FLEET/devices/mfp-1/client.crt'"
expect_connect_ok "re-enrolled mfp-1 connects with its new password" mfp-1
expect_connect_ok "re-enrolled mfp-1 connects with its new certificate" tls:mfp-1
expect_connect_refused "the old password stays refused" "pw:mfp-1:$old_pw"
cert_refused "the old certificate stays revoked"

finish
