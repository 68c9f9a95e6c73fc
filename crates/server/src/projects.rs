//! Projects, Sextant's own admin endpoints (seed 000's conventions: cursor paging,
//! `fields`, `expand`, rate-limit headers):
//!
//! - `GET|POST /api/app/organizations/{organization_id}/projects`: the organisation's
//!   projects, a page at a time, and making one (its secret is shown once);
//! - `GET|PATCH|DELETE .../projects/{project_id}`: one, changing its settings (name,
//!   timezone, residency region, identity-merge mode while it holds no events,
//!   case-sensitive strings, its own rate limits), and deleting it with everything
//!   kept for it (its events, profiles, identities and lookup rows, then its saved
//!   objects, Lexicon, workspaces, tokens and members' roles);
//! - `GET /api/app/projects/{project_id}`: the project as its members see it.
//!
//! The organisation's calls take an owner or admin of the organisation (HTTP Basic,
//! [`crate::admin::org_admin`]). A change reaches this server's token cache and rate
//! limiter at once, and other servers sharing the control plane within ten seconds.
//! `expand=workspaces` lists each project's workspaces.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::Serialize;
use serde_json::Value;
use sextant_ingest::Params;
use sextant_model::access::Operation;
use sextant_model::rate_limits::FamilyLimits;
use sextant_model::{ApiFamily, Project, ProjectChanges, ProjectId};

use crate::admin::{Caller, admin_for, org_admin, read_body, to_value};
use crate::audit::iso;
use crate::collection::{CollectionQuery, PageParams};
use crate::error::ApiError;
use crate::state::AppState;
use sextant_api::envelope::{CollectionPage, Single};

/// A workspace, as a project's `expand=workspaces` lists it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ProjectWorkspace {
    /// Its id (`workspace_id`).
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Whether it is "All Project Data".
    pub is_default: bool,
}

/// A project.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ProjectView {
    /// Its id (`project_id`).
    #[schema(required = false)]
    pub id: i64,
    /// Its organisation.
    #[schema(required = false)]
    pub organization_id: i64,
    /// Its name.
    #[schema(required = false)]
    pub name: String,
    /// The public token SDKs send with events.
    #[schema(required = false)]
    pub token: String,
    /// The IANA timezone of its reports.
    #[schema(required = false)]
    pub timezone: String,
    /// Where its data lives: `us`, `eu` or `in`.
    #[schema(required = false, value_type = String)]
    pub region: &'static str,
    /// `simplified` or `original` ID merge.
    #[schema(required = false, value_type = String)]
    pub identity_merge: &'static str,
    /// Whether string comparisons in expressions respect case.
    #[schema(required = false)]
    pub case_sensitive_strings: bool,
    /// Its own rate-limit overrides, by family (`{}`: the server's configuration).
    #[schema(required = false, value_type = Object)]
    pub rate_limits: BTreeMap<ApiFamily, FamilyLimits>,
    /// The limits in force, by family: the configuration's with its overrides.
    #[schema(required = false, value_type = Object)]
    pub effective_rate_limits: BTreeMap<ApiFamily, FamilyLimits>,
    /// When it was made (RFC 3339).
    #[schema(required = false)]
    pub created: Option<String>,
    /// Its workspaces, oldest first, with `expand=workspaces`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub workspaces: Option<Vec<ProjectWorkspace>>,
}

/// A project just made, with its secret (shown only now).
#[derive(Serialize, utoipa::ToSchema)]
pub struct NewProjectView {
    /// The project.
    #[serde(flatten)]
    pub project: ProjectView,
    /// The project secret (HTTP Basic `SECRET:`); only its hash is kept.
    pub secret: String,
}

/// The body that makes or changes a project (every field optional on a change).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents the body the handlers read
struct ProjectBody {
    /// Its name (required to make one).
    name: String,
    /// IANA timezone of its reports (default `UTC`).
    timezone: Option<String>,
    /// `us` (default), `eu` or `in`: requests through another region's hosts are refused.
    region: Option<String>,
    /// `simplified` (default) or `original`; fixed once the project holds events.
    identity_merge: Option<String>,
    /// Whether string `==`, `!=` and `in` respect case (default `false`, as Mixpanel).
    case_sensitive_strings: Option<bool>,
    /// Its own rate limits, replacing those it had: `{"query": {"per_hour": 600,
    /// "concurrent": 10}}`; a 0 removes a limit, `{}` returns to the configuration's.
    #[schema(value_type = Option<Object>)]
    rate_limits: Option<Value>,
}

/// Reads `expand` (`workspaces`).
fn expands_workspaces(params: &Params) -> Result<bool, ApiError> {
    let mut workspaces = false;
    for name in params.get("expand").unwrap_or("").split(',').map(str::trim).filter(|n| !n.is_empty()) {
        match name {
            "workspaces" => workspaces = true,
            other => {
                return Err(ApiError::invalid_fields(
                    "invalid expand",
                    vec![("expand".into(), format!("unknown expansion `{other}`; projects expand: workspaces"))],
                ));
            }
        }
    }
    Ok(workspaces)
}

/// The view of `project`, with its workspaces when `expand` asks.
async fn view_of(state: &AppState, project: &Project, expand: bool) -> Result<ProjectView, ApiError> {
    let workspaces = match expand {
        true => Some(
            state
                .metadata
                .workspaces(project.id)
                .await?
                .into_iter()
                .map(|w| ProjectWorkspace { id: w.id, name: w.name, is_default: w.is_default })
                .collect(),
        ),
        false => None,
    };
    let effective = ApiFamily::ALL.into_iter().map(|f| (f, state.limiter.limits_of(project.id, f))).collect();
    Ok(ProjectView {
        id: project.id.0,
        organization_id: project.org_id.0,
        name: project.name.clone(),
        token: project.token.clone(),
        timezone: project.timezone.clone(),
        region: project.region.as_str(),
        identity_merge: project.identity_mode.as_str(),
        case_sensitive_strings: project.case_sensitive_strings,
        rate_limits: project.rate_limits.clone(),
        effective_rate_limits: effective,
        created: iso(project.created_at_ms),
        workspaces,
    })
}

fn changes_of(body: &Value, creating: bool) -> Result<ProjectChanges, ApiError> {
    ProjectChanges::from_json(body, creating).map_err(|problems| ApiError::invalid_fields("invalid project", problems))
}

/// The organisation's project `project_id` (404 for another organisation's).
async fn org_project(state: &AppState, caller: &Caller, project_id: &str) -> Result<Project, ApiError> {
    let id = project_id.trim().parse::<i64>().map(ProjectId).map_err(|_| {
        ApiError::invalid_fields("invalid project id", vec![("project_id".into(), "must be an integer".into())])
    })?;
    match state.metadata.project(id).await? {
        Some(project) if project.org_id == caller.org => Ok(project),
        _ => {
            Err(sextant_metadata::MetadataError::NotFound(format!("project {id} in organization {}", caller.org))
                .into())
        }
    }
}

/// Authenticates an owner or admin of the organisation in the path; with the query's
/// parameters.
async fn org_call(state: &AppState, organization_id: &str, parts: &Parts) -> Result<(Caller, Params), ApiError> {
    let caller = org_admin(state, organization_id, parts).await?;
    Ok((caller, Params::parse(parts.uri.query().unwrap_or("").as_bytes())))
}

/// `GET /api/app/organizations/{organization_id}/projects`.
#[utoipa::path(
    get,
    path = "/api/app/organizations/{organization_id}/projects",
    tag = "app",
    summary = "List the organization's projects, newest first",
    params(
        ("organization_id" = i64, Path, description = "The organization."),
        PageParams,
        ("expand" = Option<String>, Query, description = "`workspaces`: each project's workspaces.")
    ),
    responses((status = 200, description = "A page of projects", body = CollectionPage<ProjectView>)),
    security(("basic" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    Path(organization_id): Path<String>,
    request: Request,
) -> Result<Json<Value>, ApiError> {
    let (parts, _) = request.into_parts();
    let (caller, params) = org_call(&state, &organization_id, &parts).await?;
    let query = CollectionQuery::parse(&params)?;
    let expand = expands_workspaces(&params)?;
    let page = state.metadata.page_projects(caller.org, query.page).await?;
    let mut views = Vec::with_capacity(page.items.len());
    for project in &page.items {
        views.push(view_of(&state, project, expand).await?);
    }
    let page = sextant_model::Page {
        items: views,
        next: page.next,
        has_next: page.has_next,
        previous: page.previous,
        has_previous: page.has_previous,
    };
    Ok(Json(query.respond(page, |view| to_value(view))))
}

/// `POST /api/app/organizations/{organization_id}/projects`.
#[utoipa::path(
    post,
    path = "/api/app/organizations/{organization_id}/projects",
    tag = "app",
    summary = "Make a project (its secret is shown only in this answer)",
    params(("organization_id" = i64, Path, description = "The organization.")),
    request_body(content = ProjectBody, content_type = "application/json"),
    responses((status = 201, description = "The project, with its secret", body = Single<NewProjectView>)),
    security(("basic" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    Path(organization_id): Path<String>,
    request: Request,
) -> Result<(StatusCode, Json<Single<NewProjectView>>), ApiError> {
    let (parts, body) = request.into_parts();
    let (caller, _) = org_call(&state, &organization_id, &parts).await?;
    let changes = changes_of(&read_body(&parts.headers, body).await?, true)?;
    let made = state.metadata.create_project_with(caller.org, &changes).await?;
    state.limiter.set_project_limits(made.project.id, made.project.rate_limits.clone());
    let project = view_of(&state, &made.project, false).await?;
    Ok((StatusCode::CREATED, Json(Single::ok(NewProjectView { project, secret: made.secret }))))
}

/// `GET /api/app/organizations/{organization_id}/projects/{project_id}`.
#[utoipa::path(
    get,
    path = "/api/app/organizations/{organization_id}/projects/{project_id}",
    tag = "app",
    summary = "One of the organization's projects",
    params(
        ("organization_id" = i64, Path, description = "The organization."),
        ("project_id" = i64, Path, description = "The project."),
        ("expand" = Option<String>, Query, description = "`workspaces`: its workspaces.")
    ),
    responses((status = 200, description = "The project", body = Single<ProjectView>)),
    security(("basic" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    Path((organization_id, project_id)): Path<(String, String)>,
    request: Request,
) -> Result<Json<Single<ProjectView>>, ApiError> {
    let (parts, _) = request.into_parts();
    let (caller, params) = org_call(&state, &organization_id, &parts).await?;
    let expand = expands_workspaces(&params)?;
    let project = org_project(&state, &caller, &project_id).await?;
    Ok(Json(Single::ok(view_of(&state, &project, expand).await?)))
}

/// `PATCH /api/app/organizations/{organization_id}/projects/{project_id}`.
#[utoipa::path(
    patch,
    path = "/api/app/organizations/{organization_id}/projects/{project_id}",
    tag = "app",
    summary = "Change a project's settings",
    params(
        ("organization_id" = i64, Path, description = "The organization."),
        ("project_id" = i64, Path, description = "The project.")
    ),
    request_body(content = ProjectBody, content_type = "application/json"),
    responses((status = 200, description = "The project as changed", body = Single<ProjectView>)),
    security(("basic" = []))
)]
pub async fn update(
    State(state): State<AppState>,
    Path((organization_id, project_id)): Path<(String, String)>,
    request: Request,
) -> Result<Json<Single<ProjectView>>, ApiError> {
    let (parts, body) = request.into_parts();
    let (caller, _) = org_call(&state, &organization_id, &parts).await?;
    let project = org_project(&state, &caller, &project_id).await?;
    let changes = changes_of(&read_body(&parts.headers, body).await?, false)?;
    if changes.identity_mode.is_some_and(|mode| mode != project.identity_mode) {
        // What the store learned while keeping the events: no scan of them.
        let seen = state.store.dictionary(project.id, None).await?;
        let events: u64 = seen.iter().map(|e| e.count).sum();
        if events > 0 {
            return Err(ApiError::new(
                sextant_model::ErrorCode::Conflict,
                format!(
                    "project {} holds {events} events merged under {} ID merge; as in Mixpanel, the mode is fixed once \
                     a project has data",
                    project.id,
                    project.identity_mode.as_str()
                ),
            ));
        }
    }
    let changed = state.metadata.update_project(project.id, &changes).await?;
    state.forget_token(&changed.token);
    state.limiter.set_project_limits(changed.id, changed.rate_limits.clone());
    Ok(Json(Single::ok(view_of(&state, &changed, false).await?)))
}

/// `DELETE /api/app/organizations/{organization_id}/projects/{project_id}`.
#[utoipa::path(
    delete,
    path = "/api/app/organizations/{organization_id}/projects/{project_id}",
    tag = "app",
    summary = "Delete a project and everything kept for it",
    params(
        ("organization_id" = i64, Path, description = "The organization."),
        ("project_id" = i64, Path, description = "The project.")
    ),
    responses((status = 200, description = "`{\"status\": \"ok\", \"results\": {\"id\"}}`", body = Single<Object>)),
    security(("basic" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    Path((organization_id, project_id)): Path<(String, String)>,
    request: Request,
) -> Result<Json<Value>, ApiError> {
    let (parts, _) = request.into_parts();
    let (caller, _) = org_call(&state, &organization_id, &parts).await?;
    let project = org_project(&state, &caller, &project_id).await?;
    // The stored data first: a failure then leaves the project, and the call can be
    // repeated. Events sent between the two deletes (a client racing the deletion) are
    // deleted by the second; after it, no credential of the project authenticates here.
    state.store.delete_project(project.id).await?;
    state.metadata.delete_project(project.id).await?;
    state.forget_token(&project.token);
    state.limiter.forget_project(project.id);
    state.dictionary.forget(project.id);
    if let Err(e) = state.store.delete_project(project.id).await {
        // The project is gone and its data was cleared once: what the second pass
        // missed belongs to no project and is never read.
        tracing::warn!(error = %e, project = %project.id, "the second clearing of a deleted project failed");
    }
    Ok(Json(serde_json::json!({"status": "ok", "results": {"id": project.id.0}})))
}

/// `GET /api/app/projects/{project_id}`.
#[utoipa::path(
    get,
    path = "/api/app/projects/{project_id}",
    tag = "app",
    summary = "The project: its settings and, with `expand=workspaces`, its workspaces",
    params(
        ("project_id" = i64, Path, description = "The project."),
        ("expand" = Option<String>, Query, description = "`workspaces`: its workspaces.")
    ),
    responses((status = 200, description = "The project", body = Single<ProjectView>)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn own(
    State(state): State<AppState>,
    Path(project_id): Path<String>,
    request: Request,
) -> Result<Json<Single<ProjectView>>, ApiError> {
    let (parts, _) = request.into_parts();
    let (credential, params) = admin_for(&state, &project_id, &parts, Operation::ReadProject).await?;
    let expand = expands_workspaces(&params)?;
    Ok(Json(Single::ok(view_of(&state, &credential.project, expand).await?)))
}
