#!/usr/bin/env bash
# Measures login-to-ready on a second device: alice fills her settings on device A, then
# logs in on device B N times (default 20). Prints each run and the medians of the
# daemon's own figure (request received -> documents applied) and of the whole
# `pdsync device login` command as a person would time it.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20}
bash deploy/install-deps.sh >/dev/null
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DPDSYNC_BUILD_TESTS=OFF >/dev/null
cmake --build build-release -j"$(nproc)" >/dev/null
BIN=$(pwd)/build-release
RUN=$(mktemp -d /tmp/pdsync-latency-XXXXXX)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'user root\nlistener %s 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\npersistence false\n' "$port" >"$RUN/mq.conf"
mosquitto -c "$RUN/mq.conf" >"$RUN/mq.log" 2>&1 & PIDS+=($!)
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
"$BIN/server-node/pdsync-server" --broker "mqtt://127.0.0.1:$port" --store "$RUN/s.db" --log-level warn 2>"$RUN/s.log" & PIDS+=($!)
for d in a b; do
  "$BIN/client-node/pdsync-client" --broker "mqtt://127.0.0.1:$port" --device-id "dev-$d" --store "$RUN/$d.db" \
    --socket "$RUN/$d.sock" --log-level warn 2>"$RUN/$d.log" & PIDS+=($!)
done
P="$BIN/client-node/pdsync"
for d in a b; do
  for _ in $(seq 200); do "$P" device --socket "$RUN/$d.sock" --json status 2>/dev/null | grep -q '"joined":true' && break; sleep 0.05; done
done
"$P" device --socket "$RUN/a.sock" login alice >/dev/null
for i in $(seq 50); do
  "$P" device --socket "$RUN/a.sock" edit addressbook --add "{\"name\":\"Contact $i\",\"email\":\"c$i@example.com\"}" >/dev/null
done
for i in $(seq 10); do "$P" device --socket "$RUN/a.sock" edit keychain --add "{\"host\":\"srv$i\"}" >/dev/null; done
for i in $(seq 10); do "$P" device --socket "$RUN/a.sock" edit buttons --add "{\"label\":\"B$i\"}" >/dev/null; done
echo "run  daemon_ms  command_ms"
daemon=(); wall=()
for i in $(seq "$N"); do
  t0=$(date +%s%N)
  out=$("$P" device --socket "$RUN/b.sock" --json login alice)
  t1=$(date +%s%N)
  ms=$(python3 -c "import json,sys; print('%.3f' % json.loads(sys.argv[1])['ms'])" "$out")
  w=$(python3 -c "print('%.3f' % (($t1-$t0)/1e6))")
  printf '%3d  %9s  %10s\n' "$i" "$ms" "$w"
  daemon+=("$ms"); wall+=("$w")
  "$P" device --socket "$RUN/b.sock" logout >/dev/null
done
python3 - "${daemon[*]}" "${wall[*]}" <<'PY'
import statistics, sys
d = [float(x) for x in sys.argv[1].split()]; w = [float(x) for x in sys.argv[2].split()]
print(f"median login-to-ready: {statistics.median(d):.3f} ms (daemon), {statistics.median(w):.3f} ms (whole pdsync command)")
PY
