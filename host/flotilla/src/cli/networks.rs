//! `flotilla vnet …` and `flotilla vntemplate …`: virtual networks and
//! network templates. The commands every attribute resource has (create,
//! list, show, update, delete, chown, …) come from `resources.rs`; what is
//! particular to networks (leases, reservations, instantiation) is here.

use super::connection::ApiArgs;
use super::error::Result;
use super::names;
use super::output::{self, emit, table, text};
use super::resources::{self, Kind, ResourceCommand};
use serde_json::{Value, json};
use std::process::ExitCode;

pub const VNET: Kind = Kind {
    base: "/vnet",
    element: "VNET",
    label: "virtual network",
    command: "vnet",
};

pub const VNTEMPLATE: Kind = Kind {
    base: "/vntemplate",
    element: "VNTEMPLATE",
    label: "virtual network template",
    command: "vntemplate",
};

#[derive(clap::Subcommand, Debug)]
pub enum VnetCommand {
    #[command(flatten)]
    Resource(ResourceCommand),
    /// The addresses leased from a network, and who holds them.
    Leases {
        #[arg(value_name = "ID|NAME")]
        id: String,
    },
    /// Reserve SIZE consecutive free addresses of a network as a new one.
    Reserve {
        #[arg(value_name = "ID|NAME")]
        id: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        size: u32,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum VntemplateCommand {
    #[command(flatten)]
    Resource(ResourceCommand),
    /// Make a network from a template; EXTRA is OpenNebula template text
    /// (`AR=[IP=10.0.0.1, SIZE=10, TYPE=IP4]`).
    Instantiate {
        #[arg(value_name = "ID|NAME")]
        id: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        extra: Option<String>,
    },
}

pub async fn vnet(args: &ApiArgs, cmd: VnetCommand) -> Result<ExitCode> {
    let api = args.connect()?;
    match cmd {
        VnetCommand::Resource(cmd) => return resources::run(args, VNET, cmd).await,
        VnetCommand::Leases { id } => {
            let id = names::id(&api, &VNET.named(), &id).await?;
            let doc = api.get(&format!("/vnet/{id}")).await?;
            emit(args.json, &doc["VNET"]["LEASES"], |leases| {
                let rows: Vec<Value> = leases.as_array().cloned().unwrap_or_default();
                table(
                    ["IP", "MAC", "HOLDER", "SERVICE"],
                    rows.iter().map(|l| {
                        [
                            text(l, "IP"),
                            text(l, "MAC"),
                            text(l, "HOLDER"),
                            text(l, "SERVICE_ID"),
                        ]
                    }),
                )
            });
        }
        VnetCommand::Reserve { id, name, size } => {
            let id = names::id(&api, &VNET.named(), &id).await?;
            let created = api
                .post(
                    &format!("/vnet/{id}/reserve"),
                    json!({"name": name, "size": size}),
                )
                .await?;
            output::print_created(&created, args.json);
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn vntemplate(args: &ApiArgs, cmd: VntemplateCommand) -> Result<ExitCode> {
    match cmd {
        VntemplateCommand::Resource(cmd) => resources::run(args, VNTEMPLATE, cmd).await,
        VntemplateCommand::Instantiate { id, name, extra } => {
            let api = args.connect()?;
            let id = names::id(&api, &VNTEMPLATE.named(), &id).await?;
            let created = api
                .post(
                    &format!("/vntemplate/{id}/instantiate"),
                    json!({"name": name, "extra": extra}),
                )
                .await?;
            output::print_created(&created, args.json);
            Ok(ExitCode::SUCCESS)
        }
    }
}
