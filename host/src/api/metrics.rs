//! `GET /metrics` in Prometheus' text format: services and roles per
//! state, plugin calls and faults, and the count and latency of API
//! requests per route. Request latency is recorded by a middleware; the
//! rest is read from the store and the registry at scrape time, so a
//! scrape always agrees with what the API shows.

use super::AppState;
use crate::service::state::{RoleState, ServiceState};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default)]
struct RouteStats {
    /// Requests at or under each bound of `BUCKETS` (not cumulative).
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum_seconds: f64,
    statuses: BTreeMap<u16, u64>,
}

/// Counts and latencies of API requests, per route pattern and method
/// (`GET /service/{id}`, not one series per id). Keyed so that recording a
/// request allocates only the first time its route is seen.
#[derive(Default)]
pub struct HttpMetrics {
    routes: Mutex<BTreeMap<String, Vec<(Method, RouteStats)>>>,
}

impl HttpMetrics {
    fn record(&self, method: &Method, route: &str, status: u16, seconds: f64) {
        let mut routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        if !routes.contains_key(route) {
            routes.insert(route.to_string(), Vec::new());
        }
        let Some(methods) = routes.get_mut(route) else {
            return;
        };
        let i = match methods.iter().position(|(m, _)| m == method) {
            Some(i) => i,
            None => {
                methods.push((method.clone(), RouteStats::default()));
                methods.len() - 1
            }
        };
        let stats = &mut methods[i].1;
        if let Some(i) = BUCKETS.iter().position(|b| seconds <= *b) {
            stats.buckets[i] += 1;
        }
        stats.count += 1;
        stats.sum_seconds += seconds;
        *stats.statuses.entry(status).or_default() += 1;
    }

    fn render(&self, out: &mut String) {
        let routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        out.push_str("# HELP flotilla_http_requests_total API requests by route and status.\n");
        out.push_str("# TYPE flotilla_http_requests_total counter\n");
        let series = || {
            routes
                .iter()
                .flat_map(|(route, methods)| methods.iter().map(move |(m, s)| (m, route, s)))
        };
        for (method, route, stats) in series() {
            for (status, n) in &stats.statuses {
                let _ = writeln!(
                    out,
                    "flotilla_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
                );
            }
        }
        out.push_str(
            "# HELP flotilla_http_request_duration_seconds Time to answer an API request.\n",
        );
        out.push_str("# TYPE flotilla_http_request_duration_seconds histogram\n");
        for (method, route, stats) in series() {
            let labels = format!("method=\"{method}\",route=\"{route}\"");
            let mut cumulative = 0;
            for (bound, n) in BUCKETS.iter().zip(stats.buckets) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "flotilla_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "flotilla_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                stats.count
            );
            let _ = writeln!(
                out,
                "flotilla_http_request_duration_seconds_sum{{{labels}}} {}",
                stats.sum_seconds
            );
            let _ = writeln!(
                out,
                "flotilla_http_request_duration_seconds_count{{{labels}}} {}",
                stats.count
            );
        }
    }
}

/// Middleware: time every request that matched a route.
pub async fn track(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    if let Some(route) = route {
        state.metrics.record(
            &method,
            route.as_str(),
            response.status().as_u16(),
            started.elapsed().as_secs_f64(),
        );
    }
    response
}

#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "getMetrics",
    tag = "system",
    summary = "Prometheus metrics",
    responses(
        (status = 200, description = "Prometheus text exposition format 0.0.4: gauges flotilla_services{state}, flotilla_roles{state}; counters flotilla_plugin_calls_total{plugin,kind}, flotilla_plugin_faults_total{plugin,kind}, flotilla_http_requests_total{method,route,status}; histogram flotilla_http_request_duration_seconds{method,route} (_bucket{le}, _sum, _count).", body = String, content_type = "text/plain; version=0.0.4")
    ),
    security(())
)]
pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let mut out = String::new();
    if let Some(engine) = &state.engine {
        let services = match engine.store().services() {
            Ok(services) => services,
            Err(e) => {
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("reading services: {e:#}\n"),
                )
                    .into_response();
            }
        };
        let mut by_state: BTreeMap<u8, u64> = BTreeMap::new();
        let mut roles_by_state: BTreeMap<u8, u64> = BTreeMap::new();
        for s in &services {
            *by_state.entry(s.state.number()).or_default() += 1;
            for r in &s.roles {
                *roles_by_state.entry(r.state.number()).or_default() += 1;
            }
        }
        out.push_str("# HELP flotilla_services Services by state.\n");
        out.push_str("# TYPE flotilla_services gauge\n");
        for st in ServiceState::ALL {
            let n = by_state.get(&st.number()).copied().unwrap_or(0);
            let _ = writeln!(out, "flotilla_services{{state=\"{st}\"}} {n}");
        }
        out.push_str("# HELP flotilla_roles Roles of all services by state.\n");
        out.push_str("# TYPE flotilla_roles gauge\n");
        for st in RoleState::ALL {
            let n = roles_by_state.get(&st.number()).copied().unwrap_or(0);
            let _ = writeln!(out, "flotilla_roles{{state=\"{st}\"}} {n}");
        }
    }
    let plugins = state.registry.summaries();
    out.push_str("# HELP flotilla_plugin_calls_total Calls into each plugin.\n");
    out.push_str("# TYPE flotilla_plugin_calls_total counter\n");
    for p in &plugins {
        let _ = writeln!(
            out,
            "flotilla_plugin_calls_total{{plugin=\"{}\",kind=\"{}\"}} {}",
            p.id, p.kind, p.calls
        );
    }
    out.push_str(
        "# HELP flotilla_plugin_faults_total Plugin calls that trapped, timed out, ran out of memory or were refused a capability.\n",
    );
    out.push_str("# TYPE flotilla_plugin_faults_total counter\n");
    for p in &plugins {
        let _ = writeln!(
            out,
            "flotilla_plugin_faults_total{{plugin=\"{}\",kind=\"{}\"}} {}",
            p.id, p.kind, p.faults
        );
    }
    state.metrics.render(&mut out);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response()
}
