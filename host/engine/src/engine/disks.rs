//! A VM's disks as the driver receives them: each DISK that names an
//! image (`IMAGE_ID`, or `IMAGE` with `IMAGE_UNAME`/`IMAGE_UID`, as in
//! OpenNebula) gets `SOURCE`, that image's file, once the service's owner
//! is found to be allowed to use it. `SOURCE` is only ever Flotilla's: one
//! a template wrote is dropped, so a driver can trust it names an image.
//! A DISK with a raw `PATH` is passed on; the driver decides whether its
//! file may be used (the qemu driver takes only its image directories).

use super::effects::database;
use super::*;
use crate::service::inputs::as_text;
use crate::store::ResourceKind;
use flotilla_model::BackendError;
use serde_json::{Map, Value};

impl Engine {
    /// Resolve the images the DISKs of a VM's `template` name into their
    /// files; an image that does not exist or that the service's owner may
    /// not use fails the VM, naming the DISK.
    pub(super) fn attach_disks(
        &self,
        service: &Service,
        template: &mut Map<String, Value>,
    ) -> Result<(), BackendError> {
        let (list, disks): (bool, Vec<&mut Map<String, Value>>) = match template.get_mut("DISK") {
            None | Some(Value::Null) => return Ok(()),
            Some(Value::Object(disk)) => (false, vec![disk]),
            Some(Value::Array(items)) => (
                true,
                items.iter_mut().filter_map(Value::as_object_mut).collect(),
            ),
            // Not a disk: the driver names it.
            Some(_) => return Ok(()),
        };
        let owner = super::vnets::owner_identity(&service.ownership);
        for (i, disk) in disks.into_iter().enumerate() {
            let field = if list {
                format!("DISK[{i}]")
            } else {
                "DISK".to_string()
            };
            disk.remove("SOURCE");
            let Some(image) = self.disk_image(service, disk, &field)? else {
                continue;
            };
            if !owner.may(flotilla_core::permissions::Right::Use, &image.ownership) {
                return Err(BackendError::Refused(format!(
                    "{field}: the service's owner may not use image {} ({})",
                    image.id, image.name
                )));
            }
            // An image without a file (a record only, as the simulated
            // hypervisor needs) gets no SOURCE: a driver that attaches
            // files says so.
            if let Some(path) = image
                .attributes
                .get("PATH")
                .and_then(as_text)
                .filter(|p| !p.trim().is_empty())
            {
                disk.insert("SOURCE".into(), Value::String(path));
            }
            disk.insert("IMAGE_ID".into(), Value::String(image.id.to_string()));
            // The image's format, unless the disk says.
            for key in ["DRIVER", "FORMAT"] {
                if !disk.contains_key(key)
                    && let Some(v) = image.attributes.get(key)
                {
                    disk.insert(key.into(), v.clone());
                }
            }
        }
        Ok(())
    }

    /// The image a DISK names, if it names one: by `IMAGE_ID`, or by
    /// `IMAGE` (its name) owned by `IMAGE_UID` / `IMAGE_UNAME`, else by the
    /// service's owner.
    fn disk_image(
        &self,
        service: &Service,
        disk: &Map<String, Value>,
        field: &str,
    ) -> Result<Option<crate::store::Resource>, BackendError> {
        let store = self.store();
        if let Some(v) = disk.get("IMAGE_ID") {
            let id = as_text(v)
                .and_then(|t| t.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    BackendError::Refused(format!("{field}.IMAGE_ID: `{v}` is not an image id"))
                })?;
            return store
                .resource(ResourceKind::Image, id)
                .map_err(database)?
                .map(Some)
                .ok_or_else(|| {
                    BackendError::Refused(format!("{field}.IMAGE_ID: image {id} does not exist"))
                });
        }
        let Some(name) = disk.get("IMAGE").and_then(as_text) else {
            return Ok(None);
        };
        let (uid, who) = match (
            disk.get("IMAGE_UID").and_then(as_text),
            disk.get("IMAGE_UNAME").and_then(as_text),
        ) {
            (Some(uid), _) => {
                let id = uid.trim().parse::<u64>().map_err(|_| {
                    BackendError::Refused(format!("{field}.IMAGE_UID: `{uid}` is not a user id"))
                })?;
                (id, format!("user {id}"))
            }
            (None, Some(user)) => {
                let found = store
                    .user_by_name(user.trim())
                    .map_err(database)?
                    .ok_or_else(|| {
                        BackendError::Refused(format!("{field}.IMAGE_UNAME: no user `{user}`"))
                    })?;
                (found.id, format!("user {}", found.name))
            }
            (None, None) => (service.ownership.uid, "the service's owner".to_string()),
        };
        store
            .resources(ResourceKind::Image)
            .map_err(database)?
            .into_iter()
            .find(|r| r.name == name && r.ownership.uid == uid)
            .map(Some)
            .ok_or_else(|| {
                BackendError::Refused(format!("{field}.IMAGE: {who} has no image named `{name}`"))
            })
    }
}
