//! Experiments ([`ExperimentInfo`]): an [`ExperimentSpec`] kept as JSON text in a
//! workspace of a project, with its status, start and end, the audit columns and who
//! changed it last. Archiving stamps `deleted_at_ms` (listed only when asked for);
//! deleting removes the row. The lifecycle's rules are `sextant_flags::experiment`'s;
//! this module keeps what the caller decided.

use serde::Serialize;
use sextant_flags::{ExperimentSpec, ExperimentStatus};
use sextant_model::{Actor, Audit, ProjectId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::audit::{AUDIT_COLUMNS, CREATOR_COLUMNS, MODIFIER_COLUMNS, audit_from_row, bind_creator, modifier_from_row};
use crate::store::{Metadata, now_ms};
use crate::{MetadataError, Result};

/// The most experiments a project keeps.
pub const MAX_EXPERIMENTS: i64 = 1_000;

/// An experiment as stored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExperimentInfo {
    /// Its id, a UUID.
    pub id: String,
    /// Its project.
    pub project_id: ProjectId,
    /// Its workspace.
    pub workspace_id: i64,
    /// Where it is in its life.
    pub status: ExperimentStatus,
    /// What it says.
    pub spec: ExperimentSpec,
    /// When it started (epoch ms).
    pub start_ms: Option<i64>,
    /// When it ended.
    pub end_ms: Option<i64>,
    /// When it was archived.
    pub deleted_at_ms: Option<i64>,
    /// Made and last changed, and by whom it was made.
    pub audit: Audit,
    /// Who changed it last.
    pub modifier: Option<Actor>,
}

const COLUMNS: &str = "id, project_id, workspace_id, status, definition, start_ms, end_ms, deleted_at_ms";

fn from_row(row: &AnyRow) -> Result<ExperimentInfo> {
    let definition: String = row.try_get("definition")?;
    let status: String = row.try_get("status")?;
    let status = serde_json::from_value(serde_json::Value::String(status))
        .map_err(|e| MetadataError::Invalid(format!("stored experiment status: {e}")))?;
    let modifier = modifier_from_row(row)?;
    Ok(ExperimentInfo {
        id: row.try_get("id")?,
        project_id: ProjectId(row.try_get("project_id")?),
        workspace_id: row.try_get("workspace_id")?,
        status,
        spec: serde_json::from_str(&definition)
            .map_err(|e| MetadataError::Invalid(format!("stored experiment definition: {e}")))?,
        start_ms: row.try_get("start_ms")?,
        end_ms: row.try_get("end_ms")?,
        deleted_at_ms: row.try_get("deleted_at_ms")?,
        audit: audit_from_row(row)?,
        modifier,
    })
}

fn text_of(spec: &ExperimentSpec) -> Result<String> {
    crate::flags::checked_text(spec, spec.check())
}

impl Metadata {
    /// The project a workspace belongs to.
    pub async fn workspace_project(&self, workspace_id: i64) -> Result<ProjectId> {
        let row = sqlx::query("SELECT project_id FROM workspaces WHERE id = $1")
            .bind(workspace_id)
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| MetadataError::NotFound(format!("workspace {workspace_id}")))?;
        Ok(ProjectId(row.try_get("project_id")?))
    }

    /// Saves a new experiment (a draft) in `workspace_id`.
    pub async fn create_experiment(
        &self,
        project_id: ProjectId,
        workspace_id: i64,
        spec: &ExperimentSpec,
        creator: &Actor,
    ) -> Result<ExperimentInfo> {
        self.workspace(project_id, workspace_id).await?;
        let text = text_of(spec)?;
        let held: i64 = sqlx::query("SELECT count(*) AS n FROM experiments WHERE project_id = $1")
            .bind(project_id.0)
            .fetch_one(self.pool())
            .await?
            .try_get("n")?;
        if held >= MAX_EXPERIMENTS {
            return Err(MetadataError::Conflict(format!(
                "project {project_id} keeps {held} experiments, the most it may: delete some first"
            )));
        }
        let id = uuid::Uuid::new_v4().to_string();
        let now = now_ms();
        let insert = format!(
            "INSERT INTO experiments (id, project_id, workspace_id, status, definition, created_at_ms, {CREATOR_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        );
        let query = sqlx::query(&insert)
            .bind(&id)
            .bind(project_id.0)
            .bind(workspace_id)
            .bind(ExperimentStatus::Draft.as_str())
            .bind(&text)
            .bind(now);
        bind_creator(query, now, creator).execute(self.pool()).await?;
        self.experiment(project_id, &id).await
    }

    /// One experiment of the project, archived or not.
    pub async fn experiment(&self, project_id: ProjectId, id: &str) -> Result<ExperimentInfo> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS}, {MODIFIER_COLUMNS}, {AUDIT_COLUMNS} FROM experiments WHERE id = $1 AND project_id = $2"
        ))
        .bind(id)
        .bind(project_id.0)
        .fetch_optional(self.pool())
        .await?
        .ok_or_else(|| MetadataError::NotFound(format!("experiment {id} in project {project_id}")))?;
        from_row(&row)
    }

    /// Saves `e`'s status, definition, start, end and archiving as they are now, changed
    /// by `modifier`.
    pub async fn save_experiment(&self, e: &ExperimentInfo, modifier: &Actor) -> Result<ExperimentInfo> {
        let done = sqlx::query(
            "UPDATE experiments SET status = $1, definition = $2, start_ms = $3, end_ms = $4, deleted_at_ms = $5, \
             modified_at_ms = $6, modifier_kind = $7, modifier_id = $8, modifier_name = $9 \
             WHERE id = $10 AND project_id = $11",
        )
        .bind(e.status.as_str())
        .bind(text_of(&e.spec)?)
        .bind(e.start_ms)
        .bind(e.end_ms)
        .bind(e.deleted_at_ms)
        .bind(now_ms())
        .bind(modifier.kind.as_str())
        .bind(modifier.id)
        .bind(modifier.name.as_str())
        .bind(&e.id)
        .bind(e.project_id.0)
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(MetadataError::NotFound(format!("experiment {} in project {}", e.id, e.project_id)));
        }
        self.experiment(e.project_id, &e.id).await
    }

    /// Deletes an experiment.
    pub async fn delete_experiment(&self, project_id: ProjectId, id: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM experiments WHERE id = $1 AND project_id = $2")
            .bind(id)
            .bind(project_id.0)
            .execute(self.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(MetadataError::NotFound(format!("experiment {id} in project {project_id}")));
        }
        Ok(())
    }

    /// The experiments of a workspace, oldest first; archived ones only when asked.
    pub async fn list_experiments(
        &self,
        project_id: ProjectId,
        workspace_id: i64,
        include_archived: bool,
    ) -> Result<Vec<ExperimentInfo>> {
        self.workspace(project_id, workspace_id).await?;
        let archived = if include_archived { "" } else { " AND deleted_at_ms IS NULL" };
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS}, {MODIFIER_COLUMNS}, {AUDIT_COLUMNS} FROM experiments \
             WHERE project_id = $1 AND workspace_id = $2{archived} ORDER BY created_at_ms, id"
        ))
        .bind(project_id.0)
        .bind(workspace_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }
}
