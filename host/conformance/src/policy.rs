//! The elasticity policy conformance suite. Policies take parameters of
//! their own, so the suite checks the contract (answers without faults,
//! determinism, no samples handled), not a particular scaling decision. It
//! evaluates with the `threshold` plugin's parameters unless given the
//! policy's own; an evaluation the policy refuses is a failure.

use super::{Checks, Failure, Progress, Report, check_info, wrong};
use flotilla_plugin_host::{
    CallError, Evaluation, KeyValue, LoadedPlugin, Manifest, Metric, PluginError, Policy,
    Recommendation, RoleView, VmSample,
};
use std::sync::Arc;

/// The parameters the suite evaluates with when none are given: the
/// `threshold` plugin's.
const DEFAULT_PARAMS: [(&str, &str); 2] = [("above", "80"), ("below", "20")];

fn evaluation(params: &[(String, String)], cpu: &[f64]) -> Evaluation {
    Evaluation {
        role: RoleView {
            service_id: 4242,
            role_name: "conformance".into(),
            cardinality: 2,
            min_vms: 1,
            max_vms: 5,
            cooldown: 300,
        },
        params: params
            .iter()
            .map(|(key, value)| KeyValue {
                key: key.clone(),
                value: value.clone(),
            })
            .collect(),
        vms: cpu
            .iter()
            .enumerate()
            .map(|(i, v)| VmSample {
                vm_id: i.to_string(),
                values: vec![Metric {
                    name: "CPU".into(),
                    value: *v,
                }],
            })
            .collect(),
        now: 1_700_000_000,
        state: None,
    }
}

/// A recommendation passes. A refusal (invalid-input) fails: the suite
/// expects an answer to each of its cases, and a policy that refuses them
/// was not checked at all (with the policy's own parameters, `--param`,
/// it can answer). A fault or another error fails too.
fn answered(result: Result<Recommendation, CallError>) -> Result<String, Failure> {
    match result {
        Ok(r) if r.reason.trim().is_empty() => Err(wrong("the recommendation has no reason")),
        Ok(r) => Ok(match r.desired {
            Some(n) => format!("scale to {n}: {}", r.trace),
            None => format!("no change: {}", r.reason),
        }),
        Err(CallError::Plugin(PluginError::InvalidInput(m))) => Err(wrong(format!(
            "refused the evaluation: {m} (give the policy's own parameters with --param KEY=VALUE)"
        ))),
        Err(e) => Err(e.into()),
    }
}

/// The suite; `params` are what each evaluation gets (empty: the
/// `threshold` plugin's, `above` and `below`).
pub(super) async fn run(
    plugin: Arc<LoadedPlugin>,
    manifest: &Manifest,
    params: &[(String, String)],
    progress: &Progress,
) -> Report {
    let params: Vec<(String, String)> = if params.is_empty() {
        DEFAULT_PARAMS
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    } else {
        params.to_vec()
    };
    let evaluation = |cpu: &[f64]| evaluation(&params, cpu);
    let mut c = Checks::new(progress);
    let policy = match Policy::new(plugin) {
        Ok(p) => p,
        Err(e) => {
            c.record("loads as a policy", Err(wrong(e.to_string())));
            return c.into_report(manifest);
        }
    };
    let eval = |input: Evaluation| {
        let policy = policy.clone();
        async move { policy.evaluate(input).await }
    };
    c.check("info matches the manifest", async {
        let policy = policy.clone();
        match tokio::task::spawn_blocking(move || policy.info_blocking()).await {
            Ok(info) => check_info(info, manifest),
            Err(e) => Err(wrong(format!("task failed: {e}"))),
        }
    })
    .await;
    c.check("evaluates a busy role", async {
        answered(eval(evaluation(&[95.0, 91.0])).await)
    })
    .await;
    c.check("evaluates an idle role", async {
        answered(eval(evaluation(&[3.0, 5.0])).await)
    })
    .await;
    c.check("handles a role without samples", async {
        answered(eval(evaluation(&[])).await)
    })
    .await;
    c.check("is deterministic", async {
        let first = eval(evaluation(&[85.0, 70.0])).await;
        let second = eval(evaluation(&[85.0, 70.0])).await;
        match (first, second) {
            (Ok(a), Ok(b)) if a == b => Ok("same input, same answer".into()),
            (Ok(a), Ok(b)) => Err(wrong(format!("{:?} then {:?}", a.desired, b.desired))),
            (Err(e), _) | (_, Err(e)) => Err(e.into()),
        }
    })
    .await;
    c.into_report(manifest)
}
