//! `POST /vms/{id}/action`: a VM asks for an action on itself or on a VM
//! of its own service, in OneGate's body
//! (`{"action": {"perform": "poweroff", "params": true}}`, `params` being
//! `--hard` for the actions that have a hard form, the snapshot's name or
//! id for the snapshot actions). The action goes through the engine as the
//! REST API's VM actions do: recorded in the service's outbox, then sent
//! to the driver, a refusal noted on the VM.

use crate::service::lifecycle::VmAction;
use serde_json::Value;

/// What OneGate's server knows that Flotilla's drivers do not carry out:
/// named apart from the unknown so the answer says which it is.
const NOT_CARRIED_OUT: &[&str] = &[
    "deploy",
    "livemigrate",
    "migrate",
    "saveas",
    "chown",
    "chmod",
    "resize",
    "attachdisk",
    "detachdisk",
    "attachnic",
    "detachnic",
    "rename",
    "resched",
    "unresched",
    "recover",
];

/// Why a body is not an action Flotilla carries out.
#[derive(Debug, PartialEq)]
pub(super) enum Refused {
    /// Not JSON, or no `action.perform`: 400.
    Malformed(String),
    /// The operator's `restricted_actions`: 403, OneGate's words.
    Restricted(String),
    /// Unknown, or not carried out by Flotilla's drivers: 400.
    Unsupported(String),
}

/// The action a body asks for, with its driver arguments.
pub(super) fn parse(
    body: &[u8],
    restricted: &[String],
) -> Result<(VmAction, Vec<(String, String)>), Refused> {
    let json: Value =
        serde_json::from_slice(body).map_err(|e| Refused::Malformed(format!("{e}")))?;
    let action = json
        .get("action")
        .ok_or_else(|| Refused::Malformed("Error parsing JSON: Wrong resource type".into()))?;
    let perform = action
        .get("perform")
        .and_then(Value::as_str)
        .ok_or_else(|| Refused::Malformed("action.perform: must be an action's name".into()))?;
    if restricted.iter().any(|r| r.eq_ignore_ascii_case(perform)) {
        return Err(Refused::Restricted(format!(
            "Action ({perform}) is not allowed on this resource"
        )));
    }
    let params = action.get("params").unwrap_or(&Value::Null);
    // `--hard` arrives as `params: true`.
    let hard = params.as_bool().unwrap_or(false)
        || params
            .as_str()
            .is_some_and(|p| p.eq_ignore_ascii_case("true"));
    let pick = |soft, hard_form| if hard { hard_form } else { soft };
    let action = match perform.to_ascii_lowercase().as_str() {
        "terminate" | "shutdown" => pick(VmAction::Terminate, VmAction::TerminateHard),
        // OneGate 4.x's delete: a hard terminate.
        "delete" => VmAction::TerminateHard,
        "reboot" => pick(VmAction::Reboot, VmAction::RebootHard),
        "poweroff" => pick(VmAction::Poweroff, VmAction::PoweroffHard),
        "undeploy" => pick(VmAction::Undeploy, VmAction::UndeployHard),
        "hold" => VmAction::Hold,
        "release" => VmAction::Release,
        "stop" => VmAction::Stop,
        "suspend" => VmAction::Suspend,
        "resume" => VmAction::Resume,
        "snapshot_create" => VmAction::SnapshotCreate,
        "snapshot_revert" => VmAction::SnapshotRevert,
        "snapshot_delete" => VmAction::SnapshotDelete,
        name if NOT_CARRIED_OUT.contains(&name) => {
            return Err(Refused::Unsupported(format!(
                "{perform}: Flotilla's drivers do not carry out this action"
            )));
        }
        _ => {
            return Err(Refused::Unsupported(format!(
                "{perform} action not available for this resource"
            )));
        }
    };
    let args = match action.arg_names() {
        [] => Vec::new(),
        [name, ..] => match crate::service::inputs::as_text(params) {
            Some(value) if !value.trim().is_empty() => vec![(name.to_string(), value)],
            _ => {
                return Err(Refused::Malformed(format!(
                    "action.params: {perform} takes the snapshot's {name}"
                )));
            }
        },
    };
    Ok((action, args))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn restricted() -> Vec<String> {
        vec!["reboot".into()]
    }

    fn ok(body: &str) -> (VmAction, Vec<(String, String)>) {
        parse(body.as_bytes(), &restricted()).unwrap()
    }

    #[test]
    fn onegate_bodies_become_vm_actions() {
        assert_eq!(
            ok(r#"{"action": {"perform": "poweroff"}}"#).0,
            VmAction::Poweroff
        );
        assert_eq!(
            ok(r#"{"action": {"perform": "poweroff", "params": true}}"#).0,
            VmAction::PoweroffHard
        );
        assert_eq!(
            ok(r#"{"action": {"perform": "delete"}}"#).0,
            VmAction::TerminateHard
        );
        assert_eq!(
            ok(r#"{"action": {"perform": "snapshot_create", "params": "before-upgrade"}}"#),
            (
                VmAction::SnapshotCreate,
                vec![("name".into(), "before-upgrade".into())]
            )
        );
        assert_eq!(
            ok(r#"{"action": {"perform": "snapshot_revert", "params": 2}}"#).1,
            vec![("name".to_string(), "2".to_string())]
        );
    }

    #[test]
    fn restricted_unknown_and_malformed_bodies_are_refused() {
        let refused = |body: &str| parse(body.as_bytes(), &restricted()).unwrap_err();
        assert_eq!(
            refused(r#"{"action": {"perform": "REBOOT", "params": true}}"#),
            Refused::Restricted("Action (REBOOT) is not allowed on this resource".into())
        );
        assert!(matches!(
            refused(r#"{"action": {"perform": "migrate"}}"#),
            Refused::Unsupported(m) if m.contains("do not carry out")
        ));
        assert!(matches!(
            refused(r#"{"action": {"perform": "fly"}}"#),
            Refused::Unsupported(m) if m == "fly action not available for this resource"
        ));
        assert!(matches!(refused("{"), Refused::Malformed(_)));
        assert!(matches!(
            refused(r#"{"perform": "stop"}"#),
            Refused::Malformed(m) if m.contains("Wrong resource type")
        ));
        assert!(matches!(
            refused(r#"{"action": {"perform": "snapshot_delete"}}"#),
            Refused::Malformed(m) if m.starts_with("action.params")
        ));
    }
}
