//! The simulated hypervisor over real HTTP on loopback, its persistence,
//! and its behaviour seen through the real sim driver plugin.

use flotilla::clock::ManualClock;
use flotilla::plugin::{Driver, Grant, PluginHost, VmAction, VmSpec, VmState, builtin};
use flotilla::sim_hypervisor::{SimHypervisor, SimOptions};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use std::sync::Arc;

async fn serve(sim: Arc<SimHypervisor>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    format!(
        "http://{}",
        flotilla::sim_hypervisor::spawn(sim, listener).unwrap()
    )
}

async fn request(method: &str, url: &str, body: Option<&str>) -> (u16, Value) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<bytes::Bytes>>();
    let req = hyper::Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json")
        .body(Full::new(bytes::Bytes::from(
            body.unwrap_or("").to_string(),
        )))
        .unwrap();
    let response = client.request(req).await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn create_body(op: &str, template: Value) -> String {
    json!({"operation_id": op, "service_id": 3, "role_name": "db", "name": format!("db_{op}"), "template": template})
        .to_string()
}

#[tokio::test]
async fn the_http_api_creates_idempotently_and_answers_errors_in_json() {
    let base = serve(SimHypervisor::open(SimOptions::default()).unwrap()).await;
    let (status, vm) = request(
        "POST",
        &format!("{base}/vms"),
        Some(&create_body("op-1", json!({}))),
    )
    .await;
    assert_eq!(status, 201);
    let id = vm["id"].as_str().unwrap().to_string();
    let (status, again) = request(
        "POST",
        &format!("{base}/vms"),
        Some(&create_body("op-1", json!({}))),
    )
    .await;
    assert_eq!((status, again["id"].as_str()), (200, Some(id.as_str())));

    let (status, polled) = request(
        "POST",
        &format!("{base}/vms/poll"),
        Some(r#"{"ids": ["0", "77"]}"#),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(polled["vms"][0]["state"], "RUNNING");
    assert_eq!(polled["vms"][1]["state"], "DONE");

    let (status, err) = request(
        "POST",
        &format!("{base}/vms/{id}/action"),
        Some(r#"{"action": "release"}"#),
    )
    .await;
    assert_eq!(status, 409);
    assert!(
        err["error"].as_str().unwrap().contains("RUNNING")
            || err["error"].as_str().unwrap().contains("Running")
    );

    let (status, err) = request(
        "POST",
        &format!("{base}/vms"),
        Some(r#"{"operation_id": "x"}"#),
    )
    .await;
    assert_eq!(status, 400);
    assert!(err["error"].as_str().unwrap().contains("name"), "{err}");
    let (status, _) = request("POST", &format!("{base}/vms"), Some("{not json")).await;
    assert_eq!(status, 400);
    let (status, err) = request(
        "POST",
        &format!("{base}/vms"),
        Some(&create_body("op-2", json!({"SIM_BOOT_SECONDS": "soon"}))),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        err["error"].as_str().unwrap().contains("SIM_BOOT_SECONDS"),
        "{err}"
    );
    let (status, _) = request("GET", &format!("{base}/vms/999"), None).await;
    assert_eq!(status, 404);
    let (_, all) = request("GET", &format!("{base}/vms"), None).await;
    assert_eq!(
        all["vms"].as_array().unwrap().len(),
        1,
        "refused creates changed nothing"
    );
}

#[tokio::test]
async fn vms_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let options = || SimOptions {
        database: Some(dir.path().join("sim.db")),
        ..SimOptions::default()
    };
    let sim = SimHypervisor::open(options()).unwrap();
    let base = serve(sim.clone()).await;
    for op in ["a", "b"] {
        request(
            "POST",
            &format!("{base}/vms"),
            Some(&create_body(op, json!({}))),
        )
        .await;
    }
    request(
        "POST",
        &format!("{base}/vms/1/action"),
        Some(r#"{"action": "poweroff"}"#),
    )
    .await;
    request(
        "PUT",
        &format!("{base}/vms/0/user-attributes"),
        Some(r#"{"READY": "YES"}"#),
    )
    .await;
    drop(sim);

    let reopened = SimHypervisor::open(options()).unwrap();
    let views = reopened.views();
    assert_eq!(views.len(), 2);
    assert_eq!(views[0].user_attributes["READY"], "YES");
    assert_eq!(views[1].state, flotilla::sim_hypervisor::State::Poweroff);
    let base = serve(reopened).await;
    let (status, vm) = request(
        "POST",
        &format!("{base}/vms"),
        Some(&create_body("c", json!({}))),
    )
    .await;
    assert_eq!(
        (status, vm["id"].as_str()),
        (201, Some("2")),
        "ids are never reused"
    );
    let (status, vm) = request(
        "POST",
        &format!("{base}/vms"),
        Some(&create_body("a", json!({}))),
    )
    .await;
    assert_eq!(
        (status, vm["id"].as_str()),
        (200, Some("0")),
        "operation ids survive too"
    );
}

fn spec(op: &str, template: Value) -> VmSpec {
    VmSpec {
        operation_id: op.into(),
        service_id: 9,
        role_name: "web".into(),
        vm_name: format!("web_{op}_(service_9)"),
        template: template.to_string(),
        hold: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boot_time_failures_and_readiness_reach_the_driver() {
    let clock = ManualClock::new(1_000_000);
    let sim = SimHypervisor::open(SimOptions {
        default_boot_ms: 5_000,
        clock: clock.clone(),
        ..SimOptions::default()
    })
    .unwrap();
    let base = serve(sim).await;
    let host = PluginHost::new(None).unwrap();
    let b = builtin::find("sim").unwrap();
    let mut grant = Grant::default();
    grant.allowed_outbound_hosts.push(base.clone());
    grant.config.insert("endpoint".into(), base.clone());
    let driver = Driver::start(host.load(b.manifest(), b.wasm, grant).unwrap()).unwrap();

    let slow = driver
        .create(spec(
            "slow",
            json!({"SIM_BOOT_SECONDS": 30, "SIM_READY": "YES"}),
        ))
        .await
        .unwrap();
    let broken = driver
        .create(spec("broken", json!({"SIM_FAIL": "boot"})))
        .await
        .unwrap();
    let normal = driver
        .create(spec(
            "normal",
            json!({"MEMORY": "1024", "SIM_LOAD": "constant:42"}),
        ))
        .await
        .unwrap();
    let ids = vec![slow.clone(), broken.clone(), normal.clone()];
    let states = |s: &[flotilla::plugin::VmStatus]| s.iter().map(|v| v.state).collect::<Vec<_>>();

    let polled = driver.poll(ids.clone()).await.unwrap();
    assert_eq!(
        states(&polled),
        [VmState::Pending, VmState::Pending, VmState::Pending]
    );

    clock.advance_ms(5_000);
    let polled = driver.poll(ids.clone()).await.unwrap();
    assert_eq!(
        states(&polled),
        [VmState::Pending, VmState::Failed, VmState::Running]
    );
    assert!(polled[1].reason.as_deref().unwrap().contains("boot"));
    let cpu = polled[2]
        .monitoring
        .iter()
        .find(|m| m.name == "CPU")
        .unwrap()
        .value;
    assert_eq!(cpu, 42.0);
    let memory = polled[2]
        .monitoring
        .iter()
        .find(|m| m.name == "MEMORY")
        .unwrap()
        .value;
    assert_eq!(memory, (1024.0f64 * 1024.0 * 0.6).round());

    clock.advance_ms(25_000);
    let polled = driver.poll(vec![slow.clone()]).await.unwrap();
    assert_eq!(polled[0].state, VmState::Running);
    assert!(
        polled[0]
            .user_attributes
            .iter()
            .any(|kv| kv.key == "READY" && kv.value == "YES")
    );

    // Tests drive monitoring through the API.
    request(
        "PUT",
        &format!("{base}/vms/{normal}/monitoring"),
        Some(r#"{"CPU": 97.5}"#),
    )
    .await;
    let polled = driver.poll(vec![normal.clone()]).await.unwrap();
    assert_eq!(
        polled[0]
            .monitoring
            .iter()
            .find(|m| m.name == "CPU")
            .unwrap()
            .value,
        97.5
    );

    driver
        .act(normal.clone(), VmAction::Poweroff, vec![])
        .await
        .unwrap();
    assert_eq!(
        driver.poll(vec![normal.clone()]).await.unwrap()[0].state,
        VmState::Poweroff
    );
    let listed = driver.list().await.unwrap();
    assert_eq!(listed.len(), 3);
    assert!(
        listed
            .iter()
            .any(|v| v.operation_id == "broken" && v.state == VmState::Failed)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_poll_reports_many_vms_in_the_order_asked() {
    let sim = SimHypervisor::open(SimOptions::default()).unwrap();
    let mut ids = Vec::new();
    for i in 0..1000 {
        ids.push(
            sim.create(flotilla::sim_hypervisor::CreateRequest {
                operation_id: format!("many-{i}"),
                service_id: 1,
                role_name: "web".into(),
                name: format!("web_{i}"),
                template: json!({}),
                hold: i % 2 == 1,
            })
            .unwrap(),
        );
    }
    ids.reverse();
    let base = serve(sim).await;
    let host = PluginHost::new(None).unwrap();
    let b = builtin::find("sim").unwrap();
    let mut grant = Grant::default();
    grant.allowed_outbound_hosts.push(base.clone());
    grant.config.insert("endpoint".into(), base);
    let driver = Driver::start(host.load(b.manifest(), b.wasm, grant).unwrap()).unwrap();
    // The request body (1,000 ids) is larger than wasi:http's body pipe; a
    // guest that wrote it before sending would hang, so bound the wait.
    let polled = tokio::time::timeout(std::time::Duration::from_secs(30), driver.poll(ids.clone()))
        .await
        .expect("poll of 1,000 VMs did not return within 30 s")
        .unwrap();
    let got: Vec<&str> = polled.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(got, ids.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(
        polled.iter().filter(|s| s.state == VmState::Hold).count(),
        500
    );
}

#[tokio::test]
async fn a_batch_of_creates_answers_each_vm_on_its_own() {
    let sim = SimHypervisor::open(SimOptions::default()).unwrap();
    let base = serve(sim.clone()).await;
    let (status, first) = request(
        "POST",
        &format!("{base}/vms"),
        Some(&create_body("op-1", json!({}))),
    )
    .await;
    assert_eq!(status, 201);
    let vms: Vec<Value> = [
        create_body("op-2", json!({})),
        create_body("op-3", json!({"SIM_FAIL": "create"})),
        create_body("op-1", json!({})),
        create_body("op-4", json!([1])),
    ]
    .iter()
    .map(|b| serde_json::from_str(b).unwrap())
    .collect();
    let (status, batch) = request(
        "POST",
        &format!("{base}/vms/batch"),
        Some(&json!({ "vms": vms }).to_string()),
    )
    .await;
    assert_eq!(status, 200, "{batch}");
    let results = batch["results"].as_array().unwrap();
    let statuses: Vec<u64> = results
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [201, 409, 200, 400], "{batch}");
    assert_eq!(results[2]["id"], first["id"], "the same VM again");
    assert!(results[1]["error"].as_str().unwrap().contains("SIM_FAIL"));
    assert_eq!(sim.vm_count(), 2, "only op-1 and op-2 exist");
}

#[tokio::test]
async fn hosts_are_added_once_cut_off_monitored_and_kept_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let options = || SimOptions {
        database: Some(dir.path().join("sim.db")),
        ..SimOptions::default()
    };
    let sim = SimHypervisor::open(options()).unwrap();
    let base = serve(sim.clone()).await;
    let hosts = format!("{base}/hosts");
    let (status, h1) = request(
        "POST",
        &hosts,
        Some(r#"{"name": "h1", "cpu": 8, "memory_mb": 16384}"#),
    )
    .await;
    assert_eq!(status, 201, "{h1}");
    assert_eq!(
        (&h1["name"], &h1["cpu"], &h1["memory_mb"], &h1["reachable"]),
        (&json!("h1"), &json!(8.0), &json!(16384), &json!(true))
    );
    // idempotent on the name: the host stays as it was
    let (status, again) = request(
        "POST",
        &hosts,
        Some(r#"{"name": "h1", "cpu": 1, "memory_mb": 1}"#),
    )
    .await;
    assert_eq!((status, &again["cpu"]), (200, &json!(8.0)));
    request(
        "POST",
        &hosts,
        Some(r#"{"name": "h2", "cpu": 2.5, "memory_mb": 4096}"#),
    )
    .await;
    // what is wrong is named
    for (body, field) in [
        (r#"{"name": "h3", "cpu": "many", "memory_mb": 1}"#, "cpu:"),
        (r#"{"name": "h3", "cpu": 1}"#, "memory_mb:"),
        (r#"{"name": "h3", "cpu": 1, "memory_mb": -5}"#, "memory_mb:"),
        (r#"{"name": "h 3", "cpu": 1, "memory_mb": 1}"#, "name:"),
        (
            r#"{"name": "h3", "cpu": 1, "memory_mb": 1, "gpu": 1}"#,
            "gpu:",
        ),
    ] {
        let (status, error) = request("POST", &hosts, Some(body)).await;
        assert_eq!(status, 400, "{body}: {error}");
        let error = error["error"].as_str().unwrap();
        assert!(error.starts_with(field), "{body}: {error}");
    }

    // A VM on h1 counts there.
    let (status, vm) = request(
        "POST",
        &format!("{base}/vms"),
        Some(&create_body(
            "on-h1",
            json!({"CPU": 2, "MEMORY": 1024, "HOST": {"NAME": "h1", "ADDRESS": "h1"}}),
        )),
    )
    .await;
    assert_eq!((status, &vm["host"]), (201, &json!("h1")), "{vm}");
    let vm_id = vm["id"].as_str().unwrap().to_string();
    let (status, shown) = request("GET", &format!("{hosts}/h1"), None).await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            &shown["used_cpu"],
            &shown["used_memory_mb"],
            &shown["vm_ids"]
        ),
        (&json!(2.0), &json!(1024), &json!([vm_id]))
    );
    let (status, _) = request("GET", &format!("{hosts}/h9"), None).await;
    assert_eq!(status, 404);

    // h2 is lost.
    let (status, lost) = request(
        "PUT",
        &format!("{hosts}/h2/reachable"),
        Some(r#"{"reachable": false}"#),
    )
    .await;
    assert_eq!((status, &lost["reachable"]), (200, &json!(false)));
    let (status, monitored) = request(
        "POST",
        &format!("{hosts}/monitor"),
        Some(r#"{"names": ["h1", "h2", "h9"]}"#),
    )
    .await;
    assert_eq!(status, 200);
    let results = monitored["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    assert_eq!(results[0]["status"], 200);
    assert_eq!(results[0]["monitoring"]["vm_ids"], json!([vm_id]));
    assert_eq!(
        (&results[1]["status"], &results[1]["error"]),
        (&json!(503), &json!("host h2 does not answer"))
    );
    assert_eq!(
        (&results[2]["status"], &results[2]["error"]),
        (&json!(404), &json!("host h9 does not exist"))
    );
    drop(sim);

    // Hosts, and whether they answer, outlive the process.
    let reopened = SimHypervisor::open(options()).unwrap();
    let views = reopened.host_views();
    let names: Vec<_> = views
        .iter()
        .map(|h| (h.name.as_str(), h.reachable))
        .collect();
    assert_eq!(names, [("h1", true), ("h2", false)]);
    assert_eq!(views[0].usage.vm_ids, [vm_id]);
    let base = serve(reopened).await;
    let (_, listed) = request("GET", &format!("{base}/hosts"), None).await;
    assert_eq!(listed["hosts"].as_array().unwrap().len(), 2);
    let (_, health) = request("GET", &format!("{base}/health"), None).await;
    assert_eq!(health["hosts"], 2);
}

/// A driver of the built-in `sim` plugin granted to the hypervisor at
/// `base`.
fn sim_driver(base: &str) -> Driver {
    let host = PluginHost::new(None).unwrap();
    let b = builtin::find("sim").unwrap();
    let mut grant = Grant::default();
    grant.allowed_outbound_hosts.push(base.to_string());
    grant.config.insert("endpoint".into(), base.to_string());
    Driver::start(host.load(b.manifest(), b.wasm, grant).unwrap()).unwrap()
}

fn placed(op: &str, host: &str, extra: Value) -> VmSpec {
    let mut template = json!({"HOST": {"NAME": format!("fleet-{host}"), "ADDRESS": host}});
    for (k, v) in extra.as_object().unwrap() {
        template[k] = v.clone();
    }
    spec(op, template)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sim_driver_monitors_its_hosts_and_a_lost_one_is_an_error_for_it_alone() {
    use flotilla::engine::VmBackend;
    use flotilla::plugin::{CallError, HostProbe, PluginError};

    let sim = SimHypervisor::open(SimOptions::default()).unwrap();
    for (name, cpu, memory_mb) in [("h1", 8.0, 16_384), ("h2", 4.0, 8_192), ("h3", 2.0, 4_096)] {
        sim.add_host(name, cpu, memory_mb).unwrap();
    }
    let base = serve(sim.clone()).await;
    let driver = sim_driver(&base);
    assert!(driver.manages_hosts());

    let web = driver
        .create(placed("web", "h1", json!({"CPU": "2", "MEMORY": "2048"})))
        .await
        .unwrap();
    let db = driver.create(placed("db", "h2", json!({}))).await.unwrap();
    let gone = driver
        .create(placed("gone", "h3", json!({})))
        .await
        .unwrap();
    // A host that does not exist is the template's mistake.
    let nowhere = driver.create(placed("nowhere", "h9", json!({}))).await;
    assert!(
        matches!(&nowhere, Err(CallError::Plugin(PluginError::InvalidInput(m))) if m.contains("h9")),
        "{nowhere:?}"
    );

    sim.set_host_reachable("h3", false).unwrap();
    let probes = ["h1", "h2", "h3", "h9"]
        .map(|h| HostProbe::new(format!("fleet-{h}"), h))
        .to_vec();
    let outcomes = driver.monitor_hosts(probes.clone()).await.unwrap();
    assert_eq!(outcomes.len(), 4);
    let h1 = outcomes[0].as_ref().unwrap();
    assert_eq!((h1.cpu, h1.memory_mb), (8.0, 16_384));
    assert_eq!((h1.used_cpu, h1.used_memory_mb), (2.0, 2048));
    assert_eq!(h1.vm_ids, [web.as_str()]);
    let h2 = outcomes[1].as_ref().unwrap();
    assert_eq!((h2.cpu, h2.used_cpu, h2.used_memory_mb), (4.0, 1.0, 256));
    assert_eq!(h2.vm_ids, [db.as_str()]);
    assert_eq!(
        outcomes[2],
        Err(PluginError::Unavailable("host h3 does not answer".into()))
    );
    assert!(
        matches!(&outcomes[3], Err(PluginError::NotFound(m)) if m == "host h9 does not exist"),
        "{:?}",
        outcomes[3]
    );

    // The lost host's VM: UNKNOWN, and out of reach.
    let polled = driver.poll(vec![web.clone(), gone.clone()]).await.unwrap();
    assert_eq!(polled[0].state, VmState::Running);
    assert_eq!(polled[1].state, VmState::Unknown);
    assert_eq!(polled[1].reason.as_deref(), Some("host h3 does not answer"));
    let act = driver
        .act(gone.clone(), VmAction::TerminateHard, vec![])
        .await;
    assert!(
        matches!(&act, Err(CallError::Plugin(PluginError::Unavailable(m))) if m.contains("host h3 does not answer")),
        "{act:?}"
    );
    let late = driver.create(placed("late", "h3", json!({}))).await;
    assert!(
        matches!(late, Err(CallError::Plugin(PluginError::Unavailable(_)))),
        "{late:?}"
    );

    // The engine sees the same through its backend: each host's error its
    // own, the driver's words as a refusal.
    let backend: &dyn VmBackend = &driver;
    assert!(backend.manages_hosts());
    let outcomes = backend.monitor_hosts(probes).await.unwrap();
    assert!(outcomes[0].is_ok() && outcomes[1].is_ok());
    assert_eq!(
        outcomes[2].as_ref().unwrap_err(),
        &flotilla::model::BackendError::Refused(
            "driver error: unavailable: host h3 does not answer".into()
        )
    );

    // Back again: the VM is as it was, and can be acted on.
    sim.set_host_reachable("h3", true).unwrap();
    let polled = driver.poll(vec![gone.clone()]).await.unwrap();
    assert_eq!(
        (polled[0].state, polled[0].reason.as_deref()),
        (VmState::Running, None)
    );
    driver
        .act(gone.clone(), VmAction::TerminateHard, vec![])
        .await
        .unwrap();
    let outcomes = driver
        .monitor_hosts(vec![HostProbe::new("fleet-h3", "h3")])
        .await
        .unwrap();
    assert_eq!(outcomes[0].as_ref().unwrap().vm_ids, Vec::<String>::new());
}
