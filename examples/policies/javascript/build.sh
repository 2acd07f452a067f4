#!/usr/bin/env bash
# Build the `step` policy: examples/policies/javascript/build.sh [OUT_DIR]
# writes OUT_DIR/step.wasm (OUT_DIR defaults to this folder).
#
# Needs Node.js 20 and npm; the tools (jco, componentize-js) are pinned in
# package.json / package-lock.json and installed locally by `npm ci`.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
out="${1:-$here}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

cd "$here"
if [ ! -d node_modules ]; then
    npm ci --no-audit --no-fund
fi

# componentize-js reads one WIT package with its dependencies under deps/:
# lay the repository's packages out that way in a temporary directory. jco
# runs its WIT parser as WASI code that sees only the working directory, so
# the directory lives here (and is removed on exit).
wit="$(mktemp -d "$here/.wit-XXXXXX")"
trap 'rm -rf "$wit"' EXIT
mkdir -p "$wit/deps/types" "$wit/deps/host"
cp "$repo"/wit/elasticity/*.wit "$wit/"
cp "$repo"/wit/types/*.wit "$wit/deps/types/"
cp "$repo"/wit/host/*.wit "$wit/deps/host/"

# Policies get no wasi:http (the host refuses a policy that imports it) and
# must not read a clock or draw random numbers: disable those WASI features,
# keeping only stdio (a trap's stderr shows up in the host's fault message).
npx --no-install jco componentize step.js \
    --wit "$(basename "$wit")" --world-name flotilla:elasticity/elasticity-plugin@0.1.0 \
    --disable http fetch-event clocks random \
    -o "$out/step.wasm"
echo "built $out/step.wasm ($(wc -c <"$out/step.wasm") bytes)"
