//! `flotilla vm-template …` and `flotilla image …`: the same commands for
//! both kinds of attribute resource.

use super::connection::ApiArgs;
use super::error::Result;
use super::names::{self, Named};
use super::output::{self, emit, fields, pool_items, pretty, table, text};
use super::ownership::{self, OwnershipCommand};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand, Debug)]
pub enum ResourceCommand {
    /// Create from a JSON file (`-` for stdin): `{"name": …, "template": {…}}`.
    Create { file: PathBuf },
    /// The ones you may use.
    List,
    /// One, with its attributes.
    Show {
        #[arg(value_name = "ID|NAME")]
        id: String,
    },
    /// Replace the attributes with a JSON object from a file, or edit them in $EDITOR.
    Update {
        #[arg(value_name = "ID|NAME")]
        id: String,
        file: Option<PathBuf>,
        /// Change only the attributes the file gives.
        #[arg(long)]
        append: bool,
    },
    /// Delete.
    Delete {
        #[arg(required = true, value_name = "ID|NAME")]
        ids: Vec<String>,
    },
    #[command(flatten)]
    Ownership(OwnershipCommand),
}

/// Which kind: its route and its JSON element.
pub struct Kind {
    pub base: &'static str,
    pub element: &'static str,
    pub label: &'static str,
    /// The command, `vm-template`, …
    pub command: &'static str,
}

impl Kind {
    /// How a name of this kind is looked up.
    pub fn named(&self) -> Named {
        Named {
            path: self.base,
            element: self.element,
            command: self.command,
        }
    }
}

pub const VM_TEMPLATE: Kind = Kind {
    base: "/vm_template",
    element: "VMTEMPLATE",
    label: "VM template",
    command: "vm-template",
};

pub const IMAGE: Kind = Kind {
    base: "/image",
    element: "IMAGE",
    label: "image",
    command: "image",
};

pub async fn run(args: &ApiArgs, kind: Kind, cmd: ResourceCommand) -> Result<ExitCode> {
    let api = args.connect()?;
    match cmd {
        ResourceCommand::Create { file } => {
            let created = api.post(kind.base, output::read_json(&file)?).await?;
            output::print_created(&created, args.json);
        }
        ResourceCommand::List => emit(args.json, &api.get(kind.base).await?, |pool| {
            table(
                ["ID", "USER", "GROUP", "NAME", "PERMISSIONS"],
                pool_items(pool, kind.element).iter().map(|r| {
                    [
                        text(r, "ID"),
                        text(r, "UNAME"),
                        text(r, "GNAME"),
                        text(r, "NAME"),
                        output::permissions(&r["PERMISSIONS"]),
                    ]
                }),
            )
        }),
        ResourceCommand::Show { id } => {
            let id = names::id(&api, &kind.named(), &id).await?;
            let doc = api.get(&format!("{}/{id}", kind.base)).await?;
            emit(args.json, &doc, |doc| {
                let r = &doc[kind.element];
                format!(
                    "{} {} INFORMATION\n{}\n\nATTRIBUTES\n{}",
                    kind.label.to_uppercase(),
                    text(r, "ID"),
                    fields(&[
                        ("ID", text(r, "ID")),
                        ("NAME", text(r, "NAME")),
                        ("USER", text(r, "UNAME")),
                        ("GROUP", text(r, "GNAME")),
                        ("PERMISSIONS", output::permissions(&r["PERMISSIONS"])),
                    ]),
                    pretty(&r["TEMPLATE"])
                )
            });
        }
        ResourceCommand::Update { id, file, append } => {
            let id = names::id(&api, &kind.named(), &id).await?;
            let path = format!("{}/{id}", kind.base);
            let attributes = match file {
                Some(file) => Some(output::read_json(&file)?),
                None => {
                    let current = api.get(&path).await?;
                    output::edit_json(
                        &current[kind.element]["TEMPLATE"],
                        &format!("{} {id}", kind.label),
                    )?
                }
            };
            match attributes {
                Some(Value::Object(attributes)) => {
                    api.put(&path, json!({ "template": attributes, "append": append }))
                        .await?;
                }
                Some(_) => return Err("the attributes must be a JSON object".into()),
                None => eprintln!("no changes; {} {id} left as it was", kind.label),
            }
        }
        ResourceCommand::Delete { ids } => {
            for id in names::ids(&api, &kind.named(), &ids).await? {
                api.delete(&format!("{}/{id}", kind.base), None)
                    .await
                    .map_err(|e| format!("{} {id}: {e}", kind.label))?;
            }
        }
        ResourceCommand::Ownership(cmd) => ownership::run(&api, &kind.named(), cmd).await?,
    }
    Ok(ExitCode::SUCCESS)
}
