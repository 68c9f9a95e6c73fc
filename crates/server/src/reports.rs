//! What report handlers share besides their extractor ([`crate::extract::Reader`]): the
//! project's expression settings, the JSON-or-CSV answer, the behavioural scans that
//! more than one report runs (a funnel's for `/funnels` and saved funnels, a retention's
//! for `/retention` and saved retention reports), and the error of a computation that
//! died on its blocking thread.
//!
//! Handlers do not call one another; what two of them run is here.

use axum::response::Response;
use sextant_model::ProjectId;
use sextant_query::funnels::FunnelRequest;
use sextant_query::retention::RetentionRequest;
use sextant_storage::BehaviourRows;

use crate::error::ApiError;
use crate::lookup_join::Attacher;
use crate::state::AppState;

/// The expression settings of a project (`sextant_query`'s rule, for the handlers).
pub use sextant_query::expression_options;

/// A report's JSON answer, or its CSV text when `csv` is asked.
pub fn respond(answer: &sextant_query::segmentation::Answer, csv: bool) -> Response {
    use axum::http::{HeaderValue, header};
    use axum::response::IntoResponse;
    if csv {
        let mut response = answer.to_csv().into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
        return response;
    }
    axum::Json(answer).into_response()
}

/// Attaches the project's lookup tables to a funnel's expressions and runs its scan.
pub async fn scan_funnel(
    state: &AppState,
    project: ProjectId,
    mut request: FunnelRequest,
) -> Result<(FunnelRequest, BehaviourRows), ApiError> {
    let mut attacher = Attacher::new(state, project);
    request.filter = attacher.optional(request.filter.take()).await?;
    request.on = attacher.optional(request.on.take()).await?;
    for selector in &mut request.selectors {
        *selector = attacher.optional(selector.take()).await?;
    }
    let rows = state.reports.behaviour(request.query(project)).await?;
    Ok((request, rows))
}

/// Attaches the project's lookup tables to a retention's expressions and runs its scan.
pub async fn scan_retention(
    state: &AppState,
    project: ProjectId,
    mut request: RetentionRequest,
) -> Result<(RetentionRequest, BehaviourRows), ApiError> {
    let mut attacher = Attacher::new(state, project);
    request.filter = attacher.optional(request.filter.take()).await?;
    request.born_filter = attacher.optional(request.born_filter.take()).await?;
    request.on = attacher.optional(request.on.take()).await?;
    let rows = state.reports.behaviour(request.query(project)).await?;
    Ok((request, rows))
}

/// A report computation that died on its blocking thread.
pub fn join_failed(e: tokio::task::JoinError) -> ApiError {
    ApiError::new(sextant_model::ErrorCode::Internal, format!("report computation failed: {e}"))
}
