//! Every route, at Mixpanel's own paths, with and without a trailing slash.
//!
//! Handlers are registered with `utoipa_axum::routes!`, which reads each handler's
//! `#[utoipa::path]` for its path and methods: the router and the OpenAPI document
//! ([`crate::openapi`]) come from the same declarations. A trailing slash is trimmed
//! before routing ([`App`]), so `/track/` is `/track`.
//!
//! Each request runs under its API family's deadline ([`deadline`], configured by
//! [`Deadlines`]): the Query API, JQL, ingestion and the rest each have their own;
//! raw export and the activity feed, which stream, have none.

use std::sync::Arc;
use std::time::Duration;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router, middleware};
use sextant_model::ErrorCode;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::normalize_path::NormalizePath;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::Deadlines;
use crate::error::{ApiError, QueryError};
use crate::limits::Limiter;
use crate::openapi::{RootDoc, ServedDocument};
use crate::state::AppState;
use crate::{
    annotations, app, backups, cohorts, engage, events, experiments, export, feature_flags, flags, funnels, gdpr,
    health, ingest, insights, jql, lexicon, limits, lookup_tables, metrics, openapi, pipelines, projects, retention,
    segmentation, service_accounts, stream, warehouse_imports, warehouse_sources, workspaces,
};

/// The whole application: the router behind trailing-slash trimming.
pub type App = NormalizePath<Router>;

/// Builds the application with the default deadlines.
pub fn router(state: AppState) -> App {
    router_with_deadlines(state, Deadlines::default())
}

/// Builds the application, each request under its family's deadline.
pub fn router_with_deadlines(state: AppState, deadlines: Deadlines) -> App {
    let limiter = state.limiter.clone();
    let (routes, document) = documented_routes().split_for_parts();
    let document = ServedDocument(Arc::new(openapi::finish(document)));
    let routes = routes
        .route_layer(middleware::from_fn(metrics::record_request))
        .route_layer(middleware::from_fn(family_errors))
        .layer(middleware::from_fn(limits::layer::rate_limit_headers))
        .layer(Extension(document))
        .fallback(not_found)
        .with_state(state)
        .layer(middleware::from_fn_with_state(deadlines, deadline))
        .layer(middleware::from_fn_with_state(limiter, client_failures))
        .layer(cors())
        // Each answer names its request (`X-Request-Id`: the client's own, or a new
        // UUID), so a client's error can be found in the server's log.
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid));
    NormalizePath::trim_trailing_slash(routes)
}

/// The span every log line of a request is written in: its method, path (never the
/// query string, where a token may be) and `X-Request-Id`, which the response carries
/// too, so a client's error report leads to these lines.
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
    tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
}

/// Which family a path serves, for its deadline and the shape of errors answered
/// before (or instead of) its handler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteClass {
    /// `/track`, `/import`, `/engage`, `/groups`.
    Ingestion,
    /// `/api/query/...` and the legacy `/api/2.0/...` reports.
    Query,
    /// `/api/query/jql`, `/api/2.0/jql`.
    Jql,
    /// Raw export and the activity feed: streamed, no deadline.
    Streaming,
    /// The App API, lookup tables, health, metrics, the OpenAPI document.
    Other,
}

impl RouteClass {
    /// The class of a request path (a trailing slash is ignored).
    pub fn of(path: &str) -> RouteClass {
        let trimmed = path.trim_end_matches('/');
        match trimmed {
            "/track" | "/import" | "/engage" | "/groups" => RouteClass::Ingestion,
            "/api/query/jql" | "/api/2.0/jql" => RouteClass::Jql,
            "/api/2.0/export" | "/api/query/stream/query" | "/api/2.0/stream/query" => RouteClass::Streaming,
            // The pipelines spec's `ErrorResponse` is `{"error", "status": "error"}`: the
            // App API's keys.
            p if p.starts_with("/api/2.0/nessie/") => RouteClass::Other,
            p if p.starts_with("/api/query/") || p.starts_with("/api/2.0/") => RouteClass::Query,
            _ => RouteClass::Other,
        }
    }

    /// The deadline `deadlines` gives this class.
    pub fn deadline(self, deadlines: &Deadlines) -> Option<Duration> {
        match self {
            RouteClass::Ingestion => deadlines.ingestion,
            RouteClass::Query => deadlines.query,
            RouteClass::Jql => deadlines.jql,
            RouteClass::Streaming => None,
            RouteClass::Other => deadlines.other,
        }
    }

    fn name(self) -> &'static str {
        match self {
            RouteClass::Ingestion => "ingestion",
            RouteClass::Query => "query",
            RouteClass::Jql => "jql",
            RouteClass::Streaming => "export",
            RouteClass::Other => "other",
        }
    }
}

/// Middleware: runs the request under its family's deadline, from its head to the
/// response's head (a streamed body, once started, is not limited). Past it, the
/// handler is dropped and the client gets `503` in its family's error shape: the
/// Query API's `{"request", "error"}`, ingestion's reply style (read from the query
/// string), the App API's envelope elsewhere.
///
/// Dropping the handler abandons its awaits (a body read, a wait for the writer's
/// commit, a wait for a blocking task); the store interrupts the DuckDB statement a
/// dropped read was waiting for (`storage-duckdb`'s `run_blocking`). Work in Rust on a
/// blocking thread (a funnel kernel) still runs to its end, its result unused.
pub async fn deadline(State(deadlines): State<Deadlines>, request: Request, next: Next) -> Response {
    let class = RouteClass::of(request.uri().path());
    let Some(limit) = class.deadline(&deadlines) else {
        return next.run(request).await;
    };
    let uri = request.uri().clone();
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            ::metrics::counter!("sextant_request_deadline_exceeded_total", "family" => class.name()).increment(1);
            tracing::warn!(
                path = uri.path(),
                family = class.name(),
                seconds = limit.as_secs_f64(),
                "request deadline passed"
            );
            deadline_passed(class, &uri, limit)
        }
    }
}

/// The answer to a request past its deadline.
fn deadline_passed(class: RouteClass, uri: &Uri, limit: Duration) -> Response {
    let seconds = limit.as_secs_f64();
    let message = match class {
        RouteClass::Query | RouteClass::Jql | RouteClass::Streaming => format!(
            "the query did not finish within the server's {seconds} s deadline; ask for fewer days, fewer \
             segments or a simpler filter"
        ),
        RouteClass::Ingestion | RouteClass::Other => {
            format!("the request did not finish within the server's {seconds} s deadline; retry later")
        }
    };
    let response = in_family_shape(class, uri, &ApiError::new(ErrorCode::Unavailable, message));
    match class {
        // A query that ran out of time would only run out again: no `Retry-After`.
        RouteClass::Query | RouteClass::Jql | RouteClass::Streaming => response,
        // Ingestion SDKs retry a 503 that says when.
        RouteClass::Ingestion | RouteClass::Other => with_retry_after(response, 5),
    }
}

/// `error` in the shape of the family `class` serves: the Query API's
/// `{"request", "error"}`, ingestion's reply style (read from the query string), the App
/// API's envelope elsewhere.
fn in_family_shape(class: RouteClass, uri: &Uri, error: &ApiError) -> Response {
    match class {
        RouteClass::Query | RouteClass::Jql | RouteClass::Streaming => {
            let request = uri.path_and_query().map(|p| p.to_string()).unwrap_or_default();
            QueryError { request, error: error.clone() }.into_response()
        }
        RouteClass::Ingestion => {
            let params = sextant_ingest::Params::parse(uri.query().unwrap_or("").as_bytes());
            let kind =
                if uri.path().trim_end_matches('/') == "/import" { ingest::Kind::Import } else { ingest::Kind::Track };
            let style = ingest::reply_style(&params, kind).unwrap_or_default();
            style.error(error)
        }
        RouteClass::Other => error.app_shape(),
    }
}

/// Middleware: an [`ApiError`] a handler or extractor answered with (it travels in the
/// response's extensions) rendered in the shape of the route's family, keeping the
/// headers set on its way out (`Retry-After`, `X-RateLimit-*`) but not those of the
/// body it replaces (type, length, and the encoding a compression layer gave it).
pub async fn family_errors(request: Request, next: Next) -> Response {
    let uri = request.uri().clone();
    let mut response = next.run(request).await;
    let Some(error) = response.extensions_mut().remove::<ApiError>() else { return response };
    let mut shaped = in_family_shape(RouteClass::of(uri.path()), &uri, &error);
    for (name, value) in response.headers() {
        if ![header::CONTENT_TYPE, header::CONTENT_LENGTH, header::CONTENT_ENCODING].contains(name) {
            shaped.headers_mut().insert(name.clone(), value.clone());
        }
    }
    shaped
}

fn with_retry_after(mut response: Response, seconds: u64) -> Response {
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

/// Middleware: refuses a client address that has failed too often with 429, before its
/// request is read, and charges each 401 or 403 to the address it answers
/// ([`limits::clients`]).
pub async fn client_failures(State(limiter): State<Arc<Limiter>>, request: Request, next: Next) -> Response {
    let budgets = &limiter.clients;
    let Some(client) = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()) else {
        return next.run(request).await;
    };
    if let Err(wait) = budgets.check(client) {
        let seconds = wait.as_secs().max(1);
        ::metrics::counter!("sextant_client_failures_refused_total").increment(1);
        let error = ApiError::new(
            ErrorCode::RateLimited,
            format!("too many failed requests (401, 403) from this address; retry after {seconds} s"),
        );
        let uri = request.uri().clone();
        // Read and dropped, not looked at, so the client reads the 429 rather than a
        // connection reset under the body it is still sending.
        crate::body::drain(request.into_body(), 0).await;
        return with_retry_after(in_family_shape(RouteClass::of(uri.path()), &uri, &error), seconds);
    }
    let response = next.run(request).await;
    if matches!(response.status(), StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
        budgets.charge(client);
    }
    response
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
        .routes(routes!(jql::query))
        .routes(routes!(jql::legacy_query))
        .routes(routes!(insights::legacy_query))
        .routes(routes!(insights::app_list, insights::app_create))
        .routes(routes!(insights::app_get, insights::app_delete))
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
        .routes(routes!(cohorts::app_get, cohorts::app_update, cohorts::app_delete))
        .routes(routes!(lookup_tables::list))
        .routes(routes!(lookup_tables::replace))
        .routes(routes!(lookup_tables::app_list, lookup_tables::app_create))
        .routes(routes!(lookup_tables::app_get, lookup_tables::app_update, lookup_tables::app_delete))
        .merge(export)
        .routes(routes!(app::list_api_tokens, app::create_api_token))
        .routes(routes!(app::revoke_api_token))
        .routes(routes!(service_accounts::list_service_accounts))
        .routes(routes!(service_accounts::list_org, service_accounts::create_org))
        .routes(routes!(service_accounts::add_to_project))
        .routes(routes!(service_accounts::remove_from_project))
        .routes(routes!(service_accounts::get_org, service_accounts::delete_org))
        .routes(routes!(annotations::list, annotations::create))
        .routes(routes!(annotations::tags, annotations::create_tag))
        .routes(routes!(annotations::get, annotations::update, annotations::delete))
        .routes(routes!(lexicon::list, lexicon::upload, lexicon::delete_all))
        .routes(routes!(lexicon::list_type, lexicon::delete_type))
        .routes(routes!(lexicon::get_one, lexicon::upload_one, lexicon::delete_one))
        .routes(routes!(projects::list, projects::create))
        .routes(routes!(projects::get, projects::update, projects::delete))
        .routes(routes!(projects::own))
        .routes(routes!(backups::create))
        .routes(routes!(backups::get))
        .routes(routes!(workspaces::app_list, workspaces::app_create))
        .routes(routes!(workspaces::app_get, workspaces::app_update, workspaces::app_delete))
        .routes(routes!(warehouse_sources::app_list, warehouse_sources::app_create))
        .routes(routes!(warehouse_sources::app_get, warehouse_sources::app_delete))
        .routes(routes!(warehouse_imports::list))
        .routes(routes!(warehouse_imports::get, warehouse_imports::update, warehouse_imports::delete))
        .routes(routes!(warehouse_imports::create_event_stream))
        .routes(routes!(warehouse_imports::create_people))
        .routes(routes!(warehouse_imports::create_groups))
        .routes(routes!(warehouse_imports::create_lookup_table))
        .routes(routes!(warehouse_imports::manual_sync))
        .routes(routes!(warehouse_imports::history))
        .routes(routes!(flags::definitions))
        .routes(routes!(flags::assignments, flags::assignments_posted))
        .routes(routes!(feature_flags::list, feature_flags::create))
        .routes(routes!(feature_flags::get, feature_flags::update, feature_flags::delete))
        .routes(routes!(experiments::list, experiments::create))
        .routes(routes!(experiments::get, experiments::update, experiments::delete))
        .routes(routes!(experiments::archive, experiments::unarchive))
        .routes(routes!(experiments::launch))
        .routes(routes!(experiments::force_conclude))
        .routes(routes!(experiments::decide))
        .routes(routes!(experiments::results))
        .routes(routes!(pipelines::jobs))
        .routes(routes!(pipelines::create))
        .routes(routes!(pipelines::edit))
        .routes(routes!(pipelines::cancel))
        .routes(routes!(pipelines::pause))
        .routes(routes!(pipelines::resume))
        .routes(routes!(pipelines::status))
        .routes(routes!(pipelines::timeline))
        .routes(routes!(gdpr::create_retrieval))
        .routes(routes!(gdpr::get_retrieval))
        .routes(routes!(gdpr::archive))
        .routes(routes!(gdpr::create_deletion))
        .routes(routes!(gdpr::get_deletion, gdpr::cancel_deletion))
        .routes(routes!(gdpr::list_opt_outs, gdpr::add_opt_outs, gdpr::remove_opt_outs))
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
            HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([
            header::RETRY_AFTER,
            HeaderName::from_static("x-ratelimit-limit"),
            HeaderName::from_static("x-ratelimit-remaining"),
            HeaderName::from_static("x-ratelimit-reset"),
            HeaderName::from_static("x-request-id"),
        ])
        .max_age(std::time::Duration::from_secs(86_400))
}

async fn not_found(uri: Uri) -> Response {
    ApiError::new(sextant_model::ErrorCode::NotFound, format!("no endpoint at {}", uri.path())).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_follow_the_api_family() {
        let d = Deadlines {
            query: Some(Duration::from_secs(10)),
            jql: Some(Duration::from_secs(120)),
            ingestion: Some(Duration::from_secs(60)),
            other: Some(Duration::from_secs(61)),
        };
        let of = |path: &str| RouteClass::of(path).deadline(&d).map(|t| t.as_secs());
        assert_eq!(of("/track"), Some(60));
        assert_eq!(of("/import/"), Some(60));
        assert_eq!(of("/engage"), Some(60));
        assert_eq!(of("/groups"), Some(60));
        assert_eq!(of("/api/query/segmentation"), Some(10));
        assert_eq!(of("/api/2.0/funnels/list"), Some(10));
        assert_eq!(of("/api/query/engage"), Some(10));
        assert_eq!(of("/api/query/jql"), Some(120));
        assert_eq!(of("/api/2.0/jql/"), Some(120));
        assert_eq!(of("/api/2.0/export"), None);
        assert_eq!(of("/api/2.0/stream/query"), None);
        assert_eq!(of("/api/query/stream/query"), None);
        assert_eq!(of("/api/app/projects/1/api-tokens"), Some(61));
        assert_eq!(of("/healthz"), Some(61));
        assert_eq!(of("/"), Some(61));
    }

    #[test]
    fn a_query_past_its_deadline_answers_in_the_query_shape() {
        let uri: Uri = "/api/query/segmentation?event=x".parse().unwrap();
        let response = deadline_passed(RouteClass::Query, &uri, Duration::from_secs(10));
        assert_eq!(response.status(), 503);
        assert!(response.headers().get(header::RETRY_AFTER).is_none());
        let uri: Uri = "/track?verbose=1".parse().unwrap();
        let response = deadline_passed(RouteClass::Ingestion, &uri, Duration::from_secs(60));
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()[header::RETRY_AFTER], "5");
    }
}
