#!/usr/bin/env bash
# Renders a pdsync broker configuration and ACL from mosquitto.conf.template and acl.template
# beside this script. deploy/fleet-init.sh uses it for a real fleet and tests/security uses it
# for a throw-away broker, so both run exactly the configuration a fleet gets.
#
#   render.sh --conf OUT.conf --acl OUT.acl --port 1883 --data-dir /srv/pdsync/data/broker \
#             --password-file /srv/pdsync/passwd [--root pds/v1] [--listen-addr 127.0.0.1] \
#             [--run-user mosquitto] [--autosave-interval 300] \
#             [--tls-port 8883 [--tls-addr ADDR] --cafile F --certfile F --keyfile F \
#              --crlfile F [--tls-auth cert|password]] [--max-connections N]
#   render.sh --auth dynsec --conf OUT.conf --dynsec-file F --data-dir D --tls-port 8883 \
#             --cafile F --certfile F --keyfile F --crlfile F [--tls-addr ADDR] \
#             [--sessions-plugin pdsync_sessions.so] ...
#
# Without --tls-port the broker has only the loopback listener. With --auth dynsec (what
# fleet-init.sh sets up) every right lives in the dynamic security plugin, written only by
# pdsync-server, and the broker has only the TLS listener (password logins, the server's
# own included, so nobody who binds a port first can collect a password). Files are
# replaced only when their content changes. Exit status is non-zero on any invalid value.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../deploy/lib/common.sh
. "$here/../deploy/lib/common.sh"
PDS_PROG=render.sh

usage() { sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2; }

conf="" acl="" port="" data_dir="" password_file="" root=$PDS_DEFAULT_ROOT
listen_addr=127.0.0.1 run_user=mosquitto autosave=300
tls_port="" tls_addr="" cafile="" certfile="" keyfile="" crlfile="" tls_auth=cert
auth=passwd dynsec_file="" dynsec_plugin=/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so
max_connections=2000 sessions_plugin=""
while [ $# -gt 0 ]; do
    case $1 in -h | --help) usage ;; esac
    [ $# -ge 2 ] || { pds_log "option $1 needs a value"; usage; }
    case $1 in
        --conf) conf=$2 ;;
        --acl) acl=$2 ;;
        --port) port=$2 ;;
        --data-dir) data_dir=$2 ;;
        --password-file) password_file=$2 ;;
        --root) root=$2 ;;
        --listen-addr) listen_addr=$2 ;;
        --run-user) run_user=$2 ;;
        --autosave-interval) autosave=$2 ;;
        --tls-port) tls_port=$2 ;;
        --tls-addr) tls_addr=$2 ;;
        --cafile) cafile=$2 ;;
        --certfile) certfile=$2 ;;
        --keyfile) keyfile=$2 ;;
        --crlfile) crlfile=$2 ;;
        --tls-auth) tls_auth=$2 ;;
        --auth) auth=$2 ;;
        --dynsec-file) dynsec_file=$2 ;;
        --dynsec-plugin) dynsec_plugin=$2 ;;
        --max-connections) max_connections=$2 ;;
        --sessions-plugin) sessions_plugin=$2 ;;
        *) pds_log "unknown option $1"; usage ;;
    esac
    shift 2
done

[[ $max_connections =~ ^[1-9][0-9]{0,6}$ ]] || pds_die "invalid --max-connections '$max_connections'"
case $auth in
    passwd)
        if [ -z "$conf" ] || [ -z "$acl" ] || [ -z "$port" ] || [ -z "$data_dir" ] || [ -z "$password_file" ]; then
            pds_log "--conf, --acl, --port, --data-dir and --password-file are required"
            usage
        fi ;;
    dynsec)
        [ -n "$conf" ] && [ -n "$data_dir" ] && [ -n "$dynsec_file" ] && [ -n "$tls_port" ] \
            || pds_die "--auth dynsec needs --conf, --data-dir, --dynsec-file and --tls-port"
        [ -r "$dynsec_plugin" ] || pds_die "the dynamic security plugin $dynsec_plugin is not installed (mosquitto 2.0)"
        dynsec_file=$(pds_abspath "$dynsec_file")
        pds_valid_path "$dynsec_file" || pds_die "path '$dynsec_file' holds a character mosquitto or systemd cannot take"
        # Placeholders of the password-file block, which this mode leaves out.
        port=1 acl=/nonexistent password_file=/nonexistent
        # Every login is a password checked by the plugin, which also binds each account
        # to its client id; a certificate login would skip both.
        tls_auth=password
        if [ -n "$sessions_plugin" ]; then
            [ -r "$sessions_plugin" ] || pds_die "the session plugin $sessions_plugin is not readable"
            sessions_plugin=$(pds_abspath "$sessions_plugin")
            pds_valid_path "$sessions_plugin" || pds_die "path '$sessions_plugin' holds a character mosquitto or systemd cannot take"
        fi ;;
    *) pds_die "--auth must be passwd or dynsec" ;;
esac
pds_valid_root "$root" || pds_die "invalid topic root '$root' (levels of [A-Za-z0-9._-] joined by '/')"
pds_valid_port "$port" || pds_die "invalid --port '$port'"
pds_is_loopback "$listen_addr" \
    || pds_die "--listen-addr $listen_addr is not loopback: plaintext MQTT must not leave the machine; use the TLS listener"
[[ $run_user =~ ^[a-z_][a-z0-9_-]*$ ]] || pds_die "invalid --run-user '$run_user'"
[[ $autosave =~ ^[1-9][0-9]*$ ]] || pds_die "invalid --autosave-interval '$autosave' (seconds, > 0)"

# Paths go into the config as absolute paths: mosquitto resolves relative ones against its
# working directory, which is '/' under systemd.
conf=$(pds_abspath "$conf"); acl=$(pds_abspath "$acl")
data_dir=$(pds_abspath "$data_dir"); password_file=$(pds_abspath "$password_file")
for p in "$conf" "$acl" "$data_dir" "$password_file"; do
    pds_valid_path "$p" || pds_die "path '$p' holds a character mosquitto or systemd cannot take"
done

blocks="" tls_values=()
if [ -n "$tls_port" ]; then
    pds_valid_port "$tls_port" || pds_die "invalid --tls-port '$tls_port'"
    [ "$tls_port" != "$port" ] || pds_die "--tls-port must differ from --port"
    if [ -z "$cafile" ] || [ -z "$certfile" ] || [ -z "$keyfile" ] || [ -z "$crlfile" ]; then
        pds_die "--tls-port needs --cafile, --certfile, --keyfile and --crlfile"
    fi
    if [ -n "$tls_addr" ]; then
        pds_valid_host "$tls_addr" || pds_die "invalid --tls-addr '$tls_addr'"
    fi
    case $tls_auth in
        cert) require_cert=true use_identity=true ;;
        password) require_cert=false use_identity=false ;;
        *) pds_die "--tls-auth must be 'cert' or 'password'" ;;
    esac
    cafile=$(pds_abspath "$cafile"); certfile=$(pds_abspath "$certfile")
    keyfile=$(pds_abspath "$keyfile"); crlfile=$(pds_abspath "$crlfile")
    for p in "$cafile" "$certfile" "$keyfile" "$crlfile"; do
        pds_valid_path "$p" || pds_die "path '$p' holds a character mosquitto or systemd cannot take"
    done
    blocks=TLS
    tls_values=(
        "TLS_LISTENER=$tls_port${tls_addr:+ $tls_addr}"
        "CAFILE=$cafile" "CERTFILE=$certfile" "KEYFILE=$keyfile" "CRLFILE=$crlfile"
        "REQUIRE_CERTIFICATE=$require_cert" "USE_IDENTITY_AS_USERNAME=$use_identity"
    )
fi

if [ "$auth" = dynsec ]; then blocks+=" DYNSEC"; else blocks+=" PASSWD"; fi
[ "$auth" != dynsec ] || [ -z "$sessions_plugin" ] || blocks+=" SESSIONS"
pds_render_file "$here/mosquitto.conf.template" "$conf" 0644 "" "$blocks" \
    "PASSWORD_FILE=$password_file" "ACL_FILE=$acl" "RUN_USER=$run_user" \
    "DYNSEC_PLUGIN=$dynsec_plugin" "DYNSEC_FILE=$dynsec_file" \
    "SESSIONS_PLUGIN=$sessions_plugin" "ROOT=$root" "SERVER_USER=$PDS_SERVER_USER" \
    "MAX_CONNECTIONS=$max_connections" \
    "DATA_DIR=${data_dir%/}" "AUTOSAVE_INTERVAL=$autosave" \
    "PORT=$port" "LISTEN_ADDR=$listen_addr" "${tls_values[@]}"
[ "$auth" = dynsec ] || pds_render_file "$here/acl.template" "$acl" 0644 "" "" \
    "ROOT=$root" "SERVER_USER=$PDS_SERVER_USER" "INSPECTOR_USER=$PDS_INSPECTOR_USER"
