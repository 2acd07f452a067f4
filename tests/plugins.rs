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
    // It drives a fleet, so its hosts were checked too.
    for check in [
        "monitor answers each host on its own, in order",
        "a VM placed on a host is among its VMs",
        "a host that does not answer is unavailable, alone",
    ] {
        assert!(
            report.rows.iter().any(|r| r.name == check),
            "{check}: {}",
            report.render()
        );
    }
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
async fn a_driver_without_hosts_loads_as_before_and_is_refused_hosts_without_a_call() {
    use flotilla::engine::VmBackend;
    use flotilla::plugin::{HostProbe, PluginError};

    let host = PluginHost::new(None).unwrap();
    // A driver for one machine: it exports `driver` only.
    let (manifest, wasm) = fixture("trap");
    let plugin = host.load(manifest, &wasm, Grant::default()).unwrap();
    assert!(!plugin.manages_hosts());
    let driver = Driver::start(plugin.clone()).unwrap();
    assert!(!driver.manages_hosts());
    assert!(driver.list().await.unwrap().is_empty());
    let calls = plugin.stats.snapshot()[0];

    let probes = vec![HostProbe::new("h1", "h1")];
    let refused = driver.monitor_hosts(probes.clone()).await;
    assert!(
        matches!(&refused, Err(CallError::Plugin(PluginError::Unsupported(m))) if m.contains("does not manage hosts")),
        "{refused:?}"
    );
    let backend: &dyn VmBackend = &driver;
    assert!(!backend.manages_hosts());
    match backend.monitor_hosts(probes).await {
        Err(flotilla::model::BackendError::Refused(m)) => {
            assert!(m.contains("does not manage hosts"), "{m}")
        }
        other => panic!("{other:?}"),
    }
    // Refused by the host: the plugin was not called.
    assert_eq!(plugin.stats.snapshot()[0], calls);

    // The sim driver drives a fleet.
    let b = builtin::find("sim").unwrap();
    let sim = host.load(b.manifest(), b.wasm, Grant::default()).unwrap();
    assert!(sim.manages_hosts());
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
    let said = config_check_refuses(&file, f.data.path());
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

/// A link grant of `prefixes` and `underlays`.
fn link_grant(prefixes: &[&str], underlays: &[&str]) -> flotilla::plugin::LinkGrant {
    flotilla::plugin::LinkGrant {
        prefixes: prefixes.iter().map(|s| s.to_string()).collect(),
        underlays: underlays.iter().map(|s| s.to_string()).collect(),
        ip: None,
    }
}

/// The suite's network and one NIC on it.
fn segment_and_port() -> (flotilla::plugin::Segment, flotilla::plugin::Port) {
    (
        flotilla::plugin::Segment {
            network_id: "7".into(),
            attributes: Vec::new(),
        },
        flotilla::plugin::Port {
            key: "a1b2c3".into(),
            network_id: "7".into(),
            mac: "02:00:0a:00:00:07".into(),
        },
    )
}

#[test]
fn the_link_capability_makes_and_removes_real_devices_in_a_network_namespace() {
    use flotilla::plugin::link::{IpCommand, LinkPolicy, Links};
    use flotilla::plugin::{DeviceKind, PluginError, Vxlan};
    common::netns::isolated(|| {
        // The underlay a VXLAN runs over: a dummy interface, or one end of
        // a veth pair where the kernel has no dummy driver.
        let dummy = std::process::Command::new("ip")
            .args(["link", "add", "under0", "type", "dummy"])
            .output()
            .expect("ip runs");
        if !dummy.status.success() {
            common::netns::ip(&[
                "link", "add", "under0", "type", "veth", "peer", "name", "under1",
            ]);
        }
        let host_devices = common::netns::devices();
        let policy = LinkPolicy::granted(&link_grant(&["flb-"], &["under0"]));
        let ip = IpCommand::new("ip");
        let links = Links {
            policy: &policy,
            backend: &ip,
            deadline: std::time::Instant::now() + std::time::Duration::from_secs(30),
        };
        let vxlan = DeviceKind::Vxlan(Vxlan {
            vni: 42,
            underlay: "under0".into(),
            group: Some("239.0.0.1".into()),
            port: 4789,
            mtu: Some(1400),
        });
        links.add("flb-br0", &DeviceKind::Bridge).unwrap();
        links.add("flb-t0", &DeviceKind::Tap).unwrap();
        links.add("flb-vx0", &vxlan).unwrap();
        // Again: the same devices, no error; another kind of the same name
        // is refused.
        links.add("flb-br0", &DeviceKind::Bridge).unwrap();
        links.add("flb-vx0", &vxlan).unwrap();
        assert!(matches!(
            links.add("flb-t0", &DeviceKind::Bridge),
            Err(PluginError::Denied(m)) if m.contains("a tap")
        ));
        links.set_master("flb-t0", Some("flb-br0")).unwrap();
        links.set_master("flb-vx0", Some("flb-br0")).unwrap();
        links.set_up("flb-br0", true).unwrap();
        links.add_address("flb-br0", "10.0.0.1/24").unwrap();
        links.add_address("flb-br0", "10.0.0.1/24").unwrap();

        let listed = links.list().unwrap();
        let by = |name: &str| listed.iter().find(|d| d.name == name).unwrap().clone();
        let names: Vec<&str> = listed.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(
            names.len(),
            3,
            "only the granted prefix is listed: {names:?}"
        );
        let bridge = by("flb-br0");
        assert_eq!(bridge.kind, DeviceKind::Bridge);
        assert!(bridge.up);
        assert_eq!(bridge.addresses, ["10.0.0.1/24"]);
        let tap = by("flb-t0");
        assert_eq!(tap.kind, DeviceKind::Tap);
        assert_eq!(tap.master.as_deref(), Some("flb-br0"));
        assert!(!tap.up, "made down");
        assert_eq!(by("flb-vx0").kind, vxlan);
        assert_eq!(by("flb-vx0").master.as_deref(), Some("flb-br0"));

        links.set_master("flb-t0", None).unwrap();
        assert_eq!(
            links
                .list()
                .unwrap()
                .iter()
                .find(|d| d.name == "flb-t0")
                .unwrap()
                .master,
            None
        );
        for name in ["flb-vx0", "flb-t0", "flb-br0"] {
            links.delete(name).unwrap();
            links.delete(name).unwrap();
        }
        assert!(links.list().unwrap().is_empty());
        assert_eq!(common::netns::devices(), host_devices);

        // Outside the prefix, or over an underlay not granted: refused
        // before any `ip` runs (this one does not exist).
        let nowhere = IpCommand::new("/nonexistent/ip");
        let unrun = Links {
            backend: &nowhere,
            ..links
        };
        let refused = unrun.add("eth-evil0", &DeviceKind::Bridge);
        assert_eq!(
            refused,
            Err(PluginError::Denied(
                "device `eth-evil0`: outside the granted prefixes (flb-)".into()
            ))
        );
        let mut over_lo = vxlan.clone();
        if let DeviceKind::Vxlan(v) = &mut over_lo {
            v.underlay = "lo".into();
        }
        assert!(matches!(
            unrun.add("flb-vx1", &over_lo),
            Err(PluginError::Denied(m)) if m.contains("underlay `lo`")
        ));
        assert!(matches!(
            unrun.set_master("under0", Some("flb-br0")),
            Err(PluginError::Denied(m)) if m.contains("`under0`")
        ));
        assert_eq!(common::netns::devices(), host_devices);
    });
}

#[test]
fn a_plumbing_plugin_asking_outside_its_grant_is_denied_naming_the_device_and_the_grant() {
    use flotilla::plugin::{PluginError, Plumbing};
    let (manifest, wasm) = fixture("link-outside-grant");
    common::netns::isolated(move || {
        let host = PluginHost::new(None).unwrap();
        let (segment, port) = segment_and_port();
        // Granted `flx-`, with the host's own `ip`: the fixture's bridge
        // `eth-evil0` is refused before anything runs.
        let grant = Grant {
            link: Some(link_grant(&["flx-"], &[])),
            ..Grant::default()
        };
        let plugin = host.load(manifest.clone(), &wasm, grant).unwrap();
        assert_eq!(plugin.effective_link().unwrap().prefixes, ["flx-"]);
        let plumbing = Plumbing::start(plugin.clone()).unwrap();
        let (s, p) = (segment.clone(), port.clone());
        let refused = plumbing.with_blocking(move |i| i.pre(None, &s, &p));
        assert_eq!(
            refused,
            Err(CallError::Plugin(PluginError::Denied(
                "device `eth-evil0`: outside the granted prefixes (flx-)".into()
            )))
        );
        assert!(
            common::netns::devices().is_empty(),
            "{:?}",
            common::netns::devices()
        );
        // An error, not a fault: the instance serves on.
        assert_eq!(
            plumbing.with_blocking(|i| i.info()).unwrap().name,
            "link-outside-grant"
        );
        assert_eq!(plugin.stats.snapshot()[2], 0, "no fault");
        // A reloaded grant applies from the next call, on the warm instance.
        let regranted = Grant {
            link: Some(link_grant(&["fly-", "flz-"], &[])),
            ..Grant::default()
        };
        assert_eq!(plugin.regrant(regranted), Ok(true));
        let (s, p) = (segment.clone(), port.clone());
        let refused = plumbing.with_blocking(move |i| i.pre(None, &s, &p));
        assert!(
            matches!(&refused, Err(CallError::Plugin(PluginError::Denied(m)))
                if m.ends_with("outside the granted prefixes (fly-, flz-)")),
            "{refused:?}"
        );

        // No grant at all: refused, naming the grant to write.
        let ungranted =
            Plumbing::start(host.load(manifest, &wasm, Grant::default()).unwrap()).unwrap();
        let refused = ungranted.with_blocking(move |i| i.pre(None, &segment, &port));
        assert!(
            matches!(&refused, Err(CallError::Plugin(PluginError::Denied(m)))
                if m.contains("no [plugins.link-outside-grant.link] grant")),
            "{refused:?}"
        );
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plumbing_suite_fails_on_a_refused_link_call_and_names_it() {
    let host = PluginHost::new(None).unwrap();
    let mut options = conformance::CheckOptions::default();
    let grant = Grant {
        link: Some(link_grant(&["flx-"], &[])),
        ..Grant::default()
    };
    options.grants.insert("link-outside-grant".into(), grant);
    let report = conformance::check_file_with(&host, &dist("link-outside-grant"), None, &options)
        .await
        .unwrap();
    assert_eq!(report.kind, PluginKind::Plumbing);
    assert!(!report.passed(), "{}", report.render());
    assert!(report.rows[0].passed, "info: {}", report.render());
    let pre = &report.rows[1];
    assert!(!pre.passed);
    assert_eq!(
        pre.detail,
        "the host refused a link call (denied): device `eth-evil0`: outside the granted \
         prefixes (flx-)"
    );
    assert!(report.faults().is_empty(), "a refusal, not a fault");

    // Without a grant, what the suite can show is that nothing is made.
    let report = conformance::check_file(&host, &dist("link-outside-grant"), None)
        .await
        .unwrap();
    assert!(report.passed(), "{}", report.render());
    assert!(
        report
            .render()
            .contains("without the operator's link grant, no device is made"),
        "{}",
        report.render()
    );
}

#[test]
fn the_server_lists_a_plumbing_plugins_link_grant_and_plugin_check_reports_its_refusal() {
    let data = tempfile::tempdir().unwrap();
    let plugins = data.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    for ext in ["wasm", "toml"] {
        std::fs::copy(
            dist("link-outside-grant").with_extension(ext),
            plugins.join(format!("link-outside-grant.{ext}")),
        )
        .unwrap();
    }
    let grant =
        "[plugins.link-outside-grant.link]\nprefixes = [\"flx-\"]\nunderlays = [\"eth1\"]\n";
    let f = common::Flotilla::start_in(data, grant);
    let (status, body) = f.call(
        "GET",
        "/plugins/link-outside-grant",
        serde_json::Value::Null,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["kind"], "plumbing", "{body}");
    assert_eq!(body["status"], "loaded", "{body}");
    assert_eq!(
        body["link"]["prefixes"],
        serde_json::json!(["flx-"]),
        "{body}"
    );
    assert_eq!(
        body["link"]["underlays"],
        serde_json::json!(["eth1"]),
        "{body}"
    );
    let (ok, out, err) = flotilla_as_admin(&f, &["plugin", "list"]);
    assert!(ok, "{err}");
    let row = out
        .lines()
        .find(|l| l.contains("link-outside-grant"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        row.contains("plumbing") && row.contains("flx-* over eth1"),
        "{out}"
    );

    // `plugin check` with that flotilla.toml: the refusal, by name.
    let config = f.data.path().join("flotilla-check.toml");
    std::fs::write(&config, grant).unwrap();
    let out = std::process::Command::new(common::BIN)
        .args(["plugin", "check"])
        .arg(dist("link-outside-grant"))
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("refused a link call (denied): device `eth-evil0`: outside the granted")
            && said.contains("prefixes (flx-)"),
        "{said}"
    );
    // The server serves on.
    assert_eq!(f.call("GET", "/plugins", serde_json::Value::Null).0, 200);

    // `plugin call` grants nothing: every link call is refused.
    let out = std::process::Command::new(common::BIN)
        .args(["plugin", "call"])
        .arg(dist("link-outside-grant"))
        .args([
            "pre",
            r#"{"network_id": "7", "attributes": []}"#,
            r#"{"key": "a1", "network_id": "7", "mac": "02:00:00:00:00:01"}"#,
        ])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("no [plugins.link-outside-grant.link] grant"),
        "{said}"
    );

    // A grant of no prefix is refused, naming the field.
    std::fs::write(
        &config,
        "[plugins.link-outside-grant.link]\nprefixes = []\n",
    )
    .unwrap();
    let said = config_check_refuses(&config, f.data.path());
    assert!(
        said.contains("plugins.link-outside-grant.link.prefixes: name at least one"),
        "{said}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plumbing_plugin_that_keeps_to_its_grant_passes_the_suite_on_devices_in_memory() {
    let host = PluginHost::new(None).unwrap();
    let mut options = conformance::CheckOptions::default();
    options.grants.insert(
        "link-probe".into(),
        Grant {
            link: Some(link_grant(&["flp-"], &["eth1"])),
            ..Grant::default()
        },
    );
    let report = conformance::check_file_with(&host, &dist("link-probe"), None, &options)
        .await
        .unwrap();
    assert!(report.passed(), "{}", report.render());
    let text = report.render();
    // A bridge, a VXLAN device over the granted underlay and a tap were
    // made, then swept; the host's own devices were never touched.
    assert!(
        text.contains("`flp-c0ffee01` (tap) on bridge `flp-b4242`; 3 device(s) made"),
        "{text}"
    );
    assert!(text.contains("3 removed"), "{text}");
}

#[test]
fn a_plumbing_plugin_plumbs_and_sweeps_real_devices_through_its_grant() {
    use flotilla::plugin::{KeyValue, Plumbing};
    let (manifest, wasm) = fixture("link-probe");
    common::netns::isolated(move || {
        let dummy = std::process::Command::new("ip")
            .args(["link", "add", "under0", "type", "dummy"])
            .output()
            .expect("ip runs");
        if !dummy.status.success() {
            common::netns::ip(&[
                "link", "add", "under0", "type", "veth", "peer", "name", "under1",
            ]);
        }
        let host_devices = common::netns::devices();
        let host = PluginHost::new(None).unwrap();
        let grant = Grant {
            link: Some(link_grant(&["flp-"], &["under0"])),
            ..Grant::default()
        };
        let plumbing = Plumbing::start(host.load(manifest, &wasm, grant).unwrap()).unwrap();
        let (mut segment, port) = segment_and_port();
        segment.attributes = vec![
            KeyValue::new("PHYDEV", "under0"),
            KeyValue::new("VLAN_ID", "7"),
        ];
        let (s, p) = (segment.clone(), port.clone());
        let tap = plumbing
            .with_blocking(move |i| i.pre(None, &s, &p))
            .unwrap();
        assert_eq!(tap, "flp-a1b2c3");
        let listed: serde_json::Value =
            serde_json::from_str(&common::netns::ip(&["-j", "-d", "link", "show"])).unwrap();
        let device = |name: &str| {
            listed
                .as_array()
                .unwrap()
                .iter()
                .find(|d| d["ifname"] == name)
                .unwrap_or_else(|| panic!("no {name}: {listed}"))
                .clone()
        };
        assert_eq!(device("flp-b7")["linkinfo"]["info_kind"], "bridge");
        assert_eq!(device("flp-a1b2c3")["master"], "flp-b7");
        assert_eq!(device("flp-a1b2c3")["linkinfo"]["info_data"]["type"], "tap");
        let vx = device("flp-v7");
        assert_eq!(vx["master"], "flp-b7");
        assert_eq!(vx["linkinfo"]["info_data"]["id"], 7);
        assert_eq!(vx["linkinfo"]["info_data"]["link"], "under0");

        // Again: the same device, nothing new.
        let before = common::netns::devices();
        let (s, p) = (segment.clone(), port.clone());
        assert_eq!(
            plumbing
                .with_blocking(move |i| i.pre(None, &s, &p))
                .unwrap(),
            tap
        );
        assert_eq!(common::netns::devices(), before);
        // The plugin reads its devices back through `list`, kinds and all.
        let (s, p) = (vec![segment.clone()], vec![port.clone()]);
        assert_eq!(
            plumbing
                .with_blocking(move |i| i.sweep(None, &s, &p))
                .unwrap(),
            0
        );
        assert_eq!(common::netns::devices(), before);
        assert_eq!(
            plumbing.with_blocking(|i| i.sweep(None, &[], &[])).unwrap(),
            3
        );
        assert_eq!(common::netns::devices(), host_devices);
    });
}

/// A plumbing call with a site runs its link calls on that host (here a
/// named network namespace reached with `ip netns exec`): the devices are
/// made and swept there, never on the server's machine; a host the command
/// cannot reach is the call's error, naming the host.
#[test]
fn a_plumbing_call_on_a_host_makes_and_sweeps_its_devices_there() {
    use flotilla::plugin::{KeyValue, LinkSite, Plumbing};
    let (manifest, wasm) = fixture("link-probe");
    common::netns::isolated(move || {
        let ns = format!("flsite{}", std::process::id() % 100_000);
        common::netns::ip(&["netns", "add", &ns]);
        // Deleted however the test ends.
        struct Netns(String);
        impl Drop for Netns {
            fn drop(&mut self) {
                let _ = std::process::Command::new("ip")
                    .args(["netns", "del", &self.0])
                    .status();
            }
        }
        let _netns = Netns(ns.clone());
        let on_host = || -> Vec<String> {
            let listed: serde_json::Value =
                serde_json::from_str(&common::netns::ip(&["-n", &ns, "-j", "link", "show"]))
                    .unwrap();
            listed
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|d| d["ifname"].as_str())
                .filter(|n| n.starts_with("flp-"))
                .map(String::from)
                .collect()
        };
        let here = common::netns::devices();
        let host = PluginHost::new(None).unwrap();
        let grant = Grant {
            link: Some(link_grant(&["flp-"], &[])),
            ..Grant::default()
        };
        let plumbing = Plumbing::start(host.load(manifest, &wasm, grant).unwrap()).unwrap();
        let (mut segment, port) = segment_and_port();
        segment.attributes = vec![KeyValue::new("VLAN_ID", "7")];
        let site = LinkSite {
            host: "h1".into(),
            command: ["ip", "netns", "exec", &ns].map(String::from).into(),
        };

        let (s, p, at) = (segment.clone(), port.clone(), site.clone());
        let tap = plumbing
            .with_blocking(move |i| i.pre(Some(&at), &s, &p))
            .unwrap();
        assert_eq!(tap, "flp-a1b2c3");
        let mut made = on_host();
        made.sort();
        assert_eq!(
            made,
            ["flp-a1b2c3", "flp-b7"],
            "a bridge and a tap on the host"
        );
        assert_eq!(
            common::netns::devices(),
            here,
            "none on the server's machine"
        );
        // A sweep here does not see the host's devices; one there removes
        // them.
        assert_eq!(
            plumbing.with_blocking(|i| i.sweep(None, &[], &[])).unwrap(),
            0
        );
        assert_eq!(on_host().len(), 2);
        let at = site.clone();
        assert_eq!(
            plumbing
                .with_blocking(move |i| i.sweep(Some(&at), &[], &[]))
                .unwrap(),
            2
        );
        assert!(on_host().is_empty());

        let gone = LinkSite {
            host: "h9".into(),
            command: ["ip", "netns", "exec", "flsite-none"]
                .map(String::from)
                .into(),
        };
        let (s, p) = (segment.clone(), port.clone());
        let refused = plumbing
            .with_blocking(move |i| i.pre(Some(&gone), &s, &p))
            .unwrap_err()
            .to_string();
        assert!(refused.contains("on host `h9`"), "{refused}");
    });
}

/// `flotilla config check FILE --data-dir DATA`, which must refuse the
/// file: what it said on stderr.
fn config_check_refuses(file: &std::path::Path, data: &std::path::Path) -> String {
    let out = std::process::Command::new(common::BIN)
        .args(["config", "check"])
        .arg(file)
        .arg("--data-dir")
        .arg(data)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "{said}");
    said
}
