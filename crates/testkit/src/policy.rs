//! The elasticity policy conformance suite. Policies take parameters of
//! their own, so the suite checks the contract (answers without faults,
//! determinism, no samples handled), not a particular scaling decision.

use super::{Checks, Failure, Report, check_info, wrong};
use flotilla_plugin_host::{
    CallError, Evaluation, KeyValue, LoadedPlugin, Manifest, Metric, PluginError, Policy,
    Recommendation, RoleView, VmSample,
};
use std::sync::Arc;

fn evaluation(cpu: &[f64]) -> Evaluation {
    Evaluation {
        role: RoleView {
            service_id: 4242,
            role_name: "conformance".into(),
            cardinality: 2,
            min_vms: 1,
            max_vms: 5,
            cooldown: 300,
        },
        params: vec![
            KeyValue {
                key: "above".into(),
                value: "80".into(),
            },
            KeyValue {
                key: "below".into(),
                value: "20".into(),
            },
        ],
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

/// A recommendation, or an invalid-input error (the policy may not accept
/// the suite's parameters), both pass; a fault or another error fails.
fn answered(result: Result<Recommendation, CallError>) -> Result<String, Failure> {
    match result {
        Ok(r) if r.reason.trim().is_empty() => Err(wrong("the recommendation has no reason")),
        Ok(r) => Ok(match r.desired {
            Some(n) => format!("scale to {n}: {}", r.trace),
            None => format!("no change: {}", r.reason),
        }),
        Err(CallError::Plugin(PluginError::InvalidInput(m))) => {
            Ok(format!("refused the suite's parameters: {m}"))
        }
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn run(plugin: Arc<LoadedPlugin>, manifest: &Manifest) -> Report {
    let mut c = Checks::new();
    let policy = match Policy::new(plugin) {
        Ok(p) => p,
        Err(e) => {
            c.record("loads as a policy", Err(wrong(e)));
            return c.into_report(manifest);
        }
    };
    let eval = |input: Evaluation| {
        let policy = policy.clone();
        async move { policy.evaluate(input).await }
    };
    let info = {
        let policy = policy.clone();
        tokio::task::spawn_blocking(move || policy.info_blocking()).await
    };
    c.record(
        "info matches the manifest",
        match info {
            Ok(info) => check_info(info, manifest),
            Err(e) => Err(wrong(format!("task failed: {e}"))),
        },
    );
    c.record(
        "evaluates a busy role",
        answered(eval(evaluation(&[95.0, 91.0])).await),
    );
    c.record(
        "evaluates an idle role",
        answered(eval(evaluation(&[3.0, 5.0])).await),
    );
    c.record(
        "handles a role without samples",
        answered(eval(evaluation(&[])).await),
    );
    c.record(
        "is deterministic",
        async {
            let first = eval(evaluation(&[85.0, 70.0])).await;
            let second = eval(evaluation(&[85.0, 70.0])).await;
            match (first, second) {
                (Ok(a), Ok(b)) if a == b => Ok("same input, same answer".into()),
                (Ok(a), Ok(b)) => Err(wrong(format!("{:?} then {:?}", a.desired, b.desired))),
                (Err(CallError::Plugin(a)), Err(CallError::Plugin(b))) if a == b => {
                    Ok("same error twice".into())
                }
                (Err(e), _) | (_, Err(e)) => Err(e.into()),
            }
        }
        .await,
    );
    c.into_report(manifest)
}
