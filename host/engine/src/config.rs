//! The operator's configuration: `flotilla.toml` in the data directory (or
//! `--config`). Every key is optional; the defaults run everything on
//! loopback with the embedded simulated hypervisor.
//!
//! ```toml
//! [server]
//! listen = "127.0.0.1:2474"
//!
//! [sim]
//! enabled = true
//! listen = "127.0.0.1:2475"
//! boot_seconds = 2.0
//!
//! [plugins.sim]                 # what the operator grants one plugin
//! allowed_outbound_hosts = ["http://127.0.0.1:2475"]
//! config = { endpoint = "http://127.0.0.1:2475" }
//! limits = { timeout_ms = 10000, memory_mb = 128 }
//! ```

use crate::plugin::Grant;
use flotilla_model::FieldError;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub const DEFAULT_API: &str = "127.0.0.1:2474";
pub const DEFAULT_SIM: &str = "127.0.0.1:2475";
pub const DEFAULT_ONEGATE: &str = "127.0.0.1:5030";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub sim: SimConfig,
    pub engine: EngineConfig,
    pub onegate: OneGateConfig,
    pub fleet: FleetConfig,
    pub store: StoreConfig,
    pub plugins: BTreeMap<String, Grant>,
}

/// Where the server keeps its records.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// A PostgreSQL database (`postgres://user:password@host:port/db`)
    /// instead of the SQLite file `flotilla.db` in the data directory.
    /// One server per database: a second is refused at start.
    pub url: Option<String>,
}

/// The hosts VMs are placed on (created with `flotilla host create`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FleetConfig {
    /// How often every host that is not offline is monitored.
    pub monitor_interval_seconds: u64,
    /// Among the hosts a VM fits: `spread` (fewest VMs first, OpenNebula's
    /// striping), `pack` (most VMs first) or `load` (most free CPU first).
    /// A VM's `SCHED_RANK` goes before it.
    pub strategy: flotilla_core::fleet::Strategy,
    /// Recreate the VMs of a host in ERROR on the other hosts without
    /// waiting for a `recover` (OpenNebula's host-error hook).
    pub recover_lost_hosts: bool,
    /// How long a host is in ERROR before that: a host that misses one
    /// monitoring is not given up on at once.
    pub lost_host_grace_seconds: u64,
    /// How the server runs a program on a host, for the network devices
    /// of the VMs placed there (a network's `VN_MAD` plumbing): a command
    /// with `{name}`, `{address}` or `{hostname}` (the machine in a URI
    /// address) in it, `ip` and its arguments appended. None: a VM on a
    /// host gets no NIC on a plumbed network.
    pub host_command: Option<Vec<String>>,
}

impl Default for FleetConfig {
    fn default() -> Self {
        FleetConfig {
            monitor_interval_seconds: 30,
            strategy: Default::default(),
            recover_lost_hosts: false,
            lost_host_grace_seconds: 60,
            host_command: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// The driver plugin that creates the VMs.
    pub driver: String,
    /// How often every service's VMs are polled and the services moved on.
    pub tick_ms: u64,
    /// How long a deploy, scale or undeploy may wait for its VMs before the
    /// service goes to its FAILED_ state.
    pub wait_seconds: u64,
    /// Warm instances of the driver serving the engine's calls.
    pub driver_instances: usize,
    /// The most VMs one role may have: a scale or a template past it is
    /// refused with a 400 naming this setting.
    pub max_vms_per_role: u32,
    /// Cooldown after a scale for roles that set none (OneFlow's
    /// `default_cooldown`, 300 s).
    pub default_cooldown_seconds: u32,
    /// How often each role's metric policies are evaluated (OneFlow's
    /// autoscaler pass is 90 s).
    pub policy_evaluation_seconds: u64,
    /// A VM's values older than this are stale: policies never read them
    /// (the decision says so).
    pub metric_max_age_seconds: u64,
    /// The network-mode plugin of service networks that name none.
    pub network_mode: String,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            driver: "sim".into(),
            tick_ms: 1_000,
            wait_seconds: 900,
            driver_instances: 2,
            max_vms_per_role: 10_000,
            default_cooldown_seconds: 300,
            policy_evaluation_seconds: 15,
            metric_max_age_seconds: 120,
            network_mode: "static".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Connections served at once; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// A client must send a request's headers within this time, and a
    /// kept-alive connection with no request for this long is closed.
    pub header_timeout_seconds: u64,
    pub idle_timeout_seconds: u64,
    /// A request's body must arrive within this many seconds of the
    /// server asking for it, plus one second for every
    /// `body_min_bytes_per_second` bytes received; else 408 and the
    /// connection is closed.
    pub body_timeout_seconds: u64,
    pub body_min_bytes_per_second: u64,
    /// Unknown attributes in templates are refused (400) instead of
    /// answered with warnings.
    pub strict_attributes: bool,
    /// Origins (`https://dash.example.com`) besides the server's own from
    /// which browsers may send state-changing requests.
    pub allowed_origins: Vec<String>,
    /// Password checks (Argon2) run at once; more wait for a turn.
    pub password_checks: usize,
    /// Failed sign-ins per user name and per client address within a
    /// minute before further attempts are answered 429 until it passes.
    pub failed_logins_per_minute: u32,
    /// A dashboard session unused for this long ends (sign in again).
    pub session_idle_minutes: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: DEFAULT_API.parse().expect("valid default address"),
            max_connections: 1024,
            header_timeout_seconds: 10,
            idle_timeout_seconds: 60,
            body_timeout_seconds: 10,
            body_min_bytes_per_second: 1024,
            strict_attributes: false,
            allowed_origins: Vec::new(),
            password_checks: 2,
            failed_logins_per_minute: 10,
            session_idle_minutes: 480,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimConfig {
    /// Run the simulated hypervisor inside the server.
    pub enabled: bool,
    pub listen: SocketAddr,
    /// Boot time of simulated VMs that do not set SIM_BOOT_SECONDS.
    pub boot_seconds: f64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            enabled: true,
            listen: DEFAULT_SIM.parse().expect("valid default address"),
            boot_seconds: 2.0,
        }
    }
}

/// OneGate: the endpoint VMs talk to (report READY, push values, read
/// their service, scale their role). On by default, on loopback.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OneGateConfig {
    /// `false`: no OneGate (VMs get no endpoint or token; a
    /// `ready_status_gate` service then waits on its hypervisor alone).
    pub enabled: bool,
    /// Where OneGate listens.
    pub listen: SocketAddr,
    /// The URL VMs are given (`ONEGATE_ENDPOINT`), when they reach OneGate
    /// by another address than `listen` (a bridge, a NAT forward).
    pub endpoint: Option<String>,
    /// How long a VM's token is valid; VMs that live longer need a new
    /// one (`0`: as long as the VM is in its service).
    pub token_ttl_seconds: u64,
    /// Attributes a VM may not set on itself.
    pub restricted_attributes: Vec<String>,
    /// Reports a VM may send per second (a burst of twice that is
    /// allowed); more are answered 429.
    pub reports_per_second: u32,
    /// VM actions a VM may not ask for through `POST /vms/:id/action`
    /// (OneGate's `restricted_actions`; its default keeps `reboot` out).
    pub restricted_actions: Vec<String>,
    /// Connections OneGate serves at once; more wait in the kernel's
    /// backlog until one closes.
    pub max_connections: usize,
}

impl Default for OneGateConfig {
    fn default() -> Self {
        OneGateConfig {
            enabled: true,
            listen: DEFAULT_ONEGATE.parse().expect("valid default address"),
            endpoint: None,
            token_ttl_seconds: 0,
            restricted_attributes: ["SCHED_REQUIREMENTS", "SERVICE_ID", "ROLE_NAME"]
                .map(String::from)
                .to_vec(),
            reports_per_second: 10,
            restricted_actions: vec!["reboot".into()],
            max_connections: 4096,
        }
    }
}

/// Why a configuration is refused: shown as `<file>: <problem>` when it
/// was read from a file.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub file: Option<PathBuf>,
    pub problem: ConfigProblem,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ConfigProblem {
    /// The file could not be read.
    Unreadable(String),
    /// Not TOML, or not Flotilla's settings (an unknown key, a value of
    /// the wrong type): the parser's words.
    Syntax(String),
    /// A setting is wrong, or names a plugin there is not.
    Invalid(FieldError),
}

impl ConfigError {
    /// The same problem, found in `path`.
    pub fn in_file(self, path: &Path) -> ConfigError {
        ConfigError {
            file: Some(path.to_path_buf()),
            ..self
        }
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}: ", file.display())?;
        }
        match &self.problem {
            ConfigProblem::Unreadable(m) | ConfigProblem::Syntax(m) => f.write_str(m),
            ConfigProblem::Invalid(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ConfigError {}

impl From<FieldError> for ConfigError {
    fn from(e: FieldError) -> ConfigError {
        ConfigError {
            file: None,
            problem: ConfigProblem::Invalid(e),
        }
    }
}

impl Config {
    /// Read `path`; a missing file means the defaults.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(e) => {
                return Err(ConfigError {
                    file: Some(path.to_path_buf()),
                    problem: ConfigProblem::Unreadable(e.to_string()),
                });
            }
        };
        Config::parse(&text).map_err(|e| e.in_file(path))
    }

    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError {
            file: None,
            problem: ConfigProblem::Syntax(e.to_string()),
        })?;
        let zeros = [
            ("engine.tick_ms", config.engine.tick_ms == 0),
            ("engine.wait_seconds", config.engine.wait_seconds == 0),
            (
                "engine.policy_evaluation_seconds",
                config.engine.policy_evaluation_seconds == 0,
            ),
            (
                "engine.metric_max_age_seconds",
                config.engine.metric_max_age_seconds == 0,
            ),
            (
                "engine.driver_instances",
                config.engine.driver_instances == 0,
            ),
            (
                "engine.max_vms_per_role",
                config.engine.max_vms_per_role == 0,
            ),
            ("server.max_connections", config.server.max_connections == 0),
            (
                "server.header_timeout_seconds",
                config.server.header_timeout_seconds == 0,
            ),
            (
                "server.idle_timeout_seconds",
                config.server.idle_timeout_seconds == 0,
            ),
            (
                "server.body_timeout_seconds",
                config.server.body_timeout_seconds == 0,
            ),
            (
                "server.body_min_bytes_per_second",
                config.server.body_min_bytes_per_second == 0,
            ),
            ("server.password_checks", config.server.password_checks == 0),
            (
                "onegate.reports_per_second",
                config.onegate.reports_per_second == 0,
            ),
            (
                "onegate.max_connections",
                config.onegate.max_connections == 0,
            ),
            (
                "server.failed_logins_per_minute",
                config.server.failed_logins_per_minute == 0,
            ),
            (
                "server.session_idle_minutes",
                config.server.session_idle_minutes == 0,
            ),
            (
                "fleet.monitor_interval_seconds",
                config.fleet.monitor_interval_seconds == 0,
            ),
        ];
        if let Some((key, _)) = zeros.iter().find(|(_, zero)| *zero) {
            return Err(FieldError::new(*key, "must be above zero").into());
        }
        if let Some(command) = &config.fleet.host_command
            && command
                .first()
                .is_none_or(|program| program.trim().is_empty())
        {
            return Err(FieldError::new(
                "fleet.host_command",
                "names no program: a command and its arguments, as [\"ssh\", \"-o\", \
                 \"BatchMode=yes\", \"root@{hostname}\"]",
            )
            .into());
        }
        if let Some(url) = &config.store.url
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            return Err(FieldError::new(
                "store.url",
                // Not echoed: a URL may hold a password.
                "must be a PostgreSQL URL (postgres://user@host:port/database); without \
                 the setting, the store is SQLite in the data directory",
            )
            .into());
        }
        if let Some(endpoint) = &config.onegate.endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            return Err(FieldError::new(
                "onegate.endpoint",
                format!("`{endpoint}` must be a URL (http://host:port) the VMs reach OneGate by"),
            )
            .into());
        }
        if !(config.sim.boot_seconds >= 0.0 && config.sim.boot_seconds.is_finite()) {
            return Err(FieldError::new(
                "sim.boot_seconds",
                "must be a number of seconds, 0 or more",
            )
            .into());
        }
        for (id, grant) in &config.plugins {
            grant.validate(id)?;
        }
        Ok(config)
    }
}

/// A plugin a configuration may name: its id and kind (unknown for an
/// installed file whose manifest does not read: the server lists it as
/// failed, and a setting naming it is the operator's to fix there).
pub type AvailablePlugin = (String, Option<crate::plugin::PluginKind>);

/// The plugins a server on `data_dir` has: the built-in ones and the files
/// installed in `<data_dir>/plugins` (`<id>.wasm`, manifest `<id>.toml`).
pub fn available_plugins(data_dir: Option<&Path>) -> Vec<AvailablePlugin> {
    let mut out: Vec<AvailablePlugin> = flotilla_builtin::BUILTIN
        .iter()
        .map(|b| {
            let m = b.manifest();
            (m.id, Some(m.kind))
        })
        .collect();
    let files = data_dir
        .and_then(|d| std::fs::read_dir(d.join("plugins")).ok())
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"));
    for wasm in files {
        let manifest = std::fs::read_to_string(wasm.with_extension("toml"))
            .ok()
            .and_then(|t| crate::plugin::Manifest::parse(&t).ok());
        match manifest {
            Some(m) => out.push((m.id, Some(m.kind))),
            None => {
                if let Some(stem) = wasm.file_stem().and_then(|s| s.to_str()) {
                    out.push((stem.to_string(), None));
                }
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out.dedup();
    out
}

impl Config {
    /// The grant a plugin gets under this configuration: the operator's,
    /// else the server's own default (`defaults`: the embedded hypervisor
    /// to the sim driver), else none.
    pub fn grant(&self, defaults: &[(String, Grant)], id: &str) -> Grant {
        self.plugins
            .get(id)
            .cloned()
            .or_else(|| {
                defaults
                    .iter()
                    .find(|(d, _)| d == id)
                    .map(|(_, g)| g.clone())
            })
            .unwrap_or_default()
    }

    /// The plugins the configuration names exist: `engine.driver` is a
    /// driver, `engine.network_mode` a network mode, and every
    /// `[plugins.<id>]` grant is for a plugin there is. A typo would
    /// otherwise start a server that creates no VM, or grant nothing.
    pub fn check_plugin_ids(&self, available: &[AvailablePlugin]) -> Result<(), FieldError> {
        use crate::plugin::PluginKind;
        let of_kind = |kind: PluginKind| -> Vec<&str> {
            available
                .iter()
                .filter(|(_, k)| k.is_none_or(|k| k == kind))
                .map(|(id, _)| id.as_str())
                .collect()
        };
        let check = |key: &str, id: &str, kind: PluginKind, plural: &str| {
            let others = of_kind(kind);
            if others.contains(&id) {
                return Ok(());
            }
            let found = available.iter().find_map(|(i, k)| (i == id).then_some(*k));
            let what = match found {
                Some(Some(k)) => format!("\"{id}\" is a{} {k} plugin", article(k.as_str())),
                _ => format!("no plugin \"{id}\""),
            };
            Err(FieldError::new(
                key,
                format!("{what}; the {plural} are: {}", others.join(", ")),
            ))
        };
        check(
            "engine.driver",
            &self.engine.driver,
            PluginKind::Driver,
            "drivers",
        )?;
        check(
            "engine.network_mode",
            &self.engine.network_mode,
            PluginKind::Network,
            "network modes",
        )?;
        for id in self.plugins.keys() {
            if !available.iter().any(|(i, _)| i == id) {
                let ids: Vec<&str> = available.iter().map(|(i, _)| i.as_str()).collect();
                return Err(FieldError::new(
                    format!("plugins.{id}"),
                    format!(
                        "no plugin \"{id}\" to grant to; the plugins are: {}",
                        ids.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "n"
    } else {
        ""
    }
}

/// The data directory: `--data-dir`, `FLOTILLA_DATA_DIR`, else
/// `$XDG_DATA_HOME/flotilla` or `~/.local/share/flotilla`.
pub fn default_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME") {
        return PathBuf::from(dir).join("flotilla");
    }
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".local/share/flotilla"),
        None => PathBuf::from("flotilla-data"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_run_on_loopback_with_the_embedded_sim() {
        let c = Config::parse("").unwrap();
        assert_eq!(c.server.listen.to_string(), DEFAULT_API);
        assert!(c.sim.enabled);
        assert!(c.server.listen.ip().is_loopback());
    }

    #[test]
    fn the_documented_example_is_valid_and_matches_the_defaults() {
        let example = Config::parse(include_str!("../../../examples/flotilla.toml")).unwrap();
        let defaults = Config::default();
        assert_eq!(example.server.listen, defaults.server.listen);
        assert_eq!(example.sim.listen, defaults.sim.listen);
        assert_eq!(example.sim.boot_seconds, defaults.sim.boot_seconds);
        let sim = crate::plugin::PluginKind::Driver.default_limits();
        assert_eq!(
            example.plugins["sim"].limits.timeout_ms,
            Some(sim.timeout.as_millis() as u64)
        );
        assert_eq!(
            example.plugins["sim"].limits.memory_mb,
            Some(sim.memory_bytes >> 20)
        );
    }

    #[test]
    fn grants_are_read_and_checked() {
        let c = Config::parse(
            "[plugins.sim]\nallowed_outbound_hosts = [\"http://127.0.0.1:9000\"]\nconfig = { endpoint = \"http://127.0.0.1:9000\" }\n",
        )
        .unwrap();
        assert_eq!(c.plugins["sim"].config["endpoint"], "http://127.0.0.1:9000");
        let err = Config::parse("[plugins.sim]\nallowed_outbound_hosts = [\"nope\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("plugins.sim.allowed_outbound_hosts[0]"),
            "{err}"
        );
        let err = Config::parse("[sim]\nboot_seconds = -1\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("sim.boot_seconds"), "{err}");
        assert!(Config::parse("[server]\nlisten = \"here\"\n").is_err());
        assert!(Config::parse("[surprise]\n").is_err());
        let err = Config::parse("[onegate]\nendpoint = \"10.0.0.1:5030\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("onegate.endpoint"), "{err}");
        let err = Config::parse("[store]\nurl = \"mysql://u:secret@db/f\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("store.url") && !err.contains("secret"),
            "{err}"
        );
        let store = Config::parse("[store]\nurl = \"postgres://u@db/f\"\n").unwrap();
        assert_eq!(store.store.url.as_deref(), Some("postgres://u@db/f"));
        let err = Config::parse("[onegate]\nreports_per_second = 0\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("onegate.reports_per_second"), "{err}");
        let err = Config::parse("[onegate]\nmax_connections = 0\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("onegate.max_connections"), "{err}");
        let onegate = Config::parse("").unwrap().onegate;
        assert!(onegate.enabled, "OneGate is on by default");
        assert_eq!(onegate.listen.to_string(), DEFAULT_ONEGATE);
    }
}
