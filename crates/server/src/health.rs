//! Liveness, readiness and metrics endpoints.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::state::AppState;
use sextant_api::health::Health;

/// `GET /healthz`: the process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", summary = "Liveness",
    responses((status = 200, description = "The process is up", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health::of("ok", None))
}

/// `GET /readyz`: the event store is open and the control plane answers.
#[utoipa::path(get, path = "/readyz", tag = "operations", summary = "Readiness: the store is open and the control plane answers",
    responses(
        (status = 200, description = "Ready", body = Health),
        (status = 503, description = "Shutting down, or the control plane is unreachable", body = Health)
    ))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    if !state.is_ready() {
        return (StatusCode::SERVICE_UNAVAILABLE, Json(Health::of("shutting_down", None))).into_response();
    }
    match state.metadata.ping().await {
        Ok(()) => Json(Health::of("ready", None)).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            let answer = Health::of("unavailable", Some("control plane unreachable"));
            (StatusCode::SERVICE_UNAVAILABLE, Json(answer)).into_response()
        }
    }
}

/// `GET /metrics`: Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "operations", summary = "Prometheus metrics",
    responses((status = 200, description = "Prometheus text format 0.0.4", body = String, content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render()).into_response()
}
