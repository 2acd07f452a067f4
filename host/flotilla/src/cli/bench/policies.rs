//! `flotilla bench policies`: what evaluating elasticity policies costs.
//! One evaluation per role of many roles through the built-in expression
//! plugin (a fresh instance each, as the server runs it) on one thread and
//! on two, against the same policy compiled natively, side by side in
//! interleaved rounds; other policy plugins' cost per evaluation; a week of
//! one-minute samples simulated; and the time from a metric crossing its
//! threshold to the scale, on an engine with a 1 s cadence.

use super::{TempDir, median, ms, us};
use crate::cli::error::{CliError, Result};
use crate::engine::{PluginLibrary, PolicyBackend};
use crate::plugin::{Evaluation, KeyValue, Metric, PluginHost, RoleView, VmSample};
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub async fn policies(
    roles: u32,
    vms: u32,
    plugins: Vec<String>,
    latency_runs: u32,
    rounds: u32,
) -> Result<ExitCode> {
    let library = tokio::task::spawn_blocking(|| {
        let host =
            PluginHost::new(None).map_err(|e| CliError::Local(format!("plugin host: {e:#}")))?;
        PluginLibrary::builtin(&host)
            .map(Arc::new)
            .map_err(CliError::local)
    })
    .await
    .map_err(CliError::local)??;
    let mut rows = Vec::new();

    let lib = library.clone();
    rows.extend(
        tokio::task::spawn_blocking(move || evaluations(&lib, roles, vms, rounds.max(1)))
            .await
            .map_err(CliError::local)??,
    );
    for spec in plugins {
        rows.extend(
            tokio::task::spawn_blocking(move || other_plugin(&spec, vms))
                .await
                .map_err(CliError::local)??,
        );
    }
    let lib = library.clone();
    rows.push(
        tokio::task::spawn_blocking(move || week(&lib))
            .await
            .map_err(CliError::local)??,
    );
    if latency_runs > 0 {
        rows.push(latency(library, latency_runs).await?);
    }

    super::print_rows(rows);
    outln!(
        "{} cores; evaluations through Wasm each start a fresh instance, as the server's do; \
         the roles' evaluations are the median of {} rounds (one thread, two threads, native)",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        rounds.max(1)
    );
    Ok(ExitCode::SUCCESS)
}

/// One role's evaluation: `vms` VMs whose CPU depends on the role, so no
/// two roles see the same input.
fn input(role: u32, vms: u32, params: &[(&str, &str)], metric: &str) -> Evaluation {
    Evaluation {
        role: RoleView {
            service_id: u64::from(role),
            role_name: format!("role{role}"),
            cardinality: vms,
            min_vms: 1,
            max_vms: vms + 5,
            cooldown: 0,
        },
        params: params.iter().map(|(k, v)| KeyValue::new(*k, *v)).collect(),
        vms: (0..vms)
            .map(|v| VmSample {
                vm_id: format!("{role}-{v}"),
                values: vec![
                    Metric::new(metric, f64::from((role * 7 + v * 13) % 100)),
                    Metric::new("MEMORY", 512.0),
                ],
            })
            .collect(),
        now: 1_800_000_000 + u64::from(role),
        state: Some("1".into()),
    }
}

const ONEFLOW: &[(&str, &str)] = &[
    ("type", "CHANGE"),
    ("adjust", "1"),
    ("expression", "CPU > 60 && MEMORY > 100 || CPU > 90"),
    ("period_number", "2"),
];

fn evaluations(
    library: &PluginLibrary,
    roles: u32,
    vms: u32,
    rounds: u32,
) -> Result<Vec<super::Row>> {
    let inputs: Vec<Evaluation> = (0..roles).map(|r| input(r, vms, ONEFLOW, "CPU")).collect();
    // Both builds must reach the same decisions.
    let mut scaled = 0;
    let mut native_scaled = 0;
    for i in &inputs {
        scaled += usize::from(
            library
                .evaluate("expression", i)
                .map_err(CliError::local)?
                .desired
                .is_some(),
        );
        native_scaled += usize::from(
            flotilla_policy::builtin::evaluate(i)
                .map_err(CliError::local)?
                .desired
                .is_some(),
        );
    }
    if scaled != native_scaled {
        return Err(CliError::Local(format!(
            "Wasm scaled {scaled} roles, native {native_scaled}: they must agree"
        )));
    }
    // Rounds interleave the three measurements, so that a machine whose
    // load changes meanwhile weighs on all three alike; each is the median
    // of its rounds.
    let (mut wasm, mut parallel, mut native) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let start = Instant::now();
        for i in &inputs {
            library.evaluate("expression", i).map_err(CliError::local)?;
        }
        wasm.push(start.elapsed());
        // Both cores, as the engine evaluates services concurrently.
        let start = Instant::now();
        std::thread::scope(|s| {
            for half in inputs.chunks(inputs.len().div_ceil(2).max(1)) {
                s.spawn(move || {
                    for i in half {
                        let _ = library.evaluate("expression", i);
                    }
                });
            }
        });
        parallel.push(start.elapsed());
        let start = Instant::now();
        for i in &inputs {
            std::hint::black_box(flotilla_policy::builtin::evaluate(std::hint::black_box(i)))
                .map_err(CliError::local)?;
        }
        native.push(start.elapsed());
    }
    let median = |mut times: Vec<Duration>| {
        times.sort();
        times[times.len() / 2]
    };
    let (wasm, parallel, native) = (median(wasm), median(parallel), median(native));
    let rate = |d: Duration| f64::from(roles) / d.as_secs_f64().max(1e-9);
    let each = |d: Duration| {
        format!(
            "{:.0} evaluations/s ({} each)",
            rate(d),
            us(d.div_f64(f64::from(roles)))
        )
    };
    Ok(vec![
        super::row(
            &format!("{roles} roles × {vms} VMs, one evaluation each, one thread"),
            "expression (Wasm, fresh instance)",
            each(wasm),
            "≤ 10 µs each",
        ),
        super::row(
            "the same, the same policy compiled natively",
            "flotilla_policy::builtin",
            each(native),
            "",
        ),
        super::row(
            "Wasm / native",
            "",
            format!(
                "{:.1}×",
                wasm.as_secs_f64() / native.as_secs_f64().max(1e-9)
            ),
            "≤ 6×",
        ),
        super::row(
            &format!("{roles} roles on two threads"),
            "expression (Wasm, fresh instance)",
            format!(
                "{:.0} evaluations/s ({:.2}× one thread)",
                rate(parallel),
                rate(parallel) / rate(wasm)
            ),
            "≥ 1.6× one thread",
        ),
        super::row(
            "roles that scaled (both agree)",
            "",
            format!("{scaled} of {roles}"),
            "",
        ),
    ])
}

/// `FILE=PARAMS`: a policy plugin (manifest beside it) with its
/// parameters as a JSON object; its `metric` param names the value the
/// VMs report (CPU by default).
fn other_plugin(spec: &str, vms: u32) -> Result<Vec<super::Row>> {
    let (file, params) = spec.split_once('=').unwrap_or((spec, "{}"));
    let params: BTreeMap<String, serde_json::Value> = serde_json::from_str(params)
        .map_err(|e| format!("--plugin {spec}: the parameters are not a JSON object: {e}"))?;
    let params: Vec<(String, String)> = params
        .into_iter()
        .map(|(k, v)| (k, v.as_str().map_or_else(|| v.to_string(), str::to_string)))
        .collect();
    let host = PluginHost::new(None).map_err(|e| format!("plugin host: {e:#}"))?;
    let found = crate::conformance::read_plugin_file(&host, std::path::Path::new(file), None)?;
    let id = found.manifest.id.clone();
    let started = Instant::now();
    let loaded = host
        .load(found.manifest, &found.wasm, Default::default())
        .map_err(CliError::local)?;
    let compile = started.elapsed();
    let library = PluginLibrary::new([loaded]);
    let metric = params
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("metric"))
        .map_or("CPU".to_string(), |(_, v)| v.clone());
    let refs: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut i = 0;
    let first = Instant::now();
    let answer = library
        .evaluate(&id, &input(0, vms, &refs, &metric))
        .map_err(CliError::local)?;
    let first = first.elapsed();
    let each = median(50, || {
        i += 1;
        let _ = library.evaluate(&id, &input(i, vms, &refs, &metric));
    });
    Ok(vec![
        super::row(
            "compile (cached on disk by the server)",
            &id,
            ms(compile),
            "",
        ),
        super::row("first evaluation", &id, ms(first), ""),
        super::row(
            "one evaluation, fresh instance (median of 50)",
            &id,
            ms(each),
            "",
        ),
        super::row(
            "its answer",
            &id,
            format!("{}: {}", answer.trace, answer.reason),
            "",
        ),
    ])
}

/// A week of one-minute samples for one role, through the Wasm plugin.
fn week(library: &PluginLibrary) -> Result<super::Row> {
    use crate::service::LoadShape;
    use crate::service::lifecycle::AutoscaleSettings;
    use crate::service::simulation::{Scenario, simulate};
    let template = crate::service::parse_template(&serde_json::json!({
        "name": "week", "roles": [{"name": "web", "type": "vm", "template_id": 0,
        "cardinality": 1, "min_vms": 1, "max_vms": 8, "cooldown": 300,
        "elasticity_policies": [
            {"type": "CHANGE", "adjust": 1, "expression": "CPU > 75", "period_number": 2},
            {"type": "CHANGE", "adjust": -1, "expression": "CPU < 30", "period_number": 3}]}]
    }))
    .map_err(|e| format!("{e:?}"))?;
    let scenario = Scenario {
        template,
        role: "web".into(),
        load: LoadShape::parse("sine:30:600:86400").map_err(CliError::local)?,
        metric: "CPU".into(),
        per_vm: false,
        duration_ms: 7 * 86_400_000,
        settings: AutoscaleSettings {
            cadence_ms: 60_000,
            max_age_ms: 240_000,
        },
        boot_ms: 60_000,
        target: None,
        default_cooldown_s: 300,
    };
    let start = Instant::now();
    let report =
        simulate(&scenario, &mut |call| library.evaluate_call(call)).map_err(CliError::local)?;
    let took = start.elapsed();
    Ok(super::row(
        &format!(
            "simulate a week of 1-minute samples ({} evaluations, {} scales)",
            report.evaluations,
            report.events.len()
        ),
        "expression (Wasm)",
        ms(took),
        "< 1 s",
    ))
}

/// From a VM's CPU crossing the threshold to the role scaling, on an
/// engine ticking every 100 ms with a 1 s policy cadence and `period` 1.
async fn latency(library: Arc<PluginLibrary>, runs: u32) -> Result<super::Row> {
    let settings = crate::engine::Settings {
        wait_ms: 600_000,
        policy_evaluation_ms: 1_000,
        ..Default::default()
    };
    let (engine, sim, _dir): (_, _, TempDir) =
        super::bench_engine_with(false, settings, Some(library), None).await?;
    let looping = engine.spawn_loop(Duration::from_millis(100));
    let template = serde_json::json!({
        "name": "latency", "deployment": "none",
        "roles": [{"name": "web", "type": "vm", "cardinality": 1, "template_id": 0,
            "min_vms": 1, "max_vms": 2, "elasticity_policies": [
                {"type": "CHANGE", "adjust": 1, "expression": "CPU > 80", "period": 1}]}]
    });
    let mut times = Vec::new();
    for _ in 0..runs {
        let id = engine
            .instantiate(&template)
            .await
            .map_err(CliError::local)?;
        let vm = wait(&engine, id, Duration::from_secs(30), |s| {
            let web = &s.roles[0];
            (s.state == crate::service::ServiceState::Running)
                .then(|| web.nodes.first()?.vm_id.clone())
                .flatten()
        })
        .await?;
        // Let one evaluation see the low value first.
        tokio::time::sleep(Duration::from_millis(1_200)).await;
        let crossed = Instant::now();
        sim.set_monitoring(&vm, [("CPU".to_string(), Some(95.0))].into())
            .map_err(CliError::local)?;
        wait(&engine, id, Duration::from_secs(30), |s| {
            (s.roles[0].cardinality == 2).then_some(())
        })
        .await?;
        times.push(crossed.elapsed());
    }
    looping.abort();
    times.sort();
    Ok(super::row(
        &format!("threshold crossed → scale, period 1 s (median, max of {runs})"),
        "expression (Wasm)",
        format!(
            "{} / {}",
            ms(times[times.len() / 2]),
            ms(times[times.len() - 1])
        ),
        "≤ 2 s (OneFlow: its 90 s loop)",
    ))
}

async fn wait<T>(
    engine: &crate::engine::Engine,
    id: u64,
    limit: Duration,
    check: impl Fn(&crate::service::lifecycle::Service) -> Option<T>,
) -> Result<T> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Ok(s) = engine.service(id)
            && let Some(found) = check(&s)
        {
            return Ok(found);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Err(CliError::Local(format!(
        "service {id}: gave up after {limit:?}"
    )))
}
