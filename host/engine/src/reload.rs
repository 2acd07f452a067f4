//! Re-reading `flotilla.toml` while the server runs (SIGHUP, `POST
//! /config/reload`): each plugin's grant (outbound hosts, config, limits)
//! is applied to its next call, plugin files added to or removed from
//! `<data-dir>/plugins` are loaded or dropped, and what only a restart can
//! change (addresses, engine settings) is named. A file that does not
//! parse or validate is refused with the reason, and the running
//! configuration stays as it was.

use crate::config::{Config, ConfigError};
use crate::engine::PluginLibrary;
use crate::plugin::{Grant, PluginHost, PluginKind};
use crate::registry::Registry;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

pub struct Reloader {
    path: PathBuf,
    /// `<data-dir>/plugins`.
    plugins_dir: PathBuf,
    host: PluginHost,
    /// The grants the server gives on its own (the embedded hypervisor to
    /// the sim driver); the operator's replace them.
    defaults: Vec<(String, Grant)>,
    policies: Arc<PluginLibrary>,
    /// The file as last applied.
    current: Mutex<Config>,
    /// One reload at a time.
    busy: Mutex<()>,
}

/// What a reload did.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Reloaded {
    /// What changed now (`plugin sim: grant changed`, `plugin queue: loaded`).
    pub applied: Vec<String>,
    /// What changed in the file but takes a restart (`engine`, `server`,
    /// `sim`, `onegate`, `fleet`).
    pub at_restart: Vec<String>,
}

impl Reloader {
    pub fn new(
        path: PathBuf,
        plugins_dir: PathBuf,
        host: PluginHost,
        defaults: Vec<(String, Grant)>,
        policies: Arc<PluginLibrary>,
        current: Config,
    ) -> Reloader {
        Reloader {
            path,
            plugins_dir,
            host,
            defaults,
            policies,
            current: Mutex::new(current),
            busy: Mutex::new(()),
        }
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// `<data-dir>/plugins`, where installed plugins are kept.
    pub fn plugins_dir(&self) -> &std::path::Path {
        &self.plugins_dir
    }

    pub fn host(&self) -> &PluginHost {
        &self.host
    }

    /// The policy plugins the engine evaluates with.
    pub fn policies(&self) -> &PluginLibrary {
        &self.policies
    }

    /// The grant a plugin gets under the configuration in force: the
    /// operator's, else the server's own default, else none.
    pub fn grant_for(&self, id: &str) -> Grant {
        let current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        current.grant(&self.defaults, id)
    }

    /// Read the file and apply it; `Err` says why it was refused, and
    /// then nothing changed. Blocks (plugins may be compiled).
    pub fn reload(&self, registry: &Registry) -> Result<Reloaded, ConfigError> {
        let _one = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        let config = Config::load(&self.path)?;
        // As at start: every plugin id the file names must be one there is.
        config
            .check_plugin_ids(&crate::config::available_plugins(self.plugins_dir.parent()))
            .map_err(|e| ConfigError::from(e).in_file(&self.path))?;
        let grant_for = |id: &str| config.grant(&self.defaults, id);
        // Every grant is checked against its plugin before any is applied,
        // so a refused file changes nothing.
        let plugins = registry.loaded_all();
        for p in &plugins {
            grant_for(&p.id)
                .validate(&p.id)
                .map_err(|e| ConfigError::from(e).in_file(&self.path))?;
        }
        let mut done = Reloaded::default();
        for p in &plugins {
            if p.regrant(grant_for(&p.id))? {
                done.applied.push(format!("plugin {}: grant changed", p.id));
            }
        }
        let (added, removed) = registry.rescan(&self.host, &self.plugins_dir, &grant_for);
        for entry in added {
            match &entry.loaded {
                Ok(p) => {
                    // The library ignores drivers.
                    self.policies.install(p.clone());
                    done.applied.push(format!("plugin {}: loaded", p.id));
                }
                Err(e) => done
                    .applied
                    .push(format!("plugin {}: failed to load: {e}", entry.manifest.id)),
            }
        }
        for id in removed {
            if [
                PluginKind::Elasticity,
                PluginKind::Network,
                PluginKind::Plumbing,
            ]
            .into_iter()
            .all(|kind| registry.loaded(&id, kind).is_none())
            {
                self.policies.remove(&id);
            }
            done.applied
                .push(format!("plugin {id}: removed (running calls finish)"));
        }
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        for (section, before, after) in [
            (
                "server",
                format!("{:?}", current.server),
                format!("{:?}", config.server),
            ),
            (
                "engine",
                format!("{:?}", current.engine),
                format!("{:?}", config.engine),
            ),
            (
                "sim",
                format!("{:?}", current.sim),
                format!("{:?}", config.sim),
            ),
            // OneGate's listener, tokens and limits are made at start.
            (
                "onegate",
                format!("{:?}", current.onegate),
                format!("{:?}", config.onegate),
            ),
            (
                "fleet",
                format!("{:?}", current.fleet),
                format!("{:?}", config.fleet),
            ),
            (
                "store",
                format!("{:?}", current.store),
                format!("{:?}", config.store),
            ),
        ] {
            if before != after {
                done.at_restart
                    .push(format!("[{section}] changed: applies at the next start"));
            }
        }
        *current = config;
        Ok(done)
    }
}
