//! Policy plugins on the real binary: roles that name a plugin, the
//! plugins built from `examples/policies/` (Rust by the build, Python with
//! componentize-py, JavaScript with jco: each example's own build.sh) and
//! installed with `flotilla plugin install` while the server runs, drive
//! real scaling; a plugin that traps, loops or exhausts its memory leaves
//! its role as it is and the decision names the fault.

use crate::{cli, deploy, pin, prepare, start, wait_evaluations};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

const CONFIG: &str =
    "[engine]\ntick_ms = 100\npolicy_evaluation_seconds = 1\n\n[sim]\nboot_seconds = 0\n";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Where the build put a plugin with its manifest.
fn dist(id: &str) -> PathBuf {
    flotilla::plugin::builtin::dist_path(id)
}

/// Build an example with its own build script into `out`; the component.
fn build_example(dir: &str, out: &Path, id: &str) -> PathBuf {
    let script = workspace()
        .join("examples/policies")
        .join(dir)
        .join("build.sh");
    let built = Command::new("bash").arg(&script).arg(out).output().unwrap();
    assert!(
        built.status.success(),
        "{} failed (the tools it needs are in examples/policies/README.md):\n{}",
        script.display(),
        String::from_utf8_lossy(&built.stderr)
    );
    out.join(format!("{id}.wasm"))
}

fn role(name: &str, max: u32, policy: Value) -> Value {
    json!({"name": name, "type": "vm", "cardinality": 1, "template_id": 0,
           "min_vms": 1, "max_vms": max, "cooldown": 1, "elasticity_policies": [policy]})
}

fn cardinalities(body: &Value) -> Vec<u64> {
    body["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["cardinality"].as_u64().unwrap_or(0))
        .collect()
}

#[test]
fn rust_python_and_javascript_policies_installed_live_drive_real_scaling() {
    let data = tempfile::tempdir().unwrap();
    let password = prepare(
        data.path(),
        CONFIG,
        &[("app", json!({"CPU": "1", "SIM_LOAD": "constant:5"}))],
        |_| {},
    );
    let server = start(data.path());
    let admin = Some(("oneadmin", password.as_str()));
    // The roles name plugins the server does not have yet.
    let id = deploy(
        &server,
        admin,
        json!({
            "name": "polyglot",
            "deployment": "none",
            "roles": [
                role("tracked", 4, json!({"plugin": "target-tracking",
                    "params": {"metric": "CPU", "target": 50, "tolerance": "0.1"}})),
                role("queued", 3, json!({"plugin": "queue",
                    "params": {"metric": "QUEUE", "per_vm": "50"}})),
                role("stepped", 3, json!({"plugin": "step",
                    "params": {"metric": "LOAD", "steps": "90:+2,70:+1,20:-1"}}))
            ]
        }),
    );
    let body = server
        .0
        .wait_body_as(&id, admin, "the first evaluations", 60, |b| {
            b["roles"][2]["elasticity_policies"][0]["last_eval"].is_u64()
        });
    let (_, explained) = server.call("GET", &format!("/service/{id}/explain"), admin, None);
    assert!(
        explained["roles"][0]["decisions"][0]["verdict"]
            .as_str()
            .unwrap()
            .contains("plugin `target-tracking` is not installed"),
        "{explained}"
    );
    assert_eq!(cardinalities(&body), [1, 1, 1]);

    // Each VM reports what its policy reads.
    let vm = |role: usize| body["roles"][role]["nodes"][0]["deploy_id"].to_string();
    pin(&server, &vm(0), json!({"CPU": 95}));
    pin(&server, &vm(1), json!({"QUEUE": 120}));
    pin(&server, &vm(2), json!({"LOAD": 93.5}));

    let work = tempfile::tempdir().unwrap();
    let python = build_example("python", work.path(), "queue");
    let javascript = build_example("javascript", work.path(), "step");
    let examples = workspace().join("examples/policies");
    for (file, manifest) in [
        (
            dist("target-tracking"),
            dist("target-tracking").with_extension("toml"),
        ),
        (python, examples.join("python/plugin.toml")),
        (javascript, examples.join("javascript/plugin.toml")),
    ] {
        let out = cli(
            &server,
            &password,
            &[
                "plugin",
                "install",
                file.to_str().unwrap(),
                "--manifest",
                manifest.to_str().unwrap(),
            ],
        );
        assert!(out.starts_with("installed "), "{out}");
    }
    // target-tracking: ceil(1 × 95 / 50) = 2; queue: ceil(120 / 50) = 3;
    // step: 93.5 ≥ 90 → +2 = 3.
    let body = server
        .0
        .wait_body_as(&id, admin, "every plugin scaled its role", 60, |b| {
            cardinalities(b)[..] == [2, 3, 3] && b["state"] == 2
        });
    let lines: Vec<String> = body["log"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["message"].as_str())
        .filter(|m| m.contains("scaling to"))
        .map(str::to_string)
        .collect();
    for expected in [
        "Role tracked: elasticity_policies[0] (target-tracking) ceil(1 × CPU[95] / 50) = 2: scaling to 2",
        "Role queued: elasticity_policies[0] (queue) QUEUE[total=120] / 50 per VM → 3: scaling to 3",
        "Role stepped: elasticity_policies[0] (step) LOAD[93.5] >= 90 → +2: scaling to 3",
    ] {
        assert!(
            lines.iter().any(|l| l == expected),
            "{expected}\n{lines:#?}"
        );
    }
    let listed = cli(&server, &password, &["plugin", "list"]);
    for id in ["target-tracking", "queue", "step"] {
        assert!(listed.contains(id), "{listed}");
    }
}

#[test]
fn a_policy_plugin_that_traps_loops_or_runs_out_of_memory_leaves_its_role_as_it_is() {
    let data = tempfile::tempdir().unwrap();
    let password = prepare(data.path(), CONFIG, &[("app", json!({"CPU": "1"}))], |_| {});
    let server = start(data.path());
    let admin = Some(("oneadmin", password.as_str()));
    let fixture = dist("policy-fault");
    let out = cli(
        &server,
        &password,
        &["plugin", "install", fixture.to_str().unwrap()],
    );
    assert!(out.starts_with("installed policy-fault 0.1.0"), "{out}");
    let faulty = |fault: &str| json!({"plugin": "policy-fault", "params": {"fault": fault}});
    let id = deploy(
        &server,
        admin,
        json!({
            "name": "faulty",
            "deployment": "none",
            "roles": [
                role("trap", 3, faulty("trap")),
                role("spin", 3, faulty("loop")),
                role("hog", 3, faulty("memory")),
                role("fine", 2, faulty("none"))
            ]
        }),
    );
    // The plugin's one working role scales: the faults were contained.
    let body = server
        .0
        .wait_body_as(&id, admin, "the working role's scale", 60, |b| {
            cardinalities(b)[3] == 2 && b["state"] == 2
        });
    assert_eq!(cardinalities(&body)[..3], [1, 1, 1], "{body}");
    let (_, explained) = server.call("GET", &format!("/service/{id}/explain"), admin, None);
    for (role, kind) in [(0, "(trap)"), (1, "(timeout)"), (2, "(memory-cap)")] {
        let verdicts: Vec<&str> = explained["roles"][role]["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|d| d["verdict"].as_str())
            .collect();
        assert!(
            verdicts
                .iter()
                .any(|v| v.contains("plugin `policy-fault` fault")
                    && v.contains(kind)
                    && v.ends_with("the role is left as it is")),
            "role {role}: {verdicts:#?}"
        );
    }
    // More evaluations of the faulty roles change nothing.
    wait_evaluations(&server, &id, admin, &[0, 1, 2], 2);
    let (status, doc) = server.call("GET", &format!("/service/{id}"), admin, None);
    assert_eq!(status, 200);
    assert_eq!(
        cardinalities(&doc["DOCUMENT"]["TEMPLATE"]["BODY"])[..3],
        [1, 1, 1]
    );
}
