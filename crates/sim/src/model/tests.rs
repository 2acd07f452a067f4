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
