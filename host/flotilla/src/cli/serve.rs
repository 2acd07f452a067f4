//! `flotilla serve` and `flotilla sim-hypervisor`.

use super::DataArgs;
use super::error::{CliError, Result};
use crate::api::ready::Reconciliation;
use crate::api::{self, AppState};
use crate::config::Config;
use crate::model::FieldError;
use crate::plugin::{Grant, PluginHost};
use crate::registry::Registry;
use crate::sim_hypervisor::{self as sim, SimHypervisor, SimOptions};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Configuration file (default: flotilla.toml in the data directory).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address of the API (overrides server.listen).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Address of the embedded simulated hypervisor (overrides sim.listen).
    #[arg(long)]
    sim_listen: Option<SocketAddr>,
    /// Do not start the embedded simulated hypervisor.
    #[arg(long)]
    no_sim: bool,
    /// Address of OneGate (overrides onegate.listen).
    #[arg(long)]
    onegate_listen: Option<SocketAddr>,
    /// How the log on stderr is written (json: one object per line).
    #[arg(long, value_enum, default_value = "text", env = "FLOTILLA_LOG_FORMAT")]
    log_format: super::LogFormat,
}

#[derive(clap::Args)]
pub struct SimArgs {
    #[command(flatten)]
    data: DataArgs,
    #[arg(long, default_value = crate::config::DEFAULT_SIM)]
    listen: SocketAddr,
    /// Boot time of VMs that do not set SIM_BOOT_SECONDS.
    #[arg(long, default_value_t = 2.0)]
    boot_seconds: f64,
    /// Start with hosts sim-host-1 to sim-host-N (those already there are
    /// kept as they are).
    #[arg(long, default_value_t = 0, value_name = "N")]
    hosts: u32,
    /// CPUs of each host --hosts makes.
    #[arg(long, default_value_t = 16.0, value_name = "CPUS")]
    host_cpu: f64,
    /// Memory of each host --hosts makes, in MiB.
    #[arg(long, default_value_t = 65536, value_name = "MIB")]
    host_memory_mb: u64,
}

fn create_dir(dir: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| {
        CliError::Local(format!(
            "cannot create the data directory {}: {e}",
            dir.display()
        ))
    })
}

async fn bind(addr: SocketAddr, what: &str) -> Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        CliError::Local(format!(
            "cannot listen on {addr} for the {what}: {e} (is another flotilla running?)"
        ))
    })
}

fn boot_ms(seconds: f64) -> Result<u64> {
    if seconds >= 0.0 && seconds.is_finite() {
        Ok((seconds * 1000.0) as u64)
    } else {
        Err("boot seconds must be 0 or more".into())
    }
}

/// The hosts `sim-hypervisor --hosts` starts with.
struct SimHosts {
    count: u32,
    cpu: f64,
    memory_mb: u64,
}

impl SimHosts {
    const NONE: SimHosts = SimHosts {
        count: 0,
        cpu: 0.0,
        memory_mb: 0,
    };
}

async fn start_sim(
    data_dir: &std::path::Path,
    listen: SocketAddr,
    boot_seconds: f64,
    hosts: &SimHosts,
) -> Result<SocketAddr> {
    let hypervisor = SimHypervisor::open(SimOptions {
        database: Some(data_dir.join("sim-hypervisor.db")),
        default_boot_ms: boot_ms(boot_seconds)?,
        ..SimOptions::default()
    })
    .map_err(|e| format!("simulated hypervisor: {e:#}"))?;
    for n in 1..=hosts.count {
        hypervisor
            .add_host(&format!("sim-host-{n}"), hosts.cpu, hosts.memory_mb)
            .map_err(|e| format!("simulated hypervisor: sim-host-{n}: {e}"))?;
    }
    let listener = bind(listen, "simulated hypervisor").await?;
    sim::spawn(hypervisor, listener).map_err(CliError::local)
}

/// The store `[store] url` names (PostgreSQL, claimed for this server
/// while it runs), else SQLite's `flotilla.db` in the data directory.
fn open_store(
    url: Option<&str>,
    data_dir: &std::path::Path,
) -> Result<(
    Box<dyn crate::store::Store>,
    Option<crate::store::DatabaseClaim>,
)> {
    let Some(url) = url else {
        let store = crate::store::SqliteStore::open(&data_dir.join("flotilla.db"))
            .map_err(|e| format!("database: {e:#}"))?;
        return Ok((store.boxed(), None));
    };
    // Claimed before anything is written: a second server must not even
    // migrate the schema under a running one.
    let claim = crate::store::DatabaseClaim::take(url).map_err(|e| format!("store.url: {e:#}"))?;
    let store = crate::store::PgStore::connect(url).map_err(|e| format!("store.url: {e:#}"))?;
    tracing::info!("the store is the PostgreSQL database of store.url");
    Ok((store.boxed(), Some(claim)))
}

pub async fn serve(args: ServeArgs) -> Result<ExitCode> {
    super::init_tracing_as("info", args.log_format);
    let data_dir = args.data.dir();
    create_dir(&data_dir)?;
    let config_path = args
        .config
        .clone()
        .unwrap_or_else(|| data_dir.join("flotilla.toml"));
    let mut config = Config::load(&config_path).map_err(CliError::local)?;
    config
        .check_plugin_ids(&crate::config::available_plugins(Some(&data_dir)))
        .map_err(|e| format!("{}: {e}", config_path.display()))?;
    let as_read = config.clone();
    if let Some(listen) = args.listen {
        config.server.listen = listen;
    }
    if let Some(listen) = args.sim_listen {
        config.sim.listen = listen;
    }
    if let Some(listen) = args.onegate_listen {
        config.onegate.listen = listen;
    }
    if args.no_sim {
        config.sim.enabled = false;
    }

    let mut defaults = Vec::new();
    let sim_url = if config.sim.enabled {
        let addr = start_sim(
            &data_dir,
            config.sim.listen,
            config.sim.boot_seconds,
            &SimHosts::NONE,
        )
        .await?;
        let url = format!("http://{addr}");
        tracing::info!("simulated hypervisor on {url}");
        // The embedded hypervisor is granted to the sim driver by default.
        let mut grant = Grant::default();
        grant.allowed_outbound_hosts.push(url.clone());
        grant.config.insert("endpoint".into(), url.clone());
        defaults.push(("sim".to_string(), grant));
        Some(url)
    } else {
        None
    };

    let host =
        PluginHost::new(Some(data_dir.join("cache"))).map_err(|e| format!("plugin host: {e:#}"))?;
    let registry = tokio::task::spawn_blocking({
        let host = host.clone();
        let config = config.clone();
        let data_dir = data_dir.clone();
        let defaults = defaults.clone();
        move || Registry::load(&host, &config, Some(&data_dir), &defaults)
    })
    .await
    .map_err(|e| format!("loading plugins: {e}"))?;
    for p in registry.summaries() {
        tracing::info!(plugin = %p.id, kind = %p.kind, version = %p.version, status = %p.status, "plugin");
    }

    // One server per data directory; `restore` waits for none.
    let _lock = super::backup::lock(&data_dir)?;
    let (store, _claim) = open_store(config.store.url.as_deref(), &data_dir)?;
    match crate::access::users::bootstrap(&*store, &data_dir) {
        Ok(Some(path)) => tracing::info!(
            "created user oneadmin; its credentials are in {}",
            path.display()
        ),
        Ok(None) => {}
        Err(e) => return Err(CliError::Local(format!("creating the oneadmin user: {e}"))),
    }
    refuse_open_secrets(&data_dir)?;
    // Every loaded elasticity, network and plumbing plugin, by id;
    // installing one adds it here.
    let policies = Arc::new(crate::engine::PluginLibrary::new(
        registry
            .loaded_of(crate::plugin::PluginKind::Elasticity)
            .into_iter()
            .chain(registry.loaded_of(crate::plugin::PluginKind::Network))
            .chain(registry.loaded_of(crate::plugin::PluginKind::Plumbing)),
    ));
    policies.set_default_network(&config.engine.network_mode);
    let saved_reports = if config.onegate.enabled {
        store
            .vm_attributes()
            .map_err(|e| format!("database: {e:#}"))?
    } else {
        Vec::new()
    };
    let startup = api::ready::Startup::default();
    // One clock for the engine and the answers the API and OneGate date.
    let clock: crate::clock::SharedClock = Arc::new(crate::clock::SystemClock);
    let (engine, standby_store) = match registry
        .loaded(&config.engine.driver, crate::plugin::PluginKind::Driver)
    {
        Some(driver) => {
            let engine = crate::engine::Engine::with_plugins(
                store,
                Arc::new(
                    crate::plugin::Driver::start_pool(
                        driver.clone(),
                        config.engine.driver_instances,
                    )
                    .map_err(CliError::local)?,
                ),
                policies.clone(),
                policies.clone(),
                policies.clone(),
                clock.clone(),
                crate::engine::Settings {
                    wait_ms: config.engine.wait_seconds.saturating_mul(1000),
                    max_vms_per_role: config.engine.max_vms_per_role,
                    default_cooldown_s: config.engine.default_cooldown_seconds,
                    policy_evaluation_ms: config
                        .engine
                        .policy_evaluation_seconds
                        .saturating_mul(1000),
                    metric_max_age_ms: config.engine.metric_max_age_seconds.saturating_mul(1000),
                    fleet: (&config.fleet).into(),
                },
            );
            engine
                .adopt_driver(&config.engine.driver)
                .map_err(CliError::local)?;
            // Network modes reach the store's networks through the engine.
            host.set_network_registry(Arc::new(crate::engine::StoreRegistry::new(&engine)));
            if config.onegate.enabled {
                start_onegate(&engine, &config.onegate, &data_dir, saved_reports).await?;
            }
            super::systemd::notify("STATUS=reconciling with the driver");
            startup.reconciled(match engine.reconcile().await {
                Ok((adopted, orphans)) => {
                    tracing::info!(adopted, orphans, "reconciled with the driver");
                    Reconciliation::Ran { adopted, orphans }
                }
                Err(e) => {
                    tracing::warn!("reconciliation skipped: {e}");
                    Reconciliation::Failed(e.to_string())
                }
            });
            engine.spawn_loop(std::time::Duration::from_millis(config.engine.tick_ms));
            engine.spawn_monitor(std::time::Duration::from_secs(
                config.fleet.monitor_interval_seconds,
            ));
            (Some(engine), None)
        }
        None => {
            tracing::error!(driver = %config.engine.driver, "the engine's driver is not loaded; services will not progress");
            (None, Some(crate::store::SharedStore::new(store)))
        }
    };
    let reloader = Arc::new(crate::reload::Reloader::new(
        config_path.clone(),
        data_dir.join("plugins"),
        host.clone(),
        defaults.clone(),
        policies.clone(),
        as_read,
    ));
    let state = Arc::new(AppState {
        auth: crate::access::users::Authenticator::default(),
        standby_store,
        engine,
        registry,
        startup,
        reloader: Some(reloader.clone()),
        installer: Some(Arc::new(crate::install::Installer::new(reloader))),
        sim_url: sim_url.clone(),
        started: std::time::Instant::now(),
        clock,
        metrics: Default::default(),
        strict_attributes: config.server.strict_attributes,
        passwords: crate::access::passwords::PasswordChecks::start(config.server.password_checks)
            .map_err(|e| format!("starting the password checks: {e}"))?,
        throttle: crate::access::throttle::SignInThrottle::new(
            config.server.failed_logins_per_minute,
        ),
        allowed_origins: config
            .server
            .allowed_origins
            .iter()
            .map(|o| api::origin_normalise(o))
            .collect(),
        rendered: Default::default(),
        sessions: crate::access::sessions::Sessions::new(std::time::Duration::from_secs(
            config.server.session_idle_minutes.saturating_mul(60),
        )),
    });
    let listener = bind(config.server.listen, "API").await?;
    let addr = listener.local_addr().map_err(CliError::local)?;
    tracing::info!(data_dir = %data_dir.display(), "Flotilla API on http://{addr}");
    tell_the_service_manager(state.clone(), addr).await;
    feed_the_watchdog(state.clone());
    retry_reconciliation(state.clone(), addr);
    reload_on_sighup(state.clone());
    api::listener::serve(
        listener,
        api::router(state, crate::ui::router()),
        api::listener::Limits::from_config(&config.server),
        shutdown_signal(),
    )
    .await;
    super::systemd::notify("STOPPING=1");
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// A first reconciliation that failed (the driver's backend unreachable
/// at boot) is tried again every 5 s until it runs; then the server is
/// ready and says so.
fn retry_reconciliation(state: Arc<AppState>, addr: SocketAddr) {
    let (Some(engine), Some(Reconciliation::Failed(_))) =
        (state.engine.clone(), state.startup.reconciliation())
    else {
        return;
    };
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            match engine.reconcile().await {
                Ok((adopted, orphans)) => {
                    tracing::info!(adopted, orphans, "reconciled with the driver");
                    state
                        .startup
                        .reconciled(Reconciliation::Ran { adopted, orphans });
                    tell_the_service_manager(state, addr).await;
                    return;
                }
                Err(e) => {
                    tracing::warn!("reconciliation failed again, retrying in 5 s: {e}");
                    state
                        .startup
                        .reconciled(Reconciliation::Failed(e.to_string()));
                }
            }
        }
    });
}

/// SIGHUP re-reads flotilla.toml, as `POST /config/reload` does; a
/// refused file is logged and changes nothing.
fn reload_on_sighup(state: Arc<AppState>) {
    let Ok(mut hangups) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
    else {
        return;
    };
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            let Some(reloader) = state.reloader.clone() else {
                continue;
            };
            super::systemd::notify("RELOADING=1");
            let state2 = state.clone();
            match tokio::task::spawn_blocking(move || reloader.reload(&state2.registry)).await {
                Ok(Ok(done)) => tracing::info!(
                    applied = ?done.applied,
                    at_restart = ?done.at_restart,
                    "configuration reloaded"
                ),
                Ok(Err(e)) => {
                    tracing::error!("configuration refused, nothing changed: {e}")
                }
                Err(e) => tracing::error!("reloading the configuration: {e}"),
            }
            let checked = state.clone();
            let ready = tokio::task::spawn_blocking(move || checked.readiness().ready)
                .await
                .unwrap_or(false);
            if ready {
                super::systemd::notify("READY=1");
            }
        }
    });
}

/// oneadmin's password in `one_auth` is for its owner only: a server
/// refuses to start while others may read it.
fn refuse_open_secrets(data_dir: &std::path::Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let path = data_dir.join("one_auth");
    let Ok(meta) = std::fs::metadata(&path) else {
        return Ok(());
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(CliError::Local(format!(
            "{} holds oneadmin's password and others may read it (mode {mode:o}): run `chmod 600 {}`",
            path.display(),
            path.display()
        )));
    }
    Ok(())
}

/// Under systemd (`Type=notify`): READY once the API listens and the
/// readiness checks pass (store, driver, first reconciliation), or a STATUS
/// saying why not.
async fn tell_the_service_manager(state: Arc<AppState>, addr: SocketAddr) {
    let checked = state.clone();
    let Ok(readiness) = tokio::task::spawn_blocking(move || checked.readiness()).await else {
        return;
    };
    if readiness.ready {
        super::systemd::notify(&format!(
            "READY=1\nSTATUS=serving on http://{addr}; reconciliation {}",
            readiness.reconciliation
        ));
    } else {
        tracing::error!(
            ?readiness,
            "not ready: the service manager is not told READY"
        );
        super::systemd::notify(&format!(
            "STATUS=not ready: store {}, driver {}, reconciliation {}",
            readiness.store, readiness.driver, readiness.reconciliation
        ));
    }
}

/// The watchdog is fed at half `WatchdogSec`, only while the store
/// answers: a server whose store hangs is restarted.
fn feed_the_watchdog(state: Arc<AppState>) {
    let Some(every) = super::systemd::watchdog_interval() else {
        return;
    };
    tokio::spawn(async move {
        loop {
            let checked = state.clone();
            let alive = tokio::task::spawn_blocking(move || {
                checked
                    .engine
                    .as_ref()
                    .is_none_or(|e| e.service_ids().is_ok())
            })
            .await
            .unwrap_or(false);
            if alive {
                super::systemd::notify("WATCHDOG=1");
            }
            tokio::time::sleep(every).await;
        }
    });
}

pub async fn sim_hypervisor(args: SimArgs) -> Result<ExitCode> {
    super::init_tracing("info");
    let data_dir = args.data.dir();
    create_dir(&data_dir)?;
    if !(args.host_cpu.is_finite() && args.host_cpu > 0.0) {
        return Err(FieldError::new("--host-cpu", "must be a number of CPUs above 0").into());
    }
    if args.host_memory_mb == 0 {
        return Err(FieldError::new("--host-memory-mb", "must be above 0").into());
    }
    let hosts = SimHosts {
        count: args.hosts,
        cpu: args.host_cpu,
        memory_mb: args.host_memory_mb,
    };
    let addr = start_sim(&data_dir, args.listen, args.boot_seconds, &hosts).await?;
    tracing::info!(data_dir = %data_dir.display(), hosts = args.hosts, "simulated hypervisor on http://{addr}");
    shutdown_signal().await;
    Ok(ExitCode::SUCCESS)
}

/// OneGate on its own listener: VMs' reports never queue behind the API.
async fn start_onegate(
    engine: &crate::engine::Engine,
    config: &crate::config::OneGateConfig,
    data_dir: &std::path::Path,
    saved: Vec<crate::store::VmReport>,
) -> Result<()> {
    use crate::onegate::{OneGate, Reports, token::Signer};
    let signer = Signer::load_or_create(data_dir).map_err(CliError::local)?;
    let listener = bind(config.listen, "OneGate").await?;
    let addr = listener.local_addr().map_err(CliError::local)?;
    let endpoint = config
        .endpoint
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let gate = Arc::new(OneGate::new(
        signer,
        endpoint.clone(),
        config,
        Reports::load(saved),
        engine.clock().clone(),
    ));
    engine.set_onegate(gate.clone());
    gate.spawn_flusher(engine.clone());
    let router = crate::onegate::router(gate, engine.clone());
    tokio::spawn(api::listener::serve(
        listener,
        router,
        api::listener::Limits {
            max_connections: config.max_connections,
            header_timeout: std::time::Duration::from_secs(10),
            idle_timeout: std::time::Duration::from_secs(60),
            connections: &api::listener::ONEGATE_CONNECTIONS,
            ..api::listener::Limits::default()
        },
        shutdown_signal(),
    ));
    tracing::info!(%endpoint, "OneGate on http://{addr}");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
