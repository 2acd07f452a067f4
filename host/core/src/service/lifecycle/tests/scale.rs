//! Scaling, cooldown and recovery of a scale.

use super::builders::*;
use crate::service::lifecycle::VmState;
use flotilla_model::BackendError;

pub const CASES: &[Case] = &[
    Case {
        name: "recover of WARNING replaces the failed VM, as a scale",
        given: || {
            running().with(|k| {
                k.set("vm-1", crate::service::lifecycle::VmState::Failed)
                    .poll();
            })
        },
        when: |k| k.s.recover(k.now),
        service: "SCALING",
        roles: &[("db", "RUNNING"), ("web", "SCALING")],
        effects: &["terminate-hard vm-1", "create web"],
    },
    Case {
        name: "recover of WARNING with only a powered-off VM is refused",
        given: warning,
        when: |k| k.s.recover(k.now),
        service: "WARNING",
        roles: &[("db", "RUNNING"), ("web", "WARNING")],
        effects: &["refused: WrongState"],
    },
    Case {
        name: "scale up: SCALING, a VM created",
        given: running,
        when: |k| k.s.scale("web", 2, false, k.now),
        service: "SCALING",
        roles: &[("db", "RUNNING"), ("web", "SCALING")],
        effects: &["create web"],
    },
    Case {
        name: "scale down: the oldest VM goes first",
        given: running_two_webs,
        when: |k| k.s.scale("web", 1, false, k.now),
        service: "SCALING",
        roles: &[("db", "RUNNING"), ("web", "SCALING")],
        effects: &["terminate vm-1"],
    },
    Case {
        name: "scaled up VMs running: RUNNING (the role's cooldown holds only its policies)",
        given: scaled_up,
        when: |k| ok(k.poll()),
        service: "RUNNING",
        roles: &[("db", "RUNNING"), ("web", "RUNNING")],
        effects: &[],
    },
    Case {
        name: "scaled down VM gone: RUNNING",
        given: scaled_down,
        when: |k| ok(k.poll()),
        service: "RUNNING",
        roles: &[("db", "RUNNING"), ("web", "RUNNING")],
        effects: &[],
    },
    Case {
        name: "a COOLDOWN an earlier release stored ends: RUNNING",
        given: stored_cooldown,
        when: |k| ok(k.later(60_000).poll()),
        service: "RUNNING",
        roles: &[("db", "RUNNING"), ("web", "RUNNING")],
        effects: &[],
    },
    Case {
        name: "a stored COOLDOWN not over: still COOLDOWN",
        given: stored_cooldown,
        when: |k| ok(k.later(59_999).poll()),
        service: "COOLDOWN",
        roles: &[("db", "RUNNING"), ("web", "COOLDOWN")],
        effects: &[],
    },
    Case {
        name: "recover in COOLDOWN ends it",
        given: stored_cooldown,
        when: |k| k.s.recover(k.now),
        service: "RUNNING",
        roles: &[("db", "RUNNING"), ("web", "RUNNING")],
        effects: &[],
    },
    Case {
        name: "a VM FAILED while scaling: FAILED_SCALING",
        given: scaled_up,
        when: |k| ok(k.set("vm-2", VmState::Failed).poll()),
        service: "FAILED_SCALING",
        roles: &[("db", "RUNNING"), ("web", "FAILED_SCALING")],
        effects: &[],
    },
    Case {
        name: "create refused while scaling: FAILED_SCALING",
        given: || {
            running().with(|k| {
                k.s.scale("web", 2, false, k.now).unwrap();
            })
        },
        when: |k| {
            let op = k.op("web");
            k.s.observe_created(&op, Err(BackendError::Refused("no capacity".into())), k.now);
            ok(Vec::new())
        },
        service: "FAILED_SCALING",
        roles: &[("db", "RUNNING"), ("web", "FAILED_SCALING")],
        effects: &[],
    },
    Case {
        name: "deadline passed while scaling: FAILED_SCALING",
        given: || {
            running().with(|k| {
                k.boot = VmState::Pending;
                let effects = k.s.scale("web", 2, false, k.now).unwrap();
                k.drive(effects);
            })
        },
        when: |k| ok(k.later(WAIT_MS).poll()),
        service: "FAILED_SCALING",
        roles: &[("db", "RUNNING"), ("web", "FAILED_SCALING")],
        effects: &[],
    },
    Case {
        name: "recover FAILED_SCALING: the failed VM replaced",
        given: failed_scaling,
        when: |k| k.s.recover(k.now),
        service: "SCALING",
        roles: &[("db", "RUNNING"), ("web", "SCALING")],
        effects: &["terminate-hard vm-2", "create web"],
    },
    Case {
        name: "recovered scale: the replacement runs, RUNNING",
        given: || {
            failed_scaling().with(|k| {
                let effects = k.s.recover(k.now).unwrap();
                k.drive(effects);
            })
        },
        when: |k| ok(k.poll()),
        service: "RUNNING",
        roles: &[("db", "RUNNING"), ("web", "RUNNING")],
        effects: &[],
    },
    Case {
        name: "a user scales a role during its cooldown",
        given: cooldown,
        when: |k| k.s.scale("web", 3, false, k.now),
        service: "SCALING",
        roles: &[("db", "RUNNING"), ("web", "SCALING")],
        effects: &["create web"],
    },
    Case {
        name: "scale in a stored COOLDOWN is refused",
        given: stored_cooldown,
        when: |k| k.s.scale("web", 3, false, k.now),
        service: "COOLDOWN",
        roles: &[("db", "RUNNING"), ("web", "COOLDOWN")],
        effects: &["refused: WrongState"],
    },
    Case {
        name: "scale in WARNING is refused",
        given: warning,
        when: |k| k.s.scale("web", 2, false, k.now),
        service: "WARNING",
        roles: &[("db", "RUNNING"), ("web", "WARNING")],
        effects: &["refused: WrongState"],
    },
    Case {
        name: "scale below min_vms is refused",
        given: running,
        when: |k| k.s.scale("web", 0, false, k.now),
        service: "RUNNING",
        roles: &[("db", "RUNNING"), ("web", "RUNNING")],
        effects: &["refused: Invalid"],
    },
    Case {
        name: "scale below min_vms with force",
        given: running,
        when: |k| k.s.scale("web", 0, true, k.now),
        service: "SCALING",
        roles: &[("db", "RUNNING"), ("web", "SCALING")],
        effects: &["terminate vm-1"],
    },
    Case {
        name: "scale above max_vms is refused",
        given: running,
        when: |k| k.s.scale("web", 4, false, k.now),
        service: "RUNNING",
        roles: &[("db", "RUNNING"), ("web", "RUNNING")],
        effects: &["refused: Invalid"],
    },
    Case {
        name: "scale to the cardinality it has is refused",
        given: running,
        when: |k| k.s.scale("web", 1, false, k.now),
        service: "RUNNING",
        roles: &[("db", "RUNNING"), ("web", "RUNNING")],
        effects: &["refused: Invalid"],
    },
    Case {
        name: "scale of an unknown role",
        given: running,
        when: |k| k.s.scale("cache", 2, false, k.now),
        service: "RUNNING",
        roles: &[("db", "RUNNING"), ("web", "RUNNING")],
        effects: &["refused: NotFound"],
    },
    Case {
        name: "recover of a RUNNING service is refused",
        given: running,
        when: |k| k.s.recover(k.now),
        service: "RUNNING",
        roles: &[("db", "RUNNING"), ("web", "RUNNING")],
        effects: &["refused: WrongState"],
    },
];

#[test]
fn scale_transitions() {
    run(CASES);
}

#[test]
fn a_refusal_in_cooldown_says_how_long_is_left() {
    let mut k = stored_cooldown();
    k.later(20_000);
    let err = k.s.scale("web", 3, false, k.now).unwrap_err();
    assert!(err.to_string().contains("40 s more"), "{err}");
}

#[test]
fn a_finished_scale_starts_the_roles_cooldown_clock() {
    let mut k = running();
    let effects = k.s.scale("web", 2, false, k.now).unwrap();
    k.later(3_000).drive(effects).poll();
    assert_eq!(k.s.role("web").unwrap().autoscale.settled_ms, Some(k.now));
    assert_eq!(k.s.cooldown_until_ms, None);
}
