//! Feature-flag management, at Mixpanel's paths and in its shapes
//! (`feature-flags-management.openapi.yaml`):
//! `/api/app/projects/{project_id}/workspaces/{workspace_id}/feature-flags[/{flag_id}]`
//! lists (`include_archived=true` adds the archived), creates, gets, replaces (`PUT`,
//! the whole definition; `reset_hash_salt: true` draws a new salt) and deletes
//! (archives: Mixpanel's soft delete) flags. Answers are `{"status": "ok", "results"}`;
//! a flag shows the spec's `FeatureFlagApiResponse` fields. Every role reads flags;
//! analysts and above change them; a service account confined to some workspaces
//! manages only theirs.
//!
//! The definition's rules are `sextant_flags::definition`'s; a change reaches `/flags`
//! and `/flags/definitions` on the next request (`crate::flag_book`). A cohort a rollout
//! group names must be one of the project's, of profile properties only, and shown by
//! the flag's workspace.

use axum::Json;
use axum::extract::{Path, Request, State};
use serde::Serialize;
use serde_json::Value;
use sextant_flags::{FlagRequest, FlagSpec};
use sextant_metadata::{FlagInfo, MetadataError};
use sextant_model::access::Operation;
use sextant_model::{CohortId, ProjectId};
use sextant_query::workspace::shows_cohort;

use crate::admin::{admin_for, read_body};
use crate::auth::Credential;
use crate::error::ApiError;
use crate::flag_view::FeatureFlagView;
use crate::resource::{Deleted, DeletedId};
use crate::state::AppState;
use sextant_api::envelope::Single;

/// The list: `{"status": "ok", "results": [...]}`, oldest first.
#[derive(Serialize, utoipa::ToSchema)]
pub struct FeatureFlagList {
    /// Always `ok`.
    pub status: String,
    /// The workspace's flags.
    pub results: Vec<FeatureFlagView>,
}

/// The body that makes or replaces a flag (`FeatureFlagRequest`): the definition, and
/// `reset_hash_salt` to draw a new salt.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)] // documents the body `FlagRequest::parse` reads
struct FeatureFlagRequest {
    #[serde(flatten)]
    definition: FlagSpec,
    /// Draws a new hash salt (every user may change variant).
    reset_hash_salt: Option<bool>,
}

/// A request body, read and checked by `sextant_flags` ([`FlagRequest::parse`]).
fn parse_body(body: Value) -> Result<FlagRequest, ApiError> {
    FlagRequest::parse(body).map_err(|problems| ApiError::invalid_fields("invalid feature flag", problems))
}

/// The cohorts a flag's groups name must be the project's, read profile properties
/// only (a behaviour would cost a scan of the project's events at every `/flags`
/// call), and count no event the flag's workspace hides.
async fn check_cohorts(state: &AppState, project: ProjectId, workspace: i64, spec: &FlagSpec) -> Result<(), ApiError> {
    let mut problems = Vec::new();
    let mut view = None;
    for (i, rollout) in spec.ruleset.rollout.iter().enumerate() {
        let Some(id) = rollout.cohort_id() else { continue };
        let at = format!("ruleset.rollout[{i}].cohort_definition");
        let cohort = match state.metadata.cohort(project, CohortId(id)).await {
            Ok(c) => c,
            Err(MetadataError::NotFound(_)) => {
                problems.push((at, format!("project {} has no cohort {id}", project.0)));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if view.is_none() {
            view = Some(state.metadata.workspace(project, workspace).await?.visibility);
        }
        if !cohort.definition.behaviors.is_empty() {
            problems.push((at, format!("cohort {id} reads behaviours; a flag targets cohorts of profile properties")));
        } else if !view.as_ref().is_some_and(|v| shows_cohort(v, &cohort.definition)) {
            problems.push((at, format!("cohort {id} reads what workspace {workspace} does not show")));
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(ApiError::invalid_fields("invalid feature flag", problems)) }
}

/// The workspace in the path, if the credential may manage flags in it.
async fn workspace_of(state: &AppState, credential: &Credential, text: &str) -> Result<i64, ApiError> {
    let id = crate::admin::workspace_id(text)?;
    crate::admin::check_confinement(state, credential, id).await?;
    Ok(id)
}

/// The flag `id` of the workspace (a flag of another workspace is not found here).
async fn flag_in(state: &AppState, credential: &Credential, workspace: i64, id: &str) -> Result<FlagInfo, ApiError> {
    let flag = state.metadata.flag(credential.project.id, id).await?;
    if flag.workspace_id != workspace {
        return Err(
            sextant_metadata::MetadataError::NotFound(format!("feature flag {id} in workspace {workspace}")).into()
        );
    }
    Ok(flag)
}

/// `GET .../feature-flags`.
#[utoipa::path(
    get,
    path = "/api/app/projects/{project_id}/workspaces/{workspace_id}/feature-flags",
    tag = "app",
    summary = "List a workspace's feature flags, oldest first",
    params(
        ("project_id" = i64, Path, description = "The project."),
        ("workspace_id" = i64, Path, description = "The workspace."),
        ("include_archived" = Option<String>, Query, description = "`true` to list archived flags too.")
    ),
    responses((status = 200, description = "The flags", body = FeatureFlagList)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    Path((project_id, workspace_id)): Path<(String, String)>,
    request: Request,
) -> Result<Json<FeatureFlagList>, ApiError> {
    let (parts, _) = request.into_parts();
    let (credential, params) = admin_for(&state, &project_id, &parts, Operation::ReadFlags).await?;
    let workspace = workspace_of(&state, &credential, &workspace_id).await?;
    let include_archived = crate::admin::include_archived(&params)?;
    let flags = state.metadata.list_flags(credential.project.id, workspace, include_archived).await?;
    let name = &credential.project.name;
    Ok(Json(FeatureFlagList {
        status: "ok".into(),
        results: flags.into_iter().map(|f| FeatureFlagView::of(f, name)).collect(),
    }))
}

/// `POST .../feature-flags`.
#[utoipa::path(
    post,
    path = "/api/app/projects/{project_id}/workspaces/{workspace_id}/feature-flags",
    tag = "app",
    summary = "Create a feature flag (a fresh hash salt unless one is given)",
    params(
        ("project_id" = i64, Path, description = "The project."),
        ("workspace_id" = i64, Path, description = "The workspace.")
    ),
    request_body(content = FeatureFlagRequest, content_type = "application/json"),
    responses((status = 200, description = "Created", body = Single<FeatureFlagView>)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    Path((project_id, workspace_id)): Path<(String, String)>,
    request: Request,
) -> Result<Json<Single<FeatureFlagView>>, ApiError> {
    let (parts, body) = request.into_parts();
    let (credential, _) = admin_for(&state, &project_id, &parts, Operation::WriteFlags).await?;
    let workspace = workspace_of(&state, &credential, &workspace_id).await?;
    let body = parse_body(read_body(&parts.headers, body).await?)?;
    let project = &credential.project;
    check_cohorts(&state, project.id, workspace, &body.spec).await?;
    let flag = state.metadata.create_flag(project.id, workspace, body.spec, &credential.actor).await?;
    state.flags.forget(project.id);
    Ok(Json(Single::ok(FeatureFlagView::of(flag, &project.name))))
}

/// `GET .../feature-flags/{flag_id}`.
#[utoipa::path(
    get,
    path = "/api/app/projects/{project_id}/workspaces/{workspace_id}/feature-flags/{flag_id}",
    tag = "app",
    summary = "One feature flag (archived ones too)",
    params(
        ("project_id" = i64, Path, description = "The project."),
        ("workspace_id" = i64, Path, description = "The workspace."),
        ("flag_id" = String, Path, description = "The flag's UUID.")
    ),
    responses((status = 200, description = "The flag", body = Single<FeatureFlagView>)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    Path((project_id, workspace_id, flag_id)): Path<(String, String, String)>,
    request: Request,
) -> Result<Json<Single<FeatureFlagView>>, ApiError> {
    let (parts, _) = request.into_parts();
    let (credential, _) = admin_for(&state, &project_id, &parts, Operation::ReadFlags).await?;
    let workspace = workspace_of(&state, &credential, &workspace_id).await?;
    let flag = flag_in(&state, &credential, workspace, &flag_id).await?;
    Ok(Json(Single::ok(FeatureFlagView::of(flag, &credential.project.name))))
}

/// `PUT .../feature-flags/{flag_id}`.
#[utoipa::path(
    put,
    path = "/api/app/projects/{project_id}/workspaces/{workspace_id}/feature-flags/{flag_id}",
    tag = "app",
    summary = "Replace a feature flag's definition (its salt kept unless one is given or `reset_hash_salt`)",
    params(
        ("project_id" = i64, Path, description = "The project."),
        ("workspace_id" = i64, Path, description = "The workspace."),
        ("flag_id" = String, Path, description = "The flag's UUID.")
    ),
    request_body(content = FeatureFlagRequest, content_type = "application/json"),
    responses((status = 200, description = "Replaced", body = Single<FeatureFlagView>)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn update(
    State(state): State<AppState>,
    Path((project_id, workspace_id, flag_id)): Path<(String, String, String)>,
    request: Request,
) -> Result<Json<Single<FeatureFlagView>>, ApiError> {
    let (parts, body) = request.into_parts();
    let (credential, _) = admin_for(&state, &project_id, &parts, Operation::WriteFlags).await?;
    let workspace = workspace_of(&state, &credential, &workspace_id).await?;
    flag_in(&state, &credential, workspace, &flag_id).await?;
    let body = parse_body(read_body(&parts.headers, body).await?)?;
    let project = &credential.project;
    check_cohorts(&state, project.id, workspace, &body.spec).await?;
    let flag =
        state.metadata.update_flag(project.id, &flag_id, body.spec, body.reset_hash_salt, &credential.actor).await?;
    state.flags.forget(project.id);
    Ok(Json(Single::ok(FeatureFlagView::of(flag, &project.name))))
}

/// `DELETE .../feature-flags/{flag_id}`.
#[utoipa::path(
    delete,
    path = "/api/app/projects/{project_id}/workspaces/{workspace_id}/feature-flags/{flag_id}",
    tag = "app",
    summary = "Delete (archive) a feature flag: no longer served, its key free again",
    params(
        ("project_id" = i64, Path, description = "The project."),
        ("workspace_id" = i64, Path, description = "The workspace."),
        ("flag_id" = String, Path, description = "The flag's UUID.")
    ),
    responses((status = 200, description = "Archived", body = Deleted)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    Path((project_id, workspace_id, flag_id)): Path<(String, String, String)>,
    request: Request,
) -> Result<Json<Deleted>, ApiError> {
    let (parts, _) = request.into_parts();
    let (credential, _) = admin_for(&state, &project_id, &parts, Operation::WriteFlags).await?;
    let workspace = workspace_of(&state, &credential, &workspace_id).await?;
    flag_in(&state, &credential, workspace, &flag_id).await?;
    state.metadata.archive_flag(credential.project.id, &flag_id, &credential.actor).await?;
    state.flags.forget(credential.project.id);
    Ok(Json(Deleted { status: "ok", results: DeletedId { id: Value::String(flag_id) } }))
}
