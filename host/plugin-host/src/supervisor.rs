//! Warm, supervised instances for drivers and network modes.
//!
//! One thread per plugin owns the store and serves calls one at a time from
//! a channel (a store is not reentrant, and serializing calls keeps a
//! driver's view of its backend consistent). After a fault that poisons
//! the instance it is dropped and the next call gets a fresh one; a plugin
//! that keeps faulting rests in quarantine before it is tried again.

use super::PluginFault;
use super::engine::LoadedPlugin;
use super::fault::{CallError, FaultKind};
use super::instance::fault;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Faults within [`FAULT_WINDOW`] that send a plugin to quarantine.
const FAULT_BUDGET: usize = 5;
const FAULT_WINDOW: Duration = Duration::from_secs(60);
const QUARANTINE: Duration = Duration::from_secs(15);
/// Instances are recycled after this many calls, so that slow leaks in a
/// guest's heap never grow into a memory-cap fault.
const MAX_INVOCATIONS: u64 = 1_000_000;

pub(crate) trait WarmInstance: Sized + Send + 'static {
    fn start(plugin: &Arc<LoadedPlugin>) -> Result<Self, PluginFault>;
}

type Job<I> = Box<dyn FnOnce(&mut Worker<I>) + Send>;

pub(crate) struct Supervisor<I> {
    jobs: mpsc::Sender<Job<I>>,
    plugin: Arc<LoadedPlugin>,
}

impl<I> Clone for Supervisor<I> {
    fn clone(&self) -> Self {
        Supervisor {
            jobs: self.jobs.clone(),
            plugin: self.plugin.clone(),
        }
    }
}

impl<I: WarmInstance> Supervisor<I> {
    pub fn start(plugin: Arc<LoadedPlugin>) -> Supervisor<I> {
        let (jobs, inbox) = mpsc::channel::<Job<I>>();
        let mut worker = Worker {
            plugin: plugin.clone(),
            instance: None,
            invocations: 0,
            recent_faults: VecDeque::new(),
            quarantined_until: None,
        };
        std::thread::Builder::new()
            .name(format!("plugin-{}", plugin.id))
            .spawn(move || {
                // Ends when every handle is dropped.
                while let Some(job) = next_job(&inbox) {
                    job(&mut worker);
                }
            })
            .expect("spawning a plugin thread");
        Supervisor { jobs, plugin }
    }

    pub fn plugin(&self) -> &Arc<LoadedPlugin> {
        &self.plugin
    }

    /// Run `f` on the warm instance from async code.
    pub async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut I) -> Result<R, CallError> + Send + 'static,
    ) -> Result<R, CallError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job<I> = Box::new(move |w| {
            let _ = tx.send(w.run(f));
        });
        if self.jobs.send(job).is_err() {
            return Err(self.stopped());
        }
        rx.await.unwrap_or_else(|_| Err(self.stopped()))
    }

    /// Run `f` on the warm instance, blocking this thread. Must not be
    /// called on an async runtime's worker thread.
    pub fn call_blocking<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut I) -> Result<R, CallError> + Send + 'static,
    ) -> Result<R, CallError> {
        let (tx, rx) = mpsc::sync_channel(1);
        let job: Job<I> = Box::new(move |w| {
            let _ = tx.send(w.run(f));
        });
        if self.jobs.send(job).is_err() {
            return Err(self.stopped());
        }
        rx.recv().unwrap_or_else(|_| Err(self.stopped()))
    }

    fn stopped(&self) -> CallError {
        // Only reachable if the worker thread died, which a guest cannot
        // cause (traps are values); report it rather than panic.
        CallError::Fault(fault(
            &self.plugin,
            FaultKind::Instantiate,
            "the plugin's worker thread stopped",
        ))
    }
}

/// How long the worker polls for the next job before it sleeps. Calls
/// often come back to back (a service's creates, a round of polls); waking
/// a parked thread costs tens of microseconds on a small VM, a short spin
/// costs nothing when idle for long.
const SPIN: Duration = Duration::from_micros(50);

fn next_job<I>(inbox: &mpsc::Receiver<Job<I>>) -> Option<Job<I>> {
    let start = Instant::now();
    while start.elapsed() < SPIN {
        match inbox.try_recv() {
            Ok(job) => return Some(job),
            Err(mpsc::TryRecvError::Empty) => std::thread::yield_now(),
            Err(mpsc::TryRecvError::Disconnected) => return None,
        }
    }
    inbox.recv().ok()
}

pub(crate) struct Worker<I> {
    plugin: Arc<LoadedPlugin>,
    instance: Option<I>,
    invocations: u64,
    recent_faults: VecDeque<Instant>,
    quarantined_until: Option<Instant>,
}

impl<I: WarmInstance> Worker<I> {
    fn run<R>(&mut self, f: impl FnOnce(&mut I) -> Result<R, CallError>) -> Result<R, CallError> {
        let now = Instant::now();
        if let Some(until) = self.quarantined_until {
            if now < until {
                return Err(CallError::Fault(fault(
                    &self.plugin,
                    FaultKind::Quarantined,
                    format!(
                        "faulted {FAULT_BUDGET} times within {} s; next try in {} s",
                        FAULT_WINDOW.as_secs(),
                        (until - now).as_secs() + 1
                    ),
                )));
            }
            self.quarantined_until = None;
            self.recent_faults.clear();
        }
        let instance = match &mut self.instance {
            Some(instance) => instance,
            slot => match I::start(&self.plugin) {
                Ok(instance) => slot.insert(instance),
                Err(f) => {
                    self.note_fault(now);
                    return Err(CallError::Fault(f));
                }
            },
        };
        let result = f(instance);
        self.invocations += 1;
        match &result {
            Err(CallError::Fault(f)) if f.kind.poisons_instance() => {
                tracing::warn!(plugin = &*self.plugin.id, fault = %f.kind, "replacing the plugin's instance");
                self.instance = None;
                self.note_fault(now);
            }
            _ if self.invocations >= MAX_INVOCATIONS => {
                self.instance = None;
                self.invocations = 0;
            }
            _ => {}
        }
        result
    }

    fn note_fault(&mut self, now: Instant) {
        self.recent_faults.push_back(now);
        while self
            .recent_faults
            .front()
            .is_some_and(|t| now.duration_since(*t) > FAULT_WINDOW)
        {
            self.recent_faults.pop_front();
        }
        if self.recent_faults.len() >= FAULT_BUDGET {
            tracing::warn!(
                plugin = &*self.plugin.id,
                "plugin quarantined after repeated faults"
            );
            self.quarantined_until = Some(now + QUARANTINE);
            // Shared with the registry, so `plugin list` can say so.
            let until = std::time::SystemTime::now() + QUARANTINE;
            let until_ms = until
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            self.plugin
                .stats
                .quarantined_until_ms
                .fetch_max(until_ms, std::sync::atomic::Ordering::Relaxed);
        }
    }
}
