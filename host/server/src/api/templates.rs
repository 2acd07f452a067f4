//! `/service_template` routes.

use super::attributes::image_ids;
use super::auth::Caller;
use super::body::{JsonBody, body_json};
use super::documents;
use super::error::ApiError;
use super::resources;
use super::schemas::responses::{
    BadRequest, Conflict, Forbidden, NoContent, NotFound, Unauthorized, Unavailable,
};
use super::schemas::templates::*;
use super::state::AppState;
use super::warnings::Warnings;
use crate::access::Right;
use crate::store::{ResourceKind, ServiceTemplateDoc};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::sync::Arc;

type St = State<Arc<AppState>>;

/// A stored template the caller has `right` on.
pub(super) fn load(
    state: &AppState,
    caller: &Caller,
    id: u64,
    right: Right,
) -> Result<ServiceTemplateDoc, ApiError> {
    let engine = state.engine()?;
    let doc = engine
        .store()
        .service_template(id)?
        .ok_or_else(|| ApiError::not_found(format!("service template {id} does not exist")))?;
    caller.require(right, &doc.ownership, &format!("service template {id}"))?;
    Ok(doc)
}

/// Validate a template body; `registration_time` is the server's (it may
/// be sent back unchanged, as clients echo what they read).
fn validated(body: &Value, registered: Option<u64>) -> Result<(String, Value), ApiError> {
    let mut body = body.clone();
    if let Some(sent) = body
        .as_object_mut()
        .and_then(|b| b.remove("registration_time"))
        && registered.is_some_and(|t| sent.as_u64() != Some(t))
    {
        return Err(ApiError::bad_request(
            "registration_time: cannot be changed",
        ));
    }
    let template = crate::service::parse_template(&body).map_err(ApiError::invalid)?;
    let normalized =
        serde_json::to_value(&template).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok((template.name, normalized))
}

#[utoipa::path(
    get,
    path = "/service_template",
    operation_id = "listServiceTemplates",
    tag = "service_template",
    summary = "List service templates",
    responses(
        (status = 200, description = "The templates the caller may use.", body = inline(ListServiceTemplatesResponse)),
        (status = 401, response = Unauthorized),
        (status = 503, response = Unavailable)
    )
)]
pub async fn list(State(state): St, caller: Caller) -> Result<Json<Value>, ApiError> {
    let engine = state.engine()?;
    let store = engine.store();
    let docs = store
        .service_templates()?
        .iter()
        .filter(|d| caller.0.may(Right::Use, &d.ownership))
        .map(|d| documents::template(&*store, d))
        .collect();
    Ok(Json(documents::pool(docs)))
}

#[utoipa::path(
    get,
    path = "/service_template/{id}",
    operation_id = "getServiceTemplate",
    tag = "service_template",
    summary = "Show a service template",
    params(("id" = u64, Path)),
    responses(
        (status = 200, description = "The template.", body = inline(GetServiceTemplateResponse)),
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
    let doc = load(&state, &caller, id, Right::Use)?;
    let engine = state.engine()?;
    Ok(Json(documents::one(documents::template(
        &*engine.store(),
        &doc,
    ))))
}

#[utoipa::path(
    post,
    path = "/service_template",
    operation_id = "createServiceTemplate",
    tag = "service_template",
    summary = "Create a service template",
    request_body(content = ServiceTemplateBody, content_type = "application/json"),
    responses(
        (status = 201, description = "The new template (TYPE \"101\").", body = inline(CreateServiceTemplateResponse), headers(("Flotilla-Warning" = String, description = "One per warning about the request (an unknown template attribute); repeated. Non-ASCII characters are escaped as \\u{hex}."))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 503, response = Unavailable)
    )
)]
pub async fn create(
    State(state): St,
    caller: Caller,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let body = body_json(body)?;
    let warnings = Warnings::template(&state, &body)?;
    let (name, normalized) = validated(&body, None)?;
    let engine = state.engine()?;
    let store = engine.store();
    let doc = ServiceTemplateDoc {
        id: store.next_service_template_id()?,
        name,
        ownership: caller.owns_new(),
        registration_time: state.now_s(),
        body: normalized,
    };
    store.save_service_template(&doc)?;
    Ok(warnings.json(
        StatusCode::CREATED,
        documents::one(documents::template(&*store, &doc)),
    ))
}

#[utoipa::path(
    put,
    path = "/service_template/{id}",
    operation_id = "updateServiceTemplate",
    tag = "service_template",
    summary = "Replace a service template",
    description = "Full body; registration_time cannot change (kept when omitted).",
    params(("id" = u64, Path)),
    request_body(content = ServiceTemplateBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The updated template.", body = inline(UpdateServiceTemplateResponse), headers(("Flotilla-Warning" = String, description = "One per warning about the request (an unknown template attribute); repeated. Non-ASCII characters are escaped as \\u{hex}."))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable)
    )
)]
pub async fn update(
    State(state): St,
    caller: Caller,
    Path(id): Path<u64>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let mut doc = load(&state, &caller, id, Right::Manage)?;
    let body = body_json(body)?;
    let warnings = Warnings::template(&state, &body)?;
    let (name, normalized) = validated(&body, Some(doc.registration_time))?;
    doc.name = name;
    doc.body = normalized;
    let engine = state.engine()?;
    let store = engine.store();
    store.save_service_template(&doc)?;
    Ok(warnings.json(
        StatusCode::OK,
        documents::one(documents::template(&*store, &doc)),
    ))
}

/// Delete a template; `{"delete_type": "templates"}` also deletes the VM
/// templates its roles use, `"all"` their images too. Nothing is deleted
/// if the caller may not manage one of them or another template still
/// uses it.
#[utoipa::path(
    delete,
    path = "/service_template/{id}",
    operation_id = "deleteServiceTemplate",
    tag = "service_template",
    summary = "Delete a service template",
    description = "delete_type templates also deletes the VM templates the roles use; all also deletes their images. 409 if one of them is still used by another template.",
    params(("id" = u64, Path)),
    request_body(content = inline(Option<DeleteServiceTemplateRequest>), content_type = "application/json"),
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
    body: JsonBody,
) -> Result<StatusCode, ApiError> {
    let body = body.optional()?;
    if body.as_ref().is_some_and(|b| !b.is_object()) {
        return Err(ApiError::bad_request(
            "request body: must be a JSON object (`{\"delete_type\": \"none\"}`) or empty",
        ));
    }
    let delete_type = match body.as_ref().and_then(|b| b.get("delete_type")) {
        None | Some(Value::Null) => "none",
        Some(Value::String(t)) if ["none", "templates", "all"].contains(&t.as_str()) => t.as_str(),
        Some(_) => {
            return Err(ApiError::bad_request(
                "delete_type: must be none, templates or all",
            ));
        }
    };
    let doc = load(&state, &caller, id, Right::Manage)?;
    let engine = state.engine()?;
    let store = engine.store();
    let mut vm_templates = Vec::new();
    let mut images = Vec::new();
    if delete_type != "none" {
        // Read the other templates once, not once per VM template.
        let others = store.service_templates()?;
        for tid in role_template_ids(&doc.body) {
            let Some(t) = store.resource(ResourceKind::VmTemplate, tid)? else {
                continue;
            };
            caller.require(Right::Manage, &t.ownership, &format!("VM template {tid}"))?;
            if let Some(other) = others
                .iter()
                .find(|o| o.id != id && role_template_ids(&o.body).contains(&tid))
            {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    format!(
                        "VM template {tid} is also used by service template {}; nothing was deleted",
                        other.id
                    ),
                ));
            }
            vm_templates.push(t);
        }
    }
    if delete_type == "all" {
        let all_vm_templates = store.resources(ResourceKind::VmTemplate)?;
        for t in &vm_templates {
            for image in image_ids(&t.attributes) {
                if images
                    .iter()
                    .any(|i: &crate::store::Resource| i.id == image)
                {
                    continue;
                }
                let Some(i) = store.resource(ResourceKind::Image, image)? else {
                    continue;
                };
                caller.require(Right::Manage, &i.ownership, &format!("image {image}"))?;
                if let Some(user) = all_vm_templates.iter().find(|o| {
                    !vm_templates.iter().any(|t| t.id == o.id)
                        && image_ids(&o.attributes).contains(&image)
                }) {
                    return Err(ApiError::new(
                        StatusCode::CONFLICT,
                        format!(
                            "image {image} is also used by VM template {}; nothing was deleted",
                            user.id
                        ),
                    ));
                }
                images.push(i);
            }
        }
    }
    store.atomically(|| {
        store.delete_service_template(id)?;
        for t in &vm_templates {
            store.delete_resource(ResourceKind::VmTemplate, t.id)?;
        }
        for i in &images {
            store.delete_resource(ResourceKind::Image, i.id)?;
        }
        Ok::<_, ApiError>(())
    })?;
    Ok(StatusCode::NO_CONTENT)
}

/// The VM template ids a template's roles use, each once.
fn role_template_ids(body: &Value) -> Vec<u64> {
    let mut ids: Vec<u64> = body
        .get("roles")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r.get("template_id").and_then(Value::as_u64))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Name of a clone of a VM template or image: OneFlow's
/// `<original>-<clone name>`, cropped to 119 characters.
fn clone_name(original: &str, name: &str) -> String {
    format!("{original}-{name}").chars().take(119).collect()
}

/// Clone the VM templates a template's roles use (and with `images`
/// their images) and point the roles in `body` at the clones. Every right is checked before anything is created; the caller runs
/// this in a transaction, so a failure leaves nothing behind.
fn clone_vm_templates(
    store: &dyn crate::store::Store,
    caller: &Caller,
    body: &mut Value,
    name: &str,
    images: bool,
) -> Result<(), ApiError> {
    let mut sources = Vec::new();
    for tid in role_template_ids(body) {
        let t = resources::load(store, caller, ResourceKind::VmTemplate, tid, Right::Use)?;
        let mut disk_images = Vec::new();
        if images {
            for image in image_ids(&t.attributes) {
                disk_images.push(resources::load(
                    store,
                    caller,
                    ResourceKind::Image,
                    image,
                    Right::Use,
                )?);
            }
        }
        sources.push((t, disk_images));
    }
    let owned = caller.owns_new();
    let mut image_map: Vec<(u64, u64)> = Vec::new();
    let mut template_map: Vec<(u64, u64)> = Vec::new();
    for (t, disk_images) in sources {
        for i in disk_images {
            if image_map.iter().any(|(from, _)| *from == i.id) {
                continue;
            }
            let new = store.create_resource(
                ResourceKind::Image,
                &clone_name(&i.name, name),
                owned.clone(),
                i.attributes.clone(),
            )?;
            image_map.push((i.id, new));
        }
        let mut attributes = t.attributes.clone();
        if images {
            repoint_disks(&mut attributes, &image_map);
        }
        let new = store.create_resource(
            ResourceKind::VmTemplate,
            &clone_name(&t.name, name),
            owned.clone(),
            attributes,
        )?;
        template_map.push((t.id, new));
    }
    if let Some(roles) = body.get_mut("roles").and_then(Value::as_array_mut) {
        for role in roles {
            let Some(old) = role.get("template_id").and_then(Value::as_u64) else {
                continue;
            };
            if let Some((_, new)) = template_map.iter().find(|(from, _)| *from == old) {
                role["template_id"] = Value::from(*new);
            }
        }
    }
    Ok(())
}

/// Point a VM template's disks at cloned images.
fn repoint_disks(attributes: &mut serde_json::Map<String, Value>, image_map: &[(u64, u64)]) {
    let disks: Vec<&mut Value> = match attributes.get_mut("DISK") {
        Some(Value::Array(disks)) => disks.iter_mut().collect(),
        Some(disk @ Value::Object(_)) => vec![disk],
        _ => return,
    };
    for disk in disks {
        let Some(id) = disk.get("IMAGE_ID") else {
            continue;
        };
        let old = super::body::json_id(id);
        if let Some((_, new)) = image_map.iter().find(|(from, _)| Some(*from) == old) {
            disk["IMAGE_ID"] = Value::String(new.to_string());
        }
    }
}

#[utoipa::path(
    post,
    path = "/service_template/{id}/action",
    operation_id = "serviceTemplateAction",
    tag = "service_template",
    summary = "Act on a service template",
    description = "instantiate needs use on the template and on every VM template its roles use (403 names roles[i].template_id); validation errors of the merged template are 400. update, rename, chmod, chown, chgrp answer 204.",
    params(("id" = u64, Path)),
    request_body(content = inline(ServiceTemplateActionRequest), content_type = "application/json"),
    responses(
        (status = 201, description = "instantiate: the new service (TYPE \"100\", state 0 PENDING); clone: the new template (TYPE \"101\").", body = inline(ServiceTemplateActionResponse), headers(("Flotilla-Warning" = String, description = "One per warning about the request (an unknown template attribute); repeated. Non-ASCII characters are escaped as \\u{hex}."))),
        (status = 204, description = "Done; empty body.", headers(("Flotilla-Warning" = String, description = "One per warning about the request (an unknown template attribute); repeated. Non-ASCII characters are escaped as \\u{hex}."))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable)
    )
)]
pub async fn action(
    State(state): St,
    caller: Caller,
    Path(id): Path<u64>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let (perform, params) = super::body::perform(body)?;
    match perform.as_str() {
        "instantiate" => {
            let doc = load(&state, &caller, id, Right::Use)?;
            let merge = params
                .get("merge_template")
                .cloned()
                .unwrap_or(Value::Object(Default::default()));
            if !merge.is_object() {
                return Err(ApiError::bad_request(
                    "params.merge_template: must be an object",
                ));
            }
            let merged = crate::service::merge::apply_merge_template(&doc.body, &merge);
            let warnings = Warnings::instantiate(&state, &merged)?;
            let engine = state.engine()?;
            // Every VM template the roles use, its images, and the images
            // the roles' template_contents name must be usable by the
            // caller. (An invalid template is refused by the engine below,
            // naming each field.)
            super::rights::require_roles_use(&*engine.store(), &caller, &merged)?;
            let ownership = caller.owns_new();
            let service_id = engine.instantiate_for(&merged, ownership).await?;
            let service = engine.service(service_id)?;
            let body = documents::one(documents::service(&*engine.store(), &service));
            Ok(warnings.json(StatusCode::CREATED, body))
        }
        "clone" => {
            let doc = load(&state, &caller, id, Right::Use)?;
            let name = super::body::check_name("params.name", params.get("name"))?;
            // OpenNebula's Go client sends a boolean: true clones the VM
            // templates (not their images), as OneFlow reads it.
            let recursive = match params.get("recursive") {
                None | Some(Value::Null) | Some(Value::Bool(false)) => "none",
                Some(Value::Bool(true)) => "templates",
                Some(Value::String(r)) if ["none", "templates", "all"].contains(&r.as_str()) => {
                    r.as_str()
                }
                Some(_) => {
                    return Err(ApiError::bad_request(
                        "params.recursive: must be none, templates or all (or true for templates, false for none)",
                    ));
                }
            };
            let engine = state.engine()?;
            let store = engine.store();
            let mut body = doc.body.clone();
            body["name"] = Value::String(name.clone());
            validated(&body, None)?;
            let clone = store.atomically(|| {
                if recursive != "none" {
                    clone_vm_templates(&*store, &caller, &mut body, &name, recursive == "all")?;
                }
                let clone = ServiceTemplateDoc {
                    id: store.next_service_template_id()?,
                    name,
                    ownership: caller.owns_new(),
                    registration_time: state.now_s(),
                    body,
                };
                store.save_service_template(&clone)?;
                Ok::<_, ApiError>(clone)
            })?;
            Ok((
                StatusCode::CREATED,
                Json(documents::one(documents::template(&*store, &clone))),
            )
                .into_response())
        }
        "update" => {
            let mut doc = load(&state, &caller, id, Right::Manage)?;
            if params.get("template_raw").is_some() {
                return Err(ApiError::bad_request(
                    "params.template_raw: not supported; send the template as params.template_json",
                ));
            }
            let sent = match params.get("template_json") {
                Some(Value::String(text)) => serde_json::from_str(text).map_err(|e| {
                    ApiError::bad_request(format!("params.template_json: not JSON: {e}"))
                })?,
                Some(object @ Value::Object(_)) => object.clone(),
                _ => {
                    return Err(ApiError::bad_request(
                        "params.template_json: required, the template as JSON",
                    ));
                }
            };
            let Value::Object(sent) = sent else {
                return Err(ApiError::bad_request(
                    "params.template_json: must be a JSON object",
                ));
            };
            let body = if super::body::param_bool(&params, "append")? {
                let mut merged = doc.body.as_object().cloned().unwrap_or_default();
                merged.extend(sent);
                Value::Object(merged)
            } else {
                Value::Object(sent)
            };
            let warnings = Warnings::template(&state, &body)?;
            let (name, normalized) = validated(&body, Some(doc.registration_time))?;
            doc.name = name;
            doc.body = normalized;
            state.engine()?.store().save_service_template(&doc)?;
            Ok(warnings.headers(StatusCode::NO_CONTENT.into_response()))
        }
        "rename" | "chmod" | "chown" | "chgrp" => {
            let mut doc = load(&state, &caller, id, Right::Manage)?;
            let engine = state.engine()?;
            super::rights::change_ownership(
                &*engine.store(),
                &caller,
                &perform,
                &params,
                &mut doc.ownership,
                &mut doc.name,
            )?;
            if perform == "rename" {
                doc.body["name"] = Value::String(doc.name.clone());
                // The name must pass the checks a created template's does.
                doc.body = validated(&doc.body, None)?.1;
            }
            state.engine()?.store().save_service_template(&doc)?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        other => Err(ApiError::bad_request(format!(
            "action.perform: `{other}` is not a template action (instantiate, clone, update, rename, chmod, chown, chgrp)"
        ))),
    }
}
