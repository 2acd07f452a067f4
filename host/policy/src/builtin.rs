//! The built-in expression policy: OneFlow's metric policy (`type`,
//! `adjust`, `min_adjust_step`, `expression`, `period_number`) as a policy
//! plugin's `evaluate`. The `expression` plugin runs this inside its Wasm
//! sandbox; benchmarks and tests call it natively. Both are this function,
//! so what the sandbox decides is what the native code decides.
//!
//! The host has already chosen the VMs (running, warmed up, with fresh
//! values) and calls the policy every `period` seconds; the policy keeps
//! its consecutive-true count in `state` (the host starts it over when the
//! role scales).

use crate::{Adjustment, AdjustmentKind, Bounds, Count, Hold, ParsedExpression, Streak, Truth};
use flotilla_model::{Evaluation, PluginError, Recommendation};

/// The plugin's id: a role's policy with no `plugin` names this one.
pub const ID: &str = "expression";

/// What a metric no VM reports counts as (`on_missing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnMissing {
    /// Nothing changes and the streak starts over (the default).
    #[default]
    Hold,
    /// The comparison counts as true (a heartbeat that stopped: scale).
    True,
    /// The comparison counts as false (a queue that reports nothing is empty).
    False,
}

impl OnMissing {
    pub fn parse(text: &str) -> Option<OnMissing> {
        match text.trim().to_ascii_lowercase().as_str() {
            "hold" => Some(OnMissing::Hold),
            "true" => Some(OnMissing::True),
            "false" => Some(OnMissing::False),
            _ => None,
        }
    }
}

fn invalid(key: &str, message: impl std::fmt::Display) -> PluginError {
    PluginError::InvalidInput(format!("{key}: {message}"))
}

fn whole<T: std::str::FromStr>(input: &Evaluation, key: &str) -> Result<Option<T>, PluginError> {
    input
        .param(key)
        .map(|raw| {
            raw.trim()
                .parse()
                .map_err(|_| invalid(key, format!("`{raw}` is not a whole number")))
        })
        .transpose()
}

/// The consecutive-true count kept in `state` (what OneFlow shows as a
/// policy's `true_evals`).
pub fn true_evals(state: Option<&str>) -> u32 {
    state.and_then(|s| s.trim().parse().ok()).unwrap_or(0)
}

/// A OneFlow metric policy, read: what the built-in policy decides with.
/// The host reads it once, when a template is validated or a service
/// loaded, and evaluates it natively ([`Rule::evaluate`]); the `expression`
/// plugin reads it from an evaluation's params ([`Rule::from_params`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub adjustment: Adjustment,
    pub expression: ParsedExpression,
    /// Consecutive true evaluations before it fires (0 and 1: the first).
    pub period_number: u32,
    pub on_missing: OnMissing,
}

impl Rule {
    /// Read from an evaluation's params (`type`, `adjust`,
    /// `min_adjust_step`, `expression`, `period_number`, `on_missing`);
    /// a missing or bad one is refused, naming it.
    pub fn from_params(input: &Evaluation) -> Result<Rule, PluginError> {
        let kind = input
            .param("type")
            .ok_or_else(|| invalid("type", "missing"))
            .and_then(|t| {
                AdjustmentKind::parse(t)
                    .ok_or_else(|| invalid("type", "not CHANGE, CARDINALITY or PERCENTAGE_CHANGE"))
            })?;
        let adjustment = Adjustment {
            kind,
            adjust: whole(input, "adjust")?.ok_or_else(|| invalid("adjust", "missing"))?,
            min_adjust_step: whole(input, "min_adjust_step")?.unwrap_or(0),
        };
        let text = input
            .param("expression")
            .ok_or_else(|| invalid("expression", "missing"))?;
        let expression = ParsedExpression::parse(text).map_err(|e| invalid("expression", e))?;
        let period_number: u32 = whole(input, "period_number")?.unwrap_or(0);
        let on_missing = match input.param("on_missing") {
            None => OnMissing::Hold,
            Some(raw) => OnMissing::parse(raw).ok_or_else(|| {
                invalid("on_missing", format!("`{raw}` is not hold, true or false"))
            })?,
        };
        Ok(Rule {
            adjustment,
            expression,
            period_number,
            on_missing,
        })
    }

    /// Evaluate against the VMs, role and state of `input` (its params are
    /// not read: the rule is).
    pub fn evaluate(&self, input: &Evaluation) -> Recommendation {
        let evaluated = self.expression.evaluate(|name| input.average(name));
        let mut trace = evaluated.to_string();
        let truth = match (evaluated.truth, self.on_missing) {
            (Truth::Missing, OnMissing::True) => {
                trace.push_str(" (on_missing: true)");
                Truth::True
            }
            (Truth::Missing, OnMissing::False) => {
                trace.push_str(" (on_missing: false)");
                Truth::False
            }
            (truth, _) => truth,
        };
        let mut streak = Streak {
            last_eval_ms: None,
            true_evals: true_evals(input.state.as_deref()),
        };
        let count = streak.count(input.now.saturating_mul(1000), truth, self.period_number);
        let state = Some(streak.true_evals.to_string());
        let keep = |reason: String| Recommendation {
            state: state.clone(),
            ..Recommendation::keep(reason).with_trace(trace.clone())
        };
        match count {
            Count::Missing => {
                return keep(format!(
                    "metric missing ({}): nothing changes",
                    evaluated.missing.join(", ")
                ));
            }
            Count::False => return keep("false: the streak starts over".into()),
            Count::True { true_evals, of } if true_evals < of => {
                return keep(format!("{true_evals}/{of} consecutive true"));
            }
            Count::True { .. } => {}
        }
        let role = &input.role;
        let adjustment = self.adjustment;
        let target = adjustment.target(
            role.cardinality,
            Bounds {
                min: role.min_vms,
                max: role.max_vms,
            },
        );
        let fired = format!(
            "fired: {} {} gives {}",
            adjustment.kind.as_str(),
            adjustment.adjust,
            target.wanted
        );
        let held = match target.held {
            None => String::new(),
            Some(Hold::Outside) => format!(", {}", Hold::Outside),
            Some(hold) => format!(", {hold}"),
        };
        if target.cardinality == role.cardinality {
            return keep(format!("{fired}{held}: no change"));
        }
        Recommendation {
            state,
            ..Recommendation::scale_to(target.cardinality, format!("{fired}{held}"))
                .with_trace(trace)
        }
    }
}

/// Evaluate OneFlow's metric policy given by `input.params`: what the
/// `expression` plugin does, reading the rule from the params each time
/// (it runs in a fresh instance per evaluation).
pub fn evaluate(input: &Evaluation) -> Result<Recommendation, PluginError> {
    Ok(Rule::from_params(input)?.evaluate(input))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_model::{KeyValue, Metric, RoleView, VmSample};

    fn input(cpu: &[f64], params: &[(&str, &str)], state: Option<&str>) -> Evaluation {
        Evaluation {
            role: RoleView {
                service_id: 1,
                role_name: "web".into(),
                cardinality: 2,
                min_vms: 1,
                max_vms: 4,
                cooldown: 0,
            },
            params: params.iter().map(|(k, v)| KeyValue::new(*k, *v)).collect(),
            vms: cpu
                .iter()
                .enumerate()
                .map(|(i, v)| VmSample {
                    vm_id: i.to_string(),
                    values: vec![Metric::new("CPU", *v)],
                })
                .collect(),
            now: 100,
            state: state.map(str::to_string),
        }
    }

    const OUT: [(&str, &str); 3] = [
        ("type", "CHANGE"),
        ("adjust", "1"),
        ("expression", "CPU > 80"),
    ];

    #[test]
    fn fires_with_oneflows_maths_and_trace() {
        let r = evaluate(&input(&[90.0, 80.6], &OUT, None)).unwrap();
        assert_eq!(r.desired, Some(3));
        assert_eq!(r.trace, "CPU[85.3] > 80 → true");
        assert_eq!(r.reason, "fired: CHANGE 1 gives 3");
    }

    #[test]
    fn counts_consecutive_true_evaluations_in_its_state() {
        let params = [OUT[0], OUT[1], OUT[2], ("period_number", "2")];
        let first = evaluate(&input(&[95.0], &params, None)).unwrap();
        assert_eq!((first.desired, first.state.as_deref()), (None, Some("1")));
        assert_eq!(first.reason, "1/2 consecutive true");
        let second = evaluate(&input(&[95.0], &params, first.state.as_deref())).unwrap();
        assert_eq!(second.desired, Some(3));
        let low = evaluate(&input(&[5.0], &params, second.state.as_deref())).unwrap();
        assert_eq!((low.desired, low.state.as_deref()), (None, Some("0")));
    }

    #[test]
    fn a_missing_metric_changes_nothing_unless_on_missing_says_so() {
        let held = evaluate(&input(&[], &OUT, Some("3"))).unwrap();
        assert_eq!(held.desired, None);
        assert_eq!(held.state.as_deref(), Some("0"));
        assert_eq!(held.reason, "metric missing (CPU): nothing changes");
        assert_eq!(held.trace, "CPU[--] > 80 → missing");
        let params = [OUT[0], OUT[1], OUT[2], ("on_missing", "true")];
        let fired = evaluate(&input(&[], &params, None)).unwrap();
        assert_eq!(fired.desired, Some(3));
        assert_eq!(fired.trace, "CPU[--] > 80 → missing (on_missing: true)");
    }

    #[test]
    fn the_bounds_hold_the_target_and_say_so() {
        let params = [
            ("type", "CHANGE"),
            ("adjust", "5"),
            ("expression", "CPU > 80"),
        ];
        let r = evaluate(&input(&[90.0], &params, None)).unwrap();
        assert_eq!(r.desired, Some(4));
        assert_eq!(r.reason, "fired: CHANGE 5 gives 7, clamped to max_vms 4");
        let params = [
            ("type", "CARDINALITY"),
            ("adjust", "2"),
            ("expression", "CPU > 80"),
        ];
        let r = evaluate(&input(&[90.0], &params, None)).unwrap();
        assert_eq!(r.desired, None);
        assert_eq!(r.reason, "fired: CARDINALITY 2 gives 2: no change");
    }

    #[test]
    fn a_rule_read_once_decides_as_the_params_do_and_ignores_them_after() {
        let params = [OUT[0], OUT[1], OUT[2], ("period_number", "2")];
        let first = input(&[95.0], &params, None);
        let rule = Rule::from_params(&first).unwrap();
        assert_eq!(rule.expression.text(), "CPU > 80");
        assert_eq!(Ok(rule.evaluate(&first)), evaluate(&first));
        let mut second = input(&[95.0], &[], Some("1"));
        second.params.clear();
        assert_eq!(rule.evaluate(&second).desired, Some(3));
    }

    #[test]
    fn bad_parameters_are_refused_naming_the_field() {
        let err = |params: &[(&str, &str)]| evaluate(&input(&[1.0], params, None)).unwrap_err();
        assert!(
            err(&[("adjust", "1"), ("expression", "CPU > 1")])
                .message()
                .starts_with("type:")
        );
        assert!(
            err(&[OUT[0], ("adjust", "x"), OUT[2]])
                .message()
                .starts_with("adjust:")
        );
        assert!(
            err(&[OUT[0], OUT[1], ("expression", "CPU >")])
                .message()
                .starts_with("expression:")
        );
        let bad = [OUT[0], OUT[1], OUT[2], ("on_missing", "maybe")];
        assert!(err(&bad).message().starts_with("on_missing:"));
    }
}
