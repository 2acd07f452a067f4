//! The `flotilla` CLI against the real server on loopback, driven as a user
//! would: the endpoint in `FLOTILLA_URL`, oneadmin's credentials from the
//! server's `one_auth` (found through `FLOTILLA_DATA_DIR`) or another
//! user's from `FLOTILLA_AUTH`, `ONEFLOW_USER`/`ONEFLOW_PASSWORD` or flags.

#[path = "../common/mod.rs"]
mod common;

mod accounts;
mod deploy;
mod first_hour;
mod readme;
mod services;
mod templates;

use common::{BIN, Flotilla};
use serde_json::{Value, json};
use std::io::Read;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");

/// Variables of the test's own environment that would change whose
/// credentials or which server the CLI uses.
const CLEARED: [&str; 10] = [
    "FLOTILLA_URL",
    "ONEFLOW_URL",
    "FLOTILLA_AUTH",
    "ONEFLOW_USER",
    "ONEFLOW_PASSWORD",
    "ONE_AUTH",
    "FLOTILLA_DATA_DIR",
    "VISUAL",
    "EDITOR",
    "FLOTILLA_LOG",
];

type Env<'a> = &'a [(&'a str, &'a str)];

fn example(path: &str) -> String {
    format!("{EXAMPLES}/{path}")
}

/// A server with a fresh data directory (its first start made oneadmin),
/// and a folder for the user's files.
struct Site {
    server: Flotilla,
    files: tempfile::TempDir,
    url: String,
}

impl Site {
    /// Start the server and wait (bounded) until it answers.
    fn start() -> Site {
        let server = Flotilla::options()
            .config("[engine]\ntick_ms = 50\n\n[sim]\nboot_seconds = 0\n")
            .start();
        Site {
            url: format!("http://127.0.0.1:{}", server.server.api),
            server,
            files: tempfile::tempdir().unwrap(),
        }
    }

    fn data_dir(&self) -> &str {
        self.server.data.path().to_str().unwrap()
    }

    /// oneadmin on the server's machine: the URL and the data directory.
    fn admin(&self) -> [(&str, &str); 2] {
        [
            ("FLOTILLA_URL", self.url.as_str()),
            ("FLOTILLA_DATA_DIR", self.data_dir()),
        ]
    }

    /// Write a file in the user's folder; returns its path.
    fn file(&self, name: &str, contents: &str) -> String {
        let path = self.files.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path.to_str().unwrap().to_string()
    }

    /// An `$EDITOR` script that edits the file it is given with `sed`.
    fn editor(&self, name: &str, sed: &str) -> String {
        let path = self.file(name, &format!("#!/bin/sh\nsed -i '{sed}' \"$1\"\n"));
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// The four example VM templates, booting at once (ids 0..3 in the
    /// order of examples/vm-templates, as the example templates expect).
    fn fast_vm_templates(&self) {
        let env = self.admin();
        for (i, name) in ["frontend", "database", "database-replica", "worker"]
            .iter()
            .enumerate()
        {
            let path = self.file(
                &format!("{name}.json"),
                &json!({"name": name, "template": {"CPU": "1", "MEMORY": "128", "SIM_BOOT_SECONDS": "0"}})
                    .to_string(),
            );
            let out = ok(&env, &["vm-template", "create", &path]);
            assert_eq!(out.trim(), format!("ID: {i}"));
        }
    }
}

/// Run `flotilla ARGS` with `env` (and nothing of the test's environment
/// that names a server or credentials); killed after 120 s.
fn flotilla(env: Env, args: &[&str]) -> Output {
    flotilla_with_stdin(env, args, "")
}

fn flotilla_with_stdin(env: Env, args: &[&str], stdin: &str) -> Output {
    let mut command = Command::new(BIN);
    for var in CLEARED {
        command.env_remove(var);
    }
    let mut child = command
        .envs(env.iter().copied())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        let mut input = child.stdin.take().unwrap();
        let _ = input.write_all(stdin.as_bytes());
    }
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`flotilla {}` did not finish within 120 s", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

fn describe(args: &[&str], out: &Output) -> String {
    format!(
        "`flotilla {}` exited with {}\n--- stdout\n{}\n--- stderr\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Run, assert it succeeded, return stdout.
fn ok(env: Env, args: &[&str]) -> String {
    let out = flotilla(env, args);
    assert!(out.status.success(), "{}", describe(args, &out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Run, assert it failed, return stderr.
fn fails(env: Env, args: &[&str]) -> String {
    let out = flotilla(env, args);
    assert!(!out.status.success(), "{}", describe(args, &out));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Run with `--json`, assert it succeeded, parse stdout.
fn json_of(env: Env, args: &[&str]) -> Value {
    let args: Vec<&str> = std::iter::once("--json")
        .chain(args.iter().copied())
        .collect();
    let stdout = ok(env, &args);
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// The id in `ID: 3`.
fn created_id(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("ID: "))
        .unwrap_or_else(|| panic!("no `ID: n` in {stdout}"))
        .trim()
        .to_string()
}

/// A service's body as `--json service show` gives it.
fn service_body(env: Env, id: &str) -> Value {
    json_of(env, &["service", "show", id])["DOCUMENT"]["TEMPLATE"]["BODY"].clone()
}

/// Poll `--json service show ID` (at most 60 s) until `done` holds.
fn wait_service(env: Env, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    let mut body = Value::Null;
    for _ in 0..300 {
        body = service_body(env, id);
        if done(&body) {
            return body;
        }
        if started.elapsed() > Duration::from_secs(60) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("service {id} never got {what}: {body:#}");
}

fn role<'a>(body: &'a Value, name: &str) -> &'a Value {
    body["roles"]
        .as_array()
        .and_then(|roles| roles.iter().find(|r| r["name"] == name))
        .unwrap_or_else(|| panic!("no role {name} in {body:#}"))
}

fn role_names(body: &Value) -> Vec<String> {
    body["roles"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["name"].as_str().map(String::from))
        .collect()
}

/// The rows of a table whose first column is `first`.
fn rows<'a>(table: &'a str, first: &str) -> Vec<Vec<&'a str>> {
    table
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|cells| cells.first() == Some(&first))
        .collect()
}
