//! Elasticity policies (`flotilla:elasticity@0.1.0`).
//!
//! A policy is a pure function from a role's situation to a recommendation.
//! It must not read a clock (use `Evaluation::now`) nor keep state between
//! calls (return it in `Recommendation::state`): the host runs every
//! evaluation in a fresh instance and may replay evaluations.

pub use crate::bindings::elasticity::exports::flotilla::elasticity::policy::{
    Evaluation, Recommendation, RoleView, VmSample,
};
pub use crate::types::{Error, KeyValue, Metric, PluginInfo, lookup};

pub trait Policy: 'static {
    fn new() -> Self
    where
        Self: Sized;

    fn info(&self) -> PluginInfo;

    fn evaluate(&mut self, input: Evaluation) -> Result<Recommendation, Error>;
}

impl Recommendation {
    /// No change, with the reason for the service log.
    pub fn keep(reason: impl Into<String>) -> Self {
        Recommendation {
            desired: None,
            reason: reason.into(),
            trace: String::new(),
            cooldown: None,
            state: None,
        }
    }

    /// Scale the role to `desired` VMs.
    pub fn scale_to(desired: u32, reason: impl Into<String>) -> Self {
        Recommendation {
            desired: Some(desired),
            ..Recommendation::keep(reason)
        }
    }

    pub fn with_trace(mut self, trace: impl Into<String>) -> Self {
        self.trace = trace.into();
        self
    }
}

impl Evaluation {
    /// A policy parameter from the service template, case-insensitively.
    pub fn param(&self, key: &str) -> Option<&str> {
        lookup(&self.params, key)
    }
}

impl VmSample {
    pub fn value(&self, name: &str) -> Option<f64> {
        self.values
            .iter()
            .find(|m| m.name.eq_ignore_ascii_case(name))
            .map(|m| m.value)
    }
}

/// Export a [`Policy`] implementation as the plugin's `flotilla:elasticity`
/// world. Outside Wasm the macro expands to nothing.
#[macro_export]
macro_rules! export_policy {
    ($ty:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            use $crate::bindings::elasticity::exports::flotilla::elasticity::policy as __wit;
            use $crate::policy::Policy as _;

            struct __FlotillaPolicyExport;

            $crate::__instance_slot!($ty);

            impl __wit::Guest for __FlotillaPolicyExport {
                fn info() -> $crate::types::PluginInfo {
                    __with(|p| p.info())
                }
                fn evaluate(
                    input: __wit::Evaluation,
                ) -> Result<__wit::Recommendation, $crate::types::Error> {
                    __with(|p| p.evaluate(input))
                }
            }

            $crate::bindings::elasticity::__export_elasticity_world!(__FlotillaPolicyExport with_types_in $crate::bindings::elasticity);
        };
    };
}
