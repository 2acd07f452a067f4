//! `GET /service` answers as rendered, kept per version of a service and
//! of what its VMs reported.
//!
//! Every VM of a service may read the whole service once a second: a
//! thousand VMs rendering a thousand nodes each is a million nodes a
//! second. An answer depends on the service (the store replaces a
//! service's `Arc` whenever it writes it, so the allocation is the
//! version; a `Weak` keeps that allocation from being reused without
//! keeping the old version alive), on what its VMs reported (the
//! [`Reports`](super::Reports) generation of the service) and, with
//! `extended`, on its owner's names. Addresses change only with the
//! service (a VM's are leased before it appears in it and given back
//! after it left), so they need no key of their own.

use crate::service::lifecycle::Service;
use axum::body::Bytes;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

/// Which answer: plain, or `extended` (each VM's owner and group too).
#[derive(Clone, PartialEq, Eq)]
pub(super) enum Variant {
    Plain,
    /// With the owner's user and group names it was rendered with.
    Extended {
        user: String,
        group: String,
    },
}

/// What an answer was rendered from.
pub(super) struct Version<'a> {
    pub service: &'a Arc<Service>,
    /// The service's reports generation, read before rendering.
    pub reports: u64,
    pub variant: Variant,
}

#[derive(Default)]
pub(super) struct RenderedServices {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// By service id, then plain and extended.
    answers: HashMap<(u64, bool), Answer>,
    /// Past this many entries, those of versions the store let go of are
    /// dropped before the next is added.
    sweep_at: usize,
}

struct Answer {
    service: Weak<Service>,
    reports: u64,
    variant: Variant,
    body: Bytes,
}

/// The least `sweep_at`: small maps are not worth sweeping.
const SWEEP_AT_LEAST: usize = 1024;

impl RenderedServices {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Every change is one insert: a panic elsewhere cannot leave the
        // map half written.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn key(v: &Version<'_>) -> (u64, bool) {
        (v.service.id, matches!(v.variant, Variant::Extended { .. }))
    }

    pub(super) fn get(&self, v: &Version<'_>) -> Option<Bytes> {
        let inner = self.lock();
        let a = inner.answers.get(&Self::key(v))?;
        (std::ptr::eq(a.service.as_ptr(), Arc::as_ptr(v.service))
            && a.reports == v.reports
            && a.variant == v.variant)
            .then(|| a.body.clone())
    }

    pub(super) fn put(&self, v: Version<'_>, body: Bytes) {
        let mut inner = self.lock();
        if inner.answers.len() >= inner.sweep_at.max(SWEEP_AT_LEAST) {
            inner.answers.retain(|_, a| a.service.strong_count() > 0);
            inner.sweep_at = inner.answers.len() * 2;
        }
        inner.answers.insert(
            Self::key(&v),
            Answer {
                service: Arc::downgrade(v.service),
                reports: v.reports,
                variant: v.variant,
                body,
            },
        );
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

    fn version(service: &Arc<Service>, reports: u64, variant: Variant) -> Version<'_> {
        Version {
            service,
            reports,
            variant,
        }
    }

    #[test]
    fn an_answer_is_served_only_for_its_service_reports_and_variant() {
        let r = RenderedServices::default();
        let v1 = service(7);
        let extended = Variant::Extended {
            user: "alice".into(),
            group: "users".into(),
        };
        assert!(r.get(&version(&v1, 0, Variant::Plain)).is_none());
        r.put(
            version(&v1, 0, Variant::Plain),
            Bytes::from_static(b"plain"),
        );
        r.put(
            version(&v1, 0, extended.clone()),
            Bytes::from_static(b"ext"),
        );
        assert_eq!(r.get(&version(&v1, 0, Variant::Plain)).unwrap(), "plain");
        assert_eq!(r.get(&version(&v1, 0, extended.clone())).unwrap(), "ext");
        // A VM reported: another answer.
        assert!(r.get(&version(&v1, 1, Variant::Plain)).is_none());
        // The owner renamed: the extended answer changes, the plain not.
        let renamed = Variant::Extended {
            user: "alice2".into(),
            group: "users".into(),
        };
        assert!(r.get(&version(&v1, 0, renamed)).is_none());
        // An equal service in another allocation is another version.
        let v2 = Arc::new((*v1).clone());
        assert!(r.get(&version(&v2, 0, Variant::Plain)).is_none());
    }

    #[test]
    fn answers_of_versions_the_store_let_go_of_are_swept() {
        let r = RenderedServices::default();
        let kept: Vec<Arc<Service>> = (0..10).map(service).collect();
        for s in &kept {
            r.put(version(s, 0, Variant::Plain), Bytes::new());
        }
        for id in 10..SWEEP_AT_LEAST as u64 + 10 {
            r.put(version(&service(id), 0, Variant::Plain), Bytes::new());
        }
        assert!(r.lock().answers.len() < SWEEP_AT_LEAST);
        assert!(
            kept.iter()
                .all(|s| r.get(&version(s, 0, Variant::Plain)).is_some())
        );
    }
}
