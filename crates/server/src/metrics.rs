//! Prometheus metrics: request counts and latencies per route, events ingested per project.
//!
//! The recorder is global to the process, so it is installed once, on first use, by
//! [`handle`]; several servers in one process (tests) share it.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sextant_model::ProjectId;

/// Histogram buckets for request latency, in seconds.
const LATENCY_BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The process's Prometheus handle, installing the recorder on first call.
pub fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full("http_request_duration_seconds".into()), LATENCY_BUCKETS)
                .expect("static bucket list is not empty");
            match builder.install_recorder() {
                Ok(handle) => handle,
                // Another recorder is installed (an embedding program's): render an empty registry.
                Err(_) => PrometheusBuilder::new().build_recorder().handle(),
            }
        })
        .clone()
}

/// Middleware recording `http_requests_total` and `http_request_duration_seconds`.
pub async fn record_request(request: Request, next: Next) -> Response {
    let route =
        request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string()).unwrap_or_else(|| "unmatched".into());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "route" => route.clone(), "method" => method, "status" => status)
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "route" => route).record(started.elapsed().as_secs_f64());
    response
}

/// Counts events stored for a project.
pub fn events_ingested(project: ProjectId, endpoint: &'static str, count: usize) {
    metrics::counter!("sextant_events_ingested_total", "project_id" => project.to_string(), "endpoint" => endpoint)
        .increment(count as u64);
}

/// Counts what a Lexicon declaration dropped at ingestion: whole events (`what` =
/// `event`) or events that lost dropped properties (`property`).
pub fn lexicon_dropped(project: ProjectId, what: &'static str, count: u64) {
    metrics::counter!("sextant_lexicon_dropped_total", "project_id" => project.to_string(), "what" => what)
        .increment(count);
}

/// Counts values stored although they broke their property's declared type.
pub fn lexicon_violations(project: ProjectId, count: u64) {
    metrics::counter!("sextant_lexicon_type_violations_total", "project_id" => project.to_string()).increment(count);
}
