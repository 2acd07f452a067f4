//! The plugins the engine calls besides its driver, by id: elasticity
//! policies (the built-in `expression` plugin and any installed one), each
//! evaluation in a fresh sandboxed instance, and network modes (the
//! built-in `static` and any installed one), and plumbing plugins (the
//! host devices of networks that name one in `VN_MAD`), each a supervised
//! warm instance. Tests of the engine alone run without either (`NoPolicies`,
//! `NoNetworks`); the benchmarks hand it the built-in policy compiled
//! natively.
//!
//! Policy calls block (a plugin may run until its deadline): the engine
//! makes a round's evaluations from a blocking thread.

use super::backend::BoxFuture;
use crate::plugin::{
    CallError, Evaluation, LinkSite, LoadedPlugin, Network, Plumbing, Policy, Port, Recommendation,
    Segment,
};
use crate::service::lifecycle::{NetworkAnswer, NetworkStep, PolicyCall};
use flotilla_model::BackendError;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

pub trait PolicyBackend: Send + Sync + 'static {
    /// Evaluate with plugin `id`; a refusal or a fault comes back with
    /// the sentence the decision record shows.
    fn evaluate(&self, id: &str, input: &Evaluation) -> Result<Recommendation, BackendError>;

    /// One evaluation a round of automatic scaling asked for: by default
    /// the call's plugin with its input (what a plugin gets is the WIT
    /// contract's evaluation; the `expression` plugin reads the expression
    /// from it).
    fn evaluate_call(&self, call: &PolicyCall) -> Result<Recommendation, BackendError> {
        self.evaluate(&call.plugin, &call.input)
    }
}

/// What the engine deploys, checks and removes a service's networks
/// with: the network mode `mode` (`None`: the server's default).
pub trait NetworkBackend: Send + Sync + 'static {
    fn run(&self, mode: Option<&str>, step: NetworkStep) -> BoxFuture<'_, NetworkAnswer>;
}

/// What the engine plumbs networks on the host with: the plumbing plugin
/// `plugin` (a network's `VN_MAD`). A refusal (the plugin's error, a link
/// call its grant does not allow, a plugin that is not loaded) or a fault
/// comes back with the sentence the service log shows.
pub trait PlumbingBackend: Send + Sync + 'static {
    /// Before a VM with `port` boots on `site` (none: the server's
    /// machine): the device its NIC attaches to (the NIC's `TARGET`).
    fn pre(
        &self,
        plugin: &str,
        site: Option<LinkSite>,
        segment: Segment,
        port: Port,
    ) -> BoxFuture<'_, Result<String, BackendError>>;

    /// Remove the plugin's devices on `site` that belong to none of
    /// `segments` and `ports`: how many it removed.
    fn sweep(
        &self,
        plugin: &str,
        site: Option<LinkSite>,
        segments: Vec<Segment>,
        ports: Vec<Port>,
    ) -> BoxFuture<'_, Result<u32, BackendError>>;

    /// The ids of the plumbing plugins loaded with a link grant (a sweep
    /// at start-up goes to each).
    fn plumbing_plugins(&self) -> Vec<String>;
}

/// The loaded policy, network and plumbing plugins by id. Installing a plugin
/// replaces its entry: calls already running finish on the version they
/// started with (they hold its `Arc`), the next ones use the new one.
#[derive(Default)]
pub struct PluginLibrary {
    plugins: RwLock<HashMap<String, Policy>>,
    networks: RwLock<HashMap<String, Network>>,
    plumbings: RwLock<HashMap<String, Plumbing>>,
    /// The network mode of networks that name none (`[network] mode`).
    default_network: RwLock<String>,
}

impl PluginLibrary {
    pub fn new(plugins: impl IntoIterator<Item = Arc<LoadedPlugin>>) -> PluginLibrary {
        let library = PluginLibrary::default();
        for p in plugins {
            library.install(p);
        }
        library
    }

    /// The built-in policy plugins, loaded with no grant: what `policy
    /// simulate` and the benchmarks evaluate with, as the server does.
    pub fn builtin(
        host: &crate::plugin::PluginHost,
    ) -> Result<PluginLibrary, crate::plugin::LoadError> {
        let library = PluginLibrary::default();
        for b in flotilla_builtin::BUILTIN {
            let manifest = b.manifest();
            if manifest.kind == crate::plugin::PluginKind::Elasticity {
                library.install(host.load(manifest, b.wasm, Default::default())?);
            }
        }
        Ok(library)
    }

    /// Add or replace a policy, network or plumbing plugin; a driver is
    /// ignored.
    pub fn install(&self, plugin: Arc<LoadedPlugin>) {
        let id = plugin.id.to_string();
        match plugin.kind() {
            crate::plugin::PluginKind::Elasticity => {
                if let Ok(policy) = Policy::new(plugin) {
                    write(&self.plugins).insert(id, policy);
                }
            }
            crate::plugin::PluginKind::Network => {
                if let Ok(network) = Network::start(plugin) {
                    write(&self.networks).insert(id, network);
                }
            }
            crate::plugin::PluginKind::Plumbing => {
                if let Ok(plumbing) = Plumbing::start(plugin) {
                    write(&self.plumbings).insert(id, plumbing);
                }
            }
            crate::plugin::PluginKind::Driver => {}
        }
    }

    /// Stop using a plugin; calls running on it finish.
    pub fn remove(&self, id: &str) {
        write(&self.plugins).remove(id);
        write(&self.networks).remove(id);
        write(&self.plumbings).remove(id);
    }

    /// The plumbing plugin `id`; one that is not loaded refuses (a
    /// network's `VN_MAD` names a plugin this server has not got).
    pub fn plumbing(&self, id: &str) -> Result<Plumbing, BackendError> {
        self.plumbings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
            .ok_or_else(|| {
                BackendError::Refused(format!(
                    "plumbing plugin `{id}` is not loaded (plugin list shows the plumbing plugins)"
                ))
            })
    }

    /// The network mode for networks that name none.
    pub fn set_default_network(&self, id: &str) {
        *write(&self.default_network) = id.to_string();
    }

    /// The mode's plugin; one that is not loaded refuses the network (its
    /// template names a mode this server has not got).
    fn network(&self, mode: Option<&str>) -> Result<Network, BackendError> {
        let default = self
            .default_network
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let id = mode.unwrap_or(&default);
        self.networks
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
            .ok_or_else(|| {
                BackendError::Refused(format!(
                    "network mode `{id}` is not loaded (plugin list shows the network plugins)"
                ))
            })
    }

    fn get(&self, id: &str) -> Option<Policy> {
        self.plugins
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

impl NetworkBackend for PluginLibrary {
    fn run(&self, mode: Option<&str>, step: NetworkStep) -> BoxFuture<'_, NetworkAnswer> {
        let network = self.network(mode);
        Box::pin(async move {
            let network = network?;
            let id = network.plugin().id.clone();
            let said = |e: CallError| match e {
                CallError::Plugin(e) => BackendError::Refused(format!("network mode `{id}`: {e}")),
                CallError::Fault(f) => BackendError::Fault(format!("network mode `{id}`: {f}")),
            };
            match step {
                NetworkStep::Deploy(request) => {
                    network.deploy(request).await.map(Some).map_err(said)
                }
                NetworkStep::Status(lease) => network.status(lease).await.map(Some).map_err(said),
                NetworkStep::Undeploy(lease) => {
                    network.undeploy(lease).await.map(|()| None).map_err(said)
                }
            }
        })
    }
}

/// A plumbing call's failure as the engine sees it.
fn plumbing_error(id: &str, e: CallError) -> BackendError {
    match e {
        CallError::Plugin(e) => BackendError::Refused(format!("plumbing `{id}`: {e}")),
        CallError::Fault(f) => BackendError::Fault(format!("plumbing `{id}`: {f}")),
    }
}

impl PlumbingBackend for PluginLibrary {
    fn pre(
        &self,
        plugin: &str,
        site: Option<LinkSite>,
        segment: Segment,
        port: Port,
    ) -> BoxFuture<'_, Result<String, BackendError>> {
        let plumbing = self.plumbing(plugin);
        let id = plugin.to_string();
        Box::pin(async move {
            plumbing?
                .pre(site, segment, port)
                .await
                .map_err(|e| plumbing_error(&id, e))
        })
    }

    fn sweep(
        &self,
        plugin: &str,
        site: Option<LinkSite>,
        segments: Vec<Segment>,
        ports: Vec<Port>,
    ) -> BoxFuture<'_, Result<u32, BackendError>> {
        let plumbing = self.plumbing(plugin);
        let id = plugin.to_string();
        Box::pin(async move {
            plumbing?
                .sweep(site, segments, ports)
                .await
                .map_err(|e| plumbing_error(&id, e))
        })
    }

    fn plumbing_plugins(&self) -> Vec<String> {
        // One without a link grant has no device to sweep: asking it would
        // only log its refusal at every sweep, on every host.
        let mut ids: Vec<String> = self
            .plumbings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(_, p)| p.plugin().effective_link().is_some())
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort();
        ids
    }
}

/// For engines without plumbing plugins (benchmarks, tests of the
/// engine): every call is refused, saying so.
pub struct NoPlumbing;

impl PlumbingBackend for NoPlumbing {
    fn pre(
        &self,
        plugin: &str,
        _: Option<LinkSite>,
        _: Segment,
        _: Port,
    ) -> BoxFuture<'_, Result<String, BackendError>> {
        let id = plugin.to_string();
        Box::pin(async move {
            Err(BackendError::Refused(format!(
                "plumbing `{id}`: this engine has no plumbing plugins"
            )))
        })
    }

    fn sweep(
        &self,
        plugin: &str,
        _: Option<LinkSite>,
        _: Vec<Segment>,
        _: Vec<Port>,
    ) -> BoxFuture<'_, Result<u32, BackendError>> {
        let id = plugin.to_string();
        Box::pin(async move {
            Err(BackendError::Refused(format!(
                "plumbing `{id}`: this engine has no plumbing plugins"
            )))
        })
    }

    fn plumbing_plugins(&self) -> Vec<String> {
        Vec::new()
    }
}

/// For engines without network modes (benchmarks, tests of the engine):
/// every network step fails, saying so.
pub struct NoNetworks;

impl NetworkBackend for NoNetworks {
    fn run(&self, mode: Option<&str>, _step: NetworkStep) -> BoxFuture<'_, NetworkAnswer> {
        let mode = mode.unwrap_or("default").to_string();
        Box::pin(async move {
            Err(BackendError::Refused(format!(
                "network mode `{mode}`: this engine has no network modes"
            )))
        })
    }
}

impl PolicyBackend for PluginLibrary {
    fn evaluate(&self, id: &str, input: &Evaluation) -> Result<Recommendation, BackendError> {
        let policy = self.get(id).ok_or_else(|| {
            BackendError::Refused(format!(
                "plugin `{id}` is not installed as an elasticity policy: nothing changes"
            ))
        })?;
        policy.evaluate_blocking(input).map_err(|e| match e {
            CallError::Plugin(e) => {
                BackendError::Refused(format!("plugin `{id}` refused the evaluation: {e}"))
            }
            CallError::Fault(f) => BackendError::Fault(format!("{f}: the role is left as it is")),
        })
    }
}

/// For engines without policy plugins (tests of the engine): every
/// evaluation comes back refused, saying so, and nothing changes.
pub struct NoPolicies;

impl PolicyBackend for NoPolicies {
    fn evaluate(&self, id: &str, _input: &Evaluation) -> Result<Recommendation, BackendError> {
        Err(BackendError::Refused(format!(
            "plugin `{id}`: this engine has no policy plugins: nothing changes"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::{Grant, LinkGrant, Manifest, MemoryLinks, PluginHost};

    /// The `link-probe` fixture (built with the other plugins), granted
    /// `flp-`, its devices in memory.
    fn probe(host: &PluginHost) -> (Arc<LoadedPlugin>, Arc<MemoryLinks>) {
        let path = flotilla_builtin::dist_path("link-probe");
        let manifest =
            Manifest::parse(&std::fs::read_to_string(path.with_extension("toml")).unwrap())
                .unwrap();
        let grant = Grant {
            link: Some(LinkGrant {
                prefixes: vec!["flp-".into()],
                ..LinkGrant::default()
            }),
            ..Grant::default()
        };
        let plugin = host
            .load(manifest, &std::fs::read(path).unwrap(), grant)
            .unwrap();
        let links = Arc::new(MemoryLinks::new());
        plugin.set_link_backend(links.clone());
        (plugin, links)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn plumbing_plugins_are_reached_by_id_and_refused_once_removed() {
        let host = PluginHost::new(None).unwrap();
        let (plugin, links) = probe(&host);
        let library = PluginLibrary::new([plugin]);
        assert_eq!(library.plumbing_plugins(), ["link-probe"]);
        let segment = Segment {
            network_id: "3".into(),
            attributes: Vec::new(),
        };
        let port = Port {
            key: "beef".into(),
            network_id: "3".into(),
            mac: "02:00:00:00:00:03".into(),
        };
        let tap = library
            .pre("link-probe", None, segment.clone(), port.clone())
            .await
            .unwrap();
        assert_eq!(tap, "flp-beef");
        assert_eq!(links.snapshot().len(), 2, "a bridge and a tap");
        assert_eq!(
            library.sweep("link-probe", None, vec![], vec![]).await,
            Ok(2)
        );
        assert!(links.snapshot().is_empty());

        library.remove("link-probe");
        assert_eq!(
            library.pre("link-probe", None, segment, port).await,
            Err(BackendError::Refused(
                "plumbing plugin `link-probe` is not loaded (plugin list shows the plumbing \
                 plugins)"
                    .into()
            ))
        );
        assert!(matches!(
            NoPlumbing.sweep("bridge", None, vec![], vec![]).await,
            Err(BackendError::Refused(m)) if m.contains("no plumbing plugins")
        ));
    }
}
