//! Warehouse imports (`/api/app/projects/{id}/warehouse-sources/imports`), Mixpanel's
//! Warehouse Connectors API: list, get, patch (pause, resume, `run_every`), delete;
//! create for `event-stream`, `people`, `groups` and `lookup-table` (which makes the
//! lookup table it fills, mapped to its `mixpanel_property`); `manual-sync`, and each
//! run's `history`. They follow the App
//! API's resource pattern (`crate::resource`), a creation answered with 200 and the
//! import as the spec has it. What an import asks for and how its rows map are
//! `sextant_model::warehouse`'s; the runs are `crate::warehouse_jobs`'.

use std::collections::BTreeMap;
use std::marker::PhantomData;

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::Value;
use sextant_metadata::{ImportRun, LookupMapping, Metadata, WarehouseImport};
use sextant_model::access::Operation;
use sextant_model::warehouse::{ImportSpec, ImportType, SyncMode, TableParams, check_run_every};
use sextant_model::{Actor, Audit, Page, PageRequest, Project, ProjectId};

use crate::admin::{admin_for, read_body};
use crate::audit::{AuditView, CreatorView, iso};
use crate::error::ApiError;
use crate::resource::{Changeable, Deleted, Paged, Resource, id_of};
use crate::state::AppState;
use sextant_api::envelope::Single;

/// An import as the App API shows it (`WarehouseImportDetail`, and Sextant's own
/// `insert_id_column_name`, `json_properties_column_name`, `watermark`).
#[derive(Serialize, utoipa::ToSchema)]
pub struct WarehouseImportView {
    /// Its id.
    pub id: i64,
    /// `event_stream`, `people`, `groups` or `lookup_table`.
    pub import_type: &'static str,
    /// `time_based`, `full_sync` or `one_time`.
    #[schema(value_type = String)]
    pub sync_mode: SyncMode,
    /// The source it reads.
    pub warehouse_source_id: i64,
    /// Where in the source: `{"schema_name", "table_name"}`, `{"query"}` or `{"path",
    /// "format"}`.
    #[schema(value_type = Object)]
    pub table_params: TableParams,
    /// Whether it is paused.
    pub paused: bool,
    /// Nanoseconds between scheduled runs (0: `manual-sync` only).
    pub run_every: i64,
    /// When a run last started (epoch ms).
    pub last_dispatch: Option<i64>,
    /// Always false: a deleted import is gone.
    pub is_deleted: bool,
    /// Every row's event name.
    pub event_name: Option<String>,
    /// The column holding the event name.
    pub event_column_name: Option<String>,
    /// The column holding the time.
    pub time_column_name: Option<String>,
    /// The column holding the distinct id.
    pub user_column_name: Option<String>,
    /// The column holding the insert id (Sextant's own).
    pub insert_id_column_name: Option<String>,
    /// The column a `time_based` import follows.
    pub insert_time_column_name: Option<String>,
    /// A column holding a JSON object of more properties.
    pub json_properties_column_name: Option<String>,
    /// Column to property names.
    pub property_mappings: BTreeMap<String, String>,
    /// The group key (groups).
    pub group_key: Option<String>,
    /// The column holding the group id (groups).
    pub group_id_column: Option<String>,
    /// The column holding a lookup table's key (lookup tables).
    pub property_key_column_name: Option<String>,
    /// The lookup table it fills (lookup tables; Sextant's own: `/lookup-tables/{id}`).
    pub lookup_table_id: Option<String>,
    /// The last watermark value stored, as the source wrote it (Sextant's own).
    pub watermark: Option<String>,
    /// When it was made and changed, and who made it.
    #[serde(flatten)]
    pub audit: AuditView,
}

/// A kind of import a creation path makes.
pub(crate) trait ImportKind: Send + Sync + 'static {
    /// The path's import type (`None`: the imports in general, which no path creates).
    const TYPE: Option<ImportType>;
}

/// The imports in general: listed, read, changed, deleted.
pub(crate) struct AnyImport;
/// `POST .../imports/event-stream`.
pub(crate) struct EventStream;
/// `POST .../imports/people`.
pub(crate) struct People;
/// `POST .../imports/groups`.
pub(crate) struct Groups;
/// `POST .../imports/lookup-table`.
pub(crate) struct LookupTable;

impl ImportKind for AnyImport {
    const TYPE: Option<ImportType> = None;
}
impl ImportKind for EventStream {
    const TYPE: Option<ImportType> = Some(ImportType::EventStream);
}
impl ImportKind for People {
    const TYPE: Option<ImportType> = Some(ImportType::People);
}
impl ImportKind for Groups {
    const TYPE: Option<ImportType> = Some(ImportType::Groups);
}
impl ImportKind for LookupTable {
    const TYPE: Option<ImportType> = Some(ImportType::LookupTable);
}

/// Warehouse imports, in the App API's one resource pattern; `K` is the creation
/// path's kind.
pub(crate) struct Imports<K>(PhantomData<K>);

impl<K: ImportKind> Resource for Imports<K> {
    type Stored = WarehouseImport;
    type View = WarehouseImportView;
    type Id = i64;
    const ID: &'static str = "import_id";
    const NOUN: &'static str = "warehouse import";

    fn parse_id(text: &str) -> Option<i64> {
        text.parse().ok()
    }

    fn id_value(id: &i64) -> Value {
        serde_json::json!(id)
    }

    fn view(stored: &WarehouseImport, creator: Option<CreatorView>) -> WarehouseImportView {
        let spec = &stored.spec;
        WarehouseImportView {
            id: stored.id,
            import_type: spec.import_type.as_str(),
            sync_mode: spec.sync_mode,
            warehouse_source_id: spec.warehouse_source_id,
            table_params: spec.table_params.clone(),
            paused: stored.paused,
            run_every: stored.run_every,
            last_dispatch: stored.last_dispatch_ms,
            is_deleted: false,
            event_name: spec.event_name.clone(),
            event_column_name: spec.event_column_name.clone(),
            time_column_name: spec.time_column_name.clone(),
            user_column_name: spec.user_column_name.clone(),
            insert_id_column_name: spec.insert_id_column_name.clone(),
            insert_time_column_name: spec.insert_time_column_name.clone(),
            json_properties_column_name: spec.json_properties_column_name.clone(),
            property_mappings: spec.property_mappings.clone(),
            group_key: spec.group_key.clone(),
            group_id_column: spec.group_id_column.clone(),
            property_key_column_name: spec.property_key_column_name.clone(),
            lookup_table_id: spec.lookup_table_id.clone(),
            watermark: stored.watermark.clone(),
            audit: AuditView::of(&stored.audit, creator),
        }
    }

    fn audit(stored: &WarehouseImport) -> &Audit {
        &stored.audit
    }

    async fn get(md: &Metadata, project: ProjectId, id: &i64) -> sextant_metadata::Result<WarehouseImport> {
        md.warehouse_import(project, *id).await
    }

    async fn create(
        state: &AppState,
        project: &Project,
        creator: &Actor,
        body: Value,
    ) -> Result<WarehouseImport, ApiError> {
        let import_type = K::TYPE.ok_or_else(|| ApiError::invalid("name the import type in the path"))?;
        // The source must be the project's: its kind decides what `table_params` is.
        let source = match body.get("warehouse_source_id").and_then(Value::as_i64) {
            Some(id) => match state.metadata.warehouse_source(project.id, id).await {
                Ok(source) => Some(source.spec.kind),
                Err(sextant_metadata::MetadataError::NotFound(_)) => None,
                Err(e) => return Err(e.into()),
            },
            None => None,
        };
        let mut spec = ImportSpec::parse(&body, import_type, source)
            .map_err(|problems| ApiError::invalid_fields("invalid warehouse import", problems))?;
        if let Some(join) = &spec.mixpanel_property {
            // The lookup table it fills, mapped to the property it joins on.
            let mapping = LookupMapping { target: join.resource_type.clone(), property: join.value.clone() };
            let name = format!("warehouse import of source {}", spec.warehouse_source_id);
            let table = state.metadata.create_lookup_table(project.id, &name, &[mapping], creator).await?;
            spec.lookup_table_id = Some(table.id);
        }
        let made = state.metadata.create_warehouse_import(project.id, &spec, &state.gdpr.runner, creator).await?;
        state.warehouse.wake();
        Ok(made)
    }

    async fn delete(state: &AppState, project: ProjectId, id: &i64) -> Result<(), ApiError> {
        Ok(state.metadata.delete_warehouse_import(project, *id).await?)
    }
}

impl<K: ImportKind> Paged for Imports<K> {
    async fn page(
        md: Metadata,
        project: ProjectId,
        page: PageRequest,
    ) -> sextant_metadata::Result<Page<WarehouseImport>> {
        md.list_warehouse_imports(project, page).await
    }
}

impl<K: ImportKind> Changeable for Imports<K> {
    /// `paused` (required) and `run_every`, as the spec's patch takes them.
    async fn update(state: &AppState, project: &Project, id: &i64, body: Value) -> Result<WarehouseImport, ApiError> {
        let stored = state.metadata.warehouse_import(project.id, *id).await?;
        let mut problems = Vec::new();
        let paused = match body.get("paused") {
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                problems.push(("paused".to_string(), "must be true or false".to_string()));
                stored.paused
            }
            None => {
                problems.push(("paused".to_string(), "is required".to_string()));
                stored.paused
            }
        };
        let run_every = match body.get("run_every") {
            None | Some(Value::Null) => stored.run_every,
            Some(v) => check_run_every(v).unwrap_or_else(|why| {
                problems.push(("run_every".to_string(), why));
                stored.run_every
            }),
        };
        if body.get("databricks_params").is_some_and(|v| !v.is_null()) {
            problems.push((
                "databricks_params".into(),
                "is for Databricks sources, which this server does not read".into(),
            ));
        }
        if !problems.is_empty() {
            return Err(ApiError::invalid_fields("invalid warehouse import change", problems));
        }
        let changed = state.metadata.update_warehouse_import(project.id, *id, paused, run_every).await?;
        state.warehouse.wake();
        Ok(changed)
    }
}

/// The fields a creation takes (`Create*ImportRequest`; see `ImportSpec::parse`).
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)] // documents what `ImportSpec::parse` reads
pub struct CreateImportBody {
    /// The path's type: `event_stream`, `people`, `groups` or `lookup_table`.
    import_type: String,
    /// The source (`/warehouse-sources`).
    warehouse_source_id: i64,
    /// PostgreSQL: `{"schema_name", "table_name"}` or `{"query"}`; files: `{"path":
    /// "events/*.parquet", "format": "parquet"|"csv"}`.
    #[schema(value_type = Object)]
    table_params: Value,
    /// `time_based`, `full_sync` or `one_time`.
    sync_mode: String,
    /// Nanoseconds between runs: 0, hourly, daily, weekly, or whole minutes.
    run_every: Option<i64>,
    /// Every row's event name (or `event_column_name`).
    event_name: Option<String>,
    /// The column holding the event name.
    event_column_name: Option<String>,
    /// The column holding the time (events).
    time_column_name: Option<String>,
    /// The column holding the distinct id (events, people).
    user_column_name: Option<String>,
    /// The column holding the insert id (Sextant's own; else derived from the row).
    insert_id_column_name: Option<String>,
    /// The column `time_based` follows (events: the time column without it).
    insert_time_column_name: Option<String>,
    /// A column holding a JSON object of more properties.
    json_properties_column_name: Option<String>,
    /// Column to property names.
    property_mappings: Option<BTreeMap<String, String>>,
    /// Groups: the group key.
    group_key: Option<String>,
    /// Groups: the column holding the group id.
    group_id_column: Option<String>,
    /// Lookup tables: `{"value": <property>, "resourceType": "event" | "user"}`.
    #[schema(value_type = Option<Object>)]
    mixpanel_property: Option<Value>,
    /// Lookup tables: the column holding the key.
    property_key_column_name: Option<String>,
}

/// A patch's fields (`PatchWarehouseImportRequest`).
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)] // documents what `update` reads
pub struct PatchImportBody {
    /// Pause (true) or resume (false).
    paused: bool,
    /// Nanoseconds between runs.
    run_every: Option<i64>,
}

/// `GET .../warehouse-sources/imports`.
#[utoipa::path(
    get,
    path = "/api/app/projects/{project_id}/warehouse-sources/imports",
    tag = "app",
    summary = "List warehouse imports, newest first",
    params(("project_id" = i64, Path, description = "The project."), crate::collection::PageParams, crate::audit::ExpandParams),
    responses((status = 200, description = "A page, newest first", body = sextant_api::envelope::CollectionPage<WarehouseImportView>)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    Path(project_id): Path<String>,
    request: Request,
) -> Result<Json<Value>, ApiError> {
    crate::resource::list::<Imports<AnyImport>>(&state, &project_id, request).await
}

/// `GET .../warehouse-sources/imports/{import_id}`.
#[utoipa::path(
    get,
    path = "/api/app/projects/{project_id}/warehouse-sources/imports/{import_id}",
    tag = "app",
    summary = "One warehouse import",
    params(("project_id" = i64, Path, description = "The project."), ("import_id" = i64, Path, description = "The import."), crate::audit::ExpandParams),
    responses((status = 200, description = "The import", body = Single<WarehouseImportView>)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    Path((project_id, id)): Path<(String, String)>,
    request: Request,
) -> Result<Json<Single<WarehouseImportView>>, ApiError> {
    crate::resource::get::<Imports<AnyImport>>(&state, &project_id, &id, request).await
}

/// `PATCH .../warehouse-sources/imports/{import_id}`.
#[utoipa::path(
    patch,
    path = "/api/app/projects/{project_id}/warehouse-sources/imports/{import_id}",
    tag = "app",
    summary = "Pause or resume a warehouse import, or change its schedule",
    params(("project_id" = i64, Path, description = "The project."), ("import_id" = i64, Path, description = "The import.")),
    request_body(content = PatchImportBody, content_type = "application/json"),
    responses((status = 200, description = "Changed", body = Single<WarehouseImportView>)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn update(
    State(state): State<AppState>,
    Path((project_id, id)): Path<(String, String)>,
    request: Request,
) -> Result<Json<Single<WarehouseImportView>>, ApiError> {
    crate::resource::update::<Imports<AnyImport>>(&state, &project_id, &id, request).await
}

/// `DELETE .../warehouse-sources/imports/{import_id}`: the import and its history (the
/// events it imported stay; `delete_data` is not read: **not done**).
#[utoipa::path(
    delete,
    path = "/api/app/projects/{project_id}/warehouse-sources/imports/{import_id}",
    tag = "app",
    summary = "Delete a warehouse import",
    params(("project_id" = i64, Path, description = "The project."), ("import_id" = i64, Path, description = "The import.")),
    responses((status = 200, description = "Deleted", body = Deleted)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    Path((project_id, id)): Path<(String, String)>,
    request: Request,
) -> Result<Json<Deleted>, ApiError> {
    crate::resource::delete::<Imports<AnyImport>>(&state, &project_id, &id, request).await
}

/// One creation path per import type, each answered with 200 and the import.
macro_rules! create_at {
    ($name:ident, $kind:ty, $path:literal, $summary:literal) => {
        #[doc = concat!("`POST ", $path, "`.")]
        #[utoipa::path(
                            post,
                            path = $path,
                            tag = "app",
                            summary = $summary,
                            params(("project_id" = i64, Path, description = "The project.")),
                            request_body(content = CreateImportBody, content_type = "application/json"),
                            responses((status = 200, description = "Created", body = Single<WarehouseImportView>)),
                            security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
                        )]
        pub async fn $name(
            State(state): State<AppState>,
            Path(project_id): Path<String>,
            request: Request,
        ) -> Result<(StatusCode, Json<Single<WarehouseImportView>>), ApiError> {
            crate::resource::create_answering::<Imports<$kind>>(&state, &project_id, request, StatusCode::OK).await
        }
    };
}

create_at!(
    create_event_stream,
    EventStream,
    "/api/app/projects/{project_id}/warehouse-sources/imports/event-stream",
    "Create an event stream import"
);
create_at!(
    create_people,
    People,
    "/api/app/projects/{project_id}/warehouse-sources/imports/people",
    "Create a people import"
);
create_at!(
    create_groups,
    Groups,
    "/api/app/projects/{project_id}/warehouse-sources/imports/groups",
    "Create a groups import"
);
create_at!(
    create_lookup_table,
    LookupTable,
    "/api/app/projects/{project_id}/warehouse-sources/imports/lookup-table",
    "Create a lookup-table import"
);

/// `manual-sync`'s answer: the run that will be.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ManualSync {
    /// The run's id, as `history` lists it.
    pub run_id: String,
}

/// `PUT .../imports/{import_id}/manual-sync`: a run as soon as the runner looks (at
/// once when it is idle); a paused import runs once resumed.
#[utoipa::path(
    put,
    path = "/api/app/projects/{project_id}/warehouse-sources/imports/{import_id}/manual-sync",
    tag = "app",
    summary = "Run an import now",
    params(("project_id" = i64, Path, description = "The project."), ("import_id" = i64, Path, description = "The import.")),
    responses((status = 200, description = "The run asked for", body = Single<ManualSync>)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn manual_sync(
    State(state): State<AppState>,
    Path((project_id, id)): Path<(String, String)>,
    request: Request,
) -> Result<Json<Single<ManualSync>>, ApiError> {
    let (parts, body) = request.into_parts();
    let (credential, _) = admin_for(&state, &project_id, &parts, Operation::AppWrite).await?;
    read_body(&parts.headers, body).await?;
    let id = id_of::<Imports<AnyImport>>(&id)?;
    let run = state.metadata.request_warehouse_sync(credential.project.id, id).await?;
    state.warehouse.wake();
    Ok(Json(Single::ok(ManualSync { run_id: run.to_string() })))
}

/// One run in `history`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ImportRunView {
    /// The run (Sextant's own).
    pub run_id: String,
    /// `RUNNING` (a manual sync not started yet too, from when it was asked for),
    /// `SUCCEEDED`, `FAILED`.
    pub status: String,
    /// When it started (epoch ms).
    pub start_time: Option<i64>,
    /// When it ended (epoch ms).
    pub end_time: Option<i64>,
    /// Rows stored.
    pub num_events_imported: Option<i64>,
    /// Why it failed, or the rows it skipped (Sextant's own).
    pub error: Option<String>,
    /// When it started, RFC 3339 (Sextant's own).
    pub started: Option<String>,
}

/// `history`'s answer (`ImportJobHistory`).
#[derive(Serialize, utoipa::ToSchema)]
pub struct ImportHistory {
    /// Newest first.
    pub runs: Vec<ImportRunView>,
}

/// `GET .../imports/{import_id}/history`.
#[utoipa::path(
    get,
    path = "/api/app/projects/{project_id}/warehouse-sources/imports/{import_id}/history",
    tag = "app",
    summary = "An import's runs",
    params(("project_id" = i64, Path, description = "The project."), ("import_id" = i64, Path, description = "The import.")),
    responses((status = 200, description = "Its runs, newest first", body = Single<ImportHistory>)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn history(
    State(state): State<AppState>,
    Path((project_id, id)): Path<(String, String)>,
    request: Request,
) -> Result<Json<Single<ImportHistory>>, ApiError> {
    let (parts, _) = request.into_parts();
    let (credential, _) = admin_for(&state, &project_id, &parts, Operation::AppRead).await?;
    let runs = state.metadata.warehouse_runs(credential.project.id, id_of::<Imports<AnyImport>>(&id)?).await?;
    let view = |r: ImportRun| ImportRunView {
        run_id: r.id.to_string(),
        // A run asked for and not started is shown running: the spec's statuses have no
        // other word for it.
        status: if r.status == "PENDING" { "RUNNING".to_string() } else { r.status },
        start_time: Some(r.start_ms),
        end_time: r.end_ms,
        num_events_imported: r.imported,
        error: r.error,
        started: iso(r.start_ms),
    };
    Ok(Json(Single::ok(ImportHistory { runs: runs.into_iter().map(view).collect() })))
}
