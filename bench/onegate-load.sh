#!/usr/bin/env bash
# OneGate under load, and the API beside it, while wrk measures GET of a
# small service on the API:
#
# - quiet:     a 1,000-VM service whose VMs say nothing;
# - reporting: its VMs each report through OneGate every second (real HTTP
#              `PUT /vm`, from the embedded simulated hypervisor);
# - polling:   its VMs each read their service (`GET /service`, the whole
#              1,000-VM service) once a second: a second wrk, one
#              connection per VM, each request with the next VM's token.
#
# Side by side they show what the VMs' traffic costs the API.
#
#   bench/onegate-load.sh [DURATION] [CONNECTIONS] [VMS] [RUNS...]
#
# RUNS defaults to `quiet reporting polling`. With FLOTILLA_BIN_BEFORE set
# to another build, `polling` is measured with it too (labelled "before"),
# in the same invocation.
#
# Builds nothing: run `cargo build --release` first. Needs wrk (Debian
# package `wrk`), curl, jq and bc.
set -euo pipefail

duration=${1:-30s}
connections=${2:-64}
vms=${3:-1000}
shift $(( $# < 3 ? $# : 3 ))
runs=("${@:-quiet}")
[ $# -eq 0 ] && runs=(quiet reporting polling)
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${FLOTILLA_BIN:-"$root/target/release/flotilla"}
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 1; }
after=$bin
for tool in wrk jq curl bc; do
  command -v $tool >/dev/null || { echo "$tool is missing: apt-get install $tool" >&2; exit 1; }
done
. "$root/bench/server.sh"

# One run ($1: quiet, reporting or polling; $2: a label).
run() {
  local mode=$1 label=$2 og_port=${OG_PORT:-32530} report=NO
  [ "$mode" = reporting ] && report=YES
  start_server "[sim]\nboot_seconds = 0\n[engine]\nwait_seconds = 600\n[onegate]\nlisten = \"127.0.0.1:$og_port\"\n" \
    "${API_PORT:-32474}" "${SIM_PORT:-32475}"
  local sim="http://127.0.0.1:${SIM_PORT:-32475}"
  curl -sfu "$auth" -X POST "$api/vm_template" \
    -d '{"name": "small", "template": {"CPU": "1", "MEMORY": "512"}}' >/dev/null
  curl -sfu "$auth" -X POST "$api/service_template" -d '{"name": "small",
    "roles": [{"name": "web", "type": "vm", "cardinality": 2, "template_id": 0}]}' >/dev/null
  curl -sfu "$auth" -X POST "$api/service_template" -d "{\"name\": \"fleet\",
    \"roles\": [{\"name\": \"worker\", \"type\": \"vm\", \"cardinality\": $vms, \"template_id\": 0,
      \"template_contents\": {\"SIM_ONEGATE\": \"$report\", \"SIM_ONEGATE_REPORT_SECONDS\": \"1\",
                              \"SIM_ONEGATE_PUSH\": \"APP=bench\"}}]}" >/dev/null
  curl -sfu "$auth" -X POST "$api/service_template/0/action" -d '{"action": {"perform": "instantiate"}}' >/dev/null
  curl -sfu "$auth" -X POST "$api/service_template/1/action" -d '{"action": {"perform": "instantiate"}}' >/dev/null
  for _ in $(seq 1 600); do
    running=$(curl -sfu "$auth" "$api/metrics" | sed -n 's/^flotilla_services{state="RUNNING"} //p')
    [ "${running:-0}" -ge 2 ] && break
    sleep 0.5
  done
  [ "${running:-0}" -ge 2 ] || { echo "the services did not reach RUNNING; see $data/serve.log" >&2; exit 1; }
  sleep 3  # every VM has started reporting
  local script="$data/auth.lua"
  printf 'wrk.headers["Authorization"] = "Basic %s"\n' "$(printf %s "$auth" | base64 -w0)" > "$script"
  local poller="" polled="$data/poll.out"
  if [ "$mode" = polling ]; then
    # The fleet's tokens, from the VMs' contexts; each request takes the
    # next, and each of the $vms connections waits a second between its
    # requests: every VM reads its service once a second.
    curl -sf "$sim/vms" | jq -r '.vms[] | select(.state != "DONE") | .template.CONTEXT.ONEGATE_TOKEN // empty' \
      | sed 's/.*/  "&",/' | { echo 'tokens = {'; cat; echo '}'; } >"$data/poll.lua"
    cat >>"$data/poll.lua" <<'LUA'
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", "/service", {["X-ONEGATE-TOKEN"] = tokens[(i % #tokens) + 1]})
end
delay = function() return 1000 end
LUA
    wrk -t1 -c"$vms" -d"$(( ${duration%s} + 10 ))s" --timeout 10s -s "$data/poll.lua" \
      "http://127.0.0.1:$og_port/service" >"$polled" 2>&1 &
    poller=$!
    sleep 5  # every connection has made its first requests
  fi
  local sent0 failed0 sent1 failed1 start end
  sent0=$(curl -sf "$sim/health" | jq '.onegate_sent // 0')
  failed0=$(curl -sf "$sim/health" | jq '.onegate_failed // 0')
  start=$(date +%s.%N)
  out=$(wrk -t2 -c"$connections" -d"$duration" --latency -s "$script" "$api/service/0")
  end=$(date +%s.%N)
  sent1=$(curl -sf "$sim/health" | jq '.onegate_sent // 0')
  failed1=$(curl -sf "$sim/health" | jq '.onegate_failed // 0')
  echo "$out" | grep -q 'Non-2xx' && { echo "$out" >&2; echo "API errors" >&2; exit 1; }
  local rps p50 p99 vm_rps failed poll_avg="-" timeouts
  rps=$(echo "$out" | awk '/^Requests\/sec:/ {print $2}')
  # Requests wrk gave up on (2 s): not in the percentiles.
  timeouts=$(echo "$out" | awk '/Socket errors/ {gsub(",", ""); print $NF}')
  p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
  p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
  vm_rps=$(echo "($sent1 - $sent0) / ($end - $start)" | bc -l)
  failed=$((failed1 - failed0))
  if [ -n "$poller" ]; then
    # The VMs' requests: answered per second, their mean time, and those
    # not answered 200 within 10 s.
    wait "$poller" || true
    vm_rps=$(awk '/^Requests\/sec:/ {print $2}' "$polled")
    poll_avg=$(awk '$1 == "Latency" {print $2}' "$polled")
    failed=$(awk '/Non-2xx/ {n += $5} /Socket errors/ {gsub(",", ""); n += $4 + $6 + $8 + $10}
                  END {print n + 0}' "$polled")
  fi
  printf '%-34s %12.0f %8s %10s %12s %10s %10s %9s\n' "$vms VMs $label" "$vm_rps" "$failed" \
    "$poll_avg" "$rps" "$p50" "$p99" "${timeouts:-0}"
  stop_server
  trap - EXIT
}

echo "# $(nproc) vCPU, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(date -u +%F)"
printf '%-34s %12s %8s %10s %12s %10s %10s %9s\n' "" "VM req/s" "failed" "VM mean" "API req/s" "p50" "p99" "timeouts"
for mode in "${runs[@]}"; do
  if [ "$mode" = polling ] && [ -n "${FLOTILLA_BIN_BEFORE:-}" ]; then
    bin=$FLOTILLA_BIN_BEFORE run polling "polling GET /service (before)"
  fi
  bin=$after run "$mode" "$mode"
done
