//! Metrics, and purge_done.

use super::Scenario;
use crate::common::http;

pub(super) fn metrics_and_purge_done(cx: &Scenario) {
    let server = &cx.server;
    let admin = cx.admin();
    let alice = cx.alice();

    // Metrics: services and roles per state, requests per route.
    let (status, metrics) = http(server.0.server.api, "GET", "/metrics", &[], "").unwrap();
    assert_eq!(status, 200);
    assert!(
        metrics.contains("flotilla_services{state=\"RUNNING\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("flotilla_roles{state=\"RUNNING\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains("flotilla_plugin_calls_total{plugin=\"sim\",kind=\"driver\"}"));
    assert!(metrics.contains(
        "flotilla_http_requests_total{method=\"DELETE\",route=\"/user/{id}\",status=\"204\"} 1"
    ));
    assert!(metrics.contains("flotilla_http_request_duration_seconds_bucket{method=\"GET\",route=\"/service/{id}\",le=\"+Inf\"}"));

    // purge_done purges what the caller may manage (tests/api/clients.rs
    // checks whose): anyone may ask.
    assert_eq!(
        server.status("POST", "/service_pool/purge_done", alice, Some("{}")),
        204
    );
    assert_eq!(
        server.status("POST", "/service_pool/purge_done", admin, None),
        204
    );
}
