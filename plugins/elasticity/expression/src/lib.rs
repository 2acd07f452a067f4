//! The built-in expression policy: every OneFlow metric policy (a role's
//! `elasticity_policies` entry without `plugin`) is evaluated by this
//! plugin, in a fresh sandboxed instance each time. The rules live in
//! `flotilla_policy::builtin`, which benchmarks also call natively. The
//! WIT contract carries the policy as params: the instance reads the rule
//! (parses the expression) from them once, for the one evaluation it
//! serves; the host itself parsed it when the template was validated.

use flotilla_plugin_sdk::policy::*;

pub struct ExpressionPolicy;

impl Policy for ExpressionPolicy {
    fn new() -> Self {
        ExpressionPolicy
    }

    fn info(&self) -> PluginInfo {
        PluginInfo::new(
            flotilla_policy::builtin::ID,
            env!("CARGO_PKG_VERSION"),
            "OneFlow's metric policies: an expression over the role's averages",
        )
    }

    fn evaluate(&mut self, input: Evaluation) -> Result<Recommendation, Error> {
        flotilla_policy::builtin::evaluate(&input)
    }
}

// Built in: imports nothing from the host, for a cheaper fresh instance
// (see `export_policy!`).
flotilla_plugin_sdk::export_policy!(ExpressionPolicy, without_panic_log);
