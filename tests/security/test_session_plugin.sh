#!/usr/bin/env bash
# The broker's session plugin (broker-config/sessions-plugin/pdsync_sessions.c) loaded after the dynamic
# security plugin, as docs/decisions.md prescribes: dynamic security decides what it holds
# an ACL for (the server's rights, a member's own topics, server/status) and defers the
# rest; the session plugin then decides reads under users/ from the grants the server
# sends on server/sessions. A compromised member subscribing to users/+/keychain receives
# only the users granted to it, and cannot grant itself more.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

plugin=${PDSYNC_SESSIONS_PLUGIN:-}
if [ -z "$plugin" ]; then
    for p in "$REPO"/build*/pdsync_sessions.so; do [ -f "$p" ] && plugin=$p && break; done
fi
[ -n "$plugin" ] && [ -f "$plugin" ] || { fail "pdsync_sessions.so is built" "set PDSYNC_SESSIONS_PLUGIN"; finish; }
dynsec=/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so

# Accounts: the server (every right under the root) and one member device whose role
# grants its own topics and server/status, and nothing under users/.
python3 - "$T/dynsec.json" <<'PY'
import base64, hashlib, json, os, sys
def client(name, role):
    salt = os.urandom(12)
    h = hashlib.pbkdf2_hmac("sha512", b"pw-" + name.encode(), salt, 101, 64)
    return {"username": name, "clientid": name, "roles": [{"rolename": role}],
            "password": base64.b64encode(h).decode(), "salt": base64.b64encode(salt).decode(),
            "iterations": 101}
def acl(kind, topic): return {"acltype": kind, "topic": topic, "allow": True}
cfg = {"defaultACLAccess": {"publishClientSend": False, "publishClientReceive": False,
                            "subscribe": False, "unsubscribe": True},
       "clients": [client("pdsync-server", "server"), client("mfp-evil", "member-evil")],
       "groups": [],
       "roles": [{"rolename": "server", "acls": [acl("publishClientSend", "pds/v1/#"),
                                                  acl("publishClientReceive", "pds/v1/#"),
                                                  acl("subscribePattern", "pds/v1/#")]},
                 {"rolename": "member-evil", "acls": [
                     acl("publishClientSend", "pds/v1/devices/mfp-evil/#"),
                     acl("subscribePattern", "pds/v1/#"),
                     acl("publishClientReceive", "pds/v1/server/status")]}]}
json.dump(cfg, open(sys.argv[1], "w"))
PY
port=$(free_port)
cat >"$T/mosquitto.conf" <<CONF
user root
listener $port 127.0.0.1
per_listener_settings false
allow_anonymous false
plugin $dynsec
plugin_opt_config_file $T/dynsec.json
plugin $plugin
plugin_opt_root pds/v1
plugin_opt_server pdsync-server
log_dest stderr
CONF
start_broker "$T/mosquitto.conf"

as_server() { mosquitto_pub -p "$port" -i pdsync-server -u pdsync-server -P pw-pdsync-server -q 1 "$@"; }
as_evil() { mosquitto_pub -p "$port" -i mfp-evil -u mfp-evil -P pw-mfp-evil -q 1 "$@"; }
as_server -t pds/v1/users/alice/keychain -m sealed-alice -r
as_server -t pds/v1/users/bob/keychain -m sealed-bob -r
as_server -t pds/v1/server/status -m status -r

# What the member receives for users/+/keychain: the retained copies come in filter order,
# so once the status (the second filter) arrives every keychain it may read has arrived.
evil_reads() {
    local out=$T/evil-$1.txt
    mosquitto_sub -p "$port" -i mfp-evil -u mfp-evil -P pw-mfp-evil -q 1 -v \
        -t 'pds/v1/users/+/keychain' -t pds/v1/server/status >"$out" 2>&1 &
    local pid=$!
    wait_until "$DEADLINE_S" grep -q '^pds/v1/server/status status' "$out" || true
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    grep -c '^pds/v1/users/' "$out" || true
}

check "without a session the member reads no user's keychain" test "$(evil_reads none)" = 0
as_server -t pds/v1/server/sessions -m 'grant mfp-evil alice'
check "with alice's session it reads alice's keychain only" \
    test "$(evil_reads alice)" = 1 -a "$(grep -c bob "$T/evil-alice.txt" || true)" = 0
as_evil -t pds/v1/server/sessions -m 'grant mfp-evil bob' 2>/dev/null || true
check "a grant the member writes itself is ignored" test "$(evil_reads forged)" = 1
as_server -t pds/v1/server/sessions -m 'revoke mfp-evil alice'
check "after the revoke it reads nothing again" test "$(evil_reads revoked)" = 0
check "dynamic security still decides the rest (server/status read)" \
    grep -q '^pds/v1/server/status status' "$T/evil-revoked.txt"
finish
