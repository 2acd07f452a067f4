//! Changing a live service's template: update and rename. Neither changes
//! a state; each row is a start state, a change to the template, and the
//! answer (`ok`, or the words the refusal must contain).

use super::builders::*;
use crate::service::model::ServiceTemplate;

struct Update {
    name: &'static str,
    given: fn() -> Kit,
    change: fn(&mut ServiceTemplate),
    answer: &'static str,
}

const UPDATES: &[Update] = &[
    Update {
        name: "description and extra attributes may change",
        given: running,
        change: |t| {
            t.description = "the shop".into();
            t.extra.insert("owner_note".into(), "kept".into());
        },
        answer: "ok",
    },
    Update {
        name: "a role's cooldown may change",
        given: running,
        change: |t| t.roles[1].cooldown = Some(10),
        answer: "ok",
    },
    Update {
        name: "roles listed in another order are kept in the service's",
        given: running,
        change: |t| t.roles.reverse(),
        answer: "ok",
    },
    Update {
        name: "the name changes by rename only",
        given: running,
        change: |t| t.name = "other".into(),
        answer: "name: cannot change on a live service (use rename)",
    },
    Update {
        name: "the cardinality changes by scale only",
        given: running,
        change: |t| t.roles[1].cardinality = 3,
        answer: "roles[1].cardinality: cannot change by update (use scale)",
    },
    Update {
        name: "parents cannot change",
        given: running,
        change: |t| t.roles[1].parents.clear(),
        answer: "roles[1].parents: cannot change on a live service",
    },
    Update {
        name: "roles are added by add-role",
        given: running,
        change: |t| {
            let mut extra = t.roles[0].clone();
            extra.name = "cache".into();
            t.roles.push(extra);
        },
        answer: "roles: update cannot add or remove roles",
    },
    Update {
        name: "nothing may change while deploying",
        given: deploying,
        change: |t| t.description = "x".into(),
        answer: "update needs a state with nothing in progress",
    },
    Update {
        name: "nothing may change in a failed state",
        given: failed_deploying,
        change: |t| t.description = "x".into(),
        answer: "`recover` it",
    },
    Update {
        name: "a PENDING service may be updated",
        given: pending,
        change: |t| t.description = "x".into(),
        answer: "ok",
    },
];

#[test]
fn updates() {
    let mut failures = Vec::new();
    for u in UPDATES {
        let mut k = (u.given)();
        let before = k.s.clone();
        let mut new = k.s.template.clone();
        (u.change)(&mut new);
        let result = k.s.update(new, k.now);
        let fine = match &result {
            Ok(()) => u.answer == "ok" && k.s.template.roles[0].name == "db",
            Err(e) => u.answer != "ok" && e.to_string().contains(u.answer) && k.s == before,
        };
        if !fine {
            failures.push(format!("{}: {result:?}", u.name));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn rename_trims_and_refuses_empty_names() {
    let mut k = running();
    k.s.rename("  shop-2 ", k.now).unwrap();
    assert_eq!(k.s.name, "shop-2");
    for bad in ["", "   ", "a\nb"] {
        assert!(k.s.rename(bad, k.now).is_err(), "{bad:?}");
    }
    assert_eq!(k.s.name, "shop-2");
}
