//! Elasticity policies. Every evaluation runs in a fresh instance: a
//! policy keeps no state between calls (what it needs comes back in
//! `Evaluation::state`), a trap costs nothing to recover from, and one
//! role's evaluation can never see another's.

use super::bindings::elasticity::ElasticityPlugin;
use super::engine::{KindPre, LoadError, LoadedPlugin};
use super::fault::CallError;
use super::instance::Instance;
use super::{Evaluation, PluginFault, PluginInfo, Recommendation};
use crate::bindings::elasticity::exports::flotilla::elasticity::policy as wit;
use std::sync::Arc;

/// One instance of a policy, for a single evaluation (or, in benchmarks and
/// the test kit, a few calls).
pub type PolicyInstance = Instance<ElasticityPlugin>;

impl PolicyInstance {
    pub fn new(plugin: Arc<LoadedPlugin>) -> Result<PolicyInstance, PluginFault> {
        Instance::start(plugin, "an elasticity policy", |pre, store| match pre {
            KindPre::Elasticity(pre) => Some(pre.instantiate(store)),
            _ => None,
        })
    }

    pub fn info(&mut self) -> Result<PluginInfo, CallError> {
        self.call("info", |b, s| {
            b.flotilla_elasticity_policy().call_info(s).map(Ok)
        })
        .map(Into::into)
    }

    pub fn evaluate(&mut self, input: &Evaluation) -> Result<Recommendation, CallError> {
        let input = wit::Evaluation::from(input);
        self.call("evaluate", |b, s| {
            b.flotilla_elasticity_policy().call_evaluate(s, &input)
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
