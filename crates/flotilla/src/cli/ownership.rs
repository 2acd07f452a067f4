//! rename, chown, chgrp and chmod: the same four commands for service
//! templates, services, VM templates and images. Users and groups may be
//! given by name or id.

use super::connection::Api;
use serde_json::{Value, json};

#[derive(clap::Subcommand, Debug)]
pub enum OwnershipCommand {
    /// Rename.
    Rename { id: u64, name: String },
    /// Give to another user, and optionally another group.
    Chown {
        id: u64,
        /// User name or id.
        #[arg(value_name = "USER")]
        owner: String,
        /// Group name or id.
        group: Option<String>,
    },
    /// Move to another group.
    Chgrp {
        id: u64,
        /// Group name or id.
        group: String,
    },
    /// Set owner/group/other permissions as an octet: use 4, manage 2,
    /// admin 1 (`640`: owner use and manage, group use).
    Chmod { id: u64, octet: String },
}

/// Run one of the four on the resource at `<base>/<id>`.
pub async fn run(api: &Api, base: &str, cmd: OwnershipCommand) -> Result<(), String> {
    let (id, perform, params) = match cmd {
        OwnershipCommand::Rename { id, name } => (id, "rename", json!({ "name": name })),
        OwnershipCommand::Chown { id, owner, group } => {
            let mut params = json!({ "owner_id": user_id(api, &owner).await? });
            if let Some(group) = group {
                params["group_id"] = json!(group_id(api, &group).await?);
            }
            (id, "chown", params)
        }
        OwnershipCommand::Chgrp { id, group } => (
            id,
            "chgrp",
            json!({ "group_id": group_id(api, &group).await? }),
        ),
        OwnershipCommand::Chmod { id, octet } => (id, "chmod", json!({ "octet": octet })),
    };
    api.action(&format!("{base}/{id}"), perform, params).await?;
    Ok(())
}

/// A user id from a name or an id.
pub async fn user_id(api: &Api, user: &str) -> Result<u64, String> {
    find_id(api, "/user", "USER_POOL", "USER", "user", user).await
}

/// A group id from a name or an id.
pub async fn group_id(api: &Api, group: &str) -> Result<u64, String> {
    find_id(api, "/group", "GROUP_POOL", "GROUP", "group", group).await
}

async fn find_id(
    api: &Api,
    path: &str,
    pool: &str,
    element: &str,
    what: &str,
    wanted: &str,
) -> Result<u64, String> {
    if let Ok(id) = wanted.parse() {
        return Ok(id);
    }
    let list = api.get(path).await?;
    list[pool][element]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["NAME"] == Value::String(wanted.to_string()))
        .and_then(|e| e["ID"].as_str()?.parse().ok())
        .ok_or_else(|| {
            format!("no {what} named `{wanted}` (or you may not see it); `flotilla {what} list` shows them")
        })
}
