//! What report handlers share besides their extractor ([`crate::extract::Reader`]): the
//! project's expression settings, the JSON-or-CSV answer, the behavioural scans that
//! more than one report runs (a funnel's for `/funnels` and saved funnels, a retention's
//! for `/retention` and saved retention reports), the project's annotations beside an
//! answer when `annotations=true` asks for them, the count of a saved cohort's members
//! (for `/cohorts/list` and flags' cohort groups), and the error of a computation that
//! died on its blocking thread.
//!
//! Handlers do not call one another; what two of them run is here.

use axum::response::Response;
use sextant_model::profile::USER_PROFILES;
use sextant_model::{CohortDefinition, Project, ProjectId};
use sextant_query::cohorts;
use sextant_query::funnels::FunnelRequest;
use sextant_query::retention::RetentionRequest;
use sextant_storage::{BehaviourRows, ProfileQuery};

use crate::error::ApiError;
use crate::lookup_join::Attacher;
use crate::state::AppState;

/// The expression settings of a project (`sextant_query`'s rule, for the handlers).
pub use sextant_query::expression_options;

/// How many users a cohort `definition` holds now: all of the project's, or of `ids`
/// alone.
pub async fn cohort_members(
    state: &AppState,
    project: &Project,
    definition: &CohortDefinition,
    ids: Option<Vec<String>>,
) -> Result<u64, ApiError> {
    let now = chrono::Utc::now().timestamp_millis();
    let compiled = cohorts::compile(definition, &expression_options(project), now)?;
    let mut attacher = Attacher::new(state, project.id);
    let query = ProfileQuery {
        project_id: project.id,
        group_key: USER_PROFILES.into(),
        ids,
        filter: attacher.optional(compiled.filter).await?,
        session_id: None,
        page: 0,
        page_size: 1,
        behaviors: attacher.behaviors(compiled.behaviors).await?,
        count_only: true,
    };
    Ok(state.profiles.query_profiles(query).await?.total)
}

/// An annotation as a report shows it beside its answer.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ChartAnnotation {
    /// Its id (`/api/app/projects/{id}/annotations/{annotation_id}`).
    pub id: i64,
    /// When, `YYYY-MM-DD HH:MM:SS` in the project's time zone.
    pub date: String,
    /// What happened.
    pub description: String,
    /// Its tags' names.
    pub tags: Vec<String>,
}

/// With `annotations=true` (Sextant's; Mixpanel shows annotations on its charts, not in
/// its API's answers): `answer` as JSON with the project's annotations dated within
/// `from_day`..=`to_day` (project-local `YYYY-MM-DD`) under `annotations`, oldest first.
/// `None` when the request did not ask.
pub async fn with_annotations(
    state: &AppState,
    project: ProjectId,
    asked: Option<&str>,
    answer: impl serde::Serialize,
    from_day: &str,
    to_day: &str,
) -> Result<Option<serde_json::Value>, ApiError> {
    match asked.map(str::trim) {
        None | Some("false") | Some("0") | Some("") => return Ok(None),
        Some("true") | Some("1") => {}
        Some(_) => {
            return Err(ApiError::invalid_fields(
                "invalid parameter",
                vec![("annotations".into(), "must be true or false".into())],
            ));
        }
    }
    let day = |d: &str| d.get(..10).unwrap_or(d).to_string();
    let found = state.metadata.list_annotations(project, Some(&day(from_day)), Some(&day(to_day))).await?;
    let notes: Vec<ChartAnnotation> = found
        .into_iter()
        .map(|a| ChartAnnotation {
            id: a.id,
            date: a.date,
            description: a.description,
            tags: a.tags.into_iter().map(|t| t.name).collect(),
        })
        .collect();
    let mut value =
        serde_json::to_value(answer).map_err(|e| ApiError::new(sextant_model::ErrorCode::Internal, e.to_string()))?;
    if let Some(object) = value.as_object_mut() {
        object.insert("annotations".into(), serde_json::to_value(notes).unwrap_or_default());
    }
    Ok(Some(value))
}

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
