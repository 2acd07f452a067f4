#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine with only rustup:
# installs what the tests need, then runs the format check, every test
# (`cargo test --workspace --release`) and the schema run against a real
# server. CI (.ci/run) runs exactly this.
#
#   tests/all.sh             install what is missing, then test
#   tests/all.sh --no-install  test only (everything already installed)
#
# What it installs, each only when missing:
# - rustup: the wasm32-wasip2 and wasm32-unknown-unknown targets and
#   rustfmt (rust-toolchain.toml lists them, but rustup adds them only to a
#   toolchain it installs itself);
# - Debian packages (apt-get, as root or through sudo): systemd
#   (systemd-analyze checks the example unit), jq and curl (the README's
#   REST example, which a test walks), qemu-system-x86, qemu-utils,
#   socat and cpio (real VMs in tests/qemu.rs; the test builds the guest
#   image from Debian packages with `apt-get download`, which needs the
#   package lists), iproute2 (`ip`: the real-network tests make bridges,
#   taps and VXLAN devices in network namespaces of their own, as root),
#   libvirt-daemon-system and libvirt-clients (tests/libvirt.rs runs a
#   libvirtd per host in network namespaces and drives it with virsh),
#   chromium and chromium-driver (tests/dashboard.rs walks the dashboard
#   in a real headless browser), postgresql (the store's tests run against
#   a PostgreSQL server they start themselves, never the system service);
# - componentize-py from PyPI and the JavaScript example's npm packages
#   (pinned in its package-lock.json): the tests build the example policies
#   in Python and JavaScript with them; Selenium from PyPI, beside
#   componentize-py, drives the browser, and axe-core from npm (pinned in
#   tests/dashboard/package-lock.json) checks the dashboard's
#   accessibility;
# - schemathesis from PyPI, in a venv under target/ (tests/schema/run.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

install=1
case "${1:-}" in
    --no-install) install=0 ;;
    "") ;;
    *) echo "usage: tests/all.sh [--no-install]" >&2; exit 2 ;;
esac

# Tools from PyPI for the tests, beside the build.
tools=$PWD/target/test-tools
componentize_py=0.25.1
selenium=4.27.1

as_root() {
    if [ "$(id -u)" = 0 ]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        echo "tests/all.sh: '$*' needs root (or sudo)" >&2
        exit 1
    fi
}

apt_updated=
apt_install() {
    if [ -z "$apt_updated" ]; then
        as_root apt-get update
        apt_updated=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
}

if [ "$install" = 1 ]; then
    rustup target add wasm32-wasip2 wasm32-unknown-unknown
    rustup component add rustfmt clippy

    if ! command -v systemd-analyze >/dev/null; then
        apt_install systemd
    fi
    # The README's REST example reads ids with jq, and a test walks it.
    if ! command -v jq >/dev/null || ! command -v curl >/dev/null; then
        apt_install jq curl
    fi
    # Debian 12's qemu-system-x86 wants bookworm's qemu-utils; an image
    # that ships a newer one from backports gets bookworm's.
    if ! command -v qemu-system-x86_64 >/dev/null || ! command -v qemu-img >/dev/null \
        || ! command -v socat >/dev/null || ! command -v cpio >/dev/null; then
        apt_install qemu-system-x86 qemu-utils socat cpio \
            || apt_install --allow-downgrades qemu-system-x86 qemu-utils/bookworm socat cpio
    fi
    # Network plumbing runs iproute2's ip, in the tests' own namespaces.
    if ! command -v ip >/dev/null; then
        apt_install iproute2
    fi
    # The libvirt driver's test: libvirtd per host namespace, virsh.
    if [ ! -x /usr/sbin/libvirtd ] || ! command -v virsh >/dev/null; then
        apt_install libvirt-daemon-system libvirt-clients
    fi
    # The dashboard's browser test: Debian's Chromium and its driver.
    if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
        apt_install chromium chromium-driver
    fi
    # The store's PostgreSQL backend: its tests run initdb and pg_ctl.
    if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
        apt_install postgresql
    fi
    if ! apt-cache show linux-image-cloud-amd64 >/dev/null 2>&1 && [ -z "$apt_updated" ]; then
        as_root apt-get update
        apt_updated=1
    fi

    # componentize-py in a venv of its own (Debian's Python refuses
    # installs outside one), put on PATH below.
    if ! python3 -m venv --help >/dev/null 2>&1; then
        apt_install python3 python3-venv python3-pip
    fi
    if ! "$tools/bin/componentize-py" --version 2>/dev/null | grep -q "$componentize_py"; then
        rm -rf "$tools"
        python3 -m venv "$tools"
        "$tools/bin/pip" install --quiet "componentize-py==$componentize_py"
    fi
    if ! "$tools/bin/python" -c "import selenium, sys; sys.exit(selenium.__version__ != '$selenium')" 2>/dev/null; then
        "$tools/bin/pip" install --quiet "selenium==$selenium"
    fi
    if ! command -v npm >/dev/null; then
        apt_install nodejs npm
    fi
    npm ci --prefix examples/policies/javascript --no-audit --no-fund
    npm ci --prefix tests/dashboard --no-audit --no-fund
fi
if [ -x "$tools/bin/componentize-py" ]; then
    export PATH="$tools/bin:$PATH"
fi

cargo fmt --all --check
cargo test --workspace --release --locked

# Schema-driven run against a real server with the binary cargo test
# built: no server errors, no answers its own openapi.json does not allow.
tests/schema/run.sh
