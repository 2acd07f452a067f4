//! `/vm_template` and `/image` routes: resources that are a name, an owner
//! and OpenNebula attributes, in OpenNebula's JSON shapes (`VMTEMPLATE` /
//! `VMTEMPLATE_POOL`, `IMAGE` / `IMAGE_POOL`). Both kinds share these
//! handlers; `ResourceKind` says which table and which shape.

use super::attributes::check_attributes;
use super::auth::Caller;
use super::body::{JsonBody, body_json};
use super::error::ApiError;
use super::schemas::resources::*;
use super::schemas::responses::{
    BadRequest, Forbidden, NoContent, NotFound, Unauthorized, Unavailable,
};
use super::state::AppState;
use crate::access::Right;
use crate::store::{Resource, ResourceKind, Store};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::sync::Arc;

type St = State<Arc<AppState>>;

/// The JSON element names of a kind: `VMTEMPLATE`, `IMAGE`.
fn element(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::VmTemplate => "VMTEMPLATE",
        ResourceKind::Image => "IMAGE",
        ResourceKind::Vnet => "VNET",
        ResourceKind::VnetTemplate => "VNTEMPLATE",
    }
}

fn render(store: &dyn Store, r: &Resource) -> Value {
    let names = super::documents::Names::of(store, &r.ownership);
    json!({
        "ID": r.id.to_string(),
        "UID": r.ownership.uid.to_string(),
        "GID": r.ownership.gid.to_string(),
        "UNAME": names.user,
        "GNAME": names.group,
        "NAME": r.name,
        "PERMISSIONS": super::documents::permissions(&r.ownership.permissions),
        "TEMPLATE": r.attributes,
    })
}

pub(super) fn one(kind: ResourceKind, store: &dyn Store, r: &Resource) -> Value {
    json!({ element(kind): render(store, r) })
}

/// A resource the caller has `right` on.
pub(super) fn load(
    store: &dyn Store,
    caller: &Caller,
    kind: ResourceKind,
    id: u64,
    right: Right,
) -> Result<Resource, ApiError> {
    let r = store
        .resource(kind, id)?
        .ok_or_else(|| ApiError::not_found(format!("{} {id} does not exist", kind.label())))?;
    caller.require(right, &r.ownership, &format!("{} {id}", kind.label()))?;
    Ok(r)
}

pub async fn list(
    kind: ResourceKind,
    State(state): St,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let engine = state.engine()?;
    let store = engine.store();
    let items: Vec<Value> = store
        .resources(kind)?
        .iter()
        .filter(|r| caller.0.may(Right::Use, &r.ownership))
        .map(|r| render(&*store, r))
        .collect();
    let pool = format!("{}_POOL", element(kind));
    Ok(Json(if items.is_empty() {
        json!({ pool: {} })
    } else {
        json!({ pool: { element(kind): items } })
    }))
}

pub async fn show(
    kind: ResourceKind,
    State(state): St,
    caller: Caller,
    Path(id): Path<u64>,
) -> Result<Json<Value>, ApiError> {
    let engine = state.engine()?;
    let store = engine.store();
    let r = load(&*store, &caller, kind, id, Right::Use)?;
    Ok(Json(one(kind, &*store, &r)))
}

fn name_field(body: &Value) -> Result<String, ApiError> {
    super::body::check_name("name", body.get("name"))
}

fn template_field(body: &Value, kind: ResourceKind) -> Result<Map<String, Value>, ApiError> {
    body.get("template")
        .and_then(Value::as_object)
        .cloned()
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "template: required, an object of {} attributes",
                kind.label()
            ))
        })
}

/// `{"name": "small", "template": {"CPU": "1", "MEMORY": "512", …}}`.
pub async fn create(
    kind: ResourceKind,
    State(state): St,
    caller: Caller,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let body = body_json(body)?;
    let name = name_field(&body)?;
    let attributes = template_field(&body, kind)?;
    let engine = state.engine()?;
    let store = engine.store();
    check_attributes(&*store, &caller, kind, &attributes)?;
    let ownership = caller.owns_new();
    let id = store.create_resource(kind, &name, ownership, attributes)?;
    let r = store
        .resource(kind, id)?
        .ok_or_else(|| ApiError::internal(format!("the new {} vanished", kind.label())))?;
    Ok((StatusCode::CREATED, Json(one(kind, &*store, &r))).into_response())
}

/// `{"template": {…}, "append": false}`: replace the attributes, or with
/// `append` add and overwrite only the given ones.
pub async fn update(
    kind: ResourceKind,
    State(state): St,
    caller: Caller,
    Path(id): Path<u64>,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    let body = body_json(body)?;
    let attributes = template_field(&body, kind)?;
    let append = super::body::bool_field(&body, "append", "append")?;
    let engine = state.engine()?;
    let store = engine.store();
    let mut r = load(&*store, &caller, kind, id, Right::Manage)?;
    let attributes = if append {
        let mut merged = r.attributes.clone();
        merged.extend(attributes);
        merged
    } else {
        attributes
    };
    check_attributes(&*store, &caller, kind, &attributes)?;
    r.attributes = attributes;
    store.save_resource(kind, &r)?;
    Ok(Json(one(kind, &*store, &r)))
}

pub async fn delete(
    kind: ResourceKind,
    State(state): St,
    caller: Caller,
    Path(id): Path<u64>,
) -> Result<StatusCode, ApiError> {
    let engine = state.engine()?;
    let store = engine.store();
    load(&*store, &caller, kind, id, Right::Manage)?;
    store.delete_resource(kind, id)?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn action(
    kind: ResourceKind,
    State(state): St,
    caller: Caller,
    Path(id): Path<u64>,
    body: JsonBody,
) -> Result<StatusCode, ApiError> {
    let (perform, params) = super::body::perform(body)?;
    if !["rename", "chmod", "chown", "chgrp"].contains(&perform.as_str()) {
        return Err(ApiError::bad_request(format!(
            "action.perform: `{perform}` is not a {} action (rename, chmod, chown, chgrp)",
            kind.label()
        )));
    }
    let engine = state.engine()?;
    let store = engine.store();
    let mut r = load(&*store, &caller, kind, id, Right::Manage)?;
    super::rights::change_ownership(
        &*store,
        &caller,
        &perform,
        &params,
        &mut r.ownership,
        &mut r.name,
    )?;
    store.save_resource(kind, &r)?;
    Ok(StatusCode::NO_CONTENT)
}

// One handler per kind and route, each with its own entry in the OpenAPI
// document (the kinds differ in their shapes).

#[utoipa::path(
    get,
    path = "/vm_template",
    operation_id = "listVmTemplates",
    tag = "vm_template",
    summary = "List VM templates",
    responses(
        (status = 200, description = "The VM templates the caller may use.", body = VmTemplatePool),
        (status = 401, response = Unauthorized),
        (status = 503, response = Unavailable)
    )
)]
pub async fn list_vm_templates(State(state): St, caller: Caller) -> Result<Json<Value>, ApiError> {
    list(ResourceKind::VmTemplate, State(state), caller).await
}

#[utoipa::path(
    post,
    path = "/vm_template",
    operation_id = "createVmTemplate",
    tag = "vm_template",
    summary = "Create a VM template",
    request_body(content = VmTemplateCreate, content_type = "application/json"),
    responses(
        (status = 201, description = "The new VM template.", body = VmTemplateResponse),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 503, response = Unavailable),
        (status = 403, response = Forbidden)
    )
)]
pub async fn create_vm_template(
    State(state): St,
    caller: Caller,
    body: JsonBody,
) -> Result<Response, ApiError> {
    create(ResourceKind::VmTemplate, State(state), caller, body).await
}

#[utoipa::path(
    get,
    path = "/vm_template/{id}",
    operation_id = "getVmTemplate",
    tag = "vm_template",
    summary = "Show a VM template",
    params(("id" = u64, Path)),
    responses(
        (status = 200, description = "The VM template.", body = VmTemplateResponse),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable)
    )
)]
pub async fn show_vm_template(
    State(state): St,
    caller: Caller,
    id: Path<u64>,
) -> Result<Json<Value>, ApiError> {
    show(ResourceKind::VmTemplate, State(state), caller, id).await
}

#[utoipa::path(
    put,
    path = "/vm_template/{id}",
    operation_id = "updateVmTemplate",
    tag = "vm_template",
    summary = "Update a VM template's attributes",
    params(("id" = u64, Path)),
    request_body(content = AttributesUpdate, content_type = "application/json"),
    responses(
        (status = 200, description = "The updated VM template.", body = VmTemplateResponse),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable)
    )
)]
pub async fn update_vm_template(
    State(state): St,
    caller: Caller,
    id: Path<u64>,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    update(ResourceKind::VmTemplate, State(state), caller, id, body).await
}

#[utoipa::path(
    delete,
    path = "/vm_template/{id}",
    operation_id = "deleteVmTemplate",
    tag = "vm_template",
    summary = "Delete a VM template",
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
pub async fn delete_vm_template(
    State(state): St,
    caller: Caller,
    id: Path<u64>,
) -> Result<StatusCode, ApiError> {
    delete(ResourceKind::VmTemplate, State(state), caller, id).await
}

#[utoipa::path(
    post,
    path = "/vm_template/{id}/action",
    operation_id = "vmTemplateAction",
    tag = "vm_template",
    summary = "Rename, chmod, chown or chgrp a VM template",
    params(("id" = u64, Path)),
    request_body(content = inline(VmTemplateActionRequest), content_type = "application/json"),
    responses(
        (status = 204, response = NoContent),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable)
    )
)]
pub async fn vm_template_action(
    State(state): St,
    caller: Caller,
    id: Path<u64>,
    body: JsonBody,
) -> Result<StatusCode, ApiError> {
    action(ResourceKind::VmTemplate, State(state), caller, id, body).await
}

#[utoipa::path(
    get,
    path = "/image",
    operation_id = "listImages",
    tag = "image",
    summary = "List images",
    responses(
        (status = 200, description = "The images the caller may use.", body = ImagePool),
        (status = 401, response = Unauthorized),
        (status = 503, response = Unavailable)
    )
)]
pub async fn list_images(State(state): St, caller: Caller) -> Result<Json<Value>, ApiError> {
    list(ResourceKind::Image, State(state), caller).await
}

#[utoipa::path(
    post,
    path = "/image",
    operation_id = "createImage",
    tag = "image",
    summary = "Create an image",
    request_body(content = ImageCreate, content_type = "application/json"),
    responses(
        (status = 201, description = "The new image.", body = ImageResponse),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 503, response = Unavailable)
    )
)]
pub async fn create_image(
    State(state): St,
    caller: Caller,
    body: JsonBody,
) -> Result<Response, ApiError> {
    create(ResourceKind::Image, State(state), caller, body).await
}

#[utoipa::path(
    get,
    path = "/image/{id}",
    operation_id = "getImage",
    tag = "image",
    summary = "Show an image",
    params(("id" = u64, Path)),
    responses(
        (status = 200, description = "The image.", body = ImageResponse),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable)
    )
)]
pub async fn show_image(
    State(state): St,
    caller: Caller,
    id: Path<u64>,
) -> Result<Json<Value>, ApiError> {
    show(ResourceKind::Image, State(state), caller, id).await
}

#[utoipa::path(
    put,
    path = "/image/{id}",
    operation_id = "updateImage",
    tag = "image",
    summary = "Update an image's attributes",
    params(("id" = u64, Path)),
    request_body(content = AttributesUpdate, content_type = "application/json"),
    responses(
        (status = 200, description = "The updated image.", body = ImageResponse),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable)
    )
)]
pub async fn update_image(
    State(state): St,
    caller: Caller,
    id: Path<u64>,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    update(ResourceKind::Image, State(state), caller, id, body).await
}

#[utoipa::path(
    delete,
    path = "/image/{id}",
    operation_id = "deleteImage",
    tag = "image",
    summary = "Delete an image",
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
pub async fn delete_image(
    State(state): St,
    caller: Caller,
    id: Path<u64>,
) -> Result<StatusCode, ApiError> {
    delete(ResourceKind::Image, State(state), caller, id).await
}

#[utoipa::path(
    post,
    path = "/image/{id}/action",
    operation_id = "imageAction",
    tag = "image",
    summary = "Rename, chmod, chown or chgrp an image",
    params(("id" = u64, Path)),
    request_body(content = inline(ImageActionRequest), content_type = "application/json"),
    responses(
        (status = 204, response = NoContent),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable)
    )
)]
pub async fn image_action(
    State(state): St,
    caller: Caller,
    id: Path<u64>,
    body: JsonBody,
) -> Result<StatusCode, ApiError> {
    action(ResourceKind::Image, State(state), caller, id, body).await
}
