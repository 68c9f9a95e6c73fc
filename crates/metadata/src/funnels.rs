//! Saved funnels: a name and a [`FunnelDefinition`], computed when asked for through
//! `GET /funnels?funnel_id=`.

use serde::Serialize;
use sextant_model::{Actor, Audit, FunnelDefinition, Page, PageRequest, ProjectId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::audit::{AUDIT_COLUMNS, CREATOR_COLUMNS, audit_from_row, bind_creator};
use crate::store::{Metadata, now_ms};
use crate::{MetadataError, Result};

/// A saved funnel.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FunnelInfo {
    /// Its id (`funnel_id`).
    pub id: i64,
    /// Its project.
    pub project_id: ProjectId,
    /// Its name.
    pub name: String,
    /// Its steps, window and ordering.
    pub definition: FunnelDefinition,
    /// Made and last changed, and by whom it was made.
    pub audit: Audit,
}

/// What an update changes; `None` keeps the stored value.
#[derive(Clone, Debug, Default)]
pub struct FunnelChanges {
    /// A new name.
    pub name: Option<String>,
    /// A new definition (the caller has checked it).
    pub definition: Option<FunnelDefinition>,
}

const COLUMNS: &str = "id, project_id, name, definition";

fn from_row(row: &AnyRow) -> Result<FunnelInfo> {
    let definition: String = row.try_get("definition")?;
    Ok(FunnelInfo {
        id: row.try_get("id")?,
        project_id: ProjectId(row.try_get("project_id")?),
        name: row.try_get("name")?,
        definition: serde_json::from_str(&definition)
            .map_err(|e| MetadataError::Invalid(format!("stored funnel definition: {e}")))?,
        audit: audit_from_row(row)?,
    })
}

fn name_of(name: &str) -> Result<&str> {
    let name = name.trim();
    if name.is_empty() {
        return Err(MetadataError::Invalid("a funnel needs a name".into()));
    }
    Ok(name)
}

fn text_of(definition: &FunnelDefinition) -> Result<String> {
    definition.check().map_err(MetadataError::Invalid)?;
    serde_json::to_string(definition).map_err(|e| MetadataError::Invalid(e.to_string()))
}

impl Metadata {
    /// Saves a funnel (the caller has checked its expressions).
    pub async fn create_funnel(
        &self,
        project_id: ProjectId,
        name: &str,
        definition: &FunnelDefinition,
        creator: &Actor,
    ) -> Result<FunnelInfo> {
        let name = name_of(name)?;
        let now = now_ms();
        // `updated_at_ms` predates the audit columns and is kept equal to `modified_at_ms`.
        let insert = format!(
            "INSERT INTO funnels (project_id, name, definition, created_at_ms, updated_at_ms, {CREATOR_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id"
        );
        let query = sqlx::query(&insert).bind(project_id.0).bind(name).bind(text_of(definition)?).bind(now).bind(now);
        let id: i64 = bind_creator(query, now, creator).fetch_one(self.pool()).await?.try_get("id")?;
        self.funnel(project_id, id).await
    }

    /// One saved funnel of the project.
    pub async fn funnel(&self, project_id: ProjectId, id: i64) -> Result<FunnelInfo> {
        let row =
            sqlx::query(&format!("SELECT {COLUMNS}, {AUDIT_COLUMNS} FROM funnels WHERE id = $1 AND project_id = $2"))
                .bind(id)
                .bind(project_id.0)
                .fetch_optional(self.pool())
                .await?
                .ok_or_else(|| MetadataError::NotFound(format!("funnel {id} in project {project_id}")))?;
        from_row(&row)
    }

    /// Changes a saved funnel's name or definition.
    pub async fn update_funnel(&self, project_id: ProjectId, id: i64, changes: FunnelChanges) -> Result<FunnelInfo> {
        let mut f = self.funnel(project_id, id).await?;
        if let Some(name) = &changes.name {
            f.name = name_of(name)?.to_string();
        }
        if let Some(definition) = changes.definition {
            f.definition = definition;
        }
        sqlx::query(
            "UPDATE funnels SET name = $1, definition = $2, updated_at_ms = $3, modified_at_ms = $3 \
             WHERE id = $4 AND project_id = $5",
        )
        .bind(&f.name)
        .bind(text_of(&f.definition)?)
        .bind(now_ms())
        .bind(id)
        .bind(project_id.0)
        .execute(self.pool())
        .await?;
        self.funnel(project_id, id).await
    }

    /// Deletes a saved funnel.
    pub async fn delete_funnel(&self, project_id: ProjectId, id: i64) -> Result<()> {
        let done = sqlx::query("DELETE FROM funnels WHERE id = $1 AND project_id = $2")
            .bind(id)
            .bind(project_id.0)
            .execute(self.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(MetadataError::NotFound(format!("funnel {id} in project {project_id}")));
        }
        Ok(())
    }

    /// A page of the project's funnels, newest first.
    pub async fn list_funnels(&self, project_id: ProjectId, page: PageRequest) -> Result<Page<FunnelInfo>> {
        let rows = self
            .page_rows(
                &format!("SELECT {COLUMNS}, {AUDIT_COLUMNS} FROM funnels WHERE project_id = $1"),
                project_id.0,
                "id",
                page,
            )
            .await?;
        let items = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
        self.finish_page(items, |f| f.id, "SELECT 1 FROM funnels WHERE project_id = $1", project_id.0, "id", page).await
    }

    /// Every funnel of the project, oldest first.
    pub async fn all_funnels(&self, project_id: ProjectId) -> Result<Vec<FunnelInfo>> {
        let rows =
            sqlx::query(&format!("SELECT {COLUMNS}, {AUDIT_COLUMNS} FROM funnels WHERE project_id = $1 ORDER BY id"))
                .bind(project_id.0)
                .fetch_all(self.pool())
                .await?;
        rows.iter().map(from_row).collect()
    }
}
