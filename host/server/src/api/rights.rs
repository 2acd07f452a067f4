//! Permission checks that reach past the document a request names: a
//! service or role may use only VM templates and images its caller may use;
//! and the ownership actions (rename, chmod, chown, chgrp) every kind of
//! document shares.

use super::attributes::checked_image_ids;
use super::auth::Caller;
use super::body::{check_name, json_id, param_id, param_str};
use super::error::ApiError;
use crate::access::users;
use crate::access::{Ownership, Permissions, Right};
use crate::store::{ResourceKind, Store};

/// 403 unless the caller may use VM template `id` and every image its
/// disks name (`field` says where the id came from). A template that does
/// not exist is left to validation (400).
pub(super) fn require_vm_template_use(
    store: &dyn Store,
    caller: &Caller,
    id: u64,
    field: &str,
) -> Result<(), ApiError> {
    let Some(t) = store.vm_template(id)? else {
        return Ok(());
    };
    let who = &caller.0.name;
    if !caller.0.may(Right::Use, &t.ownership) {
        return Err(ApiError::forbidden(format!(
            "{field}: user {who} may not use VM template {id}"
        )));
    }
    require_images_use(
        store,
        caller,
        &t.attributes,
        &format!("VM template {id}"),
        |image| {
            format!("{field}: user {who} may not use image {image}, a disk of VM template {id}")
        },
    )
}

/// 403 (`denied(image)` says why) unless the caller may use every image
/// the disks of `attributes` name; ids that are not whole numbers are a
/// 400 naming them under `at`. An image that does not exist is left to the
/// driver.
pub(super) fn require_images_use(
    store: &dyn Store,
    caller: &Caller,
    attributes: &serde_json::Map<String, serde_json::Value>,
    at: &str,
    denied: impl Fn(u64) -> String,
) -> Result<(), ApiError> {
    for image in checked_image_ids(attributes, at)? {
        if let Some(i) = store.resource(ResourceKind::Image, image)?
            && !caller.0.may(Right::Use, &i.ownership)
        {
            return Err(ApiError::forbidden(denied(image)));
        }
    }
    Ok(())
}

/// 403 unless the caller may use everything a service role (`role`, at
/// `field`) makes its VMs from: its VM template with that template's
/// images, and the images its `template_contents` disks name. Ids that
/// are not whole numbers are a 400 naming them; a role without a
/// template_id is left to validation.
pub(super) fn require_role_use(
    store: &dyn Store,
    caller: &Caller,
    role: &serde_json::Value,
    field: &str,
) -> Result<(), ApiError> {
    match role.get("template_id") {
        None | Some(serde_json::Value::Null) => {}
        Some(v) => {
            let id = json_id(v).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "{field}.template_id: must be a VM template id (a whole number)"
                ))
            })?;
            require_vm_template_use(store, caller, id, &format!("{field}.template_id"))?;
        }
    }
    if let Some(contents) = role
        .get("template_contents")
        .and_then(serde_json::Value::as_object)
    {
        let at = format!("{field}.template_contents");
        require_images_use(store, caller, contents, &at, |image| {
            format!(
                "{at}.DISK: user {} may not use image {image}",
                caller.0.name
            )
        })?;
    }
    Ok(())
}

/// `require_role_use` for every role of a service template or service
/// document (`roles[i]`).
pub(super) fn require_roles_use(
    store: &dyn Store,
    caller: &Caller,
    document: &serde_json::Value,
) -> Result<(), ApiError> {
    let roles = document
        .get("roles")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten();
    for (i, role) in roles.enumerate() {
        require_role_use(store, caller, role, &format!("roles[{i}]"))?;
    }
    Ok(())
}

/// rename, chmod, chown and chgrp of a document.
pub(super) fn change_ownership(
    store: &dyn Store,
    caller: &Caller,
    perform: &str,
    params: &serde_json::Value,
    ownership: &mut Ownership,
    name: &mut String,
) -> Result<(), ApiError> {
    match perform {
        "rename" => {
            *name = check_name("params.name", params.get("name"))?;
        }
        "chmod" => {
            let octet = param_str(params, "octet")?;
            let new = Permissions::from_octet(&octet)
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
            // As in OpenNebula: manage allows chmod, but only admin may
            // change the admin bits.
            let admin_bits = |p: &Permissions| [p.owner.admin, p.group.admin, p.other.admin];
            if admin_bits(&new) != admin_bits(&ownership.permissions)
                && !caller.0.may(Right::Admin, ownership)
            {
                return Err(ApiError::forbidden(format!(
                    "params.octet: user {} may not change the admin bits",
                    caller.0.name
                )));
            }
            ownership.permissions = new;
        }
        "chown" | "chgrp" => {
            let owner = if perform == "chown" {
                Some(
                    param_id(params, "owner_id")?
                        .ok_or_else(|| ApiError::bad_request("params.owner_id: required"))?,
                )
            } else {
                None
            };
            let group = param_id(params, "group_id")?;
            if perform == "chgrp" && group.is_none() {
                return Err(ApiError::bad_request("params.group_id: required"));
            }
            if let Some(uid) = owner
                && uid != ownership.uid
                && !caller.0.admin
            {
                return Err(ApiError::forbidden(
                    "only the oneadmin group may give a resource to another user",
                ));
            }
            if let Some(gid) = group
                && gid != caller.0.gid
                && !caller.0.admin
            {
                return Err(ApiError::forbidden(format!(
                    "user {} is not in group {gid}",
                    caller.0.name
                )));
            }
            if let Some(uid) = owner
                && !users::user_exists(store, uid)?
            {
                return Err(ApiError::bad_request(format!(
                    "params.owner_id: user {uid} does not exist"
                )));
            }
            if let Some(gid) = group
                && !users::group_exists(store, gid)?
            {
                return Err(ApiError::bad_request(format!(
                    "params.group_id: group {gid} does not exist"
                )));
            }
            if let Some(uid) = owner {
                ownership.uid = uid;
            }
            if let Some(gid) = group {
                ownership.gid = gid;
            }
        }
        _ => {}
    }
    Ok(())
}
