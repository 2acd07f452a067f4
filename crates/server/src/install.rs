//! Installing a plugin while the server runs (`POST /plugins`, `flotilla
//! plugin install`): the component is loaded and checked first, then kept
//! in `<data-dir>/plugins/` (so a restart loads it again), then put in the
//! registry and, for a policy, in the engine's policy library. An older
//! version of the same id is replaced: evaluations already running finish
//! on it, the next ones use the new one.
//!
//! Drivers are not replaced live: the engine holds a pool of instances of
//! the one it started with.

use crate::plugin::{Manifest, PluginKind, Policy};
use crate::registry::{Entry, PluginSummary, Registry};
use crate::reload::Reloader;
use std::sync::Arc;

pub struct Installer {
    /// The plugin directory, host, grants in force and policy library are
    /// the reloader's: an install and a reload act on the same ones.
    plugins: Arc<Reloader>,
    /// One install at a time: two of one id must not mix their files.
    busy: std::sync::Mutex<()>,
}

#[derive(Debug, PartialEq)]
pub enum InstallError {
    /// The request is wrong: `field: reason` (400).
    Invalid(String),
    /// It cannot be done to this plugin (409).
    Conflict(String),
    /// Keeping the files failed (500).
    Storage(String),
}

impl Installer {
    pub fn new(plugins: Arc<Reloader>) -> Installer {
        Installer {
            plugins,
            busy: std::sync::Mutex::new(()),
        }
    }

    /// Load, check, keep and activate a plugin. Blocks (compiling a large
    /// component takes seconds): call from a blocking thread.
    pub fn install(
        &self,
        registry: &Registry,
        manifest_text: &str,
        wasm: &[u8],
    ) -> Result<PluginSummary, InstallError> {
        let _one = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        let manifest = Manifest::parse(manifest_text)
            .map_err(|e| InstallError::Invalid(format!("manifest: {e}")))?;
        let id = manifest.id.clone();
        if let Some(other) = registry
            .loaded_all()
            .into_iter()
            .find(|p| *p.id == *id && p.kind() != manifest.kind)
        {
            return Err(InstallError::Conflict(format!(
                "manifest: id: `{id}` is installed as a {} plugin; give this {} plugin another id",
                other.kind(),
                manifest.kind
            )));
        }
        if registry.is_builtin(&id) {
            return Err(InstallError::Conflict(format!(
                "manifest: id: `{id}` is a built-in plugin; give yours another id"
            )));
        }
        if manifest.kind == PluginKind::Driver {
            return Err(InstallError::Conflict(format!(
                "manifest: kind: `{id}` is a driver; drivers are installed by placing \
                 {id}.wasm and {id}.toml in {} and restarting the server",
                self.plugins.plugins_dir().display()
            )));
        }
        let grant = self.plugins.grant_for(&id);
        let loaded = self
            .plugins
            .host()
            .load(manifest.clone(), wasm, grant)
            .map_err(|e| InstallError::Invalid(format!("wasm: {e}")))?;
        // A policy must answer `info` with the manifest's name and version
        // before it is trusted with a role.
        if manifest.kind == PluginKind::Elasticity {
            let policy = Policy::new(loaded.clone()).map_err(InstallError::Invalid)?;
            let info = policy
                .info_blocking()
                .map_err(|e| InstallError::Invalid(format!("wasm: info failed: {e}")))?;
            if info.name != manifest.id || info.version != manifest.version {
                return Err(InstallError::Invalid(format!(
                    "manifest: the component says it is {} {}, the manifest {} {}",
                    info.name, info.version, manifest.id, manifest.version
                )));
            }
        }
        self.keep(&id, manifest_text, wasm)
            .map_err(|e| InstallError::Storage(format!("keeping plugin `{id}`: {e}")))?;
        let wasm_path = self.plugins.plugins_dir().join(format!("{id}.wasm"));
        registry.replace(Entry {
            manifest: manifest.clone(),
            source: wasm_path.display().to_string(),
            loaded: Ok(loaded.clone()),
        });
        // The library takes policies and network modes; a driver it ignores.
        self.plugins.policies().install(loaded);
        tracing::info!(plugin = %id, version = %manifest.version, "plugin installed");
        registry
            .summaries()
            .into_iter()
            .find(|p| p.id == id)
            .ok_or_else(|| InstallError::Storage(format!("plugin `{id}` vanished")))
    }

    /// Write both files beside each other, each through a temporary file
    /// renamed into place, the component first: a crash leaves the old
    /// pair or a new component with the old manifest, which loading
    /// refuses by name and version rather than running the wrong thing.
    fn keep(&self, id: &str, manifest: &str, wasm: &[u8]) -> std::io::Result<()> {
        let dir = self.plugins.plugins_dir();
        std::fs::create_dir_all(dir)?;
        for (name, bytes) in [
            (format!("{id}.wasm"), wasm),
            (format!("{id}.toml"), manifest.as_bytes()),
        ] {
            let tmp = dir.join(format!(".{name}.tmp"));
            let written =
                std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, dir.join(&name)));
            if written.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            written?;
        }
        Ok(())
    }
}
