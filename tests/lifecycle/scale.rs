//! A running service's roles: scaling within bounds, roles added and
//! removed, role actions in batches.

use crate::{Harness, harness, seed};
use flotilla::engine::EngineError;
use flotilla::service::ServiceState;
use flotilla::service::lifecycle::LifecycleError;
use flotilla::sim_hypervisor::State;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_within_bounds_and_again_during_the_cooldown() {
    let h = harness(600_000).await;
    let id = h.engine.instantiate(&seed("straight")).await.unwrap();
    h.tick(id, 3).await;
    assert_eq!(h.state(id), ServiceState::Running);

    match h.engine.scale(id, "backend", 5, false).await {
        Err(EngineError::Lifecycle(LifecycleError::Invalid(m))) => {
            assert!(m.contains("above max_vms (4)"), "{m}")
        }
        other => panic!("expected a refusal, got {:?}", other.map(|s| s.state)),
    }
    assert_eq!(h.live_vms("backend"), 2, "a refused scale changes nothing");

    h.engine.scale(id, "backend", 3, false).await.unwrap();
    assert_eq!(h.state(id), ServiceState::Scaling);
    assert_eq!(h.live_vms("backend"), 3);
    h.tick(id, 1).await;
    // The role's cooldown holds back only its policies: the service is
    // RUNNING and a user scales at once.
    assert_eq!(h.state(id), ServiceState::Running);
    h.engine.scale(id, "backend", 4, false).await.unwrap();
    h.tick(id, 1).await;
    assert_eq!(h.state(id), ServiceState::Running);
    assert_eq!(h.live_vms("backend"), 4);

    // Down: the oldest VMs go.
    h.engine.scale(id, "backend", 1, false).await.unwrap();
    h.tick(id, 1).await;
    assert_eq!(h.live_vms("backend"), 1);
    let left: Vec<String> = h
        .sim
        .views()
        .into_iter()
        .filter(|v| v.role_name == "backend" && v.state != State::Done)
        .map(|v| v.name)
        .collect();
    assert_eq!(left, ["backend_3_(service_0)"]);
    h.clock.advance_ms(60_000);
    h.tick(id, 1).await;
    assert!(matches!(
        h.engine.scale(id, "backend", 0, false).await,
        Err(EngineError::Lifecycle(LifecycleError::Invalid(_)))
    ));
    h.engine.scale(id, "backend", 6, true).await.unwrap();
    assert_eq!(h.live_vms("backend"), 6, "force goes past max_vms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_are_added_and_removed_on_a_running_service() {
    let h = harness(600_000).await;
    let id = h.engine.instantiate(&seed("straight")).await.unwrap();
    h.tick(id, 3).await;
    let cache = json!({"name": "cache", "type": "vm", "cardinality": 2, "template_id": 0, "parents": ["db"]});
    h.engine.add_role(id, &cache).await.unwrap();
    assert_eq!(h.state(id), ServiceState::Deploying);
    assert_eq!(h.live_vms("cache"), 2);
    h.tick(id, 1).await;
    assert_eq!(h.state(id), ServiceState::Running);

    let duplicate = json!({"name": "cache", "type": "vm", "cardinality": 1, "template_id": 0});
    let err = h
        .engine
        .add_role(id, &duplicate)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("role name `cache` is repeated"), "{err}");
    let err = h
        .engine
        .remove_role(id, "db")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("`db` is a parent of"), "{err}");

    h.engine.remove_role(id, "cache").await.unwrap();
    assert_eq!(h.state(id), ServiceState::Undeploying);
    h.tick(id, 1).await;
    assert_eq!(h.state(id), ServiceState::Running);
    let service = h.engine.service(id).unwrap();
    assert!(service.role("cache").is_none() && service.template.role("cache").is_none());
    assert_eq!(h.live_vms("cache"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_actions_run_in_batches_period_seconds_apart() {
    let h = harness(600_000).await;
    let template = json!({"name": "fleet", "roles": [{"name": "worker", "type": "vm", "cardinality": 5, "template_id": 0}]});
    let id = h.engine.instantiate(&template).await.unwrap();
    h.tick(id, 1).await;
    let powered_off = |h: &Harness| {
        h.sim
            .views()
            .iter()
            .filter(|v| v.state == State::Poweroff)
            .count()
    };

    h.engine
        .role_action(id, "worker", &batched("poweroff", 60, 2))
        .await
        .unwrap();
    assert_eq!(powered_off(&h), 2, "the first batch at once");
    h.clock.advance_ms(59_000);
    h.tick(id, 1).await;
    assert_eq!(powered_off(&h), 2);
    h.clock.advance_ms(1_000);
    h.tick(id, 1).await;
    assert_eq!(powered_off(&h), 4, "the second batch a period later");
    h.clock.advance_ms(60_000);
    h.tick(id, 1).await;
    assert_eq!(powered_off(&h), 5);
    // Actions are typed: a name that is no VM action never reaches the
    // engine (the API refuses it; see tests/api/scenario/services.rs).
    let err = flotilla::model::VmAction::try_from("explode".to_string()).unwrap_err();
    assert!(
        err.to_string().starts_with("`explode` is not a VM action"),
        "{err}"
    );
}

fn batched(
    action: &str,
    period_s: u64,
    number: u64,
) -> flotilla::service::lifecycle::VmActionRequest {
    flotilla::service::lifecycle::VmActionRequest {
        action: flotilla::model::VmAction::parse(action).expect("a VM action"),
        args: Vec::new(),
        period_s,
        number,
    }
}
