//! Table-driven tests of the life cycle core: each row is a start state,
//! an event and the service state, role states and effects that follow.
//! No driver, no clock: the [`testkit::Kit`] answers effects the way the
//! engine does and moves time by hand.
//!
//! OneFlow's `*_NETS` service states (DEPLOYING_NETS, UNDEPLOYING_NETS and
//! their FAILED_ ones) are not reachable yet: the core deploys no
//! networks, so no row leads to them and `every_state_is_covered` leaves
//! them out.

mod actions;
mod autoscale;
mod deploy;
mod edit;
mod scale;
mod testkit;
mod undeploy;

use crate::service::state::{RoleState, ServiceState};
use std::collections::BTreeSet;

/// Every numbered state OneFlow has (but the `*_NETS` ones) is the outcome
/// of at least one row, so a transition that is lost shows here.
#[test]
fn every_state_is_covered() {
    let all: Vec<&testkit::Case> = [deploy::CASES, undeploy::CASES, scale::CASES, actions::CASES]
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
            ServiceState::DeployingNets
            | ServiceState::UndeployingNets
            | ServiceState::FailedDeployingNets
            | ServiceState::FailedUndeployingNets => continue,
            // OneFlow deletes a service instead of setting DONE; so does
            // the core (`deleted`).
            ServiceState::Done => testkit::DELETED,
            s => s.as_str(),
        };
        assert!(services.contains(name), "no row ends in service {name}");
    }
    for r in RoleState::ALL {
        assert!(roles.contains(r.as_str()), "no row ends in role state {r}");
    }
}
