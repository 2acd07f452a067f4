#!/usr/bin/env bash
# OneGate under load, and the API beside it: 1,000 simulated VMs each report
# through OneGate every second (real HTTP, from the embedded simulated
# hypervisor), while wrk measures GET of a small service on the API. The
# same is measured first with the 1,000 VMs quiet, so the two p99s side by
# side show what the reports cost the API.
#
#   bench/onegate-load.sh [DURATION] [CONNECTIONS] [VMS]
#
# Builds nothing: run `cargo build --release` first. Needs wrk (Debian
# package `wrk`), curl and jq.
set -euo pipefail

duration=${1:-30s}
connections=${2:-64}
vms=${3:-1000}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${FLOTILLA_BIN:-"$root/target/release/flotilla"}
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 1; }
for tool in wrk jq curl; do
  command -v $tool >/dev/null || { echo "$tool is missing: apt-get install $tool" >&2; exit 1; }
done
. "$root/bench/server.sh"

# One run: a server whose big role reports every second ($1 = YES) or not.
run() {
  local report=$1 og_port=${OG_PORT:-32530}
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
  local sent0 failed0 sent1 failed1 start end
  sent0=$(curl -sf "$sim/health" | jq '.onegate_sent // 0')
  failed0=$(curl -sf "$sim/health" | jq '.onegate_failed // 0')
  start=$(date +%s.%N)
  out=$(wrk -t2 -c"$connections" -d"$duration" --latency -s "$script" "$api/service/0")
  end=$(date +%s.%N)
  sent1=$(curl -sf "$sim/health" | jq '.onegate_sent // 0')
  failed1=$(curl -sf "$sim/health" | jq '.onegate_failed // 0')
  echo "$out" | grep -q 'Non-2xx' && { echo "$out" >&2; echo "API errors" >&2; exit 1; }
  local rps p50 p99 reports failed
  rps=$(echo "$out" | awk '/^Requests\/sec:/ {print $2}')
  p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
  p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
  reports=$(echo "($sent1 - $sent0) / ($end - $start)" | bc -l)
  failed=$((failed1 - failed0))
  local label="quiet"
  [ "$report" = YES ] && label="reporting"
  printf '%-28s %14.0f %10s %12s %10s %10s\n' "$vms VMs $label" "$reports" "$failed" "$rps" "$p50" "$p99"
  stop_server
  trap - EXIT
}

printf '%-28s %14s %10s %12s %10s %10s\n' "" "reports/s" "failed" "API req/s" "p50" "p99"
run NO
run YES
