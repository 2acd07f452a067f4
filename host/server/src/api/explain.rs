//! `GET /service/{id}/explain`: why each role has the size it has: its
//! bounds and guards as they stand, its policies, and every evaluation
//! kept (newest first) with the VMs' inputs, the trace, the policy's
//! verdict, the guards applied and the action taken.

use super::auth::Caller;
use super::error::ApiError;
use super::schemas::responses::{BadRequest, Forbidden, NotFound, Unauthorized, Unavailable};
use super::state::AppState;
use crate::access::Right;
use crate::service::PolicyRule;
use crate::service::elasticity::{self, Direction};
use crate::service::lifecycle::{DecisionRecord, RoleRuntime, Service};
use crate::service::model::Role;
use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Explanation {
    pub service_id: u64,
    pub service: String,
    /// The service's state (`RUNNING`, …): policies are evaluated only
    /// while it is RUNNING.
    pub state: String,
    /// The cooldown of roles that set none (the server's setting when the
    /// service was created).
    pub default_cooldown: u32,
    pub roles: Vec<RoleExplanation>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RoleExplanation {
    pub name: String,
    pub cardinality: u32,
    pub min_vms: u32,
    pub max_vms: u32,
    /// Seconds after the role's last scale before a policy may scale it
    /// out / in (unless the policy sets its own `cooldown`).
    pub cooldown_out: u32,
    pub cooldown_in: u32,
    /// When the role's last scale finished (seconds since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub last_scaled: Option<u64>,
    pub scale_in_stabilization: u32,
    pub warmup: u32,
    pub policies: Vec<PolicyExplanation>,
    /// Newest first.
    pub decisions: Vec<Decision>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PolicyExplanation {
    /// `elasticity_policies[0]`, `scheduled_policies[0]`.
    pub policy: String,
    /// The plugin that evaluates it, or `schedule`.
    pub plugin: String,
    /// The expression, the plugin's parameters or the schedule.
    pub rule: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Decision {
    /// Seconds since the epoch.
    pub time: u64,
    pub policy: String,
    pub plugin: String,
    /// The role's size when it was evaluated.
    pub cardinality: u32,
    /// The state the policy was handed (what it returned the time before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub state_in: Option<String>,
    pub inputs: Vec<Input>,
    pub trace: String,
    pub verdict: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub desired: Option<u32>,
    pub guards: Vec<String>,
    pub action: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Input {
    pub vm_id: String,
    pub values: BTreeMap<String, f64>,
    /// Seconds since the poll that brought the values.
    pub age_seconds: u64,
    /// Why the VM did not count (warming up, stale).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub left_out: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExplainQuery {
    /// Only this role.
    pub role: Option<String>,
    /// At most this many decisions per role (default: all kept, 50).
    #[param(minimum = 1)]
    pub limit: Option<usize>,
}

impl ExplainQuery {
    /// Read by hand so that a bad `limit` is a 400 naming it.
    fn read(raw: &BTreeMap<String, String>) -> Result<ExplainQuery, ApiError> {
        let limit = match raw.get("limit") {
            None => None,
            Some(text) => match text.trim().parse::<usize>() {
                Ok(n) if n >= 1 => Some(n),
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "limit: `{text}` is not a whole number of 1 or more"
                    )));
                }
            },
        };
        Ok(ExplainQuery {
            role: raw.get("role").cloned(),
            limit,
        })
    }
}

#[utoipa::path(
    get,
    path = "/service/{id}/explain",
    operation_id = "explainService",
    tag = "service",
    summary = "Explain a service's automatic scaling",
    description = "Each role's bounds, guards and policies, and the evaluations kept (newest first): the VMs' inputs with their age, the trace, the policy's verdict, the guards applied and the action taken.",
    params(("id" = u64, Path), ExplainQuery),
    responses(
        (status = 200, description = "The explanation.", body = Explanation),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable)
    )
)]
pub async fn explain(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<u64>,
    Query(raw): Query<BTreeMap<String, String>>,
) -> Result<Json<Explanation>, ApiError> {
    let query = ExplainQuery::read(&raw)?;
    let service = state
        .engine()?
        .store()
        .shared_service(id)?
        .ok_or_else(|| ApiError::not_found(format!("service {id} does not exist")))?;
    caller.require(Right::Use, &service.ownership, &format!("service {id}"))?;
    if let Some(role) = &query.role
        && service.role(role).is_none()
    {
        return Err(ApiError::not_found(format!(
            "role: `{role}` is not a role of service {id}"
        )));
    }
    Ok(Json(explanation(
        &service,
        query.role.as_deref(),
        query.limit,
    )))
}

/// The explanation of `service` (one role, or all), for the API and the
/// tests.
pub fn explanation(service: &Service, role: Option<&str>, limit: Option<usize>) -> Explanation {
    let roles = service
        .roles
        .iter()
        .filter(|r| role.is_none_or(|name| r.name == name))
        .filter_map(|r| {
            let spec = service.template.roles.iter().find(|t| t.name == r.name)?;
            Some(role_explanation(
                service,
                r,
                spec,
                limit.unwrap_or(usize::MAX),
            ))
        })
        .collect();
    Explanation {
        service_id: service.id,
        service: service.name.clone(),
        state: service.state.as_str().to_string(),
        default_cooldown: service.default_cooldown_s,
        roles,
    }
}

fn role_explanation(
    service: &Service,
    runtime: &RoleRuntime,
    spec: &Role,
    limit: usize,
) -> RoleExplanation {
    let bounds = elasticity::bounds(spec, runtime.cardinality);
    let default = service.default_cooldown_s;
    let mut policies: Vec<PolicyExplanation> = spec
        .scheduled_policies
        .iter()
        .enumerate()
        .map(|(k, p)| PolicyExplanation {
            policy: format!("scheduled_policies[{k}]"),
            plugin: "schedule".into(),
            rule: listed(
                &p.to_map(),
                &[
                    "recurrence",
                    "start_time",
                    "type",
                    "adjust",
                    "time_zone",
                    "catch_up",
                ],
            ),
        })
        .collect();
    for (k, p) in spec.elasticity_policies.iter().enumerate() {
        let (plugin, rule) = match &p.rule {
            Ok(PolicyRule::Metric(_)) => {
                let keys = ["expression", "type", "adjust", "period", "period_number"];
                (
                    flotilla_policy::builtin::ID.to_string(),
                    listed(&p.to_map(), &keys),
                )
            }
            Ok(PolicyRule::Plugin(plugin)) => {
                let rule = p
                    .params()
                    .iter()
                    .map(|kv| format!("{}: {}", kv.key, kv.value))
                    .collect::<Vec<_>>()
                    .join(", ");
                (plugin.plugin.clone(), rule)
            }
            Err(e) => (String::new(), format!("unusable: {e}")),
        };
        policies.push(PolicyExplanation {
            policy: format!("elasticity_policies[{k}]"),
            plugin,
            rule,
        });
    }
    RoleExplanation {
        name: runtime.name.clone(),
        cardinality: runtime.cardinality,
        min_vms: bounds.min,
        max_vms: bounds.max,
        cooldown_out: elasticity::cooldown_s(None, spec, Direction::Out, None, default).0,
        cooldown_in: elasticity::cooldown_s(None, spec, Direction::In, None, default).0,
        last_scaled: runtime.autoscale.settled_ms.map(|t| t / 1000),
        scale_in_stabilization: spec.scale_in_stabilization.unwrap_or(0),
        warmup: spec.warmup.unwrap_or(0),
        policies,
        decisions: runtime
            .autoscale
            .decisions
            .iter()
            .rev()
            .take(limit)
            .map(decision)
            .collect(),
    }
}

/// `key: value, …` of the policy attributes `keys` it sets.
fn listed(policy: &serde_json::Map<String, serde_json::Value>, keys: &[&str]) -> String {
    keys.iter()
        .filter_map(|key| Some(format!("{key}: {}", elasticity::scalar(policy.get(*key)?)?)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn decision(d: &DecisionRecord) -> Decision {
    Decision {
        time: d.time_ms / 1000,
        policy: d.policy.clone(),
        plugin: d.plugin.clone(),
        cardinality: d.cardinality,
        state_in: d.state_in.clone(),
        inputs: d
            .inputs
            .iter()
            .map(|i| Input {
                vm_id: i.vm_id.clone(),
                values: i.values.iter().map(|m| (m.name.clone(), m.value)).collect(),
                age_seconds: i.age_s,
                left_out: i.left_out.clone(),
            })
            .collect(),
        trace: d.trace.clone(),
        verdict: d.verdict.clone(),
        desired: d.desired,
        guards: d.guards.clone(),
        action: d.action.clone(),
    }
}
