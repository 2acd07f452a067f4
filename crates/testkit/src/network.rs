//! The network mode conformance suite.

use super::{Checks, Report, check_info, wrong};
use flotilla_plugin_host::{LoadedPlugin, Manifest, Network, NetworkRequest, NetworkSource};
use std::sync::Arc;

fn request(operation_id: &str, source: NetworkSource) -> NetworkRequest {
    NetworkRequest {
        operation_id: operation_id.into(),
        service_id: 4242,
        name: "Public".into(),
        source,
        extra: "SIZE=10".into(),
    }
}

pub(super) async fn run(plugin: Arc<LoadedPlugin>, manifest: &Manifest) -> Report {
    let mut c = Checks::new();
    let network = match Network::start(plugin) {
        Ok(n) => n,
        Err(e) => {
            c.record("loads as a network mode", Err(wrong(e)));
            return c.into_report(manifest);
        }
    };
    c.record(
        "info matches the manifest",
        check_info(network.info().await, manifest),
    );

    c.record(
        "an existing network is used as it is",
        async {
            let lease = network
                .deploy(request(
                    "conformance-existing",
                    NetworkSource::Existing("7".into()),
                ))
                .await?;
            if lease.network_id == "7" && !lease.created {
                Ok("network 7, not created".into())
            } else {
                Err(wrong(format!(
                    "network {} created={}",
                    lease.network_id, lease.created
                )))
            }
        }
        .await,
    );

    let from_template = || request("conformance-tpl", NetworkSource::FromTemplate("3".into()));
    let first = network.deploy(from_template()).await;
    c.record(
        "deploy is idempotent on the operation id",
        async {
            let first = first.clone()?;
            let again = network.deploy(from_template()).await?;
            if first.network_id == again.network_id {
                Ok(format!("network {}", again.network_id))
            } else {
                Err(wrong(format!(
                    "{} then {}",
                    first.network_id, again.network_id
                )))
            }
        }
        .await,
    );

    c.record(
        "status keeps the network",
        async {
            let lease = first.clone()?;
            let status = network.status(lease.clone()).await?;
            if status.network_id == lease.network_id {
                Ok(format!("ready={}", status.ready))
            } else {
                Err(wrong(format!("status names network {}", status.network_id)))
            }
        }
        .await,
    );

    c.record(
        "undeploy removes what deploy made",
        async {
            network.undeploy(first.clone()?).await?;
            Ok("undeployed".into())
        }
        .await,
    );
    c.into_report(manifest)
}
