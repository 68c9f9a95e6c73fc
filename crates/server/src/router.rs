//! Every route, at Mixpanel's own paths, with and without a trailing slash.

use axum::Router;
use axum::http::{HeaderName, Method, Uri, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get};
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;

use crate::error::ApiError;
use crate::state::AppState;
use crate::{app, export, health, ingest, limits, metrics, openapi};

/// Builds the application.
pub fn router(state: AppState) -> Router {
    let routes = Router::new()
        .merge(both("/track", get(ingest::track).post(ingest::track)))
        .merge(both("/import", get(ingest::import).post(ingest::import)))
        .merge(both("/api/2.0/export", get(export::export).layer(CompressionLayer::new())))
        .merge(both("/api/app/projects/{project_id}/api-tokens", get(app::list_api_tokens).post(app::create_api_token)))
        .merge(both("/api/app/projects/{project_id}/api-tokens/{token_id}", delete(app::revoke_api_token)))
        .merge(both("/api/app/projects/{project_id}/service-accounts", get(app::list_service_accounts)))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/openapi.json", get(openapi::document))
        .route_layer(middleware::from_fn(metrics::record_request))
        .layer(middleware::from_fn(limits::layer::rate_limit_headers))
        .fallback(not_found)
        .with_state(state);
    routes.layer(cors()).layer(TraceLayer::new_for_http())
}

/// Registers `path` and `path/` with the same handlers.
fn both(path: &str, handlers: MethodRouter<AppState>) -> Router<AppState> {
    Router::new().route(path, handlers.clone()).route(&format!("{path}/"), handlers)
}

/// What mixpanel-browser needs: the page's origin echoed, credentials allowed, and the
/// headers it sends (`Authorization`, `traceparent`, `Content-Type`).
fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::mirror_request())
        .allow_credentials(true)
        .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("traceparent"),
            HeaderName::from_static("x-api-token"),
        ])
        .expose_headers([
            header::RETRY_AFTER,
            HeaderName::from_static("x-ratelimit-limit"),
            HeaderName::from_static("x-ratelimit-remaining"),
            HeaderName::from_static("x-ratelimit-reset"),
        ])
        .max_age(std::time::Duration::from_secs(86_400))
}

async fn not_found(uri: Uri) -> Response {
    ApiError::new(sextant_model::ErrorCode::NotFound, format!("no endpoint at {}", uri.path())).into_response()
}
