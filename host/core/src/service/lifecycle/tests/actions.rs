//! Users' VM actions, batched and scheduled, and the outbox.

use super::builders::*;
use crate::service::lifecycle::{Effect, VmAct, VmAction, VmActionRequest};
use flotilla_model::BackendError;

fn request(action: &str, number: u64, period_s: u64) -> VmActionRequest {
    VmActionRequest {
        action: VmAction::parse(action).expect("a VM action"),
        args: Vec::new(),
        period_s,
        number,
    }
}

fn act(vm_id: &str, action: &str, requested: bool) -> VmAct {
    VmAct {
        vm_id: vm_id.to_string(),
        action: VmAction::parse(action).expect("a VM action"),
        args: Vec::new(),
        requested,
    }
}

/// RUNNING with two `web` VMs (vm-1, vm-2) rebooted one a minute, the
/// first batch sent.
fn batched() -> Kit {
    running_two_webs().with(|k| {
        let effects = k.s.role_action("web", &request("reboot", 1, 60), k.now);
        k.drive(effects.unwrap());
    })
}

pub const CASES: &[Case] = &[
    Case {
        name: "role action, all at once",
        given: running_two_webs,
        when: |k| k.s.role_action("web", &request("reboot", 0, 0), k.now),
        service: "RUNNING",
        roles: &[("db", "RUNNING"), ("web", "RUNNING")],
        effects: &["reboot vm-1", "reboot vm-2"],
    },
    Case {
        name: "role action in batches: the first batch now",
        given: running_two_webs,
        when: |k| k.s.role_action("web", &request("reboot", 1, 60), k.now),
        service: "RUNNING",
        roles: &[("db", "RUNNING"), ("web", "RUNNING")],
        effects: &["reboot vm-1"],
    },
    Case {
        name: "the next batch once its period has passed",
        given: batched,
        when: |k| ok(k.later(60_000).poll()),
        service: "RUNNING",
        roles: &[("db", "RUNNING"), ("web", "RUNNING")],
        effects: &["reboot vm-2"],
    },
    Case {
        name: "the next batch not yet due",
        given: batched,
        when: |k| ok(k.later(59_999).poll()),
        service: "RUNNING",
        roles: &[("db", "RUNNING"), ("web", "RUNNING")],
        effects: &[],
    },
    Case {
        name: "a cancelled batch is not sent",
        given: batched,
        when: |k| {
            k.s.delete_sched_action(Some("web"), 0, k.now)?;
            ok(k.later(60_000).poll())
        },
        service: "RUNNING",
        roles: &[("db", "RUNNING"), ("web", "RUNNING")],
        effects: &[],
    },
    Case {
        name: "service action: every role",
        given: running,
        when: |k| k.s.service_action(&request("reboot", 0, 0), k.now),
        service: "RUNNING",
        roles: &[("db", "RUNNING"), ("web", "RUNNING")],
        effects: &["reboot vm-0", "reboot vm-1"],
    },
    Case {
        name: "one VM's action (a VM asking through OneGate): that VM only, at once",
        given: running_two_webs,
        when: |k| k.s.vm_action("vm-2", VmAction::Poweroff, Vec::new(), k.now),
        service: "RUNNING",
        roles: &[("db", "RUNNING"), ("web", "RUNNING")],
        effects: &["poweroff vm-2"],
    },
    Case {
        name: "one VM's action on a VM not in the service is refused",
        given: running_two_webs,
        when: |k| k.s.vm_action("vm-9", VmAction::Poweroff, Vec::new(), k.now),
        service: "RUNNING",
        roles: &[("db", "RUNNING"), ("web", "RUNNING")],
        effects: &["refused: NotFound"],
    },
    Case {
        name: "one VM's action in a stored COOLDOWN is refused",
        given: stored_cooldown,
        when: |k| k.s.vm_action("vm-1", VmAction::Reboot, Vec::new(), k.now),
        service: "COOLDOWN",
        roles: &[("db", "RUNNING"), ("web", "COOLDOWN")],
        effects: &["refused: WrongState"],
    },
    Case {
        name: "VM actions are allowed in HOLD",
        given: hold,
        when: |k| k.s.role_action("db", &request("release", 0, 0), k.now),
        service: "HOLD",
        roles: &[("db", "HOLD"), ("web", "HOLD")],
        effects: &["release vm-0"],
    },
    Case {
        name: "a VM action a user asked for, refused: the service runs on",
        given: running,
        when: |k| {
            ok(k.s.observe_acted(
                &act("vm-1", "poweroff", true),
                Err(BackendError::Refused("no".into())),
                k.now,
            ))
        },
        service: "RUNNING",
        roles: &[("db", "RUNNING"), ("web", "RUNNING")],
        effects: &[],
    },
    Case {
        name: "a life-cycle release refused: FAILED_DEPLOYING",
        given: || {
            hold().with(|k| {
                k.s.release(k.now).unwrap();
            })
        },
        when: |k| {
            ok(k.s.observe_acted(
                &act("vm-0", "release", false),
                Err(BackendError::Refused("no".into())),
                k.now,
            ))
        },
        service: "FAILED_DEPLOYING",
        roles: &[("db", "FAILED_DEPLOYING"), ("web", "HOLD")],
        effects: &[],
    },
    Case {
        name: "a VM action in a stored COOLDOWN is refused",
        given: stored_cooldown,
        when: |k| k.s.role_action("web", &request("reboot", 0, 0), k.now),
        service: "COOLDOWN",
        roles: &[("db", "RUNNING"), ("web", "COOLDOWN")],
        effects: &["refused: WrongState"],
    },
    Case {
        name: "a period over a year is refused",
        given: running,
        when: |k| {
            k.s.role_action("web", &request("reboot", 1, 400 * 24 * 3600), k.now)
        },
        service: "RUNNING",
        roles: &[("db", "RUNNING"), ("web", "RUNNING")],
        effects: &["refused: Invalid"],
    },
    Case {
        name: "a VM action on an unknown role",
        given: running,
        when: |k| k.s.role_action("cache", &request("reboot", 0, 0), k.now),
        service: "RUNNING",
        roles: &[("db", "RUNNING"), ("web", "RUNNING")],
        effects: &["refused: NotFound"],
    },
];

#[test]
fn action_transitions() {
    run(CASES);
}

#[test]
fn a_refused_user_action_is_noted_on_the_vm() {
    let mut k = running();
    k.s.observe_acted(
        &act("vm-1", "poweroff", true),
        Err(BackendError::Refused("busy".into())),
        k.now,
    );
    let web = k.s.role("web").unwrap();
    assert_eq!(
        web.nodes[0].reason.as_deref(),
        Some("poweroff refused: busy")
    );
}

#[test]
fn the_outbox_keeps_actions_until_answered() {
    let mut k = running();
    let effects = k.s.undeploy(k.now, false).unwrap();
    k.s.record(&effects);
    assert_eq!(k.s.outbox, [act("vm-1", "terminate", false)]);
    // Creates are retried by operation id, not from the outbox.
    let creates = k.s.scale("web", 2, true, k.now).unwrap_or_default();
    k.s.record(&creates);
    assert_eq!(k.s.outbox.len(), 1);
    k.s.observe_acted(&act("vm-1", "terminate", false), Ok(()), k.now);
    assert!(k.s.outbox.is_empty());
}

#[test]
fn a_terminate_falling_back_to_hard_is_in_the_outbox() {
    let mut k = running();
    let effects = k.s.undeploy(k.now, false).unwrap();
    k.s.record(&effects);
    let next = k.s.observe_acted(
        &act("vm-1", "terminate", false),
        Err(BackendError::Refused("busy".into())),
        k.now,
    );
    assert_eq!(next, [Effect::Act(act("vm-1", "terminate-hard", false))]);
    assert_eq!(k.s.outbox, [act("vm-1", "terminate-hard", false)]);
}

#[test]
fn the_kit_drives_like_the_engine_and_leaves_the_outbox_empty() {
    let mut k = batched();
    k.later(60_000).settle();
    assert!(k.s.outbox.is_empty());
    assert!(k.s.scheduled_actions.is_empty());
}
