//! Carrying out the life cycle's effects: written first (VM actions into
//! the service's outbox), then sent to the driver, their answers fed back
//! to the service and written in batches.

use super::*;
use crate::store::NetworkError;
use flotilla_model::BackendError;

/// The service is written after this many driver answers, or after a
/// quarter of the answers so far if that is more (and after the last):
/// answers not yet written when a crash comes are asked again, and writing
/// after each one would make a role of thousands of VMs cost a write of
/// the whole service per VM. Growing the batch keeps a large scale linear.
const ANSWERS_PER_WRITE: usize = 64;
/// Creates sent to the driver in one call: a round's creates go together,
/// up to this many, so a VM costs a share of a call rather than a whole
/// one. Bounded so that one call stays well within the plugin's deadline
/// and memory, and answers are written as often as `ANSWERS_PER_WRITE`.
const CREATES_PER_CALL: usize = ANSWERS_PER_WRITE;

/// The database failed while a VM was being made ready: the host broke,
/// not the template.
pub(super) fn database(e: anyhow::Error) -> BackendError {
    BackendError::Fault(format!("{e:#}"))
}

/// A lease or a router the network store could not give: a full or
/// missing network is the template's problem, a database error is not.
pub(super) fn network_store(e: NetworkError) -> BackendError {
    match e {
        NetworkError::Storage(_) => BackendError::Fault(e.to_string()),
        NetworkError::NotFound(_) | NetworkError::Refused(_) => {
            BackendError::Refused(e.to_string())
        }
    }
}

impl Engine {
    /// Write the service with the VM actions among `effects` in its
    /// outbox, then carry them out: an intent is on disk before the driver
    /// hears of it.
    pub(super) async fn commit(
        &self,
        service: &mut Service,
        effects: Vec<Effect>,
    ) -> Result<(), EngineError> {
        service.record(&effects);
        self.store().save_service(service)?;
        self.execute(service, effects).await
    }

    /// Carry out effects (and those their results lead to), writing the
    /// service every few answers and after the last. An answer lost to a
    /// crash is asked again: creates by operation id, actions from the
    /// outbox.
    pub(super) async fn execute(
        &self,
        service: &mut Service,
        effects: Vec<Effect>,
    ) -> Result<(), EngineError> {
        let mut queue: VecDeque<Effect> = effects.into();
        let (mut unwritten, mut answered) = (0, 0);
        while let Some(effect) = queue.pop_front() {
            let done = match effect {
                Effect::Create(create) => {
                    // The creates that follow go in the same call.
                    let mut batch = vec![create];
                    while batch.len() < CREATES_PER_CALL {
                        match queue.pop_front() {
                            Some(Effect::Create(next)) => batch.push(next),
                            Some(other) => {
                                queue.push_front(other);
                                break;
                            }
                            None => break,
                        }
                    }
                    let n = batch.len();
                    // On a fleet, each VM goes to a host first; one no host
                    // takes waits, and is not sent.
                    let batch = self.place(service, batch).await?;
                    let results = match self.prepare_vrouters(service, &batch) {
                        Ok(()) => self.create_many(service, &batch).await,
                        Err(e) => vec![Err(e); batch.len()],
                    };
                    for (create, result) in batch.iter().zip(results) {
                        service.observe_created(create, result, self.now());
                    }
                    n
                }
                Effect::Act(act) => {
                    let result = match self.on_lost_host(service, &act).await? {
                        Some(()) => Ok(()),
                        None => self.act(&act).await,
                    };
                    queue.extend(service.observe_acted(&act, result, self.now()));
                    1
                }
                Effect::Network(op) => {
                    let answer = self
                        .inner
                        .networks
                        .run(op.mode.as_deref(), op.step.clone())
                        .await;
                    service.observe_network(&op, answer, self.now());
                    // The last answer moves the service on (to its roles,
                    // or to its end) without waiting for a round.
                    if !queue.iter().any(|e| matches!(e, Effect::Network(_))) {
                        queue.extend(service.networks_answered(self.now()));
                    }
                    1
                }
            };
            unwritten += done;
            answered += done;
            if unwritten >= ANSWERS_PER_WRITE.max(answered / 4) || queue.is_empty() {
                self.store().save_service(service)?;
                unwritten = 0;
            }
        }
        if service.deleted {
            self.store().delete_service(service.id)?;
            self.release_leases(service)?;
            self.sweep_plumbing().await?;
        }
        Ok(())
    }

    /// A terminate of a VM whose host is lost: kept for the host (see
    /// `fleet.rs`) and done as far as the service goes. `None`: the
    /// driver is asked as usual.
    async fn on_lost_host(
        &self,
        service: &Service,
        act: &VmAct,
    ) -> Result<Option<()>, EngineError> {
        if !act.is_terminate() {
            return Ok(None);
        }
        let placement = service
            .roles
            .iter()
            .flat_map(|r| r.nodes.iter())
            .find(|n| n.vm_id.as_deref() == Some(act.vm_id.as_str()))
            .and_then(|n| n.placement.clone());
        match placement {
            Some(placement) => self.terminate_on_lost_host(&placement, &act.vm_id).await,
            None => Ok(None),
        }
    }

    /// One VM action. A terminate of a VM that is already gone (DONE, or
    /// unknown to the driver) has done its job: a retried DELETE or an
    /// action resent after a crash must not fail the service.
    pub(super) async fn act(&self, act: &VmAct) -> Result<(), BackendError> {
        let driver = &self.inner.driver;
        let refused = match driver
            .act(
                act.vm_id.clone(),
                act.action,
                act.args
                    .iter()
                    .map(|(k, v)| crate::plugin::KeyValue::new(k, v))
                    .collect(),
            )
            .await
        {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        if act.is_terminate()
            && let Ok(seen) = driver.poll(vec![act.vm_id.clone()]).await
            && seen
                .iter()
                .all(|o| o.state == crate::service::lifecycle::VmState::Done)
        {
            return Ok(());
        }
        Err(refused)
    }

    /// Create VMs in one driver call: one outcome per create, in order. A
    /// create whose spec cannot be built (its VM template is gone) fails
    /// alone, without a call.
    pub(super) async fn create_many(
        &self,
        service: &Service,
        creates: &[CreateVm],
    ) -> Vec<Result<String, BackendError>> {
        let mut checked = Vec::with_capacity(creates.len());
        for create in creates {
            checked.push(self.vm_spec(service, create).await);
        }
        let (places, specs) = flotilla_model::batch::precheck(checked, |spec| spec);
        let answers = if specs.is_empty() {
            Vec::new()
        } else {
            self.inner.driver.create_many(specs).await
        };
        places.fill(answers, || {
            BackendError::Fault("the driver gave no answer for this VM".into())
        })
    }

    pub(super) async fn vm_spec(
        &self,
        service: &Service,
        create: &CreateVm,
    ) -> Result<VmSpec, BackendError> {
        let vm_template = self
            .store()
            .vm_template(create.template_id)
            .map_err(database)?
            .ok_or_else(|| {
                BackendError::Refused(format!("VM template {} does not exist", create.template_id))
            })?;
        let mut template = self.role_template(service, &create.role, &vm_template.attributes)?;
        // `${PARENT.path}` references, from the template the parent's VMs
        // were created with. The parent's template is built only when a
        // reference asks for it: most templates have none.
        let parents = service
            .template
            .role(&create.role)
            .map(|r| r.parents.clone())
            .unwrap_or_default();
        let lookup = |role: &str, path: &str| {
            if let Some(v) = self
                .reported_value(service, role, path)
                .or_else(|| vrouter_value(service, role, path))
                .or_else(|| self.leased_value(service, role, path))
            {
                return Some(v);
            }
            let t = service.template.role(role)?;
            let attrs = self
                .store()
                .vm_template(t.template_id)
                .ok()
                .flatten()?
                .attributes;
            lookup_path(&self.role_template(service, role, &attrs).ok()?, path)
        };
        crate::service::merge::resolve_parent_refs(&mut template, &parents, &lookup);
        crate::service::merge::substitute_context(&mut template);
        let ports = self.attach_nics(service, &create.role, &create.operation_id, &mut template)?;
        self.attach_disks(service, &mut template)?;
        let placement = service.placement_of(create);
        self.plumb(ports, placement.map(|p| p.host.as_str()), &mut template)
            .await?;
        // A fleet driver creates the VM on the host it was placed on (a
        // user's own HOST attribute is not the placement: it goes).
        template.retain(|k, _| !k.eq_ignore_ascii_case("HOST"));
        if let Some(host) = placement.and_then(|p| self.host_attribute(p)) {
            template.insert("HOST".into(), host);
        }
        if let Some(onegate) = self.onegate() {
            let context = template
                .entry("CONTEXT")
                .or_insert_with(|| serde_json::Value::Object(Default::default()));
            if let serde_json::Value::Object(context) = context {
                for (k, v) in onegate.context(service.id, &create.operation_id) {
                    context.insert(k, serde_json::Value::String(v));
                }
            }
        }
        Ok(VmSpec {
            operation_id: create.operation_id.clone(),
            service_id: service.id,
            role_name: create.role.clone(),
            vm_name: create.name.clone(),
            template: serde_json::Value::Object(template).to_string(),
            hold: create.hold,
        })
    }

    /// A value a parent's VM reported through OneGate, for `${PARENT.path}`
    /// references: `USER_TEMPLATE/X`, or `TEMPLATE/CONTEXT/X` (a reported
    /// value wins over the template's), from the first of the parent's VMs
    /// that reported it, as OneFlow takes the first VM that has it.
    fn reported_value(&self, service: &Service, role: &str, path: &str) -> Option<String> {
        let onegate = self.onegate()?;
        let parts: Vec<&str> = path.split('/').collect();
        let key = match parts.as_slice() {
            ["USER_TEMPLATE", key] | ["CONTEXT", key] | ["TEMPLATE", "CONTEXT", key] => *key,
            _ => return None,
        };
        service.role(role)?.nodes.iter().find_map(|n| {
            let reported = onegate.reported(service.id, &n.operation_id);
            flotilla_model::lookup(&reported, key)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        })
    }

    /// An address a parent's VM was leased, for `${PARENT.template.nic.ip}`
    /// and `${PARENT.template.context.eth0_ip}` references: the parent's
    /// VMs were made with a template their addresses were added to, which
    /// the role's template (built again below) does not have. From the
    /// first of the parent's VMs that holds one, as OneFlow takes the first
    /// VM that has the value. Read only: a lookup never leases.
    fn leased_value(&self, service: &Service, role: &str, path: &str) -> Option<String> {
        let (nic, attribute) = leased_attribute(path)?;
        let store = self.store();
        service.role(role)?.nodes.iter().find_map(|node| {
            let holder = format!("{}/{nic}", node.operation_id);
            let leases = store.leases_of(&node.operation_id).ok()?;
            let ip = &leases.iter().find(|l| l.holder == holder)?.ip;
            match attribute {
                LeasedAttribute::Ip => Some(ip.clone()),
                LeasedAttribute::Mac => Some(flotilla_core::network::mac_for(ip.parse().ok()?)),
            }
        })
    }

    pub(super) fn role_template(
        &self,
        service: &Service,
        role: &str,
        vm_template: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<serde_json::Map<String, serde_json::Value>, BackendError> {
        crate::service::lifecycle::vm_template_json(service, role, vm_template)
            .ok_or_else(|| BackendError::Refused(format!("role {role} is not in the service")))
    }
}

/// What a leased NIC answers for.
#[derive(Debug, Clone, Copy, PartialEq)]
enum LeasedAttribute {
    Ip,
    Mac,
}

/// The NIC (its lease's name under the VM's operation id: `NIC0`,
/// `NIC_ALIAS1`) and the attribute a reference path asks for, as a VM's
/// template shows them: `NIC/IP` (OpenNebula's XPath finds the first NIC),
/// `NIC_ALIAS/MAC`, or the context variables `ETH<n>_IP`, `ETH<n>_MAC` and
/// `ETH<n>_ALIAS<m>_IP` (an alias is numbered among all aliases); a
/// leading `TEMPLATE` is optional.
fn leased_attribute(path: &str) -> Option<(String, LeasedAttribute)> {
    let attribute = |name: &str| match name {
        "IP" => Some(LeasedAttribute::Ip),
        "MAC" => Some(LeasedAttribute::Mac),
        _ => None,
    };
    let parts: Vec<&str> = path.split('/').collect();
    let parts = parts.strip_prefix(&["TEMPLATE"]).unwrap_or(&parts);
    match parts {
        ["NIC", name] => Some(("NIC0".into(), attribute(name)?)),
        ["NIC_ALIAS", name] => Some(("NIC_ALIAS0".into(), attribute(name)?)),
        ["CONTEXT", variable] => {
            let (nic, name) = variable.strip_prefix("ETH")?.rsplit_once('_')?;
            let attribute = attribute(name)?;
            let nic = match nic.split_once("_ALIAS") {
                Some((_, alias)) => format!("NIC_ALIAS{}", alias.parse::<usize>().ok()?),
                None => format!("NIC{}", nic.parse::<usize>().ok()?),
            };
            Some((nic, attribute))
        }
        _ => None,
    }
}

/// A parent `vr` role's router, for `${ROUTER.…}` references: its
/// `VROUTER_ID`, the floating IP of its first floating NIC (`…VROUTER_IP`)
/// or of NIC n (`…ETH<n>_VROUTER_IP`).
fn vrouter_value(service: &Service, role: &str, path: &str) -> Option<String> {
    let v = service.role(role)?.vrouter.as_ref()?;
    let last = path.rsplit('/').next()?;
    if last == "VROUTER_ID" {
        return Some(v.id.to_string());
    }
    let nic = match last.strip_suffix("_VROUTER_IP") {
        Some(eth) => Some(eth.strip_prefix("ETH")?.parse::<usize>().ok()?),
        None if last == "VROUTER_IP" => None,
        None => return None,
    };
    v.ips
        .iter()
        .find(|ip| nic.is_none_or(|n| ip.nic == n))
        .map(|ip| ip.ip.clone())
}

/// The value at an OpenNebula-style path (`TEMPLATE/CONTEXT/DB_NAME`) in a
/// VM template; the leading `TEMPLATE` is optional.
fn lookup_path(
    template: &serde_json::Map<String, serde_json::Value>,
    path: &str,
) -> Option<String> {
    let mut parts: Vec<&str> = path.split('/').collect();
    if parts.first() == Some(&"TEMPLATE") {
        parts.remove(0);
    }
    let first = *parts.first()?;
    let mut current = template
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(first))?
        .1;
    for part in &parts[1..] {
        current = current
            .as_object()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(part))?
            .1;
    }
    crate::service::inputs::as_text(current)
}

#[cfg(test)]
mod tests {
    use super::{LeasedAttribute, leased_attribute};

    #[test]
    fn a_reference_path_names_the_lease_and_what_of_it() {
        let cases = [
            ("TEMPLATE/NIC/IP", Some(("NIC0", LeasedAttribute::Ip))),
            ("NIC/MAC", Some(("NIC0", LeasedAttribute::Mac))),
            (
                "TEMPLATE/NIC_ALIAS/IP",
                Some(("NIC_ALIAS0", LeasedAttribute::Ip)),
            ),
            (
                "TEMPLATE/CONTEXT/ETH1_IP",
                Some(("NIC1", LeasedAttribute::Ip)),
            ),
            ("CONTEXT/ETH0_MAC", Some(("NIC0", LeasedAttribute::Mac))),
            (
                "TEMPLATE/CONTEXT/ETH0_ALIAS2_IP",
                Some(("NIC_ALIAS2", LeasedAttribute::Ip)),
            ),
            // Not an address: the template or the router answers these.
            ("TEMPLATE/CONTEXT/ETH0_VROUTER_IP", None),
            ("TEMPLATE/CONTEXT/ETH0_GATEWAY", None),
            ("TEMPLATE/NIC/NETWORK", None),
            ("TEMPLATE/CONTEXT/DB_IP", None),
            ("TEMPLATE/MEMORY", None),
        ];
        for (path, want) in cases {
            let got = leased_attribute(path);
            assert_eq!(
                got.as_ref().map(|(nic, a)| (nic.as_str(), *a)),
                want,
                "{path}"
            );
        }
    }
}
