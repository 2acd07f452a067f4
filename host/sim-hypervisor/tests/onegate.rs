//! `SIM_ONEGATE` VMs report over real HTTP on loopback to a fake OneGate
//! that checks the token, and what became of their reports shows in the
//! API.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::put;
use bytes::Bytes;
use flotilla_sim_hypervisor::{CreateRequest, SimHypervisor, SimOptions};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const TOKEN: &str = "s3cret-token";

/// What the fake OneGate accepted: (X-ONEGATE-VMID, body).
type Received = Arc<Mutex<Vec<(String, String)>>>;

async fn fake_onegate(
    State(received): State<Received>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, &'static str) {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if header("x-onegate-token") != Some(TOKEN) {
        return (StatusCode::UNAUTHORIZED, "invalid OneGate token");
    }
    if header("content-type") != Some("text/plain") {
        return (StatusCode::BAD_REQUEST, "expected text/plain");
    }
    let Some(vm) = header("x-onegate-vmid") else {
        return (StatusCode::BAD_REQUEST, "no X-ONEGATE-VMID");
    };
    received.lock().unwrap().push((vm.to_string(), body));
    (StatusCode::OK, "")
}

/// Serve `app` on loopback until the returned sender fires.
async fn serve(app: Router) -> (String, oneshot::Sender<()>, JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    (format!("http://{addr}"), stop, task)
}

async fn get_json(client: &Client<HttpConnector, Empty<Bytes>>, url: &str) -> Value {
    let response = client.get(url.parse().unwrap()).await.unwrap();
    assert!(response.status().is_success(), "GET {url}");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&body).unwrap()
}

fn vm(op: &str, endpoint: &str, token: &str) -> CreateRequest {
    CreateRequest {
        operation_id: op.into(),
        service_id: 1,
        role_name: "web".into(),
        name: format!("web_{op}"),
        template: json!({
            "SIM_ONEGATE": "YES",
            "SIM_READY": "YES",
            "SIM_ONEGATE_PUSH": "ROLE=web; SHARD=3",
            "CONTEXT": {"ONEGATE_ENDPOINT": endpoint, "ONEGATE_TOKEN": token},
        }),
        hold: false,
    }
}

#[tokio::test]
async fn vms_report_ready_through_onegate_over_http() {
    let received = Received::default();
    let (gate_url, stop_gate, gate) = serve(
        Router::new()
            .route("/vm", put(fake_onegate))
            .with_state(received.clone()),
    )
    .await;

    // Opened inside the runtime: the reporting task starts with it.
    let sim = SimHypervisor::open(SimOptions::default()).unwrap();
    let good = sim.create(vm("good", &gate_url, TOKEN)).unwrap();
    let bad = sim.create(vm("bad", &gate_url, "wrong")).unwrap();
    let (sim_url, stop_sim, sim_server) = serve(flotilla_sim_hypervisor::router(sim.clone())).await;

    let view = |id: &str| sim.views().into_iter().find(|v| v.id == id).unwrap();
    let mut done = false;
    for _ in 0..100 {
        let ready = received
            .lock()
            .unwrap()
            .iter()
            .any(|(vm, body)| vm == &good && body.lines().any(|l| l == "READY=YES"));
        let good_sent = view(&good).onegate.unwrap().sent >= 1;
        let bad_failed = view(&bad).onegate.unwrap().last_error.is_some();
        if ready && good_sent && bad_failed {
            done = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(done, "no READY=YES reached OneGate: {:?}", received.lock());

    let first = received.lock().unwrap()[0].clone();
    assert_eq!(
        first,
        (good.clone(), "READY=YES\nROLE=web\nSHARD=3\n".into())
    );
    assert!(
        received.lock().unwrap().iter().all(|(vm, _)| vm == &good),
        "only the VM with the right token got through"
    );

    let client = Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let shown = get_json(&client, &format!("{sim_url}/vms/{good}")).await;
    assert_eq!(shown["onegate"]["sent"], 1, "{shown}");
    assert_eq!(shown["onegate"]["last_error"], Value::Null);
    assert!(
        shown["user_attributes"].get("READY").is_none(),
        "READY goes through OneGate, not the poll: {shown}"
    );
    let shown = get_json(&client, &format!("{sim_url}/vms/{bad}")).await;
    let error = shown["onegate"]["last_error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with("401") && error.contains("invalid OneGate token"),
        "{shown}"
    );
    assert_eq!(shown["onegate"]["sent"], 0);
    let health = get_json(&client, &format!("{sim_url}/health")).await;
    assert_eq!(health["onegate_sent"], 1, "{health}");
    assert!(health["onegate_failed"].as_u64().unwrap() >= 1, "{health}");
    drop(client);

    // Shut everything down: the sim's API, then the hypervisor (the
    // reporting task holds it only weakly), then the fake OneGate.
    stop_sim.send(()).unwrap();
    sim_server.await.unwrap();
    let weak = Arc::downgrade(&sim);
    drop(sim);
    assert!(
        weak.upgrade().is_none(),
        "the reporting task keeps it alive"
    );
    stop_gate.send(()).unwrap();
    gate.await.unwrap();
}

#[tokio::test]
async fn a_vm_without_a_onegate_context_says_why() {
    let sim = SimHypervisor::open(SimOptions::default()).unwrap();
    let mut req = vm("lost", "", "");
    req.template = json!({"SIM_ONEGATE": "yes", "SIM_READY": "yes"});
    let id = sim.create(req).unwrap();
    let mut error = None;
    for _ in 0..100 {
        error = sim.views()[0].onegate.clone().unwrap().last_error;
        if error.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let error = error.expect("no OneGate error recorded");
    assert!(error.contains("ONEGATE_ENDPOINT"), "VM {id}: {error}");
    assert_eq!(sim.onegate_totals().sent, 0);
}

/// Opened inside one runtime that then goes away (its reporting task with
/// it), the hypervisor reports again once served on another.
#[test]
fn reporting_starts_again_on_a_new_runtime() {
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    let first = runtime();
    let sim = first.block_on(async { SimHypervisor::open(SimOptions::default()).unwrap() });
    drop(first);
    runtime().block_on(async {
        let received = Received::default();
        let (gate_url, stop_gate, gate) = serve(
            Router::new()
                .route("/vm", put(fake_onegate))
                .with_state(received.clone()),
        )
        .await;
        let id = sim.create(vm("later", &gate_url, TOKEN)).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        flotilla_sim_hypervisor::spawn(sim.clone(), listener).unwrap();
        for _ in 0..100 {
            if sim.onegate_totals().sent == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(sim.onegate_totals().sent, 1);
        assert_eq!(received.lock().unwrap()[0].0, id);
        stop_gate.send(()).unwrap();
        gate.await.unwrap();
    });
}
