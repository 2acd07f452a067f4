//! Placement on the life cycle's side: a placement is recorded with its
//! node, a VM no host takes waits and is asked again, and a lost host's
//! VMs are replaced once.

use super::builders::*;
use crate::service::lifecycle::{Effect, Placement, VmAction, VmState};

fn on(host: &str) -> Placement {
    Placement {
        host_id: host[1..].parse().unwrap(),
        host: host.into(),
        cpu: 1.0,
        memory_mb: 256,
    }
}

/// DEPLOYING: `db`'s create is due, not answered.
fn db_due() -> (Kit, Vec<Effect>) {
    let mut k = pending();
    let effects = k.s.start(k.now);
    (k, effects)
}

#[test]
fn a_vm_no_host_takes_waits_with_its_reason_and_is_asked_again() {
    let (mut k, effects) = db_due();
    let [Effect::Create(create)] = effects.as_slice() else {
        panic!("{effects:?}")
    };
    k.s.observe_unplaced(
        create,
        "no host can take it (1 host): h1: DISABLED".into(),
        k.now,
    );
    k.s.observe_unplaced(
        create,
        "no host can take it (1 host): h1: DISABLED".into(),
        k.now,
    );
    let node = &k.s.role("db").unwrap().nodes[0];
    assert!(node.unplaced && node.vm_id.is_none());
    assert_eq!(
        node.reason.as_deref(),
        Some("no host can take it (1 host): h1: DISABLED")
    );
    // Logged once, not every round; the service waits, not failed.
    let logged =
        k.s.log
            .iter()
            .filter(|l| l.message.contains("waits for a host"))
            .count();
    assert_eq!(logged, 1);
    assert_eq!(k.status(), "DEPLOYING");
    // Every round asks again for it.
    assert_eq!(k.s.unconfirmed_creates(), vec![create.clone()]);
    // Placed: recorded before the driver hears of it.
    k.s.placed(create, on("h2"));
    let node = &k.s.role("db").unwrap().nodes[0];
    assert!(!node.unplaced && node.reason.is_none());
    assert_eq!(k.s.placement_of(create), Some(&on("h2")));
    assert_eq!(k.s.vms_on("h2"), vec![("db".to_string(), None)]);
}

#[test]
fn a_vm_waiting_for_a_host_fails_its_role_when_the_wait_runs_out() {
    let (mut k, effects) = db_due();
    let [Effect::Create(create)] = effects.as_slice() else {
        panic!("{effects:?}")
    };
    k.s.observe_unplaced(create, "no host can take it".into(), k.now);
    k.later(WAIT_MS + 1);
    let effects = k.poll();
    k.drive(effects);
    assert_eq!(k.status(), "FAILED_DEPLOYING");
}

#[test]
fn a_lost_host_s_vms_are_replaced_once() {
    let mut k = running();
    // db's VM on h1, web's on h2.
    for (role, host) in [("db", "h1"), ("web", "h2")] {
        let create = k.op(role);
        k.s.placed(&create, on(host));
    }
    let lost = k.s.vms_on("h1");
    assert_eq!(lost.len(), 1);
    let effects = k.s.replace_lost("h1", k.now);
    let terminated: Vec<&str> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Act(a) if a.action == VmAction::TerminateHard => Some(a.vm_id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(terminated, vec![lost[0].1.as_deref().unwrap()]);
    let creates = effects
        .iter()
        .filter(|e| matches!(e, Effect::Create(c) if c.role == "db"))
        .count();
    assert_eq!(creates, 1, "{effects:?}");
    assert_eq!(k.status(), "SCALING");
    // Asked again (the next monitoring round): nothing more.
    assert_eq!(k.s.replace_lost("h1", k.now), vec![]);
    assert!(k.s.vms_on("h1").is_empty());
    // The replacement runs and the old VM is gone: RUNNING again.
    k.drive(effects);
    k.settle();
    assert_eq!(k.status(), "RUNNING");
    assert_eq!(k.s.role("db").unwrap().nodes.len(), 1);
    assert_eq!(k.s.role("web").unwrap().nodes[0].placement, Some(on("h2")));
}

#[test]
fn a_service_that_is_not_running_keeps_its_lost_vms_as_they_are() {
    let (mut k, effects) = db_due();
    let [Effect::Create(create)] = effects.as_slice() else {
        panic!("{effects:?}")
    };
    k.s.placed(create, on("h1"));
    assert_eq!(k.s.replace_lost("h1", k.now), vec![]);
    assert_eq!(k.status(), "DEPLOYING");
    assert_eq!(k.s.role("db").unwrap().nodes[0].vm_state, None::<VmState>);
}
