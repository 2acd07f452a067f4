//! The domain XML `virsh define` reads. Pure.

use crate::template::{Attachment, Domain};

/// The namespace of the driver's element in a domain's `<metadata>`.
pub const METADATA_NS: &str = "https://flotilla.dev/xmlns/libvirt/1";

/// Text or an attribute value, escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("&apos;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// The `i`th virtio disk's device: `vda`, `vdb`, … (`vdz`, then `vd?`:
/// the template allows far fewer disks).
fn virtio_disk(i: usize) -> String {
    let letter = u8::try_from(i)
        .ok()
        .filter(|i| *i < 26)
        .map_or('?', |i| char::from(b'a' + i));
    format!("vd{letter}")
}

/// The domain's XML: TCG (`type='qemu'`) or KVM, q35; each disk virtio
/// (a writable one `<transient/>`: QEMU writes an overlay beside the image
/// and drops it when the domain stops, the image itself is never
/// written), then the context disk: the context's directory as a
/// read-only FAT disk (`<disk type='dir'>`, QEMU's vvfat), which the
/// guest mounts to read `context.sh`; each NIC on the TAP the network's
/// plumbing made for it (libvirt opens it, `managed='no'`), else on its
/// bridge; the serial console on a pty (and logged to a file when
/// configured).
pub fn domain_xml(d: &Domain) -> String {
    let e = escape;
    let mut x = String::new();
    x.push_str(&format!("<domain type='{}'>\n", d.domain_type));
    x.push_str(&format!("  <name>{}</name>\n", e(&d.name)));
    x.push_str(&format!("  <title>{}</title>\n", e(&d.owner.vm_name)));
    x.push_str("  <metadata>\n");
    x.push_str(&format!(
        "    <flotilla:vm xmlns:flotilla='{METADATA_NS}'>\n\
         \x20     <flotilla:operation>{}</flotilla:operation>\n\
         \x20     <flotilla:service>{}</flotilla:service>\n\
         \x20     <flotilla:role>{}</flotilla:role>\n\
         \x20     <flotilla:name>{}</flotilla:name>\n\
         \x20   </flotilla:vm>\n",
        e(&d.owner.operation_id),
        d.owner.service_id,
        e(&d.owner.role_name),
        e(&d.owner.vm_name),
    ));
    x.push_str("  </metadata>\n");
    x.push_str(&format!("  <memory unit='MiB'>{}</memory>\n", d.memory_mb));
    x.push_str(&format!("  <vcpu>{}</vcpu>\n", d.vcpus));
    x.push_str("  <os>\n    <type arch='x86_64' machine='q35'>hvm</type>\n");
    match &d.kernel {
        Some(k) => {
            x.push_str(&format!("    <kernel>{}</kernel>\n", e(&k.kernel)));
            if let Some(initrd) = &k.initrd {
                x.push_str(&format!("    <initrd>{}</initrd>\n", e(initrd)));
            }
            x.push_str(&format!("    <cmdline>{}</cmdline>\n", e(&k.append)));
        }
        None => x.push_str("    <boot dev='hd'/>\n"),
    }
    x.push_str("  </os>\n");
    x.push_str("  <features>\n    <acpi/>\n  </features>\n");
    x.push_str("  <on_poweroff>destroy</on_poweroff>\n");
    x.push_str("  <on_reboot>restart</on_reboot>\n");
    x.push_str("  <on_crash>preserve</on_crash>\n");
    x.push_str("  <devices>\n");
    for (i, disk) in d.disks.iter().enumerate() {
        let dev = virtio_disk(i);
        x.push_str("    <disk type='file' device='disk'>\n");
        x.push_str(&format!(
            "      <driver name='qemu' type='{}'/>\n",
            e(&disk.format)
        ));
        x.push_str(&format!("      <source file='{}'/>\n", e(&disk.path)));
        x.push_str(&format!("      <target dev='{dev}' bus='virtio'/>\n"));
        if disk.readonly {
            x.push_str("      <readonly/>\n");
        } else {
            x.push_str("      <transient/>\n");
        }
        x.push_str("    </disk>\n");
    }
    if let Some(context) = &d.context {
        x.push_str("    <disk type='dir' device='disk'>\n");
        x.push_str("      <driver name='qemu' type='fat'/>\n");
        x.push_str(&format!("      <source dir='{}'/>\n", e(&context.dir)));
        x.push_str(&format!(
            "      <target dev='{}' bus='virtio'/>\n",
            virtio_disk(d.disks.len())
        ));
        x.push_str("      <readonly/>\n");
        x.push_str("    </disk>\n");
    }
    for nic in &d.nics {
        match &nic.attachment {
            Attachment::Tap(tap) => {
                x.push_str("    <interface type='ethernet'>\n");
                x.push_str(&format!("      <target dev='{}' managed='no'/>\n", e(tap)));
            }
            Attachment::Bridge(bridge) => {
                x.push_str("    <interface type='bridge'>\n");
                x.push_str(&format!("      <source bridge='{}'/>\n", e(bridge)));
            }
        }
        if let Some(mac) = &nic.mac {
            x.push_str(&format!("      <mac address='{}'/>\n", e(mac)));
        }
        x.push_str("      <model type='virtio'/>\n");
        x.push_str("    </interface>\n");
    }
    x.push_str("    <serial type='pty'>\n      <target port='0'/>\n");
    if let Some(log) = &d.console_log {
        x.push_str(&format!("      <log file='{}' append='off'/>\n", e(log)));
    }
    x.push_str("    </serial>\n");
    x.push_str(
        "    <console type='pty'>\n      <target type='serial' port='0'/>\n    </console>\n",
    );
    x.push_str("  </devices>\n");
    x.push_str("</domain>\n");
    x
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::{Attachment, Context, Disk, KernelBoot, Nic, Owner};

    fn domain() -> Domain {
        Domain {
            name: "flotilla-7-web-0123456789ab".into(),
            domain_type: "qemu",
            vcpus: 2,
            memory_mb: 512,
            kernel: None,
            disks: vec![
                Disk {
                    path: "/img/base.qcow2".into(),
                    format: "qcow2".into(),
                    readonly: false,
                },
                Disk {
                    path: "/img/data.raw".into(),
                    format: "raw".into(),
                    readonly: true,
                },
            ],
            nics: vec![
                Nic {
                    attachment: Attachment::Bridge("br0".into()),
                    mac: Some("02:00:0a:00:00:05".into()),
                },
                Nic {
                    attachment: Attachment::Tap("fl-t7-1".into()),
                    mac: Some("02:00:0a:00:01:07".into()),
                },
            ],
            context: Some(Context {
                dir: "/s/context/flotilla-7-web-0123456789ab".into(),
                script: "A='<b>&'\n".into(),
                token: None,
            }),
            console_log: Some("/var/log/flotilla/flotilla-7-web-0123456789ab.log".into()),
            owner: Owner {
                operation_id: "op<1>".into(),
                service_id: 7,
                role_name: "web".into(),
                vm_name: "web_0".into(),
            },
        }
    }

    #[test]
    fn the_xml_says_what_the_domain_is() {
        let x = domain_xml(&domain());
        for part in [
            "<domain type='qemu'>",
            "<name>flotilla-7-web-0123456789ab</name>",
            "<flotilla:vm xmlns:flotilla='https://flotilla.dev/xmlns/libvirt/1'>",
            "<flotilla:operation>op&lt;1&gt;</flotilla:operation>",
            "<flotilla:service>7</flotilla:service>",
            "<memory unit='MiB'>512</memory>",
            "<vcpu>2</vcpu>",
            "<boot dev='hd'/>",
            "<source file='/img/base.qcow2'/>\n      <target dev='vda' bus='virtio'/>\n      <transient/>",
            "<driver name='qemu' type='raw'/>\n      <source file='/img/data.raw'/>\n      <target dev='vdb' bus='virtio'/>\n      <readonly/>",
            "<interface type='bridge'>\n      <source bridge='br0'/>\n      <mac address='02:00:0a:00:00:05'/>\n      <model type='virtio'/>\n    </interface>",
            "<interface type='ethernet'>\n      <target dev='fl-t7-1' managed='no'/>\n      <mac address='02:00:0a:00:01:07'/>\n      <model type='virtio'/>\n    </interface>",
            "<transient/>\n    </disk>\n    <disk type='file' device='disk'>\n      <driver name='qemu' type='raw'/>",
            "<readonly/>\n    </disk>\n    <disk type='dir' device='disk'>\n      <driver name='qemu' type='fat'/>\n      <source dir='/s/context/flotilla-7-web-0123456789ab'/>\n      <target dev='vdc' bus='virtio'/>\n      <readonly/>\n    </disk>\n    <interface type='bridge'>",
            "<log file='/var/log/flotilla/flotilla-7-web-0123456789ab.log' append='off'/>",
        ] {
            assert!(x.contains(part), "missing {part} in\n{x}");
        }
        let mut kernel = domain();
        kernel.disks.clear();
        kernel.nics.clear();
        kernel.context = None;
        kernel.domain_type = "kvm";
        kernel.kernel = Some(KernelBoot {
            kernel: "/img/vmlinuz".into(),
            initrd: Some("/img/initrd.img".into()),
            append: "console=ttyS0".into(),
        });
        let x = domain_xml(&kernel);
        assert!(x.starts_with("<domain type='kvm'>"));
        assert!(x.contains("<kernel>/img/vmlinuz</kernel>\n    <initrd>/img/initrd.img</initrd>\n    <cmdline>console=ttyS0</cmdline>"));
        assert!(!x.contains("<interface") && !x.contains("<disk"));
        // Without disks the context disk is the first.
        let mut context_only = domain();
        context_only.disks.clear();
        let x = domain_xml(&context_only);
        assert!(
            x.contains("<source dir='/s/context/flotilla-7-web-0123456789ab'/>\n      <target dev='vda' bus='virtio'/>"),
            "{x}"
        );
        assert!(!x.contains("context.sh") && !x.contains("sysinfo"));
        assert_eq!(virtio_disk(8), "vdi");
    }
}
