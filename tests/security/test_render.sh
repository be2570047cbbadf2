#!/usr/bin/env bash
# broker-config/render.sh on its own, with a topic root other than the default (several
# fleets can share one broker under different roots): the ACL follows the root, so a device
# or the server of this fleet cannot write under another root. Also: render.sh refuses
# values that would weaken or break the config, and a refused render leaves the files it
# would have replaced untouched.
# sec-modes: one
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
SEC_AUTH=passwd  # the password-file case; the dynsec case follows below

ROOT=acme/pds/v2
PORT=$(free_port)
SERVER_PW=server-secret
D=$T/broker
mkdir -p "$D/data"
mosquitto_passwd -c -b "$D/passwd" "$PDS_SERVER_USER" "$SERVER_PW" >/dev/null
mosquitto_passwd -b "$D/passwd" dev-1 dev-secret >/dev/null
render=("$REPO/broker-config/render.sh" --conf "$D/mosquitto.conf" --acl "$D/acl" --port "$PORT"
        --data-dir "$D/data" --password-file "$D/passwd" --root "$ROOT" --run-user "$(id -un)")
check "render.sh renders a config and an ACL" quietly "${render[@]}"
check "the ACL uses the fleet's root" grep -qx "pattern write $ROOT/devices/%u/changes" "$D/acl"
check "no TLS listener without --tls-port" bash -c "! grep -q '^cafile' '$D/mosquitto.conf'"
check "no placeholder left in the config" bash -c "! grep -q '@[A-Z_]*@' '$D/mosquitto.conf' '$D/acl'"
before=$(stat -c '%i %y %s' "$D/mosquitto.conf" "$D/acl")
quietly "${render[@]}"
check "rendering again leaves both files untouched" test "$(stat -c '%i %y %s' "$D/mosquitto.conf" "$D/acl")" = "$before"

for attempt in 1 2 3; do
    start_broker "$D/mosquitto.conf" "$PORT" && break
    [ "$attempt" -lt 3 ] || { fail "the broker could not get a free port"; finish; }
    # Another process took the port meanwhile: render for a new one.
    PORT=$(free_port)
    quietly "$REPO/broker-config/render.sh" "${render[@]:1}" --port "$PORT"
    before=$(stat -c '%i %y %s' "$D/mosquitto.conf" "$D/acl")
done
DEV=pw:dev-1:dev-secret
expect_pub_ok "a device writes its changes under the fleet's root" "$DEV" "$ROOT/devices/dev-1/changes" c
expect_pub_denied "a device cannot write under the default root" "$DEV" "pds/v1/devices/dev-1/changes" c
expect_pub_denied "a device cannot write a user document under the fleet's root" "$DEV" "$ROOT/users/alice/home" c
expect_pub_ok "the server writes a user document under its root" server "$ROOT/users/alice/home" doc -r
expect_pub_denied "the server cannot write under another fleet's root" server "pds/v1/users/alice/home" doc
watch_start reads "$DEV" 1 "$ROOT/users/alice/home"
expect_watch "a device reads user documents under the fleet's root" reads "$ROOT/users/alice/home doc"

echo "# refused values"
refused() {
    local desc=$1
    shift
    if "$REPO/broker-config/render.sh" "$@" >>"$T/commands.log" 2>&1; then fail "$desc"; else pass "$desc"; fi
}
base=(--conf "$D/mosquitto.conf" --acl "$D/acl" --port "$PORT" --data-dir "$D/data" --password-file "$D/passwd")
refused "a plaintext listener on a non-loopback address" "${base[@]}" --listen-addr 0.0.0.0
for root in "" "a/#" "a/+/b" "a/%u" "/abs" "trail/" "a//b" "\$SYS/x"; do
    refused "topic root '$root'" "${base[@]}" --root "$root"
done
refused "a TLS port without certificate files" "${base[@]}" --tls-port "$(free_port)"
refused "an unknown --tls-auth mode" "${base[@]}" --tls-port 8883 --cafile /a --certfile /b \
    --keyfile /c --crlfile /d --tls-auth none
refused "a path with a space" "${base[@]}" --data-dir "$D/da ta"
refused "port 0" "${base[@]}" --port 0
refused "an unknown option" "${base[@]}" --allow-anonymous true
check "refused renders left the config untouched" test "$(stat -c '%i %y %s' "$D/mosquitto.conf" "$D/acl")" = "$before"

echo "# --auth dynsec: the dynamic security plugin's config (what fleet-init.sh renders)"
dyn=(--auth dynsec --conf "$D/dynsec.conf" --dynsec-file "$D/data/dynamic-security.json"
     --data-dir "$D/data" --run-user "$(id -un)" --tls-port "$(free_port)" --cafile /a --certfile /b
     --keyfile /c --crlfile /d)
check "render.sh --auth dynsec renders" quietly "$REPO/broker-config/render.sh" "${dyn[@]}"
check "it loads the plugin with its file" grep -qx "plugin_opt_config_file $D/data/dynamic-security.json" "$D/dynsec.conf"
check "no password file and no ACL file" bash -c "! grep -Eq '^(password_file|acl_file) ' '$D/dynsec.conf'"
check "one listener only, the TLS one (no plaintext port)" test "$(grep -c '^listener ' "$D/dynsec.conf")" = 1
check "no certificate logins (the plugin binds accounts to client ids)" grep -qx "require_certificate false" "$D/dynsec.conf"
check "no placeholder left" bash -c "! grep -q '@[A-Z_]*@' '$D/dynsec.conf'"
before=$(stat -c '%i %y %s' "$D/dynsec.conf")
refused "--auth dynsec without --tls-port" --auth dynsec --conf "$D/dynsec.conf" \
    --dynsec-file "$D/data/dynamic-security.json" --data-dir "$D/data"
refused "--auth dynsec with a plugin that is not installed" "${dyn[@]}" --dynsec-plugin /nonexistent.so
refused "--auth dynsec with a plugin file path holding a space" "${dyn[@]}" --dynsec-file "$D/dyn sec.json"
refused "an unknown --auth mode" "${dyn[@]}" --auth none
check "refused dynsec renders left its config untouched" test "$(stat -c '%i %y %s' "$D/dynsec.conf")" = "$before"

finish
