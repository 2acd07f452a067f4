//! Undeploying: in reverse dependency order, automatic deletion,
//! terminate-hard, recover --delete from any state, purge_done.

use crate::{harness, seed};
use flotilla::engine::EngineError;
use flotilla::service::ServiceState;
use flotilla::service::lifecycle::LifecycleError;
use flotilla::sim_hypervisor::State;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undeploy_goes_in_reverse_dependency_order() {
    let h = harness(600_000).await;
    let id = h.engine.instantiate(&seed("straight")).await.unwrap();
    h.tick(id, 3).await;
    h.engine.undeploy(id, false).await.unwrap();
    assert_eq!(h.state(id), ServiceState::Undeploying);
    assert_eq!(
        (h.live_vms("frontend"), h.live_vms("monitor")),
        (0, 0),
        "leaves first"
    );
    assert_eq!((h.live_vms("backend"), h.live_vms("db")), (2, 1));
    h.tick(id, 1).await;
    assert_eq!(
        (h.live_vms("backend"), h.live_vms("db")),
        (0, 1),
        "then backend"
    );
    h.tick(id, 1).await;
    assert_eq!(h.live_vms("db"), 0);
    h.tick(id, 1).await;
    assert!(
        matches!(h.engine.service(id), Err(EngineError::NotFound(_))),
        "the service is gone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_whose_roles_empty_deletes_itself_when_asked_to() {
    let h = harness(600_000).await;
    let template = json!({"name": "ephemeral", "automatic_deletion": true,
        "roles": [{"name": "job", "type": "vm", "cardinality": 1, "template_id": 0}]});
    let id = h.engine.instantiate(&template).await.unwrap();
    h.tick(id, 1).await;
    assert_eq!(h.state(id), ServiceState::Running);
    let vm = h.sim.views()[0].id.clone();
    h.sim.force_state(&vm, State::Done, None).unwrap();
    h.tick(id, 2).await;
    assert!(matches!(
        h.engine.service(id),
        Err(EngineError::NotFound(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_terminate_falls_back_to_terminate_hard() {
    let h = harness(600_000).await;
    let template = json!({"name": "stubborn",
        "roles": [{"name": "app", "type": "vm", "cardinality": 2, "template_id": 0,
                   "template_contents": {"SIM_FAIL": "terminate"}}]});
    let id = h.engine.instantiate(&template).await.unwrap();
    h.tick(id, 1).await;
    assert_eq!(h.state(id), ServiceState::Running);
    h.engine.undeploy(id, false).await.unwrap();
    assert_eq!(h.live_vms("app"), 0, "terminate-hard went through");
    let log = h.engine.service(id).unwrap().log;
    assert!(
        log.iter()
            .any(|l| l.message.contains("trying terminate-hard")),
        "{log:#?}"
    );
    h.tick(id, 1).await;
    assert!(matches!(
        h.engine.service(id),
        Err(EngineError::NotFound(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_state_operations_are_refused_and_change_nothing() {
    let h = harness(600_000).await;
    let template = json!({"name": "slow",
        "roles": [{"name": "app", "type": "vm", "cardinality": 1, "template_id": 0, "min_vms": 1, "max_vms": 3,
                   "template_contents": {"SIM_BOOT_SECONDS": 60}}]});
    let id = h.engine.instantiate(&template).await.unwrap();
    let before = h.engine.service(id).unwrap();
    for result in [
        h.engine.scale(id, "app", 2, false).await.map(|_| ()),
        h.engine.release(id).await.map(|_| ()),
        h.engine.undeploy(id, false).await.map(|_| ()),
    ] {
        assert!(
            matches!(
                result,
                Err(EngineError::Lifecycle(LifecycleError::WrongState(_)))
            ),
            "{result:?}"
        );
    }
    let after = h.engine.service(id).unwrap();
    assert_eq!(before.roles, after.roles);
    // recover --delete works from any state.
    h.engine.undeploy(id, true).await.unwrap();
    h.tick(id, 1).await;
    assert!(matches!(
        h.engine.service(id),
        Err(EngineError::NotFound(_))
    ));
    assert_eq!(h.live_vms("app"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_done_deletes_only_done_services() {
    let h = harness(600_000).await;
    let template = json!({"name": "keep", "roles": [{"name": "r", "type": "vm", "cardinality": 1, "template_id": 0}]});
    let running = h.engine.instantiate(&template).await.unwrap();
    let mut done = flotilla::service::lifecycle::Service::new(
        41,
        flotilla::service::parse_template(&template).unwrap(),
        0,
        600_000,
    );
    done.state = ServiceState::Done;
    h.engine.store().save_service(&done).unwrap();
    assert_eq!(h.engine.purge_done(|_| true).await.unwrap(), [41]);
    assert_eq!(h.engine.service_ids().unwrap(), [running]);
}
