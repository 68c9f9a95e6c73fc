//! Lookup tables: Mixpanel's `GET /lookup-tables` and `PUT /lookup-tables/{id}`, and the
//! App API that creates tables and maps them to properties (Mixpanel does that in its
//! UI). Handing a query's expressions the tables they read is
//! [`crate::lookup_join::Attacher`].
//!
//! Errors use the shape of Mixpanel's lookup-table API, `{"code", "error", "status"}`,
//! with `failed_records` (the first ten failing rows) when rows failed validation.

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use sextant_expr::LookupTable;
use sextant_ingest::Params;
use sextant_ingest::lookup_csv::{self, CsvError};
use sextant_metadata::{LookupMapping, LookupTableChanges, LookupTableInfo, Metadata};
use sextant_model::{Actor, ApiFamily, Audit, ErrorCode, Page, PageRequest, Project, ProjectId};

use crate::audit::{AuditView, CreatorView, iso};
use crate::auth::{self, Access, Credential};
use crate::body;
use crate::error::ApiError;
use crate::limits::LimitSlot;
use crate::resource::{Changeable, Paged, Resource};
use crate::state::AppState;
use sextant_api::envelope::{CollectionPage, Single};

use sextant_model::limits::MAX_LOOKUP_PROJECT_ROWS as MAX_PROJECT_ROWS;

/// An error of the lookup-table API: `{"code", "error", "status"[, "failed_records"]}`.
pub struct LookupError {
    error: ApiError,
    failed_records: Option<Vec<(usize, String)>>,
}

impl From<ApiError> for LookupError {
    fn from(error: ApiError) -> Self {
        LookupError { error, failed_records: None }
    }
}

impl From<sextant_metadata::MetadataError> for LookupError {
    fn from(e: sextant_metadata::MetadataError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<sextant_storage::StorageError> for LookupError {
    fn from(e: sextant_storage::StorageError) -> Self {
        ApiError::from(e).into()
    }
}

/// The body of a lookup-table API error.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LookupErrorBody {
    /// The HTTP status.
    pub code: u16,
    /// What went wrong.
    pub error: String,
    /// The status's reason phrase (`Bad Request`, `Not Found`, ...).
    pub status: String,
    /// When rows failed validation: the first ten, by index among the data rows (0 is
    /// the row after the header).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_records: Option<Vec<FailedRow>>,
}

/// One row that failed validation.
#[derive(Serialize, utoipa::ToSchema)]
pub struct FailedRow {
    /// Its index among the data rows, from 0.
    pub index: usize,
    /// What is wrong with it.
    pub message: String,
}

impl IntoResponse for LookupError {
    fn into_response(self) -> Response {
        let status = self.error.status();
        let body = LookupErrorBody {
            code: status.as_u16(),
            error: self.error.message,
            status: self.error.code.reason_phrase().to_string(),
            failed_records: self
                .failed_records
                .map(|rows| rows.into_iter().map(|(index, message)| FailedRow { index, message }).collect()),
        };
        (status, Json(body)).into_response()
    }
}

/// `{"code": 200, "status": "OK", "results": [...]}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LookupTableList {
    /// 200.
    pub code: u16,
    /// `OK`.
    pub status: String,
    /// Every table of the project, oldest first.
    pub results: Vec<ListedTable>,
}

/// A table in the list.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ListedTable {
    /// Its id, the one `PUT /lookup-tables/{id}` takes.
    pub id: String,
    /// Its name.
    pub name: String,
}

/// `{"code": 200, "status": "OK"}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LookupTableReplaced {
    /// 200.
    pub code: u16,
    /// `OK`.
    pub status: String,
}

/// Authenticates a lookup-table request: a service account with `project_id`, the
/// project secret, or an API token scoped to `lookup_tables`.
async fn credential(state: &AppState, parts: &Parts, params: &Params) -> Result<Credential, ApiError> {
    let project_id = auth::parse_project_id(params.get("project_id"))?;
    let request = auth::AuthRequest {
        headers: &parts.headers,
        params,
        project_id,
        family: ApiFamily::LookupTables,
        allow_project_token: false,
    };
    let credential = auth::authenticate(state, request).await?.ok_or_else(|| {
        ApiError::unauthenticated("authentication required: a service account and project_id, or the project secret")
    })?;
    if credential.access == Access::Token {
        return Err(ApiError::unauthenticated("the project token cannot manage lookup tables"));
    }
    Ok(credential)
}

/// `GET /lookup-tables`.
#[utoipa::path(
    get,
    path = "/lookup-tables",
    tag = "lookup_tables",
    summary = "List the project's lookup tables",
    params(("project_id" = Option<i64>, Query, description = "The project, with service-account credentials.")),
    responses((status = 200, description = "Every table, oldest first", body = LookupTableList)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn list(State(state): State<AppState>, request: Request) -> Result<Json<LookupTableList>, LookupError> {
    let (parts, _) = request.into_parts();
    let params = Params::parse(parts.uri.query().unwrap_or("").as_bytes());
    let credential = credential(&state, &parts, &params).await?;
    if !credential.may_read() {
        return Err(ApiError::forbidden("this credential may not read lookup tables").into());
    }
    // Listing is a read: it is charged to the Query API's limit, not to the 100 replaces
    // a day.
    state.limiter.admit(&LimitSlot::of(&parts.extensions), credential.project.id, ApiFamily::Query, 1)?;
    let results = state
        .metadata
        .all_lookup_tables(credential.project.id)
        .await?
        .into_iter()
        .map(|t| ListedTable { id: t.id, name: t.name })
        .collect();
    Ok(Json(LookupTableList { code: 200, status: "OK".into(), results }))
}

/// `PUT /lookup-tables/{id}`: replaces the table's contents with a CSV file.
#[utoipa::path(
    put,
    path = "/lookup-tables/{id}",
    tag = "lookup_tables",
    summary = "Replace a lookup table's contents",
    description = "A CSV file (gzip allowed, at most 100 MB uncompressed): a header row, then one row per key. \
                   The whole table is replaced, or nothing is.",
    params(
        ("id" = String, Path, description = "The table (a UUID)."),
        ("project_id" = Option<i64>, Query, description = "The project, with service-account credentials.")
    ),
    request_body(content = String, content_type = "text/csv", description = "`id,field1,field2` then rows"),
    responses((status = 200, description = "Replaced", body = LookupTableReplaced)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn replace(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Json<LookupTableReplaced>, LookupError> {
    let (parts, body) = request.into_parts();
    let params = Params::parse(parts.uri.query().unwrap_or("").as_bytes());
    let credential = credential(&state, &parts, &params).await?;
    if !credential.may_import() {
        return Err(ApiError::forbidden("this credential may not replace lookup tables").into());
    }
    let project = credential.project.id;
    let not_found = || ApiError::new(ErrorCode::NotFound, format!("Lookup table with id '{id}' was not found."));
    let table = match state.metadata.lookup_table(project, &id).await {
        Ok(t) => t,
        Err(sextant_metadata::MetadataError::NotFound(_)) => return Err(not_found().into()),
        Err(e) => return Err(e.into()),
    };
    state.limiter.admit(&LimitSlot::of(&parts.extensions), project, ApiFamily::LookupTables, 1)?;
    let limit = ApiFamily::LookupTables.max_request_bytes();
    let raw = body::read(&parts.headers, body, limit).await?;
    // Inflating up to 100 MB and parsing it is blocking work: off the async runtime.
    let parsed = tokio::task::spawn_blocking(move || raw.decompress(limit).map(|bytes| lookup_csv::parse(&bytes)))
        .await
        .map_err(|e| ApiError::new(ErrorCode::Internal, format!("parsing failed: {e}")))??;
    let parsed = match parsed {
        Ok(p) => p,
        Err(CsvError::File(message)) => return Err(ApiError::invalid(message).into()),
        Err(CsvError::Rows(rows)) => {
            return Err(LookupError {
                error: ApiError::new(ErrorCode::InvalidRequest, "Some data points in the request failed validation."),
                failed_records: Some(rows),
            });
        }
    };
    let rows = parsed.rows.len() as u64;
    // One replace at a time: two at once could each find room under the project's cap
    // and together pass it, or leave the control plane's row count from one and the
    // rows from the other.
    let _one_at_a_time = state.lookup_replaces.lock().await;
    let others = state.metadata.lookup_rows_besides(project, &table.id).await?;
    if others + rows > MAX_PROJECT_ROWS {
        return Err(ApiError::invalid(format!(
            "a project's lookup tables hold at most {MAX_PROJECT_ROWS} rows together; this file has {rows} and the \
             project's other tables {others}"
        ))
        .into());
    }
    let columns = parsed.columns.clone();
    state
        .lookups
        .replace_lookup_table(project, &table.id, LookupTable { columns: parsed.columns, rows: parsed.rows })
        .await?;
    state.metadata.lookup_table_replaced(&table.id, rows, &columns).await?;
    Ok(Json(LookupTableReplaced { code: 200, status: "OK".into() }))
}

/// A lookup table, as the App API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LookupTableView {
    /// Its id (a UUID), the one `PUT /lookup-tables/{id}` takes.
    #[schema(required = false)]
    pub id: String,
    /// Its name.
    #[schema(required = false)]
    pub name: String,
    /// Rows in its current contents.
    #[schema(required = false)]
    pub row_count: u64,
    /// Its columns, the join key first; empty until the first upload.
    #[schema(required = false)]
    pub columns: Vec<String>,
    /// The properties whose values are its keys.
    #[schema(required = false)]
    pub mappings: Vec<MappingView>,
    /// When its contents were last replaced (RFC 3339).
    #[schema(required = false)]
    pub replaced: Option<String>,
    /// When it was made and changed (renamed, remapped, replaced), and who made it.
    #[serde(flatten)]
    pub audit: AuditView,
}

/// A property a table is mapped to.
#[derive(Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct MappingView {
    /// `event` or `user`.
    pub target: String,
    /// The property.
    pub property: String,
}

impl LookupTableView {
    /// The view of a stored table.
    pub fn of(t: &LookupTableInfo, creator: Option<CreatorView>) -> LookupTableView {
        LookupTableView {
            id: t.id.clone(),
            name: t.name.clone(),
            row_count: t.row_count,
            columns: t.columns.clone(),
            mappings: t
                .mappings
                .iter()
                .map(|m| MappingView { target: m.target.clone(), property: m.property.clone() })
                .collect(),
            replaced: t.replaced_at_ms.and_then(iso),
            audit: AuditView::of(&t.audit, creator),
        }
    }
}

/// The body that creates or changes a table.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents the body `TableBody::parse` reads
struct LookupTableRequest {
    /// Its name (required to create).
    name: Option<String>,
    /// The properties it enriches: objects `{"target": "event"|"user", "property"}` or
    /// strings `"event:song_id"`. Replaces the whole set when given.
    #[schema(value_type = Option<Vec<Object>>)]
    mappings: Option<Vec<Value>>,
}

struct TableBody {
    name: Option<String>,
    mappings: Option<Vec<LookupMapping>>,
}

impl TableBody {
    fn parse(body: &Value) -> Result<TableBody, ApiError> {
        let Some(obj) = body.as_object() else {
            return Err(ApiError::invalid("the body must be a JSON object"));
        };
        let bad = |why: String| ApiError::invalid_fields("invalid lookup table", vec![("mappings".into(), why)]);
        let mappings = match obj.get("mappings") {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .map(|m| match m {
                        Value::String(s) => LookupMapping::parse(s).map_err(|e| bad(e.to_string())),
                        Value::Object(_) => {
                            let v: MappingView = serde_json::from_value(m.clone())
                                .map_err(|e| bad(format!("each must be {{target, property}}: {e}")))?;
                            LookupMapping::parse(&format!("{}:{}", v.target, v.property))
                                .map_err(|e| bad(e.to_string()))
                        }
                        _ => Err(bad("each must be an object or an `event:PROPERTY` string".into())),
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            Some(_) => return Err(bad("must be a list".into())),
        };
        let name = match obj.get("name") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                return Err(ApiError::invalid_fields(
                    "invalid lookup table",
                    vec![("name".into(), "must be a string".into())],
                ));
            }
        };
        Ok(TableBody { name, mappings })
    }
}

crate::resource::app_resource! {
    resource: LookupTables,
    view: LookupTableView,
    body: LookupTableRequest,
    collection: "/api/app/projects/{project_id}/lookup-tables",
    item: "/api/app/projects/{project_id}/lookup-tables/{table_id}",
    id: ("table_id" = String, "The table."),
    list: "List lookup tables with their mappings, newest first",
    create: "Create an empty lookup table, mapped to properties",
    get: "One lookup table with its mappings",
    update: "Rename a lookup table or replace its mappings",
    delete: "Delete a lookup table, its rows and its mappings",
}

/// Lookup tables' names and mappings, in the App API's one resource pattern (their rows
/// are replaced through `PUT /lookup-tables/{id}`).
pub(crate) struct LookupTables;

impl Resource for LookupTables {
    type Stored = LookupTableInfo;
    type View = LookupTableView;
    type Id = String;
    const ID: &'static str = "table_id";
    const NOUN: &'static str = "lookup table";

    fn parse_id(text: &str) -> Option<String> {
        Some(text.to_string())
    }

    fn id_value(id: &String) -> Value {
        serde_json::json!(id)
    }

    fn view(stored: &LookupTableInfo, creator: Option<CreatorView>) -> LookupTableView {
        LookupTableView::of(stored, creator)
    }

    fn audit(stored: &LookupTableInfo) -> &Audit {
        &stored.audit
    }

    async fn get(md: &Metadata, project: ProjectId, id: &String) -> sextant_metadata::Result<LookupTableInfo> {
        md.lookup_table(project, id).await
    }

    async fn create(
        state: &AppState,
        project: &Project,
        creator: &Actor,
        body: Value,
    ) -> Result<LookupTableInfo, ApiError> {
        let body = TableBody::parse(&body)?;
        let name = body.name.filter(|n| !n.trim().is_empty()).ok_or_else(|| {
            ApiError::invalid_fields("invalid lookup table", vec![("name".into(), "is required".into())])
        })?;
        Ok(state.metadata.create_lookup_table(project.id, &name, &body.mappings.unwrap_or_default(), creator).await?)
    }

    async fn delete(state: &AppState, project: ProjectId, id: &String) -> Result<(), ApiError> {
        state.metadata.delete_lookup_table(project, id).await?;
        Ok(state.lookups.delete_lookup_table(project, id).await?)
    }
}

impl Paged for LookupTables {
    async fn page(
        md: Metadata,
        project: ProjectId,
        page: PageRequest,
    ) -> sextant_metadata::Result<Page<LookupTableInfo>> {
        md.list_lookup_tables(project, page).await
    }
}

impl Changeable for LookupTables {
    async fn update(
        state: &AppState,
        project: &Project,
        id: &String,
        body: Value,
    ) -> Result<LookupTableInfo, ApiError> {
        let body = TableBody::parse(&body)?;
        let changes = LookupTableChanges { name: body.name, mappings: body.mappings };
        Ok(state.metadata.update_lookup_table(project.id, id, changes).await?)
    }
}
