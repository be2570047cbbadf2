#!/usr/bin/env bash
# An unknown key in a daemon's config file is an error that names the key and the file, for
# pdsync-server and pdsync-client, while every key of the configs deploy/fleet-init.sh and
# deploy/enroll-device.sh write is accepted. `--help` makes each run stop right after the
# options and the config file are parsed, so no broker is needed.
# Usage: test_config_keys.sh BINDIR (holding pdsync-server and pdsync-client).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need openssl mosquitto_passwd

BIN=$(cd "${1:?usage: test_config_keys.sh BINDIR}" && pwd)

# expect_refused DAEMON FILE KEY [key|section]: the run fails, and stderr names KEY and FILE.
expect_refused() {
    local daemon=$1 file=$2 key=$3 what=${4:-key} rc=0 err
    err=$("$BIN/$daemon" --config "$file" --help 2>&1 >/dev/null) || rc=$?
    if [ "$rc" -ne 0 ] && grep -qF "unknown $what '$key' in config file '$file'" <<<"$err"; then
        pass "$daemon refuses unknown $what '$key' (exit $rc) and names it"
    else
        fail "$daemon refuses unknown $what '$key' and names it" "exit $rc: $err"
    fi
}
expect_accepted() {
    local daemon=$1 file=$2 what=$3 rc=0 err
    err=$("$BIN/$daemon" --config "$file" --help 2>&1 >/dev/null) || rc=$?
    if [ "$rc" -eq 0 ]; then pass "$daemon accepts $what"; else fail "$daemon accepts $what" "exit $rc: $err"; fi
}

# A typo of a real key: with CLI11's default it would be skipped and the default broker used.
printf 'brokr = "mqtt://10.0.0.5:1883"\nstore = "/x/server.db"\n' >"$T/typo.conf"
expect_refused pdsync-server "$T/typo.conf" brokr
printf 'device-id = "mfp-1"\nbrokr = "mqtt://10.0.0.5:1883"\n' >"$T/client-typo.conf"
expect_refused pdsync-client "$T/client-typo.conf" brokr
# The daemons declare no section: a "[backup]" line (keys meant as backup-keep, ...) is one.
printf 'store = "/x/server.db"\n[backup]\nkeep = 3\n' >"$T/section.conf"
expect_refused pdsync-server "$T/section.conf" backup section
# Control bytes in a key are escaped, never echoed raw to a terminal or a log.
printf 'store = "/x/server.db"\nbro\033[2Jker = "x"\n' >"$T/escape.conf"
err=$("$BIN/pdsync-server" --config "$T/escape.conf" --help 2>&1 >/dev/null || true)
if grep -qF "unknown key 'bro\\x1b[2Jker'" <<<"$err" && ! grep -q $'\033' <<<"$err"; then
    pass "pdsync-server escapes a control byte in the key it names"
else
    fail "pdsync-server escapes a control byte in the key it names" "$err"
fi
# The same file without the typo is accepted (the refusal is about the key, not the file).
printf 'broker = "mqtt://10.0.0.5:1883"\nstore = "/x/server.db"\n' >"$T/good.conf"
expect_accepted pdsync-server "$T/good.conf" "the corrected file"
printf 'device-id = "mfp-1"\nbroker = "mqtt://10.0.0.5:1883"\n' >"$T/client-good.conf"
expect_accepted pdsync-client "$T/client-good.conf" "the corrected file"

# The configs the deploy scripts write use only keys the daemons declare.
fleet=$T/fleet
# The password-file mode: enroll-device.sh then needs no running server to write a config.
if "$REPO/deploy/fleet-init.sh" "$fleet" --server-host localhost --tls-addr 127.0.0.1 \
    --broker-auth passwd --run-user "$(id -un)" >"$T/fleet-init.log" 2>&1 \
    && "$REPO/deploy/enroll-device.sh" "$fleet" mfp-1 >>"$T/fleet-init.log" 2>&1; then
    expect_accepted pdsync-server "$fleet/pdsync-server.conf" "the config fleet-init.sh writes"
    mkdir -p "$T/bundle"
    tar -xzf "$fleet/devices/mfp-1.tar.gz" -C "$T/bundle"
    expect_accepted pdsync-client "$T/bundle/pdsync-client.conf" "the config enroll-device.sh writes"
else
    fail "deploy/fleet-init.sh and enroll-device.sh make a fleet" "$(tail -n 20 "$T/fleet-init.log")"
fi
finish
