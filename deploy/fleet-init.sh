#!/usr/bin/env bash
# Sets up everything the server machine of a pdsync fleet needs, in one directory:
# the fleet CA, the broker's TLS certificate, the broker accounts (pdsync-server and the
# read-only inspector), the broker config, the server node's config, and the systemd
# units. By default (--broker-auth dynsec) the broker's rights live in Mosquitto's dynamic
# security plugin: this script gives it the server's account only, and pdsync-server,
# its only writer, makes the roles, the inspector and the claim account and the first
# join code when it starts (`pdsync join-code` prints it; devices need nothing else). Idempotent: a second run with the same options changes no file; a run with new
# options changes only what they affect. docs/deploying.md walks through a deployment.
#
#   fleet-init.sh DIR [options]
#     --root ROOT              topic root (default pds/v1)
#     --port N                 loopback plaintext port for the server node (default 1883)
#     --listen-addr ADDR       loopback address of that listener (default 127.0.0.1)
#     --tls-port N             TLS port devices connect to (default 8883)
#     --tls-addr ADDR          address the TLS listener binds (default: every address)
#     --no-tls                 no TLS listener: a fleet of the server machine alone
#     --tls-auth cert|password devices prove who they are with their certificate (default)
#                              or with their password over TLS
#     --server-host NAME       name or address devices use to reach this machine
#                              (default: hostname -f); goes into the broker certificate
#     --san LIST               more subjectAltNames for it, e.g. DNS:mqtt.corp,IP:10.0.0.5
#     --server-device-id ID    this machine's own device id (default: its short host name)
#     --data-dir DIR           broker persistence, server store, backups (default DIR/data)
#     --run-user USER          user mosquitto drops to after start-up (default mosquitto)
#     --bindir DIR             where pdsync-server and pdsync-client are installed
#                              (default /usr/bin, where the packages put them)
#     --device-conf-dir DIR    where a device bundle is unpacked on a device (default /etc/pdsync)
#     --broker-auth dynsec|passwd  rights in the dynamic security plugin, granted by the
#                              server as devices join by code (default); or the older
#                              password file + ACL, one enroll-device.sh run per device
#     --join-approval auto|manual  manual: new machines wait for `pdsync machines approve`
#     --web-listen ADDR:PORT|off  the server's HTTPS admin page (default 0.0.0.0:8443)
#
# Options are remembered in DIR/fleet.conf, so later runs (and enroll-device.sh) reuse them.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$here/lib/common.sh"
# shellcheck source-path=SCRIPTDIR source=lib/ca.sh
. "$here/lib/ca.sh"
PDS_PROG="fleet-init.sh"
pds_need openssl mosquitto_passwd flock tar gzip realpath

usage() { sed -n '2,35p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2; }

SETTINGS=(root port listen_addr tls_port tls_addr tls_auth server_host san server_device_id
          data_dir run_user bindir device_conf_dir fleet_id broker_auth join_approval web_listen)

[ $# -ge 1 ] || usage
case $1 in -h | --help) usage ;; -*) pds_log "the fleet directory comes first"; usage ;; esac
fleet=$(pds_abspath "$1")
shift

declare -A opt=()
while [ $# -gt 0 ]; do
    case $1 in
        -h | --help) usage ;;
        --no-tls) opt[tls_port]=""; shift; continue ;;
    esac
    [ $# -ge 2 ] || { pds_log "option $1 needs a value"; usage; }
    case $1 in
        --root | --port | --listen-addr | --tls-port | --tls-addr | --tls-auth | --server-host | \
            --san | --server-device-id | --data-dir | --run-user | --bindir | --device-conf-dir | \
            --broker-auth | --join-approval | --web-listen)
            key=${1#--}; opt[${key//-/_}]=$2 ;;
        *) pds_log "unknown option $1"; usage ;;
    esac
    shift 2
done

pds_valid_path "$fleet" || pds_die "fleet directory '$fleet' holds a character mosquitto or systemd cannot take"
case $fleet in /tmp/* | /var/tmp/*)
    pds_log "warning: $fleet is a temporary directory; the systemd units' PrivateTmp= hides it from the services" ;;
esac
pds_mkdir "$fleet" 0755 root:root
pds_lock_fleet "$fleet"

# ---- Settings: this run's options over the remembered ones over the defaults ---------------
declare -A cfg=()
pds_load_settings "$fleet/fleet.conf" cfg "${SETTINGS[@]}"

default_host=$(hostname -f 2>/dev/null || hostname)
default_device=$({ hostname -s 2>/dev/null || hostname; } | tr -c 'A-Za-z0-9._\n-' '-' | cut -c1-64)
declare -A defaults=(
    [root]=$PDS_DEFAULT_ROOT [port]=1883 [listen_addr]=127.0.0.1 [tls_port]=8883 [tls_addr]=""
    [tls_auth]=cert [server_host]=$default_host [san]="" [server_device_id]=${default_device:-server}
    [data_dir]=$fleet/data [run_user]=mosquitto [bindir]=/usr/bin
    [device_conf_dir]=/etc/pdsync [fleet_id]=$(openssl rand -hex 4)
    [broker_auth]=dynsec [join_approval]=auto [web_listen]=0.0.0.0:8443
)
for k in "${SETTINGS[@]}"; do
    if [ -n "${opt[$k]+set}" ]; then cfg[$k]=${opt[$k]}
    elif [ -z "${cfg[$k]+set}" ]; then cfg[$k]=${defaults[$k]}
    fi
done
for k in data_dir bindir device_conf_dir; do cfg[$k]=$(pds_abspath "${cfg[$k]}"); done

pds_valid_root "${cfg[root]}" || pds_die "invalid --root '${cfg[root]}'"
pds_valid_port "${cfg[port]}" || pds_die "invalid --port '${cfg[port]}'"
pds_is_loopback "${cfg[listen_addr]}" || pds_die "--listen-addr must be a loopback address"
[ -z "${cfg[tls_port]}" ] || pds_valid_port "${cfg[tls_port]}" || pds_die "invalid --tls-port '${cfg[tls_port]}'"
[ -z "${cfg[tls_addr]}" ] || pds_valid_host "${cfg[tls_addr]}" || pds_die "invalid --tls-addr '${cfg[tls_addr]}'"
[[ ${cfg[tls_auth]} == cert || ${cfg[tls_auth]} == password ]] || pds_die "--tls-auth must be cert or password"
pds_valid_host "${cfg[server_host]}" || pds_die "invalid --server-host '${cfg[server_host]}'"
[[ ${cfg[san]} =~ ^((DNS|IP):[A-Za-z0-9.:*-]+(,(DNS|IP):[A-Za-z0-9.:*-]+)*)?$ ]] \
    || pds_die "--san must look like DNS:name,IP:address"
pds_valid_device_id "${cfg[server_device_id]}" || pds_die "invalid --server-device-id '${cfg[server_device_id]}'"
for k in data_dir bindir device_conf_dir; do
    pds_valid_path "${cfg[$k]}" || pds_die "--${k//_/-} '${cfg[$k]}' holds a character mosquitto or systemd cannot take"
done
[[ ${cfg[broker_auth]} == dynsec || ${cfg[broker_auth]} == passwd ]] || pds_die "--broker-auth must be dynsec or passwd"
[[ ${cfg[join_approval]} == auto || ${cfg[join_approval]} == manual ]] || pds_die "--join-approval must be auto or manual"
if [ "${cfg[web_listen]}" != off ]; then
    [[ ${cfg[web_listen]} =~ ^(.+):([0-9]+)$ ]] && pds_valid_port "${BASH_REMATCH[2]}" \
        || pds_die "--web-listen must be ADDR:PORT or off, not '${cfg[web_listen]}'"
fi
if [ "${cfg[broker_auth]}" = dynsec ]; then
    [ -n "${cfg[tls_port]}" ] || pds_die "--broker-auth dynsec needs the TLS listener (drop --no-tls)"
    pds_need mosquitto_ctrl
fi
run_group=$(id -gn "${cfg[run_user]}" 2>/dev/null) \
    || pds_die "user '${cfg[run_user]}' does not exist (is the mosquitto package installed? see deploy/install-deps.sh)"

{
    echo "# pdsync fleet settings, written by deploy/fleet-init.sh; change them by re-running it."
    for k in "${SETTINGS[@]}"; do printf '%s=%s\n' "$k" "${cfg[$k]}"; done
} | pds_write_file "$fleet/fleet.conf" 0644 root:root

# ---- Layout ---------------------------------------------------------------------------------
# Everything mosquitto reads after it dropped to run_user (on a reload) is group-readable by
# run_group; secrets only the pdsync daemons read stay root-only.
data=${cfg[data_dir]}
pds_mkdir "$fleet/tls" 0750 "root:$run_group"
pds_mkdir "$fleet/secrets" 0700 root:root
pds_mkdir "$fleet/devices" 0700 root:root
pds_mkdir "$fleet/systemd" 0755 root:root
pds_mkdir "$data" 0755 root:root
pds_mkdir "$data/broker" 0700 "${cfg[run_user]}:$run_group"
# The pdsync daemons run as the packages' system user (deploy/systemd/*.service.in).
svc=root:root svc_conf="0600 root:root"
if id -u pdsync >/dev/null 2>&1; then svc=pdsync:pdsync svc_conf="0640 root:pdsync"; fi
pds_mkdir "$data/server" 0700 "$svc"
pds_mkdir "$data/backups" 0700 "$svc"

# ---- CA, broker certificate, revocation list ----------------------------------------------
ca=$fleet/ca
pds_ca_init "$ca" "${cfg[fleet_id]}"
pds_write_file "$fleet/tls/ca.crt" 0644 root:root <"$ca/ca.crt"
pds_ca_crl_fresh "$ca" || pds_ca_gencrl "$ca"
pds_write_file "$fleet/tls/crl.pem" 0644 root:root <"$ca/crl.pem"

# ---- Fleet key: seals secrets (keychain passwords) end to end, device to device -----------
# Made once and never rotated by a re-run: every sealed secret in the fleet depends on it.
if [ ! -s "$fleet/secrets/fleet.key" ]; then
    mkdir -p "$fleet/secrets"
    (umask 077; openssl rand -hex 32 >"$fleet/secrets/fleet.key")
fi


san="DNS:localhost,IP:127.0.0.1"
if [[ ${cfg[server_host]} =~ ^[0-9.]+$ || ${cfg[server_host]} == *:* ]]; then
    san+=",IP:${cfg[server_host]}"
elif [ "${cfg[server_host]}" != localhost ]; then
    san+=",DNS:${cfg[server_host]}"
fi
[ -z "${cfg[san]}" ] || san+=",${cfg[san]}"
# Re-issued when the names change (a new --server-host or --san) or expiry is near.
if ! pds_cert_current "$ca" "$fleet/tls/server.crt" "${cfg[server_host]}" \
    || [ "$(cat "$fleet/tls/server.san" 2>/dev/null)" != "$san" ]; then
    pds_log "issuing the broker certificate for $san"
    pds_ca_issue "$ca" server "${cfg[server_host]}" "$fleet/tls/server.key" "$fleet/tls/server.crt" "$san"
    printf '%s\n' "$san" >"$fleet/tls/server.san"
fi
pds_set_perm "$fleet/tls/server.key" 0640 "root:$run_group"
pds_set_perm "$fleet/tls/server.crt" 0644 root:root

# Client certificates of the two fixed accounts, for when they connect over TLS, where the
# default 'cert' mode asks every client for one: pdsync-server's for a server node on another
# machine (a cluster member there; the local one uses the loopback listener), the inspector's
# for MQTT Explorer / MQTTX on an administrator's PC.
for user in "$PDS_SERVER_USER" "$PDS_INSPECTOR_USER"; do
    if ! pds_cert_current "$ca" "$fleet/tls/$user.crt" "$user"; then
        pds_ca_issue "$ca" client "$user" "$fleet/tls/$user.key" "$fleet/tls/$user.crt"
    fi
    pds_set_perm "$fleet/tls/$user.key" 0600 root:root
done

# ---- Web admin page: HTTPS (--web-listen, default 0.0.0.0:8443) with the server certificate ---
# The clear password stays in secrets/ for the administrator; the server reads only its
# Argon2 hash, made by pdsync-server itself (PDSYNC_SERVER_BIN, else BINDIR, else PATH).
web_pw=$fleet/secrets/web-admin.password web_hash=$fleet/secrets/web-admin.hash
[ -s "$web_pw" ] || { (umask 077 && pds_gen_password >"$web_pw"); rm -f "$web_hash"; }
if [ "${cfg[web_listen]}" != off ] && [ ! -s "$web_hash" ]; then
    server_bin=${PDSYNC_SERVER_BIN:-${cfg[bindir]}/pdsync-server}
    [ -x "$server_bin" ] || server_bin=$(command -v pdsync-server || true)
    if [ -n "$server_bin" ]; then
        (umask 077 && "$server_bin" --web-hash-password <"$web_pw" >"$web_hash.tmp") || true
        if grep -q '^\$argon2' "$web_hash.tmp"; then mv "$web_hash.tmp" "$web_hash"
        else rm -f "$web_hash.tmp"; pds_log "warning: $server_bin made no password hash; the web admin page stays off"; fi
    else
        pds_log "warning: no pdsync-server to hash the web admin password; run fleet-init.sh again once it is installed"
    fi
fi
web_conf="# The web admin page (see docs/admin-api.md); its password is in $web_pw."
[ "${cfg[web_listen]}" = off ] || [ ! -s "$web_hash" ] || web_conf+=$'\n'"web-listen = \"${cfg[web_listen]}\""$'\n'"web-cert-file = \"$fleet/tls/server.crt\""$'\n'"web-key-file = \"$fleet/tls/server.key\""$'\n'"web-admin-password-hash-file = \"$web_hash\""

# ---- Broker accounts ------------------------------------------------------------------------
for user in "$PDS_SERVER_USER" "$PDS_INSPECTOR_USER"; do
    secret=$fleet/secrets/$user.password
    [ -s "$secret" ] || (umask 077 && pds_gen_password >"$secret")
done
server_pw=$(cat "$fleet/secrets/$PDS_SERVER_USER.password")

if [ "${cfg[broker_auth]}" = dynsec ]; then
    # The broker presents the CA with its certificate, so a device that holds only a join
    # code can find the CA the code pins (client-node/enrollment/ca_pin.cpp).
    cat "$fleet/tls/server.crt" "$fleet/tls/ca.crt" | pds_write_file "$fleet/tls/server-chain.crt" 0644 root:root
    # The plugin's file: made once with the server's account alone. From then on the broker
    # rewrites it and pdsync-server is its only writer, so a re-run never touches it.
    dynsec_file=$data/broker/dynamic-security.json
    if [ ! -s "$dynsec_file" ]; then
        (umask 077 && pds_quiet mosquitto_ctrl dynsec init "$dynsec_file" "$PDS_SERVER_USER" "$server_pw")
    fi
    pds_set_perm "$dynsec_file" 0600 "${cfg[run_user]}:$run_group"
    tls_args=(--tls-port "${cfg[tls_port]}" --cafile "$fleet/tls/ca.crt"
              --certfile "$fleet/tls/server-chain.crt" --keyfile "$fleet/tls/server.key"
              --crlfile "$fleet/tls/crl.pem")
    [ -z "${cfg[tls_addr]}" ] || tls_args+=(--tls-addr "${cfg[tls_addr]}")
    # The session plugin (reads under users/ only while the user has a session on the
    # device): $PDSYNC_SESSIONS_PLUGIN, else beside the binaries (a build tree), else where
    # the server package installs it, else a build tree of this checkout.
    sessions_plugin=${PDSYNC_SESSIONS_PLUGIN:-}
    if [ -z "$sessions_plugin" ]; then
        for p in "${cfg[bindir]}/pdsync_sessions.so" /usr/lib/*/pdsync/pdsync_sessions.so \
                 /usr/lib/pdsync/pdsync_sessions.so "$here"/../build*/pdsync_sessions.so; do
            [ -r "$p" ] && { sessions_plugin=$p; break; }
        done
    fi
    [ -n "$sessions_plugin" ] \
        || pds_die "the broker's session plugin pdsync_sessions.so is neither installed nor built (set PDSYNC_SESSIONS_PLUGIN)"
    "$here/../broker-config/render.sh" --auth dynsec --conf "$fleet/mosquitto.conf" \
        --dynsec-file "$dynsec_file" --root "${cfg[root]}" --data-dir "$data/broker" \
        --run-user "${cfg[run_user]}" --sessions-plugin "$sessions_plugin" "${tls_args[@]}"
    # The server reaches its broker over TLS too, verifying it against the fleet CA: a local
    # user who binds the port while the broker restarts gets no password from it.
    tls_host=localhost
    [ -z "${cfg[tls_addr]}" ] || tls_host=${cfg[tls_addr]}
    [[ $tls_host == *:* ]] && tls_host="[$tls_host]"
    pds_write_file "$fleet/pdsync-server.conf" 0600 root:root <<EOF
# pdsync-server configuration, written by deploy/fleet-init.sh (re-running it rewrites this
# file). The server grants every device's broker rights through the dynamic security plugin.
broker = "mqtts://$tls_host:${cfg[tls_port]}"
ca-file = "$fleet/tls/ca.crt"
username = "$PDS_SERVER_USER"
password-file = "$fleet/secrets/$PDS_SERVER_USER.password"
broker-rights = "dynsec"
# The broker loads the session plugin: the member role gets no delivery right under users/.
session-plugin = true
join-approval = "${cfg[join_approval]}"
join-state = "$data/server/join-state.json"
fleet-key-file = "$fleet/secrets/fleet.key"
inspector-password-file = "$fleet/secrets/$PDS_INSPECTOR_USER.password"
root = "${cfg[root]}"
store = "$data/server/server.db"
device-id = "${cfg[server_device_id]}"
$web_conf
# The auth profile every synchronized machine must share (docs/protocol.md §5.2), e.g.:
#   auth-method = "ldap"
#   auth-realm = "corp.example"
EOF
else
passwd=$fleet/passwd
for user in "$PDS_SERVER_USER" "$PDS_INSPECTOR_USER"; do
    # The password file holds only hashes: enter every account it does not hold yet.
    pds_passwd_has "$passwd" "$user" || pds_passwd_set "$passwd" "$user" "$(cat "$fleet/secrets/$user.password")"
done
pds_set_perm "$passwd" 0640 "root:$run_group"

# ---- Broker config and ACL ------------------------------------------------------------------
tls_args=()
if [ -n "${cfg[tls_port]}" ]; then
    tls_args=(--tls-port "${cfg[tls_port]}" --tls-auth "${cfg[tls_auth]}"
              --cafile "$fleet/tls/ca.crt" --certfile "$fleet/tls/server.crt"
              --keyfile "$fleet/tls/server.key" --crlfile "$fleet/tls/crl.pem")
    [ -z "${cfg[tls_addr]}" ] || tls_args+=(--tls-addr "${cfg[tls_addr]}")
fi
"$here/../broker-config/render.sh" --conf "$fleet/mosquitto.conf" --acl "$fleet/acl" \
    --root "${cfg[root]}" --port "${cfg[port]}" --listen-addr "${cfg[listen_addr]}" \
    --data-dir "$data/broker" --password-file "$passwd" --run-user "${cfg[run_user]}" "${tls_args[@]}"

# ---- Server node config ---------------------------------------------------------------------
host=${cfg[listen_addr]}
[[ $host == *:* ]] && host="[$host]"
# Keys are the daemon's long option names (CLI11 reads the file as TOML); CLI11 ignores a key
# it does not know, so a misspelt one would be silently lost: spell them as the options do.
# shellcheck disable=SC2086  # mode and owner
pds_write_file "$fleet/pdsync-server.conf" $svc_conf <<EOF
# pdsync-server configuration, written by deploy/fleet-init.sh (re-running it rewrites this
# file). The server reaches the broker over TLS, verified against the fleet CA, even on
# this machine: pdsync sends no password to a listener that has not proved who it is.
broker = "mqtts://localhost:${cfg[tls_port]:-8883}"
ca-file = "$fleet/tls/ca.crt"
cert-file = "$fleet/tls/$PDS_SERVER_USER.crt"
key-file = "$fleet/tls/$PDS_SERVER_USER.key"
username = "$PDS_SERVER_USER"
password = "$(cat "$fleet/secrets/$PDS_SERVER_USER.password")"
root = "${cfg[root]}"
store = "$data/server/server.db"
device-id = "${cfg[server_device_id]}"
$web_conf
# The auth profile every synchronized machine must share (docs/protocol.md §5.2), e.g.:
#   auth-method = "ldap"
#   auth-realm = "corp.example"
EOF

fi

# ---- systemd units --------------------------------------------------------------------------
sd=$here/systemd
pds_render_file "$sd/mosquitto-pdsync.service.in" "$fleet/systemd/mosquitto-pdsync.service" 0644 root:root "" \
    "MOSQUITTO_CONF=$fleet/mosquitto.conf" "BROKER_DATA_DIR=$data/broker"
pds_render_file "$sd/pdsync-server.service.in" "$fleet/systemd/pdsync-server.service" 0644 root:root "" \
    "BINDIR=${cfg[bindir]}" "SERVER_CONF=$fleet/pdsync-server.conf" \
    "SERVER_DATA_DIR=$data/server" "BACKUP_DIR=$data/backups"
# The server machine's own client node ("localhost"), once it is enrolled like any device.
pds_render_file "$sd/pdsync-client.service.in" "$fleet/systemd/pdsync-client.service" 0644 root:root "" \
    "BINDIR=${cfg[bindir]}" "CLIENT_CONF=${cfg[device_conf_dir]}/pdsync-client.conf"

if [ "${cfg[broker_auth]}" = dynsec ]; then
    # No loopback listener in this mode: the broker's only port is the TLS one.
    pds_log "fleet ready in $fleet (root ${cfg[root]}, TLS port ${cfg[tls_port]}, the broker's only listener; rights in the dynamic security plugin)"
    pds_log "start mosquitto-pdsync and pdsync-server; then 'pdsync join-code' prints the code devices join with:"
    pds_log "  pdsync device enable --server ${cfg[server_host]}:${cfg[tls_port]} --join-code CODE"
    if [ "${cfg[web_listen]}" != off ] && [ -s "$web_hash" ]; then
        pds_log "web admin page: https://${cfg[server_host]}:${cfg[web_listen]##*:}/ (password in $web_pw)"
    fi
else
    pds_log "fleet ready in $fleet (root ${cfg[root]}, loopback port ${cfg[port]}${cfg[tls_port]:+, TLS port ${cfg[tls_port]}})"
    pds_log "inspector password: $fleet/secrets/$PDS_INSPECTOR_USER.password; enroll devices with deploy/enroll-device.sh $fleet NAME"
    [ "${cfg[web_listen]}" = off ] || [ ! -s "$web_hash" ] \
        || pds_log "web admin page: https://${cfg[server_host]}:${cfg[web_listen]##*:}/ (password in $web_pw)"
fi
