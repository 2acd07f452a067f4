//! The real `flotilla` binary: `serve` on loopback with a fresh data
//! directory, seen from a second process through `plugin list`; `plugin
//! check` and `plugin call`.

mod common;

use common::{BIN, Flotilla, free_port, http};
use std::process::Command;

#[test]
fn serve_starts_the_api_and_the_sim_hypervisor_and_plugin_list_sees_them() {
    // No flotilla.toml: the defaults.
    let f = Flotilla::options().start();
    let (api, sim) = (f.server.api, f.server.sim);
    let (_, health) = http(api, "GET", "/health", &[], "").unwrap();
    assert!(
        health.contains("\"ok\""),
        "the server did not answer /health: {health}"
    );
    let (_, health) = http(sim, "GET", "/health", &[], "").unwrap();
    assert!(health.contains("flotilla-sim-hypervisor"), "{health}");

    let out = Command::new(BIN)
        .args([
            "plugin",
            "list",
            "--url",
            &format!("http://127.0.0.1:{api}"),
        ])
        .env("FLOTILLA_DATA_DIR", f.data.path())
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{table}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sim_row = table
        .lines()
        .find(|l| l.trim_start().starts_with("sim "))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(sim_row.contains("driver"), "{sim_row}");
    assert!(sim_row.contains("flotilla:driver@0.1.0"), "{sim_row}");
    assert!(sim_row.contains("built-in"), "{sim_row}");
    assert!(
        sim_row.contains(&format!("http://127.0.0.1:{sim}")),
        "{sim_row}"
    );
    assert!(
        table.contains("threshold") && table.contains("static"),
        "{table}"
    );

    // The first start created oneadmin and its credentials file.
    let one_auth = std::fs::read_to_string(f.data.path().join("one_auth")).unwrap();
    assert!(one_auth.starts_with("oneadmin:"), "{one_auth}");
    // The data directory now holds the precompiled plugins and the sim's VMs.
    assert!(f.data.path().join("cache").read_dir().unwrap().count() >= 3);
    assert!(f.data.path().join("sim-hypervisor.db").exists());
    drop(f);
}

#[test]
fn plugin_list_without_a_server_says_how_to_start_one() {
    let port = free_port();
    let out = Command::new(BIN)
        .args([
            "plugin",
            "list",
            "--url",
            &format!("http://127.0.0.1:{port}"),
            "--user",
            "oneadmin",
            "--password",
            "x",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("flotilla serve"), "{stderr}");
}

#[test]
fn sim_hypervisor_starts_with_the_hosts_asked_for() {
    /// The process, killed when the test ends however it ends.
    struct Killed(std::process::Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let _sim = Killed(
        Command::new(BIN)
            .args([
                "sim-hypervisor",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--hosts",
                "3",
                "--host-cpu",
                "8",
                "--host-memory-mb",
                "4096",
            ])
            .env("FLOTILLA_DATA_DIR", data.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let hosts = common::wait_for(std::time::Duration::from_secs(30), || {
        http(port, "GET", "/hosts", &[], "").filter(|(status, _)| *status == 200)
    })
    .expect("the simulated hypervisor answered within 30 s");
    let hosts: serde_json::Value = serde_json::from_str(&hosts.1).unwrap();
    let hosts: Vec<_> = hosts["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["name"].as_str().unwrap().to_string(),
                h["cpu"].as_f64().unwrap(),
                h["memory_mb"].as_u64().unwrap(),
                h["reachable"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        hosts,
        (1..=3)
            .map(|n| (format!("sim-host-{n}"), 8.0, 4096, true))
            .collect::<Vec<_>>()
    );

    let out = Command::new(BIN)
        .args(["sim-hypervisor", "--listen", "127.0.0.1:0", "--hosts", "1"])
        .args(["--host-cpu", "0"])
        .env("FLOTILLA_DATA_DIR", data.path().join("other"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--host-cpu"), "{stderr}");
}

fn dist(id: &str) -> String {
    flotilla::plugin::builtin::dist_path(id)
        .display()
        .to_string()
}

#[test]
fn plugin_check_passes_the_sim_driver_and_names_each_fixtures_fault() {
    let out = Command::new(BIN)
        .args(["plugin", "check", &dist("sim")])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("14/14 checks passed"), "{stdout}");
    // The sim driver drives a fleet: its hosts are checked too.
    assert!(
        stdout.contains("a host that does not answer is unavailable, alone"),
        "{stdout}"
    );

    for (id, fault) in [
        ("trap", "trap"),
        ("spin-loop", "timeout"),
        ("alloc-bomb", "memory-cap"),
        ("forbidden-host", "capability-denied"),
    ] {
        let out = Command::new(BIN)
            .args(["plugin", "check", &dist(id)])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{id}: {stdout}");
        assert!(
            stdout.contains(&format!("faults: {fault}")),
            "{id}: {stdout}"
        );
    }
}

#[test]
fn plugin_call_runs_one_export_with_json_arguments() {
    let evaluation = r#"{"role": {"service_id": 1, "role_name": "web", "cardinality": 2, "min_vms": 1, "max_vms": 4, "cooldown": 60},
        "params": [{"key": "above", "value": "50"}],
        "vms": [{"vm_id": "0", "values": [{"name": "CPU", "value": 75.5}]}],
        "now": 0, "state": null}"#;
    let out = Command::new(BIN)
        .args(["plugin", "call", "threshold", "evaluate", evaluation])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(answer["desired"], 3);
    assert_eq!(answer["trace"], "CPU[75.5] > 50");

    let out = Command::new(BIN)
        .args(["plugin", "call", "threshold", "evaluate", "{}"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("argument 1"));
    let out = Command::new(BIN)
        .args(["plugin", "call", "threshold", "explode"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a policy function"));
}
