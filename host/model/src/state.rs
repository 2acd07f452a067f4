use serde::{Deserialize, Serialize};

/// OpenNebula's VM states, as drivers report them and services show them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum VmState {
    Pending,
    Hold,
    Running,
    Poweroff,
    Suspended,
    Stopped,
    Undeployed,
    Unknown,
    Failed,
    Done,
}

impl VmState {
    pub const ALL: [VmState; 10] = [
        VmState::Pending,
        VmState::Hold,
        VmState::Running,
        VmState::Poweroff,
        VmState::Suspended,
        VmState::Stopped,
        VmState::Undeployed,
        VmState::Unknown,
        VmState::Failed,
        VmState::Done,
    ];

    /// The state's name as OpenNebula spells it (`RUNNING`, `POWEROFF`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            VmState::Pending => "PENDING",
            VmState::Hold => "HOLD",
            VmState::Running => "RUNNING",
            VmState::Poweroff => "POWEROFF",
            VmState::Suspended => "SUSPENDED",
            VmState::Stopped => "STOPPED",
            VmState::Undeployed => "UNDEPLOYED",
            VmState::Unknown => "UNKNOWN",
            VmState::Failed => "FAILED",
            VmState::Done => "DONE",
        }
    }

    /// A state by name, in any case.
    pub fn parse(name: &str) -> Option<VmState> {
        VmState::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(name))
    }
}

impl std::fmt::Display for VmState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::VmState;

    #[test]
    fn every_state_parses_back_from_its_name() {
        for state in VmState::ALL {
            assert_eq!(VmState::parse(state.as_str()), Some(state));
            assert_eq!(VmState::parse(&state.as_str().to_lowercase()), Some(state));
        }
        assert_eq!(VmState::parse("BOOTING"), None);
    }
}
