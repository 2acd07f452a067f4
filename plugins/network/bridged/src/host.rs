//! [`Links`] over the host's link capability, as the plugins use it.

use super::{Device, Kind, Links};
use flotilla_model::PluginError as Error;
use flotilla_plugin_sdk::link;

/// The host this plugin runs in.
pub struct Host;

impl Links for Host {
    fn devices(&self) -> Result<Vec<Device>, Error> {
        link::list()
    }

    fn add(&self, name: &str, kind: &Kind) -> Result<(), Error> {
        link::add(name, kind.clone())
    }

    fn set_master(&self, name: &str, master: Option<&str>) -> Result<(), Error> {
        link::set_master(name, master)
    }

    fn set_up(&self, name: &str, up: bool) -> Result<(), Error> {
        link::set_up(name, up)
    }

    fn delete(&self, name: &str) -> Result<(), Error> {
        link::delete(name)
    }
}
