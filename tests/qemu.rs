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

/// The grant `flotilla plugin grant qemu` writes for these directories
/// (and taps whose names start with one of `tap_prefixes`).
fn generated_grant(
    state: &Path,
    images: &Path,
    img: &Path,
    og: u16,
    tap_prefixes: &[&str],
) -> String {
    let out = std::process::Command::new(common::BIN)
        .args(["plugin", "grant", "qemu", "--state-dir"])
        .arg(state)
        .arg("--image-dir")
        .arg(images)
        .arg("--kernel")
        .arg(img.join("vmlinuz"))
        .arg("--initrd")
        .arg(img.join("initrd.img"))
        .args(["--onegate-port", &og.to_string()])
        .args(tap_prefixes.iter().flat_map(|p| ["--tap-prefix", p]))
        .output()
        .expect("the binary runs");
    assert!(
        out.status.success(),
        "plugin grant qemu: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A server whose driver is `qemu`, granted what `flotilla plugin grant
/// qemu` writes (checked by `flotilla config check` first), with OneGate
/// on. Its state directory is `<data>/qemu`; its image directory
/// `<data>/images` holds `base.qcow2` (qcow2, 16 MiB) and `data.raw`.
fn start() -> (Flotilla, Reaper, u16) {
    start_with_taps(&[], "")
}

/// As [`start`], the grant also allowing NICs on taps whose names start
/// with one of `tap_prefixes`, and `extra` added to flotilla.toml.
fn start_with_taps(tap_prefixes: &[&str], extra: &str) -> (Flotilla, Reaper, u16) {
    for tool in [QEMU, "/usr/bin/qemu-img", "/usr/bin/socat"] {
        assert!(
            Path::new(tool).exists(),
            "{tool} is missing: apt-get install qemu-system-x86 qemu-utils socat"
        );
    }
    let img = common::guest_image();
    let data = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(data.path()).unwrap();
    let (state, images) = (root.join("qemu"), root.join("images"));
    std::fs::create_dir_all(&state).unwrap();
    std::fs::create_dir_all(&images).unwrap();
    let made = std::process::Command::new("/usr/bin/qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(images.join("base.qcow2"))
        .arg("16M")
        .status()
        .unwrap();
    assert!(made.success());
    std::fs::File::create(images.join("data.raw"))
        .and_then(|f| f.set_len(8 << 20))
        .unwrap();
    let og = free_port();
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

{extra}
{grant}"#,
        grant = generated_grant(&state, &images, &img, og, tap_prefixes)
    );
    let file = root.join("checked.toml");
    std::fs::write(&file, &config).unwrap();
    let checked = std::process::Command::new(common::BIN)
        .args(["config", "check"])
        .arg(&file)
        .arg("--data-dir")
        .arg(&root)
        .output()
        .unwrap();
    assert!(
        checked.status.success(),
        "config check refused the generated grant: {}",
        String::from_utf8_lossy(&checked.stderr)
    );
    let reaper = Reaper(root);
    (Flotilla::start_in(data, &config), reaper, og)
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
    let body = f.wait_body(id, "RUNNING", 180, |b| {
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
    let _ = f.wait_body(id, "web at 2", 120, |b| {
        b["state"] == 2 && vms_of(b, "web").len() == 2
    });
    assert_eq!(reaper.qemus().len(), 4);
    let (status, b) = f.call(
        "POST",
        &format!("/service/{id}/scale"),
        json!({"role_name": "web", "cardinality": 1}),
    );
    assert!(status < 300, "{b}");
    let _ = f.wait_body(id, "web back at 1", 120, |b| {
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
    let body = f.wait_body(id, "WARNING", 60, |b| b["state"] == 4);
    assert!(body.to_string().contains("FAILED"), "{body}");
    let (status, b) = f.call(
        "POST",
        &format!("/service/{id}/action"),
        json!({"action": {"perform": "recover"}}),
    );
    assert!(status < 300, "{b}");
    let body = f.wait_body(id, "recovered", 180, |b| {
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
    let body = f.wait_body(id, "RUNNING after the restart", 60, |b| b["state"] == 2);
    let after: Vec<String> = ["db", "app", "web"]
        .iter()
        .flat_map(|r| vms_of(&body, r))
        .collect();
    assert_eq!(before, after);
    // A few rounds on (each polls the VMs): still the same processes.
    f.wait_rounds(6);
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
    let _ = f.wait_body(id, "scaled out to 2 by its CPU", 180, |b| {
        vms_of(b, "worker").len() == 2
    });
    let body = f.wait_body(id, "RUNNING at 2", 120, |b| {
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

/// QMP `query-block` of a VM, asked on its socket: each device's file and
/// the file behind it. Retried (bounded) while the driver holds the
/// socket for a poll.
fn block_devices(f: &Flotilla, vm: &str) -> Vec<(String, String)> {
    use std::io::{BufRead, BufReader, Write};
    let socket = f.data.path().join(format!("qemu/vms/{vm}/qmp.sock"));
    let ask = || -> Option<Value> {
        let stream = std::os::unix::net::UnixStream::connect(&socket).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let mut writer = stream.try_clone().ok()?;
        let mut lines = BufReader::new(stream).lines();
        lines.next()?.ok()?; // the greeting
        let mut answer = |request: &str| -> Option<Value> {
            writer.write_all(format!("{request}\n").as_bytes()).ok()?;
            loop {
                let line: Value = serde_json::from_str(&lines.next()?.ok()?).ok()?;
                if line.get("event").is_none() {
                    return Some(line);
                }
            }
        };
        answer(r#"{"execute": "qmp_capabilities"}"#)?;
        answer(r#"{"execute": "query-block"}"#)
    };
    let reply = wait_for(Duration::from_secs(20), || {
        ask().filter(|r| r.get("return").is_some_and(Value::is_array))
    })
    .expect("QMP answers query-block");
    reply["return"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| {
            let inserted = d.get("inserted")?;
            Some((
                inserted["file"].as_str()?.to_string(),
                inserted["backing_file"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            ))
        })
        .collect()
}

/// A user, created by oneadmin; her `authorization` header.
fn user(f: &Flotilla, name: &str) -> String {
    let password = format!("{name}-password-1");
    let (status, body) = f.call("POST", "/user", json!({"name": name, "password": password}));
    assert_eq!(status, 201, "{body}");
    common::basic(name, &password)
}

/// One request as the user whose header is `auth`.
fn call_as(f: &Flotilla, auth: &str, method: &str, path: &str, body: Value) -> (u16, Value) {
    let (status, text) = http(
        f.server.api,
        method,
        path,
        &[("authorization", auth.to_string())],
        &body.to_string(),
    )
    .expect("the server answers");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// An image of oneadmin's at `path`, with permissions `octet`; its id.
fn image_of_oneadmin(f: &Flotilla, name: &str, path: &Path, octet: &str) -> String {
    let (status, body) = f.call(
        "POST",
        "/image",
        json!({"name": name, "template": {"PATH": path.display().to_string()}}),
    );
    assert_eq!(status, 201, "{body}");
    let id = body["IMAGE"]["ID"].as_str().unwrap().to_string();
    let (status, body) = f.call(
        "POST",
        &format!("/image/{id}/action"),
        json!({"action": {"perform": "chmod", "params": {"octet": octet}}}),
    );
    assert!(status < 300, "{body}");
    id
}

/// Instantiate, as `auth`, a one-VM service whose VM has `contents`; its id.
fn deploy_as(f: &Flotilla, auth: &str, name: &str, contents: Value) -> u64 {
    let (status, t) = call_as(
        f,
        auth,
        "POST",
        "/service_template",
        json!({"name": name, "roles": [{"name": "vm", "type": "vm", "cardinality": 1,
               "template_id": 0, "template_contents": contents}]}),
    );
    assert_eq!(status, 201, "{t}");
    let tid = t["DOCUMENT"]["ID"].as_str().unwrap();
    let (status, s) = call_as(
        f,
        auth,
        "POST",
        &format!("/service_template/{tid}/action"),
        json!({"action": {"perform": "instantiate"}}),
    );
    assert_eq!(status, 201, "{s}");
    s["DOCUMENT"]["ID"].as_str().unwrap().parse().unwrap()
}

#[test]
fn disks_come_only_from_images_their_owner_may_use_and_every_disk_is_attached() {
    let (f, reaper, _og) = start();
    let images = f.data.path().join("images");
    let images = std::fs::canonicalize(images).unwrap();
    // VM template 0 is oneadmin's: shared, so only the disks are in the way.
    let (status, _) = f.call(
        "POST",
        "/vm_template/0/action",
        json!({"action": {"perform": "chmod", "params": {"octet": "604"}}}),
    );
    assert!(status < 300);
    let shared = image_of_oneadmin(&f, "base", &images.join("base.qcow2"), "604");
    image_of_oneadmin(&f, "data", &images.join("data.raw"), "604");
    image_of_oneadmin(&f, "secret", &images.join("base.qcow2"), "600");
    let alice = user(&f, "alice");
    let bob = user(&f, "bob");
    let img = common::guest_image();
    let boot = json!({"KERNEL": img.join("vmlinuz").display().to_string(),
                      "INITRD": img.join("initrd.img").display().to_string()});

    // Alice's VM: an image by id, and one by name and owner, both attached.
    let mut contents = json!({"MEMORY": "256",
        "DISK": [{"IMAGE_ID": shared}, {"IMAGE": "data", "IMAGE_UNAME": "oneadmin", "FORMAT": "raw"}]});
    contents
        .as_object_mut()
        .unwrap()
        .extend(boot.as_object().unwrap().clone());
    let a = deploy_as(&f, &alice, "alice-disks", contents);
    let body = f.wait_body(a, "alice's VM RUNNING", 120, |b| b["state"] == 2);
    let q0 = vms_of(&body, "vm")[0].clone();
    let q0_dir = f.data.path().join(format!("qemu/vms/{q0}"));
    let q0_dir = std::fs::canonicalize(q0_dir).unwrap();
    let mut devices = block_devices(&f, &q0);
    devices.sort();
    let disk = |name: &str| q0_dir.join(name).display().to_string();
    let backing = |name: &str| images.join(name).display().to_string();
    let disks: Vec<_> = devices
        .iter()
        .filter(|(file, _)| !file.starts_with("fat:") && !file.contains("context"))
        .cloned()
        .collect();
    assert_eq!(
        disks,
        [
            (disk("disk.qcow2"), backing("base.qcow2")),
            (disk("disk1.qcow2"), backing("data.raw")),
        ],
        "QEMU's block devices: {devices:?}"
    );

    // Alice's VM powered off: its files stay, and its disk is what Bob
    // reaches for.
    let (status, b) = call_as(
        &f,
        &alice,
        "POST",
        &format!("/service/{a}/role/vm/action"),
        json!({"action": {"perform": "poweroff-hard"}}),
    );
    assert!(status < 300, "{b}");
    wait_for(Duration::from_secs(60), || {
        reaper.qemus().is_empty().then_some(())
    })
    .expect("alice's QEMU quits");
    let q0_disk = disk("disk.qcow2");
    assert!(Path::new(&q0_disk).exists());

    let vms_dir = f.data.path().join("qemu/vms");
    let vm_dirs = || std::fs::read_dir(&vms_dir).unwrap().count();
    let before = vm_dirs();
    for (name, disk, reason) in [
        (
            "qcow2",
            json!({"PATH": q0_disk, "FORMAT": "qcow2"}),
            "DISK.PATH: `",
        ),
        (
            "raw",
            json!({"PATH": q0_disk, "FORMAT": "raw"}),
            "DISK.PATH: `",
        ),
        // SOURCE is Flotilla's to write: a template's own is dropped.
        ("source", json!({"SOURCE": q0_disk}), "DISK: needs an image"),
        (
            "private",
            json!({"IMAGE": "secret", "IMAGE_UNAME": "oneadmin"}),
            "DISK: the service's owner may not use image",
        ),
        (
            "missing",
            json!({"IMAGE": "nope"}),
            "DISK.IMAGE: the service's owner has no image named `nope`",
        ),
    ] {
        let mut contents = json!({"MEMORY": "256", "DISK": disk});
        contents
            .as_object_mut()
            .unwrap()
            .extend(boot.as_object().unwrap().clone());
        let id = deploy_as(&f, &bob, &format!("bob-{name}"), contents);
        let body = f.wait_body(id, &format!("bob's {name} DISK refused"), 60, |b| {
            b.to_string().contains(reason)
        });
        let text = body.to_string();
        if reason.starts_with("DISK.PATH") {
            assert!(
                text.contains("is not inside an image directory"),
                "{name}: {text}"
            );
        }
        assert!(reaper.qemus().is_empty(), "{name}: a QEMU started");
        assert_eq!(vm_dirs(), before, "{name}: the driver made a VM");
    }
}

/// What the VMs of a service reported through OneGate, by role: each
/// VM's `USER_TEMPLATE`, as OneGate's `GET /service` shows it to `vm`.
/// OneGate's `GET /service` as `vm` sees it; None when it does not answer
/// 200 with JSON.
fn onegate_service(og: u16, f: &Flotilla, vm: &str) -> Option<Value> {
    let (200, text) = http(
        og,
        "GET",
        "/service",
        &[("x-onegate-token", token(f, vm))],
        "",
    )?
    else {
        return None;
    };
    serde_json::from_str(&text).ok()
}

fn reported(og: u16, f: &Flotilla, vm: &str) -> Vec<(String, Value)> {
    let Some(seen) = onegate_service(og, f, vm) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for role in seen["SERVICE"]["roles"].as_array().into_iter().flatten() {
        for node in role["nodes"].as_array().into_iter().flatten() {
            out.push((
                role["name"].as_str().unwrap_or_default().to_string(),
                node["vm_info"]["VM"]["USER_TEMPLATE"].clone(),
            ));
        }
    }
    out
}

/// The attributes the VM of `role` reported once `key` is among them,
/// asked (with `vm`'s token) once a second at most: OneGate limits each
/// VM's requests (10 a second), and the guest's own reports count too.
fn reported_with(
    og: u16,
    f: &Flotilla,
    vm: &str,
    role: &str,
    key: &str,
    limit: u64,
) -> Option<Value> {
    wait_for(Duration::from_secs(limit), || {
        let found = reported(og, f, vm)
            .into_iter()
            .find(|(r, attrs)| r == role && !attrs[key].is_null())
            .map(|(_, attrs)| attrs);
        if found.is_none() {
            std::thread::sleep(Duration::from_secs(1));
        }
        found
    })
}

/// [`reported_with`], failing the test with the guests' consoles when
/// `key` does not come.
fn wait_reported(og: u16, f: &Flotilla, vm: &str, role: &str, key: &str, limit: u64) -> Value {
    reported_with(og, f, vm, role, key, limit).unwrap_or_else(|| {
        panic!(
            "the VM of role {role} never reported {key} (within {limit} s): {:?}\n{}",
            reported(og, f, vm),
            consoles(f)
        )
    })
}

/// Every VM's console, for a failure's message.
fn consoles(f: &Flotilla) -> String {
    let mut out = String::new();
    for vm in std::fs::read_dir(f.data.path().join("qemu/vms"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let text = std::fs::read_to_string(vm.path().join("console.log")).unwrap_or_default();
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("flotilla-guest:"))
            .collect();
        out.push_str(&format!(
            "--- {}:\n{}\n",
            vm.file_name().to_string_lossy(),
            lines.join("\n")
        ));
    }
    out
}

/// VM A's START_SCRIPT: serve `{VALUE}` on port 7000 and 20 MiB of zeros
/// on 7001, on every address it has; then say so through OneGate, with
/// the addresses its context gave it and whether it forwards.
const SERVE: &str = r#"echo '{VALUE}' >/run/value
nc -ll -p 7000 -e cat /run/value &
nc -ll -p 7001 -e head -c 20971520 /dev/zero &
onegate vm update --data "SERVING=YES
ADDRESS=$ETH0_IP
ALIAS_ADDRESS=$ETH0_ALIAS0_IP
IP_FORWARD=$(cat /proc/sys/net/ipv4/ip_forward)"
wait
"#;

/// VM B's START_SCRIPT (sent base64'd): wait until A says, through
/// OneGate's service, that it serves, and where; fetch A's value from A's
/// address, its alias and its floating IP (10.9.0.100), and report them
/// with B's default route; then time a ping and 20 MiB from A, and report
/// those.
const FETCH: &str = r#"#!/bin/sh
i=0
until service=$(onegate service show --json) && case $service in *'"SERVING":"YES"'*) true ;; *) false ;; esac; do
    i=$((i + 1))
    [ $i -lt 120 ] || { echo "A never said SERVING=YES"; exit 1; }
    sleep 1
done
said() { echo "$service" | sed -n "s/.*\"$1\":\"\([0-9.]*\)\".*/\1/p"; }
address=$(said ADDRESS)
alias_address=$(said ALIAS_ADDRESS)
echo "A is at $address and $alias_address"
fetch() {
    i=0
    until v=$(nc "$1" 7000 </dev/null) && [ -n "$v" ]; do
        i=$((i + 1))
        [ $i -lt 120 ] || return 1
        sleep 1
    done
    echo "$v"
}
a=$(fetch "$address") || { echo "nothing from $address:7000"; exit 1; }
alias=$(fetch "$alias_address")
vr=$(fetch 10.9.0.100)
route=$(ip route | awk '/^default/ {print $3; exit}')
onegate vm update --data "FETCHED=$a
FETCHED_ALIAS=$alias
FETCHED_VROUTER=$vr
DEFAULT_ROUTE=$route"
ping=$(ping -c 20 -i 0.2 "$address" | sed -n 's|.*min/avg/max = \(.*\) ms|\1|p')
s=$(cut -d' ' -f1 /proc/uptime)
n=$(nc "$address" 7001 </dev/null | wc -c)
e=$(cut -d' ' -f1 /proc/uptime)
onegate vm update --data "PING_MS=$ping
NC_BYTES=$n
NC_SECONDS=$(awk "BEGIN { print $e - $s }")"
"#;

/// The devices of the test's namespace whose names start with `prefix`.
fn devices_named(prefix: &str) -> Vec<String> {
    common::netns::devices()
        .into_iter()
        .filter(|d| d.starts_with(prefix))
        .collect()
}

#[test]
fn vms_on_a_bridged_network_reach_each_other_by_their_nics_and_still_report_through_onegate() {
    // Built first, outside: the namespace has no way out to Debian's
    // archive.
    common::guest_image();
    common::netns::isolated(|| {
        // The bridge plumbing makes its devices in the test's namespace
        // (they go with it), named `ft-…`, the prefix granted to it and,
        // for taps, to QEMU.
        let (f, reaper, og) = start_with_taps(
            &["ft-"],
            "[plugins.bridge]\nconfig = { prefix = \"ft-\" }\n\
             [plugins.bridge.link]\nprefixes = [\"ft-\"]\n",
        );
        let (status, body) = f.call(
            "POST",
            "/vnet",
            json!({"name": "bridged", "template": {
                "VN_MAD": "bridge",
                "AR": [{"TYPE": "IP4", "IP": "10.9.0.10", "SIZE": "20"}],
                "NETWORK_MASK": "255.255.255.0", "GATEWAY": "10.9.0.1", "DNS": "10.9.0.53"}}),
        );
        assert_eq!(status, 201, "{body}");
        let vnet = body["VNET"]["ID"].as_str().unwrap().to_string();
        let value = format!(
            "value-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        );
        // A NIC and an alias on the network: the server leases each an
        // address, has the plumbing make the NIC's tap and names it in
        // TARGET, and with NETWORK = YES writes ETH0_* into the context.
        let vm = |context: Value| {
            let mut c = json!({"NETWORK": "YES", "TOKEN": "YES"});
            c.as_object_mut()
                .unwrap()
                .extend(context.as_object().unwrap().clone());
            json!({"MEMORY": "256",
                   "NIC": [{"NETWORK_ID": vnet}],
                   "NIC_ALIAS": [{"PARENT": "NIC0", "NETWORK_ID": vnet}],
                   "CONTEXT": c})
        };
        // A's floating IP, as a virtual router's would be.
        let a = vm(json!({"ETH0_VROUTER_IP": "10.9.0.100",
                          "START_SCRIPT": SERVE.replace("{VALUE}", &value)}));
        let fetch_script = {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(FETCH)
        };
        let b = vm(json!({ "START_SCRIPT_BASE64": fetch_script }));
        let role = |name: &str, contents: Value| {
            json!({"name": name, "type": "vm", "cardinality": 1, "template_id": 0,
                   "template_contents": contents})
        };
        let started = std::time::Instant::now();
        let id = f.deploy(json!({
            "name": "bridged", "deployment": "none", "ready_status_gate": true,
            "roles": [role("a", a), role("b", b)]
        }));
        let body = f.wait_body(id, "RUNNING: both VMs READY through OneGate", 180, |b| {
            b["state"] == 2
        });
        let running = started.elapsed();
        assert_eq!(reaper.qemus().len(), 2, "one QEMU per VM");
        let taps = devices_named("ft-");
        assert!(
            taps.len() >= 3,
            "the network's bridge and a tap per VM: {taps:?}"
        );
        let b_vm = vms_of(&body, "b")[0].clone();

        let b_said = wait_reported(og, &f, &b_vm, "b", "FETCHED", 180);
        let fetched = started.elapsed();
        assert_eq!(b_said["FETCHED"], value, "B's fetch from A's address");
        assert_eq!(b_said["FETCHED_ALIAS"], value, "from A's alias address");
        assert_eq!(b_said["FETCHED_VROUTER"], value, "from A's floating IP");
        assert_eq!(
            b_said["DEFAULT_ROUTE"], "10.9.0.1",
            "the network's GATEWAY, not the OneGate NIC, is the default route"
        );
        let a_said = wait_reported(og, &f, &b_vm, "a", "IP_FORWARD", 60);
        assert_eq!(a_said["IP_FORWARD"], "1", "a virtual router forwards");

        // Measured, not asserted (BENCHMARKS.md): TCG guests, with the
        // host's other work beside them.
        match reported_with(og, &f, &b_vm, "b", "NC_SECONDS", 120) {
            Some(m) => {
                let text = |k: &str| m[k].as_str().unwrap_or_default().to_string();
                let bytes: f64 = text("NC_BYTES").parse().unwrap_or(0.0);
                let seconds: f64 = text("NC_SECONDS").parse().unwrap_or(0.0);
                println!(
                    "VMs on a bridge (TCG): instantiate to RUNNING {:.1} s, to B's FETCHED \
                     {:.1} s; B to A: ping min/avg/max {} ms (20 pings), {bytes} bytes by \
                     nc in {seconds} s = {:.1} MB/s",
                    running.as_secs_f64(),
                    fetched.as_secs_f64(),
                    text("PING_MS"),
                    if seconds > 0.0 {
                        bytes / seconds / 1e6
                    } else {
                        0.0
                    }
                );
            }
            None => println!(
                "VM to VM figures not reported within 120 s: {:?}",
                reported(og, &f, &b_vm)
            ),
        }

        // Undeployed: no QEMU left, and the plumbing's devices go with
        // the VMs' leases.
        let (status, b) = f.call("DELETE", &format!("/service/{id}"), Value::Null);
        assert!(status < 300, "{b}");
        wait_for(Duration::from_secs(120), || {
            reaper.qemus().is_empty().then_some(())
        })
        .expect("no QEMU left");
        wait_for(Duration::from_secs(60), || {
            devices_named("ft-").is_empty().then_some(())
        })
        .unwrap_or_else(|| panic!("devices left: {:?}", devices_named("ft-")));
    });
}

/// The example application, `examples/templates/routed-app.json`.
fn routed_app() -> Value {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/templates/routed-app.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A network of the test's, with host plumbing `vn_mad`; its id.
fn plumbed_network(f: &Flotilla, name: &str, vn_mad: &str, first_ip: &str) -> String {
    let (status, body) = f.call(
        "POST",
        "/vnet",
        json!({"name": name, "template": {
            "VN_MAD": vn_mad,
            "AR": [{"TYPE": "IP4", "IP": first_ip, "SIZE": "20"}],
            "NETWORK_MASK": "255.255.255.0"}}),
    );
    assert_eq!(status, 201, "{body}");
    body["VNET"]["ID"].as_str().unwrap().to_string()
}

/// Instantiate a service template with values for its networks; the
/// service's id.
fn instantiate(f: &Flotilla, template: Value, networks: Value) -> u64 {
    let (status, created) = f.call("POST", "/service_template", template);
    assert_eq!(status, 201, "{created}");
    let id = created["DOCUMENT"]["ID"].as_str().unwrap();
    let (status, service) = f.call(
        "POST",
        &format!("/service_template/{id}/action"),
        json!({"action": {"perform": "instantiate",
                          "params": {"merge_template": {"networks_values": networks}}}}),
    );
    assert_eq!(status, 201, "{service}");
    service["DOCUMENT"]["ID"].as_str().unwrap().parse().unwrap()
}

/// Every VM of `role` has reported `key`: their values, once there are
/// `count` of them.
fn all_reported(
    og: u16,
    f: &Flotilla,
    vm: &str,
    role: &str,
    key: &str,
    count: usize,
    limit: u64,
) -> Vec<Value> {
    wait_for(Duration::from_secs(limit), || {
        let values: Vec<Value> = reported(og, f, vm)
            .into_iter()
            .filter(|(r, attrs)| r == role && !attrs[key].is_null())
            .map(|(_, attrs)| attrs[key].clone())
            .collect();
        if values.len() >= count {
            return Some(values);
        }
        std::thread::sleep(Duration::from_secs(1));
        None
    })
    .unwrap_or_else(|| {
        panic!(
            "{count} VM(s) of role {role} never all reported {key} within {limit} s: {:?}\n{}",
            reported(og, f, vm),
            consoles(f)
        )
    })
}

/// `GET /` on `ip:port` from the test's namespace: the body, once one comes.
fn fetch_http(ip: &str, port: u16, limit: u64) -> Option<String> {
    use std::io::{Read, Write};
    wait_for(Duration::from_secs(limit), || {
        let addr = format!("{ip}:{port}").parse().ok()?;
        let attempt = (|| -> std::io::Result<String> {
            let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            s.write_all(b"GET / HTTP/1.0\r\nHost: app\r\n\r\n")?;
            let mut text = String::new();
            s.read_to_string(&mut text)?;
            Ok(text)
        })();
        match attempt {
            Ok(text) if text.contains("\r\n\r\n") => Some(
                text.split("\r\n\r\n")
                    .nth(1)
                    .unwrap_or_default()
                    .trim()
                    .to_string(),
            ),
            _ => {
                std::thread::sleep(Duration::from_secs(1));
                None
            }
        }
    })
}

fn leases_of(f: &Flotilla, vnet: &str) -> Vec<Value> {
    let (status, body) = f.call("GET", &format!("/vnet/{vnet}"), Value::Null);
    assert_eq!(status, 200, "{body}");
    body["VNET"]["LEASES"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The first IP of the first NIC of `role`'s first VM, as OneGate shows it.
fn nic_ip(og: u16, f: &Flotilla, vm: &str, role: &str) -> String {
    let seen = onegate_service(og, f, vm).expect("OneGate answers GET /service");
    seen["SERVICE"]["roles"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["name"] == role)
        .flat_map(|r| r["nodes"].as_array().cloned().unwrap_or_default())
        .find_map(|n| {
            let nic = &n["vm_info"]["VM"]["TEMPLATE"]["NIC"];
            let first = if nic.is_array() { &nic[0] } else { nic };
            first["IP"].as_str().map(str::to_string)
        })
        .unwrap_or_else(|| panic!("no address for role {role}: {seen}"))
}

/// The devices the example's plumbing made (prefixes `fb` and `fv`).
fn plumbed() -> Vec<String> {
    let mut d = devices_named("fb");
    d.extend(devices_named("fv"));
    d
}

/// Delete `services` and wait until no QEMU, plumbing device or lease of
/// `networks` is left (`when` names the step in a failure).
fn delete_leaving_nothing(
    f: &Flotilla,
    reaper: &Reaper,
    services: &[u64],
    networks: &[String],
    when: &str,
) {
    for service in services {
        let (status, b) = f.call("DELETE", &format!("/service/{service}"), Value::Null);
        assert!(status < 300, "{when}: {b}");
    }
    wait_for(Duration::from_secs(180), || {
        reaper.qemus().is_empty().then_some(())
    })
    .unwrap_or_else(|| panic!("QEMU left after {when}"));
    wait_for(Duration::from_secs(60), || {
        plumbed().is_empty().then_some(())
    })
    .unwrap_or_else(|| panic!("devices left after {when}: {:?}", plumbed()));
    for vnet in networks {
        let left = leases_of(f, vnet);
        assert!(left.is_empty(), "network {vnet} after {when}: {left:?}");
    }
}

#[test]
fn the_example_application_deploys_on_real_networks_routes_scales_isolates_and_leaves_nothing() {
    common::guest_image();
    common::netns::isolated(|| {
        // The VXLAN devices run over a veth pair of the test's: an
        // underlay no packet leaves.
        common::netns::ip(&["link", "add", "u0", "type", "veth", "peer", "name", "u1"]);
        common::netns::ip(&["link", "set", "u0", "up"]);
        common::netns::ip(&["link", "set", "u1", "up"]);
        let (mut f, reaper, og) = start_with_taps(
            &["fb", "fv"],
            "[plugins.bridge.link]\nprefixes = [\"fb\"]\n\
             [plugins.vxlan.link]\nprefixes = [\"fv\"]\nunderlays = [\"u0\"]\n\
             [plugins.vxlan]\nconfig = { underlay = \"u0\" }\n",
        );
        let public = plumbed_network(&f, "public", "bridge", "172.16.0.10");
        let private = plumbed_network(&f, "private", "vxlan", "10.1.0.10");
        let other = plumbed_network(&f, "other", "bridge", "10.2.0.10");
        let networks = json!([{"Public": {"id": public}}, {"Private": {"id": private}}]);
        let networks_made = [public.clone(), private.clone(), other.clone()];

        // Instantiate → every web VM fetched db's value.
        let started = std::time::Instant::now();
        let id = instantiate(&f, routed_app(), networks.clone());
        let body = f.wait_body(id, "RUNNING: db, web and the router READY", 420, |b| {
            b["state"] == 2
        });
        let running = started.elapsed();
        let web = vms_of(&body, "web");
        assert_eq!(web.len(), 2, "{body}");
        let fetched = all_reported(og, &f, &web[0], "web", "FETCHED", 2, 180);
        let all_fetched = started.elapsed();
        assert!(fetched.iter().all(|v| v == "42"), "{fetched:?}");
        // The tiers are on the private network's VXLAN-backed bridge, the
        // router on both.
        assert!(
            devices_named("fvvx").len() == 1 && devices_named("fbbr").len() == 1,
            "{:?}",
            plumbed()
        );

        // A client on the public side reaches the service at the floating IP.
        let floating = body["roles"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "router")
            .and_then(|r| r["vrouter_ips"][0]["VROUTER_IP"].as_str())
            .unwrap_or_else(|| panic!("no floating IP: {body}"))
            .to_string();
        common::netns::ip(&[
            "addr",
            "add",
            "172.16.0.250/24",
            "dev",
            &format!("fbbr{public}"),
        ]);
        let answer = fetch_http(&floating, 80, 120);
        let through_router = started.elapsed();
        assert_eq!(
            answer.as_deref(),
            Some("42"),
            "GET http://{floating}/ through the router\n{}",
            consoles(&f)
        );

        // Scaling web to 3: the third fetches too.
        let (status, b) = f.call(
            "POST",
            &format!("/service/{id}/scale"),
            json!({"role_name": "web", "cardinality": 3}),
        );
        assert!(status < 300, "{b}");
        let fetched = all_reported(og, &f, &web[0], "web", "FETCHED", 3, 300);
        assert!(fetched.iter().all(|v| v == "42"), "{fetched:?}");

        // A VM of another service, on another network, cannot reach db.
        // (Its script avoids `${…}`: that is a parent reference, as in
        // OneFlow, resolved before the guest sees it.)
        let db_ip = nic_ip(og, &f, &web[0], "db");
        let intruder = f.deploy(json!({
            "name": "intruder", "deployment": "none", "ready_status_gate": true,
            "networks": {"Other": "M|network|another network||"},
            "networks_values": [{"Other": {"id": other}}],
            "roles": [{"name": "probe", "type": "vm", "cardinality": 1, "template_id": 0,
                "template_contents": {"MEMORY": "256", "NIC": [{"NETWORK_ID": "$Other"}],
                    "CONTEXT": {"NETWORK": "YES", "TOKEN": "YES", "DB": db_ip,
                        "START_SCRIPT": "v=$(nc -w 3 \"$DB\" 7000 </dev/null)\n[ -n \"$v\" ] || v=nothing\nonegate vm update --data \"REACHED=$v\nMY_ADDRESS=$ETH0_IP\""}}}]
        }));
        let probe_body = f.wait_body(intruder, "the probe RUNNING", 300, |b| b["state"] == 2);
        let probe = vms_of(&probe_body, "probe")[0].clone();
        let said = wait_reported(og, &f, &probe, "probe", "REACHED", 180);
        assert!(
            said["MY_ADDRESS"]
                .as_str()
                .unwrap_or_default()
                .starts_with("10.2.0."),
            "the probe has its own network's address: {said}"
        );
        assert_eq!(
            said["REACHED"], "nothing",
            "db is not reachable from another network"
        );

        // A kill -9 of the server, then a restart: the service is as it was.
        f.restart();
        let _ = f.wait_body(id, "RUNNING after the restart", 120, |b| b["state"] == 2);
        assert_eq!(fetch_http(&floating, 80, 60).as_deref(), Some("42"));

        // Deleted: no QEMU, device or lease left.
        delete_leaving_nothing(&f, &reaper, &[id, intruder], &networks_made, "the delete");

        // Killed mid-deploy: once db runs, before web does.
        let again = instantiate(&f, routed_app(), networks);
        let _ = f.wait_body(again, "db RUNNING, web not yet", 300, |b| {
            b["roles"][0]["state"] == 2 && !vms_of(b, "db").is_empty()
        });
        f.restart();
        let body = f.wait_body(again, "RUNNING after a kill mid-deploy", 420, |b| {
            b["state"] == 2
        });
        let web = vms_of(&body, "web");
        let fetched = all_reported(og, &f, &web[0], "web", "FETCHED", 2, 180);
        assert!(fetched.iter().all(|v| v == "42"), "{fetched:?}");
        delete_leaving_nothing(&f, &reaper, &[again], &networks_made, "the second delete");
        println!(
            "routed-app (TCG): instantiate to RUNNING {:.1} s, to every web VM's FETCHED {:.1} s, \
             to the first answer through the floating IP {:.1} s",
            running.as_secs_f64(),
            all_fetched.as_secs_f64(),
            through_router.as_secs_f64()
        );
    });
}
