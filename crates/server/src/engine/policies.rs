//! What the engine evaluates elasticity policies with: the policy plugins
//! by id (the built-in `expression` plugin and any installed one), each
//! evaluation in a fresh sandboxed instance; or, for benchmarks and
//! tests of the engine alone, the built-in policy compiled natively.
//!
//! Calls block (a plugin may run until its deadline): the engine makes
//! them from a blocking thread.

use crate::plugin::{CallError, Evaluation, LoadedPlugin, Policy, Recommendation};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

pub trait PolicyBackend: Send + Sync + 'static {
    /// Evaluate with plugin `id`; an error or fault comes back as the
    /// sentence the decision record shows.
    fn evaluate(&self, id: &str, input: &Evaluation) -> Result<Recommendation, String>;
}

/// The loaded policy plugins by id. Installing a plugin replaces its
/// entry: evaluations already running finish on the version they
/// started with (they hold its `Arc`), the next ones use the new one.
#[derive(Default)]
pub struct PolicyLibrary {
    plugins: RwLock<HashMap<String, Policy>>,
}

impl PolicyLibrary {
    pub fn new(plugins: impl IntoIterator<Item = Arc<LoadedPlugin>>) -> PolicyLibrary {
        let library = PolicyLibrary::default();
        for p in plugins {
            library.install(p);
        }
        library
    }

    /// The built-in policy plugins, loaded with no grant: what `policy
    /// simulate` and the benchmarks evaluate with, as the server does.
    pub fn builtin(host: &crate::plugin::PluginHost) -> Result<PolicyLibrary, String> {
        let library = PolicyLibrary::default();
        for b in crate::plugin::builtin::BUILTIN {
            let manifest = b.manifest();
            if manifest.kind == crate::plugin::PluginKind::Elasticity {
                library.install(host.load(manifest, b.wasm, Default::default())?);
            }
        }
        Ok(library)
    }

    /// Add or replace a policy plugin; a plugin of another kind is ignored.
    pub fn install(&self, plugin: Arc<LoadedPlugin>) {
        let id = plugin.id.to_string();
        if let Ok(policy) = Policy::new(plugin) {
            self.plugins
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id, policy);
        }
    }

    /// Stop using a policy plugin; evaluations running on it finish.
    pub fn remove(&self, id: &str) {
        self.plugins
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }

    fn get(&self, id: &str) -> Option<Policy> {
        self.plugins
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }
}

impl PolicyBackend for PolicyLibrary {
    fn evaluate(&self, id: &str, input: &Evaluation) -> Result<Recommendation, String> {
        let policy = self.get(id).ok_or_else(|| {
            format!("plugin `{id}` is not installed as an elasticity policy: nothing changes")
        })?;
        policy.evaluate_blocking(input).map_err(|e| match e {
            e @ CallError::Plugin(_) => format!("plugin `{id}` refused the evaluation: {e}"),
            CallError::Fault(f) => format!("{f}: the role is left as it is"),
        })
    }
}

/// The built-in expression policy compiled into the host: the engine's
/// default outside the server (benchmarks, tests of the engine), and the
/// native side of `bench policies`.
pub struct NativePolicies;

impl PolicyBackend for NativePolicies {
    fn evaluate(&self, id: &str, input: &Evaluation) -> Result<Recommendation, String> {
        if id != flotilla_policy::builtin::ID {
            return Err(format!(
                "plugin `{id}` is not available natively: nothing changes"
            ));
        }
        flotilla_policy::builtin::evaluate(input)
            .map_err(|e| format!("plugin `{id}` refused the evaluation: {e}"))
    }
}
