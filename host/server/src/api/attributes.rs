//! What the attributes of a VM template, an image or a network may say,
//! checked when a request creates or updates one; and the image ids a VM
//! template's disks name, which the permission checks reach through.

use super::auth::Caller;
use super::body::json_id;
use super::error::ApiError;
use crate::access::Right;
use crate::store::{ResourceKind, Store};
use serde_json::{Map, Value};

/// The image ids a VM template's disks refer to (`DISK` is one object or
/// a list; `IMAGE_ID` a number or a string of digits). For stored
/// templates, whose ids were checked by `checked_image_ids`.
pub(super) fn image_ids(vm_template: &Map<String, Value>) -> Vec<u64> {
    disks(vm_template)
        .into_iter()
        .filter_map(|(_, d)| json_id(d.get("IMAGE_ID")?))
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
            Some(v) => ids.push(json_id(v).ok_or_else(|| {
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
pub(super) fn check_attributes(
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
                && json_id(size).is_none()
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
            check_network_attributes(attributes)?;
        }
    }
    Ok(())
}

/// A network's or network template's attributes: its `AR` well formed,
/// and none of the marks Flotilla keeps for itself.
fn check_network_attributes(attributes: &Map<String, Value>) -> Result<(), ApiError> {
    let ranges = flotilla_core::network::parse_ranges(attributes)
        .map_err(|e| ApiError::bad_request(format!("template.{e}")))?;
    crate::store::check_size(&ranges)
        .map_err(|e| ApiError::bad_request(format!("template.{e}")))?;
    if let Some(key) = attributes.keys().find(|k| crate::store::is_mark(k)) {
        return Err(ApiError::bad_request(format!(
            "template.{key}: is set by Flotilla, not by a request"
        )));
    }
    Ok(())
}
