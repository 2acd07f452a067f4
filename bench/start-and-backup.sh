#!/usr/bin/env bash
# Time from start to READY with many services stored, and the time and size
# of a backup of that store.
#
#   FLOTILLA_BIN=target/release/flotilla SERVICES=1000 bench/start-and-backup.sh
#
# A server on loopback fills a fresh data directory with SERVICES services
# of two VMs each (simulated, zero boot time) and is stopped; then the
# server is started again RUNS times under a notify socket (as systemd
# would), timing from the spawn to READY=1; then `flotilla backup` copies
# the store. Everything it starts is stopped and removed when it ends.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${FLOTILLA_BIN:-$root/target/release/flotilla}
services=${SERVICES:-1000}
runs=${RUNS:-3}
data=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
    rm -rf "$data"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
api=$(port); sim=$(port)
printf '[engine]\ntick_ms = 200\n\n[sim]\nboot_seconds = 0\n' > "$data/flotilla.toml"
FLOTILLA_DATA_DIR=$data "$bin" serve --listen 127.0.0.1:$api --sim-listen 127.0.0.1:$sim 2>/dev/null &
pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$api/health" >/dev/null && break; sleep 0.1; done
auth=$(cat "$data/one_auth")
curl -sf -u "$auth" "http://127.0.0.1:$api/vm_template" -d '{"name": "small", "template": {"CPU": "1", "MEMORY": "256"}}' >/dev/null
curl -sf -u "$auth" "http://127.0.0.1:$api/service_template" \
    -d '{"name": "app", "roles": [{"name": "web", "type": "vm", "cardinality": 2, "template_id": 0}]}' >/dev/null
for _ in $(seq "$services"); do
    curl -sf -u "$auth" "http://127.0.0.1:$api/service_template/0/action" \
        -d '{"action": {"perform": "instantiate"}}' >/dev/null
done
for _ in $(seq 600); do
    running=$(curl -sf -u "$auth" "http://127.0.0.1:$api/service" | grep -o '"state":2,' | wc -l)
    [ "$running" -ge "$services" ] && break
    sleep 0.5
done
echo "stored: $services services, $running RUNNING"
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=

for run in $(seq "$runs"); do
    python3 - "$bin" "$data" "$api" "$sim" <<'PY'
import os, socket, subprocess, sys, tempfile, time
bin, data, api, sim = sys.argv[1:]
path = os.path.join(tempfile.mkdtemp(), "notify")
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(120)
env = dict(os.environ, FLOTILLA_DATA_DIR=data, NOTIFY_SOCKET=path)
start = time.monotonic()
p = subprocess.Popen([bin, "serve", "--listen", f"127.0.0.1:{api}", "--sim-listen", f"127.0.0.1:{sim}"],
                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    while True:
        m = s.recv(4096).decode()
        if "READY=1" in m:
            print(f"start to READY: {(time.monotonic() - start) * 1000:.0f} ms ({m.splitlines()[-1]})")
            break
finally:
    p.terminate(); p.wait()
PY
done

FLOTILLA_DATA_DIR=$data "$bin" serve --listen 127.0.0.1:$api --sim-listen 127.0.0.1:$sim 2>/dev/null &
pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$api/ready" >/dev/null && break; sleep 0.1; done
echo "database: $(du -b "$data/flotilla.db" | cut -f1) bytes (+ WAL $(du -b "$data/flotilla.db-wal" 2>/dev/null | cut -f1 || echo 0))"
for run in $(seq "$runs"); do
    FLOTILLA_DATA_DIR=$data "$bin" backup "$data/backup-$run.db"
done
