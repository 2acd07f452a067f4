use super::*;
use crate::service::parse_template;
use flotilla_model::{BackendError, Recommendation};
use serde_json::{Value, json};

fn builtin(call: &PolicyCall) -> Result<Recommendation, BackendError> {
    call.natively()
}

fn scenario(role: Value, load: &str, minutes: u64) -> Scenario {
    let mut role = role;
    role["name"] = json!("web");
    role["type"] = json!("vm");
    role["template_id"] = json!(0);
    let template = parse_template(&json!({"name": "sim", "roles": [role]})).unwrap();
    Scenario {
        template,
        role: "web".into(),
        load: LoadShape::parse(load).unwrap(),
        metric: "CPU".into(),
        per_vm: false,
        duration_ms: minutes * 60_000,
        settings: AutoscaleSettings {
            cadence_ms: 60_000,
            max_age_ms: 120_000,
        },
        boot_ms: 60_000,
        target: Some(70.0),
        default_cooldown_s: 300,
    }
}

fn elastic(out: &str, r#in: &str) -> Value {
    json!({"cardinality": 1, "min_vms": 1, "max_vms": 4, "cooldown": 120,
    "elasticity_policies": [
      {"type": "CHANGE", "adjust": 1, "expression": out},
      {"type": "CHANGE", "adjust": -1, "expression": r#in}
    ]})
}

#[test]
fn a_rising_demand_is_met_one_vm_per_cooldown_up_to_max_vms() {
    let report = simulate(
        &scenario(elastic("CPU > 80", "CPU < 20"), "constant:300", 30),
        &mut builtin,
    )
    .unwrap();
    let sizes: Vec<(u32, u32)> = report.events.iter().map(|e| (e.from, e.to)).collect();
    assert_eq!(sizes, [(1, 2), (2, 3), (3, 4)]);
    assert_eq!(report.events[0].says, "CPU[100] > 80 → true");
    assert_eq!(report.events[0].policy, "elasticity_policies[0]");
    // 300 % shared by 4 VMs: 75 each, under the threshold; it stays.
    assert_eq!(report.samples.last().unwrap().1, 4);
    assert_eq!(report.samples.last().unwrap().2, 75.0);
    assert_eq!(report.flaps, 0);
    assert!(
        report.vm_minutes > 90.0 && report.vm_minutes < 120.0,
        "{}",
        report.vm_minutes
    );
}

#[test]
fn overlapping_thresholds_flap_and_a_wide_band_does_not() {
    let flapping = simulate(
        &scenario(elastic("CPU > 60", "CPU < 55"), "sine:60:140:3600", 240),
        &mut builtin,
    )
    .unwrap();
    let calm = simulate(
        &scenario(elastic("CPU > 80", "CPU < 30"), "sine:60:140:3600", 240),
        &mut builtin,
    )
    .unwrap();
    assert!(
        flapping.flaps > calm.flaps,
        "{} vs {}",
        flapping.flaps,
        calm.flaps
    );
    assert!(flapping.events.len() > calm.events.len());
}

#[test]
fn a_spike_scales_out_and_back_in_and_time_over_target_is_counted() {
    let report = simulate(
        &scenario(
            elastic("CPU > 80", "CPU < 30"),
            "spike:40:250:1800:1800",
            180,
        ),
        &mut builtin,
    )
    .unwrap();
    let first = &report.events[0];
    assert_eq!((first.from, first.to), (1, 2));
    assert!(first.time_ms >= 1_800_000, "{first:?}");
    assert_eq!(
        report.samples.last().unwrap().1,
        1,
        "back to one VM after the spike"
    );
    assert!(report.above_target_s > 0 && report.below_target_s > 0);
}

#[test]
fn a_replay_of_recorded_evaluations_reproduces_every_decision() {
    let report = simulate(
        &scenario(
            json!({"cardinality": 1, "min_vms": 1, "max_vms": 4, "cooldown": 120,
            "elasticity_policies": [
              {"type": "CHANGE", "adjust": 1, "expression": "CPU > 80", "period_number": 2},
              {"type": "PERCENTAGE_CHANGE", "adjust": -50, "expression": "CPU < 30"}
            ]}),
            "sine:20:250:3600",
            240,
        ),
        &mut builtin,
    )
    .unwrap();
    assert!(report.events.len() >= 4, "{:?}", report.events);
    let template = parse_template(&json!({"name": "sim", "roles": [
    {"name": "web", "type": "vm", "template_id": 0, "cardinality": 1, "min_vms": 1,
     "max_vms": 4, "cooldown": 120, "elasticity_policies": [
       {"type": "CHANGE", "adjust": 1, "expression": "CPU > 80", "period_number": 2},
       {"type": "PERCENTAGE_CHANGE", "adjust": -50, "expression": "CPU < 30"}
     ]}]}))
    .unwrap();
    let replayed = replay(&template.roles[0], 0, 300, &report.decisions, &mut builtin);
    assert_eq!(replayed.len(), report.decisions.len());
    let differ: Vec<&Replayed> = replayed.iter().filter(|r| !r.same).collect();
    assert!(differ.is_empty(), "{differ:#?}");
    // Only the last 50 kept: the replay starts from the state recorded.
    let tail = &report.decisions[report.decisions.len() - 50..];
    assert!(
        replay(&template.roles[0], 0, 300, tail, &mut builtin)
            .iter()
            .all(|r| r.same)
    );
}

#[test]
fn a_week_of_one_minute_samples_runs() {
    let report = simulate(
        &scenario(
            elastic("CPU > 80", "CPU < 30"),
            "sine:50:300:86400",
            7 * 24 * 60,
        ),
        &mut builtin,
    )
    .unwrap();
    assert_eq!(report.samples.len(), 7 * 24 * 60 + 1);
    // Two policies a minute, but for the first minute: the role was booting.
    assert_eq!(report.evaluations, 2 * 7 * 24 * 60);
}

#[test]
fn a_replay_carries_state_through_shared_rounds_failures_and_scales() {
    let role = json!({"cardinality": 1, "min_vms": 1, "max_vms": 6, "cooldown": 60,
    "elasticity_policies": [
      {"type": "CHANGE", "adjust": 1, "expression": "CPU > 50", "period_number": 2},
      {"type": "CHANGE", "adjust": 2, "expression": "CPU > 70", "period_number": 3},
      {"type": "CHANGE", "adjust": -1, "expression": "CPU < 20", "period_number": 2}
    ]});
    // A plugin that fails now and then: live keeps the state it had.
    let mut flaky = |call: &PolicyCall| {
        if call.input.now.is_multiple_of(420) {
            return Err(BackendError::Fault(
                "plugin `expression` fault (trap): now and then".into(),
            ));
        }
        builtin(call)
    };
    let report = simulate(&scenario(role.clone(), "sine:20:400:3600", 360), &mut flaky).unwrap();
    assert!(report.events.len() >= 6, "{:?}", report.events);
    assert!(
        report
            .decisions
            .iter()
            .any(|d| d.verdict.contains("now and then")),
        "the failures happened"
    );
    let mut role = role;
    role["name"] = json!("web");
    role["type"] = json!("vm");
    role["template_id"] = json!(0);
    let template = parse_template(&json!({"name": "sim", "roles": [role]})).unwrap();
    let replayed = replay(&template.roles[0], 0, 300, &report.decisions, &mut flaky);
    let differ: Vec<&Replayed> = replayed.iter().filter(|r| !r.same).collect();
    assert!(differ.is_empty(), "{differ:#?}");
}
