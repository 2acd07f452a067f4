//! A fleet of simulated hosts behind a real server: hosts created and
//! monitored through the API, VMs placed on them (spread, anti-affined,
//! never on a disabled or full host, waiting with the reason when none
//! fits), and a host lost: its VMs UNKNOWN, the service WARNING, `recover`
//! (or the server by itself) puts them on the others, and the VMs the
//! lost host kept are destroyed when it answers again.

mod common;

use common::{Flotilla, basic, http, placements, wait_for};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

/// Hosts monitored every second, services moved on every 100 ms.
const FLEET: &str = "[engine]\ntick_ms = 100\n\n[sim]\nboot_seconds = 0.2\n\n[fleet]\nmonitor_interval_seconds = 1\n";

/// A host of the simulated hypervisor: 4 CPUs, 4 GiB.
fn sim_host(f: &Flotilla, name: &str) {
    let body = json!({"name": name, "cpu": 4.0, "memory_mb": 4096}).to_string();
    let (status, answer) = http(f.server.sim, "POST", "/hosts", &[], &body).unwrap();
    assert!(status == 201 || status == 200, "{status} {answer}");
}

fn set_reachable(f: &Flotilla, name: &str, reachable: bool) {
    let body = json!({ "reachable": reachable }).to_string();
    let (status, answer) = http(
        f.server.sim,
        "PUT",
        &format!("/hosts/{name}/reachable"),
        &[],
        &body,
    )
    .unwrap();
    assert_eq!(status, 200, "{answer}");
}

/// The three hosts `h1`..`h3`, each in the sim and in Flotilla.
fn three_hosts(f: &Flotilla) -> Vec<u64> {
    (1..=3)
        .map(|n| {
            let name = format!("h{n}");
            sim_host(f, &name);
            let (status, host) = f.call(
                "POST",
                "/host",
                json!({"name": name, "driver": "sim", "address": name, "labels": {"ZONE": if n == 3 { "b" } else { "a" }}}),
            );
            assert_eq!(status, 201, "{host}");
            // Monitored at once: it shows what it has.
            assert_eq!(host["state"], "MONITORED", "{host}");
            assert_eq!(host["total"]["cpu"], 4.0, "{host}");
            host["id"].as_u64().unwrap()
        })
        .collect()
}

fn host(f: &Flotilla, id: u64) -> Value {
    let (status, host) = f.call("GET", &format!("/host/{id}"), Value::Null);
    assert_eq!(status, 200, "{host}");
    host
}

fn wait_host_state(f: &Flotilla, id: u64, state: &str) -> Value {
    wait_for(Duration::from_secs(30), || {
        let h = host(f, id);
        (h["state"] == state).then_some(h)
    })
    .unwrap_or_else(|| panic!("host {id} never {state}: {}", host(f, id)))
}

fn action(f: &Flotilla, id: u64, perform: &str) -> (u16, Value) {
    f.call(
        "POST",
        &format!("/host/{id}/action"),
        json!({"action": {"perform": perform}}),
    )
}

/// The simulated hypervisor's live VMs on `host`.
fn sim_vms_on(f: &Flotilla, host: &str) -> Vec<String> {
    f.live_vms()
        .iter()
        .filter(|v| v["host"] == host)
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn hosts_are_checked_and_only_oneadmin_manages_them() {
    let f = Flotilla::start(FLEET);
    sim_host(&f, "h1");
    let bad = [
        (
            json!({"name": "h 1", "driver": "sim", "address": "h1"}),
            "name",
        ),
        (
            json!({"name": "7", "driver": "sim", "address": "h1"}),
            "name",
        ),
        (
            json!({"name": "h1", "driver": "qemu", "address": "h1"}),
            "driver",
        ),
        (
            json!({"name": "h1", "driver": "sim", "address": ""}),
            "address",
        ),
        (
            json!({"name": "h1", "driver": "sim", "address": "h1", "labels": {"9": "x"}}),
            "labels.9",
        ),
    ];
    for (body, field) in bad {
        let (status, answer) = f.call("POST", "/host", body.clone());
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(answer.to_string().contains(field), "{body}: {answer}");
    }
    let (status, answer) = f.call(
        "POST",
        "/host",
        json!({"name": "h1", "driver": "sim", "address": "h1", "cpus": 3}),
    );
    assert_eq!(status, 400, "an unknown field is refused: {answer}");
    let (_, list) = f.call("GET", "/host", Value::Null);
    assert_eq!(list["hosts"], json!([]), "nothing refused was created");

    let (status, created) = f.call(
        "POST",
        "/host",
        json!({"name": "h1", "driver": "sim", "address": "h1"}),
    );
    assert_eq!(status, 201, "{created}");
    let (status, again) = f.call(
        "POST",
        "/host",
        json!({"name": "h1", "driver": "sim", "address": "h1"}),
    );
    assert_eq!(status, 409, "{again}");
    // A host the sim does not have is in ERROR with the reason.
    let (status, missing) = f.call(
        "POST",
        "/host",
        json!({"name": "h9", "driver": "sim", "address": "nowhere"}),
    );
    assert_eq!(status, 201, "{missing}");
    assert_eq!(missing["state"], "ERROR", "{missing}");
    assert!(
        missing["reason"].as_str().unwrap().contains("nowhere"),
        "{missing}"
    );

    let (status, answer) = action(&f, 0, "reboot");
    assert_eq!(status, 400, "{answer}");
    assert!(answer.to_string().contains("action.perform"), "{answer}");

    // A user outside oneadmin sees no host and changes none.
    let (status, _) = f.call(
        "POST",
        "/user",
        json!({"name": "alice", "password": "alice-pw-1"}),
    );
    assert_eq!(status, 201);
    let alice = [("authorization", basic("alice", "alice-pw-1"))];
    let (status, _) = http(f.server.api, "GET", "/host", &alice, "").unwrap();
    assert_eq!(status, 403);
    let (status, _) = http(f.server.api, "DELETE", "/host/0", &alice, "").unwrap();
    assert_eq!(status, 403);
    assert_eq!(host(&f, 0)["name"], "h1");
}

#[test]
fn vms_are_spread_kept_off_disabled_hosts_and_wait_for_room() {
    let f = Flotilla::start(FLEET);
    let ids = three_hosts(&f);
    let (status, disabled) = action(&f, ids[2], "disable");
    assert_eq!(status, 200, "{disabled}");
    assert_eq!(disabled["state"], "DISABLED");

    // Three anti-affined VMs, and two hosts that take VMs.
    let id = f.deploy(json!({
        "name": "spread",
        "roles": [{"name": "web", "type": "vm", "template_id": 0, "cardinality": 3, "affinity": "ANTI_AFFINED"}]
    }));
    let body = f.wait_body(id, "a web VM waiting for a host", 30, |b| {
        b["roles"][0]["pending_vms"]
            .as_array()
            .is_some_and(|p| p.len() == 1)
    });
    let reason = body["roles"][0]["pending_vms"][0]["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        reason.contains("h3") && reason.contains("DISABLED"),
        "{reason}"
    );
    assert!(reason.contains("anti-affin"), "{reason}");
    let placed = placements(&body);
    let hosts: BTreeSet<&str> = placed["web"].iter().map(|(_, h)| h.as_str()).collect();
    assert_eq!(hosts, BTreeSet::from(["h1", "h2"]), "{placed:?}");
    assert_eq!(body["state"], 1, "still DEPLOYING while a VM waits");

    // Enabled again, h3 takes it: the service runs, one VM per host.
    let (status, _) = action(&f, ids[2], "enable");
    assert_eq!(status, 200);
    let body = f.wait_state(id, 2);
    let hosts: BTreeSet<String> = placements(&body)["web"]
        .iter()
        .map(|(_, h)| h.clone())
        .collect();
    assert_eq!(hosts.len(), 3, "{body}");
    assert!(body["roles"][0].get("pending_vms").is_none(), "{body}");

    // The API counts what they take; the hypervisor has each VM there.
    let h1 = host(&f, ids[0]);
    assert_eq!(h1["allocated"]["vms"], 1, "{h1}");
    assert_eq!(h1["allocated"]["memory_mb"], 256, "{h1}");
    assert_eq!(sim_vms_on(&f, "h1").len(), 1);

    // A VM no host has room for waits with the reason, and never lands.
    let (status, big) = f.call(
        "POST",
        "/vm_template",
        json!({"name": "huge", "template": {"CPU": "1", "MEMORY": "100000"}}),
    );
    assert_eq!(status, 201, "{big}");
    let huge = big["VMTEMPLATE"]["ID"].as_str().unwrap().to_string();
    let big_id = f.deploy(json!({
        "name": "huge",
        "roles": [{"name": "db", "type": "vm", "template_id": huge.parse::<u64>().unwrap(), "cardinality": 1}]
    }));
    let body = f.wait_body(big_id, "the huge VM waiting", 30, |b| {
        b["roles"][0]["pending_vms"].is_array()
    });
    let reason = body["roles"][0]["pending_vms"][0]["reason"]
        .as_str()
        .unwrap();
    assert!(
        reason.contains("memory") && reason.contains("100000"),
        "{reason}"
    );
    // Rounds go by; it is still not on any host.
    f.wait_rounds(5);
    assert_eq!(placements(&f.service(big_id).unwrap())["db"], vec![]);
    assert_eq!(f.live_vms().len(), 3);

    // A host with VMs is neither deleted nor taken offline.
    let (status, answer) = f.call("DELETE", &format!("/host/{}", ids[0]), Value::Null);
    assert_eq!(status, 409, "{answer}");
    assert!(
        answer.to_string().contains(&format!("service {id}")),
        "{answer}"
    );
    let (status, _) = action(&f, ids[0], "offline");
    assert_eq!(status, 409);
}

/// Six VMs over three hosts; `web`'s two kept apart.
fn six_vms(f: &Flotilla) -> u64 {
    f.deploy(json!({
        "name": "shop",
        "roles": [
            {"name": "db", "type": "vm", "template_id": 0, "cardinality": 1},
            {"name": "web", "type": "vm", "template_id": 0, "cardinality": 2, "affinity": "ANTI_AFFINED"},
            {"name": "worker", "type": "vm", "template_id": 0, "cardinality": 3}
        ]
    }))
}

/// The host of one of `web`'s VMs: losing it leaves a host without `web`
/// for its replacement.
fn a_web_host(body: &Value) -> String {
    placements(body)["web"][0].1.clone()
}

#[test]
fn a_lost_host_s_vms_are_recovered_elsewhere_and_destroyed_when_it_returns() {
    let f = Flotilla::start(FLEET);
    let ids = three_hosts(&f);
    let id = six_vms(&f);
    let body = f.wait_state(id, 2);
    let placed = placements(&body);
    let used: BTreeSet<&str> = placed.values().flatten().map(|(_, h)| h.as_str()).collect();
    assert_eq!(used.len(), 3, "spread over the three hosts: {placed:?}");
    let web_hosts: BTreeSet<&str> = placed["web"].iter().map(|(_, h)| h.as_str()).collect();
    assert_eq!(web_hosts.len(), 2, "web's VMs are apart: {placed:?}");

    let lost = a_web_host(&body);
    let lost_id = ids[lost[1..].parse::<usize>().unwrap() - 1];
    let on_lost: BTreeSet<String> = placed
        .values()
        .flatten()
        .filter(|(_, h)| *h == lost)
        .map(|(vm, _)| vm.clone())
        .collect();
    set_reachable(&f, &lost, false);
    let h = wait_host_state(&f, lost_id, "ERROR");
    assert!(
        h["reason"].as_str().unwrap().contains("does not answer"),
        "{h}"
    );
    // Its VMs are UNKNOWN, the service in WARNING.
    let body = f.wait_state(id, 4);
    for role in body["roles"].as_array().unwrap() {
        for n in role["nodes"].as_array().unwrap() {
            let vm = &n["vm_info"]["VM"];
            if on_lost.contains(vm["ID"].as_str().unwrap()) {
                assert_eq!(vm["STATE"], "UNKNOWN", "{n}");
                assert!(n["reason"].as_str().unwrap().contains(&lost), "{n}");
            }
        }
    }

    let (status, answer) = f.call(
        "POST",
        &format!("/service/{id}/action"),
        json!({"action": {"perform": "recover"}}),
    );
    assert!(
        status == 200 || status == 201 || status == 204,
        "{status} {answer}"
    );
    let body = f.wait_state(id, 2);
    let placed = placements(&body);
    assert_eq!(placed.values().flatten().count(), 6, "{placed:?}");
    assert!(
        placed
            .values()
            .flatten()
            .all(|(vm, h)| *h != lost && !on_lost.contains(vm)),
        "nothing left on the lost host: {placed:?}"
    );
    let web_hosts: BTreeSet<&str> = placed["web"].iter().map(|(_, h)| h.as_str()).collect();
    assert_eq!(web_hosts.len(), 2, "web's VMs still apart: {placed:?}");
    // The lost host keeps its old VMs to destroy.
    let h = host(&f, lost_id);
    assert_eq!(
        h["stale_vm_ids"].as_array().unwrap().len(),
        on_lost.len(),
        "{h}"
    );
    assert_eq!(
        sim_vms_on(&f, &lost).len(),
        on_lost.len(),
        "the lost host still runs them"
    );

    // Back: its stale VMs are destroyed, once.
    set_reachable(&f, &lost, true);
    let h = wait_for(Duration::from_secs(30), || {
        let h = host(&f, lost_id);
        (h["state"] == "MONITORED" && h.get("stale_vm_ids").is_none()).then_some(h)
    })
    .unwrap_or_else(|| panic!("stale VMs not destroyed: {}", host(&f, lost_id)));
    assert_eq!(h["allocated"]["vms"], 0, "{h}");
    assert_eq!(sim_vms_on(&f, &lost), Vec::<String>::new());
    let body = f.wait_state(id, 2);
    assert_eq!(placements(&body).values().flatten().count(), 6);
    assert_eq!(f.live_vms().len(), 6, "no VM was made twice");
}

#[test]
fn with_automatic_recovery_a_lost_host_s_vms_come_back_by_themselves() {
    let config = format!("{FLEET}recover_lost_hosts = true\nlost_host_grace_seconds = 2\n");
    let f = Flotilla::start(&config);
    let ids = three_hosts(&f);
    let id = six_vms(&f);
    let body = f.wait_state(id, 2);
    let lost = a_web_host(&body);
    let lost_id = ids[lost[1..].parse::<usize>().unwrap() - 1];
    set_reachable(&f, &lost, false);
    let _ = wait_host_state(&f, lost_id, "ERROR");
    // WARNING first, then RUNNING again without a recover.
    let _ = f.wait_state(id, 4);
    let body = f.wait_body(id, "the service running on the other hosts", 60, |b| {
        b["state"] == 2
            && placements(b).values().flatten().count() == 6
            && placements(b).values().flatten().all(|(_, h)| *h != lost)
    });
    let placed = placements(&body);
    let web_hosts: BTreeSet<&str> = placed["web"].iter().map(|(_, h)| h.as_str()).collect();
    assert_eq!(web_hosts.len(), 2, "{placed:?}");
    // Rounds and monitorings go by: nothing is replaced twice.
    f.wait_rounds(20);
    let again = f.service(id).unwrap();
    assert_eq!(placements(&again), placed);
}

/// A VM placed on a host with a NIC on a network whose devices a plugin
/// makes (`VN_MAD`) needs the server to reach the host: without
/// `[fleet] host_command` its create fails, and the service's log says
/// which setting is missing.
#[test]
fn a_plumbed_nic_on_a_host_without_host_command_fails_naming_the_setting() {
    let f = Flotilla::start(FLEET);
    three_hosts(&f);
    let (status, net) = f.call(
        "POST",
        "/vnet",
        json!({"name": "private", "template": {
            "VN_MAD": "bridge",
            "AR": [{"TYPE": "IP4", "IP": "10.1.0.10", "SIZE": "5"}]}}),
    );
    assert_eq!(status, 201, "{net}");
    let network = net["VNET"]["ID"].as_str().unwrap();
    let id = f.deploy(json!({
        "name": "plumbed",
        "roles": [{"name": "web", "type": "vm", "template_id": 0, "cardinality": 1,
                   "template_contents": {"NIC": [{"NETWORK_ID": network}]}}]
    }));
    let body = f.wait_state(id, 7);
    let log = body["log"].to_string();
    assert!(
        log.contains("[fleet] host_command") && log.contains("placed on host `h"),
        "{log}"
    );
}
