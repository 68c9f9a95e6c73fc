//! Saved reports: `GET /api/query/insights?bookmark_id=` (and `/api/2.0/insights`)
//! computes one; the App API (`/api/app/projects/{project_id}/bookmarks`) saves, lists
//! and deletes them. What a saved report means, and what one may hold, is
//! `sextant_query::insights`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use sextant_metadata::{BookmarkInfo, Metadata};
use sextant_model::{Actor, Audit, Page, PageRequest, Project, ProjectId};
use sextant_query::insights;
use sextant_query::workspace;

use crate::audit::{AuditView, CreatorView};
use crate::error::ApiError;
use crate::extract::Reader;
use crate::lookup_join::Attacher;
use crate::reports::{expression_options, join_failed, scan_funnel, scan_retention};
use crate::resource::{Paged, Resource};
use crate::state::AppState;
use sextant_api::envelope::{CollectionPage, Single};

/// `GET /api/query/insights`.
#[utoipa::path(
    get,
    path = "/api/query/insights",
    tag = "query",
    summary = "Compute a saved report",
    params(
        ("project_id" = Option<i64>, Query, description = "The project, with service-account credentials."),
        ("bookmark_id" = i64, Query, description = "The saved report."),
        ("annotations" = Option<bool>, Query, description = "`true`: the project's annotations dated within `date_range`, under `annotations`.")
    ),
    responses((status = 200, description = "`{\"computed_at\", \"date_range\", \"headers\", \"series\"}`", body = serde_json::Value)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn query(State(state): State<AppState>, reader: Reader) -> Result<Response, ApiError> {
    answer(&state, reader).await
}

/// `GET /api/2.0/insights`.
#[utoipa::path(
    get,
    path = "/api/2.0/insights",
    tag = "query",
    summary = "Compute a saved report (legacy path)",
    params(
        ("project_id" = Option<i64>, Query, description = "The project, with service-account credentials."),
        ("bookmark_id" = i64, Query, description = "The saved report."),
        ("annotations" = Option<bool>, Query, description = "`true`: the project's annotations dated within `date_range`, under `annotations`.")
    ),
    responses((status = 200, description = "As `/api/query/insights`", body = serde_json::Value)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn legacy_query(state: State<AppState>, reader: Reader) -> Result<Response, ApiError> {
    query(state, reader).await
}

async fn answer(state: &AppState, reader: Reader) -> Result<Response, ApiError> {
    let Reader { params, credential, options, view, .. } = reader;
    let project = &credential.project;
    let id = params.get("bookmark_id").map(str::trim).filter(|v| !v.is_empty());
    let id = id
        .ok_or_else(|| ApiError::invalid("missing required parameter `bookmark_id`"))?
        .parse::<i64>()
        .map_err(|_| ApiError::invalid("`bookmark_id` must be an integer"))?;
    let saved = state.metadata.bookmark(project.id, id).await?;
    // The saved report's own parameters, read through the workspace as a request's are.
    workspace::check_params(&view, |k| saved.params.get(k).map(String::as_str), &options)?;
    let now = chrono::Utc::now().timestamp_millis();
    let invalid = |e: sextant_query::QueryError| ApiError::invalid(e.0);
    let answer = match insights::plan(&saved.kind, &saved.params, &options, now).map_err(invalid)? {
        insights::Plan::Counts(mut request) => {
            if request.events.is_empty() {
                workspace::check_any_event(&view, "bookmark_id")?;
            }
            let mut attacher = Attacher::new(state, project.id);
            request.filter = attacher.optional(request.filter.take()).await?;
            request.on = attacher.optional(request.on.take()).await?;
            let counts = state.reports.segment(request.query(project.id)).await?;
            insights::answer(&request, &counts, now)
        }
        insights::Plan::Funnel { funnel_id, params } => {
            let funnel = state.metadata.funnel(project.id, funnel_id).await?;
            workspace::check_funnel(&view, "bookmark_id", &funnel.definition, &options)?;
            let request = {
                // Not `Send`: read before the next await.
                let reader = sextant_query::params::Params::new(|name| params.get(name).map(String::as_str));
                sextant_query::funnels::FunnelRequest::parse(&reader, funnel.definition, &options).map_err(invalid)?
            };
            let request = insights::whole_range(request);
            let (request, rows) = scan_funnel(state, project.id, request).await?;
            let name = funnel.name;
            sextant_lanes::Lane::Interactive
                .run(move || insights::funnel_answer(&request, &name, &rows, now))
                .await
                .map_err(join_failed)?
        }
        insights::Plan::Retention(request) => {
            if request.born_event.is_none() || request.event.is_none() {
                workspace::check_any_event(&view, "bookmark_id")?;
            }
            let (request, rows) = scan_retention(state, project.id, request).await?;
            sextant_lanes::Lane::Interactive
                .run(move || insights::retention_answer(&request, &rows, now))
                .await
                .map_err(join_failed)?
        }
    };
    let (from, to) = (answer.date_range.from_date.clone(), answer.date_range.to_date.clone());
    match crate::reports::with_annotations(state, project.id, params.get("annotations"), &answer, &from, &to).await? {
        Some(with) => Ok(Json(with).into_response()),
        None => Ok(Json(answer).into_response()),
    }
}

/// A saved report, as the App API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct BookmarkView {
    /// Its id: `/insights?bookmark_id=`.
    #[schema(required = false)]
    pub id: i64,
    /// Its name.
    #[schema(required = false)]
    pub name: String,
    /// `segmentation`, `events`, `funnels` or `retention`.
    #[schema(required = false)]
    pub kind: String,
    /// The report's parameters.
    #[schema(required = false)]
    pub params: BTreeMap<String, String>,
    /// When it was made and changed, and who made it.
    #[serde(flatten)]
    pub audit: AuditView,
}

impl BookmarkView {
    /// The view of a stored report.
    pub fn of(b: &BookmarkInfo, creator: Option<CreatorView>) -> BookmarkView {
        BookmarkView {
            id: b.id,
            name: b.name.clone(),
            kind: b.kind.clone(),
            params: b.params.clone(),
            audit: AuditView::of(&b.audit, creator),
        }
    }
}

/// The body that saves a report.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents the body `app_create` reads
struct BookmarkRequest {
    /// Its name.
    name: String,
    /// `segmentation`, `events`, `funnels` (with `funnel_id` in `params`) or `retention`.
    kind: String,
    /// The report endpoint's parameters: an object of strings, or a query string.
    /// `last_days=N` stands for the N project days up to the day it runs.
    #[schema(value_type = Object)]
    params: Value,
}

/// Reads a body's `params`: a query string (read by `sextant_query::insights`), or an
/// object whose values are taken as text (numbers, booleans, and lists or objects as
/// their JSON).
fn params_of(value: &Value) -> Result<BTreeMap<String, String>, ApiError> {
    let bad = || {
        ApiError::invalid_fields(
            insights::INVALID,
            vec![("params".into(), "must be an object of strings or a query string".into())],
        )
    };
    match value {
        Value::String(q) => Ok(insights::params_from_query(q)),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                Value::Number(n) => Ok((k.clone(), n.to_string())),
                Value::Bool(b) => Ok((k.clone(), b.to_string())),
                Value::Array(_) | Value::Object(_) => Ok((k.clone(), v.to_string())),
                Value::Null => Err(bad()),
            })
            .collect(),
        _ => Err(bad()),
    }
}

crate::resource::app_resource! {
    resource: Bookmarks,
    view: BookmarkView,
    body: BookmarkRequest,
    collection: "/api/app/projects/{project_id}/bookmarks",
    item: "/api/app/projects/{project_id}/bookmarks/{bookmark_id}",
    id: ("bookmark_id" = i64, "The report."),
    list: "List saved reports, newest first",
    create: "Save a report",
    get: "One saved report",
    delete: "Delete a saved report",
}

/// Saved reports, in the App API's one resource pattern (they are replaced, not
/// changed: delete and save again).
pub(crate) struct Bookmarks;

impl Resource for Bookmarks {
    type Stored = BookmarkInfo;
    type View = BookmarkView;
    type Id = i64;
    const ID: &'static str = "bookmark_id";
    const NOUN: &'static str = "saved report";

    fn parse_id(text: &str) -> Option<i64> {
        text.parse().ok()
    }

    fn id_value(id: &i64) -> Value {
        serde_json::json!(id)
    }

    fn view(stored: &BookmarkInfo, creator: Option<CreatorView>) -> BookmarkView {
        BookmarkView::of(stored, creator)
    }

    fn audit(stored: &BookmarkInfo) -> &Audit {
        &stored.audit
    }

    async fn get(md: &Metadata, project: ProjectId, id: &i64) -> sextant_metadata::Result<BookmarkInfo> {
        md.bookmark(project, *id).await
    }

    async fn create(
        state: &AppState,
        project: &Project,
        creator: &Actor,
        body: Value,
    ) -> Result<BookmarkInfo, ApiError> {
        let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty());
        let mut problems = Vec::new();
        let name = text("name").unwrap_or_else(|| {
            problems.push(("name".to_string(), "is required".to_string()));
            ""
        });
        let kind = text("kind").unwrap_or_else(|| {
            problems.push(("kind".to_string(), format!("is required: one of {}", insights::KINDS.join(", "))));
            ""
        });
        if !problems.is_empty() {
            return Err(ApiError::invalid_fields(insights::INVALID, problems));
        }
        let params = params_of(body.get("params").unwrap_or(&Value::Null))?;
        let now = chrono::Utc::now().timestamp_millis();
        insights::check(kind, &params, &expression_options(project), now)?;
        Ok(state.metadata.create_bookmark(project.id, name, kind, &params, creator).await?)
    }

    async fn delete(state: &AppState, project: ProjectId, id: &i64) -> Result<(), ApiError> {
        Ok(state.metadata.delete_bookmark(project, *id).await?)
    }
}

impl Paged for Bookmarks {
    async fn page(md: Metadata, project: ProjectId, page: PageRequest) -> sextant_metadata::Result<Page<BookmarkInfo>> {
        md.list_bookmarks(project, page).await
    }
}
