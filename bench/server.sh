# Sourced by the bench scripts: `flotilla serve` ($bin) on loopback with a
# fresh data directory, stopped and removed when the script ends.
#
#   start_server CONFIG API_PORT SIM_PORT   # CONFIG: flotilla.toml, \n for newlines
#   STORE_URL=postgres://… start_server …    # the store in that (empty) database
#
# sets data (the data directory), server (its pid), api (its URL) and auth
# (oneadmin's user:password) once the API answers.

start_server() {
  data=$(mktemp -d)
  printf '%b' "$1" >"$data/flotilla.toml"
  if [ -n "${STORE_URL:-}" ]; then
    printf '\n[store]\nurl = "%s"\n' "$STORE_URL" >>"$data/flotilla.toml"
  fi
  "$bin" serve --data-dir "$data" --listen "127.0.0.1:$2" \
    --sim-listen "127.0.0.1:$3" >"$data/serve.log" 2>&1 &
  server=$!
  trap stop_server EXIT
  api="http://127.0.0.1:$2"
  for _ in $(seq 1 100); do
    [ -s "$data/one_auth" ] && curl -sf "$api/health" >/dev/null && break
    sleep 0.1
  done
  auth=$(cat "$data/one_auth")
}

stop_server() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  rm -rf "$data"
}
