//! Elasticity policies. Every evaluation runs in a fresh instance: a
//! policy keeps no state between calls (what it needs comes back in
//! `Evaluation::state`), a trap costs nothing to recover from, and one
//! role's evaluation can never see another's.

use super::engine::{KindPre, LoadError, LoadedPlugin};
use super::fault::CallError;
use super::instance::Instance;
use super::state::PluginState;
use super::{Evaluation, PluginFault, PluginInfo, Recommendation};
use crate::bindings::elasticity::exports::flotilla::elasticity::policy as wit;
use crate::bindings::types;
use std::sync::Arc;
use wasmtime::Store;
use wasmtime::component::{
    ComponentExportIndex, ComponentType, Func, InstancePre, Lower, TypedFunc,
};

/// The export `flotilla:elasticity/policy` of a policy, found once when it
/// is loaded.
const INTERFACE: &str = "flotilla:elasticity/policy@0.1.0";

/// A policy ready to instantiate, and where its two functions are.
pub(crate) struct PolicyPre {
    instance_pre: InstancePre<PluginState>,
    info: ComponentExportIndex,
    evaluate: ComponentExportIndex,
    /// Set once the two functions' types were checked, on the first
    /// instance: they are the component's, the same in every instance, and
    /// checking them took a few percent of every fresh-instance evaluation.
    typechecked: std::sync::OnceLock<()>,
}

impl PolicyPre {
    pub(crate) fn new(instance_pre: InstancePre<PluginState>) -> wasmtime::Result<PolicyPre> {
        let component = instance_pre.component();
        let interface = component
            .get_export_index(None, INTERFACE)
            .ok_or_else(|| wasmtime::format_err!("no exported instance named `{INTERFACE}`"))?;
        let function = |name: &str| {
            component
                .get_export_index(Some(&interface), name)
                .ok_or_else(|| wasmtime::format_err!("`{INTERFACE}` does not export `{name}`"))
        };
        Ok(PolicyPre {
            info: function("info")?,
            evaluate: function("evaluate")?,
            instance_pre,
            typechecked: std::sync::OnceLock::new(),
        })
    }

    /// A fresh instance's two functions, their types checked (on the
    /// plugin's first instance).
    fn instantiate(&self, store: &mut Store<PluginState>) -> wasmtime::Result<PolicyFunctions> {
        let instance = self.instance_pre.instantiate(&mut *store)?;
        if self.typechecked.get().is_none() {
            instance.get_typed_func::<(), (types::PluginInfo,)>(&mut *store, self.info)?;
            instance.get_typed_func::<EvaluateParams<'_>, EvaluateResults>(
                &mut *store,
                self.evaluate,
            )?;
            let _ = self.typechecked.set(());
        }
        let function = |store: &mut Store<PluginState>, index, name| {
            instance
                .get_func(store, index)
                .ok_or_else(|| wasmtime::format_err!("`{INTERFACE}` does not export `{name}`"))
        };
        let info = function(&mut *store, self.info, "info")?;
        let evaluate = function(&mut *store, self.evaluate, "evaluate")?;
        Ok(PolicyFunctions { info, evaluate })
    }
}

/// A policy instance's exports.
pub struct PolicyFunctions {
    /// Of type () → [`types::PluginInfo`], checked on the plugin's first
    /// instance ([`PolicyPre::instantiate`]).
    info: Func,
    /// Of type [`EvaluateParams`] → [`EvaluateResults`], likewise.
    evaluate: Func,
}

type EvaluateParams<'a> = (EvaluationArg<'a>,);
type EvaluateResults = (Result<wit::Recommendation, types::Error>,);

/// `evaluation` as the guest's `evaluate` takes it, lowered from the
/// model's own strings: converting to the generated bindings' types first
/// copied every string of the input (~30) once more per evaluation.
#[derive(ComponentType, Lower)]
#[component(record)]
struct EvaluationArg<'a> {
    role: RoleViewArg<'a>,
    params: Vec<KeyValueArg<'a>>,
    vms: Vec<VmSampleArg<'a>>,
    now: u64,
    state: Option<&'a str>,
}

#[derive(ComponentType, Lower)]
#[component(record)]
struct RoleViewArg<'a> {
    #[component(name = "service-id")]
    service_id: u64,
    #[component(name = "role-name")]
    role_name: &'a str,
    cardinality: u32,
    #[component(name = "min-vms")]
    min_vms: u32,
    #[component(name = "max-vms")]
    max_vms: u32,
    cooldown: u32,
}

#[derive(ComponentType, Lower)]
#[component(record)]
struct KeyValueArg<'a> {
    key: &'a str,
    value: &'a str,
}

#[derive(ComponentType, Lower)]
#[component(record)]
struct VmSampleArg<'a> {
    #[component(name = "vm-id")]
    vm_id: &'a str,
    values: Vec<MetricArg<'a>>,
}

#[derive(ComponentType, Lower)]
#[component(record)]
struct MetricArg<'a> {
    name: &'a str,
    value: f64,
}

impl<'a> From<&'a Evaluation> for EvaluationArg<'a> {
    fn from(e: &'a Evaluation) -> Self {
        let r = &e.role;
        EvaluationArg {
            role: RoleViewArg {
                service_id: r.service_id,
                role_name: &r.role_name,
                cardinality: r.cardinality,
                min_vms: r.min_vms,
                max_vms: r.max_vms,
                cooldown: r.cooldown,
            },
            params: e
                .params
                .iter()
                .map(|kv| KeyValueArg {
                    key: &kv.key,
                    value: &kv.value,
                })
                .collect(),
            vms: e
                .vms
                .iter()
                .map(|v| VmSampleArg {
                    vm_id: &v.vm_id,
                    values: v
                        .values
                        .iter()
                        .map(|m| MetricArg {
                            name: &m.name,
                            value: m.value,
                        })
                        .collect(),
                })
                .collect(),
            now: e.now,
            state: e.state.as_deref(),
        }
    }
}

/// One instance of a policy, for a single evaluation (or, in benchmarks and
/// the test kit, a few calls).
pub type PolicyInstance = Instance<PolicyFunctions>;

impl PolicyInstance {
    pub fn new(plugin: Arc<LoadedPlugin>) -> Result<PolicyInstance, PluginFault> {
        Instance::start(plugin, "an elasticity policy", |pre, store| match pre {
            KindPre::Elasticity(pre) => Some(pre.instantiate(store)),
            _ => None,
        })
    }

    pub fn info(&mut self) -> Result<PluginInfo, CallError> {
        self.call("info", |f, s| {
            // SAFETY: the type was checked on the plugin's first instance,
            // and is the component's, the same in every instance.
            let info = unsafe { TypedFunc::<(), (types::PluginInfo,)>::new_unchecked(f.info) };
            info.call(s, ()).map(|(info,)| Ok(info))
        })
        .map(Into::into)
    }

    pub fn evaluate(&mut self, input: &Evaluation) -> Result<Recommendation, CallError> {
        let input = EvaluationArg::from(input);
        self.call("evaluate", |f, s| {
            // SAFETY: as for `info`.
            let evaluate = unsafe {
                TypedFunc::<EvaluateParams<'_>, EvaluateResults>::new_unchecked(f.evaluate)
            };
            evaluate.call(s, (input,)).map(|(result,)| result)
        })
        .map(Into::into)
    }
}

/// A policy as the rest of Flotilla sees it.
#[derive(Clone, Debug)]
pub struct Policy {
    plugin: Arc<LoadedPlugin>,
}

impl Policy {
    pub fn new(plugin: Arc<LoadedPlugin>) -> Result<Policy, LoadError> {
        plugin.expect_kind(super::PluginKind::Elasticity, "a policy")?;
        Ok(Policy { plugin })
    }

    pub fn plugin(&self) -> &Arc<LoadedPlugin> {
        &self.plugin
    }

    pub fn instantiate(&self) -> Result<PolicyInstance, PluginFault> {
        PolicyInstance::new(self.plugin.clone())
    }

    /// Evaluate in a fresh instance, blocking this thread. Must not run on
    /// an async worker thread; use [`Policy::evaluate`] there.
    pub fn evaluate_blocking(&self, input: &Evaluation) -> Result<Recommendation, CallError> {
        self.instantiate()?.evaluate(input)
    }

    pub fn info_blocking(&self) -> Result<PluginInfo, CallError> {
        self.instantiate()?.info()
    }

    pub async fn evaluate(&self, input: Evaluation) -> Result<Recommendation, CallError> {
        let policy = self.clone();
        match tokio::task::spawn_blocking(move || policy.evaluate_blocking(&input)).await {
            Ok(result) => result,
            Err(e) => Err(CallError::Fault(super::instance::fault(
                &self.plugin,
                super::FaultKind::Trap,
                format!("evaluation task failed: {e}"),
            ))),
        }
    }
}
