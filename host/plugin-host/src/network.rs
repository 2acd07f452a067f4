//! Network modes: a warm instance ([`NetworkInstance`]) and the supervised
//! handle ([`Network`]).

use super::bindings::network::NetworkPlugin;
use super::engine::{KindPre, LoadError, LoadedPlugin};
use super::fault::CallError;
use super::instance::Instance;
use super::supervisor::{Supervisor, WarmInstance};
use super::{NetworkLease, NetworkRequest, PluginFault, PluginInfo};
use crate::bindings::network::exports::flotilla::network::mode as wit;
use std::sync::Arc;

pub type NetworkInstance = Instance<NetworkPlugin>;

impl NetworkInstance {
    pub fn new(plugin: Arc<LoadedPlugin>) -> Result<NetworkInstance, PluginFault> {
        Instance::start(plugin, "a network mode", |pre, store| match pre {
            KindPre::Network(pre) => Some(pre.instantiate(store)),
            _ => None,
        })
    }

    pub fn info(&mut self) -> Result<PluginInfo, CallError> {
        self.call("info", |b, s| {
            b.flotilla_network_mode().call_info(s).map(Ok)
        })
        .map(Into::into)
    }

    pub fn deploy(&mut self, request: &NetworkRequest) -> Result<NetworkLease, CallError> {
        let scope = crate::registry::Scope {
            service_id: request.service_id,
            operation_id: Some(request.operation_id.clone()),
            network: None,
        };
        let request = wit::NetworkRequest::from(request);
        self.call("deploy", |b, s| {
            s.data_mut().network_scope = Some(scope);
            b.flotilla_network_mode().call_deploy(s, &request)
        })
        .map(Into::into)
    }

    pub fn status(&mut self, lease: &NetworkLease) -> Result<NetworkLease, CallError> {
        let lease = wit::NetworkLease::from(lease);
        self.call("status", |b, s| {
            b.flotilla_network_mode().call_status(s, &lease)
        })
        .map(Into::into)
    }

    pub fn undeploy(&mut self, lease: &NetworkLease) -> Result<(), CallError> {
        let scope = crate::registry::Scope {
            service_id: 0,
            operation_id: None,
            network: Some(lease.network_id.clone()),
        };
        let lease = wit::NetworkLease::from(lease);
        self.call("undeploy", |b, s| {
            s.data_mut().network_scope = Some(scope);
            b.flotilla_network_mode().call_undeploy(s, &lease)
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
    pub fn start(plugin: Arc<LoadedPlugin>) -> Result<Network, LoadError> {
        plugin.expect_kind(super::PluginKind::Network, "a network mode")?;
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
