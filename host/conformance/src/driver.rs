//! The driver conformance suite.

use super::{Checks, Failure, Progress, Report, check_info, wrong};
use flotilla_plugin_host::{
    CallError, Driver, LoadedPlugin, Manifest, PluginError, VmAction, VmSpec, VmState,
};
use flotilla_sim_hypervisor::SimHypervisor;
use std::sync::Arc;

pub(super) fn spec(operation_id: &str, hold: bool) -> VmSpec {
    VmSpec {
        operation_id: operation_id.to_string(),
        service_id: 4242,
        role_name: "conformance".into(),
        vm_name: format!("conformance_{operation_id}"),
        template: r#"{"CPU":"1","MEMORY":"512","CONTEXT":{"NETWORK":"YES"}}"#.into(),
        hold,
    }
}

const MISSING_VM: &str = "987654321";

/// `fleet`: the simulated hypervisor the driver drives, where the hosts
/// of a fleet driver's checks are made (none when the operator's grant
/// sends it elsewhere).
pub(super) async fn run(
    plugin: Arc<LoadedPlugin>,
    manifest: &Manifest,
    progress: &Progress,
    fleet: Option<&SimHypervisor>,
) -> Report {
    let driver = match Driver::start(plugin) {
        Ok(d) => d,
        Err(e) => {
            let mut c = Checks::new(progress);
            c.record("loads as a driver", Err(wrong(e.to_string())));
            return c.into_report(manifest);
        }
    };
    let mut c = Checks::new(progress);
    c.check("info matches the manifest", async {
        check_info(driver.info().await, manifest)
    })
    .await;

    let created = driver.create(spec("conformance-1", false)).await;
    let id = created.clone().ok();
    c.record(
        "create returns a VM id",
        created.map_err(Failure::from).and_then(|id| {
            if id.is_empty() {
                Err(wrong("empty id"))
            } else {
                Ok(format!("VM {id}"))
            }
        }),
    );

    c.check("create is idempotent on the operation id", async {
        let again = driver.create(spec("conformance-1", false)).await?;
        match &id {
            Some(first) if *first == again => Ok(format!("same VM {again}")),
            Some(first) => Err(wrong(format!(
                "second create made VM {again}, first made {first}"
            ))),
            None => Err(wrong("the first create failed")),
        }
    })
    .await;

    c.check("poll reports the VM", async {
        let Some(id) = id.clone() else {
            return Err(wrong("no VM to poll"));
        };
        let statuses = driver.poll(vec![id.clone()]).await?;
        match statuses.as_slice() {
            [s] if s.id == id && matches!(s.state, VmState::Pending | VmState::Running) => {
                Ok(s.state.as_str().to_string())
            }
            [s] => Err(wrong(format!("VM {} in state {}", s.id, s.state.as_str()))),
            other => Err(wrong(format!("{} statuses for one id", other.len()))),
        }
    })
    .await;

    c.check("poll reports a VM it does not know as done", async {
        let statuses = driver.poll(vec![MISSING_VM.to_string()]).await?;
        match statuses.as_slice() {
            [s] if s.state == VmState::Done => {
                Ok(s.reason.clone().unwrap_or_else(|| "done".into()))
            }
            [s] => Err(wrong(format!("reported {}", s.state.as_str()))),
            other => Err(wrong(format!("{} statuses for one id", other.len()))),
        }
    })
    .await;

    c.check("list includes the VM with its operation id", async {
        let vms = driver.list().await?;
        match vms.iter().find(|v| v.operation_id == "conformance-1") {
            Some(vm) if Some(&vm.id) == id.as_ref() => Ok(format!("{} VMs listed", vms.len())),
            Some(vm) => Err(wrong(format!("listed as VM {}", vm.id))),
            None => Err(wrong("not listed")),
        }
    })
    .await;

    c.check("create on hold holds, release lets it boot", async {
        let held = driver.create(spec("conformance-hold", true)).await?;
        let state = poll_one(&driver, &held).await?;
        if state != VmState::Hold {
            return Err(wrong(format!("created in state {}", state.as_str())));
        }
        driver.act(held.clone(), VmAction::Release, vec![]).await?;
        let state = poll_one(&driver, &held).await?;
        if matches!(state, VmState::Pending | VmState::Running) {
            Ok(format!("HOLD then {}", state.as_str()))
        } else {
            Err(wrong(format!("after release: {}", state.as_str())))
        }
    })
    .await;

    c.check("terminate-hard ends the VM", async {
        let Some(id) = id.clone() else {
            return Err(wrong("no VM to terminate"));
        };
        driver
            .act(id.clone(), VmAction::TerminateHard, vec![])
            .await?;
        match poll_one(&driver, &id).await? {
            VmState::Done => Ok("DONE".into()),
            other => Err(wrong(format!("still {}", other.as_str()))),
        }
    })
    .await;

    c.check("acting on a missing VM is a not-found error", async {
        match driver
            .act(MISSING_VM.into(), VmAction::Terminate, vec![])
            .await
        {
            Err(CallError::Plugin(PluginError::NotFound(m))) => Ok(m),
            Err(CallError::Plugin(other)) => Err(wrong(format!("expected not-found, got {other}"))),
            Err(fault) => Err(fault.into()),
            Ok(()) => Err(wrong("succeeded")),
        }
    })
    .await;

    c.check(
        "a template that is not a JSON object is invalid input",
        async {
            let mut bad = spec("conformance-bad", false);
            bad.template = "[1, 2, 3]".into();
            match driver.create(bad).await {
                Err(CallError::Plugin(PluginError::InvalidInput(m))) => Ok(m),
                Err(CallError::Plugin(other)) => {
                    Err(wrong(format!("expected invalid-input, got {other}")))
                }
                Err(fault) => Err(fault.into()),
                Ok(id) => Err(wrong(format!("created VM {id}"))),
            }
        },
    )
    .await;

    c.check("create-many answers each VM on its own, in order", async {
        let mut bad = spec("conformance-many-bad", false);
        bad.template = "[1, 2, 3]".into();
        let specs = vec![
            spec("conformance-many-1", false),
            bad,
            spec("conformance-1", false),
        ];
        let outcomes = driver.create_many(specs).await?;
        match outcomes.as_slice() {
            [Ok(new), Err(PluginError::InvalidInput(_)), Ok(again)]
                if !new.is_empty() && Some(again) == id.as_ref() =>
            {
                Ok(format!(
                    "VM {new} created, the invalid one refused, VM {again} again"
                ))
            }
            [Ok(_), Err(PluginError::InvalidInput(_)), Ok(again)] => Err(wrong(format!(
                "the repeated operation id gave VM {again}, not the first VM"
            ))),
            [_, Ok(id), _] => Err(wrong(format!("created VM {id} from an invalid template"))),
            [Err(e), _, _] | [_, _, Err(e)] => Err(wrong(format!("a valid VM was refused: {e}"))),
            [_, Err(e), _] => Err(wrong(format!("expected invalid-input, got {e}"))),
            other => Err(wrong(format!("{} outcomes for 3 VMs", other.len()))),
        }
    })
    .await;

    if driver.manages_hosts() {
        super::hosts::run(&mut c, &driver, fleet).await;
    }

    c.into_report(manifest)
}

async fn poll_one(driver: &Driver, id: &str) -> Result<VmState, Failure> {
    let statuses = driver.poll(vec![id.to_string()]).await?;
    statuses
        .first()
        .map(|s| s.state)
        .ok_or_else(|| wrong("poll returned nothing"))
}

/// A driver that declares host programs (`capabilities.exec`), checked
/// without a grant for them: it loads, says who it is, and starting a VM
/// is refused by the host rather than run. Its own suite needs real
/// processes (see its end-to-end tests).
pub(super) async fn check_ungranted(
    plugin: Arc<LoadedPlugin>,
    manifest: &Manifest,
    progress: &Progress,
) -> Report {
    let mut c = Checks::new(progress);
    let driver = match Driver::start(plugin) {
        Ok(d) => d,
        Err(e) => {
            c.record("loads as a driver", Err(wrong(e.to_string())));
            return c.into_report(manifest);
        }
    };
    c.check("info matches the manifest", async {
        check_info(driver.info().await, manifest)
    })
    .await;
    let programs = manifest.capabilities.exec.join(", ");
    let spec = spec("conformance-ungranted", false);
    c.check("without the operator's grant, no program starts", async {
        match driver.create(spec).await {
            // The host refused to start the program: the plugin hears
            // `denied`, whatever the words.
            Err(CallError::Plugin(PluginError::Denied(_))) => Ok(format!(
                "declares {programs}; refused until [plugins.{}.exec] grants them",
                manifest.id
            )),
            Err(e) => Ok(format!("declares {programs}; create refused: {e}")),
            Ok(id) => Err(wrong(format!("created VM {id} with nothing granted"))),
        }
    })
    .await;
    c.into_report(manifest)
}
