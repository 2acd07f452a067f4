//! The `static` network mode: Flotilla's own virtual networks, no SDN
//! behind them. An existing network is checked and used as it is; a
//! reservation is carved from its parent and a template is instantiated
//! through the host's registry, named `<network>-<service id>` as OneFlow
//! names them. Every step is idempotent on the request's operation id, so
//! a deploy repeated after a crash returns the network the first made.

use flotilla_plugin_sdk::network::registry::{self, VnetInfo};
use flotilla_plugin_sdk::network::*;

pub struct StaticNetwork;

impl NetworkMode for StaticNetwork {
    fn new() -> Self {
        StaticNetwork
    }

    fn info(&self) -> PluginInfo {
        PluginInfo::new(
            "static",
            env!("CARGO_PKG_VERSION"),
            "Flotilla's own virtual networks: existing networks, reservations and template instances, addresses leased by the host",
        )
    }

    fn deploy(&mut self, request: NetworkRequest) -> Result<NetworkLease, Error> {
        if request.name.trim().is_empty() {
            return Err(Error::InvalidInput("name: must not be empty".into()));
        }
        let name = format!("{}-{}", request.name, request.service_id);
        let (vnet, created, origin) = match &request.source {
            NetworkSource::Existing(id) => (registry::get(require_id(id)?)?, false, "existing"),
            NetworkSource::ReserveFrom(parent) => {
                let size = size_of(&request.extra)?;
                let vnet = registry::reserve(
                    &request.operation_id,
                    request.service_id,
                    require_id(parent)?,
                    &name,
                    size,
                )?;
                (vnet, true, "reservation")
            }
            NetworkSource::FromTemplate(template) => {
                let vnet = registry::instantiate(
                    &request.operation_id,
                    request.service_id,
                    require_id(template)?,
                    &name,
                    &request.extra,
                )?;
                (vnet, true, "template")
            }
        };
        Ok(lease(&request.name, vnet, created, origin))
    }

    fn status(&mut self, lease: NetworkLease) -> Result<NetworkLease, Error> {
        // Flotilla's networks are ready once they exist.
        registry::get(&lease.network_id)?;
        Ok(NetworkLease {
            ready: true,
            ..lease
        })
    }

    fn undeploy(&mut self, lease: NetworkLease) -> Result<(), Error> {
        if !lease.created {
            return Ok(());
        }
        registry::delete(&lease.network_id)
    }
}

fn lease(name: &str, vnet: VnetInfo, created: bool, origin: &str) -> NetworkLease {
    let mut attributes = vec![KeyValue::new("ORIGIN", origin)];
    for (i, r) in vnet.ranges.iter().enumerate() {
        attributes.push(KeyValue::new(
            format!("AR{i}"),
            format!("{}+{}", r.ip, r.size),
        ));
    }
    NetworkLease {
        network_id: vnet.id,
        name: name.to_string(),
        created,
        ready: true,
        attributes,
    }
}

/// `SIZE=5` in a reservation's `extra`.
fn size_of(extra: &str) -> Result<u32, Error> {
    let size = extra
        .split(['\n', ','])
        .filter_map(|part| part.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("SIZE"))
        .map(|(_, v)| v.trim().trim_matches('"').to_string())
        .ok_or_else(|| Error::InvalidInput("extra: a reservation needs SIZE=<addresses>".into()))?;
    size.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
        Error::InvalidInput(format!("extra: SIZE `{size}` is not a positive number"))
    })
}

fn require_id(id: &str) -> Result<&str, Error> {
    if id.trim().is_empty() {
        Err(Error::InvalidInput(
            "source: network id must not be empty".into(),
        ))
    } else {
        Ok(id.trim())
    }
}

flotilla_plugin_sdk::export_network!(StaticNetwork);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservation_sizes_come_from_extra() {
        assert_eq!(size_of("SIZE=5").unwrap(), 5);
        assert_eq!(size_of("NAME=x\nSIZE=\"12\"").unwrap(), 12);
        assert!(size_of("").is_err());
        assert!(size_of("SIZE=0").is_err());
    }
}
