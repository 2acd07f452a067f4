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

use crate::api::rendered::VersionedAnswers;
use crate::service::lifecycle::Service;
use axum::body::Bytes;
use std::sync::Arc;

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

/// By service id and whether extended; tagged with the reports
/// generation and the variant rendered.
#[derive(Default)]
pub(super) struct RenderedServices {
    answers: VersionedAnswers<(u64, bool), (u64, Variant)>,
}

impl RenderedServices {
    fn key(v: &Version<'_>) -> (u64, bool) {
        (v.service.id, matches!(v.variant, Variant::Extended { .. }))
    }

    pub(super) fn get(&self, v: &Version<'_>) -> Option<Bytes> {
        // The tag is compared by value: cloning the variant's names is
        // cheap next to rendering.
        self.answers
            .get(&Self::key(v), v.service, &(v.reports, v.variant.clone()))
    }

    pub(super) fn put(&self, v: Version<'_>, body: Bytes) {
        let key = Self::key(&v);
        self.answers
            .put(key, v.service, (v.reports, v.variant), body);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::rendered::SWEEP_AT_LEAST;

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
        assert!(r.answers.len() < SWEEP_AT_LEAST);
        assert!(
            kept.iter()
                .all(|s| r.get(&version(s, 0, Variant::Plain)).is_some())
        );
    }
}
