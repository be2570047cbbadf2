# The fleet's certificate authority, as a small `openssl ca` database in one directory:
# create it, issue server and client certificates, revoke them, and publish the revocation
# list (CRL) the broker checks. Sourced by deploy/fleet-init.sh and deploy/enroll-device.sh
# after deploy/lib/common.sh.
#
# Why `openssl ca` and not bare `openssl x509 -req`: it keeps an index of every certificate
# issued, which is what revocation needs (revoke by serial even when the device's copy of the
# certificate is gone) and what an administrator audits.
# shellcheck shell=bash

# Lifetimes. The CA outlives every certificate it signs; device certificates last as long as
# a device typically stays in service, since replacing them means visiting the device. The
# CRL gets the same ten years because mosquitto refuses EVERY client certificate once its CRL
# has expired; fleet-init renews it whenever less than a year is left.
PDS_CA_DAYS=7300
PDS_CERT_DAYS=3650
PDS_CRL_DAYS=3650
PDS_CRL_RENEW_SECONDS=$((365 * 24 * 3600))
# A certificate this close to expiry is re-issued by a re-run of fleet-init / enroll-device.
PDS_CERT_RENEW_SECONDS=$((30 * 24 * 3600))

# pds_ca_init CA_DIR FLEET_ID: creates the CA once; rewrites only its openssl config.
pds_ca_init() {
    local dir=$1 fleet_id=$2
    pds_mkdir "$dir" 0700 root:root
    pds_mkdir "$dir/newcerts" 0700 root:root
    [ -f "$dir/index.txt" ] || : >"$dir/index.txt"
    [ -f "$dir/serial" ] || echo 1000 >"$dir/serial"
    [ -f "$dir/crlnumber" ] || echo 1000 >"$dir/crlnumber"
    pds_write_file "$dir/ca.cnf" 0600 root:root <<EOF
# openssl configuration of the pdsync fleet CA; written by deploy/lib/ca.sh.
[ ca ]
default_ca = fleet

[ fleet ]
dir = $dir
database = \$dir/index.txt
serial = \$dir/serial
crlnumber = \$dir/crlnumber
new_certs_dir = \$dir/newcerts
certificate = \$dir/ca.crt
private_key = \$dir/ca.key
default_md = sha256
default_days = $PDS_CERT_DAYS
default_crl_days = $PDS_CRL_DAYS
policy = policy_cn_only
# A device re-enrolled after a revocation gets a new certificate with the same CN.
unique_subject = no
# Extensions come from this file only, never from a request.
copy_extensions = none

[ policy_cn_only ]
commonName = supplied

[ req ]
distinguished_name = req_dn
prompt = no

[ req_dn ]
CN = unused

[ ca_ext ]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[ client_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
    if [ ! -f "$dir/ca.crt" ]; then
        pds_log "creating the fleet CA in $dir"
        pds_new_key "$dir/ca.key"
        pds_quiet openssl req -config "$dir/ca.cnf" -new -x509 -key "$dir/ca.key" \
            -out "$dir/ca.crt" -days "$PDS_CA_DAYS" -sha256 -extensions ca_ext \
            -subj "/CN=pdsync fleet CA $fleet_id"
    fi
}

# EC P-256 keys: as strong as RSA-3072 for this use, and generated in milliseconds, so an
# enrollment (and the security test suite) stays fast. Created 0600 and never overwritten.
pds_new_key() {
    local key=$1
    [ -f "$key" ] && return 0
    (umask 077 && pds_quiet openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$key")
}

# pds_ca_issue CA_DIR client CN KEY CRT
# pds_ca_issue CA_DIR server CN KEY CRT SUBJECT_ALT_NAMES
# Signs a certificate for KEY (created if missing) and writes it to CRT.
pds_ca_issue() {
    local dir=$1 kind=$2 cn=$3 key=$4 crt=$5 san=${6:-} csr out ext=()
    pds_new_key "$key"
    csr=$(mktemp "$dir/req.XXXXXX")
    pds_quiet openssl req -config "$dir/ca.cnf" -new -key "$key" -out "$csr" -subj "/CN=$cn"
    if [ "$kind" = server ]; then
        [ -n "$san" ] || pds_die "a server certificate needs subject alternative names"
        # The names differ per certificate, so the server extensions get a file of their own.
        cat >"$csr.ext" <<EOF
[ server_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = $san
EOF
        ext=(-extfile "$csr.ext")
    fi
    out=$(mktemp "$dir/crt.XXXXXX")
    pds_quiet openssl ca -batch -config "$dir/ca.cnf" -extensions "${kind}_ext" "${ext[@]}" \
        -notext -in "$csr" -out "$out"
    rm -f "$csr" "$csr.ext"
    chmod 0644 "$out"
    mv -f "$out" "$crt"
}

pds_cert_serial() { openssl x509 -in "$1" -noout -serial | sed 's/^serial=//'; }

# Serials of the certificates still valid (not revoked) for CN, one per line.
pds_ca_valid_serials() {
    awk -F'\t' -v subj="/CN=$2" '$1 == "V" && $6 == subj { print $4 }' "$1/index.txt"
}

# True when CRT is this CA's, for CN, not revoked, and not about to expire: such a
# certificate is kept by a re-run instead of being re-issued.
pds_cert_current() {
    local dir=$1 crt=$2 cn=$3 serial
    [ -f "$crt" ] || return 1
    openssl verify -CAfile "$dir/ca.crt" "$crt" >/dev/null 2>&1 || return 1
    openssl x509 -in "$crt" -noout -checkend "$PDS_CERT_RENEW_SECONDS" >/dev/null 2>&1 || return 1
    [ "$(openssl x509 -in "$crt" -noout -subject -nameopt RFC2253)" = "subject=CN=$cn" ] || return 1
    serial=$(pds_cert_serial "$crt")
    pds_ca_valid_serials "$dir" "$cn" | grep -qx "$serial"
}

pds_ca_revoke_serial() {
    pds_quiet openssl ca -batch -config "$1/ca.cnf" -revoke "$1/newcerts/$2.pem"
}

pds_ca_gencrl() {
    local out
    out=$(mktemp "$1/crl.XXXXXX")
    pds_quiet openssl ca -batch -config "$1/ca.cnf" -gencrl -out "$out"
    chmod 0644 "$out"
    mv -f "$out" "$1/crl.pem"
}

# True when CA_DIR/crl.pem exists and stays valid for more than a year.
pds_ca_crl_fresh() {
    local next
    [ -f "$1/crl.pem" ] || return 1
    next=$(openssl crl -in "$1/crl.pem" -noout -nextupdate | sed 's/^nextUpdate=//')
    [ "$(date -d "$next" +%s)" -gt $(($(date +%s) + PDS_CRL_RENEW_SECONDS)) ]
}
