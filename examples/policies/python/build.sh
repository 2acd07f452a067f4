#!/usr/bin/env bash
# Build the `queue` policy: examples/policies/python/build.sh [OUT_DIR]
# writes OUT_DIR/queue.wasm (OUT_DIR defaults to this folder).
#
# Needs componentize-py, at the version pinned below (the build prints this
# line when it is missing):
#     python3 -m pip install componentize-py==0.25.1
set -euo pipefail

COMPONENTIZE_PY_VERSION=0.25.1
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
out="${1:-$here}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

# componentize-py on PATH, else the installed Python package run through
# python3 (pip's script directory is not always on PATH: `--user`, pyenv
# before a rehash).
if command -v componentize-py >/dev/null 2>&1; then
    cpy=(componentize-py)
elif python3 -c 'import componentize_py' >/dev/null 2>&1; then
    cpy=(python3 -c 'import sys, componentize_py; sys.argv[0] = "componentize-py"; sys.exit(componentize_py.script())')
else
    echo "componentize-py is not installed; install it with:" >&2
    echo "    python3 -m pip install componentize-py==$COMPONENTIZE_PY_VERSION" >&2
    exit 1
fi
found="$("${cpy[@]}" --version | awk '{print $2}')"
if [ "$found" != "$COMPONENTIZE_PY_VERSION" ]; then
    echo "warning: componentize-py $found found, this example is pinned to $COMPONENTIZE_PY_VERSION:" >&2
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
"${cpy[@]}" -d "$wit" -w flotilla:elasticity/elasticity-plugin@0.1.0 \
    componentize queue_policy -p "$here" -o "$out/queue.wasm"
echo "built $out/queue.wasm ($(wc -c <"$out/queue.wasm") bytes)"
