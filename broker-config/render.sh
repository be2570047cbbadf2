#!/usr/bin/env bash
# Renders a pdsync broker configuration and ACL from mosquitto.conf.template and acl.template
# beside this script. deploy/fleet-init.sh uses it for a real fleet and tests/security uses it
# for a throw-away broker, so both run exactly the configuration a fleet gets.
#
#   render.sh --conf OUT.conf --acl OUT.acl --port 1883 --data-dir /srv/pdsync/data/broker \
#             --password-file /srv/pdsync/passwd [--root pds/v1] [--listen-addr 127.0.0.1] \
#             [--run-user mosquitto] [--autosave-interval 300] \
#             [--tls-port 8883 [--tls-addr ADDR] --cafile F --certfile F --keyfile F \
#              --crlfile F [--tls-auth cert|password]]
#
# Without --tls-port the broker has only the loopback listener. Files are replaced only when
# their content changes. Exit status is non-zero, with a message, on any invalid value.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../deploy/lib/common.sh
. "$here/../deploy/lib/common.sh"
PDS_PROG=render.sh

usage() { sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2; }

conf="" acl="" port="" data_dir="" password_file="" root=$PDS_DEFAULT_ROOT
listen_addr=127.0.0.1 run_user=mosquitto autosave=300
tls_port="" tls_addr="" cafile="" certfile="" keyfile="" crlfile="" tls_auth=cert
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
        *) pds_log "unknown option $1"; usage ;;
    esac
    shift 2
done

if [ -z "$conf" ] || [ -z "$acl" ] || [ -z "$port" ] || [ -z "$data_dir" ] || [ -z "$password_file" ]; then
    pds_log "--conf, --acl, --port, --data-dir and --password-file are required"
    usage
fi
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

pds_render_file "$here/mosquitto.conf.template" "$conf" 0644 "" "$blocks" \
    "PASSWORD_FILE=$password_file" "ACL_FILE=$acl" "RUN_USER=$run_user" \
    "DATA_DIR=${data_dir%/}" "AUTOSAVE_INTERVAL=$autosave" \
    "PORT=$port" "LISTEN_ADDR=$listen_addr" "${tls_values[@]}"
pds_render_file "$here/acl.template" "$acl" 0644 "" "" \
    "ROOT=$root" "SERVER_USER=$PDS_SERVER_USER" "INSPECTOR_USER=$PDS_INSPECTOR_USER"
