//! Networks, virtual routers and OneGate on the real binary: services
//! that bring their own networks through network-mode plugins, addresses
//! leased and given back, floating IPs of virtual routers, and VMs talking
//! to OneGate over HTTP (readiness, values for their children, their own
//! service) with tokens that open nothing else.

#[path = "../common/mod.rs"]
mod common;

mod faults;
mod in_use;
mod modes;
mod onegate;
mod onegate_compat;
mod parents;
mod vrouter;

use common::{Flotilla, free_port, http, wait_for};
use serde_json::{Value, json};
use std::time::Duration;

/// A server with OneGate on a port of its own; the port.
fn with_onegate(extra: &str) -> (Flotilla, u16) {
    let port = free_port();
    let f = Flotilla::start(&format!(
        "[onegate]\nlisten = \"127.0.0.1:{port}\"\n{extra}"
    ));
    (f, port)
}

/// Create a network; its id.
fn vnet(f: &Flotilla, name: &str, template: Value) -> u64 {
    let (status, body) = f.call("POST", "/vnet", json!({"name": name, "template": template}));
    assert_eq!(status, 201, "{body}");
    body["VNET"]["ID"].as_str().unwrap().parse().unwrap()
}

/// A range of `size` addresses from `ip`.
fn range(ip: &str, size: u32) -> Value {
    json!({"AR": [{"TYPE": "IP4", "IP": ip, "SIZE": size.to_string()}]})
}

/// The leases of a network (`[{IP, HOLDER, …}]`).
fn leases(f: &Flotilla, id: u64) -> Vec<Value> {
    let (status, body) = f.call("GET", &format!("/vnet/{id}"), Value::Null);
    assert_eq!(status, 200, "{body}");
    body["VNET"]["LEASES"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The ids of every network there is.
fn vnet_ids(f: &Flotilla) -> Vec<u64> {
    let (status, body) = f.call("GET", "/vnet", Value::Null);
    assert_eq!(status, 200, "{body}");
    body["VNET_POOL"]["VNET"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|v| v["ID"].as_str().unwrap().parse().unwrap())
                .collect()
        })
        .unwrap_or_default()
}

/// A VM as the simulated hypervisor has it (its template included).
fn sim_vm(f: &Flotilla, vm_id: &str) -> Value {
    let (status, body) =
        http(f.server.sim, "GET", &format!("/vms/{vm_id}"), &[], "").expect("the sim answers");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// The VM ids of one role of a service.
fn role_vms(f: &Flotilla, id: u64, role: &str) -> Vec<String> {
    f.service(id)
        .map(|b| common::role_vms(&b, role))
        .unwrap_or_default()
}

/// The NICs (or NIC aliases) of a VM's template as the driver got them.
fn nics(vm: &Value, key: &str) -> Vec<Value> {
    vm["template"][key].as_array().cloned().unwrap_or_default()
}

/// A service's log messages.
fn log(body: &Value) -> Vec<String> {
    body["log"]
        .as_array()
        .map(|l| {
            l.iter()
                .map(|e| e["message"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// One OneGate request with a token; the status and the body text.
fn onegate(port: u16, method: &str, path: &str, token: Option<&str>, body: &str) -> (u16, String) {
    let headers: Vec<(&str, String)> = token
        .map(|t| ("x-onegate-token", t.to_string()))
        .into_iter()
        .collect();
    http(port, method, path, &headers, body).expect("OneGate answers")
}

/// The OneGate token in a VM's context.
fn token_of(f: &Flotilla, vm_id: &str) -> String {
    sim_vm(f, vm_id)["template"]["CONTEXT"]["ONEGATE_TOKEN"]
        .as_str()
        .expect("the VM's context carries its token")
        .to_string()
}
