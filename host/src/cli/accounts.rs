//! `flotilla user …` and `flotilla group …`.

use super::connection::ApiArgs;
use super::output::{print_json, table, text};
use super::ownership;
use serde_json::json;
use std::process::ExitCode;

#[derive(clap::Subcommand, Debug)]
pub enum UserCommand {
    /// Users (the oneadmin group sees all; others themselves).
    List,
    /// One user, by name or id.
    Show {
        #[arg(value_name = "USER")]
        account: String,
    },
    /// Create a user (oneadmin group).
    Create {
        name: String,
        #[arg(value_name = "PASSWORD")]
        secret: String,
        /// Group name or id [default: users]
        #[arg(long)]
        group: Option<String>,
    },
    /// Delete a user (oneadmin group).
    Delete {
        #[arg(value_name = "USER")]
        account: String,
    },
    /// Change a password (your own, or anyone's as oneadmin).
    Passwd {
        #[arg(value_name = "USER")]
        account: String,
        #[arg(value_name = "PASSWORD")]
        secret: String,
    },
    /// Move a user to another group (oneadmin group).
    Chgrp {
        #[arg(value_name = "USER")]
        account: String,
        group: String,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum GroupCommand {
    /// Groups (the oneadmin group sees all; others their own).
    List,
    /// One group, by name or id.
    Show { group: String },
    /// Create a group (oneadmin group).
    Create { name: String },
    /// Delete an empty group (oneadmin group).
    Delete { group: String },
}

pub async fn users(args: &ApiArgs, cmd: UserCommand) -> Result<ExitCode, String> {
    let api = args.connect()?;
    match cmd {
        UserCommand::List => {
            let pool = api.get("/user").await?;
            if args.json {
                print_json(&pool);
            } else {
                let users = pool["USER_POOL"]["USER"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                println!(
                    "{}",
                    table(
                        ["ID", "NAME", "GROUP"],
                        users
                            .iter()
                            .map(|u| [text(u, "ID"), text(u, "NAME"), text(u, "GNAME")]),
                    )
                );
            }
        }
        UserCommand::Show { account } => {
            let id = ownership::user_id(&api, &account).await?;
            let doc = api.get(&format!("/user/{id}")).await?;
            if args.json {
                print_json(&doc);
            } else {
                let u = &doc["USER"];
                println!("ID           : {}", text(u, "ID"));
                println!("NAME         : {}", text(u, "NAME"));
                println!("GROUP        : {} ({})", text(u, "GNAME"), text(u, "GID"));
            }
        }
        UserCommand::Create {
            name,
            secret,
            group,
        } => {
            let mut body = json!({ "name": name, "password": secret });
            if let Some(group) = group {
                body["group_id"] = json!(ownership::group_id(&api, &group).await?);
            }
            let created = api.post("/user", body).await?;
            super::templates::print_created(&created, args.json);
        }
        UserCommand::Delete { account } => {
            let id = ownership::user_id(&api, &account).await?;
            api.delete(&format!("/user/{id}"), None).await?;
        }
        UserCommand::Passwd { account, secret } => {
            let id = ownership::user_id(&api, &account).await?;
            api.action(
                &format!("/user/{id}"),
                "passwd",
                json!({ "password": secret }),
            )
            .await?;
        }
        UserCommand::Chgrp { account, group } => {
            let id = ownership::user_id(&api, &account).await?;
            let gid = ownership::group_id(&api, &group).await?;
            api.action(&format!("/user/{id}"), "chgrp", json!({ "group_id": gid }))
                .await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn groups(args: &ApiArgs, cmd: GroupCommand) -> Result<ExitCode, String> {
    let api = args.connect()?;
    match cmd {
        GroupCommand::List => {
            let pool = api.get("/group").await?;
            if args.json {
                print_json(&pool);
            } else {
                let groups = pool["GROUP_POOL"]["GROUP"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                println!(
                    "{}",
                    table(
                        ["ID", "NAME"],
                        groups.iter().map(|g| [text(g, "ID"), text(g, "NAME")]),
                    )
                );
            }
        }
        GroupCommand::Show { group } => {
            let id = ownership::group_id(&api, &group).await?;
            let doc = api.get(&format!("/group/{id}")).await?;
            if args.json {
                print_json(&doc);
            } else {
                println!("ID           : {}", text(&doc["GROUP"], "ID"));
                println!("NAME         : {}", text(&doc["GROUP"], "NAME"));
            }
        }
        GroupCommand::Create { name } => {
            let created = api.post("/group", json!({ "name": name })).await?;
            super::templates::print_created(&created, args.json);
        }
        GroupCommand::Delete { group } => {
            let id = ownership::group_id(&api, &group).await?;
            api.delete(&format!("/group/{id}"), None).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
