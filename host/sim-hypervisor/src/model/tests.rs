use super::*;
use serde_json::json;

fn req(op: &str, template: serde_json::Value) -> CreateRequest {
    CreateRequest {
        operation_id: op.into(),
        service_id: 7,
        role_name: "web".into(),
        name: format!("web_{op}"),
        template,
        hold: false,
    }
}

#[test]
fn a_vm_boots_after_its_boot_time_then_runs() {
    let mut h = Hypervisor::new(2_000);
    let id = h.create(req("a", json!({})), 1_000).unwrap().0.id;
    assert_eq!(h.get(id).unwrap().state_at(2_999).0, State::Pending);
    assert_eq!(h.get(id).unwrap().state_at(3_000).0, State::Running);
    let id = h
        .create(req("b", json!({"SIM_BOOT_SECONDS": "0.5"})), 0)
        .unwrap()
        .0
        .id;
    assert_eq!(h.get(id).unwrap().state_at(500).0, State::Running);
}

#[test]
fn create_is_idempotent_on_the_operation_id() {
    let mut h = Hypervisor::new(0);
    let (first, new) = h
        .create(req("op-1", json!({})), 0)
        .map(|(vm, n)| (vm.id, n))
        .unwrap();
    assert!(new);
    let (second, new) = h
        .create(req("op-1", json!({})), 5)
        .map(|(vm, n)| (vm.id, n))
        .unwrap();
    assert!(!new);
    assert_eq!(first, second);
    assert_eq!(h.len(), 1);
}

#[test]
fn injected_failures_follow_the_template() {
    let mut h = Hypervisor::new(1_000);
    let boot = h
        .create(req("boot", json!({"SIM_FAIL": "boot"})), 0)
        .unwrap()
        .0
        .id;
    let (state, reason) = h.get(boot).unwrap().state_at(1_000);
    assert_eq!(state, State::Failed);
    assert!(reason.unwrap().contains("boot"));
    assert!(matches!(
        h.create(req("c", json!({"SIM_FAIL": "create"})), 0),
        Err(SimError::Conflict(_))
    ));
    let unk = h
        .create(
            req("u", json!({"SIM_FAIL": "unknown", "SIM_FAIL_AFTER": 10})),
            0,
        )
        .unwrap()
        .0
        .id;
    assert_eq!(h.get(unk).unwrap().state_at(5_000).0, State::Running);
    assert_eq!(h.get(unk).unwrap().state_at(11_000).0, State::Unknown);
    // resuming an UNKNOWN VM brings it back
    h.act(&unk.to_string(), "resume", &BTreeMap::new(), 12_000)
        .unwrap();
    assert_eq!(h.get(unk).unwrap().state_at(12_000).0, State::Running);
    let bad = h.create(req("x", json!({"SIM_FAIL": "sometimes"})), 0);
    assert!(matches!(bad, Err(SimError::Invalid(m)) if m.starts_with("template.SIM_FAIL")));
}

#[test]
fn actions_follow_opennebula_states() {
    let mut h = Hypervisor::new(0);
    let id = h.create(req("a", json!({})), 0).unwrap().0.id.to_string();
    let none = BTreeMap::new();
    assert!(matches!(
        h.act(&id, "release", &none, 1),
        Err(SimError::Conflict(_))
    ));
    h.act(&id, "poweroff", &none, 1).unwrap();
    assert_eq!(h.vms().next().unwrap().state_at(1).0, State::Poweroff);
    h.act(&id, "resume", &none, 2).unwrap();
    assert_eq!(h.vms().next().unwrap().state_at(2).0, State::Running);
    h.act(&id, "terminate", &none, 3).unwrap();
    assert_eq!(h.vms().next().unwrap().state_at(3).0, State::Done);
    assert!(matches!(
        h.act(&id, "terminate", &none, 4),
        Err(SimError::Conflict(_))
    ));
    assert!(matches!(
        h.act(&id, "explode", &none, 4),
        Err(SimError::Invalid(_))
    ));
    assert!(matches!(
        h.act("99", "terminate", &none, 4),
        Err(SimError::NotFound(_))
    ));
}

#[test]
fn hold_and_release() {
    let mut h = Hypervisor::new(1_000);
    let mut r = req("h", json!({}));
    r.hold = true;
    let id = h.create(r, 0).unwrap().0.id;
    assert_eq!(h.get(id).unwrap().state_at(10_000).0, State::Hold);
    h.act(&id.to_string(), "release", &BTreeMap::new(), 10_000)
        .unwrap();
    assert_eq!(h.get(id).unwrap().state_at(10_500).0, State::Pending);
    assert_eq!(h.get(id).unwrap().state_at(11_000).0, State::Running);
}

#[test]
fn monitoring_follows_the_load_shape_and_can_be_overridden() {
    let mut h = Hypervisor::new(0);
    let id = h
        .create(
            req(
                "m",
                json!({"SIM_LOAD": "ramp:0:100:100", "SIM_READY": "YES"}),
            ),
            0,
        )
        .unwrap()
        .0
        .id;
    let view = h.get(id).unwrap().view(50_000);
    assert_eq!(view.monitoring["CPU"], 50.0);
    assert_eq!(view.user_attributes["READY"], "YES");
    h.set_monitoring(&id.to_string(), [("cpu".to_string(), Some(91.5))].into())
        .unwrap();
    assert_eq!(h.get(id).unwrap().view(50_000).monitoring["CPU"], 91.5);
    assert!(LoadShape::parse("sine:0:100").is_err());
    let sine = LoadShape::parse("sine:20:80:60").unwrap();
    assert_eq!(sine.at(0.0), 20.0);
    assert_eq!(sine.at(30.0), 80.0);
}

#[test]
fn snapshots_need_a_name_and_must_exist_to_revert() {
    let mut h = Hypervisor::new(0);
    let id = h.create(req("s", json!({})), 0).unwrap().0.id.to_string();
    let named: BTreeMap<String, String> = [("name".to_string(), "s1".to_string())].into();
    assert!(matches!(
        h.act(&id, "snapshot-revert", &named, 1),
        Err(SimError::NotFound(_))
    ));
    h.act(&id, "snapshot-create", &named, 1).unwrap();
    h.act(&id, "snapshot-revert", &named, 2).unwrap();
    assert!(matches!(
        h.act(&id, "snapshot-create", &BTreeMap::new(), 2),
        Err(SimError::Invalid(_))
    ));
}

fn onegate_template(extra: serde_json::Value) -> serde_json::Value {
    let mut t = json!({
        "CONTEXT": {"ONEGATE_ENDPOINT": "http://127.0.0.1:5030/", "ONEGATE_TOKEN": "tok"},
        "sim_onegate": "yes",
    });
    t.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    t
}

#[test]
fn onegate_reports_are_due_after_the_ready_seconds_then_every_n_seconds_while_running() {
    let mut h = Hypervisor::new(0);
    let template = onegate_template(json!({
        "SIM_BOOT_SECONDS": 1,
        "SIM_READY": "YES",
        "SIM_READY_SECONDS": 2,
        "SIM_ONEGATE_PUSH": "ROLE=web",
        "SIM_ONEGATE_REPORT_SECONDS": "1.5",
        "SIM_LOAD": "constant:42",
    }));
    let id = h.create(req("g", template), 0).unwrap().0.id;
    // booting until 1 s, ready 2 s later
    assert!(h.onegate_due(500).is_empty());
    assert!(h.onegate_due(2_999).is_empty());
    let first = h.onegate_due(3_000);
    assert_eq!(first.len(), 1);
    let first = &first[0];
    assert_eq!(first.vm_id, id);
    assert_eq!(first.url, "http://127.0.0.1:5030/vm");
    assert_eq!(first.token, "tok");
    assert_eq!(first.body, "READY=YES\nROLE=web\nREPORTS=1\nLOAD=42\n");
    // in flight: not due twice
    assert!(h.onegate_due(3_100).is_empty());
    h.onegate_record(first, Delivery::Accepted, 3_010);
    assert_eq!(h.get(id).unwrap().onegate.sent, 1);
    assert!(h.onegate_due(4_499).is_empty());
    let second = h.onegate_due(4_500);
    assert_eq!(second[0].body, "REPORTS=2\nLOAD=42\n");
    // a failure is retried at the next scan, and shows until one goes through
    h.onegate_record(
        &second[0],
        Delivery::Failed("503 Service Unavailable: busy".into()),
        4_510,
    );
    let view = h.get(id).unwrap().view(4_510).onegate.unwrap();
    assert_eq!((view.sent, view.failed), (1, 1));
    assert_eq!(
        view.last_error.as_deref(),
        Some("503 Service Unavailable: busy")
    );
    let retry = h.onegate_due(4_700);
    assert_eq!(retry[0].body, "REPORTS=2\nLOAD=42\n");
    h.onegate_record(&retry[0], Delivery::Accepted, 4_710);
    assert_eq!(
        h.get(id).unwrap().view(4_710).onegate.unwrap().last_error,
        None
    );
    // the schedule keeps its pace: next at 4.5 s + 1.5 s
    assert!(h.onegate_due(5_999).is_empty());
    let third = h.onegate_due(6_000);
    assert_eq!(third.len(), 1);
    h.onegate_record(&third[0], Delivery::Accepted, 6_000);
    assert_eq!(h.onegate_totals(), OneGateTotals { sent: 3, failed: 1 });
    // nothing while not running
    h.act(&id.to_string(), "poweroff", &BTreeMap::new(), 6_100)
        .unwrap();
    assert!(h.onegate_due(20_000).is_empty());
    // booting again starts over with the first report
    h.act(&id.to_string(), "resume", &BTreeMap::new(), 20_000)
        .unwrap();
    assert!(h.onegate_due(22_999).is_empty());
    let again = h.onegate_due(23_000);
    assert!(
        again[0]
            .body
            .starts_with("READY=YES\nROLE=web\nREPORTS=4\n")
    );
}

#[test]
fn a_onegate_vm_without_repeats_reports_once() {
    let mut h = Hypervisor::new(0);
    let id = h
        .create(
            req("p", onegate_template(json!({"SIM_ONEGATE_PUSH": "A=1"}))),
            0,
        )
        .unwrap()
        .0
        .id;
    let first = h.onegate_due(0);
    assert_eq!(first[0].body, "A=1\n");
    h.onegate_record(&first[0], Delivery::Accepted, 1);
    assert!(h.onegate_due(100_000).is_empty());
    assert_eq!(h.get(id).unwrap().onegate.sent, 1);
    // nothing to say: nothing sent
    h.create(req("q", onegate_template(json!({}))), 0).unwrap();
    assert!(h.onegate_due(100_000).is_empty());
}

#[test]
fn sim_onegate_push_is_parsed() {
    assert_eq!(
        parse_push("A=1; B = two\nC=x=y;;\r\nD=").unwrap(),
        vec![
            ("A".to_string(), "1".to_string()),
            ("B".to_string(), "two".to_string()),
            ("C".to_string(), "x=y".to_string()),
            ("D".to_string(), String::new()),
        ]
    );
    assert!(parse_push("").unwrap().is_empty());
    assert!(parse_push("A=1;novalue").is_err());
    assert!(parse_push("=x").is_err());
    assert!(parse_push("A B=x").is_err());
    let mut h = Hypervisor::new(0);
    let bad = h.create(req("x", json!({"SIM_ONEGATE_PUSH": "oops"})), 0);
    assert!(matches!(bad, Err(SimError::Invalid(m)) if m.starts_with("template.SIM_ONEGATE_PUSH")));
    let bad = h.create(req("y", json!({"SIM_ONEGATE_REPORT_SECONDS": "0"})), 0);
    assert!(matches!(bad, Err(SimError::Invalid(m)) if m.contains("more than 0")));
}

#[test]
fn sim_onegate_stops_the_ready_shortcut() {
    let mut h = Hypervisor::new(0);
    let plain = h
        .create(req("plain", json!({"SIM_READY": "YES"})), 0)
        .unwrap()
        .0
        .id;
    let gate = h
        .create(
            req("gate", onegate_template(json!({"SIM_READY": "yes"}))),
            0,
        )
        .unwrap()
        .0
        .id;
    let plain = h.get(plain).unwrap().view(10);
    assert_eq!(plain.user_attributes["READY"], "YES");
    assert_eq!(plain.onegate, None);
    let gate = h.get(gate).unwrap().view(10);
    assert!(!gate.user_attributes.contains_key("READY"));
    assert_eq!(gate.onegate.unwrap().sent, 0);
    assert_eq!(h.onegate_due(10)[0].body, "READY=YES\n");
}

#[test]
fn a_onegate_vm_that_cannot_reach_onegate_says_why_and_sends_nothing() {
    let mut h = Hypervisor::new(0);
    let cases = [
        json!({"SIM_ONEGATE": "YES", "SIM_READY": "YES"}),
        json!({"SIM_ONEGATE": "YES", "SIM_READY": "YES", "CONTEXT": {"ONEGATE_ENDPOINT": "http://h:1"}}),
        json!({"SIM_ONEGATE": "YES", "SIM_READY": "YES", "CONTEXT": "nope"}),
        onegate_template(
            json!({"SIM_READY": "YES", "CONTEXT": {"ONEGATE_ENDPOINT": "not a url", "ONEGATE_TOKEN": "t"}}),
        ),
        onegate_template(
            json!({"SIM_READY": "YES", "CONTEXT": {"ONEGATE_ENDPOINT": "https://h:1", "ONEGATE_TOKEN": "t"}}),
        ),
        onegate_template(
            json!({"SIM_READY": "YES", "CONTEXT": {"ONEGATE_ENDPOINT": "http://h:1", "ONEGATE_TOKEN": "a\nb"}}),
        ),
    ];
    let ids: Vec<u64> = cases
        .into_iter()
        .enumerate()
        .map(|(i, t)| h.create(req(&format!("c{i}"), t), 0).unwrap().0.id)
        .collect();
    assert!(h.onegate_due(1_000).is_empty());
    for id in ids {
        let view = h.get(id).unwrap().view(1_000).onegate.unwrap();
        assert_eq!(view.sent, 0);
        assert!(view.last_error.is_some(), "VM {id}: {view:?}");
    }
    assert!(
        h.get(0)
            .unwrap()
            .onegate
            .last_error
            .as_deref()
            .unwrap()
            .contains("ONEGATE_ENDPOINT")
    );
}

#[test]
fn stored_vms_load_with_and_without_the_onegate_attributes() {
    let mut h = Hypervisor::new(0);
    let id = h
        .create(req("s", onegate_template(json!({"SIM_READY": "YES"}))), 0)
        .unwrap()
        .0
        .id;
    let report = h.onegate_due(0).remove(0);
    h.onegate_record(&report, Delivery::Accepted, 0);
    let mut stored = serde_json::to_value(h.get(id).unwrap()).unwrap();
    // reporting is not stored: after a restart the VM reports again
    let restored: Vm = serde_json::from_value(stored.clone()).unwrap();
    assert_eq!(restored.onegate, OneGateStatus::default());
    assert!(restored.behaviour.onegate);
    let mut h = Hypervisor::restore(0, [restored]);
    assert_eq!(h.onegate_due(10)[0].body, "READY=YES\n");
    // a VM stored before these attributes existed
    let behaviour = stored["behaviour"].as_object_mut().unwrap();
    for key in ["onegate", "onegate_push", "onegate_report_ms"] {
        behaviour.remove(key).unwrap();
    }
    let old: Vm = serde_json::from_value(stored).unwrap();
    assert!(!old.behaviour.onegate);
    assert!(Hypervisor::restore(0, [old]).onegate_due(10).is_empty());
}

// ---- hosts ----

fn on_host(op: &str, host: &str, extra: serde_json::Value) -> CreateRequest {
    let mut template = json!({"HOST": {"NAME": host, "ADDRESS": host}});
    for (k, v) in extra.as_object().unwrap() {
        template[k] = v.clone();
    }
    req(op, template)
}

fn fleet() -> Hypervisor {
    let mut h = Hypervisor::new(1_000);
    h.add_host("h1", 8.0, 16_384).unwrap();
    h.add_host("h2", 4.0, 8_192).unwrap();
    h
}

#[test]
fn a_vm_lands_on_the_host_its_template_names_and_only_there() {
    let mut h = fleet();
    let placed = h.create(on_host("a", "h1", json!({})), 0).unwrap().0.id;
    assert_eq!(h.view_of(placed, 0).unwrap().host.as_deref(), Some("h1"));
    // without HOST, on no host, as before there were hosts
    let free = h.create(req("b", json!({})), 0).unwrap().0.id;
    assert_eq!(h.view_of(free, 0).unwrap().host, None);
    // the address is the simulated hypervisor's name for the host
    let by_address = h
        .create(
            req("c", json!({"HOST": {"NAME": "web-7", "ADDRESS": "h2"}})),
            0,
        )
        .unwrap()
        .0
        .id;
    assert_eq!(h.get(by_address).unwrap().host.as_deref(), Some("h2"));
    assert_eq!(h.host_usage("h1", 0).unwrap().vm_ids, [placed.to_string()]);
    assert_eq!(
        h.host_usage("h2", 0).unwrap().vm_ids,
        [by_address.to_string()]
    );
    // a host that does not exist, or a HOST that does not read, is refused
    let unknown = h.create(on_host("d", "nowhere", json!({})), 0);
    assert!(
        matches!(&unknown, Err(SimError::Invalid(m)) if m == "template.HOST: host nowhere does not exist"),
        "{unknown:?}"
    );
    let bad = h.create(req("e", json!({"HOST": "h1"})), 0);
    assert!(matches!(bad, Err(SimError::Invalid(m)) if m.starts_with("template.HOST")));
    assert_eq!(h.len(), 3);
}

#[test]
fn a_host_counts_what_its_vms_that_are_not_done_use() {
    let mut h = fleet();
    let big = h
        .create(
            on_host("big", "h1", json!({"CPU": "2.5", "MEMORY": 2048})),
            0,
        )
        .unwrap()
        .0
        .id;
    let small = h.create(on_host("small", "h1", json!({})), 0).unwrap().0.id;
    let usage = h.monitor_host("h1", 0).unwrap();
    assert_eq!((usage.cpu, usage.memory_mb), (8.0, 16_384));
    // the template's CPU and MEMORY; 1 CPU and 256 MiB when it says none
    assert_eq!(usage.used_cpu, 2.5 + DEFAULT_VM_CPU);
    assert_eq!(usage.used_memory_mb, 2048 + DEFAULT_VM_MEMORY_MB);
    assert_eq!(usage.vm_ids, [big.to_string(), small.to_string()]);
    // booting, running or powered off, a VM counts; once DONE it does not
    h.act(&big.to_string(), "terminate-hard", &BTreeMap::new(), 5_000)
        .unwrap();
    let usage = h.monitor_host("h1", 5_000).unwrap();
    assert_eq!(usage.used_memory_mb, DEFAULT_VM_MEMORY_MB);
    assert_eq!(usage.vm_ids, [small.to_string()]);
    // another host's VMs are not this one's
    assert_eq!(h.monitor_host("h2", 5_000).unwrap().used_cpu, 0.0);
    assert!(matches!(
        h.monitor_host("h3", 0),
        Err(SimError::NotFound(m)) if m == "host h3 does not exist"
    ));
}

#[test]
fn a_lost_host_s_vms_are_unknown_untouchable_and_as_they_were_once_it_answers() {
    let mut h = fleet();
    let lost = h.create(on_host("lost", "h1", json!({})), 0).unwrap().0.id;
    let booting = h
        .create(on_host("booting", "h1", json!({"SIM_BOOT_SECONDS": 20})), 0)
        .unwrap()
        .0
        .id;
    let elsewhere = h
        .create(on_host("elsewhere", "h2", json!({})), 0)
        .unwrap()
        .0
        .id;
    let free = h.create(req("free", json!({})), 0).unwrap().0.id;
    assert_eq!(h.view_of(lost, 2_000).unwrap().state, State::Running);

    h.set_reachable("h1", false).unwrap();
    for id in [lost, booting] {
        let view = h.view_of(id, 3_000).unwrap();
        assert_eq!(view.state, State::Unknown);
        assert_eq!(view.reason.as_deref(), Some("host h1 does not answer"));
        assert!(view.monitoring.is_empty());
    }
    // its VMs cannot be reached: acts fail, and change nothing
    let refused = h.act(&lost.to_string(), "poweroff", &BTreeMap::new(), 3_000);
    assert!(
        matches!(&refused, Err(SimError::Unavailable(m)) if m.ends_with("host h1 does not answer")),
        "{refused:?}"
    );
    assert!(matches!(
        h.act(&lost.to_string(), "terminate-hard", &BTreeMap::new(), 3_000),
        Err(SimError::Unavailable(_))
    ));
    // its monitoring is an error, and nothing new goes on it
    assert!(matches!(
        h.monitor_host("h1", 3_000),
        Err(SimError::Unavailable(m)) if m == "host h1 does not answer"
    ));
    assert!(matches!(
        h.create(on_host("late", "h1", json!({})), 3_000),
        Err(SimError::Unavailable(_))
    ));
    // the other hosts' VMs, and VMs on no host, go on
    assert_eq!(h.view_of(elsewhere, 3_000).unwrap().state, State::Running);
    assert_eq!(h.view_of(free, 3_000).unwrap().state, State::Running);
    h.act(&elsewhere.to_string(), "poweroff", &BTreeMap::new(), 3_000)
        .unwrap();

    // back again: its VMs are where the clock took them meanwhile
    h.set_reachable("h1", true).unwrap();
    let view = h.view_of(lost, 30_000).unwrap();
    assert_eq!((view.state, view.reason), (State::Running, None));
    assert!(view.monitoring.contains_key("CPU"));
    assert_eq!(h.view_of(booting, 30_000).unwrap().state, State::Running);
    assert_eq!(
        h.monitor_host("h1", 30_000).unwrap().vm_ids,
        [lost.to_string(), booting.to_string()]
    );
    h.act(
        &lost.to_string(),
        "terminate-hard",
        &BTreeMap::new(),
        30_000,
    )
    .unwrap();
    assert_eq!(h.view_of(lost, 30_000).unwrap().state, State::Done);
}

#[test]
fn a_vm_on_a_lost_host_sends_no_onegate_report_until_it_answers() {
    let mut h = fleet();
    let template = onegate_template(json!({"SIM_READY": "YES"}));
    let mut placed = req("g", template);
    placed.template["HOST"] = json!({"NAME": "h1"});
    h.create(placed, 0).unwrap();
    h.set_reachable("h1", false).unwrap();
    assert!(h.onegate_due(5_000).is_empty());
    h.set_reachable("h1", true).unwrap();
    assert_eq!(h.onegate_due(5_000).len(), 1);
}

#[test]
fn hosts_are_added_once_and_refused_naming_the_field() {
    let mut h = fleet();
    // idempotent on the name: the host already there stays as it is
    let (again, new) = h.add_host("h1", 1.0, 1).unwrap();
    assert!(!new);
    assert_eq!((again.cpu, again.memory_mb), (8.0, 16_384));
    for (name, cpu, memory_mb, field) in [
        ("", 1.0, 1, "name:"),
        ("a b", 1.0, 1, "name:"),
        ("a/b", 1.0, 1, "name:"),
        ("monitor", 1.0, 1, "name:"),
        ("h3", 0.0, 1, "cpu:"),
        ("h3", f64::NAN, 1, "cpu:"),
        ("h3", 1.0, 0, "memory_mb:"),
    ] {
        let refused = h.add_host(name, cpu, memory_mb);
        assert!(
            matches!(&refused, Err(SimError::Invalid(m)) if m.starts_with(field)),
            "{name:?} {cpu} {memory_mb}: {refused:?}"
        );
    }
    assert_eq!(h.hosts().count(), 2);
    assert!(matches!(
        h.set_reachable("h3", false),
        Err(SimError::NotFound(_))
    ));
}

#[test]
fn hosts_and_placements_survive_a_restart() {
    let mut h = fleet();
    let id = h.create(on_host("a", "h2", json!({})), 0).unwrap().0.id;
    h.set_reachable("h2", false).unwrap();
    let vms: Vec<Vm> = h.vms().cloned().collect();
    let hosts: Vec<Host> = h.hosts().cloned().collect();
    let stored = serde_json::to_string(&(vms, hosts)).unwrap();
    let (vms, hosts): (Vec<Vm>, Vec<Host>) = serde_json::from_str(&stored).unwrap();
    let h = Hypervisor::restore(0, vms).with_hosts(hosts);
    assert!(!h.host("h2").unwrap().reachable);
    assert_eq!(h.view_of(id, 1_000).unwrap().state, State::Unknown);
    assert_eq!(h.host_usage("h2", 1_000).unwrap().vm_ids, [id.to_string()]);
    // a VM stored before there were hosts is on none
    let mut old = serde_json::to_value(h.get(id).unwrap()).unwrap();
    old.as_object_mut().unwrap().remove("host");
    let old: Vm = serde_json::from_value(old).unwrap();
    assert_eq!(old.host, None);
}
