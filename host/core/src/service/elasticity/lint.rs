//! Warnings about policies that are valid but will not do what their
//! author expects, given when a template is created: thresholds that make
//! a role flap, a cooldown shorter than its VMs take to boot, an `adjust`
//! larger than the role's range, a PERCENTAGE_CHANGE that is less than
//! one VM at the role's sizes.

use crate::service::model::{Role, ServiceTemplate};
use crate::service::policy::{ElasticityPolicy, PolicyRule};
use crate::service::validate::FieldError;
use flotilla_policy::AdjustmentKind;

/// Role sizes the lint looks at, from `min_vms` up: enough for any role
/// a person watches, bounded so that a template with an enormous
/// `max_vms` cannot make creating it slow.
const SIZES_LOOKED_AT: usize = 10_000;

/// A metric policy OneFlow-style, as far as the lint needs it.
struct Rule {
    k: usize,
    kind: AdjustmentKind,
    adjust: i64,
    /// (name, fires above?, threshold) for a single comparison.
    threshold: Option<(String, bool, f64)>,
}

fn rule(k: usize, p: &ElasticityPolicy) -> Option<Rule> {
    let Ok(PolicyRule::Metric(m)) = &p.rule else {
        return None;
    };
    let threshold = m
        .expression
        .threshold()
        .map(|(n, above, v)| (n.to_string(), above, v));
    Some(Rule {
        k,
        kind: m.adjust.kind.value,
        adjust: m.adjust.adjust,
        threshold,
    })
}

/// The warnings for every role of `template`. `boot_s` gives how long a
/// role's VMs take to boot, when the caller knows (the VM template's, the
/// role's `warmup`).
pub fn lint(template: &ServiceTemplate, boot_s: &dyn Fn(&Role) -> Option<u32>) -> Vec<FieldError> {
    let mut out = Vec::new();
    for (i, role) in template.roles.iter().enumerate() {
        lint_role(i, role, boot_s(role), &mut out);
    }
    out
}

fn lint_role(i: usize, role: &Role, boot_s: Option<u32>, out: &mut Vec<FieldError>) {
    if role.elasticity_policies.is_empty() && role.scheduled_policies.is_empty() {
        return;
    }
    let (Some(min), Some(max)) = (role.min_vms, role.max_vms) else {
        return;
    };
    let at = |k: usize, key: &str| format!("roles[{i}].elasticity_policies[{k}].{key}");
    let rules: Vec<Rule> = role
        .elasticity_policies
        .iter()
        .enumerate()
        .filter_map(|(k, p)| rule(k, p))
        .collect();
    let mut warn = |field: String, reason: String| out.push(FieldError { field, reason });

    for r in &rules {
        match r.kind {
            AdjustmentKind::Change
                if r.adjust.unsigned_abs() > u64::from(max.saturating_sub(min)) =>
            {
                warn(
                    at(r.k, "adjust"),
                    format!(
                        "{} is more than the role's range (min_vms {min} to max_vms {max}): every firing takes the role to a bound",
                        r.adjust
                    ),
                )
            }
            AdjustmentKind::Cardinality
                if r.adjust < i64::from(min) || r.adjust > i64::from(max) =>
            {
                warn(
                    at(r.k, "adjust"),
                    format!(
                        "CARDINALITY {} is outside min_vms {min} to max_vms {max}: it is held at the bound",
                        r.adjust
                    ),
                )
            }
            AdjustmentKind::PercentageChange if r.adjust != 0 => {
                // Below this size a change is less than one VM: OneFlow
                // moves one VM whatever the percentage.
                let small: Vec<u32> = (min.max(1)..=max)
                    .take(SIZES_LOOKED_AT)
                    .filter(|n| (f64::from(*n) * r.adjust as f64 / 100.0).abs() < 1.0)
                    .collect();
                if let (Some(first), Some(last)) = (small.first(), small.last()) {
                    warn(
                        at(r.k, "adjust"),
                        format!(
                            "{}% is less than one VM at {first} to {last} VMs: each firing there moves one VM (or min_adjust_step)",
                            r.adjust
                        ),
                    );
                }
            }
            _ => {}
        }
    }

    // Flapping: a scale-out and a scale-in rule on the same value.
    for out_rule in rules.iter().filter(|r| grows(r)) {
        for in_rule in rules.iter().filter(|r| !grows(r) && r.adjust != 0) {
            let (Some((name, true, high)), Some((in_name, false, low))) =
                (&out_rule.threshold, &in_rule.threshold)
            else {
                continue;
            };
            if name != in_name {
                continue;
            }
            if low >= high {
                warn(
                    at(in_rule.k, "expression"),
                    format!(
                        "scales in below {low} while elasticity_policies[{}] scales out above {high}: both fire between them and the role flaps",
                        out_rule.k
                    ),
                );
                continue;
            }
            // After scaling out from n VMs, the same load spread over more
            // VMs reads lower: if that falls under the scale-in threshold,
            // the next evaluation scales back in.
            let flaps_at = (min.max(1)..max).take(SIZES_LOOKED_AT).find(|n| {
                let after = step_after(out_rule, *n, max);
                after > *n && high * f64::from(*n) / f64::from(after) < *low
            });
            if let Some(n) = flaps_at {
                let after = step_after(out_rule, n, max);
                warn(
                    at(in_rule.k, "expression"),
                    format!(
                        "at {n} VMs a scale-out to {after} spreads {name} just above {high} to {:.1}, under this policy's {low}: the role flaps; widen the gap",
                        high * f64::from(n) / f64::from(after)
                    ),
                );
            }
        }
    }

    if let Some(boot) = boot_s {
        let cooldown = role.cooldown_out.or(role.cooldown);
        if let Some(c) = cooldown.filter(|c| *c < boot)
            && !rules.is_empty()
        {
            let key = if role.cooldown_out.is_some() {
                "cooldown_out"
            } else {
                "cooldown"
            };
            warn(
                format!("roles[{i}].{key}"),
                format!(
                    "{c} s is shorter than the {boot} s the role's VMs take to boot: a policy may scale again before the new VMs carry load"
                ),
            );
        }
    }
}

/// Policies that name a plugin `installed` does not know: the template is
/// kept (the plugin may be installed later, as OneFlow keeps a policy it
/// cannot evaluate yet), but until then the policy never scales the role.
pub fn missing_plugins(
    template: &ServiceTemplate,
    installed: &dyn Fn(&str) -> bool,
) -> Vec<FieldError> {
    let mut out = Vec::new();
    for (i, role) in template.roles.iter().enumerate() {
        for (k, policy) in role.elasticity_policies.iter().enumerate() {
            let Ok(PolicyRule::Plugin(p)) = &policy.rule else {
                continue;
            };
            let plugin = p.plugin.as_str();
            if !installed(plugin) {
                out.push(FieldError {
                    field: format!("roles[{i}].elasticity_policies[{k}].plugin"),
                    reason: format!(
                        "policy plugin \"{plugin}\" is not installed (or did not load): this policy is not evaluated until it is (`flotilla plugin list` shows the plugins)"
                    ),
                });
            }
        }
    }
    out
}

/// The values a role's OneFlow policies read (`MEM_USED` in
/// `MEM_USED > 80`) and plugin policies name as their `metric`, each once.
pub fn metrics_read(role: &Role) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for policy in &role.elasticity_policies {
        for m in policy.metrics() {
            if !out.contains(&m) {
                out.push(m);
            }
        }
    }
    out
}

fn grows(r: &Rule) -> bool {
    match r.kind {
        AdjustmentKind::Cardinality => false,
        _ => r.adjust > 0,
    }
}

/// Where a scale-out rule takes a role of `n` VMs.
fn step_after(r: &Rule, n: u32, max: u32) -> u32 {
    let adjustment = flotilla_policy::Adjustment {
        kind: r.kind,
        adjust: r.adjust,
        min_adjust_step: 0,
    };
    u32::try_from(adjustment.wanted(n).clamp(0, i64::from(max))).unwrap_or(max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::parse_template;
    use serde_json::{Value, json};

    fn warnings(role: Value, boot: Option<u32>) -> Vec<String> {
        let mut role = role;
        role["name"] = json!("web");
        role["type"] = json!("vm");
        role["template_id"] = json!(0);
        role["cardinality"] = role["min_vms"].clone();
        let t = parse_template(&json!({"name": "t", "roles": [role]})).unwrap();
        lint(&t, &|_| boot)
            .into_iter()
            .map(|w| w.to_string())
            .collect()
    }

    fn two(out: &str, r#in: &str) -> Value {
        json!({"min_vms": 1, "max_vms": 10, "cooldown": 300, "elasticity_policies": [
            {"type": "CHANGE", "adjust": 1, "expression": out},
            {"type": "CHANGE", "adjust": -1, "expression": r#in}]})
    }

    #[test]
    fn overlapping_or_too_close_thresholds_flap() {
        let w = warnings(two("CPU > 60", "CPU < 70"), None);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].starts_with("roles[0].elasticity_policies[1].expression: scales in below 70 while elasticity_policies[0] scales out above 60"), "{w:?}");
        // 80 % over 1 VM is 40 % over 2: under 50.
        let w = warnings(two("CPU > 80", "CPU < 50"), None);
        assert!(w[0].contains("at 1 VMs a scale-out to 2 spreads CPU just above 80 to 40.0, under this policy's 50"), "{w:?}");
        assert!(warnings(two("CPU > 80", "CPU < 30"), None).is_empty());
        // Different values never flap each other.
        assert!(warnings(two("CPU > 60", "QUEUE < 70"), None).is_empty());
    }

    #[test]
    fn adjustments_larger_than_the_range_or_less_than_a_vm_are_named() {
        let w = warnings(
            json!({"min_vms": 2, "max_vms": 4, "elasticity_policies": [
                {"type": "CHANGE", "adjust": 5, "expression": "CPU > 80"},
                {"type": "CARDINALITY", "adjust": 9, "expression": "CPU > 95"},
                {"type": "PERCENTAGE_CHANGE", "adjust": -20, "expression": "CPU < 10"}]}),
            None,
        );
        assert_eq!(
            w,
            [
                "roles[0].elasticity_policies[0].adjust: 5 is more than the role's range (min_vms 2 to max_vms 4): every firing takes the role to a bound",
                "roles[0].elasticity_policies[1].adjust: CARDINALITY 9 is outside min_vms 2 to max_vms 4: it is held at the bound",
                "roles[0].elasticity_policies[2].adjust: -20% is less than one VM at 2 to 4 VMs: each firing there moves one VM (or min_adjust_step)"
            ]
        );
    }

    #[test]
    fn policies_naming_a_plugin_not_installed_and_the_values_read_are_named() {
        let t = parse_template(&json!({"name": "t", "roles": [{
            "name": "web", "type": "vm", "template_id": 0, "cardinality": 1,
            "min_vms": 1, "max_vms": 4, "elasticity_policies": [
                {"plugin": "target-tracking", "params": {"metric": "QUEUE"}},
                {"plugin": "absent", "params": {}},
                {"type": "CHANGE", "adjust": 1, "expression": "CPU > 80 && MEM_USED > 50"}]}]}))
        .unwrap();
        let w: Vec<String> = missing_plugins(&t, &|id| id == "target-tracking")
            .into_iter()
            .map(|w| w.to_string())
            .collect();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].starts_with(
                "roles[0].elasticity_policies[1].plugin: policy plugin \"absent\" is not installed"
            ),
            "{w:?}"
        );
        assert_eq!(metrics_read(&t.roles[0]), ["QUEUE", "CPU", "MEM_USED"]);
    }

    #[test]
    fn a_cooldown_shorter_than_the_boot_is_named() {
        let w = warnings(two("CPU > 80", "CPU < 20"), Some(600));
        assert_eq!(
            w,
            [
                "roles[0].cooldown: 300 s is shorter than the 600 s the role's VMs take to boot: a policy may scale again before the new VMs carry load"
            ]
        );
        assert!(warnings(two("CPU > 80", "CPU < 20"), Some(120)).is_empty());
    }
}
