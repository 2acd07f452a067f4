use super::*;
use crate::service::lifecycle::Service;
use crate::service::parse_template;
use flotilla_model::{Evaluation, RoleView};
use serde_json::json;

/// A service as the release before typed policies wrote it: this
/// template, validated, made into service 7 and started at 1,000,000 ms.
const PREVIOUS: &str = include_str!("previous_service.json");

fn template() -> Value {
    json!({
        "name": "shop", "description": "stored by the previous version",
        "roles": [
            {"name": "web", "type": "vm", "template_id": 0, "cardinality": 2,
             "min_vms": 1, "max_vms": "5", "cooldown": 60, "warmup": 30,
             "elasticity_policies": [
                {"type": "CHANGE", "adjust": "1", "expression": " cpu>80 && MEM_USED < 90", "period": "60",
                 "period_number": 3, "cooldown": 120, "on_missing": "TRUE", "note": "peak", "last_eval": 5,
                 "min_adjust_step": null},
                {"type": "PERCENTAGE_CHANGE", "adjust": -20, "min_adjust_step": 1, "expression": "CPU < 20"},
                {"plugin": "target-tracking", "period": 30, "period_number": 2,
                 "params": {"metric": "CPU", "target": 60, "tolerance": "0.1", "strict": true}}
             ],
             "scheduled_policies": [
                {"type": "CARDINALITY", "adjust": 4, "recurrence": "0 9 * * mon-fri", "time_zone": "Europe/Madrid",
                 "catch_up": "Skip"},
                {"type": "CHANGE", "adjust": -1, "start_time": "2030-01-01 00:00", "cooldown": "10", "x-owner": {"team": "ops"}}
             ]},
            {"name": "db", "type": "vm", "template_id": 1, "cardinality": 1}
        ]
    })
}

#[test]
fn a_service_stored_by_the_previous_version_reads_typed_and_writes_back_the_same_json() {
    let service: Service = serde_json::from_str(PREVIOUS.trim_end()).unwrap();
    let web = &service.template.roles[0];
    let Ok(PolicyRule::Metric(m)) = &web.elasticity_policies[0].rule else {
        panic!("{:?}", web.elasticity_policies[0]);
    };
    assert_eq!(m.expression.text(), " cpu>80 && MEM_USED < 90");
    assert_eq!(m.expression.names(), ["CPU", "MEM_USED"]);
    assert_eq!(
        m.on_missing.as_ref().map(|o| o.value),
        Some(OnMissing::True)
    );
    assert_eq!(web.elasticity_policies[0].period_s(), 60);
    assert_eq!(web.elasticity_policies[2].plugin(), Some("target-tracking"));
    let Ok(plan) = &web.scheduled_policies[0].plan else {
        panic!("{:?}", web.scheduled_policies[0]);
    };
    assert_eq!(plan.catch_up(), CatchUp::Skip);
    assert!(web.scheduled_policies[1].plan.is_ok());
    assert_eq!(
        serde_json::to_string(&service).unwrap(),
        PREVIOUS.trim_end()
    );
}

#[test]
fn a_template_validated_now_is_written_as_the_previous_version_wrote_it() {
    let template = parse_template(&template()).unwrap();
    let mut service = Service::new(7, template, 1_000_000, 900_000);
    let _ = service.start(1_000_000);
    assert_eq!(
        serde_json::to_string(&service).unwrap(),
        PREVIOUS.trim_end()
    );
    // And what it reads back is the same template, policies and all.
    let back: Service = serde_json::from_str(PREVIOUS.trim_end()).unwrap();
    assert_eq!(back.template, service.template);
}

#[test]
fn a_policy_that_no_longer_reads_is_kept_whole_with_the_reason() {
    let stored = r#"[{"adjust":1,"expression":"CPU >> 80","period":"soon","type":"CHANGE"},{"plugin":7},{"adjust":1,"recurrence":"61 * * * *","type":"CHANGE"}]"#;
    let policies: Vec<Value> = serde_json::from_str(stored).unwrap();
    let metric: ElasticityPolicy = serde_json::from_value(policies[0].clone()).unwrap();
    let reason = metric.rule.as_ref().unwrap_err().to_string();
    assert!(reason.starts_with("expression: at column 6"), "{reason}");
    assert_eq!(metric.plugin(), None);
    assert!(metric.params().is_empty());
    let plugin: ElasticityPolicy = serde_json::from_value(policies[1].clone()).unwrap();
    assert_eq!(
        plugin.rule.clone().map_err(String::from),
        Err("plugin: not a string".into())
    );
    let scheduled: ScheduledPolicy = serde_json::from_value(policies[2].clone()).unwrap();
    assert!(
        scheduled
            .plan
            .unwrap_err()
            .to_string()
            .starts_with("recurrence: ")
    );
    let written = serde_json::to_string(&json!([
        serde_json::to_value(&metric).unwrap(),
        serde_json::to_value(&plugin).unwrap(),
        serde_json::to_value(ScheduledPolicy::read(
            policies[2].as_object().unwrap().clone()
        ))
        .unwrap(),
    ]))
    .unwrap();
    assert_eq!(written, stored);
}

#[test]
fn a_plugin_gets_the_params_it_got_from_the_json() {
    let template = parse_template(&template()).unwrap();
    let policies = &template.roles[0].elasticity_policies;
    let params = |k: usize| -> Vec<(String, String)> {
        policies[k]
            .params()
            .into_iter()
            .map(|kv| (kv.key, kv.value))
            .collect()
    };
    let pairs = |p: &[(&str, &str)]| -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    // Every attribute with a value but the server's runtime keys, in the
    // attributes' order; a null is no value.
    assert_eq!(
        params(0),
        pairs(&[
            ("adjust", "1"),
            ("cooldown", "120"),
            ("expression", " cpu>80 && MEM_USED < 90"),
            ("note", "peak"),
            ("on_missing", "TRUE"),
            ("period", "60"),
            ("period_number", "3"),
            ("type", "CHANGE"),
        ])
    );
    assert_eq!(
        params(2),
        pairs(&[
            ("metric", "CPU"),
            ("strict", "true"),
            ("target", "60"),
            ("tolerance", "0.1"),
            ("period_number", "2"),
        ])
    );
    assert_eq!(policies[2].metrics(), ["CPU"]);
    assert_eq!(policies[2].builtin_rule(), None);
}

#[test]
fn the_rule_read_once_is_the_rule_the_plugin_reads_from_the_params() {
    let template = parse_template(&template()).unwrap();
    for policy in &template.roles[0].elasticity_policies[..2] {
        let input = Evaluation {
            role: RoleView {
                service_id: 7,
                role_name: "web".into(),
                cardinality: 2,
                min_vms: 1,
                max_vms: 5,
                cooldown: 60,
            },
            params: policy.params(),
            vms: Vec::new(),
            now: 1_000,
            state: None,
        };
        let from_params = builtin::Rule::from_params(&input).unwrap();
        assert_eq!(policy.builtin_rule(), Some(from_params));
    }
}

#[test]
fn keywords_and_numbers_read_as_oneflow_writes_them() {
    let p = ElasticityPolicy::read(
        json!({"type": "change", "adjust": " -2 ", "expression": "CPU<1", "period": "30",
               "min_adjust_step": 4_294_967_296u64})
        .as_object()
        .unwrap()
        .clone(),
    );
    let Ok(PolicyRule::Metric(m)) = &p.rule else {
        panic!("{p:?}");
    };
    assert_eq!(m.adjust.kind.value, AdjustmentKind::Change);
    assert_eq!(m.adjust.kind.text, "change");
    assert_eq!(m.adjust.adjust, -2);
    assert_eq!(p.period, Some(30));
    // A step no role reaches: the plugin refuses it from the params, so the
    // host does not evaluate it natively either.
    assert_eq!(p.builtin_rule(), None);
}
