#!/usr/bin/env bash
# Real VMs through the qemu driver (TCG here): the time to RUNNING of a
# one-VM service behind the ready gate (a VM's boot to READY=YES through
# OneGate, from inside the guest) and of a three-role `straight` service
# behind the gate, three runs each; then `flotilla bench qemu` for VMS VMs:
# the time until QEMU runs them all, one poll of them all, an idle VM's
# memory.
#
#   bench/qemu.sh [RUNS] [VMS]
#
# Builds nothing of Flotilla: run `cargo build --release` first. Needs
# qemu-system-x86, qemu-utils, socat, curl and jq; builds the guest image
# into target/images/qemu if it is missing.
set -euo pipefail

runs=${1:-3}
vms=${2:-50}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${FLOTILLA_BIN:-"$root/target/release/flotilla"}
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 1; }
img="$root/target/images/qemu"
[ -f "$img/vmlinuz" ] || "$root/examples/images/qemu/build.sh" "$img" >&2
og=${OG_PORT:-32530}

# The grant `flotilla plugin grant qemu` writes, for this data directory.
write_config() {
  local data=$1 state=$1/qemu
  mkdir -p "$state" "$data/images"
  cat >"$data/flotilla.toml" <<TOML
[sim]
enabled = false
[engine]
driver = "qemu"
tick_ms = 500
[onegate]
listen = "127.0.0.1:$og"
TOML
  "$bin" plugin grant qemu --state-dir "$state" --image-dir "$data/images" \
    --kernel "$img/vmlinuz" --initrd "$img/initrd.img" --onegate-port "$og" \
    --write "$data/flotilla.toml" >/dev/null
}

data=$(mktemp -d)
write_config "$data"
"$bin" serve --data-dir "$data" --listen "127.0.0.1:${API_PORT:-32474}" >"$data/serve.log" 2>&1 &
server=$!
cleanup() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  pkill -9 -f "$data/qemu" 2>/dev/null || true
  rm -rf "$data"
}
trap cleanup EXIT
api="http://127.0.0.1:${API_PORT:-32474}"
for _ in $(seq 1 100); do
  [ -s "$data/one_auth" ] && curl -sf "$api/health" >/dev/null && break
  sleep 0.1
done
auth=$(cat "$data/one_auth")
curl -sfu "$auth" -X POST "$api/vm_template" -d '{"name": "tiny", "template": {"CPU": "1", "MEMORY": "256"}}' >/dev/null
role() { echo "{\"name\": \"$1\", \"type\": \"vm\", \"cardinality\": 1, \"template_id\": 0, \"parents\": [$2], \"template_contents\": {\"NIC\": [{}]}}"; }
curl -sfu "$auth" -X POST "$api/service_template" -d "{\"name\": \"one\", \"ready_status_gate\": true, \"roles\": [$(role vm '')]}" >/dev/null
curl -sfu "$auth" -X POST "$api/service_template" -d "{\"name\": \"three\", \"deployment\": \"straight\", \"ready_status_gate\": true,
  \"roles\": [$(role db ''), $(role app '"db"'), $(role web '"app"')]}" >/dev/null

# Seconds from instantiate to RUNNING, then undeploy and wait until gone.
time_to_running() {
  local start id state
  start=$(date +%s.%N)
  id=$(curl -sfu "$auth" -X POST "$api/service_template/$1/action" -d '{"action": {"perform": "instantiate"}}' | jq -r .DOCUMENT.ID)
  for _ in $(seq 1 1200); do
    state=$(curl -sfu "$auth" "$api/service/$id" | jq .DOCUMENT.TEMPLATE.BODY.state)
    [ "$state" = 2 ] && break
    sleep 0.05
  done
  [ "$state" = 2 ] || { echo "service $id did not reach RUNNING; see $data/serve.log" >&2; exit 1; }
  echo "$(date +%s.%N) - $start" | bc -l
  curl -sfu "$auth" -X DELETE "$api/service/$id" >/dev/null
  for _ in $(seq 1 600); do
    curl -sfu "$auth" "$api/service/$id" >/dev/null || break
    sleep 0.1
  done
}

printf '%-58s %s\n' measurement seconds
for i in $(seq 1 "$runs"); do
  printf '%-58s %.2f\n' "one VM, ready gate: boot to READY through OneGate (run $i)" "$(time_to_running 0)"
done
for i in $(seq 1 "$runs"); do
  printf '%-58s %.2f\n' "three roles, straight, ready gate: to RUNNING (run $i)" "$(time_to_running 1)"
done
kill "$server"; wait "$server" 2>/dev/null || true

# The driver alone, many VMs.
"$bin" bench qemu --config "$data/flotilla.toml" --vms "$vms"
