//! Deploying, watching, holding and releasing.

use super::builders::*;
use crate::service::lifecycle::{KeyValue, Metric, Service, VmState, VmValues};
use flotilla_model::BackendError;
use serde_json::json;

/// HOLD, straight: `db` released and running, `web` still held.
fn released_parent() -> Kit {
    hold().with(|k| {
        let effects = k.s.release(k.now).unwrap();
        k.drive(effects).settle();
    })
}

pub const CASES: &[Case] = &[
    Case {
        name: "PENDING: a poll before the start changes nothing",
        given: pending,
        when: |k| ok(k.poll()),
        service: "PENDING",
        roles: &[("db", "PENDING"), ("web", "PENDING")],
        effects: &[],
    },
    Case {
        name: "PENDING: scale is refused",
        given: pending,
        when: |k| k.s.scale("web", 2, false, k.now),
        service: "PENDING",
        roles: &[("db", "PENDING"), ("web", "PENDING")],
        effects: &["refused: WrongState"],
    },
    Case {
        name: "start, straight: parents first",
        given: pending,
        when: |k| ok(k.s.start(k.now)),
        service: "DEPLOYING",
        roles: &[("db", "DEPLOYING"), ("web", "PENDING")],
        effects: &["create db"],
    },
    Case {
        name: "start, none: every role at once",
        given: || Kit::new(template("none", json!({}))),
        when: |k| ok(k.s.start(k.now)),
        service: "DEPLOYING",
        roles: &[("db", "DEPLOYING"), ("web", "DEPLOYING")],
        effects: &["create db", "create web"],
    },
    Case {
        name: "start on hold: the first roles created held",
        given: || Kit::new(template("straight", json!({"on_hold": true}))),
        when: |k| ok(k.s.start(k.now)),
        service: "HOLD",
        roles: &[("db", "HOLD"), ("web", "PENDING")],
        effects: &["create db (held)"],
    },
    Case {
        name: "on hold: a child is created held once its parents are",
        given: || Kit::new(template("straight", json!({"on_hold": true}))).start(),
        when: |k| ok(k.poll()),
        service: "HOLD",
        roles: &[("db", "HOLD"), ("web", "HOLD")],
        effects: &["create web (held)"],
    },
    Case {
        name: "a created VM is not up before a poll says so",
        given: deploying,
        when: |_| ok(Vec::new()),
        service: "DEPLOYING",
        roles: &[("db", "DEPLOYING"), ("web", "PENDING")],
        effects: &[],
    },
    Case {
        name: "parent running: the child's turn",
        given: deploying,
        when: |k| ok(k.poll()),
        service: "DEPLOYING",
        roles: &[("db", "RUNNING"), ("web", "DEPLOYING")],
        effects: &["create web"],
    },
    Case {
        name: "every role running: RUNNING",
        given: child_created,
        when: |k| ok(k.poll()),
        service: "RUNNING",
        roles: &[("db", "RUNNING"), ("web", "RUNNING")],
        effects: &[],
    },
    Case {
        name: "ready_status_gate: running but not READY waits",
        given: || {
            Kit::new(template("straight", json!({"ready_status_gate": true})))
                .with(|k| k.ready = false)
                .start()
        },
        when: |k| ok(k.poll()),
        service: "DEPLOYING",
        roles: &[("db", "DEPLOYING"), ("web", "PENDING")],
        effects: &[],
    },
    Case {
        name: "create refused: FAILED_DEPLOYING",
        given: started,
        when: |k| {
            let op = k.op("db");
            k.s.observe_created(&op, Err(BackendError::Refused("no capacity".into())), k.now);
            ok(Vec::new())
        },
        service: "FAILED_DEPLOYING",
        roles: &[("db", "FAILED_DEPLOYING"), ("web", "PENDING")],
        effects: &[],
    },
    Case {
        name: "a VM FAILED while deploying: FAILED_DEPLOYING",
        given: deploying,
        when: |k| ok(k.set("vm-0", VmState::Failed).poll()),
        service: "FAILED_DEPLOYING",
        roles: &[("db", "FAILED_DEPLOYING"), ("web", "PENDING")],
        effects: &[],
    },
    Case {
        name: "deadline passed while deploying: FAILED_DEPLOYING",
        given: || pending().with(|k| k.boot = VmState::Pending).start(),
        when: |k| ok(k.later(WAIT_MS).poll()),
        service: "FAILED_DEPLOYING",
        roles: &[("db", "FAILED_DEPLOYING"), ("web", "PENDING")],
        effects: &[],
    },
    Case {
        name: "deadline not yet passed: still DEPLOYING",
        given: || pending().with(|k| k.boot = VmState::Pending).start(),
        when: |k| ok(k.later(WAIT_MS - 1).poll()),
        service: "DEPLOYING",
        roles: &[("db", "DEPLOYING"), ("web", "PENDING")],
        effects: &[],
    },
    Case {
        name: "recover FAILED_DEPLOYING: the failed VM replaced",
        given: failed_deploying,
        when: |k| k.s.recover(k.now),
        service: "DEPLOYING",
        roles: &[("db", "DEPLOYING"), ("web", "PENDING")],
        effects: &["terminate-hard vm-0", "create db"],
    },
    Case {
        name: "recovered: the replacement runs, deploying goes on",
        given: || {
            failed_deploying().with(|k| {
                let effects = k.s.recover(k.now).unwrap();
                k.drive(effects);
            })
        },
        when: |k| ok(k.poll()),
        service: "DEPLOYING",
        roles: &[("db", "RUNNING"), ("web", "DEPLOYING")],
        effects: &["create web"],
    },
    Case {
        name: "watchdog: a VM POWEROFF puts its role in WARNING",
        given: running,
        when: |k| ok(k.set("vm-1", VmState::Poweroff).poll()),
        service: "WARNING",
        roles: &[("db", "RUNNING"), ("web", "WARNING")],
        effects: &[],
    },
    Case {
        name: "watchdog: a VM UNKNOWN puts its role in WARNING",
        given: running,
        when: |k| ok(k.set("vm-0", VmState::Unknown).poll()),
        service: "WARNING",
        roles: &[("db", "WARNING"), ("web", "RUNNING")],
        effects: &[],
    },
    Case {
        name: "watchdog: a VM FAILED while running puts its role in WARNING",
        given: running,
        when: |k| ok(k.set("vm-1", VmState::Failed).poll()),
        service: "WARNING",
        roles: &[("db", "RUNNING"), ("web", "WARNING")],
        effects: &[],
    },
    Case {
        name: "WARNING: the VM runs again, RUNNING",
        given: warning,
        when: |k| ok(k.set("vm-1", VmState::Running).poll()),
        service: "RUNNING",
        roles: &[("db", "RUNNING"), ("web", "RUNNING")],
        effects: &[],
    },
    Case {
        name: "a VM DONE outside the service leaves its role",
        given: running,
        when: |k| ok(k.set("vm-1", VmState::Done).poll()),
        service: "RUNNING",
        roles: &[("db", "RUNNING"), ("web", "RUNNING")],
        effects: &[],
    },
    Case {
        name: "automatic deletion: every role empty, the service undeploys",
        given: || {
            Kit::new(template("straight", json!({"automatic_deletion": true})))
                .start()
                .settled()
        },
        when: |k| {
            k.set("vm-0", VmState::Done).set("vm-1", VmState::Done);
            ok(k.poll())
        },
        // Children first: `db` waits for `web`, which has nothing left.
        service: "UNDEPLOYING",
        roles: &[("db", "RUNNING"), ("web", "UNDEPLOYING")],
        effects: &[],
    },
    Case {
        name: "release, straight: the parents deploy, their VMs released",
        given: hold,
        when: |k| k.s.release(k.now),
        // `web` waits: its parent is no longer held but not running yet.
        service: "DEPLOYING",
        roles: &[("db", "DEPLOYING"), ("web", "HOLD")],
        effects: &["release vm-0"],
    },
    Case {
        name: "released parent running, the child still held: HOLD",
        given: || {
            hold().with(|k| {
                let effects = k.s.release(k.now).unwrap();
                k.drive(effects);
            })
        },
        when: |k| ok(k.poll()),
        service: "HOLD",
        roles: &[("db", "RUNNING"), ("web", "HOLD")],
        effects: &[],
    },
    Case {
        name: "release again: the child deploys",
        given: released_parent,
        when: |k| k.s.release(k.now),
        service: "DEPLOYING",
        roles: &[("db", "RUNNING"), ("web", "DEPLOYING")],
        effects: &["release vm-1"],
    },
    Case {
        name: "release, none: every held role at once",
        given: || {
            Kit::new(template("none", json!({"on_hold": true})))
                .start()
                .settled()
        },
        when: |k| k.s.release(k.now),
        service: "DEPLOYING",
        roles: &[("db", "DEPLOYING"), ("web", "DEPLOYING")],
        effects: &["release vm-0", "release vm-1"],
    },
    Case {
        name: "released VMs running: RUNNING",
        given: || {
            released_parent().with(|k| {
                let effects = k.s.release(k.now).unwrap();
                k.drive(effects);
            })
        },
        when: |k| ok(k.poll()),
        service: "RUNNING",
        roles: &[("db", "RUNNING"), ("web", "RUNNING")],
        effects: &[],
    },
    Case {
        name: "release with no role on hold is refused",
        given: running,
        when: |k| k.s.release(k.now),
        service: "RUNNING",
        roles: &[("db", "RUNNING"), ("web", "RUNNING")],
        effects: &["refused: WrongState"],
    },
    Case {
        name: "add_role: the new role deploys",
        given: running,
        when: |k| {
            let cache = role(json!({"name": "cache", "type": "vm",
                                    "cardinality": 1, "template_id": 0}));
            k.s.add_role(cache, k.now)
        },
        service: "DEPLOYING",
        roles: &[
            ("db", "RUNNING"),
            ("web", "RUNNING"),
            ("cache", "DEPLOYING"),
        ],
        effects: &["create cache"],
    },
    Case {
        name: "add_role outside RUNNING is refused",
        given: warning,
        when: |k| {
            let cache = role(json!({"name": "cache", "type": "vm",
                                    "cardinality": 1, "template_id": 0}));
            k.s.add_role(cache, k.now)
        },
        service: "WARNING",
        roles: &[("db", "RUNNING"), ("web", "WARNING")],
        effects: &["refused: WrongState"],
    },
];

#[test]
fn deploy_transitions() {
    run(CASES);
}

#[test]
fn a_vm_done_outside_the_service_lowers_the_cardinality() {
    let mut k = running();
    k.set("vm-1", VmState::Done).poll();
    let web = k.s.role("web").unwrap();
    assert_eq!((web.cardinality, web.nodes.len()), (0, 0));
}

#[test]
fn automatic_deletion_ends_with_the_service_deleted() {
    let mut k = Kit::new(template("straight", json!({"automatic_deletion": true})))
        .start()
        .settled();
    k.set("vm-0", VmState::Done).set("vm-1", VmState::Done);
    k.settle();
    assert_eq!(k.status(), DELETED);
}

#[test]
fn creates_recorded_before_the_answer_are_retried_by_operation_id() {
    let k = started();
    let retry = k.s.unconfirmed_creates();
    assert_eq!(retry.len(), 1);
    assert_eq!(retry[0].operation_id, k.op("db").operation_id);
    assert!(deploying().s.unconfirmed_creates().is_empty());
}

#[test]
fn a_create_the_driver_refused_is_not_retried_every_round() {
    let mut k = started();
    let op = k.op("db");
    k.s.observe_created(&op, Err(BackendError::Refused("no capacity".into())), k.now);
    assert_eq!(k.status(), "FAILED_DEPLOYING");
    assert!(k.s.unconfirmed_creates().is_empty());
}

#[test]
fn a_poll_keeps_each_vms_values_without_changing_the_service() {
    let mut k = running();
    let before = k.s.clone();
    k.values = VmValues {
        monitoring: vec![Metric::new("CPU", 95.0), Metric::new("MEMORY", 512.0)],
        attributes: vec![
            KeyValue::new("QUEUE_LENGTH", " 42 "),
            KeyValue::new("CPU", "7"),
        ],
        at_ms: 0,
    };
    assert!(k.poll().is_empty());
    // Only numbers changed: nothing to write.
    assert!(k.s.same_record(&before), "{:#?}", k.s);
    assert_ne!(k.s, before, "the values are the service's all the same");
    let web = &k.s.role("web").unwrap().nodes[0];
    assert_eq!(web.values.get("queue_length"), Some(42.0));
    assert_eq!(web.values.get("MEMORY"), Some(512.0));
    // The VM's own report comes before the hypervisor's monitoring.
    assert_eq!(web.values.get("CPU"), Some(7.0));
    assert_eq!(web.values.get("DISK"), None);
    // Values are observations: a service read back has none until polled.
    let stored: Service = serde_json::from_str(&serde_json::to_string(&k.s).unwrap()).unwrap();
    assert!(
        stored.role("web").unwrap().nodes[0]
            .values
            .monitoring
            .is_empty()
    );
}
