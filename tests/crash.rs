//! Kill -9 the server in the middle of deploying 50 services, start it
//! again on the same data directory: every service reaches RUNNING and the
//! hypervisor holds exactly the VMs the services list.

mod common;

use common::{Server, free_port, http};
use flotilla::service::lifecycle::Service;
use flotilla::service::{ServiceState, parse_template};
use flotilla::store::Store;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const SERVICES: u64 = 50;
const VMS_PER_SERVICE: usize = 5;

/// The simulated hypervisor's VMs, or None while it is not answering.
fn sim_vms(port: u16) -> Option<Vec<Value>> {
    let (_, body) = http(port, "GET", "/vms", &[], "")?;
    let value: Value = serde_json::from_str(&body).ok()?;
    value["vms"].as_array().cloned()
}

fn template() -> Value {
    json!({
        "name": "three-tier",
        "deployment": "straight",
        "roles": [
            {"name": "db", "type": "vm", "cardinality": 1, "template_id": 0},
            {"name": "app", "type": "vm", "cardinality": 2, "template_id": 0, "parents": ["db"]},
            {"name": "web", "type": "vm", "cardinality": 2, "template_id": 0, "parents": ["app"]}
        ]
    })
}

#[test]
fn a_killed_server_resumes_every_deploy_without_duplicates_or_orphans() {
    let data = tempfile::tempdir().unwrap();
    std::fs::write(
        data.path().join("flotilla.toml"),
        "[engine]\ntick_ms = 50\n\n[sim]\nboot_seconds = 0.2\n",
    )
    .unwrap();
    {
        // 50 services, stored before the server starts: it picks them up.
        let store = Store::open(&data.path().join("flotilla.db")).unwrap();
        let attrs = json!({"CPU": "1", "MEMORY": "256"})
            .as_object()
            .unwrap()
            .clone();
        store
            .create_vm_template("small", Default::default(), attrs)
            .unwrap();
        let t = parse_template(&template()).unwrap();
        for id in 0..SERVICES {
            store
                .save_service(&Service::new(id, t.clone(), 0, 600_000))
                .unwrap();
        }
    }
    let total = SERVICES as usize * VMS_PER_SERVICE;
    let (api, sim) = (free_port(), free_port());

    let server = Server::start_on(data.path(), api, sim);
    // Wait (bounded) until the deploy is well under way, then kill -9.
    let started = Instant::now();
    let mut seen = 0;
    while started.elapsed() < Duration::from_secs(60) {
        seen = sim_vms(sim).map_or(0, |v| v.len());
        if seen >= total / 5 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(server); // SIGKILL
    if seen < total / 5 {
        let store = Store::open(&data.path().join("flotilla.db")).unwrap();
        let first = store.service(0).unwrap().map(|s| (s.state, s.log));
        panic!("the deploy never got going ({seen} VMs); service 0: {first:?}");
    }
    assert!(sim_vms(sim).is_none(), "the server is gone");
    {
        let store = Store::open(&data.path().join("flotilla.db")).unwrap();
        let running = (0..SERVICES)
            .filter(|id| {
                store
                    .service(*id)
                    .unwrap()
                    .is_some_and(|s| s.state == ServiceState::Running)
            })
            .count();
        assert!(
            running < SERVICES as usize,
            "killed too late: every service was already running"
        );
    }

    let _server = Server::start_on(data.path(), api, sim);
    let started = Instant::now();
    let store = Store::open(&data.path().join("flotilla.db")).unwrap();
    let running = loop {
        let states: Vec<ServiceState> = (0..SERVICES)
            .filter_map(|id| store.service(id).ok().flatten().map(|s| s.state))
            .collect();
        let running = states
            .iter()
            .filter(|s| **s == ServiceState::Running)
            .count();
        if running == SERVICES as usize || started.elapsed() > Duration::from_secs(90) {
            break running;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        running, SERVICES as usize,
        "not every service reached RUNNING after the restart"
    );

    let vms = sim_vms(sim).expect("the hypervisor answers");
    let live: Vec<&Value> = vms.iter().filter(|v| v["state"] != "DONE").collect();
    let operations: BTreeSet<&str> = live
        .iter()
        .filter_map(|v| v["operation_id"].as_str())
        .collect();
    assert_eq!(
        live.len(),
        total,
        "{} VMs on the hypervisor, {total} expected",
        live.len()
    );
    assert_eq!(operations.len(), total, "an operation made two VMs");
    let listed: BTreeSet<String> = (0..SERVICES)
        .flat_map(|id| {
            let s = store.service(id).unwrap().unwrap();
            s.roles
                .into_iter()
                .flat_map(|r| r.nodes.into_iter().filter_map(|n| n.vm_id))
                .collect::<Vec<_>>()
        })
        .collect();
    let on_hypervisor: BTreeSet<String> = live
        .iter()
        .filter_map(|v| v["id"].as_str().map(str::to_string))
        .collect();
    assert_eq!(
        listed, on_hypervisor,
        "the services list exactly the hypervisor's VMs"
    );
}
