#!/usr/bin/env bash
# Schema-driven run: schemathesis generates requests from the openapi.json
# a real `flotilla serve` serves and checks every answer against it (no
# server errors, only documented statuses, bodies matching their schemas,
# invalid input refused). The server runs on loopback with a fresh data
# directory and is stopped however this script ends.
#
#   tests/schema/run.sh            # uses target/release/flotilla
#   FLOTILLA_BIN=... MAX_EXAMPLES=50 MAX_TIME=300 tests/schema/run.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${FLOTILLA_BIN:-$root/target/release/flotilla}
venv=${SCHEMA_VENV:-$root/target/schema-venv}
st_version=4.32.5
max_examples=${MAX_EXAMPLES:-25}
max_time=${MAX_TIME:-180}

[ -x "$bin" ] || { echo "no flotilla binary at $bin; run cargo test first" >&2; exit 1; }
# Python 3.12 or newer: on 3.11, CPython's ast module fails ("AST
# constructor recursion depth mismatch") inside hypothesis while it
# describes a strategy, and schemathesis reports it as an error.
pick_python() {
    local py
    for py in ${PYTHON:-} python3 python3.13 python3.12 "$HOME"/.pyenv/versions/3.1[2-9]*/bin/python3; do
        if "$py" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
            echo "$py"
            return
        fi
    done
    echo "warning: no Python 3.12 or newer found; using python3" >&2
    echo python3
}
if ! "$venv/bin/st" --version 2>/dev/null | grep -q "$st_version"; then
    rm -rf "$venv"
    "$(pick_python)" -m venv "$venv"
    "$venv/bin/pip" install --quiet "schemathesis==$st_version"
fi

data=$(mktemp -d)
pid=
cleanup() {
    if [ -n "$pid" ]; then
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$data"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
api=$(free_port)
sim=$(free_port)
printf '[engine]\ntick_ms = 200\n\n[sim]\nboot_seconds = 0\n' >"$data/flotilla.toml"
FLOTILLA_DATA_DIR=$data FLOTILLA_LOG=warn "$bin" serve \
    --listen "127.0.0.1:$api" --sim-listen "127.0.0.1:$sim" \
    --onegate-listen "127.0.0.1:$(free_port)" >"$data/server.log" 2>&1 &
pid=$!

up=
for _ in $(seq 1 150); do
    if [ -s "$data/one_auth" ] &&
        python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$api/health', timeout=1)" 2>/dev/null; then
        up=1
        break
    fi
    kill -0 "$pid" 2>/dev/null || { cat "$data/server.log" >&2; echo "the server did not start" >&2; exit 1; }
    sleep 0.2
done
[ -n "$up" ] || { cat "$data/server.log" >&2; echo "the server did not answer within 30 s" >&2; exit 1; }
auth=$(tr -d '\n' <"$data/one_auth")
# POST /user/{id}/action is left out: a generated `passwd` for oneadmin
# would change the credentials the rest of the run uses
# (tests/api/scenario/accounts.rs covers it).

status=0
# From the data directory: schemathesis keeps a cache (.schemathesis/) in
# its working directory, and a run must not depend on an earlier one's.
(cd "$data" && "$venv/bin/st" --no-color run "http://127.0.0.1:$api/openapi.json" \
    --auth "$auth" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,negative_data_rejection \
    --max-examples "$max_examples" \
    --max-time "$max_time" \
    --request-timeout 10 \
    --exclude-path '/user/{id}/action' \
    --workers 2 \
    --seed "${SEED:-1}" \
    --report-dir "$data/report") || status=$?

if ! kill -0 "$pid" 2>/dev/null; then
    echo "the server died during the run:" >&2
    tail -50 "$data/server.log" >&2
    status=1
fi
if grep -q "panicked" "$data/server.log"; then
    echo "the server panicked:" >&2
    grep -A5 "panicked" "$data/server.log" >&2
    status=1
fi
exit $status
