//! The service life cycle through the real sim driver plugin and the
//! simulated hypervisor on loopback, with a test clock shared by both: time
//! moves when a test says so, nothing sleeps.

use flotilla::clock::ManualClock;
use flotilla::engine::{Engine, EngineError};
use flotilla::plugin::{Driver, Grant, PluginHost, builtin};
use flotilla::service::lifecycle::LifecycleError;
use flotilla::service::{RoleState, ServiceState};
use flotilla::sim::{SimHypervisor, SimOptions, State};
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
        flotilla::sim::spawn(sim.clone(), listener).unwrap()
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn straight_deploys_the_seed_example_in_parent_order() {
    let h = harness(600_000).await;
    let id = h.engine.instantiate(&seed("straight")).await.unwrap();
    assert_eq!(h.state(id), ServiceState::Deploying);
    let vms = h.vms();
    assert_eq!(
        vms.keys().collect::<Vec<_>>(),
        ["db", "monitor"],
        "only roles without parents start"
    );
    h.tick(id, 1).await;
    assert_eq!(h.role_state(id, "db"), RoleState::Running);
    assert_eq!(h.vms()["backend"].len(), 2);
    assert!(
        !h.vms().contains_key("frontend"),
        "frontend waits for backend"
    );
    h.tick(id, 1).await;
    assert_eq!(h.vms()["frontend"].len(), 1);
    h.tick(id, 1).await;
    assert_eq!(h.state(id), ServiceState::Running);
    let service = h.engine.service(id).unwrap();
    assert!(service.roles.iter().all(|r| r.state == RoleState::Running));
    let names: Vec<String> = h
        .sim
        .views()
        .into_iter()
        .filter(|v| v.role_name == "backend")
        .map(|v| v.name)
        .collect();
    assert_eq!(names, ["backend_0_(service_0)", "backend_1_(service_0)"]);
    assert!(
        service
            .log
            .iter()
            .any(|l| l.message == "New state: RUNNING")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn none_deploys_every_role_at_once() {
    let h = harness(600_000).await;
    let id = h.engine.instantiate(&seed("none")).await.unwrap();
    let vms = h.vms();
    assert_eq!(vms.values().map(Vec::len).sum::<usize>(), 5);
    h.tick(id, 1).await;
    assert_eq!(h.state(id), ServiceState::Running);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ready_gate_waits_for_ready_yes() {
    let h = harness(600_000).await;
    let template = json!({"name": "gated", "ready_status_gate": true,
        "roles": [{"name": "app", "type": "vm", "cardinality": 2, "template_id": 1}]});
    let id = h.engine.instantiate(&template).await.unwrap();
    h.tick(id, 2).await;
    assert_eq!(
        h.state(id),
        ServiceState::Deploying,
        "running but not READY=YES yet"
    );
    h.clock.advance_ms(30_000);
    h.tick(id, 1).await;
    assert_eq!(h.state(id), ServiceState::Running);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vm_that_fails_to_boot_fails_the_deploy_and_recover_replaces_it() {
    let h = harness(600_000).await;
    let template = json!({"name": "fragile",
        "roles": [{"name": "app", "type": "vm", "cardinality": 2, "template_id": 0,
                   "template_contents": {"SIM_BOOT_SECONDS": 10}}]});
    let id = h.engine.instantiate(&template).await.unwrap();
    let first = h.sim.views()[0].id.clone();
    h.sim
        .force_state(&first, State::Failed, Some("boot failure: no disk".into()))
        .unwrap();
    h.tick(id, 1).await;
    assert_eq!(h.state(id), ServiceState::FailedDeploying);
    assert_eq!(h.role_state(id, "app"), RoleState::FailedDeploying);
    let log = h.engine.service(id).unwrap().log;
    assert!(
        log.iter().any(|l| l
            .message
            .contains(&format!("VM {first} is FAILED (boot failure: no disk)"))),
        "{log:#?}"
    );

    h.engine.recover(id).await.unwrap();
    assert_eq!(h.state(id), ServiceState::Deploying);
    h.clock.advance_ms(10_000);
    h.tick(id, 2).await;
    assert_eq!(h.state(id), ServiceState::Running);
    assert_eq!(h.live_vms("app"), 2);
    let failed = h.sim.views().into_iter().find(|v| v.id == first).unwrap();
    assert_eq!(failed.state, State::Done, "the failed VM was terminated");
    assert_eq!(
        h.engine
            .service(id)
            .unwrap()
            .role("app")
            .unwrap()
            .nodes
            .len(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_that_outlives_its_deadline_fails_the_service() {
    let h = harness(60_000).await;
    let template = json!({"name": "slow",
        "roles": [{"name": "app", "type": "vm", "cardinality": 1, "template_id": 0,
                   "template_contents": {"SIM_BOOT_SECONDS": 3600}}]});
    let id = h.engine.instantiate(&template).await.unwrap();
    h.tick(id, 1).await;
    assert_eq!(h.state(id), ServiceState::Deploying);
    h.clock.advance_ms(61_000);
    h.tick(id, 1).await;
    assert_eq!(h.state(id), ServiceState::FailedDeploying);
    let log = h.engine.service(id).unwrap().log;
    assert!(
        log.iter().any(|l| l
            .message
            .starts_with("Gave up after 60 s waiting for role(s) app")),
        "{log:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_within_bounds_then_cooldown() {
    let h = harness(600_000).await;
    let id = h.engine.instantiate(&seed("straight")).await.unwrap();
    h.tick(id, 3).await;
    assert_eq!(h.state(id), ServiceState::Running);

    match h.engine.scale(id, "backend", 5, false).await {
        Err(EngineError::Lifecycle(LifecycleError::Invalid(m))) => {
            assert!(m.contains("above max_vms (4)"), "{m}")
        }
        other => panic!("expected a refusal, got {:?}", other.map(|s| s.state)),
    }
    assert_eq!(h.live_vms("backend"), 2, "a refused scale changes nothing");

    h.engine.scale(id, "backend", 3, false).await.unwrap();
    assert_eq!(h.state(id), ServiceState::Scaling);
    assert_eq!(h.live_vms("backend"), 3);
    h.tick(id, 1).await;
    assert_eq!(h.state(id), ServiceState::Cooldown);
    assert!(matches!(
        h.engine.scale(id, "backend", 4, false).await,
        Err(EngineError::Lifecycle(LifecycleError::WrongState(_)))
    ));
    h.clock.advance_ms(59_000);
    h.tick(id, 1).await;
    assert_eq!(h.state(id), ServiceState::Cooldown);
    h.clock.advance_ms(1_000);
    h.tick(id, 1).await;
    assert_eq!(h.state(id), ServiceState::Running);

    // Down: the oldest VMs go.
    h.engine.scale(id, "backend", 1, false).await.unwrap();
    h.tick(id, 1).await;
    assert_eq!(h.live_vms("backend"), 1);
    let left: Vec<String> = h
        .sim
        .views()
        .into_iter()
        .filter(|v| v.role_name == "backend" && v.state != State::Done)
        .map(|v| v.name)
        .collect();
    assert_eq!(left, ["backend_2_(service_0)"]);
    h.clock.advance_ms(60_000);
    h.tick(id, 1).await;
    assert!(matches!(
        h.engine.scale(id, "backend", 0, false).await,
        Err(EngineError::Lifecycle(LifecycleError::Invalid(_)))
    ));
    h.engine.scale(id, "backend", 6, true).await.unwrap();
    assert_eq!(h.live_vms("backend"), 6, "force goes past max_vms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_then_release() {
    let h = harness(600_000).await;
    let mut template = seed("straight");
    template["on_hold"] = json!(true);
    let id = h.engine.instantiate(&template).await.unwrap();
    h.tick(id, 4).await;
    assert_eq!(h.state(id), ServiceState::Hold);
    assert!(
        h.vms().values().flatten().all(|s| *s == State::Hold),
        "{:?}",
        h.vms()
    );
    assert_eq!(h.vms().values().map(Vec::len).sum::<usize>(), 5);
    h.engine.release(id).await.unwrap();
    h.tick(id, 4).await;
    assert_eq!(h.state(id), ServiceState::Running);
    assert!(h.vms().values().flatten().all(|s| *s == State::Running));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undeploy_goes_in_reverse_dependency_order() {
    let h = harness(600_000).await;
    let id = h.engine.instantiate(&seed("straight")).await.unwrap();
    h.tick(id, 3).await;
    h.engine.undeploy(id, false).await.unwrap();
    assert_eq!(h.state(id), ServiceState::Undeploying);
    assert_eq!(
        (h.live_vms("frontend"), h.live_vms("monitor")),
        (0, 0),
        "leaves first"
    );
    assert_eq!((h.live_vms("backend"), h.live_vms("db")), (2, 1));
    h.tick(id, 1).await;
    assert_eq!(
        (h.live_vms("backend"), h.live_vms("db")),
        (0, 1),
        "then backend"
    );
    h.tick(id, 1).await;
    assert_eq!(h.live_vms("db"), 0);
    h.tick(id, 1).await;
    assert!(
        matches!(h.engine.service(id), Err(EngineError::NotFound(_))),
        "the service is gone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watchdog_follows_done_and_failed_vms() {
    let h = harness(600_000).await;
    let id = h.engine.instantiate(&seed("none")).await.unwrap();
    h.tick(id, 1).await;
    assert_eq!(h.state(id), ServiceState::Running);
    let backend: Vec<String> = h
        .sim
        .views()
        .into_iter()
        .filter(|v| v.role_name == "backend")
        .map(|v| v.id)
        .collect();

    // A VM terminated behind Flotilla's back leaves the role.
    h.sim.force_state(&backend[0], State::Done, None).unwrap();
    h.tick(id, 1).await;
    let service = h.engine.service(id).unwrap();
    let role = service.role("backend").unwrap();
    assert_eq!((role.cardinality, role.nodes.len()), (1, 1));
    assert_eq!(service.state, ServiceState::Running);

    // A FAILED VM puts the role and service in WARNING until it recovers.
    h.sim
        .force_state(&backend[1], State::Failed, Some("host down".into()))
        .unwrap();
    h.tick(id, 1).await;
    assert_eq!(
        (h.state(id), h.role_state(id, "backend")),
        (ServiceState::Warning, RoleState::Warning)
    );
    h.sim
        .force_state(&backend[1], State::Running, None)
        .unwrap();
    h.tick(id, 1).await;
    assert_eq!(
        (h.state(id), h.role_state(id, "backend")),
        (ServiceState::Running, RoleState::Running)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_whose_roles_empty_deletes_itself_when_asked_to() {
    let h = harness(600_000).await;
    let template = json!({"name": "ephemeral", "automatic_deletion": true,
        "roles": [{"name": "job", "type": "vm", "cardinality": 1, "template_id": 0}]});
    let id = h.engine.instantiate(&template).await.unwrap();
    h.tick(id, 1).await;
    assert_eq!(h.state(id), ServiceState::Running);
    let vm = h.sim.views()[0].id.clone();
    h.sim.force_state(&vm, State::Done, None).unwrap();
    h.tick(id, 2).await;
    assert!(matches!(
        h.engine.service(id),
        Err(EngineError::NotFound(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_templates_are_refused_and_change_nothing() {
    let h = harness(600_000).await;
    let mut bad = seed("straight");
    bad["roles"][2]["template_id"] = json!(42);
    bad["roles"][3]["parents"] = json!(["ghost"]);
    match h.engine.instantiate(&bad).await {
        Err(EngineError::Invalid(errors)) => {
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert_eq!(errors[0].field, "roles[3].parents[0]");
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
    let mut unknown = seed("straight");
    unknown["roles"][2]["template_id"] = json!(42);
    match h.engine.instantiate(&unknown).await {
        Err(EngineError::Invalid(errors)) => {
            assert_eq!(
                errors[0].to_string(),
                "roles[2].template_id: VM template 42 does not exist"
            )
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
    assert!(h.engine.service_ids().unwrap().is_empty());
    assert!(h.sim.views().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_are_added_and_removed_on_a_running_service() {
    let h = harness(600_000).await;
    let id = h.engine.instantiate(&seed("straight")).await.unwrap();
    h.tick(id, 3).await;
    let cache = json!({"name": "cache", "type": "vm", "cardinality": 2, "template_id": 0, "parents": ["db"]});
    h.engine.add_role(id, &cache).await.unwrap();
    assert_eq!(h.state(id), ServiceState::Deploying);
    assert_eq!(h.live_vms("cache"), 2);
    h.tick(id, 1).await;
    assert_eq!(h.state(id), ServiceState::Running);

    let duplicate = json!({"name": "cache", "type": "vm", "cardinality": 1, "template_id": 0});
    let err = h
        .engine
        .add_role(id, &duplicate)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("role name `cache` is repeated"), "{err}");
    let err = h
        .engine
        .remove_role(id, "db")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("`db` is a parent of"), "{err}");

    h.engine.remove_role(id, "cache").await.unwrap();
    assert_eq!(h.state(id), ServiceState::Undeploying);
    h.tick(id, 1).await;
    assert_eq!(h.state(id), ServiceState::Running);
    let service = h.engine.service(id).unwrap();
    assert!(service.role("cache").is_none() && service.template.role("cache").is_none());
    assert_eq!(h.live_vms("cache"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_refuses_immutable_attributes_and_rename_changes_the_name() {
    let h = harness(600_000).await;
    let id = h.engine.instantiate(&seed("straight")).await.unwrap();
    h.tick(id, 3).await;
    let mut changed = seed("none");
    changed["roles"][1]["cardinality"] = json!(3);
    changed["roles"][0]["parents"] = json!([]);
    let err = h.engine.update(id, &changed).await.unwrap_err().to_string();
    for expected in [
        "deployment: cannot change on a live service",
        "roles[1].cardinality: cannot change by update (use scale)",
        "roles[0].parents: cannot change on a live service",
    ] {
        assert!(err.contains(expected), "missing `{expected}` in {err}");
    }
    let mut allowed = seed("straight");
    allowed["roles"][1]["max_vms"] = json!(8);
    allowed["description"] = json!("now with room to grow");
    h.engine.update(id, &allowed).await.unwrap();
    assert_eq!(
        h.engine
            .service(id)
            .unwrap()
            .template
            .role("backend")
            .unwrap()
            .max_vms,
        Some(8)
    );
    h.engine.rename(id, "shop").await.unwrap();
    assert_eq!(h.engine.service(id).unwrap().name, "shop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_actions_run_in_batches_period_seconds_apart() {
    let h = harness(600_000).await;
    let template = json!({"name": "fleet", "roles": [{"name": "worker", "type": "vm", "cardinality": 5, "template_id": 0}]});
    let id = h.engine.instantiate(&template).await.unwrap();
    h.tick(id, 1).await;
    let powered_off = |h: &Harness| {
        h.sim
            .views()
            .iter()
            .filter(|v| v.state == State::Poweroff)
            .count()
    };

    h.engine
        .role_action(id, "worker", &batched("poweroff", 60, 2))
        .await
        .unwrap();
    assert_eq!(powered_off(&h), 2, "the first batch at once");
    h.clock.advance_ms(59_000);
    h.tick(id, 1).await;
    assert_eq!(powered_off(&h), 2);
    h.clock.advance_ms(1_000);
    h.tick(id, 1).await;
    assert_eq!(powered_off(&h), 4, "the second batch a period later");
    h.clock.advance_ms(60_000);
    h.tick(id, 1).await;
    assert_eq!(powered_off(&h), 5);
    // Actions are typed: a name that is no VM action never reaches the
    // engine (the API refuses it; see tests/api.rs).
    let err = flotilla::model::VmAction::try_from("explode".to_string()).unwrap_err();
    assert!(err.starts_with("`explode` is not a VM action"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciliation_terminates_vms_no_service_owns() {
    let h = harness(600_000).await;
    let id = h.engine.instantiate(&seed("none")).await.unwrap();
    // A VM made under a service operation id that no service recorded:
    // what a crash between a create and a deleted service can leave.
    let orphan = h
        .sim
        .create(flotilla::sim::CreateRequest {
            operation_id: "service-77-web-0".into(),
            service_id: 77,
            role_name: "web".into(),
            name: "web_0_(service_77)".into(),
            template: json!({}),
            hold: false,
        })
        .unwrap();
    let (adopted, orphans) = h.engine.reconcile().await.unwrap();
    assert_eq!((adopted, orphans), (0, 1));
    let vm = h.sim.views().into_iter().find(|v| v.id == orphan).unwrap();
    assert_eq!(vm.state, State::Done);
    // The service's own VMs are untouched.
    h.tick(id, 1).await;
    assert_eq!(h.state(id), ServiceState::Running);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_instantiations_get_distinct_services() {
    let h = harness(600_000).await;
    let template = json!({"name": "many", "roles": [{"name": "r", "type": "vm", "cardinality": 1, "template_id": 0}]});
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let engine = h.engine.clone();
        let template = template.clone();
        tasks.spawn(async move { engine.instantiate(&template).await.unwrap() });
    }
    let mut ids = Vec::new();
    while let Some(id) = tasks.join_next().await {
        ids.push(id.unwrap());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 20);
    assert_eq!(h.engine.service_ids().unwrap().len(), 20);
    assert_eq!(h.sim.views().len(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vms_get_the_merged_template_with_inputs_identity_and_parent_values() {
    let h = harness(600_000).await;
    let template = json!({
        "name": "shop",
        "deployment": "straight",
        "user_inputs": {"DB_USER": "M|text|database user", "WORKERS": "O|range|workers|1..8|2"},
        "user_inputs_values": {"DB_USER": "app", "WORKERS": 2},
        "roles": [
            {"name": "db", "type": "vm", "cardinality": 1, "template_id": 0,
             "template_contents": {"MEMORY": "2048", "CONTEXT": {"DB_NAME": "orders"}}},
            {"name": "web", "type": "vm", "cardinality": 1, "template_id": 0, "parents": ["db"],
             "user_inputs_values": {"WORKERS": 4},
             "template_contents": {"CONTEXT": {"DB": "${db.template.context.db_name}@${db.template.memory}"}}}
        ]
    });
    let id = h.engine.instantiate(&template).await.unwrap();
    h.tick(id, 2).await;
    let web = h
        .sim
        .views()
        .into_iter()
        .find(|v| v.role_name == "web")
        .unwrap();
    let t = &web.template;
    assert_eq!(t["CPU"], "1", "from the VM template");
    assert_eq!(
        t["MEMORY"], "512",
        "web's own VM template, not db's contents"
    );
    assert_eq!(t["SERVICE_ID"], id.to_string());
    assert_eq!(t["ROLE_NAME"], "web");
    assert_eq!(t["DB_USER"], "app");
    assert_eq!(t["WORKERS"], "4", "the role's input wins");
    assert_eq!(t["CONTEXT"]["WORKERS"], "$WORKERS");
    assert_eq!(
        t["CONTEXT"]["DB"], "orders@2048",
        "resolved from the parent's template"
    );
    assert_eq!(web.name, format!("web_0_(service_{id})"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_terminate_falls_back_to_terminate_hard() {
    let h = harness(600_000).await;
    let template = json!({"name": "stubborn",
        "roles": [{"name": "app", "type": "vm", "cardinality": 2, "template_id": 0,
                   "template_contents": {"SIM_FAIL": "terminate"}}]});
    let id = h.engine.instantiate(&template).await.unwrap();
    h.tick(id, 1).await;
    assert_eq!(h.state(id), ServiceState::Running);
    h.engine.undeploy(id, false).await.unwrap();
    assert_eq!(h.live_vms("app"), 0, "terminate-hard went through");
    let log = h.engine.service(id).unwrap().log;
    assert!(
        log.iter()
            .any(|l| l.message.contains("trying terminate-hard")),
        "{log:#?}"
    );
    h.tick(id, 1).await;
    assert!(matches!(
        h.engine.service(id),
        Err(EngineError::NotFound(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_vm_in_a_batch_of_creates_does_not_stop_the_others() {
    let h = harness(600_000).await;
    // Every role deploys at once, so the three creates go to the driver in
    // one call; the hypervisor refuses the middle role's VM.
    let template = json!({"name": "mixed", "deployment": "none",
    "roles": [
        {"name": "first", "type": "vm", "cardinality": 1, "template_id": 0},
        {"name": "refused", "type": "vm", "cardinality": 1, "template_id": 0,
         "template_contents": {"SIM_FAIL": "create"}},
        {"name": "last", "type": "vm", "cardinality": 1, "template_id": 0}
    ]});
    let id = h.engine.instantiate(&template).await.unwrap();
    let vms = h.vms();
    assert_eq!(
        vms.keys().collect::<Vec<_>>(),
        ["first", "last"],
        "the VMs around the refused one are created"
    );
    let service = h.engine.service(id).unwrap();
    for role in ["first", "last"] {
        let nodes = &service.role(role).unwrap().nodes;
        assert!(nodes.iter().all(|n| n.vm_id.is_some()), "{role}: {nodes:?}");
    }
    let refused = &service.role("refused").unwrap().nodes;
    assert!(refused.iter().all(|n| n.vm_id.is_none()), "{refused:?}");
    assert!(
        service
            .log
            .iter()
            .any(|l| l.message.contains("creating VM") && l.message.contains("SIM_FAIL=create")),
        "{:#?}",
        service.log
    );
    assert_eq!(h.role_state(id, "refused"), RoleState::FailedDeploying);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_state_operations_are_refused_and_change_nothing() {
    let h = harness(600_000).await;
    let template = json!({"name": "slow",
        "roles": [{"name": "app", "type": "vm", "cardinality": 1, "template_id": 0, "min_vms": 1, "max_vms": 3,
                   "template_contents": {"SIM_BOOT_SECONDS": 60}}]});
    let id = h.engine.instantiate(&template).await.unwrap();
    let before = h.engine.service(id).unwrap();
    for result in [
        h.engine.scale(id, "app", 2, false).await.map(|_| ()),
        h.engine.release(id).await.map(|_| ()),
        h.engine.undeploy(id, false).await.map(|_| ()),
    ] {
        assert!(
            matches!(
                result,
                Err(EngineError::Lifecycle(LifecycleError::WrongState(_)))
            ),
            "{result:?}"
        );
    }
    let after = h.engine.service(id).unwrap();
    assert_eq!(before.roles, after.roles);
    // recover --delete works from any state.
    h.engine.undeploy(id, true).await.unwrap();
    h.tick(id, 1).await;
    assert!(matches!(
        h.engine.service(id),
        Err(EngineError::NotFound(_))
    ));
    assert_eq!(h.live_vms("app"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_driver_fault_fails_the_service_with_the_reason_in_its_log() {
    let host = PluginHost::new(None).unwrap();
    let path = builtin::dist_path("trap");
    let manifest = flotilla::plugin::Manifest::parse(
        &std::fs::read_to_string(path.with_extension("toml")).unwrap(),
    )
    .unwrap();
    let plugin = host
        .load(manifest, &std::fs::read(&path).unwrap(), Grant::default())
        .unwrap();
    let store = SqliteStore::in_memory().unwrap().boxed();
    store
        .create_vm_template("small", Default::default(), serde_json::Map::new())
        .unwrap();
    let clock = ManualClock::new(0);
    let engine = Engine::new(
        store,
        Arc::new(Driver::start(plugin).unwrap()),
        clock,
        600_000,
    );
    let template = json!({"name": "doomed", "roles": [{"name": "app", "type": "vm", "cardinality": 1, "template_id": 0}]});
    let id = engine.instantiate(&template).await.unwrap();
    let service = engine.service(id).unwrap();
    assert_eq!(service.state, ServiceState::FailedDeploying);
    let line = service
        .log
        .iter()
        .find(|l| l.message.contains("creating VM"))
        .unwrap();
    assert!(
        line.message.contains("app_0_(service_0)"),
        "{}",
        line.message
    );
    assert!(
        line.message
            .contains("plugin `trap` fault (trap): panicked at"),
        "{}",
        line.message
    );
    // The engine still answers.
    assert_eq!(engine.service_ids().unwrap(), [id]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instantiate_merges_the_request_and_fills_user_inputs() {
    let h = harness(600_000).await;
    let template = json!({
        "name": "app",
        "user_inputs": {"DB_USER": "M|text|database user", "WORKERS": "O|range|workers|1..8|2", "MOTD": "O|text|message"},
        "roles": [{"name": "web", "type": "vm", "cardinality": 1, "template_id": 0,
                   "user_inputs": {"PORT": "M|number|port||8080"}}]
    });
    // A mandatory input without a value or default is refused, naming it.
    match h.engine.instantiate_merged(&template, &json!({})).await {
        Err(EngineError::Invalid(e)) => assert_eq!(
            e[0].to_string(),
            "user_inputs_values.DB_USER: is required (a mandatory user input)"
        ),
        other => panic!("{:?}", other),
    }
    let merge = json!({"name": "app-prod", "user_inputs_values": {"DB_USER": "prod"},
                       "roles": [{"name": "web", "cardinality": 2}]});
    let id = h
        .engine
        .instantiate_merged(&template, &merge)
        .await
        .unwrap();
    let service = h.engine.service(id).unwrap();
    assert_eq!(service.name, "app-prod");
    assert_eq!(service.role("web").unwrap().cardinality, 2);
    let vm = &h.sim.views()[0];
    assert_eq!(vm.template["DB_USER"], "prod");
    assert_eq!(
        vm.template["WORKERS"], "2",
        "an optional input takes its default"
    );
    assert_eq!(vm.template["PORT"], "8080");
    assert!(
        vm.template.get("MOTD").is_none(),
        "an optional input without a default is left out"
    );
    let bad = json!({"user_inputs_values": {"DB_USER": "x", "WORKERS": 99}});
    match h.engine.instantiate_merged(&template, &bad).await {
        Err(EngineError::Invalid(e)) => assert_eq!(
            e[0].to_string(),
            "user_inputs_values.WORKERS: 99 is outside 1..8"
        ),
        other => panic!("{:?}", other),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_done_deletes_only_done_services() {
    let h = harness(600_000).await;
    let template = json!({"name": "keep", "roles": [{"name": "r", "type": "vm", "cardinality": 1, "template_id": 0}]});
    let running = h.engine.instantiate(&template).await.unwrap();
    let mut done = flotilla::service::lifecycle::Service::new(
        41,
        flotilla::service::parse_template(&template).unwrap(),
        0,
        600_000,
    );
    done.state = ServiceState::Done;
    h.engine.store().save_service(&done).unwrap();
    assert_eq!(h.engine.purge_done().await.unwrap(), [41]);
    assert_eq!(h.engine.service_ids().unwrap(), [running]);
}

fn batched(
    action: &str,
    period_s: u64,
    number: u64,
) -> flotilla::service::lifecycle::VmActionRequest {
    flotilla::service::lifecycle::VmActionRequest {
        action: flotilla::model::VmAction::parse(action).expect("a VM action"),
        args: Vec::new(),
        period_s,
        number,
    }
}
