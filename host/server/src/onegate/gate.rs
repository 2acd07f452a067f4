//! What OneGate's routes share: the token signer and what a token may do,
//! the reports VMs sent, the answers rendered per version of a service,
//! the per-VM rate limit; and what the engine asks of OneGate
//! (`VmReports`: a new VM's context, what VMs reported).

use super::rendered;
use super::reports::Reports;
use super::token::{Claims, Signer};
use crate::clock::SharedClock;
use crate::engine::{Engine, VmReports};
use crate::plugin::KeyValue;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub struct OneGate {
    pub(super) signer: Signer,
    /// The URL VMs are given.
    pub(super) endpoint: String,
    pub(super) ttl_s: u64,
    pub(super) restricted: Vec<String>,
    /// VM actions a VM may not ask for (OneGate's `restricted_actions`).
    pub(super) restricted_actions: Vec<String>,
    pub reports: Reports,
    pub(super) rendered: rendered::RenderedServices,
    pub(super) limiter: Limiter,
    /// Requests served, and reports (updates) accepted.
    pub requests: std::sync::atomic::AtomicU64,
    pub updates: std::sync::atomic::AtomicU64,
    /// The engine's: tokens are issued and checked by it.
    clock: SharedClock,
}

impl OneGate {
    pub fn new(
        signer: Signer,
        endpoint: String,
        config: &crate::config::OneGateConfig,
        reports: Reports,
        clock: SharedClock,
    ) -> OneGate {
        OneGate {
            signer,
            endpoint,
            ttl_s: config.token_ttl_seconds,
            restricted: config.restricted_attributes.clone(),
            restricted_actions: config.restricted_actions.clone(),
            reports,
            rendered: Default::default(),
            limiter: Limiter::new(config.reports_per_second),
            requests: Default::default(),
            updates: Default::default(),
            clock,
        }
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Now, in seconds since the epoch, by the engine's clock.
    pub(super) fn now_s(&self) -> u64 {
        self.clock.now_ms() / 1000
    }

    /// A token for a VM of a service.
    pub fn token(&self, service_id: u64, operation_id: &str) -> String {
        let expires = if self.ttl_s == 0 {
            0
        } else {
            self.now_s().saturating_add(self.ttl_s)
        };
        self.signer.issue(&Claims {
            service_id,
            operation_id: operation_id.to_string(),
            expires,
        })
    }

    pub(super) fn is_restricted(&self, key: &str) -> bool {
        self.restricted.iter().any(|r| r.eq_ignore_ascii_case(key))
    }

    /// Write the reports that came since the last flush, every second,
    /// for as long as the engine runs.
    pub fn spawn_flusher(self: &Arc<Self>, engine: Engine) -> tokio::task::JoinHandle<()> {
        let gate = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                let Some(gate) = gate.upgrade() else { break };
                let engine = engine.clone();
                let flushed =
                    tokio::task::spawn_blocking(move || gate.reports.flush(&*engine.store())).await;
                match flushed {
                    Ok(Err(e)) => tracing::error!("writing OneGate reports: {e:#}"),
                    Err(e) => tracing::error!("writing OneGate reports: {e}"),
                    Ok(Ok(_)) => {}
                }
            }
        })
    }
}

impl VmReports for OneGate {
    fn reported(&self, service_id: u64, operation_id: &str) -> Vec<KeyValue> {
        self.reports.key_values(service_id, operation_id)
    }

    fn context(&self, service_id: u64, operation_id: &str) -> Vec<(String, String)> {
        vec![
            ("ONEGATE_ENDPOINT".into(), self.endpoint.clone()),
            ("ONEGATE_TOKEN".into(), self.token(service_id, operation_id)),
            ("TOKEN".into(), "YES".into()),
        ]
    }

    fn forget(&self, service_id: u64, keep: &dyn Fn(&str) -> bool) {
        self.reports.forget(service_id, keep);
    }
}

/// Requests per VM per second, with a burst of twice that: a VM in a loop
/// must not take OneGate from the others.
pub(super) struct Limiter {
    rate: f64,
    buckets: Mutex<HashMap<(u64, String), (f64, Instant)>>,
}

impl Limiter {
    fn new(per_second: u32) -> Limiter {
        Limiter {
            rate: f64::from(per_second.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Whether this VM may make a request now.
    pub(super) fn allow(&self, service: u64, operation: &str) -> bool {
        let burst = self.rate * 2.0;
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        // Bounded: buckets idle long enough to be full again go.
        if buckets.len() > 100_000 {
            buckets.retain(|_, (_, at)| now.duration_since(*at).as_secs_f64() * self.rate < burst);
        }
        let (tokens, at) = buckets
            .entry((service, operation.to_string()))
            .or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.rate).min(burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}
