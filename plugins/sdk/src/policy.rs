//! Elasticity policies (`flotilla:elasticity@0.1.0`).
//!
//! A policy is a pure function from a role's situation to a recommendation.
//! It must not read a clock (use `Evaluation::now`) nor keep state between
//! calls (return it in `Recommendation::state`): the host runs every
//! evaluation in a fresh instance and may replay evaluations. Because an
//! instance lives for one evaluation, a policy's allocator is an arena that
//! frees only when the instance goes (`arena.rs`).

pub use crate::types::{Error, KeyValue, Metric, PluginInfo, lookup};
pub use flotilla_model::{Evaluation, Recommendation, RoleView, VmSample};

pub trait Policy: 'static {
    fn new() -> Self
    where
        Self: Sized;

    fn info(&self) -> PluginInfo;

    fn evaluate(&mut self, input: Evaluation) -> Result<Recommendation, Error>;
}

/// Export a [`Policy`] implementation as the plugin's `flotilla:elasticity`
/// world, with the arena as its global allocator. Outside Wasm the macro
/// expands to nothing.
///
/// Built without WASI (wasm32-unknown-unknown), a panic's message reaches
/// the host through its log (see `__install_panic_hook`). That import
/// costs every fresh instance: a component whose core module imports a
/// host function that reads guest memory is instantiated as three core
/// instances (wit-component's shim and fixup around the module) rather
/// than one. `export_policy!(T, without_panic_log)` leaves the hook out,
/// so a policy that calls no host function imports none: about a tenth
/// less per fresh-instance evaluation (BENCHMARKS.md, "A policy that
/// imports nothing"), and a panic is reported as an `unreachable` trap
/// without its message. The built-in policies use it; a policy under
/// development should not.
#[macro_export]
macro_rules! export_policy {
    ($ty:ty) => {
        $crate::export_policy!(@export $ty, $crate::__install_panic_hook());
    };
    ($ty:ty, without_panic_log) => {
        $crate::export_policy!(@export $ty, ());
    };
    (@export $ty:ty, $on_evaluate:expr) => {
        #[cfg(target_arch = "wasm32")]
        #[global_allocator]
        static __FLOTILLA_POLICY_ARENA: $crate::arena::Arena =
            $crate::arena::Arena::new($crate::arena::StaticRegion::new());

        #[cfg(target_arch = "wasm32")]
        const _: () = {
            use $crate::bindings::elasticity::exports::flotilla::elasticity::policy as __wit;
            use $crate::policy::Policy as _;

            struct __FlotillaPolicyExport;

            $crate::__instance_slot!($ty);

            type __Error = $crate::bindings::driver::flotilla::types::types::Error;

            impl __wit::Guest for __FlotillaPolicyExport {
                fn info() -> $crate::bindings::driver::flotilla::types::types::PluginInfo {
                    __with(|p| p.info()).into()
                }
                fn evaluate(input: __wit::Evaluation) -> Result<__wit::Recommendation, __Error> {
                    $on_evaluate;
                    __with(|p| p.evaluate(input.into()))
                        .map(Into::into)
                        .map_err(Into::into)
                }
            }

            $crate::bindings::elasticity::__export_elasticity_world!(__FlotillaPolicyExport with_types_in $crate::bindings::elasticity);
        };
    };
}
