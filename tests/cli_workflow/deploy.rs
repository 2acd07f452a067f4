//! Deploying with the CLI: the README's quick start from VM templates to
//! deleting the service, and a failed deploy recovered and deleted.

use crate::{
    Site, created_id, describe, example, fails, flotilla, json_of, ok, role, rows, service_body,
    wait_service,
};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};

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
