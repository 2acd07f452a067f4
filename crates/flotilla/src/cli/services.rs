//! `flotilla service …`: services (`oneflow`), with `top` and `--wait`.

use super::connection::{Api, ApiArgs};
use super::output::{self, emit, fields, join, pool_items, table, text};
use super::ownership::{self, OwnershipCommand};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(clap::Subcommand, Debug)]
pub enum ServiceCommand {
    /// The services you may use.
    List,
    /// One service: its roles, VMs, scheduled actions and recent log.
    Show { id: u64 },
    /// Why each role has the size it has: its bounds, guards and policies,
    /// and every evaluation kept (newest first) with what it read and did.
    Explain {
        id: u64,
        role: Option<String>,
        /// Show at most this many decisions per role.
        #[arg(long, default_value_t = 10)]
        limit: usize,
    },
    /// The service list (or one service), refreshed in place until Ctrl-C.
    Top {
        id: Option<u64>,
        /// Seconds between refreshes.
        #[arg(short, long, default_value_t = 2)]
        delay: u64,
        /// Stop after this many refreshes.
        #[arg(long)]
        count: Option<u64>,
    },
    /// Undeploy services: terminate their VMs in reverse dependency order.
    Delete {
        #[arg(required = true)]
        ids: Vec<u64>,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Recover a failed service (retry, or with --delete remove it from any state).
    Recover {
        id: u64,
        #[arg(long)]
        delete: bool,
    },
    /// Change how many VMs a role has.
    Scale {
        id: u64,
        role: String,
        cardinality: u32,
        /// Go beyond the role's min_vms / max_vms.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Run a VM action (reboot, poweroff, …) on a role's VMs, or on every
    /// role's when no role is given: `action 3 web reboot`, `action 3 reboot`.
    Action {
        id: u64,
        /// [ROLE] ACTION
        #[arg(num_args = 1..=2, required = true, value_names = ["ROLE", "ACTION"])]
        target: Vec<String>,
        /// Seconds between batches.
        #[arg(short, long)]
        period: Option<u64>,
        /// VMs per batch.
        #[arg(short, long)]
        number: Option<u64>,
        /// Arguments of the action (snapshot name, …).
        #[arg(long)]
        args: Option<String>,
    },
    /// Add a role (JSON file, `-` for stdin) to a running service.
    AddRole { id: u64, file: PathBuf },
    /// Remove a role and its VMs from a running service.
    RemoveRole { id: u64, role: String },
    /// Change a running service's template from a JSON file, or in $EDITOR.
    Update {
        id: u64,
        file: Option<PathBuf>,
        /// Change only the attributes the file gives.
        #[arg(long)]
        append: bool,
    },
    /// Deploy the roles a service holds (on_hold).
    Release { id: u64 },
    /// Delete every DONE service (oneadmin group).
    PurgeDone,
    /// Cancel the pending VM actions of a batched action: `sched-delete 3 [ROLE] 0`.
    SchedDelete {
        id: u64,
        /// [ROLE] SCHED_ID
        #[arg(num_args = 1..=2, required = true, value_names = ["ROLE", "SCHED_ID"])]
        target: Vec<String>,
    },
    #[command(flatten)]
    Ownership(OwnershipCommand),
}

#[derive(clap::Args, Debug, Clone)]
pub struct WaitArgs {
    /// Wait and show each role's progress until done; exit non-zero on failure.
    #[arg(long)]
    pub wait: bool,
    /// Give up waiting after this many seconds.
    #[arg(long, default_value_t = 900, value_name = "SECONDS")]
    pub timeout: u64,
}

const BASE: &str = "/service";

pub async fn run(args: &ApiArgs, cmd: ServiceCommand) -> Result<ExitCode, String> {
    let api = args.connect()?;
    let json = args.json;
    let mut ok = true;
    match cmd {
        ServiceCommand::List => emit(json, &api.get(BASE).await?, list_table),
        ServiceCommand::Show { id } => {
            emit(json, &api.get(&format!("{BASE}/{id}")).await?, |doc| {
                show(&doc["DOCUMENT"])
            });
        }
        ServiceCommand::Explain { id, role, limit } => {
            let mut path = format!("{BASE}/{id}/explain?limit={limit}");
            if let Some(role) = role {
                path.push_str(&format!("&role={role}"));
            }
            emit(json, &api.get(&path).await?, super::explain::render);
        }
        ServiceCommand::Top { id, delay, count } => top(&api, id, delay, count, json).await?,
        ServiceCommand::Delete { ids, wait } => {
            for id in &ids {
                api.delete(&format!("{BASE}/{id}"), None)
                    .await
                    .map_err(|e| format!("service {id}: {e}"))?;
            }
            if wait.wait {
                for id in ids {
                    ok &= wait_for(&api, id, Target::Gone, &wait, json).await?;
                }
            }
        }
        ServiceCommand::Recover { id, delete } => {
            api.action(
                &format!("{BASE}/{id}"),
                "recover",
                json!({ "delete": delete }),
            )
            .await?;
        }
        ServiceCommand::Scale {
            id,
            role,
            cardinality,
            force,
            wait,
        } => {
            api.post(
                &format!("{BASE}/{id}/scale"),
                json!({ "role_name": role, "cardinality": cardinality, "force": force }),
            )
            .await?;
            if wait.wait {
                ok = wait_for(&api, id, Target::Scaled { role, cardinality }, &wait, json).await?;
            }
        }
        ServiceCommand::Action {
            id,
            target,
            period,
            number,
            args,
        } => {
            let mut params = json!({});
            if let Some(p) = period {
                params["period"] = json!(p);
            }
            if let Some(n) = number {
                params["number"] = json!(n);
            }
            if let Some(a) = args {
                params["args"] = json!(a);
            }
            match target.as_slice() {
                [action] => api.action(&format!("{BASE}/{id}"), action, params).await?,
                [role, action] => {
                    api.action(&format!("{BASE}/{id}/role/{role}"), action, params)
                        .await?
                }
                _ => unreachable!("clap allows one or two values"),
            };
        }
        ServiceCommand::AddRole { id, file } => {
            let role = output::read_json(&file)?;
            api.post(
                &format!("{BASE}/{id}/role_action"),
                json!({ "action": { "perform": "add_role", "params": { "role": role } } }),
            )
            .await?;
        }
        ServiceCommand::RemoveRole { id, role } => {
            api.post(
                &format!("{BASE}/{id}/role_action"),
                json!({ "action": { "perform": "remove_role", "params": { "role": role } } }),
            )
            .await?;
        }
        ServiceCommand::Update { id, file, append } => {
            let path = format!("{BASE}/{id}");
            match file {
                Some(file) => {
                    let body = output::read_json(&file)?;
                    let body = if append {
                        json!({ "append": true, "template": body.to_string() })
                    } else {
                        body
                    };
                    api.put(&path, body).await?;
                }
                None => {
                    let current = api.get(&path).await?;
                    let body = current["DOCUMENT"]["TEMPLATE"]["BODY"].clone();
                    match output::edit_json(&body, &format!("service {id}"))? {
                        Some(edited) => {
                            api.put(&path, edited).await?;
                        }
                        None => eprintln!("no changes; service {id} left as it was"),
                    }
                }
            }
        }
        ServiceCommand::Release { id } => {
            api.action(&format!("{BASE}/{id}"), "release", json!({}))
                .await?;
        }
        ServiceCommand::PurgeDone => {
            api.post("/service_pool/purge_done", json!({})).await?;
        }
        ServiceCommand::SchedDelete { id, target } => {
            let path = match target.as_slice() {
                [sched] => format!("{BASE}/{id}/sched_action/{sched}"),
                [role, sched] => format!("{BASE}/{id}/role/{role}/sched_action/{sched}"),
                _ => unreachable!("clap allows one or two values"),
            };
            api.delete(&path, None).await?;
        }
        ServiceCommand::Ownership(cmd) => ownership::run(&api, BASE, cmd).await?,
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn list_table(pool: &Value) -> String {
    let docs = pool_items(pool, "DOCUMENT");
    table(
        ["ID", "USER", "GROUP", "NAME", "STATE", "ROLES", "STARTED"],
        docs.iter().map(|d| {
            let body = &d["TEMPLATE"]["BODY"];
            let roles: Vec<String> = body["roles"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| format!("{}:{}", text(r, "name"), running_vms(r).0))
                .collect();
            [
                text(d, "ID"),
                text(d, "UNAME"),
                text(d, "GNAME"),
                text(d, "NAME"),
                output::service_state(&body["state"]),
                roles.join(" "),
                output::time(&body["start_time"]),
            ]
        }),
    )
}

/// (VMs RUNNING, VMs) of a role.
fn running_vms(role: &Value) -> (usize, usize) {
    let nodes = role["nodes"].as_array().cloned().unwrap_or_default();
    let running = nodes
        .iter()
        .filter(|n| n["vm_info"]["VM"]["STATE"] == "RUNNING")
        .count();
    (running, nodes.len())
}

fn show(doc: &Value) -> String {
    let body = &doc["TEMPLATE"]["BODY"];
    let mut out = fields(&[
        ("ID", text(doc, "ID")),
        ("NAME", text(doc, "NAME")),
        ("USER", text(doc, "UNAME")),
        ("GROUP", text(doc, "GNAME")),
        ("STRATEGY", text(body, "deployment")),
        ("STATE", output::service_state(&body["state"])),
        ("STARTED", output::time(&body["start_time"])),
        ("PERMISSIONS", output::permissions(&doc["PERMISSIONS"])),
    ]);
    let roles = body["roles"].as_array().cloned().unwrap_or_default();
    out.push_str("\n\n");
    out.push_str(&table(
        ["ROLE", "STATE", "CARDINALITY", "RUNNING", "PARENTS"],
        roles.iter().map(|r| {
            let (running, total) = running_vms(r);
            [
                text(r, "name"),
                output::role_state(&r["state"]),
                text(r, "cardinality"),
                format!("{running}/{total}"),
                join(&r["parents"]),
            ]
        }),
    ));
    out.push_str("\n\n");
    let nodes: Vec<[String; 4]> = roles
        .iter()
        .flat_map(|r| {
            let role = text(r, "name");
            r["nodes"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |n| {
                    let vm = &n["vm_info"]["VM"];
                    [
                        text(vm, "ID"),
                        text(vm, "NAME"),
                        role.clone(),
                        text(vm, "STATE"),
                    ]
                })
        })
        .collect();
    out.push_str(&table(["VM", "NAME", "ROLE", "STATE"], nodes));
    let scheduled: Vec<[String; 5]> = roles
        .iter()
        .flat_map(|r| {
            let role = text(r, "name");
            r["scheduled_actions"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |a| {
                    [
                        text(&a, "id"),
                        role.clone(),
                        text(&a, "action"),
                        text(&a, "vm_id"),
                        output::time(&a["time"]),
                    ]
                })
        })
        .collect();
    if !scheduled.is_empty() {
        out.push_str("\n\nSCHEDULED ACTIONS\n");
        out.push_str(&table(["ID", "ROLE", "ACTION", "VM", "TIME"], scheduled));
    }
    let log = body["log"].as_array().cloned().unwrap_or_default();
    if !log.is_empty() {
        out.push_str("\n\nLOG\n");
        for entry in log.iter().skip(log.len().saturating_sub(10)) {
            out.push_str(&format!(
                "{} [{}] {}\n",
                output::time(&entry["timestamp"]),
                text(entry, "severity"),
                text(entry, "message")
            ));
        }
    }
    out.trim_end().to_string()
}

async fn top(
    api: &Api,
    id: Option<u64>,
    delay: u64,
    count: Option<u64>,
    json: bool,
) -> Result<(), String> {
    // With --json, one compact document per line for scripts; no screen codes.
    let tty = !json && std::io::IsTerminal::is_terminal(&std::io::stdout());
    let mut round = 0;
    loop {
        let screen = match id {
            Some(id) => {
                let doc = api.get(&format!("{BASE}/{id}")).await?;
                if json {
                    doc.to_string()
                } else {
                    show(&doc["DOCUMENT"])
                }
            }
            None => {
                let pool = api.get(BASE).await?;
                if json {
                    pool.to_string()
                } else {
                    list_table(&pool)
                }
            }
        };
        if tty {
            // Home the cursor and clear the screen: refresh in place.
            out!("\x1b[H\x1b[2J");
        } else if round > 0 && !json {
            outln!();
        }
        outln!("{screen}");
        round += 1;
        if count.is_some_and(|c| round >= c) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(delay.max(1))).await;
    }
}

/// What `--wait` waits for.
pub enum Target {
    /// Deployed: RUNNING (or HOLD, waiting for a release).
    Running,
    /// A scale finished with the role at its new cardinality.
    Scaled { role: String, cardinality: u32 },
    /// Undeployed and deleted.
    Gone,
}

/// Poll a service until it reaches the target, printing each role's
/// progress when it changes. `Ok(false)` when the service failed; an
/// error when waiting timed out or the API did not answer.
pub async fn wait_for(
    api: &Api,
    id: u64,
    target: Target,
    args: &WaitArgs,
    json: bool,
) -> Result<bool, String> {
    // Progress goes to stderr when stdout is for --json.
    let say = |line: &str| {
        if json {
            eprintln!("{line}");
        } else {
            outln!("{line}");
        }
    };
    let started = Instant::now();
    let mut last = String::new();
    loop {
        let doc = match api.request("GET", &format!("{BASE}/{id}"), None).await {
            Ok(doc) => doc,
            Err(f) if f.status == 404 && matches!(target, Target::Gone) => {
                say(&format!("service {id}: deleted"));
                return Ok(true);
            }
            Err(f) => return Err(f.message),
        };
        let body = &doc["DOCUMENT"]["TEMPLATE"]["BODY"];
        let state = output::service_state(&body["state"]);
        let progress = progress(id, body);
        if progress != last {
            say(&progress);
            last = progress;
        }
        // WARNING: a VM failed or went missing after the deploy; waiting on
        // would not bring it back.
        let failed = matches!(
            state.as_str(),
            "FAILED_DEPLOYING" | "FAILED_SCALING" | "FAILED_UNDEPLOYING" | "WARNING"
        );
        if failed {
            let reason = body["log"]
                .as_array()
                .and_then(|l| l.iter().rev().find(|e| e["severity"] == "E"))
                .map(|e| text(e, "message"))
                .unwrap_or_else(|| "see `flotilla service show`".into());
            eprintln!("service {id} is {state}: {reason}");
            if state == "WARNING" {
                eprintln!("`flotilla service show {id}` shows which VMs");
            } else {
                eprintln!("`flotilla service recover {id}` retries; `--delete` removes it");
            }
            return Ok(false);
        }
        let done = match &target {
            Target::Running => {
                if state == "HOLD" {
                    say(&format!(
                        "service {id} is HOLD: roles wait for `flotilla service release {id}`"
                    ));
                }
                matches!(state.as_str(), "RUNNING" | "HOLD")
            }
            Target::Scaled { role, cardinality } => {
                let role = body["roles"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|r| r["name"] == Value::String(role.clone()));
                // The role is done scaling once it is out of SCALING with
                // its new number of VMs (one a user powered off still counts).
                matches!(state.as_str(), "RUNNING" | "COOLDOWN")
                    && role.is_some_and(|r| {
                        matches!(
                            output::role_state(&r["state"]).as_str(),
                            "RUNNING" | "COOLDOWN"
                        ) && running_vms(r).1 == *cardinality as usize
                    })
            }
            Target::Gone => state == "DONE",
        };
        if done {
            return Ok(true);
        }
        if started.elapsed() > Duration::from_secs(args.timeout) {
            return Err(format!(
                "gave up waiting after {} s: service {id} is {state} (`flotilla service show {id}`)",
                args.timeout
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// `service 3 DEPLOYING` and one line per role: its state and VMs running.
fn progress(id: u64, body: &Value) -> String {
    let mut out = format!("service {id} {}", output::service_state(&body["state"]));
    for r in body["roles"].as_array().into_iter().flatten() {
        let (running, total) = running_vms(r);
        out.push_str(&format!(
            "\n  {:<16} {:<18} {running}/{} VMs running",
            text(r, "name"),
            output::role_state(&r["state"]),
            r["cardinality"].as_u64().unwrap_or(total as u64),
        ));
    }
    out
}
