//! An in-memory host for tests of plumbing logic: the devices a real
//! kernel would have, with the same idempotence rules as the host's link
//! capability, and a prefix check like the operator's grant.

use super::{Device, Kind, Links};
use flotilla_model::PluginError as Error;
use std::cell::RefCell;
use std::collections::BTreeMap;

#[derive(Default)]
pub struct Host {
    pub devices: RefCell<BTreeMap<String, Device>>,
    /// Granted prefixes; empty grants every name.
    pub prefixes: Vec<String>,
}

impl Host {
    pub fn granting(prefixes: &[&str]) -> Host {
        Host {
            prefixes: prefixes.iter().map(|p| p.to_string()).collect(),
            ..Host::default()
        }
    }

    fn check(&self, name: &str) -> Result<(), Error> {
        if self.prefixes.is_empty() || self.prefixes.iter().any(|p| name.starts_with(p)) {
            Ok(())
        } else {
            Err(Error::Denied(format!(
                "device `{name}` is outside the granted prefixes {:?}",
                self.prefixes
            )))
        }
    }

    pub fn device(&self, name: &str) -> Option<Device> {
        self.devices.borrow().get(name).cloned()
    }

    pub fn names(&self) -> Vec<String> {
        self.devices.borrow().keys().cloned().collect()
    }
}

impl Links for Host {
    fn devices(&self) -> Result<Vec<Device>, Error> {
        Ok(self
            .devices
            .borrow()
            .values()
            .filter(|d| self.check(&d.name).is_ok())
            .cloned()
            .collect())
    }

    fn add(&self, name: &str, kind: &Kind) -> Result<(), Error> {
        self.check(name)?;
        let mut devices = self.devices.borrow_mut();
        match devices.get(name) {
            Some(d) if std::mem::discriminant(&d.kind) == std::mem::discriminant(kind) => Ok(()),
            Some(d) => Err(Error::Denied(format!(
                "device `{name}` exists as {:?}",
                d.kind
            ))),
            None => {
                devices.insert(
                    name.to_string(),
                    Device {
                        name: name.to_string(),
                        kind: kind.clone(),
                        master: None,
                        up: false,
                        addresses: Vec::new(),
                    },
                );
                Ok(())
            }
        }
    }

    fn set_master(&self, name: &str, master: Option<&str>) -> Result<(), Error> {
        self.check(name)?;
        if let Some(m) = master {
            self.check(m)?;
            if !matches!(self.device(m).map(|d| d.kind), Some(Kind::Bridge)) {
                return Err(Error::NotFound(format!("bridge `{m}`")));
            }
        }
        let mut devices = self.devices.borrow_mut();
        let d = devices
            .get_mut(name)
            .ok_or_else(|| Error::NotFound(format!("device `{name}`")))?;
        d.master = master.map(str::to_string);
        Ok(())
    }

    fn set_up(&self, name: &str, up: bool) -> Result<(), Error> {
        self.check(name)?;
        let mut devices = self.devices.borrow_mut();
        let d = devices
            .get_mut(name)
            .ok_or_else(|| Error::NotFound(format!("device `{name}`")))?;
        d.up = up;
        Ok(())
    }

    fn delete(&self, name: &str) -> Result<(), Error> {
        self.check(name)?;
        let mut devices = self.devices.borrow_mut();
        devices.remove(name);
        // The kernel takes a bridge's ports off it when it goes.
        for d in devices.values_mut() {
            if d.master.as_deref() == Some(name) {
                d.master = None;
            }
        }
        Ok(())
    }
}
