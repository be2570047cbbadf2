#!/usr/bin/env bash
# Security: the TLS listener devices use across the network (docs/protocol.md §6). In the
# default 'cert' mode a device is its certificate: CN = device id = broker user name, so
# the ACL applies to it exactly as to a password login. A certificate the fleet CA did not
# sign (another CA's, self-signed, even one claiming CN=pdsync-server) is refused, as are an
# expired one, no certificate at all, and plaintext MQTT on the TLS port. A client that does
# not trust the fleet CA refuses the broker. Then the fleet is re-rendered in 'password'
# mode, where TLS carries a password login instead.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

make_fleet
enroll mfp-1 mfp-2
start_fleet_broker
R=$ROOT

# Certificates the fleet CA did not sign, made with plain openssl.
rogue=$T/rogue
mkdir -p "$rogue"
(
    cd "$rogue"
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
        -keyout ca.key -out ca.crt -subj "/CN=pdsync fleet CA" 2>/dev/null
    for cn in mfp-1 "$PDS_SERVER_USER"; do
        openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$cn.key" \
            -out "$cn.csr" -subj "/CN=$cn" 2>/dev/null
        openssl x509 -req -in "$cn.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
            -out "$cn.crt" 2>/dev/null
    done
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
        -keyout self.key -out self.crt -subj "/CN=mfp-1" 2>/dev/null
)
# Signed by the fleet CA, but expired: issued through the fleet's own CA database.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/expired.key" 2>/dev/null
openssl req -config "$FLEET/ca/ca.cnf" -new -key "$T/expired.key" -subj /CN=mfp-1 -out "$T/expired.csr" 2>/dev/null
openssl ca -batch -config "$FLEET/ca/ca.cnf" -extensions client_ext -notext \
    -startdate 20200101000000Z -enddate 20200102000000Z -in "$T/expired.csr" -out "$T/expired.crt" 2>/dev/null

# expect_plaintext_refused LOGIN...: a plaintext MQTT client on the TLS port gets no answer
# it understands and keeps retrying, so the condition to wait for is the broker rejecting
# its bytes as a TLS handshake.
expect_plaintext_refused() {
    local plain_pid
    mosquitto_sub -V mqttv5 -q 1 -h 127.0.0.1 -p "$TLS_PORT" "$@" -E -t x >"$T/plain.out" 2>&1 &
    plain_pid=$!
    BG_PIDS+=("$plain_pid")
    if wait_until "$DEADLINE_S" grep -q "wrong version number" "$BROKER_LOG" && kill -0 "$plain_pid" 2>/dev/null; then
        pass "plaintext MQTT on the TLS port refused (the broker rejects it as a TLS handshake)"
    else
        fail "plaintext MQTT on the TLS port refused" "$(cat "$T/plain.out")"
    fi
    kill "$plain_pid" 2>/dev/null || true
}
# expect_untrusting_client_refuses LOGIN...: a device that trusts another CA refuses the broker.
expect_untrusting_client_refuses() {
    local out
    if out=$(timeout "$DEADLINE_S" mosquitto_sub -V mqttv5 -q 1 -h 127.0.0.1 -p "$TLS_PORT" \
        --cafile "$rogue/ca.crt" "$@" -E -t x 2>&1); then
        fail "a device trusting another CA refuses the broker"
    elif [[ $out == *"A TLS error occurred"* ]]; then
        pass "a device trusting another CA refuses the broker"
    else
        fail "a device trusting another CA refuses the broker" "$out"
    fi
}

if [ "$SEC_AUTH" = dynsec ]; then
    # Every login is a password the plugin checks, over TLS: a certificate proves nothing
    # and must let nobody in.
    echo "# a certificate is no login"
    cert_login_refused() {  # DESC CERT KEY: the connection (no password) does not get in
        local out
        if out=$(timeout "$DEADLINE_S" mosquitto_sub -V mqttv5 -q 1 -h 127.0.0.1 -p "$TLS_PORT" \
            --cafile "$FLEET/tls/ca.crt" --cert "$2" --key "$3" -E -t "$R/server/status" 2>&1); then
            fail "$1" "connection was accepted"
        else
            pass "$1"
        fi
    }
    sessions=$(grep -c 'New client connected' "$BROKER_LOG" || true)
    cert_login_refused "another CA's certificate claiming CN=$PDS_SERVER_USER gets no session" \
        "$rogue/$PDS_SERVER_USER.crt" "$rogue/$PDS_SERVER_USER.key"
    cert_login_refused "a self-signed certificate gets no session" "$rogue/self.crt" "$rogue/self.key"
    cert_login_refused "the fleet's own certificate for the inspector, without its password, gets no session" \
        "$FLEET/tls/$PDS_INSPECTOR_USER.crt" "$FLEET/tls/$PDS_INSPECTOR_USER.key"
    check "the broker opened no session for any of them" \
        test "$(grep -c 'New client connected' "$BROKER_LOG" || true)" = "$sessions"

    echo "# the client side: plaintext and an untrusted broker"
    mfp1=(-u mfp-1 -i mfp-1 -P "$(cat "$FLEET/secrets/device-mfp-1.password")")
    expect_plaintext_refused "${mfp1[@]}"
    expect_untrusting_client_refuses "${mfp1[@]}"

    echo "# password logins over TLS"
    expect_connect_ok "password over TLS accepted" mfp-1
    expect_connect_refused "wrong password over TLS refused" "pw:mfp-1:wrong"
    expect_connect_refused "anonymous over TLS refused" anon
    finish
    exit
fi

echo "# accepted: enrolled certificates (positive control)"
expect_connect_ok "enrolled certificate of mfp-1 accepted" tls:mfp-1
expect_connect_ok "enrolled certificate of mfp-2 accepted" tls:mfp-2

echo "# the certificate's CN is the identity the ACL sees"
watch_start tls server 1 "$R/devices/mfp-1/changes" "$R/devices/mfp-2/changes"
expect_pub_denied "mfp-1's certificate cannot publish as mfp-2" tls:mfp-1 "$R/devices/mfp-2/changes" forged
expect_pub_denied "mfp-1's certificate cannot publish a user document" tls:mfp-1 "$R/users/alice/home" forged
expect_pub_ok "mfp-1's certificate publishes its own changes" tls:mfp-1 "$R/devices/mfp-1/changes" mine
expect_watch "the server got mfp-1's own change and not the forgery" tls "$R/devices/mfp-1/changes mine"

echo "# refused certificates"
# The broker ends the handshake on the client certificate, before any CONNACK. What the
# client then reports races with the connection closing (a protocol error or a lost
# connection), so the reason is asserted from the broker's log: one more line of it per try.
expect_tls_refused() {
    local desc=$1 who=$2 reason=$3 before
    before=$(grep -c "$reason" "$BROKER_LOG" || true)
    if connects "$who"; then
        fail "$desc" "connection was accepted"
    elif wait_until "$DEADLINE_S" log_count_above "$reason" "$before"; then
        pass "$desc"
    else
        fail "$desc" "the broker did not log '$reason'; client said: $CONNECT_OUT"
    fi
}
log_count_above() { [ "$(grep -c "$1" "$BROKER_LOG" || true)" -gt "$2" ]; }
bad="certificate verify failed"
expect_tls_refused "certificate from another CA refused, same CN" "tlscert:$rogue/mfp-1.crt:$rogue/mfp-1.key" "$bad"
expect_tls_refused "another CA's certificate claiming CN=$PDS_SERVER_USER refused" \
    "tlscert:$rogue/$PDS_SERVER_USER.crt:$rogue/$PDS_SERVER_USER.key" "$bad"
expect_tls_refused "self-signed certificate refused" "tlscert:$rogue/self.crt:$rogue/self.key" "$bad"
expect_tls_refused "expired fleet certificate refused" "tlscert:$T/expired.crt:$T/expired.key" "$bad"
expect_tls_refused "no client certificate refused" tlsnocert "peer did not return a certificate"

echo "# the client side: plaintext and an untrusted broker"
expect_plaintext_refused -u "$PDS_SERVER_USER" -P "$SERVER_PW"
expect_untrusting_client_refuses --cert "$FLEET/devices/mfp-1/client.crt" --key "$FLEET/devices/mfp-1/client.key"

echo "# --tls-auth password: TLS carries a password login"
stop_broker
"$REPO/deploy/fleet-init.sh" "$FLEET" --tls-auth password >>"$T/fleet-init.log" 2>&1 \
    || fail "fleet-init --tls-auth password" "$(cat "$T/fleet-init.log")"
check "the TLS listener no longer requires a certificate" grep -qx "require_certificate false" "$FLEET/mosquitto.conf"
start_fleet_broker
DEV_PW=$(cat "$FLEET/secrets/device-mfp-1.password")
tlspw() { AUTH=(-h 127.0.0.1 -p "$TLS_PORT" --cafile "$FLEET/tls/ca.crt" -u "$1" -P "$2"); }
tls_password_connects() {
    tlspw "$1" "$2"
    CONNECT_OUT=$(timeout "$DEADLINE_S" mosquitto_sub -V mqttv5 -q 1 "${AUTH[@]}" -E -t x 2>&1)
}
if tls_password_connects mfp-1 "$DEV_PW"; then pass "password over TLS accepted"; else fail "password over TLS accepted" "$CONNECT_OUT"; fi
if tls_password_connects mfp-1 "${DEV_PW}x"; then
    fail "wrong password over TLS refused"
elif [[ $CONNECT_OUT == *"Not authorized"* ]]; then
    pass "wrong password over TLS refused"
else
    fail "wrong password over TLS refused" "$CONNECT_OUT"
fi
anon_over_tls() {
    CONNECT_OUT=$(timeout "$DEADLINE_S" mosquitto_sub -V mqttv5 -q 1 -h 127.0.0.1 -p "$TLS_PORT" \
        --cafile "$FLEET/tls/ca.crt" -E -t x 2>&1)
}
if anon_over_tls; then
    fail "anonymous over TLS refused"
elif [[ $CONNECT_OUT == *"Not authorized"* ]]; then
    pass "anonymous over TLS refused"
else
    fail "anonymous over TLS refused" "$CONNECT_OUT"
fi

finish
