//! Services and service templates. A service is one JSON document, but
//! for its log: the entries go to the append-only `service_log` table (the
//! last `LOG_RETAINED` of each service are kept), and a service read back
//! gets the last `LOG_KEPT` of them, as many as the life cycle keeps.

use super::SqlStore;
use crate::database::{Database, params};
use anyhow::Context as _;
use flotilla_core::service::lifecycle::{LOG_KEPT, LogEntry, Service, Severity};
use serde_json::Value;
use std::sync::Arc;

/// A stored service template: the validated template document and who
/// owns it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ServiceTemplateDoc {
    pub id: u64,
    pub name: String,
    pub ownership: flotilla_core::permissions::Ownership,
    /// Seconds since the epoch.
    pub registration_time: u64,
    pub body: Value,
}

/// Log entries kept per service in `service_log`.
pub const LOG_RETAINED: i64 = 1_000;

/// As the life cycle writes it: `info`, `error`.
fn severity_text(severity: Severity) -> &'static str {
    match severity {
        Severity::Info => "info",
        Severity::Error => "error",
    }
}

/// The entries `service` logged since `stored` was written (all of them
/// for a service not stored yet): the core counts every entry it logs.
fn appended<'a>(stored: Option<&Service>, service: &'a Service) -> &'a [LogEntry] {
    let new = match stored {
        Some(stored) => service.log_count.saturating_sub(stored.log_count),
        None => service.log.len() as u64,
    };
    let new = usize::try_from(new).map_or(service.log.len(), |n| n.min(service.log.len()));
    &service.log[service.log.len() - new..]
}

/// Services, with their logs, and service templates.
pub trait Services {
    fn next_service_id(&self) -> anyhow::Result<u64>;

    /// Write a service; called before the effects of a transition run.
    /// The entries its log gained since the stored version are appended to
    /// `service_log`, in the same transaction as the document.
    fn save_service(&self, service: &Service) -> anyhow::Result<()>;

    fn delete_service(&self, id: u64) -> anyhow::Result<()>;

    fn service(&self, id: u64) -> anyhow::Result<Option<Service>>;

    /// A service to read, not to change: no copy is made, so the store's
    /// lock is held for as short a time as possible.
    fn shared_service(&self, id: u64) -> anyhow::Result<Option<Arc<Service>>>;

    /// Every service, shared: from the cache, parsing only those not in
    /// it yet.
    fn services(&self) -> anyhow::Result<Vec<Arc<Service>>>;

    fn service_ids(&self) -> anyhow::Result<Vec<u64>>;

    fn next_service_template_id(&self) -> anyhow::Result<u64>;

    fn save_service_template(&self, doc: &ServiceTemplateDoc) -> anyhow::Result<()>;

    fn service_template(&self, id: u64) -> anyhow::Result<Option<ServiceTemplateDoc>>;

    fn service_templates(&self) -> anyhow::Result<Vec<ServiceTemplateDoc>>;

    fn delete_service_template(&self, id: u64) -> anyhow::Result<bool>;
}

impl<D: Database> Services for SqlStore<D> {
    fn next_service_id(&self) -> anyhow::Result<u64> {
        self.next_id("services")
    }

    fn save_service(&self, service: &Service) -> anyhow::Result<()> {
        // The log is not in the document (`Service::log` is not
        // serialized): its new entries go to `service_log`. What is new is
        // counted against the stored version read in the same
        // transaction, so that another server's save in between is seen.
        let body = serde_json::to_string(service)?;
        let appended = self.in_savepoint("save_service", || {
            let previous = self.shared_service(service.id)?;
            let appended = appended(previous.as_deref(), service);
            self.db.execute(
                "INSERT INTO services (id, state, body) VALUES (?1, ?2, ?3)
                 ON CONFLICT (id) DO UPDATE SET state = excluded.state, body = excluded.body",
                params![service.id, service.state.number(), body],
            )?;
            self.append_log(service.id, appended)?;
            Ok(appended)
        })?;
        // Each entry reaches the server's log once, when it is written,
        // with the service's id for whoever searches the log.
        for entry in appended {
            match entry.severity {
                Severity::Error => {
                    tracing::error!(target: "flotilla::service", service = service.id, "{}", entry.message)
                }
                Severity::Info => {
                    tracing::info!(target: "flotilla::service", service = service.id, "{}", entry.message)
                }
            }
        }
        self.services
            .borrow_mut()
            .insert(service.id, Arc::new(service.clone()));
        Ok(())
    }

    fn delete_service(&self, id: u64) -> anyhow::Result<()> {
        self.in_transaction(|| -> anyhow::Result<()> {
            self.db
                .execute("DELETE FROM services WHERE id = ?1", params![id])?;
            self.db
                .execute("DELETE FROM service_log WHERE service_id = ?1", params![id])?;
            Ok(())
        })?;
        self.services.borrow_mut().remove(&id);
        Ok(())
    }

    fn service(&self, id: u64) -> anyhow::Result<Option<Service>> {
        Ok(self.shared_service(id)?.map(|s| (*s).clone()))
    }

    fn shared_service(&self, id: u64) -> anyhow::Result<Option<Arc<Service>>> {
        self.drop_stale_caches();
        self.cached_service(id)
    }

    fn services(&self) -> anyhow::Result<Vec<Arc<Service>>> {
        // One check of the caches for the whole list.
        self.drop_stale_caches();
        let mut out = Vec::new();
        for id in self.service_ids()? {
            // A service deleted between the two reads is simply not listed.
            out.extend(self.cached_service(id)?);
        }
        Ok(out)
    }

    fn service_ids(&self) -> anyhow::Result<Vec<u64>> {
        self.db
            .query_ids("SELECT id FROM services ORDER BY id", params![])
    }

    fn next_service_template_id(&self) -> anyhow::Result<u64> {
        self.next_id("service_templates")
    }

    fn save_service_template(&self, doc: &ServiceTemplateDoc) -> anyhow::Result<()> {
        self.db.execute(
            "INSERT INTO service_templates (id, body) VALUES (?1, ?2)
             ON CONFLICT (id) DO UPDATE SET body = excluded.body",
            params![doc.id, serde_json::to_string(doc)?],
        )?;
        Ok(())
    }

    fn service_template(&self, id: u64) -> anyhow::Result<Option<ServiceTemplateDoc>> {
        self.db
            .query_text(
                "SELECT body FROM service_templates WHERE id = ?1",
                params![id],
            )?
            .map(|b| serde_json::from_str(&b).context("a stored service template is not readable"))
            .transpose()
    }

    fn service_templates(&self) -> anyhow::Result<Vec<ServiceTemplateDoc>> {
        self.db
            .query_texts("SELECT body FROM service_templates ORDER BY id", params![])?
            .iter()
            .map(|b| serde_json::from_str(b).context("a stored service template is not readable"))
            .collect()
    }

    fn delete_service_template(&self, id: u64) -> anyhow::Result<bool> {
        Ok(self
            .db
            .execute("DELETE FROM service_templates WHERE id = ?1", params![id])?
            > 0)
    }
}

impl<D: Database> SqlStore<D> {
    /// A service from the cache, or read (and cached); the caller checked
    /// the cache is fresh.
    fn cached_service(&self, id: u64) -> anyhow::Result<Option<Arc<Service>>> {
        if let Some(service) = self.services.borrow().get(&id) {
            return Ok(Some(service.clone()));
        }
        let Some(body) = self
            .db
            .query_text("SELECT body FROM services WHERE id = ?1", params![id])?
        else {
            return Ok(None);
        };
        let mut service: Service =
            serde_json::from_str(&body).context("a stored service is not readable")?;
        service.log = self.service_log(id)?;
        let service = Arc::new(service);
        self.services.borrow_mut().insert(id, service.clone());
        Ok(Some(service))
    }

    fn append_log(&self, id: u64, entries: &[LogEntry]) -> anyhow::Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut seq = self
            .db
            .query_integer(
                "SELECT COALESCE(MAX(seq) + 1, 0) FROM service_log WHERE service_id = ?1",
                params![id],
            )?
            .unwrap_or(0);
        for entry in entries {
            self.db.execute(
                "INSERT INTO service_log (service_id, seq, time_ms, severity, message)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    id,
                    seq,
                    entry.time_ms,
                    severity_text(entry.severity),
                    entry.message.as_str()
                ],
            )?;
            seq += 1;
        }
        self.db.execute(
            "DELETE FROM service_log WHERE service_id = ?1 AND seq < ?2",
            params![id, seq - LOG_RETAINED],
        )?;
        Ok(())
    }

    /// The last `LOG_KEPT` entries of a service's log, oldest first.
    fn service_log(&self, id: u64) -> anyhow::Result<Vec<LogEntry>> {
        let rows = self.db.query(
            "SELECT time_ms, severity, message FROM service_log
             WHERE service_id = ?1 ORDER BY seq DESC LIMIT ?2",
            params![id, LOG_KEPT as u64],
        )?;
        let mut log = Vec::new();
        for mut row in rows {
            log.push(LogEntry {
                time_ms: row.id(0)?,
                severity: serde_json::from_value(Value::String(row.text(1)?))
                    .context("a stored log entry is not readable")?,
                message: row.text(2)?,
            });
        }
        log.reverse();
        Ok(log)
    }
}
