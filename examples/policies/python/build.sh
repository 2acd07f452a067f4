#!/usr/bin/env bash
# Build the `queue` policy: examples/policies/python/build.sh [OUT_DIR]
# writes OUT_DIR/queue.wasm (OUT_DIR defaults to this folder).
#
# Needs componentize-py on PATH, at the version pinned below:
#     python3 -m pip install componentize-py==0.25.1
set -euo pipefail

COMPONENTIZE_PY_VERSION=0.25.1
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
out="${1:-$here}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

if ! command -v componentize-py >/dev/null 2>&1; then
    echo "componentize-py is not on PATH; install it with:" >&2
    echo "    python3 -m pip install componentize-py==$COMPONENTIZE_PY_VERSION" >&2
    exit 1
fi
found="$(componentize-py --version | awk '{print $2}')"
if [ "$found" != "$COMPONENTIZE_PY_VERSION" ]; then
    echo "warning: componentize-py $found found, this example is pinned to $COMPONENTIZE_PY_VERSION" >&2
    echo "    python3 -m pip install componentize-py==$COMPONENTIZE_PY_VERSION" >&2
fi

# componentize-py reads one WIT package with its dependencies under deps/:
# lay the repository's packages out that way in a temporary directory.
wit="$(mktemp -d)"
trap 'rm -rf "$wit"' EXIT
mkdir -p "$wit/deps/types" "$wit/deps/host"
cp "$repo"/wit/elasticity/*.wit "$wit/"
cp "$repo"/wit/types/*.wit "$wit/deps/types/"
cp "$repo"/wit/host/*.wit "$wit/deps/host/"

# The bindings (wit_world) are generated in memory; nothing is written
# beside the source but the component.
cd "$here"
componentize-py -d "$wit" -w flotilla:elasticity/elasticity-plugin@0.1.0 \
    componentize queue_policy -p "$here" -o "$out/queue.wasm"
echo "built $out/queue.wasm ($(wc -c <"$out/queue.wasm") bytes)"
