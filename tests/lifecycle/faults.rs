//! Faults: VMs that change behind Flotilla's back, orphans reconciled, a
//! driver that traps.

use crate::{harness, seed};
use flotilla::clock::ManualClock;
use flotilla::engine::Engine;
use flotilla::plugin::{Driver, Grant, PluginHost, builtin};
use flotilla::service::{RoleState, ServiceState};
use flotilla::sim_hypervisor::State;
use flotilla::store::SqliteStore;
use serde_json::json;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watchdog_follows_done_and_failed_vms() {
    let h = harness(600_000).await;
    let id = h.engine.instantiate(&seed("none")).await.unwrap();
    h.tick(id, 1).await;
    assert_eq!(h.state(id), ServiceState::Running);
    let backend: Vec<String> = h
        .sim
        .views()
        .into_iter()
        .filter(|v| v.role_name == "backend")
        .map(|v| v.id)
        .collect();

    // A VM terminated behind Flotilla's back leaves the role.
    h.sim.force_state(&backend[0], State::Done, None).unwrap();
    h.tick(id, 1).await;
    let service = h.engine.service(id).unwrap();
    let role = service.role("backend").unwrap();
    assert_eq!((role.cardinality, role.nodes.len()), (1, 1));
    assert_eq!(service.state, ServiceState::Running);

    // A FAILED VM puts the role and service in WARNING until it recovers.
    h.sim
        .force_state(&backend[1], State::Failed, Some("host down".into()))
        .unwrap();
    h.tick(id, 1).await;
    assert_eq!(
        (h.state(id), h.role_state(id, "backend")),
        (ServiceState::Warning, RoleState::Warning)
    );
    h.sim
        .force_state(&backend[1], State::Running, None)
        .unwrap();
    h.tick(id, 1).await;
    assert_eq!(
        (h.state(id), h.role_state(id, "backend")),
        (ServiceState::Running, RoleState::Running)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciliation_terminates_vms_no_service_owns() {
    let h = harness(600_000).await;
    let id = h.engine.instantiate(&seed("none")).await.unwrap();
    // A VM made under a service operation id that no service recorded:
    // what a crash between a create and a deleted service can leave.
    let orphan = h
        .sim
        .create(flotilla::sim_hypervisor::CreateRequest {
            operation_id: "service-77-web-0".into(),
            service_id: 77,
            role_name: "web".into(),
            name: "web_0_(service_77)".into(),
            template: json!({}),
            hold: false,
        })
        .unwrap();
    let (adopted, orphans) = h.engine.reconcile().await.unwrap();
    assert_eq!((adopted, orphans), (0, 1));
    let vm = h.sim.views().into_iter().find(|v| v.id == orphan).unwrap();
    assert_eq!(vm.state, State::Done);
    // The service's own VMs are untouched.
    h.tick(id, 1).await;
    assert_eq!(h.state(id), ServiceState::Running);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_driver_fault_fails_the_service_with_the_reason_in_its_log() {
    let host = PluginHost::new(None).unwrap();
    let path = builtin::dist_path("trap");
    let manifest = flotilla::plugin::Manifest::parse(
        &std::fs::read_to_string(path.with_extension("toml")).unwrap(),
    )
    .unwrap();
    let plugin = host
        .load(manifest, &std::fs::read(&path).unwrap(), Grant::default())
        .unwrap();
    let store = SqliteStore::in_memory().unwrap().boxed();
    store
        .create_vm_template("small", Default::default(), serde_json::Map::new())
        .unwrap();
    let clock = ManualClock::new(0);
    let engine = Engine::new(
        store,
        Arc::new(Driver::start(plugin).unwrap()),
        clock,
        600_000,
    );
    let template = json!({"name": "doomed", "roles": [{"name": "app", "type": "vm", "cardinality": 1, "template_id": 0}]});
    let id = engine.instantiate(&template).await.unwrap();
    let service = engine.service(id).unwrap();
    assert_eq!(service.state, ServiceState::FailedDeploying);
    let line = service
        .log
        .iter()
        .find(|l| l.message.contains("creating VM"))
        .unwrap();
    assert!(
        line.message.contains("app_0_(service_0)"),
        "{}",
        line.message
    );
    assert!(
        line.message
            .contains("plugin `trap` fault (trap): panicked at"),
        "{}",
        line.message
    );
    // The engine still answers.
    assert_eq!(engine.service_ids().unwrap(), [id]);
}
