//! `flotilla bench placement`: what choosing hosts for VMs costs. Places
//! N VMs of mixed sizes onto H hosts with the core's placer, as the
//! engine does for a round's creates, for each strategy: one VM in 5
//! requires a label (`ZONE = "a"`, a quarter of the hosts have it), one
//! in 10 has OpenNebula's memory rank (`FREE_MEM - 1024 * RUNNING_VMS`,
//! which reads every host), one in 25 belongs to one anti-affined role,
//! and one host in 20 is DISABLED. Hosts have 128 CPUs and 512 GB, so
//! 100 hosts hold about 10,000 VMs: fewer hosts refuse many, and each
//! refusal costs its reason.

use super::ms;
use crate::cli::error::Result;
use flotilla_core::fleet::{
    Allocation, Capacity, Demand, Group, GroupPolicy, Host, HostState, NewHost, Placer, Rank,
    Requirements, Strategy, Unplaced,
};
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

pub fn placement(
    hosts: Vec<u32>,
    vms: Vec<u32>,
    strategies: Vec<Strategy>,
    runs: u32,
) -> Result<ExitCode> {
    let demands = demands()?;
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    table.set_header([
        "strategy",
        "hosts",
        "VMs",
        "placed",
        "unplaced",
        "total",
        "per VM",
        "vs fewer VMs",
        "vs fewer hosts",
    ]);
    let mut example = None;
    for &strategy in &strategies {
        // (hosts, VMs) → time, for the growth columns.
        let mut times: BTreeMap<(u32, u32), Duration> = BTreeMap::new();
        for &h in &hosts {
            let fleet = fleet(h);
            for &n in &vms {
                let mut measured = Vec::new();
                let mut outcome = (0, 0, None);
                for _ in 0..runs.max(1) {
                    let hosts = fleet.clone();
                    let start = Instant::now();
                    outcome = place(hosts, strategy, &demands, n);
                    measured.push(start.elapsed());
                }
                measured.sort();
                let time = measured[measured.len() / 2];
                let (placed, unplaced, reason) = outcome;
                if let Some(reason) = reason {
                    example = Some(reason.to_string());
                }
                times.insert((h, n), time);
                let growth = |earlier: Option<(u32, Duration)>, size: u32| match earlier {
                    Some((s, t)) if t > Duration::ZERO => format!(
                        "×{:.1} for ×{}",
                        time.as_secs_f64() / t.as_secs_f64(),
                        size / s.max(1)
                    ),
                    _ => String::new(),
                };
                let fewer_vms = vms
                    .iter()
                    .filter(|&&m| m < n)
                    .max()
                    .and_then(|&m| times.get(&(h, m)).map(|&t| (m, t)));
                let fewer_hosts = hosts
                    .iter()
                    .filter(|&&g| g < h)
                    .max()
                    .and_then(|&g| times.get(&(g, n)).map(|&t| (g, t)));
                table.add_row([
                    strategy.to_string(),
                    h.to_string(),
                    n.to_string(),
                    placed.to_string(),
                    unplaced.to_string(),
                    ms(time),
                    format!("{:.2} µs", time.as_secs_f64() * 1e6 / f64::from(n.max(1))),
                    growth(fewer_vms, n),
                    growth(fewer_hosts, h),
                ]);
            }
        }
    }
    outln!("{table}");
    outln!(
        "median of {} runs each, one thread, building the placer from the hosts included. \
         \"vs fewer\": the time against the next smaller size's. A refused VM costs more \
         than a placed one: it is checked against every host, and each host's reason kept.",
        runs.max(1)
    );
    if let Some(reason) = example {
        outln!("a refused VM's reason, as the service log shows it: {reason}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `n` hosts: 128 CPUs and 512 GB each, a quarter in zone a, one in 20
/// DISABLED.
fn fleet(n: u32) -> Vec<(Host, Allocation)> {
    (1..=u64::from(n))
        .map(|id| {
            let zone = if id % 4 == 0 { "a" } else { "b" };
            let mut host = Host::new(
                id,
                NewHost {
                    name: format!("kvm-{id}"),
                    driver: "sim".into(),
                    address: format!("kvm-{id}"),
                    labels: BTreeMap::from([("ZONE".to_string(), zone.to_string())]),
                },
            );
            host.state = if id % 20 == 7 {
                HostState::Disabled
            } else {
                HostState::Monitored
            };
            host.total = Some(Capacity {
                cpu: 128.0,
                memory_mb: 512 * 1024,
            });
            (host, Allocation::default())
        })
        .collect()
}

/// The VMs' demands, parsed once as the engine reads a role's template
/// once: three sizes, each plain, needing zone a, ranked, and the
/// anti-affined role's.
struct Demands {
    plain: [Demand; 3],
    zoned: [Demand; 3],
    ranked: [Demand; 3],
    anti: Demand,
}

fn demands() -> Result<Demands> {
    let size = |cpu: f64, memory_mb: u64| Demand {
        cpu,
        memory_mb,
        requirements: None,
        rank: None,
        group: None,
    };
    let sizes = [size(0.5, 512), size(1.0, 1024), size(2.0, 4096)];
    let zone = Requirements::parse("ZONE = \"a\"").map_err(|e| e.to_string())?;
    let rank = Rank::parse("FREE_MEM - 1024 * RUNNING_VMS").map_err(|e| e.to_string())?;
    Ok(Demands {
        zoned: sizes.clone().map(|d| Demand {
            requirements: Some(zone.clone()),
            ..d
        }),
        ranked: sizes.clone().map(|d| Demand {
            rank: Some(rank.clone()),
            ..d
        }),
        anti: Demand {
            group: Some(Group {
                key: "service 1 role db".into(),
                policy: GroupPolicy::AntiAffined,
            }),
            ..sizes[1].clone()
        },
        plain: sizes,
    })
}

/// Place `n` VMs: how many were placed, refused, and the last refusal.
fn place(
    fleet: Vec<(Host, Allocation)>,
    strategy: Strategy,
    d: &Demands,
    n: u32,
) -> (u32, u32, Option<Unplaced>) {
    let mut placer = Placer::new(fleet, strategy);
    let (mut placed, mut unplaced, mut last) = (0, 0, None);
    for i in 0..n {
        let size = (i % 3) as usize;
        let demand = if i % 25 == 3 {
            &d.anti
        } else if i % 5 == 0 {
            &d.zoned[size]
        } else if i % 10 == 1 {
            &d.ranked[size]
        } else {
            &d.plain[size]
        };
        match placer.place(demand) {
            Ok(_) => placed += 1,
            Err(e) => {
                unplaced += 1;
                last = Some(e);
            }
        }
    }
    (placed, unplaced, last)
}
