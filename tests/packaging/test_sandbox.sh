#!/usr/bin/env bash
# The admin socket comes up under the shipped pdsync-server unit's sandbox. systemd does not
# run here, so the sandbox is emulated in a mount namespace (sandbox_inner.sh) from the
# installed unit's own settings: ProtectSystem=strict (every mount read-only), PrivateTmp=,
# ReadWritePaths= (the store), RuntimeDirectory= (a directory under a private /run), User=
# with no capability. The real pdsync-server starts there against a real mosquitto on a free
# port, and the installed `pdsync status` reaches it through /run/pdsync/server.sock.
# Without the RuntimeDirectory the same start must fail: the emulation is strict enough to
# show what RuntimeDirectory= fixes. Usage: test_sandbox.sh ROOT (an installed tree).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need mosquitto mosquitto_sub unshare setpriv python3

INSTALL_ROOT=$(cd "${1:?usage: test_sandbox.sh ROOT}" && pwd)
unit=$INSTALL_ROOT/lib/systemd/system/pdsync-server.service
[ -f "$unit" ] || { fail "pdsync-server.service is installed"; finish; exit 1; }

unit_value() { sed -n "s/^$1=//p" "$unit" | tail -n 1; }
check "the unit sets ProtectSystem=strict" test "$(unit_value ProtectSystem)" = strict
check "the unit sets PrivateTmp=true" test "$(unit_value PrivateTmp)" = true
runtime_dir=$(unit_value RuntimeDirectory)
runtime_mode=$(unit_value RuntimeDirectoryMode)
service_umask=$(unit_value UMask)
service_user=$(unit_value User)
read -r -a exec_start <<<"$(unit_value ExecStart)"
check "the unit runs a dedicated user, not root" test -n "$service_user" -a "$service_user" != root

# The unit's user where the package made it here, else nobody: what the sandbox must allow
# is a daemon that is not root and holds no capability.
if id -u "$service_user" >/dev/null 2>&1; then sd_user=$service_user; else sd_user=nobody; fi
uid=$(id -u "$sd_user")
gid=$(id -g "$sd_user")

# A real broker on a free port.
PORT=$(free_port)
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$PORT" >"$T/mosquitto.conf"
mosquitto -c "$T/mosquitto.conf" >"$T/broker.log" 2>&1 &
BG_PIDS+=($!)
wait_until "$DEADLINE_S" port_open "$PORT" || { fail "the broker listens" "$(cat "$T/broker.log")"; finish; exit 1; }

# The config the unit's ExecStart names, in the test's place; the store directory stands in
# for the unit's ReadWritePaths (owned by the service user, as the postinst makes it). The
# admin socket is left at its default, /run/pdsync/server.sock, as the packaged config does.
# A directory the service user owns but the unit does not list in ReadWritePaths: only
# ProtectSystem=strict keeps the service from writing there.
mkdir -p "$T/owned-by-service"
chown "$uid:$gid" "$T/owned-by-service"
run_sandboxed() {  # run_sandboxed RUNTIME_DIR|- LOG_NAME (written in the store directory)
    local data=$T/data-$1 argv=() i
    mkdir -p "$data"
    chown "$uid:$gid" "$data"
    chmod 0700 "$data"
    printf 'broker = "mqtt://127.0.0.1:%s"\nstore = "%s/server.db"\nserver-id = "pdsync-server-%s"\n' \
        "$PORT" "$data" "$1" >"$T/server-$1.conf"
    chmod 0644 "$T/server-$1.conf"
    argv=("${exec_start[@]}")
    argv[0]=$INSTALL_ROOT${argv[0]}
    for i in "${!argv[@]}"; do
        [ "${argv[i]}" = --config ] && argv[i + 1]=$T/server-$1.conf
    done
    unshare -m --propagation private "$REPO/tests/packaging/sandbox_inner.sh" "$2" "$1" \
        "${runtime_mode:-0755}" "$uid" "$gid" "${service_umask:-0022}" "$data" \
        "$T/owned-by-service/probe" "$INSTALL_ROOT/usr/bin/pdsync" "$PORT" \
        "pds/v1/server/status" -- "${argv[@]}"
}

out=$(run_sandboxed "$runtime_dir" server.log 2>&1 || true)
report() { sed -n "s/^$1 //p" <<<"$out" | head -n 1; }
check "the service user cannot write to a directory it owns outside ReadWritePaths (ProtectSystem=strict)" \
    test "$(report probe_written)" = no
if [ "$(report socket)" = "$uid:$gid 660" ]; then
    pass "the admin socket /run/pdsync/server.sock comes up, owned by $sd_user, mode 0660"
else
    fail "the admin socket /run/pdsync/server.sock comes up, owned by $sd_user, mode 0660" \
        "$out
$(tail -n 20 "$T/data-$runtime_dir/server.log")"
fi
check "the store is created by $sd_user with mode 0600 (UMask=$service_umask)" \
    test "$(report store)" = "$uid 600"
if grep -q "\"server_id\": *\"pdsync-server-$runtime_dir\"" <<<"$(report status)"; then
    pass "pdsync status gets the server's answer through the socket"
else
    fail "pdsync status gets the server's answer through the socket" "$(report status)"
fi
check "the sandboxed server is connected: its status is retained on the broker" \
    test "$(report published)" = pds/v1/server/status
check "the server stops cleanly on SIGTERM" test "$(report exit)" = 0

# Negative control: the same sandbox without RuntimeDirectory=, as the unit was before.
out=$(run_sandboxed - server.log 2>&1 || true)
if [ -z "$(report socket)" ] && grep -q "/run/pdsync/server.sock" <<<"$(report socket_error)"; then
    pass "without RuntimeDirectory= the admin socket cannot be created: $(report socket_error | sed 's/.*error \[server\] //')"
else
    fail "without RuntimeDirectory= the admin socket cannot be created" \
        "$out
$(tail -n 5 "$T/data--/server.log")"
fi
finish
