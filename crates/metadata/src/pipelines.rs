//! Data pipelines ([`Pipeline`]): each pipeline's request and state, the partitions it
//! owes ([`PipelineTask`]) and every time one was published (the `timeline`).
//!
//! A task row is keyed by its pipeline and partition, so writing a partition again (a
//! retry, a sync) updates the one row; the publications are kept apart, one row each.
//! The rules (what a request may ask for, which partitions are owed) are
//! `sextant_model::pipeline`'s.

use sextant_model::ProjectId;
use sextant_model::pipeline::{PipelineSpec, TaskState};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::store::{Metadata, now_ms};
use crate::{MetadataError, Result};

/// A pipeline as stored.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Pipeline {
    /// Its project.
    pub project_id: ProjectId,
    /// Its name, unique in the project.
    pub name: String,
    /// What it was asked to do.
    pub spec: PipelineSpec,
    /// Paused (`false`) or running.
    pub running: bool,
    /// The server that works it.
    pub runner: String,
    /// Who created it.
    pub created_by: String,
    /// When (epoch ms).
    pub created_at_ms: i64,
    /// When a partition of it was last started.
    pub last_dispatched_ms: Option<i64>,
}

/// One partition a pipeline owes.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct PipelineTask {
    /// The partition's start (epoch ms).
    pub partition_ms: i64,
    /// Where it is.
    pub state: TaskState,
    /// How many times it was tried.
    pub attempts: i64,
    /// Events in the file last published.
    pub events: i64,
    /// The hash of the file last published.
    pub digest: Option<String>,
    /// Why it last failed.
    pub error: Option<String>,
    /// When it was last started.
    pub run_at_ms: i64,
    /// When it last ended.
    pub finished_at_ms: Option<i64>,
    /// The tables its last publication has (schematized pipelines).
    pub tables: Vec<String>,
}

/// A partition written, or read again and found unchanged.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskDone {
    /// Events in the partition.
    pub events: i64,
    /// The hash of its lines.
    pub digest: String,
    /// Whether it was published (else found unchanged).
    pub published: bool,
    /// The tables published (`None`: as before).
    pub tables: Option<Vec<String>>,
}

const COLUMNS: &str = "project_id, name, spec, state, runner, created_by, created_at_ms, last_dispatched_ms";
const TASK_COLUMNS: &str = "partition_ms, state, attempts, events, digest, error, run_at_ms, finished_at_ms, tables";

fn invalid(what: &str, e: impl std::fmt::Display) -> MetadataError {
    MetadataError::Invalid(format!("stored pipeline {what}: {e}"))
}

fn from_row(row: &AnyRow) -> Result<Pipeline> {
    let spec: String = row.try_get("spec")?;
    Ok(Pipeline {
        project_id: ProjectId(row.try_get("project_id")?),
        name: row.try_get("name")?,
        spec: serde_json::from_str(&spec).map_err(|e| invalid("spec", e))?,
        running: row.try_get::<String, _>("state")? == "running",
        runner: row.try_get("runner")?,
        created_by: row.try_get("created_by")?,
        created_at_ms: row.try_get("created_at_ms")?,
        last_dispatched_ms: row.try_get("last_dispatched_ms")?,
    })
}

fn task_from_row(row: &AnyRow) -> Result<PipelineTask> {
    let state: String = row.try_get("state")?;
    Ok(PipelineTask {
        partition_ms: row.try_get("partition_ms")?,
        state: TaskState::parse(&state).ok_or_else(|| invalid("task state", &state))?,
        attempts: row.try_get("attempts")?,
        events: row.try_get("events")?,
        digest: row.try_get("digest")?,
        error: row.try_get("error")?,
        run_at_ms: row.try_get("run_at_ms")?,
        finished_at_ms: row.try_get("finished_at_ms")?,
        tables: match row.try_get::<Option<String>, _>("tables")? {
            Some(json) => serde_json::from_str(&json).map_err(|e| invalid("task tables", e))?,
            None => Vec::new(),
        },
    })
}

fn spec_json(spec: &PipelineSpec) -> Result<String> {
    serde_json::to_string(spec).map_err(|e| MetadataError::Invalid(e.to_string()))
}

impl Metadata {
    /// Stores a new running pipeline; a name taken in the project is a conflict.
    pub async fn create_pipeline(
        &self,
        project: ProjectId,
        name: &str,
        spec: &PipelineSpec,
        runner: &str,
        created_by: &str,
    ) -> Result<Pipeline> {
        let inserted = sqlx::query(
            "INSERT INTO pipelines (project_id, name, spec, state, runner, created_by, created_at_ms) \
             VALUES ($1, $2, $3, 'running', $4, $5, $6)",
        )
        .bind(project.0)
        .bind(name)
        .bind(spec_json(spec)?)
        .bind(runner)
        .bind(created_by)
        .bind(now_ms())
        .execute(self.pool())
        .await;
        match inserted {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(MetadataError::Conflict(format!(
                "a pipeline named `{name}` exists in this project; cancel it, or give this one another prefix"
            ))),
            Err(e) => Err(e.into()),
            Ok(_) => self.pipeline(project, name).await,
        }
    }

    /// A pipeline by name.
    pub async fn pipeline(&self, project: ProjectId, name: &str) -> Result<Pipeline> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM pipelines WHERE project_id = $1 AND name = $2"))
            .bind(project.0)
            .bind(name)
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| MetadataError::NotFound(format!("pipeline `{name}`")))?;
        from_row(&row)
    }

    /// A project's pipelines, by name.
    pub async fn pipelines(&self, project: ProjectId) -> Result<Vec<Pipeline>> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM pipelines WHERE project_id = $1 ORDER BY name"))
            .bind(project.0)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(from_row).collect()
    }

    /// Every pipeline of every project (to keep their directories apart).
    pub async fn all_pipelines(&self) -> Result<Vec<Pipeline>> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM pipelines ORDER BY project_id, name"))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(from_row).collect()
    }

    /// The running pipelines `runner` works.
    pub async fn running_pipelines(&self, runner: &str) -> Result<Vec<Pipeline>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM pipelines WHERE runner = $1 AND state = 'running' ORDER BY project_id, name"
        ))
        .bind(runner)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Pauses or resumes a pipeline.
    pub async fn set_pipeline_running(&self, project: ProjectId, name: &str, running: bool) -> Result<()> {
        self.set_pipeline_column(project, name, "state", if running { "running" } else { "paused" }).await
    }

    /// Replaces a pipeline's request (an edit).
    pub async fn replace_pipeline_spec(&self, project: ProjectId, name: &str, spec: &PipelineSpec) -> Result<()> {
        self.set_pipeline_column(project, name, "spec", &spec_json(spec)?).await
    }

    /// Sets one text column (`state` or `spec`) of a pipeline.
    async fn set_pipeline_column(&self, project: ProjectId, name: &str, column: &str, value: &str) -> Result<()> {
        let done = sqlx::query(&format!("UPDATE pipelines SET {column} = $1 WHERE project_id = $2 AND name = $3"))
            .bind(value)
            .bind(project.0)
            .bind(name)
            .execute(self.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(MetadataError::NotFound(format!("pipeline `{name}`")));
        }
        Ok(())
    }

    /// Deletes a pipeline with its tasks and history (`cancel`).
    pub async fn delete_pipeline(&self, project: ProjectId, name: &str) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        for table in ["pipeline_syncs", "pipeline_tasks"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE project_id = $1 AND name = $2"))
                .bind(project.0)
                .bind(name)
                .execute(&mut *tx)
                .await?;
        }
        let done = sqlx::query("DELETE FROM pipelines WHERE project_id = $1 AND name = $2")
            .bind(project.0)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(MetadataError::NotFound(format!("pipeline `{name}`")));
        }
        tx.commit().await?;
        Ok(())
    }

    /// A pipeline's tasks, oldest partition first.
    pub async fn pipeline_tasks(&self, project: ProjectId, name: &str) -> Result<Vec<PipelineTask>> {
        let rows = sqlx::query(&format!(
            "SELECT {TASK_COLUMNS} FROM pipeline_tasks WHERE project_id = $1 AND name = $2 ORDER BY partition_ms"
        ))
        .bind(project.0)
        .bind(name)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(task_from_row).collect()
    }

    /// Marks a partition started (`running`), counting the attempt; the pipeline is
    /// dispatched now.
    pub async fn start_pipeline_task(&self, project: ProjectId, name: &str, partition_ms: i64) -> Result<()> {
        let now = now_ms();
        let mut tx = self.pool().begin().await?;
        let updated = sqlx::query(
            "UPDATE pipeline_tasks SET state = $1, attempts = attempts + 1, run_at_ms = $2, finished_at_ms = NULL \
             WHERE project_id = $3 AND name = $4 AND partition_ms = $5",
        )
        .bind(TaskState::Running.as_str())
        .bind(now)
        .bind(project.0)
        .bind(name)
        .bind(partition_ms)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            // Only for a pipeline still there: a cancel meanwhile leaves no row behind.
            sqlx::query(
                "INSERT INTO pipeline_tasks (project_id, name, partition_ms, state, attempts, run_at_ms) \
                 SELECT $1, $2, $3, $4, 1, $5 WHERE EXISTS (SELECT 1 FROM pipelines WHERE project_id = $1 AND name = $2)",
            )
            .bind(project.0)
            .bind(name)
            .bind(partition_ms)
            .bind(TaskState::Running.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("UPDATE pipelines SET last_dispatched_ms = $1 WHERE project_id = $2 AND name = $3")
            .bind(now)
            .bind(project.0)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Ends a partition's run: `Ok((events, digest, published))` succeeded (with a row
    /// in the timeline when the file was published), `Err((state, why))` did not.
    pub async fn finish_pipeline_task(
        &self,
        project: ProjectId,
        name: &str,
        partition_ms: i64,
        outcome: std::result::Result<TaskDone, (TaskState, String)>,
    ) -> Result<()> {
        let now = now_ms();
        let mut tx = self.pool().begin().await?;
        let (state, events, digest, error, published, tables) = match outcome {
            Ok(done) => {
                let tables = done.tables.map(|t| serde_json::to_string(&t).unwrap_or_default());
                (TaskState::Succeeded, Some(done.events), Some(done.digest), None, done.published, tables)
            }
            Err((state, why)) => (state, None, None, Some(why), false, None),
        };
        sqlx::query(
            "UPDATE pipeline_tasks SET state = $1, events = coalesce($2, events), digest = coalesce($3, digest), \
             error = $4, finished_at_ms = $5, tables = coalesce($6, tables) \
             WHERE project_id = $7 AND name = $8 AND partition_ms = $9",
        )
        .bind(state.as_str())
        .bind(events)
        .bind(digest)
        .bind(error)
        .bind(now)
        .bind(tables)
        .bind(project.0)
        .bind(name)
        .bind(partition_ms)
        .execute(&mut *tx)
        .await?;
        if published {
            sqlx::query(
                "INSERT INTO pipeline_syncs (project_id, name, partition_ms, synced_at_ms) \
                 SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM pipelines WHERE project_id = $1 AND name = $2)",
            )
            .bind(project.0)
            .bind(name)
            .bind(partition_ms)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Gives a pipeline's `failed` partitions another round of attempts (after an
    /// edit or a resume: what failed may pass now); answers how many.
    pub async fn retry_pipeline_tasks(&self, project: ProjectId, name: &str) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE pipeline_tasks SET state = $1, attempts = 0 WHERE project_id = $2 AND name = $3 AND state = $4",
        )
        .bind(TaskState::Retried.as_str())
        .bind(project.0)
        .bind(name)
        .bind(TaskState::Failed.as_str())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }

    /// Every publication of a pipeline's partitions: `(partition, when)`, oldest
    /// partition first, each partition's in time order.
    pub async fn pipeline_syncs(&self, project: ProjectId, name: &str) -> Result<Vec<(i64, i64)>> {
        let rows = sqlx::query(
            "SELECT partition_ms, synced_at_ms FROM pipeline_syncs WHERE project_id = $1 AND name = $2 \
             ORDER BY partition_ms, synced_at_ms",
        )
        .bind(project.0)
        .bind(name)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| Ok((r.try_get("partition_ms")?, r.try_get("synced_at_ms")?))).collect()
    }
}
