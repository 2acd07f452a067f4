//! The plugin host with real Wasm components built from plugins/: the sim
//! driver passes its conformance suite over real HTTP on loopback, and each
//! fault fixture is contained and reported with its fault named.

#[path = "common/mod.rs"]
mod common;

use flotilla::conformance;
use flotilla::plugin::{
    CallError, Driver, FaultKind, Grant, Manifest, PluginHost, PluginKind, Policy, VmSpec, builtin,
};
use flotilla::sim_hypervisor::{SimHypervisor, SimOptions};
use std::path::PathBuf;

fn dist(id: &str) -> PathBuf {
    builtin::dist_path(id)
}

fn fixture(id: &str) -> (Manifest, Vec<u8>) {
    let manifest = std::fs::read_to_string(dist(id).with_extension("toml")).unwrap();
    (
        Manifest::parse(&manifest).unwrap(),
        std::fs::read(dist(id)).unwrap(),
    )
}

fn spec(op: &str) -> VmSpec {
    VmSpec {
        operation_id: op.into(),
        service_id: 1,
        role_name: "web".into(),
        vm_name: format!("web_{op}"),
        template: "{}".into(),
        hold: false,
    }
}

async fn sim_endpoint() -> String {
    let sim = SimHypervisor::open(SimOptions::default()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    format!(
        "http://{}",
        flotilla::sim_hypervisor::spawn(sim, listener).unwrap()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sim_driver_passes_its_conformance_suite() {
    let host = PluginHost::new(None).unwrap();
    let report = conformance::check_file(&host, &dist("sim"), None)
        .await
        .unwrap();
    assert!(report.passed(), "{}", report.render());
    assert_eq!(report.kind, PluginKind::Driver);
    assert!(report.rows.len() >= 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_builtin_policy_and_network_mode_pass_theirs() {
    let host = PluginHost::new(None).unwrap();
    for id in ["threshold", "static"] {
        let report = conformance::check_file(&host, &dist(id), None)
            .await
            .unwrap();
        assert!(report.passed(), "{}", report.render());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_fault_fixture_fails_with_its_fault_named_and_the_process_carries_on() {
    let host = PluginHost::new(None).unwrap();
    for (id, fault) in [
        ("trap", "trap"),
        ("spin-loop", "timeout"),
        ("alloc-bomb", "memory-cap"),
        ("forbidden-host", "capability-denied"),
    ] {
        let report = conformance::check_file(&host, &dist(id), None)
            .await
            .unwrap();
        assert!(!report.passed(), "{id} passed:\n{}", report.render());
        assert_eq!(
            report.faults().first().map(String::as_str),
            Some(fault),
            "{}",
            report.render()
        );
        assert!(report.render().contains(&format!("fault ({fault})")));
        // info() does not misbehave, so the plugin did load and answer.
        assert!(report.rows[0].passed, "{}", report.render());
    }
    // Same process, same host: a good plugin still works.
    let report = conformance::check_file(&host, &dist("sim"), None)
        .await
        .unwrap();
    assert!(report.passed(), "{}", report.render());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trap_poisons_the_instance_and_the_next_call_gets_a_fresh_one() {
    let host = PluginHost::new(None).unwrap();
    let (manifest, wasm) = fixture("trap");
    let plugin = host.load(manifest, &wasm, Grant::default()).unwrap();
    let driver = Driver::start(plugin.clone()).unwrap();
    let err = driver.create(spec("t1")).await.unwrap_err();
    let fault = err.fault().expect("a fault, not an error");
    assert_eq!(fault.kind, FaultKind::Trap);
    assert_eq!(fault.plugin, "trap");
    assert!(
        fault.reason.contains("refusing to create web_t1"),
        "{}",
        fault.reason
    );
    // A fresh instance answers.
    assert_eq!(driver.info().await.unwrap().name, "trap");
    let [calls, _, faults, started] = plugin.stats.snapshot();
    assert_eq!((calls, faults, started), (2, 1, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_hosts_need_both_the_manifest_and_the_grant() {
    let endpoint = sim_endpoint().await;
    let host = PluginHost::new(None).unwrap();
    let sim = builtin::find("sim").unwrap();

    let mut config_only = Grant::default();
    config_only
        .config
        .insert("endpoint".into(), endpoint.clone());
    let ungranted = Driver::start(
        host.load(sim.manifest(), sim.wasm, config_only.clone())
            .unwrap(),
    )
    .unwrap();
    match ungranted.create(spec("a")).await {
        Err(CallError::Fault(f)) => {
            assert_eq!(f.kind, FaultKind::CapabilityDenied);
            assert!(f.reason.contains("not granted"), "{}", f.reason);
        }
        other => panic!("expected a capability fault, got {other:?}"),
    }

    let mut granted = config_only;
    granted.allowed_outbound_hosts.push(endpoint.clone());
    let plugin = host.load(sim.manifest(), sim.wasm, granted).unwrap();
    assert_eq!(plugin.effective_outbound_hosts(), vec![endpoint.clone()]);
    let driver = Driver::start(plugin).unwrap();
    let id = driver.create(spec("a")).await.unwrap();
    assert_eq!(driver.poll(vec![id.clone()]).await.unwrap()[0].id, id);

    // Granting a host the manifest does not declare gives nothing.
    let (manifest, wasm) = fixture("forbidden-host");
    let mut grant = Grant::default();
    grant.allowed_outbound_hosts.push(endpoint);
    let plugin = host.load(manifest, &wasm, grant).unwrap();
    assert!(plugin.effective_outbound_hosts().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_sets_the_memory_cap() {
    let host = PluginHost::new(None).unwrap();
    let (manifest, wasm) = fixture("alloc-bomb");
    let mut grant = Grant::default();
    grant.limits.memory_mb = Some(16);
    let plugin = host.load(manifest, &wasm, grant).unwrap();
    assert_eq!(plugin.limits().memory_bytes, 16 << 20);
    let network = flotilla::plugin::Network::start(plugin).unwrap();
    let err = network
        .deploy(flotilla::plugin::NetworkRequest {
            operation_id: "x".into(),
            service_id: 1,
            name: "Public".into(),
            source: flotilla::plugin::NetworkSource::Existing("1".into()),
            extra: String::new(),
        })
        .await
        .unwrap_err();
    let fault = err.fault().unwrap();
    assert_eq!(fault.kind, FaultKind::MemoryCap);
    assert!(fault.reason.contains("16 MiB"), "{}", fault.reason);
}

#[test]
fn the_wasm_policy_answers_as_the_native_build_does() {
    use flotilla_plugin_sdk::policy::Policy as _;
    let host = PluginHost::new(None).unwrap();
    let b = builtin::find("threshold").unwrap();
    let policy = Policy::new(host.load(b.manifest(), b.wasm, Grant::default()).unwrap()).unwrap();
    let input = |cpu: f64| flotilla::plugin::Evaluation {
        role: flotilla::plugin::RoleView {
            service_id: 1,
            role_name: "web".into(),
            cardinality: 3,
            min_vms: 1,
            max_vms: 5,
            cooldown: 60,
        },
        params: vec![flotilla::plugin::KeyValue {
            key: "above".into(),
            value: "70".into(),
        }],
        vms: vec![flotilla::plugin::VmSample {
            vm_id: "1".into(),
            values: vec![flotilla::plugin::Metric {
                name: "CPU".into(),
                value: cpu,
            }],
        }],
        now: 1,
        state: None,
    };
    let wasm = policy.evaluate_blocking(&input(85.25)).unwrap();
    assert_eq!(wasm.desired, Some(4));
    assert_eq!(wasm.trace, "CPU[85.25] > 70");

    use flotilla_plugin_sdk::policy as sdk;
    let native_input = sdk::Evaluation {
        role: sdk::RoleView {
            service_id: 1,
            role_name: "web".into(),
            cardinality: 3,
            min_vms: 1,
            max_vms: 5,
            cooldown: 60,
        },
        params: vec![sdk::KeyValue::new("above", "70")],
        vms: vec![sdk::VmSample {
            vm_id: "1".into(),
            values: vec![sdk::Metric::new("CPU", 85.25)],
        }],
        now: 1,
        state: None,
    };
    let native = flotilla_elasticity_threshold::Threshold
        .evaluate(native_input)
        .unwrap();
    assert_eq!((native.desired, native.trace), (wasm.desired, wasm.trace));

    // A bad parameter is an error the policy returns, not a fault.
    let mut bad = input(50.0);
    bad.params[0].value = "lots".into();
    match policy.evaluate_blocking(&bad) {
        Err(CallError::Plugin(e)) => assert!(e.to_string().contains("above"), "{e}"),
        other => panic!("expected an invalid-input error, got {other:?}"),
    }
}

#[test]
fn the_expression_policy_evaluates_the_longest_and_deepest_expressions_the_grammar_allows() {
    use flotilla_policy::expression::{MAX_DEPTH, MAX_LENGTH};
    let host = PluginHost::new(None).unwrap();
    let b = builtin::find("expression").unwrap();
    let policy = Policy::new(host.load(b.manifest(), b.wasm, Grant::default()).unwrap()).unwrap();
    // As long as allowed, one comparison after another; and nested as
    // deep as allowed. The policy's stack is small (host/builtin's
    // POLICY_STACK): neither may run out of it.
    let mut long = String::from("CPU > 1");
    while long.len() + " && CPU > 1".len() <= MAX_LENGTH {
        long.push_str(" && CPU > 1");
    }
    let deep = format!(
        "{}CPU > 1{}",
        "!(".repeat(MAX_DEPTH / 2 - 1),
        ")".repeat(MAX_DEPTH / 2 - 1)
    );
    let nested = format!(
        "{}CPU > 1{}",
        "(".repeat(MAX_DEPTH - 1),
        ")".repeat(MAX_DEPTH - 1)
    );
    for expression in [long, deep, nested] {
        let input = flotilla::plugin::Evaluation {
            role: flotilla::plugin::RoleView {
                service_id: 1,
                role_name: "web".into(),
                cardinality: 3,
                min_vms: 1,
                max_vms: 5,
                cooldown: 60,
            },
            params: [
                ("type", "CHANGE"),
                ("adjust", "1"),
                ("expression", &expression),
            ]
            .into_iter()
            .map(|(key, value)| flotilla::plugin::KeyValue {
                key: key.into(),
                value: value.into(),
            })
            .collect(),
            vms: vec![flotilla::plugin::VmSample {
                vm_id: "1".into(),
                values: vec![flotilla::plugin::Metric {
                    name: "CPU".into(),
                    value: 50.0,
                }],
            }],
            now: 1,
            state: None,
        };
        let native = flotilla_policy::builtin::evaluate(&input);
        assert!(native.is_ok(), "{native:?}: the grammar allows it");
        let wasm = policy.evaluate_blocking(&input);
        assert!(wasm.is_ok(), "{expression:.60}…: {wasm:?}");
        assert_eq!(wasm.unwrap().trace, native.unwrap().trace);
    }
}

#[test]
fn a_policy_without_wasi_faults_as_one_with_it_does() {
    let host = PluginHost::new(None).unwrap();
    let input = |fault: &str| flotilla::plugin::Evaluation {
        role: flotilla::plugin::RoleView {
            service_id: 1,
            role_name: "web".into(),
            cardinality: 3,
            min_vms: 1,
            max_vms: 5,
            cooldown: 60,
        },
        params: vec![flotilla::plugin::KeyValue {
            key: "fault".into(),
            value: fault.into(),
        }],
        vms: vec![],
        now: 1,
        state: None,
    };
    // The same fixture built for wasm32-wasip2 (its panic message goes to
    // the stderr the host captures) and without WASI (it goes through the
    // host's log).
    for id in ["policy-fault", "policy-fault-wasi-free"] {
        let (manifest, wasm) = fixture(id);
        let policy = Policy::new(host.load(manifest, &wasm, Grant::default()).unwrap()).unwrap();
        let fault = |name: &str| match policy.evaluate_blocking(&input(name)) {
            Err(CallError::Fault(f)) => f,
            other => panic!("{id}, fault={name}: expected a fault, got {other:?}"),
        };
        let trap = fault("trap");
        assert_eq!(trap.kind, FaultKind::Trap, "{id}");
        assert!(
            trap.reason.starts_with("panicked at "),
            "{id}: {}",
            trap.reason
        );
        assert!(
            trap.reason.ends_with(": fixture: evaluate traps"),
            "{id}: {}",
            trap.reason
        );
        assert_eq!(fault("loop").kind, FaultKind::Timeout, "{id}");
        assert_eq!(fault("memory").kind, FaultKind::MemoryCap, "{id}");
        // A fresh instance after each fault answers.
        let answer = policy.evaluate_blocking(&input("none")).unwrap();
        assert_eq!(answer.desired, Some(4), "{id}");
    }
}

#[test]
fn precompiled_artifacts_are_cached_and_a_corrupt_one_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let host = PluginHost::new(Some(dir.path().to_path_buf())).unwrap();
    let b = builtin::find("threshold").unwrap();
    host.compile(b.wasm).unwrap();
    let path = host.cache_path(dir.path(), b.wasm);
    assert!(path.exists(), "no artifact at {}", path.display());
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    assert!(name.ends_with(".cwasm") && name.contains('-'), "{name}");

    std::fs::write(&path, b"not an artifact").unwrap();
    let again = PluginHost::new(Some(dir.path().to_path_buf())).unwrap();
    again.compile(b.wasm).unwrap();
    assert!(
        std::fs::read(&path).unwrap().len() > 1000,
        "the corrupt artifact was not replaced"
    );
    // And a plugin loads from it.
    assert!(again.load(b.manifest(), b.wasm, Grant::default()).is_ok());
}

#[test]
fn a_component_of_another_kind_than_its_manifest_says_is_refused() {
    let host = PluginHost::new(None).unwrap();
    let threshold = builtin::find("threshold").unwrap();
    let mut manifest = builtin::find("sim").unwrap().manifest();
    manifest.id = "liar".into();
    let err = host
        .load(manifest, threshold.wasm, Grant::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("implements a elasticity plugin") || err.contains("elasticity"),
        "{err}"
    );
    let err = host
        .load(
            builtin::find("sim").unwrap().manifest(),
            b"\0asm garbage",
            Grant::default(),
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a valid component"), "{err}");
}

/// The `exec-probe` fixture makes one host-process call per create; the
/// answer, or the host's refusal.
async fn probe(driver: &Driver, call: serde_json::Value) -> Result<String, String> {
    let mut s = spec("probe");
    s.template = call.to_string();
    driver.create(s).await.map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_processes_need_the_grant_and_only_the_granted_program_and_arguments_run() {
    use serde_json::json;
    let host = PluginHost::new(None).unwrap();
    let (manifest, wasm) = fixture("exec-probe");
    let truth = ["/usr/bin/true", "/bin/true"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("true(1) is installed");

    // No grant: nothing starts, though the manifest declares programs.
    let ungranted = Driver::start(
        host.load(manifest.clone(), &wasm, Grant::default())
            .unwrap(),
    )
    .unwrap();
    let refused = probe(
        &ungranted,
        json!({"call": "run", "program": "true", "args": []}),
    )
    .await;
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.contains("granted no program")),
        "{refused:?}"
    );

    // `true` granted with three argument groups; `sh` declared, not granted.
    let mut grant = Grant::default();
    let group = |g: &[&str]| g.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    grant.exec.insert(
        truth.into(),
        flotilla::plugin::ExecGrant {
            args: vec![
                group(&["--version"]),
                group(&["ok-*"]),
                group(&["-b", "base-*"]),
            ],
        },
    );
    let plugin = host.load(manifest.clone(), &wasm, grant).unwrap();
    assert_eq!(plugin.effective_programs(), vec![truth.to_string()]);
    let driver = Driver::start(plugin).unwrap();
    assert_eq!(
        probe(
            &driver,
            json!({"call": "run", "program": "true", "args": ["ok-1", "--version"]})
        )
        .await,
        Ok("ok: exit 0".into())
    );
    let other = probe(
        &driver,
        json!({"call": "run", "program": "sh", "args": ["-c", "id"]}),
    )
    .await;
    assert!(
        other
            .as_ref()
            .is_err_and(|e| e.contains("`sh`: not granted")),
        "{other:?}"
    );
    let spawned = probe(
        &driver,
        json!({"call": "spawn", "program": "/bin/sh", "args": []}),
    )
    .await;
    assert!(spawned.is_err(), "{spawned:?}");
    let bad_arg = probe(
        &driver,
        json!({"call": "run", "program": "true", "args": ["ok-1", "; rm -rf /"]}),
    )
    .await;
    assert!(
        bad_arg.as_ref().is_err_and(|e| e.contains("argument 1")),
        "{bad_arg:?}"
    );
    // A pattern matches only at its own place: `base-*` is granted as the
    // value of `-b`, `ok-*` alone; neither serves for the other.
    assert_eq!(
        probe(
            &driver,
            json!({"call": "run", "program": "true", "args": ["-b", "base-1", "ok-2"]})
        )
        .await,
        Ok("ok: exit 0".into())
    );
    for (args, why) in [
        (json!(["-b", "ok-1"]), "argument 1 `ok-1`"),
        (json!(["base-1"]), "argument 0 `base-1`"),
        (json!(["ok-1", "-b"]), "argument 1 `-b`"),
    ] {
        let misplaced = probe(
            &driver,
            json!({"call": "run", "program": "true", "args": args}),
        )
        .await;
        assert!(
            misplaced.as_ref().is_err_and(|e| e.contains(why)),
            "{args}: {misplaced:?}"
        );
    }
    // Processes of other programs cannot be watched or signalled, nor
    // sockets outside a granted directory reached.
    let init = probe(&driver, json!({"call": "kill", "pid": 1})).await;
    assert!(
        init.as_ref()
            .is_err_and(|e| e.contains("does not run a granted program")),
        "{init:?}"
    );
    let stats = probe(&driver, json!({"call": "stats", "pid": std::process::id()})).await;
    assert!(stats.is_err(), "{stats:?}");
    let dial = probe(
        &driver,
        json!({"call": "exchange", "socket": "/run/systemd/private"}),
    )
    .await;
    assert!(
        dial.as_ref()
            .is_err_and(|e| e.contains("not inside a granted directory")),
        "{dial:?}"
    );
}

/// The exec-probe fixture as the engine's driver of the real binary, its
/// files in the data directory's plugins folder, and `grant` for it.
fn probe_server(grant: &str) -> common::Flotilla {
    let data = tempfile::tempdir().unwrap();
    let plugins = data.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    for ext in ["wasm", "toml"] {
        std::fs::copy(
            dist("exec-probe").with_extension(ext),
            plugins.join(format!("exec-probe.{ext}")),
        )
        .unwrap();
    }
    let config = format!("[engine]\ndriver = \"exec-probe\"\ntick_ms = 200\n{grant}");
    common::Flotilla::start_in(data, &config)
}

#[test]
fn a_granted_pattern_matches_only_at_its_place_in_the_real_server() {
    use serde_json::json;
    let truth = ["/usr/bin/true", "/bin/true"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("true(1) is installed");
    let f = probe_server(&format!(
        "[plugins.exec-probe.exec.\"{truth}\"]\nargs = [[\"ok-*\"], [\"-b\", \"base-*\"]]\n"
    ));
    // `ok-1` is granted, but not as the value of `-b`: the VM's create is
    // refused with the argument and the reason in the service's log.
    let id = f.deploy(json!({
        "name": "probe",
        "roles": [{"name": "vm", "type": "vm", "cardinality": 1, "template_id": 0,
                   "template_contents": {"call": "run", "program": "true", "args": ["-b", "ok-1"]}}]
    }));
    let expected = format!("argument 1 `ok-1` of {truth}: the grant wants `base-*` there");
    let body = f.wait_body(id, "the create refused", 30, |b| {
        b.to_string().contains(&expected)
    });
    assert!(body.to_string().contains("failed"), "{body}");

    // A grant of an earlier release (a flat list) is refused by `config
    // check`, naming the field and what to write instead.
    let file = f.data.path().join("old.toml");
    std::fs::write(
        &file,
        format!(
            "[engine]\ndriver = \"exec-probe\"\n[plugins.exec-probe.exec.\"{truth}\"]\nargs = [\"ok-*\", \"-b\"]\n"
        ),
    )
    .unwrap();
    let out = std::process::Command::new(common::BIN)
        .args(["config", "check"])
        .arg(&file)
        .arg("--data-dir")
        .arg(f.data.path())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("args: `ok-*` stands alone") && said.contains("exec"),
        "{said}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_qemu_driver_checks_as_refused_until_its_programs_are_granted() {
    let host = PluginHost::new(None).unwrap();
    let report = conformance::check_file(&host, &dist("qemu"), None)
        .await
        .unwrap();
    assert!(report.passed(), "{}", report.render());
    let text = report.render();
    assert!(text.contains("qemu-system-x86_64, qemu-img"), "{text}");
    assert!(
        text.contains("without the operator's grant, no program starts"),
        "{text}"
    );
}

/// `flotilla ARGS` against the server of `f` as oneadmin: the exit status's
/// success, stdout and stderr.
fn flotilla_as_admin(f: &common::Flotilla, args: &[&str]) -> (bool, String, String) {
    let auth = std::fs::read_to_string(f.data.path().join("one_auth")).unwrap();
    let (user, password) = auth.trim().split_once(':').unwrap();
    let url = format!("http://127.0.0.1:{}", f.server.api);
    let out = std::process::Command::new(common::BIN)
        .args(["--url", &url, "--user", user, "--password", password])
        .args(args)
        .env_remove("FLOTILLA_URL")
        .env_remove("ONEFLOW_URL")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// The files uploads left in the data directory.
fn uploads_left(f: &common::Flotilla) -> Vec<PathBuf> {
    std::fs::read_dir(f.data.path().join("uploads"))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default()
}

#[test]
fn an_installed_plugin_is_removed_unless_built_in_or_in_use() {
    use serde_json::json;
    let f = common::Flotilla::start("");
    let tracking = dist("target-tracking");
    let (ok, out, err) = flotilla_as_admin(&f, &["plugin", "install", tracking.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    assert!(uploads_left(&f).is_empty(), "{:?}", uploads_left(&f));
    let installed = f.data.path().join("plugins/target-tracking.wasm");
    assert!(installed.exists());

    // Built in: refused, saying why; nothing changes.
    let (ok, _, err) = flotilla_as_admin(&f, &["plugin", "remove", "threshold"]);
    assert!(!ok && err.contains("built into the server"), "{err}");
    assert_eq!(
        f.call("GET", "/plugins/threshold", serde_json::Value::Null)
            .0,
        200
    );

    // In use by a service's policy: refused, naming the service and role.
    let service = f.deploy(json!({
        "name": "tracked",
        "deployment": "none",
        "roles": [{"name": "web", "type": "vm", "cardinality": 1, "template_id": 0,
                   "min_vms": 1, "max_vms": 3, "cooldown": 1,
                   "elasticity_policies": [{"plugin": "target-tracking",
                                            "params": {"target": 50}}]}]
    }));
    let (status, body) = f.call(
        "DELETE",
        "/plugins/target-tracking",
        serde_json::Value::Null,
    );
    assert_eq!(status, 409, "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains(&format!("service {service} (tracked) role web")),
        "{error}"
    );
    assert!(installed.exists());

    // Once the service is gone, it goes: files, list, and policy.
    let _ = f.wait_state(service, 2);
    assert_eq!(
        f.call(
            "DELETE",
            &format!("/service/{service}"),
            serde_json::Value::Null
        )
        .0,
        204
    );
    f.wait_gone(service);
    let (ok, out, err) = flotilla_as_admin(&f, &["plugin", "remove", "target-tracking"]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("removed target-tracking"), "{out}");
    assert!(!installed.exists());
    assert!(!installed.with_extension("toml").exists());
    assert_eq!(
        f.call("GET", "/plugins/target-tracking", serde_json::Value::Null)
            .0,
        404
    );
    let (status, body) = f.call(
        "DELETE",
        "/plugins/target-tracking",
        serde_json::Value::Null,
    );
    assert_eq!(status, 404, "{body}");

    // A network mode a service's network was made with stays while the
    // network does: undeploying it needs the mode.
    let fixture = dist("network-fault");
    let (ok, out, err) = flotilla_as_admin(&f, &["plugin", "install", fixture.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    let (status, body) = f.call(
        "POST",
        "/vnet",
        json!({"name": "lan", "template": {"AR": [{"TYPE": "IP4", "IP": "10.5.0.1", "SIZE": "10"}]}}),
    );
    assert_eq!(status, 201, "{body}");
    let parent = body["VNET"]["ID"].as_str().unwrap().to_string();
    let networked = f.deploy(json!({
        "name": "networked",
        "networks": {"Private": "M|network|private||"},
        "networks_values": [{"Private": {"reserve_from": parent, "mode": "network-fault",
                                         "extra": "SIZE=2"}}],
        "roles": [{"name": "web", "type": "vm", "cardinality": 1, "template_id": 0,
                   "template_contents": {"NIC": [{"NETWORK_ID": "$Private"}]}}]
    }));
    let (status, body) = f.call("DELETE", "/plugins/network-fault", serde_json::Value::Null);
    assert_eq!(status, 409, "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains(&format!("service {networked} (networked) network Private")),
        "{error}"
    );

    // An upload that does not install leaves no file behind.
    let (status, body) = f.call(
        "POST",
        "/plugins",
        json!({"manifest": "id = \"x\"", "wasm": "not base64!"}),
    );
    assert_eq!(status, 400, "{body}");
    assert!(uploads_left(&f).is_empty(), "{:?}", uploads_left(&f));
}

#[test]
fn plugin_check_counts_refused_evaluations_as_failures() {
    let tracking = dist("target-tracking");
    // The suite's own parameters: target-tracking refuses them (no
    // `target`), and a refusal is not a pass.
    let out = std::process::Command::new(common::BIN)
        .args(["plugin", "check", tracking.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAIL"), "{stdout}");
    assert!(stdout.contains("target: missing"), "{stdout}");
    // What it was doing, on stderr, as it went.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("compiling"), "{stderr}");
    assert!(stderr.contains("evaluates a busy role"), "{stderr}");

    // With the policy's own parameters every check passes.
    let out = std::process::Command::new(common::BIN)
        .args(["plugin", "check", tracking.to_str().unwrap()])
        .args(["--param", "target=50", "--param", "metric=CPU"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!stdout.contains("FAIL"), "{stdout}");
}
