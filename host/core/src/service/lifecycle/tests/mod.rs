//! Table-driven tests of the life cycle core: each row is a start state,
//! an event and the service state, role states and effects that follow.
//! No driver, no clock: the [`builders::Kit`] answers effects the way the
//! engine does and moves time by hand.

mod actions;
mod autoscale;
mod builders;
mod deploy;
mod edit;
mod networks;
mod placement;
mod scale;
mod undeploy;

use crate::service::state::{RoleState, ServiceState};
use std::collections::BTreeSet;

/// Every numbered state OneFlow has is the outcome
/// of at least one row, so a transition that is lost shows here.
#[test]
fn every_state_is_covered() {
    let all: Vec<&builders::Case> = [
        deploy::CASES,
        undeploy::CASES,
        scale::CASES,
        actions::CASES,
        networks::CASES,
    ]
    .into_iter()
    .flatten()
    .collect();
    let services: BTreeSet<&str> = all.iter().map(|c| c.service).collect();
    let roles: BTreeSet<&str> = all
        .iter()
        .flat_map(|c| c.roles.iter().map(|(_, s)| *s))
        .collect();
    for s in ServiceState::ALL {
        let name = match s {
            // OneFlow deletes a service instead of setting DONE; so does
            // the core (`deleted`).
            ServiceState::Done => builders::DELETED,
            s => s.as_str(),
        };
        assert!(services.contains(name), "no row ends in service {name}");
    }
    for r in RoleState::ALL {
        assert!(roles.contains(r.as_str()), "no row ends in role state {r}");
    }
}
