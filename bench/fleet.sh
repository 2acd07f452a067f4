#!/usr/bin/env bash
# A host lost and its VMs running elsewhere, with automatic recovery: a
# server with the embedded simulated hypervisor, HOSTS simulated hosts
# monitored every second, one service of VMS VMs spread over them; then
# one host is cut off. Prints, per size, the time until the host is in
# ERROR, until the service has replaced the host's VMs (placed elsewhere),
# and until it is RUNNING again on the other hosts.
#
#   bench/fleet.sh [HOSTS:VMS ...]     # default: 3:6 10:60 30:300
#
# `[fleet] lost_host_grace_seconds` is 0 here: the time measured is the
# server's, not a grace an operator chooses. Builds nothing: run
# `cargo build --release` first.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${FLOTILLA_BIN:-"$root/target/release/flotilla"}
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 1; }
sizes=("${@:-3:6 10:60 30:300}")
# shellcheck disable=SC2206
sizes=(${sizes[*]})
. "$root/bench/server.sh"

printf '%-6s %-6s %-22s %-26s %-22s\n' HOSTS VMS "lost -> ERROR (s)" "lost -> all replaced (s)" "lost -> RUNNING (s)"
for size in "${sizes[@]}"; do
  hosts=${size%%:*} vms=${size##*:}
  start_server '[engine]\ntick_ms = 200\n\n[sim]\nboot_seconds = 0.5\n\n[fleet]\nmonitor_interval_seconds = 1\nrecover_lost_hosts = true\nlost_host_grace_seconds = 0\n' \
    "${API_PORT:-32596}" "${SIM_PORT:-32597}"
  HOSTS=$hosts VMS=$vms API=$api SIM="http://127.0.0.1:${SIM_PORT:-32597}" AUTH=$auth python3 - <<'PY'
import base64, json, os, time, urllib.request

api, sim = os.environ["API"], os.environ["SIM"]
hosts, vms = int(os.environ["HOSTS"]), int(os.environ["VMS"])
user, password = os.environ["AUTH"].strip().split(":", 1)
basic = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

def call(base, method, path, body=None, auth=True):
    req = urllib.request.Request(base + path, method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json",
                 **({"Authorization": basic} if auth else {})})
    with urllib.request.urlopen(req, timeout=60) as r:
        text = r.read()
        return json.loads(text) if text else None

for n in range(1, hosts + 1):
    call(sim, "POST", "/hosts", {"name": f"h{n}", "cpu": 64, "memory_mb": 262144}, auth=False)
    call(api, "POST", "/host", {"name": f"h{n}", "driver": "sim", "address": f"h{n}"})
call(api, "POST", "/vm_template", {"name": "small", "template": {"CPU": "0.5", "MEMORY": "256"}})
call(api, "POST", "/service_template", {"name": "app", "roles": [
    {"name": "app", "type": "vm", "cardinality": vms, "template_id": 0}]})
sid = call(api, "POST", "/service_template/0/action",
           {"action": {"perform": "instantiate"}})["DOCUMENT"]["ID"]

def body():
    return call(api, "GET", f"/service/{sid}")["DOCUMENT"]["TEMPLATE"]["BODY"]

def placed(b):
    return [n["vm_info"]["VM"].get("HISTORY_RECORDS", {}).get("HISTORY", {}).get("HOSTNAME")
            for n in b["roles"][0]["nodes"]]

def wait(what, check, limit=600):
    deadline = time.time() + limit
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise SystemExit(f"{what}: not within {limit} s")

wait("deployed", lambda: body()["state"] == 2)
lost = "h1"
call(sim, "PUT", f"/hosts/{lost}/reachable", {"reachable": False}, auth=False)
t0 = time.time()
wait("host in ERROR", lambda: call(api, "GET", "/host/0")["state"] == "ERROR")
t_error = time.time() - t0
wait("replaced", lambda: (lambda p: len(p) == vms and lost not in p)(placed(body())))
t_placed = time.time() - t0
wait("running", lambda: (lambda b: b["state"] == 2 and lost not in placed(b))(body()))
t_running = time.time() - t0
print(f"{hosts:<6} {vms:<6} {t_error:<22.2f} {t_placed:<26.2f} {t_running:<22.2f}")
PY
  stop_server
  trap - EXIT
done
