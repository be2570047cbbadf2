#!/usr/bin/env bash
# Deployment: deploy/fleet-init.sh and deploy/enroll-device.sh. Both are idempotent (a second
# run leaves every file as it was: content, mode, owner, mtime), their output is what a
# fleet needs (server config, device bundle, certificates with the right names), mosquitto
# accepts the configuration they render, invalid device names are refused, the systemd
# units pass `systemd-analyze verify`, and, as root, the broker works as the unprivileged
# 'mosquitto' user it drops to in production (reload included).
# sec-modes: one
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
SEC_AUTH=passwd  # the password-file case; the dynsec case follows below

# systemd-analyze verify wants ExecStart binaries to exist; the real ones are built elsewhere.
mkdir -p "$T/bin"
for b in pdsync-server pdsync-client; do printf '#!/bin/sh\nexit 0\n' >"$T/bin/$b"; chmod 755 "$T/bin/$b"; done

make_fleet --bindir "$T/bin" --san DNS:mqtt.example.test,IP:192.0.2.10 --server-device-id srv-1
enroll mfp-1 mfp-2

# Every file under DIR: path, mode, owner, size, mtime and content hash.
snapshot() {
    (
        cd "$1"
        find . -name .lock -prune -o -type f -printf '%p %m %u %g %s %T@\n' | sort
        find . -name .lock -prune -o -type f -print0 | sort -z | xargs -0 sha256sum
    )
}

echo "# idempotence"
snapshot "$FLEET" >"$T/snap1"
quietly "$REPO/deploy/fleet-init.sh" "$FLEET" --broker-auth passwd
quietly "$REPO/deploy/enroll-device.sh" "$FLEET" mfp-1
quietly "$REPO/deploy/enroll-device.sh" "$FLEET" mfp-2
snapshot "$FLEET" >"$T/snap2"
check "fleet-init.sh and enroll-device.sh run twice: every file unchanged" diff "$T/snap1" "$T/snap2"
quietly "$REPO/deploy/fleet-init.sh" "$FLEET" --port "$PORT" --tls-port "$TLS_PORT" --tls-addr 127.0.0.1 \
    --server-host localhost --run-user "$(id -un)" --bindir "$T/bin" \
    --san DNS:mqtt.example.test,IP:192.0.2.10 --server-device-id srv-1
snapshot "$FLEET" >"$T/snap3"
check "a re-run with the same explicit options changes nothing either" diff "$T/snap1" "$T/snap3"
check "options are remembered in fleet.conf" grep -qx "server_device_id=srv-1" "$FLEET/fleet.conf"

echo "# what fleet-init wrote"
conf=$FLEET/pdsync-server.conf
check "server config: broker over TLS, verified, even on loopback" grep -qx "broker = \"mqtts://localhost:$TLS_PORT\"" "$conf"
check "server config: user pdsync-server" grep -qx "username = \"$PDS_SERVER_USER\"" "$conf"
check "server config: its password" grep -qx "password = \"$SERVER_PW\"" "$conf"
check "server config: root" grep -qx "root = \"$ROOT\"" "$conf"
check "server config: store" grep -qx "store = \"$FLEET/data/server/server.db\"" "$conf"
check "server config: device-id" grep -qx 'device-id = "srv-1"' "$conf"
check "server config is readable by root only" test "$(stat -c %a "$conf")" = 600
check "password file is not world-readable" test "$(stat -c %a "$FLEET/passwd")" = 640
check "CA key is readable by root only" test "$(stat -c %a "$FLEET/ca/ca.key")" = 600
sans=$(openssl x509 -in "$FLEET/tls/server.crt" -noout -ext subjectAltName)
for name in DNS:localhost "IP Address:127.0.0.1" DNS:mqtt.example.test "IP Address:192.0.2.10"; do
    check "broker certificate names $name" grep -qF "$name" <<<"$sans"
done
check "broker certificate chains to the fleet CA" quietly openssl verify -CAfile "$FLEET/tls/ca.crt" "$FLEET/tls/server.crt"
check "pdsync-server has a client certificate from the fleet CA" \
    quietly openssl verify -CAfile "$FLEET/tls/ca.crt" "$FLEET/tls/$PDS_SERVER_USER.crt"

echo "# the device bundle"
listing=$(tar -tzf "$FLEET/devices/mfp-1.tar.gz" | sort | tr '\n' ' ')
check "bundle holds exactly the six device files" \
    test "$listing" = "ca.crt client.crt client.key fleet.key pdsync-client.conf pdsync-client.service "
check "the fleet key is 64 hex digits and the same for every device" \
    grep -qxE '[0-9a-f]{64}' "$FLEET/secrets/fleet.key"
mkdir -p "$T/unpacked"
tar -xzf "$FLEET/devices/mfp-1.tar.gz" -C "$T/unpacked"
dconf=$T/unpacked/pdsync-client.conf
check "client config: device-id" grep -qx 'device-id = "mfp-1"' "$dconf"
check "client config: user name = device id" grep -qx 'username = "mfp-1"' "$dconf"
check "client config: its password" grep -qx "password = \"$(cat "$FLEET/secrets/device-mfp-1.password")\"" "$dconf"
check "client config: broker over TLS" grep -qx "broker = \"mqtts://localhost:$TLS_PORT\"" "$dconf"
check "client config: certificate paths on the device" grep -qx 'cert-file = "/etc/pdsync/client.crt"' "$dconf"
check "client key and config unpack root-only" test "$(stat -c %a "$T/unpacked/client.key") $(stat -c %a "$dconf")" = "600 600"
check "client certificate CN is the device id" \
    test "$(openssl x509 -in "$T/unpacked/client.crt" -noout -subject -nameopt RFC2253)" = "subject=CN=mfp-1"
check "client certificate chains to the bundled CA" quietly openssl verify -CAfile "$T/unpacked/ca.crt" "$T/unpacked/client.crt"
check "client key matches its certificate" test \
    "$(openssl pkey -in "$T/unpacked/client.key" -pubout)" = "$(openssl x509 -in "$T/unpacked/client.crt" -noout -pubkey)"

echo "# a new --san re-issues the broker certificate"
quietly "$REPO/deploy/fleet-init.sh" "$FLEET" --san DNS:mqtt2.example.test
check "the new name is in the broker certificate" \
    grep -qF DNS:mqtt2.example.test <<<"$(openssl x509 -in "$FLEET/tls/server.crt" -noout -ext subjectAltName)"

echo "# invalid device names are refused"
for bad in "" "a b" "a/b" "a+b" "a#b" ".." "$(printf 'x%.0s' {1..65})" "$PDS_SERVER_USER" "$PDS_INSPECTOR_USER" "é"; do
    if "$REPO/deploy/enroll-device.sh" "$FLEET" "$bad" >>"$T/commands.log" 2>&1; then
        fail "device name '$bad' refused"
    else
        pass "device name '$bad' refused"
    fi
done
check "no refused name left a file behind" test "$(find "$FLEET/devices" -mindepth 1 -maxdepth 1 | sort | tr '\n' ' ')" \
    = "$FLEET/devices/mfp-1 $FLEET/devices/mfp-1.tar.gz $FLEET/devices/mfp-2 $FLEET/devices/mfp-2.tar.gz "

echo "# revocation is idempotent"
quietly "$REPO/deploy/enroll-device.sh" "$FLEET" mfp-2 --revoke
snapshot "$FLEET" >"$T/snap4"
quietly "$REPO/deploy/enroll-device.sh" "$FLEET" mfp-2 --revoke
snapshot "$FLEET" >"$T/snap5"
check "a second --revoke changes nothing" diff "$T/snap4" "$T/snap5"

echo "# mosquitto accepts the rendered configuration"
start_fleet_broker
expect_connect_ok "the server account connects" server
expect_connect_ok "the inspector connects" inspector
expect_connect_ok "an enrolled device connects with its password" mfp-1
expect_connect_ok "an enrolled device connects with its certificate" tls:mfp-1
check "the broker logged no error" bash -c "! grep -i 'error' '$BROKER_LOG'"
stop_broker

echo "# a fleet without a TLS listener (--no-tls)"
quietly "$REPO/deploy/fleet-init.sh" "$T/solo" --broker-auth passwd --no-tls --port "$PORT" --run-user "$(id -un)" --server-host localhost
quietly "$REPO/deploy/enroll-device.sh" "$T/solo" solo-1
check "no TLS listener in its broker config" bash -c "! grep -q '^cafile' '$T/solo/mosquitto.conf'"
check "its devices use the loopback listener" grep -qx "broker = \"mqtt://127.0.0.1:$PORT\"" "$T/solo/devices/solo-1/pdsync-client.conf"
check "and carry no certificate settings" bash -c "! grep -q '^cert-file' '$T/solo/devices/solo-1/pdsync-client.conf'"

echo "# systemd units"
if command -v systemd-analyze >/dev/null 2>&1; then
    for unit in "$FLEET"/systemd/*.service "$FLEET/devices/mfp-1/pdsync-client.service"; do
        if out=$(systemd-analyze verify "$unit" 2>&1); then
            pass "systemd-analyze verify $(basename "$(dirname "$unit")")/$(basename "$unit")"
        else
            fail "systemd-analyze verify $unit" "$out"
        fi
    done
else
    echo "# systemd-analyze not installed: unit verification skipped"
fi

echo "# --broker-auth dynsec (the default): the dynamic security plugin"
stop_broker
BROKER_PID=""
SEC_AUTH=dynsec
BROKER_LOG=$T/dynsec-broker.log
FLEET_DIR=$T/dyn make_fleet --bindir "$T/bin"
check "dynsec: fleet-init's last words name the TLS port, the only listener" \
    grep -q "TLS port $TLS_PORT, the broker's only listener" "$T/fleet-init.log"
check "dynsec: and no loopback port (there is none)" bash -c "! grep -q 'loopback port' '$T/fleet-init.log'"
check "dynsec: and how a device joins" grep -q "pdsync device enable --server localhost:$TLS_PORT --join-code" "$T/fleet-init.log"
snapshot "$FLEET" >"$T/dsnap1"
quietly "$REPO/deploy/fleet-init.sh" "$FLEET"
snapshot "$FLEET" >"$T/dsnap2"
check "dynsec: a re-run changes no file" diff "$T/dsnap1" "$T/dsnap2"
conf=$FLEET/pdsync-server.conf
check "dynsec: the server grants rights through the plugin" grep -qx 'broker-rights = "dynsec"' "$conf"
check "dynsec: the server reaches its broker over verified TLS" grep -qx "broker = \"mqtts://127.0.0.1:$TLS_PORT\"" "$conf"
check "dynsec: its password is a file reference, not in the config" \
    bash -c "grep -qx 'password-file = \"$FLEET/secrets/$PDS_SERVER_USER.password\"' '$conf' && ! grep -q '^password = ' '$conf'"
check "dynsec: server config is readable by root only" test "$(stat -c %a "$conf")" = 600
check "dynsec: the plugin's file holds the server's account only" \
    test "$(python3 -c 'import json,sys; print(" ".join(c["username"] for c in json.load(open(sys.argv[1]))["clients"]))' "$FLEET/data/broker/dynamic-security.json")" = "$PDS_SERVER_USER"
check "dynsec: no password file is made" test ! -e "$FLEET/passwd"
for bad in "a b" ".." "$PDS_SERVER_USER" "$PDS_INSPECTOR_USER"; do
    if PDSYNC_CLI=/nonexistent "$REPO/deploy/enroll-device.sh" "$FLEET" "$bad" >>"$T/commands.log" 2>&1; then
        fail "dynsec: device name '$bad' refused"
    else
        pass "dynsec: device name '$bad' refused"
    fi
done
enroll mfp-1
start_fleet_broker
listing=$(tar -tzf "$FLEET/devices/mfp-1.tar.gz" | sort | tr '\n' ' ')
check "dynsec: enroll-device.sh's bundle holds the six device files" \
    test "$listing" = "ca.crt client.crt client.key fleet.key pdsync-client.conf pdsync-client.service "
mkdir -p "$T/dunpacked"
tar -xzf "$FLEET/devices/mfp-1.tar.gz" -C "$T/dunpacked"
check "dynsec: its config holds the password the server made for the account" \
    grep -qx "password = \"$(cat "$FLEET/secrets/device-mfp-1.password")\"" "$T/dunpacked/pdsync-client.conf"
expect_connect_ok "dynsec: the provisioned device connects with that password" mfp-1
# A daemon stopped mid-handshake leaves a client-side 'Socket error on client' line; that is
# no fault of the config.
errors=$(grep -i 'error' "$BROKER_LOG" | grep -v 'Socket error on client' || true)
if [ -z "$errors" ]; then pass "dynsec: the broker logged no error"; else fail "dynsec: the broker logged no error" "$errors"; fi
stop_broker
if command -v systemd-analyze >/dev/null 2>&1; then
    for unit in "$FLEET"/systemd/*.service; do
        if out=$(systemd-analyze verify "$unit" 2>&1); then
            pass "dynsec: systemd-analyze verify $(basename "$unit")"
        else
            fail "dynsec: systemd-analyze verify $unit" "$out"
        fi
    done
fi
SEC_AUTH=passwd
BROKER_LOG=$T/broker.log

echo "# production mode: the broker as the unprivileged 'mosquitto' user"
if [ "$(id -u)" -eq 0 ] && id mosquitto >/dev/null 2>&1; then
    # The mosquitto user must reach its files inside this test's private directory.
    chmod 0711 "$T"
    BROKER_LOG=$T/prod-broker.log
    FLEET_DIR=$T/prod make_fleet --run-user mosquitto
    enroll prod-1
    start_fleet_broker
    check "mosquitto dropped to user mosquitto" test "$(ps -o user= -p "$BROKER_PID")" = mosquitto
    expect_connect_ok "the server account connects" server
    expect_connect_ok "a device connects with its certificate" tls:prod-1
    enroll prod-2
    reload_broker
    expect_connect_ok "a device enrolled after start connects once the broker reloaded" prod-2
    quietly "$REPO/deploy/enroll-device.sh" "$FLEET" prod-1 --revoke
    reload_broker
    expect_connect_refused "a device revoked after start is refused once the broker reloaded" "pw:prod-1:x"
    stop_broker
    check "the broker saved its persistence file as mosquitto" \
        test "$(stat -c %U "$FLEET/data/broker/mosquitto.db" 2>/dev/null)" = mosquitto
    check "the broker logged no error" bash -c "! grep -i 'error' '$BROKER_LOG'"
else
    echo "# not root, or no 'mosquitto' user: production mode skipped"
fi

finish
