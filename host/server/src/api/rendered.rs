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
    answers: VersionedAnswers<u64, Names>,
}

impl RenderedServices {
    pub(super) fn get(&self, service: &Arc<Service>, names: &Names) -> Option<Bytes> {
        self.answers.get(&service.id, service, names)
    }

    pub(super) fn put(&self, service: &Arc<Service>, names: Names, body: Bytes) {
        self.answers.put(service.id, service, names, body);
    }

    /// A service that is gone: its answer goes with it.
    pub(super) fn forget(&self, id: u64) {
        self.answers.forget(&id);
    }
}

/// Answers rendered from a service, each kept under a key `K` for the
/// version of the service it was rendered from and a tag `T` of whatever
/// else it depends on (the owner's names, the VMs' reports), served only
/// while both still hold. The API's `GET /service/:id` and OneGate's
/// `GET /service` keep theirs here.
pub(crate) struct VersionedAnswers<K, T> {
    inner: Mutex<Answers<K, T>>,
}

struct Answers<K, T> {
    by_key: HashMap<K, Answer<T>>,
    /// Past this many entries, entries of versions the store has let go
    /// of are dropped before the next is added, so the map stays near the
    /// number of services shown rather than growing with every change.
    sweep_at: usize,
}

struct Answer<T> {
    version: Weak<Service>,
    tag: T,
    body: Bytes,
}

impl<K, T> Default for VersionedAnswers<K, T> {
    fn default() -> Self {
        VersionedAnswers {
            inner: Mutex::new(Answers {
                by_key: HashMap::new(),
                sweep_at: 0,
            }),
        }
    }
}

/// The least `sweep_at`: small maps are not worth sweeping.
pub(crate) const SWEEP_AT_LEAST: usize = 1024;

impl<K: std::hash::Hash + Eq, T: PartialEq> VersionedAnswers<K, T> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Answers<K, T>> {
        // Every change is one insert or remove: a panic elsewhere cannot
        // leave the map half written.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The answer kept under `key`, if it was rendered from this version
    /// of `service` and with this `tag`.
    pub(crate) fn get(&self, key: &K, service: &Arc<Service>, tag: &T) -> Option<Bytes> {
        let answers = self.lock();
        let a = answers.by_key.get(key)?;
        (std::ptr::eq(a.version.as_ptr(), Arc::as_ptr(service)) && a.tag == *tag)
            .then(|| a.body.clone())
    }

    pub(crate) fn put(&self, key: K, service: &Arc<Service>, tag: T, body: Bytes) {
        let mut answers = self.lock();
        if answers.by_key.len() >= answers.sweep_at.max(SWEEP_AT_LEAST) {
            answers.by_key.retain(|_, a| a.version.strong_count() > 0);
            answers.sweep_at = answers.by_key.len() * 2;
        }
        answers.by_key.insert(
            key,
            Answer {
                version: Arc::downgrade(service),
                tag,
                body,
            },
        );
    }

    pub(crate) fn forget(&self, key: &K) {
        self.lock().by_key.remove(key);
    }

    /// How many answers are kept (for tests of the sweep).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().by_key.len()
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
        let left = rendered.answers.len();
        assert!(left < SWEEP_AT_LEAST, "{left} entries");
        assert!(kept.iter().all(|s| rendered.get(s, &names("a")).is_some()));
    }
}
