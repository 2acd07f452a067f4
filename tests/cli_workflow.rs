//! The `flotilla` CLI against the real server on loopback, driven as a user
//! would: the endpoint in `FLOTILLA_URL`, oneadmin's credentials from the
//! server's `one_auth` (found through `FLOTILLA_DATA_DIR`) or another
//! user's from `FLOTILLA_AUTH`, `ONEFLOW_USER`/`ONEFLOW_PASSWORD` or flags.

mod common;

use common::{BIN, Server, http};
use serde_json::{Value, json};
use std::io::Read;
use std::path::PathBuf;
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

/// A server with a fresh data directory, and a folder for the user's files.
struct Site {
    /// Kept for its lifetime: the server is killed when the site is dropped.
    _server: Server,
    data: tempfile::TempDir,
    files: tempfile::TempDir,
    url: String,
}

impl Site {
    /// Start the server and wait (bounded) until it answers and has
    /// written oneadmin's credentials.
    fn start() -> Site {
        let data = tempfile::tempdir().unwrap();
        std::fs::write(
            data.path().join("flotilla.toml"),
            "[engine]\ntick_ms = 50\n\n[sim]\nboot_seconds = 0\n",
        )
        .unwrap();
        let server = Server::start(data.path());
        let started = Instant::now();
        for _ in 0..300 {
            let up = http(server.api, "GET", "/health", &[], "").is_some_and(|(s, _)| s == 200);
            if up && data.path().join("one_auth").exists() {
                return Site {
                    url: format!("http://127.0.0.1:{}", server.api),
                    _server: server,
                    data,
                    files: tempfile::tempdir().unwrap(),
                };
            }
            if started.elapsed() > Duration::from_secs(60) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the server did not start");
    }

    fn data_dir(&self) -> &str {
        self.data.path().to_str().unwrap()
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

#[test]
fn readme_quickstart_deploys_scales_watches_and_deletes_a_service() {
    let site = Site::start();
    let env = site.admin();

    let mut files: Vec<PathBuf> = std::fs::read_dir(example("vm-templates"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 4);
    for (i, file) in files.iter().enumerate() {
        let out = ok(&env, &["vm-template", "create", file.to_str().unwrap()]);
        assert_eq!(out.trim(), format!("ID: {i}"), "{}", file.display());
    }
    let list = ok(&env, &["vm-template", "list"]);
    for (id, name) in [
        ("0", "frontend"),
        ("1", "database"),
        ("2", "database-replica"),
        ("3", "worker"),
    ] {
        let row = rows(&list, id);
        assert_eq!(row.len(), 1, "{list}");
        assert!(row[0].contains(&name), "{list}");
        assert!(row[0].contains(&"oneadmin"), "{list}");
    }

    let out = ok(
        &env,
        &["template", "create", &example("templates/three-tier.json")],
    );
    assert_eq!(out.trim(), "ID: 0");
    let list = ok(&env, &["template", "list"]);
    let row = rows(&list, "0");
    assert_eq!(row.len(), 1, "{list}");
    assert!(row[0].contains(&"three-tier"), "{list}");
    // ID USER GROUP NAME ROLES: three roles.
    assert_eq!(row[0][4], "3", "{list}");

    let show = ok(&env, &["template", "show", "0"]);
    assert!(show.contains("SERVICE TEMPLATE 0 INFORMATION"), "{show}");
    assert!(show.contains("three-tier"), "{show}");
    assert!(show.contains("TEMPLATE CONTENTS"), "{show}");
    // ROLE TYPE VM-TEMPLATE CARDINALITY [MIN MAX] [PARENTS]
    assert_eq!(rows(&show, "db"), [vec!["db", "vm", "1", "1"]], "{show}");
    assert_eq!(
        rows(&show, "app"),
        [vec!["app", "vm", "3", "2", "1", "6", "db"]],
        "{show}"
    );
    assert_eq!(
        rows(&show, "web"),
        [vec!["web", "vm", "0", "2", "1", "8", "app"]],
        "{show}"
    );

    let out = ok(
        &env,
        &[
            "template",
            "instantiate",
            "0",
            &example("templates/three-tier-inputs.json"),
            "--wait",
            "--timeout",
            "90",
        ],
    );
    assert_eq!(out.lines().next(), Some("ID: 0"), "{out}");
    // Per-role progress while it deploys, the last report RUNNING.
    assert!(out.contains("service 0 DEPLOYING"), "{out}");
    for r in ["db", "app", "web"] {
        assert!(
            out.lines().any(|l| l.trim_start().starts_with(r)
                && l.contains("RUNNING")
                && l.contains("VMs running")),
            "{out}"
        );
    }
    let last = out
        .lines()
        .rfind(|l| l.starts_with("service 0 "))
        .unwrap_or_default();
    assert_eq!(last, "service 0 RUNNING", "{out}");

    let list = ok(&env, &["service", "list"]);
    let row = rows(&list, "0");
    assert_eq!(row.len(), 1, "{list}");
    assert!(
        row[0].contains(&"shop") && row[0].contains(&"RUNNING"),
        "{list}"
    );
    assert!(
        row[0].contains(&"db:1") && row[0].contains(&"app:2") && row[0].contains(&"web:2"),
        "{list}"
    );

    let show = ok(&env, &["service", "show", "0"]);
    assert!(show.lines().any(|l| l == "NAME         : shop"), "{show}");
    assert!(
        show.lines().any(|l| l == "STATE        : RUNNING"),
        "{show}"
    );
    // ROLE STATE CARDINALITY RUNNING [PARENTS]
    assert_eq!(
        rows(&show, "db"),
        [vec!["db", "RUNNING", "1", "1/1"]],
        "{show}"
    );
    assert_eq!(
        rows(&show, "app"),
        [vec!["app", "RUNNING", "2", "2/2", "db"]],
        "{show}"
    );
    assert_eq!(
        rows(&show, "web"),
        [vec!["web", "RUNNING", "2", "2/2", "app"]],
        "{show}"
    );
    // VM NAME ROLE STATE: five VMs, named after their role and service.
    let vms: Vec<&str> = show
        .lines()
        .filter(|l| l.contains("_(service_0)") && l.ends_with("RUNNING"))
        .collect();
    assert_eq!(vms.len(), 5, "{show}");
    for r in ["db", "app", "web"] {
        assert!(
            vms.iter()
                .any(|l| l.contains(&format!("{r}_0_(service_0)"))),
            "{show}"
        );
    }

    let doc = json_of(&env, &["service", "show", "0"]);
    let body = &doc["DOCUMENT"]["TEMPLATE"]["BODY"];
    assert_eq!(doc["DOCUMENT"]["NAME"], "shop");
    assert_eq!(body["state"], 2, "{body:#}");
    assert_eq!(body["user_inputs_values"]["DB_PASSWORD"], "change-me");
    assert_eq!(body["user_inputs_values"]["APP_WORKERS"], "8");

    let out = ok(
        &env,
        &[
            "service",
            "scale",
            "0",
            "web",
            "3",
            "--wait",
            "--timeout",
            "60",
        ],
    );
    assert!(out.contains("service 0 SCALING"), "{out}");
    let body = service_body(&env, "0");
    let web = role(&body, "web");
    assert_eq!(web["cardinality"], 3, "{body:#}");
    let nodes = web["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3, "{body:#}");
    assert!(
        nodes
            .iter()
            .all(|n| n["vm_info"]["VM"]["STATE"] == "RUNNING")
    );
    let show = ok(&env, &["service", "show", "0"]);
    assert_eq!(rows(&show, "web")[0][2..4], ["3", "3/3"], "{show}");

    let top = ok(&env, &["service", "top", "--count", "2", "--delay", "1"]);
    let headers = top
        .lines()
        .filter(|l| l.starts_with("ID") && l.contains("STATE"))
        .count();
    assert_eq!(headers, 2, "{top}");
    assert_eq!(rows(&top, "0").len(), 2, "{top}");
    assert!(rows(&top, "0").iter().all(|r| r.contains(&"shop")), "{top}");

    // The web role cools down for 5 s after the scale; a delete waits for it.
    wait_service(&env, "0", "RUNNING after the cooldown", |b| b["state"] == 2);
    let out = ok(
        &env,
        &["service", "delete", "0", "--wait", "--timeout", "60"],
    );
    assert!(out.contains("service 0: deleted"), "{out}");
    let err = fails(&env, &["service", "show", "0"]);
    assert!(err.contains("404"), "{err}");
    assert!(err.contains("service 0 does not exist"), "{err}");
    let list = ok(&env, &["service", "list"]);
    assert!(rows(&list, "0").is_empty(), "{list}");
}

#[test]
fn a_failed_deploy_fails_wait_and_recover_delete_removes_it() {
    let site = Site::start();
    let env = site.admin();
    let vm = site.file(
        "broken.json",
        r#"{"name": "broken", "template": {"CPU": "1", "MEMORY": "128", "SIM_BOOT_SECONDS": "0", "SIM_FAIL": "boot"}}"#,
    );
    let vm_id = created_id(&ok(&env, &["vm-template", "create", &vm]));
    let template = site.file(
        "doomed.json",
        &json!({"name": "doomed", "roles": [{"name": "web", "type": "vm", "cardinality": 1, "template_id": vm_id.parse::<u64>().unwrap()}]})
            .to_string(),
    );
    let tid = created_id(&ok(&env, &["template", "create", &template]));

    let args = [
        "template",
        "instantiate",
        &tid,
        "--name",
        "doomed-1",
        "--wait",
        "--timeout",
        "60",
    ];
    let out = flotilla(&env, &args);
    assert!(!out.status.success(), "{}", describe(&args, &out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let id = created_id(&stdout);
    assert!(
        stderr.contains(&format!("service {id} is FAILED_DEPLOYING")),
        "{}",
        describe(&args, &out)
    );
    assert!(stderr.contains("recover"), "{stderr}");
    let list = ok(&env, &["service", "list"]);
    assert!(rows(&list, &id)[0].contains(&"FAILED_DEPLOYING"), "{list}");
    // A plain recover retries the failed role (and here fails again).
    ok(&env, &["service", "recover", &id]);
    let doc = json_of(&env, &["service", "show", &id]);
    let log = doc["DOCUMENT"]["TEMPLATE"]["BODY"]["log"].to_string();
    assert!(log.contains("Role web: recovering"), "{log}");
    let started = Instant::now();
    let mut state = Value::Null;
    for _ in 0..300 {
        state = json_of(&env, &["service", "show", &id])["DOCUMENT"]["TEMPLATE"]["BODY"]["state"]
            .clone();
        if state == 7 || started.elapsed() > Duration::from_secs(60) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        state, 7,
        "the retried VM fails to boot again: FAILED_DEPLOYING"
    );
    // A plain delete is refused in a failed state; recover --delete is the way.
    let err = fails(&env, &["service", "delete", &id]);
    assert!(err.contains("409") && err.contains("recover"), "{err}");

    ok(&env, &["service", "recover", &id, "--delete"]);
    let started = Instant::now();
    let mut gone = false;
    for _ in 0..300 {
        let out = flotilla(&env, &["service", "show", &id]);
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("404"), "{err}");
            gone = true;
            break;
        }
        if started.elapsed() > Duration::from_secs(60) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(gone, "service {id} was not removed by recover --delete");
    let list = ok(&env, &["service", "list"]);
    assert!(!list.contains("doomed-1"), "{list}");
}

#[test]
fn service_commands_act_on_a_running_service() {
    let site = Site::start();
    let env = site.admin();
    site.fast_vm_templates();
    let tid = created_id(&ok(
        &env,
        &["template", "create", &example("templates/three-tier.json")],
    ));
    let out = ok(
        &env,
        &[
            "template",
            "instantiate",
            &tid,
            &example("templates/three-tier-inputs.json"),
            "--wait",
            "--timeout",
            "60",
        ],
    );
    let id = created_id(&out);

    // A batched role action: one web VM now, the other in 60 s.
    ok(
        &env,
        &[
            "service", "action", &id, "web", "reboot", "--period", "60", "--number", "1",
        ],
    );
    let show = ok(&env, &["service", "show", &id]);
    let (_, scheduled) = show
        .split_once("SCHEDULED ACTIONS")
        .unwrap_or_else(|| panic!("no scheduled actions in {show}"));
    // ID ROLE ACTION VM TIME
    let pending = rows(scheduled, "0");
    assert_eq!(pending.len(), 1, "{show}");
    assert_eq!(pending[0][1..3], ["web", "reboot"], "{show}");
    assert_eq!(
        role(&service_body(&env, &id), "web")["scheduled_actions"][0]["action"],
        "reboot"
    );

    ok(&env, &["service", "sched-delete", &id, "web", "0"]);
    let show = ok(&env, &["service", "show", &id]);
    assert!(!show.contains("SCHEDULED ACTIONS"), "{show}");
    assert!(
        show.contains("Scheduled action 0: 1 pending VM actions cancelled"),
        "{show}"
    );

    // Every role's VMs at once: nothing left pending.
    ok(&env, &["service", "action", &id, "reboot", "--period", "0"]);
    let show = ok(&env, &["service", "show", &id]);
    assert!(!show.contains("SCHEDULED ACTIONS"), "{show}");
    for r in ["db", "app", "web"] {
        assert!(show.contains(&format!("Role {r}: reboot on")), "{show}");
    }

    // add-role, then remove-role once the new role runs.
    ok(
        &env,
        &[
            "service",
            "add-role",
            &id,
            &example("templates/cache-role.json"),
        ],
    );
    let body = wait_service(&env, &id, "the cache role RUNNING", |b| {
        b["state"] == 2
            && role_names(b).contains(&"cache".to_string())
            && role(b, "cache")["nodes"][0]["vm_info"]["VM"]["STATE"] == "RUNNING"
    });
    assert_eq!(role_names(&body), ["db", "app", "web", "cache"]);
    let show = ok(&env, &["service", "show", &id]);
    assert_eq!(
        rows(&show, "cache")[0][..4],
        ["cache", "RUNNING", "1", "1/1"],
        "{show}"
    );
    ok(&env, &["service", "remove-role", &id, "cache"]);
    let body = wait_service(&env, &id, "RUNNING without the cache role", |b| {
        b["state"] == 2 && !role_names(b).contains(&"cache".to_string())
    });
    assert_eq!(role_names(&body), ["db", "app", "web"]);

    // update in $EDITOR.
    let editor = site.editor(
        "edit-description.sh",
        r#"s/"description": "[^"]*"/"description": "edited"/"#,
    );
    ok(
        &[("EDITOR", editor.as_str()), env[0], env[1]],
        &["service", "update", &id],
    );
    let body = service_body(&env, &id);
    assert_eq!(body["description"], "edited", "{body:#}");
    assert_eq!(role_names(&body), ["db", "app", "web"]);

    // update --append with a file.
    let append = site.file("append.json", r#"{"description": "appended"}"#);
    ok(&env, &["service", "update", &id, &append, "--append"]);
    let body = service_body(&env, &id);
    assert_eq!(body["description"], "appended", "{body:#}");
    assert_eq!(body["user_inputs_values"]["DB_PASSWORD"], "change-me");
    assert_eq!(role(&body, "web")["cardinality"], 2);

    ok(&env, &["service", "rename", &id, "newname"]);
    ok(&env, &["service", "chmod", &id, "640"]);
    let show = ok(&env, &["service", "show", &id]);
    assert!(
        show.lines().any(|l| l == "NAME         : newname"),
        "{show}"
    );
    assert!(
        show.lines().any(|l| l == "PERMISSIONS  : um-u-----"),
        "{show}"
    );
    let list = ok(&env, &["service", "list"]);
    assert!(rows(&list, &id)[0].contains(&"newname"), "{list}");
    let doc = json_of(&env, &["service", "show", &id]);
    assert_eq!(doc["DOCUMENT"]["PERMISSIONS"]["GROUP_U"], "1");
    assert_eq!(doc["DOCUMENT"]["PERMISSIONS"]["OTHER_U"], "0");

    // A held role waits for release.
    let held = created_id(&ok(
        &env,
        &["template", "create", &example("templates/on-hold.json")],
    ));
    let out = ok(
        &env,
        &[
            "template",
            "instantiate",
            &held,
            "--wait",
            "--timeout",
            "60",
        ],
    );
    let hid = created_id(&out);
    assert!(
        out.contains(&format!("service {hid} is HOLD")) && out.contains("release"),
        "{out}"
    );
    let show = ok(&env, &["service", "show", &hid]);
    assert!(show.lines().any(|l| l == "STATE        : HOLD"), "{show}");
    assert_eq!(rows(&show, "web")[0][1], "HOLD", "{show}");
    ok(&env, &["service", "release", &hid]);
    let body = wait_service(&env, &hid, "RUNNING after release", |b| b["state"] == 2);
    assert_eq!(role(&body, "web")["nodes"].as_array().unwrap().len(), 2);
    assert!(
        role(&body, "web")["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["vm_info"]["VM"]["STATE"] == "RUNNING")
    );
    // Nothing is held any more.
    let err = fails(&env, &["service", "release", &hid]);
    assert!(err.contains("409"), "{err}");

    ok(&env, &["service", "purge-done"]);
    let list = ok(&env, &["service", "list"]);
    assert_eq!(rows(&list, &id).len(), 1, "{list}");
    assert_eq!(rows(&list, &hid).len(), 1, "{list}");
}

#[test]
fn template_and_image_commands() {
    let site = Site::start();
    let env = site.admin();
    site.fast_vm_templates();
    let tid = created_id(&ok(
        &env,
        &["template", "create", &example("templates/three-tier.json")],
    ));
    let template = |id: &str| json_of(&env, &["template", "show", id])["DOCUMENT"].clone();

    // update in $EDITOR, then with --append.
    let editor = site.editor(
        "edit-description.sh",
        r#"s/"description": "[^"]*"/"description": "edited"/"#,
    );
    ok(
        &[("EDITOR", editor.as_str()), env[0], env[1]],
        &["template", "update", &tid],
    );
    let doc = template(&tid);
    assert_eq!(doc["TEMPLATE"]["BODY"]["description"], "edited", "{doc:#}");
    assert_eq!(
        doc["TEMPLATE"]["BODY"]["roles"].as_array().unwrap().len(),
        3
    );
    let append = site.file("append.json", r#"{"description": "appended"}"#);
    ok(&env, &["template", "update", &tid, &append, "--append"]);
    let doc = template(&tid);
    assert_eq!(
        doc["TEMPLATE"]["BODY"]["description"], "appended",
        "{doc:#}"
    );
    assert_eq!(doc["TEMPLATE"]["BODY"]["name"], "three-tier");
    assert_eq!(
        doc["TEMPLATE"]["BODY"]["roles"].as_array().unwrap().len(),
        3
    );
    let show = ok(&env, &["template", "show", &tid]);
    assert!(show.contains("\"description\": \"appended\""), "{show}");

    // A recursive clone gets its own VM templates.
    let vm_templates = || -> Vec<(String, String)> {
        json_of(&env, &["vm-template", "list"])["VMTEMPLATE_POOL"]["VMTEMPLATE"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|t| {
                (
                    t["ID"].as_str().unwrap().to_string(),
                    t["NAME"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let before = vm_templates();
    assert_eq!(before.len(), 4);
    let clone = created_id(&ok(&env, &["template", "clone", &tid, "copy", "-R"]));
    assert_ne!(clone, tid);
    let doc = template(&clone);
    assert_eq!(doc["NAME"], "copy");
    let after = vm_templates();
    assert_eq!(after.len(), 7, "{after:?}");
    for name in ["database-copy", "worker-copy", "frontend-copy"] {
        assert!(after.iter().any(|(_, n)| n == name), "{after:?}");
    }
    let list = ok(&env, &["vm-template", "list"]);
    assert!(list.contains("database-copy"), "{list}");
    let original = template(&tid)["TEMPLATE"]["BODY"]["roles"].clone();
    let roles = doc["TEMPLATE"]["BODY"]["roles"].as_array().unwrap().clone();
    assert_eq!(roles.len(), 3);
    for (copy, orig) in roles.iter().zip(original.as_array().unwrap()) {
        let new_id = copy["template_id"].as_u64().unwrap().to_string();
        let old_id = orig["template_id"].as_u64().unwrap().to_string();
        let new_name = &after.iter().find(|(i, _)| *i == new_id).unwrap().1;
        let old_name = &before.iter().find(|(i, _)| *i == old_id).unwrap().1;
        assert_eq!(*new_name, format!("{old_name}-copy"), "{doc:#}");
    }

    ok(&env, &["template", "chmod", &clone, "640"]);
    ok(&env, &["template", "rename", &clone, "copy2"]);
    let show = ok(&env, &["template", "show", &clone]);
    assert!(show.lines().any(|l| l == "NAME         : copy2"), "{show}");
    assert!(
        show.lines().any(|l| l == "PERMISSIONS  : um-u-----"),
        "{show}"
    );
    let list = ok(&env, &["template", "list"]);
    assert!(rows(&list, &clone)[0].contains(&"copy2"), "{list}");

    ok(
        &env,
        &["template", "delete", &clone, "--delete-vm-templates"],
    );
    let err = fails(&env, &["template", "show", &clone]);
    assert!(err.contains("404"), "{err}");
    assert_eq!(vm_templates(), before);
    let list = ok(&env, &["vm-template", "list"]);
    assert!(!list.contains("-copy"), "{list}");
    // The original and its VM templates are untouched.
    assert_eq!(template(&tid)["TEMPLATE"]["BODY"]["roles"], original);

    // Images.
    let out = ok(&env, &["image", "create", &example("images/debian.json")]);
    assert_eq!(out.trim(), "ID: 0");
    let list = ok(&env, &["image", "list"]);
    let row = rows(&list, "0");
    assert_eq!(row.len(), 1, "{list}");
    assert!(row[0].contains(&"debian-12"), "{list}");
    let show = ok(&env, &["image", "show", "0"]);
    assert!(show.contains("IMAGE 0 INFORMATION"), "{show}");
    assert!(
        show.lines().any(|l| l == "NAME         : debian-12"),
        "{show}"
    );
    assert!(show.contains("ATTRIBUTES"), "{show}");
    assert!(show.contains("debian-12-generic-amd64.qcow2"), "{show}");
    let append = site.file(
        "image-append.json",
        r#"{"DESCRIPTION": "Debian 12, patched", "DEV_PREFIX": "vd"}"#,
    );
    ok(&env, &["image", "update", "0", &append, "--append"]);
    let image = json_of(&env, &["image", "show", "0"])["IMAGE"]["TEMPLATE"].clone();
    assert_eq!(image["DESCRIPTION"], "Debian 12, patched", "{image:#}");
    assert_eq!(image["DEV_PREFIX"], "vd", "{image:#}");
    assert_eq!(image["TYPE"], "OS", "{image:#}");
    assert!(
        image["PATH"]
            .as_str()
            .is_some_and(|p| p.ends_with(".qcow2")),
        "{image:#}"
    );
}

/// One account change with the CLI; returns the id it printed, if any.
fn change(env: Env, cli: &[&str]) -> Option<String> {
    ok(env, cli)
        .lines()
        .find_map(|l| l.strip_prefix("ID: "))
        .map(|id| id.trim().to_string())
}

#[test]
fn user_group_and_chown_commands_manage_accounts() {
    accounts();
}

/// Users, groups and credentials, all through the CLI.
fn accounts() {
    let site = Site::start();
    let admin = site.admin();
    let url = site.url.as_str();
    site.fast_vm_templates();

    let team = created_id(&ok(&admin, &["group", "create", "team"]));
    let alice_id = change(
        &admin,
        &["user", "create", "alice", "pw", "--group", "team"],
    )
    .expect("alice's id");
    let bob_id = change(&admin, &["user", "create", "bob", "pw"]).expect("bob's id");
    assert_ne!(alice_id, bob_id);
    let users = ok(&admin, &["user", "list"]);
    let user_row = |users: &str, name: &str| -> Vec<String> {
        users
            .lines()
            .map(|l| l.split_whitespace().map(String::from).collect::<Vec<_>>())
            .find(|cells| cells.get(1).map(String::as_str) == Some(name))
            .unwrap_or_else(|| panic!("no user {name} in {users}"))
    };
    assert_eq!(user_row(&users, "oneadmin")[2], "oneadmin", "{users}");
    assert_eq!(
        user_row(&users, "alice"),
        [alice_id.as_str(), "alice", "team"],
        "{users}"
    );
    assert_eq!(
        user_row(&users, "bob"),
        [bob_id.as_str(), "bob", "users"],
        "{users}"
    );
    let groups = ok(&admin, &["group", "list"]);
    assert_eq!(
        rows(&groups, &team),
        [vec![team.as_str(), "team"]],
        "{groups}"
    );
    assert!(groups.lines().any(|l| l.ends_with("oneadmin")), "{groups}");

    // oneadmin's template and service.
    let template = site.file(
        "solo.json",
        r#"{"name": "solo", "roles": [{"name": "web", "type": "vm", "cardinality": 1, "template_id": 0}]}"#,
    );
    let tid = created_id(&ok(&admin, &["template", "create", &template]));
    let sid = created_id(&ok(
        &admin,
        &["template", "instantiate", &tid, "--name", "admins-service"],
    ));
    let list = ok(&admin, &["service", "list"]);
    assert!(rows(&list, &sid)[0].contains(&"admins-service"), "{list}");

    // alice from FLOTILLA_AUTH sees none of it.
    let alice = [("FLOTILLA_URL", url), ("FLOTILLA_AUTH", "alice:pw")];
    let list = ok(&alice, &["service", "list"]);
    assert!(!list.contains("admins-service"), "{list}");
    assert!(rows(&list, &sid).is_empty(), "{list}");
    let pool = json_of(&alice, &["service", "list"]);
    assert!(pool["DOCUMENT_POOL"].get("DOCUMENT").is_none(), "{pool:#}");
    let templates = ok(&alice, &["template", "list"]);
    assert!(!templates.contains("solo"), "{templates}");
    let me = ok(&alice, &["user", "list"]);
    assert_eq!(user_row(&me, "alice")[2], "team", "{me}");
    assert!(!me.contains("bob") && !me.contains("oneadmin"), "{me}");
    let me = ok(&alice, &["user", "show", "alice"]);
    assert!(me.lines().any(|l| l == "NAME         : alice"), "{me}");
    assert!(me.contains("team"), "{me}");

    // alice from ONEFLOW_USER / ONEFLOW_PASSWORD, with no one_auth around.
    let empty = tempfile::tempdir().unwrap();
    let oneflow = [
        ("FLOTILLA_URL", url),
        ("FLOTILLA_DATA_DIR", empty.path().to_str().unwrap()),
        ("ONEFLOW_USER", "alice"),
        ("ONEFLOW_PASSWORD", "pw"),
    ];
    let list = ok(&oneflow, &["service", "list"]);
    assert!(!list.contains("admins-service"), "{list}");
    let me = ok(&oneflow, &["user", "list"]);
    assert_eq!(user_row(&me, "alice")[2], "team", "{me}");

    // alice changes her password: the old one is refused, saying whose
    // credentials from where.
    // The new password from stdin (`-`), kept out of the shell's history.
    let args = ["user", "passwd", "alice", "-"];
    let out = flotilla_with_stdin(&alice, &args, "pw2\n");
    assert!(out.status.success(), "{}", describe(&args, &out));
    let err = fails(&alice, &["service", "list"]);
    assert!(err.contains("401"), "{err}");
    assert!(
        err.contains("`alice`") && err.contains("FLOTILLA_AUTH"),
        "{err}"
    );
    let err = fails(&oneflow, &["service", "list"]);
    assert!(
        err.contains("401") && err.contains("ONEFLOW_USER/ONEFLOW_PASSWORD"),
        "{err}"
    );
    let alice = [("FLOTILLA_URL", url), ("FLOTILLA_AUTH", "alice:pw2")];
    ok(&alice, &["service", "list"]);

    // Given to alice, the template is hers to see.
    change(&admin, &["template", "chown", &tid, "alice"]);
    let templates = ok(&alice, &["template", "list"]);
    let row = rows(&templates, &tid);
    assert_eq!(row.len(), 1, "{templates}");
    assert!(
        row[0].contains(&"solo") && row[0].contains(&"alice"),
        "{templates}"
    );
    let show = ok(&alice, &["template", "show", &tid]);
    assert!(show.lines().any(|l| l == "USER         : alice"), "{show}");

    change(&admin, &["user", "chgrp", "bob", "team"]);
    let users = ok(&admin, &["user", "list"]);
    assert_eq!(user_row(&users, "bob")[2], "team", "{users}");

    let err = fails(&admin, &["group", "delete", "team"]);
    assert!(err.contains("409"), "{err}");
    assert!(err.contains("has 2 user(s)"), "{err}");
    let groups = ok(&admin, &["group", "list"]);
    assert_eq!(rows(&groups, &team).len(), 1, "{groups}");

    change(&admin, &["user", "delete", "bob"]);
    let users = ok(&admin, &["user", "list"]);
    assert!(!users.contains("bob"), "{users}");
    let err = fails(
        &[("FLOTILLA_URL", url), ("FLOTILLA_AUTH", "bob:pw")],
        &["service", "list"],
    );
    assert!(err.contains("401"), "{err}");

    // Wrong flags, and no server.
    let err = fails(
        &[("FLOTILLA_URL", url)],
        &["--user", "x", "--password", "y", "service", "list"],
    );
    assert!(err.contains("401"), "{err}");
    assert!(err.contains("--user/--password"), "{err}");
    let err = fails(&admin, &["--url", "http://127.0.0.1:1", "service", "list"]);
    assert!(err.contains("cannot reach the Flotilla API"), "{err}");
    assert!(err.contains("http://127.0.0.1:1"), "{err}");
    assert!(err.contains("flotilla serve"), "{err}");
}
