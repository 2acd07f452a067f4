//! A threshold policy: scale out when the role's average of one metric is
//! above `above`, in when it is below `below`, after `period_number`
//! consecutive evaluations agree.
//!
//! Parameters (from the role's policy in the service template):
//! - `metric` (default `CPU`): the monitored value or user attribute;
//! - `above`, `below`: thresholds; either may be left out;
//! - `adjust` (default 1): VMs added or removed per scale;
//! - `period_number` (default 1): consecutive agreeing evaluations needed.
//!
//! The average is rounded to two decimals and the trace reads like
//! OneFlow's (`CPU[85.3] > 80`).

use flotilla_plugin_sdk::policy::*;

pub struct Threshold;

struct Params {
    metric: String,
    above: Option<f64>,
    below: Option<f64>,
    adjust: u32,
    period_number: u32,
}

fn number<T: std::str::FromStr>(input: &Evaluation, key: &str) -> Result<Option<T>, Error> {
    match input.param(key) {
        None => Ok(None),
        Some(raw) => raw
            .trim()
            .parse::<T>()
            .map(Some)
            .map_err(|_| Error::InvalidInput(format!("{key}: `{raw}` is not a valid number"))),
    }
}

impl Params {
    fn read(input: &Evaluation) -> Result<Params, Error> {
        let params = Params {
            metric: input
                .param("metric")
                .unwrap_or("CPU")
                .trim()
                .to_ascii_uppercase(),
            above: number(input, "above")?,
            below: number(input, "below")?,
            adjust: number(input, "adjust")?.unwrap_or(1),
            period_number: number(input, "period_number")?.unwrap_or(1).max(1),
        };
        if params.above.is_none() && params.below.is_none() {
            return Err(Error::InvalidInput(
                "above, below: set at least one threshold".into(),
            ));
        }
        if let (Some(above), Some(below)) = (params.above, params.below)
            && below >= above
        {
            return Err(Error::InvalidInput(format!(
                "below: {below} must be lower than above ({above})"
            )));
        }
        if params.adjust == 0 {
            return Err(Error::InvalidInput("adjust: must be at least 1".into()));
        }
        Ok(params)
    }
}

/// The consecutive evaluations that agreed so far, kept by the host as
/// `up:N` or `down:N`.
fn streak(state: Option<&str>) -> (Option<&str>, u32) {
    state
        .and_then(|s| s.split_once(':'))
        .and_then(|(dir, n)| n.parse().ok().map(|n| (Some(dir), n)))
        .unwrap_or((None, 0))
}

impl Policy for Threshold {
    fn new() -> Self {
        Threshold
    }

    fn info(&self) -> PluginInfo {
        PluginInfo::new(
            "threshold",
            env!("CARGO_PKG_VERSION"),
            "Scales a role out above one metric threshold and in below another",
        )
    }

    fn evaluate(&mut self, input: Evaluation) -> Result<Recommendation, Error> {
        let p = Params::read(&input)?;
        let Some(average) = input.average(&p.metric) else {
            return Ok(
                Recommendation::keep(format!("no running VM reports {}", p.metric))
                    .with_trace(format!("{}[--]", p.metric)),
            );
        };
        let cardinality = input.role.cardinality;
        let (direction, trace) = match (p.above, p.below) {
            (Some(above), _) if average > above => {
                ("up", format!("{}[{average}] > {above}", p.metric))
            }
            (_, Some(below)) if average < below => {
                ("down", format!("{}[{average}] < {below}", p.metric))
            }
            _ => {
                let mut trace = format!("{}[{average}]", p.metric);
                if let Some(above) = p.above {
                    trace.push_str(&format!(" <= {above}"));
                }
                if let Some(below) = p.below {
                    trace.push_str(&format!(" >= {below}"));
                }
                let mut keep = Recommendation::keep("within thresholds").with_trace(trace);
                keep.state = None;
                return Ok(keep);
            }
        };
        let (last_direction, last_count) = streak(input.state.as_deref());
        let count = if last_direction == Some(direction) {
            last_count + 1
        } else {
            1
        };
        let state = Some(format!("{direction}:{}", count.min(p.period_number)));
        if count < p.period_number {
            return Ok(Recommendation {
                state,
                ..Recommendation::keep(format!(
                    "{trace}: {count} of {} evaluations agree",
                    p.period_number
                ))
                .with_trace(trace)
            });
        }
        let desired = if direction == "up" {
            cardinality.saturating_add(p.adjust)
        } else {
            cardinality.saturating_sub(p.adjust)
        };
        Ok(Recommendation {
            state,
            ..Recommendation::scale_to(
                desired,
                format!("{trace}: scale from {cardinality} to {desired} VMs"),
            )
            .with_trace(trace)
        })
    }
}

// Built in: imports nothing from the host, for a cheaper fresh instance
// (see `export_policy!`).
flotilla_plugin_sdk::export_policy!(Threshold, without_panic_log);

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(cpu: &[f64], params: &[(&str, &str)], state: Option<&str>) -> Evaluation {
        Evaluation {
            role: RoleView {
                service_id: 1,
                role_name: "web".into(),
                cardinality: 2,
                min_vms: 1,
                max_vms: 5,
                cooldown: 300,
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
            now: 1_000,
            state: state.map(str::to_string),
        }
    }

    #[test]
    fn scales_out_above_the_threshold_with_a_oneflow_style_trace() {
        let r = Threshold
            .evaluate(eval(
                &[90.0, 80.6],
                &[("above", "80"), ("below", "20")],
                None,
            ))
            .unwrap();
        assert_eq!(r.desired, Some(3));
        assert_eq!(r.trace, "CPU[85.3] > 80");
    }

    #[test]
    fn scales_in_below_and_keeps_within() {
        let params = [("above", "80"), ("below", "20"), ("adjust", "1")];
        assert_eq!(
            Threshold
                .evaluate(eval(&[5.0], &params, None))
                .unwrap()
                .desired,
            Some(1)
        );
        assert_eq!(
            Threshold
                .evaluate(eval(&[50.0], &params, None))
                .unwrap()
                .desired,
            None
        );
    }

    #[test]
    fn waits_for_consecutive_agreeing_evaluations() {
        let params = [("above", "80"), ("period_number", "2")];
        let first = Threshold.evaluate(eval(&[95.0], &params, None)).unwrap();
        assert_eq!(first.desired, None);
        assert_eq!(first.state.as_deref(), Some("up:1"));
        let second = Threshold
            .evaluate(eval(&[95.0], &params, first.state.as_deref()))
            .unwrap();
        assert_eq!(second.desired, Some(3));
    }

    #[test]
    fn refuses_bad_parameters_naming_the_field() {
        let err = Threshold
            .evaluate(eval(&[1.0], &[("above", "high")], None))
            .unwrap_err();
        assert!(matches!(err, Error::InvalidInput(m) if m.starts_with("above:")));
        let err = Threshold.evaluate(eval(&[1.0], &[], None)).unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)));
    }

    #[test]
    fn no_samples_means_no_change() {
        let r = Threshold
            .evaluate(eval(&[], &[("above", "80")], None))
            .unwrap();
        assert_eq!(r.desired, None);
        assert_eq!(r.trace, "CPU[--]");
    }
}
