//! `POST /api/query/jql` and `/api/2.0/jql`: run a JQL script. The handler reads the
//! form (`script`, `params`), runs the script on a blocking thread and answers its final
//! collection as a JSON array, or with `format=csv` as CSV (`sextant_jql::csv_answer`);
//! what a script means is `sextant_jql`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::extract::{JqlApi, Reader};
use crate::state::AppState;
use sextant_api::query::JqlForm;

/// `POST /api/query/jql`.
#[utoipa::path(
    post,
    path = "/api/query/jql",
    tag = "query",
    summary = "Run a JQL script",
    description = "Runs `main()` and answers the elements of the collection it returns (with `format=csv` in the form, as CSV: a header, then a row per element, objects flattened to `a.b` and `list.0` columns). Limits: the JQL deadline (2 minutes), a heap and an answer size per script (`jql_memory_mb`, `jql_output_mb`), 60 scripts an hour and 5 at once per project by default.",
    request_body(content = JqlForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "A JSON array: the final collection's elements", body = Vec<serde_json::Value>)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn query(State(state): State<AppState>, reader: Reader<JqlApi>) -> Result<Response, ApiError> {
    run(&state, reader).await
}

/// `POST /api/2.0/jql`.
#[utoipa::path(
    post,
    path = "/api/2.0/jql",
    tag = "query",
    summary = "Run a JQL script (legacy path)",
    request_body(content = JqlForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "As `/api/query/jql`", body = Vec<serde_json::Value>)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn legacy_query(State(state): State<AppState>, reader: Reader<JqlApi>) -> Result<Response, ApiError> {
    run(&state, reader).await
}

/// Stops the script when the request is dropped (deadline passed, client gone).
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

async fn run(state: &AppState, reader: Reader<JqlApi>) -> Result<Response, ApiError> {
    let Reader { params, credential, options, view, .. } = reader;
    let source = params.get("script").filter(|s| !s.trim().is_empty()).ok_or_else(|| {
        ApiError::invalid("script is required: JavaScript that defines main() and returns Events(), People() or join()")
    })?;
    let csv = match params.get("format") {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => return Err(ApiError::invalid("format must be json (the default) or csv")),
    };
    let script_params = params.get("params").map(str::trim).filter(|p| !p.is_empty()).unwrap_or("null");
    let cancelled = Arc::new(AtomicBool::new(false));
    let _stop = StopOnDrop(cancelled.clone());
    let script = sextant_jql::Script {
        source: source.to_string(),
        params: script_params.to_string(),
        project: credential.project.id,
        options,
        view,
        limits: state.jql.clone(),
        cancelled,
    };
    let stores = sextant_jql::Stores {
        events: state.store.clone(),
        profiles: state.profiles.clone(),
        reports: state.reports.clone(),
    };
    let runtime = tokio::runtime::Handle::current();
    let answer = sextant_lanes::Lane::Interactive
        .run(move || sextant_jql::run(script, &stores, &runtime))
        .await
        .map_err(crate::reports::join_failed)?
        .map_err(|e| match e {
            // The store's own errors are logged and worded as every endpoint words them.
            sextant_jql::JqlError::Storage(e) => ApiError::from(e),
            e => ApiError::new(e.code(), e.to_string()),
        })?;
    if csv {
        let text = sextant_jql::csv_answer::to_csv(&answer)
            .map_err(|e| ApiError::new(sextant_model::ErrorCode::Internal, e))?;
        let mut response = text.into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
        return Ok(response);
    }
    let mut response = answer.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}
