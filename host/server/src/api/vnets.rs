//! `/vnet` and `/vntemplate` routes: Flotilla's virtual networks (address
//! ranges, the leases taken from them, reservations carved from them) and
//! the network templates services instantiate. Listing, showing,
//! creating, updating and renaming go through the shared resource
//! handlers (`api/resources.rs`); what is particular to networks is here.

use super::auth::Caller;
use super::body::{JsonBody, body_json, check_name, json_id};
use super::error::ApiError;
use super::resources;
use super::schemas::responses::{
    BadRequest, Conflict, Forbidden, NoContent, NotFound, Unauthorized, Unavailable,
};
use super::state::AppState;
use crate::access::Right;
use crate::store::{NetworkError, ResourceKind, Store};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::sync::Arc;

type St = State<Arc<AppState>>;

fn network_error(e: NetworkError) -> ApiError {
    match e {
        NetworkError::NotFound(m) => ApiError::not_found(m),
        NetworkError::Refused(m) => ApiError::conflict(m),
        NetworkError::Storage(e) => e.into(),
    }
}

/// A network with its leases (`LEASES`, `USED_LEASES`), as OpenNebula
/// shows its address ranges.
fn with_leases(store: &dyn Store, mut body: Value, id: u64) -> Result<Value, ApiError> {
    let leases = store.leases(id).map_err(network_error)?;
    let rendered: Vec<Value> = leases
        .iter()
        .map(|l| {
            let mac =
                l.ip.parse()
                    .map(flotilla_core::network::mac_for)
                    .unwrap_or_default();
            let mut lease = json!({"IP": l.ip, "MAC": mac, "HOLDER": l.holder});
            if let Some(s) = l.service_id {
                lease["SERVICE_ID"] = json!(s.to_string());
            }
            lease
        })
        .collect();
    if let Some(vnet) = body.get_mut("VNET").and_then(Value::as_object_mut) {
        vnet.insert("USED_LEASES".into(), json!(leases.len().to_string()));
        vnet.insert("LEASES".into(), json!(rendered));
    }
    Ok(body)
}

#[utoipa::path(get, path = "/vnet", operation_id = "listVnets", tag = "vnet",
    summary = "List virtual networks",
    responses(
        (status = 200, description = "The networks the caller may use.", body = super::schemas::networks::VnetPool),
        (status = 401, response = Unauthorized),
        (status = 503, response = Unavailable)
    )
)]
pub async fn list_vnets(state: St, caller: Caller) -> Result<Json<Value>, ApiError> {
    resources::list(ResourceKind::Vnet, state, caller).await
}

#[utoipa::path(post, path = "/vnet", operation_id = "createVnet", tag = "vnet",
    summary = "Create a virtual network",
    request_body(content = super::schemas::networks::VnetCreate, content_type = "application/json"),
    responses(
        (status = 201, description = "The new network.", body = super::schemas::networks::VnetResponse),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 503, response = Unavailable)
    )
)]
pub async fn create_vnet(state: St, caller: Caller, body: JsonBody) -> Result<Response, ApiError> {
    resources::create(ResourceKind::Vnet, state, caller, body).await
}

#[utoipa::path(get, path = "/vnet/{id}", operation_id = "getVnet", tag = "vnet",
    summary = "Show a virtual network with its leases",
    params(("id" = u64, Path)),
    responses(
        (status = 200, description = "The network and its leases.", body = super::schemas::networks::VnetResponse),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable)
    )
)]
pub async fn show_vnet(
    State(state): St,
    caller: Caller,
    Path(id): Path<u64>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) =
        resources::show(ResourceKind::Vnet, State(state.clone()), caller, Path(id)).await?;
    let engine = state.engine()?;
    let store = engine.store();
    Ok(Json(with_leases(&*store, body, id)?))
}

#[utoipa::path(put, path = "/vnet/{id}", operation_id = "updateVnet", tag = "vnet",
    summary = "Replace or append to a virtual network's attributes",
    params(("id" = u64, Path)),
    request_body(content = super::schemas::resources::AttributesUpdate, content_type = "application/json"),
    responses(
        (status = 200, description = "The network.", body = super::schemas::networks::VnetResponse),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 503, response = Unavailable)
    )
)]
pub async fn update_vnet(
    State(state): St,
    caller: Caller,
    Path(id): Path<u64>,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    // Leased addresses must stay inside the ranges.
    let value = body_json(body)?;
    {
        let engine = state.engine()?;
        let store = engine.store();
        let current = resources::load(&*store, &caller, ResourceKind::Vnet, id, Right::Manage)?;
        if current.attributes.contains_key("SERVICE_ID") {
            return Err(ApiError::conflict(format!(
                "virtual network {id} belongs to a service; it changes with the service"
            )));
        }
        let mut next = if value.get("append").and_then(Value::as_bool) == Some(true) {
            current.attributes.clone()
        } else {
            Map::new()
        };
        if let Some(t) = value.get("template").and_then(Value::as_object) {
            next.extend(t.clone());
        }
        if let Ok(ranges) = flotilla_core::network::parse_ranges(&next) {
            let leases = store.leases(id).map_err(network_error)?;
            if let Some(outside) = leases.iter().find(|l| {
                l.ip.parse()
                    .is_ok_and(|ip| !ranges.iter().any(|r| r.contains(ip)))
            }) {
                return Err(ApiError::conflict(format!(
                    "template.AR: address {} is leased to {} and would be outside the ranges",
                    outside.ip, outside.holder
                )));
            }
        }
    }
    let Json(body) = resources::update(
        ResourceKind::Vnet,
        State(state.clone()),
        caller,
        Path(id),
        super::body::JsonBody::from_value(value),
    )
    .await?;
    let engine = state.engine()?;
    let store = engine.store();
    Ok(Json(with_leases(&*store, body, id)?))
}

#[utoipa::path(delete, path = "/vnet/{id}", operation_id = "deleteVnet", tag = "vnet",
    summary = "Delete a virtual network",
    description = "Refused (409) while addresses are leased from it, it belongs to a service, or a live service or a service template names it; a reservation's addresses go back to its parent.",
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
pub async fn delete_vnet(
    State(state): St,
    caller: Caller,
    Path(id): Path<u64>,
) -> Result<StatusCode, ApiError> {
    let engine = state.engine()?;
    let store = engine.store();
    let net = resources::load(&*store, &caller, ResourceKind::Vnet, id, Right::Manage)?;
    if let Some(service) = net.attributes.get("SERVICE_ID") {
        return Err(ApiError::conflict(format!(
            "virtual network {id} belongs to service {}; it is removed with the service",
            crate::service::inputs::as_text(service).unwrap_or_default()
        )));
    }
    let leases = store.leases(id).map_err(network_error)?;
    if let Some(first) = leases.first() {
        return Err(ApiError::conflict(format!(
            "virtual network {id} has {} leased address(es) (first {} to {}); release them first",
            leases.len(),
            first.ip,
            first.holder
        )));
    }
    // A role at cardinality 0 holds no lease, but its next VM would get a
    // NIC on a network that is gone.
    let users = users_of(&*store, id)?;
    if !users.is_empty() {
        return Err(ApiError::conflict(format!(
            "virtual network {id} is named by {}; change or delete them first",
            users.join(", ")
        )));
    }
    store.delete_network(id).map_err(network_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// The live services and the service templates that name network `id`
/// (`service 3`, `service template 1`), at most ten of them.
fn users_of(store: &dyn Store, id: u64) -> Result<Vec<String>, ApiError> {
    use flotilla_core::service::validate::networks::names_network;
    let mut users = Vec::new();
    for service in store.services()? {
        if service.state != crate::service::ServiceState::Done
            && names_network(&service.template, id)
        {
            users.push(format!("service {}", service.id));
        }
    }
    for doc in store.service_templates()? {
        let named = serde_json::from_value(doc.body.clone())
            .is_ok_and(|t: flotilla_core::service::model::ServiceTemplate| names_network(&t, id));
        if named {
            users.push(format!("service template {}", doc.id));
        }
    }
    if users.len() > 10 {
        let more = users.len() - 10;
        users.truncate(10);
        users.push(format!("{more} more"));
    }
    Ok(users)
}

#[utoipa::path(post, path = "/vnet/{id}/action", operation_id = "vnetAction", tag = "vnet",
    summary = "Rename, chmod, chown or chgrp a virtual network",
    params(("id" = u64, Path)),
    request_body(content = super::schemas::common::ActionRequest, content_type = "application/json"),
    responses(
        (status = 204, response = NoContent),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable)
    )
)]
pub async fn vnet_action(
    state: St,
    caller: Caller,
    id: Path<u64>,
    body: JsonBody,
) -> Result<StatusCode, ApiError> {
    resources::action(ResourceKind::Vnet, state, caller, id, body).await
}

/// A positive whole number field.
fn size_field(body: &Value) -> Result<u32, ApiError> {
    let max = flotilla_core::network::MAX_RANGE_SIZE;
    body.get("size")
        .and_then(json_id)
        .and_then(|s| u32::try_from(s).ok())
        .filter(|s| (1..=max).contains(s))
        .ok_or_else(|| {
            ApiError::bad_request(format!("size: required, a whole number from 1 to {max}"))
        })
}

#[utoipa::path(post, path = "/vnet/{id}/reserve", operation_id = "reserveVnet", tag = "vnet",
    summary = "Reserve consecutive addresses of a network as a new network",
    description = "The caller needs use rights on the parent; the new network is the caller's. 409 when the parent has no block of that many free addresses.",
    params(("id" = u64, Path)),
    request_body(content = super::schemas::networks::ReserveRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The reservation.", body = super::schemas::networks::VnetResponse),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 503, response = Unavailable)
    )
)]
pub async fn reserve_vnet(
    State(state): St,
    caller: Caller,
    Path(id): Path<u64>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let body = body_json(body)?;
    let name = check_name("name", body.get("name"))?;
    let size = size_field(&body)?;
    let engine = state.engine()?;
    let store = engine.store();
    resources::load(&*store, &caller, ResourceKind::Vnet, id, Right::Use)?;
    let child = store
        .reserve(id, &name, size, caller.owns_new(), None)
        .map_err(network_error)?;
    let shown = resources::one(ResourceKind::Vnet, &*store, &child);
    let shown = with_leases(&*store, shown, child.id)?;
    Ok((StatusCode::CREATED, Json(shown)).into_response())
}

#[utoipa::path(get, path = "/vntemplate", operation_id = "listVntemplates", tag = "vntemplate",
    summary = "List virtual network templates",
    responses(
        (status = 200, description = "The templates the caller may use.", body = super::schemas::networks::VntemplatePool),
        (status = 401, response = Unauthorized),
        (status = 503, response = Unavailable)
    )
)]
pub async fn list_vntemplates(state: St, caller: Caller) -> Result<Json<Value>, ApiError> {
    resources::list(ResourceKind::VnetTemplate, state, caller).await
}

#[utoipa::path(post, path = "/vntemplate", operation_id = "createVntemplate", tag = "vntemplate",
    summary = "Create a virtual network template",
    request_body(content = super::schemas::networks::VnetCreate, content_type = "application/json"),
    responses(
        (status = 201, description = "The new template.", body = super::schemas::networks::VntemplateResponse),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 503, response = Unavailable)
    )
)]
pub async fn create_vntemplate(
    state: St,
    caller: Caller,
    body: JsonBody,
) -> Result<Response, ApiError> {
    resources::create(ResourceKind::VnetTemplate, state, caller, body).await
}

#[utoipa::path(get, path = "/vntemplate/{id}", operation_id = "getVntemplate", tag = "vntemplate",
    summary = "Show a virtual network template",
    params(("id" = u64, Path)),
    responses(
        (status = 200, description = "The template.", body = super::schemas::networks::VntemplateResponse),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable)
    )
)]
pub async fn show_vntemplate(
    state: St,
    caller: Caller,
    id: Path<u64>,
) -> Result<Json<Value>, ApiError> {
    resources::show(ResourceKind::VnetTemplate, state, caller, id).await
}

#[utoipa::path(put, path = "/vntemplate/{id}", operation_id = "updateVntemplate", tag = "vntemplate",
    summary = "Replace or append to a virtual network template's attributes",
    params(("id" = u64, Path)),
    request_body(content = super::schemas::resources::AttributesUpdate, content_type = "application/json"),
    responses(
        (status = 200, description = "The template.", body = super::schemas::networks::VntemplateResponse),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable)
    )
)]
pub async fn update_vntemplate(
    state: St,
    caller: Caller,
    id: Path<u64>,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    resources::update(ResourceKind::VnetTemplate, state, caller, id, body).await
}

#[utoipa::path(post, path = "/vntemplate/{id}/action", operation_id = "vntemplateAction", tag = "vntemplate",
    summary = "Rename, chmod, chown or chgrp a virtual network template",
    params(("id" = u64, Path)),
    request_body(content = super::schemas::common::ActionRequest, content_type = "application/json"),
    responses(
        (status = 204, response = NoContent),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable)
    )
)]
pub async fn vntemplate_action(
    state: St,
    caller: Caller,
    id: Path<u64>,
    body: JsonBody,
) -> Result<StatusCode, ApiError> {
    resources::action(ResourceKind::VnetTemplate, state, caller, id, body).await
}

#[utoipa::path(delete, path = "/vntemplate/{id}", operation_id = "deleteVntemplate", tag = "vntemplate",
    summary = "Delete a virtual network template",
    params(("id" = u64, Path)),
    responses(
        (status = 204, response = NoContent),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable)
    )
)]
pub async fn delete_vntemplate(
    state: St,
    caller: Caller,
    id: Path<u64>,
) -> Result<StatusCode, ApiError> {
    resources::delete(ResourceKind::VnetTemplate, state, caller, id).await
}

#[utoipa::path(post, path = "/vntemplate/{id}/instantiate", operation_id = "instantiateVntemplate", tag = "vntemplate",
    summary = "Make a virtual network from a template",
    description = "`extra` is OpenNebula template text over the template's attributes, e.g. `AR=[IP=10.0.0.1, SIZE=10, TYPE=IP4]`; the network needs an address range from one or the other.",
    params(("id" = u64, Path)),
    request_body(content = super::schemas::networks::InstantiateNetwork, content_type = "application/json"),
    responses(
        (status = 201, description = "The new network.", body = super::schemas::networks::VnetResponse),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 503, response = Unavailable)
    )
)]
pub async fn instantiate_vntemplate(
    State(state): St,
    caller: Caller,
    Path(id): Path<u64>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let body = body_json(body)?;
    let name = check_name("name", body.get("name"))?;
    let extra = match body.get("extra") {
        None => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => {
            return Err(ApiError::bad_request(
                "extra: must be template text (a string)",
            ));
        }
    };
    let extra = crate::service::attributes::template_contents(&extra);
    if let Some(key) = extra.keys().find(|k| crate::store::is_mark(k)) {
        return Err(ApiError::bad_request(format!(
            "extra: {key} is set by Flotilla, not by a request"
        )));
    }
    let ranges = flotilla_core::network::parse_ranges(&extra)
        .map_err(|e| ApiError::bad_request(format!("extra: {e}")))?;
    crate::store::check_size(&ranges).map_err(|e| ApiError::bad_request(format!("extra: {e}")))?;
    let engine = state.engine()?;
    let store = engine.store();
    resources::load(&*store, &caller, ResourceKind::VnetTemplate, id, Right::Use)?;
    let net = store
        .instantiate_network(id, &name, extra, caller.owns_new(), None)
        .map_err(network_error)?;
    let shown = resources::one(ResourceKind::Vnet, &*store, &net);
    let shown = with_leases(&*store, shown, net.id)?;
    Ok((StatusCode::CREATED, Json(shown)).into_response())
}
