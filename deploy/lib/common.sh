# Shell helpers shared by broker-config/render.sh, deploy/fleet-init.sh and
# deploy/enroll-device.sh: logging, validation of names the broker and the ACL trust,
# template rendering, and writing files so that a re-run that changes nothing leaves every
# file byte-for-byte (and owner/mode) as it was. Sourced, never run; needs bash 4+.
# shellcheck shell=bash

# The two fixed broker accounts of the topic contract (docs/protocol.md §4 and §6). They are
# not options: the ACL, the server node and the docs all name them.
# shellcheck disable=SC2034  # used by the scripts that source this file
PDS_SERVER_USER=pdsync-server
# shellcheck disable=SC2034
PDS_INSPECTOR_USER=inspector
# shellcheck disable=SC2034
PDS_DEFAULT_ROOT=pds/v1

# bash 5.2 turns '&' in ${var//pat/rep} into "the matched text"; template values (passwords,
# paths) must go in verbatim.
shopt -u patsub_replacement 2>/dev/null || true

# pds_need CMD...: fails early, naming the package, when a tool is missing on a fresh machine.
pds_need() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 \
            || pds_die "'$c' not found: install mosquitto, mosquitto-clients and openssl (deploy/install-deps.sh)"
    done
}

pds_log() { printf '%s: %s\n' "${PDS_PROG:-pdsync}" "$*" >&2; }
pds_die() { pds_log "error: $*"; exit 1; }

# A device id is also its broker user name and its certificate CN, and the ACL substitutes it
# into topics with %u, so only the contract's safe alphabet is allowed (no '/', '+', '#').
pds_valid_device_id() { [[ $1 =~ ^[A-Za-z0-9._-]{1,64}$ ]]; }

# A topic root: levels of the safe alphabet joined by '/'; no wildcard, no '%' (the ACL would
# read it as a pattern), no leading '$' (reserved for the broker), no empty level.
pds_valid_root() { [[ ${#1} -le 128 && $1 =~ ^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$ ]]; }

pds_valid_port() { [[ $1 =~ ^[0-9]{1,5}$ ]] && (( $1 >= 1 && $1 <= 65535 )); }

# Paths end up in mosquitto.conf, unit files and quoted config values: mosquitto splits its
# values on spaces, the TOML-like files quote with '"' and systemd expands '%' and '$' in unit
# files, so none of those may appear.
pds_valid_path() {
    [[ $1 == /* ]] || return 1
    case $1 in *[[:space:]\"\'\\\$\`%]*) return 1 ;; esac
}

# Loopback only: plaintext MQTT must never leave the machine (docs/protocol.md §6).
pds_is_loopback() { [[ $1 == localhost || $1 == ::1 || $1 =~ ^127\.[0-9]+\.[0-9]+\.[0-9]+$ ]]; }

# A host name or IPv4/IPv6 literal that devices use to reach the broker.
pds_valid_host() { [[ $1 =~ ^[A-Za-z0-9.:-]{1,253}$ ]]; }

pds_abspath() { realpath -m -- "$1"; }

# 32 characters from [A-Za-z0-9]: ~190 bits, and safe inside any quoting.
pds_gen_password() {
    local p=""
    while [ "${#p}" -lt 32 ]; do
        p+=$(openssl rand -base64 48 | tr -dc 'A-Za-z0-9')
    done
    printf '%s' "${p:0:32}"
}

# pds_write_file DST MODE [OWNER[:GROUP]] < content
# Replaces DST only when the content differs, so an idempotent re-run changes no mtime and
# a reader never sees a half-written file (rename is atomic within a directory). Mode and
# owner are applied every time, so a re-run also repairs permissions.
pds_write_file() {
    local dst=$1 mode=$2 owner=${3:-} tmp
    tmp=$(mktemp "$dst.tmp.XXXXXX")
    cat >"$tmp"
    if [ -f "$dst" ] && cmp -s "$tmp" "$dst"; then
        rm -f "$tmp"
    else
        chmod "$mode" "$tmp"
        mv -f "$tmp" "$dst"
    fi
    pds_set_perm "$dst" "$mode" "$owner"
}

# chown only as root: an unprivileged run (a developer's test) owns everything it makes.
pds_set_perm() {
    local path=$1 mode=$2 owner=${3:-}
    chmod "$mode" "$path"
    if [ -n "$owner" ] && [ "$(id -u)" -eq 0 ]; then
        chown "$owner" "$path"
    fi
}

pds_mkdir() {  # pds_mkdir DIR MODE [OWNER[:GROUP]]
    mkdir -p "$1"
    pds_set_perm "$1" "$2" "${3:-}"
}

# pds_render_template SRC "BLOCK ..." KEY=VALUE ...   (result on stdout)
# Lines between '#@begin NAME@' and '#@end NAME@' are kept only when NAME is in the block
# list (the marker lines themselves are dropped); then every @KEY@ becomes VALUE. A
# placeholder left over is an error, so a template and its renderer cannot drift apart
# silently.
pds_render_template() {
    local src=$1 blocks=" $2 " out="" line name="" keep=1 pair key val
    shift 2
    [ -r "$src" ] || pds_die "template $src not found"
    while IFS= read -r line || [ -n "$line" ]; do
        if [[ $line =~ ^#@begin\ ([A-Z_]+)@$ ]]; then
            [ -z "$name" ] || pds_die "$src: nested block ${BASH_REMATCH[1]}"
            name=${BASH_REMATCH[1]}
            if [[ $blocks == *" $name "* ]]; then keep=1; else keep=0; fi
            continue
        fi
        if [[ $line =~ ^#@end\ ([A-Z_]+)@$ ]]; then
            [ "${BASH_REMATCH[1]}" = "$name" ] || pds_die "$src: unbalanced block end ${BASH_REMATCH[1]}"
            name=""; keep=1
            continue
        fi
        [ "$keep" = 1 ] && out+="$line"$'\n'
    done <"$src"
    [ -z "$name" ] || pds_die "$src: block $name is not closed"
    for pair in "$@"; do
        key=${pair%%=*}
        val=${pair#*=}
        [[ $val != *$'\n'* ]] || pds_die "value for @$key@ holds a newline"
        out=${out//"@$key@"/"$val"}
    done
    if [[ $out =~ @[A-Z][A-Z0-9_]*@ ]]; then
        pds_die "$src: placeholder ${BASH_REMATCH[0]} has no value"
    fi
    printf '%s' "$out"
}

# pds_render_file TEMPLATE DST MODE OWNER "BLOCK ..." KEY=VALUE ...
# Renders completely before writing, so a failed render never replaces a working file.
pds_render_file() {
    local tpl=$1 dst=$2 mode=$3 owner=$4 blocks=$5 text
    shift 5
    text=$(pds_render_template "$tpl" "$blocks" "$@")
    pds_write_file "$dst" "$mode" "$owner" <<<"$text"
}

# Settings files are 'key=value' lines. They are parsed, never sourced, so a file in the
# fleet directory cannot run code, and only the keys the caller names are accepted.
# pds_load_settings FILE ASSOC_ARRAY_NAME KEY...
pds_load_settings() {
    local file=$1 k v allowed
    local -n _into=$2
    shift 2
    allowed=" $* "
    [ -f "$file" ] || return 0
    while IFS='=' read -r k v || [ -n "$k" ]; do
        [[ -z $k || $k == \#* ]] && continue
        [[ $allowed == *" $k "* ]] || pds_die "$file: unknown setting '$k'"
        _into["$k"]=$v
    done <"$file"
}

# Runs a noisy command (openssl, mosquitto_passwd) and shows its output only if it fails.
pds_quiet() {
    local out
    if ! out=$("$@" 2>&1); then
        printf '%s\n' "$out" >&2
        pds_die "command failed: $*"
    fi
}

# True when the mosquitto password file FILE has an entry for USER (compared as a string:
# a device id may hold '.', which a grep pattern would treat as "any character").
pds_passwd_has() { [ -f "$1" ] && awk -F: -v u="$2" '$1 == u { found = 1 } END { exit !found }' "$1"; }

# pds_passwd_set FILE USER PASSWORD: adds or replaces USER's entry, creating FILE if needed.
pds_passwd_set() {
    if [ -f "$1" ]; then
        pds_quiet mosquitto_passwd -b "$1" "$2" "$3"
    else
        pds_quiet mosquitto_passwd -c -b "$1" "$2" "$3"
    fi
}

# Takes an exclusive lock on the fleet directory for the rest of the script: two
# enrollments at once would race on the password file and the CA's serial and index.
pds_lock_fleet() {
    exec 9>"$1/.lock"
    flock -w 30 9 || pds_die "$1 is locked by another fleet-init/enroll-device run"
}
