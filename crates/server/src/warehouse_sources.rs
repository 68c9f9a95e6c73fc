//! Warehouse sources (`/api/app/projects/{id}/warehouse-sources`, Sextant's own: Mixpanel
//! makes its sources in its web app), in the App API's resource pattern: a PostgreSQL
//! database, its connection URL sealed under the server's key and shown with the
//! password hidden; a directory of Parquet and CSV files under the project's own
//! directory of the server's import root (`<import root>/<project id>/`); or Parquet
//! and CSV files under a prefix of an S3 bucket, its secret key sealed. Imports
//! (`crate::warehouse_imports`) name one by `warehouse_source_id`.

use serde::Serialize;
use serde_json::Value;
use sextant_metadata::{Metadata, WarehouseSource};
use sextant_model::warehouse::{PostgresUrl, SourceKind, SourceSpec};
use sextant_model::{Actor, Audit, Page, PageRequest, Project, ProjectId};

use crate::audit::{AuditView, CreatorView};
use crate::error::ApiError;
use crate::resource::{Paged, Resource};
use crate::state::AppState;
use sextant_api::envelope::{CollectionPage, Single};

/// A source as the App API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct WarehouseSourceView {
    /// Its id: imports' `warehouse_source_id`.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// `postgres`, `files` or `s3`.
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub kind: SourceKind,
    /// `postgres`: the connection URL, its password hidden.
    pub url: Option<String>,
    /// `files`: the directory under the project's import directory; `s3`: the key
    /// prefix.
    pub path: Option<String>,
    /// `s3`: the bucket.
    pub s3_bucket: Option<String>,
    /// `s3`: the S3-compatible server, when not Amazon's.
    pub s3_endpoint: Option<String>,
    /// When it was made, and who made it.
    #[serde(flatten)]
    pub audit: AuditView,
}

/// A create request's body.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)] // documents what `SourceSpec::parse` reads
pub struct WarehouseSourceBody {
    /// Its name.
    name: String,
    /// `postgres`, `files` or `s3`.
    r#type: String,
    /// `postgres`: `postgres://user:password@host:port/database[?sslmode=...]`.
    url: Option<String>,
    /// `files`: a directory under the project's directory of the server's import root.
    path: Option<String>,
    /// `s3`: the bucket, with `s3_region`, `s3_prefix`, `s3_endpoint`,
    /// `s3_access_key_id` and `s3_secret_access_key` as a pipeline takes them.
    s3_bucket: Option<String>,
}

crate::resource::app_resource! {
    resource: Sources,
    view: WarehouseSourceView,
    body: WarehouseSourceBody,
    collection: "/api/app/projects/{project_id}/warehouse-sources",
    item: "/api/app/projects/{project_id}/warehouse-sources/{source_id}",
    id: ("source_id" = i64, "The source."),
    list: "List warehouse sources, newest first",
    create: "Add a warehouse source (PostgreSQL, or Parquet and CSV files)",
    get: "One warehouse source",
    delete: "Delete a warehouse source no import reads",
}

/// Warehouse sources, in the App API's one resource pattern.
pub(crate) struct Sources;

impl Resource for Sources {
    type Stored = WarehouseSource;
    type View = WarehouseSourceView;
    type Id = i64;
    const ID: &'static str = "source_id";
    const NOUN: &'static str = "warehouse source";

    fn parse_id(text: &str) -> Option<i64> {
        text.parse().ok()
    }

    fn id_value(id: &i64) -> Value {
        serde_json::json!(id)
    }

    fn view(stored: &WarehouseSource, creator: Option<CreatorView>) -> WarehouseSourceView {
        WarehouseSourceView {
            id: stored.id,
            name: stored.spec.name.clone(),
            kind: stored.spec.kind,
            // The stored URL is sealed; its masked form was kept beside it.
            url: stored.spec.shown_url.clone(),
            path: stored.spec.path.clone(),
            s3_bucket: stored.spec.bucket.as_ref().map(|b| b.bucket.clone()),
            s3_endpoint: stored.spec.bucket.as_ref().and_then(|b| b.endpoint.clone()),
            audit: AuditView::of(&stored.audit, creator),
        }
    }

    fn audit(stored: &WarehouseSource) -> &Audit {
        &stored.audit
    }

    async fn get(md: &Metadata, project: ProjectId, id: &i64) -> sextant_metadata::Result<WarehouseSource> {
        md.warehouse_source(project, *id).await
    }

    async fn create(
        state: &AppState,
        project: &Project,
        creator: &Actor,
        body: Value,
    ) -> Result<WarehouseSource, ApiError> {
        let mut spec = SourceSpec::parse(&body)
            .map_err(|problems| ApiError::invalid_fields("invalid warehouse source", problems))?;
        if let (SourceKind::Files, Some(dir)) = (spec.kind, &spec.path) {
            // Each project's files under a directory of its own.
            let root = state.warehouse.root.join(project.id.0.to_string());
            let full = root.join(dir);
            let exists = tokio::task::spawn_blocking(move || full.is_dir()).await.unwrap_or(false);
            if !exists {
                let why = format!("is not a directory under the server's import root ({})", root.display());
                return Err(ApiError::invalid_fields("invalid warehouse source", vec![("path".into(), why)]));
            }
        }
        // The host the source names, when the server keeps a list of those allowed.
        let host = match (&spec.url, &spec.bucket) {
            (Some(url), _) => PostgresUrl::parse(url).ok().map(|u| ("url", u.host)),
            (None, Some(bucket)) => bucket.endpoint_host().map(|h| ("s3_endpoint", h)),
            _ => None,
        };
        if let Some((field, host)) = host {
            state
                .warehouse
                .host_allowed(&host)
                .map_err(|why| ApiError::invalid_fields("invalid warehouse source", vec![(field.into(), why)]))?;
        }
        if let Some(bucket) = spec.bucket.as_mut() {
            // The secret key kept sealed; the bucket listed before the source exists.
            bucket.secret_access_key = bucket.secret_access_key.as_deref().map(|s| state.secrets.seal(s));
            let prefix = spec.path.as_deref().unwrap_or("");
            crate::pipeline_store::check_listing(&state.secrets, bucket, prefix)
                .await
                .map_err(|why| ApiError::invalid_fields("invalid warehouse source", vec![("s3_bucket".into(), why)]))?;
        }
        // The URL may hold a password: kept sealed, shown masked.
        if let Some(url) = spec.url.take() {
            spec.shown_url = PostgresUrl::parse(&url).ok().map(|u| u.masked());
            spec.url = Some(state.secrets.seal(&url));
        }
        Ok(state.metadata.create_warehouse_source(project.id, &spec, creator).await?)
    }

    async fn delete(state: &AppState, project: ProjectId, id: &i64) -> Result<(), ApiError> {
        Ok(state.metadata.delete_warehouse_source(project, *id).await?)
    }
}

impl Paged for Sources {
    async fn page(
        md: Metadata,
        project: ProjectId,
        page: PageRequest,
    ) -> sextant_metadata::Result<Page<WarehouseSource>> {
        md.list_warehouse_sources(project, page).await
    }
}
