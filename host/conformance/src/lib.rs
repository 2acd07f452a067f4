//! The test kit: load one plugin in-process and run the conformance suite
//! for its kind, without a server. `flotilla plugin check` is a thin shell
//! around [`check_file`]; plugin authors can call it from their own tests.
//!
//! A check passes when the plugin honours the contract of its WIT
//! interface. A fault (trap, timeout, memory cap, denied capability) fails
//! the check it happened in, with the fault named; the process carries on.

mod driver;
mod hosts;
mod network;
mod plumbing;
mod policy;

use flotilla_builtin as builtin;
use flotilla_plugin_host::{CallError, Grant, Manifest, PluginHost, PluginInfo, PluginKind};
use flotilla_sim_hypervisor::{SimHypervisor, SimOptions};
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
    /// Where the manifest came from, once known (`check_file` says);
    /// written as its text, `""` when unknown.
    #[serde(serialize_with = "source_text")]
    pub manifest: Option<ManifestSource>,
    pub plugin: String,
    pub version: String,
    pub kind: PluginKind,
    pub rows: Vec<CheckRow>,
}

fn source_text<S: serde::Serializer>(
    source: &Option<ManifestSource>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match source {
        Some(source) => s.collect_str(source),
        None => s.serialize_str(""),
    }
}

/// Where a plugin's manifest came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestSource {
    /// A file: the one given, or `<name>.toml` or `plugin.toml` beside
    /// the component.
    File(PathBuf),
    /// The component is a built-in plugin: its own manifest.
    BuiltIn,
    /// None found: a bare manifest, no capabilities, for the kind the
    /// component exports.
    Bare,
}

impl std::fmt::Display for ManifestSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ManifestSource::File(path) => write!(f, "{}", path.display()),
            ManifestSource::BuiltIn => f.write_str("built-in"),
            ManifestSource::Bare => f.write_str("none found: no capabilities"),
        }
    }
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
        let manifest = match &self.manifest {
            Some(ManifestSource::Bare) => format!(
                "manifest: none found beside the component (<name>.toml or plugin.toml): checked as a bare {} plugin named `{}` with no capabilities; installing it needs a manifest (--manifest)",
                self.kind, self.plugin
            ),
            Some(source) => format!("manifest: {source}"),
            None => "manifest: ".to_string(),
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
    /// The operator's grants by plugin id (flotilla.toml's `[plugins]`):
    /// the checked plugin runs with its own (a plumbing plugin's link
    /// grant, on devices in memory).
    pub grants: std::collections::BTreeMap<String, Grant>,
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
            manifest: None,
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

/// Why a plugin could not be checked: the suite did not run.
#[derive(Debug)]
pub enum CheckError {
    /// The component or its manifest could not be read.
    Read(PathBuf, std::io::Error),
    /// The manifest given is not there.
    NoManifest(PathBuf),
    /// The manifest is refused (the reason).
    Manifest(PathBuf, String),
    /// The file is not a WebAssembly component.
    NotAComponent(PathBuf, anyhow::Error),
    /// The component exports no plugin kind (the reason).
    NoKind(PathBuf, String),
    /// The plugin host refused to load the plugin (its reason).
    Load(String),
    /// The simulated hypervisor a driver is checked against did not
    /// start, could not listen, or could not serve.
    SimStart(anyhow::Error),
    SimListen(std::io::Error),
    SimServe(std::io::Error),
}

impl std::fmt::Display for CheckError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CheckError::Read(path, e) => write!(f, "{}: {e}", path.display()),
            CheckError::NoManifest(path) => write!(f, "{}: no such manifest", path.display()),
            CheckError::Manifest(path, reason) | CheckError::NoKind(path, reason) => {
                write!(f, "{}: {reason}", path.display())
            }
            CheckError::NotAComponent(path, e) => {
                write!(f, "{}: not a valid component: {e:#}", path.display())
            }
            CheckError::Load(reason) => f.write_str(reason),
            CheckError::SimStart(e) => write!(f, "starting a simulated hypervisor: {e:#}"),
            CheckError::SimListen(e) => write!(f, "binding the simulated hypervisor: {e}"),
            CheckError::SimServe(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for CheckError {}

/// A plugin file and the manifest that goes with it.
pub struct PluginFile {
    pub manifest: Manifest,
    pub wasm: Vec<u8>,
    pub manifest_source: ManifestSource,
}

/// Read a `.wasm` file and find its manifest: `--manifest`, else
/// `<name>.toml` or `plugin.toml` beside it, else the built-in manifest
/// when the file is a built-in plugin, else a bare manifest (no
/// capabilities) for the kind the component exports.
pub fn read_plugin_file(
    host: &PluginHost,
    path: &Path,
    manifest: Option<&Path>,
) -> Result<PluginFile, CheckError> {
    read_plugin_file_with(host, path, manifest, &Progress::default())
}

/// [`read_plugin_file`], saying what it does.
fn read_plugin_file_with(
    host: &PluginHost,
    path: &Path,
    manifest: Option<&Path>,
    progress: &Progress,
) -> Result<PluginFile, CheckError> {
    progress.say(&format!("reading {}", path.display()));
    let wasm = std::fs::read(path).map_err(|e| CheckError::Read(path.to_path_buf(), e))?;
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
                .map_err(|e| CheckError::Read(candidate.clone(), e))?;
            let manifest = Manifest::parse(&text)
                .map_err(|e| CheckError::Manifest(candidate.clone(), e.to_string()))?;
            return Ok(PluginFile {
                manifest,
                wasm,
                manifest_source: ManifestSource::File(candidate),
            });
        } else if manifest.is_some() {
            return Err(CheckError::NoManifest(candidate));
        }
    }
    if let Some(b) = builtin::BUILTIN.iter().find(|b| b.wasm == wasm.as_slice()) {
        return Ok(PluginFile {
            manifest: b.manifest(),
            wasm,
            manifest_source: ManifestSource::BuiltIn,
        });
    }
    progress.say(&format!(
        "compiling the component ({}) to find its kind",
        megabytes(wasm.len())
    ));
    let component = host
        .compile(&wasm)
        .map_err(|e| CheckError::NotAComponent(path.to_path_buf(), e))?;
    let kind = host
        .detect_kind(&component)
        .map_err(|e| CheckError::NoKind(path.to_path_buf(), e.to_string()))?;
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
        manifest_source: ManifestSource::Bare,
    })
}

/// `18.2 MB`.
fn megabytes(bytes: usize) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// Run the conformance suite for a plugin. Drivers run against a
/// simulated hypervisor started for the check, on loopback, and granted to
/// the plugin; `grant` adds the operator's own grant (for a driver of a
/// real hypervisor, its endpoint and credentials). A driver for a fleet
/// (one that exports `flotilla:driver/hosts`) is also asked about hosts
/// made on that hypervisor.
pub async fn check(
    host: &PluginHost,
    file: PluginFile,
    grant: Grant,
    options: &CheckOptions,
) -> Result<Report, CheckError> {
    let manifest = file.manifest.clone();
    let progress = &options.progress;
    let load = |grant: Grant| {
        progress.say(&format!(
            "compiling the component ({}); a Python or JavaScript one takes a while",
            megabytes(file.wasm.len())
        ));
        host.load(manifest.clone(), &file.wasm, grant)
            .map_err(|e| CheckError::Load(e.to_string()))
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
            let sim = SimHypervisor::open(SimOptions::default()).map_err(CheckError::SimStart)?;
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(CheckError::SimListen)?;
            let addr = flotilla_sim_hypervisor::spawn(sim.clone(), listener)
                .map_err(CheckError::SimServe)?;
            let mut grant = grant;
            let origin = format!("http://{addr}");
            grant.allowed_outbound_hosts.push(origin.clone());
            let endpoint = grant
                .config
                .entry("endpoint".into())
                .or_insert(origin.clone());
            // The hosts a fleet driver is asked about are made on this
            // hypervisor, when the driver drives it: not when the
            // operator's grant sends it elsewhere, nor when it drives
            // host processes (libvirt's virsh) rather than an HTTP API.
            let drives_sim = manifest.capabilities.exec.is_empty() && *endpoint == origin;
            let fleet = drives_sim.then_some(sim);
            let plugin = load(grant)?;
            Ok(driver::run(plugin, &manifest, progress, fleet.as_deref()).await)
        }
        PluginKind::Elasticity => {
            let plugin = load(grant)?;
            Ok(policy::run(plugin, &manifest, &options.params, progress).await)
        }
        PluginKind::Network => {
            let plugin = load(grant)?;
            Ok(network::run(host, plugin, &manifest, progress).await)
        }
        PluginKind::Plumbing => {
            let plugin = load(grant)?;
            Ok(plumbing::run(plugin, &manifest, progress).await)
        }
    }
}

/// Read, load and check one plugin file.
pub async fn check_file(
    host: &PluginHost,
    path: &Path,
    manifest: Option<&Path>,
) -> Result<Report, CheckError> {
    check_file_with(host, path, manifest, &CheckOptions::default()).await
}

/// [`check_file`] with options: a policy's parameters, progress.
pub async fn check_file_with(
    host: &PluginHost,
    path: &Path,
    manifest: Option<&Path>,
    options: &CheckOptions,
) -> Result<Report, CheckError> {
    let file = read_plugin_file_with(host, path, manifest, &options.progress)?;
    let source = file.manifest_source.clone();
    let grant = options
        .grants
        .get(&file.manifest.id)
        .cloned()
        .unwrap_or_default();
    let mut report = check(host, file, grant, options).await?;
    report.manifest = Some(source);
    Ok(report)
}
