//! Every route, at Mixpanel's own paths, with and without a trailing slash.
//!
//! Handlers are registered with `utoipa_axum::routes!`, which reads each handler's
//! `#[utoipa::path]` for its path and methods: the router and the OpenAPI document
//! ([`crate::openapi`]) come from the same declarations. A trailing slash is trimmed
//! before routing ([`App`]), so `/track/` is `/track`.

use std::sync::Arc;

use axum::http::{HeaderName, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router, middleware};
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::normalize_path::NormalizePath;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::openapi::{RootDoc, ServedDocument};
use crate::state::AppState;
use crate::{
    app, cohorts, engage, events, export, funnels, health, ingest, insights, limits, lookup_tables, metrics, openapi,
    retention, segmentation, stream,
};

/// The whole application: the router behind trailing-slash trimming.
pub type App = NormalizePath<Router>;

/// Builds the application.
pub fn router(state: AppState) -> App {
    let (routes, document) = documented_routes().split_for_parts();
    let document = ServedDocument(Arc::new(openapi::finish(document)));
    let routes = routes
        .route_layer(middleware::from_fn(metrics::record_request))
        .layer(middleware::from_fn(limits::layer::rate_limit_headers))
        .layer(Extension(document))
        .fallback(not_found)
        .with_state(state)
        .layer(cors())
        .layer(TraceLayer::new_for_http());
    NormalizePath::trim_trailing_slash(routes)
}

/// Every endpoint, each with its documentation.
fn documented_routes() -> OpenApiRouter<AppState> {
    let export = OpenApiRouter::new().routes(routes!(export::export)).layer(CompressionLayer::new());
    OpenApiRouter::with_openapi(RootDoc::openapi())
        .routes(routes!(ingest::track))
        .routes(routes!(ingest::import))
        .routes(routes!(ingest::profiles::engage))
        .routes(routes!(ingest::profiles::groups))
        .routes(routes!(engage::query))
        .routes(routes!(engage::legacy_query))
        .routes(routes!(segmentation::query))
        .routes(routes!(segmentation::legacy_query))
        .routes(routes!(segmentation::numeric))
        .routes(routes!(segmentation::legacy_numeric))
        .routes(routes!(segmentation::sum))
        .routes(routes!(segmentation::legacy_sum))
        .routes(routes!(segmentation::average))
        .routes(routes!(segmentation::legacy_average))
        .routes(routes!(events::events_query))
        .routes(routes!(events::legacy_events))
        .routes(routes!(events::top))
        .routes(routes!(events::legacy_top))
        .routes(routes!(events::names))
        .routes(routes!(events::legacy_names))
        .routes(routes!(events::properties))
        .routes(routes!(events::legacy_properties))
        .routes(routes!(events::properties_top))
        .routes(routes!(events::legacy_properties_top))
        .routes(routes!(events::properties_values))
        .routes(routes!(events::legacy_properties_values))
        .routes(routes!(insights::query))
        .routes(routes!(insights::legacy_query))
        .routes(routes!(insights::app_list, insights::app_create))
        .routes(routes!(insights::app_delete))
        .routes(routes!(funnels::query))
        .routes(routes!(funnels::legacy_query))
        .routes(routes!(funnels::list))
        .routes(routes!(funnels::legacy_list))
        .routes(routes!(retention::query))
        .routes(routes!(retention::legacy_query))
        .routes(routes!(retention::addiction))
        .routes(routes!(retention::legacy_addiction))
        .routes(routes!(funnels::app_list, funnels::app_create))
        .routes(routes!(funnels::app_get, funnels::app_update, funnels::app_delete))
        .routes(routes!(stream::query))
        .routes(routes!(stream::legacy_query))
        .routes(routes!(cohorts::list))
        .routes(routes!(cohorts::legacy_list))
        .routes(routes!(cohorts::app_list, cohorts::app_create))
        .routes(routes!(cohorts::app_update, cohorts::app_delete))
        .routes(routes!(lookup_tables::list))
        .routes(routes!(lookup_tables::replace))
        .routes(routes!(lookup_tables::app_list, lookup_tables::app_create))
        .routes(routes!(lookup_tables::app_update, lookup_tables::app_delete))
        .merge(export)
        .routes(routes!(app::list_api_tokens, app::create_api_token))
        .routes(routes!(app::revoke_api_token))
        .routes(routes!(app::list_service_accounts))
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics))
        .routes(routes!(openapi::document))
}

/// The generated document, as served at `/openapi.json`.
pub fn openapi_document() -> serde_json::Value {
    let (_, document) = documented_routes().split_for_parts();
    openapi::finish(document)
}

/// What mixpanel-browser needs: the page's origin echoed, credentials allowed, and the
/// headers it sends (`Authorization`, `traceparent`, `Content-Type`).
fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::mirror_request())
        .allow_credentials(true)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE, Method::OPTIONS])
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
