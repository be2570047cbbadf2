#!/usr/bin/env bash
# The installed systemd units pass `systemd-analyze verify` and are rated 3.0 or less by
# `systemd-analyze security --offline=true` (systemd's exposure score: 0 is fully sandboxed,
# 10 is none). Usage: test_units.sh ROOT, where ROOT holds an installed tree
# (ROOT/lib/systemd/system and ROOT/usr/bin): a `cmake --install` DESTDIR or a `dpkg -x`.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need systemd-analyze

INSTALL_ROOT=$(cd "${1:?usage: test_units.sh ROOT}" && pwd)
UNITS=$INSTALL_ROOT/lib/systemd/system
MAX_EXPOSURE=3.0

# systemd-analyze verify --root loads the units' dependencies (sysinit.target, ...) and
# checks that each command exists and is executable inside the root. The installed tree
# has only pdsync's files, so verify runs on a copy of it plus what the packages depend on:
# the host's targets, mosquitto and kill.
vroot=$T/verify-root
mkdir -p "$vroot/lib/systemd/system" "$vroot/usr/sbin" "$vroot/bin"
cp -al "$INSTALL_ROOT/usr" "$vroot/" 2>/dev/null || cp -a "$INSTALL_ROOT/usr" "$vroot/"
cp "$UNITS"/*.service "$vroot/lib/systemd/system/"
cp /lib/systemd/system/*.target "$vroot/lib/systemd/system/"
cp "$(command -v mosquitto)" "$vroot/usr/sbin/mosquitto"
cp /bin/kill "$vroot/bin/kill"

for unit in pdsync-server.service pdsync-client.service mosquitto-pdsync.service; do
    file=$UNITS/$unit
    if [ ! -f "$file" ]; then
        fail "$unit is installed in /lib/systemd/system"
        continue
    fi
    pass "$unit is installed in /lib/systemd/system"

    # A unit naming the wrong bindir fails here: its ExecStart is not in the tree.
    if out=$(systemd-analyze verify --man=no --generators=no --root="$vroot" \
        "/lib/systemd/system/$unit" 2>&1) && ! grep -q . <<<"$out"; then
        pass "$unit: systemd-analyze verify reports nothing"
    else
        fail "$unit: systemd-analyze verify reports nothing" "$out"
    fi

    out=$(systemd-analyze security --offline=true --root="$INSTALL_ROOT" \
        "/lib/systemd/system/$unit" 2>&1 || true)
    score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$out")
    if [ -z "$score" ]; then
        fail "$unit: systemd-analyze security gives a score" "$out"
    elif awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s <= m) }'; then
        pass "$unit: exposure $score <= $MAX_EXPOSURE"
    else
        fail "$unit: exposure $score <= $MAX_EXPOSURE" "$(grep '✗' <<<"$out")"
    fi
done

# The sandbox needs what the daemons write to be writable, and a dedicated user.
server=$UNITS/pdsync-server.service
check "pdsync-server.service runs as the pdsync user" grep -qx 'User=pdsync' "$server"
check "pdsync-server.service has RuntimeDirectory=pdsync (the admin socket)" \
    grep -qx 'RuntimeDirectory=pdsync' "$server"
check "pdsync-client.service runs as the pdsync user" grep -qx 'User=pdsync' "$UNITS/pdsync-client.service"
check "mosquitto-pdsync.service runs as the mosquitto user" \
    grep -qx 'User=mosquitto' "$UNITS/mosquitto-pdsync.service"
finish
