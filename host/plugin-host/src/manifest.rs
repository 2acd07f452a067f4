//! Plugin manifests (`plugin.toml`) and operator grants.
//!
//! A plugin gets a capability only when its manifest asks for it *and* the
//! operator's grant allows it: the manifest says what the code needs, the
//! grant what this site accepts.

use super::capability::OriginPattern;
use flotilla_model::FieldError;
use flotilla_model::pattern::{IMAGE_DIR, STATE_DIR};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PluginKind {
    Driver,
    Elasticity,
    Network,
    /// A network's host plumbing: bridges, VXLAN devices and taps, made
    /// through the `link` capability.
    Plumbing,
}

impl PluginKind {
    pub const ALL: [PluginKind; 4] = [
        PluginKind::Driver,
        PluginKind::Elasticity,
        PluginKind::Network,
        PluginKind::Plumbing,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            PluginKind::Driver => "driver",
            PluginKind::Elasticity => "elasticity",
            PluginKind::Network => "network",
            PluginKind::Plumbing => "plumbing",
        }
    }

    /// The WIT package (with version) a plugin of this kind implements.
    pub fn api(&self) -> &'static str {
        match self {
            PluginKind::Driver => "flotilla:driver@0.1.0",
            PluginKind::Elasticity => "flotilla:elasticity@0.1.0",
            PluginKind::Network | PluginKind::Plumbing => "flotilla:network@0.1.0",
        }
    }

    /// The interface the component must export, without its version.
    pub(crate) fn export(&self) -> &'static str {
        match self {
            PluginKind::Driver => "flotilla:driver/driver",
            PluginKind::Elasticity => "flotilla:elasticity/policy",
            PluginKind::Network => "flotilla:network/mode",
            PluginKind::Plumbing => "flotilla:network/plumbing",
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
            // A plumbing call runs a few `ip` commands, each a few ms.
            PluginKind::Network | PluginKind::Plumbing => Limits {
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
    /// Network devices on the host (`flotilla:host/link`), for plumbing
    /// plugins; the operator's `[plugins.<id>.link]` grant says which.
    #[serde(default)]
    pub link: bool,
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
    pub fn parse(text: &str) -> Result<Manifest, FieldError> {
        let manifest: Manifest =
            toml::from_str(text).map_err(|e| FieldError::new("plugin.toml", e.to_string()))?;
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

    pub fn validate(&self) -> Result<(), FieldError> {
        let id_ok = !self.id.is_empty()
            && self.id.len() <= 64
            && self
                .id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !id_ok {
            return Err(FieldError::new(
                "id",
                format!("`{}` must be 1-64 characters of a-z, 0-9, - and _", self.id),
            ));
        }
        let semver = self.version.split('.').count() == 3
            && self.version.split('.').all(|p| p.parse::<u64>().is_ok());
        if !semver {
            return Err(FieldError::new(
                "version",
                format!("`{}` is not MAJOR.MINOR.PATCH", self.version),
            ));
        }
        if self.api != self.kind.api() {
            return Err(FieldError::new(
                "api",
                format!(
                    "`{}` is not supported for a {} plugin (this host speaks {})",
                    self.api,
                    self.kind,
                    self.kind.api()
                ),
            ));
        }
        for (i, origin) in self.capabilities.allowed_outbound_hosts.iter().enumerate() {
            OriginPattern::parse(origin).map_err(|e| {
                FieldError::new(
                    format!("capabilities.allowed_outbound_hosts[{i}]"),
                    e.to_string(),
                )
            })?;
        }
        // Only the plumbing world imports flotilla:host/link: another kind
        // asking for it would be granted a capability it cannot call.
        if self.capabilities.link && self.kind != PluginKind::Plumbing {
            return Err(FieldError::new(
                "capabilities.link",
                format!(
                    "only plumbing plugins reach network devices; this is a {} plugin",
                    self.kind
                ),
            ));
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
    /// each with the argument groups its command lines are made of.
    #[serde(default)]
    pub exec: BTreeMap<String, ExecGrant>,
    /// Host directories the plugin may read and write (seen at the same
    /// path inside the sandbox), and reach sockets in: `{state}` in an
    /// argument pattern.
    #[serde(default)]
    pub dirs: Vec<PathBuf>,
    /// Host directories the plugin may only read (at the same path inside
    /// the sandbox): where disk images come from, `{image}` in an argument
    /// pattern. Never inside one of `dirs`, nor holding one.
    #[serde(default)]
    pub image_dirs: Vec<PathBuf>,
    /// Network devices a plumbing plugin may make and change
    /// (`[plugins.<id>.link]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<LinkGrant>,
}

/// Network devices granted to a plumbing plugin: those whose names start
/// with one of `prefixes`, and VXLAN devices only over `underlays`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkGrant {
    /// Device-name prefixes (`flb-`), each 1 to 8 characters of
    /// `[A-Za-z0-9_.-]`; at least one.
    pub prefixes: Vec<String>,
    /// Interfaces a VXLAN device may run over (`eth1`).
    #[serde(default)]
    pub underlays: Vec<String>,
    /// iproute2's `ip`; by default the one on the server's PATH.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<PathBuf>,
}

impl LinkGrant {
    fn validate(&self, id: &str) -> Result<(), FieldError> {
        let at = |field: String| format!("plugins.{id}.link.{field}");
        if self.prefixes.is_empty() {
            return Err(FieldError::new(
                at("prefixes".into()),
                "name at least one device-name prefix (`flb-`): a grant of no prefix grants nothing",
            ));
        }
        for (i, prefix) in self.prefixes.iter().enumerate() {
            if let Some(why) = crate::link::prefix_problem(prefix) {
                return Err(FieldError::new(
                    at(format!("prefixes[{i}]")),
                    format!("`{prefix}` {why}"),
                ));
            }
        }
        for (i, underlay) in self.underlays.iter().enumerate() {
            if let Some(why) = crate::link::name_problem(underlay) {
                return Err(FieldError::new(
                    at(format!("underlays[{i}]")),
                    format!("`{underlay}` {why}"),
                ));
            }
        }
        if let Some(ip) = &self.ip
            && !ip.is_absolute()
        {
            return Err(FieldError::new(
                at("ip".into()),
                format!(
                    "`{}` must be an absolute path (leave it out for the `ip` on PATH)",
                    ip.display()
                ),
            ));
        }
        Ok(())
    }
}

/// One granted program: its arguments must be a run of `args`' groups,
/// each matched element for element (an option and the patterns of its
/// values, `["-b", "{image}/*.qcow2"]`, or a whole command line). In a
/// pattern `*` matches a run of letters, digits and `._-/+@`, `{state}` one
/// of `dirs` and `{image}` one of `image_dirs`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, try_from = "ExecGrantToml")]
pub struct ExecGrant {
    pub args: Vec<Vec<String>>,
}

/// `ExecGrant` as written, so that the flat list of earlier releases is
/// refused with what to write instead (serde's own message would only
/// say "invalid type").
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExecGrantToml {
    args: Vec<ArgsEntry>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ArgsEntry {
    Group(Vec<String>),
    Flat(String),
}

impl TryFrom<ExecGrantToml> for ExecGrant {
    type Error = FieldError;

    fn try_from(raw: ExecGrantToml) -> Result<ExecGrant, FieldError> {
        let mut args = Vec::with_capacity(raw.args.len());
        for entry in raw.args {
            match entry {
                ArgsEntry::Group(group) => args.push(group),
                ArgsEntry::Flat(pattern) => {
                    return Err(FieldError::new(
                        "args",
                        format!(
                            "`{pattern}` stands alone; args is a list of groups, each an \
                         option with its values in order (`[\"-m\", \"size=*M\"]`, `[\"-S\"]`), \
                         since any pattern of a flat list matched any argument (see \
                         docs/compatibility.md; `flotilla plugin grant qemu` writes the qemu \
                         driver's)"
                        ),
                    ));
                }
            }
        }
        Ok(ExecGrant { args })
    }
}

impl Grant {
    pub fn validate(&self, id: &str) -> Result<(), FieldError> {
        for (i, origin) in self.allowed_outbound_hosts.iter().enumerate() {
            OriginPattern::parse(origin).map_err(|e| {
                FieldError::new(
                    format!("plugins.{id}.allowed_outbound_hosts[{i}]"),
                    e.to_string(),
                )
            })?;
        }
        if self.limits.memory_mb == Some(0) || self.limits.timeout_ms == Some(0) {
            return Err(FieldError::new(
                format!("plugins.{id}.limits"),
                "limits must be above zero",
            ));
        }
        for (program, grant) in &self.exec {
            let at = format!("plugins.{id}.exec.\"{program}\"");
            if !Path::new(program).is_absolute() {
                return Err(FieldError::new(
                    at,
                    "a program is granted by its absolute path",
                ));
            }
            for (i, group) in grant.args.iter().enumerate() {
                if group.is_empty() {
                    return Err(FieldError::new(
                        format!("{at}.args[{i}]"),
                        "an empty group grants nothing",
                    ));
                }
                for (j, pattern) in group.iter().enumerate() {
                    let why = placeholder_problem(
                        pattern,
                        !self.dirs.is_empty(),
                        !self.image_dirs.is_empty(),
                    );
                    if let Some(why) = why {
                        return Err(FieldError::new(
                            format!("{at}.args[{i}][{j}]"),
                            format!("`{pattern}` {why}"),
                        ));
                    }
                }
            }
        }
        if let Some(link) = &self.link {
            link.validate(id)?;
        }
        for (field, dirs) in [("dirs", &self.dirs), ("image_dirs", &self.image_dirs)] {
            for (i, dir) in dirs.iter().enumerate() {
                if !dir.is_absolute() || dir.components().any(|c| c == Component::ParentDir) {
                    return Err(FieldError::new(
                        format!("plugins.{id}.{field}[{i}]"),
                        format!("`{}` must be an absolute path without `..`", dir.display()),
                    ));
                }
            }
        }
        // An image directory that holds a state directory (or lies in one)
        // would make a VM's files sources of another VM's disk.
        for (i, image) in self.image_dirs.iter().enumerate() {
            if let Some(state) = self
                .dirs
                .iter()
                .find(|d| d.starts_with(image) || image.starts_with(d))
            {
                return Err(FieldError::new(
                    format!("plugins.{id}.image_dirs[{i}]"),
                    format!(
                        "`{}` overlaps the read-write directory `{}` (dirs): images must come \
                         from a directory of their own",
                        image.display(),
                        state.display()
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// The `{…}` placeholders of a pattern are `{state}` and `{image}`, each
/// with directories granted to stand for.
/// Why a pattern's placeholders are wrong (said after the pattern), if
/// they are.
fn placeholder_problem(pattern: &str, has_dirs: bool, has_image_dirs: bool) -> Option<String> {
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        let tail = &rest[open..];
        let close = tail.find('}').map_or(tail.len(), |c| c + 1);
        match &tail[..close] {
            STATE_DIR if !has_dirs => {
                return Some("uses {state} but the grant has no dirs".into());
            }
            IMAGE_DIR if !has_image_dirs => {
                return Some("uses {image} but the grant has no image_dirs".into());
            }
            STATE_DIR | IMAGE_DIR => {}
            "{dir}" => {
                return Some(
                    "uses {dir}, which is now {state} (a directory of dirs, read-write) \
                     or {image} (one of image_dirs, read-only)"
                        .into(),
                );
            }
            other => {
                return Some(format!(
                    "has `{other}`: the placeholders are {{state}} and {{image}}"
                ));
            }
        }
        rest = &tail[close..];
    }
    None
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
        assert!(
            Manifest::parse(&bad_api)
                .unwrap_err()
                .to_string()
                .starts_with("api:")
        );
        let bad_id = SIM.replace("id = \"sim\"", "id = \"Sim Driver\"");
        assert!(
            Manifest::parse(&bad_id)
                .unwrap_err()
                .to_string()
                .starts_with("id:")
        );
        let unknown = format!("{SIM}\nsurprise = 1\n");
        assert!(
            Manifest::parse(&unknown)
                .unwrap_err()
                .to_string()
                .contains("surprise")
        );
        let bad_origin = SIM.replace("http://localhost:*", "localhost");
        assert!(
            Manifest::parse(&bad_origin)
                .unwrap_err()
                .to_string()
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

    fn grant(text: &str) -> Result<Grant, String> {
        let g: Grant = toml::from_str(text).map_err(|e| e.to_string())?;
        g.validate("qemu")?;
        Ok(g)
    }

    #[test]
    fn exec_grants_are_groups_in_their_kind_of_directory() {
        let g = grant(
            r#"
dirs = ["/srv/state"]
image_dirs = ["/srv/images"]
[exec."/usr/bin/qemu-img"]
args = [["create", "-b", "{image}/*", "{state}/vms/*"], ["-S"]]
"#,
        )
        .unwrap();
        assert_eq!(g.exec["/usr/bin/qemu-img"].args.len(), 2);
        // The flat list of earlier releases, with what to write instead.
        let err = grant(
            r#"
dirs = ["/srv/state"]
[exec."/usr/bin/qemu-img"]
args = ["create", "{dir}/*"]
"#,
        )
        .unwrap_err();
        assert!(err.contains("args: `create` stands alone"), "{err}");
        for (args, dirs, expected) in [
            (
                r#"[["-b", "{dir}/*"]]"#,
                r#"dirs = ["/s"]"#,
                r#"plugins.qemu.exec."/usr/bin/qemu-img".args[0][1]: `{dir}/*` uses {dir}, which is now {state}"#,
            ),
            (
                r#"[["-b", "{image}/*"]]"#,
                r#"dirs = ["/s"]"#,
                "args[0][1]: `{image}/*` uses {image} but the grant has no image_dirs",
            ),
            (r#"[[]]"#, "", "args[0]: an empty group grants nothing"),
            (
                r#"[["{home}"]]"#,
                "",
                "has `{home}`: the placeholders are {state} and {image}",
            ),
            (
                "[]",
                "dirs = [\"/srv\"]\nimage_dirs = [\"/srv/images\"]",
                "plugins.qemu.image_dirs[0]: `/srv/images` overlaps the read-write directory `/srv`",
            ),
            (
                "[]",
                "dirs = [\"/srv/q\"]\nimage_dirs = [\"/srv\"]",
                "image_dirs[0]: `/srv` overlaps",
            ),
            (
                "[]",
                "image_dirs = [\"images\"]",
                "image_dirs[0]: `images` must be an absolute path",
            ),
        ] {
            let text = format!("{dirs}\n[exec.\"/usr/bin/qemu-img\"]\nargs = {args}\n");
            let err = grant(&text).unwrap_err();
            assert!(err.contains(expected), "{text}: {err}");
        }
    }

    #[test]
    fn link_grants_need_prefixes_of_device_names_and_plumbing_manifests() {
        let g = grant("[link]\nprefixes = [\"flb-\"]\nunderlays = [\"eth1\"]\n").unwrap();
        let link = g.link.unwrap();
        assert_eq!(
            (link.prefixes, link.underlays),
            (vec!["flb-".to_string()], vec!["eth1".to_string()])
        );
        for (text, expected) in [
            (
                "[link]\nunderlays = [\"eth1\"]\n",
                "missing field `prefixes`",
            ),
            (
                "[link]\nprefixes = []\n",
                "plugins.qemu.link.prefixes: name at least one",
            ),
            (
                "[link]\nprefixes = [\"\"]\n",
                "prefixes[0]: `` is empty: it would grant every device",
            ),
            (
                "[link]\nprefixes = [\"flb-\", \"way-too-long\"]\n",
                "prefixes[1]: `way-too-long` is longer than 8",
            ),
            (
                "[link]\nprefixes = [\"f b\"]\n",
                "prefixes[0]: `f b` has a character outside",
            ),
            (
                "[link]\nprefixes = [\"flb-\"]\nunderlays = [\"eth0;reboot\"]\n",
                "underlays[0]: `eth0;reboot` has a character",
            ),
            (
                "[link]\nprefixes = [\"flb-\"]\nip = \"ip\"\n",
                "link.ip: `ip` must be an absolute path",
            ),
            (
                "[link]\nprefixes = [\"flb-\"]\ndevices = 1\n",
                "unknown field `devices`",
            ),
        ] {
            let err = grant(text).unwrap_err();
            assert!(err.contains(expected), "{text}: {err}");
        }
        let plumbing = "id = \"bridge\"\nversion = \"0.1.0\"\nkind = \"plumbing\"\napi = \"flotilla:network@0.1.0\"\n[capabilities]\nlink = true\n";
        let m = Manifest::parse(plumbing).unwrap();
        assert!(m.capabilities.link);
        assert_eq!(m.kind.export(), "flotilla:network/plumbing");
        let err = Manifest::parse(&SIM.replace("[capabilities]", "[capabilities]\nlink = true"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("capabilities.link: only plumbing plugins"),
            "{err}"
        );
    }
}
