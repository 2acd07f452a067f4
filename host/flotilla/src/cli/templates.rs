//! `flotilla template …`: service templates (`oneflow-template`).

use super::connection::{Api, ApiArgs};
use super::error::Result;
use super::names;
use super::output::{self, emit, fields, join, pool_items, pretty, table, text};
use super::ownership::{self, OwnershipCommand};
use super::services::{self, WaitArgs};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand, Debug)]
pub enum TemplateCommand {
    /// Create a service template from a JSON file (`-` for stdin).
    Create { file: PathBuf },
    /// The service templates you may use.
    List,
    /// One template: its roles and its JSON body.
    Show {
        #[arg(value_name = "ID|NAME")]
        id: String,
    },
    /// Replace a template with a JSON file, or edit it in $EDITOR.
    Update {
        #[arg(value_name = "ID|NAME")]
        id: String,
        file: Option<PathBuf>,
        /// Change only the attributes the file gives.
        #[arg(long)]
        append: bool,
    },
    /// Delete templates.
    Delete {
        #[arg(required = true, value_name = "ID|NAME")]
        ids: Vec<String>,
        /// Also delete the VM templates the roles use.
        #[arg(long)]
        delete_vm_templates: bool,
        /// Also delete those VM templates' images (implies --delete-vm-templates).
        #[arg(long)]
        delete_images: bool,
    },
    /// Copy a template under a new name.
    Clone {
        #[arg(value_name = "ID|NAME")]
        id: String,
        name: String,
        /// Also copy the VM templates the roles use.
        #[arg(short = 'R', long)]
        recursive_templates: bool,
        /// Also copy the VM templates and their images.
        #[arg(long)]
        recursive: bool,
    },
    /// Deploy services from a template.
    Instantiate {
        #[arg(value_name = "ID|NAME")]
        id: String,
        /// JSON merged into the template (`merge_template`: name, user inputs values, …).
        file: Option<PathBuf>,
        /// Name of the service.
        #[arg(long)]
        name: Option<String>,
        /// How many services to deploy.
        #[arg(short, long, default_value_t = 1)]
        multiple: u32,
        #[command(flatten)]
        wait: WaitArgs,
    },
    #[command(flatten)]
    Ownership(OwnershipCommand),
}

const BASE: &str = "/service_template";

pub async fn run(args: &ApiArgs, cmd: TemplateCommand) -> Result<ExitCode> {
    let api = args.connect()?;
    let json = args.json;
    match cmd {
        TemplateCommand::Create { file } => {
            let created = api.post(BASE, output::read_json(&file)?).await?;
            output::print_created(&created, json);
        }
        TemplateCommand::List => emit(json, &api.get(BASE).await?, list_table),
        TemplateCommand::Show { id } => {
            let id = names::id(&api, &names::TEMPLATE, &id).await?;
            emit(json, &api.get(&format!("{BASE}/{id}")).await?, |doc| {
                show(&doc["DOCUMENT"])
            });
        }
        TemplateCommand::Update { id, file, append } => {
            let id = names::id(&api, &names::TEMPLATE, &id).await?;
            update(&api, id, file, append).await?
        }
        TemplateCommand::Delete {
            ids,
            delete_vm_templates,
            delete_images,
        } => {
            let delete_type = if delete_images {
                "all"
            } else if delete_vm_templates {
                "templates"
            } else {
                "none"
            };
            for id in names::ids(&api, &names::TEMPLATE, &ids).await? {
                api.delete(
                    &format!("{BASE}/{id}"),
                    Some(json!({ "delete_type": delete_type })),
                )
                .await
                .map_err(|e| format!("template {id}: {e}"))?;
            }
        }
        TemplateCommand::Clone {
            id,
            name,
            recursive_templates,
            recursive,
        } => {
            let mode = if recursive {
                "all"
            } else if recursive_templates {
                "templates"
            } else {
                "none"
            };
            let id = names::id(&api, &names::TEMPLATE, &id).await?;
            let created = api
                .action(
                    &format!("{BASE}/{id}"),
                    "clone",
                    json!({ "name": name, "recursive": mode }),
                )
                .await?;
            output::print_created(&created, json);
        }
        TemplateCommand::Instantiate {
            id,
            file,
            name,
            multiple,
            wait,
        } => {
            let mut merge = match file {
                Some(file) => output::read_json(&file)?,
                None => json!({}),
            };
            if !merge.is_object() {
                return Err("the merge file must hold a JSON object".into());
            }
            if let Some(name) = name {
                merge["name"] = Value::String(name);
            }
            let id = names::id(&api, &names::TEMPLATE, &id).await?;
            let mut ids = Vec::new();
            for _ in 0..multiple.max(1) {
                let created = api
                    .action(
                        &format!("{BASE}/{id}"),
                        "instantiate",
                        json!({ "merge_template": merge }),
                    )
                    .await?;
                output::print_created(&created, json);
                if let Some(id) = created["DOCUMENT"]["ID"].as_str() {
                    ids.push(id.parse::<u64>().map_err(|e| e.to_string())?);
                }
            }
            if wait.wait {
                for id in ids {
                    if !services::wait_for(&api, id, services::Target::Running, &wait, json).await?
                    {
                        return Ok(ExitCode::FAILURE);
                    }
                }
            }
        }
        TemplateCommand::Ownership(cmd) => ownership::run(&api, &names::TEMPLATE, cmd).await?,
    }
    Ok(ExitCode::SUCCESS)
}

fn list_table(pool: &Value) -> String {
    table(
        ["ID", "USER", "GROUP", "NAME", "ROLES", "REGTIME"],
        pool_items(pool, "DOCUMENT").iter().map(|d| {
            let body = &d["TEMPLATE"]["BODY"];
            [
                text(d, "ID"),
                text(d, "UNAME"),
                text(d, "GNAME"),
                text(d, "NAME"),
                body["roles"].as_array().map_or(0, Vec::len).to_string(),
                output::time(&body["registration_time"]),
            ]
        }),
    )
}

fn show(doc: &Value) -> String {
    let body = &doc["TEMPLATE"]["BODY"];
    let roles = body["roles"].as_array().cloned().unwrap_or_default();
    let roles = table(
        [
            "ROLE",
            "TYPE",
            "VM TEMPLATE",
            "CARDINALITY",
            "MIN",
            "MAX",
            "PARENTS",
        ],
        roles.iter().map(|r| {
            [
                text(r, "name"),
                text(r, "type"),
                text(r, "template_id"),
                text(r, "cardinality"),
                text(r, "min_vms"),
                text(r, "max_vms"),
                join(&r["parents"]),
            ]
        }),
    );
    format!(
        "SERVICE TEMPLATE {} INFORMATION\n{}\n\n{roles}\n\nTEMPLATE CONTENTS\n{}",
        text(doc, "ID"),
        fields(&[
            ("ID", text(doc, "ID")),
            ("NAME", text(doc, "NAME")),
            ("USER", text(doc, "UNAME")),
            ("GROUP", text(doc, "GNAME")),
            ("PERMISSIONS", output::permissions(&doc["PERMISSIONS"])),
            ("REGISTERED", output::time(&body["registration_time"])),
        ]),
        pretty(body)
    )
}

async fn update(api: &Api, id: u64, file: Option<PathBuf>, append: bool) -> Result<()> {
    let path = format!("{BASE}/{id}");
    match file {
        Some(file) => {
            let body = output::read_json(&file)?;
            if append {
                api.action(
                    &path,
                    "update",
                    json!({ "template_json": body.to_string(), "append": true }),
                )
                .await?;
            } else {
                api.put(&path, body).await?;
            }
        }
        None => {
            let current = api.get(&path).await?;
            let body = current["DOCUMENT"]["TEMPLATE"]["BODY"].clone();
            match output::edit_json(&body, &format!("template {id}"))? {
                Some(edited) => {
                    api.put(&path, edited).await?;
                }
                None => eprintln!("no changes; template {id} left as it was"),
            }
        }
    }
    Ok(())
}
