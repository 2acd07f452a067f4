//! What `GET /metrics` (`system.rs`) shows, in Prometheus' text format:
//! services and roles per state, plugin calls and faults, and the count
//! and latency of API requests per route. Request latency is recorded by
//! a middleware; the rest is read from the store and the registry at
//! scrape time, so a scrape always agrees with what the API shows.

use crate::registry::PluginSummary;
use crate::service::lifecycle::Service;
use crate::service::state::{RoleState, ServiceState};
use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeLabelValue, EncodeMetric, LabelValueEncoder,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Instant;

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// A request's method as a label value; cloning a standard method does not
/// allocate.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct MethodLabel(Method);

impl EncodeLabelValue for MethodLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> std::fmt::Result {
        encoder.write_str(self.0.as_str())
    }
}

/// A route pattern (`/service/{id}`, not one series per id) as a label
/// value; axum shares the pattern, so keying by it does not allocate.
#[derive(Clone, Debug)]
struct RouteLabel(MatchedPath);

impl PartialEq for RouteLabel {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

impl Eq for RouteLabel {}

impl Hash for RouteLabel {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.as_str().hash(state);
    }
}

impl EncodeLabelValue for RouteLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> std::fmt::Result {
        encoder.write_str(self.0.as_str())
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: MethodLabel,
    route: RouteLabel,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    method: MethodLabel,
    route: RouteLabel,
    status: u16,
}

/// Counts and latencies of API requests, per route pattern and method.
#[derive(Clone, Debug)]
pub struct HttpMetrics {
    requests: Family<StatusLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
}

impl Default for HttpMetrics {
    fn default() -> HttpMetrics {
        HttpMetrics {
            requests: Family::default(),
            latency: Family::new_with_constructor(|| Histogram::new(BUCKETS)),
        }
    }
}

impl HttpMetrics {
    fn record(&self, method: &Method, route: &MatchedPath, status: u16, seconds: f64) {
        let method = MethodLabel(method.clone());
        let route = RouteLabel(route.clone());
        self.latency
            .get_or_create(&RouteLabels {
                method: method.clone(),
                route: route.clone(),
            })
            .observe(seconds);
        self.requests
            .get_or_create(&StatusLabels {
                method,
                route,
                status,
            })
            .inc();
    }
}

/// What one scrape shows, in the order the families are written: the
/// states and plugin counters as read now, then the request metrics.
#[derive(Debug)]
struct Scrape {
    /// None without an engine.
    states: Option<StateCounts>,
    /// Engine rounds completed; None without an engine.
    rounds: Option<u64>,
    plugins: Vec<PluginSummary>,
    /// Per listener: its name, connections open now and most open at once.
    connections: Vec<(&'static str, u64, u64)>,
    http: HttpMetrics,
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        if let Some(StateCounts { services, roles }) = &self.states {
            let mut family = encoder.encode_descriptor(
                "flotilla_services",
                "Services by state.",
                None,
                MetricType::Gauge,
            )?;
            for (state, n) in services {
                ConstGauge::new(*n).encode(family.encode_family(&[("state", state.as_str())])?)?;
            }
            let mut family = encoder.encode_descriptor(
                "flotilla_roles",
                "Roles of all services by state.",
                None,
                MetricType::Gauge,
            )?;
            for (state, n) in roles {
                ConstGauge::new(*n).encode(family.encode_family(&[("state", state.as_str())])?)?;
            }
        }
        if let Some(rounds) = self.rounds {
            ConstCounter::new(rounds).encode(encoder.encode_descriptor(
                "flotilla_engine_rounds",
                "Engine rounds completed.",
                None,
                MetricType::Counter,
            )?)?;
        }
        self.plugin_counter(
            &mut encoder,
            "flotilla_plugin_calls",
            "Calls into each plugin.",
            |p| p.calls,
        )?;
        self.plugin_counter(
            &mut encoder,
            "flotilla_plugin_faults",
            "Plugin calls that trapped, timed out, ran out of memory or were refused a capability.",
            |p| p.faults,
        )?;
        self.connection_gauge(
            &mut encoder,
            "flotilla_connections_open",
            "Connections served now, by listener.",
            |(_, open, _)| *open,
        )?;
        self.connection_gauge(
            &mut encoder,
            "flotilla_connections_open_max",
            "The most connections served at once since the start, by listener.",
            |(_, _, most)| *most,
        )?;
        // Written even before the first request, so every scrape has the
        // same families.
        self.http.requests.encode(encoder.encode_descriptor(
            "flotilla_http_requests",
            "API requests by route and status.",
            None,
            MetricType::Counter,
        )?)?;
        self.http.latency.encode(encoder.encode_descriptor(
            "flotilla_http_request_duration_seconds",
            "Time to answer an API request.",
            None,
            MetricType::Histogram,
        )?)
    }
}

impl Scrape {
    fn connection_gauge(
        &self,
        encoder: &mut DescriptorEncoder,
        name: &str,
        help: &str,
        value: impl Fn(&(&'static str, u64, u64)) -> u64,
    ) -> std::fmt::Result {
        let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
        for c in &self.connections {
            ConstGauge::new(value(c)).encode(family.encode_family(&[("listener", c.0)])?)?;
        }
        Ok(())
    }

    fn plugin_counter(
        &self,
        encoder: &mut DescriptorEncoder,
        name: &str,
        help: &str,
        value: impl Fn(&PluginSummary) -> u64,
    ) -> std::fmt::Result {
        let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
        for p in &self.plugins {
            let labels = [("plugin", p.id.as_str()), ("kind", p.kind.as_str())];
            ConstCounter::new(value(p)).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

/// Middleware: time every request that matched a route.
pub async fn track(State(metrics): State<HttpMetrics>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    if let Some(route) = route {
        metrics.record(
            &method,
            &route,
            response.status().as_u16(),
            started.elapsed().as_secs_f64(),
        );
    }
    response
}

/// The text of one scrape: the states of `services` and the engine's
/// rounds (`None` without an engine), the plugins' counters, each
/// listener's connections and the requests so far.
pub fn scrape(
    engine: Option<(&[Arc<Service>], u64)>,
    plugins: Vec<PluginSummary>,
    http: &HttpMetrics,
) -> Result<String, std::fmt::Error> {
    let connections = [
        ("api", &super::listener::API_CONNECTIONS),
        ("onegate", &super::listener::ONEGATE_CONNECTIONS),
    ];
    render(Scrape {
        states: engine.map(|(services, _)| count_states(services)),
        rounds: engine.map(|(_, rounds)| rounds),
        plugins,
        connections: connections
            .iter()
            .map(|(name, c)| (*name, c.open(), c.most()))
            .collect(),
        http: http.clone(),
    })
}

/// Every state with how many services (roles) are in it, zeros included,
/// so a series does not vanish when its last service leaves the state.
#[derive(Debug)]
struct StateCounts {
    services: Vec<(ServiceState, u64)>,
    roles: Vec<(RoleState, u64)>,
}

fn count_states(services: &[Arc<Service>]) -> StateCounts {
    let mut by_state: Vec<(ServiceState, u64)> =
        ServiceState::ALL.iter().map(|s| (*s, 0)).collect();
    let mut roles_by_state: Vec<(RoleState, u64)> =
        RoleState::ALL.iter().map(|s| (*s, 0)).collect();
    for s in services {
        if let Some(entry) = by_state.iter_mut().find(|(st, _)| *st == s.state) {
            entry.1 += 1;
        }
        for r in &s.roles {
            if let Some(entry) = roles_by_state.iter_mut().find(|(st, _)| *st == r.state) {
                entry.1 += 1;
            }
        }
    }
    StateCounts {
        services: by_state,
        roles: roles_by_state,
    }
}

fn render(scrape: Scrape) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(scrape));
    let mut out = String::new();
    prometheus_text::encode(&mut out, &registry)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    /// Requests through a router, so each carries its matched route as in
    /// the server, recorded as `track` records them.
    async fn serve(metrics: &HttpMetrics, requests: &[(Method, &str)]) {
        use tower_service::Service as _;
        async fn answer(
            State(metrics): State<HttpMetrics>,
            method: Method,
            route: MatchedPath,
            axum::extract::Path(status): axum::extract::Path<u16>,
        ) -> StatusCode {
            metrics.record(&method, &route, status, 0.003);
            StatusCode::from_u16(status).unwrap_or(StatusCode::OK)
        }
        let mut router = axum::Router::new()
            .route(
                "/service/{status}",
                axum::routing::get(answer).delete(answer),
            )
            .with_state(metrics.clone());
        for (method, path) in requests {
            let request = Request::builder()
                .method(method)
                .uri(*path)
                .body(axum::body::Body::empty())
                .unwrap();
            router.call(request).await.unwrap();
        }
    }

    fn plugin(id: &str, calls: u64, faults: u64) -> PluginSummary {
        serde_json::from_value(serde_json::json!({
            "id": id, "kind": "driver", "version": "0.1.0", "api": "0.1.0",
            "source": "built-in", "status": "loaded", "allowed_outbound_hosts": [],
            "timeout_ms": 1000, "memory_mb": 64, "calls": calls, "faults": faults,
            "digest": "",
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn writes_every_family_in_the_text_format() {
        let metrics = HttpMetrics::default();
        serve(
            &metrics,
            &[(Method::GET, "/service/200"), (Method::GET, "/service/200")],
        )
        .await;
        let states = count_states(&[]);
        let text = render(Scrape {
            states: Some(states),
            rounds: Some(12),
            plugins: vec![plugin("sim", 7, 1)],
            connections: vec![("api", 2, 5)],
            http: metrics,
        })
        .unwrap();
        let expected_start = "\
# HELP flotilla_services Services by state.
# TYPE flotilla_services gauge
flotilla_services{state=\"PENDING\"} 0
";
        assert!(text.starts_with(expected_start), "{text}");
        for line in [
            "flotilla_roles{state=\"RUNNING\"} 0\n",
            "# HELP flotilla_engine_rounds_total Engine rounds completed.\n\
             # TYPE flotilla_engine_rounds_total counter\n\
             flotilla_engine_rounds_total 12\n",
            "# TYPE flotilla_connections_open gauge\n\
             flotilla_connections_open{listener=\"api\"} 2\n",
            "# TYPE flotilla_connections_open_max gauge\n\
             flotilla_connections_open_max{listener=\"api\"} 5\n",
            "# HELP flotilla_plugin_calls_total Calls into each plugin.\n\
             # TYPE flotilla_plugin_calls_total counter\n\
             flotilla_plugin_calls_total{plugin=\"sim\",kind=\"driver\"} 7\n",
            "# TYPE flotilla_plugin_faults_total counter\n\
             flotilla_plugin_faults_total{plugin=\"sim\",kind=\"driver\"} 1\n",
            "# HELP flotilla_http_requests_total API requests by route and status.\n\
             # TYPE flotilla_http_requests_total counter\n\
             flotilla_http_requests_total{method=\"GET\",route=\"/service/{status}\",status=\"200\"} 2\n",
            "# HELP flotilla_http_request_duration_seconds Time to answer an API request.\n\
             # TYPE flotilla_http_request_duration_seconds histogram\n\
             flotilla_http_request_duration_seconds_bucket{method=\"GET\",route=\"/service/{status}\",le=\"0.0005\"} 0\n",
            "flotilla_http_request_duration_seconds_bucket{method=\"GET\",route=\"/service/{status}\",le=\"0.005\"} 2\n",
            "flotilla_http_request_duration_seconds_bucket{method=\"GET\",route=\"/service/{status}\",le=\"+Inf\"} 2\n",
            "flotilla_http_request_duration_seconds_sum{method=\"GET\",route=\"/service/{status}\"} 0.006\n",
            "flotilla_http_request_duration_seconds_count{method=\"GET\",route=\"/service/{status}\"} 2\n",
        ] {
            assert!(text.contains(line), "no {line:?} in\n{text}");
        }
    }

    #[tokio::test]
    async fn counts_each_status_of_a_route_apart() {
        let metrics = HttpMetrics::default();
        serve(
            &metrics,
            &[
                (Method::DELETE, "/service/204"),
                (Method::DELETE, "/service/404"),
                (Method::DELETE, "/service/404"),
            ],
        )
        .await;
        let text = render(Scrape {
            states: None,
            rounds: None,
            plugins: Vec::new(),
            connections: Vec::new(),
            http: metrics,
        })
        .unwrap();
        let route = "method=\"DELETE\",route=\"/service/{status}\"";
        for line in [
            format!("flotilla_http_requests_total{{{route},status=\"204\"}} 1\n"),
            format!("flotilla_http_requests_total{{{route},status=\"404\"}} 2\n"),
            format!("flotilla_http_request_duration_seconds_count{{{route}}} 3\n"),
        ] {
            assert!(text.contains(&line), "no {line:?} in\n{text}");
        }
        // Without an engine there are no states to count; the plugin
        // families are written, empty.
        assert!(!text.contains("flotilla_services"), "{text}");
        assert!(!text.contains("flotilla_engine_rounds"), "{text}");
        assert!(
            text.contains("# TYPE flotilla_plugin_faults_total counter\n# HELP"),
            "{text}"
        );
    }
}
