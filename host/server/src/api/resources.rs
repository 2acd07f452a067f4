//! `/vm_template` and `/image` routes: resources that are a name, an owner
//! and OpenNebula attributes, in OpenNebula's JSON shapes (`VMTEMPLATE` /
//! `VMTEMPLATE_POOL`, `IMAGE` / `IMAGE_POOL`). Both kinds share these
//! handlers; `ResourceKind` says which table and which shape.

use super::auth::Caller;
use super::error::ApiError;
use super::openapi::{BadRequest, Forbidden, NoContent, NotFound, Unauthorized, Unavailable};
use super::schemas::resources::*;
use super::{AppState, JsonBody, body_json};
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

/// The image ids a VM template's disks refer to (`DISK` is one object or
/// a list; `IMAGE_ID` a number or a string of digits). For stored
/// templates, whose ids were checked by `checked_image_ids`.
pub(super) fn image_ids(vm_template: &Map<String, Value>) -> Vec<u64> {
    disks(vm_template)
        .into_iter()
        .filter_map(|(_, d)| super::json_id(d.get("IMAGE_ID")?))
        .collect()
}

/// The disks of `attributes` with their place (`DISK`, `DISK[1]`).
fn disks(attributes: &Map<String, Value>) -> Vec<(String, &Value)> {
    match attributes.get("DISK") {
        Some(Value::Array(disks)) => disks
            .iter()
            .enumerate()
            .map(|(i, d)| (format!("DISK[{i}]"), d))
            .collect(),
        Some(disk @ Value::Object(_)) => vec![("DISK".to_string(), disk)],
        _ => Vec::new(),
    }
}

/// Every image id the disks of `attributes` name; an `IMAGE_ID` that is
/// not a whole number (`19.0`, `"1e3"`) is a 400 naming it under `prefix`,
/// since it would otherwise escape the checks that look for ids.
pub(super) fn checked_image_ids(
    attributes: &Map<String, Value>,
    prefix: &str,
) -> Result<Vec<u64>, ApiError> {
    let mut ids = Vec::new();
    for (place, disk) in disks(attributes) {
        match disk.get("IMAGE_ID") {
            None => {}
            Some(v) => ids.push(super::json_id(v).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "{prefix}.{place}.IMAGE_ID: must be an image id (a whole number), not {v}"
                ))
            })?),
        }
    }
    Ok(ids)
}

/// Check the attributes of a VM template or an image; for VM templates,
/// every image a disk refers to must exist and be usable by the caller.
fn check_attributes(
    store: &dyn Store,
    caller: &Caller,
    kind: ResourceKind,
    attributes: &Map<String, Value>,
) -> Result<(), ApiError> {
    match kind {
        ResourceKind::VmTemplate => {
            let objects = |v: &Value| v.as_array().is_some_and(|a| a.iter().all(Value::is_object));
            // NICs are merged with the role's by position, so they must be
            // a list (as in `template_contents`); one DISK may stand alone.
            if attributes.get("NIC").is_some_and(|v| !objects(v)) {
                return Err(ApiError::bad_request(
                    "template.NIC: must be an array of objects",
                ));
            }
            // Shapes openapi.json promises: CONTEXT is one vector, CPU and
            // MEMORY are values.
            if attributes.get("CONTEXT").is_some_and(|v| !v.is_object()) {
                return Err(ApiError::bad_request("template.CONTEXT: must be an object"));
            }
            if attributes
                .get("CPU")
                .is_some_and(|v| !v.is_string() && !v.is_number())
            {
                return Err(ApiError::bad_request(
                    "template.CPU: must be a number or a string",
                ));
            }
            if attributes
                .get("MEMORY")
                .is_some_and(|v| !v.is_string() && !v.is_u64())
            {
                return Err(ApiError::bad_request(
                    "template.MEMORY: must be a whole number of MiB or a string",
                ));
            }
            if attributes
                .get("DISK")
                .is_some_and(|v| !v.is_object() && !objects(v))
            {
                return Err(ApiError::bad_request(
                    "template.DISK: must be an object or an array of objects",
                ));
            }
            for image in checked_image_ids(attributes, "template")? {
                let found = store.resource(ResourceKind::Image, image)?.ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "template.DISK.IMAGE_ID: image {image} does not exist"
                    ))
                })?;
                caller.require(Right::Use, &found.ownership, &format!("image {image}"))?;
            }
        }
        ResourceKind::Image => {
            if attributes.get("PATH").is_some_and(|p| !p.is_string()) {
                return Err(ApiError::bad_request(
                    "template.PATH: must be a string (the image's file or URL)",
                ));
            }
            if let Some(size) = attributes.get("SIZE")
                && super::json_id(size).is_none()
            {
                return Err(ApiError::bad_request(
                    "template.SIZE: must be a whole number of MiB",
                ));
            }
            const TYPES: [&str; 6] = ["OS", "CDROM", "DATABLOCK", "KERNEL", "RAMDISK", "CONTEXT"];
            if let Some(t) = attributes.get("TYPE")
                && !t.as_str().is_some_and(|t| TYPES.contains(&t))
            {
                return Err(ApiError::bad_request(format!(
                    "template.TYPE: must be one of {}",
                    TYPES.join(", ")
                )));
            }
        }
        ResourceKind::Vnet | ResourceKind::VnetTemplate => {
            super::vnets::check_network_attributes(attributes)?;
        }
    }
    Ok(())
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
    super::check_name("name", body.get("name"))
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
    let append = super::bool_field(&body, "append", "append")?;
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
    let (perform, params) = super::perform(body)?;
    if !["rename", "chmod", "chown", "chgrp"].contains(&perform.as_str()) {
        return Err(ApiError::bad_request(format!(
            "action.perform: `{perform}` is not a {} action (rename, chmod, chown, chgrp)",
            kind.label()
        )));
    }
    let engine = state.engine()?;
    let store = engine.store();
    let mut r = load(&*store, &caller, kind, id, Right::Manage)?;
    super::change_ownership(
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
