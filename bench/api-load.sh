#!/usr/bin/env bash
# Load test of the REST API with 1,000 services stored, 64 connections for
# 30 s per route, measured by wrk (Debian package `wrk`). Three routes in one
# run, side by side: GET of one service, an unknown route (the JSON 404, the
# router's floor) and /health, each with requests per second and p99.
#
#   bench/api-load.sh [DURATION] [CONNECTIONS] [SERVICES]
#   ROUTE=/service bench/api-load.sh 10s     # another first route (default: one service)
#
# Builds nothing: run `cargo build --release` first. Starts `flotilla serve`
# on loopback with a fresh data directory, creates the services through the
# API, waits until they are RUNNING, then runs wrk against each route.
set -euo pipefail

duration=${1:-30s}
connections=${2:-64}
services=${3:-1000}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${FLOTILLA_BIN:-"$root/target/release/flotilla"}
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }

. "$root/bench/server.sh"
start_server '[sim]\nboot_seconds = 0\n' "${API_PORT:-32474}" "${SIM_PORT:-32475}"

curl -sfu "$auth" -X POST "$api/vm_template" \
  -d '{"name": "small", "template": {"CPU": "1", "MEMORY": "512"}}' >/dev/null
curl -sfu "$auth" -X POST "$api/service_template" -d '{
  "name": "web-app", "deployment": "straight",
  "roles": [
    {"name": "db",  "type": "vm", "cardinality": 1, "template_id": 0},
    {"name": "web", "type": "vm", "cardinality": 2, "template_id": 0, "parents": ["db"]}
  ]}' >/dev/null
echo "creating $services services (3 VMs each)..." >&2
for _ in $(seq 1 "$services"); do
  curl -sfu "$auth" -X POST "$api/service_template/0/action" \
    -d '{"action": {"perform": "instantiate"}}' >/dev/null
done
target=$((services / 2))
for _ in $(seq 1 600); do
  running=$(curl -sfu "$auth" "$api/metrics" | sed -n 's/^flotilla_services{state="RUNNING"} //p')
  [ "${running:-0}" -ge "$services" ] && break
  sleep 0.5
done
if [ "${running:-0}" -lt "$services" ]; then
  echo "only ${running:-0} of $services services reached RUNNING; see $data/serve.log" >&2
  trap - EXIT; kill $server; exit 1
fi
route=${ROUTE:-/service/$target}
echo "$running services RUNNING" >&2

script="$data/auth.lua"
printf 'wrk.headers["Authorization"] = "Basic %s"\n' "$(printf %s "$auth" | base64 -w0)" > "$script"
printf '%-24s %12s %10s %10s\n' route req/s p50 p99
for path in "$route" /no/such/route /health; do
  out=$(wrk -t2 -c"$connections" -d"$duration" --latency -s "$script" "$api$path")
  if echo "$out" | grep -q 'Non-2xx'; then
    [ "$path" = /no/such/route ] || { echo "$out" >&2; echo "GET $path: errors" >&2; exit 1; }
  fi
  rps=$(echo "$out" | awk '/^Requests\/sec:/ {print $2}')
  p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
  p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
  printf '%-24s %12s %10s %10s\n' "GET $path" "$rps" "$p50" "$p99"
done
