//! A service's own networks (`networks_values`): deployed by network-mode
//! plugins before any role (DEPLOYING_NETS), removed after the last role
//! (UNDEPLOYING_NETS), each step recorded before the plugin hears of it so
//! that a crash repeats it under the same operation id rather than making
//! a second network.

use super::{Effect, LifecycleError, Service};
use crate::service::state::ServiceState;
use flotilla_model::{BackendError, NetworkLease, NetworkRequest, NetworkSource};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One network of a service, from its `networks_values`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceNetwork {
    /// The name roles use in `NETWORK_ID = "$<name>"`.
    pub name: String,
    pub source: NetworkSource,
    /// `extra` attributes as template text (`SIZE=5`, `AR=[…]`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub extra: String,
    /// The network-mode plugin that handles it; `None`: the server's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// The idempotency key of its deploy.
    pub operation_id: String,
    /// What the mode answered; `None` until it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<NetworkLease>,
    /// The network it made is gone (after an undeploy).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub removed: bool,
    /// Why its last step failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl ServiceNetwork {
    /// Whether undeploying the service must remove it: only networks the
    /// mode made (a reservation, a template instance), never an existing
    /// one, as in OneFlow.
    fn to_remove(&self) -> bool {
        self.lease.as_ref().is_some_and(|l| l.created) && !self.removed
    }

    /// The network id roles attach to, once deployed.
    pub fn network_id(&self) -> Option<&str> {
        self.lease.as_ref().map(|l| l.network_id.as_str())
    }
}

/// A step of a network's life the caller carries out through its mode.
#[derive(Debug, Clone, PartialEq)]
pub enum NetworkStep {
    Deploy(NetworkRequest),
    Status(NetworkLease),
    Undeploy(NetworkLease),
}

#[derive(Debug, Clone, PartialEq)]
pub struct NetworkOp {
    /// The network's name in the service.
    pub name: String,
    pub mode: Option<String>,
    pub step: NetworkStep,
}

/// What the mode answered to a [`NetworkOp`].
pub type NetworkAnswer = Result<Option<NetworkLease>, BackendError>;

/// The networks of a template's `networks_values`, in order. Entries are
/// validated before (`validate::check_networks`); anything unreadable is
/// skipped.
pub fn from_values(service_id: u64, values: &[Map<String, Value>]) -> Vec<ServiceNetwork> {
    let text = |v: &Value| crate::service::inputs::as_text(v).unwrap_or_default();
    let mut out = Vec::new();
    for entry in values {
        for (name, spec) in entry {
            let Some(spec) = spec.as_object() else {
                continue;
            };
            let source = if let Some(id) = spec.get("template_id") {
                NetworkSource::FromTemplate(text(id))
            } else if let Some(id) = spec.get("reserve_from") {
                NetworkSource::ReserveFrom(text(id))
            } else if let Some(id) = spec.get("id") {
                NetworkSource::Existing(text(id))
            } else {
                continue;
            };
            out.push(ServiceNetwork {
                name: name.clone(),
                source,
                extra: spec.get("extra").map(text).unwrap_or_default(),
                mode: spec.get("mode").map(text).filter(|m| !m.is_empty()),
                operation_id: format!("service-{service_id}-net-{name}"),
                lease: None,
                removed: false,
                reason: None,
            });
        }
    }
    out
}

impl Service {
    fn network_op(&self, i: usize, step: NetworkStep) -> Effect {
        let n = &self.networks[i];
        Effect::Network(NetworkOp {
            name: n.name.clone(),
            mode: n.mode.clone(),
            step,
        })
    }

    fn deploy_request(&self, i: usize) -> NetworkStep {
        let n = &self.networks[i];
        NetworkStep::Deploy(NetworkRequest {
            operation_id: n.operation_id.clone(),
            service_id: self.id,
            name: n.name.clone(),
            source: n.source.clone(),
            extra: n.extra.clone(),
        })
    }

    /// Deploy the networks not deployed yet: PENDING (or a recover) →
    /// DEPLOYING_NETS.
    pub(super) fn deploy_networks(&mut self, now: u64) -> Vec<Effect> {
        self.set_state(ServiceState::DeployingNets, now);
        self.deadline_ms = Some(now + self.wait_ms);
        self.pending_network_steps()
    }

    /// The steps a crash may have interrupted, or that are due: deploys
    /// not answered, leases not ready yet, removals not answered. Each is
    /// idempotent on the network's operation id.
    pub fn pending_network_steps(&self) -> Vec<Effect> {
        let mut effects = Vec::new();
        for i in 0..self.networks.len() {
            let n = &self.networks[i];
            let step = match self.state {
                ServiceState::DeployingNets => match &n.lease {
                    None if n.reason.is_none() => self.deploy_request(i),
                    Some(lease) if !lease.ready => NetworkStep::Status(lease.clone()),
                    _ => continue,
                },
                ServiceState::UndeployingNets => match &n.lease {
                    Some(lease) if n.to_remove() && n.reason.is_none() => {
                        NetworkStep::Undeploy(lease.clone())
                    }
                    _ => continue,
                },
                _ => continue,
            };
            effects.push(self.network_op(i, step));
        }
        effects
    }

    /// A network mode answered.
    pub fn observe_network(&mut self, op: &NetworkOp, answer: NetworkAnswer, now: u64) {
        let Some(i) = self.networks.iter().position(|n| n.name == op.name) else {
            return;
        };
        let name = op.name.clone();
        match (&op.step, answer) {
            (NetworkStep::Deploy(_) | NetworkStep::Status(_), Ok(Some(lease))) => {
                if self.networks[i].lease.is_none() {
                    self.info(
                        now,
                        format!(
                            "Network {name}: network {} is the service's",
                            lease.network_id
                        ),
                    );
                }
                self.record_network_id(&name, &lease.network_id);
                let n = &mut self.networks[i];
                n.reason = None;
                n.lease = Some(lease);
            }
            (NetworkStep::Undeploy(_), Ok(_)) => {
                let n = &mut self.networks[i];
                n.removed = true;
                n.reason = None;
                let id = n.network_id().unwrap_or_default().to_string();
                self.info(now, format!("Network {name}: network {id} removed"));
            }
            (_, Ok(None)) => {}
            (step, Err(reason)) => {
                let undeploying = matches!(step, NetworkStep::Undeploy(_));
                self.networks[i].reason = Some(reason.to_string());
                let verb = if undeploying { "removing" } else { "deploying" };
                self.error(now, format!("Network {name}: {verb} failed: {reason}"));
                self.set_state(
                    if undeploying {
                        ServiceState::FailedUndeployingNets
                    } else {
                        ServiceState::FailedDeployingNets
                    },
                    now,
                );
                self.deadline_ms = None;
            }
        }
    }

    /// OneFlow writes a deployed network's id into `networks_values`, and
    /// clients read it there.
    fn record_network_id(&mut self, name: &str, id: &str) {
        for entry in &mut self.template.networks_values {
            if let Some(Value::Object(spec)) = entry.get_mut(name) {
                spec.insert("id".into(), Value::String(id.to_string()));
            }
        }
    }

    /// Every network step under way was answered: move DEPLOYING_NETS or
    /// UNDEPLOYING_NETS on at once (to the roles, or to the end).
    pub fn networks_answered(&mut self, now: u64) -> Vec<Effect> {
        match self.state {
            ServiceState::DeployingNets | ServiceState::UndeployingNets => {
                self.advance_networks(now)
            }
            _ => Vec::new(),
        }
    }

    /// Moves DEPLOYING_NETS and UNDEPLOYING_NETS on; returns the next
    /// effects.
    pub(super) fn advance_networks(&mut self, now: u64) -> Vec<Effect> {
        match self.state {
            ServiceState::DeployingNets => {
                let ready = self
                    .networks
                    .iter()
                    .all(|n| n.lease.as_ref().is_some_and(|l| l.ready));
                if ready {
                    self.info(now, "Every network is ready");
                    return self.start_roles(now);
                }
                // A lease not ready yet is asked again by the next round
                // (`pending_network_steps`), not at once: answering here
                // would loop on the mode until the deadline.
                self.network_deadline(now, ServiceState::FailedDeployingNets);
                Vec::new()
            }
            ServiceState::UndeployingNets => {
                if self.networks.iter().all(|n| !n.to_remove()) {
                    self.info(now, "Service undeployed");
                    self.deleted = true;
                    self.deadline_ms = None;
                } else {
                    self.network_deadline(now, ServiceState::FailedUndeployingNets);
                }
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn network_deadline(&mut self, now: u64, failed: ServiceState) {
        if self.deadline_ms.is_some_and(|d| now >= d) {
            let waiting: Vec<&str> = self
                .networks
                .iter()
                .filter(|n| match failed {
                    ServiceState::FailedDeployingNets => !n.lease.as_ref().is_some_and(|l| l.ready),
                    _ => n.to_remove(),
                })
                .map(|n| n.name.as_str())
                .collect();
            let message = format!(
                "Gave up after {} s waiting for network(s) {}",
                self.wait_ms / 1000,
                waiting.join(", ")
            );
            self.error(now, message);
            self.set_state(failed, now);
            self.deadline_ms = None;
        }
    }

    /// Every role is gone: remove the networks the service made, or end.
    pub(super) fn undeploy_networks(&mut self, now: u64) -> Vec<Effect> {
        if self.networks.iter().all(|n| !n.to_remove()) {
            self.info(now, "Service undeployed");
            self.deleted = true;
            self.deadline_ms = None;
            return Vec::new();
        }
        self.set_state(ServiceState::UndeployingNets, now);
        self.deadline_ms = Some(now + self.wait_ms);
        self.pending_network_steps()
    }

    /// `recover` of FAILED_DEPLOYING_NETS or FAILED_UNDEPLOYING_NETS:
    /// the failed steps are tried again.
    pub(super) fn recover_networks(&mut self, now: u64) -> Result<Vec<Effect>, LifecycleError> {
        let state = match self.state {
            ServiceState::FailedDeployingNets | ServiceState::DeployingNets => {
                ServiceState::DeployingNets
            }
            ServiceState::FailedUndeployingNets | ServiceState::UndeployingNets => {
                ServiceState::UndeployingNets
            }
            other => {
                return Err(LifecycleError::WrongState(format!(
                    "service {} cannot recover its networks in state {other}",
                    self.id
                )));
            }
        };
        for n in &mut self.networks {
            n.reason = None;
        }
        self.info(now, "Recovering the networks");
        self.set_state(state, now);
        self.deadline_ms = Some(now + self.wait_ms);
        Ok(self.pending_network_steps())
    }
}
