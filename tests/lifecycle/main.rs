//! The service life cycle through the real sim driver plugin and the
//! simulated hypervisor on loopback, with a test clock shared by both: time
//! moves when a test says so, nothing sleeps.

mod deploy;
mod faults;
mod scale;
mod templates;
mod undeploy;

use flotilla::clock::ManualClock;
use flotilla::engine::Engine;
use flotilla::plugin::{Driver, Grant, PluginHost, builtin};
use flotilla::service::{RoleState, ServiceState};
use flotilla::sim_hypervisor::{SimHypervisor, SimOptions, State};
use flotilla::store::SqliteStore;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

struct Harness {
    clock: Arc<ManualClock>,
    sim: Arc<SimHypervisor>,
    engine: Engine,
}

async fn harness(wait_ms: u64) -> Harness {
    let clock = ManualClock::new(1_700_000_000_000);
    let sim = SimHypervisor::open(SimOptions {
        clock: clock.clone(),
        ..SimOptions::default()
    })
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!(
        "http://{}",
        flotilla::sim_hypervisor::spawn(sim.clone(), listener).unwrap()
    );
    let host = PluginHost::new(None).unwrap();
    let b = builtin::find("sim").unwrap();
    let mut grant = Grant::default();
    grant.allowed_outbound_hosts.push(base.clone());
    grant.config.insert("endpoint".into(), base);
    let driver = Driver::start(host.load(b.manifest(), b.wasm, grant).unwrap()).unwrap();
    let store = SqliteStore::in_memory().unwrap().boxed();
    let attrs = |v: Value| v.as_object().unwrap().clone();
    store
        .create_vm_template(
            "small",
            Default::default(),
            attrs(json!({"CPU": "1", "MEMORY": "512"})),
        )
        .unwrap();
    store
        .create_vm_template(
            "ready-late",
            Default::default(),
            attrs(json!({"CPU": "1", "SIM_READY": "YES", "SIM_READY_SECONDS": 30})),
        )
        .unwrap();
    Harness {
        clock: clock.clone(),
        sim,
        engine: Engine::new(store, Arc::new(driver), clock, wait_ms),
    }
}

impl Harness {
    async fn tick(&self, id: u64, rounds: usize) {
        for _ in 0..rounds {
            self.engine.tick(id).await.unwrap();
        }
    }

    fn state(&self, id: u64) -> ServiceState {
        self.engine.service(id).unwrap().state
    }

    fn role_state(&self, id: u64, role: &str) -> RoleState {
        self.engine.service(id).unwrap().role(role).unwrap().state
    }

    /// VMs on the hypervisor per role, with their states.
    fn vms(&self) -> BTreeMap<String, Vec<State>> {
        let mut out: BTreeMap<String, Vec<State>> = BTreeMap::new();
        for vm in self.sim.views() {
            out.entry(vm.role_name).or_default().push(vm.state);
        }
        out
    }

    fn live_vms(&self, role: &str) -> usize {
        self.sim
            .views()
            .iter()
            .filter(|v| v.role_name == role && v.state != State::Done)
            .count()
    }
}

/// The four-role example of the product seed.
fn seed(deployment: &str) -> Value {
    json!({
        "name": "my-service",
        "deployment": deployment,
        "roles": [
            {"name": "frontend", "type": "vm", "cardinality": 1, "template_id": 0, "parents": ["backend"]},
            {"name": "backend", "type": "vm", "cardinality": 2, "template_id": 0, "parents": ["db"], "min_vms": 1, "max_vms": 4, "cooldown": 60},
            {"name": "db", "type": "vm", "cardinality": 1, "template_id": 0},
            {"name": "monitor", "type": "vm", "cardinality": 1, "template_id": 0}
        ]
    })
}
