//! `flotilla policy simulate`: a role's policies replayed on a virtual
//! clock before they go live, through the same life cycle and the same
//! policy plugins (Wasm, a fresh instance per evaluation) the server runs;
//! or, with `--service`, a live role's recorded evaluations run again.

use super::connection::ApiArgs;
use super::error::{CliError, Result};
use super::output::time;
use crate::engine::{PluginLibrary, PolicyBackend};
use crate::model::FieldError;
use crate::plugin::PluginHost;
use crate::service::LoadShape;
use crate::service::elasticity::VmInput;
use crate::service::lifecycle::{AutoscaleSettings, DecisionRecord};
use crate::service::model::Role;
use crate::service::simulation::{self, Replayed, Report, Scenario};
use serde_json::Value;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(clap::Subcommand)]
pub enum PolicyCommand {
    /// Replay a role's policies against a load on a virtual clock and show
    /// what would happen; with --service, run a live role's recorded
    /// evaluations again and show whether they reproduce.
    Simulate(SimulateArgs),
}

#[derive(clap::Args)]
pub struct SimulateArgs {
    /// A service template (JSON, as for `template create`).
    #[arg(required_unless_present = "service")]
    template: Option<PathBuf>,
    /// The role whose policies are simulated (default: the first with policies).
    #[arg(long)]
    role: Option<String>,
    /// The load: constant:V, step:BEFORE:AFTER:AT_S, ramp:FROM:TO:SECONDS,
    /// sine:MIN:MAX:PERIOD_S, spike:BASE:PEAK:AT_S:FOR_S.
    #[arg(long, default_value = "sine:20:250:3600")]
    load: String,
    /// The value the load is reported as.
    #[arg(long, default_value = "CPU")]
    metric: String,
    /// The load is what each VM reports; by default it is the role's total
    /// demand in percent of one VM, shared by its running VMs.
    #[arg(long)]
    per_vm: bool,
    /// How long to simulate: 90s, 30m, 24h, 7d.
    #[arg(long, default_value = "24h")]
    duration: String,
    /// Evaluation cadence, the server's engine.policy_evaluation_seconds.
    #[arg(long, default_value = "15s")]
    every: String,
    /// How long a new VM takes to run.
    #[arg(long, default_value = "60s")]
    boot: String,
    /// Cooldown of roles that set none (the server's
    /// engine.default_cooldown_seconds).
    #[arg(long, default_value = "300s")]
    default_cooldown: String,
    /// Count the time each VM's value is above and below this.
    #[arg(long)]
    target: Option<f64>,
    /// A policy plugin the template names (its manifest beside it); repeatable.
    #[arg(long = "plugin")]
    plugins: Vec<PathBuf>,
    /// Replay the recorded evaluations of a live service's role (from the
    /// server; --role names the role).
    #[arg(long)]
    service: Option<u64>,
}

pub async fn run(api: &ApiArgs, cmd: PolicyCommand) -> Result<ExitCode> {
    super::init_tracing("error");
    let PolicyCommand::Simulate(args) = cmd;
    let plugins = args.plugins.clone();
    let (library, policies) = tokio::task::spawn_blocking(move || library(&plugins))
        .await
        .map_err(CliError::local)??;
    match args.service {
        Some(id) => replay(api, id, args.role.as_deref(), library).await,
        None => {
            let json = api.json;
            tokio::task::spawn_blocking(move || simulate(&args, &library, &policies, json))
                .await
                .map_err(CliError::local)?
        }
    }
}

/// The built-in policy plugins and the ones given, as the server loads
/// them, with the ids of the policy plugins among them.
fn library(files: &[PathBuf]) -> Result<(Arc<PluginLibrary>, Vec<String>)> {
    let host = PluginHost::new(None).map_err(|e| format!("plugin host: {e:#}"))?;
    let library = PluginLibrary::builtin(&host).map_err(CliError::local)?;
    let mut policies: Vec<String> = crate::plugin::builtin::BUILTIN
        .iter()
        .map(|b| b.manifest())
        .filter(|m| m.kind == crate::plugin::PluginKind::Elasticity)
        .map(|m| m.id)
        .collect();
    for file in files {
        let found = crate::conformance::read_plugin_file(&host, file, None)?;
        if found.manifest.kind == crate::plugin::PluginKind::Elasticity {
            policies.push(found.manifest.id.clone());
        }
        library.install(
            host.load(found.manifest, &found.wasm, Default::default())
                .map_err(CliError::local)?,
        );
    }
    Ok((Arc::new(library), policies))
}

/// `90s`, `30m`, `24h`, `7d` or plain seconds, in milliseconds.
fn duration(what: &str, text: &str) -> Result<u64, FieldError> {
    let refused = |reason: String| FieldError::new(format!("--{what}"), reason);
    let text = text.trim();
    let (number, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = number.parse().map_err(|_| {
        refused(format!(
            "`{text}` is not a duration such as 90s, 30m, 24h, 7d"
        ))
    })?;
    let unit_ms = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(refused(format!("`{unit}` is not a unit (s, m, h, d)"))),
    };
    n.checked_mul(unit_ms)
        .filter(|ms| *ms > 0 || what == "boot" || what == "default-cooldown")
        .ok_or_else(|| refused(format!("`{text}` is out of range")))
}

fn simulate(
    args: &SimulateArgs,
    library: &PluginLibrary,
    policies: &[String],
    json: bool,
) -> Result<ExitCode> {
    let path = args.template.as_ref().ok_or("a template file is needed")?;
    let document = super::output::read_json(path)?;
    let template = crate::service::parse_template(&document).map_err(|errors| {
        let all: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        format!("{}: {}", path.display(), all.join("; "))
    })?;
    let role = match &args.role {
        Some(r) => r.clone(),
        None => simulation::role_with_policies(&template)
            .map(|r| r.name.clone())
            .ok_or("no role of the template has policies; name one with --role")?,
    };
    // What the server would warn of when the template is created.
    for w in crate::service::elasticity::lint::lint(&template, &|r| r.warmup) {
        eprintln!("warning: {w}");
    }
    for w in crate::service::elasticity::lint::missing_plugins(&template, &|id| {
        policies.iter().any(|p| p == id)
    }) {
        eprintln!("warning: {w}; give its file with --plugin");
    }
    // The simulated VMs report one value: policies reading others see
    // nothing, and never fire here whatever they would do live.
    if let Some(simulated) = template.roles.iter().find(|r| r.name == role) {
        let unsimulated = simulation::unsimulated_metrics(simulated, &args.metric);
        if !unsimulated.is_empty() {
            eprintln!(
                "warning: role {role}'s policies read {}, which this simulation does not report \
                 (only {}, --metric): policies reading them see no value and never fire here",
                unsimulated.join(", "),
                args.metric.trim()
            );
        }
    }
    let every = duration("every", &args.every)?;
    let scenario = Scenario {
        template,
        role,
        load: LoadShape::parse(&args.load).map_err(|e| FieldError::new("--load", e.to_string()))?,
        metric: args.metric.trim().to_string(),
        per_vm: args.per_vm,
        duration_ms: duration("duration", &args.duration)?,
        settings: AutoscaleSettings {
            cadence_ms: every,
            max_age_ms: every.saturating_mul(4),
        },
        boot_ms: duration("boot", &args.boot)?,
        target: args.target,
        default_cooldown_s: u32::try_from(
            duration("default-cooldown", &args.default_cooldown)? / 1000,
        )
        .map_err(|_| FieldError::new("--default-cooldown", "out of range"))?,
    };
    let started = std::time::Instant::now();
    let report = simulation::simulate(&scenario, &mut |call| library.evaluate_call(call))
        .map_err(CliError::local)?;
    let elapsed = started.elapsed();
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&report.to_json(usize::MAX)).unwrap_or_default()
        );
    } else {
        outln!("{}", render(args, &scenario, &report, elapsed));
    }
    Ok(ExitCode::SUCCESS)
}

fn clock(ms: u64) -> String {
    let s = ms / 1000;
    if s >= 86_400 {
        format!(
            "{}d {:02}:{:02}:{:02}",
            s / 86_400,
            s % 86_400 / 3600,
            s % 3600 / 60,
            s % 60
        )
    } else {
        format!("{:02}:{:02}:{:02}", s / 3600, s % 3600 / 60, s % 60)
    }
}

fn render(
    args: &SimulateArgs,
    scenario: &Scenario,
    report: &Report,
    elapsed: std::time::Duration,
) -> String {
    let mut out = String::new();
    let shared = if scenario.per_vm {
        "each VM's value"
    } else {
        "the role's total demand in % of one VM, shared by its running VMs"
    };
    let _ = writeln!(
        out,
        "Role {} for {} on a virtual clock: load {} ({}: {shared}); evaluated every {}, VMs boot in {}",
        scenario.role, args.duration, args.load, scenario.metric, args.every, args.boot
    );
    let _ = writeln!(out, "\nScale events ({}):", report.events.len());
    if report.events.is_empty() {
        out.push_str("  none\n");
    }
    for e in &report.events {
        let _ = write!(
            out,
            "  {}  {} -> {} VMs  {}: {}",
            clock(e.time_ms),
            e.from,
            e.to,
            e.policy,
            e.says
        );
        if !e.guards.is_empty() {
            let _ = write!(out, " [{}]", e.guards.join("; "));
        }
        out.push('\n');
    }
    // The size over time: one column per equal slice, the most VMs in it.
    let columns = 72.min(report.samples.len().max(1));
    let per = report.samples.len().div_ceil(columns).max(1);
    let line: String = report
        .samples
        .chunks(per)
        .map(|c| {
            let most = c.iter().map(|s| s.1).max().unwrap_or(0);
            char::from_digit(most.min(35), 36).unwrap_or('+')
        })
        .collect();
    let _ = writeln!(
        out,
        "\nVMs over time (a column each {}):\n  {line}",
        clock(per as u64 * scenario.settings.cadence_ms)
    );
    let outs = report.events.iter().filter(|e| e.to > e.from).count();
    let _ = writeln!(
        out,
        "\nScale-outs {outs}, scale-ins {}, flaps {} (a reversal within 10 min)",
        report.events.len() - outs,
        report.flaps
    );
    let _ = writeln!(out, "VM-minutes {:.0}", report.vm_minutes);
    if let Some(target) = scenario.target {
        let _ = writeln!(
            out,
            "Each VM's {} above {target}: {}, below: {}",
            scenario.metric,
            clock(report.above_target_s * 1000),
            clock(report.below_target_s * 1000)
        );
    }
    let _ = write!(out, "{} evaluations in {:.0?}", report.evaluations, elapsed);
    out
}

/// A live role's recorded evaluations, from `service explain`, run again.
async fn replay(
    api: &ApiArgs,
    id: u64,
    role: Option<&str>,
    library: Arc<PluginLibrary>,
) -> Result<ExitCode> {
    let client = api.connect()?;
    let doc = client.get(&format!("/service/{id}")).await?;
    let roles = doc["DOCUMENT"]["TEMPLATE"]["BODY"]["roles"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let raw = match role {
        Some(name) => roles.iter().find(|r| r["name"] == name),
        None => roles.iter().find(|r| {
            r["elasticity_policies"]
                .as_array()
                .is_some_and(|p| !p.is_empty())
        }),
    }
    .ok_or_else(|| format!("service {id} has no such role with policies"))?;
    let spec: Role = serde_json::from_value(raw.clone())
        .map_err(|e| format!("role {} of service {id}: {e}", raw["name"]))?;
    let explained = client
        .get(&format!("/service/{id}/explain?role={}", spec.name))
        .await?;
    let mut records: Vec<DecisionRecord> = explained["roles"][0]["decisions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(record)
        .collect();
    records.reverse(); // oldest first
    let json = api.json;
    let default_cooldown = explained["default_cooldown"]
        .as_u64()
        .and_then(|c| u32::try_from(c).ok())
        .unwrap_or(crate::service::lifecycle::DEFAULT_COOLDOWN_S);
    let replayed = tokio::task::spawn_blocking(move || {
        simulation::replay(&spec, id, default_cooldown, &records, &mut |call| {
            library.evaluate_call(call)
        })
    })
    .await
    .map_err(CliError::local)?;
    let same = replayed.iter().filter(|r| r.same).count();
    if json {
        outln!(
            "{}",
            serde_json::json!({"replayed": replayed.len(), "reproduced": same,
                "differ": replayed.iter().filter(|r| !r.same).map(|r| serde_json::json!({
                    "time": r.record.time_ms / 1000, "policy": r.record.policy,
                    "live": {"trace": r.record.trace, "verdict": r.record.verdict, "desired": r.record.desired},
                    "replay": {"trace": r.trace, "verdict": r.verdict, "desired": r.desired},
                })).collect::<Vec<_>>()})
        );
    } else {
        outln!("{}", render_replay(id, &replayed, same));
    }
    Ok(if same == replayed.len() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn render_replay(id: u64, replayed: &[Replayed], same: usize) -> String {
    let mut out = format!(
        "Service {id}: {} recorded evaluations replayed through the same plugins: {same} reproduce, {} differ\n",
        replayed.len(),
        replayed.len() - same
    );
    for r in replayed {
        let mark = if r.same { "=" } else { "≠" };
        let _ = writeln!(
            out,
            "  {mark} {}  {}  {}  {}",
            time(&Value::from(r.record.time_ms / 1000)),
            r.record.policy,
            if r.trace.is_empty() {
                &r.verdict
            } else {
                &r.trace
            },
            r.desired
                .map_or("no change".to_string(), |d| format!("wants {d}"))
        );
        if !r.same {
            let _ = writeln!(
                out,
                "      live: {} / {} / {:?}",
                r.record.trace, r.record.verdict, r.record.desired
            );
        }
    }
    out
}

/// A decision as `GET /service/{id}/explain` shows it, back in the
/// server's shape.
fn record(d: &Value) -> Option<DecisionRecord> {
    let inputs = d["inputs"]
        .as_array()?
        .iter()
        .map(|i| VmInput {
            vm_id: i["vm_id"].as_str().unwrap_or_default().to_string(),
            values: i["values"]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(k, v)| Some(flotilla_model::Metric::new(k.clone(), v.as_f64()?)))
                .collect(),
            age_s: i["age_seconds"].as_u64().unwrap_or(0),
            left_out: i["left_out"].as_str().map(str::to_string),
        })
        .collect();
    Some(DecisionRecord {
        time_ms: d["time"].as_u64()? * 1000,
        policy: d["policy"].as_str()?.to_string(),
        plugin: d["plugin"].as_str().unwrap_or_default().to_string(),
        cardinality: u32::try_from(d["cardinality"].as_u64()?).ok()?,
        state_in: d["state_in"].as_str().map(str::to_string),
        inputs,
        trace: d["trace"].as_str().unwrap_or_default().to_string(),
        verdict: d["verdict"].as_str().unwrap_or_default().to_string(),
        desired: d["desired"].as_u64().and_then(|n| u32::try_from(n).ok()),
        guards: Vec::new(),
        action: d["action"].as_str().unwrap_or_default().to_string(),
    })
}
