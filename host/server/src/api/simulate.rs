//! `POST /service_template/{id}/simulate`: a role's policies replayed on a
//! virtual clock against a load, before the template is instantiated, as
//! `flotilla policy simulate` does on the command line: the same life
//! cycle, and the server's own policy plugins (a fresh sandboxed instance
//! per evaluation), so what the dashboard shows is what the server would
//! do. Nothing is stored and no VM is made.

use super::auth::Caller;
use super::body::JsonBody;
use super::error::ApiError;
use super::schemas::responses::{BadRequest, Forbidden, NotFound, Unauthorized, Unavailable};
use super::schemas::templates::{SimulateRequest, SimulateResponse};
use super::state::AppState;
use crate::access::Right;
use crate::service::LoadShape;
use crate::service::elasticity::lint;
use crate::service::lifecycle::AutoscaleSettings;
use crate::service::simulation::{self, Report, Scenario};
use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};
use std::sync::Arc;

/// The most steps (duration ÷ cadence) one simulation runs: a week at
/// 15 s is 40,320; each is at most one evaluation of each policy.
const MAX_STEPS: u64 = 100_000;

/// The most VMs' worth of samples answered: the page draws one point per
/// sample.
const MAX_SAMPLES: usize = 2_000;

#[utoipa::path(
    post,
    path = "/service_template/{id}/simulate",
    operation_id = "simulateServiceTemplate",
    tag = "service_template",
    summary = "Replay a role's policies against a load on a virtual clock",
    description = "What `flotilla policy simulate` shows, run by the server with its own policy plugins: the role's scale events, its size and the value each VM reported over time. Nothing is stored; no VM is made. Every field is optional.",
    params(("id" = u64, Path)),
    request_body(content = inline(SimulateRequest), content_type = "application/json"),
    responses(
        (status = 200, description = "What would happen.", body = inline(SimulateResponse)),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable)
    )
)]
pub async fn simulate(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<u64>,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    let doc = super::templates::load(&state, &caller, id, Right::Use)?;
    let body = body.optional()?.unwrap_or_else(|| json!({}));
    if !body.is_object() {
        return Err(ApiError::bad_request("request body: must be a JSON object"));
    }
    let engine = state.engine()?;
    let settings = engine.settings();
    let template = crate::service::parse_template(&doc.body).map_err(ApiError::invalid)?;
    let request = Request::read(&body, settings.policy_evaluation_ms / 1000)?;
    let role = match &request.role {
        Some(name) => template
            .roles
            .iter()
            .find(|r| &r.name == name)
            .map(|r| r.name.clone())
            .ok_or_else(|| {
                ApiError::bad_request(format!("role: `{name}` is not a role of template {id}"))
            })?,
        None => simulation::role_with_policies(&template)
            .map(|r| r.name.clone())
            .ok_or_else(|| {
                ApiError::bad_request("role: no role of this template has policies; name one")
            })?,
    };
    // What the server would warn of, and policies this simulation cannot
    // feed (they read values other than the simulated one).
    let mut warnings: Vec<String> = lint::lint(&template, &|r| r.warmup)
        .iter()
        .map(ToString::to_string)
        .collect();
    if let Some(simulated) = template.roles.iter().find(|r| r.name == role) {
        let unfed = simulation::unsimulated_metrics(simulated, &request.metric);
        if !unfed.is_empty() {
            warnings.push(format!(
                "role {role}'s policies read {}, which this simulation does not report (only {}): policies reading them see no value and never fire here",
                unfed.join(", "),
                request.metric
            ));
        }
    }
    let scenario = Scenario {
        template,
        role: role.clone(),
        load: request.load,
        metric: request.metric,
        per_vm: request.per_vm,
        duration_ms: request.duration_s * 1000,
        settings: AutoscaleSettings {
            cadence_ms: request.every_s * 1000,
            max_age_ms: request.every_s * 4000,
        },
        boot_ms: request.boot_s * 1000,
        target: request.target,
        default_cooldown_s: settings.default_cooldown_s,
    };
    let policies = engine.policies();
    // Every step may evaluate a plugin: off the runtime's threads.
    let report = tokio::task::spawn_blocking(move || {
        simulation::simulate(&scenario, &mut |call| policies.evaluate_call(call))
    })
    .await
    .map_err(|e| ApiError::internal(format!("simulation: {e}")))?
    .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(Json(answer(&role, warnings, &report)))
}

/// The request's fields, each checked and named when refused.
struct Request {
    role: Option<String>,
    load: LoadShape,
    metric: String,
    per_vm: bool,
    duration_s: u64,
    every_s: u64,
    boot_s: u64,
    target: Option<f64>,
}

impl Request {
    fn read(body: &Value, cadence_s: u64) -> Result<Request, ApiError> {
        let seconds = |name: &str, default: u64, min: u64, max: u64| match body.get(name) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => v
                .as_u64()
                .filter(|n| (min..=max).contains(n))
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "{name}: must be a whole number of seconds from {min} to {max}"
                    ))
                }),
        };
        let text = |name: &str, default: &str| match body.get(name) {
            None | Some(Value::Null) => Ok(default.to_string()),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_string()),
            Some(_) => Err(ApiError::bad_request(format!(
                "{name}: must be a non-empty string"
            ))),
        };
        let role = match body.get("role") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(_) => return Err(ApiError::bad_request("role: must be a role's name")),
        };
        let load = text("load", "sine:20:250:3600")?;
        let load =
            LoadShape::parse(&load).map_err(|e| ApiError::bad_request(format!("load: {e}")))?;
        let per_vm = match body.get("per_vm") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(ApiError::bad_request("per_vm: must be true or false")),
        };
        let target = match body.get("target") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_f64()
                    .filter(|t| t.is_finite())
                    .ok_or_else(|| ApiError::bad_request("target: must be a number"))?,
            ),
        };
        let duration_s = seconds("duration_seconds", 86_400, 1, 7 * 86_400)?;
        let every_s = seconds("every_seconds", cadence_s.max(1), 1, 86_400)?;
        if duration_s / every_s > MAX_STEPS {
            return Err(ApiError::bad_request(format!(
                "duration_seconds: {duration_s} s at one step each {every_s} s is over {MAX_STEPS} steps; simulate less or less often"
            )));
        }
        Ok(Request {
            role,
            load,
            metric: text("metric", "CPU")?,
            per_vm,
            duration_s,
            every_s,
            boot_s: seconds("boot_seconds", 60, 0, 86_400)?,
            target,
        })
    }
}

/// The report as `policy simulate --json` prints it, thinned to
/// [`MAX_SAMPLES`], with the role and the warnings.
fn answer(role: &str, warnings: Vec<String>, report: &Report) -> Value {
    let mut body = report.to_json(MAX_SAMPLES);
    body["role"] = json!(role);
    body["warnings"] = json!(warnings);
    body
}
