//! rename, chown, chgrp and chmod: the same four commands for service
//! templates, services, VM templates, images and networks. The resource,
//! users and groups may be given by name or id.

use super::connection::Api;
use super::error::Result;
use super::names::{self, Named};
use serde_json::json;

#[derive(clap::Subcommand, Debug)]
pub enum OwnershipCommand {
    /// Rename.
    Rename {
        #[arg(value_name = "ID|NAME")]
        id: String,
        name: String,
    },
    /// Give to another user, and optionally another group.
    Chown {
        #[arg(value_name = "ID|NAME")]
        id: String,
        /// User name or id.
        #[arg(value_name = "USER")]
        owner: String,
        /// Group name or id.
        group: Option<String>,
    },
    /// Move to another group.
    Chgrp {
        #[arg(value_name = "ID|NAME")]
        id: String,
        /// Group name or id.
        group: String,
    },
    /// Set owner/group/other permissions as an octet: use 4, manage 2,
    /// admin 1 (`640`: owner use and manage, group use).
    Chmod {
        #[arg(value_name = "ID|NAME")]
        id: String,
        octet: String,
    },
}

/// Run one of the four on a resource of `kind`.
pub async fn run(api: &Api, kind: &Named, cmd: OwnershipCommand) -> Result<()> {
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
    let id = names::id(api, kind, &id).await?;
    api.action(&format!("{}/{id}", kind.path), perform, params)
        .await?;
    Ok(())
}

/// A user id from a name or an id.
pub async fn user_id(api: &Api, user: &str) -> Result<u64> {
    names::id(api, &names::USER, user).await
}

/// A group id from a name or an id.
pub async fn group_id(api: &Api, group: &str) -> Result<u64> {
    names::id(api, &names::GROUP, group).await
}
