//! `flotilla user …` and `flotilla group …`.

use super::connection::ApiArgs;
use super::error::Result;
use super::output::{self, emit, fields, pool_items, table, text};
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
        /// The password, or `-` to read it from stdin (kept out of shell history).
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
        /// The new password, or `-` to read it from stdin.
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

pub async fn users(args: &ApiArgs, cmd: UserCommand) -> Result<ExitCode> {
    let api = args.connect()?;
    match cmd {
        UserCommand::List => emit(args.json, &api.get("/user").await?, |pool| {
            table(
                ["ID", "NAME", "GROUP"],
                pool_items(pool, "USER")
                    .iter()
                    .map(|u| [text(u, "ID"), text(u, "NAME"), text(u, "GNAME")]),
            )
        }),
        UserCommand::Show { account } => {
            let id = ownership::user_id(&api, &account).await?;
            emit(args.json, &api.get(&format!("/user/{id}")).await?, |doc| {
                let u = &doc["USER"];
                fields(&[
                    ("ID", text(u, "ID")),
                    ("NAME", text(u, "NAME")),
                    (
                        "GROUP",
                        format!("{} ({})", text(u, "GNAME"), text(u, "GID")),
                    ),
                ])
            });
        }
        UserCommand::Create {
            name,
            secret,
            group,
        } => {
            let mut body = json!({ "name": name, "password": password(&secret)? });
            if let Some(group) = group {
                body["group_id"] = json!(ownership::group_id(&api, &group).await?);
            }
            let created = api.post("/user", body).await?;
            output::print_created(&created, args.json);
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
                json!({ "password": password(&secret)? }),
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

pub async fn groups(args: &ApiArgs, cmd: GroupCommand) -> Result<ExitCode> {
    let api = args.connect()?;
    match cmd {
        GroupCommand::List => emit(args.json, &api.get("/group").await?, |pool| {
            table(
                ["ID", "NAME"],
                pool_items(pool, "GROUP")
                    .iter()
                    .map(|g| [text(g, "ID"), text(g, "NAME")]),
            )
        }),
        GroupCommand::Show { group } => {
            let id = ownership::group_id(&api, &group).await?;
            emit(args.json, &api.get(&format!("/group/{id}")).await?, |doc| {
                fields(&[
                    ("ID", text(&doc["GROUP"], "ID")),
                    ("NAME", text(&doc["GROUP"], "NAME")),
                ])
            });
        }
        GroupCommand::Create { name } => {
            let created = api.post("/group", json!({ "name": name })).await?;
            output::print_created(&created, args.json);
        }
        GroupCommand::Delete { group } => {
            let id = ownership::group_id(&api, &group).await?;
            api.delete(&format!("/group/{id}"), None).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A password argument; `-` reads one line from stdin.
fn password(arg: &str) -> Result<String> {
    if arg != "-" {
        return Ok(arg.to_string());
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| format!("reading the password from stdin: {e}"))?;
    let line = line.trim_end_matches(['\r', '\n']).to_string();
    if line.is_empty() {
        return Err("no password on stdin".into());
    }
    Ok(line)
}
