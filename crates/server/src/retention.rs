//! `GET /api/query/retention` and `/api/query/retention/addiction`, each also at
//! `/api/2.0/...`: the handlers; what the reports mean is `sextant_query::retention`.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use sextant_query::retention::{AddictionRequest, RetentionRequest};
use sextant_query::workspace;

use crate::error::ApiError;
use crate::extract::Reader;
use crate::lookup_join::Attacher;
use crate::reports::{join_failed, scan_retention};
use crate::state::AppState;
use sextant_api::query::{AddictionParams, RetentionParams};

#[derive(Clone, Copy)]
enum Report {
    Retention,
    Addiction,
}

/// `GET /api/query/retention`.
#[utoipa::path(
    get,
    path = "/api/query/retention",
    tag = "query",
    summary = "Cohorts of users and how many came back in each interval",
    params(RetentionParams),
    responses((status = 200, description = "`{date: {\"counts\": [...], \"first\": n}}`; with `on`, `{date: {\"$overall\": {...}, segment: {...}}}`", body = serde_json::Value)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn query(State(state): State<AppState>, reader: Reader) -> Result<Response, ApiError> {
    answer(&state, reader, Report::Retention).await
}

/// `GET /api/2.0/retention`.
#[utoipa::path(
    get,
    path = "/api/2.0/retention",
    tag = "query",
    summary = "Retention (legacy path)",
    params(RetentionParams),
    responses((status = 200, description = "As `/api/query/retention`", body = serde_json::Value)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn legacy_query(State(state): State<AppState>, reader: Reader) -> Result<Response, ApiError> {
    answer(&state, reader, Report::Retention).await
}

/// `GET /api/query/retention/addiction`.
#[utoipa::path(
    get,
    path = "/api/query/retention/addiction",
    tag = "query",
    summary = "How many users did an event in at least k distinct hours (or days) of each period",
    params(AddictionParams),
    responses((status = 200, description = "`{\"data\": {date: [n, ...]}}`", body = serde_json::Value)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn addiction(State(state): State<AppState>, reader: Reader) -> Result<Response, ApiError> {
    answer(&state, reader, Report::Addiction).await
}

/// `GET /api/2.0/retention/addiction`.
#[utoipa::path(
    get,
    path = "/api/2.0/retention/addiction",
    tag = "query",
    summary = "Addiction (legacy path)",
    params(AddictionParams),
    responses((status = 200, description = "As `/api/query/retention/addiction`", body = serde_json::Value)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn legacy_addiction(State(state): State<AppState>, reader: Reader) -> Result<Response, ApiError> {
    answer(&state, reader, Report::Addiction).await
}

async fn answer(state: &AppState, reader: Reader, report: Report) -> Result<Response, ApiError> {
    reader.check_workspace()?;
    let Reader { params, credential, options, view, .. } = reader;
    let project = credential.project.id;
    let invalid = |e: sextant_query::QueryError| ApiError::invalid(e.0);
    match report {
        Report::Retention => {
            let request = {
                // Not `Send`: read before the next await.
                let reader = sextant_query::params::Params::new(|name| params.get(name));
                RetentionRequest::parse(&reader, &options).map_err(invalid)?
            };
            if request.born_event.is_none() {
                workspace::check_any_event(&view, "born_event")?;
            }
            if request.event.is_none() {
                workspace::check_any_event(&view, "event")?;
            }
            let (request, rows) = scan_retention(state, project, request).await?;
            let answer =
                sextant_lanes::Lane::Interactive.run(move || request.answer(&rows)).await.map_err(join_failed)?;
            Ok(Json(answer).into_response())
        }
        Report::Addiction => {
            let mut request = {
                let reader = sextant_query::params::Params::new(|name| params.get(name));
                AddictionRequest::parse(&reader, &options).map_err(invalid)?
            };
            if request.event.is_none() {
                workspace::check_any_event(&view, "event")?;
            }
            let mut attacher = Attacher::new(state, project);
            request.filter = attacher.optional(request.filter.take()).await?;
            request.on = attacher.optional(request.on.take()).await?;
            let rows = state.reports.behaviour(request.query(project)).await?;
            let answer =
                sextant_lanes::Lane::Interactive.run(move || request.answer(&rows)).await.map_err(join_failed)?;
            Ok(Json(answer).into_response())
        }
    }
}
