//! VMs that report about themselves through OneGate (`SIM_ONEGATE=YES`),
//! as a real VM's start script would: what is due when, and what became
//! of it. The HTTP is done by the server's background task
//! (`server::onegate`); this part only decides, so it is tested by moving
//! the clock.
//!
//! A VM's first report is due once it runs and `SIM_READY_SECONDS` have
//! passed: `READY=YES` (with `SIM_READY=YES`), the `SIM_ONEGATE_PUSH`
//! pairs and, with `SIM_ONEGATE_REPORT_SECONDS`, `REPORTS` and `LOAD`.
//! With `SIM_ONEGATE_REPORT_SECONDS=N` it reports `REPORTS` and `LOAD`
//! again every N seconds while RUNNING. A report that fails is due again
//! at once (the next scan); a VM that boots again (reboot, resume) starts
//! over with its first report, as its start script would run again.
//!
//! Nothing here is stored: after a restart of the hypervisor a VM simply
//! reports again (`READY=YES` is idempotent).

use super::{BadAttribute, Hypervisor, State, Vm, attr};
use serde::{Deserialize, Serialize};

/// Parse `SIM_ONEGATE_PUSH`: `KEY=VALUE` pairs separated by `;` or
/// newlines; blanks around keys and values are dropped, a value may hold
/// `=`.
pub fn parse_push(text: &str) -> Result<Vec<(String, String)>, BadAttribute> {
    let bad = |reason: String| BadAttribute::new("SIM_ONEGATE_PUSH", reason);
    text.split([';', '\n', '\r'])
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| bad(format!("`{pair}` is not KEY=VALUE")))?;
            let key = key.trim();
            if key.is_empty() || key.contains(char::is_whitespace) {
                return Err(bad(format!("`{pair}`: the key must be one word")));
            }
            Ok((key.to_string(), value.trim().to_string()))
        })
        .collect()
}

/// What became of a report sent to OneGate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// OneGate answered 2xx.
    Accepted,
    /// Why not (an error status and its text, or no answer); the report is
    /// due again at the next scan.
    Failed(String),
}

/// What the template's `CONTEXT` says about reaching OneGate.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    /// `{ONEGATE_ENDPOINT}/vm`
    url: String,
    token: String,
}

fn context_attr(
    template: &serde_json::Value,
    key: &'static str,
) -> Result<Option<String>, BadAttribute> {
    let Some(obj) = template.as_object() else {
        return Err(BadAttribute::new(
            "CONTEXT",
            "the template is not an object",
        ));
    };
    let Some((_, context)) = obj.iter().find(|(k, _)| k.eq_ignore_ascii_case("CONTEXT")) else {
        return Ok(None);
    };
    if !context.is_object() {
        return Err(BadAttribute::new("CONTEXT", "is not an object"));
    }
    Ok(attr(context, key).filter(|v| !v.trim().is_empty()))
}

fn target(template: &serde_json::Value) -> Result<Target, BadAttribute> {
    let missing = |key: &'static str| {
        BadAttribute::new(
            "CONTEXT",
            format!("SIM_ONEGATE=YES but it has no {key} (is OneGate enabled on the server?)"),
        )
    };
    let endpoint =
        context_attr(template, "ONEGATE_ENDPOINT")?.ok_or_else(|| missing("ONEGATE_ENDPOINT"))?;
    let token = context_attr(template, "ONEGATE_TOKEN")?.ok_or_else(|| missing("ONEGATE_TOKEN"))?;
    let url = format!("{}/vm", endpoint.trim().trim_end_matches('/'));
    let uri: http::Uri = url.parse().map_err(|e| {
        BadAttribute::new(
            "ONEGATE_ENDPOINT",
            format!("`{endpoint}` is not a URL: {e}"),
        )
    })?;
    match uri.scheme_str() {
        Some("http") if uri.authority().is_some() => {}
        Some("https") => {
            return Err(BadAttribute::new(
                "ONEGATE_ENDPOINT",
                format!("`{endpoint}`: the simulated hypervisor speaks plain http only"),
            ));
        }
        _ => {
            return Err(BadAttribute::new(
                "ONEGATE_ENDPOINT",
                format!("`{endpoint}` is not an http://host:port URL"),
            ));
        }
    }
    if http::HeaderValue::from_str(&token).is_err() {
        return Err(BadAttribute::new(
            "ONEGATE_TOKEN",
            "cannot be sent in a header",
        ));
    }
    Ok(Target { url, token })
}

/// Where a VM's schedule is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Next {
    /// The first report of this boot is not sent yet.
    #[default]
    First,
    At(u64),
    /// Nothing more to report in this boot.
    Never,
}

/// A VM's OneGate reporting; not stored.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OneGateStatus {
    /// Reports OneGate accepted.
    pub sent: u64,
    /// Reports that failed (refused, unanswered, not 2xx).
    pub failed: u64,
    /// Why the last report failed, or why none can be sent; cleared by a
    /// report that goes through.
    pub last_error: Option<String>,
    in_flight: bool,
    /// When the boot the schedule belongs to began running.
    boot_ms: Option<u64>,
    next: Next,
}

/// What the API shows of a VM's OneGate reporting (`onegate` in its
/// view).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OneGateView {
    pub sent: u64,
    pub failed: u64,
    pub last_error: Option<String>,
}

/// One `PUT {ONEGATE_ENDPOINT}/vm` to send.
#[derive(Debug, Clone, PartialEq)]
pub struct OneGateReport {
    pub vm_id: u64,
    /// `{ONEGATE_ENDPOINT}/vm`, from the VM's own CONTEXT.
    pub url: String,
    pub token: String,
    /// `KEY=VALUE` lines.
    pub body: String,
    boot_ms: u64,
    due_ms: u64,
}

/// Reports sent and failed over all VMs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OneGateTotals {
    pub sent: u64,
    pub failed: u64,
}

impl Vm {
    /// The OneGate reporting of a `SIM_ONEGATE` VM.
    pub fn onegate_view(&self) -> Option<OneGateView> {
        self.behaviour.onegate.then(|| OneGateView {
            sent: self.onegate.sent,
            failed: self.onegate.failed,
            last_error: self.onegate.last_error.clone(),
        })
    }

    /// The report due at `now`, if any; it is then in flight until
    /// [`Vm::onegate_record`] is told what became of it.
    fn onegate_due(&mut self, now: u64) -> Option<OneGateReport> {
        if !self.behaviour.onegate || self.onegate.in_flight {
            return None;
        }
        let target = match target(&self.template) {
            Ok(t) => t,
            Err(e) => {
                self.onegate.last_error = Some(e.to_string());
                return None;
            }
        };
        if self.state_at(now).0 != State::Running {
            return None;
        }
        let since = self.running_since(now)?;
        if self.onegate.boot_ms != Some(since) {
            self.onegate.boot_ms = Some(since);
            self.onegate.next = Next::First;
        }
        let b = &self.behaviour;
        let (due_ms, first) = match self.onegate.next {
            Next::First => (since + b.ready_after_ms, true),
            Next::At(at) => (at, false),
            Next::Never => return None,
        };
        if now < due_ms {
            return None;
        }
        let mut pairs: Vec<(String, String)> = Vec::new();
        if first {
            if b.ready {
                pairs.push(("READY".into(), "YES".into()));
            }
            pairs.extend(b.onegate_push.iter().cloned());
        }
        if b.onegate_report_ms.is_some() {
            let load = self.cpu_at(since, now);
            pairs.push(("REPORTS".into(), (self.onegate.sent + 1).to_string()));
            pairs.push(("LOAD".into(), ((load * 100.0).round() / 100.0).to_string()));
        }
        if pairs.is_empty() {
            self.onegate.next = Next::Never;
            return None;
        }
        self.onegate.in_flight = true;
        Some(OneGateReport {
            vm_id: self.id,
            url: target.url,
            token: target.token,
            body: pairs.iter().map(|(k, v)| format!("{k}={v}\n")).collect(),
            boot_ms: since,
            due_ms,
        })
    }

    /// What became of a report: `Err` holds why it failed; it is due again
    /// at the next scan.
    fn onegate_record(&mut self, report: &OneGateReport, outcome: Delivery, now: u64) {
        self.onegate.in_flight = false;
        match outcome {
            Delivery::Accepted => {
                self.onegate.sent += 1;
                self.onegate.last_error = None;
                // A report of an earlier boot does not move this boot's
                // schedule.
                if self.onegate.boot_ms == Some(report.boot_ms) {
                    self.onegate.next = match self.behaviour.onegate_report_ms {
                        Some(every) => Next::At((report.due_ms + every).max(now)),
                        None => Next::Never,
                    };
                }
            }
            Delivery::Failed(e) => {
                self.onegate.failed += 1;
                self.onegate.last_error = Some(e);
            }
        }
    }
}

impl Hypervisor {
    /// Every OneGate report due at `now`, each then in flight until
    /// [`Hypervisor::onegate_record`]. A `SIM_ONEGATE` VM whose CONTEXT
    /// does not say how to reach OneGate gets that as its error instead.
    /// A VM whose host does not answer sends nothing meanwhile.
    pub fn onegate_due(&mut self, now: u64) -> Vec<OneGateReport> {
        let (hosts, vms) = (&self.hosts, &mut self.vms);
        self.onegate_vms
            .iter()
            .filter_map(|id| {
                let vm = vms.get_mut(id)?;
                match super::hosts::cut_off(hosts, vm) {
                    Some(_) => None,
                    None => vm.onegate_due(now),
                }
            })
            .collect()
    }

    /// Record what became of a report from [`Hypervisor::onegate_due`].
    pub fn onegate_record(&mut self, report: &OneGateReport, outcome: Delivery, now: u64) {
        if let Some(vm) = self.vms.get_mut(&report.vm_id) {
            vm.onegate_record(report, outcome, now);
        }
    }

    /// Forget which reports are in flight (their sender is gone): they
    /// are due again.
    pub fn onegate_forget_in_flight(&mut self) {
        for id in &self.onegate_vms {
            if let Some(vm) = self.vms.get_mut(id) {
                vm.onegate.in_flight = false;
            }
        }
    }

    pub fn onegate_totals(&self) -> OneGateTotals {
        self.onegate_vms
            .iter()
            .filter_map(|id| self.vms.get(id))
            .fold(OneGateTotals::default(), |t, vm| OneGateTotals {
                sent: t.sent + vm.onegate.sent,
                failed: t.failed + vm.onegate.failed,
            })
    }
}
