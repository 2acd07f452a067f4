#!/usr/bin/env bash
# Boot the image that build.sh made once under QEMU TCG and check that the
# guest reports READY=YES to a OneGate-like HTTP server on the host.
#
# Usage: smoke.sh [IMAGE_DIR]   (default: <repo>/target/images/qemu)
#   SMOKE_TIMEOUT=60      seconds to wait for the report
#   SMOKE_POWERDOWN=1     stop the guest with QMP system_powerdown (ACPI
#                         power button) instead of quit, and check that it
#                         powers itself off
#
# The server listens on 127.0.0.1 only; the guest reaches it through a
# QEMU user-mode guestfwd (10.0.2.100:5030 in the guest), and restrict=on
# keeps the guest from reaching anything else. The guestfwd runs a small
# relay (cmd:) for each connection: a guestfwd straight to tcp:HOST:PORT
# is one host connection made when QEMU starts, and only the guest's first
# HTTP request gets through it (see README.md). The guest reports every
# 2 s (REPORT_SECONDS=2), and the check waits for two reports to prove
# that more than one connection works. QEMU's serial console goes to a
# file that is printed when the check fails.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
img=${1:-$repo/target/images/qemu}
timeout_s=${SMOKE_TIMEOUT:-60}
powerdown=${SMOKE_POWERDOWN:-0}

log() { printf 'smoke.sh: %s\n' "$*"; }
die() { printf 'smoke.sh: FAIL: %s\n' "$*" >&2; exit 1; }

for f in vmlinuz initrd.img; do
    [ -f "$img/$f" ] || die "$img/$f missing: run examples/images/qemu/build.sh first"
done
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not found (apt-get install qemu-system-x86)"
command -v python3 >/dev/null || die "python3 not found"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/flotilla-qemu-smoke.XXXXXX")
qemu_pid=
server_pid=
ok=0
cleanup() {
    local rc=$?
    if [ -n "$qemu_pid" ] && kill -0 "$qemu_pid" 2>/dev/null; then
        kill -TERM "$qemu_pid" 2>/dev/null || true
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            kill -0 "$qemu_pid" 2>/dev/null || break
            sleep 0.2
        done
        kill -KILL "$qemu_pid" 2>/dev/null || true
        wait "$qemu_pid" 2>/dev/null || true
    fi
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    if [ "$ok" != 1 ] && [ -f "$tmp/console.log" ]; then
        echo "----- guest console (last 60 lines) -----" >&2
        tail -n 60 "$tmp/console.log" >&2 || true
        echo "----- QEMU's output -----" >&2
        cat "$tmp/qemu.out" >&2 2>/dev/null || true
        echo "----- requests -----" >&2
        cat "$tmp/requests.jsonl" >&2 2>/dev/null || true
    fi
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- OneGate stand-in
cat >"$tmp/onegate.py" <<'EOF'
# Records every request as one JSON line and answers 200 with an empty body.
import http.server, json, sys, time

port_file, log_file = sys.argv[1], sys.argv[2]

class H(http.server.BaseHTTPRequestHandler):
    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode("utf-8", "replace") if n else ""
        rec = {"t": time.time(), "method": self.command, "path": self.path,
               "headers": {k.lower(): v for k, v in self.headers.items()},
               "body": body}
        with open(log_file, "a") as f:
            f.write(json.dumps(rec) + "\n")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    do_GET = do_POST = do_PUT = handle_any
    def log_message(self, *a):
        pass

srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os; os.rename(port_file + ".tmp", port_file)
srv.serve_forever()
EOF
: >"$tmp/requests.jsonl"
python3 "$tmp/onegate.py" "$tmp/port" "$tmp/requests.jsonl" &
server_pid=$!
for _ in $(seq 50); do
    [ -s "$tmp/port" ] && break
    kill -0 "$server_pid" 2>/dev/null || die "the OneGate stand-in did not start"
    sleep 0.1
done
port=$(cat "$tmp/port" 2>/dev/null) || die "the OneGate stand-in did not say its port"

# One relay per guest connection (QEMU runs it with the connection on
# stdin/stdout): copies both ways, exits when the server closes.
cat >"$tmp/relay.py" <<'EOF'
import os, selectors, socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
sel = selectors.DefaultSelector()
sel.register(0, selectors.EVENT_READ)
sel.register(s, selectors.EVENT_READ)
while True:
    for key, _ in sel.select():
        if key.fileobj == 0:
            data = os.read(0, 65536)
            if data:
                s.sendall(data)
            else:
                sel.unregister(0)
                s.shutdown(socket.SHUT_WR)
        else:
            data = s.recv(65536)
            if not data:
                sys.exit(0)
            os.write(1, data)
EOF

# ---------------------------------------------------------------- context
mkdir "$tmp/context"
cat >"$tmp/context/context.sh" <<'EOF'
# Context variables
ONEGATE_ENDPOINT='http://10.0.2.100:5030'
ONEGATE_TOKEN='abc'
VMID='7'
REPORT_SECONDS='2'
EOF

# ---------------------------------------------------------------- QEMU
# shellcheck disable=SC2054 # the commas are QEMU's
qemu_cmd=(
    qemu-system-x86_64
    -machine q35,accel=tcg -m 256 -smp 1
    -nodefaults -no-user-config -display none -no-reboot
    -kernel "$img/vmlinuz" -initrd "$img/initrd.img"
    -append "console=ttyS0 quiet panic=-1"
    -serial "file:$tmp/console.log"
    -netdev "user,id=n0,restrict=on,guestfwd=tcp:10.0.2.100:5030-cmd:python3 $tmp/relay.py $port"
    -device virtio-net-pci,netdev=n0
    -drive "file=fat:ro:$tmp/context,format=raw,if=virtio,readonly=on"
    -qmp "unix:$tmp/qmp.sock,server=on,wait=off"
)
log "OneGate stand-in on 127.0.0.1:$port; starting QEMU (TCG)"
start=$(date +%s.%N)
"${qemu_cmd[@]}" >"$tmp/qemu.out" 2>&1 &
qemu_pid=$!

# ---------------------------------------------------------------- wait for READY
# Prints the time of the first good report once there are $2 of them.
check='
import json, sys
t = []
for line in open(sys.argv[1]):
    r = json.loads(line)
    h = r["headers"]
    if (r["method"] in ("POST", "PUT") and r["path"] == "/vm"
            and h.get("x-onegate-token") == "abc"
            and h.get("x-onegate-vmid") == "7"
            and r["body"].strip() == "READY=YES"):
        t.append(r["t"])
if len(t) < int(sys.argv[2]):
    sys.exit(1)
print("%.6f" % t[0])
'
deadline=$(($(date +%s) + timeout_s))
ready_t=
elapsed=
while :; do
    if [ -z "$elapsed" ] && ready_t=$(python3 -c "$check" "$tmp/requests.jsonl" 1); then
        elapsed=$(awk -v s="$start" -v e="$ready_t" 'BEGIN { printf "%.1f", e - s }')
        log "guest reported READY=YES (POST /vm, X-ONEGATE-TOKEN: abc, X-ONEGATE-VMID: 7) ${elapsed}s after QEMU started"
        rss=$(awk '/^VmRSS/ { print $2 " " $3 }' "/proc/$qemu_pid/status" 2>/dev/null || true)
        [ -n "$rss" ] && log "QEMU VmRSS at READY: $rss (-m 256)"
    fi
    if python3 -c "$check" "$tmp/requests.jsonl" 2 >/dev/null; then
        log "second report (a new guestfwd connection) received"
        break
    fi
    if ! kill -0 "$qemu_pid" 2>/dev/null; then
        cat "$tmp/qemu.out" >&2
        qemu_pid=
        die "QEMU exited before the guest reported"
    fi
    [ "$(date +%s)" -lt "$deadline" ] || die "not two POST /vm READY=YES with X-ONEGATE-TOKEN abc and X-ONEGATE-VMID 7 within ${timeout_s}s"
    sleep 0.2
done
rss=$(awk '/^VmRSS/ { print $2 " " $3 }' "/proc/$qemu_pid/status" 2>/dev/null || true)
[ -n "$rss" ] && log "QEMU VmRSS of the idle guest: $rss (-m 256)"

# ---------------------------------------------------------------- stop via QMP
qmp() { # qmp COMMAND...: send qmp_capabilities, then each command
    python3 - "$tmp/qmp.sock" "$@" <<'EOF'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
f = s.makefile("rw")
def reply():
    while True:
        line = f.readline()
        if not line:
            return None  # QEMU closed the socket (quit)
        msg = json.loads(line)
        if "return" in msg or "error" in msg:
            return msg
json.loads(f.readline())  # greeting
for cmd in ["qmp_capabilities"] + sys.argv[2:]:
    f.write(json.dumps({"execute": cmd}) + "\n"); f.flush()
    r = reply()
    if r is not None and "error" in r:
        sys.exit("QMP %s: %s" % (cmd, r["error"]))
EOF
}
wait_exit() { # wait_exit SECONDS: 0 when QEMU has exited
    local _
    for _ in $(seq $(($1 * 10))); do
        kill -0 "$qemu_pid" 2>/dev/null || { wait "$qemu_pid" 2>/dev/null || true; return 0; }
        sleep 0.1
    done
    return 1
}
if [ "$powerdown" = 1 ]; then
    t0=$(date +%s.%N)
    qmp system_powerdown || die "QMP system_powerdown failed"
    wait_exit 30 || die "the guest did not power off within 30 s of system_powerdown"
    log "guest powered off on the ACPI power button in $(awk -v s="$t0" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')s"
else
    qmp quit || die "QMP quit failed"
    wait_exit 10 || die "QEMU still running 10 s after QMP quit"
    log "QEMU quit through QMP"
fi
qemu_pid=
# No QEMU (nor relay) of this run may be left: any process but the server
# whose command line names this run's folder.
left() {
    local c pid
    for c in /proc/[0-9]*/cmdline; do
        pid=${c#/proc/}
        pid=${pid%/cmdline}
        [ "$pid" != "$server_pid" ] && [ "$pid" != $$ ] || continue
        if tr '\0' ' ' <"$c" 2>/dev/null | grep -q -- "$tmp/"; then
            echo "$pid"
        fi
    done
}
for _ in $(seq 30); do
    [ -z "$(left)" ] && break
    sleep 0.1
done
[ -z "$(left)" ] || die "processes of this run still there: $(left)"
log "no QEMU process left"
grep -a '^flotilla-guest:' "$tmp/console.log" | sed 's/^/  console: /' || true
ok=1
log "PASS (boot to READY ${elapsed}s)"
