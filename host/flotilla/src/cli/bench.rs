//! `flotilla bench plugins | deploy | scale | policies | placement`: what
//! a plugin call, a deploy, a scale, a policy evaluation and placing VMs
//! on hosts cost, printed as tables.

mod native;
mod placement;
mod policies;
mod qemu;

use super::error::{CliError, Result};
use crate::plugin::{
    Driver, DriverInstance, Evaluation, Grant, KeyValue, Metric, PluginHost, Policy,
    PolicyInstance, RoleView, VmSample, builtin,
};
use crate::sim_hypervisor::{CreateRequest, SimHypervisor, SimOptions};
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(clap::Subcommand)]
pub enum BenchCommand {
    /// Deploy many services on the simulated hypervisor (zero boot time)
    /// and time them to RUNNING, through the Wasm driver and through the
    /// same driver compiled natively.
    Deploy {
        #[arg(long, default_value_t = 1_000)]
        services: u32,
        /// VMs per service (two roles).
        #[arg(long, default_value_t = 10)]
        vms: u32,
        /// Also deploy them through the Wasm driver with the store in this
        /// PostgreSQL database (`postgres://…`, empty; the bench leaves its
        /// records there), beside SQLite.
        #[arg(long)]
        postgres: Option<String>,
    },
    /// Scale one role from 1 VM to each size (zero boot time) through the
    /// Wasm driver, timed until the role runs them all: the times should
    /// grow linearly with the size.
    Scale {
        #[arg(long, value_delimiter = ',', default_value = "1000,5000,10000")]
        to: Vec<u32>,
    },
    /// Evaluate policies: many roles through the built-in expression plugin
    /// against the same policy compiled natively, other policy plugins, a
    /// simulated week, and the time from a threshold crossed to the scale.
    Policies {
        #[arg(long, default_value_t = 1_000)]
        roles: u32,
        /// VMs per role.
        #[arg(long, default_value_t = 5)]
        vms: u32,
        /// Another policy plugin: FILE=PARAMS, PARAMS a JSON object
        /// (`queue.wasm={"per_vm":"50","metric":"QUEUE"}`); repeatable.
        #[arg(long = "plugin")]
        plugins: Vec<String>,
        /// Services scaled for the latency measurement (0 skips it).
        #[arg(long, default_value_t = 5)]
        latency_runs: u32,
        /// Rounds of the evaluation measurement (each: the roles through
        /// Wasm on one thread, on two threads, natively); medians printed.
        #[arg(long, default_value_t = 9)]
        rounds: u32,
    },
    /// The qemu driver on real QEMU processes, granted as CONFIG says
    /// (`[plugins.qemu]`): VMs to running, the cost of a poll of them
    /// all, an idle VM's memory. Terminates every VM it made.
    Qemu {
        /// A flotilla.toml with the qemu driver's grant.
        #[arg(long)]
        config: std::path::PathBuf,
        #[arg(long, default_value_t = 50)]
        vms: u32,
        /// Polls timed.
        #[arg(long, default_value_t = 20)]
        polls: u32,
    },
    /// Place VMs of mixed sizes on hosts (some VMs need a label, some
    /// rank the hosts, one role is anti-affined) for each strategy: the
    /// time per VM as hosts and VMs grow.
    Placement {
        #[arg(long, value_delimiter = ',', default_value = "10,100,1000")]
        hosts: Vec<u32>,
        #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
        vms: Vec<u32>,
        /// pack, spread or load; several separated by commas.
        #[arg(long, value_delimiter = ',', default_value = "spread,pack,load",
              value_parser = |s: &str| s.parse::<flotilla_core::fleet::Strategy>())]
        strategy: Vec<flotilla_core::fleet::Strategy>,
        /// Runs of each measurement; the median is printed.
        #[arg(long, default_value_t = 5)]
        runs: u32,
    },
    /// Load, instantiate and call the built-in sim driver and threshold policy.
    Plugins {
        /// Calls per measurement of a warm call.
        #[arg(long, default_value_t = 100_000)]
        calls: u32,
        /// VMs polled in one driver call.
        #[arg(long, default_value_t = 1_000)]
        vms: u32,
    },
}

pub async fn run(cmd: BenchCommand) -> Result<ExitCode> {
    super::init_tracing("warn");
    let (calls, vms) = match cmd {
        BenchCommand::Plugins { calls, vms } => (calls, vms),
        BenchCommand::Deploy {
            services,
            vms,
            postgres,
        } => return deploy(services, vms, postgres).await,
        BenchCommand::Scale { to } => return scale(to).await,
        BenchCommand::Policies {
            roles,
            vms,
            plugins,
            latency_runs,
            rounds,
        } => return policies::policies(roles, vms, plugins, latency_runs, rounds).await,
        BenchCommand::Placement {
            hosts,
            vms,
            strategy,
            runs,
        } => return placement::placement(hosts, vms, strategy, runs),
        BenchCommand::Qemu { config, vms, polls } => {
            let rows = qemu::qemu(&config, vms, polls).await?;
            print_rows(rows);
            return Ok(ExitCode::SUCCESS);
        }
    };
    let sim = SimHypervisor::open(SimOptions::default()).map_err(|e| format!("{e:#}"))?;
    let mut ids = Vec::with_capacity(vms as usize);
    for i in 0..vms {
        let id = sim
            .create(CreateRequest {
                operation_id: format!("bench-{i}"),
                service_id: 1,
                role_name: "web".into(),
                name: format!("web_{i}_(service_1)"),
                template: serde_json::json!({"CPU": "1", "MEMORY": "512"}),
                hold: false,
            })
            .map_err(CliError::local)?;
        ids.push(id);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(CliError::local)?;
    let addr = crate::sim_hypervisor::spawn(sim, listener).map_err(CliError::local)?;
    let rows = tokio::task::spawn_blocking(move || measure(format!("http://{addr}"), calls, ids))
        .await
        .map_err(CliError::local)??;

    print_rows(rows);
    outln!(
        "{} cores, wasmtime 48.0.8; median of repeated single operations, mean of tight loops",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    Ok(ExitCode::SUCCESS)
}

/// The measurements as a table.
fn print_rows(rows: Vec<Row>) {
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    table.set_header(["measurement", "plugin", "result", "target"]);
    for r in rows {
        table.add_row([r.what, r.plugin, r.value, r.target]);
    }
    outln!("{table}");
}

struct Row {
    what: String,
    plugin: String,
    value: String,
    target: String,
}

fn row(what: &str, plugin: &str, value: String, target: &str) -> Row {
    Row {
        what: what.into(),
        plugin: plugin.into(),
        value,
        target: target.into(),
    }
}

/// Median duration of `runs` runs of `f`.
fn median(runs: usize, mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

/// Mean duration of one of `n` back-to-back runs of `f`.
fn mean(n: u32, mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    start.elapsed() / n.max(1)
}

fn us(d: Duration) -> String {
    format!("{:.2} µs", d.as_secs_f64() * 1e6)
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn evaluation() -> Evaluation {
    Evaluation {
        role: RoleView {
            service_id: 1,
            role_name: "web".into(),
            cardinality: 4,
            min_vms: 1,
            max_vms: 10,
            cooldown: 300,
        },
        params: vec![
            KeyValue {
                key: "above".into(),
                value: "80".into(),
            },
            KeyValue {
                key: "below".into(),
                value: "20".into(),
            },
        ],
        vms: (0..4)
            .map(|i| VmSample {
                vm_id: i.to_string(),
                values: vec![Metric {
                    name: "CPU".into(),
                    value: 85.0 + i as f64,
                }],
            })
            .collect(),
        now: 1_700_000_000,
        state: None,
    }
}

fn measure(endpoint: String, calls: u32, ids: Vec<String>) -> Result<Vec<Row>> {
    let cache = std::env::temp_dir().join(format!("flotilla-bench-{}", std::process::id()));
    let host = PluginHost::new(Some(cache.clone())).map_err(CliError::local)?;
    let mut rows = Vec::new();

    let sim = builtin::find("sim").ok_or("no built-in sim driver")?;
    let threshold = builtin::find("threshold").ok_or("no built-in threshold policy")?;
    for b in [sim, threshold] {
        let id = b.manifest().id;
        host.compile(b.wasm).map_err(CliError::local)?; // fills the cache
        let path = host.cache_path(&cache, b.wasm);
        let load = median(50, || {
            let _ = host.load_precompiled(&path);
        });
        rows.push(row(
            "load precompiled artifact (deserialize_file)",
            &id,
            ms(load),
            "≤ 1 ms",
        ));
        let lookup = median(50, || {
            let _ = host.compile(b.wasm);
        });
        rows.push(row(
            "load from cache, with content hash",
            &id,
            ms(lookup),
            "",
        ));
    }

    let mut grant = Grant::default();
    grant.allowed_outbound_hosts.push(endpoint.clone());
    grant.config.insert("endpoint".into(), endpoint);
    let driver = host
        .load(sim.manifest(), sim.wasm, grant)
        .map_err(CliError::local)?;
    let policy_plugin = host
        .load(threshold.manifest(), threshold.wasm, Grant::default())
        .map_err(CliError::local)?;

    let inst = median(200, || {
        let _ = DriverInstance::new(driver.clone());
    });
    rows.push(row(
        "instantiate (InstancePre, fresh store)",
        "sim",
        us(inst),
        "",
    ));
    let inst = median(200, || {
        let _ = PolicyInstance::new(policy_plugin.clone());
    });
    rows.push(row(
        "instantiate (InstancePre, fresh store)",
        "threshold",
        us(inst),
        "",
    ));

    let mut warm = DriverInstance::new(driver.clone()).map_err(CliError::local)?;
    warm.info().map_err(CliError::local)?;
    let call = mean(calls, || {
        let _ = warm.info();
    });
    rows.push(row("warm call, no I/O (info)", "sim", us(call), "≤ 2 µs"));

    let supervised = Driver::start(driver.clone()).map_err(CliError::local)?;
    supervised
        .with_blocking(|d| d.info())
        .map_err(CliError::local)?;
    let call = mean(calls / 10, || {
        let _ = supervised.with_blocking(|d| d.info());
    });
    rows.push(row(
        "warm call through the supervisor thread",
        "sim",
        us(call),
        "",
    ));

    let policy = Policy::new(policy_plugin).map_err(CliError::local)?;
    let input = evaluation();
    let answer = policy.evaluate_blocking(&input).map_err(CliError::local)?;
    let fresh = mean(calls / 20, || {
        let _ = policy.evaluate_blocking(&input);
    });
    rows.push(row(
        "fresh-instance policy evaluation",
        "threshold",
        us(fresh),
        "≤ 60 µs",
    ));

    use flotilla_plugin_sdk::policy::Policy as _;
    // The SDK speaks the host's types: the same input serves both builds.
    let native_input = evaluation();
    let native_answer = flotilla_elasticity_threshold::Threshold
        .evaluate(native_input.clone())
        .map_err(CliError::local)?;
    if native_answer.desired != answer.desired || native_answer.trace != answer.trace {
        return Err(CliError::Local(format!(
            "native and Wasm builds disagree: {:?} vs {:?}",
            native_answer.trace, answer.trace
        )));
    }
    let native = mean(calls, || {
        let _ = std::hint::black_box(
            flotilla_elasticity_threshold::Threshold.evaluate(native_input.clone()),
        );
    });
    rows.push(row(
        "same policy compiled natively",
        "threshold",
        us(native),
        "",
    ));
    rows.push(row(
        "fresh-instance Wasm / native",
        "threshold",
        format!(
            "{:.0}×",
            fresh.as_secs_f64() / native.as_secs_f64().max(1e-12)
        ),
        "",
    ));

    let statuses = warm.poll(&ids).map_err(CliError::local)?;
    if statuses.len() != ids.len() {
        return Err(CliError::Local(format!(
            "poll returned {} of {} VMs",
            statuses.len(),
            ids.len()
        )));
    }
    let poll = median(30, || {
        let _ = warm.poll(&ids);
    });
    rows.push(row(
        &format!("poll {} VMs in one call", ids.len()),
        "sim",
        ms(poll),
        "",
    ));
    rows.push(row(
        "poll throughput",
        "sim",
        format!("{:.0} VMs/s", ids.len() as f64 / poll.as_secs_f64()),
        "",
    ));
    let _ = std::fs::remove_dir_all(&cache);
    Ok(rows)
}

/// Driver instances on each side: one per core.
const INSTANCES: usize = 2;

/// An engine on a fresh simulated hypervisor and store, through the Wasm
/// driver or the same driver compiled natively. The store's directory is
/// removed when the returned guard is dropped.
async fn bench_engine(
    native: bool,
    settings: crate::engine::Settings,
) -> Result<(
    crate::engine::Engine,
    std::sync::Arc<SimHypervisor>,
    TempDir,
)> {
    bench_engine_with(native, settings, None, None).await
}

/// [`bench_engine`], its policies evaluated by `policies` (the built-in
/// policy natively when `None`), its store the empty PostgreSQL database
/// `postgres` (SQLite in a temporary directory when `None`).
async fn bench_engine_with(
    native: bool,
    settings: crate::engine::Settings,
    policies: Option<std::sync::Arc<crate::engine::PluginLibrary>>,
    postgres: Option<&str>,
) -> Result<(
    crate::engine::Engine,
    std::sync::Arc<SimHypervisor>,
    TempDir,
)> {
    use crate::engine::{Engine, VmBackend};
    use native::NativeSimDriver;
    use std::sync::Arc;
    let sim = SimHypervisor::open(SimOptions::default()).map_err(|e| format!("{e:#}"))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(CliError::local)?;
    let endpoint = format!(
        "http://{}",
        crate::sim_hypervisor::spawn(sim.clone(), listener).map_err(CliError::local)?
    );
    let backend: Arc<dyn VmBackend> = if native {
        Arc::new(NativeSimDriver::new(&endpoint, INSTANCES))
    } else {
        let host = PluginHost::new(None).map_err(|e| format!("{e:#}"))?;
        let b = builtin::find("sim").ok_or("no built-in sim driver")?;
        let mut grant = Grant::default();
        grant.allowed_outbound_hosts.push(endpoint.clone());
        grant.config.insert("endpoint".into(), endpoint.clone());
        Arc::new(
            Driver::start_pool(
                host.load(b.manifest(), b.wasm, grant)
                    .map_err(CliError::local)?,
                INSTANCES,
            )
            .map_err(CliError::local)?,
        )
    };
    let dir = TempDir(
        std::env::temp_dir().join(format!("flotilla-bench-{}-{native}", std::process::id())),
    );
    std::fs::create_dir_all(&dir.0).map_err(CliError::local)?;
    let store = match postgres {
        None => crate::store::SqliteStore::open(&dir.0.join("flotilla.db"))
            .map_err(|e| format!("{e:#}"))?
            .boxed(),
        Some(url) => {
            let store = crate::store::PgStore::connect(url)
                .map_err(|e| format!("--postgres: {e:#}"))?
                .boxed();
            let empty = store
                .service_ids()
                .map_err(|e| format!("{e:#}"))?
                .is_empty()
                && store
                    .resources(crate::store::ResourceKind::VmTemplate)
                    .map_err(|e| format!("{e:#}"))?
                    .is_empty();
            if !empty {
                return Err("--postgres: the database must be empty (a new one per run)".into());
            }
            store
        }
    };
    let attrs = serde_json::json!({"CPU": "1", "MEMORY": "512", "SIM_BOOT_SECONDS": 0});
    store
        .create_vm_template(
            "bench",
            Default::default(),
            attrs.as_object().cloned().unwrap_or_default(),
        )
        .map_err(|e| format!("{e:#}"))?;
    let policies: Arc<dyn crate::engine::PolicyBackend> = match policies {
        Some(library) => library,
        None => Arc::new(native::NativePolicies),
    };
    let engine = Engine::with_policies(
        store,
        backend,
        policies,
        Arc::new(crate::clock::SystemClock),
        settings,
    );
    Ok((engine, sim, dir))
}

/// A directory removed when dropped.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Rounds until `done` holds for the stored services (bounded).
async fn rounds_until(
    engine: &crate::engine::Engine,
    limit: u32,
    done: impl Fn(&[std::sync::Arc<crate::service::lifecycle::Service>]) -> bool,
) -> Result<bool> {
    for _ in 0..=limit {
        engine.tick_all().await.map_err(CliError::local)?;
        let all = engine.store().services().map_err(|e| format!("{e:#}"))?;
        if done(&all) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Time to RUNNING of `services` services of `vms` VMs each, on one backend.
async fn deploy_on(
    native: bool,
    services: u32,
    vms: u32,
    postgres: Option<&str>,
) -> Result<(Duration, usize)> {
    let settings = crate::engine::Settings {
        wait_ms: 600_000,
        ..Default::default()
    };
    let (engine, sim, _dir) = bench_engine_with(native, settings, None, postgres).await?;
    let half = vms / 2;
    let template = serde_json::json!({
        "name": "bench",
        "roles": [
            {"name": "front", "type": "vm", "cardinality": half, "template_id": 0},
            {"name": "back", "type": "vm", "cardinality": vms - half, "template_id": 0}
        ]
    });

    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..services {
        let engine = engine.clone();
        let template = template.clone();
        tasks.spawn(async move { engine.instantiate(&template).await.map_err(CliError::local) });
    }
    while let Some(r) = tasks.join_next().await {
        r.map_err(CliError::local)??;
    }
    // Rounds until every service runs (bounded: a round per VM at most).
    let all_running = rounds_until(&engine, services * vms, |all| {
        all.len() == services as usize
            && all
                .iter()
                .all(|s| s.state == crate::service::ServiceState::Running)
    })
    .await?;
    let elapsed = started.elapsed();
    if !all_running {
        return Err(CliError::Local(format!(
            "not all {services} services reached RUNNING"
        )));
    }
    Ok((elapsed, sim.vm_count()))
}

/// Scale one role from 1 VM to each size; one fresh server each.
async fn scale(sizes: Vec<u32>) -> Result<ExitCode> {
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    table.set_header(["VMs", "scale to RUNNING", "µs per VM", "VMs/s"]);
    for size in sizes {
        let settings = crate::engine::Settings {
            wait_ms: 600_000,
            max_vms_per_role: size.max(1),
            default_cooldown_s: 0,
            ..Default::default()
        };
        let (engine, _sim, _dir) = bench_engine(false, settings).await?;
        let template = serde_json::json!({
            "name": "bench-scale",
            "roles": [{"name": "web", "type": "vm", "cardinality": 1, "template_id": 0, "cooldown": 0}]
        });
        let id = engine
            .instantiate(&template)
            .await
            .map_err(CliError::local)?;
        let running = |all: &[std::sync::Arc<crate::service::lifecycle::Service>]| {
            all.iter()
                .all(|s| s.state == crate::service::ServiceState::Running)
        };
        rounds_until(&engine, 100, running).await?;
        let started = Instant::now();
        engine
            .scale(id, "web", size, true)
            .await
            .map_err(CliError::local)?;
        if !rounds_until(&engine, 1_000, running).await? {
            return Err(CliError::Local(format!("the role never ran {size} VMs")));
        }
        let t = started.elapsed();
        table.add_row([
            size.to_string(),
            format!("{:.2} s", t.as_secs_f64()),
            format!("{:.0}", t.as_secs_f64() * 1e6 / size as f64),
            format!("{:.0}", size as f64 / t.as_secs_f64()),
        ]);
    }
    println!("{table}");
    println!("sim driver (Wasm), zero boot time; one service, one role scaled from 1 VM");
    Ok(ExitCode::SUCCESS)
}

async fn deploy(services: u32, vms: u32, postgres: Option<String>) -> Result<ExitCode> {
    if services == 0 || vms < 2 {
        return Err("--services must be at least 1 and --vms at least 2".into());
    }
    let (wasm, wasm_vms) = deploy_on(false, services, vms, None).await?;
    let (native, native_vms) = deploy_on(true, services, vms, None).await?;
    let on_postgres = match &postgres {
        Some(url) => Some(deploy_on(false, services, vms, Some(url)).await?),
        None => None,
    };
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    table.set_header(["driver", "services", "VMs", "time to all RUNNING", "VMs/s"]);
    let rows = [
        ("sim (Wasm plugin)", wasm, wasm_vms),
        ("sim (native)", native, native_vms),
    ]
    .into_iter()
    .chain(on_postgres.map(|(t, n)| ("sim (Wasm plugin), PostgreSQL store", t, n)));
    for (name, t, n) in rows {
        table.add_row([
            name.to_string(),
            services.to_string(),
            n.to_string(),
            format!("{:.2} s", t.as_secs_f64()),
            format!("{:.0}", n as f64 / t.as_secs_f64()),
        ]);
    }
    outln!("{table}");
    outln!(
        "Wasm / native: {:.2}×  (target: under 10 s, within 1.15×)",
        wasm.as_secs_f64() / native.as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
