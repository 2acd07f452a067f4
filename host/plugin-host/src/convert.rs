//! Between the generated bindings and `flotilla-model`, the types the rest
//! of Flotilla uses. Every conversion is a struct literal or an exhaustive
//! match, so a change to a WIT contract fails to compile here rather than
//! at run time.

use crate::bindings::driver::exports::flotilla::driver::driver as wit_driver;
use crate::bindings::elasticity::exports::flotilla::elasticity::policy as wit_policy;
use crate::bindings::fleet::exports::flotilla::driver::hosts as wit_hosts;
use crate::bindings::network::exports::flotilla::network::mode as wit_network;
use crate::bindings::network::flotilla::network::registry as wit_registry;
use crate::bindings::plumbing::exports::flotilla::network::plumbing as wit_plumbing;
use crate::bindings::types as wit;
use flotilla_model as m;

impl From<wit::Error> for m::PluginError {
    fn from(e: wit::Error) -> Self {
        match e {
            wit::Error::InvalidInput(s) => m::PluginError::InvalidInput(s),
            wit::Error::NotFound(s) => m::PluginError::NotFound(s),
            wit::Error::Unsupported(s) => m::PluginError::Unsupported(s),
            wit::Error::Unavailable(s) => m::PluginError::Unavailable(s),
            wit::Error::Denied(s) => m::PluginError::Denied(s),
            wit::Error::Other(s) => m::PluginError::Other(s),
        }
    }
}

impl From<wit::PluginInfo> for m::PluginInfo {
    fn from(i: wit::PluginInfo) -> Self {
        m::PluginInfo {
            name: i.name,
            version: i.version,
            description: i.description,
        }
    }
}

impl From<wit::KeyValue> for m::KeyValue {
    fn from(kv: wit::KeyValue) -> Self {
        m::KeyValue {
            key: kv.key,
            value: kv.value,
        }
    }
}

impl From<&m::KeyValue> for wit::KeyValue {
    fn from(kv: &m::KeyValue) -> Self {
        wit::KeyValue {
            key: kv.key.clone(),
            value: kv.value.clone(),
        }
    }
}

impl From<wit::Metric> for m::Metric {
    fn from(x: wit::Metric) -> Self {
        m::Metric {
            name: x.name,
            value: x.value,
        }
    }
}

impl From<&m::Metric> for wit::Metric {
    fn from(x: &m::Metric) -> Self {
        wit::Metric {
            name: x.name.clone(),
            value: x.value,
        }
    }
}

impl From<wit::VmState> for m::VmState {
    fn from(s: wit::VmState) -> Self {
        match s {
            wit::VmState::Pending => m::VmState::Pending,
            wit::VmState::Hold => m::VmState::Hold,
            wit::VmState::Running => m::VmState::Running,
            wit::VmState::Poweroff => m::VmState::Poweroff,
            wit::VmState::Suspended => m::VmState::Suspended,
            wit::VmState::Stopped => m::VmState::Stopped,
            wit::VmState::Undeployed => m::VmState::Undeployed,
            wit::VmState::Unknown => m::VmState::Unknown,
            wit::VmState::Failed => m::VmState::Failed,
            wit::VmState::Done => m::VmState::Done,
        }
    }
}

// ---- driver ----

impl From<&m::VmSpec> for wit_driver::VmSpec {
    fn from(s: &m::VmSpec) -> Self {
        wit_driver::VmSpec {
            operation_id: s.operation_id.clone(),
            service_id: s.service_id,
            role_name: s.role_name.clone(),
            vm_name: s.vm_name.clone(),
            template: s.template.clone(),
            hold: s.hold,
        }
    }
}

impl From<m::VmAction> for wit_driver::VmAction {
    fn from(a: m::VmAction) -> Self {
        use m::VmAction as A;
        use wit_driver::VmAction as W;
        match a {
            A::Terminate => W::Terminate,
            A::TerminateHard => W::TerminateHard,
            A::Undeploy => W::Undeploy,
            A::UndeployHard => W::UndeployHard,
            A::Hold => W::Hold,
            A::Release => W::Release,
            A::Stop => W::Stop,
            A::Suspend => W::Suspend,
            A::Resume => W::Resume,
            A::Reboot => W::Reboot,
            A::RebootHard => W::RebootHard,
            A::Poweroff => W::Poweroff,
            A::PoweroffHard => W::PoweroffHard,
            A::SnapshotCreate => W::SnapshotCreate,
            A::SnapshotRevert => W::SnapshotRevert,
            A::SnapshotDelete => W::SnapshotDelete,
            A::DiskSnapshotCreate => W::DiskSnapshotCreate,
            A::DiskSnapshotRevert => W::DiskSnapshotRevert,
            A::DiskSnapshotDelete => W::DiskSnapshotDelete,
        }
    }
}

impl From<wit_driver::VmStatus> for m::VmStatus {
    fn from(s: wit_driver::VmStatus) -> Self {
        m::VmStatus {
            id: s.id,
            state: s.state.into(),
            monitoring: s.monitoring.into_iter().map(Into::into).collect(),
            user_attributes: s.user_attributes.into_iter().map(Into::into).collect(),
            reason: s.reason,
        }
    }
}

impl From<wit_driver::ManagedVm> for m::ManagedVm {
    fn from(v: wit_driver::ManagedVm) -> Self {
        m::ManagedVm {
            id: v.id,
            operation_id: v.operation_id,
            name: v.name,
            service_id: v.service_id,
            role_name: v.role_name,
            state: v.state.into(),
        }
    }
}

// ---- driver hosts ----

impl From<&m::HostProbe> for wit_hosts::Host {
    fn from(h: &m::HostProbe) -> Self {
        wit_hosts::Host {
            name: h.name.clone(),
            address: h.address.clone(),
        }
    }
}

impl From<wit_hosts::HostMonitoring> for m::HostMonitoring {
    fn from(x: wit_hosts::HostMonitoring) -> Self {
        m::HostMonitoring {
            cpu: x.cpu,
            memory_mb: x.memory_mb,
            used_cpu: x.used_cpu,
            used_memory_mb: x.used_memory_mb,
            vm_ids: x.vm_ids,
        }
    }
}

// ---- elasticity ----

impl From<wit_policy::Recommendation> for m::Recommendation {
    fn from(r: wit_policy::Recommendation) -> Self {
        m::Recommendation {
            desired: r.desired,
            reason: r.reason,
            trace: r.trace,
            cooldown: r.cooldown,
            state: r.state,
        }
    }
}

// ---- network ----

impl From<&m::NetworkRequest> for wit_network::NetworkRequest {
    fn from(r: &m::NetworkRequest) -> Self {
        wit_network::NetworkRequest {
            operation_id: r.operation_id.clone(),
            service_id: r.service_id,
            name: r.name.clone(),
            source: match &r.source {
                m::NetworkSource::Existing(s) => wit_network::NetworkSource::Existing(s.clone()),
                m::NetworkSource::ReserveFrom(s) => {
                    wit_network::NetworkSource::ReserveFrom(s.clone())
                }
                m::NetworkSource::FromTemplate(s) => {
                    wit_network::NetworkSource::FromTemplate(s.clone())
                }
            },
            extra: r.extra.clone(),
        }
    }
}

impl From<&m::NetworkLease> for wit_network::NetworkLease {
    fn from(l: &m::NetworkLease) -> Self {
        wit_network::NetworkLease {
            network_id: l.network_id.clone(),
            name: l.name.clone(),
            created: l.created,
            ready: l.ready,
            attributes: l.attributes.iter().map(Into::into).collect(),
        }
    }
}

impl From<wit_network::NetworkLease> for m::NetworkLease {
    fn from(l: wit_network::NetworkLease) -> Self {
        m::NetworkLease {
            network_id: l.network_id,
            name: l.name,
            created: l.created,
            ready: l.ready,
            attributes: l.attributes.into_iter().map(Into::into).collect(),
        }
    }
}

// ---- network registry (host side) ----

impl From<m::PluginError> for wit::Error {
    fn from(e: m::PluginError) -> Self {
        match e {
            m::PluginError::InvalidInput(s) => wit::Error::InvalidInput(s),
            m::PluginError::NotFound(s) => wit::Error::NotFound(s),
            m::PluginError::Unsupported(s) => wit::Error::Unsupported(s),
            m::PluginError::Unavailable(s) => wit::Error::Unavailable(s),
            m::PluginError::Denied(s) => wit::Error::Denied(s),
            m::PluginError::Other(s) => wit::Error::Other(s),
        }
    }
}

impl From<m::VnetInfo> for wit_registry::Vnet {
    fn from(v: m::VnetInfo) -> Self {
        wit_registry::Vnet {
            id: v.id,
            name: v.name,
            ranges: v
                .ranges
                .into_iter()
                .map(|r| wit_registry::AddressRange {
                    ip: r.ip,
                    size: r.size,
                })
                .collect(),
            leased: v.leased,
            attributes: v.attributes.iter().map(Into::into).collect(),
        }
    }
}

impl From<&m::Segment> for wit_plumbing::Segment {
    fn from(x: &m::Segment) -> Self {
        wit_plumbing::Segment {
            network_id: x.network_id.clone(),
            attributes: x.attributes.iter().map(Into::into).collect(),
        }
    }
}

impl From<&m::Port> for wit_plumbing::Port {
    fn from(x: &m::Port) -> Self {
        wit_plumbing::Port {
            key: x.key.clone(),
            network_id: x.network_id.clone(),
            mac: x.mac.clone(),
        }
    }
}
