//! `flotilla service …`: services (`oneflow`), with `top` and `--wait`.

use super::connection::{Api, ApiArgs};
use super::error::{CliError, Result};
use super::names;
use super::output::{self, emit, fields, join, pool_items, table, text};
use super::ownership::{self, OwnershipCommand};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(clap::Subcommand, Debug)]
pub enum ServiceCommand {
    /// The services you may use.
    List {
        #[command(flatten)]
        format: FormatArgs,
    },
    /// One service: its roles, VMs, scheduled actions and recent log.
    Show {
        #[arg(value_name = "ID|NAME")]
        id: String,
        #[command(flatten)]
        format: FormatArgs,
    },
    /// Why each role has the size it has: its bounds, guards and policies,
    /// and every evaluation kept (newest first) with what it read and did.
    Explain {
        #[arg(value_name = "ID|NAME")]
        id: String,
        role: Option<String>,
        /// Show at most this many decisions per role.
        #[arg(long, default_value_t = 10)]
        limit: usize,
    },
    /// The service list (or one service), refreshed in place until Ctrl-C.
    Top {
        #[arg(value_name = "ID|NAME")]
        id: Option<String>,
        /// Seconds between refreshes.
        #[arg(short, long, default_value_t = 2)]
        delay: u64,
        /// Stop after this many refreshes.
        #[arg(long)]
        count: Option<u64>,
    },
    /// Undeploy services: terminate their VMs in reverse dependency order.
    Delete {
        #[arg(required = true, value_name = "ID|NAME")]
        ids: Vec<String>,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Recover a failed service (retry, or with --delete remove it from any state).
    Recover {
        #[arg(value_name = "ID|NAME")]
        id: String,
        #[arg(long)]
        delete: bool,
    },
    /// Change how many VMs a role has.
    Scale {
        #[arg(value_name = "ID|NAME")]
        id: String,
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
        #[arg(value_name = "ID|NAME")]
        id: String,
        /// [ROLE] ACTION
        #[arg(num_args = 1..=2, required = true, value_names = ["ROLE", "ACTION"])]
        target: Vec<String>,
        /// Seconds between batches [default: 60 when neither --period nor
        /// --number is given, else 0: all at once]
        #[arg(short, long)]
        period: Option<u64>,
        /// VMs per batch [default: 1 when neither --period nor --number is
        /// given, else 0: all at once]
        #[arg(short, long)]
        number: Option<u64>,
        /// Arguments of the action (snapshot name, …).
        #[arg(long)]
        args: Option<String>,
    },
    /// Add a role (JSON file, `-` for stdin) to a running service.
    AddRole {
        #[arg(value_name = "ID|NAME")]
        id: String,
        file: PathBuf,
    },
    /// Remove a role and its VMs from a running service.
    RemoveRole {
        #[arg(value_name = "ID|NAME")]
        id: String,
        role: String,
    },
    /// Change a running service's template from a JSON file, or in $EDITOR.
    Update {
        #[arg(value_name = "ID|NAME")]
        id: String,
        file: Option<PathBuf>,
        /// Change only the attributes the file gives.
        #[arg(long)]
        append: bool,
    },
    /// Deploy the roles a service holds (on_hold).
    Release {
        #[arg(value_name = "ID|NAME")]
        id: String,
    },
    /// Delete every DONE service (oneadmin group).
    PurgeDone,
    /// Cancel the pending VM actions of a batched action: `sched-delete 3 [ROLE] 0`.
    SchedDelete {
        #[arg(value_name = "ID|NAME")]
        id: String,
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

/// `-o wide`: more columns (each VM's addresses).
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct FormatArgs {
    /// `wide` adds each VM's IP addresses.
    #[arg(short = 'o', long = "output", value_enum, value_name = "FORMAT")]
    format: Option<Format>,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Wide,
}

impl FormatArgs {
    fn wide(&self) -> bool {
        self.format == Some(Format::Wide)
    }
}

const BASE: &str = "/service";

pub async fn run(args: &ApiArgs, cmd: ServiceCommand) -> Result<ExitCode> {
    let api = args.connect()?;
    let json = args.json;
    let mut ok = true;
    let id_of = |given: String| {
        let api = &api;
        async move { names::id(api, &names::SERVICE, &given).await }
    };
    match cmd {
        ServiceCommand::List { format } => emit(json, &api.get(BASE).await?, |pool| {
            list_table(pool, format.wide())
        }),
        ServiceCommand::Show { id, format } => {
            let id = id_of(id).await?;
            emit(json, &api.get(&format!("{BASE}/{id}")).await?, |doc| {
                show(&doc["DOCUMENT"], format.wide())
            });
        }
        ServiceCommand::Explain { id, role, limit } => {
            let id = id_of(id).await?;
            let mut path = format!("{BASE}/{id}/explain?limit={limit}");
            if let Some(role) = role {
                path.push_str(&format!("&role={role}"));
            }
            emit(json, &api.get(&path).await?, super::explain::render);
        }
        ServiceCommand::Top { id, delay, count } => {
            let id = match id {
                Some(id) => Some(id_of(id).await?),
                None => None,
            };
            top(&api, id, delay, count, json).await?
        }
        ServiceCommand::Delete { ids, wait } => {
            let ids = names::ids(&api, &names::SERVICE, &ids).await?;
            for id in &ids {
                api.delete(&format!("{BASE}/{id}"), None)
                    .await
                    .map_err(|e| format!("service {id}: {e}"))?;
                say(json, &format!("service {id}: undeploying"));
            }
            if wait.wait {
                for id in ids {
                    ok &= wait_for(&api, id, Target::Gone, &wait, json).await?;
                }
            }
        }
        ServiceCommand::Recover { id, delete } => {
            let id = id_of(id).await?;
            api.action(
                &format!("{BASE}/{id}"),
                "recover",
                json!({ "delete": delete }),
            )
            .await?;
            say(
                json,
                &if delete {
                    format!("service {id}: being removed")
                } else {
                    format!("service {id}: recovering")
                },
            );
        }
        ServiceCommand::Scale {
            id,
            role,
            cardinality,
            force,
            wait,
        } => {
            let id = id_of(id).await?;
            api.post(
                &format!("{BASE}/{id}/scale"),
                json!({ "role_name": role, "cardinality": cardinality, "force": force }),
            )
            .await?;
            say(
                json,
                &format!("service {id}: role {role} scaling to {cardinality} VMs"),
            );
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
            let id = id_of(id).await?;
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
            let (role, action) = match target.as_slice() {
                [action] => (None, action),
                [role, action] => (Some(role.as_str()), action),
                _ => unreachable!("clap allows one or two values"),
            };
            let path = match role {
                Some(role) => format!("{BASE}/{id}/role/{role}"),
                None => format!("{BASE}/{id}"),
            };
            let before = api.get(&format!("{BASE}/{id}")).await?;
            let known = newest_scheduled(&before["DOCUMENT"]["TEMPLATE"]["BODY"]);
            api.action(&path, action, params).await?;
            let after = api.get(&format!("{BASE}/{id}")).await?;
            let body = &after["DOCUMENT"]["TEMPLATE"]["BODY"];
            for line in action_report(id, body, role, action, known) {
                say(json, &line);
            }
        }
        ServiceCommand::AddRole { id, file } => {
            let id = id_of(id).await?;
            let role = output::read_json(&file)?;
            let name = text(&role, "name");
            api.post(
                &format!("{BASE}/{id}/role_action"),
                json!({ "action": { "perform": "add_role", "params": { "role": role } } }),
            )
            .await?;
            say(json, &format!("service {id}: role {name} added, deploying"));
        }
        ServiceCommand::RemoveRole { id, role } => {
            let id = id_of(id).await?;
            api.post(
                &format!("{BASE}/{id}/role_action"),
                json!({ "action": { "perform": "remove_role", "params": { "role": role } } }),
            )
            .await?;
            say(json, &format!("service {id}: role {role} being removed"));
        }
        ServiceCommand::Update { id, file, append } => {
            let id = id_of(id).await?;
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
            let id = id_of(id).await?;
            api.action(&format!("{BASE}/{id}"), "release", json!({}))
                .await?;
            say(json, &format!("service {id}: held roles released"));
        }
        ServiceCommand::PurgeDone => {
            api.post("/service_pool/purge_done", json!({})).await?;
        }
        ServiceCommand::SchedDelete { id, target } => {
            let id = id_of(id).await?;
            let path = match target.as_slice() {
                [sched] => format!("{BASE}/{id}/sched_action/{sched}"),
                [role, sched] => format!("{BASE}/{id}/role/{role}/sched_action/{sched}"),
                _ => unreachable!("clap allows one or two values"),
            };
            api.delete(&path, None).await?;
        }
        ServiceCommand::Ownership(cmd) => ownership::run(&api, &names::SERVICE, cmd).await?,
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// What a command did, for people: on stdout, or on stderr when stdout
/// is for `--json`.
fn say(json: bool, line: &str) {
    if json {
        eprintln!("{line}");
    } else {
        outln!("{line}");
    }
}

/// The id of the newest scheduled action a service holds: the ids grow,
/// so those above it after an action are that action's.
fn newest_scheduled(body: &Value) -> Option<u64> {
    scheduled(body, None).filter_map(|a| a["id"].as_u64()).max()
}

/// The scheduled VM actions of a service, or of one role.
fn scheduled<'a>(body: &'a Value, role: Option<&'a Value>) -> impl Iterator<Item = &'a Value> {
    body["roles"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(move |r| role.is_none_or(|only| std::ptr::eq(*r, only)))
        .flat_map(|r| r["scheduled_actions"].as_array().into_iter().flatten())
}

/// `role web: poweroff sent to 2 VMs`, one line per role the action went
/// to, read from the service just after: the VMs it went to now and those
/// a batched action holds for later (scheduled actions newer than `known`).
fn action_report(
    id: u64,
    body: &Value,
    role: Option<&str>,
    action: &str,
    known: Option<u64>,
) -> Vec<String> {
    body["roles"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| role.is_none_or(|name| r["name"] == name))
        .map(|r| {
            let name = text(r, "name");
            let vms = r["nodes"].as_array().map_or(0, Vec::len);
            let later: Vec<u64> = scheduled(body, Some(r))
                .filter_map(|a| a["id"].as_u64())
                .filter(|sched| known.is_none_or(|k| *sched > k))
                .collect();
            let now = vms.saturating_sub(later.len());
            let mut line = format!("role {name}: {action} sent to {now} {}", vm_word(now));
            if let Some(sched) = later.first() {
                line.push_str(&format!(
                    ", {} more scheduled (`flotilla service sched-delete {id} {name} {sched}` cancels them)",
                    later.len()
                ));
            }
            line
        })
        .collect()
}

fn vm_word(n: usize) -> &'static str {
    if n == 1 { "VM" } else { "VMs" }
}

fn list_table(pool: &Value, wide: bool) -> String {
    let docs = pool_items(pool, "DOCUMENT");
    let rows = docs.iter().map(|d| {
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
    });
    let header = ["ID", "USER", "GROUP", "NAME", "STATE", "ROLES", "STARTED"];
    if !wide {
        return table(header, rows);
    }
    let ips = docs.iter().map(|d| {
        let all: Vec<String> = d["TEMPLATE"]["BODY"]["roles"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|r| r["nodes"].as_array().cloned().unwrap_or_default())
            .flat_map(|n| ips(&n))
            .collect();
        dash_if_empty(all.join(","))
    });
    table(
        [
            "ID", "USER", "GROUP", "NAME", "STATE", "ROLES", "STARTED", "IPS",
        ],
        rows.zip(ips).map(|(r, ips)| {
            let [a, b, c, d, e, f, g] = r;
            [a, b, c, d, e, f, g, ips]
        }),
    )
}

/// The addresses of a node's NICs, as the service document gives them
/// (`vm_info.VM.TEMPLATE.NIC[].IP`).
fn ips(node: &Value) -> Vec<String> {
    node["vm_info"]["VM"]["TEMPLATE"]["NIC"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|nic| text(nic, "IP"))
        .filter(|ip| !ip.is_empty())
        .collect()
}

/// The host a VM runs on: its last history record, as OpenNebula keeps it.
fn host_of(node: &Value) -> String {
    let history = &node["vm_info"]["VM"]["HISTORY_RECORDS"]["HISTORY"];
    let last = match history {
        Value::Array(records) => records.last().unwrap_or(&Value::Null),
        record => record,
    };
    text(last, "HOSTNAME")
}

fn dash_if_empty(s: String) -> String {
    if s.is_empty() { "-".into() } else { s }
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

/// Whether the service's roles wait for their VMs to report `READY=YES`
/// through OneGate before they count as running (`ready_status_gate`).
fn ready_gate(body: &Value) -> bool {
    body["ready_status_gate"] == true
}

/// VMs of a role that reported READY=YES.
fn ready_vms(role: &Value) -> usize {
    role["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|n| n["ready"] == true)
        .count()
}

/// What a role that is not yet deployed waits for: `READY=YES` from its
/// VMs, or (deployment `straight`) parents that are not running yet.
fn waiting_for(body: &Value, role: &Value) -> Option<String> {
    let state = output::role_state(&role["state"]);
    match state.as_str() {
        "PENDING" if body["deployment"] == "straight" => {
            let roles = body["roles"].as_array()?;
            let waiting: Vec<&str> = role["parents"]
                .as_array()?
                .iter()
                .filter_map(Value::as_str)
                .filter(|p| {
                    roles
                        .iter()
                        .any(|r| r["name"] == *p && output::role_state(&r["state"]) != "RUNNING")
                })
                .collect();
            (!waiting.is_empty()).then(|| format!("waiting for parents: {}", waiting.join(", ")))
        }
        "DEPLOYING" | "SCALING" if ready_gate(body) => {
            let (running, _) = running_vms(role);
            (running > ready_vms(role)).then(|| "waiting for READY=YES through OneGate".to_string())
        }
        _ => None,
    }
}

fn show(doc: &Value, wide: bool) -> String {
    let body = &doc["TEMPLATE"]["BODY"];
    let gate = ready_gate(body);
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
    if gate {
        out.push('\n');
        out.push_str(&fields(&[(
            "READY GATE",
            "roles wait for their VMs to report READY=YES through OneGate".into(),
        )]));
    }
    let roles = body["roles"].as_array().cloned().unwrap_or_default();
    out.push_str("\n\n");
    let role_rows = roles.iter().map(|r| {
        let (running, total) = running_vms(r);
        let mut parents = join(&r["parents"]);
        if let Some(wait) = waiting_for(body, r) {
            parents = format!("{} ({wait})", dash_if_empty(parents));
        }
        [
            text(r, "name"),
            output::role_state(&r["state"]),
            text(r, "cardinality"),
            format!("{running}/{total}"),
            format!("{}/{total}", ready_vms(r)),
            parents,
        ]
    });
    if gate {
        out.push_str(&table(
            [
                "ROLE",
                "STATE",
                "CARDINALITY",
                "RUNNING",
                "READY",
                "PARENTS",
            ],
            role_rows,
        ));
    } else {
        out.push_str(&table(
            ["ROLE", "STATE", "CARDINALITY", "RUNNING", "PARENTS"],
            role_rows.map(|[a, b, c, d, _, f]| [a, b, c, d, f]),
        ));
    }
    out.push_str("\n\n");
    let nodes: Vec<Value> = roles
        .iter()
        .flat_map(|r| {
            let role = text(r, "name");
            r["nodes"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |mut n| {
                    n["role"] = json!(role);
                    n
                })
        })
        .collect();
    // HOST once VMs are placed on hosts, READY under a ready gate, IPS
    // with --wide.
    let placed = nodes.iter().any(|n| !host_of(n).is_empty());
    let mut header = vec!["VM", "NAME", "ROLE", "STATE"];
    header.extend(placed.then_some("HOST"));
    header.extend(gate.then_some("READY"));
    header.extend(wide.then_some("IPS"));
    let rows = nodes.iter().map(|n| {
        let vm = &n["vm_info"]["VM"];
        let mut row = vec![
            text(vm, "ID"),
            text(vm, "NAME"),
            text(n, "role"),
            text(vm, "STATE"),
        ];
        if placed {
            row.push(dash_if_empty(host_of(n)));
        }
        if gate {
            row.push(if n["ready"] == true { "yes" } else { "no" }.to_string());
        }
        if wide {
            row.push(dash_if_empty(ips(n).join(",")));
        }
        row
    });
    let mut vm_table = output::columns(header, rows);
    for r in roles.iter() {
        for p in r["pending_vms"].as_array().into_iter().flatten() {
            vm_table.push_str(&format!(
                "\n{} (role {}) waits for a host: {}",
                text(p, "name"),
                text(r, "name"),
                text(p, "reason")
            ));
        }
    }
    out.push_str(&vm_table);
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

async fn top(api: &Api, id: Option<u64>, delay: u64, count: Option<u64>, json: bool) -> Result<()> {
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
                    show(&doc["DOCUMENT"], false)
                }
            }
            None => {
                let pool = api.get(BASE).await?;
                if json {
                    pool.to_string()
                } else {
                    list_table(&pool, false)
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
) -> Result<bool> {
    // Progress goes to stderr when stdout is for --json.
    let say = |line: &str| say(json, line);
    let started = Instant::now();
    let mut last = String::new();
    loop {
        let doc = match api.get(&format!("{BASE}/{id}")).await {
            Ok(doc) => doc,
            Err(e) if e.status() == Some(404) && matches!(target, Target::Gone) => {
                say(&format!("service {id}: deleted"));
                return Ok(true);
            }
            Err(e) => return Err(e),
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
            return Err(CliError::Local(format!(
                "gave up waiting after {} s: service {id} is {state} (`flotilla service show {id}`)",
                args.timeout
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// `service 3 DEPLOYING` and one line per role: its state, VMs running,
/// (with `ready_status_gate`) VMs that reported READY, and what it waits
/// for.
fn progress(id: u64, body: &Value) -> String {
    let mut out = format!("service {id} {}", output::service_state(&body["state"]));
    for r in body["roles"].as_array().into_iter().flatten() {
        let (running, total) = running_vms(r);
        let wanted = r["cardinality"].as_u64().unwrap_or(total as u64);
        out.push_str(&format!(
            "\n  {:<16} {:<18} {running}/{wanted} VMs running",
            text(r, "name"),
            output::role_state(&r["state"]),
        ));
        if ready_gate(body) {
            out.push_str(&format!(", {}/{wanted} ready", ready_vms(r)));
        }
        if let Some(wait) = waiting_for(body, r) {
            out.push_str(&format!(" ({wait})"));
        }
    }
    out
}
