//! A service's own networks: deployed before the roles, removed after
//! them, failures in their own states and recovered from there.

use super::builders::*;
use serde_json::json;

/// `db` and `web` on three networks: an existing one, a reservation and
/// a template instance.
fn networked() -> Kit {
    Kit::new(template(
        "straight",
        json!({
            "networks": {
                "Public": "M|network|public||id:0",
                "Private": "M|network|private||",
                "Lab": "O|network|lab||"
            },
            "networks_values": [
                {"Private": {"reserve_from": "1", "extra": "SIZE=4"}},
                {"Lab": {"template_id": "2"}},
                {"Public": {"id": "0"}}
            ]
        }),
    ))
}

fn nets_failed() -> Kit {
    networked().with(|k| {
        k.refuse = vec!["network"];
        let effects = k.s.start(k.now);
        k.drive(effects);
        k.refuse.clear();
    })
}

fn nets_running() -> Kit {
    networked().start().settled()
}

fn nets_roles_gone() -> Kit {
    nets_running().with(|k| {
        let effects = k.s.undeploy(k.now, false).unwrap();
        k.drive(effects).settle();
    })
}

fn nets_undeploy_failed() -> Kit {
    nets_running().with(|k| {
        k.refuse = vec!["network-undeploy"];
        let effects = k.s.undeploy(k.now, false).unwrap();
        k.drive(effects).settle();
        k.refuse.clear();
    })
}

pub const CASES: &[Case] = &[
    Case {
        name: "start with networks: DEPLOYING_NETS, every network at once, no VM yet",
        given: networked,
        when: |k| Ok(k.s.start(k.now)),
        service: "DEPLOYING_NETS",
        roles: &[("db", "PENDING"), ("web", "PENDING")],
        effects: &["deploy-net Private", "deploy-net Lab", "deploy-net Public"],
    },
    Case {
        name: "every network ready: the roles deploy",
        given: || {
            networked().with(|k| {
                let effects = k.s.start(k.now);
                k.drive(effects);
            })
        },
        when: |k| ok(k.poll()),
        service: "DEPLOYING",
        roles: &[("db", "DEPLOYING"), ("web", "PENDING")],
        effects: &["create db"],
    },
    Case {
        name: "a network refused: FAILED_DEPLOYING_NETS",
        given: networked,
        when: |k| {
            k.refuse = vec!["network"];
            let effects = k.s.start(k.now);
            k.drive(effects);
            ok(Vec::new())
        },
        service: "FAILED_DEPLOYING_NETS",
        roles: &[("db", "PENDING"), ("web", "PENDING")],
        effects: &[],
    },
    Case {
        name: "recover of FAILED_DEPLOYING_NETS deploys what is missing again",
        given: nets_failed,
        when: |k| k.s.recover(k.now),
        service: "DEPLOYING_NETS",
        roles: &[("db", "PENDING"), ("web", "PENDING")],
        effects: &["deploy-net Private", "deploy-net Lab", "deploy-net Public"],
    },
    Case {
        name: "the roles gone: UNDEPLOYING_NETS removes only the networks it made",
        given: || {
            nets_running().with(|k| {
                let effects = k.s.undeploy(k.now, false).unwrap();
                k.drive(effects);
                let effects = k.poll();
                k.drive(effects);
            })
        },
        when: |k| ok(k.poll()),
        service: "UNDEPLOYING_NETS",
        roles: &[("db", "DONE"), ("web", "DONE")],
        effects: &["undeploy-net Private", "undeploy-net Lab"],
    },
    Case {
        name: "the networks removed: the service is deleted",
        given: nets_roles_gone,
        when: |k| ok(k.poll()),
        service: DELETED,
        roles: &[("db", "DONE"), ("web", "DONE")],
        effects: &[],
    },
    Case {
        name: "a removal refused: FAILED_UNDEPLOYING_NETS",
        given: nets_undeploy_failed,
        when: |k| ok(k.poll()),
        service: "FAILED_UNDEPLOYING_NETS",
        roles: &[("db", "DONE"), ("web", "DONE")],
        effects: &[],
    },
    Case {
        name: "recover of FAILED_UNDEPLOYING_NETS removes what is left",
        given: nets_undeploy_failed,
        when: |k| k.s.recover(k.now),
        service: "UNDEPLOYING_NETS",
        roles: &[("db", "DONE"), ("web", "DONE")],
        effects: &["undeploy-net Private", "undeploy-net Lab"],
    },
];

#[test]
fn network_rows() {
    run(CASES);
}

#[test]
fn deployed_ids_are_written_back_and_a_crash_repeats_only_what_is_unanswered() {
    let mut k = networked();
    let effects = k.s.start(k.now);
    // Only the first network was answered before a crash.
    k.drive(effects.into_iter().take(1).collect());
    let pending: Vec<String> = summary(&Ok(k.s.pending_network_steps()));
    assert_eq!(pending, ["deploy-net Lab", "deploy-net Public"]);
    assert_eq!(
        k.s.template.networks_values[0]["Private"]["id"],
        "net-Private"
    );
    assert_eq!(k.s.networks[0].network_id(), Some("net-Private"));
}

#[test]
fn a_network_that_never_gets_ready_fails_at_the_deadline() {
    let mut k = networked();
    k.s.start(k.now);
    k.later(WAIT_MS);
    k.poll();
    assert_eq!(k.status(), "FAILED_DEPLOYING_NETS");
    let gave_up =
        k.s.log
            .iter()
            .any(|l| l.message.contains("Gave up") && l.message.contains("Private"));
    assert!(gave_up, "{:#?}", k.s.log);
}
