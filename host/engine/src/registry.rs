//! The plugins a server runs with: the built-in ones and those installed in
//! `<data-dir>/plugins/` (`<id>.wasm` with `<id>.toml` beside it), each
//! with the operator's grant. A plugin that fails to load is kept in the
//! list with the reason, and the server goes on without it.

use crate::config::Config;
use crate::plugin::{Grant, LoadError, LoadedPlugin, Manifest, PluginHost, PluginKind};
use flotilla_builtin as builtin;
use serde::Serialize;
use std::path::Path;
use std::sync::{Arc, RwLock};

/// An entry's `source` when the plugin is built into the binary.
const BUILT_IN: &str = "built-in";

#[derive(Clone)]
pub struct Entry {
    pub manifest: Manifest,
    pub source: String,
    pub loaded: Result<Arc<LoadedPlugin>, LoadError>,
}

/// The plugins, changed only by an install or a removal through the API
/// and by a reload: readers take a snapshot under a short read lock.
#[derive(Default)]
pub struct Registry {
    entries: RwLock<Vec<Entry>>,
}

/// A plugin as `GET /plugins` and `flotilla plugin list` show it (the
/// server's OpenAPI document describes it field by field).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct PluginSummary {
    pub id: String,
    /// One of `PluginKind::ALL`.
    pub kind: String,
    pub version: String,
    /// `flotilla:driver@0.1.0`.
    pub api: String,
    /// "built-in" or the file it was loaded from.
    pub source: String,
    /// "loaded", "quarantined" (resting after repeated faults, see
    /// quarantined_until) or "failed: <reason>".
    pub status: String,
    pub allowed_outbound_hosts: Vec<String>,
    /// Programs it may start as host processes (declared by its manifest
    /// and granted by the operator).
    #[serde(default)]
    pub programs: Vec<String>,
    /// The network devices it may make and change (a plumbing plugin
    /// whose manifest declares `capabilities.link`, granted by the
    /// operator's `[plugins.<id>.link]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<LinkSummary>,
    /// A driver of a fleet: it exports `flotilla:driver/hosts`, so hosts
    /// of it can be created and VMs are placed on them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub manages_hosts: bool,
    pub timeout_ms: u64,
    pub memory_mb: u64,
    pub calls: u64,
    pub faults: u64,
    /// sha256:<hex> of the component; empty if it failed to load.
    pub digest: String,
    /// While the plugin rests in quarantine after repeated faults (status
    /// `quarantined`): until when, in seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantined_until: Option<u64>,
}

/// A plumbing plugin's link grant in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct LinkSummary {
    /// Device-name prefixes (`flb-`).
    pub prefixes: Vec<String>,
    /// Interfaces a VXLAN device may run over.
    pub underlays: Vec<String>,
}

impl Registry {
    /// Load every plugin. `defaults` are grants the server gives on its own
    /// (the embedded hypervisor's address to the sim driver); the
    /// operator's grant for a plugin replaces them.
    pub fn load(
        host: &PluginHost,
        config: &Config,
        data_dir: Option<&Path>,
        defaults: &[(String, Grant)],
    ) -> Registry {
        let grant_for = |id: &str| config.grant(defaults, id);
        let mut entries = Vec::new();
        for b in builtin::BUILTIN {
            let manifest = b.manifest();
            let loaded = host.load(manifest.clone(), b.wasm, grant_for(&manifest.id));
            entries.push(Entry {
                manifest,
                source: BUILT_IN.into(),
                loaded,
            });
        }
        if let Some(dir) = data_dir.map(|d| d.join("plugins")) {
            entries.extend(installed(host, &dir, &grant_for, &|_| false));
        }
        for e in &entries {
            if let Err(reason) = &e.loaded {
                tracing::error!(plugin = %e.manifest.id, "plugin not loaded: {reason}");
            }
        }
        Registry {
            entries: RwLock::new(entries),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Entry>> {
        self.entries.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Every plugin that loaded, of `kind`.
    pub fn loaded_of(&self, kind: PluginKind) -> Vec<Arc<LoadedPlugin>> {
        self.read()
            .iter()
            .filter_map(|e| e.loaded.as_ref().ok())
            .filter(|p| p.kind() == kind)
            .cloned()
            .collect()
    }

    /// Whether `id` is one of the plugins built into the binary.
    pub fn is_builtin(&self, id: &str) -> bool {
        self.read()
            .iter()
            .any(|e| e.manifest.id == id && e.source == BUILT_IN)
    }

    /// Every plugin that loaded, with its id.
    pub fn loaded_all(&self) -> Vec<Arc<LoadedPlugin>> {
        self.read()
            .iter()
            .filter_map(|e| e.loaded.as_ref().ok().cloned())
            .collect()
    }

    /// After the operator changed `<data-dir>/plugins`: load the plugin
    /// files no entry has yet, and drop the entries whose file is gone
    /// (calls running on them finish: they hold the plugin). Returns what
    /// was added and the ids removed.
    pub fn rescan(
        &self,
        host: &PluginHost,
        dir: &Path,
        grant_for: &dyn Fn(&str) -> Grant,
    ) -> (Vec<Entry>, Vec<String>) {
        let known: Vec<String> = self.read().iter().map(|e| e.source.clone()).collect();
        // Only new files are read and loaded.
        let added = installed(host, dir, grant_for, &|path| {
            known.contains(&path.display().to_string())
        });
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        let mut removed = Vec::new();
        entries.retain(|e| {
            let gone = e.source != BUILT_IN && !Path::new(&e.source).exists();
            if gone {
                removed.push(e.manifest.id.clone());
            }
            !gone
        });
        for entry in &added {
            match entries
                .iter_mut()
                .find(|e| e.manifest.id == entry.manifest.id)
            {
                Some(old) => *old = entry.clone(),
                None => entries.push(entry.clone()),
            }
        }
        (added, removed)
    }

    /// The installed (not built-in) plugin `id`, loaded or not.
    pub fn installed(&self, id: &str) -> Option<Entry> {
        self.read()
            .iter()
            .find(|e| e.manifest.id == id && e.source != BUILT_IN)
            .cloned()
    }

    /// Drop the installed plugin `id` (calls running on it finish: they
    /// hold the plugin).
    pub fn remove_installed(&self, id: &str) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        entries.retain(|e| e.manifest.id != id || e.source == BUILT_IN);
    }

    /// Add an installed plugin, or replace the one of the same id.
    pub fn replace(&self, entry: Entry) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        match entries
            .iter_mut()
            .find(|e| e.manifest.id == entry.manifest.id)
        {
            Some(old) => *old = entry,
            None => entries.push(entry),
        }
    }

    /// A loaded plugin of `kind` by id. Instances are started by whoever
    /// uses it (the engine starts its pool of driver instances).
    pub fn loaded(&self, id: &str, kind: PluginKind) -> Option<Arc<LoadedPlugin>> {
        self.read()
            .iter()
            .filter_map(|e| e.loaded.as_ref().ok())
            .find(|p| &*p.id == id && p.kind() == kind)
            .cloned()
    }

    pub fn summaries(&self) -> Vec<PluginSummary> {
        self.read()
            .iter()
            .map(|e| {
                let quarantined_until = e
                    .loaded
                    .as_ref()
                    .ok()
                    .and_then(|p| p.stats.quarantined_until());
                let programs = e
                    .loaded
                    .as_ref()
                    .map(|p| p.effective_programs())
                    .unwrap_or_default();
                let link = e
                    .loaded
                    .as_ref()
                    .ok()
                    .and_then(|p| p.effective_link())
                    .map(|l| LinkSummary {
                        prefixes: l.prefixes,
                        underlays: l.underlays,
                    });
                let (status, hosts, limits, stats, digest) = match &e.loaded {
                    Ok(p) => (
                        if quarantined_until.is_some() {
                            "quarantined".to_string()
                        } else {
                            "loaded".to_string()
                        },
                        p.effective_outbound_hosts(),
                        Some(p.limits()),
                        p.stats.snapshot(),
                        p.digest.clone(),
                    ),
                    Err(reason) => (
                        format!("failed: {reason}"),
                        vec![],
                        None,
                        [0; 4],
                        String::new(),
                    ),
                };
                PluginSummary {
                    id: e.manifest.id.clone(),
                    kind: e.manifest.kind.to_string(),
                    version: e.manifest.version.clone(),
                    api: e.manifest.api.clone(),
                    source: e.source.clone(),
                    status,
                    allowed_outbound_hosts: hosts,
                    programs,
                    link,
                    manages_hosts: e.loaded.as_ref().is_ok_and(|p| p.manages_hosts()),
                    timeout_ms: limits.map_or(0, |l| l.timeout.as_millis() as u64),
                    memory_mb: limits.map_or(0, |l| l.memory_bytes >> 20),
                    calls: stats[0],
                    faults: stats[2],
                    digest,
                    quarantined_until,
                }
            })
            .collect()
    }
}

/// The plugins in `dir` (`<id>.wasm` with `<id>.toml`), but those `skip`
/// names; one that takes a built-in plugin's id is refused.
fn installed(
    host: &PluginHost,
    dir: &Path,
    grant_for: &dyn Fn(&str) -> Grant,
    skip: &dyn Fn(&Path) -> bool,
) -> Vec<Entry> {
    let Ok(read) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = read
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wasm") && !skip(p))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|wasm_path| {
            let source = wasm_path.display().to_string();
            let manifest_path = wasm_path.with_extension("toml");
            let manifest = std::fs::read_to_string(&manifest_path)
                .map_err(|e| LoadError::Unreadable(format!("{}: {e}", manifest_path.display())))
                .and_then(|t| Manifest::parse(&t).map_err(LoadError::Invalid));
            match manifest {
                // An installed plugin may not take a built-in one's id: it
                // would replace, say, the `expression` policy every OneFlow
                // policy runs on.
                Ok(manifest) if builtin::find(&manifest.id).is_some() => Entry {
                    loaded: Err(LoadError::BuiltinId(manifest.id.clone())),
                    manifest,
                    source,
                },
                Ok(manifest) => {
                    let loaded = std::fs::read(&wasm_path)
                        .map_err(|e| LoadError::Unreadable(format!("{source}: {e}")))
                        .and_then(|wasm| {
                            host.load(manifest.clone(), &wasm, grant_for(&manifest.id))
                        });
                    Entry {
                        manifest,
                        source,
                        loaded,
                    }
                }
                Err(reason) => {
                    let stem = wasm_path
                        .file_stem()
                        .and_then(|s| s.to_str())
                        .unwrap_or("plugin");
                    Entry {
                        manifest: Manifest::bare(stem, PluginKind::Driver),
                        source,
                        loaded: Err(reason),
                    }
                }
            }
        })
        .collect()
}
