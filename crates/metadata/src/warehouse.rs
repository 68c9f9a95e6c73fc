//! Warehouse connectors: the sources imports read ([`WarehouseSource`]), the imports
//! ([`WarehouseImport`]: what each asks for, its watermark, a manual sync waiting) and
//! every run of an import ([`ImportRun`], its `history`). The rules (what a request may
//! ask for, how a row maps) are `sextant_model::warehouse`'s.

use sextant_model::warehouse::{ImportSpec, SourceSpec};
use sextant_model::{Actor, Audit, Page, PageRequest, ProjectId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::audit::{AUDIT_COLUMNS, CREATOR_COLUMNS, audit_from_row, bind_creator};
use crate::store::{Metadata, now_ms};
use crate::{MetadataError, Result};

/// A source as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct WarehouseSource {
    /// Its id.
    pub id: i64,
    /// Its project.
    pub project_id: ProjectId,
    /// What it is (its URL sealed).
    pub spec: SourceSpec,
    /// Made, and by whom.
    pub audit: Audit,
}

/// An import as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct WarehouseImport {
    /// Its id.
    pub id: i64,
    /// Its project.
    pub project_id: ProjectId,
    /// What it asks for.
    pub spec: ImportSpec,
    /// Paused: no scheduled or manual run starts.
    pub paused: bool,
    /// Nanoseconds between scheduled runs (0: manual only).
    pub run_every: i64,
    /// The server that works it.
    pub runner: String,
    /// The last watermark value stored (JSON).
    pub watermark: Option<String>,
    /// A manual sync waiting.
    pub sync_requested: bool,
    /// When a run last started (epoch ms).
    pub last_dispatch_ms: Option<i64>,
    /// Made, and by whom.
    pub audit: Audit,
}

/// One run of an import.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportRun {
    /// Its id.
    pub id: i64,
    /// `PENDING` (a manual sync not started yet), `RUNNING`, `SUCCEEDED`, `FAILED` or
    /// `CANCELLED`.
    pub status: String,
    /// When it started (epoch ms).
    pub start_ms: i64,
    /// When it ended.
    pub end_ms: Option<i64>,
    /// Rows stored.
    pub imported: Option<i64>,
    /// Why it failed.
    pub error: Option<String>,
}

const SOURCE_COLUMNS: &str = "id, project_id, settings";
const IMPORT_COLUMNS: &str =
    "id, project_id, spec, paused, run_every, runner, watermark, sync_requested, last_dispatch_ms";

fn invalid(what: &str, e: impl std::fmt::Display) -> MetadataError {
    MetadataError::Invalid(format!("stored warehouse {what}: {e}"))
}

fn source_from_row(row: &AnyRow) -> Result<WarehouseSource> {
    let settings: String = row.try_get("settings")?;
    Ok(WarehouseSource {
        id: row.try_get("id")?,
        project_id: ProjectId(row.try_get("project_id")?),
        spec: serde_json::from_str(&settings).map_err(|e| invalid("source", e))?,
        audit: audit_from_row(row)?,
    })
}

fn import_from_row(row: &AnyRow) -> Result<WarehouseImport> {
    let spec: String = row.try_get("spec")?;
    Ok(WarehouseImport {
        id: row.try_get("id")?,
        project_id: ProjectId(row.try_get("project_id")?),
        spec: serde_json::from_str(&spec).map_err(|e| invalid("import", e))?,
        paused: row.try_get::<i64, _>("paused")? != 0,
        run_every: row.try_get("run_every")?,
        runner: row.try_get("runner")?,
        watermark: row.try_get("watermark")?,
        sync_requested: row.try_get::<i64, _>("sync_requested")? != 0,
        last_dispatch_ms: row.try_get("last_dispatch_ms")?,
        audit: audit_from_row(row)?,
    })
}

/// The run a manual sync of `import` asked for and that has not started, if any.
async fn pending_run(tx: &mut sqlx::Transaction<'_, sqlx::Any>, import: i64) -> Result<Option<i64>> {
    let row = sqlx::query("SELECT id FROM warehouse_import_runs WHERE import_id = $1 AND status = 'PENDING'")
        .bind(import)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(row.map(|r| r.try_get("id")).transpose()?)
}

fn import_not_found(project: ProjectId, id: i64) -> MetadataError {
    MetadataError::NotFound(format!("warehouse import {id} in project {project}"))
}

fn run_from_row(row: &AnyRow) -> Result<ImportRun> {
    Ok(ImportRun {
        id: row.try_get("id")?,
        status: row.try_get("status")?,
        start_ms: row.try_get("start_ms")?,
        end_ms: row.try_get("end_ms")?,
        imported: row.try_get("imported")?,
        error: row.try_get("error")?,
    })
}

impl Metadata {
    /// Saves a source (its URL already sealed).
    pub async fn create_warehouse_source(
        &self,
        project: ProjectId,
        spec: &SourceSpec,
        creator: &Actor,
    ) -> Result<WarehouseSource> {
        let settings = serde_json::to_string(spec).map_err(|e| invalid("source", e))?;
        let now = now_ms();
        let insert = format!(
            "INSERT INTO warehouse_sources (project_id, name, kind, settings, created_at_ms, {CREATOR_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id"
        );
        let kind =
            serde_json::to_value(spec.kind).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        let query = sqlx::query(&insert).bind(project.0).bind(&spec.name).bind(kind).bind(settings).bind(now);
        let id: i64 = bind_creator(query, now, creator).fetch_one(self.pool()).await?.try_get("id")?;
        self.warehouse_source(project, id).await
    }

    /// One row of `table` (`warehouse_sources` or `warehouse_imports`) in the project.
    async fn warehouse_row(&self, table: &str, columns: &str, project: ProjectId, id: i64) -> Result<AnyRow> {
        sqlx::query(&format!("SELECT {columns}, {AUDIT_COLUMNS} FROM {table} WHERE id = $1 AND project_id = $2"))
            .bind(id)
            .bind(project.0)
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| {
                if table == "warehouse_sources" {
                    MetadataError::NotFound(format!("warehouse source {id} in project {project}"))
                } else {
                    import_not_found(project, id)
                }
            })
    }

    /// A page of `table`'s rows in the project, newest first.
    async fn warehouse_page<T>(
        &self,
        table: &str,
        columns: &str,
        project: ProjectId,
        page: PageRequest,
        from_row: fn(&AnyRow) -> Result<T>,
        id: fn(&T) -> i64,
    ) -> Result<Page<T>> {
        let select = format!("SELECT {columns}, {AUDIT_COLUMNS} FROM {table} WHERE project_id = $1");
        let rows = self.page_rows(&select, project.0, "id", page).await?;
        let items = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
        let exists = format!("SELECT 1 FROM {table} WHERE project_id = $1");
        self.finish_page(items, id, &exists, project.0, "id", page).await
    }

    /// One source of the project.
    pub async fn warehouse_source(&self, project: ProjectId, id: i64) -> Result<WarehouseSource> {
        source_from_row(&self.warehouse_row("warehouse_sources", SOURCE_COLUMNS, project, id).await?)
    }

    /// A page of the project's sources, newest first.
    pub async fn list_warehouse_sources(&self, project: ProjectId, page: PageRequest) -> Result<Page<WarehouseSource>> {
        self.warehouse_page("warehouse_sources", SOURCE_COLUMNS, project, page, source_from_row, |s| s.id).await
    }

    /// Deletes a source no import reads.
    pub async fn delete_warehouse_source(&self, project: ProjectId, id: i64) -> Result<()> {
        let used: Option<i64> = sqlx::query("SELECT id FROM warehouse_imports WHERE source_id = $1 LIMIT 1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .map(|r| r.try_get("id"))
            .transpose()?;
        if let Some(import) = used {
            return Err(MetadataError::Conflict(format!(
                "warehouse source {id} is read by import {import}; delete its imports first"
            )));
        }
        let done = sqlx::query("DELETE FROM warehouse_sources WHERE id = $1 AND project_id = $2")
            .bind(id)
            .bind(project.0)
            .execute(self.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(MetadataError::NotFound(format!("warehouse source {id} in project {project}")));
        }
        Ok(())
    }

    /// Saves an import, worked by `runner`.
    pub async fn create_warehouse_import(
        &self,
        project: ProjectId,
        spec: &ImportSpec,
        runner: &str,
        creator: &Actor,
    ) -> Result<WarehouseImport> {
        let json = serde_json::to_string(spec).map_err(|e| invalid("import", e))?;
        let now = now_ms();
        let insert = format!(
            "INSERT INTO warehouse_imports (project_id, source_id, import_type, spec, run_every, runner, \
             sync_requested, created_at_ms, {CREATOR_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8, $9, $10, $11) RETURNING id"
        );
        let query = sqlx::query(&insert)
            .bind(project.0)
            .bind(spec.warehouse_source_id)
            .bind(spec.import_type.as_str())
            .bind(json)
            .bind(spec.run_every)
            .bind(runner)
            .bind(now);
        let id: i64 = bind_creator(query, now, creator).fetch_one(self.pool()).await?.try_get("id")?;
        self.warehouse_import(project, id).await
    }

    /// One import of the project.
    pub async fn warehouse_import(&self, project: ProjectId, id: i64) -> Result<WarehouseImport> {
        import_from_row(&self.warehouse_row("warehouse_imports", IMPORT_COLUMNS, project, id).await?)
    }

    /// A page of the project's imports, newest first.
    pub async fn list_warehouse_imports(&self, project: ProjectId, page: PageRequest) -> Result<Page<WarehouseImport>> {
        self.warehouse_page("warehouse_imports", IMPORT_COLUMNS, project, page, import_from_row, |i| i.id).await
    }

    /// Every import `runner` works.
    pub async fn runner_warehouse_imports(&self, runner: &str) -> Result<Vec<WarehouseImport>> {
        let rows = sqlx::query(&format!(
            "SELECT {IMPORT_COLUMNS}, {AUDIT_COLUMNS} FROM warehouse_imports WHERE runner = $1 ORDER BY id"
        ))
        .bind(runner)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(import_from_row).collect()
    }

    /// Pauses or resumes an import and sets its schedule.
    pub async fn update_warehouse_import(
        &self,
        project: ProjectId,
        id: i64,
        paused: bool,
        run_every: i64,
    ) -> Result<WarehouseImport> {
        let done = sqlx::query(
            "UPDATE warehouse_imports SET paused = $1, run_every = $2, modified_at_ms = $3 \
             WHERE id = $4 AND project_id = $5",
        )
        .bind(i64::from(paused))
        .bind(run_every)
        .bind(now_ms())
        .bind(id)
        .bind(project.0)
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(import_not_found(project, id));
        }
        self.warehouse_import(project, id).await
    }

    /// Deletes an import and its history.
    pub async fn delete_warehouse_import(&self, project: ProjectId, id: i64) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query("DELETE FROM warehouse_imports WHERE id = $1 AND project_id = $2")
            .bind(id)
            .bind(project.0)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(import_not_found(project, id));
        }
        sqlx::query("DELETE FROM warehouse_import_runs WHERE import_id = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Asks for a run of an import as soon as its runner looks: answers the id of the
    /// run that will be (a `PENDING` one, the same for requests made before it starts).
    pub async fn request_warehouse_sync(&self, project: ProjectId, id: i64) -> Result<i64> {
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query("UPDATE warehouse_imports SET sync_requested = 1 WHERE id = $1 AND project_id = $2")
            .bind(id)
            .bind(project.0)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(import_not_found(project, id));
        }
        let waiting = pending_run(&mut tx, id).await?;
        let run = match waiting {
            Some(run) => run,
            None => sqlx::query(
                "INSERT INTO warehouse_import_runs (import_id, project_id, status, start_ms) \
                 VALUES ($1, $2, 'PENDING', $3) RETURNING id",
            )
            .bind(id)
            .bind(project.0)
            .bind(now_ms())
            .fetch_one(&mut *tx)
            .await?
            .try_get("id")?,
        };
        tx.commit().await?;
        Ok(run)
    }

    /// Records the start of a run (the `PENDING` one a manual sync made, or a new one)
    /// and answers its id.
    pub async fn start_warehouse_run(&self, import: &WarehouseImport) -> Result<i64> {
        let now = now_ms();
        let mut tx = self.pool().begin().await?;
        sqlx::query("UPDATE warehouse_imports SET sync_requested = 0, last_dispatch_ms = $1 WHERE id = $2")
            .bind(now)
            .bind(import.id)
            .execute(&mut *tx)
            .await?;
        let waiting = pending_run(&mut tx, import.id).await?;
        let id = match waiting {
            Some(run) => {
                sqlx::query("UPDATE warehouse_import_runs SET status = 'RUNNING', start_ms = $1 WHERE id = $2")
                    .bind(now)
                    .bind(run)
                    .execute(&mut *tx)
                    .await?;
                run
            }
            None => sqlx::query(
                "INSERT INTO warehouse_import_runs (import_id, project_id, status, start_ms) \
                 VALUES ($1, $2, 'RUNNING', $3) RETURNING id",
            )
            .bind(import.id)
            .bind(import.project_id.0)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?
            .try_get("id")?,
        };
        tx.commit().await?;
        Ok(id)
    }

    /// Moves an import's watermark on, once the rows up to it are stored.
    pub async fn set_warehouse_watermark(&self, import: i64, watermark: &str) -> Result<()> {
        sqlx::query("UPDATE warehouse_imports SET watermark = $1 WHERE id = $2")
            .bind(watermark)
            .bind(import)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Records how a run ended: `SUCCEEDED` or `FAILED`, the rows stored, why it failed.
    pub async fn finish_warehouse_run(&self, run: i64, status: &str, imported: i64, error: Option<&str>) -> Result<()> {
        sqlx::query(
            "UPDATE warehouse_import_runs SET status = $1, end_ms = $2, imported = $3, error = $4 WHERE id = $5",
        )
        .bind(status)
        .bind(now_ms())
        .bind(imported)
        .bind(error)
        .bind(run)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Fails the runs `runner` left running when it stopped: their imports go on from
    /// their watermark.
    pub async fn fail_unfinished_warehouse_runs(&self, runner: &str) -> Result<()> {
        sqlx::query(
            "UPDATE warehouse_import_runs SET status = 'FAILED', end_ms = $1, \
             error = 'the server stopped during the run; the next run goes on from the watermark' \
             WHERE status = 'RUNNING' AND import_id IN (SELECT id FROM warehouse_imports WHERE runner = $2)",
        )
        .bind(now_ms())
        .bind(runner)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// An import's runs, newest first.
    pub async fn warehouse_runs(&self, project: ProjectId, import: i64) -> Result<Vec<ImportRun>> {
        self.warehouse_import(project, import).await?;
        let rows = sqlx::query(
            "SELECT id, status, start_ms, end_ms, imported, error FROM warehouse_import_runs \
             WHERE import_id = $1 ORDER BY id DESC",
        )
        .bind(import)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(run_from_row).collect()
    }
}
