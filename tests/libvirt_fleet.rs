//! A fleet of three real libvirt hosts behind a real server, end to end:
//! the `libvirt` driver (the Wasm component, installed in the server's
//! data directory) places a service of six VMs on three hosts (each a
//! network namespace running its own libvirtd, `common/libvirt.rs`), with
//! an anti-affined role; `web` on one host fetches from `db` on another
//! over the `vxlan` plumbing, whose devices the server makes on each host
//! through `[fleet] host_command`; a host is taken down (its libvirtd
//! killed, its link cut): its VMs go UNKNOWN and the service WARNING,
//! `recover` puts them on the others and the service is RUNNING; the host
//! comes back and its stale domains and devices are removed; deleting the
//! service leaves no domain and no device on any host.
//!
//! Needs root, libvirtd, virsh, qemu-system-x86_64 and iproute2; skips
//! with a message without them. Everything it makes is removed when it
//! ends, pass or fail.

mod common;

use common::libvirt::{self, LibvirtHost, virsh, wait_until};
use common::{Flotilla, netns, placements};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// db serves its value on TCP 7000.
const SERVE: &str = "echo 42 > /run/value\nexec nc -ll -p 7000 -e cat /run/value";

/// web fetches db's value (db's address from its parent reference) and
/// says it on the console.
const FETCH: &str = "i=0\nuntil v=$(nc -w 2 \"$DB_ADDRESS\" 7000 </dev/null) && [ -n \"$v\" ]; do\n  i=$((i + 1)); [ $i -lt 180 ] || { echo \"NOTHING FROM $DB_ADDRESS\"; exit 1; }; sleep 1\ndone\necho \"FETCHED=$v\"";

#[test]
fn three_libvirt_hosts_place_connect_lose_recover_and_clean_up_a_service() {
    libvirt::run_isolated(run);
}

/// The service: db (1 VM) and web (2, anti-affined) on the VXLAN network,
/// and 3 workers without NICs; a quarter of a CPU each, so two hosts of
/// this machine's CPUs take all six.
fn service(network: &str) -> Value {
    let nic = json!([{"NETWORK_ID": network}]);
    json!({
        "name": "fleet-app", "deployment": "straight",
        "roles": [
            {"name": "db", "type": "vm", "cardinality": 1, "template_id": 0,
             "template_contents": {"CPU": "0.25", "MEMORY": "128", "NIC": nic,
                "CONTEXT": {"NETWORK": "YES", "START_SCRIPT": SERVE}}},
            {"name": "web", "type": "vm", "cardinality": 2, "template_id": 0,
             "parents": ["db"], "affinity": "ANTI_AFFINED",
             "template_contents": {"CPU": "0.25", "MEMORY": "128", "NIC": nic,
                "CONTEXT": {"NETWORK": "YES", "DB_ADDRESS": "${db.template.nic.ip}",
                            "START_SCRIPT": FETCH}}},
            {"name": "worker", "type": "vm", "cardinality": 3, "template_id": 0,
             "parents": ["db"], "template_contents": {"CPU": "0.25", "MEMORY": "128"}}
        ]
    })
}

/// The names of the `flotilla-*` domains libvirt has on `host`.
fn domains(host: &LibvirtHost) -> Vec<String> {
    let out = virsh(&host.uri(), &["list", "--all", "--name"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("flotilla-"))
        .map(String::from)
        .collect()
}

/// The plumbing's devices (`fv…`) in `host`'s namespace, with their kinds.
fn devices(host: &LibvirtHost) -> Vec<(String, String)> {
    let out = Command::new("ip")
        .args(["-n", &host.netns, "-j", "-d", "link", "show"])
        .output()
        .unwrap();
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    listed
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| {
            let name = d["ifname"].as_str()?;
            let kind = d["linkinfo"]["info_kind"].as_str().unwrap_or("");
            name.starts_with("fv")
                .then(|| (name.to_string(), kind.to_string()))
        })
        .collect()
}

/// What `vm`'s serial console said.
fn console(consoles: &Path, vm: &str) -> String {
    let domain = vm.split_once('/').map_or(vm, |(_, d)| d);
    std::fs::read_to_string(consoles.join(format!("{domain}.log"))).unwrap_or_default()
}

fn wait_fetched(consoles: &Path, vm: &str, limit: Duration) {
    let fetched = wait_until(limit, || console(consoles, vm).contains("FETCHED=42"));
    assert!(
        fetched,
        "web VM {vm} never fetched db's value:\n{}",
        console(consoles, vm)
    );
}

/// The service once RUNNING; a failed state ends the wait with the
/// service's log.
fn wait_running(f: &Flotilla, id: u64, what: &str) -> Value {
    // FAILED_UNDEPLOYING, FAILED_DEPLOYING, FAILED_SCALING.
    let body = f.wait_body(id, what, 300, |b| {
        [2, 6, 7, 9].contains(&b["state"].as_u64().unwrap_or(0))
    });
    assert_eq!(body["state"], 2, "{what}: {}", body["log"]);
    body
}

/// One request as oneadmin. A request on a service waits for the
/// service's round, which waits for the driver: virsh gives a host that
/// stopped answering 10 s before the engine knows it is lost, so the wait
/// is longer than `Flotilla::call`'s. A server that does not answer ends
/// the test with the end of what it logged.
fn api(f: &Flotilla, method: &str, path: &str, body: Value) -> (u16, Value) {
    let sent = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    let auth = [("authorization", f.auth.clone())];
    let limit = Duration::from_secs(60);
    match common::http_within(f.server.api, method, path, &auth, &sent, limit) {
        Some((status, text)) => (status, serde_json::from_str(&text).unwrap_or(Value::Null)),
        None => {
            let log = f.server.stderr();
            let start = log.len().saturating_sub(6000);
            let start = (start..log.len())
                .find(|i| log.is_char_boundary(*i))
                .unwrap_or(log.len());
            panic!(
                "{method} {path}: no answer from the server; its log ends:\n{}",
                &log[start..]
            )
        }
    }
}

fn host_of<'a>(hosts: &'a [LibvirtHost], name: &str) -> (usize, &'a LibvirtHost) {
    hosts
        .iter()
        .enumerate()
        .find(|(_, h)| h.name == name)
        .unwrap_or_else(|| panic!("no host {name}"))
}

fn run(img: PathBuf) {
    let started = Instant::now();
    let tag = format!("flf{}", std::process::id() % 100_000);
    // The Flotilla hosts are named as their namespaces: host_command runs
    // `ip netns exec {name}`.
    let (hosts, mut guard, root) = libvirt::fleet(&tag, 3, |i| format!("{tag}h{i}"));
    eprintln!("three libvirtd up after {:?}", started.elapsed());

    let state = root.join("state");
    let consoles = root.join("consoles");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::create_dir_all(&consoles).unwrap();
    let grant = libvirt::grant(&img, &state, &consoles, &[]);
    let data = tempfile::tempdir().unwrap();
    libvirt::install_driver(data.path());
    let config = format!(
        r#"[sim]
enabled = false
[engine]
driver = "libvirt"
tick_ms = 500
wait_seconds = 300
[fleet]
monitor_interval_seconds = 1
host_command = ["ip", "netns", "exec", "{{name}}"]
[plugins.vxlan]
config = {{ underlay = "eth0" }}
[plugins.vxlan.link]
prefixes = ["fv"]
underlays = ["eth0"]

{grant}"#
    );
    let f = Flotilla::start_in(data, &config);

    let mut ids = BTreeMap::new();
    for h in &hosts {
        let (status, host) = api(
            &f,
            "POST",
            "/host",
            json!({"name": h.name, "driver": "libvirt", "address": h.uri()}),
        );
        assert_eq!(status, 201, "{host}");
        assert_eq!(host["state"], "MONITORED", "{host}");
        ids.insert(h.name.clone(), host["id"].as_u64().unwrap());
    }
    let (status, net) = api(
        &f,
        "POST",
        "/vnet",
        json!({"name": "private", "template": {
            "VN_MAD": "vxlan",
            "VLAN_ID": "100",
            "AR": [{"TYPE": "IP4", "IP": "10.1.0.10", "SIZE": "20"}],
            "NETWORK_MASK": "255.255.255.0"}}),
    );
    assert_eq!(status, 201, "{net}");
    let network = net["VNET"]["ID"].as_str().unwrap().to_string();

    // Six VMs on three hosts, web's two apart.
    let id = f.deploy(service(&network));
    let body = wait_running(&f, id, "RUNNING");
    let running = started.elapsed();
    let placed = placements(&body);
    eprintln!("RUNNING after {running:?}: {placed:?}");
    assert_eq!(placed.values().flatten().count(), 6, "{placed:?}");
    let used: BTreeSet<&str> = placed.values().flatten().map(|(_, h)| h.as_str()).collect();
    assert_eq!(used.len(), 3, "spread over the three hosts: {placed:?}");
    let web_hosts: BTreeSet<&str> = placed["web"].iter().map(|(_, h)| h.as_str()).collect();
    assert_eq!(web_hosts.len(), 2, "web's VMs are apart: {placed:?}");
    for (vm, host) in placed.values().flatten() {
        let (_, h) = host_of(&hosts, host);
        let domain = vm.split_once('/').map(|(_, d)| d.to_string());
        assert!(
            vm.starts_with(&format!("{host}/")) && domains(h).contains(&domain.unwrap()),
            "VM {vm} is a domain of its host {host}"
        );
    }

    // A web VM on another host than db's fetched db's value over VXLAN.
    let db_host = placed["db"][0].1.clone();
    let (far_web, far_host) = placed["web"]
        .iter()
        .find(|(_, h)| *h != db_host)
        .cloned()
        .expect("a web VM away from db");
    wait_fetched(&consoles, &far_web, Duration::from_secs(240));
    let fetched = started.elapsed();
    eprintln!("{far_web} on {far_host} fetched from db on {db_host} after {fetched:?}");
    for name in [&db_host, &far_host] {
        let (_, h) = host_of(&hosts, name);
        let kinds: BTreeSet<String> = devices(h).into_iter().map(|(_, k)| k).collect();
        assert!(
            ["bridge", "vxlan", "tun"]
                .iter()
                .all(|k| kinds.contains(*k)),
            "{name}: the network's bridge, its VXLAN device and a tap per NIC: {:?}",
            devices(h)
        );
    }

    // The far web's host is lost: libvirtd killed, its link cut.
    let (lost_i, lost) = host_of(&hosts, &far_host);
    let lost_id = ids[&far_host];
    let on_lost: BTreeSet<String> = placed
        .values()
        .flatten()
        .filter(|(_, h)| *h == far_host)
        .map(|(vm, _)| vm.clone())
        .collect();
    let pid = lost.daemon_pid().expect("libvirtd's pid file");
    // SAFETY: a plain system call on the daemon this test started.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    netns::ip(&["link", "set", &libvirt::uplink(lost_i + 1), "down"]);
    let cut = Instant::now();
    let body = f.wait_body(id, "WARNING", 120, |b| b["state"] == 4);
    for role in body["roles"].as_array().unwrap() {
        for n in role["nodes"].as_array().unwrap() {
            let vm = &n["vm_info"]["VM"];
            if on_lost.contains(vm["ID"].as_str().unwrap_or("")) {
                assert_eq!(vm["STATE"], "UNKNOWN", "{n}");
            }
        }
    }
    // Its monitoring fails once virsh gives up on it.
    let error = wait_until(Duration::from_secs(60), || {
        api(&f, "GET", &format!("/host/{lost_id}"), Value::Null).1["state"] == "ERROR"
    });
    let (_, host) = api(&f, "GET", &format!("/host/{lost_id}"), Value::Null);
    assert!(error, "the lost host is not in ERROR: {host}");

    // Recover: the lost VMs are made on the other hosts.
    let (status, answer) = api(
        &f,
        "POST",
        &format!("/service/{id}/action"),
        json!({"action": {"perform": "recover"}}),
    );
    assert!(status < 300, "{status} {answer}");
    let body = wait_running(&f, id, "RUNNING again");
    let recovered = cut.elapsed();
    let placed = placements(&body);
    eprintln!("RUNNING again {recovered:?} after the cut: {placed:?}");
    assert_eq!(placed.values().flatten().count(), 6, "{placed:?}");
    assert!(
        placed
            .values()
            .flatten()
            .all(|(vm, h)| *h != far_host && !on_lost.contains(vm)),
        "nothing left on the lost host: {placed:?}"
    );
    let web_hosts: BTreeSet<&str> = placed["web"].iter().map(|(_, h)| h.as_str()).collect();
    assert_eq!(web_hosts.len(), 2, "web's VMs still apart: {placed:?}");
    for (vm, _) in &placed["web"] {
        wait_fetched(&consoles, vm, Duration::from_secs(240));
    }

    // The host comes back: its stale domains and devices are removed.
    netns::ip(&["link", "set", &libvirt::uplink(lost_i + 1), "up"]);
    guard.daemons.push(libvirt::start_daemon(lost));
    let cleaned = wait_until(Duration::from_secs(120), || {
        domains(lost).is_empty() && devices(lost).is_empty()
    });
    assert!(
        cleaned,
        "the returned host still has domains {:?} and devices {:?}; host: {}",
        domains(lost),
        devices(lost),
        api(&f, "GET", &format!("/host/{lost_id}"), Value::Null).1
    );
    let (_, host) = api(&f, "GET", &format!("/host/{lost_id}"), Value::Null);
    assert_eq!(host["state"], "MONITORED", "{host}");
    assert!(host.get("stale_vm_ids").is_none(), "{host}");

    // Deleted: no domain and no device on any host.
    let (status, answer) = api(&f, "DELETE", &format!("/service/{id}"), Value::Null);
    assert!(status < 300, "{answer}");
    let empty = wait_until(Duration::from_secs(180), || {
        hosts
            .iter()
            .all(|h| domains(h).is_empty() && devices(h).is_empty())
    });
    let left: Vec<_> = hosts
        .iter()
        .map(|h| (&h.name, domains(h), devices(h)))
        .collect();
    assert!(empty, "left behind: {left:?}");
    eprintln!(
        "three hosts: RUNNING {:.1} s, far web fetched {:.1} s, host lost to RUNNING again \
         {:.1} s, all in {:.1} s",
        running.as_secs_f64(),
        fetched.as_secs_f64(),
        recovered.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}
