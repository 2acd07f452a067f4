//! Helpers for the tests that run the real `flotilla` binary: one fixture
//! for a server on loopback ([`Flotilla`]: started on free ports, waited
//! for, killed when the test ends), raw HTTP, and bounded waits.

// Each test crate uses part of this module.
#![allow(dead_code)]

pub mod libvirt;
pub mod netns;

use serde_json::Value;
use std::fmt::Display;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_flotilla");

/// The test guest's kernel and initrd (`examples/images/qemu/build.sh`,
/// which rebuilds only when its inputs changed), built once per test
/// binary; their directory.
pub fn guest_image() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/images/qemu");
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/images/qemu/build.sh");
        let out = Command::new("bash")
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

/// Each VM of a service by role: (VM id, the host it was placed on, or
/// "" when none).
pub fn placements(body: &Value) -> std::collections::BTreeMap<String, Vec<(String, String)>> {
    let mut out = std::collections::BTreeMap::new();
    for role in body["roles"].as_array().into_iter().flatten() {
        let vms = role["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|n| {
                let vm = &n["vm_info"]["VM"];
                (
                    vm["ID"].as_str().unwrap_or("").to_string(),
                    vm["HISTORY_RECORDS"]["HISTORY"]["HOSTNAME"]
                        .as_str()
                        .unwrap_or("")
                        .to_string(),
                )
            })
            .collect();
        out.insert(role["name"].as_str().unwrap_or("").to_string(), vms);
    }
    out
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The `flotilla serve` process of a [`Flotilla`], killed (SIGKILL) when
/// dropped.
pub struct Server {
    child: Child,
    /// What the server writes on stderr.
    log: tempfile::NamedTempFile,
    pub api: u16,
    pub sim: u16,
    /// OneGate's port, when the data directory's flotilla.toml leaves it
    /// to the test (OneGate is on by default, on one fixed port).
    pub onegate: Option<u16>,
}

impl Server {
    /// Start on the given ports (OneGate on `onegate`, None: where
    /// flotilla.toml says) with `data` as the data directory; does not
    /// wait for it to answer.
    fn spawn(data: &Path, (api, sim, onegate): (u16, u16, Option<u16>), how: &Launch) -> Server {
        let mut command = Command::new(BIN);
        command.args([
            "serve".to_string(),
            "--listen".into(),
            format!("127.0.0.1:{api}"),
            "--sim-listen".into(),
            format!("127.0.0.1:{sim}"),
        ]);
        if let Some(port) = onegate {
            command.args(["--onegate-listen".into(), format!("127.0.0.1:{port}")]);
        }
        command.args(&how.args);
        for (name, value) in &how.env {
            match value {
                Some(value) => command.env(name, value),
                None => command.env_remove(name),
            };
        }
        let log = tempfile::NamedTempFile::new().unwrap();
        let child = command
            .env("FLOTILLA_DATA_DIR", data)
            .stdout(Stdio::null())
            .stderr(log.reopen().unwrap())
            .spawn()
            .unwrap();
        Server {
            child,
            log,
            api,
            sim,
            onegate,
        }
    }

    /// Free ports for a server on `data`: OneGate's too unless its
    /// flotilla.toml sets one.
    fn free_ports(data: &Path) -> (u16, u16, Option<u16>) {
        let configured = std::fs::read_to_string(data.join("flotilla.toml"))
            .is_ok_and(|c| c.contains("[onegate]"));
        (free_port(), free_port(), (!configured).then(free_port))
    }

    /// The server's process id (to read its memory and descriptors in
    /// /proc).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What it wrote on stderr, once it has exited; None while it runs.
    pub fn exited(&mut self) -> Option<String> {
        self.child.try_wait().ok().flatten()?;
        Some(self.stderr())
    }

    /// What it has written on stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// SIGKILL, and wait until the process is gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One HTTP/1.1 request on loopback: the status and the body, or `None`
/// when nothing answers within 10 s.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &str,
) -> Option<(u16, String)> {
    http_within(port, method, path, headers, body, Duration::from_secs(10))
}

/// As [`http`], waiting up to `limit` for the answer.
pub fn http_within(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &str,
    limit: Duration,
) -> Option<(u16, String)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(limit)).ok()?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).ok()?;
    s.write_all(body.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let status = out.split_whitespace().nth(1)?.parse().ok()?;
    Some((
        status,
        out.split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default(),
    ))
}

/// The VM ids of one role in a service's body.
pub fn role_vms(body: &Value, role: &str) -> Vec<String> {
    body["roles"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["name"] == role)
        .flat_map(|r| r["nodes"].as_array().cloned().unwrap_or_default())
        .filter_map(|n| n["vm_info"]["VM"]["ID"].as_str().map(str::to_string))
        .collect()
}

/// HTTP Basic credentials as a header value.
pub fn basic(user: &str, password: &str) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{user}:{password}");
    let mut out = String::from("Basic ");
    for chunk in input.as_bytes().chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Call `check` every 50 ms until it gives a value or `limit` passes.
#[must_use = "None when `limit` passed first"]
pub fn wait_for<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let started = std::time::Instant::now();
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if started.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The value of one series (`name{labels}` as written) in a Prometheus
/// text scrape.
pub fn metric(scrape: &str, series: &str) -> Option<f64> {
    scrape
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// Connections the process `pid` serves on its listener on `port`
/// (accepted and still open; those waiting in the listener's backlog are
/// not the process's yet), read from /proc.
pub fn connections_on(pid: u32, port: u16) -> usize {
    let mine: std::collections::BTreeSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|t| {
            let t = t.to_string_lossy();
            Some(t.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
        })
        .collect();
    let table = std::fs::read_to_string(format!("/proc/{pid}/net/tcp")).unwrap_or_default();
    table
        .lines()
        .skip(1)
        .filter(|row| {
            // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
            let cells: Vec<&str> = row.split_whitespace().collect();
            let local_port = cells
                .get(1)
                .and_then(|a| a.rsplit(':').next())
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            local_port == Some(port)
                && cells.get(3) != Some(&"0A") // LISTEN
                && cells.get(9).is_some_and(|inode| mine.contains(*inode))
        })
        .count()
}

/// Create a data directory's store with oneadmin (its credentials written
/// in `one_auth`) and whatever `seed` adds; oneadmin's password.
pub fn prepare(data: &Path, seed: impl FnOnce(&dyn flotilla::store::Store)) -> String {
    let store = flotilla::store::SqliteStore::open(&data.join("flotilla.db"))
        .unwrap()
        .boxed();
    flotilla::access::users::bootstrap(&*store, data).unwrap();
    seed(&*store);
    let auth = std::fs::read_to_string(data.join("one_auth")).unwrap();
    auth.trim().split_once(':').unwrap().1.to_string()
}

/// A server's data directory.
pub enum Data {
    /// Removed with the fixture.
    Temp(tempfile::TempDir),
    /// The test's own, which it removes.
    At(PathBuf),
}

impl Data {
    pub fn path(&self) -> &Path {
        match self {
            Data::Temp(dir) => dir.path(),
            Data::At(path) => path,
        }
    }
}

/// What a server is started with beyond its ports and data directory.
#[derive(Clone, Default)]
struct Launch {
    args: Vec<String>,
    /// None: removed from the test's environment.
    env: Vec<(String, Option<String>)>,
}

/// How to start a [`Flotilla`]: by default a fresh data directory with no
/// flotilla.toml, where the server's first start creates oneadmin.
#[derive(Default)]
pub struct Options {
    config: Option<String>,
    data: Option<Data>,
    seed: bool,
    launch: Launch,
}

impl Options {
    /// Write `config` as the data directory's flotilla.toml.
    pub fn config(mut self, config: &str) -> Options {
        self.config = Some(config.to_string());
        self
    }

    /// Use `dir` as the data directory (it may hold a store, plugins, a
    /// flotilla.toml); removed with the fixture.
    pub fn data(mut self, dir: tempfile::TempDir) -> Options {
        self.data = Some(Data::Temp(dir));
        self
    }

    /// Use the test's directory `path` as the data directory.
    pub fn data_at(mut self, path: &Path) -> Options {
        self.data = Some(Data::At(path.to_path_buf()));
        self
    }

    /// Before the start, create oneadmin and two VM templates in the store:
    /// 0 `small` (CPU 1, MEMORY 256) and 1 `big` (CPU 1, MEMORY 1024).
    pub fn seed(mut self) -> Options {
        self.seed = true;
        self
    }

    /// One more argument of `flotilla serve`.
    pub fn arg(mut self, arg: &str) -> Options {
        self.launch.args.push(arg.to_string());
        self
    }

    /// Set `name` in the server's environment.
    pub fn env(mut self, name: &str, value: &str) -> Options {
        self.launch
            .env
            .push((name.to_string(), Some(value.to_string())));
        self
    }

    /// Leave `name` of the test's environment out of the server's.
    pub fn env_remove(mut self, name: &str) -> Options {
        self.launch.env.push((name.to_string(), None));
        self
    }

    /// Start the server and wait (bounded) until its API answers. A
    /// server that exits instead fails the test with what it wrote on
    /// stderr; one that lost a free port to another test's server is
    /// started again on new ports, a few times.
    pub fn start(self) -> Flotilla {
        let data = self
            .data
            .unwrap_or_else(|| Data::Temp(tempfile::tempdir().unwrap()));
        if let Some(config) = &self.config {
            std::fs::write(data.path().join("flotilla.toml"), config).unwrap();
        }
        if self.seed {
            prepare(data.path(), |store| {
                for (name, memory) in [("small", "256"), ("big", "1024")] {
                    let attrs = serde_json::json!({"CPU": "1", "MEMORY": memory});
                    store
                        .create_vm_template(
                            name,
                            Default::default(),
                            attrs.as_object().unwrap().clone(),
                        )
                        .unwrap();
                }
            });
        }
        let ports = Server::free_ports(data.path());
        let mut f = Flotilla {
            server: Server::spawn(data.path(), ports, &self.launch),
            data,
            password: String::new(),
            auth: String::new(),
            launch: self.launch,
        };
        // A free port can be taken by another test's server between our
        // probe and the bind: start again on new ports then, a few times.
        let mut retries = 3;
        while let Err(log) = f.wait_up_or_exit() {
            if retries == 0 || !log.contains("Address already in use") {
                panic!("the server did not start:\n{log}");
            }
            retries -= 1;
            let ports = Server::free_ports(f.data.path());
            f.server = Server::spawn(f.data.path(), ports, &f.launch);
        }
        // The server's first start writes oneadmin's credentials before
        // it listens; a restored data directory may have none.
        if let Ok(auth) = std::fs::read_to_string(f.data.path().join("one_auth")) {
            f.password = auth.trim().split_once(':').unwrap().1.to_string();
            f.auth = basic("oneadmin", &f.password);
        }
        f
    }
}

/// A running server with a data directory, spoken to as an API client
/// (as oneadmin unless a method says otherwise).
pub struct Flotilla {
    /// Declared before the data directory: killed before it is removed.
    pub server: Server,
    pub data: Data,
    /// oneadmin's password, from the data directory's `one_auth` (empty
    /// when there is none).
    pub password: String,
    /// oneadmin's `authorization` header (empty when there is no
    /// `one_auth`).
    pub auth: String,
    launch: Launch,
}

impl Flotilla {
    /// How to start one; `.start()` starts it.
    pub fn options() -> Options {
        Options::default()
    }

    /// A fresh data directory with `config` as flotilla.toml, oneadmin and
    /// the VM templates 0 `small` and 1 `big`; waits (bounded) until the
    /// API answers.
    pub fn start(config: &str) -> Flotilla {
        Flotilla::options().config(config).seed().start()
    }

    /// As `start`, in a data directory the caller made (its config may
    /// name paths inside it).
    pub fn start_in(data: tempfile::TempDir, config: &str) -> Flotilla {
        Flotilla::options().data(data).config(config).seed().start()
    }

    /// Kill the server (SIGKILL) and start it again on the same ports and
    /// data; waits until it answers.
    pub fn restart(&mut self) {
        self.server.kill();
        self.start_again();
    }

    /// Start the server again after `server.kill()`, on the same ports
    /// (the VMs' contexts name OneGate's) and data; waits until it
    /// answers.
    pub fn start_again(&mut self) {
        let ports = (self.server.api, self.server.sim, self.server.onegate);
        self.server = Server::spawn(self.data.path(), ports, &self.launch);
        self.wait_up();
    }

    fn wait_up(&mut self) {
        if let Err(log) = self.wait_up_or_exit() {
            panic!("the server did not start:\n{log}");
        }
    }

    /// Until the API answers (Ok) or the process exits (Err: its stderr),
    /// bounded to 60 s.
    fn wait_up_or_exit(&mut self) -> Result<(), String> {
        let api = self.server.api;
        let server = &mut self.server;
        let outcome = wait_for(Duration::from_secs(60), || {
            if let Some(log) = server.exited() {
                return Some(Err(log));
            }
            http(api, "GET", "/health", &[], "")
                .filter(|(status, _)| *status == 200)
                .map(|_| Ok(()))
        });
        outcome.unwrap_or_else(|| {
            Err(format!(
                "no answer on /health within 60 s; stderr:\n{}",
                self.server.stderr()
            ))
        })
    }

    /// One request as oneadmin: the status and the JSON body (Null if none).
    pub fn call(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
        let body = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        let (status, text) = http(
            self.server.api,
            method,
            path,
            &[("authorization", self.auth.clone())],
            &body,
        )
        .expect("the server answers");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Create a service template and instantiate it; the service's id.
    pub fn deploy(&self, template: Value) -> u64 {
        let (status, created) = self.call("POST", "/service_template", template);
        assert_eq!(status, 201, "{created}");
        let id = created["DOCUMENT"]["ID"].as_str().unwrap();
        let (status, service) = self.call(
            "POST",
            &format!("/service_template/{id}/action"),
            serde_json::json!({"action": {"perform": "instantiate"}}),
        );
        assert_eq!(status, 201, "{service}");
        service["DOCUMENT"]["ID"].as_str().unwrap().parse().unwrap()
    }

    /// A service's body (`TEMPLATE.BODY`) as oneadmin sees it, or None
    /// once it is gone.
    pub fn service(&self, id: impl Display) -> Option<Value> {
        self.service_with(id, Some(&self.auth))
    }

    /// A service's body as `user` (None: no credentials) sees it, or None
    /// when it is not theirs to see (or gone).
    pub fn service_as(&self, id: impl Display, user: Option<(&str, &str)>) -> Option<Value> {
        self.service_with(id, user.map(|(u, p)| basic(u, p)).as_deref())
    }

    fn service_with(&self, id: impl Display, auth: Option<&str>) -> Option<Value> {
        let headers: Vec<(&str, String)> = auth
            .map(|a| ("authorization", a.to_string()))
            .into_iter()
            .collect();
        let (status, text) = http(
            self.server.api,
            "GET",
            &format!("/service/{id}"),
            &headers,
            "",
        )
        .expect("the server answers");
        let doc: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        (status == 200).then(|| doc["DOCUMENT"]["TEMPLATE"]["BODY"].clone())
    }

    /// Wait (bounded, 60 s) until the service is in `state` (OneFlow's
    /// number); its body then.
    #[must_use = "the service's body; `let _ =` when only waiting"]
    pub fn wait_state(&self, id: impl Display, state: u64) -> Value {
        let what = format!("service {id} reaching state {state}");
        self.wait_body_with(id, Some(&self.auth), &what, 60, |b| b["state"] == state)
    }

    /// As `wait_state`, as `user` sees the service.
    #[must_use = "the service's body; `let _ =` when only waiting"]
    pub fn wait_state_as(&self, id: impl Display, user: Option<(&str, &str)>, state: u64) -> Value {
        let what = format!("service {id} reaching state {state}");
        let auth = user.map(|(u, p)| basic(u, p));
        self.wait_body_with(id, auth.as_deref(), &what, 60, |b| b["state"] == state)
    }

    /// Wait (bounded by `limit_s`) until `check` holds of a service's body
    /// as oneadmin sees it; that body.
    #[must_use = "the service's body; `let _ =` when only waiting"]
    pub fn wait_body(
        &self,
        id: impl Display,
        what: &str,
        limit_s: u64,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        self.wait_body_with(id, Some(&self.auth), what, limit_s, check)
    }

    /// As `wait_body`, as `user` (None: no credentials) sees the service.
    #[must_use = "the service's body; `let _ =` when only waiting"]
    pub fn wait_body_as(
        &self,
        id: impl Display,
        user: Option<(&str, &str)>,
        what: &str,
        limit_s: u64,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        let auth = user.map(|(u, p)| basic(u, p));
        self.wait_body_with(id, auth.as_deref(), what, limit_s, check)
    }

    /// The one wait for a service's body: with `auth` as the
    /// `authorization` header (None: none).
    fn wait_body_with(
        &self,
        id: impl Display,
        auth: Option<&str>,
        what: &str,
        limit_s: u64,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        wait_for(Duration::from_secs(limit_s), || {
            self.service_with(&id, auth).filter(|b| check(b))
        })
        .unwrap_or_else(|| {
            panic!(
                "{what} never happened (within {limit_s} s): {:?}",
                self.service_with(&id, auth)
            )
        })
    }

    /// Wait (bounded) until the service is gone.
    pub fn wait_gone(&self, id: impl Display) {
        let gone = wait_for(Duration::from_secs(30), || {
            self.service(&id).is_none().then_some(())
        });
        assert!(
            gone.is_some(),
            "service {id} is still there: {:?}",
            self.service(&id)
        );
    }

    /// The simulated hypervisor's VMs that are not DONE.
    pub fn live_vms(&self) -> Vec<Value> {
        let (_, body) = http(self.server.sim, "GET", "/vms", &[], "").expect("the sim answers");
        let all: Value = serde_json::from_str(&body).unwrap();
        all["vms"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["state"] != "DONE")
            .cloned()
            .collect()
    }

    /// The VM ids a service's document lists.
    pub fn vm_ids(&self, id: impl Display) -> Vec<String> {
        self.service(id)
            .map(|b| {
                b["roles"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .flat_map(|r| r["nodes"].as_array().cloned().unwrap_or_default())
                    .filter_map(|n| n["vm_info"]["VM"]["ID"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `GET /metrics` (open to anyone).
    pub fn metrics(&self) -> String {
        let (status, text) =
            http(self.server.api, "GET", "/metrics", &[], "").expect("the server answers");
        assert_eq!(status, 200, "{text}");
        text
    }

    /// One series of `/metrics` (`name{labels}` as written), if it is
    /// there.
    pub fn metric(&self, series: &str) -> Option<f64> {
        metric(&self.metrics(), series)
    }

    /// Engine rounds completed so far.
    pub fn engine_rounds(&self) -> u64 {
        self.metric("flotilla_engine_rounds_total")
            .expect("the server runs an engine") as u64
    }

    /// Wait (bounded, 60 s) until the engine has completed `n` more rounds
    /// than it had: the last `n - 1` of them began after this call.
    pub fn wait_rounds(&self, n: u64) {
        let from = self.engine_rounds();
        let done = wait_for(Duration::from_secs(60), || {
            (self.engine_rounds() >= from + n).then_some(())
        });
        assert!(
            done.is_some(),
            "the engine did not complete {n} rounds within 60 s (from {from}, now {})",
            self.engine_rounds()
        );
    }
}
