//! Network modes: a warm instance ([`NetworkInstance`]) and the supervised
//! handle ([`Network`]).

use super::bindings::network::NetworkPlugin;
use super::engine::{KindPre, LoadedPlugin};
use super::fault::CallError;
use super::instance::{guarded, instantiate};
use super::state::PluginState;
use super::supervisor::{Supervisor, WarmInstance};
use super::{PluginFault, PluginInfo};
use std::sync::Arc;
use wasmtime::Store;

pub use super::bindings::network::exports::flotilla::network::mode::{
    NetworkLease, NetworkRequest, NetworkSource,
};

pub struct NetworkInstance {
    plugin: Arc<LoadedPlugin>,
    store: Store<PluginState>,
    bindings: NetworkPlugin,
}

impl NetworkInstance {
    pub fn new(plugin: Arc<LoadedPlugin>) -> Result<NetworkInstance, PluginFault> {
        let (store, bindings) = instantiate(&plugin, "a network mode", |pre, store| match pre {
            KindPre::Network(pre) => Some(pre.instantiate(store)),
            _ => None,
        })?;
        Ok(NetworkInstance {
            plugin,
            store,
            bindings,
        })
    }

    pub fn info(&mut self) -> Result<PluginInfo, CallError> {
        let b = &self.bindings;
        guarded(&self.plugin, &mut self.store, "info", |s| {
            b.flotilla_network_mode().call_info(s).map(Ok)
        })
    }

    pub fn deploy(&mut self, request: &NetworkRequest) -> Result<NetworkLease, CallError> {
        let b = &self.bindings;
        guarded(&self.plugin, &mut self.store, "deploy", |s| {
            b.flotilla_network_mode().call_deploy(s, request)
        })
    }

    pub fn status(&mut self, lease: &NetworkLease) -> Result<NetworkLease, CallError> {
        let b = &self.bindings;
        guarded(&self.plugin, &mut self.store, "status", |s| {
            b.flotilla_network_mode().call_status(s, lease)
        })
    }

    pub fn undeploy(&mut self, lease: &NetworkLease) -> Result<(), CallError> {
        let b = &self.bindings;
        guarded(&self.plugin, &mut self.store, "undeploy", |s| {
            b.flotilla_network_mode().call_undeploy(s, lease)
        })
    }
}

impl WarmInstance for NetworkInstance {
    fn start(plugin: &Arc<LoadedPlugin>) -> Result<Self, PluginFault> {
        NetworkInstance::new(plugin.clone())
    }
}

#[derive(Clone)]
pub struct Network {
    supervisor: Supervisor<NetworkInstance>,
}

impl Network {
    pub fn start(plugin: Arc<LoadedPlugin>) -> Result<Network, String> {
        if plugin.kind() != super::PluginKind::Network {
            return Err(format!(
                "plugin `{}` is a {} plugin, not a network mode",
                plugin.id,
                plugin.kind()
            ));
        }
        Ok(Network {
            supervisor: Supervisor::start(plugin),
        })
    }

    pub fn plugin(&self) -> &Arc<LoadedPlugin> {
        self.supervisor.plugin()
    }

    pub async fn info(&self) -> Result<PluginInfo, CallError> {
        self.supervisor.call(|n| n.info()).await
    }

    pub async fn deploy(&self, request: NetworkRequest) -> Result<NetworkLease, CallError> {
        self.supervisor.call(move |n| n.deploy(&request)).await
    }

    pub async fn status(&self, lease: NetworkLease) -> Result<NetworkLease, CallError> {
        self.supervisor.call(move |n| n.status(&lease)).await
    }

    pub async fn undeploy(&self, lease: NetworkLease) -> Result<(), CallError> {
        self.supervisor.call(move |n| n.undeploy(&lease)).await
    }

    pub fn with_blocking<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut NetworkInstance) -> Result<R, CallError> + Send + 'static,
    ) -> Result<R, CallError> {
        self.supervisor.call_blocking(f)
    }
}
