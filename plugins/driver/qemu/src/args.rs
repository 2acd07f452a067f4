//! The command lines the driver runs: QEMU for a VM, `qemu-img` for its
//! overlays. Each is built by one function from string parts, as groups
//! (an option with its values), so the same function with wildcards in
//! place of the per-VM values gives the argument groups an operator
//! grants (`crate::grant` writes them; README.md shows them and a test
//! checks that it still does). Pure.

use crate::template::{DiskFormat, KernelBoot, Launch, Tap};
use flotilla_plugin_sdk::pattern::{IMAGE_DIR, STATE_DIR};

pub const QEMU: &str = "qemu-system-x86_64";
pub const QEMU_IMG: &str = "qemu-img";

/// The bus the VM's disks and its context drive are attached to. The
/// test guest (examples/images/qemu) loads virtio_blk; `ide` would need no
/// guest driver.
pub const DISK_INTERFACE: &str = "virtio";
pub const CONTEXT_INTERFACE: &str = "virtio";
/// The NIC model of the user network.
pub const NIC_MODEL: &str = "virtio-net-pci";
/// `restrict=on`: the guest reaches nothing but the guestfwd targets (and
/// QEMU's DHCP): nothing leaves the machine.
pub const NETDEV: &str = "user,id=n0,restrict=on";

/// The netdev of a NIC on a host tap: the device the host's plumbing
/// made (`ifname`, already on its network's bridge), opened as it is:
/// `script=no,downscript=no`, QEMU runs nothing to set it up or down.
pub fn tap_netdev(nic_id: &str, ifname: &str) -> String {
    format!("tap,id=nic{nic_id},ifname={ifname},script=no,downscript=no")
}

/// The guest's device of a tap NIC, with the NIC's MAC (the guest finds
/// its `ETH<n>_*` context by it).
pub fn tap_device(nic_id: &str, mac: &str) -> String {
    format!("{NIC_MODEL},netdev=nic{nic_id},mac={mac}")
}

/// A MAC address as a grant pattern: `*` never covers a `:`, so each of
/// the six parts is a run of letters and digits (QEMU refuses what is not
/// hex).
const MAC_PATTERN: &str = "*:*:*:*:*:*";

/// The files of one VM, in `<state_dir>/vms/<id>/`.
pub fn qmp_socket(vm_dir: &str) -> String {
    format!("{vm_dir}/qmp.sock")
}
pub fn console_log(vm_dir: &str) -> String {
    format!("{vm_dir}/console.log")
}
pub fn context_dir(vm_dir: &str) -> String {
    format!("{vm_dir}/context")
}
/// The overlay of disk `index`: `disk.qcow2` for the first (the name of
/// the one disk earlier releases made), `disk<i>.qcow2` for the others.
pub fn overlay(vm_dir: &str, index: usize) -> String {
    if index == 0 {
        format!("{vm_dir}/disk.qcow2")
    } else {
        format!("{vm_dir}/disk{index}.qcow2")
    }
}
/// Whether a file name in a VM's directory is one of its overlays.
pub fn is_overlay(name: &str) -> bool {
    name.strip_prefix("disk")
        .and_then(|n| n.strip_suffix(".qcow2"))
        .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
}

/// The parts a QEMU command line is made of, as text: values for a VM,
/// or patterns for the grant.
struct Parts<'a> {
    name: &'a str,
    vm_dir: &'a str,
    accel: &'a str,
    memory_mb: &'a str,
    vcpus: &'a str,
    kernel: Option<&'a KernelBoot>,
    /// The overlay files, in order.
    disks: Vec<String>,
    /// The NICs on host taps: NIC_ID, device, MAC.
    taps: Vec<[String; 3]>,
    /// `Some(guestfwd)` for a NIC, with OneGate's forward if any.
    nic: Option<Option<String>>,
    paused: bool,
}

/// THE QEMU command line, as groups: an option and its values.
fn qemu_line(p: &Parts) -> Vec<Vec<String>> {
    let mut a: Vec<Vec<String>> = Vec::with_capacity(24);
    let mut push = |items: &[&str]| a.push(items.iter().map(|s| s.to_string()).collect());
    push(&["-name", &format!("guest={}", p.name)]);
    push(&["-machine", &format!("q35,accel={}", p.accel)]);
    push(&["-m", &format!("size={}M", p.memory_mb)]);
    push(&["-smp", &format!("cpus={}", p.vcpus)]);
    // No default devices (NIC, CD-ROM, VGA, monitor), no host config
    // files; a guest that powers off leaves QEMU in `shutdown` (POWEROFF)
    // rather than gone (FAILED) until the driver quits it.
    push(&["-nodefaults"]);
    push(&["-no-user-config"]);
    push(&["-no-shutdown"]);
    push(&["-display", "none"]);
    push(&["-monitor", "none"]);
    push(&["-serial", &format!("file:{}", console_log(p.vm_dir))]);
    push(&[
        "-qmp",
        &format!("unix:{},server=on,wait=off", qmp_socket(p.vm_dir)),
    ]);
    if let Some(k) = p.kernel {
        push(&["-kernel", &k.kernel]);
        if let Some(initrd) = &k.initrd {
            push(&["-initrd", initrd]);
        }
        push(&["-append", &k.append]);
    }
    for overlay in &p.disks {
        push(&[
            "-drive",
            &format!("file={overlay},format=qcow2,if={DISK_INTERFACE}"),
        ]);
    }
    push(&[
        "-drive",
        &format!(
            "file=fat:ro:{},format=raw,if={CONTEXT_INTERFACE},readonly=on",
            context_dir(p.vm_dir)
        ),
    ]);
    // The tap NICs first, in NIC_ID order, so that the guest's interfaces
    // follow the template's NICs; the user network's NIC (OneGate) last.
    for [nic_id, ifname, mac] in &p.taps {
        push(&["-netdev", &tap_netdev(nic_id, ifname)]);
        push(&["-device", &tap_device(nic_id, mac)]);
    }
    if let Some(guestfwd) = &p.nic {
        let netdev = match guestfwd {
            Some(fwd) => format!("{NETDEV},guestfwd={fwd}"),
            None => NETDEV.to_string(),
        };
        push(&["-netdev", &netdev]);
        push(&["-device", &format!("{NIC_MODEL},netdev=n0")]);
    }
    if p.paused {
        push(&["-S"]);
    }
    a
}

/// QEMU's arguments for VM `id` in `vm_dir`; `paused` (`-S`) for a VM on
/// hold.
pub fn qemu_args(id: &str, vm_dir: &str, launch: &Launch, paused: bool) -> Vec<String> {
    qemu_line(&Parts {
        name: id,
        vm_dir,
        accel: &launch.accel,
        memory_mb: &launch.memory_mb.to_string(),
        vcpus: &launch.vcpus.to_string(),
        kernel: launch.kernel.as_ref(),
        disks: (0..launch.disks.len())
            .map(|i| overlay(vm_dir, i))
            .collect(),
        taps: launch
            .taps
            .iter()
            .map(|t: &Tap| [t.nic_id.to_string(), t.ifname.clone(), t.mac.clone()])
            .collect(),
        nic: launch
            .net
            .as_ref()
            .map(|n| n.onegate.as_ref().map(|f| f.guestfwd())),
        paused,
    })
    .concat()
}

/// `qemu-img create`, one command line: an overlay on a base image.
fn qemu_img_line(format: &str, base: &str, overlay: &str) -> Vec<String> {
    ["create", "-f", "qcow2", "-F", format, "-b", base, overlay]
        .map(String::from)
        .to_vec()
}

/// `qemu-img create` for disk `index` of the VM in `vm_dir`: its
/// copy-on-write overlay on `base`.
pub fn qemu_img_args(format: DiskFormat, base: &str, vm_dir: &str, index: usize) -> Vec<String> {
    qemu_img_line(format.as_str(), base, &overlay(vm_dir, index))
}

/// A VM's directory as a grant pattern: `{state}/vms/q*` (`{state}` being
/// the granted state directory itself).
pub fn vm_dir_pattern() -> String {
    format!("{STATE_DIR}/vms/q*")
}

/// Any overlay of any VM, as a grant pattern: `{state}/vms/q*/disk*.qcow2`.
fn overlay_pattern() -> String {
    format!("{}/disk*.qcow2", vm_dir_pattern())
}

/// The argument groups of the operator's grant for `qemu-system-x86_64`,
/// from the same function as the command lines: what varies per VM is a
/// wildcard, what the operator configures (accelerator, boot files and
/// command line, OneGate's port, the prefixes of the taps the host's
/// plumbing makes) is exact. A tap's netdev is exact but for its NIC_ID
/// and the device name after a prefix: `*` never covers a `,`, so no
/// other tap option (`script=`, `fd=`, `vhost=`) gets in.
pub fn qemu_groups(
    accel: &str,
    boots: &[KernelBoot],
    onegate: &[String],
    tap_prefixes: &[String],
) -> Vec<Vec<String>> {
    let vm_dir = vm_dir_pattern();
    let tap = |prefix: &String| ["*".to_string(), format!("{prefix}*"), MAC_PATTERN.into()];
    let base = |kernel, taps, nic| Parts {
        name: "q*",
        vm_dir: &vm_dir,
        accel,
        memory_mb: "*",
        vcpus: "*",
        kernel,
        disks: vec![overlay_pattern()],
        taps,
        nic,
        paused: true,
    };
    // The whole line first (the README reads in QEMU's order), then the
    // variants: a NIC without OneGate, other boot files, other ports,
    // other tap prefixes.
    let mut groups = qemu_line(&base(
        boots.first(),
        tap_prefixes.first().map(tap).into_iter().collect(),
        Some(onegate.first().cloned()),
    ));
    groups.extend(qemu_line(&base(None, Vec::new(), Some(None))));
    for boot in boots.iter().skip(1) {
        groups.extend(qemu_line(&base(Some(boot), Vec::new(), None)));
    }
    for fwd in onegate.iter().skip(1) {
        groups.extend(qemu_line(&base(None, Vec::new(), Some(Some(fwd.clone())))));
    }
    for prefix in tap_prefixes.iter().skip(1) {
        groups.extend(qemu_line(&base(None, vec![tap(prefix)], None)));
    }
    dedup(groups)
}

/// The grant for `qemu-img`: whole command lines, an overlay in a VM's
/// directory on a base image from an image directory (`{image}/*`), one
/// line per format.
pub fn qemu_img_groups() -> Vec<Vec<String>> {
    let base = format!("{IMAGE_DIR}/*");
    [DiskFormat::Qcow2, DiskFormat::Raw]
        .map(|format| qemu_img_line(format.as_str(), &base, &overlay_pattern()))
        .to_vec()
}

fn dedup<T: PartialEq>(items: Vec<T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(items.len());
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Forward;
    use crate::template::{DiskImage, Net};

    const DIR: &str = "/var/lib/flotilla/qemu/vms/q7";

    fn boot() -> KernelBoot {
        KernelBoot {
            kernel: "/opt/flotilla/images/qemu/vmlinuz".into(),
            initrd: Some("/opt/flotilla/images/qemu/initrd.img".into()),
            append: "console=ttyS0 quiet".into(),
        }
    }

    fn launch() -> Launch {
        Launch {
            accel: "tcg".into(),
            vcpus: 2,
            memory_mb: 512,
            kernel: Some(boot()),
            disks: Vec::new(),
            net: Some(Net {
                onegate: Some(Forward {
                    guest_port: 5030,
                    host_port: 5030,
                }),
            }),
            taps: Vec::new(),
        }
    }

    #[test]
    fn a_kernel_boot_on_hold_with_onegate() {
        let args = qemu_args("q7", DIR, &launch(), true);
        let expected = [
            "-name",
            "guest=q7",
            "-machine",
            "q35,accel=tcg",
            "-m",
            "size=512M",
            "-smp",
            "cpus=2",
            "-nodefaults",
            "-no-user-config",
            "-no-shutdown",
            "-display",
            "none",
            "-monitor",
            "none",
            "-serial",
            "file:/var/lib/flotilla/qemu/vms/q7/console.log",
            "-qmp",
            "unix:/var/lib/flotilla/qemu/vms/q7/qmp.sock,server=on,wait=off",
            "-kernel",
            "/opt/flotilla/images/qemu/vmlinuz",
            "-initrd",
            "/opt/flotilla/images/qemu/initrd.img",
            "-append",
            "console=ttyS0 quiet",
            "-drive",
            "file=fat:ro:/var/lib/flotilla/qemu/vms/q7/context,format=raw,if=virtio,readonly=on",
            "-netdev",
            "user,id=n0,restrict=on,guestfwd=tcp:10.0.2.100:5030-cmd:socat STDIO TCP:127.0.0.1:5030",
            "-device",
            "virtio-net-pci,netdev=n0",
            "-S",
        ];
        assert_eq!(args, expected);
    }

    #[test]
    fn a_disk_boot_running_without_nic() {
        let l = Launch {
            accel: "kvm".into(),
            kernel: None,
            disks: vec![
                DiskImage {
                    base: "/img/base.qcow2".into(),
                    format: DiskFormat::Qcow2,
                },
                DiskImage {
                    base: "/img/data.raw".into(),
                    format: DiskFormat::Raw,
                },
            ],
            net: None,
            ..launch()
        };
        let args = qemu_args("q7", DIR, &l, false);
        assert!(!args.contains(&"-S".to_string()));
        assert!(!args.contains(&"-kernel".to_string()));
        assert!(!args.contains(&"-netdev".to_string()));
        assert!(args.contains(&"q35,accel=kvm".to_string()));
        let drives: Vec<&String> = args
            .iter()
            .zip(args.iter().skip(1))
            .filter(|(flag, _)| *flag == "-drive")
            .map(|(_, v)| v)
            .collect();
        assert_eq!(
            drives,
            [
                "file=/var/lib/flotilla/qemu/vms/q7/disk.qcow2,format=qcow2,if=virtio",
                "file=/var/lib/flotilla/qemu/vms/q7/disk1.qcow2,format=qcow2,if=virtio",
                "file=fat:ro:/var/lib/flotilla/qemu/vms/q7/context,format=raw,if=virtio,readonly=on",
            ]
        );
        let user_nic = Launch {
            net: Some(Net { onegate: None }),
            ..l
        };
        let args = qemu_args("q7", DIR, &user_nic, false);
        assert!(
            args.windows(2)
                .any(|w| w == ["-netdev", "user,id=n0,restrict=on"])
        );
    }

    #[test]
    fn qemu_img_makes_an_overlay_in_the_vm_directory() {
        assert_eq!(
            qemu_img_args(DiskFormat::Raw, "/img/base.raw", DIR, 1),
            [
                "create",
                "-f",
                "qcow2",
                "-F",
                "raw",
                "-b",
                "/img/base.raw",
                "/var/lib/flotilla/qemu/vms/q7/disk1.qcow2"
            ]
        );
        assert!(is_overlay("disk.qcow2") && is_overlay("disk12.qcow2"));
        assert!(!is_overlay("disk.qcow2.tmp") && !is_overlay("diskx.qcow2"));
    }

    /// The host's matcher, the one `flotilla:host/process` enforces,
    /// with the directories put in lexically (the host also resolves
    /// them on disk).
    use flotilla_plugin_sdk::pattern::{glob, match_groups};

    const STATE: &str = "/var/lib/flotilla/qemu";
    const IMAGES: &str = "/var/lib/flotilla/images";

    fn granted(groups: &[Vec<String>], args: &[String]) -> Result<(), usize> {
        match_groups(groups, args, |p, arg| {
            !arg.contains("..")
                && glob(&p.replace(STATE_DIR, STATE).replace(IMAGE_DIR, IMAGES), arg)
        })
    }

    fn one(arg: &str) -> Vec<String> {
        vec![arg.to_string()]
    }

    #[test]
    fn every_command_line_matches_the_derived_grant() {
        let groups = qemu_groups(
            "tcg",
            &[boot()],
            &["tcp:10.0.2.100:5030-cmd:socat STDIO TCP:127.0.0.1:5030".into()],
            &[],
        );
        let disks = Launch {
            kernel: None,
            disks: vec![
                DiskImage {
                    base: format!("{IMAGES}/b.qcow2"),
                    format: DiskFormat::Qcow2,
                };
                3
            ],
            net: Some(Net { onegate: None }),
            ..launch()
        };
        let dir = format!("{STATE}/vms/q7");
        for (l, paused) in [(launch(), true), (launch(), false), (disks, false)] {
            let args = qemu_args("q7", &dir, &l, paused);
            assert_eq!(granted(&groups, &args), Ok(()), "{args:?} in {groups:?}");
        }
        // What the grant keeps out, each in the place of a granted value.
        for (flag, value) in [
            ("-machine", "q35,accel=kvm"),
            ("-drive", "file=/etc/shadow,format=raw,if=virtio"),
            (
                "-drive",
                &format!("file={IMAGES}/b.qcow2,format=qcow2,if=virtio"),
            ),
            ("-serial", "file:/tmp/console.log"),
            (
                "-qmp",
                "unix:/var/lib/flotilla/qemu/vms/q7/../../../x/qmp.sock,server=on,wait=off",
            ),
            ("-append", "console=ttyS0 init=/bin/sh"),
            ("-netdev", "user,id=n0"),
            // `none` is granted after `-display` and `-monitor` only.
            ("-kernel", "none"),
        ] {
            let args = vec![flag.to_string(), value.to_string()];
            assert!(granted(&groups, &args).is_err(), "{args:?} is granted");
        }
        assert!(granted(&groups, &one("-hda")).is_err());
        let img = qemu_img_groups();
        for (i, format) in [DiskFormat::Qcow2, DiskFormat::Raw].into_iter().enumerate() {
            let args = qemu_img_args(format, &format!("{IMAGES}/b.img"), &dir, i);
            assert_eq!(granted(&img, &args), Ok(()), "{args:?}");
        }
        // Another VM's disk is never a backing file, whatever the format.
        for format in [DiskFormat::Qcow2, DiskFormat::Raw] {
            let other = overlay(&format!("{STATE}/vms/q0"), 0);
            let args = qemu_img_args(format, &other, &dir, 0);
            assert!(granted(&img, &args).is_err(), "{args:?}");
        }
        assert!(granted(&img, &one("/etc/passwd")).is_err());
    }
}
