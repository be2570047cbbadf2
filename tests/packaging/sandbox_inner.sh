#!/usr/bin/env bash
# Runs inside `unshare -m` for test_sandbox.sh: builds the file system view a systemd unit
# with ProtectSystem=strict, PrivateTmp=, ReadWritePaths= and RuntimeDirectory= gives its
# service, then starts the service as its user with no capability and reports, one
# "key value" line each, what the test asserts. Only this mount namespace sees the changes.
#   sandbox_inner.sh LOG RUNTIME_DIR|- MODE UID GID UMASK RW_DIR PROBE CLI PORT TOPIC -- ARGV...
# LOG is the service's output file, inside RW_DIR: a file open for writing on a mount would
# make its read-only remount fail (EBUSY).
# PROBE is a path the service must not be able to create; CLI the pdsync command that asks
# the server for its status through the admin socket; PORT the broker's, where the server
# publishes its retained status on TOPIC.
# RUNTIME_DIR '-' leaves the RuntimeDirectory out (the test's negative control).
set -euo pipefail
log=$1 runtime=$2 mode=$3 uid=$4 gid=$5 um=$6 rw=$7 probe=$8 cli=$9 port=${10} status_topic=${11}
shift 11
[ "$1" = -- ] && shift

as_service() {
    exec setpriv --reuid="$uid" --regid="$gid" --clear-groups --inh-caps=-all --bounding-set=-all \
        --no-new-privs -- "$@"
}

mount --make-rprivate /
# PrivateTmp=: the service's own /tmp and /var/tmp.
mount -t tmpfs -o mode=1777 tmpfs /tmp
[ -d /var/tmp ] && mount -t tmpfs -o mode=1777 tmpfs /var/tmp
# /run is a tmpfs under systemd; this one is private to the namespace. RuntimeDirectory=
# makes /run/NAME owned by the service user with RuntimeDirectoryMode=.
mount -t tmpfs -o mode=0755 tmpfs /run
if [ "$runtime" != - ]; then
    mkdir -m "$mode" "/run/$runtime"
    chown "$uid:$gid" "/run/$runtime"
fi
# ProtectSystem=strict: every mount read-only but the API file systems.
awk '{print $2}' /proc/self/mounts | grep -Ev '^/(proc|sys|dev)(/|$)' | grep -v '\\' | sort -u |
    while read -r m; do mount -o remount,bind,ro "$m" 2>/dev/null || true; done
touch /.pdsync-probe 2>/dev/null && { echo "root_writable yes"; exit 1; }
touch /run/.pdsync-probe 2>/dev/null && { echo "run_writable yes"; exit 1; }
# ReadWritePaths= and the runtime directory: writable again.
dirs=("$rw")
[ "$runtime" = - ] || dirs+=("/run/$runtime")
for dir in "${dirs[@]}"; do
    mount --bind "$dir" "$dir"
    mount -o remount,bind,rw "$dir"
done

exec 3>>"$rw/$log"

# What the service user can write outside those: nothing.
if (as_service touch "$probe") 2>/dev/null; then echo "probe_written yes"; else echo "probe_written no"; fi

umask "$um"
as_service "$@" >&3 2>&3 &
pid=$!
socket=/run/pdsync/server.sock
end=$(($(date +%s%N) + 15000000000))
# Up: the socket exists. Down: the server said it has no admin socket (it goes on serving
# devices without one), or it exited.
socket_error() { grep -m 1 'admin socket unavailable' "$rw/$log"; }
while kill -0 "$pid" 2>/dev/null && [ ! -S "$socket" ] && ! socket_error >/dev/null &&
    [ "$(date +%s%N)" -lt "$end" ]; do
    sleep 0.02
done
if [ -S "$socket" ]; then
    echo "socket $(stat -c '%u:%g %a' "$socket")"
    echo "store $(stat -c '%u %a' "$rw"/*.db 2>/dev/null | head -n 1)"
    # Ask the server through its socket, as an administrator (root) would; and read the
    # status it publishes retained on the broker, which shows it connected from the sandbox.
    echo "status $("$cli" status --json --server-socket "$socket" 2>&1 | tr -d '\n' || true)"
    echo "published $(mosquitto_sub -h 127.0.0.1 -p "$port" -t "$status_topic" -C 1 -W 10 \
        -F '%t' 2>&1 || true)"
else
    echo "socket_error $(socket_error || true)"
fi
kill "$pid" 2>/dev/null || true
rc=0
wait "$pid" || rc=$?
echo "exit $rc"
