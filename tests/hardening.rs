//! Faults found by testing the real binary from outside, each kept fixed:
//! VMs lost or left behind by a crash or a retry, VM actions that fail a
//! whole service, dropped action arguments, roles paired by position,
//! unbounded scaling and batch arithmetic, the cooldown lock.

mod common;

use common::{Flotilla, http, wait_for};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

const FAST: &str = "[engine]\ntick_ms = 50\n\n[sim]\nboot_seconds = 0\n";

fn two_roles(name: &str) -> Value {
    json!({
        "name": name,
        "deployment": "straight",
        "roles": [
            {"name": "db", "type": "vm", "cardinality": 1, "template_id": 0, "cooldown": 0},
            {"name": "web", "type": "vm", "cardinality": 2, "template_id": 1, "parents": ["db"], "cooldown": 0}
        ]
    })
}

fn action(perform: &str, params: Value) -> Value {
    json!({"action": {"perform": perform, "params": params}})
}

fn log_of(body: &Value) -> Vec<String> {
    body["log"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(|e| e["message"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

const RUNNING: u64 = 2;

#[test]
fn a_kill_during_a_burst_of_deletes_leaves_no_vm_behind() {
    let mut f = Flotilla::start(FAST);
    let ids: Vec<u64> = (0..40)
        .map(|i| f.deploy(two_roles(&format!("s{i}"))))
        .collect();
    for &id in &ids {
        let _ = f.wait_state(id, RUNNING);
    }
    assert_eq!(f.live_vms().len(), 120);
    // Delete every service from several clients at once, and kill the
    // server while the terminates are going out.
    let api = f.server.api;
    let header = f.auth.clone();
    let deleters: Vec<_> = ids
        .iter()
        .map(|&id| {
            let header = header.clone();
            std::thread::spawn(move || {
                http(
                    api,
                    "DELETE",
                    &format!("/service/{id}"),
                    &[("authorization", header)],
                    "",
                )
            })
        })
        .collect();
    let sim = f.server.sim;
    let started = std::time::Instant::now();
    loop {
        let done = http(sim, "GET", "/vms", &[], "")
            .and_then(|(_, body)| serde_json::from_str::<Value>(&body).ok())
            .and_then(|vms| {
                let vms = vms["vms"].as_array()?.clone();
                Some(vms.iter().filter(|v| v["state"] == "DONE").count())
            })
            .unwrap_or(0);
        if done >= 1 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the deletes never got going"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    f.server.kill();
    {
        // The kill came mid-burst: a service was undeploying with VMs it
        // had not terminated yet.
        let store = flotilla::store::SqliteStore::open(&f.data.path().join("flotilla.db"))
            .unwrap()
            .boxed();
        let interrupted = store
            .services()
            .unwrap()
            .iter()
            .filter(|s| s.state == flotilla::service::ServiceState::Undeploying)
            .count();
        assert!(
            interrupted > 0,
            "killed too late: every delete had finished"
        );
    }
    f.start_again();
    for d in deleters {
        let _ = d.join();
    }
    // Every service that took its DELETE is undeployed; one that never
    // heard of it (the kill came first) is deleted now.
    for &id in &ids {
        if f.service(id).is_some_and(|b| b["state"] == RUNNING) {
            assert_eq!(
                f.call("DELETE", &format!("/service/{id}"), Value::Null).0,
                204
            );
        }
    }
    for &id in &ids {
        f.wait_gone(id);
    }
    assert_eq!(f.live_vms(), Vec::<Value>::new(), "VMs left running");
}

#[test]
fn a_retried_delete_changes_nothing_and_terminating_a_gone_vm_succeeds() {
    let f = Flotilla::start(FAST);
    let id = f.deploy(two_roles("retried"));
    let _ = f.wait_state(id, RUNNING);
    let path = format!("/service/{id}");
    assert_eq!(f.call("DELETE", &path, Value::Null).0, 204);
    assert_eq!(
        f.call("DELETE", &path, Value::Null).0,
        204,
        "a second DELETE of a service already undeploying is accepted"
    );
    // Never a failed state on the way out.
    let failed = wait_for(Duration::from_secs(30), || match f.service(id) {
        None => Some(false),
        Some(b) if [6, 7, 9].contains(&b["state"].as_u64().unwrap_or(0)) => Some(true),
        Some(_) => None,
    });
    assert_eq!(failed, Some(false), "the service failed on its way out");
    assert!(f.live_vms().is_empty());

    // `recover --delete` right after `recover`: the VMs recover replaced
    // are DONE by the time the delete terminates them again.
    let failing = f.deploy(json!({
        "name": "failing",
        "roles": [{"name": "app", "type": "vm", "cardinality": 2, "template_id": 0,
                   "template_contents": {"SIM_FAIL": "boot"}}]
    }));
    let _ = f.wait_state(failing, 7); // FAILED_DEPLOYING
    let path = format!("/service/{failing}/action");
    assert_eq!(
        f.call("POST", &path, action("recover", json!({"delete": false})))
            .0,
        204
    );
    assert_eq!(
        f.call("POST", &path, action("recover", json!({"delete": true})))
            .0,
        204
    );
    let failed = wait_for(Duration::from_secs(30), || match f.service(failing) {
        None => Some(None),
        Some(b) if b["state"] == 6 => Some(Some(log_of(&b))),
        Some(_) => None,
    });
    assert_eq!(
        failed,
        Some(None),
        "recover --delete ended FAILED_UNDEPLOYING"
    );
    assert!(f.live_vms().is_empty());
}

#[test]
fn vm_actions_some_vms_refuse_are_noted_on_the_vms_and_the_service_runs_on() {
    let f = Flotilla::start(FAST);
    let id = f.deploy(two_roles("refusals"));
    let _ = f.wait_state(id, RUNNING);
    let role_action = format!("/service/{id}/role/web/action");
    // `hold` applies to PENDING VMs only: every running VM refuses it.
    let (status, _) = f.call(
        "POST",
        &role_action,
        action("hold", json!({"period": 0, "number": 0})),
    );
    assert_eq!(status, 204);
    let body = f.service(id).unwrap();
    assert_eq!(body["state"], RUNNING, "{:?}", log_of(&body));
    let nodes = body["roles"][1]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 2);
    for node in nodes {
        let reason = node["reason"].as_str().unwrap_or_default();
        assert!(reason.starts_with("hold refused"), "{node}");
    }
    let refusals = log_of(&body)
        .into_iter()
        .filter(|m| m.contains("refused hold"))
        .count();
    assert_eq!(refusals, 2, "one log entry per refusing VM");

    // `resume` on one running and one powered-off VM: the powered-off one
    // resumes, the running one refuses, the service goes on.
    let vm = nodes[0]["vm_info"]["VM"]["ID"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, _) = http(
        f.server.sim,
        "POST",
        &format!("/vms/{vm}/action"),
        &[],
        r#"{"action": "poweroff"}"#,
    )
    .unwrap();
    assert_eq!(status, 200);
    let _ = f.wait_state(id, 4); // WARNING, from the watchdog
    let (status, _) = f.call(
        "POST",
        &format!("/service/{id}/action"),
        action("resume", json!({"period": 0, "number": 0})),
    );
    assert_eq!(status, 204);
    let _ = f.wait_state(id, RUNNING);
}

#[test]
fn action_arguments_reach_the_driver() {
    let f = Flotilla::start(FAST);
    let id = f.deploy(two_roles("snapshots"));
    let _ = f.wait_state(id, RUNNING);
    let path = format!("/service/{id}/role/db/action");
    let ok = |perform: &str, args: &str| {
        let (status, body) = f.call(
            "POST",
            &path,
            action(perform, json!({"period": 0, "number": 0, "args": args})),
        );
        assert_eq!(status, 204, "{body}");
        let body = f.service(id).unwrap();
        assert_eq!(body["state"], RUNNING, "{perform}: {:?}", log_of(&body));
        assert!(
            body["roles"][0]["nodes"][0]["reason"].is_null(),
            "{perform}: {}",
            body["roles"][0]["nodes"][0]
        );
    };
    ok("snapshot-create", "before-upgrade");
    ok("disk-snapshot-create", "0,nightly");
    let vm = f.vm_ids(id)[0].clone();
    let (_, body) = http(f.server.sim, "GET", &format!("/vms/{vm}"), &[], "").unwrap();
    let view: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(view["snapshots"], json!(["before-upgrade"]), "{view}");
    assert_eq!(view["disk_snapshots"], json!(["0:nightly"]), "{view}");
    ok("snapshot-revert", "before-upgrade");
    ok("snapshot-delete", "before-upgrade");
    // Too many arguments for the action: 400 naming the field.
    let (status, err) = f.call(
        "POST",
        &path,
        action("snapshot-create", json!({"args": "a,b"})),
    );
    assert_eq!(status, 400);
    assert!(
        err["error"].as_str().unwrap().starts_with("params.args"),
        "{err}"
    );
}

#[test]
fn an_update_that_reorders_the_roles_keeps_each_role_with_its_template() {
    let f = Flotilla::start(FAST);
    let id = f.deploy(two_roles("reordered"));
    let _ = f.wait_state(id, RUNNING);
    let mut body = f.service(id).unwrap();
    let roles = body["roles"].as_array_mut().unwrap();
    roles.reverse();
    let (status, err) = f.call("PUT", &format!("/service/{id}"), body.clone());
    assert_eq!(status, 204, "{err}");
    let (status, err) = f.call(
        "POST",
        &format!("/service/{id}/scale"),
        json!({"role_name": "web", "cardinality": 3}),
    );
    assert_eq!(status, 204, "{err}");
    let _ = f.wait_state(id, RUNNING);
    let web: Vec<Value> = f
        .live_vms()
        .into_iter()
        .filter(|v| v["role_name"] == "web")
        .collect();
    assert_eq!(web.len(), 3);
    for vm in &web {
        assert_eq!(
            vm["template"]["MEMORY"], "1024",
            "a web VM from another role's template: {vm}"
        );
    }
    let db = f
        .live_vms()
        .into_iter()
        .filter(|v| v["role_name"] == "db")
        .count();
    assert_eq!(db, 1);
}

#[test]
fn role_sizes_past_the_servers_cap_are_refused_even_with_force() {
    let f = Flotilla::start(
        "[engine]\ntick_ms = 50\nmax_vms_per_role = 5\n\n[sim]\nboot_seconds = 0\n",
    );
    let id = f.deploy(two_roles("capped"));
    let _ = f.wait_state(id, RUNNING);
    let (status, err) = f.call(
        "POST",
        &format!("/service/{id}/scale"),
        json!({"role_name": "web", "cardinality": 6, "force": true}),
    );
    assert_eq!(status, 400);
    let text = err.to_string();
    assert!(text.contains("engine.max_vms_per_role"), "{err}");
    assert_eq!(f.service(id).unwrap()["roles"][1]["cardinality"], 2);
    assert_eq!(f.live_vms().len(), 3, "nothing was created");
    let mut big = two_roles("too-big");
    big["roles"][1]["cardinality"] = json!(6);
    let (status, created) = f.call("POST", "/service_template", big);
    assert_eq!(status, 201, "{created}");
    let tid = created["DOCUMENT"]["ID"].as_str().unwrap().to_string();
    let (status, err) = f.call(
        "POST",
        &format!("/service_template/{tid}/action"),
        json!({"action": {"perform": "instantiate"}}),
    );
    assert_eq!(status, 400, "{err}");
    assert!(err.to_string().contains("roles[1].cardinality"), "{err}");
    // The cap still allows scaling up to it.
    let (status, _) = f.call(
        "POST",
        &format!("/service/{id}/scale"),
        json!({"role_name": "web", "cardinality": 5}),
    );
    assert_eq!(status, 204);
    let _ = f.wait_state(id, RUNNING);
    assert_eq!(f.live_vms().len(), 6);
}

#[test]
fn batched_actions_out_of_range_are_refused_and_change_nothing() {
    let f = Flotilla::start(FAST);
    let id = f.deploy(two_roles("batches"));
    let _ = f.wait_state(id, RUNNING);
    let path = format!("/service/{id}/role/web/action");
    for (params, field) in [
        (
            json!({"period": 18446744073709551615u64, "number": 1}),
            "params.period",
        ),
        (
            json!({"period": 1_000_000_000_000_000_000u64, "number": 1}),
            "params.period",
        ),
        (
            json!({"period": 60, "number": 18446744073709551615u64}),
            "params.number",
        ),
    ] {
        let (status, err) = f.call("POST", &path, action("poweroff", params.clone()));
        assert_eq!(status, 400, "{params}: {err}");
        assert!(err["error"].as_str().unwrap().starts_with(field), "{err}");
    }
    let body = f.service(id).unwrap();
    assert_eq!(body["state"], RUNNING);
    assert_eq!(body["roles"][1]["scheduled_actions"], json!([]));
    assert_eq!(
        f.live_vms()
            .iter()
            .filter(|v| v["state"] == "RUNNING")
            .count(),
        3,
        "no VM was acted on"
    );
    // A long period is still a plan: the second VM's turn is a day away.
    let (status, _) = f.call(
        "POST",
        &path,
        action("reboot", json!({"period": 86_400, "number": 1})),
    );
    assert_eq!(status, 204);
    let body = f.service(id).unwrap();
    let pending = body["roles"][1]["scheduled_actions"].as_array().unwrap();
    assert_eq!(pending.len(), 1);
    let start = body["start_time"].as_u64().unwrap();
    let due = pending[0]["time"].as_u64().unwrap();
    assert!(
        (86_400..86_400 + 600).contains(&(due - start)),
        "{due} - {start}"
    );
}

#[test]
fn the_cooldown_default_is_a_setting_and_holds_back_no_user() {
    let f = Flotilla::start(
        "[engine]\ntick_ms = 50\ndefault_cooldown_seconds = 120\n\n[sim]\nboot_seconds = 0\n",
    );
    let mut template = two_roles("cooling");
    template["roles"][1]
        .as_object_mut()
        .unwrap()
        .remove("cooldown");
    let id = f.deploy(template);
    let body = f.wait_state(id, RUNNING);
    assert_eq!(
        body["roles"][1]["cooldown"], 120,
        "the server's default is shown"
    );
    let (status, _) = f.call(
        "POST",
        &format!("/service/{id}/scale"),
        json!({"role_name": "web", "cardinality": 3}),
    );
    assert_eq!(status, 204);
    // The scale done, the service is RUNNING at once: the role's cooldown
    // holds back only its own automatic scaling, not its users.
    let body = f.wait_state(id, RUNNING);
    assert_eq!(body["roles"][1]["cardinality"], 3, "{body}");
    let (status, _) = f.call(
        "POST",
        &format!("/service/{id}/scale"),
        json!({"role_name": "web", "cardinality": 2}),
    );
    assert_eq!(status, 204);
    let _ = f.wait_state(id, RUNNING);
    let (status, err) = f.call("DELETE", &format!("/service/{id}"), Value::Null);
    assert!(status < 300, "{status} {err}");
}

#[test]
fn vms_listed_match_the_hypervisor_after_scaling_down() {
    // Scale-down terminates the oldest VMs; the ones left are listed and
    // live, no more, no fewer.
    let f = Flotilla::start(FAST);
    let id = f.deploy(two_roles("down"));
    let _ = f.wait_state(id, RUNNING);
    let (status, _) = f.call(
        "POST",
        &format!("/service/{id}/scale"),
        json!({"role_name": "web", "cardinality": 1}),
    );
    assert_eq!(status, 204);
    let _ = f.wait_state(id, RUNNING);
    let listed: BTreeSet<String> = f.vm_ids(id).into_iter().collect();
    let live: BTreeSet<String> = f
        .live_vms()
        .iter()
        .filter_map(|v| v["id"].as_str().map(str::to_string))
        .collect();
    assert_eq!(listed, live);
    assert_eq!(live.len(), 2);
}

#[test]
fn a_refused_create_is_not_retried_every_round() {
    let f = Flotilla::start(FAST);
    let id = f.deploy(json!({
        "name": "no-room",
        "roles": [{"name": "app", "type": "vm", "cardinality": 2, "template_id": 0,
                   "template_contents": {"SIM_FAIL": "create"}}]
    }));
    let _ = f.wait_state(id, 7); // FAILED_DEPLOYING
    // Twenty rounds later the driver has been asked once per VM, not once
    // per round.
    f.wait_rounds(20);
    let body = f.service(id).unwrap();
    let failures = log_of(&body)
        .iter()
        .filter(|m| m.contains("creating VM") && m.contains("no host has room"))
        .count();
    assert_eq!(failures, 2, "{:?}", log_of(&body));
    assert_eq!(body["state"], 7);
}
