#!/usr/bin/env bash
# Security: the broker a fleet gets from fleet-init.sh (dynamic security plugin mode) and
# its bounds. Only a TLS listener (no plaintext port anyone could bind or sniff); TLS 1.2
# offers AEAD suites only (CBC and SHA-1 MAC suites are refused at the handshake); the
# listener's connection bound holds on a fresh broker (and how mosquitto 2.0.11 loosens it
# afterwards); a packet above max_packet_size ends the connection; no anonymous client; and
# a re-run of fleet-init never rewrites the plugin's file, which the broker and the server
# own from then on. One connection per account: test_auth.sh (dynsec).
# sec-modes: one
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need mosquitto_ctrl

FLEET=$T/fleet
TLS_PORT=$(free_port)
quietly "$REPO/deploy/fleet-init.sh" "$FLEET" --tls-port "$TLS_PORT" --tls-addr 127.0.0.1 \
    --server-host localhost --run-user "$(id -un)" --data-dir "$T/data"
conf=$FLEET/mosquitto.conf
dynsec=$T/data/broker/dynamic-security.json

echo "# what fleet-init rendered"
check "the plugin is loaded with its file" grep -qx "plugin_opt_config_file $dynsec" "$conf"
check "no password file, no ACL file" bash -c "! grep -Eq '^(password_file|acl_file) ' '$conf'"
check "exactly one listener, the TLS one" test "$(grep -c '^listener ' "$conf")" = 1
check "it has a connection bound" grep -qx 'max_connections 2000' "$conf"
check "TLS 1.2 suites are AEAD only" bash -c "grep '^ciphers ' '$conf' | tr ': ' '\n\n' | sed 1d | grep -Ev 'GCM|CHACHA20-POLY1305' | { ! grep -q .; }"
check "password logins only (the plugin binds each account to its client id)" \
    grep -qx 'use_identity_as_username false' "$conf"
check "the plugin's file is private" test "$(stat -c %a "$dynsec")" = 600
check "the server's config reaches its own broker over verified TLS" \
    grep -qx "broker = \"mqtts://127.0.0.1:$TLS_PORT\"" "$FLEET/pdsync-server.conf"
check "and holds no password in clear" bash -c "! grep -q '^password = ' '$FLEET/pdsync-server.conf'"
before=$(sha256sum "$dynsec")
quietly "$REPO/deploy/fleet-init.sh" "$FLEET"
check "a re-run leaves the plugin's file alone" test "$(sha256sum "$dynsec")" = "$before"

echo "# the running broker"
# A small connection bound for this test, rendered by the same script.
"$REPO/broker-config/render.sh" --auth dynsec --conf "$T/small.conf" --dynsec-file "$dynsec" \
    --data-dir "$T/data/broker" --run-user "$(id -un)" --tls-port "$TLS_PORT" --tls-addr 127.0.0.1 \
    --cafile "$FLEET/tls/ca.crt" --certfile "$FLEET/tls/server-chain.crt" \
    --keyfile "$FLEET/tls/server.key" --crlfile "$FLEET/tls/crl.pem" --max-connections 2 \
    >>"$T/commands.log" 2>&1
mosquitto -c "$T/small.conf" >>"$BROKER_LOG" 2>&1 &
BROKER_PID=$!
BG_PIDS+=("$BROKER_PID")
wait_until "$DEADLINE_S" grep -q ' running$' "$BROKER_LOG" || fail "the broker did not start" "$(cat "$BROKER_LOG")"

sub_tls() {  # sub_tls ID [USER PASSWORD]: holds one connection open in the background
    local id=$1
    shift
    mosquitto_sub -V mqttv5 -h localhost -p "$TLS_PORT" --cafile "$FLEET/tls/ca.crt" -i "$id" "$@" \
        -t 'pds/v1/server/status' >"$T/sub-$id.log" 2>&1 &
    BG_PIDS+=($!)
    HOLDERS+=($!)
}
HOLDERS=()
pw=$(cat "$FLEET/secrets/pdsync-server.password")
# The plugin's own account (the server's, bound to no client id until the server binds it).
sub_tls c1 -u pdsync-server -P "$pw"
sub_tls c2 -u pdsync-server -P "$pw"
wait_until "$DEADLINE_S" bash -c "[ \$(grep -c 'New client connected' '$BROKER_LOG') -ge 2 ]" \
    || fail "two clients did not connect" "$(tail -5 "$BROKER_LOG")"
third=$(mosquitto_sub -V mqttv5 -h localhost -p "$TLS_PORT" --cafile "$FLEET/tls/ca.crt" -i c3 \
    -u pdsync-server -P "$pw" -t '#' -C 1 -W 3 2>&1 || true)
check "a third connection beyond max_connections 2 is refused" \
    bash -c "! grep -q 'New client connected from [^ ]* as c3' '$BROKER_LOG'"
check "the broker says why" grep -q 'denied: max_connections exceeded' "$BROKER_LOG"
for pid in "${HOLDERS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
HOLDERS=()
wait_until "$DEADLINE_S" bash -c "[ \$(grep -c 'Client c[12] disconnected' '$BROKER_LOG') -ge 2 ]" \
    || fail "the holders did not disconnect"
anon=$(mosquitto_sub -V mqttv5 -h localhost -p "$TLS_PORT" --cafile "$FLEET/tls/ca.crt" \
    -t '#' -C 1 -W 3 2>&1 || true)
check "an anonymous client is refused" grep -q 'Not authorized' <<<"$anon"
# Mosquitto 2.0.11 takes every connection that ends (refused at CONNECT, denied for
# max_connections, or closed normally) out of the listener's count twice, so each one lets
# one more connection in later (broker-config/README.md). Four have ended here (c1, c2, c3,
# the anonymous one): max_connections 2 now admits 2 + 4. This pins that behaviour and
# fails the day a release fixes it (then the README's note goes).
denied_before=$(grep -c 'denied: max_connections exceeded' "$BROKER_LOG")
settled() {  # settled N: the broker admitted or denied N connections since
    [ $(($(grep -cE 'New client connected from [^ ]* as c[4-8] ' "$BROKER_LOG") \
        + $(grep -c 'denied: max_connections exceeded' "$BROKER_LOG") - denied_before)) -ge "$1" ]
}
n=0
for id in c4 c5 c6 c7 c8; do
    sub_tls "$id" -u pdsync-server -P "$pw"
    n=$((n + 1))
    wait_until "$DEADLINE_S" settled "$n" || true
done
check "mosquitto 2.0.11: after 4 ended connections, max_connections 2 admits 5 more" \
    test "$(grep -cE 'New client connected from [^ ]* as c[4-8] ' "$BROKER_LOG")" = 5
for pid in "${HOLDERS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done

echo "# per-client bounds"
# max_packet_size 4259840: libmosquitto and Paho read the bound from the CONNACK and never
# send more, so a hostile client is played by raw MQTT 5 over TLS: a PUBLISH announcing
# 4,300,000 bytes. The broker must end the connection rather than buffer it.
oversize=$(python3 - "$TLS_PORT" "$FLEET/tls/ca.crt" "$pw" <<'PY' 2>&1 || true
import socket, ssl, struct, sys
port, ca, pw = int(sys.argv[1]), sys.argv[2], sys.argv[3].encode()
ctx = ssl.create_default_context(cafile=ca)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10), server_hostname="localhost")
def utf(b): return struct.pack(">H", len(b)) + b
def varint(n):
    out = b""
    while True:
        d, n = n % 128, n // 128
        out += bytes([d | (128 if n else 0)])
        if not n: return out
body = utf(b"MQTT") + bytes([5, 0xC2]) + struct.pack(">H", 60) + b"\x00" + utf(b"oversize") + utf(b"pdsync-server") + utf(pw)
s.sendall(b"\x10" + varint(len(body)) + body)
ack = s.recv(16)
if len(ack) < 4 or ack[0] != 0x20 or ack[3] != 0: sys.exit("no CONNACK 0: %r" % ack)
size = 4300000
try:
    s.sendall(b"\x32" + varint(size) + utf(b"pds/v1/x") + b"\x00\x01\x00")
    sent = 0
    while sent < size:
        s.sendall(b"x" * 65536)
        sent += 65536
    r = s.recv(16)
    print("closed" if not r or r[0] == 0xE0 else "answered %r" % r[:4])
except (OSError, ssl.SSLError):
    print("closed")
PY
)
check "a packet above max_packet_size ends the connection (raw client)" test "$oversize" = closed
check "the broker says why" grep -q 'Client oversize disconnected due to oversize packet' "$BROKER_LOG"
handshake() {  # handshake CIPHER: 0 when a TLS 1.2 handshake with only CIPHER succeeds
    timeout 5 openssl s_client -connect "127.0.0.1:$TLS_PORT" -tls1_2 -cipher "$1" \
        -CAfile "$FLEET/tls/ca.crt" </dev/null >"$T/s_client.log" 2>&1
}
check "an AEAD suite (ECDHE-ECDSA-AES128-GCM-SHA256) is accepted" handshake ECDHE-ECDSA-AES128-GCM-SHA256
refused() { ! handshake "$1"; }
check "a CBC suite with a SHA-1 MAC (ECDHE-ECDSA-AES128-SHA) is refused" refused ECDHE-ECDSA-AES128-SHA
check "a CBC suite with SHA-256 (ECDHE-ECDSA-AES128-SHA256) is refused" refused ECDHE-ECDSA-AES128-SHA256

finish
