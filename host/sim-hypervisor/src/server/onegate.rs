//! The background task that sends the OneGate reports the model says are
//! due (see [`crate::model::onegate`]): a scan every 200 ms, requests over
//! one pooled keep-alive HTTP/1 client, at most 64 in flight, each bounded
//! by 5 s. It holds the hypervisor weakly and ends once it is dropped.

use super::SimHypervisor;
use crate::model::{Delivery, OneGateReport};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

const SCAN_EVERY: Duration = Duration::from_millis(200);
const IN_FLIGHT: usize = 64;
const TIMEOUT: Duration = Duration::from_secs(5);
/// Of an error answer, this many characters are kept.
const ERROR_BODY_CHARS: usize = 200;
/// Answers are read (so the connection can be reused) up to this size.
const BODY_LIMIT: usize = 64 * 1024;

type HttpClient = Client<HttpConnector, Full<Bytes>>;

fn client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(TIMEOUT));
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(IN_FLIGHT)
        .pool_idle_timeout(Duration::from_secs(30))
        .pool_timer(TokioTimer::new())
        .build(connector)
}

pub(super) async fn run(sim: Weak<SimHypervisor>) {
    let client = client();
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut sending = JoinSet::new();
    let mut scans = tokio::time::interval(SCAN_EVERY);
    scans.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        scans.tick().await;
        while sending.try_join_next().is_some() {}
        // Not held across an await: the hypervisor can go at any time.
        let reports = match sim.upgrade() {
            Some(sim) => sim.onegate_due(),
            None => break,
        };
        for report in reports {
            let (client, slots, sim) = (client.clone(), slots.clone(), sim.clone());
            sending.spawn(async move {
                // The semaphore is never closed; a report left unsent stays
                // in flight only until the task set is dropped with the
                // hypervisor.
                let Ok(_slot) = slots.acquire_owned().await else {
                    return;
                };
                let outcome = send(&client, &report).await;
                if let Some(sim) = sim.upgrade() {
                    sim.onegate_record(&report, outcome);
                }
            });
        }
    }
    // Dropping the set aborts the reports still on their way.
}

/// One `PUT /vm`, and whether OneGate accepted it.
async fn send(client: &HttpClient, report: &OneGateReport) -> Delivery {
    match exchange(client, report).await {
        Ok(()) => Delivery::Accepted,
        Err(why) => Delivery::Failed(why.to_string()),
    }
}

/// Why a report was not accepted; it is sent again at the next scan.
#[derive(Debug)]
enum Undelivered {
    /// The request could not be made, or no answer came back from `url`.
    Unsent { url: String, reason: String },
    /// OneGate answered with an error status (and its text, cut short).
    Refused {
        status: http::StatusCode,
        text: String,
    },
    /// No answer from `url` within [`TIMEOUT`].
    TimedOut { url: String },
}

impl std::fmt::Display for Undelivered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Undelivered::Unsent { url, reason } => write!(f, "PUT {url}: {reason}"),
            Undelivered::Refused { status, text } => write!(f, "{status}: {text}"),
            Undelivered::TimedOut { url } => {
                write!(f, "PUT {url}: no answer within {} s", TIMEOUT.as_secs())
            }
        }
    }
}

async fn exchange(client: &HttpClient, report: &OneGateReport) -> Result<(), Undelivered> {
    let unsent = |reason: String| Undelivered::Unsent {
        url: report.url.clone(),
        reason,
    };
    let request = http::Request::put(&report.url)
        .header("X-ONEGATE-TOKEN", &report.token)
        .header("X-ONEGATE-VMID", report.vm_id.to_string())
        .header(http::header::CONTENT_TYPE, "text/plain")
        .body(Full::new(Bytes::from(report.body.clone())))
        .map_err(|e| unsent(e.to_string()))?;
    let exchange = async {
        let response = client
            .request(request)
            .await
            .map_err(|e| unsent(format!("{:#}", anyhow::Error::new(e))))?;
        let status = response.status();
        // Read the answer whole, so the connection goes back to the pool.
        let body = Limited::new(response.into_body(), BODY_LIMIT)
            .collect()
            .await
            .map(|b| b.to_bytes());
        if status.is_success() {
            return Ok(());
        }
        let text = match &body {
            Ok(bytes) => String::from_utf8_lossy(bytes)
                .chars()
                .take(ERROR_BODY_CHARS)
                .collect::<String>(),
            Err(_) => String::new(),
        };
        Err(Undelivered::Refused {
            status,
            text: text.trim().to_string(),
        })
    };
    tokio::time::timeout(TIMEOUT, exchange)
        .await
        .map_err(|_| Undelivered::TimedOut {
            url: report.url.clone(),
        })?
}
