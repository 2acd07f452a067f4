//! Helpers for the tests that run the real `flotilla` binary: free
//! loopback ports, a server killed when the test ends, raw HTTP.

// Each test crate uses part of this module.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_flotilla");

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `flotilla serve` on loopback, killed (SIGKILL) when dropped.
pub struct Server {
    child: Child,
    /// What the server wrote on stderr, shown when it does not start.
    log: tempfile::NamedTempFile,
    pub api: u16,
    pub sim: u16,
    /// OneGate's port, when the data directory's flotilla.toml leaves it
    /// to the test (OneGate is on by default, on one fixed port).
    pub onegate: Option<u16>,
}

impl Server {
    /// Start on the given ports with `data` as the data directory; does not
    /// wait for it to answer.
    pub fn start_on(data: &Path, api: u16, sim: u16) -> Server {
        let configured = std::fs::read_to_string(data.join("flotilla.toml"))
            .is_ok_and(|c| c.contains("[onegate]"));
        let onegate = (!configured).then(free_port);
        Server::start_with(data, api, sim, onegate)
    }

    /// As `start_on`, with OneGate on `onegate` (None: where
    /// flotilla.toml says).
    pub fn start_with(data: &Path, api: u16, sim: u16, onegate: Option<u16>) -> Server {
        let mut args = vec![
            "serve".to_string(),
            "--listen".into(),
            format!("127.0.0.1:{api}"),
            "--sim-listen".into(),
            format!("127.0.0.1:{sim}"),
        ];
        if let Some(port) = onegate {
            args.extend(["--onegate-listen".into(), format!("127.0.0.1:{port}")]);
        }
        let log = tempfile::NamedTempFile::new().unwrap();
        let child = Command::new(BIN)
            .args(args)
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

    pub fn start(data: &Path) -> Server {
        Server::start_on(data, free_port(), free_port())
    }

    /// The server's process id (to read its memory and descriptors in
    /// /proc).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Server {
    /// What it wrote on stderr, once it has exited; None while it runs.
    pub fn exited(&mut self) -> Option<String> {
        self.child.try_wait().ok().flatten()?;
        Some(std::fs::read_to_string(self.log.path()).unwrap_or_default())
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
/// when nothing answers.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &str,
) -> Option<(u16, String)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
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
pub fn role_vms(body: &serde_json::Value, role: &str) -> Vec<String> {
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

/// A running server with oneadmin's credentials and two VM templates
/// (0: small, 1: big), spoken to as an API client.
pub struct Flotilla {
    pub server: Server,
    pub data: tempfile::TempDir,
    /// oneadmin's `authorization` header.
    pub auth: String,
}

impl Flotilla {
    /// A fresh data directory with `config` as flotilla.toml; waits
    /// (bounded) until the API answers.
    pub fn start(config: &str) -> Flotilla {
        Flotilla::start_in(tempfile::tempdir().unwrap(), config)
    }

    /// As `start`, in a data directory the caller made (its config may
    /// name paths inside it).
    pub fn start_in(data: tempfile::TempDir, config: &str) -> Flotilla {
        std::fs::write(data.path().join("flotilla.toml"), config).unwrap();
        let password = {
            let store = flotilla::store::SqliteStore::open(&data.path().join("flotilla.db"))
                .unwrap()
                .boxed();
            flotilla::access::users::bootstrap(&*store, data.path()).unwrap();
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
            let auth = std::fs::read_to_string(data.path().join("one_auth")).unwrap();
            auth.trim().split_once(':').unwrap().1.to_string()
        };
        let mut f = Flotilla {
            server: Server::start(data.path()),
            data,
            auth: basic("oneadmin", &password),
        };
        // A free port can be taken by another test's server between our
        // probe and the bind: start again on new ports then, a few times.
        for _ in 0..3 {
            match f.wait_up_or_exit() {
                Ok(()) => return f,
                Err(log) if log.contains("Address already in use") => {
                    f.server = Server::start(f.data.path());
                }
                Err(log) => panic!("the server did not start:\n{log}"),
            }
        }
        f.wait_up();
        f
    }

    /// Kill the server (SIGKILL) and start it again on the same ports and
    /// data; waits until it answers.
    pub fn restart(&mut self) {
        self.server.kill();
        self.start_again();
    }

    /// Start the server again after `server.kill()`, on the same ports
    /// and data; waits until it answers.
    pub fn start_again(&mut self) {
        let (api, sim, onegate) = (self.server.api, self.server.sim, self.server.onegate);
        // The same OneGate port: the VMs' contexts name it.
        self.server = Server::start_with(self.data.path(), api, sim, onegate);
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
        outcome.unwrap_or_else(|| Err("no answer on /health within 60 s".into()))
    }

    /// One request as oneadmin: the status and the JSON body (Null if none).
    pub fn call(
        &self,
        method: &str,
        path: &str,
        body: serde_json::Value,
    ) -> (u16, serde_json::Value) {
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
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        )
    }

    /// Create a service template and instantiate it; the service's id.
    pub fn deploy(&self, template: serde_json::Value) -> u64 {
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

    /// A service's body (`TEMPLATE.BODY`), or None once it is gone.
    pub fn service(&self, id: u64) -> Option<serde_json::Value> {
        let (status, doc) = self.call("GET", &format!("/service/{id}"), serde_json::Value::Null);
        (status == 200).then(|| doc["DOCUMENT"]["TEMPLATE"]["BODY"].clone())
    }

    /// Wait (bounded) until the service is in `state` (OneFlow's number).
    pub fn wait_state(&self, id: u64, state: u64) -> serde_json::Value {
        wait_for(Duration::from_secs(30), || {
            self.service(id).filter(|b| b["state"] == state)
        })
        .unwrap_or_else(|| {
            panic!(
                "service {id} never reached state {state}: {:?}",
                self.service(id)
            )
        })
    }

    /// Wait (bounded by `limit_s`) until `check` holds of a service's
    /// body; that body.
    pub fn wait_body(
        &self,
        id: u64,
        what: &str,
        limit_s: u64,
        check: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        wait_for(Duration::from_secs(limit_s), || {
            self.service(id).filter(|b| check(b))
        })
        .unwrap_or_else(|| panic!("{what} never happened: {:?}", self.service(id)))
    }

    /// Wait (bounded) until the service is gone.
    pub fn wait_gone(&self, id: u64) {
        let gone = wait_for(Duration::from_secs(30), || {
            self.service(id).is_none().then_some(())
        });
        assert!(
            gone.is_some(),
            "service {id} is still there: {:?}",
            self.service(id)
        );
    }

    /// The simulated hypervisor's VMs that are not DONE.
    pub fn live_vms(&self) -> Vec<serde_json::Value> {
        let (_, body) = http(self.server.sim, "GET", "/vms", &[], "").expect("the sim answers");
        let all: serde_json::Value = serde_json::from_str(&body).unwrap();
        all["vms"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["state"] != "DONE")
            .cloned()
            .collect()
    }

    /// The VM ids a service's document lists.
    pub fn vm_ids(&self, id: u64) -> Vec<String> {
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
}
