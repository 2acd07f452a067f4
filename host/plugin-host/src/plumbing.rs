//! A network's host plumbing: a warm instance ([`PlumbingInstance`]) and
//! the supervised handle ([`Plumbing`]) the engine calls before a VM with
//! a NIC on the network boots (`pre`) and when NICs or networks go away
//! (`sweep`). The plugin reaches the host's devices only through the
//! `link` capability its grant allows (`link.rs`), on the machine each
//! call names: the server's own, or a host of the fleet ([`LinkSite`]).

use super::bindings::plumbing::PlumbingPlugin;
use super::engine::{KindPre, LoadError, LoadedPlugin};
use super::fault::CallError;
use super::instance::Instance;
use super::link::LinkSite;
use super::supervisor::{Supervisor, WarmInstance};
use super::{PluginFault, PluginInfo, Port, Segment};
use crate::bindings::plumbing::exports::flotilla::network::plumbing as wit;
use std::sync::Arc;

pub type PlumbingInstance = Instance<PlumbingPlugin>;

impl PlumbingInstance {
    pub fn new(plugin: Arc<LoadedPlugin>) -> Result<PlumbingInstance, PluginFault> {
        Instance::start(plugin, "a plumbing plugin", |pre, store| match pre {
            KindPre::Plumbing(pre) => Some(pre.instantiate(store)),
            _ => None,
        })
    }

    pub fn info(&mut self) -> Result<PluginInfo, CallError> {
        self.call("info", |b, s| {
            b.flotilla_network_plumbing().call_info(s).map(Ok)
        })
        .map(Into::into)
    }

    /// The segment's devices and the port's, on `site` (none: the
    /// server's machine): the name of the device the hypervisor attaches
    /// the NIC to.
    pub fn pre(
        &mut self,
        site: Option<&LinkSite>,
        segment: &Segment,
        port: &Port,
    ) -> Result<String, CallError> {
        let segment = wit::Segment::from(segment);
        let port = wit::Port::from(port);
        let site = site.cloned();
        self.call("pre", |b, s| {
            s.data_mut().link_site = site;
            b.flotilla_network_plumbing().call_pre(s, &segment, &port)
        })
    }

    /// Remove what belongs to none of `segments` and `ports` on `site`:
    /// how many devices went.
    pub fn sweep(
        &mut self,
        site: Option<&LinkSite>,
        segments: &[Segment],
        ports: &[Port],
    ) -> Result<u32, CallError> {
        let segments: Vec<wit::Segment> = segments.iter().map(Into::into).collect();
        let ports: Vec<wit::Port> = ports.iter().map(Into::into).collect();
        let site = site.cloned();
        self.call("sweep", |b, s| {
            s.data_mut().link_site = site;
            b.flotilla_network_plumbing()
                .call_sweep(s, &segments, &ports)
        })
    }
}

impl WarmInstance for PlumbingInstance {
    fn start(plugin: &Arc<LoadedPlugin>) -> Result<Self, PluginFault> {
        PlumbingInstance::new(plugin.clone())
    }
}

/// A plumbing plugin as the engine sees it: cheap to clone, callable from
/// async code, one supervised warm instance (so its calls on the host's
/// devices never overlap).
#[derive(Clone)]
pub struct Plumbing {
    supervisor: Supervisor<PlumbingInstance>,
}

impl Plumbing {
    pub fn start(plugin: Arc<LoadedPlugin>) -> Result<Plumbing, LoadError> {
        plugin.expect_kind(super::PluginKind::Plumbing, "a plumbing plugin")?;
        Ok(Plumbing {
            supervisor: Supervisor::start(plugin),
        })
    }

    pub fn plugin(&self) -> &Arc<LoadedPlugin> {
        self.supervisor.plugin()
    }

    pub async fn info(&self) -> Result<PluginInfo, CallError> {
        self.supervisor.call(|p| p.info()).await
    }

    /// Before a VM with `port` boots on `site` (none: the server's
    /// machine): the device its NIC attaches to.
    pub async fn pre(
        &self,
        site: Option<LinkSite>,
        segment: Segment,
        port: Port,
    ) -> Result<String, CallError> {
        self.supervisor
            .call(move |p| p.pre(site.as_ref(), &segment, &port))
            .await
    }

    /// Keep the devices of `segments` and `ports` on `site`, remove the
    /// plugin's others there: how many it removed.
    pub async fn sweep(
        &self,
        site: Option<LinkSite>,
        segments: Vec<Segment>,
        ports: Vec<Port>,
    ) -> Result<u32, CallError> {
        self.supervisor
            .call(move |p| p.sweep(site.as_ref(), &segments, &ports))
            .await
    }

    /// Run any sequence of calls on the warm instance, blocking; for tools
    /// that run outside the async runtime.
    pub fn with_blocking<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut PlumbingInstance) -> Result<R, CallError> + Send + 'static,
    ) -> Result<R, CallError> {
        self.supervisor.call_blocking(f)
    }
}
