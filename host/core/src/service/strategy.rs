//! Deployment order: which roles to start and which to stop next, for the
//! `none` and `straight` strategies.

use super::model::Deployment;
use super::state::RoleState;

/// What the strategy needs to know about a role.
#[derive(Debug, Clone)]
pub struct RoleNode<'a> {
    pub name: &'a str,
    pub parents: &'a [String],
    pub state: RoleState,
}

fn state_of(roles: &[RoleNode<'_>], name: &str) -> Option<RoleState> {
    roles.iter().find(|r| r.name == name).map(|r| r.state)
}

/// The roles to deploy now: PENDING ones (and SCALING, for `none`);
/// with `straight`, only those whose parents all run.
pub fn roles_to_deploy<'a>(deployment: Deployment, roles: &'a [RoleNode<'a>]) -> Vec<&'a str> {
    roles
        .iter()
        .filter(|r| match deployment {
            Deployment::None => matches!(r.state, RoleState::Pending | RoleState::Scaling),
            Deployment::Straight => {
                r.state == RoleState::Pending
                    && r.parents
                        .iter()
                        .all(|p| state_of(roles, p) == Some(RoleState::Running))
            }
        })
        .map(|r| r.name)
        .collect()
}

/// The roles to shut down now, children before parents with `straight`.
pub fn roles_to_shutdown<'a>(deployment: Deployment, roles: &'a [RoleNode<'a>]) -> Vec<&'a str> {
    let live = |r: &RoleNode<'_>| {
        !matches!(
            r.state,
            RoleState::Undeploying | RoleState::Done | RoleState::FailedUndeploying
        )
    };
    roles
        .iter()
        .filter(|r| live(r))
        .filter(|r| match deployment {
            Deployment::None => true,
            Deployment::Straight => !roles.iter().any(|child| {
                child.state != RoleState::Done && child.parents.iter().any(|p| p == r.name)
            }),
        })
        .map(|r| r.name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use RoleState::*;

    fn p(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn straight_deploys_in_parent_order_and_undeploys_in_reverse() {
        let (none, db, web) = (p(&[]), p(&["db"]), p(&["web"]));
        let mut roles = vec![
            RoleNode {
                name: "db",
                parents: &none,
                state: Pending,
            },
            RoleNode {
                name: "web",
                parents: &db,
                state: Pending,
            },
            RoleNode {
                name: "lb",
                parents: &web,
                state: Pending,
            },
        ];
        assert_eq!(roles_to_deploy(Deployment::Straight, &roles), ["db"]);
        assert_eq!(
            roles_to_deploy(Deployment::None, &roles),
            ["db", "web", "lb"]
        );
        roles[0].state = Running;
        assert_eq!(roles_to_deploy(Deployment::Straight, &roles), ["web"]);
        roles[1].state = Running;
        roles[2].state = Running;
        assert_eq!(roles_to_shutdown(Deployment::Straight, &roles), ["lb"]);
        assert_eq!(
            roles_to_shutdown(Deployment::None, &roles),
            ["db", "web", "lb"]
        );
        roles[2].state = Done;
        assert_eq!(roles_to_shutdown(Deployment::Straight, &roles), ["web"]);
    }
}
