//! Between the guest bindings wit-bindgen generates and `flotilla-model`,
//! the types a plugin implements its trait with. The export macros call
//! these; every conversion is a struct literal or an exhaustive match, so a
//! change to a WIT contract fails to compile here.

use crate::bindings::driver::exports::flotilla::driver::driver as wit_driver;
use crate::bindings::driver::flotilla::types::types as wit;
use crate::bindings::elasticity::exports::flotilla::elasticity::policy as wit_policy;
use crate::bindings::fleet::exports::flotilla::driver::hosts as wit_hosts;
use crate::bindings::network::exports::flotilla::network::mode as wit_network;
use crate::bindings::plumbing::exports::flotilla::network::plumbing as wit_plumbing;
use crate::bindings::plumbing::flotilla::host::link as wit_link;
use flotilla_model as m;

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

impl From<m::PluginInfo> for wit::PluginInfo {
    fn from(i: m::PluginInfo) -> Self {
        wit::PluginInfo {
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

impl From<m::KeyValue> for wit::KeyValue {
    fn from(kv: m::KeyValue) -> Self {
        wit::KeyValue {
            key: kv.key,
            value: kv.value,
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

impl From<m::Metric> for wit::Metric {
    fn from(x: m::Metric) -> Self {
        wit::Metric {
            name: x.name,
            value: x.value,
        }
    }
}

impl From<m::VmState> for wit::VmState {
    fn from(s: m::VmState) -> Self {
        match s {
            m::VmState::Pending => wit::VmState::Pending,
            m::VmState::Hold => wit::VmState::Hold,
            m::VmState::Running => wit::VmState::Running,
            m::VmState::Poweroff => wit::VmState::Poweroff,
            m::VmState::Suspended => wit::VmState::Suspended,
            m::VmState::Stopped => wit::VmState::Stopped,
            m::VmState::Undeployed => wit::VmState::Undeployed,
            m::VmState::Unknown => wit::VmState::Unknown,
            m::VmState::Failed => wit::VmState::Failed,
            m::VmState::Done => wit::VmState::Done,
        }
    }
}

// ---- driver ----

impl From<wit_driver::VmSpec> for m::VmSpec {
    fn from(s: wit_driver::VmSpec) -> Self {
        m::VmSpec {
            operation_id: s.operation_id,
            service_id: s.service_id,
            role_name: s.role_name,
            vm_name: s.vm_name,
            template: s.template,
            hold: s.hold,
        }
    }
}

impl From<wit_driver::VmAction> for m::VmAction {
    fn from(a: wit_driver::VmAction) -> Self {
        use m::VmAction as A;
        use wit_driver::VmAction as W;
        match a {
            W::Terminate => A::Terminate,
            W::TerminateHard => A::TerminateHard,
            W::Undeploy => A::Undeploy,
            W::UndeployHard => A::UndeployHard,
            W::Hold => A::Hold,
            W::Release => A::Release,
            W::Stop => A::Stop,
            W::Suspend => A::Suspend,
            W::Resume => A::Resume,
            W::Reboot => A::Reboot,
            W::RebootHard => A::RebootHard,
            W::Poweroff => A::Poweroff,
            W::PoweroffHard => A::PoweroffHard,
            W::SnapshotCreate => A::SnapshotCreate,
            W::SnapshotRevert => A::SnapshotRevert,
            W::SnapshotDelete => A::SnapshotDelete,
            W::DiskSnapshotCreate => A::DiskSnapshotCreate,
            W::DiskSnapshotRevert => A::DiskSnapshotRevert,
            W::DiskSnapshotDelete => A::DiskSnapshotDelete,
        }
    }
}

impl From<m::VmStatus> for wit_driver::VmStatus {
    fn from(s: m::VmStatus) -> Self {
        wit_driver::VmStatus {
            id: s.id,
            state: s.state.into(),
            monitoring: s.monitoring.into_iter().map(Into::into).collect(),
            user_attributes: s.user_attributes.into_iter().map(Into::into).collect(),
            reason: s.reason,
        }
    }
}

impl From<m::ManagedVm> for wit_driver::ManagedVm {
    fn from(v: m::ManagedVm) -> Self {
        wit_driver::ManagedVm {
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

impl From<wit_hosts::Host> for m::HostProbe {
    fn from(h: wit_hosts::Host) -> Self {
        m::HostProbe {
            name: h.name,
            address: h.address,
        }
    }
}

impl From<m::HostMonitoring> for wit_hosts::HostMonitoring {
    fn from(x: m::HostMonitoring) -> Self {
        wit_hosts::HostMonitoring {
            cpu: x.cpu,
            memory_mb: x.memory_mb,
            used_cpu: x.used_cpu,
            used_memory_mb: x.used_memory_mb,
            vm_ids: x.vm_ids,
        }
    }
}

// ---- elasticity ----

impl From<wit_policy::Evaluation> for m::Evaluation {
    fn from(e: wit_policy::Evaluation) -> Self {
        let r = e.role;
        m::Evaluation {
            role: m::RoleView {
                service_id: r.service_id,
                role_name: r.role_name,
                cardinality: r.cardinality,
                min_vms: r.min_vms,
                max_vms: r.max_vms,
                cooldown: r.cooldown,
            },
            params: e.params.into_iter().map(Into::into).collect(),
            vms: e
                .vms
                .into_iter()
                .map(|v| m::VmSample {
                    vm_id: v.vm_id,
                    values: v.values.into_iter().map(Into::into).collect(),
                })
                .collect(),
            now: e.now,
            state: e.state,
        }
    }
}

impl From<m::Recommendation> for wit_policy::Recommendation {
    fn from(r: m::Recommendation) -> Self {
        wit_policy::Recommendation {
            desired: r.desired,
            reason: r.reason,
            trace: r.trace,
            cooldown: r.cooldown,
            state: r.state,
        }
    }
}

// ---- network ----

impl From<wit_network::NetworkRequest> for m::NetworkRequest {
    fn from(r: wit_network::NetworkRequest) -> Self {
        m::NetworkRequest {
            operation_id: r.operation_id,
            service_id: r.service_id,
            name: r.name,
            source: match r.source {
                wit_network::NetworkSource::Existing(s) => m::NetworkSource::Existing(s),
                wit_network::NetworkSource::ReserveFrom(s) => m::NetworkSource::ReserveFrom(s),
                wit_network::NetworkSource::FromTemplate(s) => m::NetworkSource::FromTemplate(s),
            },
            extra: r.extra,
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

impl From<m::NetworkLease> for wit_network::NetworkLease {
    fn from(l: m::NetworkLease) -> Self {
        wit_network::NetworkLease {
            network_id: l.network_id,
            name: l.name,
            created: l.created,
            ready: l.ready,
            attributes: l.attributes.into_iter().map(Into::into).collect(),
        }
    }
}

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

impl From<crate::bindings::network::flotilla::network::registry::Vnet> for m::VnetInfo {
    fn from(v: crate::bindings::network::flotilla::network::registry::Vnet) -> Self {
        m::VnetInfo {
            id: v.id,
            name: v.name,
            ranges: v
                .ranges
                .into_iter()
                .map(|r| m::VnetRange {
                    ip: r.ip,
                    size: r.size,
                })
                .collect(),
            leased: v.leased,
            attributes: v.attributes.into_iter().map(Into::into).collect(),
        }
    }
}

// ---- plumbing ----

impl From<wit_plumbing::Segment> for m::Segment {
    fn from(x: wit_plumbing::Segment) -> Self {
        m::Segment {
            network_id: x.network_id,
            attributes: x.attributes.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<wit_plumbing::Port> for m::Port {
    fn from(x: wit_plumbing::Port) -> Self {
        m::Port {
            key: x.key,
            network_id: x.network_id,
            mac: x.mac,
        }
    }
}

impl From<wit_link::DeviceKind> for m::DeviceKind {
    fn from(k: wit_link::DeviceKind) -> Self {
        match k {
            wit_link::DeviceKind::Bridge => m::DeviceKind::Bridge,
            wit_link::DeviceKind::Tap => m::DeviceKind::Tap,
            wit_link::DeviceKind::Vxlan(v) => m::DeviceKind::Vxlan(m::Vxlan {
                vni: v.vni,
                underlay: v.underlay,
                group: v.group,
                port: v.port,
                mtu: v.mtu,
            }),
            wit_link::DeviceKind::Other(o) => m::DeviceKind::Other(o),
        }
    }
}

impl From<m::DeviceKind> for wit_link::DeviceKind {
    fn from(k: m::DeviceKind) -> Self {
        match k {
            m::DeviceKind::Bridge => wit_link::DeviceKind::Bridge,
            m::DeviceKind::Tap => wit_link::DeviceKind::Tap,
            m::DeviceKind::Vxlan(v) => wit_link::DeviceKind::Vxlan(wit_link::Vxlan {
                vni: v.vni,
                underlay: v.underlay,
                group: v.group,
                port: v.port,
                mtu: v.mtu,
            }),
            m::DeviceKind::Other(o) => wit_link::DeviceKind::Other(o),
        }
    }
}

impl From<wit_link::Device> for m::Device {
    fn from(d: wit_link::Device) -> Self {
        m::Device {
            name: d.name,
            kind: d.kind.into(),
            master: d.master,
            up: d.up,
            addresses: d.addresses,
        }
    }
}
