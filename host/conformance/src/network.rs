//! The network mode conformance suite. A mode runs against Flotilla's own
//! networks on an in-memory store (the same registry calls and rules the
//! server gives it): an existing network, a network template, a parent to
//! reserve from. A mode for an outside SDN that never calls the registry
//! passes the same checks.

use super::{Checks, Progress, Report, check_info, wrong};
use flotilla_plugin_host::{
    LoadedPlugin, Manifest, Network, NetworkRegistry, NetworkRequest, NetworkSource, PluginError,
    PluginHost, VnetInfo,
};
use flotilla_store::{SqliteStore, Store, registry};
use std::sync::{Arc, Mutex};

/// The service the suite's requests are for.
const SERVICE: u64 = 4242;

/// A registry on an in-memory store, holding what the checks need.
pub struct MemoryRegistry {
    store: Mutex<Box<dyn Store>>,
    /// An operator's network, a network template, a parent with room.
    pub existing: u64,
    pub template: u64,
    pub parent: u64,
}

impl MemoryRegistry {
    pub fn new() -> anyhow::Result<MemoryRegistry> {
        use anyhow::Context as _;
        let store = SqliteStore::in_memory()
            .context("an in-memory store")?
            .boxed();
        let json = |v: serde_json::Value| v.as_object().cloned().unwrap_or_default();
        let existing = store.create_resource(
            flotilla_store::ResourceKind::Vnet,
            "existing",
            Default::default(),
            json(serde_json::json!({"AR": [{"TYPE": "IP4", "IP": "10.7.0.1", "SIZE": "16"}]})),
        )?;
        let parent = store.create_resource(
            flotilla_store::ResourceKind::Vnet,
            "parent",
            Default::default(),
            json(serde_json::json!({"AR": [{"TYPE": "IP4", "IP": "10.8.0.1", "SIZE": "64"}]})),
        )?;
        let template = store.create_resource(
            flotilla_store::ResourceKind::VnetTemplate,
            "lab",
            Default::default(),
            json(serde_json::json!({"AR": [{"TYPE": "IP4", "IP": "10.9.0.1", "SIZE": "16"}]})),
        )?;
        Ok(MemoryRegistry {
            store: Mutex::new(store),
            existing,
            template,
            parent,
        })
    }

    fn with<T>(&self, f: impl FnOnce(&dyn Store) -> T) -> T {
        let store = self.store.lock().unwrap_or_else(|e| e.into_inner());
        f(&**store)
    }

    /// Networks made for the suite's service that are still there.
    pub fn made(&self) -> usize {
        self.with(|s| s.networks_of_service(SERVICE).map_or(0, |n| n.len()))
    }
}

impl NetworkRegistry for MemoryRegistry {
    fn get(&self, id: &str) -> Result<VnetInfo, PluginError> {
        self.with(|s| registry::get(s, id))
    }

    fn reserve(
        &self,
        operation_id: &str,
        service_id: u64,
        parent: &str,
        name: &str,
        size: u32,
    ) -> Result<VnetInfo, PluginError> {
        let op = (operation_id, service_id);
        self.with(|s| registry::reserve(s, Default::default(), op, parent, name, size))
    }

    fn instantiate(
        &self,
        operation_id: &str,
        service_id: u64,
        template: &str,
        name: &str,
        extra: &str,
    ) -> Result<VnetInfo, PluginError> {
        let op = (operation_id, service_id);
        self.with(|s| registry::instantiate(s, Default::default(), op, template, name, extra))
    }

    fn delete(&self, id: &str) -> Result<(), PluginError> {
        self.with(|s| registry::delete(s, id))
    }
}

fn request(operation_id: &str, source: NetworkSource, extra: &str) -> NetworkRequest {
    NetworkRequest {
        operation_id: operation_id.into(),
        service_id: SERVICE,
        name: "Public".into(),
        source,
        extra: extra.into(),
    }
}

pub(super) async fn run(
    host: &PluginHost,
    plugin: Arc<LoadedPlugin>,
    manifest: &Manifest,
    progress: &Progress,
) -> Report {
    let mut c = Checks::new(progress);
    let registry = match MemoryRegistry::new() {
        Ok(r) => Arc::new(r),
        Err(e) => {
            c.record("an in-memory registry", Err(wrong(format!("{e:#}"))));
            return c.into_report(manifest);
        }
    };
    host.set_network_registry(registry.clone());
    let network = match Network::start(plugin) {
        Ok(n) => n,
        Err(e) => {
            c.record("loads as a network mode", Err(wrong(e.to_string())));
            return c.into_report(manifest);
        }
    };
    c.check("info matches the manifest", async {
        check_info(network.info().await, manifest)
    })
    .await;

    let existing = registry.existing.to_string();
    c.check("an existing network is used as it is", async {
        let lease = network
            .deploy(request(
                "conformance-existing",
                NetworkSource::Existing(existing.clone()),
                "",
            ))
            .await?;
        if lease.network_id == existing && !lease.created {
            Ok(format!("network {existing}, not created"))
        } else {
            Err(wrong(format!(
                "network {} created={}",
                lease.network_id, lease.created
            )))
        }
    })
    .await;

    let template = registry.template.to_string();
    let from_template = || {
        request(
            "conformance-tpl",
            NetworkSource::FromTemplate(template.clone()),
            "",
        )
    };
    let first = network.deploy(from_template()).await;
    c.check("deploy is idempotent on the operation id", async {
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
    })
    .await;

    c.check("status keeps the network", async {
        let lease = first.clone()?;
        let status = network.status(lease.clone()).await?;
        if status.network_id == lease.network_id {
            Ok(format!("ready={}", status.ready))
        } else {
            Err(wrong(format!("status names network {}", status.network_id)))
        }
    })
    .await;

    let parent = registry.parent.to_string();
    c.check(
        "a reservation larger than the parent's free block is refused",
        async {
            let refused = network
                .deploy(request(
                    "conformance-too-big",
                    NetworkSource::ReserveFrom(parent.clone()),
                    "SIZE=1000",
                ))
                .await;
            match refused {
                Err(e) => Ok(format!("refused: {e}")),
                Ok(lease) => Err(wrong(format!("made network {}", lease.network_id))),
            }
        },
    )
    .await;

    c.check("undeploy removes what deploy made", async {
        let before = registry.made();
        network.undeploy(first.clone()?).await?;
        let after = registry.made();
        if after < before || before == 0 {
            Ok(format!("{before} network(s) made, {after} left"))
        } else {
            Err(wrong(format!("{before} network(s) made, still {after}")))
        }
    })
    .await;
    c.into_report(manifest)
}
