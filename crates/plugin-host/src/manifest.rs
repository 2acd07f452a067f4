//! Plugin manifests (`plugin.toml`) and operator grants.
//!
//! A plugin gets a capability only when its manifest asks for it *and* the
//! operator's grant allows it: the manifest says what the code needs, the
//! grant what this site accepts.

use super::capability::OriginPattern;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PluginKind {
    Driver,
    Elasticity,
    Network,
}

impl PluginKind {
    pub const ALL: [PluginKind; 3] = [
        PluginKind::Driver,
        PluginKind::Elasticity,
        PluginKind::Network,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            PluginKind::Driver => "driver",
            PluginKind::Elasticity => "elasticity",
            PluginKind::Network => "network",
        }
    }

    /// The WIT package (with version) a plugin of this kind implements.
    pub fn api(&self) -> &'static str {
        match self {
            PluginKind::Driver => "flotilla:driver@0.1.0",
            PluginKind::Elasticity => "flotilla:elasticity@0.1.0",
            PluginKind::Network => "flotilla:network@0.1.0",
        }
    }

    /// The interface the component must export, without its version.
    pub(crate) fn export(&self) -> &'static str {
        match self {
            PluginKind::Driver => "flotilla:driver/driver",
            PluginKind::Elasticity => "flotilla:elasticity/policy",
            PluginKind::Network => "flotilla:network/mode",
        }
    }

    /// Defaults: a policy is a pure computation and gets little; a driver
    /// call may wait on a hypervisor API and gets the most.
    pub fn default_limits(&self) -> Limits {
        match self {
            PluginKind::Driver => Limits {
                timeout: Duration::from_secs(30),
                memory_bytes: 256 << 20,
            },
            PluginKind::Network => Limits {
                timeout: Duration::from_secs(5),
                memory_bytes: 128 << 20,
            },
            PluginKind::Elasticity => Limits {
                timeout: Duration::from_millis(250),
                memory_bytes: 64 << 20,
            },
        }
    }
}

impl std::fmt::Display for PluginKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for PluginKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "driver" => Ok(PluginKind::Driver),
            "elasticity" | "policy" => Ok(PluginKind::Elasticity),
            "network" => Ok(PluginKind::Network),
            other => Err(format!(
                "`{other}` is not a plugin kind (driver, elasticity, network)"
            )),
        }
    }
}

/// Per-call limits of one plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Limits {
    #[serde(rename = "timeout_ms", serialize_with = "as_millis")]
    pub timeout: Duration,
    pub memory_bytes: u64,
}

fn as_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

/// The most any plugin may get, whatever the operator asks: the pooling
/// allocator reserves memory slots of this size.
pub const MAX_MEMORY_BYTES: u64 = 1 << 30;
pub const MAX_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitOverrides {
    pub timeout_ms: Option<u64>,
    pub memory_mb: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    /// Origins the plugin may reach over wasi:http, like
    /// `http://127.0.0.1:*` or `https://*.example.com:443`.
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<String>,
    /// Programs the plugin starts as host processes, by file name
    /// (`qemu-system-x86_64`); the operator grants each by its path.
    #[serde(default)]
    pub exec: Vec<String>,
}

/// `plugin.toml`: who a plugin is and what it needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub id: String,
    pub version: String,
    pub kind: PluginKind,
    pub api: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub capabilities: Capabilities,
    /// Limits the plugin asks for; may only lower the kind's defaults.
    #[serde(default)]
    pub limits: LimitOverrides,
}

impl Manifest {
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let manifest: Manifest = toml::from_str(text).map_err(|e| format!("plugin.toml: {e}"))?;
        manifest.validate()?;
        Ok(manifest)
    }

    /// A manifest for a bare component that came without one: it asks for
    /// nothing, so it gets nothing.
    pub fn bare(id: &str, kind: PluginKind) -> Manifest {
        Manifest {
            id: id.to_string(),
            version: "0.0.0".to_string(),
            kind,
            api: kind.api().to_string(),
            description: String::new(),
            capabilities: Capabilities::default(),
            limits: LimitOverrides::default(),
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        let id_ok = !self.id.is_empty()
            && self.id.len() <= 64
            && self
                .id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !id_ok {
            return Err(format!(
                "id: `{}` must be 1-64 characters of a-z, 0-9, - and _",
                self.id
            ));
        }
        let semver = self.version.split('.').count() == 3
            && self.version.split('.').all(|p| p.parse::<u64>().is_ok());
        if !semver {
            return Err(format!(
                "version: `{}` is not MAJOR.MINOR.PATCH",
                self.version
            ));
        }
        if self.api != self.kind.api() {
            return Err(format!(
                "api: `{}` is not supported for a {} plugin (this host speaks {})",
                self.api,
                self.kind,
                self.kind.api()
            ));
        }
        for (i, origin) in self.capabilities.allowed_outbound_hosts.iter().enumerate() {
            OriginPattern::parse(origin)
                .map_err(|e| format!("capabilities.allowed_outbound_hosts[{i}]: {e}"))?;
        }
        Ok(())
    }
}

/// What the operator allows one plugin (`[plugins.<id>]` in flotilla.toml).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<String>,
    /// Values the plugin reads with `config::get`.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// Limits; may raise the kind's defaults up to the host's ceiling.
    #[serde(default)]
    pub limits: LimitOverrides,
    /// Programs the plugin may start (`"/usr/bin/qemu-system-x86_64"`),
    /// each with the patterns its arguments must match.
    #[serde(default)]
    pub exec: BTreeMap<String, ExecGrant>,
    /// Host directories the plugin may read and write (seen at the same
    /// path inside the sandbox), and reach sockets in.
    #[serde(default)]
    pub dirs: Vec<std::path::PathBuf>,
}

/// One granted program: every argument must match one of `args`, where
/// `*` matches any run of characters and `{dir}` one of the granted
/// directories (`file={dir}/*`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecGrant {
    pub args: Vec<String>,
}

impl Grant {
    pub fn validate(&self, id: &str) -> Result<(), String> {
        for (i, origin) in self.allowed_outbound_hosts.iter().enumerate() {
            OriginPattern::parse(origin)
                .map_err(|e| format!("plugins.{id}.allowed_outbound_hosts[{i}]: {e}"))?;
        }
        if self.limits.memory_mb == Some(0) || self.limits.timeout_ms == Some(0) {
            return Err(format!("plugins.{id}.limits: limits must be above zero"));
        }
        for program in self.exec.keys() {
            if !std::path::Path::new(program).is_absolute() {
                return Err(format!(
                    "plugins.{id}.exec.\"{program}\": a program is granted by its absolute path"
                ));
            }
        }
        for (i, dir) in self.dirs.iter().enumerate() {
            if !dir.is_absolute()
                || dir
                    .components()
                    .any(|c| c == std::path::Component::ParentDir)
            {
                return Err(format!(
                    "plugins.{id}.dirs[{i}]: `{}` must be an absolute path without `..`",
                    dir.display()
                ));
            }
        }
        Ok(())
    }
}

/// The limits a plugin runs with: the kind's defaults, lowered by its
/// manifest, then set by the operator, capped by the host's ceiling.
pub fn effective_limits(
    kind: PluginKind,
    manifest: &LimitOverrides,
    grant: &LimitOverrides,
) -> Limits {
    let mut limits = kind.default_limits();
    if let Some(ms) = manifest.timeout_ms {
        limits.timeout = limits.timeout.min(Duration::from_millis(ms.max(1)));
    }
    if let Some(mb) = manifest.memory_mb {
        limits.memory_bytes = limits.memory_bytes.min(mb.max(1) << 20);
    }
    if let Some(ms) = grant.timeout_ms {
        limits.timeout = Duration::from_millis(ms);
    }
    if let Some(mb) = grant.memory_mb {
        limits.memory_bytes = mb.saturating_mul(1 << 20);
    }
    limits.timeout = limits.timeout.min(MAX_TIMEOUT);
    limits.memory_bytes = limits.memory_bytes.min(MAX_MEMORY_BYTES);
    limits
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIM: &str = include_str!("../../../plugins/driver/sim/plugin.toml");

    #[test]
    fn parses_the_sim_driver_manifest() {
        let m = Manifest::parse(SIM).unwrap();
        assert_eq!(m.id, "sim");
        assert_eq!(m.kind, PluginKind::Driver);
        assert_eq!(m.capabilities.allowed_outbound_hosts.len(), 2);
    }

    #[test]
    fn rejects_bad_manifests_naming_the_field() {
        let bad_api = SIM.replace("flotilla:driver@0.1.0", "flotilla:driver@9.0.0");
        assert!(Manifest::parse(&bad_api).unwrap_err().starts_with("api:"));
        let bad_id = SIM.replace("id = \"sim\"", "id = \"Sim Driver\"");
        assert!(Manifest::parse(&bad_id).unwrap_err().starts_with("id:"));
        let unknown = format!("{SIM}\nsurprise = 1\n");
        assert!(Manifest::parse(&unknown).unwrap_err().contains("surprise"));
        let bad_origin = SIM.replace("http://localhost:*", "localhost");
        assert!(
            Manifest::parse(&bad_origin)
                .unwrap_err()
                .starts_with("capabilities.allowed_outbound_hosts[1]")
        );
    }

    #[test]
    fn manifests_lower_limits_and_operators_set_them_within_the_ceiling() {
        let lower = LimitOverrides {
            timeout_ms: Some(100),
            memory_mb: Some(512),
        };
        let l = effective_limits(PluginKind::Elasticity, &lower, &LimitOverrides::default());
        assert_eq!(l.timeout, Duration::from_millis(100));
        assert_eq!(l.memory_bytes, 64 << 20, "a manifest cannot raise memory");
        let raise = LimitOverrides {
            timeout_ms: Some(1_000),
            memory_mb: Some(4096),
        };
        let l = effective_limits(PluginKind::Elasticity, &lower, &raise);
        assert_eq!(l.timeout, Duration::from_secs(1));
        assert_eq!(l.memory_bytes, MAX_MEMORY_BYTES);
    }
}
