//! `/host` routes: the fleet's hosts (OpenNebula's `onehost`). Only the
//! oneadmin group sees or changes them: a host's address is how the
//! server reaches a hypervisor. The engine does the work (`fleet.rs`):
//! it checks the host, monitors it at once, refuses to delete one that
//! holds VMs.

use super::auth::Caller;
use super::body::{JsonBody, body_json, perform};
use super::error::ApiError;
use super::schemas::responses::{
    BadRequest, Conflict, Forbidden, NoContent, NotFound, Unauthorized, Unavailable,
};
use super::state::AppState;
use crate::fleet::{Host, HostMode, NewHost};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;

type St = State<Arc<AppState>>;

fn admin(caller: &Caller) -> Result<(), ApiError> {
    if caller.0.admin {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "user {} may not administer hosts: only the oneadmin group may",
            caller.0.name
        )))
    }
}

/// A host as the API shows it: its record, with OpenNebula's state
/// number and what the VMs placed on it take (`allocated`), beside what
/// its hypervisor measured (`used`).
fn render(host: &Host, allocated: &crate::fleet::Allocation) -> Value {
    let mut body = serde_json::to_value(host).unwrap_or_else(|_| json!({}));
    if let Value::Object(fields) = &mut body {
        fields.insert("state_number".into(), json!(host.state.number()));
        let crate::fleet::Allocation {
            cpu,
            memory_mb,
            vms,
            ..
        } = allocated;
        fields.insert(
            "allocated".into(),
            json!({"cpu": cpu, "memory_mb": memory_mb, "vms": vms}),
        );
    }
    body
}

#[utoipa::path(get, path = "/host", operation_id = "listHosts", tag = "host",
    summary = "List the hosts",
    description = "oneadmin group only.",
    responses(
        (status = 200, description = "Every host.", body = super::schemas::hosts::HostPool),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = Unavailable)
    )
)]
pub async fn list(State(state): St, caller: Caller) -> Result<Json<Value>, ApiError> {
    admin(&caller)?;
    let engine = state.engine()?;
    let hosts: Vec<Value> = engine
        .hosts_with_allocation()?
        .iter()
        .map(|(host, allocated)| render(host, allocated))
        .collect();
    Ok(Json(json!({ "hosts": hosts })))
}

#[utoipa::path(post, path = "/host", operation_id = "createHost", tag = "host",
    summary = "Create a host",
    description = "oneadmin group only. The host is monitored at once: the answer shows what it has, or why it is in ERROR. 409 when the name is taken.",
    request_body(content = super::schemas::hosts::HostCreate, content_type = "application/json"),
    responses(
        (status = 201, description = "The new host.", body = super::schemas::hosts::HostResponse),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
        (status = 503, response = Unavailable)
    )
)]
pub async fn create(
    State(state): St,
    caller: Caller,
    body: JsonBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    admin(&caller)?;
    let body = body_json(body)?;
    let new: NewHost = serde_json::from_value(body)
        .map_err(|e| ApiError::bad_request(format!("request body: {e}")))?;
    let engine = state.engine()?;
    let host = engine.create_host(new).await?;
    Ok((StatusCode::CREATED, Json(show_one(engine, host.id)?)))
}

fn show_one(engine: &crate::engine::Engine, id: u64) -> Result<Value, ApiError> {
    let (host, allocated) = engine
        .hosts_with_allocation()?
        .into_iter()
        .find(|(h, _)| h.id == id)
        .ok_or_else(|| ApiError::not_found(format!("host {id} does not exist")))?;
    Ok(render(&host, &allocated))
}

#[utoipa::path(get, path = "/host/{id}", operation_id = "getHost", tag = "host",
    summary = "One host",
    description = "oneadmin group only.",
    params(("id" = u64, Path)),
    responses(
        (status = 200, description = "The host.", body = super::schemas::hosts::HostResponse),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable)
    )
)]
pub async fn show(
    State(state): St,
    caller: Caller,
    Path(id): Path<u64>,
) -> Result<Json<Value>, ApiError> {
    admin(&caller)?;
    Ok(Json(show_one(state.engine()?, id)?))
}

#[utoipa::path(post, path = "/host/{id}/action", operation_id = "hostAction", tag = "host",
    summary = "Enable, disable or take a host offline",
    description = "oneadmin group only. `enable`: it takes VMs again. `disable`: it keeps its VMs and is monitored, but gets no new ones. `offline`: not monitored and gets nothing; refused (409) while VMs are placed on it.",
    params(("id" = u64, Path)),
    request_body(content = super::schemas::hosts::HostAction, content_type = "application/json"),
    responses(
        (status = 200, description = "The host.", body = super::schemas::hosts::HostResponse),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 503, response = Unavailable)
    )
)]
pub async fn action(
    State(state): St,
    caller: Caller,
    Path(id): Path<u64>,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    admin(&caller)?;
    let (perform, _params) = perform(body)?;
    let mode = match perform.as_str() {
        "enable" => HostMode::Enabled,
        "disable" => HostMode::Disabled,
        "offline" => HostMode::Offline,
        other => {
            return Err(ApiError::bad_request(format!(
                "action.perform: `{other}` is not a host action (enable, disable, offline)"
            )));
        }
    };
    let engine = state.engine()?;
    engine.set_host_mode(id, mode).await?;
    Ok(Json(show_one(engine, id)?))
}

#[utoipa::path(delete, path = "/host/{id}", operation_id = "deleteHost", tag = "host",
    summary = "Delete a host",
    description = "oneadmin group only. Refused (409) while VMs are placed on it, or VMs it kept while it was lost wait to be destroyed.",
    params(("id" = u64, Path)),
    responses(
        (status = 204, response = NoContent),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 503, response = Unavailable)
    )
)]
pub async fn delete(
    State(state): St,
    caller: Caller,
    Path(id): Path<u64>,
) -> Result<StatusCode, ApiError> {
    admin(&caller)?;
    state.engine()?.delete_host(id).await?;
    Ok(StatusCode::NO_CONTENT)
}
