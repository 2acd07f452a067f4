//! The plumbing conformance suite. The plugin runs with its grant's
//! prefixes and underlays, but on devices in memory (`MemoryLinks`): a
//! check never touches the host's devices. Without a link grant, what a
//! check can show is the refusal.

use super::{Checks, Failure, Progress, Report, check_info, wrong};
use flotilla_plugin_host::{
    CallError, Device, DeviceKind, KeyValue, LoadedPlugin, Manifest, MemoryLinks, PluginError,
    Plumbing, Port, Segment,
};
use std::collections::BTreeSet;
use std::sync::Arc;

/// The network the suite's port is on.
const NETWORK: &str = "4242";

/// A plumbing call's failure: a refused link call by its reason.
fn failed(e: CallError) -> Failure {
    match e {
        CallError::Plugin(PluginError::Denied(why)) => {
            wrong(format!("the host refused a link call (denied): {why}"))
        }
        other => Failure::from(other),
    }
}

fn names(devices: &[Device]) -> BTreeSet<String> {
    devices.iter().map(|d| d.name.clone()).collect()
}

pub(super) async fn run(
    plugin: Arc<LoadedPlugin>,
    manifest: &Manifest,
    progress: &Progress,
) -> Report {
    let mut c = Checks::new(progress);
    let grant = plugin.effective_link();
    // The underlays the grant names stand in memory, as the host's own
    // interfaces (a VXLAN runs over one); they are not the plugin's.
    let underlays = grant.as_ref().map_or(Vec::new(), |g| g.underlays.clone());
    let links = Arc::new(MemoryLinks::with(underlays.iter().map(|u| Device {
        name: u.clone(),
        kind: DeviceKind::Other("ether".into()),
        master: None,
        up: true,
        addresses: Vec::new(),
    })));
    plugin.set_link_backend(links.clone());
    let plumbing = match Plumbing::start(plugin) {
        Ok(p) => p,
        Err(e) => {
            c.record("loads as a plumbing plugin", Err(wrong(e.to_string())));
            return c.into_report(manifest);
        }
    };
    c.check("info matches the manifest", async {
        check_info(plumbing.info().await, manifest)
    })
    .await;

    let mut attributes = vec![KeyValue::new("VLAN_ID", "42")];
    if let Some(underlay) = underlays.first() {
        attributes.push(KeyValue::new("PHYDEV", underlay.clone()));
    }
    let segment = Segment {
        network_id: NETWORK.into(),
        attributes,
    };
    let port = Port {
        key: "c0ffee01".into(),
        network_id: NETWORK.into(),
        mac: "02:00:0a:00:00:01".into(),
    };
    let before = names(&links.snapshot());

    let Some(grant) = grant else {
        c.check(
            "without the operator's link grant, no device is made",
            async {
                // What it takes to check it further.
                let hint = "check it with its grant: plugin check --config flotilla.toml";
                match plumbing.pre(None, segment.clone(), port.clone()).await {
                    Err(CallError::Plugin(e)) if links.snapshot().is_empty() => {
                        Ok(format!("pre refused: {} ({hint})", e.message()))
                    }
                    Err(e) => Err(Failure::from(e)),
                    Ok(name) => Err(wrong(format!(
                        "pre answered `{name}` without a grant ({} device(s) made)",
                        links.snapshot().len()
                    ))),
                }
            },
        )
        .await;
        return c.into_report(manifest);
    };

    let first = plumbing.pre(None, segment.clone(), port.clone()).await;
    let made = names(&links.snapshot());
    c.record(
        "pre makes the port's device inside the grant, a port of a bridge",
        first.clone().map_err(failed).and_then(|name| {
            let all = links.snapshot();
            let device = all
                .iter()
                .find(|d| d.name == name)
                .ok_or_else(|| wrong(format!("pre answered `{name}`, which is no device")))?;
            if !grant.prefixes.iter().any(|p| name.starts_with(p.as_str())) {
                return Err(wrong(format!(
                    "`{name}` is outside the granted prefixes ({})",
                    grant.prefixes.join(", ")
                )));
            }
            let bridge = device
                .master
                .as_deref()
                .and_then(|m| {
                    all.iter()
                        .find(|d| d.name == m && d.kind == DeviceKind::Bridge)
                })
                .ok_or_else(|| {
                    wrong(format!(
                        "`{name}` ({}) is a port of no bridge",
                        device.kind.name()
                    ))
                })?;
            Ok(format!(
                "`{name}` ({}) on bridge `{}`; {} device(s) made",
                device.kind.name(),
                bridge.name,
                made.difference(&before).count()
            ))
        }),
    );

    c.check("pre again answers the same device and makes none", async {
        let first = first.clone().map_err(failed)?;
        let again = plumbing
            .pre(None, segment.clone(), port.clone())
            .await
            .map_err(failed)?;
        let now = names(&links.snapshot());
        if again != first {
            Err(wrong(format!("`{first}` then `{again}`")))
        } else if now != made {
            Err(wrong(format!(
                "the devices changed: {:?} then {:?}",
                made, now
            )))
        } else {
            Ok(format!("`{again}`"))
        }
    })
    .await;

    c.check("sweep keeping everything removes nothing", async {
        let removed = plumbing
            .sweep(None, vec![segment.clone()], vec![port.clone()])
            .await
            .map_err(failed)?;
        let now = names(&links.snapshot());
        if removed == 0 && now == made {
            Ok("0 removed".into())
        } else {
            Err(wrong(format!(
                "sweep said {removed} removed; devices {:?} then {:?}",
                made, now
            )))
        }
    })
    .await;

    c.check("sweep keeping nothing removes all it made", async {
        let removed = plumbing
            .sweep(None, Vec::new(), Vec::new())
            .await
            .map_err(failed)?;
        let now = names(&links.snapshot());
        let ours = made.difference(&before).count();
        if now != before {
            Err(wrong(format!(
                "left {:?}",
                now.difference(&before).collect::<Vec<_>>()
            )))
        } else if removed as usize != ours {
            Err(wrong(format!(
                "removed {ours} device(s) but said {removed}"
            )))
        } else {
            Ok(format!("{removed} removed"))
        }
    })
    .await;
    c.into_report(manifest)
}
