//! Rendered `GET /service/:id` answers, kept per version of a service.

use super::documents::Names;
use crate::service::lifecycle::Service;
use axum::body::Bytes;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

/// `GET /service/:id` answers as rendered, one per service. Building the
/// `DOCUMENT` (a JSON tree of the template, roles, VMs and log) costs far
/// more than serving it, and a service changes seldom compared with how
/// often it is read. An answer is valid for the version of the service it
/// was rendered from: the store replaces a service's `Arc` whenever it
/// writes the service (and drops them all when another connection writes),
/// so the allocation is the version. A `Weak` keeps that allocation from
/// being reused without keeping the old version alive. The owner's names
/// are compared too: renaming a user or group does not touch the service.
#[derive(Default)]
pub struct RenderedServices {
    inner: Mutex<Rendered>,
}

#[derive(Default)]
struct Rendered {
    documents: HashMap<u64, RenderedDocument>,
    /// Past this many entries, entries of versions the store has let go
    /// of are dropped before the next is added, so the map stays near the
    /// number of services shown rather than growing with every change.
    sweep_at: usize,
}

struct RenderedDocument {
    version: Weak<Service>,
    names: Names,
    body: Bytes,
}

/// The least `sweep_at`: small maps are not worth sweeping.
const SWEEP_AT_LEAST: usize = 1024;

impl RenderedServices {
    fn lock(&self) -> std::sync::MutexGuard<'_, Rendered> {
        // Every change is one insert or remove: a panic elsewhere cannot
        // leave the map half written.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn get(&self, service: &Arc<Service>, names: &Names) -> Option<Bytes> {
        let rendered = self.lock();
        let doc = rendered.documents.get(&service.id)?;
        (std::ptr::eq(doc.version.as_ptr(), Arc::as_ptr(service)) && doc.names == *names)
            .then(|| doc.body.clone())
    }

    pub(super) fn put(&self, service: &Arc<Service>, names: Names, body: Bytes) {
        let mut rendered = self.lock();
        if rendered.documents.len() >= rendered.sweep_at.max(SWEEP_AT_LEAST) {
            rendered
                .documents
                .retain(|_, d| d.version.strong_count() > 0);
            rendered.sweep_at = rendered.documents.len() * 2;
        }
        rendered.documents.insert(
            service.id,
            RenderedDocument {
                version: Arc::downgrade(service),
                names,
                body,
            },
        );
    }

    /// A service that is gone: its answer goes with it.
    pub(super) fn forget(&self, id: u64) {
        self.lock().documents.remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(id: u64) -> Arc<Service> {
        let template = crate::service::parse_template(&serde_json::json!({
            "name": "s", "roles": [{"name": "r", "type": "vm", "template_id": 0}]
        }))
        .unwrap();
        Arc::new(Service::new(id, template, 0, 1000))
    }

    fn names(user: &str) -> Names {
        Names {
            user: user.into(),
            group: "oneadmin".into(),
        }
    }

    #[test]
    fn a_rendered_service_is_served_only_for_its_version_and_names() {
        let rendered = RenderedServices::default();
        let v1 = service(7);
        assert!(rendered.get(&v1, &names("alice")).is_none());
        rendered.put(&v1, names("alice"), Bytes::from_static(b"v1"));
        assert_eq!(rendered.get(&v1, &names("alice")).unwrap(), "v1");
        // Renaming the owner changes the document, not the service.
        assert!(rendered.get(&v1, &names("alice2")).is_none());
        // An equal service in another allocation is another version.
        let v2 = Arc::new((*v1).clone());
        assert!(rendered.get(&v2, &names("alice")).is_none());
        rendered.put(&v2, names("alice"), Bytes::from_static(b"v2"));
        assert!(rendered.get(&v1, &names("alice")).is_none());
        assert_eq!(rendered.get(&v2, &names("alice")).unwrap(), "v2");
        rendered.forget(7);
        assert!(rendered.get(&v2, &names("alice")).is_none());
    }

    #[test]
    fn answers_of_versions_the_store_let_go_of_are_swept() {
        let rendered = RenderedServices::default();
        let kept: Vec<Arc<Service>> = (0..10).map(service).collect();
        for s in &kept {
            rendered.put(s, names("a"), Bytes::new());
        }
        for id in 10..SWEEP_AT_LEAST as u64 + 10 {
            // Dropped at once, as the store drops a replaced version.
            rendered.put(&service(id), names("a"), Bytes::new());
        }
        let left = rendered.lock().documents.len();
        assert!(left < SWEEP_AT_LEAST, "{left} entries");
        assert!(kept.iter().all(|s| rendered.get(s, &names("a")).is_some()));
    }
}
