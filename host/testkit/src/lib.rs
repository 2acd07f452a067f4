//! The test kit: load one plugin in-process and run the conformance suite
//! for its kind, without a server. `flotilla plugin check` is a thin shell
//! around [`check_file`]; plugin authors can call it from their own tests.
//!
//! A check passes when the plugin honours the contract of its WIT
//! interface. A fault (trap, timeout, memory cap, denied capability) fails
//! the check it happened in, with the fault named; the process carries on.

mod driver;
mod network;
mod policy;

use flotilla_builtin as builtin;
use flotilla_plugin_host::{CallError, Grant, Manifest, PluginHost, PluginInfo, PluginKind};
use flotilla_sim::{SimHypervisor, SimOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckRow {
    pub name: &'static str,
    pub passed: bool,
    pub detail: String,
    /// The fault kind, when the check failed because the plugin faulted.
    pub fault: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// Where the manifest came from (`none found: …` when the component
    /// was checked without one).
    pub manifest: String,
    pub plugin: String,
    pub version: String,
    pub kind: PluginKind,
    pub rows: Vec<CheckRow>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.rows.iter().all(|r| r.passed)
    }

    /// The distinct faults the plugin produced, in order of appearance.
    pub fn faults(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for f in self.rows.iter().filter_map(|r| r.fault.clone()) {
            if !out.contains(&f) {
                out.push(f);
            }
        }
        out
    }

    pub fn render(&self) -> String {
        let mut table = comfy_table::Table::new();
        table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
        table.set_header(["check", "result", "detail"]);
        for row in &self.rows {
            table.add_row([
                row.name.to_string(),
                if row.passed {
                    "pass".into()
                } else {
                    "FAIL".into()
                },
                row.detail.clone(),
            ]);
        }
        let passed = self.rows.iter().filter(|r| r.passed).count();
        let faults = self.faults();
        let mut summary = format!(
            "{} {} ({} plugin): {passed}/{} checks passed",
            self.plugin,
            self.version,
            self.kind,
            self.rows.len()
        );
        if !faults.is_empty() {
            summary.push_str(&format!("; faults: {}", faults.join(", ")));
        }
        let manifest = if self.manifest.starts_with("none found") {
            format!(
                "manifest: none found beside the component (<name>.toml or plugin.toml): checked as a bare {} plugin named `{}` with no capabilities; installing it needs a manifest (--manifest)",
                self.kind, self.plugin
            )
        } else {
            format!("manifest: {}", self.manifest)
        };
        format!("{table}\n{summary}\n{manifest}")
    }
}

/// Where a check says what it is doing as it goes (`flotilla plugin
/// check` prints it on stderr): compiling a Python or JavaScript component
/// takes many seconds.
#[derive(Clone, Default)]
pub struct Progress(Option<Arc<Say>>);

type Say = dyn Fn(&str) + Send + Sync;

impl Progress {
    pub fn new(say: impl Fn(&str) + Send + Sync + 'static) -> Progress {
        Progress(Some(Arc::new(say)))
    }

    pub fn say(&self, what: &str) {
        if let Some(say) = &self.0 {
            say(what);
        }
    }
}

/// How a check runs.
#[derive(Clone, Default)]
pub struct CheckOptions {
    /// The parameters a policy's evaluations get (`--param KEY=VALUE`);
    /// none: the `threshold` plugin's (`above`, `below`).
    pub params: Vec<(String, String)>,
    pub progress: Progress,
}

/// Collects check results, saying each as it starts and ends.
pub(crate) struct Checks {
    rows: Vec<CheckRow>,
    progress: Progress,
}

impl Checks {
    fn new(progress: &Progress) -> Checks {
        Checks {
            rows: Vec::new(),
            progress: progress.clone(),
        }
    }

    /// Run one check: `Ok(detail)` passes, `Err(failure)` fails.
    pub(crate) async fn check(
        &mut self,
        name: &'static str,
        outcome: impl std::future::Future<Output = Result<String, Failure>>,
    ) {
        self.progress.say(&format!("checking: {name}"));
        let outcome = outcome.await;
        self.record(name, outcome);
    }

    fn into_report(self, manifest: &Manifest) -> Report {
        Report {
            manifest: String::new(),
            plugin: manifest.id.clone(),
            version: manifest.version.clone(),
            kind: manifest.kind,
            rows: self.rows,
        }
    }

    /// Record a check: `Ok(detail)` passes, `Err(failure)` fails.
    pub(crate) fn record(&mut self, name: &'static str, outcome: Result<String, Failure>) {
        let row = match outcome {
            Ok(detail) => CheckRow {
                name,
                passed: true,
                detail,
                fault: None,
            },
            Err(Failure::Fault(kind, reason)) => CheckRow {
                name,
                passed: false,
                detail: format!("fault ({kind}): {reason}"),
                fault: Some(kind),
            },
            Err(Failure::Wrong(detail)) => CheckRow {
                name,
                passed: false,
                detail,
                fault: None,
            },
        };
        self.progress.say(&format!(
            "  {}: {name}",
            if row.passed { "pass" } else { "FAIL" }
        ));
        self.rows.push(row);
    }
}

pub(crate) enum Failure {
    Fault(String, String),
    Wrong(String),
}

impl From<CallError> for Failure {
    fn from(e: CallError) -> Self {
        match e {
            CallError::Fault(f) => Failure::Fault(f.kind.to_string(), f.reason),
            CallError::Plugin(e) => Failure::Wrong(format!("unexpected error: {e}")),
        }
    }
}

pub(crate) fn wrong(detail: impl Into<String>) -> Failure {
    Failure::Wrong(detail.into())
}

pub(crate) fn check_info(
    info: Result<PluginInfo, CallError>,
    manifest: &Manifest,
) -> Result<String, Failure> {
    let info = info?;
    if info.name != manifest.id || info.version != manifest.version {
        return Err(wrong(format!(
            "info() says {} {}, the manifest {} {}",
            info.name, info.version, manifest.id, manifest.version
        )));
    }
    Ok(format!("{} {}", info.name, info.version))
}

/// A plugin file and the manifest that goes with it.
pub struct PluginFile {
    pub manifest: Manifest,
    pub wasm: Vec<u8>,
    /// Where the manifest came from, for messages.
    pub manifest_source: String,
}

/// Read a `.wasm` file and find its manifest: `--manifest`, else
/// `<name>.toml` or `plugin.toml` beside it, else the built-in manifest
/// when the file is a built-in plugin, else a bare manifest (no
/// capabilities) for the kind the component exports.
pub fn read_plugin_file(
    host: &PluginHost,
    path: &Path,
    manifest: Option<&Path>,
) -> Result<PluginFile, String> {
    read_plugin_file_with(host, path, manifest, &Progress::default())
}

/// [`read_plugin_file`], saying what it does.
fn read_plugin_file_with(
    host: &PluginHost,
    path: &Path,
    manifest: Option<&Path>,
    progress: &Progress,
) -> Result<PluginFile, String> {
    progress.say(&format!("reading {}", path.display()));
    let wasm = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let candidates: Vec<PathBuf> = match manifest {
        Some(m) => vec![m.to_path_buf()],
        None => vec![
            path.with_extension("toml"),
            path.with_file_name("plugin.toml"),
        ],
    };
    for candidate in candidates {
        if candidate.exists() {
            let text = std::fs::read_to_string(&candidate)
                .map_err(|e| format!("{}: {e}", candidate.display()))?;
            let manifest =
                Manifest::parse(&text).map_err(|e| format!("{}: {e}", candidate.display()))?;
            return Ok(PluginFile {
                manifest,
                wasm,
                manifest_source: candidate.display().to_string(),
            });
        } else if manifest.is_some() {
            return Err(format!("{}: no such manifest", candidate.display()));
        }
    }
    if let Some(b) = builtin::BUILTIN.iter().find(|b| b.wasm == wasm.as_slice()) {
        return Ok(PluginFile {
            manifest: b.manifest(),
            wasm,
            manifest_source: "built-in".into(),
        });
    }
    progress.say(&format!(
        "compiling the component ({}) to find its kind",
        megabytes(wasm.len())
    ));
    let component = host
        .compile(&wasm)
        .map_err(|e| format!("{}: not a valid component: {e:#}", path.display()))?;
    let kind = host
        .detect_kind(&component)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let id = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("plugin")
        .to_ascii_lowercase()
        .replace(
            |c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "-",
        );
    Ok(PluginFile {
        manifest: Manifest::bare(&id, kind),
        wasm,
        manifest_source: "none found: no capabilities".into(),
    })
}

/// `18.2 MB`.
fn megabytes(bytes: usize) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// Run the conformance suite for a plugin. Drivers run against a
/// simulated hypervisor started for the check, on loopback, and granted to
/// the plugin; `grant` adds the operator's own grant (for a driver of a
/// real hypervisor, its endpoint and credentials).
pub async fn check(
    host: &PluginHost,
    file: PluginFile,
    grant: Grant,
    options: &CheckOptions,
) -> Result<Report, String> {
    let manifest = file.manifest.clone();
    let progress = &options.progress;
    let load = |grant: Grant| {
        progress.say(&format!(
            "compiling the component ({}); a Python or JavaScript one takes a while",
            megabytes(file.wasm.len())
        ));
        host.load(manifest.clone(), &file.wasm, grant)
    };
    match manifest.kind {
        // A driver of processes (QEMU) runs nothing without the operator's
        // grant of its programs: what a check can show is the refusal.
        PluginKind::Driver if !manifest.capabilities.exec.is_empty() && grant.exec.is_empty() => {
            let plugin = load(grant)?;
            Ok(driver::check_ungranted(plugin, &manifest, progress).await)
        }
        PluginKind::Driver => {
            progress.say("starting a simulated hypervisor for the driver");
            let sim = SimHypervisor::open(SimOptions::default())
                .map_err(|e| format!("starting a simulated hypervisor: {e:#}"))?;
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|e| format!("binding the simulated hypervisor: {e}"))?;
            let addr = flotilla_sim::spawn(sim, listener).map_err(|e| e.to_string())?;
            let mut grant = grant;
            let origin = format!("http://{addr}");
            grant.allowed_outbound_hosts.push(origin.clone());
            grant.config.entry("endpoint".into()).or_insert(origin);
            let plugin = load(grant)?;
            Ok(driver::run(plugin, &manifest, progress).await)
        }
        PluginKind::Elasticity => {
            let plugin = load(grant)?;
            Ok(policy::run(plugin, &manifest, &options.params, progress).await)
        }
        PluginKind::Network => {
            let plugin = load(grant)?;
            Ok(network::run(host, plugin, &manifest, progress).await)
        }
    }
}

/// Read, load and check one plugin file.
pub async fn check_file(
    host: &PluginHost,
    path: &Path,
    manifest: Option<&Path>,
) -> Result<Report, String> {
    check_file_with(host, path, manifest, &CheckOptions::default()).await
}

/// [`check_file`] with options: a policy's parameters, progress.
pub async fn check_file_with(
    host: &PluginHost,
    path: &Path,
    manifest: Option<&Path>,
    options: &CheckOptions,
) -> Result<Report, String> {
    let file = read_plugin_file_with(host, path, manifest, &options.progress)?;
    let source = file.manifest_source.clone();
    let mut report = check(host, file, Grant::default(), options).await?;
    report.manifest = source;
    Ok(report)
}
