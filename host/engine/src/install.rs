//! Installing a plugin while the server runs (`POST /plugins`, `flotilla
//! plugin install`): the component is loaded and checked first, then kept
//! in `<data-dir>/plugins/` (so a restart loads it again), then put in the
//! registry and, for a policy, in the engine's policy library. An older
//! version of the same id is replaced: evaluations already running finish
//! on it, the next ones use the new one.
//!
//! Drivers are not replaced live: the engine holds a pool of instances of
//! the one it started with.
//!
//! An upload arrives in a file of `<data-dir>/uploads` (`Upload`), not in
//! memory, and is removed whether or not it installs. A plugin installed
//! this way (or placed in `<data-dir>/plugins`) can be removed again;
//! built-in ones cannot.

use crate::plugin::{Manifest, PluginKind, Policy};
use crate::registry::{Entry, PluginSummary, Registry};
use crate::reload::Reloader;
use base64::Engine as _;
use serde::Deserialize;
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub struct Installer {
    /// The plugin directory, host, grants in force and policy library are
    /// the reloader's: an install and a reload act on the same ones.
    plugins: Arc<Reloader>,
    /// `<data-dir>/uploads`: uploads while they arrive.
    uploads: PathBuf,
    /// One install or removal at a time: two of one id must not mix their
    /// files, and only one upload is decoded in memory at once.
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
    /// No such plugin (404).
    NotFound(String),
}

/// An upload in `<data-dir>/uploads`, removed when dropped.
pub struct Upload {
    path: PathBuf,
}

impl Drop for Upload {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The upload's JSON. Its strings are borrowed from the file's bytes when
/// they have no escapes, so the component's base64 is not copied once
/// more before it is decoded.
#[derive(Deserialize)]
struct UploadBody<'a> {
    #[serde(borrow, default, deserialize_with = "text")]
    manifest: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "text")]
    wasm: Option<Cow<'a, str>>,
}

/// A field that must be a non-empty string.
fn required<'a>(field: &str, value: Option<Cow<'a, str>>) -> Result<Cow<'a, str>, InstallError> {
    match value {
        Some(text) if !text.trim().is_empty() => Ok(text),
        _ => Err(InstallError::Invalid(format!("{field}: is required"))),
    }
}

fn text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    struct Text;
    impl<'de> serde::de::Visitor<'de> for Text {
        type Value = Cow<'de, str>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a string")
        }
        fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Cow::Borrowed(v))
        }
        fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Cow::Owned(v.to_owned()))
        }
    }
    d.deserialize_str(Text).map(Some)
}

impl Installer {
    pub fn new(plugins: Arc<Reloader>) -> Installer {
        let data_dir = plugins.plugins_dir().parent().unwrap_or(Path::new("."));
        let uploads = data_dir.join("uploads");
        // Uploads a crash interrupted are of no use to anyone.
        if let Ok(left) = std::fs::read_dir(&uploads) {
            for file in left.filter_map(Result::ok) {
                let _ = std::fs::remove_file(file.path());
            }
        }
        Installer {
            plugins,
            uploads,
            busy: std::sync::Mutex::new(()),
        }
    }

    /// A new, empty upload file, removed when the `Upload` is dropped.
    pub fn upload(&self) -> std::io::Result<(Upload, std::fs::File)> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        std::fs::create_dir_all(&self.uploads)?;
        let path = self.uploads.join(format!(
            "{}-{}.json",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        Ok((Upload { path }, file))
    }

    /// Install what an upload holds: `{"manifest": "<plugin.toml>",
    /// "wasm": "<base64 component>"}`. Blocks: call from a blocking
    /// thread.
    pub fn install_upload(
        &self,
        registry: &Registry,
        upload: Upload,
    ) -> Result<PluginSummary, InstallError> {
        let _one = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        let (manifest, wasm) = {
            let bytes = std::fs::read(&upload.path)
                .map_err(|e| InstallError::Storage(format!("reading the upload: {e}")))?;
            drop(upload);
            let body: UploadBody = serde_json::from_slice(&bytes)
                .map_err(|e| InstallError::Invalid(format!("request body: {e}")))?;
            let manifest = required("manifest", body.manifest)?.into_owned();
            let wasm = base64::engine::general_purpose::STANDARD
                .decode(required("wasm", body.wasm)?.trim())
                .map_err(|e| InstallError::Invalid(format!("wasm: not base64: {e}")))?;
            (manifest, wasm)
        };
        self.install(registry, &manifest, &wasm)
    }

    /// Load, check, keep and activate a plugin (compiling a large component
    /// takes seconds), the lock held.
    fn install(
        &self,
        registry: &Registry,
        manifest_text: &str,
        wasm: &[u8],
    ) -> Result<PluginSummary, InstallError> {
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
            let policy =
                Policy::new(loaded.clone()).map_err(|e| InstallError::Invalid(e.to_string()))?;
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
        // The library takes policies, network modes and plumbing; a driver
        // it ignores.
        self.plugins.policies().install(loaded);
        tracing::info!(plugin = %id, version = %manifest.version, "plugin installed");
        registry
            .summaries()
            .into_iter()
            .find(|p| p.id == id)
            .ok_or_else(|| InstallError::Storage(format!("plugin `{id}` vanished")))
    }

    /// What in the configuration file names plugin `id` (`engine.driver`,
    /// `engine.network_mode`): removing it would stop the next start, or
    /// the running engine.
    pub fn configured_users(&self, id: &str) -> Result<Vec<String>, InstallError> {
        let path = self.plugins.path();
        let config = crate::config::Config::load(path).map_err(|e| {
            InstallError::Conflict(format!(
                "cannot tell whether the configuration uses `{id}`: {e}"
            ))
        })?;
        let mut users = Vec::new();
        if config.engine.driver == id {
            users.push(format!("engine.driver in {}", path.display()));
        }
        if config.engine.network_mode == id {
            users.push(format!("engine.network_mode in {}", path.display()));
        }
        Ok(users)
    }

    /// Remove an installed plugin: its files from `<data-dir>/plugins`, its
    /// entry from the registry, and from the engine's library (calls
    /// running on it finish). Built-in plugins are refused; whether
    /// something still uses it is the caller's to check first. Blocks.
    pub fn remove(&self, registry: &Registry, id: &str) -> Result<(), InstallError> {
        let _one = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        let Some(entry) = registry.installed(id) else {
            return Err(if registry.is_builtin(id) {
                InstallError::Conflict(format!(
                    "`{id}` is built into the server and cannot be removed"
                ))
            } else {
                InstallError::NotFound(format!(
                    "no plugin `{id}`; `flotilla plugin list` shows the loaded ones"
                ))
            });
        };
        // The component first: a manifest left alone is never loaded.
        let wasm = PathBuf::from(&entry.source);
        for file in [wasm.clone(), wasm.with_extension("toml")] {
            match std::fs::remove_file(&file) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(InstallError::Storage(format!(
                        "removing {}: {e}",
                        file.display()
                    )));
                }
                _ => {}
            }
        }
        registry.remove_installed(id);
        // A built-in plugin of the same id, if any, stays the library's.
        match registry.loaded_all().into_iter().find(|p| *p.id == *id) {
            Some(builtin) => self.plugins.policies().install(builtin),
            None => self.plugins.policies().remove(id),
        }
        tracing::info!(plugin = %id, "plugin removed");
        Ok(())
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
