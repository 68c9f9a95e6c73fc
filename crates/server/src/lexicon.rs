//! Lexicon schemas (`/api/app/projects/{project_id}/schemas[/{entity_type}[/{name}]]`),
//! in the shapes of Mixpanel's Lexicon Schemas spec: list (all, one entity type, one
//! name), create or replace (a batch, or one), delete (all, one type, one name).
//!
//! Every call is charged to the project's Lexicon limits before its body is read (5
//! requests a minute: `admin::admin_for` charges an operation's own family); an upload
//! then its entries and their properties against 4,000 a minute, once the body is read
//! and checked and before anything is written. What a schema may say, how a
//! replacement keeps the Mixpanel metadata it leaves out, and the cap of 3,000 deletions
//! a request are `sextant_model::lexicon`'s and the control plane's rules. After a
//! change, the project's declarations are reloaded for ingestion
//! ([`crate::dictionary`]). Lists merge in the events the project sent but never
//! declared, and every event entry shows under `metadata.sextant` what was seen of it
//! (`sextant_query::lexicon`).

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::request::Parts;
use serde::Serialize;
use serde_json::Value;
use sextant_ingest::Params;
use sextant_metadata::LexiconScope;
use sextant_model::access::Operation;
use sextant_model::lexicon::{self, Batch, EntityType, Problem, SchemaEntry};
use sextant_model::{ApiFamily, ProjectId};

use crate::admin::admin_for;
use crate::auth::Credential;
use crate::error::ApiError;
use crate::limits::LimitSlot;
use crate::state::AppState;
use sextant_api::envelope::Single;

/// An entry as the spec shows it (`SchemaEntry`).
#[derive(Serialize, utoipa::ToSchema)]
pub struct SchemaEntryView {
    /// `event` or `profile`.
    #[serde(rename = "entityType")]
    pub entity_type: String,
    /// The entity's name.
    pub name: String,
    /// Its schema.
    #[serde(rename = "schemaJson")]
    #[schema(value_type = Object)]
    pub schema_json: Value,
}

/// The answer to a batch upload (`BatchUploadSchemasResponse`'s `results`).
#[derive(Serialize, utoipa::ToSchema)]
pub struct UploadCounts {
    /// Entries written (made or replaced).
    pub added: u64,
    /// Entries deleted by `truncate`.
    pub deleted: u64,
}

/// The answer to a delete (`DeleteSchemasResponse`'s `results`).
#[derive(Serialize, utoipa::ToSchema)]
pub struct DeleteCount {
    /// Entries deleted.
    pub delete_count: u64,
}

/// The answer to a single upload (`UploadSchemasResponse`).
#[derive(Serialize, utoipa::ToSchema)]
pub struct Uploaded {
    /// Always `ok`.
    #[schema(value_type = String, example = "ok")]
    pub status: &'static str,
}

/// One entry's schema, as `GET .../schemas/{entity_type}/{name}` answers it (the spec's
/// `Schema`, bare).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = Object)]
pub struct SchemaJson(pub Value);

/// The body of a batch upload, as the spec gives it.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents the body `lexicon::parse_batch` reads
struct SchemaBatchRequest {
    /// The entries, each `{"entityType", "name", "schemaJson"}`.
    #[schema(value_type = Vec<Object>)]
    entries: Vec<Value>,
    /// Delete every entry the batch does not name first.
    truncate: Option<bool>,
}

/// Reads an upload's JSON body (at most 8 MB) and reads it with `parse`, both on a
/// blocking thread: an 8-MB document takes tens of milliseconds to parse.
async fn read_upload<T: Send + 'static>(
    parts: &Parts,
    body: axum::body::Body,
    parse: impl FnOnce(Value) -> Result<T, Vec<Problem>> + Send + 'static,
) -> Result<T, ApiError> {
    let max = ApiFamily::Lexicon.max_request_bytes();
    let raw = crate::body::read(&parts.headers, body, max).await?;
    tokio::task::spawn_blocking(move || {
        let bytes = raw.decompress(max)?;
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::invalid(format!("the body is not valid JSON: {e}")))?;
        parse(value).map_err(refused)
    })
    .await
    .map_err(|e| ApiError::new(sextant_model::ErrorCode::Internal, format!("reading the body failed: {e}")))?
}

fn entity_type_of(text: &str) -> Result<EntityType, ApiError> {
    EntityType::parse(text).ok_or_else(|| {
        ApiError::invalid_fields(
            "invalid entity type",
            vec![("entityType".into(), "must be `event` or `profile`".into())],
        )
    })
}

/// A refusal naming each problem (the first 100).
fn refused(problems: Vec<Problem>) -> ApiError {
    let mut problems = problems;
    problems.truncate(100);
    ApiError::invalid_fields("invalid schemas", problems)
}

/// The entries as the spec shows them: `declared`, with the violations counted against
/// them and, when `seen` names which, what the project sent merged in
/// (`sextant_query::lexicon`).
async fn views(
    state: &AppState,
    project: ProjectId,
    declared: Vec<SchemaEntry>,
    seen: Seen<'_>,
) -> Result<Vec<SchemaEntryView>, ApiError> {
    let violations = state.dictionary.violations(&state.metadata, project).await?;
    let sent = match seen {
        Seen::None => None,
        Seen::All => Some(state.store.dictionary(project, None).await?),
        Seen::Named(name) => Some(state.store.dictionary(project, Some(name)).await?),
    };
    Ok(sextant_query::lexicon::merged(declared, sent, &violations)
        .into_iter()
        .map(|entry| SchemaEntryView {
            entity_type: entry.entity_type.as_str().into(),
            name: entry.name,
            schema_json: entry.schema,
        })
        .collect())
}

/// Which events the project sent to merge into a list.
enum Seen<'a> {
    /// None (`inferred=false`, or profiles).
    None,
    /// Every one.
    All,
    /// The one of this name.
    Named(&'a str),
}

/// What a list merges: everything sent, unless `inferred=false` or the list is of
/// profiles; one name's when `entity_name` names it.
fn seen_for<'a>(params: &'a Params, entity_type: Option<EntityType>) -> Result<Seen<'a>, ApiError> {
    let wanted = match params.get("inferred") {
        None | Some("true") | Some("1") => true,
        Some("false") | Some("0") => false,
        Some(_) => {
            return Err(ApiError::invalid_fields(
                "invalid parameter",
                vec![("inferred".into(), "must be true or false".into())],
            ));
        }
    };
    Ok(match (wanted, entity_type, params.get("entity_name")) {
        (false, _, _) | (_, Some(EntityType::Profile), _) => Seen::None,
        (true, _, Some(name)) => Seen::Named(name),
        (true, _, None) => Seen::All,
    })
}

/// Writes a batch for the credential, charged by its entries and properties first, and
/// reloads the project's declarations.
async fn write(
    state: &AppState,
    parts: &Parts,
    credential: &Credential,
    batch: Batch,
) -> Result<sextant_metadata::LexiconWrite, ApiError> {
    let project = credential.project.id;
    let items = batch.entries.iter().map(lexicon::items).sum();
    state.limiter.admit_volume(&LimitSlot::of(&parts.extensions), project, ApiFamily::Lexicon, items)?;
    let actor = credential.actor.clone();
    change(state, project, move |md| async move { md.write_lexicon(project, batch, &actor).await }).await
}

async fn delete_in(
    state: &AppState,
    credential: &Credential,
    scope: LexiconScope<'_>,
) -> Result<Json<Single<DeleteCount>>, ApiError> {
    let project = credential.project.id;
    let (kind, name) = match scope {
        LexiconScope::All => (None, None),
        LexiconScope::Type(t) => (Some(t), None),
        LexiconScope::One(t, name) => (Some(t), Some(name.to_string())),
    };
    let delete_count = change(state, project, move |md| async move {
        let scope = match (kind, name.as_deref()) {
            (None, _) => LexiconScope::All,
            (Some(t), None) => LexiconScope::Type(t),
            (Some(t), Some(name)) => LexiconScope::One(t, name),
        };
        md.delete_lexicon(project, scope).await
    })
    .await?;
    Ok(Json(Single::ok(DeleteCount { delete_count })))
}

/// Runs a change of the project's schemas and then the reload of what ingestion and
/// `GET /schemas` read, one change at a time (so an older read is never installed after
/// a newer one), to the end even if the request is dropped meanwhile (its deadline, a
/// client gone): a change whose reload never ran would leave both on the old schemas.
async fn change<T, F>(
    state: &AppState,
    project: ProjectId,
    work: impl FnOnce(sextant_metadata::Metadata) -> F + Send + 'static,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: std::future::Future<Output = sextant_metadata::Result<T>> + Send + 'static,
{
    let state = state.clone();
    tokio::spawn(async move {
        let _one_change = state.dictionary.changing().await;
        let done = work(state.metadata.clone()).await;
        state.dictionary.reload(&state.metadata, project).await?;
        Ok::<T, ApiError>(done?)
    })
    .await
    .map_err(|e| ApiError::new(sextant_model::ErrorCode::Internal, format!("the change failed: {e}")))?
}

/// `GET /api/app/projects/{project_id}/schemas`.
#[utoipa::path(
    get,
    path = "/api/app/projects/{project_id}/schemas",
    tag = "lexicon",
    summary = "Every schema of the project, by entity type and name, with the events it sent but never declared",
    params(
        ("project_id" = i64, Path, description = "The project."),
        ("inferred" = Option<bool>, Query, description = "`false`: the declared schemas alone.")
    ),
    responses((status = 200, description = "The entries", body = Single<Vec<SchemaEntryView>>)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    Path(project_id): Path<String>,
    request: Request,
) -> Result<Json<Single<Vec<SchemaEntryView>>>, ApiError> {
    let (parts, _) = request.into_parts();
    let (credential, params) = admin_for(&state, &project_id, &parts, Operation::ReadLexicon).await?;
    let seen = seen_for(&params, None)?;
    let project = credential.project.id;
    let entries = state.dictionary.schemas(project, LexiconScope::All);
    Ok(Json(Single::ok(views(&state, project, entries, seen).await?)))
}

/// `POST /api/app/projects/{project_id}/schemas`.
#[utoipa::path(
    post,
    path = "/api/app/projects/{project_id}/schemas",
    tag = "lexicon",
    summary = "Create or replace schemas; `truncate` deletes every schema not named",
    params(("project_id" = i64, Path, description = "The project.")),
    request_body(content = SchemaBatchRequest, content_type = "application/json"),
    responses((status = 200, description = "What was written and deleted", body = Single<UploadCounts>)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn upload(
    State(state): State<AppState>,
    Path(project_id): Path<String>,
    request: Request,
) -> Result<Json<Single<UploadCounts>>, ApiError> {
    let (parts, body) = request.into_parts();
    let (credential, _) = admin_for(&state, &project_id, &parts, Operation::WriteLexicon).await?;
    let batch = read_upload(&parts, body, |body| lexicon::parse_batch(&body)).await?;
    let done = write(&state, &parts, &credential, batch).await?;
    Ok(Json(Single::ok(UploadCounts { added: done.added, deleted: done.deleted })))
}

/// `DELETE /api/app/projects/{project_id}/schemas`.
#[utoipa::path(
    delete,
    path = "/api/app/projects/{project_id}/schemas",
    tag = "lexicon",
    summary = "Delete every schema of the project (at most 3,000 a request)",
    params(("project_id" = i64, Path, description = "The project.")),
    responses((status = 200, description = "How many were deleted", body = Single<DeleteCount>)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn delete_all(
    State(state): State<AppState>,
    Path(project_id): Path<String>,
    request: Request,
) -> Result<Json<Single<DeleteCount>>, ApiError> {
    let (parts, _) = request.into_parts();
    let (credential, _) = admin_for(&state, &project_id, &parts, Operation::WriteLexicon).await?;
    delete_in(&state, &credential, LexiconScope::All).await
}

/// The scope of a request on one entity type: the type, or one of its names when
/// `entity_name` is given.
fn type_scope<'a>(entity_type: EntityType, params: &'a Params) -> LexiconScope<'a> {
    match params.get("entity_name") {
        Some(name) => LexiconScope::One(entity_type, name),
        None => LexiconScope::Type(entity_type),
    }
}

/// `GET /api/app/projects/{project_id}/schemas/{entity_type}`.
#[utoipa::path(
    get,
    path = "/api/app/projects/{project_id}/schemas/{entity_type}",
    tag = "lexicon",
    summary = "The schemas of one entity type (or one name of it, with `entity_name`)",
    params(
        ("project_id" = i64, Path, description = "The project."),
        ("entity_type" = String, Path, description = "`event` or `profile`."),
        ("entity_name" = Option<String>, Query, description = "Only this name."),
        ("inferred" = Option<bool>, Query, description = "`false`: the declared schemas alone.")
    ),
    responses((status = 200, description = "The entries", body = Single<Vec<SchemaEntryView>>)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn list_type(
    State(state): State<AppState>,
    Path((project_id, entity_type)): Path<(String, String)>,
    request: Request,
) -> Result<Json<Single<Vec<SchemaEntryView>>>, ApiError> {
    let (parts, _) = request.into_parts();
    let (credential, params) = admin_for(&state, &project_id, &parts, Operation::ReadLexicon).await?;
    let entity_type = entity_type_of(&entity_type)?;
    let seen = seen_for(&params, Some(entity_type))?;
    let project = credential.project.id;
    let entries = state.dictionary.schemas(project, type_scope(entity_type, &params));
    Ok(Json(Single::ok(views(&state, project, entries, seen).await?)))
}

/// `DELETE /api/app/projects/{project_id}/schemas/{entity_type}`.
#[utoipa::path(
    delete,
    path = "/api/app/projects/{project_id}/schemas/{entity_type}",
    tag = "lexicon",
    summary = "Delete the schemas of one entity type (or one name of it, with `entity_name`)",
    params(
        ("project_id" = i64, Path, description = "The project."),
        ("entity_type" = String, Path, description = "`event` or `profile`."),
        ("entity_name" = Option<String>, Query, description = "Only this name.")
    ),
    responses((status = 200, description = "How many were deleted", body = Single<DeleteCount>)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn delete_type(
    State(state): State<AppState>,
    Path((project_id, entity_type)): Path<(String, String)>,
    request: Request,
) -> Result<Json<Single<DeleteCount>>, ApiError> {
    let (parts, _) = request.into_parts();
    let (credential, params) = admin_for(&state, &project_id, &parts, Operation::WriteLexicon).await?;
    let entity_type = entity_type_of(&entity_type)?;
    delete_in(&state, &credential, type_scope(entity_type, &params)).await
}

/// `GET /api/app/projects/{project_id}/schemas/{entity_type}/{name}`.
#[utoipa::path(
    get,
    path = "/api/app/projects/{project_id}/schemas/{entity_type}/{name}",
    tag = "lexicon",
    summary = "One entry's schema, bare, as the spec answers it",
    params(
        ("project_id" = i64, Path, description = "The project."),
        ("entity_type" = String, Path, description = "`event` or `profile`."),
        ("name" = String, Path, description = "The entity's name.")
    ),
    responses((status = 200, description = "The schema", body = SchemaJson)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn get_one(
    State(state): State<AppState>,
    Path((project_id, entity_type, name)): Path<(String, String, String)>,
    request: Request,
) -> Result<Json<SchemaJson>, ApiError> {
    let (parts, _) = request.into_parts();
    let (credential, _) = admin_for(&state, &project_id, &parts, Operation::ReadLexicon).await?;
    let entity_type = entity_type_of(&entity_type)?;
    let project = credential.project.id;
    let entry = state.dictionary.schemas(project, LexiconScope::One(entity_type, &name)).pop().ok_or_else(|| {
        ApiError::new(sextant_model::ErrorCode::NotFound, format!("{} schema `{name}` not found", entity_type.as_str()))
    })?;
    let seen = if entity_type == EntityType::Event { Seen::Named(&name) } else { Seen::None };
    let mut shown = views(&state, project, vec![entry], seen).await?;
    Ok(Json(SchemaJson(shown.pop().map_or(Value::Null, |v| v.schema_json))))
}

/// `DELETE /api/app/projects/{project_id}/schemas/{entity_type}/{name}`.
#[utoipa::path(
    delete,
    path = "/api/app/projects/{project_id}/schemas/{entity_type}/{name}",
    tag = "lexicon",
    summary = "Delete one entry",
    params(
        ("project_id" = i64, Path, description = "The project."),
        ("entity_type" = String, Path, description = "`event` or `profile`."),
        ("name" = String, Path, description = "The entity's name.")
    ),
    responses((status = 200, description = "How many were deleted (0 or 1)", body = Single<DeleteCount>)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn delete_one(
    State(state): State<AppState>,
    Path((project_id, entity_type, name)): Path<(String, String, String)>,
    request: Request,
) -> Result<Json<Single<DeleteCount>>, ApiError> {
    let (parts, _) = request.into_parts();
    let (credential, _) = admin_for(&state, &project_id, &parts, Operation::WriteLexicon).await?;
    let entity_type = entity_type_of(&entity_type)?;
    delete_in(&state, &credential, LexiconScope::One(entity_type, &name)).await
}

/// `POST /api/app/projects/{project_id}/schemas/{entity_type}/{name}`.
#[utoipa::path(
    post,
    path = "/api/app/projects/{project_id}/schemas/{entity_type}/{name}",
    tag = "lexicon",
    summary = "Create or replace one entry's schema",
    params(
        ("project_id" = i64, Path, description = "The project."),
        ("entity_type" = String, Path, description = "`event` or `profile`."),
        ("name" = String, Path, description = "The entity's name.")
    ),
    request_body(content = SchemaJson, content_type = "application/json"),
    responses((status = 200, description = "Written", body = Uploaded)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn upload_one(
    State(state): State<AppState>,
    Path((project_id, entity_type, name)): Path<(String, String, String)>,
    request: Request,
) -> Result<Json<Uploaded>, ApiError> {
    let (parts, body) = request.into_parts();
    let (credential, _) = admin_for(&state, &project_id, &parts, Operation::WriteLexicon).await?;
    let entity_type = entity_type_of(&entity_type)?;
    let entry = read_upload(&parts, body, move |schema| lexicon::parse_one(entity_type, &name, schema)).await?;
    write(&state, &parts, &credential, Batch { entries: vec![entry], truncate: false }).await?;
    Ok(Json(Uploaded { status: "ok" }))
}
