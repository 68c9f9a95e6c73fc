//! Experiments, at Mixpanel's paths and in its shapes (`experiments.openapi.yaml`):
//! `/api/app/workspaces/{workspace_id}/experiments[/{experiment_id}]` lists (archived
//! ones with `include_archived=true`), creates (a draft), gets, changes (`PATCH`) and
//! deletes them; `.../launch`, `.../force_conclude` and `.../decide` move one through
//! its lifecycle; `POST .../archive` archives and `DELETE .../archive` restores one.
//! The workspace names the project; credentials are the App API's for it (every role
//! reads, analysts and above change, as for feature flags).
//!
//! `GET .../{experiment_id}/results` is Sextant's own: per variant, users exposed and
//! converted on a metric event, against the control (`sextant_query::experiments`).
//!
//! The lifecycle's rules are `sextant_flags::experiment`'s. An experiment whose
//! `settings.feature_flag_id` names a flag marks that flag's experiment as running when
//! launched and as stopped when concluded or decided, so the SDKs' exposure events say
//! so (`crate::flag_book` serves the change at once).

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::request::Parts;
use serde::Serialize;
use serde_json::{Map, Value};
use sextant_flags::{Decision, ExperimentChange, ExperimentStatus};
use sextant_metadata::{ExperimentInfo, MetadataError};
use sextant_model::Actor;
use sextant_model::access::Operation;
use sextant_query::experiments::{ExperimentResults, ResultsRequest};

use crate::admin::{admin_for, check_confinement, read_body, workspace_id};
use crate::audit::iso;
use crate::auth::Credential;
use crate::error::ApiError;
use crate::flag_view::{FeatureFlagView, actor_id};
use crate::resource::{Deleted, DeletedId};
use crate::state::AppState;
use sextant_api::envelope::Single;

/// An experiment as the API shows it (`ExperimentApiResponse`).
#[derive(Serialize, utoipa::ToSchema)]
pub struct ExperimentView {
    /// Its id, a UUID.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Always `experiments`.
    pub content_type: &'static str,
    /// A note.
    pub description: Option<String>,
    /// What it expects to learn.
    pub hypothesis: Option<String>,
    /// Where it is in its life.
    pub status: ExperimentStatus,
    /// Its variants, as sent.
    pub variants: Vec<Value>,
    /// Its metrics, as sent.
    pub metrics: Vec<Value>,
    /// Settings (`feature_flag_id`: the flag it reads), and `decision` once decided.
    pub settings: Map<String, Value>,
    /// As sent.
    pub exposures_cache: Map<String, Value>,
    /// As sent.
    pub results_cache: Map<String, Value>,
    /// Labels.
    pub tags: Vec<String>,
    /// When it started (ISO 8601).
    pub start_date: Option<String>,
    /// When it ended.
    pub end_date: Option<String>,
    /// The flag it reads, as the flags API shows it.
    #[schema(value_type = Option<Object>)]
    pub feature_flag: Option<Value>,
    /// When it was made.
    pub created: String,
    /// The service account or API token that made it.
    pub creator_id: Option<i64>,
    /// Its name.
    pub creator_name: Option<String>,
    /// Always null: credentials have no e-mail address.
    pub creator_email: Option<String>,
    /// When it last changed.
    pub modified: String,
    /// Who changed it last (a service account or API token).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_modified_by_id: Option<i64>,
    /// Their name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_modified_by_name: Option<String>,
    /// When it was archived.
    pub deleted: Option<String>,
    /// Always false.
    pub is_favorited: bool,
    /// Always null.
    pub pinned_date: Option<String>,
}

/// The list: `{"status": "ok", "results": [...]}`, oldest first.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ExperimentList {
    /// Always `ok`.
    pub status: String,
    /// The workspace's experiments.
    pub results: Vec<ExperimentView>,
}

impl ExperimentView {
    async fn of(state: &AppState, e: ExperimentInfo, project_name: &str) -> Result<ExperimentView, ApiError> {
        let feature_flag = match e.spec.flag_id() {
            None => None,
            Some(flag) => match state.metadata.flag(e.project_id, flag).await {
                Ok(f) if f.workspace_id == e.workspace_id => {
                    Some(serde_json::to_value(FeatureFlagView::of(f, project_name)).unwrap_or(Value::Null))
                }
                Ok(_) | Err(MetadataError::NotFound(_)) => None,
                Err(other) => return Err(other.into()),
            },
        };
        let mut settings = e.spec.settings.clone();
        if let Some(decision) = &e.spec.decision {
            settings.insert("decision".into(), serde_json::to_value(decision).unwrap_or(Value::Null));
        }
        let creator = e.audit.creator.as_ref();
        Ok(ExperimentView {
            id: e.id,
            name: e.spec.name,
            content_type: "experiments",
            description: e.spec.description,
            hypothesis: e.spec.hypothesis,
            status: e.status,
            variants: e.spec.variants,
            metrics: e.spec.metrics,
            settings,
            exposures_cache: e.spec.exposures_cache,
            results_cache: e.spec.results_cache,
            tags: e.spec.tags,
            start_date: e.start_ms.and_then(iso),
            end_date: e.end_ms.and_then(iso),
            feature_flag,
            created: iso(e.audit.created_at_ms).unwrap_or_default(),
            creator_id: creator.and_then(actor_id),
            creator_name: creator.map(|a| a.name.clone()),
            creator_email: None,
            modified: iso(e.audit.modified_at_ms).unwrap_or_default(),
            last_modified_by_id: e.modifier.as_ref().and_then(actor_id),
            last_modified_by_name: e.modifier.as_ref().map(|a| a.name.clone()),
            deleted: e.deleted_at_ms.and_then(iso),
            is_favorited: false,
            pinned_date: None,
        })
    }
}

/// The request's credential for the workspace's project, allowed `op` there.
async fn caller(
    state: &AppState,
    workspace: &str,
    parts: &Parts,
    op: Operation,
) -> Result<(Credential, i64), ApiError> {
    let workspace = workspace_id(workspace)?;
    // The credential is checked before the workspace is said not to exist: against the
    // workspace's project, or the `project_id` a caller sends (service accounts do).
    let (project, missing) = match state.metadata.workspace_project(workspace).await {
        Ok(project) => (project.0.to_string(), None),
        Err(MetadataError::NotFound(what)) => {
            let params = sextant_ingest::Params::parse(parts.uri.query().unwrap_or("").as_bytes());
            match params.get("project_id") {
                Some(project) => (project.to_string(), Some(what)),
                None => return Err(MetadataError::NotFound(what).into()),
            }
        }
        Err(other) => return Err(other.into()),
    };
    let (credential, _) = admin_for(state, &project, parts, op).await?;
    if let Some(what) = missing {
        return Err(MetadataError::NotFound(what).into());
    }
    check_confinement(state, &credential, workspace).await?;
    Ok((credential, workspace))
}

/// The request's credential, allowed `op`, and the experiment `id` of the workspace.
async fn the_experiment(
    state: &AppState,
    workspace: &str,
    id: &str,
    parts: &Parts,
    op: Operation,
) -> Result<(Credential, ExperimentInfo), ApiError> {
    let (credential, workspace) = caller(state, workspace, parts, op).await?;
    let e = experiment_in(state, &credential, workspace, id).await?;
    Ok((credential, e))
}

/// The experiment `id` of the workspace.
async fn experiment_in(
    state: &AppState,
    credential: &Credential,
    workspace: i64,
    id: &str,
) -> Result<ExperimentInfo, ApiError> {
    let e = state.metadata.experiment(credential.project.id, id).await?;
    if e.workspace_id != workspace {
        return Err(MetadataError::NotFound(format!("experiment {id} in workspace {workspace}")).into());
    }
    Ok(e)
}

fn invalid(problems: Vec<(String, String)>) -> ApiError {
    ApiError::invalid_fields("invalid experiment", problems)
}

/// The flag `e` reads, if it names one: a flag of its own workspace, or a field error.
async fn flag_of(state: &AppState, e: &ExperimentInfo) -> Result<Option<sextant_metadata::FlagInfo>, ApiError> {
    match e.spec.flag_id() {
        None => Ok(None),
        Some(flag) => flag_in_workspace(state, e.project_id, e.workspace_id, flag).await.map(Some),
    }
}

/// The flag `flag` of `workspace`, or a field error naming `settings.feature_flag_id`.
async fn flag_in_workspace(
    state: &AppState,
    project: sextant_model::ProjectId,
    workspace: i64,
    flag: &str,
) -> Result<sextant_metadata::FlagInfo, ApiError> {
    match state.metadata.flag(project, flag).await {
        Ok(f) if f.workspace_id == workspace => Ok(f),
        Ok(_) | Err(MetadataError::NotFound(_)) => Err(invalid(vec![(
            "settings.feature_flag_id".into(),
            format!("names no flag of workspace {workspace}: `{flag}`"),
        )])),
        Err(other) => Err(other.into()),
    }
}

/// Marks the flag `e` reads as read by it, running or not. A flag another running
/// experiment holds is refused when `e` launches; when `e` stops, or is archived or
/// deleted, only a mark it holds is cleared.
async fn mark_flag(state: &AppState, e: &ExperimentInfo, running: bool, actor: &Actor) -> Result<(), ApiError> {
    let Some(mut flag) = flag_of(state, e).await? else { return Ok(()) };
    let held_by_e = flag.spec.experiment_id.as_deref() == Some(e.id.as_str());
    let held_by_other = !held_by_e && flag.spec.is_experiment_active == Some(true);
    if running && held_by_other {
        return Err(ApiError::new(
            sextant_model::ErrorCode::Conflict,
            format!(
                "flag `{}` is read by running experiment {}: conclude it first",
                flag.spec.key,
                flag.spec.experiment_id.as_deref().unwrap_or("?")
            ),
        ));
    }
    if !running && !held_by_e {
        return Ok(());
    }
    flag.spec.experiment_id = Some(e.id.clone());
    flag.spec.is_experiment_active = Some(running);
    state.metadata.update_flag(e.project_id, &flag.id, flag.spec, false, actor).await?;
    state.flags.forget(e.project_id);
    Ok(())
}

/// Moves `e` to `to`, stamping its start or end, and saves it (and its flag's mark).
async fn move_to(
    state: &AppState,
    credential: &Credential,
    mut e: ExperimentInfo,
    to: ExperimentStatus,
    end_ms: Option<i64>,
) -> Result<Json<Single<ExperimentView>>, ApiError> {
    e.status = e.status.move_to(to).map_err(|problem| invalid(vec![("status".into(), problem)]))?;
    // The flag first: a launch onto a flag another experiment runs on changes nothing.
    mark_flag(state, &e, e.status.is_running(), &credential.actor).await?;
    let now = chrono::Utc::now().timestamp_millis();
    match to {
        ExperimentStatus::Active => e.start_ms = e.start_ms.or(Some(now)),
        ExperimentStatus::Draft => {}
        _ => e.end_ms = end_ms.or(e.end_ms).or(Some(now)),
    }
    let saved = state.metadata.save_experiment(&e, &credential.actor).await?;
    Ok(Json(Single::ok(ExperimentView::of(state, saved, &credential.project.name).await?)))
}

fn parse_time(field: &str, text: &str) -> Result<i64, ApiError> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .map_err(|_| invalid(vec![(field.into(), "must be an ISO 8601 date and time with its offset".into())]))
}

/// `GET /api/app/workspaces/{workspace_id}/experiments`.
#[utoipa::path(
    get,
    path = "/api/app/workspaces/{workspace_id}/experiments",
    tag = "app",
    summary = "List a workspace's experiments, oldest first",
    params(
        ("workspace_id" = i64, Path, description = "The workspace (it names the project)."),
        ("include_archived" = Option<String>, Query, description = "`true` to list archived experiments too.")
    ),
    responses((status = 200, description = "The experiments", body = ExperimentList)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    Path(workspace_id): Path<String>,
    request: Request,
) -> Result<Json<ExperimentList>, ApiError> {
    let (parts, _) = request.into_parts();
    let (credential, workspace) = caller(&state, &workspace_id, &parts, Operation::ReadFlags).await?;
    let params = sextant_ingest::Params::parse(parts.uri.query().unwrap_or("").as_bytes());
    let include_archived = crate::admin::include_archived(&params)?;
    let all = state.metadata.list_experiments(credential.project.id, workspace, include_archived).await?;
    let mut results = Vec::with_capacity(all.len());
    for e in all {
        results.push(ExperimentView::of(&state, e, &credential.project.name).await?);
    }
    Ok(Json(ExperimentList { status: "ok".into(), results }))
}

/// The body that creates an experiment (`CreateExperimentRequest`).
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)] // documents the body `ExperimentChange::parse` reads
struct CreateExperimentRequest {
    #[serde(flatten)]
    spec: sextant_flags::ExperimentSpec,
}

/// The body that changes an experiment (`UpdateExperimentRequest`): any of the
/// create's fields, `status` (forward only), `start_date`, `end_date`.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)] // documents the body `ExperimentChange::parse` reads
struct UpdateExperimentRequest {
    #[serde(flatten)]
    spec: sextant_flags::ExperimentSpec,
    status: Option<ExperimentStatus>,
    start_date: Option<String>,
    end_date: Option<String>,
}

/// `POST /api/app/workspaces/{workspace_id}/experiments`.
#[utoipa::path(
    post,
    path = "/api/app/workspaces/{workspace_id}/experiments",
    tag = "app",
    summary = "Create an experiment (a draft)",
    params(("workspace_id" = i64, Path, description = "The workspace (it names the project).")),
    request_body(content = CreateExperimentRequest, content_type = "application/json"),
    responses((status = 200, description = "Created", body = Single<ExperimentView>)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    Path(workspace_id): Path<String>,
    request: Request,
) -> Result<Json<Single<ExperimentView>>, ApiError> {
    let (parts, body) = request.into_parts();
    let (credential, workspace) = caller(&state, &workspace_id, &parts, Operation::WriteFlags).await?;
    let change = ExperimentChange::parse(read_body(&parts.headers, body).await?, true).map_err(invalid)?;
    let spec = change.apply(&Default::default()).map_err(invalid)?;
    let project = &credential.project;
    if let Some(flag) = spec.flag_id() {
        flag_in_workspace(&state, project.id, workspace, flag).await?;
    }
    let made = state.metadata.create_experiment(project.id, workspace, &spec, &credential.actor).await?;
    Ok(Json(Single::ok(ExperimentView::of(&state, made, &project.name).await?)))
}

/// `GET .../experiments/{experiment_id}`.
#[utoipa::path(
    get,
    path = "/api/app/workspaces/{workspace_id}/experiments/{experiment_id}",
    tag = "app",
    summary = "One experiment (archived ones too)",
    params(
        ("workspace_id" = i64, Path, description = "The workspace."),
        ("experiment_id" = String, Path, description = "The experiment's UUID.")
    ),
    responses((status = 200, description = "The experiment", body = Single<ExperimentView>)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    Path((workspace_id, id)): Path<(String, String)>,
    request: Request,
) -> Result<Json<Single<ExperimentView>>, ApiError> {
    let (parts, _) = request.into_parts();
    let (credential, e) = the_experiment(&state, &workspace_id, &id, &parts, Operation::ReadFlags).await?;
    Ok(Json(Single::ok(ExperimentView::of(&state, e, &credential.project.name).await?)))
}

/// `PATCH .../experiments/{experiment_id}`.
#[utoipa::path(
    patch,
    path = "/api/app/workspaces/{workspace_id}/experiments/{experiment_id}",
    tag = "app",
    summary = "Change an experiment's fields, dates or status (forward only)",
    params(
        ("workspace_id" = i64, Path, description = "The workspace."),
        ("experiment_id" = String, Path, description = "The experiment's UUID.")
    ),
    request_body(content = UpdateExperimentRequest, content_type = "application/json"),
    responses((status = 200, description = "Changed", body = Single<ExperimentView>)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn update(
    State(state): State<AppState>,
    Path((workspace_id, id)): Path<(String, String)>,
    request: Request,
) -> Result<Json<Single<ExperimentView>>, ApiError> {
    let (parts, body) = request.into_parts();
    let (credential, mut e) = the_experiment(&state, &workspace_id, &id, &parts, Operation::WriteFlags).await?;
    let change = ExperimentChange::parse(read_body(&parts.headers, body).await?, false).map_err(invalid)?;
    e.spec = change.apply(&e.spec).map_err(invalid)?;
    flag_of(&state, &e).await?;
    if let Some(text) = &change.start_date {
        e.start_ms = Some(parse_time("start_date", text)?);
    }
    if let Some(text) = &change.end_date {
        e.end_ms = Some(parse_time("end_date", text)?);
    }
    match change.status {
        Some(to) if to != e.status => move_to(&state, &credential, e, to, None).await,
        _ => {
            let saved = state.metadata.save_experiment(&e, &credential.actor).await?;
            Ok(Json(Single::ok(ExperimentView::of(&state, saved, &credential.project.name).await?)))
        }
    }
}

/// `DELETE .../experiments/{experiment_id}`.
#[utoipa::path(
    delete,
    path = "/api/app/workspaces/{workspace_id}/experiments/{experiment_id}",
    tag = "app",
    summary = "Delete an experiment (its flag stays)",
    params(
        ("workspace_id" = i64, Path, description = "The workspace."),
        ("experiment_id" = String, Path, description = "The experiment's UUID.")
    ),
    responses((status = 200, description = "Deleted", body = Deleted)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    Path((workspace_id, id)): Path<(String, String)>,
    request: Request,
) -> Result<Json<Deleted>, ApiError> {
    let (parts, _) = request.into_parts();
    let (credential, e) = the_experiment(&state, &workspace_id, &id, &parts, Operation::WriteFlags).await?;
    mark_flag(&state, &e, false, &credential.actor).await?;
    state.metadata.delete_experiment(credential.project.id, &id).await?;
    Ok(Json(Deleted { status: "ok", results: DeletedId { id: Value::String(id) } }))
}

/// `POST .../experiments/{experiment_id}/archive`.
#[utoipa::path(
    post,
    path = "/api/app/workspaces/{workspace_id}/experiments/{experiment_id}/archive",
    tag = "app",
    summary = "Archive an experiment (listed only with include_archived=true)",
    params(
        ("workspace_id" = i64, Path, description = "The workspace."),
        ("experiment_id" = String, Path, description = "The experiment's UUID.")
    ),
    responses((status = 200, description = "Archived", body = Deleted)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn archive(
    State(state): State<AppState>,
    Path((workspace_id, id)): Path<(String, String)>,
    request: Request,
) -> Result<Json<Deleted>, ApiError> {
    let (parts, _) = request.into_parts();
    let (credential, mut e) = the_experiment(&state, &workspace_id, &id, &parts, Operation::WriteFlags).await?;
    e.deleted_at_ms = e.deleted_at_ms.or(Some(chrono::Utc::now().timestamp_millis()));
    mark_flag(&state, &e, false, &credential.actor).await?;
    state.metadata.save_experiment(&e, &credential.actor).await?;
    Ok(Json(Deleted { status: "ok", results: DeletedId { id: Value::String(id) } }))
}

/// `DELETE .../experiments/{experiment_id}/archive`.
#[utoipa::path(
    delete,
    path = "/api/app/workspaces/{workspace_id}/experiments/{experiment_id}/archive",
    tag = "app",
    summary = "Restore an archived experiment",
    params(
        ("workspace_id" = i64, Path, description = "The workspace."),
        ("experiment_id" = String, Path, description = "The experiment's UUID.")
    ),
    responses((status = 200, description = "Restored", body = Single<ExperimentView>)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn unarchive(
    State(state): State<AppState>,
    Path((workspace_id, id)): Path<(String, String)>,
    request: Request,
) -> Result<Json<Single<ExperimentView>>, ApiError> {
    let (parts, _) = request.into_parts();
    let (credential, mut e) = the_experiment(&state, &workspace_id, &id, &parts, Operation::WriteFlags).await?;
    e.deleted_at_ms = None;
    let saved = state.metadata.save_experiment(&e, &credential.actor).await?;
    Ok(Json(Single::ok(ExperimentView::of(&state, saved, &credential.project.name).await?)))
}

/// `PUT .../experiments/{experiment_id}/launch`.
#[utoipa::path(
    put,
    path = "/api/app/workspaces/{workspace_id}/experiments/{experiment_id}/launch",
    tag = "app",
    summary = "Launch a draft: active from now, its flag's experiment marked running",
    params(
        ("workspace_id" = i64, Path, description = "The workspace."),
        ("experiment_id" = String, Path, description = "The experiment's UUID.")
    ),
    responses((status = 200, description = "Launched", body = Single<ExperimentView>)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn launch(
    State(state): State<AppState>,
    Path((workspace_id, id)): Path<(String, String)>,
    request: Request,
) -> Result<Json<Single<ExperimentView>>, ApiError> {
    let (parts, _) = request.into_parts();
    let (credential, e) = the_experiment(&state, &workspace_id, &id, &parts, Operation::WriteFlags).await?;
    flag_of(&state, &e).await?;
    move_to(&state, &credential, e, ExperimentStatus::Active, None).await
}

/// The body of `force_conclude`.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)] // documents the body `force_conclude` reads
struct ForceConcludeRequest {
    /// When it ended (default: now), ISO 8601.
    end_date: Option<String>,
}

/// `PUT .../experiments/{experiment_id}/force_conclude`.
#[utoipa::path(
    put,
    path = "/api/app/workspaces/{workspace_id}/experiments/{experiment_id}/force_conclude",
    tag = "app",
    summary = "Stop a running experiment without a decision",
    params(
        ("workspace_id" = i64, Path, description = "The workspace."),
        ("experiment_id" = String, Path, description = "The experiment's UUID.")
    ),
    request_body(content = ForceConcludeRequest, content_type = "application/json"),
    responses((status = 200, description = "Concluded", body = Single<ExperimentView>)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn force_conclude(
    State(state): State<AppState>,
    Path((workspace_id, id)): Path<(String, String)>,
    request: Request,
) -> Result<Json<Single<ExperimentView>>, ApiError> {
    let (parts, body) = request.into_parts();
    let (credential, e) = the_experiment(&state, &workspace_id, &id, &parts, Operation::WriteFlags).await?;
    let body = read_body(&parts.headers, body).await?;
    let end = match body.get("end_date") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(parse_time("end_date", text)?),
        Some(_) => return Err(invalid(vec![("end_date".into(), "must be an ISO 8601 date and time".into())])),
    };
    move_to(&state, &credential, e, ExperimentStatus::Concluded, end).await
}

/// `PATCH .../experiments/{experiment_id}/decide`.
#[utoipa::path(
    patch,
    path = "/api/app/workspaces/{workspace_id}/experiments/{experiment_id}/decide",
    tag = "app",
    summary = "Decide a running or concluded experiment: success (with the variant shipped) or fail",
    params(
        ("workspace_id" = i64, Path, description = "The workspace."),
        ("experiment_id" = String, Path, description = "The experiment's UUID.")
    ),
    request_body(content = Decision, content_type = "application/json"),
    responses((status = 200, description = "Decided", body = Single<ExperimentView>)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn decide(
    State(state): State<AppState>,
    Path((workspace_id, id)): Path<(String, String)>,
    request: Request,
) -> Result<Json<Single<ExperimentView>>, ApiError> {
    let (parts, body) = request.into_parts();
    let (credential, mut e) = the_experiment(&state, &workspace_id, &id, &parts, Operation::WriteFlags).await?;
    let decision: Decision = serde_json::from_value(read_body(&parts.headers, body).await?)
        .map_err(|err| invalid(vec![("body".into(), format!("{err} (`success` is required: true or false)"))]))?;
    let to = if decision.success { ExperimentStatus::Success } else { ExperimentStatus::Fail };
    e.spec.decision = Some(decision);
    move_to(&state, &credential, e, to, None).await
}

/// `GET .../experiments/{experiment_id}/results`.
#[utoipa::path(
    get,
    path = "/api/app/workspaces/{workspace_id}/experiments/{experiment_id}/results",
    tag = "app",
    summary = "An experiment's results (Sextant's own): per variant, users exposed and converted, against the control",
    params(
        ("workspace_id" = i64, Path, description = "The workspace."),
        ("experiment_id" = String, Path, description = "The experiment's UUID."),
        ("metric" = Option<String>, Query, description = "The metric event (default: the first of the experiment's metrics with an `event`)."),
        ("property" = Option<String>, Query, description = "A numeric property of the metric event: compare its sum per user (Welch's t-test)."),
        ("window_days" = Option<u32>, Query, description = "Count metric events up to this many days after exposure (1 to 365; default: until the end).")
    ),
    responses((status = 200, description = "The results", body = Single<ExperimentResults>)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn results(
    State(state): State<AppState>,
    Path((workspace_id, id)): Path<(String, String)>,
    request: Request,
) -> Result<Json<Single<ExperimentResults>>, ApiError> {
    let (parts, _) = request.into_parts();
    let (credential, workspace) = caller(&state, &workspace_id, &parts, Operation::ReadFlags).await?;
    let e = experiment_in(&state, &credential, workspace, &id).await?;
    let params = sextant_ingest::Params::parse(parts.uri.query().unwrap_or("").as_bytes());
    let refuse = |field: &str, problem: &str| invalid(vec![(field.into(), problem.into())]);
    let from_ms = e.start_ms.ok_or_else(|| refuse("status", "the experiment has not been launched"))?;
    let flag = flag_of(&state, &e).await?.ok_or_else(|| refuse("settings.feature_flag_id", "names no flag to read"))?;
    // The control: the variant marked so, else the first by key (the order SDKs walk).
    let compiled = sextant_flags::Compiled::new(flag.spec.clone());
    let variants = compiled.variants();
    let control =
        variants.iter().find(|v| v.is_control).or(variants.first()).map(|v| v.key.clone()).unwrap_or_default();
    let metric = match params.get("metric") {
        Some(m) if !m.is_empty() => m.to_string(),
        _ => e
            .spec
            .metrics
            .iter()
            .find_map(|m| m.get("event").and_then(Value::as_str))
            .map(str::to_string)
            .ok_or_else(|| refuse("metric", "is required: the experiment names no metric event"))?,
    };
    let window_ms = match params.get("window_days") {
        None => None,
        Some(text) => match text.parse::<i64>() {
            Ok(days) if (1..=365).contains(&days) => Some(days * 86_400_000),
            _ => return Err(refuse("window_days", "must be a whole number of days from 1 to 365")),
        },
    };
    // What the workspace hides stays hidden: the metric event and property are checked
    // against its view, as reports read through it are.
    let view = state.metadata.workspace(e.project_id, workspace).await?.visibility;
    let property = params.get("property").filter(|p| !p.is_empty()).map(str::to_string);
    if !view.shows_event(&metric) || !view.shows_event(sextant_query::experiments::EXPOSURE_EVENT) {
        return Err(ApiError::forbidden(format!(
            "workspace {workspace} does not show the event `{metric}` or the exposures"
        )));
    }
    if let Some(p) = property.as_deref().filter(|p| !view.shows_property(p)) {
        return Err(ApiError::forbidden(format!("workspace {workspace} hides the property `{p}`")));
    }
    let to_ms = e.end_ms.unwrap_or_else(|| chrono::Utc::now().timestamp_millis());
    let request =
        ResultsRequest { flag_key: flag.spec.key.clone(), metric, property, window_ms, from_ms, to_ms, control };
    let options = crate::reports::expression_options(&credential.project);
    let query = request.query(credential.project.id, &options).map_err(|problem| refuse("metric", &problem))?;
    let rows = state.reports.behaviour(query).await?;
    let answer =
        tokio::task::spawn_blocking(move || request.compute(&rows)).await.map_err(crate::reports::join_failed)?;
    Ok(Json(Single::ok(answer)))
}
