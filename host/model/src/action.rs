use serde::{Deserialize, Serialize};

/// The actions a driver applies to a VM: OneFlow's role actions, and the
/// terminate and release the life cycle itself uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "&str", try_from = "String")]
pub enum VmAction {
    Terminate,
    TerminateHard,
    Undeploy,
    UndeployHard,
    Hold,
    Release,
    Stop,
    Suspend,
    Resume,
    Reboot,
    RebootHard,
    Poweroff,
    PoweroffHard,
    SnapshotCreate,
    SnapshotRevert,
    SnapshotDelete,
    DiskSnapshotCreate,
    DiskSnapshotRevert,
    DiskSnapshotDelete,
}

impl VmAction {
    pub const ALL: [VmAction; 19] = [
        VmAction::Terminate,
        VmAction::TerminateHard,
        VmAction::Undeploy,
        VmAction::UndeployHard,
        VmAction::Hold,
        VmAction::Release,
        VmAction::Stop,
        VmAction::Suspend,
        VmAction::Resume,
        VmAction::Reboot,
        VmAction::RebootHard,
        VmAction::Poweroff,
        VmAction::PoweroffHard,
        VmAction::SnapshotCreate,
        VmAction::SnapshotRevert,
        VmAction::SnapshotDelete,
        VmAction::DiskSnapshotCreate,
        VmAction::DiskSnapshotRevert,
        VmAction::DiskSnapshotDelete,
    ];

    /// The action's name as OneFlow spells it (`terminate-hard`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            VmAction::Terminate => "terminate",
            VmAction::TerminateHard => "terminate-hard",
            VmAction::Undeploy => "undeploy",
            VmAction::UndeployHard => "undeploy-hard",
            VmAction::Hold => "hold",
            VmAction::Release => "release",
            VmAction::Stop => "stop",
            VmAction::Suspend => "suspend",
            VmAction::Resume => "resume",
            VmAction::Reboot => "reboot",
            VmAction::RebootHard => "reboot-hard",
            VmAction::Poweroff => "poweroff",
            VmAction::PoweroffHard => "poweroff-hard",
            VmAction::SnapshotCreate => "snapshot-create",
            VmAction::SnapshotRevert => "snapshot-revert",
            VmAction::SnapshotDelete => "snapshot-delete",
            VmAction::DiskSnapshotCreate => "disk-snapshot-create",
            VmAction::DiskSnapshotRevert => "disk-snapshot-revert",
            VmAction::DiskSnapshotDelete => "disk-snapshot-delete",
        }
    }

    /// An action by OneFlow's name, in any case, with `_` or `-`
    /// (`terminate-hard`, `TERMINATE_HARD`).
    pub fn parse(name: &str) -> Option<VmAction> {
        let wanted = name.to_ascii_lowercase().replace('_', "-");
        VmAction::ALL.into_iter().find(|a| a.as_str() == wanted)
    }

    /// The names of the values an action takes in its `args`, in the order
    /// OneFlow's comma-separated string gives them.
    pub fn arg_names(self) -> &'static [&'static str] {
        match self {
            VmAction::SnapshotCreate | VmAction::SnapshotRevert | VmAction::SnapshotDelete => {
                &["name"]
            }
            VmAction::DiskSnapshotCreate
            | VmAction::DiskSnapshotRevert
            | VmAction::DiskSnapshotDelete => &["disk_id", "name"],
            _ => &[],
        }
    }

    /// Whether the action ends the VM (it leaves the role once DONE).
    pub fn terminates(self) -> bool {
        matches!(self, VmAction::Terminate | VmAction::TerminateHard)
    }
}

impl std::fmt::Display for VmAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<VmAction> for &'static str {
    fn from(action: VmAction) -> &'static str {
        action.as_str()
    }
}

/// A name that is no VM action (read from JSON, a flag or a plugin).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownAction(pub String);

impl std::fmt::Display for UnknownAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = VmAction::ALL.iter().map(|a| a.as_str()).collect();
        write!(f, "`{}` is not a VM action ({})", self.0, names.join(", "))
    }
}

impl std::error::Error for UnknownAction {}

impl TryFrom<String> for VmAction {
    type Error = UnknownAction;

    fn try_from(name: String) -> Result<VmAction, UnknownAction> {
        VmAction::parse(&name).ok_or(UnknownAction(name))
    }
}

#[cfg(test)]
mod tests {
    use super::VmAction;

    #[test]
    fn every_action_parses_back_from_its_name_in_either_spelling() {
        for action in VmAction::ALL {
            assert_eq!(VmAction::parse(action.as_str()), Some(action));
            let shouted = action.as_str().to_uppercase().replace('-', "_");
            assert_eq!(VmAction::parse(&shouted), Some(action));
        }
        assert_eq!(VmAction::parse("migrate"), None);
    }

    #[test]
    fn an_action_is_stored_by_its_name() {
        let json = serde_json::to_string(&VmAction::DiskSnapshotCreate).unwrap();
        assert_eq!(json, "\"disk-snapshot-create\"");
        let back: VmAction = serde_json::from_str(&json).unwrap();
        assert_eq!(back, VmAction::DiskSnapshotCreate);
        let err = serde_json::from_str::<VmAction>("\"migrate\"").unwrap_err();
        assert!(
            err.to_string().contains("`migrate` is not a VM action"),
            "{err}"
        );
    }
}
