//! Service and role states with OneFlow's numeric values, which the REST
//! API exposes and clients depend on.

use serde::{Deserialize, Serialize};

/// A number that is no state of its kind (`ServiceState`, `RoleState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownState {
    pub kind: &'static str,
    pub number: u8,
}

impl std::fmt::Display for UnknownState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} is not a {} number", self.number, self.kind)
    }
}

macro_rules! numbered_states {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $n:literal => $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(try_from = "u8", into = "u8")]
        pub enum $name {
            $($variant = $n),*
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// OneFlow's name of the state (`RUNNING`, `FAILED_DEPLOYING`, …).
            pub fn as_str(&self) -> &'static str {
                match self {
                    $($name::$variant => $text),*
                }
            }

            pub fn number(&self) -> u8 {
                *self as u8
            }
        }

        impl TryFrom<u8> for $name {
            type Error = UnknownState;
            fn try_from(n: u8) -> Result<Self, UnknownState> {
                match n {
                    $($n => Ok($name::$variant),)*
                    number => Err(UnknownState { kind: stringify!($name), number }),
                }
            }
        }

        impl From<$name> for u8 {
            fn from(s: $name) -> u8 {
                s as u8
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

numbered_states! {
    /// A service's state (OneFlow's `Service::STATE`).
    ServiceState {
        Pending = 0 => "PENDING",
        Deploying = 1 => "DEPLOYING",
        Running = 2 => "RUNNING",
        Undeploying = 3 => "UNDEPLOYING",
        Warning = 4 => "WARNING",
        Done = 5 => "DONE",
        FailedUndeploying = 6 => "FAILED_UNDEPLOYING",
        FailedDeploying = 7 => "FAILED_DEPLOYING",
        Scaling = 8 => "SCALING",
        FailedScaling = 9 => "FAILED_SCALING",
        Cooldown = 10 => "COOLDOWN",
        DeployingNets = 11 => "DEPLOYING_NETS",
        UndeployingNets = 12 => "UNDEPLOYING_NETS",
        FailedDeployingNets = 13 => "FAILED_DEPLOYING_NETS",
        FailedUndeployingNets = 14 => "FAILED_UNDEPLOYING_NETS",
        Hold = 15 => "HOLD",
    }
}

numbered_states! {
    /// A role's state (OneFlow's `Role::STATE`; note HOLD is 11 here, 15
    /// for services).
    RoleState {
        Pending = 0 => "PENDING",
        Deploying = 1 => "DEPLOYING",
        Running = 2 => "RUNNING",
        Undeploying = 3 => "UNDEPLOYING",
        Warning = 4 => "WARNING",
        Done = 5 => "DONE",
        FailedUndeploying = 6 => "FAILED_UNDEPLOYING",
        FailedDeploying = 7 => "FAILED_DEPLOYING",
        Scaling = 8 => "SCALING",
        FailedScaling = 9 => "FAILED_SCALING",
        Cooldown = 10 => "COOLDOWN",
        Hold = 11 => "HOLD",
    }
}

impl ServiceState {
    /// States in which work is in flight and other actions must wait.
    pub fn is_transient(&self) -> bool {
        use ServiceState::*;
        matches!(
            self,
            Deploying | Undeploying | Scaling | Cooldown | DeployingNets | UndeployingNets
        )
    }

    pub fn is_failed(&self) -> bool {
        use ServiceState::*;
        matches!(
            self,
            FailedUndeploying
                | FailedDeploying
                | FailedScaling
                | FailedDeployingNets
                | FailedUndeployingNets
        )
    }

    /// Whether `DELETE` (without `--delete` recovery) is allowed.
    pub fn can_undeploy(&self) -> bool {
        use ServiceState::*;
        matches!(self, Pending | Running | Undeploying | Warning | Hold)
    }

    pub fn can_update(&self) -> bool {
        !self.is_transient() && !self.is_failed()
    }

    pub fn can_scale(&self) -> bool {
        *self == ServiceState::Running
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_names_are_oneflows() {
        assert_eq!(ServiceState::Hold.number(), 15);
        assert_eq!(RoleState::Hold.number(), 11);
        assert_eq!(ServiceState::FailedDeploying.as_str(), "FAILED_DEPLOYING");
        assert_eq!(ServiceState::ALL.len(), 16);
        assert_eq!(RoleState::ALL.len(), 12);
        for (i, s) in ServiceState::ALL.iter().enumerate() {
            assert_eq!(s.number() as usize, i);
            assert_eq!(ServiceState::try_from(i as u8).unwrap(), *s);
        }
        assert!(ServiceState::try_from(16).is_err());
        assert_eq!(serde_json::to_string(&RoleState::Cooldown).unwrap(), "10");
        assert_eq!(
            serde_json::from_str::<ServiceState>("2").unwrap(),
            ServiceState::Running
        );
    }

    #[test]
    fn predicates_follow_oneflow() {
        use ServiceState::*;
        let undeployable: Vec<_> = ServiceState::ALL
            .iter()
            .filter(|s| s.can_undeploy())
            .collect();
        assert_eq!(
            undeployable,
            [&Pending, &Running, &Undeploying, &Warning, &Hold]
        );
        let updatable: Vec<_> = ServiceState::ALL
            .iter()
            .filter(|s| s.can_update())
            .collect();
        assert_eq!(updatable, [&Pending, &Running, &Warning, &Done, &Hold]);
        assert!(Running.can_scale() && !Warning.can_scale());
    }
}
