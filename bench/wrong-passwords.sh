#!/usr/bin/env bash
# Memory under a wrong-password flood: the server's RSS before and after
# 1,000 wrong-password requests over 160 connections, then the time of one
# signed-in request.
#
#   bench/wrong-passwords.sh [REQUESTS] [CONNECTIONS]
#   LIMIT=10 bench/wrong-passwords.sh   # with sign-in throttling as shipped
#
# By default throttling is lifted (server.failed_logins_per_minute is set
# very high) so that every request is checked with Argon2: the worst case
# for memory, as when the guesses come from many addresses. Builds nothing:
# run `cargo build --release` first (FLOTILLA_BIN picks another binary).
set -euo pipefail

requests=${1:-1000}
connections=${2:-160}
limit=${LIMIT:-1000000}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${FLOTILLA_BIN:-"$root/target/release/flotilla"}
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 1; }

. "$root/bench/server.sh"
start_server "[server]\nfailed_logins_per_minute = $limit\n" "${API_PORT:-32484}" "${SIM_PORT:-32485}"
rss() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$server/status"; }

curl -sfu "$auth" "$api/service" >/dev/null   # oneadmin signed in (remembered)
before=$(rss)
start=$(date +%s.%N)
seq 1 "$requests" | xargs -P "$connections" -I{} \
  curl -s -o /dev/null -w '%{http_code}\n' -u "oneadmin:wrong-{}" "$api/service" \
  > "$data/codes"
elapsed=$(echo "$(date +%s.%N) - $start" | bc)
sleep 1
after=$(rss)
signed_in=$(curl -sfu "$auth" -o /dev/null -w '%{time_total}' "$api/service")
echo "answers: $(sort "$data/codes" | uniq -c | awk '{printf "%s x%s  ", $2, $1}')"
echo "RSS before: $((before / 1024)) MiB; after $requests wrong passwords over $connections connections ($(printf "%.1f" "$elapsed") s): $((after / 1024)) MiB"
echo "signed-in request after the flood: ${signed_in} s"
