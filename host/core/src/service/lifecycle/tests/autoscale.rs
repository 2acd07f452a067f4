//! Automatic scaling on a service driven as the engine drives it, with the
//! VMs' values set by hand, policies evaluated by the built-in policy
//! compiled natively (the code the `expression` plugin runs), and a manual
//! clock.

use super::builders::{Kit, template};
use crate::service::lifecycle::{
    AutoscaleSettings, DECISIONS_KEPT, DecisionRecord, PolicyCall, VmValues,
};
use crate::service::state::ServiceState;
use flotilla_model::{BackendError, Metric, Recommendation};
use serde_json::{Value, json};

const CADENCE: u64 = 15_000;
const SETTINGS: AutoscaleSettings = AutoscaleSettings {
    cadence_ms: CADENCE,
    max_age_ms: 120_000,
};

fn builtin(call: &PolicyCall) -> Result<Recommendation, BackendError> {
    call.natively()
}

/// `web` (1..3 VMs, 60 s cooldown) with `extra` merged into its template.
fn with_web(extra: Value) -> Kit {
    let mut t = template("straight", json!({}));
    for (k, v) in extra.as_object().unwrap() {
        t["roles"][1][k] = v.clone();
    }
    Kit::new(t).start().settled()
}

fn with_policies(policies: Value) -> Kit {
    with_web(json!({ "elasticity_policies": policies }))
}

fn cpu(k: &mut Kit, value: f64) {
    k.values = VmValues {
        monitoring: vec![Metric::new("CPU", value)],
        ..Default::default()
    };
    let effects = k.poll();
    k.drive(effects);
}

/// One evaluation round `CADENCE` after the last, with fresh values; the
/// number of effects it made.
fn round(k: &mut Kit) -> usize {
    k.later(CADENCE);
    let effects = k.poll();
    k.drive(effects);
    let effects = k.s.autoscale_with(k.now, SETTINGS, &mut builtin);
    let n = effects.len();
    k.drive(effects).settle();
    n
}

fn last(k: &Kit, role: &str) -> DecisionRecord {
    k.s.role(role)
        .unwrap()
        .autoscale
        .decisions
        .back()
        .unwrap()
        .clone()
}

#[test]
fn a_role_scales_out_after_period_number_true_evaluations_and_says_why() {
    let mut k = with_policies(json!([
        {"type": "CHANGE", "adjust": 1, "expression": "CPU > 80", "period_number": 2}
    ]));
    cpu(&mut k, 95.0);
    assert_eq!(round(&mut k), 0, "one true evaluation of two");
    assert_eq!(last(&k, "web").verdict, "1/2 consecutive true");
    assert_eq!(round(&mut k), 1, "the second fires: one create");
    let web = k.s.role("web").unwrap();
    assert_eq!(web.cardinality, 2);
    let d = last(&k, "web");
    assert_eq!(d.trace, "CPU[95] > 80 → true");
    assert_eq!(d.verdict, "fired: CHANGE 1 gives 2");
    assert_eq!(
        (d.plugin.as_str(), d.action.as_str()),
        ("expression", "scale to 2")
    );
    assert_eq!(d.inputs[0].values, vec![Metric::new("CPU", 95.0)]);
    assert!(
        k.s.log.iter().any(|l| l.message
            == "Role web: elasticity_policies[0] (expression) CPU[95] > 80 → true: scaling to 2"),
        "{:#?}",
        k.s.log
    );
    // The scale is done and the service RUNNING again; the streak starts
    // over, and the role's cooldown holds its next scale.
    assert_eq!(k.s.state, ServiceState::Running);
    assert_eq!(round(&mut k), 0);
    assert_eq!(last(&k, "web").verdict, "1/2 consecutive true");
    assert_eq!(round(&mut k), 0);
    let held = last(&k, "web");
    assert_eq!(held.desired, Some(3));
    assert_eq!(held.action, "none: cooling down");
    assert_eq!(
        held.guards,
        ["cooldown: 30 s left (60 s, the role's cooldown)"]
    );
    // Once it has passed, the role grows to max_vms and no further.
    for _ in 0..6 {
        round(&mut k);
    }
    assert_eq!(k.s.role("web").unwrap().cardinality, 3);
    assert_eq!(
        last(&k, "web").verdict,
        "fired: CHANGE 1 gives 4, clamped to max_vms 3: no change"
    );
}

#[test]
fn a_cooldown_holds_only_its_own_role_and_never_a_user() {
    let mut t = template("none", json!({}));
    let policy = json!([{"type": "CHANGE", "adjust": 1, "expression": "CPU > 80"}]);
    for i in 0..2 {
        t["roles"][i]["min_vms"] = json!(1);
        t["roles"][i]["max_vms"] = json!(3);
        t["roles"][i]["cooldown"] = json!(600);
        t["roles"][i]["elasticity_policies"] = policy.clone();
    }
    let mut k = Kit::new(t).start().settled();
    cpu(&mut k, 95.0);
    // One role scales per round: the service is SCALING for it.
    assert_eq!(round(&mut k), 1);
    assert_eq!(round(&mut k), 1);
    let cards: Vec<u32> = k.s.roles.iter().map(|r| r.cardinality).collect();
    assert_eq!(
        cards,
        [2, 2],
        "the second role scaled while the first cools down"
    );
    assert_eq!(round(&mut k), 0, "both cool down");
    // A user still scales a cooling role.
    let effects = k.s.scale("web", 3, false, k.now).unwrap();
    k.drive(effects).settle();
    assert_eq!(k.s.role("web").unwrap().cardinality, 3);
}

#[test]
fn scale_out_and_scale_in_have_their_own_cooldowns() {
    let mut k = with_web(json!({
        "cooldown_out": 15, "cooldown_in": 120, "max_vms": 5,
        "elasticity_policies": [
            {"type": "CHANGE", "adjust": 1, "expression": "CPU > 80"},
            {"type": "CHANGE", "adjust": -1, "expression": "CPU < 20"}
        ]
    }));
    cpu(&mut k, 95.0);
    assert_eq!(round(&mut k), 1);
    assert_eq!(round(&mut k), 1, "the scale-out cooldown (15 s) has passed");
    assert_eq!(k.s.role("web").unwrap().cardinality, 3);
    cpu(&mut k, 5.0);
    assert_eq!(round(&mut k), 0);
    assert_eq!(
        last(&k, "web").guards,
        ["cooldown: 105 s left (120 s, the role's cooldown_in)"]
    );
}

#[test]
fn the_stabilization_window_holds_a_scale_in_while_higher_recommendations_are_recent() {
    let mut k = with_web(json!({
        "cooldown": 0, "max_vms": 3, "scale_in_stabilization": 45,
        "elasticity_policies": [
            {"type": "CARDINALITY", "adjust": 3, "expression": "CPU > 80"},
            {"type": "CARDINALITY", "adjust": 1, "expression": "CPU < 20"}
        ]
    }));
    cpu(&mut k, 95.0);
    assert_eq!(round(&mut k), 2);
    cpu(&mut k, 5.0);
    // 3 was recommended 15 s and 30 s ago: held.
    assert_eq!(round(&mut k), 0);
    let d = last(&k, "web");
    assert_eq!(d.action, "none: stabilizing");
    assert_eq!(
        d.guards,
        ["stabilization: 3 VMs were recommended within the last 45 s"]
    );
    for _ in 0..3 {
        round(&mut k);
    }
    assert_eq!(k.s.role("web").unwrap().cardinality, 1);
}

#[test]
fn a_missing_metric_a_plugin_fault_or_an_absent_plugin_changes_nothing() {
    let mut k = with_policies(json!([
        {"type": "CHANGE", "adjust": 1, "expression": "MEM_USED > 80"},
        {"plugin": "target-tracking", "params": {"target": 50}}
    ]));
    cpu(&mut k, 99.0);
    assert_eq!(round(&mut k), 0);
    let web = k.s.role("web").unwrap();
    let records: Vec<(&str, &str)> = web
        .autoscale
        .decisions
        .iter()
        .map(|d| (d.trace.as_str(), d.verdict.as_str()))
        .collect();
    assert_eq!(
        records,
        [
            (
                "MEM_USED[--] > 80 → missing",
                "metric missing (MEM_USED): nothing changes"
            ),
            ("", "plugin `target-tracking` is not installed")
        ]
    );
    // A fault: the engine's text is recorded and the role is left alone.
    k.later(CADENCE);
    let effects = k.s.autoscale_with(k.now, SETTINGS, &mut |_| {
        Err(BackendError::Fault(
            "plugin `x` fault (trap): wasm trap: unreachable".into(),
        ))
    });
    assert!(effects.is_empty());
    assert_eq!(k.s.role("web").unwrap().cardinality, 1);
    assert_eq!(
        last(&k, "web").verdict,
        "plugin `x` fault (trap): wasm trap: unreachable"
    );
}

#[test]
fn new_vms_count_once_warmed_up() {
    let mut k = with_web(json!({
        "warmup": 40,
        "elasticity_policies": [{"type": "CHANGE", "adjust": 1, "expression": "CPU > 80"}]
    }));
    cpu(&mut k, 95.0);
    // The VM came up at the start: 15 s in, it still warms up.
    assert_eq!(round(&mut k), 0);
    let d = last(&k, "web");
    assert_eq!(
        d.inputs[0].left_out.as_deref(),
        Some("warming up: 25 s left")
    );
    assert_eq!(d.trace, "CPU[--] > 80 → missing");
    round(&mut k);
    assert_eq!(round(&mut k), 1, "45 s in it counts");
}

#[test]
fn a_cron_policy_fires_at_its_time_and_catch_up_decides_for_missed_runs() {
    // The kit's clock starts at 1_000_000 ms (00:16:40 UTC on 1 Jan 1970).
    let mut k = with_web(json!({
        "scheduled_policies": [
            {"type": "CARDINALITY", "adjust": 3, "recurrence": "20 0 * * *"},
            {"type": "CARDINALITY", "adjust": 2, "recurrence": "30 0 * * *", "catch_up": "skip"}
        ]
    }));
    round(&mut k); // arms the policies
    for _ in 0..13 {
        round(&mut k);
    }
    // 00:20 passed: the first fired.
    assert_eq!(k.s.role("web").unwrap().cardinality, 3);
    let fired =
        k.s.role("web")
            .unwrap()
            .autoscale
            .decisions
            .iter()
            .find(|d| d.policy == "scheduled_policies[0]")
            .cloned()
            .unwrap();
    assert_eq!(fired.trace, "run due at 1970-01-01 00:20:00 UTC");
    assert_eq!(fired.action, "scale to 3");
    // The server is down over 00:30 and comes back at 00:40: skipped.
    k.later(20 * 60_000);
    round(&mut k);
    let d = last(&k, "web");
    assert_eq!(d.policy, "scheduled_policies[1]");
    assert_eq!(d.verdict, "skipped (catch_up: skip)");
    assert_eq!(k.s.role("web").unwrap().cardinality, 3);
}

#[test]
fn evaluations_wait_for_the_cadence_and_the_kept_ones_are_bounded() {
    let mut k = with_policies(json!([
        {"type": "CHANGE", "adjust": 1, "expression": "CPU > 80"}
    ]));
    cpu(&mut k, 10.0);
    assert!(k.s.autoscale_due(k.now, CADENCE));
    assert!(k.s.autoscale_with(k.now, SETTINGS, &mut builtin).is_empty());
    // Within the cadence: not evaluated again.
    k.later(CADENCE - 1);
    assert!(!k.s.autoscale_due(k.now, CADENCE));
    k.s.autoscale_with(k.now, SETTINGS, &mut builtin);
    assert_eq!(k.s.role("web").unwrap().autoscale.decisions.len(), 1);
    for _ in 0..DECISIONS_KEPT + 10 {
        round(&mut k);
    }
    assert_eq!(
        k.s.role("web").unwrap().autoscale.decisions.len(),
        DECISIONS_KEPT
    );
    // Roles without policies keep nothing.
    assert!(k.s.role("db").unwrap().autoscale.is_empty());
}

/// `round` up to the policies: the clock moved on and the VMs polled.
fn polled(k: &mut Kit) {
    k.later(CADENCE);
    let effects = k.poll();
    k.drive(effects);
}

#[test]
fn a_round_asks_for_evaluations_without_changing_anything_and_its_answers_scale() {
    let mut k = with_policies(json!([
        {"type": "CHANGE", "adjust": 1, "expression": "CPU > 80"},
        {"plugin": "target-tracking", "period": 600, "params": {"metric": "CPU"}}
    ]));
    cpu(&mut k, 95.0);
    polled(&mut k);
    let before = k.s.clone();
    let round = k.s.policy_round(k.now, SETTINGS).unwrap();
    assert_eq!(k.s, before, "asking changes nothing");
    let calls: Vec<(&str, usize, &str, bool)> = round
        .calls
        .iter()
        .map(|c| {
            (
                c.role.as_str(),
                c.policy,
                c.plugin.as_str(),
                c.rule.is_some(),
            )
        })
        .collect();
    assert_eq!(
        calls,
        [
            ("web", 0, "expression", true),
            ("web", 1, "target-tracking", false)
        ]
    );
    assert_eq!(round.calls[0].input.vms[0].value("CPU"), Some(95.0));
    // The engine's answers, in the calls' order.
    let answers = vec![
        builtin(&round.calls[0]),
        Ok(Recommendation::keep("on target")),
    ];
    let effects = k.s.autoscaled(round, answers, k.now);
    assert_eq!(effects.len(), 1);
    let decisions = &k.s.role("web").unwrap().autoscale.decisions;
    let kept: Vec<(&str, &str)> = decisions
        .iter()
        .map(|d| (d.verdict.as_str(), d.action.as_str()))
        .collect();
    assert_eq!(
        kept,
        [
            ("fired: CHANGE 1 gives 2", "scale to 2"),
            ("on target", "none")
        ]
    );
    assert_eq!(k.s.role("web").unwrap().cardinality, 2);
    k.drive(effects).settle();
    // The plugin policy's period has not passed: only the other is asked.
    polled(&mut k);
    let round = k.s.policy_round(k.now, SETTINGS).unwrap();
    assert_eq!(round.calls.len(), 1);
    // An answer that never came is a failed evaluation.
    assert!(k.s.autoscaled(round, Vec::new(), k.now).is_empty());
    assert_eq!(last(&k, "web").verdict, "no answer from the policy plugin");
}

#[test]
fn the_answers_for_roles_after_one_that_scaled_are_dropped_for_the_next_round() {
    let mut t = template("none", json!({}));
    for i in 0..2 {
        t["roles"][i]["min_vms"] = json!(1);
        t["roles"][i]["max_vms"] = json!(3);
        t["roles"][i]["elasticity_policies"] =
            json!([{"type": "CHANGE", "adjust": 1, "expression": "CPU > 80"}]);
    }
    let mut k = Kit::new(t).start().settled();
    cpu(&mut k, 95.0);
    polled(&mut k);
    let asked = k.s.policy_round(k.now, SETTINGS).unwrap();
    assert_eq!(asked.calls.len(), 2);
    let answers = asked.calls.iter().map(builtin).collect();
    let effects = k.s.autoscaled(asked, answers, k.now);
    assert_eq!(effects.len(), 1);
    let second = &k.s.roles[1];
    assert_eq!(second.cardinality, 1);
    assert!(second.autoscale.is_empty(), "{:?}", second.autoscale);
    // Its turn comes once the service runs again.
    k.drive(effects).settle();
    assert_eq!(round(&mut k), 1);
    assert_eq!(k.s.roles[1].cardinality, 2);
}
