//! Running Flotilla as a service: the systemd unit verifies, the server
//! tells a service manager READY only once it listens and has reconciled
//! with its driver (and why not, when it cannot), and `/ready` says the
//! same to anyone who asks.

#[path = "common/mod.rs"]
mod common;

use common::{BIN, free_port, http};
use std::os::unix::net::UnixDatagram;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `flotilla serve` with a notify socket, killed when dropped.
struct Supervised {
    child: Child,
    api: u16,
    socket: UnixDatagram,
    _dir: tempfile::TempDir,
}

impl Drop for Supervised {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn supervised(config: &str) -> Supervised {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("flotilla.toml"), config).unwrap();
    // A plugin installed but not loading (not a component): a server
    // whose driver it is starts without one. A driver no plugin has is
    // refused at start.
    if config.contains("\"broken\"") {
        std::fs::create_dir(data.join("plugins")).unwrap();
        std::fs::write(data.join("plugins/broken.wasm"), b"not a component").unwrap();
    }
    let path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let api = free_port();
    let child = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{api}"),
            "--sim-listen",
            &format!("127.0.0.1:{}", free_port()),
            "--onegate-listen",
            &format!("127.0.0.1:{}", free_port()),
        ])
        .env("FLOTILLA_DATA_DIR", &data)
        .env("NOTIFY_SOCKET", &path)
        .env("WATCHDOG_USEC", "400000")
        .env_remove("WATCHDOG_PID")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Supervised {
        child,
        api,
        socket,
        _dir: dir,
    }
}

impl Supervised {
    /// The next message to the service manager (bounded: 30 s).
    fn next(&self) -> String {
        let mut buf = [0u8; 4096];
        let n = self.socket.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    /// Messages until one contains `needle` (at most 20); all of them.
    fn until(&self, needle: &str) -> Vec<String> {
        let mut seen = Vec::new();
        for _ in 0..20 {
            let m = self.next();
            let done = m.contains(needle);
            seen.push(m);
            if done {
                return seen;
            }
        }
        panic!("no `{needle}` in {seen:?}");
    }

    fn ready(&self) -> (u16, serde_json::Value) {
        let (status, body) = http(self.api, "GET", "/ready", &[], "").expect("an answer");
        (status, serde_json::from_str(&body).unwrap())
    }
}

#[test]
fn ready_is_told_only_after_reconciliation_and_the_watchdog_is_fed() {
    let s = supervised("[sim]\nboot_seconds = 0\n");
    let seen = s.until("READY=1");
    let reconciling = seen
        .iter()
        .position(|m| m == "STATUS=reconciling with the driver")
        .unwrap_or_else(|| panic!("{seen:?}"));
    let ready = seen.len() - 1;
    assert!(reconciling < ready, "{seen:?}");
    assert!(
        seen[ready].contains("reconciliation ok: 0 VMs adopted, 0 orphans terminated"),
        "{seen:?}"
    );
    // By the time READY is sent, the API answers and agrees.
    let (status, body) = s.ready();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ready"], true);
    assert_eq!(body["driver"], "ok");
    // The watchdog is fed at half its interval (here 0.2 s).
    let started = Instant::now();
    s.until("WATCHDOG=1");
    s.until("WATCHDOG=1");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_server_without_its_driver_is_not_ready_and_says_why() {
    let s = supervised("[engine]\ndriver = \"broken\"\n\n[sim]\nboot_seconds = 0\n");
    let seen = s.until("STATUS=not ready");
    assert!(seen.iter().all(|m| !m.contains("READY=1")), "{seen:?}");
    assert!(
        seen.last().unwrap().contains("driver not loaded"),
        "{seen:?}"
    );
    // The API still answers (users can see why), and /ready says no.
    let started = Instant::now();
    let (status, body) = loop {
        if let Some((status, body)) = http(s.api, "GET", "/ready", &[], "") {
            break (status, body);
        }
        assert!(started.elapsed() < Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status, 503, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["ready"], false);
    assert_eq!(body["reconciliation"], "not run");
}

#[test]
fn the_systemd_unit_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let unit = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/flotilla.service"),
    )
    .unwrap();
    // The unit names the installed binary; verify it against this build.
    let unit = unit.replace("/usr/local/bin/flotilla", BIN);
    let path = dir.path().join("flotilla.service");
    std::fs::write(&path, unit).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .expect("systemd-analyze (Debian's systemd package) is installed");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // A stop or restart must end the server only, not the QEMU VMs it
    // started (its children, in the unit's cgroup), which a restarted
    // server finds again. The last setting of a key is the one in force.
    let kill_mode = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("KillMode="))
        .map(str::to_string);
    assert_eq!(kill_mode.as_deref(), Some("process"));
}

/// `flotilla serve` on free loopback ports (API, simulated hypervisor,
/// OneGate) with `data` as its data directory, not yet started.
fn serve_on_free_ports(data: &std::path::Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(["serve", "--listen", &format!("127.0.0.1:{}", free_port())])
        .args(["--sim-listen", &format!("127.0.0.1:{}", free_port())])
        .args(["--onegate-listen", &format!("127.0.0.1:{}", free_port())])
        .env("FLOTILLA_DATA_DIR", data);
    command
}

/// Run `flotilla ARGS` with `data` as the data directory.
fn flotilla(data: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env("FLOTILLA_DATA_DIR", data)
        .output()
        .unwrap()
}

#[test]
fn a_backup_taken_under_a_deploy_of_200_services_restores_every_one() {
    let f = common::Flotilla::start("[engine]\ntick_ms = 50\n\n[sim]\nboot_seconds = 0\n");
    let (status, created) = f.call(
        "POST",
        "/service_template",
        serde_json::json!({"name": "busy", "roles": [
            {"name": "web", "type": "vm", "cardinality": 2, "template_id": 0}]}),
    );
    assert_eq!(status, 201, "{created}");
    let template = created["DOCUMENT"]["ID"].as_str().unwrap().to_string();
    let instantiate = || {
        let (status, body) = f.call(
            "POST",
            &format!("/service_template/{template}/action"),
            serde_json::json!({"action": {"perform": "instantiate"}}),
        );
        assert_eq!(status, 201, "{body}");
    };
    for _ in 0..150 {
        instantiate();
    }
    // The backup runs while the last 50 are created and all deploy.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("flotilla.backup");
    let backup = std::thread::scope(|s| {
        let taken = s.spawn(|| flotilla(f.data.path(), &["backup", file.to_str().unwrap()]));
        for _ in 0..50 {
            instantiate();
        }
        taken.join().unwrap()
    });
    assert!(
        backup.status.success(),
        "{}",
        String::from_utf8_lossy(&backup.stderr)
    );
    let said = String::from_utf8_lossy(&backup.stdout).to_string();
    assert!(said.starts_with("backed up "), "{said}");
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "a backup holds password hashes");
    }
    let in_backup: u64 = said["backed up ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((150..=200).contains(&in_backup), "{said}");

    // Restored into a fresh data directory, a server shows them all, and
    // oneadmin's password (in the store) still signs in.
    let data = tempfile::tempdir().unwrap();
    let restored = flotilla(data.path(), &["restore", file.to_str().unwrap()]);
    assert!(
        restored.status.success(),
        "{}",
        String::from_utf8_lossy(&restored.stderr)
    );
    // This directory has no one_auth of that server: restore says what to
    // bring.
    let said = String::from_utf8_lossy(&restored.stdout);
    assert!(
        said.contains("does not sign in as oneadmin") && said.contains("onegate.key"),
        "{said}"
    );
    let restored = common::Flotilla::options().data_at(data.path()).start();
    let (status, listed) = http(
        restored.server.api,
        "GET",
        "/service",
        &[("authorization", f.auth.clone())],
        "",
    )
    .expect("the restored server answers");
    assert_eq!(status, 200, "{listed}");
    let pool: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let services = pool["DOCUMENT_POOL"]["DOCUMENT"].as_array().unwrap().len() as u64;
    assert_eq!(services, in_backup);

    // A restore under the running server is refused.
    let refused = flotilla(f.data.path(), &["restore", file.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("a flotilla server is using"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

#[test]
fn a_server_refuses_to_start_while_others_may_read_oneadmins_password() {
    use std::os::unix::fs::PermissionsExt as _;
    let data = tempfile::tempdir().unwrap();
    let store = flotilla::store::SqliteStore::open(&data.path().join("flotilla.db"))
        .unwrap()
        .boxed();
    flotilla::access::users::bootstrap(&*store, data.path()).unwrap();
    drop(store);
    let auth = data.path().join("one_auth");
    std::fs::set_permissions(&auth, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = serve_on_free_ports(data.path()).output().unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("others may read it (mode 644): run `chmod 600"),
        "{said}"
    );
}

/// Send SIGHUP to the server and wait (bounded) until `done` says the
/// plugin list shows the reload.
fn hangup_until(f: &common::Flotilla, done: impl Fn(&serde_json::Value) -> bool) {
    let sent = Command::new("kill")
        .args(["-HUP", &f.server.pid().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let seen = common::wait_for(Duration::from_secs(20), || {
        let (status, sim) = f.call("GET", "/plugins/sim", serde_json::Value::Null);
        (status == 200 && done(&sim)).then_some(())
    });
    assert!(seen.is_some(), "the reload never showed");
}

#[test]
fn a_reload_revokes_and_restores_a_grant_and_an_invalid_file_changes_nothing() {
    let base = "[engine]\ntick_ms = 50\nwait_seconds = 5\n\n[sim]\nboot_seconds = 0\n";
    let f = common::Flotilla::start(base);
    let config = f.data.path().join("flotilla.toml");
    let sim = format!("http://127.0.0.1:{}", f.server.sim);
    let grant = |hosts: &str| {
        format!(
            "{base}\n[plugins.sim]\nallowed_outbound_hosts = [{hosts}]\nconfig = {{ endpoint = \"{sim}\" }}\n"
        )
    };
    let template = serde_json::json!({"name": "app", "roles": [
        {"name": "web", "type": "vm", "cardinality": 1, "template_id": 0}]});

    // Revoked: the driver's next call is refused with capability-denied.
    std::fs::write(&config, grant("")).unwrap();
    hangup_until(&f, |p| p["allowed_outbound_hosts"] == serde_json::json!([]));
    let id = f.deploy(template.clone());
    let body = f.wait_state(id, 7); // FAILED_DEPLOYING
    let log = body["log"].to_string();
    assert!(log.contains("capability-denied"), "{log}");

    // Restored: the next call succeeds; recovering the service deploys it.
    std::fs::write(&config, grant(&format!("\"{sim}\""))).unwrap();
    hangup_until(&f, |p| {
        p["allowed_outbound_hosts"] == serde_json::json!([sim])
    });
    let (status, body) = f.call(
        "POST",
        &format!("/service/{id}/action"),
        serde_json::json!({"action": {"perform": "recover"}}),
    );
    assert!(status < 300, "{status} {body}");
    let _ = f.wait_state(id, 2);

    // An invalid file is refused with the reason, and nothing changes.
    std::fs::write(&config, "[engine]\ntick_ms = 0\n").unwrap();
    let (status, body) = f.call("POST", "/config/reload", serde_json::Value::Null);
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("configuration refused, nothing changed")
            && body["error"]
                .as_str()
                .unwrap()
                .contains("engine.tick_ms: must be above zero"),
        "{body}"
    );
    // A grant for a plugin there is not, as `config check` and a start
    // refuse it.
    std::fs::write(
        &config,
        "[plugins.simm]\nallowed_outbound_hosts = [\"http://127.0.0.1:1\"]\n",
    )
    .unwrap();
    let (status, body) = f.call("POST", "/config/reload", serde_json::Value::Null);
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("plugins.simm: no plugin \"simm\""),
        "{body}"
    );
    std::fs::write(&config, "[engine]\ntick_ms = 0\n").unwrap();
    // The same file by SIGHUP: refused too (logged), the grant stays.
    hangup_until(&f, |p| {
        p["allowed_outbound_hosts"] == serde_json::json!([sim])
    });
    let (_, sim_now) = f.call("GET", "/plugins/sim", serde_json::Value::Null);
    assert_eq!(sim_now["allowed_outbound_hosts"], serde_json::json!([sim]));
    let second = f.deploy(template);
    let _ = f.wait_state(second, 2);
}

#[test]
fn config_check_validates_a_file_without_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(&good, "[engine]\npolicy_evaluation_seconds = 5\n").unwrap();
    let out = Command::new(BIN)
        .args(["config", "check"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("valid."));
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[plugins.sim]\nallowed_outbound_hosts = [\"ftp://x\"]\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["config", "check"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("bad.toml: "), "{said}");
}

#[test]
fn json_logs_parse_and_carry_the_service_and_the_request_id() {
    let data = tempfile::tempdir().unwrap();
    common::prepare(data.path(), |store| {
        store
            .create_vm_template("small", Default::default(), Default::default())
            .unwrap();
    });
    let mut f = common::Flotilla::options()
        .data(data)
        .config("[engine]\ntick_ms = 50\n\n[sim]\nboot_seconds = 0\n")
        .arg("--log-format")
        .arg("json")
        .env_remove("FLOTILLA_LOG")
        .start();
    let (api, auth) = (f.server.api, [("authorization", f.auth.clone())]);
    let call = |method: &str, path: &str, body: &str| {
        http(api, method, path, &auth, body).expect("the server answers")
    };
    let (status, created) = call(
        "POST",
        "/service_template",
        r#"{"name": "app", "roles": [{"name": "web", "type": "vm", "cardinality": 1, "template_id": 0}]}"#,
    );
    assert_eq!(status, 201, "{created}");
    let (status, service) = call(
        "POST",
        "/service_template/0/action",
        r#"{"action": {"perform": "instantiate"}}"#,
    );
    assert_eq!(status, 201, "{service}");
    let running = common::wait_for(Duration::from_secs(30), || {
        let (_, body) = call("GET", "/service/0", "");
        body.contains("\"state\":2,").then_some(())
    });
    assert!(running.is_some());
    let (status, missing) = call("GET", "/service/77", "");
    assert_eq!(status, 404);
    let missing: serde_json::Value = serde_json::from_str(&missing).unwrap();
    let request_id = missing["request_id"]
        .as_str()
        .expect("a request id")
        .to_string();
    f.server.kill();

    let text = f.server.stderr();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let about_service: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["target"] == "flotilla::service")
        .collect();
    assert!(about_service.len() >= 4, "{text}");
    for l in &about_service {
        assert_eq!(l["service"], 0, "{l}");
    }
    assert!(
        about_service
            .iter()
            .any(|l| l["message"] == "New state: RUNNING"),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["span"]["request_id"] == request_id.as_str() && l["status"] == 404),
        "{request_id} not in\n{text}"
    );
}

#[test]
fn a_server_started_with_another_driver_refuses_rather_than_forget_the_vms() {
    let mut f = common::Flotilla::start("[engine]\ntick_ms = 50\n\n[sim]\nboot_seconds = 0\n");
    let id = f.deploy(serde_json::json!({
        "name": "kept",
        "roles": [{"name": "db", "type": "vm", "cardinality": 2, "template_id": 0}]
    }));
    let _ = f.wait_state(id, 2);
    let vms = f.vm_ids(id);
    assert_eq!(vms.len(), 2);
    f.server.kill();

    // Before, the qemu driver said `not a VM of the qemu driver` for each,
    // the roles dropped to 0 and the service stayed RUNNING.
    let config = f.data.path().join("flotilla.toml");
    let sim_config = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, "[engine]\ndriver = \"qemu\"\n").unwrap();
    let mut child = serve_on_free_ports(f.data.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        status.is_some_and(|s| !s.success()),
        "the server must refuse to start: {said}"
    );
    assert!(
        said.contains(&format!("service {id} (2 VMs of driver `sim`)")),
        "{said}"
    );

    // Back on the driver that made them: the same VMs, still running.
    std::fs::write(&config, sim_config).unwrap();
    f.start_again();
    let body = f.wait_state(id, 2);
    assert_eq!(f.vm_ids(id), vms, "{body}");
    assert_eq!(f.live_vms().len(), 2);
}
