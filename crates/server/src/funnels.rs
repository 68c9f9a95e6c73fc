//! Funnels: `GET /api/query/funnels?funnel_id=` (and `/api/2.0/funnels`) computes a saved
//! funnel, `GET /api/query/funnels/list` lists them; the App API
//! (`/api/app/projects/{project_id}/funnels`) saves, changes, lists and deletes them.
//! What a funnel means is `sextant_query::funnels`, and what a saved one may be is
//! `sextant_query::funnels::definition`: this module only reads the App API's body into
//! its typed fields.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use sextant_metadata::{FunnelChanges, FunnelInfo, Metadata};
use sextant_model::{Actor, Audit, FunnelDefinition, Page, PageRequest, Project, ProjectId};
use sextant_query::FieldErrors;
use sextant_query::funnels::definition::{self, FunnelSpec};
use sextant_query::funnels::{FunnelRequest, ListedFunnel};
use sextant_query::workspace;

use crate::audit::{AuditView, CreatorView, iso};
use crate::error::ApiError;
use crate::extract::Reader;
use crate::reports::{expression_options, join_failed, scan_funnel};
use crate::resource::{Changeable, Paged, Resource};
use crate::state::AppState;
use sextant_api::envelope::{CollectionPage, Single};
use sextant_api::query::FunnelParams;

/// `GET /api/query/funnels`.
#[utoipa::path(
    get,
    path = "/api/query/funnels",
    tag = "query",
    summary = "Compute a saved funnel",
    params(FunnelParams),
    responses((status = 200, description = "`{\"meta\": {\"dates\"}, \"data\": {date: {\"steps\", \"analysis\"}}}`", body = serde_json::Value)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn query(State(state): State<AppState>, reader: Reader) -> Result<Response, ApiError> {
    answer(&state, reader).await
}

/// `GET /api/2.0/funnels`.
#[utoipa::path(
    get,
    path = "/api/2.0/funnels",
    tag = "query",
    summary = "Compute a saved funnel (legacy path)",
    params(FunnelParams),
    responses((status = 200, description = "As `/api/query/funnels`", body = serde_json::Value)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn legacy_query(State(state): State<AppState>, reader: Reader) -> Result<Response, ApiError> {
    answer(&state, reader).await
}

async fn answer(state: &AppState, reader: Reader) -> Result<Response, ApiError> {
    reader.check_workspace()?;
    let Reader { params, credential, options, view, .. } = reader;
    let project = &credential.project;
    let id = params.get("funnel_id").map(str::trim).filter(|v| !v.is_empty());
    let id = id
        .ok_or_else(|| ApiError::invalid("missing required parameter `funnel_id`"))?
        .parse::<i64>()
        .map_err(|_| ApiError::invalid("`funnel_id` must be an integer"))?;
    let saved = state.metadata.funnel(project.id, id).await?;
    workspace::check_funnel(&view, "funnel_id", &saved.definition, &options)?;
    let request = {
        // Not `Send`: read before the next await.
        let reader = sextant_query::params::Params::new(|name| params.get(name));
        FunnelRequest::parse(&reader, saved.definition, &options).map_err(|e| ApiError::invalid(e.0))?
    };
    let (request, rows) = scan_funnel(state, project.id, request).await?;
    // The forward pass is CPU work: off the async workers.
    let answer = sextant_lanes::Lane::Interactive.run(move || request.answer(&rows)).await.map_err(join_failed)?;
    Ok(Json(answer).into_response())
}

/// `GET /api/query/funnels/list`.
#[utoipa::path(
    get,
    path = "/api/query/funnels/list",
    tag = "query",
    summary = "List saved funnels",
    params(
        ("project_id" = Option<i64>, Query, description = "The project, with service-account credentials."),
        ("workspace_id" = Option<i64>, Query, description = "The workspace to read through: the funnels whose steps it shows.")
    ),
    responses((status = 200, description = "`[{\"funnel_id\", \"name\"}]`", body = serde_json::Value)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn list(State(state): State<AppState>, reader: Reader) -> Result<Json<Vec<ListedFunnel>>, ApiError> {
    let all = state.metadata.all_funnels(reader.project().id).await?;
    // Through a workspace, the funnels it can answer: every step's event shown.
    let shown = all.into_iter().filter(|f| f.definition.steps.iter().all(|s| reader.view.shows_event(&s.event)));
    Ok(Json(shown.map(|f| ListedFunnel { funnel_id: f.id, name: f.name }).collect()))
}

/// `GET /api/2.0/funnels/list`.
#[utoipa::path(
    get,
    path = "/api/2.0/funnels/list",
    tag = "query",
    summary = "List saved funnels (legacy path)",
    params(
        ("project_id" = Option<i64>, Query, description = "The project, with service-account credentials."),
        ("workspace_id" = Option<i64>, Query, description = "The workspace to read through: the funnels whose steps it shows.")
    ),
    responses((status = 200, description = "As `/api/query/funnels/list`", body = serde_json::Value)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn legacy_list(state: State<AppState>, reader: Reader) -> Result<Json<Vec<ListedFunnel>>, ApiError> {
    list(state, reader).await
}

/// A saved funnel, as the App API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct FunnelView {
    /// Its id: `/funnels?funnel_id=`.
    #[schema(required = false)]
    pub funnel_id: i64,
    /// Its name.
    #[schema(required = false)]
    pub name: String,
    /// The steps: `{"event", "where"?, "label"?}`.
    #[schema(required = false, value_type = Vec<Object>)]
    pub steps: Vec<sextant_model::FunnelStep>,
    /// The conversion window, in `length_unit`s.
    #[schema(required = false)]
    pub length: u32,
    /// `day`, `hour`, `minute` or `second`.
    #[schema(required = false, value_type = String)]
    pub length_unit: sextant_model::LengthUnit,
    /// `ordered` or `any`.
    #[schema(required = false, value_type = String)]
    pub order: sextant_model::FunnelOrder,
    /// When it last changed (RFC 3339): `modified`, under its earlier name.
    #[schema(required = false)]
    pub updated: Option<String>,
    /// When it was made and changed, and who made it.
    #[serde(flatten)]
    pub audit: AuditView,
}

impl FunnelView {
    /// The view of a stored funnel.
    pub fn of(f: &FunnelInfo, creator: Option<CreatorView>) -> FunnelView {
        FunnelView {
            funnel_id: f.id,
            name: f.name.clone(),
            steps: f.definition.steps.clone(),
            length: f.definition.length,
            length_unit: f.definition.length_unit,
            order: f.definition.order,
            updated: iso(f.audit.modified_at_ms),
            audit: AuditView::of(&f.audit, creator),
        }
    }
}

/// The body that saves or changes a funnel.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents the body the handlers read
struct FunnelBody {
    /// Its name.
    name: String,
    /// Two to 32 steps: `{"event": "Signed up", "where": "properties[\"plan\"] == \"pro\"", "label": "Pro sign-up"}`.
    #[schema(value_type = Vec<Object>)]
    steps: Vec<Value>,
    /// The conversion window (default 30), at most 90 days.
    length: Option<u32>,
    /// `day` (default), `hour`, `minute` or `second`.
    length_unit: Option<String>,
    /// `ordered` (default: each step after the one before) or `any` (the steps after
    /// the first in any order).
    order: Option<String>,
}

/// The definition fields of a funnel body, typed. A value of the wrong JSON type is a
/// mistake in `body`, in serde's words. Fields are read in the order that tells a body
/// with several mistakes about the one the App API has always named first: the text of
/// `length_unit`, then (for a new funnel, `base` being `None`) whether there are steps
/// at all, then the rest in the order serde reads an object's keys (sorted).
fn spec_of(body: &Value, base: Option<&FunnelDefinition>) -> Result<FunnelSpec, ApiError> {
    let given = |field: &str| body.get(field).filter(|v| !v.is_null());
    let mut spec = FunnelSpec::default();
    if let Some(Value::String(unit)) = given("length_unit") {
        spec.length_unit = Some(definition::length_unit(unit)?);
    }
    if base.is_none() && given("steps").is_none() {
        // `define` refuses a new funnel without steps, whatever else the body holds.
        return Ok(spec);
    }
    spec.length = given("length").map(typed::<u32>).transpose()?;
    if let Some(unit) = given("length_unit").filter(|v| !v.is_string()) {
        spec.length_unit = Some(typed(unit)?);
    }
    spec.order = match given("order") {
        Some(Value::String(order)) => Some(definition::order(order)?),
        Some(order) => Some(typed(order)?),
        None => None,
    };
    spec.steps = given("steps").map(typed::<Vec<sextant_model::FunnelStep>>).transpose()?;
    Ok(spec)
}

/// A body field as `T`, or serde's words for why it is not one.
fn typed<T: serde::de::DeserializeOwned>(value: &Value) -> Result<T, ApiError> {
    serde_json::from_value(value.clone())
        .map_err(|e| FieldErrors::one(definition::INVALID, "body", e.to_string()).into())
}

crate::resource::app_resource! {
    resource: Funnels,
    view: FunnelView,
    body: FunnelBody,
    collection: "/api/app/projects/{project_id}/funnels",
    item: "/api/app/projects/{project_id}/funnels/{funnel_id}",
    id: ("funnel_id" = i64, "The funnel."),
    list: "List saved funnels, newest first",
    create: "Save a funnel",
    get: "One saved funnel",
    update: "Rename a funnel or change its steps, window or ordering",
    delete: "Delete a saved funnel",
}

/// Saved funnels, in the App API's one resource pattern.
pub(crate) struct Funnels;

impl Resource for Funnels {
    type Stored = FunnelInfo;
    type View = FunnelView;
    type Id = i64;
    const ID: &'static str = "funnel_id";
    const NOUN: &'static str = "funnel";

    fn parse_id(text: &str) -> Option<i64> {
        text.parse().ok()
    }

    fn id_value(id: &i64) -> Value {
        serde_json::json!(id)
    }

    fn view(stored: &FunnelInfo, creator: Option<CreatorView>) -> FunnelView {
        FunnelView::of(stored, creator)
    }

    fn audit(stored: &FunnelInfo) -> &Audit {
        &stored.audit
    }

    async fn get(md: &Metadata, project: ProjectId, id: &i64) -> sextant_metadata::Result<FunnelInfo> {
        md.funnel(project, *id).await
    }

    async fn create(state: &AppState, project: &Project, creator: &Actor, body: Value) -> Result<FunnelInfo, ApiError> {
        let name = body.get("name").and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty());
        let name = name
            .ok_or_else(|| ApiError::invalid_fields("invalid funnel", vec![("name".into(), "is required".into())]))?;
        let definition = definition::define(spec_of(&body, None)?, None, &expression_options(project))?;
        Ok(state.metadata.create_funnel(project.id, name, &definition, creator).await?)
    }

    async fn delete(state: &AppState, project: ProjectId, id: &i64) -> Result<(), ApiError> {
        Ok(state.metadata.delete_funnel(project, *id).await?)
    }
}

impl Paged for Funnels {
    async fn page(md: Metadata, project: ProjectId, page: PageRequest) -> sextant_metadata::Result<Page<FunnelInfo>> {
        md.list_funnels(project, page).await
    }
}

impl Changeable for Funnels {
    async fn update(state: &AppState, project: &Project, id: &i64, body: Value) -> Result<FunnelInfo, ApiError> {
        let stored = state.metadata.funnel(project.id, *id).await?;
        let name = body.get("name").and_then(Value::as_str).map(str::to_string);
        let base = Some(&stored.definition);
        let definition = definition::define(spec_of(&body, base)?, base, &expression_options(project))?;
        let changes = FunnelChanges { name, definition: Some(definition) };
        Ok(state.metadata.update_funnel(project.id, *id, changes).await?)
    }
}
