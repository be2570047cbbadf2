#!/usr/bin/env bash
# The main job on one machine: installs what is needed, builds pdsync, starts a local
# broker, the server node and two devices on loopback, set up in the four steps of
# docs/deploying.md (the devices join with the join code alone), and shows alice's
# settings following her from device A to device B. Every process it starts is stopped by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

bash deploy/install-deps.sh >/dev/null
echo "== building pdsync (Release)"
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DPDSYNC_BUILD_TESTS=OFF >/dev/null
cmake --build build-release -j"$(nproc)" >/dev/null
BIN=$ROOT/build-release

RUN=$(mktemp -d /tmp/pdsync-quickstart-XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  echo "== stopped everything; logs are in $RUN"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
wait_for() {  # wait_for DESCRIPTION COMMAND...: polls until COMMAND succeeds (15 s deadline)
  local what=$1; shift
  for _ in $(seq 150); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "timed out waiting for $what" >&2; return 1
}

# The four steps of docs/deploying.md, on loopback: the broker runs as root inside this
# run's own directory, and its TLS listener (the only one) binds 127.0.0.1.
FLEET=$RUN/fleet
step "1. the server machine: fleet-init.sh (CA, broker with the dynamic security plugin, server config)"
web_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
PDSYNC_SERVER_BIN="$BIN/server-node/pdsync-server" \
bash deploy/fleet-init.sh "$FLEET" --tls-port "$port" --tls-addr 127.0.0.1 --server-host localhost \
  --run-user root --data-dir "$RUN/data" --bindir "$BIN" --server-device-id srv-mfp \
  --web-listen "127.0.0.1:$web_port" >"$RUN/fleet-init.log" 2>&1
mosquitto -c "$FLEET/mosquitto.conf" >"$RUN/mosquitto.log" 2>&1 & PIDS+=($!)
wait_for "the broker" bash -c "exec 3<>/dev/tcp/127.0.0.1/$port"
"$BIN/server-node/pdsync-server" --config "$FLEET/pdsync-server.conf" --admin-socket "$RUN/server.sock" \
  --backup-dir "$RUN/backups" --log-file "$RUN/server.log" --log-level warn 2>/dev/null & PIDS+=($!)
wait_for "the server's broker rights" bash -c "'$BIN/client-node/pdsync' join-code --server-socket '$RUN/server.sock' --json | grep -q '\"broker_ready\":true'"

step "2. the join code (pdsync join-code)"
"$BIN/client-node/pdsync" join-code --server-socket "$RUN/server.sock"
CODE=$("$BIN/client-node/pdsync" join-code --server-socket "$RUN/server.sock" --json | sed -n 's/.*"join_code":"\([^"]*\)".*/\1/p')

for dev in dev-a dev-b; do
  "$BIN/client-node/pdsync-client" --device-id "$dev" --store "$RUN/$dev.db" --socket "$RUN/$dev.sock" \
    --location "floor 2" --log-file "$RUN/$dev.log" --log-level warn 2>/dev/null & PIDS+=($!)
done
for dev in dev-a dev-b; do
  wait_for "device $dev" "$BIN/client-node/pdsync" device --socket "$RUN/$dev.sock" status
  step "3. device $dev: pdsync device enable --server localhost:$port --join-code $CODE"
  "$BIN/client-node/pdsync" device --socket "$RUN/$dev.sock" enable --server "localhost:$port" --join-code "$CODE"
done
pdsync() { "$BIN/client-node/pdsync" "$@"; }
A=(device --socket "$RUN/dev-a.sock")
B=(device --socket "$RUN/dev-b.sock")
for s in "$RUN/dev-a.sock" "$RUN/dev-b.sock"; do
  wait_for "device join" bash -c "'$BIN/client-node/pdsync' device --socket '$s' --json status | grep -q '\"joined\":true'"
done
pdsync "${A[@]}" status

step "alice logs in on device A"
pdsync "${A[@]}" login alice
step "alice adds two address-book entries, a personal button and a device-only entry on A"
pdsync "${A[@]}" edit addressbook --id bob --add '{"name":"Bob Smith","email":"bob@example.com"}'
pdsync "${A[@]}" edit addressbook --id carol --add '{"name":"Carol Jones","fax":"+1 555 0100"}'
pdsync "${A[@]}" edit buttons --id scan-to-me --add '{"label":"Scan to my mail","function":"scan","dest":"bob"}'
pdsync "${A[@]}" edit keychain --id nas --add '{"host":"nas.corp","share":"scans","smb_password":"s3cret"}'
pdsync "${A[@]}" edit addressbook --id front-desk --range device --add '{"name":"Front desk (this machine only)"}'
pdsync "${A[@]}" show --category addressbook
pdsync "${A[@]}" logout

step "alice walks to device B and logs in: her settings are there"
pdsync "${B[@]}" login alice
pdsync "${B[@]}" show --category addressbook
pdsync "${B[@]}" show --category buttons
echo "(her keychain password was sealed on A with her own key, which the server sends only with her logins, sealed to each device's key; B opens it because she logged in there:)"
pdsync "${B[@]}" show --category keychain
step "on B she moves carol to the top; A sees the same order at her next login"
pdsync "${B[@]}" edit addressbook --move carol --after ""
pdsync "${B[@]}" logout
pdsync "${A[@]}" login alice
pdsync "${A[@]}" show --category addressbook

step "4. the administrator checks the status on the server machine"
pdsync status --server-socket "$RUN/server.sock"
echo
echo "The same status on the server's web page: https://localhost:$web_port/ (password in $FLEET/secrets/web-admin.password)"
wait_for "the web page" bash -c "exec 3<>/dev/tcp/127.0.0.1/$web_port"
echo
echo "Done: the device-only entry stayed on A; everything else followed alice."
