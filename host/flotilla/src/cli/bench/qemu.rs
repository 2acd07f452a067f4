//! `flotilla bench qemu`: the qemu driver plugin on real QEMU processes,
//! with the operator's grant from a flotilla.toml: N VMs created in one
//! call, the time until QEMU runs them all and until their guests are idle,
//! the cost of one poll of all N once they are (QMP and the processes'
//! counters), and the host memory of an idle VM.
//! Every VM it makes is terminated before it returns.

use super::{Row, row};
use crate::cli::error::{CliError, Result};
use crate::plugin::{Driver, PluginHost, VmAction, VmSpec, VmState, builtin};
use std::time::{Duration, Instant};

pub async fn qemu(config: &std::path::Path, vms: u32, polls: u32) -> Result<Vec<Row>> {
    let config = crate::config::Config::load(config).map_err(CliError::local)?;
    let grant =
        config.plugins.get("qemu").cloned().ok_or(
            "the configuration grants no [plugins.qemu]: see plugins/driver/qemu/README.md",
        )?;
    let host = PluginHost::new(None).map_err(|e| format!("plugin host: {e:#}"))?;
    let qemu = builtin::find("qemu").ok_or("the qemu driver is not built in")?;
    let plugin = host
        .load(qemu.manifest(), qemu.wasm, grant)
        .map_err(CliError::local)?;
    let driver = Driver::start(plugin).map_err(CliError::local)?;
    let specs: Vec<VmSpec> = (0..vms)
        .map(|i| VmSpec {
            operation_id: format!("bench-qemu-{i}-{}", std::process::id()),
            service_id: 0,
            role_name: "bench".into(),
            vm_name: format!("bench_{i}"),
            template: serde_json::json!({"MEMORY": "128", "CPU": "1"}).to_string(),
            hold: false,
        })
        .collect();
    let started = Instant::now();
    let created = driver.create_many(specs).await.map_err(CliError::local)?;
    let ids: Vec<String> = created.into_iter().filter_map(Result::ok).collect();
    let result = measure(&driver, &ids, vms, polls, started).await;
    // Whatever happened, nothing is left running.
    for id in &ids {
        let _ = driver
            .act(id.clone(), VmAction::TerminateHard, Vec::new())
            .await;
    }
    result
}

async fn measure(
    driver: &Driver,
    ids: &[String],
    vms: u32,
    polls: u32,
    started: Instant,
) -> Result<Vec<Row>> {
    if ids.len() != vms as usize {
        return Err(CliError::Local(format!(
            "only {} of {vms} VMs were created",
            ids.len()
        )));
    }
    let deadline = started + Duration::from_secs(600);
    loop {
        let seen = driver.poll(ids.to_vec()).await.map_err(CliError::local)?;
        if seen.iter().all(|s| s.state == VmState::Running) {
            break;
        }
        if Instant::now() > deadline {
            return Err("the VMs did not all run within 10 minutes".into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let running = started.elapsed();
    let (settled, busy) = settle(driver, ids, started, started + SETTLE_LIMIT).await?;
    let mut times = Vec::with_capacity(polls as usize);
    let mut memory_kib = Vec::new();
    for _ in 0..polls.max(1) {
        let t = Instant::now();
        let seen = driver.poll(ids.to_vec()).await.map_err(CliError::local)?;
        times.push(t.elapsed());
        memory_kib = seen
            .iter()
            .filter_map(|s| {
                s.monitoring
                    .iter()
                    .find(|m| m.name == "MEMORY")
                    .map(|m| m.value)
            })
            .collect();
    }
    times.sort();
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
    let mean_mib = memory_kib.iter().sum::<f64>() / memory_kib.len().max(1) as f64 / 1024.0;
    Ok(vec![
        row(
            &format!("{vms} VMs created in one call until QEMU runs them all"),
            "qemu",
            format!("{:.2} s", running.as_secs_f64()),
            "",
        ),
        row(
            &format!("{vms} VMs created until their guests are idle"),
            "qemu",
            format!("{:.2} s", settled.as_secs_f64()),
            "",
        ),
        row(
            "the QEMUs' CPU when the polls were timed, all together",
            "qemu",
            format!("{busy:.0} %"),
            "",
        ),
        row(
            &format!("one poll of {vms} VMs (QMP + process counters), median"),
            "qemu",
            ms(times[times.len() / 2]),
            "",
        ),
        row(
            &format!("one poll of {vms} VMs, slowest of {}", times.len()),
            "qemu",
            ms(times[times.len() - 1]),
            "",
        ),
        row(
            "host memory of an idle VM (QEMU RSS, -m 128)",
            "qemu",
            format!("{mean_mib:.0} MiB"),
            "",
        ),
    ])
}

/// Waits until the guests have booted and gone idle, so that the polls are
/// timed on a host at rest rather than in a boot storm (50 TCG guests keep
/// two cores busy for minutes). Idle is the QEMUs' CPU, all together, below
/// [`IDLE_SHARE`] of the machine's for three polls in a row, a second apart.
/// Returns the time since `started` (the create) and that CPU.
async fn settle(
    driver: &Driver,
    ids: &[String],
    started: Instant,
    deadline: Instant,
) -> Result<(Duration, f64)> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let idle = IDLE_SHARE * 100.0 * cores;
    let mut quiet = 0;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let seen = driver.poll(ids.to_vec()).await.map_err(CliError::local)?;
        let busy: f64 = seen
            .iter()
            .flat_map(|s| s.monitoring.iter().filter(|m| m.name == "CPU"))
            .map(|m| m.value)
            .sum();
        quiet = if busy < idle { quiet + 1 } else { 0 };
        if quiet == 3 {
            return Ok((started.elapsed(), busy));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the guests did not go idle within 15 minutes of their create (their QEMUs use {busy:.0} % CPU)"
            )
            .into());
        }
    }
}

/// 50 TCG guests booting on two cores take about 5 minutes to go idle.
const SETTLE_LIMIT: Duration = Duration::from_secs(900);

/// Guests at rest under TCG cost their timer ticks and little else: all
/// together, less than this share of the machine's CPU.
const IDLE_SHARE: f64 = 0.25;
