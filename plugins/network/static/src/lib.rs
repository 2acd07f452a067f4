//! The `static` network mode: no SDN behind it. Existing networks are used
//! as they are; reservations and template instantiations get a network id
//! derived from the request, so the same request always yields the same
//! lease (idempotent on the operation id without any state).

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
            "Bookkeeping network mode: existing networks as they are, reservations and template instances named after the service",
        )
    }

    fn deploy(&mut self, request: NetworkRequest) -> Result<NetworkLease, Error> {
        if request.name.trim().is_empty() {
            return Err(Error::InvalidInput("name: must not be empty".into()));
        }
        let (network_id, created, origin) = match &request.source {
            NetworkSource::Existing(id) => (require_id(id)?.to_string(), false, "existing"),
            NetworkSource::ReserveFrom(id) => (
                format!("{}-rsv-{}", require_id(id)?, request.operation_id),
                true,
                "reservation",
            ),
            NetworkSource::FromTemplate(id) => (
                format!("tpl{}-{}", require_id(id)?, request.operation_id),
                true,
                "template",
            ),
        };
        let mut attributes = vec![
            KeyValue::new("ORIGIN", origin),
            KeyValue::new("SERVICE_ID", request.service_id.to_string()),
        ];
        for line in request.extra.lines() {
            if let Some((k, v)) = line.split_once('=') {
                attributes.push(KeyValue::new(k.trim(), v.trim().trim_matches('"')));
            }
        }
        Ok(NetworkLease {
            network_id,
            name: request.name,
            created,
            ready: true,
            attributes,
        })
    }

    fn status(&mut self, lease: NetworkLease) -> Result<NetworkLease, Error> {
        Ok(NetworkLease {
            ready: true,
            ..lease
        })
    }

    fn undeploy(&mut self, _lease: NetworkLease) -> Result<(), Error> {
        Ok(())
    }
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
