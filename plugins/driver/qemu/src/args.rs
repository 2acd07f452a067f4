//! The command lines the driver runs: QEMU for a VM, `qemu-img` for its
//! overlay. Each is built by one function from string parts, so the same
//! function with wildcards in place of the per-VM values gives the
//! argument patterns an operator grants (README.md lists them; a test
//! checks that it still does). Pure.

use crate::template::{DiskFormat, KernelBoot, Launch};

pub const QEMU: &str = "qemu-system-x86_64";
pub const QEMU_IMG: &str = "qemu-img";

/// The bus the VM's disk and its context drive are attached to. The test
/// guest (examples/images/qemu) loads virtio_blk; `ide` would need no
/// guest driver.
pub const DISK_INTERFACE: &str = "virtio";
pub const CONTEXT_INTERFACE: &str = "virtio";
/// The NIC model of the user network.
pub const NIC_MODEL: &str = "virtio-net-pci";
/// `restrict=on`: the guest reaches nothing but the guestfwd targets (and
/// QEMU's DHCP): nothing leaves the machine.
pub const NETDEV: &str = "user,id=n0,restrict=on";

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
pub fn overlay(vm_dir: &str) -> String {
    format!("{vm_dir}/disk.qcow2")
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
    disk: bool,
    /// `Some(guestfwd)` for a NIC, with OneGate's forward if any.
    nic: Option<Option<String>>,
    paused: bool,
}

/// THE QEMU command line (every element one argument).
fn qemu_line(p: &Parts) -> Vec<String> {
    let mut a: Vec<String> = Vec::with_capacity(40);
    let mut push = |items: &[&str]| a.extend(items.iter().map(|s| s.to_string()));
    push(&["-name", &format!("guest={}", p.name)]);
    push(&["-machine", &format!("q35,accel={}", p.accel)]);
    push(&["-m", &format!("size={}M", p.memory_mb)]);
    push(&["-smp", &format!("cpus={}", p.vcpus)]);
    // No default devices (NIC, CD-ROM, VGA, monitor), no host config
    // files; a guest that powers off leaves QEMU in `shutdown` (POWEROFF)
    // rather than gone (FAILED) until the driver quits it.
    push(&["-nodefaults", "-no-user-config", "-no-shutdown"]);
    push(&["-display", "none", "-monitor", "none"]);
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
    if p.disk {
        push(&[
            "-drive",
            &format!(
                "file={},format=qcow2,if={DISK_INTERFACE}",
                overlay(p.vm_dir)
            ),
        ]);
    }
    push(&[
        "-drive",
        &format!(
            "file=fat:ro:{},format=raw,if={CONTEXT_INTERFACE},readonly=on",
            context_dir(p.vm_dir)
        ),
    ]);
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
        disk: launch.disk.is_some(),
        nic: launch
            .net
            .as_ref()
            .map(|n| n.onegate.as_ref().map(|f| f.guestfwd())),
        paused,
    })
}

fn qemu_img_line(format: &str, base: &str, overlay: &str) -> Vec<String> {
    ["create", "-f", "qcow2", "-F", format, "-b", base, overlay]
        .map(String::from)
        .to_vec()
}

/// `qemu-img create`: the VM's copy-on-write overlay on a base image.
pub fn qemu_img_args(format: DiskFormat, base: &str, vm_dir: &str) -> Vec<String> {
    qemu_img_line(format.as_str(), base, &overlay(vm_dir))
}

/// `{dir}/vms/q*`: a VM's directory, as a grant pattern (`{dir}` being
/// the granted state directory itself).
pub const VM_DIR_PATTERN: &str = "{dir}/vms/q*";

/// The patterns of the operator's grant for `qemu-system-x86_64`, from
/// the same function as the command lines: what varies per VM is a
/// wildcard, what the operator configures (accelerator, boot files and
/// command line, OneGate's port) is exact.
pub fn qemu_patterns(accel: &str, boots: &[KernelBoot], onegate: &[String]) -> Vec<String> {
    let base = |kernel, nic| Parts {
        name: "q*",
        vm_dir: VM_DIR_PATTERN,
        accel,
        memory_mb: "*",
        vcpus: "*",
        kernel,
        disk: true,
        nic,
        paused: true,
    };
    // The whole line first (the README reads in QEMU's order), then the
    // variants: a NIC without OneGate, other boot files, other ports.
    let mut lines = vec![qemu_line(&base(
        boots.first(),
        Some(onegate.first().cloned()),
    ))];
    lines.push(qemu_line(&base(None, Some(None))));
    for boot in boots.iter().skip(1) {
        lines.push(qemu_line(&base(Some(boot), None)));
    }
    for fwd in onegate.iter().skip(1) {
        lines.push(qemu_line(&base(None, Some(Some(fwd.clone())))));
    }
    dedup(lines.concat())
}

/// The patterns for `qemu-img`: `bases` are patterns of the base images
/// the operator allows (`/var/lib/flotilla/images/*.qcow2`).
pub fn qemu_img_patterns(bases: &[&str]) -> Vec<String> {
    let mut lines = Vec::new();
    for format in [DiskFormat::Qcow2, DiskFormat::Raw] {
        for base in bases {
            lines.push(qemu_img_line(
                format.as_str(),
                base,
                &overlay(VM_DIR_PATTERN),
            ));
        }
    }
    dedup(lines.concat())
}

fn dedup(items: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(items.len());
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
            disk: None,
            net: Some(Net {
                onegate: Some(Forward {
                    guest_port: 5030,
                    host_port: 5030,
                }),
            }),
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
            disk: Some(DiskImage {
                base: "/img/base.qcow2".into(),
                format: DiskFormat::Qcow2,
            }),
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
            qemu_img_args(DiskFormat::Raw, "/img/base.raw", DIR),
            [
                "create",
                "-f",
                "qcow2",
                "-F",
                "raw",
                "-b",
                "/img/base.raw",
                "/var/lib/flotilla/qemu/vms/q7/disk.qcow2"
            ]
        );
    }

    /// The host's matcher, the one `flotilla:host/process` enforces.
    use flotilla_plugin_sdk::pattern::glob;

    fn granted(patterns: &[String], dir: &str, arg: &str) -> bool {
        patterns.iter().any(|p| {
            if p.contains("{dir}") {
                !arg.contains("..") && glob(&p.replace("{dir}", dir), arg)
            } else {
                glob(p, arg)
            }
        })
    }

    #[test]
    fn every_argument_matches_the_derived_grant() {
        let patterns = qemu_patterns(
            "tcg",
            &[boot()],
            &["tcp:10.0.2.100:5030-cmd:socat STDIO TCP:127.0.0.1:5030".into()],
        );
        let disk = Launch {
            kernel: None,
            disk: Some(DiskImage {
                base: "/img/b.qcow2".into(),
                format: DiskFormat::Qcow2,
            }),
            net: Some(Net { onegate: None }),
            ..launch()
        };
        for (l, paused) in [(launch(), true), (launch(), false), (disk, false)] {
            for arg in qemu_args("q7", DIR, &l, paused) {
                assert!(
                    granted(&patterns, "/var/lib/flotilla/qemu", &arg),
                    "{arg} in {patterns:?}"
                );
            }
        }
        // What the grant keeps out.
        for arg in [
            "q35,accel=kvm",
            "file=/etc/shadow,format=raw,if=virtio",
            "file:/tmp/console.log",
            "unix:/var/lib/flotilla/qemu/vms/q7/../../../x/qmp.sock,server=on,wait=off",
            "console=ttyS0 init=/bin/sh",
            "user,id=n0",
            "-hda",
        ] {
            assert!(
                !granted(&patterns, "/var/lib/flotilla/qemu", arg),
                "{arg} is granted by {patterns:?}"
            );
        }
        let img = qemu_img_patterns(&["/img/*.qcow2"]);
        for arg in qemu_img_args(DiskFormat::Qcow2, "/img/b.qcow2", DIR) {
            assert!(granted(&img, "/var/lib/flotilla/qemu", &arg), "{arg}");
        }
        assert!(!granted(&img, "/var/lib/flotilla/qemu", "/etc/passwd"));
    }

    /// README.md's grant is the derived one, pattern for pattern.
    #[test]
    fn the_readme_grant_is_the_derived_one() {
        let readme = include_str!("../README.md");
        let toml_list = |patterns: Vec<String>| {
            patterns
                .iter()
                .map(|p| format!("    {p:?},\n"))
                .collect::<String>()
        };
        let boot = KernelBoot {
            kernel: "/opt/flotilla/images/qemu/vmlinuz".into(),
            initrd: Some("/opt/flotilla/images/qemu/initrd.img".into()),
            append: "console=ttyS0 quiet".into(),
        };
        let qemu = toml_list(qemu_patterns(
            "tcg",
            &[boot],
            &["tcp:10.0.2.100:5030-cmd:socat STDIO TCP:127.0.0.1:5030".into()],
        ));
        assert!(
            readme.contains(&format!("args = [\n{qemu}]")),
            "README.md's qemu-system-x86_64 grant should be:\nargs = [\n{qemu}]"
        );
        let img = toml_list(qemu_img_patterns(&["/var/lib/flotilla/images/*.qcow2"]));
        assert!(
            readme.contains(&format!("args = [\n{img}]")),
            "README.md's qemu-img grant should be:\nargs = [\n{img}]"
        );
    }
}
