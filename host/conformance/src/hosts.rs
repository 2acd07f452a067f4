//! The checks of a driver for a fleet (`flotilla:driver/hosts`): monitor
//! answers each host on its own, in order, a host it does not know or
//! that does not answer is an error for that host only, and a VM placed
//! on a host is among that host's VMs.

use super::driver::spec;
use super::{Checks, Failure, wrong};
use flotilla_plugin_host::{Driver, HostMonitoring, HostProbe, PluginError};
use flotilla_sim_hypervisor::SimHypervisor;

/// The hosts made on the check's simulated hypervisor, and what each has.
const HOSTS: [&str; 2] = ["conformance-host-1", "conformance-host-2"];
const CPU: f64 = 4.0;
const MEMORY_MB: u64 = 8192;
const UNKNOWN: &str = "conformance-no-such-host";

/// A host as Flotilla names it to the driver: the simulated hypervisor's
/// name is its address.
fn probe(name: &str) -> HostProbe {
    HostProbe::new(name, name)
}

/// What a known host's outcome must say.
fn known(name: &str, outcome: &Result<HostMonitoring, PluginError>) -> Result<(), Failure> {
    match outcome {
        Ok(m) if m.cpu == CPU && m.memory_mb == MEMORY_MB => Ok(()),
        Ok(m) => Err(wrong(format!(
            "{name}: {} CPUs and {} MiB, expected {CPU} and {MEMORY_MB}",
            m.cpu, m.memory_mb
        ))),
        Err(e) => Err(wrong(format!("{name}: {e}"))),
    }
}

pub(super) async fn run(c: &mut Checks, driver: &Driver, fleet: Option<&SimHypervisor>) {
    let Some(fleet) = fleet else {
        // The operator's grant sends the driver to its own backend, whose
        // hosts the check does not know: only a host none has is asked.
        c.check(
            "monitor answers a host it does not know with an error",
            async {
                let outcomes = driver.monitor_hosts(vec![probe(UNKNOWN)]).await?;
                match outcomes.as_slice() {
                    [Err(e)] => Ok(e.to_string()),
                    [Ok(_)] => Err(wrong(format!("monitored {UNKNOWN}"))),
                    other => Err(wrong(format!("{} outcomes for 1 host", other.len()))),
                }
            },
        )
        .await;
        return;
    };
    for name in HOSTS {
        if let Err(e) = fleet.add_host(name, CPU, MEMORY_MB) {
            c.record(
                "monitor answers each host on its own, in order",
                Err(wrong(format!("could not make host {name}: {e}"))),
            );
            return;
        }
    }

    c.check("monitor answers each host on its own, in order", async {
        let probes = vec![probe(HOSTS[0]), probe(UNKNOWN), probe(HOSTS[1])];
        let outcomes = driver.monitor_hosts(probes).await?;
        match outcomes.as_slice() {
            [first, Err(_), second] => {
                known(HOSTS[0], first)?;
                known(HOSTS[1], second)?;
                Ok(format!(
                    "{} and {} monitored, {UNKNOWN} an error",
                    HOSTS[0], HOSTS[1]
                ))
            }
            [_, Ok(_), _] => Err(wrong(format!("monitored {UNKNOWN}, which does not exist"))),
            other => Err(wrong(format!("{} outcomes for 3 hosts", other.len()))),
        }
    })
    .await;

    c.check("a VM placed on a host is among its VMs", async {
        let mut placed = spec("conformance-placed", false);
        placed.template = format!(
            r#"{{"CPU":"1","MEMORY":"512","HOST":{{"NAME":"{0}","ADDRESS":"{0}"}}}}"#,
            HOSTS[0]
        );
        let id = driver.create(placed).await?;
        let outcomes = driver.monitor_hosts(vec![probe(HOSTS[0])]).await?;
        match outcomes.as_slice() {
            [Ok(m)] if m.vm_ids.contains(&id) && m.used_memory_mb >= 512 => Ok(format!(
                "VM {id} on {}: {} CPU, {} MiB in use",
                HOSTS[0], m.used_cpu, m.used_memory_mb
            )),
            [Ok(m)] if m.vm_ids.contains(&id) => Err(wrong(format!(
                "VM {id} of 512 MiB listed, but {} MiB in use",
                m.used_memory_mb
            ))),
            [Ok(m)] => Err(wrong(format!(
                "VM {id} is not among its VMs {:?}",
                m.vm_ids
            ))),
            [Err(e)] => Err(wrong(format!("{}: {e}", HOSTS[0]))),
            other => Err(wrong(format!("{} outcomes for 1 host", other.len()))),
        }
    })
    .await;

    c.check("a host that does not answer is unavailable, alone", async {
        fleet
            .set_host_reachable(HOSTS[1], false)
            .map_err(|e| wrong(format!("could not cut {} off: {e}", HOSTS[1])))?;
        let outcomes = driver
            .monitor_hosts(vec![probe(HOSTS[0]), probe(HOSTS[1])])
            .await;
        let _ = fleet.set_host_reachable(HOSTS[1], true);
        match outcomes?.as_slice() {
            [first, Err(PluginError::Unavailable(m))] => {
                known(HOSTS[0], first)?;
                Ok(m.clone())
            }
            [_, Err(e)] => Err(wrong(format!("expected unavailable, got {e}"))),
            [_, Ok(_)] => Err(wrong(format!("{} answered while cut off", HOSTS[1]))),
            other => Err(wrong(format!("{} outcomes for 2 hosts", other.len()))),
        }
    })
    .await;
}
