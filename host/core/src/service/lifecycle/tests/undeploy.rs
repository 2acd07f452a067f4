//! Undeploying a service and removing a role.

use super::builders::*;
use crate::service::lifecycle::{VmAct, VmAction, VmState};
use flotilla_model::BackendError;
use serde_json::json;

pub const CASES: &[Case] = &[
    Case {
        name: "undeploy, straight: children first",
        given: running,
        when: |k| k.s.undeploy(k.now, false),
        service: "UNDEPLOYING",
        roles: &[("db", "RUNNING"), ("web", "UNDEPLOYING")],
        effects: &["terminate vm-1"],
    },
    Case {
        name: "undeploy, none: every role at once",
        given: running_none,
        when: |k| k.s.undeploy(k.now, false),
        service: "UNDEPLOYING",
        roles: &[("db", "UNDEPLOYING"), ("web", "UNDEPLOYING")],
        effects: &["terminate vm-0", "terminate vm-1"],
    },
    Case {
        name: "undeploy with shutdown_action terminate-hard",
        given: || {
            Kit::new(template(
                "straight",
                json!({"shutdown_action": "terminate-hard"}),
            ))
            .start()
            .settled()
        },
        when: |k| k.s.undeploy(k.now, false),
        service: "UNDEPLOYING",
        roles: &[("db", "RUNNING"), ("web", "UNDEPLOYING")],
        effects: &["terminate-hard vm-1"],
    },
    Case {
        name: "the child gone: DONE, the parent's turn",
        given: undeploying,
        when: |k| ok(k.poll()),
        service: "UNDEPLOYING",
        roles: &[("db", "UNDEPLOYING"), ("web", "DONE")],
        effects: &["terminate vm-0"],
    },
    Case {
        name: "every role DONE: the service is deleted",
        given: || {
            undeploying().with(|k| {
                let effects = k.poll();
                k.drive(effects);
            })
        },
        when: |k| ok(k.poll()),
        service: DELETED,
        roles: &[("db", "DONE"), ("web", "DONE")],
        effects: &[],
    },
    Case {
        name: "a repeated undeploy changes nothing",
        given: undeploying,
        when: |k| k.s.undeploy(k.now, false),
        service: "UNDEPLOYING",
        roles: &[("db", "RUNNING"), ("web", "UNDEPLOYING")],
        effects: &[],
    },
    Case {
        name: "undeploy of a PENDING service: nothing to terminate",
        given: pending,
        when: |k| k.s.undeploy(k.now, false),
        service: "UNDEPLOYING",
        roles: &[("db", "PENDING"), ("web", "UNDEPLOYING")],
        effects: &[],
    },
    Case {
        name: "undeploy of a WARNING service",
        given: warning,
        when: |k| k.s.undeploy(k.now, false),
        service: "UNDEPLOYING",
        roles: &[("db", "RUNNING"), ("web", "UNDEPLOYING")],
        effects: &["terminate vm-1"],
    },
    Case {
        name: "undeploy of a HOLD service",
        given: hold,
        when: |k| k.s.undeploy(k.now, false),
        service: "UNDEPLOYING",
        roles: &[("db", "HOLD"), ("web", "UNDEPLOYING")],
        effects: &["terminate vm-1"],
    },
    Case {
        name: "a soft terminate refused falls back to a hard one",
        given: running,
        when: |k| {
            k.s.undeploy(k.now, false)?;
            let act = VmAct {
                vm_id: "vm-1".into(),
                action: VmAction::Terminate,
                args: Vec::new(),
                requested: false,
            };
            ok(k.s.observe_acted(&act, Err(BackendError::Refused("busy".into())), k.now))
        },
        service: "UNDEPLOYING",
        roles: &[("db", "RUNNING"), ("web", "UNDEPLOYING")],
        effects: &["terminate-hard vm-1"],
    },
    Case {
        name: "a hard terminate refused: FAILED_UNDEPLOYING",
        given: running,
        when: |k| {
            k.s.undeploy(k.now, false)?;
            let act = VmAct {
                vm_id: "vm-1".into(),
                action: VmAction::TerminateHard,
                args: Vec::new(),
                requested: false,
            };
            ok(k.s.observe_acted(&act, Err(BackendError::Refused("busy".into())), k.now))
        },
        service: "FAILED_UNDEPLOYING",
        roles: &[("db", "RUNNING"), ("web", "FAILED_UNDEPLOYING")],
        effects: &[],
    },
    Case {
        name: "deadline passed while undeploying: FAILED_UNDEPLOYING",
        given: || {
            running().with(|k| {
                // Sent but never carried out: the VM stays RUNNING.
                k.s.undeploy(k.now, false).unwrap();
            })
        },
        when: |k| ok(k.later(WAIT_MS).poll()),
        service: "FAILED_UNDEPLOYING",
        roles: &[("db", "RUNNING"), ("web", "FAILED_UNDEPLOYING")],
        effects: &[],
    },
    Case {
        name: "recover FAILED_UNDEPLOYING: retried with terminate-hard",
        given: failed_undeploying,
        when: |k| k.s.recover(k.now),
        service: "UNDEPLOYING",
        roles: &[("db", "RUNNING"), ("web", "UNDEPLOYING")],
        effects: &["terminate-hard vm-1"],
    },
    Case {
        name: "undeploy of a failed service is refused",
        given: failed_deploying,
        when: |k| k.s.undeploy(k.now, false),
        service: "FAILED_DEPLOYING",
        roles: &[("db", "FAILED_DEPLOYING"), ("web", "PENDING")],
        effects: &["refused: WrongState"],
    },
    Case {
        name: "a forced undeploy (recover --delete) works from a failed state",
        given: failed_undeploying,
        when: |k| k.s.undeploy(k.now, true),
        service: "UNDEPLOYING",
        roles: &[("db", "RUNNING"), ("web", "UNDEPLOYING")],
        effects: &["terminate vm-1"],
    },
    Case {
        name: "remove_role: its VMs terminated",
        given: running,
        when: |k| k.s.remove_role("web", k.now),
        service: "UNDEPLOYING",
        roles: &[("db", "RUNNING"), ("web", "UNDEPLOYING")],
        effects: &["terminate vm-1"],
    },
    Case {
        name: "removed role's VMs gone: it leaves, RUNNING",
        given: removing_web,
        when: |k| ok(k.poll()),
        service: "RUNNING",
        roles: &[("db", "RUNNING")],
        effects: &[],
    },
    Case {
        name: "remove_role of a parent is refused",
        given: running,
        when: |k| k.s.remove_role("db", k.now),
        service: "RUNNING",
        roles: &[("db", "RUNNING"), ("web", "RUNNING")],
        effects: &["refused: Invalid"],
    },
    Case {
        name: "remove_role of an unknown role",
        given: running,
        when: |k| k.s.remove_role("cache", k.now),
        service: "RUNNING",
        roles: &[("db", "RUNNING"), ("web", "RUNNING")],
        effects: &["refused: NotFound"],
    },
    Case {
        name: "remove_role outside RUNNING is refused",
        given: warning,
        when: |k| k.s.remove_role("web", k.now),
        service: "WARNING",
        roles: &[("db", "RUNNING"), ("web", "WARNING")],
        effects: &["refused: WrongState"],
    },
    Case {
        name: "undeploy during a remove_role takes the whole service",
        given: removing_web,
        when: |k| k.s.undeploy(k.now, false),
        service: "UNDEPLOYING",
        roles: &[("db", "RUNNING"), ("web", "UNDEPLOYING")],
        effects: &["terminate vm-1"],
    },
];

#[test]
fn undeploy_transitions() {
    run(CASES);
}

#[test]
fn undeploy_goes_children_first_to_the_end() {
    let mut k = running();
    let effects = k.s.undeploy(k.now, false).unwrap();
    let mut order = summary(&Ok(effects.clone()));
    k.drive(effects);
    for _ in 0..4 {
        let effects = k.poll();
        order.extend(summary(&Ok(effects.clone())));
        k.drive(effects);
    }
    assert_eq!(order, ["terminate vm-1", "terminate vm-0"]);
    assert_eq!(k.status(), DELETED);
    assert!(k.s.vm_ids().is_empty());
    assert_eq!(k.vms.values().filter(|s| **s != VmState::Done).count(), 0);
}
