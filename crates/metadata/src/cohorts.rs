//! Saved cohorts of a project: their names and definitions (membership is computed
//! by the profile store when a cohort is used).

use serde::Serialize;
use sextant_model::{Actor, Audit, CohortDefinition, CohortId, Page, PageRequest, ProjectId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::audit::{AUDIT_COLUMNS, CREATOR_COLUMNS, audit_from_row, bind_creator};
use crate::store::{Metadata, now_ms};
use crate::{MetadataError, Result};

/// A cohort as stored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CohortInfo {
    /// Its id.
    pub id: CohortId,
    /// Its project.
    pub project_id: ProjectId,
    /// Its name.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// Who is in it.
    pub definition: CohortDefinition,
    /// Whether Mixpanel's UI would list it (`is_visible`).
    pub is_visible: bool,
    /// Made and last changed, and by whom it was made.
    pub audit: Audit,
}

/// What an update changes; `None` keeps the stored value.
#[derive(Clone, Debug, Default)]
pub struct CohortChanges {
    /// A new name.
    pub name: Option<String>,
    /// A new description.
    pub description: Option<String>,
    /// A new definition.
    pub definition: Option<CohortDefinition>,
    /// A new visibility.
    pub is_visible: Option<bool>,
}

const COLUMNS: &str = "id, project_id, name, description, definition, is_visible";

fn cohort_from_row(row: &AnyRow) -> Result<CohortInfo> {
    let definition: String = row.try_get("definition")?;
    Ok(CohortInfo {
        id: CohortId(row.try_get("id")?),
        project_id: ProjectId(row.try_get("project_id")?),
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        definition: serde_json::from_str(&definition)
            .map_err(|e| MetadataError::Invalid(format!("stored cohort definition: {e}")))?,
        is_visible: row.try_get::<i64, _>("is_visible")? != 0,
        audit: audit_from_row(row)?,
    })
}

fn definition_text(definition: &CohortDefinition) -> String {
    serde_json::to_string(definition).unwrap_or_else(|_| "{}".into())
}

impl Metadata {
    /// Saves a new cohort.
    pub async fn create_cohort(
        &self,
        project_id: ProjectId,
        name: &str,
        description: &str,
        definition: &CohortDefinition,
        creator: &Actor,
    ) -> Result<CohortInfo> {
        if name.trim().is_empty() {
            return Err(MetadataError::Invalid("a cohort needs a name".into()));
        }
        let now = now_ms();
        let insert = format!(
            "INSERT INTO cohorts (project_id, name, description, definition, is_visible, created_at_ms, \
             {CREATOR_COLUMNS}) VALUES ($1, $2, $3, $4, 1, $5, $6, $7, $8, $9) RETURNING id"
        );
        let query = sqlx::query(&insert)
            .bind(project_id.0)
            .bind(name.trim())
            .bind(description)
            .bind(definition_text(definition))
            .bind(now);
        let id: i64 = bind_creator(query, now, creator).fetch_one(self.pool()).await?.try_get("id")?;
        self.cohort(project_id, CohortId(id)).await
    }

    /// One cohort of the project.
    pub async fn cohort(&self, project_id: ProjectId, id: CohortId) -> Result<CohortInfo> {
        let row =
            sqlx::query(&format!("SELECT {COLUMNS}, {AUDIT_COLUMNS} FROM cohorts WHERE id = $1 AND project_id = $2"))
                .bind(id.0)
                .bind(project_id.0)
                .fetch_optional(self.pool())
                .await?
                .ok_or_else(|| MetadataError::NotFound(format!("cohort {id} in project {project_id}")))?;
        cohort_from_row(&row)
    }

    /// Changes a cohort.
    pub async fn update_cohort(
        &self,
        project_id: ProjectId,
        id: CohortId,
        changes: CohortChanges,
    ) -> Result<CohortInfo> {
        let mut c = self.cohort(project_id, id).await?;
        if let Some(name) = changes.name {
            if name.trim().is_empty() {
                return Err(MetadataError::Invalid("a cohort needs a name".into()));
            }
            c.name = name.trim().to_string();
        }
        c.description = changes.description.unwrap_or(c.description);
        c.definition = changes.definition.unwrap_or(c.definition);
        c.is_visible = changes.is_visible.unwrap_or(c.is_visible);
        c.audit.modified_at_ms = now_ms();
        sqlx::query(
            "UPDATE cohorts SET name = $1, description = $2, definition = $3, is_visible = $4, modified_at_ms = $5 \
             WHERE id = $6",
        )
        .bind(&c.name)
        .bind(&c.description)
        .bind(definition_text(&c.definition))
        .bind(i64::from(c.is_visible))
        .bind(c.audit.modified_at_ms)
        .bind(id.0)
        .execute(self.pool())
        .await?;
        Ok(c)
    }

    /// Deletes a cohort.
    pub async fn delete_cohort(&self, project_id: ProjectId, id: CohortId) -> Result<()> {
        let done = sqlx::query("DELETE FROM cohorts WHERE id = $1 AND project_id = $2")
            .bind(id.0)
            .bind(project_id.0)
            .execute(self.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(MetadataError::NotFound(format!("cohort {id} in project {project_id}")));
        }
        Ok(())
    }

    /// Every cohort of the project, oldest first.
    pub async fn all_cohorts(&self, project_id: ProjectId) -> Result<Vec<CohortInfo>> {
        let rows =
            sqlx::query(&format!("SELECT {COLUMNS}, {AUDIT_COLUMNS} FROM cohorts WHERE project_id = $1 ORDER BY id"))
                .bind(project_id.0)
                .fetch_all(self.pool())
                .await?;
        rows.iter().map(cohort_from_row).collect()
    }

    /// A page of the project's cohorts, newest first.
    pub async fn list_cohorts(&self, project_id: ProjectId, page: PageRequest) -> Result<Page<CohortInfo>> {
        let rows = self
            .page_rows(
                &format!("SELECT {COLUMNS}, {AUDIT_COLUMNS} FROM cohorts WHERE project_id = $1"),
                project_id.0,
                "id",
                page,
            )
            .await?;
        let items = rows.iter().map(cohort_from_row).collect::<Result<Vec<_>>>()?;
        self.finish_page(items, |c| c.id.0, "SELECT 1 FROM cohorts WHERE project_id = $1", project_id.0, "id", page)
            .await
    }
}
