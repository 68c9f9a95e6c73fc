//! `GET /api/query/segmentation` (and `/numeric`, `/sum`, `/average`), each also at
//! `/api/2.0/...`: the handlers; what the reports mean is `sextant_query::segmentation`.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use sextant_query::segmentation::{Segmentation, ValueReport};

use crate::error::ApiError;
use crate::extract::Reader;
use crate::state::AppState;
use sextant_api::query::SegmentationParams;

/// Which report a handler serves.
#[derive(Clone, Copy)]
enum Report {
    Counts,
    Numeric,
    Sum,
    Average,
}

/// `GET /api/query/segmentation`.
#[utoipa::path(
    get,
    path = "/api/query/segmentation",
    tag = "query",
    summary = "Counts of one event per time bucket, optionally split and filtered",
    params(SegmentationParams),
    responses((status = 200, description = "`{\"data\": {\"series\": [...], \"values\": {...}}, \"legend_size\": n}`", body = serde_json::Value)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn query(State(state): State<AppState>, reader: Reader) -> Result<Response, ApiError> {
    answer(&state, reader, Report::Counts).await
}

/// `GET /api/2.0/segmentation`: the same report at its legacy path.
#[utoipa::path(
    get,
    path = "/api/2.0/segmentation",
    tag = "query",
    summary = "Counts of one event per time bucket (legacy path)",
    params(SegmentationParams),
    responses((status = 200, description = "As `/api/query/segmentation`", body = serde_json::Value)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn legacy_query(State(state): State<AppState>, reader: Reader) -> Result<Response, ApiError> {
    answer(&state, reader, Report::Counts).await
}

/// `GET /api/query/segmentation/numeric`.
#[utoipa::path(
    get,
    path = "/api/query/segmentation/numeric",
    tag = "query",
    summary = "Counts of one event per time bucket, split into ranges of a numeric `on`",
    params(SegmentationParams),
    responses((status = 200, description = "As `/segmentation`, `values` keyed by ranges such as `\"2,000 - 2,100\"`", body = serde_json::Value)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn numeric(State(state): State<AppState>, reader: Reader) -> Result<Response, ApiError> {
    answer(&state, reader, Report::Numeric).await
}

/// `GET /api/2.0/segmentation/numeric`.
#[utoipa::path(
    get,
    path = "/api/2.0/segmentation/numeric",
    tag = "query",
    summary = "Numeric segmentation (legacy path)",
    params(SegmentationParams),
    responses((status = 200, description = "As `/api/query/segmentation/numeric`", body = serde_json::Value)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn legacy_numeric(State(state): State<AppState>, reader: Reader) -> Result<Response, ApiError> {
    answer(&state, reader, Report::Numeric).await
}

/// `GET /api/query/segmentation/sum`.
#[utoipa::path(
    get,
    path = "/api/query/segmentation/sum",
    tag = "query",
    summary = "A numeric `on` summed per time bucket",
    params(SegmentationParams),
    responses((status = 200, description = "`{\"status\": \"ok\", \"computed_at\", \"results\": {date: sum}}`", body = serde_json::Value)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn sum(State(state): State<AppState>, reader: Reader) -> Result<Response, ApiError> {
    answer(&state, reader, Report::Sum).await
}

/// `GET /api/2.0/segmentation/sum`.
#[utoipa::path(
    get,
    path = "/api/2.0/segmentation/sum",
    tag = "query",
    summary = "Sum per time bucket (legacy path)",
    params(SegmentationParams),
    responses((status = 200, description = "As `/api/query/segmentation/sum`", body = serde_json::Value)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn legacy_sum(State(state): State<AppState>, reader: Reader) -> Result<Response, ApiError> {
    answer(&state, reader, Report::Sum).await
}

/// `GET /api/query/segmentation/average`.
#[utoipa::path(
    get,
    path = "/api/query/segmentation/average",
    tag = "query",
    summary = "A numeric `on` averaged over the events of each time bucket",
    params(SegmentationParams),
    responses((status = 200, description = "`{\"status\": \"ok\", \"computed_at\", \"results\": {date: average}}`", body = serde_json::Value)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn average(State(state): State<AppState>, reader: Reader) -> Result<Response, ApiError> {
    answer(&state, reader, Report::Average).await
}

/// `GET /api/2.0/segmentation/average`.
#[utoipa::path(
    get,
    path = "/api/2.0/segmentation/average",
    tag = "query",
    summary = "Average per time bucket (legacy path)",
    params(SegmentationParams),
    responses((status = 200, description = "As `/api/query/segmentation/average`", body = serde_json::Value)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn legacy_average(State(state): State<AppState>, reader: Reader) -> Result<Response, ApiError> {
    answer(&state, reader, Report::Average).await
}

async fn answer(state: &AppState, reader: Reader, report: Report) -> Result<Response, ApiError> {
    reader.check_workspace()?;
    let Reader { params, credential, options, .. } = reader;
    let project = &credential.project;
    let invalid = |e: sextant_query::QueryError| ApiError::invalid(e.0);
    let mut request = {
        // Not `Send`: read before the next await.
        let reader = sextant_query::params::Params::new(|name| params.get(name));
        match report {
            Report::Counts => Segmentation::parse(&reader, &options),
            _ => Segmentation::parse_numeric(&reader, &options),
        }
        .map_err(invalid)?
    };
    let mut attacher = crate::lookup_join::Attacher::new(state, project.id);
    request.filter = attacher.optional(request.filter.take()).await?;
    request.on = attacher.optional(request.on.take()).await?;
    match report {
        Report::Sum | Report::Average => {
            let report = ValueReport { base: request, average: matches!(report, Report::Average) };
            let counts = state.reports.segment(report.query(project.id)).await?;
            let answer = report.answer(&counts, chrono::Utc::now().timestamp_millis());
            if let (Some(first), Some(last)) = (answer.results.keys().next(), answer.results.keys().next_back())
                && let Some(with) =
                    crate::reports::with_annotations(state, project.id, params.get("annotations"), &answer, first, last)
                        .await?
            {
                return Ok(Json(with).into_response());
            }
            return Ok(Json(answer).into_response());
        }
        Report::Numeric => {
            let values = state.reports.segment(request.numeric_values_query(project.id).map_err(invalid)?).await?;
            request = request.with_ranges(&values).map_err(invalid)?;
        }
        Report::Counts => {}
    }
    let counts = state.reports.segment(request.query(project.id)).await?;
    let answer = request.answer(&counts);
    if !request.csv
        && let (Some(first), Some(last)) = (answer.data.series.first(), answer.data.series.last())
        && let Some(with) =
            crate::reports::with_annotations(state, project.id, params.get("annotations"), &answer, first, last).await?
    {
        return Ok(Json(with).into_response());
    }
    Ok(crate::reports::respond(&answer, request.csv))
}
