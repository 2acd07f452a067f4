//! The VM template (OpenNebula attributes, as JSON) read into what QEMU
//! needs, and the launch plan kept in `vm.json`. Pure: no files, no
//! processes.

use crate::context::Forward;
use crate::settings::{Settings, check_path, is_device_name};
use flotilla_plugin_sdk::driver::Error;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub const MAX_VCPUS: u32 = 255;
/// 4 TiB.
pub const MAX_MEMORY_MB: u64 = 4 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiskFormat {
    Qcow2,
    Raw,
}

impl DiskFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            DiskFormat::Qcow2 => "qcow2",
            DiskFormat::Raw => "raw",
        }
    }

    fn parse(name: &str) -> Option<DiskFormat> {
        match name.to_ascii_lowercase().as_str() {
            "qcow2" => Some(DiskFormat::Qcow2),
            "raw" => Some(DiskFormat::Raw),
            _ => None,
        }
    }

    /// The format of a base image: the one the template declares, else
    /// what its first bytes say (when the sandbox can read them), else
    /// `raw` for a `.raw` file and `qcow2` for anything else (`qemu-img`
    /// refuses a wrong guess, with its reason).
    pub fn resolve(declared: Option<DiskFormat>, magic: Option<&[u8]>, path: &str) -> DiskFormat {
        if let Some(format) = declared {
            return format;
        }
        match magic {
            Some(m) if m.starts_with(b"QFI\xfb") => DiskFormat::Qcow2,
            Some(m) if m.len() >= 4 => DiskFormat::Raw,
            _ if path.to_ascii_lowercase().ends_with(".raw") => DiskFormat::Raw,
            _ => DiskFormat::Qcow2,
        }
    }
}

/// A disk of the template: a copy-on-write overlay on `base`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskRequest {
    /// Where the file came from, for messages: `DISK[1].PATH`, or
    /// `DISK[0].SOURCE` (the file of the image the server resolved).
    pub field: String,
    pub base: String,
    /// DRIVER or FORMAT, when the template (or the image) says.
    pub format: Option<DiskFormat>,
}

/// The most disks a VM gets (each a virtio device on the PCI bus).
pub const MAX_DISKS: usize = 8;

/// The most NICs on host devices a VM gets (each a virtio device on the
/// PCI bus, beside its disks).
pub const MAX_TAPS: usize = 8;

/// A NIC QEMU attaches to a tap device on the host: the NIC's `NIC_ID`,
/// the device (`TARGET`, made and put on its network's bridge by the
/// host's plumbing before the VM is created) and the NIC's `MAC`, by
/// which the guest finds its `ETH<n>_*` context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tap {
    pub nic_id: u32,
    pub ifname: String,
    pub mac: String,
}

/// A tap NIC of the template, with where it came from (`NIC[1]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapRequest {
    pub field: String,
    pub tap: Tap,
}

/// What the driver reads from a template.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Template {
    pub vcpus: Option<u32>,
    pub memory_mb: Option<u64>,
    /// Every DISK, in order; the first is the one a VM without KERNEL
    /// boots from.
    pub disks: Vec<DiskRequest>,
    pub kernel: Option<String>,
    pub initrd: Option<String>,
    pub kernel_cmd: Option<String>,
    /// CONTEXT, as strings, in the template's order.
    pub context: Vec<(String, String)>,
    /// How many NICs the template has.
    pub nics: usize,
    /// The NICs with a `TARGET`, in `NIC_ID` order.
    pub taps: Vec<TapRequest>,
}

fn invalid(field: &str, reason: impl std::fmt::Display) -> Error {
    Error::InvalidInput(format!("{field}: {reason}"))
}

/// A scalar attribute as text; `None` for null, an error for a list or
/// an object.
fn scalar(field: &str, value: &Value) -> Result<Option<String>, Error> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        Value::Array(_) | Value::Object(_) => {
            Err(invalid(field, "must be a value, not a list or an object"))
        }
    }
}

/// An attribute by name, case-insensitively (OpenNebula's names are).
fn attr<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    map.get(name).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

fn text_attr(map: &Map<String, Value>, name: &str, field: &str) -> Result<Option<String>, Error> {
    match attr(map, name) {
        None => Ok(None),
        Some(v) => Ok(scalar(field, v)?
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())),
    }
}

fn path_attr(map: &Map<String, Value>, name: &str, field: &str) -> Result<Option<String>, Error> {
    let Some(path) = text_attr(map, name, field)? else {
        return Ok(None);
    };
    check_path(&path).map_err(|e| invalid(field, e))?;
    Ok(Some(path))
}

fn parse_vcpus(text: &str) -> Option<u32> {
    text.parse::<u32>()
        .ok()
        .filter(|n| (1..=MAX_VCPUS).contains(n))
}

/// OpenNebula's CPU is a share of a physical CPU (`0.5`): the VM gets
/// that many virtual CPUs, rounded up, unless VCPU says.
fn parse_cpu(text: &str) -> Option<u32> {
    let cpu: f64 = text.parse().ok()?;
    if !cpu.is_finite() || cpu <= 0.0 || cpu > f64::from(MAX_VCPUS) {
        return None;
    }
    Some(cpu.ceil() as u32)
}

/// A list attribute (`DISK`, `NIC`): one object or a list of objects.
fn objects<'a>(field: &str, value: &'a Value) -> Result<Vec<&'a Map<String, Value>>, Error> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Object(o) => Ok(vec![o]),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                item.as_object()
                    .ok_or_else(|| invalid(&format!("{field}[{i}]"), "must be an object"))
            })
            .collect(),
        _ => Err(invalid(field, "must be an object or a list of objects")),
    }
}

/// A name the guest's shell can assign (`context.sh` is sourced).
pub fn is_shell_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// One DISK: `SOURCE`, the file of the image (`IMAGE_ID`, or `IMAGE`
/// with `IMAGE_UNAME`) the server resolved, as OpenNebula names it; else
/// `PATH`, a file the template names. Whether the file may be used (it
/// must lie in an image directory) is [`Launch::plan`]'s to say.
fn parse_disk(disk: &Map<String, Value>, field: &str) -> Result<DiskRequest, Error> {
    let mut found = None;
    for key in ["SOURCE", "PATH"] {
        let f = format!("{field}.{key}");
        if let Some(path) = path_attr(disk, key, &f)? {
            found = Some((f, path));
            break;
        }
    }
    let Some((field_of_base, base)) = found else {
        let image = ["IMAGE_ID", "IMAGE"]
            .iter()
            .find_map(|k| attr(disk, k).map(|v| format!("{k} {v}")));
        return Err(invalid(
            field,
            match image {
                Some(image) => format!(
                    "{image} names no file: the server puts the image's PATH in SOURCE, and \
                     this image has none"
                ),
                None => "needs an image (IMAGE_ID, or IMAGE with IMAGE_UNAME) or the PATH of a \
                         qcow2 or raw file in an image directory (volatile disks are not \
                         supported)"
                    .to_string(),
            },
        ));
    };
    let mut format = None;
    for key in ["DRIVER", "FORMAT"] {
        let f = format!("{field}.{key}");
        if let Some(name) = text_attr(disk, key, &f)? {
            format = Some(
                DiskFormat::parse(&name)
                    .ok_or_else(|| invalid(&f, format!("`{name}` is neither qcow2 nor raw")))?,
            );
            break;
        }
    }
    Ok(DiskRequest {
        field: field_of_base,
        base,
        format,
    })
}

/// A unicast MAC address, `02:00:0a:00:00:05`, lower-cased; `None` for
/// anything else (another separator, a multicast or the zero address).
pub fn parse_mac(text: &str) -> Option<String> {
    let octets: Vec<&str> = text.split(':').collect();
    if octets.len() != 6
        || !octets
            .iter()
            .all(|o| o.len() == 2 && o.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return None;
    }
    let first = u8::from_str_radix(octets[0], 16).ok()?;
    // The low bit of the first octet marks a group (multicast) address,
    // which no NIC may have; all zeros is no address.
    if first & 1 == 1 || octets.iter().all(|o| *o == "00") {
        return None;
    }
    Some(text.to_ascii_lowercase())
}

/// One NIC: the tap QEMU attaches it to, when it has a `TARGET`. `index`
/// is its place in the list, the `NIC_ID` of a NIC without one.
fn parse_nic(
    nic: &Map<String, Value>,
    field: &str,
    index: usize,
) -> Result<Option<TapRequest>, Error> {
    let Some(target) = text_attr(nic, "TARGET", &format!("{field}.TARGET"))? else {
        // No device of its own: the host made none for it.
        return Ok(None);
    };
    if !is_device_name(&target) {
        return Err(invalid(
            &format!("{field}.TARGET"),
            format!(
                "`{target}` is not a network device name (1 to 15 bytes of letters, digits, \
                 `_`, `.` and `-`)"
            ),
        ));
    }
    let nic_id = match text_attr(nic, "NIC_ID", &format!("{field}.NIC_ID"))? {
        None => u32::try_from(index).unwrap_or(u32::MAX),
        Some(id) => id.parse::<u32>().map_err(|_| {
            invalid(
                &format!("{field}.NIC_ID"),
                format!("`{id}` is not a whole number"),
            )
        })?,
    };
    let mac_field = format!("{field}.MAC");
    let mac = match text_attr(nic, "MAC", &mac_field)? {
        None => {
            return Err(invalid(
                &mac_field,
                format!(
                    "missing: NIC {nic_id} has a TARGET (`{target}`) and needs its MAC, by \
                     which the guest finds its network settings"
                ),
            ));
        }
        Some(text) => parse_mac(&text).ok_or_else(|| {
            invalid(
                &mac_field,
                format!(
                    "`{text}` is not a unicast MAC address (six pairs of hex digits separated \
                     by `:`, the first even)"
                ),
            )
        })?,
    };
    Ok(Some(TapRequest {
        field: field.to_string(),
        tap: Tap {
            nic_id,
            ifname: target,
            mac,
        },
    }))
}

/// The template's tap NICs in `NIC_ID` order, each NIC_ID, TARGET and
/// MAC used once.
fn parse_taps(nics: &[&Map<String, Value>], list: bool) -> Result<Vec<TapRequest>, Error> {
    let mut taps: Vec<TapRequest> = Vec::new();
    for (i, nic) in nics.iter().enumerate() {
        let field = if list {
            format!("NIC[{i}]")
        } else {
            "NIC".to_string()
        };
        let Some(tap) = parse_nic(nic, &field, i)? else {
            continue;
        };
        for other in &taps {
            let clash = if other.tap.nic_id == tap.tap.nic_id {
                Some(("NIC_ID", tap.tap.nic_id.to_string()))
            } else if other.tap.ifname == tap.tap.ifname {
                Some(("TARGET", tap.tap.ifname.clone()))
            } else if other.tap.mac == tap.tap.mac {
                Some(("MAC", tap.tap.mac.clone()))
            } else {
                None
            };
            if let Some((key, value)) = clash {
                return Err(invalid(
                    &format!("{field}.{key}"),
                    format!("`{value}` is also {}'s", other.field),
                ));
            }
        }
        if taps.len() == MAX_TAPS {
            return Err(invalid(
                "NIC",
                format!("more than {MAX_TAPS} NICs with a TARGET; a VM has at most {MAX_TAPS}"),
            ));
        }
        taps.push(tap);
    }
    taps.sort_by_key(|t| t.tap.nic_id);
    Ok(taps)
}

fn parse_context(value: &Value) -> Result<Vec<(String, String)>, Error> {
    let map = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Object(map) => map,
        _ => return Err(invalid("CONTEXT", "must be an object")),
    };
    let mut pairs = Vec::with_capacity(map.len());
    for (key, value) in map {
        let field = format!("CONTEXT.{key}");
        if !is_shell_name(key) {
            return Err(invalid(
                &field,
                "not a shell variable name (letters, digits and `_`, not starting with a digit)",
            ));
        }
        let value = scalar(&field, value)?.unwrap_or_default();
        if value.contains('\0') {
            return Err(invalid(&field, "contains a NUL character"));
        }
        pairs.push((key.to_ascii_uppercase(), value));
    }
    Ok(pairs)
}

impl Template {
    pub fn parse(text: &str) -> Result<Template, Error> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| invalid("template", format!("not JSON: {e}")))?;
        let Value::Object(map) = value else {
            return Err(invalid("template", "must be a JSON object"));
        };
        let mut t = Template::default();

        let cpu = text_attr(&map, "CPU", "CPU")?;
        let vcpu = text_attr(&map, "VCPU", "VCPU")?;
        t.vcpus = match (vcpu, cpu) {
            (Some(v), _) => Some(parse_vcpus(&v).ok_or_else(|| {
                invalid(
                    "VCPU",
                    format!("`{v}` is not a whole number of CPUs from 1 to {MAX_VCPUS}"),
                )
            })?),
            (None, Some(c)) => Some(parse_cpu(&c).ok_or_else(|| {
                invalid(
                    "CPU",
                    format!("`{c}` is not a number of CPUs above 0 and at most {MAX_VCPUS}"),
                )
            })?),
            (None, None) => None,
        };
        t.memory_mb = match text_attr(&map, "MEMORY", "MEMORY")? {
            None => None,
            Some(m) => Some(
                m.parse::<u64>()
                    .ok()
                    .filter(|mb| (1..=MAX_MEMORY_MB).contains(mb))
                    .ok_or_else(|| {
                        invalid(
                            "MEMORY",
                            format!("`{m}` is not a whole number of MiB from 1 to {MAX_MEMORY_MB}"),
                        )
                    })?,
            ),
        };

        if let Some(disks) = attr(&map, "DISK") {
            let list = disks.is_array();
            let disks = objects("DISK", disks)?;
            if disks.len() > MAX_DISKS {
                return Err(invalid(
                    "DISK",
                    format!("{} disks; a VM has at most {MAX_DISKS}", disks.len()),
                ));
            }
            for (i, disk) in disks.iter().enumerate() {
                let field = if list {
                    format!("DISK[{i}]")
                } else {
                    "DISK".to_string()
                };
                t.disks.push(parse_disk(disk, &field)?);
            }
        }

        // KERNEL / INITRD / KERNEL_CMD at the top level, or in OpenNebula's
        // OS vector; the top level wins.
        let os = match attr(&map, "OS") {
            None | Some(Value::Null) => None,
            Some(Value::Object(os)) => Some(os),
            Some(_) => return Err(invalid("OS", "must be an object")),
        };
        let boot_attr = |name: &str, path: bool| -> Result<Option<String>, Error> {
            let read = |m: &Map<String, Value>, field: &str| {
                if path {
                    path_attr(m, name, field)
                } else {
                    text_attr(m, name, field)
                }
            };
            match read(&map, name)? {
                Some(v) => Ok(Some(v)),
                None => match os {
                    Some(os) => read(os, &format!("OS.{name}")),
                    None => Ok(None),
                },
            }
        };
        t.kernel = boot_attr("KERNEL", true)?;
        t.initrd = boot_attr("INITRD", true)?;
        t.kernel_cmd = boot_attr("KERNEL_CMD", false)?;

        if let Some(context) = attr(&map, "CONTEXT") {
            t.context = parse_context(context)?;
        }
        // NIC_ALIAS entries get no device: the guest adds their
        // addresses on their parent NIC, from its context.
        if let Some(nics) = attr(&map, "NIC") {
            let list = nics.is_array();
            let nics = objects("NIC", nics)?;
            t.nics = nics.len();
            t.taps = parse_taps(&nics, list)?;
        }
        Ok(t)
    }
}

/// How a VM boots from a kernel and initrd on the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelBoot {
    pub kernel: String,
    #[serde(default)]
    pub initrd: Option<String>,
    pub append: String,
}

/// A disk of the VM: an overlay in its directory (`args::overlay`) on
/// `base`, a file in an image directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskImage {
    pub base: String,
    pub format: DiskFormat,
}

/// The VM's one NIC: QEMU user networking, with OneGate forwarded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Net {
    #[serde(default)]
    pub onegate: Option<Forward>,
}

/// Everything the QEMU command line is made from, kept in `vm.json` (as
/// its `template` summary) so that a restart (resume after a power-off,
/// a create retried after a crash) runs the same machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Launch {
    pub accel: String,
    pub vcpus: u32,
    pub memory_mb: u64,
    #[serde(default)]
    pub kernel: Option<KernelBoot>,
    /// The disks, the first one the boot disk. `disk` is the name of the
    /// one disk a VM recorded by an earlier release had.
    #[serde(default, alias = "disk", deserialize_with = "one_or_many")]
    pub disks: Vec<DiskImage>,
    /// The user-network NIC (OneGate's), which QEMU attaches after the
    /// taps.
    #[serde(default)]
    pub net: Option<Net>,
    /// The NICs on host devices, in `NIC_ID` order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taps: Vec<Tap>,
}

/// Nothing, one disk or a list of them.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<DiskImage>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Disks {
        Many(Vec<DiskImage>),
        One(DiskImage),
    }
    Ok(match Option::<Disks>::deserialize(d)? {
        None => Vec::new(),
        Some(Disks::One(disk)) => vec![disk],
        Some(Disks::Many(disks)) => disks,
    })
}

impl Launch {
    /// The plan for `template` under `settings`. `disk_formats` are the
    /// resolved formats of the template's disks (`None` where unknown);
    /// `onegate` the forward the context asks for. A disk whose file is
    /// not in an image directory is refused here, before anything is made.
    pub fn plan(
        template: &Template,
        settings: &Settings,
        disk_formats: &[Option<DiskFormat>],
        onegate: Option<Forward>,
    ) -> Result<Launch, Error> {
        let mut disks = Vec::with_capacity(template.disks.len());
        for (i, d) in template.disks.iter().enumerate() {
            if !settings.in_image_dir(&d.base) {
                let dirs = if settings.image_dirs.is_empty() {
                    "none is configured: set [plugins.qemu.config] image_dirs and grant them \
                     as image_dirs"
                        .to_string()
                } else {
                    format!("image_dirs: {}", settings.image_dirs.join(", "))
                };
                return Err(invalid(
                    &d.field,
                    format!(
                        "`{}` is not inside an image directory ({dirs}); disks come only from \
                         images",
                        d.base
                    ),
                ));
            }
            disks.push(DiskImage {
                base: d.base.clone(),
                format: disk_formats
                    .get(i)
                    .copied()
                    .flatten()
                    .or(d.format)
                    .unwrap_or(DiskFormat::Qcow2),
            });
        }
        // The template's KERNEL brings its own INITRD (or none); without
        // KERNEL, a VM without a disk boots the configured pair.
        let kernel = match (&template.kernel, disks.is_empty()) {
            (Some(kernel), _) => Some((kernel.clone(), template.initrd.clone())),
            (None, false) => None,
            (None, true) => match &settings.kernel {
                Some(kernel) => Some((
                    kernel.clone(),
                    template.initrd.clone().or_else(|| settings.initrd.clone()),
                )),
                None => {
                    return Err(invalid(
                        "KERNEL",
                        "the template has neither DISK nor KERNEL, and no default kernel is \
                         configured (set [plugins.qemu.config] kernel and initrd)",
                    ));
                }
            },
        };
        let kernel = kernel.map(|(kernel, initrd)| KernelBoot {
            kernel,
            initrd,
            append: template
                .kernel_cmd
                .clone()
                .unwrap_or_else(|| settings.boot_append.clone()),
        });
        // A tap only with a name the operator's plumbing makes: any other
        // could be a device of another VM, or of the host.
        for t in &template.taps {
            if !settings.tap_allowed(&t.tap.ifname) {
                let prefixes = if settings.tap_prefixes.is_empty() {
                    "none is configured: set [plugins.qemu.config] tap_prefixes to the \
                     prefixes of the network plumbing's devices, and grant them \
                     (flotilla plugin grant qemu --tap-prefix)"
                        .to_string()
                } else {
                    format!("tap_prefixes: {}", settings.tap_prefixes.join(", "))
                };
                return Err(invalid(
                    &format!("{}.TARGET", t.field),
                    format!(
                        "`{}` does not start with a tap prefix ({prefixes})",
                        t.tap.ifname
                    ),
                ));
            }
        }
        let taps: Vec<Tap> = template.taps.iter().map(|t| t.tap.clone()).collect();
        // The user network when the guest needs it to reach OneGate, or,
        // as before NICs had devices, when the template has NICs and none
        // has a tap (the guest gets a network, 10.0.2.15).
        let net = (onegate.is_some() || (template.nics > 0 && taps.is_empty()))
            .then_some(Net { onegate });
        Ok(Launch {
            accel: settings.accel.as_str().to_string(),
            vcpus: template.vcpus.unwrap_or(1),
            memory_mb: template.memory_mb.unwrap_or(settings.memory_mb),
            kernel,
            disks,
            net,
            taps,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Accel;
    use serde_json::json;

    fn parse(v: Value) -> Result<Template, Error> {
        Template::parse(&v.to_string())
    }

    fn field_of(err: Error) -> String {
        match err {
            Error::InvalidInput(m) => m.split(':').next().unwrap_or_default().to_string(),
            other => panic!("not invalid-input: {other:?}"),
        }
    }

    fn settings() -> Settings {
        Settings {
            state_dir: "/srv/q".into(),
            kernel: Some("/img/vmlinuz".into()),
            initrd: Some("/img/initrd.img".into()),
            accel: Accel::Tcg,
            onegate_port: None,
            memory_mb: 256,
            boot_append: "console=ttyS0 quiet".into(),
            image_dirs: vec!["/img".into()],
            tap_prefixes: vec!["fl-".into()],
        }
    }

    #[test]
    fn cpu_memory_and_vcpu_are_read() {
        let t = parse(json!({"CPU": "0.5", "MEMORY": "512"})).unwrap();
        assert_eq!((t.vcpus, t.memory_mb), (Some(1), Some(512)));
        let t = parse(json!({"CPU": 1.5, "VCPU": "4", "MEMORY": 1024})).unwrap();
        assert_eq!((t.vcpus, t.memory_mb), (Some(4), Some(1024)));
        let t = parse(json!({"cpu": "3"})).unwrap();
        assert_eq!(t.vcpus, Some(3));
        let t = parse(json!({})).unwrap();
        assert_eq!(t, Template::default());
    }

    #[test]
    fn bad_values_name_their_field() {
        let cases = [
            (json!({"CPU": "many"}), "CPU"),
            (json!({"CPU": "0"}), "CPU"),
            (json!({"CPU": "-1"}), "CPU"),
            (json!({"CPU": "NaN"}), "CPU"),
            (json!({"VCPU": "1.5", "CPU": "1"}), "VCPU"),
            (json!({"VCPU": "0"}), "VCPU"),
            (json!({"VCPU": "256"}), "VCPU"),
            (json!({"MEMORY": "1G"}), "MEMORY"),
            (json!({"MEMORY": 0}), "MEMORY"),
            (json!({"MEMORY": [512]}), "MEMORY"),
            (json!({"DISK": "disk.qcow2"}), "DISK"),
            (json!({"DISK": [{"IMAGE_ID": 3}]}), "DISK[0]"),
            (json!({"DISK": {"IMAGE_ID": 3}}), "DISK"),
            (json!({"DISK": {"PATH": "relative.qcow2"}}), "DISK.PATH"),
            (json!({"DISK": {"IMAGE": "base"}}), "DISK"),
            (json!({"DISK": {}}), "DISK"),
            (
                json!({"DISK": {"SOURCE": "/a/../etc/shadow"}}),
                "DISK.SOURCE",
            ),
            (
                json!({"DISK": [{"PATH": "/img/a.qcow2"}, {"PATH": "rel"}]}),
                "DISK[1].PATH",
            ),
            (json!({"DISK": vec![json!({"PATH": "/img/a"}); 9]}), "DISK"),
            (
                json!({"DISK": {"PATH": "/a.vmdk", "DRIVER": "vmdk"}}),
                "DISK.DRIVER",
            ),
            (json!({"DISK": [1]}), "DISK[0]"),
            (json!({"KERNEL": "vmlinuz"}), "KERNEL"),
            (json!({"OS": {"INITRD": "/x,y"}}), "OS.INITRD"),
            (json!({"OS": "linux"}), "OS"),
            (json!({"CONTEXT": "A=1"}), "CONTEXT"),
            (json!({"CONTEXT": {"A B": "1"}}), "CONTEXT.A B"),
            (json!({"CONTEXT": {"$(reboot)": "1"}}), "CONTEXT.$(reboot)"),
            (json!({"CONTEXT": {"1A": "1"}}), "CONTEXT.1A"),
            (json!({"CONTEXT": {"A": {"B": "1"}}}), "CONTEXT.A"),
            (json!({"CONTEXT": {"A": "a\u{0}b"}}), "CONTEXT.A"),
            (json!({"NIC": "eth0"}), "NIC"),
        ];
        for (template, field) in cases {
            let err = parse(template.clone()).expect_err(&template.to_string());
            assert_eq!(field_of(err), field, "{template}");
        }
        assert_eq!(
            field_of(Template::parse("[1, 2, 3]").unwrap_err()),
            "template"
        );
        assert_eq!(field_of(Template::parse("{").unwrap_err()), "template");
    }

    #[test]
    fn disks_nics_boot_files_and_context_are_read() {
        let t = parse(json!({
            "DISK": [{"PATH": "/img/base.qcow2"},
                     {"IMAGE_ID": "4", "SOURCE": "/img/data.raw", "PATH": "/ignored"}],
            "NIC": [{"NETWORK": "a"}, {"NETWORK": "b"}],
            "OS": {"KERNEL": "/boot/k", "KERNEL_CMD": "console=ttyS0"},
            "INITRD": "/boot/i",
            "CONTEXT": {"NETWORK": "YES", "burn_cpu": 2, "EMPTY": null},
        }))
        .unwrap();
        assert_eq!(
            t.disks,
            [
                DiskRequest {
                    field: "DISK[0].PATH".into(),
                    base: "/img/base.qcow2".into(),
                    format: None
                },
                DiskRequest {
                    field: "DISK[1].SOURCE".into(),
                    base: "/img/data.raw".into(),
                    format: None
                }
            ]
        );
        assert_eq!(t.nics, 2);
        assert_eq!(t.kernel.as_deref(), Some("/boot/k"));
        assert_eq!(t.initrd.as_deref(), Some("/boot/i"));
        assert_eq!(t.kernel_cmd.as_deref(), Some("console=ttyS0"));
        let mut context = t.context.clone();
        context.sort();
        assert_eq!(
            context,
            vec![
                ("BURN_CPU".to_string(), "2".to_string()),
                ("EMPTY".into(), "".into()),
                ("NETWORK".into(), "YES".into())
            ]
        );
        let t = parse(json!({"DISK": {"PATH": "/img/a.img", "DRIVER": "RAW"}})).unwrap();
        assert_eq!(t.disks[0].format, Some(DiskFormat::Raw));
    }

    #[test]
    fn disk_formats_resolve_from_what_is_known() {
        use DiskFormat::*;
        assert_eq!(DiskFormat::resolve(Some(Raw), Some(b"QFI\xfb"), "/a"), Raw);
        assert_eq!(
            DiskFormat::resolve(None, Some(b"QFI\xfb\0\0"), "/a.raw"),
            Qcow2
        );
        assert_eq!(
            DiskFormat::resolve(None, Some(b"\xeb\x63\x90\x10"), "/a.qcow2"),
            Raw
        );
        assert_eq!(DiskFormat::resolve(None, None, "/a.RAW"), Raw);
        assert_eq!(DiskFormat::resolve(None, None, "/cloud.img"), Qcow2);
    }

    #[test]
    fn the_plan_boots_the_configured_kernel_without_a_disk() {
        let s = settings();
        let t = parse(json!({"MEMORY": "512"})).unwrap();
        let plan = Launch::plan(&t, &s, &[], None).unwrap();
        assert_eq!(
            plan,
            Launch {
                accel: "tcg".into(),
                vcpus: 1,
                memory_mb: 512,
                kernel: Some(KernelBoot {
                    kernel: "/img/vmlinuz".into(),
                    initrd: Some("/img/initrd.img".into()),
                    append: "console=ttyS0 quiet".into(),
                }),
                disks: Vec::new(),
                net: None,
                taps: Vec::new(),
            }
        );
        // A disk boots from the disk; the template's KERNEL brings its own
        // INITRD (here none) and command line.
        let t = parse(json!({"DISK": {"PATH": "/img/base.qcow2"}, "NIC": [{}]})).unwrap();
        let plan = Launch::plan(&t, &s, &[Some(DiskFormat::Qcow2)], None).unwrap();
        assert_eq!((plan.kernel, plan.memory_mb), (None, 256));
        assert_eq!(plan.net, Some(Net { onegate: None }));
        let t = parse(json!({"KERNEL": "/k", "KERNEL_CMD": "root=/dev/vda"})).unwrap();
        let kernel = Launch::plan(&t, &s, &[], None).unwrap().kernel.unwrap();
        assert_eq!(
            (kernel.initrd, kernel.append.as_str()),
            (None, "root=/dev/vda")
        );
        // Nothing to boot.
        let bare = Settings {
            kernel: None,
            ..settings()
        };
        let err = Launch::plan(&Template::default(), &bare, &[], None).unwrap_err();
        assert_eq!(field_of(err), "KERNEL");
        // OneGate needs a NIC even when the template has none.
        let fwd = Forward {
            guest_port: 5030,
            host_port: 5030,
        };
        let plan = Launch::plan(&Template::default(), &s, &[], Some(fwd.clone())).unwrap();
        assert_eq!(plan.net, Some(Net { onegate: Some(fwd) }));
    }

    #[test]
    fn disks_come_only_from_image_directories() {
        let s = Settings {
            state_dir: "/srv/q".into(),
            ..settings()
        };
        // Another VM's overlay, whatever the declared format; a sibling of
        // the image directory; and with no image directory, nothing.
        for (disk, field) in [
            (json!({"PATH": "/srv/q/vms/q0/disk.qcow2"}), "DISK.PATH"),
            (
                json!({"PATH": "/srv/q/vms/q0/disk.qcow2", "FORMAT": "raw"}),
                "DISK.PATH",
            ),
            (json!({"SOURCE": "/imgs/a.qcow2"}), "DISK.SOURCE"),
        ] {
            let t = parse(json!({ "DISK": disk })).unwrap();
            let err = Launch::plan(&t, &s, &[None], None).unwrap_err();
            assert_eq!(field_of(err.clone()), field, "{disk}");
            assert!(
                format!("{err:?}").contains("not inside an image directory (image_dirs: /img)")
            );
        }
        let t = parse(json!({"DISK": {"PATH": "/img/a.qcow2"}})).unwrap();
        let none = Settings {
            image_dirs: Vec::new(),
            ..settings()
        };
        let err = Launch::plan(&t, &none, &[None], None).unwrap_err();
        assert!(format!("{err:?}").contains("none is configured"), "{err:?}");
        // Two disks, in order, each with its format.
        let t = parse(json!({"DISK": [{"PATH": "/img/a.qcow2"}, {"PATH": "/img/b.raw"}]})).unwrap();
        let plan = Launch::plan(&t, &s, &[None, Some(DiskFormat::Raw)], None).unwrap();
        assert_eq!(
            plan.disks,
            [
                DiskImage {
                    base: "/img/a.qcow2".into(),
                    format: DiskFormat::Qcow2
                },
                DiskImage {
                    base: "/img/b.raw".into(),
                    format: DiskFormat::Raw
                }
            ]
        );
    }

    #[test]
    fn a_record_of_one_disk_reads_as_a_list() {
        let old = json!({"accel": "tcg", "vcpus": 1, "memory_mb": 256,
                         "disk": {"base": "/img/a.qcow2", "format": "qcow2"}});
        let l: Launch = serde_json::from_value(old).unwrap();
        assert_eq!(l.disks.len(), 1);
        let none: Launch = serde_json::from_value(
            json!({"accel": "tcg", "vcpus": 1, "memory_mb": 256, "disk": null}),
        )
        .unwrap();
        assert!(none.disks.is_empty());
    }
}
