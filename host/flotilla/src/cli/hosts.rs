//! `flotilla host …`: the fleet's hosts, as OpenNebula's `onehost` shows
//! them (oneadmin group only).

use super::connection::{Api, ApiArgs};
use super::error::{CliError, Result};
use super::output::{emit, fields, table, text, time};
use serde_json::{Map, Value, json};
use std::process::ExitCode;

#[derive(clap::Subcommand, Debug)]
pub enum HostCommand {
    /// Register a host; it is monitored at once.
    Create {
        name: String,
        /// The driver plugin that reaches it (the server's engine.driver).
        #[arg(long)]
        driver: String,
        /// How the driver reaches it: a libvirt URI
        /// (qemu+tcp://10.0.0.2/system), a simulated host's name.
        #[arg(long)]
        address: String,
        /// A label SCHED_REQUIREMENTS can read (`--label ZONE=a`); repeat
        /// for more.
        #[arg(long = "label", value_name = "KEY=VALUE")]
        labels: Vec<String>,
    },
    /// Every host, with its state and what its VMs take.
    List,
    /// One host.
    Show {
        #[arg(value_name = "ID|NAME")]
        host: String,
    },
    /// It takes new VMs again.
    Enable {
        #[arg(value_name = "ID|NAME")]
        host: String,
    },
    /// It keeps its VMs and is monitored, but gets no new ones.
    Disable {
        #[arg(value_name = "ID|NAME")]
        host: String,
    },
    /// Not monitored and gets nothing (refused while it holds VMs).
    Offline {
        #[arg(value_name = "ID|NAME")]
        host: String,
    },
    /// Remove a host that holds no VMs.
    Delete {
        #[arg(value_name = "ID|NAME")]
        host: String,
    },
}

pub async fn run(args: &ApiArgs, cmd: HostCommand) -> Result<ExitCode> {
    let api = args.connect()?;
    match cmd {
        HostCommand::Create {
            name,
            driver,
            address,
            labels,
        } => {
            let mut map = Map::new();
            for label in labels {
                let (k, v) = label.split_once('=').ok_or_else(|| {
                    CliError::Local(format!("--label `{label}`: expected KEY=VALUE"))
                })?;
                map.insert(k.to_string(), json!(v));
            }
            let body = json!({"name": name, "driver": driver, "address": address, "labels": map});
            let host = api.post("/host", body).await?;
            emit(args.json, &host, render);
        }
        HostCommand::List => {
            let pool = api.get("/host").await?;
            emit(args.json, &pool, |pool| {
                let hosts = pool["hosts"].as_array().cloned().unwrap_or_default();
                table(
                    [
                        "ID",
                        "NAME",
                        "STATE",
                        "VMS",
                        "ALLOCATED_CPU",
                        "ALLOCATED_MEM",
                    ],
                    hosts.iter().map(|h| {
                        [
                            text(h, "id"),
                            text(h, "name"),
                            text(h, "state"),
                            text(&h["allocated"], "vms"),
                            share(&h["allocated"]["cpu"], &h["total"]["cpu"], ""),
                            share(
                                &h["allocated"]["memory_mb"],
                                &h["total"]["memory_mb"],
                                " MB",
                            ),
                        ]
                    }),
                )
            });
        }
        HostCommand::Show { host } => {
            let id = host_id(&api, &host).await?;
            let host = api.get(&format!("/host/{id}")).await?;
            emit(args.json, &host, render);
        }
        HostCommand::Enable { host } => mode(&api, args, &host, "enable").await?,
        HostCommand::Disable { host } => mode(&api, args, &host, "disable").await?,
        HostCommand::Offline { host } => mode(&api, args, &host, "offline").await?,
        HostCommand::Delete { host } => {
            let id = host_id(&api, &host).await?;
            api.delete(&format!("/host/{id}"), None).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn mode(api: &Api, args: &ApiArgs, host: &str, perform: &str) -> Result<()> {
    let id = host_id(api, host).await?;
    let host = api
        .action(&format!("/host/{id}"), perform, json!({}))
        .await?;
    emit(args.json, &host, render);
    Ok(())
}

/// A host's id: digits as they are, a name through the list.
async fn host_id(api: &Api, given: &str) -> Result<u64> {
    if let Ok(id) = given.parse() {
        return Ok(id);
    }
    let pool = api.get("/host").await?;
    pool["hosts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|h| h["name"].as_str() == Some(given))
        .and_then(|h| h["id"].as_u64())
        .ok_or_else(|| {
            CliError::Local(format!(
                "no host named `{given}`; `flotilla host list` shows them"
            ))
        })
}

/// `used / total` (`2 / 8`), or the used part alone before the host's
/// first monitoring.
fn share(used: &Value, total: &Value, unit: &str) -> String {
    let number = |v: &Value| match v.as_f64() {
        Some(n) if n.fract() == 0.0 => format!("{n:.0}"),
        Some(n) => format!("{n:.2}"),
        None => "-".into(),
    };
    if total.is_null() {
        format!("{}{unit}", number(used))
    } else {
        format!("{} / {}{unit}", number(used), number(total))
    }
}

fn render(h: &Value) -> String {
    let labels = h["labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    let monitored = match h["monitored_ms"].as_u64() {
        Some(ms) => time(&json!(ms / 1000)),
        None => "never".into(),
    };
    let mut rows = vec![
        ("ID", text(h, "id")),
        ("NAME", text(h, "name")),
        ("STATE", text(h, "state")),
        ("DRIVER", text(h, "driver")),
        ("ADDRESS", text(h, "address")),
        ("LABELS", labels),
        ("MONITORED", monitored),
        ("VMS", text(&h["allocated"], "vms")),
        (
            "CPU",
            format!(
                "{} allocated, {} used",
                share(&h["allocated"]["cpu"], &h["total"]["cpu"], ""),
                share(&h["used"]["cpu"], &h["total"]["cpu"], "")
            ),
        ),
        (
            "MEMORY",
            format!(
                "{} allocated, {} used",
                share(
                    &h["allocated"]["memory_mb"],
                    &h["total"]["memory_mb"],
                    " MB"
                ),
                share(&h["used"]["memory_mb"], &h["total"]["memory_mb"], " MB")
            ),
        ),
    ];
    if let Some(reason) = h["reason"].as_str() {
        rows.push(("REASON", reason.to_string()));
    }
    if let Some(stale) = h["stale_vm_ids"].as_array().filter(|a| !a.is_empty()) {
        rows.push((
            "TO DESTROY",
            format!("{} VMs kept while it was lost", stale.len()),
        ));
    }
    fields(&rows)
}
