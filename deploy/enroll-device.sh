#!/usr/bin/env bash
# Enrolls one device in a fleet made by deploy/fleet-init.sh, or revokes it.
#
#   enroll-device.sh DIR NAME            enroll NAME (idempotent)
#   enroll-device.sh DIR NAME --revoke   revoke NAME (idempotent)
#
# Enrolling gives NAME a broker account (a random password in the password file) and a
# client certificate with CN=NAME signed by the fleet CA; NAME is then both the device's
# broker user name and its device_id, which is what the ACL keys on. It writes the device's
# files to DIR/devices/NAME/ and packs them as DIR/devices/NAME.tar.gz, to unpack on the
# device into the fleet's device-conf-dir (default /etc/pdsync):
#   pdsync-client.conf  pdsync-client.service  ca.crt  client.crt  client.key
# Re-running it for an enrolled device changes nothing, bundle included.
#
# Revoking removes the password entry, revokes every certificate issued to NAME, publishes
# the new revocation list to the broker's crlfile and deletes the bundle. The broker applies
# it when reloaded (systemctl reload mosquitto-pdsync) and drops a live TLS session only
# when restarted (systemctl restart mosquitto-pdsync).
#
# In a fleet whose broker rights live in the dynamic security plugin (fleet-init.sh's
# default) the account comes from the running server instead (`pdsync machines provision`,
# through its admin socket, $PDSYNC_SERVER_SOCKET or /run/pdsync/server.sock), so the
# server stays the plugin's only writer; --revoke there is `pdsync machines remove NAME`,
# which also ends the device's live session at once.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$here/lib/common.sh"
# shellcheck source-path=SCRIPTDIR source=lib/ca.sh
. "$here/lib/ca.sh"
PDS_PROG="enroll-device.sh"
pds_need openssl mosquitto_passwd flock tar gzip realpath

usage() { sed -n '2,6p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2; }

revoke=0
case $# in
    2) ;;
    3) [ "$3" = --revoke ] || usage; revoke=1 ;;
    *) usage ;;
esac
fleet=$(pds_abspath "$1")
name=$2

pds_valid_device_id "$name" || pds_die "invalid device name '$name': 1-64 characters of [A-Za-z0-9._-]"
case $name in
    "$PDS_SERVER_USER" | "$PDS_INSPECTOR_USER") pds_die "'$name' is a reserved broker account, not a device" ;;
    # Valid device ids, but they name directories here: DIR/devices/.. is the fleet itself.
    . | ..) pds_die "'$name' cannot be a device name" ;;
esac
[ -f "$fleet/fleet.conf" ] || pds_die "$fleet is not a fleet directory: run deploy/fleet-init.sh $fleet first"
pds_lock_fleet "$fleet"

declare -A cfg=()
pds_load_settings "$fleet/fleet.conf" cfg root port listen_addr tls_port tls_addr tls_auth \
    server_host san server_device_id data_dir run_user bindir device_conf_dir fleet_id \
    broker_auth join_approval web_listen
run_group=$(id -gn "${cfg[run_user]}")

ca=$fleet/ca
dev=$fleet/devices/$name
bundle=$fleet/devices/$name.tar.gz
secret=$fleet/secrets/device-$name.password
passwd=$fleet/passwd

if [ "$revoke" = 1 ] && [ "${cfg[broker_auth]:-passwd}" = dynsec ]; then
    "${PDSYNC_CLI:-${cfg[bindir]}/pdsync}" machines remove "$name" || true
    rm -rf "$dev" "$bundle" "$secret"
fi
if [ "$revoke" = 1 ]; then
    changed=0
    mapfile -t serials < <(pds_ca_valid_serials "$ca" "$name")
    for serial in "${serials[@]}"; do
        pds_ca_revoke_serial "$ca" "$serial"
        changed=1
    done
    if [ "$changed" = 1 ]; then
        pds_ca_gencrl "$ca"
        pds_write_file "$fleet/tls/crl.pem" 0644 root:root <"$ca/crl.pem"
    fi
    if pds_passwd_has "$passwd" "$name"; then
        pds_quiet mosquitto_passwd -D "$passwd" "$name"
        pds_set_perm "$passwd" 0640 "root:$run_group"
        changed=1
    fi
    if [ -e "$dev" ] || [ -e "$bundle" ] || [ -e "$secret" ]; then
        rm -rf "$dev" "$bundle" "$secret"
        changed=1
    fi
    if [ "$changed" = 0 ]; then
        pds_log "$name is not enrolled; nothing to revoke"
    else
        pds_log "revoked $name (certificate serials: ${serials[*]:-none})"
        pds_log "apply it: systemctl reload mosquitto-pdsync (refuses new connections);" \
            "systemctl restart mosquitto-pdsync also cuts a live TLS session"
    fi
    exit 0
fi

pds_mkdir "$dev" 0700 root:root

if [ "${cfg[broker_auth]:-passwd}" = dynsec ]; then
    # The server makes the account (it is the plugin's only writer) and hands back its
    # password once; a re-run keeps the password it already has.
    if [ ! -s "$secret" ]; then
        cli=${PDSYNC_CLI:-${cfg[bindir]}/pdsync}
        answer=$("$cli" machines provision "$name" --json) \
            || pds_die "the server refused the account for $name: $answer"
        pw=$(printf '%s' "$answer" | sed -n 's/.*"password":"\([0-9a-f]*\)".*/\1/p')
        [ -n "$pw" ] || pds_die "no password in the server's answer: $answer"
        (umask 077 && printf '%s' "$pw" >"$secret")
    fi
elif [ ! -s "$secret" ]; then
    # The password file holds only hashes, so a password made now must replace any entry.
    (umask 077 && pds_gen_password >"$secret")
    pds_passwd_set "$passwd" "$name" "$(cat "$secret")"
    pds_set_perm "$passwd" 0640 "root:$run_group"
elif ! pds_passwd_has "$passwd" "$name"; then
    pds_passwd_set "$passwd" "$name" "$(cat "$secret")"
    pds_set_perm "$passwd" 0640 "root:$run_group"
fi

if ! pds_cert_current "$ca" "$dev/client.crt" "$name"; then
    pds_log "issuing a client certificate for $name"
    pds_ca_issue "$ca" client "$name" "$dev/client.key" "$dev/client.crt"
fi
pds_set_perm "$dev/client.key" 0600 root:root
pds_write_file "$dev/ca.crt" 0644 root:root <"$ca/ca.crt"
pds_write_file "$dev/fleet.key" 0600 root:root <"$fleet/secrets/fleet.key"

etc=${cfg[device_conf_dir]}
if [ -n "${cfg[tls_port]}" ]; then
    host=${cfg[server_host]}
    [[ $host == *:* ]] && host="[$host]"
    broker="mqtts://$host:${cfg[tls_port]}"
    tls_lines="ca-file = \"$etc/ca.crt\"
cert-file = \"$etc/client.crt\"
key-file = \"$etc/client.key\""
else
    # A fleet without a TLS listener is the server machine alone: loopback only.
    host=${cfg[listen_addr]}
    [[ $host == *:* ]] && host="[$host]"
    broker="mqtt://$host:${cfg[port]}"
    tls_lines="# No TLS listener in this fleet (fleet-init.sh --no-tls): this client must run on the
# server machine."
fi
# Keys are pdsync-client's long option names (see fleet-init.sh for why that matters).
pds_write_file "$dev/pdsync-client.conf" 0600 root:root <<EOF
# pdsync-client configuration of device $name, written by deploy/enroll-device.sh.
# Install it as $etc/pdsync-client.conf (root only: it holds the password).
device-id = "$name"
broker = "$broker"
root = "${cfg[root]}"
username = "$name"
password = "$(cat "$secret")"
$tls_lines
# Both live where the systemd unit lets the daemon write (StateDirectory, RuntimeDirectory).
store = "/var/lib/pdsync/client.db"
socket = "/run/pdsync/client.sock"
# Seals keychain passwords so only the fleet's devices can read them.
fleet-key-file = "$etc/fleet.key"
# This machine's auth profile; it must match the server's (docs/protocol.md §5.2), e.g.:
#   auth-method = "ldap"
#   auth-realm = "corp.example"
EOF
pds_render_file "$here/systemd/pdsync-client.service.in" "$dev/pdsync-client.service" 0644 root:root "" \
    "BINDIR=${cfg[bindir]}" "CLIENT_CONF=$etc/pdsync-client.conf"

# A byte-identical bundle on every re-run: fixed order, owner and time (the certificate's, so
# it changes when the certificate does), and no timestamp in the gzip header.
tmp=$(mktemp "$fleet/devices/.bundle.XXXXXX")
trap 'rm -f "$tmp"' EXIT
tar --sort=name --mtime="@$(stat -c %Y "$dev/client.crt")" --owner=0 --group=0 --numeric-owner \
    -C "$dev" -cf - pdsync-client.conf pdsync-client.service ca.crt client.crt client.key fleet.key \
    | gzip -n -9 >"$tmp"
pds_write_file "$bundle" 0600 root:root <"$tmp"

pds_log "enrolled $name: copy $bundle to the device and unpack it with"
pds_log "  tar -xzf $name.tar.gz -C $etc && mv $etc/pdsync-client.service /etc/systemd/system/"
pds_log "  cd $etc && chgrp pdsync pdsync-client.conf client.key fleet.key && chmod 0640 pdsync-client.conf client.key fleet.key"
