//! Services and service templates.

use super::Store;
use crate::service::lifecycle::Service;
use anyhow::Context as _;
use rusqlite::{OptionalExtension, params};
use serde_json::Value;
use std::sync::Arc;

/// A stored service template: the validated template document and who
/// owns it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ServiceTemplateDoc {
    pub id: u64,
    pub name: String,
    pub ownership: crate::access::Ownership,
    /// Seconds since the epoch.
    pub registration_time: u64,
    pub body: Value,
}

impl Store {
    pub fn next_service_id(&self) -> anyhow::Result<u64> {
        self.next_id("services")
    }

    /// Write a service; called before the effects of a transition run.
    pub fn save_service(&self, service: &Service) -> anyhow::Result<()> {
        let body = serde_json::to_string(service)?;
        self.db
            .prepare_cached(
                "INSERT OR REPLACE INTO services (id, state, body) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![service.id as i64, service.state.number(), body])?;
        self.services
            .borrow_mut()
            .insert(service.id, Arc::new(service.clone()));
        Ok(())
    }

    pub fn delete_service(&self, id: u64) -> anyhow::Result<()> {
        self.db
            .execute("DELETE FROM services WHERE id = ?1", params![id as i64])?;
        self.services.borrow_mut().remove(&id);
        Ok(())
    }

    pub fn service(&self, id: u64) -> anyhow::Result<Option<Service>> {
        Ok(self.shared_service(id)?.map(|s| (*s).clone()))
    }

    /// A service to read, not to change: no copy is made, so the store's
    /// lock is held for as short a time as possible.
    pub fn shared_service(&self, id: u64) -> anyhow::Result<Option<Arc<Service>>> {
        self.drop_stale_caches();
        if let Some(service) = self.services.borrow().get(&id) {
            return Ok(Some(service.clone()));
        }
        let body: Option<String> = self
            .db
            .prepare_cached("SELECT body FROM services WHERE id = ?1")?
            .query_row(params![id as i64], |r| r.get(0))
            .optional()?;
        let service: Option<Arc<Service>> = body
            .map(|b| serde_json::from_str(&b).context("a stored service is not readable"))
            .transpose()?
            .map(Arc::new);
        if let Some(service) = &service {
            self.services.borrow_mut().insert(id, service.clone());
        }
        Ok(service)
    }

    /// Every service, in one query.
    /// Every service, shared: from the cache, parsing only those not in
    /// it yet.
    pub fn services(&self) -> anyhow::Result<Vec<Arc<Service>>> {
        let mut out = Vec::new();
        for id in self.service_ids()? {
            // A service deleted between the two reads is simply not listed.
            out.extend(self.shared_service(id)?);
        }
        Ok(out)
    }

    pub fn service_ids(&self) -> anyhow::Result<Vec<u64>> {
        let mut stmt = self.db.prepare("SELECT id FROM services ORDER BY id")?;
        let ids = stmt.query_map([], |r| r.get::<_, i64>(0))?;
        Ok(ids
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .map(|i| i as u64)
            .collect())
    }

    pub fn next_service_template_id(&self) -> anyhow::Result<u64> {
        self.next_id("service_templates")
    }

    pub fn save_service_template(&self, doc: &ServiceTemplateDoc) -> anyhow::Result<()> {
        self.db.execute(
            "INSERT OR REPLACE INTO service_templates (id, body) VALUES (?1, ?2)",
            params![doc.id as i64, serde_json::to_string(doc)?],
        )?;
        Ok(())
    }

    pub fn service_template(&self, id: u64) -> anyhow::Result<Option<ServiceTemplateDoc>> {
        let body: Option<String> = self
            .db
            .query_row(
                "SELECT body FROM service_templates WHERE id = ?1",
                params![id as i64],
                |r| r.get(0),
            )
            .optional()?;
        body.map(|b| serde_json::from_str(&b).context("a stored service template is not readable"))
            .transpose()
    }

    pub fn service_templates(&self) -> anyhow::Result<Vec<ServiceTemplateDoc>> {
        let mut stmt = self
            .db
            .prepare("SELECT body FROM service_templates ORDER BY id")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for body in rows {
            out.push(
                serde_json::from_str(&body?)
                    .context("a stored service template is not readable")?,
            );
        }
        Ok(out)
    }

    pub fn delete_service_template(&self, id: u64) -> anyhow::Result<bool> {
        Ok(self.db.execute(
            "DELETE FROM service_templates WHERE id = ?1",
            params![id as i64],
        )? > 0)
    }
}
