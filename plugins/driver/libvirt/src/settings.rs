//! The plugin's configuration (`[plugins.libvirt.config]` in
//! flotilla.toml), read and checked, and the libvirt URIs it accepts. Pure:
//! the values come from a lookup function, so the checks are tested
//! natively.

use flotilla_model::FieldError;
use flotilla_model::pattern::glob;
use flotilla_plugin_sdk::driver::Error;

pub const DEFAULT_MEMORY_MB: u64 = 256;
pub const DEFAULT_APPEND: &str = "console=ttyS0 quiet no_timer_check";
/// How long one virsh command may take (connecting to a host that does
/// not answer included).
pub const DEFAULT_TIMEOUT_MS: u32 = 10_000;
/// The longest state directory (the domain files' paths stay short).
pub const MAX_STATE_DIR_LEN: usize = 200;

/// The domain type: TCG (`qemu`) or KVM.
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

    /// `<domain type='…'>`.
    pub fn domain_type(self) -> &'static str {
        match self {
            Accel::Tcg => "qemu",
            Accel::Kvm => "kvm",
        }
    }
}

/// How virsh reaches a host's libvirtd: `qemu+<transport>://…/system`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Transport {
    /// libvirtd's TCP listener (`listen_tcp = 1`): no encryption, so only
    /// on a private underlay.
    Tcp,
    /// TLS (`listen_tls = 1`, certificates on both ends).
    Tls,
    /// SSH to the host (the server's user's key), libvirtd's unix socket
    /// there.
    Ssh,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
            Transport::Ssh => "ssh",
        }
    }

    pub fn parse(text: &str) -> Option<Transport> {
        match text.trim().to_ascii_lowercase().as_str() {
            "tcp" => Some(Transport::Tcp),
            "tls" => Some(Transport::Tls),
            "ssh" => Some(Transport::Ssh),
            _ => None,
        }
    }

    /// The URI patterns of this transport, as the grant writes them after
    /// `-c` (a `*` is letters, digits and `._-/+@`: a host name or
    /// address, `user@host` for SSH; never a `?` with options).
    pub fn uri_patterns(self) -> Vec<String> {
        let t = self.as_str();
        match self {
            Transport::Ssh => vec![format!("qemu+{t}://*/system")],
            Transport::Tcp | Transport::Tls => vec![
                format!("qemu+{t}://*/system"),
                format!("qemu+{t}://*:*/system"),
            ],
        }
    }
}

/// A host the driver reaches: its name in Flotilla and its libvirt URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostAddr {
    pub name: String,
    pub uri: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The granted directory the driver keeps its records and the domain
    /// XML files in (the same path inside the sandbox and for virsh).
    pub state_dir: String,
    pub accel: Accel,
    /// For a template without MEMORY.
    pub memory_mb: u64,
    /// What a VM without DISK boots: paths on the hosts.
    pub kernel: Option<String>,
    pub initrd: Option<String>,
    pub boot_append: String,
    /// The transports a host's URI may use (`transports`, comma-separated;
    /// default `tcp,ssh`).
    pub transports: Vec<Transport>,
    /// The host of a VM whose template has no HOST (`default_host`,
    /// `<name>=<uri>`): a fleet of one, or the conformance suite. Unset, such
    /// a VM is refused.
    pub default_host: Option<HostAddr>,
    /// A directory on the hosts where the domains' serial consoles are
    /// logged (`<console_dir>/<domain>.log`); unset, the console is a pty
    /// only.
    pub console_dir: Option<String>,
    /// The longest a virsh command may take.
    pub timeout_ms: u32,
}

/// Why the configuration is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    NoStateDir,
    Value(FieldError),
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::NoStateDir => f.write_str(
                "state_dir is not set; grant a directory and set [plugins.libvirt.config] state_dir",
            ),
            ConfigError::Value(e) => write!(f, "{e}"),
        }
    }
}

fn config_error(key: &str, reason: impl std::fmt::Display) -> ConfigError {
    ConfigError::Value(FieldError::new(key, reason.to_string()))
}

/// An absolute path without `..` and without characters that have no
/// place in a file name virsh or libvirt is given (control characters,
/// quotes, `,`).
pub fn check_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err(format!("`{path}` must be an absolute path"));
    }
    if path.split('/').any(|c| c == "..") {
        return Err(format!("`{path}` must not contain `..`"));
    }
    if let Some(c) = path
        .chars()
        .find(|c| c.is_control() || matches!(c, ',' | '\'' | '"' | '<' | '>' | '&'))
    {
        return Err(format!("`{path}` must not contain {c:?}"));
    }
    Ok(())
}

/// A host's name as the fleet's hosts have them (1 to 128 letters,
/// digits, `_`, `.` and `-`), as it appears in VM ids and file names:
/// never `.` or `..`.
pub fn is_host_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

impl Settings {
    /// The settings from the plugin's configuration, refused as the host
    /// hears it (`config: state_dir: …`).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Settings, Error> {
        Settings::read(get).map_err(|e| Error::InvalidInput(format!("config: {e}")))
    }

    pub fn read(get: impl Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let get = |key: &str| {
            get(key)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let state_dir = get("state_dir").ok_or(ConfigError::NoStateDir)?;
        check_path(&state_dir).map_err(|e| config_error("state_dir", e))?;
        let state_dir = state_dir.trim_end_matches('/').to_string();
        if state_dir.is_empty() {
            return Err(config_error("state_dir", "must not be `/`"));
        }
        if state_dir.len() > MAX_STATE_DIR_LEN {
            return Err(config_error(
                "state_dir",
                format!("`{state_dir}` is longer than {MAX_STATE_DIR_LEN} bytes"),
            ));
        }
        let accel = match get("accel").map(|a| a.to_ascii_lowercase()).as_deref() {
            None | Some("tcg") => Accel::Tcg,
            Some("kvm") => Accel::Kvm,
            Some(other) => {
                return Err(config_error(
                    "accel",
                    format!("`{other}` is neither tcg nor kvm"),
                ));
            }
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
        let path = |key: &str| -> Result<Option<String>, ConfigError> {
            match get(key) {
                None => Ok(None),
                Some(p) => {
                    check_path(&p).map_err(|e| config_error(key, e))?;
                    Ok(Some(p.trim_end_matches('/').to_string()))
                }
            }
        };
        let kernel = path("kernel")?;
        let initrd = path("initrd")?;
        if initrd.is_some() && kernel.is_none() {
            return Err(config_error("initrd", "given without a kernel"));
        }
        let console_dir = path("console_dir")?;
        let boot_append = get("boot_append").unwrap_or_else(|| DEFAULT_APPEND.to_string());
        let mut transports = Vec::new();
        for t in get("transports")
            .unwrap_or_else(|| "tcp,ssh".into())
            .split(',')
            .filter(|t| !t.trim().is_empty())
        {
            let parsed = Transport::parse(t).ok_or_else(|| {
                config_error(
                    "transports",
                    format!("`{}` is not tcp, tls or ssh", t.trim()),
                )
            })?;
            if !transports.contains(&parsed) {
                transports.push(parsed);
            }
        }
        if transports.is_empty() {
            return Err(config_error("transports", "names no transport"));
        }
        transports.sort();
        let timeout_ms = match get("timeout_ms") {
            None => DEFAULT_TIMEOUT_MS,
            Some(t) => match t.parse::<u32>() {
                Ok(ms) if (100..=600_000).contains(&ms) => ms,
                _ => {
                    return Err(config_error(
                        "timeout_ms",
                        format!("`{t}` is not a number of milliseconds from 100 to 600000"),
                    ));
                }
            },
        };
        let mut settings = Settings {
            state_dir,
            accel,
            memory_mb,
            kernel,
            initrd,
            boot_append,
            transports,
            default_host: None,
            console_dir,
            timeout_ms,
        };
        if let Some(d) = get("default_host") {
            let Some((name, uri)) = d.split_once('=') else {
                return Err(config_error(
                    "default_host",
                    format!("`{d}` is not <host name>=<libvirt URI>"),
                ));
            };
            let (name, uri) = (name.trim(), uri.trim());
            if !is_host_name(name) {
                return Err(config_error(
                    "default_host",
                    format!("`{name}` is not a host name (letters, digits, `_.-`)"),
                ));
            }
            settings
                .check_uri(uri)
                .map_err(|e| config_error("default_host", e))?;
            settings.default_host = Some(HostAddr {
                name: name.into(),
                uri: uri.into(),
            });
        }
        Ok(settings)
    }

    /// Every URI pattern of the configured transports (the grant's `-c`
    /// groups).
    pub fn uri_patterns(&self) -> Vec<String> {
        self.transports
            .iter()
            .flat_map(|t| t.uri_patterns())
            .collect()
    }

    /// A URI the grant allows: one of the configured transports' patterns.
    pub fn check_uri(&self, uri: &str) -> Result<(), String> {
        let patterns = self.uri_patterns();
        if patterns.iter().any(|p| glob(p, uri)) {
            Ok(())
        } else {
            Err(format!(
                "`{uri}` is not a libvirt URI this driver may use (one of {})",
                patterns.join(", ")
            ))
        }
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
        let s = settings(&[("state_dir", "/var/lib/flotilla/libvirt/")]).unwrap();
        assert_eq!(s.state_dir, "/var/lib/flotilla/libvirt");
        assert_eq!(s.accel, Accel::Tcg);
        assert_eq!(s.memory_mb, 256);
        assert_eq!(s.transports, [Transport::Tcp, Transport::Ssh]);
        assert_eq!(s.timeout_ms, DEFAULT_TIMEOUT_MS);
        assert_eq!(
            (s.kernel, s.default_host, s.console_dir),
            (None, None, None)
        );
    }

    #[test]
    fn a_missing_state_dir_says_what_to_set() {
        assert_eq!(
            settings(&[]).unwrap_err(),
            Error::InvalidInput(
                "config: state_dir is not set; grant a directory and set [plugins.libvirt.config] state_dir"
                    .into()
            )
        );
    }

    #[test]
    fn bad_values_are_refused_naming_the_key() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("state_dir", "relative")], "state_dir"),
            (&[("state_dir", "/a/../b")], "state_dir"),
            (&[("state_dir", "/")], "state_dir"),
            (&[("state_dir", "/s"), ("accel", "hvf")], "accel"),
            (&[("state_dir", "/s"), ("memory_mb", "0")], "memory_mb"),
            (&[("state_dir", "/s"), ("kernel", "vmlinuz")], "kernel"),
            (&[("state_dir", "/s"), ("initrd", "/i")], "initrd"),
            (
                &[("state_dir", "/s"), ("transports", "tcp,udp")],
                "transports",
            ),
            (&[("state_dir", "/s"), ("timeout_ms", "5")], "timeout_ms"),
            (
                &[("state_dir", "/s"), ("default_host", "h1")],
                "default_host",
            ),
            (
                &[
                    ("state_dir", "/s"),
                    ("default_host", "h 1=qemu+tcp://a/system"),
                ],
                "default_host",
            ),
            (
                &[
                    ("state_dir", "/s"),
                    ("default_host", "h1=qemu+tls://a/system"),
                ],
                "default_host",
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
    }

    #[test]
    fn uris_are_those_of_the_configured_transports() {
        let s = settings(&[
            ("state_dir", "/s"),
            ("transports", "tls, tcp"),
            ("default_host", "h1 = qemu+tcp://10.77.0.11/system"),
        ])
        .unwrap();
        assert_eq!(
            s.default_host,
            Some(HostAddr {
                name: "h1".into(),
                uri: "qemu+tcp://10.77.0.11/system".into()
            })
        );
        for good in [
            "qemu+tcp://10.77.0.11/system",
            "qemu+tcp://node-1.example.org:16509/system",
            "qemu+tls://node-1/system",
        ] {
            assert!(s.check_uri(good).is_ok(), "{good}");
        }
        for bad in [
            "qemu+ssh://root@node/system",
            "qemu:///system",
            "qemu+tcp://a/session",
            "qemu+tcp://a/system?command=/bin/sh",
            "qemu+tcp://a b/system",
            "test:///default",
        ] {
            assert!(s.check_uri(bad).is_err(), "{bad}");
        }
        assert!(
            settings(&[("state_dir", "/s")])
                .unwrap()
                .check_uri("qemu+ssh://root@node-1/system")
                .is_ok()
        );
    }
}
