//! What VMs report about themselves, in memory for every read (the engine
//! reads it each round, siblings through `GET /service`) and written to
//! the store in one transaction a second: a thousand VMs reporting every
//! second cost one write a second, not a thousand, and never hold the
//! store's lock against the API for long. A crash loses at most the last
//! second of reports, which VMs send again.

use crate::plugin::KeyValue;
use crate::store::{Store, VmReport};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// The most attributes one VM keeps, and the longest value: a VM that
/// reports its whole environment must not grow the server without bound.
pub const MAX_ATTRIBUTES: usize = 256;
pub const MAX_VALUE_BYTES: usize = 16 * 1024;
/// All of a VM's attributes, keys and values.
pub const MAX_TOTAL_BYTES: usize = 64 * 1024;

type Key = (u64, String);

#[derive(Default)]
pub struct Reports {
    /// By (service id, operation id).
    values: Mutex<HashMap<Key, Map<String, Value>>>,
    /// Changed since the last write to the store.
    dirty: Mutex<HashSet<Key>>,
    /// By service: how many times what its VMs reported changed, so an
    /// answer rendered from them can tell it is still current.
    generations: Mutex<HashMap<u64, u64>>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum ReportError {
    TooMany(usize),
    TooLarge(usize),
}

impl Reports {
    /// What the store kept from before a restart.
    pub fn load(saved: Vec<VmReport>) -> Reports {
        let reports = Reports::default();
        {
            let mut values = reports.values.lock().unwrap_or_else(|e| e.into_inner());
            for (service, operation, attributes) in saved {
                values.insert((service, operation), attributes);
            }
        }
        reports
    }

    /// Merge `set` into a VM's attributes and remove `erase`.
    pub fn update(
        &self,
        service: u64,
        operation: &str,
        set: Vec<(String, String)>,
        erase: &[String],
    ) -> Result<(), ReportError> {
        let key = (service, operation.to_string());
        {
            let mut values = self.values.lock().unwrap_or_else(|e| e.into_inner());
            let current = values.entry(key.clone()).or_default();
            let mut next = current.clone();
            for k in erase {
                next.retain(|existing, _| !existing.eq_ignore_ascii_case(k));
            }
            for (k, v) in set {
                next.retain(|existing, _| !existing.eq_ignore_ascii_case(&k));
                next.insert(k, Value::String(v));
            }
            if next.len() > MAX_ATTRIBUTES {
                return Err(ReportError::TooMany(next.len()));
            }
            let bytes: usize = next
                .iter()
                .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
                .sum();
            if bytes > MAX_TOTAL_BYTES {
                return Err(ReportError::TooLarge(bytes));
            }
            // A VM that says again what it said changes nothing.
            if *current == next {
                return Ok(());
            }
            *current = next;
            self.changed(service);
        }
        self.dirty
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key);
        Ok(())
    }

    fn changed(&self, service: u64) {
        let mut generations = self.generations.lock().unwrap_or_else(|e| e.into_inner());
        *generations.entry(service).or_default() += 1;
    }

    /// How many times what the VMs of `service` reported changed.
    pub fn generation(&self, service: u64) -> u64 {
        self.generations
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&service)
            .copied()
            .unwrap_or_default()
    }

    /// A VM's attributes.
    pub fn get(&self, service: u64, operation: &str) -> Map<String, Value> {
        self.values
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(service, operation.to_string()))
            .cloned()
            .unwrap_or_default()
    }

    pub fn key_values(&self, service: u64, operation: &str) -> Vec<KeyValue> {
        self.get(service, operation)
            .into_iter()
            .filter_map(|(k, v)| Some(KeyValue::new(k, crate::service::inputs::as_text(&v)?)))
            .collect()
    }

    /// Forget VMs of `service` that `keep` refuses (they left it); the
    /// store forgets them in the engine's round.
    pub fn forget(&self, service: u64, keep: &dyn Fn(&str) -> bool) {
        let forgotten = {
            let mut values = self.values.lock().unwrap_or_else(|e| e.into_inner());
            let before = values.len();
            values.retain(|(s, op), _| *s != service || keep(op));
            values.len() < before
        };
        if forgotten {
            self.changed(service);
        }
    }

    /// Write what changed since the last call, in one transaction.
    pub fn flush(&self, store: &dyn Store) -> anyhow::Result<usize> {
        let dirty: Vec<Key> = self
            .dirty
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .collect();
        if dirty.is_empty() {
            return Ok(0);
        }
        let batch: Vec<VmReport> = {
            let values = self.values.lock().unwrap_or_else(|e| e.into_inner());
            dirty
                .iter()
                .filter_map(|k| Some((k.0, k.1.clone(), values.get(k)?.clone())))
                .collect()
        };
        let written = store.save_vm_attributes(&batch);
        if written.is_err() {
            // Kept dirty: the next flush tries again.
            self.dirty
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(dirty);
        }
        written.map(|()| batch.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_merge_erase_and_are_bounded() {
        let r = Reports::default();
        r.update(
            1,
            "op",
            vec![("READY".into(), "YES".into()), ("A".into(), "1".into())],
            &[],
        )
        .unwrap();
        let before = r.generation(1);
        r.update(1, "op", vec![("a".into(), "2".into())], &["ready".into()])
            .unwrap();
        assert_eq!(r.generation(1), before + 1, "a change is a new generation");
        r.update(1, "op", vec![("a".into(), "2".into())], &[])
            .unwrap();
        assert_eq!(r.generation(1), before + 1, "saying it again is not");
        assert_eq!(r.generation(2), 0);
        assert_eq!(
            r.get(1, "op"),
            serde_json::json!({"a": "2"}).as_object().unwrap().clone()
        );
        let many: Vec<(String, String)> = (0..MAX_ATTRIBUTES + 1)
            .map(|i| (format!("K{i}"), "v".into()))
            .collect();
        assert_eq!(
            r.update(1, "op", many, &[]),
            Err(ReportError::TooMany(MAX_ATTRIBUTES + 2))
        );
        assert_eq!(r.get(1, "op").len(), 1, "a refused report changes nothing");
        let before = r.generation(1);
        r.forget(1, &|_| true);
        assert_eq!(
            r.generation(1),
            before,
            "nothing forgotten, nothing changed"
        );
        r.forget(1, &|_| false);
        assert!(r.get(1, "op").is_empty());
        assert_eq!(r.generation(1), before + 1);
    }
}
