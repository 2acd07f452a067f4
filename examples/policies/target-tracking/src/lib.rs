//! Target tracking: keep the role's average of one metric near a target,
//! the way AWS target tracking and the Kubernetes HPA do:
//!
//! ```text
//! desired = ceil(current × average / target)
//! ```
//!
//! unless `average / target` is within the tolerance band around 1, where
//! nothing changes (without the band, noise around the target flaps the
//! role). The host clamps `desired` to `min_vms`..`max_vms`, applies the
//! cooldowns and the scale-in stabilization window.
//!
//! Parameters (a role's policy: `{"plugin": "target-tracking", "params":
//! {...}}`):
//! - `metric` (default `CPU`): the monitored value or VM attribute;
//! - `target` (required, > 0): the average to keep;
//! - `tolerance` (default 0.1): the band, as a fraction of the target.

use flotilla_plugin_sdk::policy::*;

pub struct TargetTracking;

struct Params {
    metric: String,
    target: f64,
    tolerance: f64,
}

fn number(input: &Evaluation, key: &str) -> Result<Option<f64>, Error> {
    let Some(raw) = input.param(key) else {
        return Ok(None);
    };
    match raw.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(Some(v)),
        _ => Err(Error::InvalidInput(format!(
            "{key}: `{raw}` is not a number of 0 or more"
        ))),
    }
}

impl Params {
    fn read(input: &Evaluation) -> Result<Params, Error> {
        let target = number(input, "target")?
            .ok_or_else(|| Error::InvalidInput("target: missing".into()))?;
        if target <= 0.0 {
            return Err(Error::InvalidInput("target: must be above 0".into()));
        }
        let tolerance = number(input, "tolerance")?.unwrap_or(0.1);
        if tolerance >= 1.0 {
            return Err(Error::InvalidInput(
                "tolerance: must be below 1 (a fraction of the target)".into(),
            ));
        }
        Ok(Params {
            metric: input.param("metric").unwrap_or("CPU").trim().to_string(),
            target,
            tolerance,
        })
    }
}

impl Policy for TargetTracking {
    fn new() -> Self {
        TargetTracking
    }

    fn info(&self) -> PluginInfo {
        PluginInfo::new(
            "target-tracking",
            env!("CARGO_PKG_VERSION"),
            "Keeps a role's average of one metric near a target",
        )
    }

    fn evaluate(&mut self, input: Evaluation) -> Result<Recommendation, Error> {
        let p = Params::read(&input)?;
        let Some(average) = input.average(&p.metric) else {
            return Ok(Recommendation::keep(format!(
                "metric missing ({}): nothing changes",
                p.metric
            ))
            .with_trace(format!("{}[--]", p.metric)));
        };
        let current = input.role.cardinality;
        let ratio = average / p.target;
        if (ratio - 1.0).abs() <= p.tolerance {
            return Ok(Recommendation::keep(format!(
                "within {}% of the target",
                p.tolerance * 100.0
            ))
            .with_trace(format!(
                "{}[{average}] / {} = {ratio:.2}: within the band",
                p.metric, p.target
            )));
        }
        // At least one VM: a role of zero VMs reports nothing and is
        // handled above.
        let desired =
            ((f64::from(current) * ratio).ceil().max(1.0)).min(f64::from(u32::MAX)) as u32;
        let trace = format!(
            "ceil({current} × {}[{average}] / {}) = {desired}",
            p.metric, p.target
        );
        if desired == current {
            return Ok(Recommendation::keep("already at the desired size").with_trace(trace));
        }
        Ok(Recommendation::scale_to(
            desired,
            format!("{desired} VMs keep {} near {}", p.metric, p.target),
        )
        .with_trace(trace))
    }
}

flotilla_plugin_sdk::export_policy!(TargetTracking);

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(card: u32, cpu: &[f64], params: &[(&str, &str)]) -> Result<Recommendation, Error> {
        TargetTracking.evaluate(Evaluation {
            role: RoleView {
                service_id: 1,
                role_name: "web".into(),
                cardinality: card,
                min_vms: 1,
                max_vms: 10,
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
            now: 0,
            state: None,
        })
    }

    #[test]
    fn scales_to_keep_the_average_at_the_target() {
        let r = eval(2, &[90.0, 90.0], &[("target", "60")]).unwrap();
        assert_eq!(r.desired, Some(3));
        assert_eq!(r.trace, "ceil(2 × CPU[90] / 60) = 3");
        let r = eval(4, &[20.0; 4], &[("target", "60")]).unwrap();
        assert_eq!(r.desired, Some(2));
    }

    #[test]
    fn stays_inside_the_tolerance_band() {
        let r = eval(
            3,
            &[64.0, 65.0, 62.0],
            &[("target", "60"), ("tolerance", "0.1")],
        )
        .unwrap();
        assert_eq!(r.desired, None);
        let r = eval(
            3,
            &[64.0, 65.0, 62.0],
            &[("target", "60"), ("tolerance", "0.01")],
        )
        .unwrap();
        assert_eq!(r.desired, Some(4));
    }

    #[test]
    fn a_missing_metric_changes_nothing_and_bad_params_are_refused() {
        assert_eq!(eval(2, &[], &[("target", "60")]).unwrap().desired, None);
        let err = eval(2, &[1.0], &[]).unwrap_err();
        assert!(matches!(err, Error::InvalidInput(m) if m.starts_with("target:")));
        let err = eval(2, &[1.0], &[("target", "60"), ("tolerance", "2")]).unwrap_err();
        assert!(matches!(err, Error::InvalidInput(m) if m.starts_with("tolerance:")));
    }
}
