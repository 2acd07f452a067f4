//! A VM's template read into the domain it becomes ([`Domain`]), and the
//! host it goes to (HOST). Pure: every refusal is an `invalid-input` naming
//! the attribute.

use crate::settings::{HostAddr, Settings, check_path, is_host_name};
use flotilla_plugin_sdk::driver::{Error, VmSpec};
use serde_json::{Map, Value};

pub const MAX_MEMORY_MB: u64 = 4 * 1024 * 1024;
pub const MAX_VCPUS: u32 = 255;
pub const MAX_DISKS: usize = 8;
pub const MAX_NICS: usize = 8;
/// Every domain this driver makes is named `flotilla-…`; the grant allows
/// only such names.
pub const NAME_PREFIX: &str = "flotilla-";
/// The CONTEXT variable that also goes in `token.txt` beside
/// `context.sh`, as OpenNebula writes it.
pub const TOKEN_VAR: &str = "ONEGATE_TOKEN";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk {
    pub path: String,
    /// `qcow2` or `raw`.
    pub format: String,
    pub readonly: bool,
}

/// What a NIC is attached to on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attachment {
    /// `TARGET`: a TAP device the network's plumbing made (already a
    /// port of its network's bridge, and up); libvirt opens it and
    /// neither creates nor deletes it (`<interface type='ethernet'>`,
    /// `managed='no'`).
    Tap(String),
    /// `BRIDGE` without `TARGET`: libvirt makes a TAP on that bridge
    /// (`<interface type='bridge'>`).
    Bridge(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nic {
    pub attachment: Attachment,
    pub mac: Option<String>,
}

/// The context disk: a directory in the state directory that the domain
/// sees as a read-only FAT disk, as OpenNebula's context CD-ROM holds
/// `context.sh` (and `token.txt`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// `<state_dir>/context/<domain>` ([`crate::store::context_dir`]).
    pub dir: String,
    /// `context.sh`.
    pub script: String,
    /// `token.txt`: CONTEXT's ONEGATE_TOKEN, as OpenNebula writes it.
    pub token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelBoot {
    pub kernel: String,
    pub initrd: Option<String>,
    pub append: String,
}

/// Who the domain belongs to, in its `<metadata>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub operation_id: String,
    pub service_id: u64,
    pub role_name: String,
    pub vm_name: String,
}

/// A libvirt domain, as [`crate::xml::domain_xml`] writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    pub name: String,
    pub domain_type: &'static str,
    pub vcpus: u32,
    pub memory_mb: u64,
    pub kernel: Option<KernelBoot>,
    pub disks: Vec<Disk>,
    pub nics: Vec<Nic>,
    /// The context disk, the domain's last disk.
    pub context: Option<Context>,
    pub console_log: Option<String>,
    pub owner: Owner,
}

fn invalid(field: &str, reason: impl std::fmt::Display) -> Error {
    Error::InvalidInput(format!("{field}: {reason}"))
}

/// The template as a JSON object.
pub fn parse(template: &str) -> Result<Map<String, Value>, Error> {
    match serde_json::from_str::<Value>(template) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Error::InvalidInput(
            "the template is not a JSON object".into(),
        )),
        Err(e) => Err(Error::InvalidInput(format!(
            "the template is not JSON: {e}"
        ))),
    }
}

/// `key` in `map`, its case ignored (OpenNebula's attributes are upper
/// case, but not every template writes them so).
fn get<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// A scalar as text (numbers and booleans too); `None` for null, objects
/// and lists.
fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "YES" } else { "NO" }.into()),
        _ => None,
    }
}

fn get_text(map: &Map<String, Value>, key: &str) -> Option<String> {
    get(map, key).and_then(text).filter(|s| !s.is_empty())
}

/// One object or a list of them.
fn objects<'a>(
    value: Option<&'a Value>,
    field: &str,
) -> Result<Vec<&'a Map<String, Value>>, Error> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(m)) => Ok(vec![m]),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_object()
                    .ok_or_else(|| invalid(&format!("{field}[{i}]"), "is not an object"))
            })
            .collect(),
        Some(_) => Err(invalid(field, "is neither an object nor a list of objects")),
    }
}

fn yes(value: Option<String>) -> bool {
    value.is_some_and(|v| matches!(v.to_ascii_uppercase().as_str(), "YES" | "TRUE" | "1"))
}

/// The host the VM goes to: the template's `HOST` (`NAME`, `ADDRESS`: the
/// libvirt URI), else the configured default host.
pub fn host(template: &Map<String, Value>, settings: &Settings) -> Result<HostAddr, Error> {
    let Some(host) = get(template, "HOST") else {
        return settings.default_host.clone().ok_or_else(|| {
            invalid(
                "HOST",
                "missing: this driver runs VMs on a fleet's hosts, and the VM was placed on \
                 none (HOST with NAME and ADDRESS, the host's libvirt URI)",
            )
        });
    };
    let host = host
        .as_object()
        .ok_or_else(|| invalid("HOST", "is not an object with NAME and ADDRESS"))?;
    let name = get_text(host, "NAME").ok_or_else(|| invalid("HOST.NAME", "missing"))?;
    if !is_host_name(&name) {
        return Err(invalid(
            "HOST.NAME",
            format!(
                "`{name}` is not a host name (1 to 128 letters, digits, `_.-`; not `.` or `..`)"
            ),
        ));
    }
    let uri = get_text(host, "ADDRESS").ok_or_else(|| invalid("HOST.ADDRESS", "missing"))?;
    settings
        .check_uri(&uri)
        .map_err(|e| invalid("HOST.ADDRESS", e))?;
    Ok(HostAddr { name, uri })
}

/// FNV-1a, 64 bits: stable across builds and platforms.
pub fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The domain's name: `flotilla-<service>-<role>-<12 hex digits of the
/// operation id's hash>`, the role cut to 24 characters of `[a-z0-9-]`.
/// The same operation always gives the same name, so a create repeated
/// after a crash finds (or redefines) the same domain.
pub fn domain_name(spec: &VmSpec) -> String {
    let mut role: String = spec
        .role_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(24)
        .collect();
    if role.is_empty() {
        role.push('-');
    }
    format!(
        "{NAME_PREFIX}{}-{role}-{:012x}",
        spec.service_id,
        fnv(&spec.operation_id) & 0xffff_ffff_ffff
    )
}

/// A domain name this driver makes: `flotilla-` and letters, digits, `-`,
/// at most 80 bytes. Anything else is no domain of ours (and never a
/// path).
pub fn is_domain_name(name: &str) -> bool {
    name.len() <= 80
        && name.strip_prefix(NAME_PREFIX).is_some_and(|rest| {
            !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// `KEY='value'`, safe to source.
pub fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

fn is_shell_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `context.sh` from CONTEXT: `KEY='value'` lines in the template's order,
/// `VMID` the VM's id.
pub fn context_script(context: &Map<String, Value>, vm_id: &str) -> Result<String, Error> {
    let mut script = String::from("# Context variables generated by Flotilla\n");
    for (key, value) in context {
        if key.eq_ignore_ascii_case("VMID") {
            continue;
        }
        if !is_shell_name(key) {
            return Err(invalid(
                &format!("CONTEXT.{key}"),
                "is not a shell variable name",
            ));
        }
        let value = match value {
            Value::Null => String::new(),
            other => text(other).unwrap_or_else(|| other.to_string()),
        };
        script.push_str(&format!("{key}={}\n", shell_quote(&value)));
    }
    script.push_str(&format!("VMID={}\n", shell_quote(vm_id)));
    Ok(script)
}

fn mac_ok(mac: &str) -> bool {
    let parts: Vec<&str> = mac.split(':').collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
        && u8::from_str_radix(parts[0], 16).is_ok_and(|b| b & 1 == 0)
}

/// A network device's name (a bridge's, a TAP's): at most 15 bytes of
/// letters, digits and `_.-`, as Linux allows and the XML needs.
fn device_name(field: &str, name: String) -> Result<String, Error> {
    if name.len() > 15
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        return Err(invalid(
            field,
            format!("`{name}` is not a network device name"),
        ));
    }
    Ok(name)
}

/// The domain a VM's template makes on `host`.
pub fn domain(
    spec: &VmSpec,
    template: &Map<String, Value>,
    settings: &Settings,
    vm_id: &str,
) -> Result<Domain, Error> {
    let name = domain_name(spec);
    let vcpus = match get_text(template, "VCPU").or_else(|| get_text(template, "CPU")) {
        None => 1,
        Some(v) => match v.parse::<f64>() {
            Ok(n) if n > 0.0 && n.ceil() <= f64::from(MAX_VCPUS) => n.ceil() as u32,
            _ => {
                return Err(invalid(
                    "VCPU",
                    format!("`{v}` is not a number of CPUs from 1 to {MAX_VCPUS}"),
                ));
            }
        },
    };
    let memory_mb = match get_text(template, "MEMORY") {
        None => settings.memory_mb,
        Some(m) => match m.parse::<u64>() {
            Ok(mb) if (1..=MAX_MEMORY_MB).contains(&mb) => mb,
            _ => {
                return Err(invalid(
                    "MEMORY",
                    format!("`{m}` is not a whole number of MiB from 1 to {MAX_MEMORY_MB}"),
                ));
            }
        },
    };
    let mut disks = Vec::new();
    let disk_list = objects(get(template, "DISK"), "DISK")?;
    if disk_list.len() > MAX_DISKS {
        return Err(invalid("DISK", format!("more than {MAX_DISKS} disks")));
    }
    for (i, d) in disk_list.iter().enumerate() {
        let field = if disk_list.len() == 1 {
            "DISK".to_string()
        } else {
            format!("DISK[{i}]")
        };
        let path = get_text(d, "SOURCE")
            .or_else(|| get_text(d, "PATH"))
            .ok_or_else(|| {
                invalid(
                    &format!("{field}.SOURCE"),
                    "missing: a disk is an image's path on the host (SOURCE or PATH)",
                )
            })?;
        check_path(&path).map_err(|e| invalid(&format!("{field}.SOURCE"), e))?;
        let format = match get_text(d, "FORMAT")
            .or_else(|| get_text(d, "DRIVER"))
            .map(|f| f.to_ascii_lowercase())
        {
            Some(f) if f == "qcow2" || f == "raw" => f,
            Some(f) => {
                return Err(invalid(
                    &format!("{field}.FORMAT"),
                    format!("`{f}` is neither qcow2 nor raw"),
                ));
            }
            None if path.ends_with(".raw") || path.ends_with(".img") => "raw".into(),
            None => "qcow2".into(),
        };
        disks.push(Disk {
            path,
            format,
            readonly: yes(get_text(d, "READONLY")),
        });
    }
    let mut nics = Vec::new();
    let nic_list = objects(get(template, "NIC"), "NIC")?;
    if nic_list.len() > MAX_NICS {
        return Err(invalid("NIC", format!("more than {MAX_NICS} NICs")));
    }
    for (i, n) in nic_list.iter().enumerate() {
        let field = if nic_list.len() == 1 {
            "NIC".to_string()
        } else {
            format!("NIC[{i}]")
        };
        let attachment = match (get_text(n, "TARGET"), get_text(n, "BRIDGE")) {
            (Some(tap), _) => Attachment::Tap(device_name(&format!("{field}.TARGET"), tap)?),
            (None, Some(bridge)) => {
                Attachment::Bridge(device_name(&format!("{field}.BRIDGE"), bridge)?)
            }
            // A NIC the host made neither a TAP nor a bridge for has
            // nothing to attach to.
            (None, None) => continue,
        };
        let mac = match get_text(n, "MAC") {
            None => None,
            Some(m) if mac_ok(&m) => Some(m.to_ascii_lowercase()),
            Some(m) => {
                return Err(invalid(
                    &format!("{field}.MAC"),
                    format!("`{m}` is not a unicast MAC address"),
                ));
            }
        };
        nics.push(Nic { attachment, mac });
    }
    let os = get(template, "OS").and_then(Value::as_object);
    let boot_text =
        |key: &str| get_text(template, key).or_else(|| os.and_then(|os| get_text(os, key)));
    let kernel = match boot_text("KERNEL") {
        Some(k) => {
            check_path(&k).map_err(|e| invalid("KERNEL", e))?;
            let initrd = boot_text("INITRD");
            if let Some(i) = &initrd {
                check_path(i).map_err(|e| invalid("INITRD", e))?;
            }
            Some(KernelBoot {
                kernel: k,
                initrd,
                append: boot_text("KERNEL_CMD").unwrap_or_else(|| settings.boot_append.clone()),
            })
        }
        None if disks.is_empty() => settings.kernel.as_ref().map(|k| KernelBoot {
            kernel: k.clone(),
            initrd: settings.initrd.clone(),
            append: settings.boot_append.clone(),
        }),
        None => None,
    };
    let context = match get(template, "CONTEXT") {
        None | Some(Value::Null) => None,
        Some(Value::Object(c)) => Some(Context {
            dir: crate::store::context_dir(&settings.state_dir, &name),
            script: context_script(c, vm_id)?,
            token: get(c, TOKEN_VAR).and_then(text).filter(|t| !t.is_empty()),
        }),
        Some(_) => return Err(invalid("CONTEXT", "is not an object")),
    };
    let console_log = settings
        .console_dir
        .as_ref()
        .map(|d| format!("{d}/{name}.log"));
    Ok(Domain {
        name,
        domain_type: settings.accel.domain_type(),
        vcpus,
        memory_mb,
        kernel,
        disks,
        nics,
        context,
        console_log,
        owner: Owner {
            operation_id: spec.operation_id.clone(),
            service_id: spec.service_id,
            role_name: spec.role_name.clone(),
            vm_name: spec.vm_name.clone(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings() -> Settings {
        Settings::from_lookup(|k| match k {
            "state_dir" => Some("/s".into()),
            "kernel" => Some("/img/vmlinuz".into()),
            "initrd" => Some("/img/initrd.img".into()),
            _ => None,
        })
        .unwrap()
    }

    fn spec(template: Value) -> VmSpec {
        VmSpec {
            operation_id: "op-1".into(),
            service_id: 7,
            role_name: "Web Tier".into(),
            vm_name: "web_0".into(),
            template: template.to_string(),
            hold: false,
        }
    }

    fn domain_of(template: Value) -> Result<Domain, Error> {
        let s = spec(template);
        domain(&s, &parse(&s.template)?, &settings(), "h1/x")
    }

    #[test]
    fn names_are_derived_from_the_operation_and_valid() {
        let a = domain_name(&spec(json!({})));
        assert!(a.starts_with("flotilla-7-web-tier-"), "{a}");
        assert!(is_domain_name(&a));
        assert_eq!(a, domain_name(&spec(json!({"CPU": 2}))));
        let mut other = spec(json!({}));
        other.operation_id = "op-2".into();
        assert_ne!(a, domain_name(&other));
        for bad in [
            "",
            "flotilla-",
            "web",
            "flotilla-a/b",
            "flotilla-a b",
            "flotilla-a_b",
        ] {
            assert!(!is_domain_name(bad), "{bad}");
        }
    }

    #[test]
    fn the_template_becomes_the_domain() {
        let d = domain_of(json!({
            "CPU": "0.5", "VCPU": "2", "MEMORY": "512",
            "DISK": [{"SOURCE": "/img/base.qcow2"}, {"PATH": "/img/data.raw", "READONLY": "YES"}],
            "NIC": [
                {"BRIDGE": "br0", "MAC": "02:00:0A:00:00:05"},
                {"NETWORK": "none"},
                {"BRIDGE": "fl-br-3", "TARGET": "fl-t7-0", "MAC": "02:00:0a:00:00:06"},
                {"TARGET": "tap1"}
            ],
            "CONTEXT": {"NETWORK": "YES", "SSH_PUBLIC_KEY": "it's"}
        }))
        .unwrap();
        assert_eq!((d.vcpus, d.memory_mb, d.domain_type), (2, 512, "qemu"));
        assert_eq!(
            d.disks,
            [
                Disk {
                    path: "/img/base.qcow2".into(),
                    format: "qcow2".into(),
                    readonly: false
                },
                Disk {
                    path: "/img/data.raw".into(),
                    format: "raw".into(),
                    readonly: true
                },
            ]
        );
        assert_eq!(
            d.nics,
            [
                Nic {
                    attachment: Attachment::Bridge("br0".into()),
                    mac: Some("02:00:0a:00:00:05".into())
                },
                Nic {
                    attachment: Attachment::Tap("fl-t7-0".into()),
                    mac: Some("02:00:0a:00:00:06".into())
                },
                Nic {
                    attachment: Attachment::Tap("tap1".into()),
                    mac: None
                },
            ]
        );
        assert_eq!(d.kernel, None, "a VM with a disk boots from it");
        let context = d.context.unwrap();
        assert_eq!(context.dir, format!("/s/context/{}", d.name));
        assert_eq!(
            context.script,
            "# Context variables generated by Flotilla\nNETWORK='YES'\nSSH_PUBLIC_KEY='it'\\''s'\nVMID='h1/x'\n"
        );
        assert_eq!(context.token, None);
        let d = domain_of(json!({"CONTEXT": {"ONEGATE_TOKEN": "t0k"}})).unwrap();
        let context = d.context.unwrap();
        assert_eq!(context.token.as_deref(), Some("t0k"));
        assert!(context.script.contains("ONEGATE_TOKEN='t0k'\n"));
        let d = domain_of(json!({})).unwrap();
        assert_eq!((d.vcpus, d.memory_mb), (1, 256));
        assert_eq!(d.kernel.unwrap().kernel, "/img/vmlinuz");
        assert!(d.nics.is_empty() && d.disks.is_empty() && d.context.is_none());
    }

    #[test]
    fn bad_values_are_refused_naming_the_attribute() {
        for (template, field) in [
            (json!({"MEMORY": "1G"}), "MEMORY:"),
            (json!({"VCPU": "0"}), "VCPU:"),
            (json!({"DISK": {"SIZE": 1}}), "DISK.SOURCE:"),
            (json!({"DISK": {"SOURCE": "rel.qcow2"}}), "DISK.SOURCE:"),
            (
                json!({"DISK": [{"SOURCE": "/a"}, {"SOURCE": "/b/../c"}]}),
                "DISK[1].SOURCE:",
            ),
            (
                json!({"DISK": {"SOURCE": "/a", "FORMAT": "vmdk"}}),
                "DISK.FORMAT:",
            ),
            (json!({"NIC": {"BRIDGE": "br0'/>"}}), "NIC.BRIDGE:"),
            (json!({"NIC": {"TARGET": "tap0'/>"}}), "NIC.TARGET:"),
            (
                json!({"NIC": {"BRIDGE": "br0", "TARGET": "a-tap-name-too-long"}}),
                "NIC.TARGET:",
            ),
            (
                json!({"NIC": [{"BRIDGE": "br0"}, {"TARGET": "tap/1"}]}),
                "NIC[1].TARGET:",
            ),
            (
                json!({"NIC": {"BRIDGE": "br0", "MAC": "01:00:00:00:00:01"}}),
                "NIC.MAC:",
            ),
            (json!({"CONTEXT": {"A-B": "1"}}), "CONTEXT.A-B:"),
            (json!({"KERNEL": "vmlinuz"}), "KERNEL:"),
        ] {
            match domain_of(template.clone()) {
                Err(Error::InvalidInput(m)) => assert!(m.starts_with(field), "{template}: {m}"),
                other => panic!("{template}: {other:?}"),
            }
        }
    }

    #[test]
    fn the_host_is_the_templates_or_the_default_or_refused() {
        let s = settings();
        let t = parse(r#"{"HOST": {"NAME": "h1", "ADDRESS": "qemu+tcp://10.77.0.11/system"}}"#)
            .unwrap();
        assert_eq!(
            host(&t, &s).unwrap(),
            HostAddr {
                name: "h1".into(),
                uri: "qemu+tcp://10.77.0.11/system".into()
            }
        );
        match host(&parse("{}").unwrap(), &s) {
            Err(Error::InvalidInput(m)) => assert!(m.starts_with("HOST: missing"), "{m}"),
            other => panic!("{other:?}"),
        }
        for (t, field) in [
            (r#"{"HOST": "h1"}"#, "HOST:"),
            (
                r#"{"HOST": {"ADDRESS": "qemu+tcp://a/system"}}"#,
                "HOST.NAME:",
            ),
            (
                r#"{"HOST": {"NAME": "../h", "ADDRESS": "qemu+tcp://a/system"}}"#,
                "HOST.NAME:",
            ),
            (
                r#"{"HOST": {"NAME": "..", "ADDRESS": "qemu+tcp://a/system"}}"#,
                "HOST.NAME:",
            ),
            (
                r#"{"HOST": {"NAME": "h1", "ADDRESS": "qemu:///system"}}"#,
                "HOST.ADDRESS:",
            ),
        ] {
            match host(&parse(t).unwrap(), &s) {
                Err(Error::InvalidInput(m)) => assert!(m.starts_with(field), "{t}: {m}"),
                other => panic!("{t}: {other:?}"),
            }
        }
        let mut with_default = s.clone();
        with_default.default_host = Some(HostAddr {
            name: "d".into(),
            uri: "qemu+tcp://d/system".into(),
        });
        assert_eq!(
            host(&parse("{}").unwrap(), &with_default).unwrap().name,
            "d"
        );
    }
}
