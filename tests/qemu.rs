//! Real VMs: the real binary with the `qemu` driver plugin, real QEMU
//! processes (TCG) booting the guest `examples/images/qemu/build.sh`
//! makes, which reports READY=YES through OneGate from inside the guest.
//!
//! Needs `qemu-system-x86_64`, `qemu-img` and `socat` (Debian's
//! qemu-system-x86, qemu-utils, socat; `.ci/run` installs them) and builds
//! the guest image into `target/images/qemu` when it is missing. Every
//! QEMU a test starts is killed when the test ends, pass or fail.

mod common;

use common::{Flotilla, free_port, http, wait_for};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

const QEMU: &str = "/usr/bin/qemu-system-x86_64";

/// The guest's kernel and initrd, built once.
fn image() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/images/qemu");
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/images/qemu/build.sh");
        let out = std::process::Command::new("bash")
            .arg(script)
            .arg(&dir)
            .output()
            .expect("bash runs the image script");
        assert!(
            out.status.success(),
            "building the guest image: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
    std::fs::canonicalize(dir).unwrap()
}

/// Kills every process whose command line names the test's data
/// directory (its QEMUs and their relays) when dropped.
struct Reaper(PathBuf);

impl Reaper {
    /// The pids of QEMU processes of this test.
    fn qemus(&self) -> Vec<u32> {
        let needle = self.0.display().to_string();
        let mut out = Vec::new();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|p| p.parse::<u32>().ok())
            else {
                continue;
            };
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline);
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            let zombie = stat
                .rsplit(')')
                .next()
                .is_some_and(|s| s.trim_start().starts_with('Z'));
            if cmdline.starts_with(QEMU) && cmdline.contains(&needle) && !zombie {
                out.push(pid);
            }
        }
        out
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        for pid in self.qemus() {
            let _ = std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status();
        }
    }
}

/// A server whose driver is `qemu`, granted the QEMU command lines the
/// plugin's README lists, with OneGate on.
fn start() -> (Flotilla, Reaper, u16) {
    for tool in [QEMU, "/usr/bin/qemu-img", "/usr/bin/socat"] {
        assert!(
            Path::new(tool).exists(),
            "{tool} is missing: apt-get install qemu-system-x86 qemu-utils socat"
        );
    }
    let img = image();
    let data = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(data.path()).unwrap();
    let state = root.join("qemu");
    std::fs::create_dir_all(&state).unwrap();
    let og = free_port();
    let (kernel, initrd) = (img.join("vmlinuz"), img.join("initrd.img"));
    let config = format!(
        r#"
[sim]
enabled = false
[engine]
driver = "qemu"
tick_ms = 500
wait_seconds = 180
policy_evaluation_seconds = 1
[onegate]
listen = "127.0.0.1:{og}"
[plugins.qemu]
dirs = ["{state}"]
config = {{ state_dir = "{state}", kernel = "{kernel}", initrd = "{initrd}" }}
[plugins.qemu.exec."{QEMU}"]
args = ["-name", "guest=q*", "-machine", "q35,accel=tcg", "-m", "size=*M", "-smp", "cpus=*",
  "-nodefaults", "-no-user-config", "-no-shutdown", "-display", "none", "-monitor", "none",
  "-serial", "file:{{dir}}/vms/q*/console.log", "-qmp", "unix:{{dir}}/vms/q*/qmp.sock,server=on,wait=off",
  "-kernel", "{kernel}", "-initrd", "{initrd}", "-append", "console=ttyS0 quiet",
  "-drive", "file=fat:ro:{{dir}}/vms/q*/context,format=raw,if=virtio,readonly=on",
  "-netdev", "user,id=n0,restrict=on,guestfwd=tcp:10.0.2.100:{og}-cmd:socat STDIO TCP:127.0.0.1:{og}",
  "-device", "virtio-net-pci,netdev=n0", "-S", "user,id=n0,restrict=on"]
"#,
        state = state.display(),
        kernel = kernel.display(),
        initrd = initrd.display(),
    );
    let reaper = Reaper(root);
    (Flotilla::start_in(data, &config), reaper, og)
}

fn wait_body(
    f: &Flotilla,
    id: u64,
    what: &str,
    limit_s: u64,
    check: impl Fn(&Value) -> bool,
) -> Value {
    f.wait_body(id, what, limit_s, check)
}

fn vms_of(body: &Value, role: &str) -> Vec<String> {
    common::role_vms(body, role)
}

/// The OneGate token the driver wrote into a VM's context.
fn token(f: &Flotilla, vm: &str) -> String {
    let path = f
        .data
        .path()
        .join(format!("qemu/vms/{vm}/context/context.sh"));
    let text = std::fs::read_to_string(&path).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("ONEGATE_TOKEN='"))
        .and_then(|t| t.strip_suffix('\''))
        .unwrap_or_else(|| panic!("no token in {}", path.display()))
        .to_string()
}

fn three_roles() -> Value {
    let role = |name: &str, parents: &[&str]| {
        json!({"name": name, "type": "vm", "cardinality": 1, "template_id": 0,
               "parents": parents, "min_vms": 1, "max_vms": 3,
               "template_contents": {"MEMORY": "256", "NIC": [{}], "CONTEXT": {"TOKEN": "YES"}}})
    };
    json!({
        "name": "real", "deployment": "straight", "ready_status_gate": true,
        "roles": [role("db", &[]), role("app", &["db"]), role("web", &["app"])]
    })
}

#[test]
fn a_three_role_service_of_real_vms_deploys_scales_recovers_survives_a_restart_and_leaves_nothing()
{
    let (mut f, reaper, og) = start();
    let id = f.deploy(three_roles());
    // Parents first: while a role is not RUNNING its children have no VM.
    let body = wait_body(&f, id, "RUNNING", 180, |b| {
        let state = |i: usize| b["roles"][i]["state"].as_u64().unwrap_or(0);
        let nodes = |i: usize| b["roles"][i]["nodes"].as_array().map_or(0, |n| n.len());
        assert!(
            state(0) == 2 || nodes(1) == 0,
            "app started before db ran: {b}"
        );
        assert!(
            state(1) == 2 || nodes(2) == 0,
            "web started before app ran: {b}"
        );
        b["state"] == 2
    });
    assert_eq!(reaper.qemus().len(), 3, "one QEMU per VM");
    // Each role ran only once its VM said READY=YES from inside the guest.
    let db = vms_of(&body, "db")[0].clone();
    let (status, text) = http(
        og,
        "GET",
        "/service",
        &[("x-onegate-token", token(&f, &db))],
        "",
    )
    .expect("OneGate answers");
    assert_eq!(status, 200, "{text}");
    let seen: Value = serde_json::from_str(&text).unwrap();
    for role in seen["SERVICE"]["roles"].as_array().unwrap() {
        for node in role["nodes"].as_array().unwrap() {
            assert_eq!(
                node["vm_info"]["VM"]["USER_TEMPLATE"]["READY"], "YES",
                "{role}"
            );
        }
    }

    // Scaling adds and removes real VMs.
    let (status, b) = f.call(
        "POST",
        &format!("/service/{id}/scale"),
        json!({"role_name": "web", "cardinality": 2}),
    );
    assert!(status < 300, "{b}");
    wait_body(&f, id, "web at 2", 120, |b| {
        b["state"] == 2 && vms_of(b, "web").len() == 2
    });
    assert_eq!(reaper.qemus().len(), 4);
    let (status, b) = f.call(
        "POST",
        &format!("/service/{id}/scale"),
        json!({"role_name": "web", "cardinality": 1}),
    );
    assert!(status < 300, "{b}");
    wait_body(&f, id, "web back at 1", 120, |b| {
        b["state"] == 2 && vms_of(b, "web").len() == 1
    });
    wait_for(Duration::from_secs(30), || {
        (reaper.qemus().len() == 3).then_some(())
    })
    .expect("the removed VM's QEMU is gone");

    // A QEMU killed from outside: a failed VM, WARNING; recover replaces it.
    let app = vms_of(&f.service(id).unwrap(), "app")[0].clone();
    let pid = std::fs::read_to_string(f.data.path().join(format!("qemu/vms/{app}/vm.json")))
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| v["pid"].as_u64())
        .expect("the VM's pid in its state file");
    std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    let body = wait_body(&f, id, "WARNING", 60, |b| b["state"] == 4);
    assert!(body.to_string().contains("FAILED"), "{body}");
    let (status, b) = f.call(
        "POST",
        &format!("/service/{id}/action"),
        json!({"action": {"perform": "recover"}}),
    );
    assert!(status < 300, "{b}");
    let body = wait_body(&f, id, "recovered", 180, |b| {
        b["state"] == 2 && vms_of(b, "app").len() == 1 && vms_of(b, "app")[0] != app
    });
    assert_eq!(reaper.qemus().len(), 3);

    // kill -9 of the server while the VMs run: after the restart every VM
    // is found, none started twice, none left behind.
    let before: Vec<String> = ["db", "app", "web"]
        .iter()
        .flat_map(|r| vms_of(&body, r))
        .collect();
    let pids_before = {
        let mut p = reaper.qemus();
        p.sort();
        p
    };
    f.restart();
    let body = wait_body(&f, id, "RUNNING after the restart", 60, |b| b["state"] == 2);
    let after: Vec<String> = ["db", "app", "web"]
        .iter()
        .flat_map(|r| vms_of(&body, r))
        .collect();
    assert_eq!(before, after);
    std::thread::sleep(Duration::from_secs(3));
    let pids_after = {
        let mut p = reaper.qemus();
        p.sort();
        p
    };
    assert_eq!(
        pids_before, pids_after,
        "the same QEMU processes, no new one"
    );

    // Undeploy: no QEMU, overlay or state file left.
    let (status, b) = f.call("DELETE", &format!("/service/{id}"), Value::Null);
    assert!(status < 300, "{b}");
    wait_for(Duration::from_secs(120), || {
        f.service(id).is_none().then_some(())
    })
    .expect("the service is undeployed");
    wait_for(Duration::from_secs(30), || {
        reaper.qemus().is_empty().then_some(())
    })
    .expect("no QEMU left");
    let left: Vec<_> = std::fs::read_dir(f.data.path().join("qemu/vms"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    let records: Vec<String> = left
        .iter()
        .map(|d| {
            let names: Vec<_> = std::fs::read_dir(d)
                .map(|r| r.flatten().map(|e| e.file_name()).collect())
                .unwrap_or_default();
            format!("{names:?}")
        })
        .collect();
    assert!(left.is_empty(), "files left: {left:?} {records:?}");
}

#[test]
fn a_role_of_real_vms_told_to_burn_cpu_scales_out_through_a_cpu_policy() {
    let (f, reaper, _og) = start();
    let id = f.deploy(json!({
        "name": "hot",
        "roles": [{"name": "worker", "type": "vm", "cardinality": 1, "template_id": 0,
                   "min_vms": 1, "max_vms": 2, "cooldown": 5,
                   "template_contents": {"MEMORY": "256", "NIC": [{}], "CONTEXT": {"BURN_CPU": "YES"}},
                   "elasticity_policies": [{"type": "CHANGE", "adjust": 1, "expression": "CPU > 50",
                                            "period": 1, "period_number": 2}]}]
    }));
    wait_body(&f, id, "scaled out to 2 by its CPU", 180, |b| {
        vms_of(b, "worker").len() == 2
    });
    let body = wait_body(&f, id, "RUNNING at 2", 120, |b| {
        b["state"] == 2 && vms_of(b, "worker").len() == 2
    });
    assert_eq!(body["roles"][0]["cardinality"], 2);
    assert_eq!(reaper.qemus().len(), 2);
    let (_, explained) = f.call(
        "GET",
        &format!("/service/{id}/explain?role=worker"),
        Value::Null,
    );
    assert!(explained.to_string().contains("CPU["), "{explained}");
}
