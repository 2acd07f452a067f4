//! OneFlow's response shapes: a resource is a `DOCUMENT` whose attributes
//! are strings (`"ID": "12"`) and whose `TEMPLATE.BODY` is typed JSON.

use crate::access::{Ownership, Permissions};
use crate::service::lifecycle::{Service, Severity};
use crate::store::{Lease, ServiceTemplateDoc, Store};
use serde_json::{Map, Value, json};
use std::collections::HashMap;

pub const SERVICE_TYPE: &str = "100";
pub const TEMPLATE_TYPE: &str = "101";
/// OneFlow keeps the last 50 log entries in a service document.
const MAX_LOG: usize = 50;

pub(super) fn permissions(p: &Permissions) -> Value {
    let bit = |b: bool| if b { "1" } else { "0" };
    json!({
        "OWNER_U": bit(p.owner.r#use), "OWNER_M": bit(p.owner.manage), "OWNER_A": bit(p.owner.admin),
        "GROUP_U": bit(p.group.r#use), "GROUP_M": bit(p.group.manage), "GROUP_A": bit(p.group.admin),
        "OTHER_U": bit(p.other.r#use), "OTHER_M": bit(p.other.manage), "OTHER_A": bit(p.other.admin),
    })
}

/// The names of a document's owner and group (`UNAME`, `GNAME`), read
/// from the store so that rendering can happen without it.
#[derive(PartialEq)]
pub struct Names {
    pub user: String,
    pub group: String,
}

impl Names {
    pub fn of(store: &dyn Store, ownership: &Ownership) -> Names {
        let (user, group) = store.owner_names(ownership);
        Names { user, group }
    }
}

fn document(
    names: &Names,
    id: u64,
    name: &str,
    kind: &str,
    ownership: &Ownership,
    body: Value,
) -> Value {
    json!({
        "ID": id.to_string(),
        "UID": ownership.uid.to_string(),
        "GID": ownership.gid.to_string(),
        "UNAME": names.user,
        "GNAME": names.group,
        "NAME": name,
        "TYPE": kind,
        "PERMISSIONS": permissions(&ownership.permissions),
        "TEMPLATE": { "BODY": body },
    })
}

pub fn one(document: Value) -> Value {
    json!({ "DOCUMENT": document })
}

/// `{"DOCUMENT_POOL":{"DOCUMENT":[…]}}`, or `{"DOCUMENT_POOL":{}}` when empty.
pub fn pool(documents: Vec<Value>) -> Value {
    if documents.is_empty() {
        json!({ "DOCUMENT_POOL": {} })
    } else {
        json!({ "DOCUMENT_POOL": { "DOCUMENT": documents } })
    }
}

pub fn template(store: &dyn Store, doc: &ServiceTemplateDoc) -> Value {
    let names = Names::of(store, &doc.ownership);
    let mut body = doc.body.clone();
    if let Some(b) = body.as_object_mut() {
        b.insert("registration_time".into(), json!(doc.registration_time));
    }
    document(
        &names,
        doc.id,
        &doc.name,
        TEMPLATE_TYPE,
        &doc.ownership,
        body,
    )
}

/// The addresses a service's VMs hold, by the VM's operation id (a NIC's
/// lease is held by `<operation id>/NIC<n>`), read from the store so that
/// rendering can happen without it.
#[derive(Default)]
pub struct Addresses(HashMap<String, Vec<Lease>>);

impl Addresses {
    pub fn of(store: &dyn Store, service_id: u64) -> Addresses {
        let mut by_vm: HashMap<String, Vec<Lease>> = HashMap::new();
        // A store that cannot say shows the VMs without addresses rather
        // than failing the whole document.
        for lease in store.leases_of_service(service_id).unwrap_or_default() {
            if let Some((vm, _nic)) = lease.holder.split_once('/') {
                by_vm.entry(vm.to_string()).or_default().push(lease);
            }
        }
        Addresses(by_vm)
    }

    /// `[{"NIC_ID": "0", "IP": …, "NETWORK_ID": …}]`, as OpenNebula's VM
    /// template lists NICs (aliases are left out).
    fn nics(&self, operation_id: &str) -> Vec<Value> {
        self.0
            .get(operation_id)
            .into_iter()
            .flatten()
            .filter_map(|l| {
                let (_, which) = l.holder.split_once('/')?;
                let nic = which.strip_prefix("NIC")?;
                nic.bytes().all(|b| b.is_ascii_digit()).then(
                    || json!({"NIC_ID": nic, "IP": l.ip, "NETWORK_ID": l.vnet_id.to_string()}),
                )
            })
            .collect()
    }
}

pub fn service(store: &dyn Store, s: &Service) -> Value {
    service_named(
        &Names::of(store, &s.ownership),
        &Addresses::of(store, s.id),
        s,
    )
}

pub fn service_named(names: &Names, addresses: &Addresses, s: &Service) -> Value {
    let mut body = serde_json::to_value(&s.template).unwrap_or_else(|_| json!({}));
    let Some(b) = body.as_object_mut() else {
        return json!({});
    };
    b.insert("state".into(), json!(s.state.number()));
    b.insert("start_time".into(), json!(s.start_time_ms / 1000));
    let log: Vec<Value> = s
        .log
        .iter()
        .skip(s.log.len().saturating_sub(MAX_LOG))
        .map(|l| {
            json!({
                "timestamp": l.time_ms / 1000,
                "severity": if l.severity == Severity::Error { "E" } else { "I" },
                "message": l.message,
            })
        })
        .collect();
    b.insert("log".into(), json!(log));
    if let Some(Value::Array(roles)) = b.get_mut("roles") {
        for (role, runtime) in roles.iter_mut().zip(&s.roles) {
            let Some(r) = role.as_object_mut() else {
                continue;
            };
            r.insert("state".into(), json!(runtime.state.number()));
            r.insert("cardinality".into(), json!(runtime.cardinality));
            r.insert("last_vmname".into(), json!(runtime.last_vmname));
            r.insert("on_hold".into(), json!(runtime.on_hold));
            r.entry("cooldown").or_insert(json!(s.default_cooldown_s));
            if let Some(v) = &runtime.vrouter {
                r.insert("vrouter_id".into(), json!(v.id));
                r.insert("vrouter_ips".into(), v.oneflow_ips());
            }
            let nodes: Vec<Value> = runtime
                .nodes
                .iter()
                .filter_map(|n| {
                    let id = n.vm_id.clone()?;
                    let deploy_id = id
                        .parse::<u64>()
                        .map(Value::from)
                        .unwrap_or(Value::String(id.clone()));
                    let mut vm = Map::new();
                    vm.insert("ID".into(), json!(id));
                    vm.insert("UID".into(), json!(s.ownership.uid.to_string()));
                    vm.insert("GID".into(), json!(s.ownership.gid.to_string()));
                    vm.insert("UNAME".into(), json!(names.user));
                    vm.insert("GNAME".into(), json!(names.group));
                    vm.insert("NAME".into(), json!(n.name));
                    if let Some(state) = n.vm_state {
                        vm.insert("STATE".into(), json!(state.as_str()));
                    }
                    // Where it runs, where OpenNebula keeps it: the last
                    // history record (OneFlow's CLI shows it as HOST).
                    if let Some(p) = &n.placement {
                        vm.insert(
                            "HISTORY_RECORDS".into(),
                            json!({"HISTORY": {
                                "SEQ": "0",
                                "HOSTNAME": p.host,
                                "HID": p.host_id.to_string(),
                            }}),
                        );
                    }
                    let nics = addresses.nics(&n.operation_id);
                    if !nics.is_empty() {
                        vm.insert("TEMPLATE".into(), json!({ "NIC": nics }));
                    }
                    // Whether the VM reported READY=YES through OneGate,
                    // what `ready_status_gate` waits for: an addition
                    // OneFlow clients ignore.
                    let mut node = json!({
                        "deploy_id": deploy_id,
                        "vm_info": { "VM": vm },
                        "ready": n.ready,
                    });
                    // Why the VM is as it is (a refused action, a failure):
                    // an addition OneFlow clients ignore.
                    if let Some(reason) = &n.reason {
                        node["reason"] = json!(reason);
                    }
                    Some(node)
                })
                .collect();
            r.insert("nodes".into(), json!(nodes));
            // VMs not created yet because no host can take them: OneFlow
            // lists only VMs that exist, so they are an addition beside.
            let pending: Vec<Value> = runtime
                .nodes
                .iter()
                .filter(|n| n.unplaced && n.vm_id.is_none() && !n.terminating)
                .map(|n| json!({"name": n.name, "reason": n.reason}))
                .collect();
            if !pending.is_empty() {
                r.insert("pending_vms".into(), json!(pending));
            }
            // What OneFlow writes into each metric policy: when it was last
            // evaluated, its streak and the evaluation's trace.
            if let Some(Value::Array(policies)) = r.get_mut("elasticity_policies") {
                for (k, policy) in policies.iter_mut().enumerate() {
                    let Some(p) = policy.as_object_mut() else {
                        continue;
                    };
                    if let Some(state) = runtime.autoscale.policies.get(k) {
                        if let Some(t) = state.last_eval_ms {
                            p.insert("last_eval".into(), json!(t / 1000));
                        }
                        // The built-in policy keeps its consecutive-true
                        // count as its state; a plugin's state is its own.
                        if !p.contains_key("plugin") {
                            let true_evals =
                                flotilla_policy::builtin::true_evals(state.state.as_deref());
                            p.insert("true_evals".into(), json!(true_evals));
                        }
                    }
                    let name = format!("elasticity_policies[{k}]");
                    if let Some(d) = runtime
                        .autoscale
                        .decisions
                        .iter()
                        .rev()
                        .find(|d| d.policy == name)
                    {
                        p.insert("expression_evaluated".into(), json!(d.trace));
                    }
                }
            }
            let scheduled: Vec<Value> = s
                .scheduled_actions
                .iter()
                .filter(|a| a.role == runtime.name)
                .map(|a| {
                    json!({"id": a.id, "action": a.action, "vm_id": a.vm_id, "time": a.due_ms / 1000})
                })
                .collect();
            r.insert("scheduled_actions".into(), json!(scheduled));
        }
    }
    document(names, s.id, &s.name, SERVICE_TYPE, &s.ownership, body)
}
