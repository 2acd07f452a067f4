//! Builders shared by the life cycle tests: templates, a fake driver that
//! answers effects at once, the start states the tables begin from, and
//! the table runner.

use crate::service::lifecycle::{
    CreateVm, Effect, LifecycleError, NetworkStep, Observed, Service, VmAct, VmAction, VmState,
    VmValues,
};
use crate::service::model::Role;
use crate::service::parse_template;
use flotilla_model::{BackendError, NetworkLease, NetworkSource};
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};

/// When the tests begin, in ms.
pub const T0: u64 = 1_000_000;
/// How long a wait may last before the service fails.
pub const WAIT_MS: u64 = 60_000;
/// How a row says the service is gone: OneFlow's DONE, which the core
/// reports by deleting the service.
pub const DELETED: &str = "DONE (deleted)";

pub type Outcome = Result<Vec<Effect>, LifecycleError>;

/// One row: from `given`, `when` happens; then the service is in
/// `service`, its roles (all of them, in order) in `roles`, and `when`
/// returned `effects` (or `refused: <kind>`).
pub struct Case {
    pub name: &'static str,
    pub given: fn() -> Kit,
    pub when: fn(&mut Kit) -> Outcome,
    pub service: &'static str,
    pub roles: &'static [(&'static str, &'static str)],
    pub effects: &'static [&'static str],
}

/// Run every row, reporting all the rows that fail at once.
pub fn run(cases: &[Case]) {
    let mut failures = Vec::new();
    for case in cases {
        let mut kit = (case.given)();
        let outcome = (case.when)(&mut kit);
        let got = (kit.status(), kit.roles(), summary(&outcome));
        let want = (
            case.service.to_string(),
            case.roles
                .iter()
                .map(|(n, s)| (n.to_string(), s.to_string()))
                .collect::<Vec<_>>(),
            case.effects
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>(),
        );
        if got != want {
            failures.push(format!("{}:\n   got {got:?}\n  want {want:?}", case.name));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// Effects as short strings: `create web`, `create web (held)`,
/// `terminate vm-1`; a refusal as `refused: WrongState`.
pub fn summary(outcome: &Outcome) -> Vec<String> {
    match outcome {
        Ok(effects) => effects
            .iter()
            .map(|e| match e {
                Effect::Create(c) if c.hold => format!("create {} (held)", c.role),
                Effect::Create(c) => format!("create {}", c.role),
                Effect::Act(a) => format!("{} {}", a.action, a.vm_id),
                Effect::Network(op) => {
                    let verb = match op.step {
                        NetworkStep::Deploy(_) => "deploy-net",
                        NetworkStep::Status(_) => "status-net",
                        NetworkStep::Undeploy(_) => "undeploy-net",
                    };
                    format!("{verb} {}", op.name)
                }
            })
            .collect(),
        Err(e) => vec![format!("refused: {}", error_kind(e))],
    }
}

fn error_kind(e: &LifecycleError) -> &'static str {
    match e {
        LifecycleError::WrongState(_) => "WrongState",
        LifecycleError::Invalid(_) => "Invalid",
        LifecycleError::NotFound(_) => "NotFound",
    }
}

/// `db`, and `web` whose parent is `db` (1 VM each; `web` scales from 1
/// to 3 with a 60 s cooldown), merged with `extra`.
pub fn template(deployment: &str, extra: Value) -> Value {
    let mut t = json!({
        "name": "shop",
        "deployment": deployment,
        "roles": [
            {"name": "db", "type": "vm", "cardinality": 1, "template_id": 0},
            {"name": "web", "type": "vm", "cardinality": 1, "template_id": 0,
             "parents": ["db"], "min_vms": 1, "max_vms": 3, "cooldown": 60}
        ]
    });
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        t[k] = v;
    }
    t
}

/// A role to add, from its JSON.
pub fn role(v: Value) -> Role {
    serde_json::from_value(v).unwrap()
}

/// A service and a fake driver: created VMs get ids `vm-0`, `vm-1`, … in
/// order and come up in `boot` state; actions change the VM at once.
pub struct Kit {
    pub s: Service,
    pub now: u64,
    pub vms: BTreeMap<String, VmState>,
    next_vm: u64,
    /// What every poll reports of each VM besides its state.
    pub values: VmValues,
    /// Actions (or `create`) the driver refuses.
    pub refuse: Vec<&'static str>,
    /// The state new VMs are in when polled.
    pub boot: VmState,
    /// What polls say of READY=YES.
    pub ready: bool,
}

impl Kit {
    pub fn new(template: Value) -> Kit {
        let t = parse_template(&template).unwrap_or_else(|e| panic!("{e:?}"));
        Kit {
            s: Service::new(1, t, T0, WAIT_MS),
            now: T0,
            vms: BTreeMap::new(),
            next_vm: 0,
            values: VmValues::default(),
            refuse: Vec::new(),
            boot: VmState::Running,
            ready: true,
        }
    }

    /// Carry effects out as the engine does: record the actions in the
    /// outbox, then answer each, following up on what the answers lead to.
    pub fn drive(&mut self, effects: Vec<Effect>) -> &mut Kit {
        self.s.record(&effects);
        let mut queue: VecDeque<Effect> = effects.into();
        while let Some(effect) = queue.pop_front() {
            match effect {
                Effect::Create(c) => {
                    let result = if self.refuse.contains(&"create") {
                        Err(BackendError::Refused("no capacity".into()))
                    } else {
                        let id = format!("vm-{}", self.next_vm);
                        self.next_vm += 1;
                        let state = if c.hold { VmState::Hold } else { self.boot };
                        self.vms.insert(id.clone(), state);
                        Ok(id)
                    };
                    self.s.observe_created(&c, result, self.now);
                }
                Effect::Act(a) => {
                    let result = if self.refuse.contains(&a.action.as_str()) {
                        Err(BackendError::Refused("refused by the hypervisor".into()))
                    } else {
                        self.apply(&a);
                        Ok(())
                    };
                    queue.extend(self.s.observe_acted(&a, result, self.now));
                }
                // Networks the mode makes are ready at once; `refuse`
                // `network` or `network-undeploy` makes the mode fail.
                Effect::Network(op) => {
                    let answer = match &op.step {
                        NetworkStep::Deploy(_) if self.refuse.contains(&"network") => Err(
                            BackendError::Refused("the parent network has 2 free addresses".into()),
                        ),
                        NetworkStep::Deploy(r) => Ok(Some(NetworkLease {
                            network_id: format!("net-{}", r.name),
                            name: r.name.clone(),
                            created: !matches!(r.source, NetworkSource::Existing(_)),
                            ready: true,
                            attributes: Vec::new(),
                        })),
                        NetworkStep::Status(l) => Ok(Some(NetworkLease {
                            ready: true,
                            ..l.clone()
                        })),
                        NetworkStep::Undeploy(_) if self.refuse.contains(&"network-undeploy") => {
                            Err(BackendError::Refused("the network is in use".into()))
                        }
                        NetworkStep::Undeploy(_) => Ok(None),
                    };
                    self.s.observe_network(&op, answer, self.now);
                }
            }
        }
        self
    }

    fn apply(&mut self, a: &VmAct) {
        use VmAction::*;
        let state = match a.action {
            Terminate | TerminateHard => VmState::Done,
            Poweroff | PoweroffHard => VmState::Poweroff,
            Release | Resume => VmState::Running,
            Hold => VmState::Hold,
            Suspend => VmState::Suspended,
            Stop => VmState::Stopped,
            Undeploy | UndeployHard => VmState::Undeployed,
            _ => return,
        };
        if let Some(vm) = self.vms.get_mut(&a.vm_id) {
            *vm = state;
        }
    }

    /// One poll of every VM of the service; the effects are returned, not
    /// carried out.
    pub fn poll(&mut self) -> Vec<Effect> {
        let observed: Vec<Observed> = self
            .s
            .vm_ids()
            .into_iter()
            .filter_map(|vm_id| {
                let state = *self.vms.get(&vm_id)?;
                Some(Observed {
                    vm_id,
                    state,
                    ready: self.ready,
                    reason: None,
                    values: self.values.clone(),
                })
            })
            .collect();
        self.s.observe(&observed, self.now)
    }

    /// Poll and carry out what follows, a few rounds (time stands still).
    pub fn settle(&mut self) -> &mut Kit {
        for _ in 0..6 {
            let effects = self.poll();
            self.drive(effects);
        }
        self
    }

    pub fn later(&mut self, ms: u64) -> &mut Kit {
        self.now += ms;
        self
    }

    pub fn set(&mut self, vm_id: &str, state: VmState) -> &mut Kit {
        self.vms.insert(vm_id.to_string(), state);
        self
    }

    /// The operation id of the newest node of `role`.
    /// The create of the role's newest node, as the engine answers it.
    pub fn op(&self, role: &str) -> CreateVm {
        let r = self.s.role(role).unwrap();
        let n = r.nodes.last().unwrap();
        CreateVm {
            operation_id: n.operation_id.clone(),
            role: r.name.clone(),
            vm_number: n.vm_number,
            name: n.name.clone(),
            template_id: self.s.template.role(role).unwrap().template_id,
            hold: false,
        }
    }

    pub fn status(&self) -> String {
        if self.s.deleted {
            DELETED.to_string()
        } else {
            self.s.state.as_str().to_string()
        }
    }

    pub fn roles(&self) -> Vec<(String, String)> {
        self.s
            .roles
            .iter()
            .map(|r| (r.name.clone(), r.state.as_str().to_string()))
            .collect()
    }

    pub fn start(mut self) -> Kit {
        let effects = self.s.start(self.now);
        self.drive(effects);
        self
    }

    pub fn settled(mut self) -> Kit {
        self.settle();
        self
    }

    pub fn with(mut self, f: impl FnOnce(&mut Kit)) -> Kit {
        f(&mut self);
        self
    }
}

/// A wrapper for events that return effects and cannot be refused.
pub fn ok(effects: Vec<Effect>) -> Outcome {
    Ok(effects)
}

// Start states. Straight `db` → `web`; `db` runs vm-0 and `web` vm-1.

/// PENDING: just created.
pub fn pending() -> Kit {
    Kit::new(template("straight", json!({})))
}

/// DEPLOYING: `start` was called, nothing carried out yet.
pub fn started() -> Kit {
    let mut k = pending();
    k.s.start(k.now);
    k
}

/// DEPLOYING: `db`'s VM created and running, not yet polled.
pub fn deploying() -> Kit {
    pending().start()
}

/// DEPLOYING: `db` runs, `web`'s VM created, not yet polled.
pub fn child_created() -> Kit {
    deploying().with(|k| {
        let effects = k.poll();
        k.drive(effects);
    })
}

/// RUNNING, straight.
pub fn running() -> Kit {
    deploying().settled()
}

/// RUNNING, deployment `none`.
pub fn running_none() -> Kit {
    Kit::new(template("none", json!({}))).start().settled()
}

/// RUNNING with `web` at 2 VMs (vm-1, vm-2).
pub fn running_two_webs() -> Kit {
    running().with(|k| {
        let effects = k.s.scale("web", 2, false, k.now).unwrap();
        k.drive(effects).settle();
    })
}

/// FAILED_DEPLOYING: `db`'s VM failed.
pub fn failed_deploying() -> Kit {
    deploying().with(|k| {
        k.set("vm-0", VmState::Failed).poll();
    })
}

/// HOLD: a template on hold, both roles created on hold.
pub fn hold() -> Kit {
    Kit::new(template("straight", json!({"on_hold": true})))
        .start()
        .settled()
}

/// WARNING: `web`'s VM powered off.
pub fn warning() -> Kit {
    running().with(|k| {
        k.set("vm-1", VmState::Poweroff).poll();
    })
}

/// SCALING: `web` scaled to 2, the new VM (vm-2) created, not polled.
pub fn scaled_up() -> Kit {
    running().with(|k| {
        let effects = k.s.scale("web", 2, false, k.now).unwrap();
        k.drive(effects);
    })
}

/// SCALING: `web` scaled from 2 to 1, vm-1 terminated, not polled.
pub fn scaled_down() -> Kit {
    running_two_webs().with(|k| {
        let effects = k.s.scale("web", 1, false, k.now).unwrap();
        k.drive(effects);
    })
}

/// RUNNING right after a scale up: `web`'s cooldown (60 s) runs from `now`.
pub fn cooldown() -> Kit {
    scaled_up().with(|k| {
        k.poll();
    })
}

/// COOLDOWN as an earlier release stored it (the whole service held for
/// 60 s from `now`): such a service still comes out of it.
pub fn stored_cooldown() -> Kit {
    cooldown().with(|k| {
        k.s.state = crate::service::state::ServiceState::Cooldown;
        k.s.roles[1].state = crate::service::state::RoleState::Cooldown;
        k.s.cooldown_until_ms = Some(k.now + 60_000);
    })
}

/// FAILED_SCALING: the VM added by a scale up failed.
pub fn failed_scaling() -> Kit {
    scaled_up().with(|k| {
        k.set("vm-2", VmState::Failed).poll();
    })
}

/// UNDEPLOYING: `web`'s VM terminated (DONE), not yet polled.
pub fn undeploying() -> Kit {
    running().with(|k| {
        let effects = k.s.undeploy(k.now, false).unwrap();
        k.drive(effects);
    })
}

/// FAILED_UNDEPLOYING: the hypervisor refused both terminates of `web`.
pub fn failed_undeploying() -> Kit {
    running().with(|k| {
        k.refuse = vec!["terminate", "terminate-hard"];
        let effects = k.s.undeploy(k.now, false).unwrap();
        k.drive(effects);
        k.refuse.clear();
    })
}

/// UNDEPLOYING by a remove-role of `web`, its VM terminated, not polled.
pub fn removing_web() -> Kit {
    running().with(|k| {
        let effects = k.s.remove_role("web", k.now).unwrap();
        k.drive(effects);
    })
}
