//! Running one call in a plugin instance: deadline, span, and turning
//! whatever went wrong into a typed fault.

use super::engine::{EPOCH_TICK, KindPre, LoadedPlugin};
use super::fault::{CallError, FaultKind, PluginFault};
use super::state::PluginState;
use crate::bindings::types::Error as WitError;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;
use wasmtime::Store;

/// One live instance of a plugin, with its kind's bindings `B` (the typed
/// calls live beside each kind: `DriverInstance`, `NetworkInstance`,
/// `PolicyInstance`). Calls block the calling thread.
pub struct Instance<B> {
    plugin: Arc<LoadedPlugin>,
    store: Store<PluginState>,
    bindings: B,
}

impl<B> Instance<B> {
    /// Instantiate `plugin`; `pick` instantiates its kind's bindings (see
    /// [`instantiate`]).
    pub(crate) fn start(
        plugin: Arc<LoadedPlugin>,
        what: &str,
        pick: impl FnOnce(&KindPre, &mut Store<PluginState>) -> Option<wasmtime::Result<B>>,
    ) -> Result<Instance<B>, PluginFault> {
        let (store, bindings) = instantiate(&plugin, what, pick)?;
        Ok(Instance {
            plugin,
            store,
            bindings,
        })
    }

    /// The plugin this is an instance of.
    pub fn plugin(&self) -> &Arc<LoadedPlugin> {
        &self.plugin
    }

    /// The kind's bindings of this instance.
    pub(crate) fn bindings(&self) -> &B {
        &self.bindings
    }

    /// One export call, guarded.
    pub(crate) fn call<T>(
        &mut self,
        function: &'static str,
        f: impl FnOnce(&B, &mut Store<PluginState>) -> wasmtime::Result<Result<T, WitError>>,
    ) -> Result<T, CallError> {
        let bindings = &self.bindings;
        guarded(&self.plugin, &mut self.store, function, |s| f(bindings, s))
    }
}

/// Run `f` (one export call) under the plugin's deadline, inside a tracing
/// span with the plugin, kind, function, duration and outcome.
fn guarded<T>(
    plugin: &LoadedPlugin,
    store: &mut Store<PluginState>,
    function: &'static str,
    f: impl FnOnce(&mut Store<PluginState>) -> wasmtime::Result<Result<T, WitError>>,
) -> Result<T, CallError> {
    let span = tracing::debug_span!(
        "plugin_call",
        plugin = &*plugin.id,
        kind = plugin.kind().as_str(),
        function,
        duration_us = tracing::field::Empty,
        outcome = tracing::field::Empty,
    );
    let _enter = span.enter();

    // Reset before every call: a warm store keeps the previous deadline,
    // and the grant may have been reloaded since the last call (then the
    // generation moved; otherwise the store's terms are current, and the
    // lock and reference count shared with other threads are left alone).
    if store.data().terms().generation != plugin.terms_generation() {
        store.data_mut().set_terms(plugin.terms());
    }
    let limits = store.data().terms().limits;
    store.set_epoch_deadline(deadline_ticks(&limits));
    let started = Instant::now();
    {
        let state = store.data_mut();
        state.outbound.deadline = Some(started + limits.timeout);
        state.outbound.denied = None;
        state.logged_panic = None;
    }
    let stderr_mark = store.data().stderr_len();

    let result = f(store);
    let elapsed = started.elapsed();

    let state = store.data_mut();
    let denied = state.outbound.denied.take();
    // A network mode's scope and a plumbing call's site last for the call
    // that set them.
    state.network_scope = None;
    state.link_site = None;
    let outcome = match result {
        Ok(value) => match denied {
            // The guest may have turned the refusal into an error of its
            // own, or ignored it; either way the operator must see it.
            Some(reason) => Err(CallError::Fault(fault(
                plugin,
                FaultKind::CapabilityDenied,
                reason,
            ))),
            None => value.map_err(|e| CallError::Plugin(e.into())),
        },
        Err(error) => Err(CallError::Fault(classify(
            plugin,
            state,
            stderr_mark,
            error,
        ))),
    };

    plugin.stats.calls.fetch_add(1, Ordering::Relaxed);
    let label = match &outcome {
        Ok(_) => "ok",
        Err(CallError::Plugin(_)) => {
            plugin.stats.errors.fetch_add(1, Ordering::Relaxed);
            "error"
        }
        Err(CallError::Fault(f)) => {
            plugin.stats.faults.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                plugin = &*plugin.id,
                fault = f.kind.as_str(),
                reason = %f.reason,
                "plugin fault"
            );
            f.kind.as_str()
        }
    };
    span.record("duration_us", elapsed.as_micros() as u64);
    span.record("outcome", label);
    outcome
}

fn classify(
    plugin: &LoadedPlugin,
    state: &PluginState,
    stderr_mark: usize,
    error: wasmtime::Error,
) -> PluginFault {
    if state.memory.exceeded {
        return fault(
            plugin,
            FaultKind::MemoryCap,
            format!(
                "tried to grow its memory past the cap of {} MiB",
                state.memory.limit() >> 20
            ),
        );
    }
    if error.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::Interrupt) {
        return fault(
            plugin,
            FaultKind::Timeout,
            format!(
                "did not return within its {} ms deadline",
                plugin.limits().timeout.as_millis()
            ),
        );
    }
    fault(
        plugin,
        FaultKind::Trap,
        trap_reason(state, stderr_mark, &error),
    )
}

/// A trap's reason: the guest's panic message when it printed one (or,
/// without WASI, logged it), otherwise wasmtime's description of the trap.
fn trap_reason(state: &PluginState, stderr_mark: usize, error: &wasmtime::Error) -> String {
    let output = state.stderr_since(stderr_mark);
    let logged = state.logged_panic.as_deref().unwrap_or_default();
    if let Some(reason) = panic_reason(&output).or_else(|| panic_reason(logged)) {
        return reason;
    }
    match error.downcast_ref::<wasmtime::Trap>() {
        Some(trap) => format!("wasm trap: {trap}"),
        None => format!("{error:#}")
            .lines()
            .next()
            .unwrap_or("trap")
            .to_string(),
    }
}

/// "panicked at file:line:col: message" from a Rust panic message: on
/// stderr "thread '…' panicked at file:line:col:\n<message>", from the
/// SDK's panic hook the same without the thread.
fn panic_reason(output: &str) -> Option<String> {
    let mut lines = output.lines().skip_while(|l| !l.contains("panicked at"));
    let location = lines.next()?;
    let message: Vec<&str> = lines.take_while(|l| !l.starts_with("note:")).collect();
    let at = location
        .split("panicked at")
        .nth(1)
        .unwrap_or("")
        .trim()
        .trim_end_matches(':');
    Some(format!("panicked at {at}: {}", message.join(" ").trim()))
}

pub(crate) fn fault(
    plugin: &LoadedPlugin,
    kind: FaultKind,
    reason: impl Into<String>,
) -> PluginFault {
    PluginFault {
        plugin: plugin.id.to_string(),
        kind,
        reason: reason.into(),
    }
}

/// Epoch ticks for one call under `limits`: its timeout, rounded up, plus
/// the tick in progress.
pub(crate) fn deadline_ticks(limits: &crate::Limits) -> u64 {
    limits.timeout.as_millis().div_ceil(EPOCH_TICK.as_millis()) as u64 + 1
}

/// Instantiate a fresh store for `plugin`, as a fault if it fails (a
/// start function that traps, a memory cap below the initial memory).
/// `pick` instantiates from the plugin's pre-instance when it is of the
/// wanted kind (`what`, for the message) and returns `None` otherwise.
fn instantiate<B>(
    plugin: &LoadedPlugin,
    what: &str,
    pick: impl FnOnce(&KindPre, &mut Store<PluginState>) -> Option<wasmtime::Result<B>>,
) -> Result<(Store<PluginState>, B), PluginFault> {
    // With the deadline of the grant it was made under.
    let mut store = plugin.new_store();
    match pick(&plugin.pre, &mut store) {
        None => Err(fault(
            plugin,
            FaultKind::Instantiate,
            format!("is a {} plugin, not {what}", plugin.kind()),
        )),
        Some(Ok(bindings)) => {
            plugin
                .stats
                .instances_started
                .fetch_add(1, Ordering::Relaxed);
            Ok((store, bindings))
        }
        Some(Err(e)) => {
            plugin.stats.faults.fetch_add(1, Ordering::Relaxed);
            let kind = if store.data().memory.exceeded {
                FaultKind::MemoryCap
            } else {
                FaultKind::Instantiate
            };
            Err(fault(plugin, kind, format!("could not instantiate: {e:#}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::panic_reason;

    #[test]
    fn a_panic_on_stderr_and_from_the_sdk_hook_read_alike() {
        let stderr = "thread '<unnamed>' panicked at src/lib.rs:10:5:\nboom\nnote: run with `RUST_BACKTRACE=1`\n";
        let hook = "panicked at src/lib.rs:10:5:\nboom";
        let expected = Some("panicked at src/lib.rs:10:5: boom".to_string());
        assert_eq!(panic_reason(stderr), expected);
        assert_eq!(panic_reason(hook), expected);
        assert_eq!(panic_reason(""), None);
    }
}
