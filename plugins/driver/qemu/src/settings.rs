//! The plugin's configuration (`[plugins.qemu.config]` in flotilla.toml),
//! read and checked. Pure: the values come from a lookup function, so the
//! checks are tested natively.

use flotilla_model::FieldError;
use flotilla_plugin_sdk::driver::Error;

pub const DEFAULT_MEMORY_MB: u64 = 256;
/// The guest kernel's command line. `no_timer_check`: under TCG on a busy
/// host the kernel's early check of the IO-APIC timer can miss its window
/// and panic ("IO-APIC + timer doesn't work"), and a panicked TCG guest
/// spins at full CPU; with 50 guests booting on two cores most of them
/// did. The check guards against broken physical boards, not QEMU's.
pub const DEFAULT_APPEND: &str = "console=ttyS0 quiet no_timer_check";

/// The longest state directory: `<state_dir>/vms/q<u64>/qmp.sock` must fit
/// a unix socket address (108 bytes with its NUL).
pub const MAX_STATE_DIR_LEN: usize = 107 - "/vms/q18446744073709551615/qmp.sock".len();

/// QEMU's accelerator (`-machine q35,accel=…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    Tcg,
    Kvm,
}

impl Accel {
    pub fn as_str(self) -> &'static str {
        match self {
            Accel::Tcg => "tcg",
            Accel::Kvm => "kvm",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The granted directory the VMs' files live in (the same path inside
    /// the sandbox and for QEMU).
    pub state_dir: String,
    /// Default boot files for a VM without DISK (absolute paths on the host).
    pub kernel: Option<String>,
    pub initrd: Option<String>,
    pub accel: Accel,
    /// The host loopback port OneGate listens on, when the endpoint VMs are
    /// given is not a loopback URL (see `context::onegate_forward`).
    pub onegate_port: Option<u16>,
    /// For a template without MEMORY.
    pub memory_mb: u64,
    /// The kernel command line of a kernel boot without KERNEL_CMD.
    pub boot_append: String,
    /// Where disks come from (`image_dirs`, comma-separated): the image
    /// directories the operator grants read-only. A DISK's file must be in
    /// one; the state directory never is.
    pub image_dirs: Vec<String>,
    /// The name prefixes of the tap devices NICs may attach to
    /// (`tap_prefixes`, comma-separated): the prefixes the operator grants
    /// the host's network plumbing, which makes those taps. A NIC's TARGET
    /// must start with one; none configured, a NIC with a TARGET is
    /// refused.
    pub tap_prefixes: Vec<String>,
}

impl Settings {
    /// Whether `path` (checked by [`check_path`]) lies inside an image
    /// directory.
    pub fn in_image_dir(&self, path: &str) -> bool {
        self.image_dirs.iter().any(|d| {
            path.strip_prefix(d.as_str())
                .is_some_and(|rest| rest.starts_with('/'))
        })
    }

    /// Whether the device `name` (checked by [`is_device_name`]) starts
    /// with one of the tap prefixes.
    pub fn tap_allowed(&self, name: &str) -> bool {
        self.tap_prefixes
            .iter()
            .any(|p| name.starts_with(p.as_str()))
    }
}

/// The longest name of a Linux network device (IFNAMSIZ less its NUL).
pub const MAX_DEVICE_NAME: usize = 15;

/// A Linux network device name as the host's plumbing makes them: 1 to 15
/// bytes of letters, digits, `_`, `.` and `-`, and not `.` or `..`. Such a
/// name cannot end a QEMU sub-option (no `,`) or name a path.
pub fn is_device_name(name: &str) -> bool {
    (1..=MAX_DEVICE_NAME).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        && name != "."
        && name != ".."
}

/// Why the configuration is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// There is no state directory to keep the VMs in.
    NoStateDir,
    /// A key's value is refused (the field is the key).
    Value(FieldError),
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::NoStateDir => f.write_str(
                "state_dir is not set; grant a directory and set [plugins.qemu.config] state_dir",
            ),
            ConfigError::Value(e) => write!(f, "{e}"),
        }
    }
}

fn config_error(key: &str, reason: impl std::fmt::Display) -> ConfigError {
    ConfigError::Value(FieldError::new(key, reason.to_string()))
}

/// Why a path cannot be put in a QEMU option string (each with the path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadPath {
    Relative(String),
    ParentDir(String),
    Character(String, char),
}

impl std::fmt::Display for BadPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BadPath::Relative(path) => write!(f, "`{path}` must be an absolute path"),
            BadPath::ParentDir(path) => write!(f, "`{path}` must not contain `..`"),
            BadPath::Character(path, c) => write!(f, "`{path}` must not contain {c:?}"),
        }
    }
}

/// An absolute path without `..` components and without characters that
/// would change the meaning of a QEMU option string it is put in.
pub fn check_path(path: &str) -> Result<(), BadPath> {
    if !path.starts_with('/') {
        return Err(BadPath::Relative(path.to_string()));
    }
    if path.split('/').any(|c| c == "..") {
        return Err(BadPath::ParentDir(path.to_string()));
    }
    if let Some(c) = path.chars().find(|c| matches!(c, ',' | '\0' | '\n' | '\r')) {
        return Err(BadPath::Character(path.to_string(), c));
    }
    Ok(())
}

impl Settings {
    /// The settings from the plugin's configuration, refused as the host
    /// hears it (`config: state_dir: …`).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Settings, Error> {
        Settings::read(get).map_err(|e| Error::InvalidInput(format!("config: {e}")))
    }

    /// The settings from the plugin's configuration.
    pub fn read(get: impl Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let get = |key: &str| {
            get(key)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let state_dir = get("state_dir").ok_or(ConfigError::NoStateDir)?;
        check_path(&state_dir).map_err(|e| config_error("state_dir", e))?;
        let state_dir = match state_dir.trim_end_matches('/') {
            "" => "/".to_string(),
            dir => dir.to_string(),
        };
        if state_dir == "/" {
            return Err(config_error("state_dir", "must not be `/`"));
        }
        if state_dir.len() > MAX_STATE_DIR_LEN {
            return Err(config_error(
                "state_dir",
                format!(
                    "`{state_dir}` is longer than {MAX_STATE_DIR_LEN} bytes, too long for the \
                     QMP socket path inside it (a unix socket path has at most 107)"
                ),
            ));
        }
        let boot_file = |key: &str| -> Result<Option<String>, ConfigError> {
            match get(key) {
                None => Ok(None),
                Some(path) => {
                    check_path(&path).map_err(|e| config_error(key, e))?;
                    Ok(Some(path))
                }
            }
        };
        let kernel = boot_file("kernel")?;
        let initrd = boot_file("initrd")?;
        let accel = match get("accel")
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("tcg") => Accel::Tcg,
            Some("kvm") => Accel::Kvm,
            Some(other) => {
                return Err(config_error(
                    "accel",
                    format!("`{other}` is neither tcg nor kvm"),
                ));
            }
        };
        let onegate_port = match get("onegate_port") {
            None => None,
            Some(p) => match p.parse::<u16>() {
                Ok(port) if port > 0 => Some(port),
                _ => {
                    return Err(config_error(
                        "onegate_port",
                        format!("`{p}` is not a port (1 to 65535)"),
                    ));
                }
            },
        };
        let memory_mb = match get("memory_mb") {
            None => DEFAULT_MEMORY_MB,
            Some(m) => match m.parse::<u64>() {
                Ok(mb) if (1..=crate::template::MAX_MEMORY_MB).contains(&mb) => mb,
                _ => {
                    return Err(config_error(
                        "memory_mb",
                        format!(
                            "`{m}` is not a whole number of MiB from 1 to {}",
                            crate::template::MAX_MEMORY_MB
                        ),
                    ));
                }
            },
        };
        let boot_append = get("boot_append").unwrap_or_else(|| DEFAULT_APPEND.to_string());
        let mut image_dirs = Vec::new();
        for dir in get("image_dirs").unwrap_or_default().split(',') {
            let dir = dir.trim();
            if dir.is_empty() {
                continue;
            }
            check_path(dir).map_err(|e| config_error("image_dirs", e))?;
            let dir = dir.trim_end_matches('/').to_string();
            let overlaps = |a: &str, b: &str| a == b || a.starts_with(&format!("{b}/"));
            if overlaps(&dir, &state_dir) || overlaps(&state_dir, &dir) {
                return Err(config_error(
                    "image_dirs",
                    format!(
                        "`{dir}` overlaps state_dir `{state_dir}`: a VM's files must never \
                         be another VM's disk"
                    ),
                ));
            }
            image_dirs.push(dir);
        }
        let mut tap_prefixes = Vec::new();
        for prefix in get("tap_prefixes").unwrap_or_default().split(',') {
            let prefix = prefix.trim();
            if prefix.is_empty() {
                continue;
            }
            // A prefix leaves room for at least one character of its own.
            if prefix.len() >= MAX_DEVICE_NAME || !is_device_name(prefix) {
                return Err(config_error(
                    "tap_prefixes",
                    format!(
                        "`{prefix}` is not the start of a network device name (1 to {} bytes \
                         of letters, digits, `_`, `.` and `-`)",
                        MAX_DEVICE_NAME - 1
                    ),
                ));
            }
            tap_prefixes.push(prefix.to_string());
        }
        Ok(Settings {
            state_dir,
            kernel,
            initrd,
            accel,
            onegate_port,
            memory_mb,
            boot_append,
            image_dirs,
            tap_prefixes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, Error> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_apply_to_unset_keys() {
        let s = settings(&[("state_dir", "/var/lib/flotilla/qemu/")]).unwrap();
        assert_eq!(s.state_dir, "/var/lib/flotilla/qemu");
        assert_eq!(s.accel, Accel::Tcg);
        assert_eq!(s.memory_mb, 256);
        assert_eq!(s.boot_append, "console=ttyS0 quiet no_timer_check");
        assert_eq!((s.kernel, s.initrd, s.onegate_port), (None, None, None));
        assert!(s.image_dirs.is_empty());
    }

    #[test]
    fn a_missing_state_dir_says_what_to_set() {
        let err = settings(&[("kernel", "/k")]).unwrap_err();
        assert_eq!(
            err,
            Error::InvalidInput(
                "config: state_dir is not set; grant a directory and set [plugins.qemu.config] state_dir"
                    .into()
            )
        );
    }

    #[test]
    fn bad_values_are_refused_naming_the_key() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("state_dir", "relative/dir")], "state_dir"),
            (&[("state_dir", "/a/../b")], "state_dir"),
            (&[("state_dir", "/a,b")], "state_dir"),
            (&[("state_dir", "/")], "state_dir"),
            (&[("state_dir", &"/x".repeat(60))], "state_dir"),
            (&[("state_dir", "/s"), ("accel", "hvf")], "accel"),
            (&[("state_dir", "/s"), ("memory_mb", "lots")], "memory_mb"),
            (&[("state_dir", "/s"), ("memory_mb", "0")], "memory_mb"),
            (
                &[("state_dir", "/s"), ("onegate_port", "70000")],
                "onegate_port",
            ),
            (&[("state_dir", "/s"), ("kernel", "vmlinuz")], "kernel"),
            (
                &[("state_dir", "/s"), ("image_dirs", "/img,rel")],
                "image_dirs",
            ),
            (&[("state_dir", "/s/q"), ("image_dirs", "/s")], "image_dirs"),
            (
                &[("state_dir", "/s"), ("image_dirs", "/s/images")],
                "image_dirs",
            ),
            (
                &[("state_dir", "/s"), ("tap_prefixes", "fl-,a b")],
                "tap_prefixes",
            ),
            (
                &[("state_dir", "/s"), ("tap_prefixes", "fifteen-bytes-x")],
                "tap_prefixes",
            ),
        ];
        for (pairs, key) in cases {
            match settings(pairs) {
                Err(Error::InvalidInput(m)) => {
                    assert!(m.starts_with(&format!("config: {key}:")), "{m}")
                }
                other => panic!("{pairs:?}: {other:?}"),
            }
        }
        let s = settings(&[
            ("state_dir", "/s"),
            ("accel", "KVM"),
            ("onegate_port", "5030"),
        ])
        .unwrap();
        assert_eq!((s.accel, s.onegate_port), (Accel::Kvm, Some(5030)));
        let s = settings(&[("state_dir", "/s"), ("image_dirs", "/img/, /more")]).unwrap();
        assert_eq!(s.image_dirs, ["/img", "/more"]);
        assert!(s.in_image_dir("/img/a.qcow2") && s.in_image_dir("/more/x/b.raw"));
        assert!(!s.in_image_dir("/imgx/a.qcow2") && !s.in_image_dir("/s/vms/q0/disk.qcow2"));
        let s = settings(&[("state_dir", "/s"), ("tap_prefixes", "fl-, one-")]).unwrap();
        assert_eq!(s.tap_prefixes, ["fl-", "one-"]);
        assert!(s.tap_allowed("fl-0a1b2c3d4e") && s.tap_allowed("one-3-0"));
        assert!(!s.tap_allowed("eth0") && !s.tap_allowed("f"));
    }

    #[test]
    fn device_names_are_the_kernels() {
        for good in ["fl-0a1b2c3d4e", "tap0", "a", "br_0.10", "fifteen-bytes-x"] {
            assert!(is_device_name(good), "{good}");
        }
        for bad in [
            "",
            ".",
            "..",
            "sixteen-bytes-xx",
            "a,script=/bin/sh",
            "a/b",
            "a:b",
            "a b",
            "tap\n",
            "é",
        ] {
            assert!(!is_device_name(bad), "{bad}");
        }
    }
}
