//! Deploying: in parent order or all at once, the ready gate, failed boots
//! and deadlines, holds, concurrent instantiations, refused creates.

use crate::{harness, seed};
use flotilla::service::{RoleState, ServiceState};
use flotilla::sim_hypervisor::State;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn straight_deploys_the_seed_example_in_parent_order() {
    let h = harness(600_000).await;
    let id = h.engine.instantiate(&seed("straight")).await.unwrap();
    assert_eq!(h.state(id), ServiceState::Deploying);
    let vms = h.vms();
    assert_eq!(
        vms.keys().collect::<Vec<_>>(),
        ["db", "monitor"],
        "only roles without parents start"
    );
    h.tick(id, 1).await;
    assert_eq!(h.role_state(id, "db"), RoleState::Running);
    assert_eq!(h.vms()["backend"].len(), 2);
    assert!(
        !h.vms().contains_key("frontend"),
        "frontend waits for backend"
    );
    h.tick(id, 1).await;
    assert_eq!(h.vms()["frontend"].len(), 1);
    h.tick(id, 1).await;
    assert_eq!(h.state(id), ServiceState::Running);
    let service = h.engine.service(id).unwrap();
    assert!(service.roles.iter().all(|r| r.state == RoleState::Running));
    let names: Vec<String> = h
        .sim
        .views()
        .into_iter()
        .filter(|v| v.role_name == "backend")
        .map(|v| v.name)
        .collect();
    assert_eq!(names, ["backend_0_(service_0)", "backend_1_(service_0)"]);
    assert!(
        service
            .log
            .iter()
            .any(|l| l.message == "New state: RUNNING")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn none_deploys_every_role_at_once() {
    let h = harness(600_000).await;
    let id = h.engine.instantiate(&seed("none")).await.unwrap();
    let vms = h.vms();
    assert_eq!(vms.values().map(Vec::len).sum::<usize>(), 5);
    h.tick(id, 1).await;
    assert_eq!(h.state(id), ServiceState::Running);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ready_gate_waits_for_ready_yes() {
    let h = harness(600_000).await;
    let template = json!({"name": "gated", "ready_status_gate": true,
        "roles": [{"name": "app", "type": "vm", "cardinality": 2, "template_id": 1}]});
    let id = h.engine.instantiate(&template).await.unwrap();
    h.tick(id, 2).await;
    assert_eq!(
        h.state(id),
        ServiceState::Deploying,
        "running but not READY=YES yet"
    );
    h.clock.advance_ms(30_000);
    h.tick(id, 1).await;
    assert_eq!(h.state(id), ServiceState::Running);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vm_that_fails_to_boot_fails_the_deploy_and_recover_replaces_it() {
    let h = harness(600_000).await;
    let template = json!({"name": "fragile",
        "roles": [{"name": "app", "type": "vm", "cardinality": 2, "template_id": 0,
                   "template_contents": {"SIM_BOOT_SECONDS": 10}}]});
    let id = h.engine.instantiate(&template).await.unwrap();
    let first = h.sim.views()[0].id.clone();
    h.sim
        .force_state(&first, State::Failed, Some("boot failure: no disk".into()))
        .unwrap();
    h.tick(id, 1).await;
    assert_eq!(h.state(id), ServiceState::FailedDeploying);
    assert_eq!(h.role_state(id, "app"), RoleState::FailedDeploying);
    let log = h.engine.service(id).unwrap().log;
    assert!(
        log.iter().any(|l| l
            .message
            .contains(&format!("VM {first} is FAILED (boot failure: no disk)"))),
        "{log:#?}"
    );

    h.engine.recover(id).await.unwrap();
    assert_eq!(h.state(id), ServiceState::Deploying);
    h.clock.advance_ms(10_000);
    h.tick(id, 2).await;
    assert_eq!(h.state(id), ServiceState::Running);
    assert_eq!(h.live_vms("app"), 2);
    let failed = h.sim.views().into_iter().find(|v| v.id == first).unwrap();
    assert_eq!(failed.state, State::Done, "the failed VM was terminated");
    assert_eq!(
        h.engine
            .service(id)
            .unwrap()
            .role("app")
            .unwrap()
            .nodes
            .len(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_that_outlives_its_deadline_fails_the_service() {
    let h = harness(60_000).await;
    let template = json!({"name": "slow",
        "roles": [{"name": "app", "type": "vm", "cardinality": 1, "template_id": 0,
                   "template_contents": {"SIM_BOOT_SECONDS": 3600}}]});
    let id = h.engine.instantiate(&template).await.unwrap();
    h.tick(id, 1).await;
    assert_eq!(h.state(id), ServiceState::Deploying);
    h.clock.advance_ms(61_000);
    h.tick(id, 1).await;
    assert_eq!(h.state(id), ServiceState::FailedDeploying);
    let log = h.engine.service(id).unwrap().log;
    assert!(
        log.iter().any(|l| l
            .message
            .starts_with("Gave up after 60 s waiting for role(s) app")),
        "{log:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_then_release() {
    let h = harness(600_000).await;
    let mut template = seed("straight");
    template["on_hold"] = json!(true);
    let id = h.engine.instantiate(&template).await.unwrap();
    h.tick(id, 4).await;
    assert_eq!(h.state(id), ServiceState::Hold);
    assert!(
        h.vms().values().flatten().all(|s| *s == State::Hold),
        "{:?}",
        h.vms()
    );
    assert_eq!(h.vms().values().map(Vec::len).sum::<usize>(), 5);
    h.engine.release(id).await.unwrap();
    h.tick(id, 4).await;
    assert_eq!(h.state(id), ServiceState::Running);
    assert!(h.vms().values().flatten().all(|s| *s == State::Running));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_instantiations_get_distinct_services() {
    let h = harness(600_000).await;
    let template = json!({"name": "many", "roles": [{"name": "r", "type": "vm", "cardinality": 1, "template_id": 0}]});
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let engine = h.engine.clone();
        let template = template.clone();
        tasks.spawn(async move { engine.instantiate(&template).await.unwrap() });
    }
    let mut ids = Vec::new();
    while let Some(id) = tasks.join_next().await {
        ids.push(id.unwrap());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 20);
    assert_eq!(h.engine.service_ids().unwrap().len(), 20);
    assert_eq!(h.sim.views().len(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_vm_in_a_batch_of_creates_does_not_stop_the_others() {
    let h = harness(600_000).await;
    // Every role deploys at once, so the three creates go to the driver in
    // one call; the hypervisor refuses the middle role's VM.
    let template = json!({"name": "mixed", "deployment": "none",
    "roles": [
        {"name": "first", "type": "vm", "cardinality": 1, "template_id": 0},
        {"name": "refused", "type": "vm", "cardinality": 1, "template_id": 0,
         "template_contents": {"SIM_FAIL": "create"}},
        {"name": "last", "type": "vm", "cardinality": 1, "template_id": 0}
    ]});
    let id = h.engine.instantiate(&template).await.unwrap();
    let vms = h.vms();
    assert_eq!(
        vms.keys().collect::<Vec<_>>(),
        ["first", "last"],
        "the VMs around the refused one are created"
    );
    let service = h.engine.service(id).unwrap();
    for role in ["first", "last"] {
        let nodes = &service.role(role).unwrap().nodes;
        assert!(nodes.iter().all(|n| n.vm_id.is_some()), "{role}: {nodes:?}");
    }
    let refused = &service.role("refused").unwrap().nodes;
    assert!(refused.iter().all(|n| n.vm_id.is_none()), "{refused:?}");
    assert!(
        service
            .log
            .iter()
            .any(|l| l.message.contains("creating VM") && l.message.contains("SIM_FAIL=create")),
        "{:#?}",
        service.log
    );
    assert_eq!(h.role_state(id, "refused"), RoleState::FailedDeploying);
}
