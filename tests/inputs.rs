//! What the real `flotilla` binary makes of its input: unknown template
//! attributes answered with warnings (or refused when the operator says
//! so), OneFlow 6 templates converted, bad names refused as openapi.json
//! says, and a CLI that names its flags and ends quietly when its reader
//! goes away.

mod common;

use common::{BIN, Flotilla};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A server on loopback with a fresh data directory, where its first
/// start made oneadmin.
struct Site(Flotilla);

impl Site {
    /// Start with `config` as flotilla.toml; wait (bounded) until it answers.
    fn start(config: &str) -> Site {
        Site(Flotilla::options().config(config).start())
    }

    fn fast() -> Site {
        Site::start("[engine]\ntick_ms = 50\n\n[sim]\nboot_seconds = 0\n")
    }

    /// One request as oneadmin: the status, the headers (lower-case names)
    /// and the JSON body (Null if none).
    fn call(&self, method: &str, path: &str, body: &Value) -> (u16, Vec<(String, String)>, Value) {
        let body = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.0.server.api)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\
             authorization: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            self.0.auth,
            body.len()
        )
        .unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).unwrap();
        let (head, payload) = raw.split_once("\r\n\r\n").unwrap();
        let mut lines = head.lines();
        let status = lines.next().unwrap().split_whitespace().nth(1).unwrap();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_string()))
            .collect();
        (
            status.parse().unwrap(),
            headers,
            serde_json::from_str(payload).unwrap_or(Value::Null),
        )
    }

    /// The CLI as oneadmin on the server's machine.
    fn cli(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        for var in [
            "FLOTILLA_AUTH",
            "ONEFLOW_USER",
            "ONEFLOW_PASSWORD",
            "ONE_AUTH",
        ] {
            cmd.env_remove(var);
        }
        cmd.args(args)
            .env(
                "FLOTILLA_URL",
                format!("http://127.0.0.1:{}", self.0.server.api),
            )
            .env("FLOTILLA_DATA_DIR", self.0.data.path())
            .stdin(Stdio::null());
        cmd
    }

    fn file(&self, name: &str, contents: &Value) -> String {
        let path = self.0.data.path().join(name);
        std::fs::write(&path, contents.to_string()).unwrap();
        path.to_str().unwrap().to_string()
    }

    fn vm_template(&self) {
        let (status, _, body) = self.call(
            "POST",
            "/vm_template",
            &json!({"name": "small", "template": {"CPU": "1", "MEMORY": "128", "SIM_BOOT_SECONDS": "0"}}),
        );
        assert_eq!(status, 201, "{body}");
    }
}

fn warnings_header(headers: &[(String, String)]) -> Vec<String> {
    headers
        .iter()
        .filter(|(k, _)| k == "flotilla-warning")
        .map(|(_, v)| v.clone())
        .collect()
}

/// A template with the typos users make: they deploy a role with 0 VMs,
/// no order and no bound if nothing says so.
fn typo_template() -> Value {
    json!({
        "name": "typos",
        "deploymnet": "straight",
        "user_inputs": {"APP_WORKERS": "O|number|workers||2"},
        "roles": [
            {"name": "db", "type": "vm", "template_id": 0, "cardinality": 1},
            {"name": "web", "type": "vm", "template_id": 0, "cardinalty": 2, "parent": ["db"], "max_vm": 3}
        ],
        "team": "storage"
    })
}

#[test]
fn unknown_attributes_are_kept_and_named_with_the_closest_known_one() {
    let site = Site::fast();
    site.vm_template();
    let (status, headers, created) = site.call("POST", "/service_template", &typo_template());
    assert_eq!(status, 201, "{created}");
    let expected = [
        "deploymnet: unknown attribute, did you mean deployment?",
        "team: unknown attribute",
        "roles[1].cardinalty: unknown attribute, did you mean cardinality?",
        "roles[1].max_vm: unknown attribute, did you mean max_vms?",
        "roles[1].parent: unknown attribute, did you mean parents?",
    ];
    let listed: Vec<String> = created["warnings"]
        .as_array()
        .unwrap_or_else(|| panic!("no warnings in {created}"))
        .iter()
        .map(|w| w.as_str().unwrap().to_string())
        .collect();
    let mut sorted = listed.clone();
    sorted.sort();
    let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(sorted, want);
    assert_eq!(warnings_header(&headers), listed, "the same in headers");
    // Kept, as OneFlow keeps them.
    assert_eq!(created["DOCUMENT"]["TEMPLATE"]["BODY"]["team"], "storage");
    let id = created["DOCUMENT"]["ID"].as_str().unwrap().to_string();

    // A value for an input nobody declared, at instantiate.
    let (status, headers, service) = site.call(
        "POST",
        &format!("/service_template/{id}/action"),
        &json!({"action": {"perform": "instantiate", "params": {"merge_template": {
            "user_inputs_values": {"APP_WORKRS": "4"}}}}}),
    );
    assert_eq!(status, 201, "{service}");
    assert!(
        warnings_header(&headers).contains(
            &"user_inputs_values.APP_WORKRS: not a declared user input, did you mean APP_WORKERS?"
                .to_string()
        ),
        "{headers:?}"
    );
    assert!(service["warnings"].to_string().contains("APP_WORKRS"));

    // An update without typos says nothing.
    let mut fixed = typo_template();
    let obj = fixed.as_object_mut().unwrap();
    obj.remove("deploymnet");
    obj.remove("team");
    obj["roles"][1] = json!({"name": "web", "type": "vm", "template_id": 0, "cardinality": 2});
    let (status, headers, updated) = site.call("PUT", &format!("/service_template/{id}"), &fixed);
    assert_eq!(status, 200, "{updated}");
    assert!(warnings_header(&headers).is_empty(), "{headers:?}");
    assert!(updated.get("warnings").is_none(), "{updated}");

    // The CLI prints them on stderr and goes on.
    let path = site.file("typos.json", &typo_template());
    let out = site.cli(&["template", "create", &path]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr
            .contains("warning: roles[1].cardinalty: unknown attribute, did you mean cardinality?"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ID: "));
}

#[test]
fn strict_attributes_refuse_unknown_attributes_and_change_nothing() {
    let site = Site::start(
        "[server]\nstrict_attributes = true\n\n[engine]\ntick_ms = 50\n\n[sim]\nboot_seconds = 0\n",
    );
    site.vm_template();
    let (status, _, err) = site.call("POST", "/service_template", &typo_template());
    assert_eq!(status, 400, "{err}");
    let fields: Vec<&str> = err["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    for field in [
        "deploymnet",
        "team",
        "roles[1].cardinalty",
        "roles[1].parent",
    ] {
        assert!(fields.contains(&field), "{field} not in {err}");
    }
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("roles[1].cardinalty: unknown attribute, did you mean cardinality?"),
        "{err}"
    );
    let (_, _, pool) = site.call("GET", "/service_template", &Value::Null);
    assert_eq!(pool, json!({"DOCUMENT_POOL": {}}), "nothing was created");

    // A clean template passes; an instantiate with a stray value does not.
    let clean = json!({"name": "ok", "user_inputs": {"A": "O|text|a"},
                       "roles": [{"name": "web", "type": "vm", "template_id": 0, "cardinality": 1}]});
    let (status, _, created) = site.call("POST", "/service_template", &clean);
    assert_eq!(status, 201, "{created}");
    let (status, _, err) = site.call(
        "POST",
        "/service_template/0/action",
        &json!({"action": {"perform": "instantiate", "params": {"merge_template": {"user_inputs_values": {"B": "x"}}}}}),
    );
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["fields"][0]["field"], "user_inputs_values.B", "{err}");
    let (_, _, services) = site.call("GET", "/service", &Value::Null);
    assert_eq!(
        services,
        json!({"DOCUMENT_POOL": {}}),
        "no service was made"
    );

    // The CLI shows the refusal with each field.
    let path = site.file("typos.json", &typo_template());
    let out = site.cli(&["template", "create", &path]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("roles[1].max_vm: unknown attribute, did you mean max_vms?"),
        "{stderr}"
    );
}

#[test]
fn a_oneflow_6_template_is_converted_and_deploys() {
    let site = Site::fast();
    site.vm_template();
    let old = json!({
        "name": "legacy",
        "deployment": "straight",
        "custom_attrs": {"DB_PASSWORD": "M|password|database password"},
        "custom_attrs_values": {"DB_PASSWORD": "s3cret"},
        "roles": [
            {"name": "db", "vm_template": 0, "cardinality": 1,
             "vm_template_contents": "MEMORY = \"256\"\nNIC = [ NETWORK_ID = \"0\", NAME = \"eth0\" ]\nCONTEXT = [ DB_PASSWORD = \"$DB_PASSWORD\" ]"},
            {"name": "web", "vm_template": "0", "cardinality": 2, "parents": ["db"]}
        ]
    });
    let (status, headers, created) = site.call("POST", "/service_template", &old);
    assert_eq!(status, 201, "{created}");
    assert!(warnings_header(&headers).is_empty(), "{headers:?}");
    let body = &created["DOCUMENT"]["TEMPLATE"]["BODY"];
    assert_eq!(
        body["user_inputs"]["DB_PASSWORD"],
        "M|password|database password"
    );
    assert_eq!(body["user_inputs_values"]["DB_PASSWORD"], "s3cret");
    assert!(body.get("custom_attrs").is_none(), "{body}");
    let db = &body["roles"][0];
    assert_eq!(
        (db["type"].as_str(), db["template_id"].as_u64()),
        (Some("vm"), Some(0))
    );
    assert_eq!(db["template_contents"]["MEMORY"], "256");
    assert_eq!(
        db["template_contents"]["NIC"],
        json!([{"NETWORK_ID": "0", "NAME": "eth0"}])
    );
    assert!(db.get("vm_template").is_none() && db.get("vm_template_contents").is_none());
    assert_eq!(body["roles"][1]["template_id"], 0);

    // The NIC's network 0 must exist for the VM to get its address.
    let net = json!({"name": "lan", "template": {"AR": [{"TYPE": "IP4", "IP": "10.1.0.10", "SIZE": "4"}]}});
    let (status, _, created) = site.call("POST", "/vnet", &net);
    assert_eq!(status, 201, "{created}");
    let (status, _, service) = site.call(
        "POST",
        "/service_template/0/action",
        &json!({"action": {"perform": "instantiate"}}),
    );
    assert_eq!(status, 201, "{service}");
    let id = service["DOCUMENT"]["ID"].as_str().unwrap().to_string();
    let running = site.0.wait_state(&id, 2);
    let vms: usize = running["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["nodes"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(vms, 3, "{running}");
}

#[test]
fn names_and_attributes_are_checked_as_openapi_json_says() {
    let site = Site::fast();
    site.vm_template();
    let long = "x".repeat(129);
    for (method, path, body, field) in [
        (
            "POST",
            "/vm_template",
            json!({"name": "a\nb", "template": {}}),
            "name",
        ),
        (
            "POST",
            "/vm_template",
            json!({"name": long, "template": {}}),
            "name",
        ),
        (
            "POST",
            "/image",
            json!({"name": long, "template": {}}),
            "name",
        ),
        (
            "POST",
            "/vm_template",
            json!({"name": "c", "template": {"CONTEXT": [null, null]}}),
            "template.CONTEXT",
        ),
        (
            "POST",
            "/vm_template",
            json!({"name": "c", "template": {"CPU": true}}),
            "template.CPU",
        ),
        (
            "POST",
            "/vm_template",
            json!({"name": "d", "template": {"DISK": {"IMAGE_ID": ""}}}),
            "template.DISK.IMAGE_ID",
        ),
        (
            "POST",
            "/service_template",
            json!({"name": "t", "custom_attrs_values": [null],
                   "roles": [{"name": "web", "type": "vm", "template_id": 0}]}),
            "custom_attrs_values",
        ),
        (
            "POST",
            "/vm_template/0/action",
            json!({"action": {"perform": "rename", "params": {"name": long}}}),
            "params.name",
        ),
        (
            "POST",
            "/vm_template/0/action",
            json!({"action": {"perform": "rename", "params": {"name": "a\u{7}"}}}),
            "params.name",
        ),
        (
            "POST",
            "/service_template",
            json!({"name": "t", "custom_attrs": {"A": 5},
            "roles": [{"name": "web", "type": "vm", "template_id": 0}]}),
            "custom_attrs.A",
        ),
    ] {
        let (status, _, err) = site.call(method, path, &body);
        assert_eq!(status, 400, "{method} {path} {body}: {err}");
        assert!(
            err["error"].as_str().unwrap().starts_with(field),
            "{method} {path}: {err}"
        );
    }
    let (_, _, pool) = site.call("GET", "/vm_template", &Value::Null);
    assert_eq!(
        pool["VMTEMPLATE_POOL"]["VMTEMPLATE"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "nothing else was created: {pool}"
    );
    let (_, _, one) = site.call("GET", "/vm_template/0", &Value::Null);
    assert_eq!(one["VMTEMPLATE"]["NAME"], "small", "not renamed");
}

#[test]
fn the_cli_ends_quietly_when_its_reader_goes_away() {
    let site = Site::fast();
    // More than a pipe holds, so the CLI is still writing when the
    // reader closes.
    let big = json!({"name": "big", "description": "d".repeat(300_000),
                     "roles": [{"name": "web", "type": "vm", "template_id": 0}]});
    let (status, _, _) = site.call("POST", "/service_template", &big);
    assert_eq!(status, 201);
    let mut child = site
        .command(&["template", "show", "0", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(first.trim(), "{");
    // The reader is gone (like `| head -1`).
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("the CLI did not end");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "{status:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn the_cli_hints_name_the_flag() {
    let site = Site::fast();
    site.vm_template();
    let (_, _, _) = site.call(
        "POST",
        "/service_template",
        &json!({"name": "t", "roles": [{"name": "web", "type": "vm", "template_id": 0,
                 "cardinality": 1, "min_vms": 1, "max_vms": 2}]}),
    );
    let (status, _, service) = site.call(
        "POST",
        "/service_template/0/action",
        &json!({"action": {"perform": "instantiate"}}),
    );
    assert_eq!(status, 201, "{service}");
    let _ = site.0.wait_state("0", 2);
    let out = site.cli(&["service", "scale", "0", "web", "5"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("use --force to override"), "{stderr}");
    let out = site.cli(&["service", "scale", "0", "web", "5", "--force"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The trap fixture as the engine's driver: every create traps, so after
/// a few engine rounds the driver rests in quarantine.
fn install_trap(data: &Path) {
    let plugins = data.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    let wasm = flotilla::plugin::builtin::dist_path("trap");
    std::fs::copy(&wasm, plugins.join("trap.wasm")).unwrap();
    std::fs::copy(wasm.with_extension("toml"), plugins.join("trap.toml")).unwrap();
}

#[test]
fn plugin_list_shows_a_quarantined_plugin_and_until_when() {
    let data = tempfile::tempdir().unwrap();
    install_trap(data.path());
    std::fs::write(
        data.path().join("flotilla.toml"),
        "[engine]\ndriver = \"trap\"\ntick_ms = 50\ndriver_instances = 1\n\n[sim]\nboot_seconds = 0\n",
    )
    .unwrap();
    let site = Site(Flotilla::options().data(data).start());
    site.vm_template();
    let (status, _, _) = site.call(
        "POST",
        "/service_template",
        &json!({"name": "t", "roles": [{"name": "web", "type": "vm", "template_id": 0, "cardinality": 1}]}),
    );
    assert_eq!(status, 201);
    // Six deploys, one create call each (a round's creates go in one call);
    // the first five traps quarantine the driver.
    for _ in 0..6 {
        let (status, _, service) = site.call(
            "POST",
            "/service_template/0/action",
            &json!({"action": {"perform": "instantiate"}}),
        );
        assert_eq!(status, 201, "{service}");
    }

    let started = Instant::now();
    let trap = loop {
        let (_, _, plugins) = site.call("GET", "/plugins", &Value::Null);
        let trap = plugins["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == "trap")
            .cloned()
            .unwrap();
        if trap["status"] == "quarantined" {
            break trap;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never quarantined: {trap}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let until = trap["quarantined_until"].as_u64().unwrap();
    assert!(until > now && until <= now + 16, "{trap}");

    let out = site.cli(&["plugin", "list"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("trap"))
        .unwrap_or_else(|| panic!("no trap in {stdout}"));
    assert!(line.contains("quarantined until 20"), "{stdout}");
    assert!(line.contains(" UTC ("), "{stdout}");
}
