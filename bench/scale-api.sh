#!/usr/bin/env bash
# Scaling one role through the REST API of a real server: the time from
# `POST /service/ID/scale` until the service is RUNNING again, for each
# size. Zero boot time, rounds every 50 ms.
#
#   bench/scale-api.sh [SIZE ...]          # default: 1000 2500 5000
#   FLOTILLA_BIN=/path/to/flotilla bench/scale-api.sh 1000
#
# Builds nothing: run `cargo build --release` first.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${FLOTILLA_BIN:-"$root/target/release/flotilla"}
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 1; }
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000 2500 5000)
limit=${LIMIT_SECONDS:-120}
. "$root/bench/server.sh"

for size in "${sizes[@]}"; do
  start_server '[engine]\ntick_ms = 50\n\n[sim]\nboot_seconds = 0\n' \
    "${API_PORT:-32494}" "${SIM_PORT:-32495}"
  SIZE=$size API=$api AUTH=$auth LIMIT=$limit python3 - <<'PY'
import base64, json, os, time, urllib.request
api, size, limit = os.environ["API"], int(os.environ["SIZE"]), float(os.environ["LIMIT"])
auth = "Basic " + base64.b64encode(os.environ["AUTH"].strip().encode()).decode()
def call(method, path, body=None):
    req = urllib.request.Request(api + path, method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": auth})
    with urllib.request.urlopen(req, timeout=limit) as r:
        text = r.read()
        return json.loads(text) if text else None
def state(sid):
    return call("GET", f"/service/{sid}")["DOCUMENT"]["TEMPLATE"]["BODY"]["state"]
def wait_running(sid, since):
    while time.time() - since < limit:
        if state(sid) == 2:
            return time.time() - since
        time.sleep(0.05)
    return None
call("POST", "/vm_template", {"name": "small", "template": {"CPU": "1", "MEMORY": "256"}})
call("POST", "/service_template", {"name": "scale", "roles": [
    {"name": "web", "type": "vm", "cardinality": 1, "template_id": 0, "cooldown": 0}]})
sid = call("POST", "/service_template/0/action",
           {"action": {"perform": "instantiate"}})["DOCUMENT"]["ID"]
wait_running(sid, time.time())
started = time.time()
try:
    call("POST", f"/service/{sid}/scale", {"role_name": "web", "cardinality": size, "force": True})
    took = wait_running(sid, started)
except Exception as e:  # a server that does not answer within the limit
    took = None
print(f"{size:>6} VMs: " + (f"{took:.2f} s ({took * 1e6 / size:.0f} µs/VM)" if took else f"not RUNNING within {limit:.0f} s"))
PY
  stop_server
  trap - EXIT
done
