//! Elasticity policies. Every evaluation runs in a fresh instance: a
//! policy keeps no state between calls (what it needs comes back in
//! `Evaluation::state`), a trap costs nothing to recover from, and one
//! role's evaluation can never see another's.

use super::bindings::elasticity::ElasticityPlugin;
use super::engine::{KindPre, LoadedPlugin};
use super::fault::CallError;
use super::instance::{guarded, instantiate};
use super::state::PluginState;
use super::{PluginFault, PluginInfo};
use std::sync::Arc;
use wasmtime::Store;

pub use super::bindings::elasticity::exports::flotilla::elasticity::policy::{
    Evaluation, Recommendation, RoleView, VmSample,
};

/// One instance of a policy, for a single evaluation (or, in benchmarks and
/// the test kit, a few calls).
pub struct PolicyInstance {
    plugin: Arc<LoadedPlugin>,
    store: Store<PluginState>,
    bindings: ElasticityPlugin,
}

impl PolicyInstance {
    pub fn new(plugin: Arc<LoadedPlugin>) -> Result<PolicyInstance, PluginFault> {
        let (store, bindings) =
            instantiate(&plugin, "an elasticity policy", |pre, store| match pre {
                KindPre::Elasticity(pre) => Some(pre.instantiate(store)),
                _ => None,
            })?;
        Ok(PolicyInstance {
            plugin,
            store,
            bindings,
        })
    }

    pub fn info(&mut self) -> Result<PluginInfo, CallError> {
        let b = &self.bindings;
        guarded(&self.plugin, &mut self.store, "info", |s| {
            b.flotilla_elasticity_policy().call_info(s).map(Ok)
        })
    }

    pub fn evaluate(&mut self, input: &Evaluation) -> Result<Recommendation, CallError> {
        let b = &self.bindings;
        guarded(&self.plugin, &mut self.store, "evaluate", |s| {
            b.flotilla_elasticity_policy().call_evaluate(s, input)
        })
    }
}

/// A policy as the rest of Flotilla sees it.
#[derive(Clone, Debug)]
pub struct Policy {
    plugin: Arc<LoadedPlugin>,
}

impl Policy {
    pub fn new(plugin: Arc<LoadedPlugin>) -> Result<Policy, String> {
        if plugin.kind() != super::PluginKind::Elasticity {
            return Err(format!(
                "plugin `{}` is a {} plugin, not a policy",
                plugin.id,
                plugin.kind()
            ));
        }
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
