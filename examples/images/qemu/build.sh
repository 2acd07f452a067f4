#!/usr/bin/env bash
# Build Flotilla's tiny QEMU test guest from Debian packages only:
#   OUT_DIR/vmlinuz     Debian's cloud kernel (linux-image-cloud-amd64)
#   OUT_DIR/initrd.img  gzip'd newc cpio: busybox-static, the few kernel
#                       modules /init needs, rootfs/ from this folder and
#                       the OneGate client examples/onegate/onegate
#   OUT_DIR/manifest.txt what went in (also the up-to-date stamp)
#
# Usage: build.sh [OUT_DIR]   (default: <repo>/target/images/qemu)
#        FORCE=1 build.sh     rebuild even if OUT_DIR is up to date
#
# Needs apt-get, apt-cache, dpkg-deb, cpio and gzip. Packages are fetched
# with `apt-get download` and unpacked with `dpkg-deb -x` into a temporary
# folder: nothing is installed. See README.md beside this script.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
out=${1:-$repo/target/images/qemu}
kernel_meta=${KERNEL_PACKAGE:-linux-image-cloud-amd64}
busybox_pkg="busybox-static"
# The OneGate client the guest carries (a POSIX sh script; busybox wget).
onegate=$repo/examples/onegate/onegate
[ -f "$onegate" ] || { printf 'build.sh: error: %s is missing\n' "$onegate" >&2; exit 1; }

# Modules /init loads, by name; build.sh adds what they depend on.
# Debian's cloud kernel has none of these built in (see README.md).
modules=(
    virtio_pci   # the virtio PCI transport (virtio-*-pci devices)
    virtio_net   # -device virtio-net-pci
    virtio_blk   # -drive ...,if=virtio (the context drive)
    vfat         # vvfat context drive (-drive file=fat:...)
    nls_cp437    # vfat's default codepage
    nls_ascii    # vfat's default iocharset
    isofs        # an OpenNebula-style ISO 9660 CONTEXT disk also works
    button       # ACPI power button (QMP system_powerdown)
    evdev        # /dev/input/event* for busybox acpid
)

start=$(date +%s.%N)
log() { printf 'build.sh: %s\n' "$*"; }
die() { printf 'build.sh: error: %s\n' "$*" >&2; exit 1; }
trap 'printf "build.sh: error: line %s failed: %s\n" "$LINENO" "$BASH_COMMAND" >&2' ERR

for tool in apt-get apt-cache dpkg-deb cpio gzip sha256sum; do
    command -v "$tool" >/dev/null || die "$tool not found (apt-get install -y cpio gzip, on Debian)"
done

lists_empty() { ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; }

# The versioned kernel package that the meta package depends on, e.g.
# linux-image-6.1.0-57-cloud-amd64.
resolve_kernel() {
    apt-cache depends "$kernel_meta" 2>/dev/null |
        awk '$1 ~ /^\|?Depends:$/ && $2 ~ /^linux-image-/ { print $2; exit }'
}
kernel_pkg=$(resolve_kernel || true)
if [ -z "$kernel_pkg" ] && lists_empty && [ "$(id -u)" = 0 ]; then
    log "apt's package lists are empty: running apt-get update"
    apt-get update -qq
    kernel_pkg=$(resolve_kernel || true)
fi
[ -n "$kernel_pkg" ] ||
    die "apt-cache cannot resolve $kernel_meta (no such package, or apt's lists are empty or stale): run 'apt-get update' (as root) first"

pkg_version() {
    apt-cache show --no-all-versions "$1" 2>/dev/null | awk '/^Version:/ { print $2; exit }'
}
kernel_ver=$(pkg_version "$kernel_pkg")
busybox_ver=$(pkg_version "$busybox_pkg")
[ -n "$kernel_ver" ] && [ -n "$busybox_ver" ] ||
    die "apt-cache knows no version of $kernel_pkg or $busybox_pkg: run 'apt-get update' first"

# What the output depends on: the two packages, this script, rootfs/ and
# the OneGate client.
inputs_hash=$(
    cd "$here"
    {
        echo "$kernel_pkg $kernel_ver"
        echo "$busybox_pkg $busybox_ver"
        sha256sum build.sh
        sha256sum <"$onegate"
        find rootfs -type f | LC_ALL=C sort | xargs sha256sum
        find rootfs -printf '%p %m\n' | LC_ALL=C sort
    } | sha256sum | cut -d' ' -f1
)

if [ "${FORCE:-0}" != 1 ] && [ -f "$out/vmlinuz" ] && [ -f "$out/initrd.img" ] &&
    [ -f "$out/manifest.txt" ] && grep -qx "inputs: $inputs_hash" "$out/manifest.txt"; then
    log "up to date: $out (kernel $kernel_pkg $kernel_ver, $busybox_pkg $busybox_ver); FORCE=1 rebuilds"
    exit 0
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/flotilla-qemu-image.XXXXXX")
mkdir -p "$out"
out=$(cd "$out" && pwd)
cleanup() {
    rm -rf "$tmp"
    rm -f "$out/.vmlinuz.$$" "$out/.initrd.img.$$" "$out/.manifest.txt.$$"
}
trap cleanup EXIT

# ---------------------------------------------------------------- download
mkdir -p "$tmp/debs" "$tmp/x"
# apt-get download drops privileges to _apt when it can; let _apt write here.
if [ "$(id -u)" = 0 ] && id _apt >/dev/null 2>&1; then
    chown _apt "$tmp/debs"
fi
log "downloading $kernel_pkg ($kernel_ver) and $busybox_pkg ($busybox_ver) with apt-get download"
if ! (cd "$tmp/debs" && apt-get download -q "$kernel_pkg" "$busybox_pkg") >"$tmp/download.log" 2>&1; then
    cat "$tmp/download.log" >&2
    die "apt-get download failed: if apt's lists are empty or stale, run 'apt-get update' (as root) and try again"
fi
for deb in "$tmp"/debs/*.deb; do
    dpkg-deb -x "$deb" "$tmp/x"
done

# ---------------------------------------------------------------- kernel
vmlinuz=$(find "$tmp/x/boot" -maxdepth 1 -name 'vmlinuz-*' | head -n1)
[ -n "$vmlinuz" ] || die "$kernel_pkg has no /boot/vmlinuz-*"
kver=${vmlinuz##*/vmlinuz-}
srcmod=$tmp/x/lib/modules/$kver
[ -d "$srcmod" ] || die "$kernel_pkg has no /lib/modules/$kver"
busybox=$tmp/x/bin/busybox
[ -x "$busybox" ] || die "$busybox_pkg has no /bin/busybox"

# ---------------------------------------------------------------- initrd tree
root=$tmp/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,run,tmp,etc,root,mnt/context,lib/modules/"$kver"}
chmod 1777 "$root/tmp"
cp "$busybox" "$root/bin/busybox"
# One symlink per applet (busybox is static: it runs here too).
n_applets=0
while read -r applet; do
    [ -n "$applet" ] && [ "$applet" != bin/busybox ] || continue
    [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
    n_applets=$((n_applets + 1))
done < <("$busybox" --list-full)

# Modules: the kernel package ships no modules.dep (depmod makes it at
# install time), so read each module's "depends=" from its .modinfo and
# order them so that a module comes after what it depends on.
declare -A ko_path=()
while read -r f; do
    name=${f##*/}
    name=${name%.ko}
    ko_path[${name//-/_}]=$f
done < <(find "$srcmod/kernel" -name '*.ko')
[ ${#ko_path[@]} -gt 0 ] || die "no .ko files under $srcmod/kernel (compressed modules are not handled)"
declare -A loaded=()
order=()
add_module() {
    local name=${1//-/_} dep deps
    [ -z "${loaded[$name]:-}" ] || return 0
    [ -n "${ko_path[$name]:-}" ] || {
        if grep -q "/${name}.ko\$" "$srcmod/modules.builtin" 2>/dev/null ||
            grep -q "/${name//_/-}.ko\$" "$srcmod/modules.builtin" 2>/dev/null; then
            loaded[$name]=builtin
            return 0
        fi
        die "module $name is neither in $kernel_pkg nor built in"
    }
    loaded[$name]=pending
    deps=$(tr '\0' '\n' <"${ko_path[$name]}" | sed -n 's/^depends=//p' | head -n1)
    for dep in ${deps//,/ }; do
        add_module "$dep"
    done
    loaded[$name]=yes
    order+=("$name")
}
for m in "${modules[@]}"; do
    add_module "$m"
done
: >"$root/lib/modules/$kver/modules.load"
for name in "${order[@]}"; do
    rel=${ko_path[$name]#"$srcmod"/}
    mkdir -p "$root/lib/modules/$kver/${rel%/*}"
    cp "${ko_path[$name]}" "$root/lib/modules/$kver/$rel"
    echo "$rel" >>"$root/lib/modules/$kver/modules.load"
done

# Our files: /init, the udhcpc script, the power button handler; and
# the repository's OneGate client as /usr/bin/onegate, for START_SCRIPTs.
cp -a "$here/rootfs/." "$root/"
install -m 755 "$onegate" "$root/usr/bin/onegate"
chmod 755 "$root/init" "$root/usr/share/udhcpc/default.script" "$root/etc/acpi/PWRF/00000080"

# ---------------------------------------------------------------- cpio
# newc header of one entry, for /dev/console: a device node cannot be made
# without root, but the kernel wants it before /init runs, so this entry is
# written by hand and appended as a second archive (the kernel reads
# concatenated archives).
newc_entry() { # name mode rdevmajor rdevminor
    local name=$1 mode=$2 maj=$3 min=$4 namesize hdr pad
    namesize=$((${#name} + 1))
    hdr=$(printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
        0 "$mode" 0 0 1 0 0 0 0 "$maj" "$min" "$namesize" 0)
    printf '%s%s\0' "$hdr" "$name"
    pad=$(((4 - (110 + namesize) % 4) % 4))
    head -c "$pad" /dev/zero
}
devcons() {
    newc_entry dev 16877 0 0          # 040755 directory
    newc_entry dev/console 8576 5 1   # 020600 char 5,1
    newc_entry TRAILER!!! 0 0 0
}

(
    cd "$root"
    find . -mindepth 1 | LC_ALL=C sort | sed 's|^\./||' |
        cpio --quiet -o -H newc -R 0:0
    devcons
) | gzip -9 -n >"$out/.initrd.img.$$"
cp "$vmlinuz" "$out/.vmlinuz.$$"

{
    echo "inputs: $inputs_hash"
    echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "kernel: $kernel_pkg $kernel_ver ($kver)"
    echo "busybox: $busybox_pkg $busybox_ver"
    echo "modules: ${order[*]}"
} >"$out/.manifest.txt.$$"

# Replace the three files only now that all are complete; the manifest
# (the up-to-date stamp) last.
mv -f "$out/.vmlinuz.$$" "$out/vmlinuz"
mv -f "$out/.initrd.img.$$" "$out/initrd.img"
mv -f "$out/.manifest.txt.$$" "$out/manifest.txt"

end=$(date +%s.%N)
size() { du -h --apparent-size "$1" | cut -f1; }
log "kernel:  $kernel_pkg $kernel_ver (uname -r $kver)"
log "busybox: $busybox_pkg $busybox_ver, $n_applets applet links"
log "modules: ${order[*]}"
log "wrote $out/vmlinuz ($(size "$out/vmlinuz"))"
log "wrote $out/initrd.img ($(size "$out/initrd.img"), $(find "$root" | wc -l) entries)"
log "wrote $out/manifest.txt"
log "done in $(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.1f", e - s }') s"
