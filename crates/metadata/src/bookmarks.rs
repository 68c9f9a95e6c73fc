//! Saved reports ("bookmarks"): a report kind and its parameters, computed when asked
//! for through `/insights`.

use std::collections::BTreeMap;

use serde::Serialize;
use sextant_model::{Actor, Audit, Page, PageRequest, ProjectId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::audit::{AUDIT_COLUMNS, CREATOR_COLUMNS, audit_from_row, bind_creator};
use crate::store::{Metadata, now_ms};
use crate::{MetadataError, Result};

/// A saved report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BookmarkInfo {
    /// Its id (`bookmark_id`).
    pub id: i64,
    /// Its project.
    pub project_id: ProjectId,
    /// Its name.
    pub name: String,
    /// The report: `segmentation` or `events` today.
    pub kind: String,
    /// The report's query parameters, as the report's endpoint takes them.
    pub params: BTreeMap<String, String>,
    /// Made and last changed, and by whom it was made.
    pub audit: Audit,
}

const COLUMNS: &str = "id, project_id, name, kind, params";

fn from_row(row: &AnyRow) -> Result<BookmarkInfo> {
    let params: String = row.try_get("params")?;
    Ok(BookmarkInfo {
        id: row.try_get("id")?,
        project_id: ProjectId(row.try_get("project_id")?),
        name: row.try_get("name")?,
        kind: row.try_get("kind")?,
        params: serde_json::from_str(&params)
            .map_err(|e| MetadataError::Invalid(format!("stored bookmark parameters: {e}")))?,
        audit: audit_from_row(row)?,
    })
}

impl Metadata {
    /// Saves a report (the caller has checked `kind` and `params`).
    pub async fn create_bookmark(
        &self,
        project_id: ProjectId,
        name: &str,
        kind: &str,
        params: &BTreeMap<String, String>,
        creator: &Actor,
    ) -> Result<BookmarkInfo> {
        if name.trim().is_empty() {
            return Err(MetadataError::Invalid("a saved report needs a name".into()));
        }
        let now = now_ms();
        let insert = format!(
            "INSERT INTO bookmarks (project_id, name, kind, params, created_at_ms, {CREATOR_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id"
        );
        let query = sqlx::query(&insert)
            .bind(project_id.0)
            .bind(name.trim())
            .bind(kind)
            .bind(serde_json::to_string(params).unwrap_or_else(|_| "{}".into()))
            .bind(now);
        let id: i64 = bind_creator(query, now, creator).fetch_one(self.pool()).await?.try_get("id")?;
        self.bookmark(project_id, id).await
    }

    /// One saved report of the project.
    pub async fn bookmark(&self, project_id: ProjectId, id: i64) -> Result<BookmarkInfo> {
        let row =
            sqlx::query(&format!("SELECT {COLUMNS}, {AUDIT_COLUMNS} FROM bookmarks WHERE id = $1 AND project_id = $2"))
                .bind(id)
                .bind(project_id.0)
                .fetch_optional(self.pool())
                .await?
                .ok_or_else(|| MetadataError::NotFound(format!("saved report {id} in project {project_id}")))?;
        from_row(&row)
    }

    /// Deletes a saved report.
    pub async fn delete_bookmark(&self, project_id: ProjectId, id: i64) -> Result<()> {
        let done = sqlx::query("DELETE FROM bookmarks WHERE id = $1 AND project_id = $2")
            .bind(id)
            .bind(project_id.0)
            .execute(self.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(MetadataError::NotFound(format!("saved report {id} in project {project_id}")));
        }
        Ok(())
    }

    /// A page of the project's saved reports, newest first.
    pub async fn list_bookmarks(&self, project_id: ProjectId, page: PageRequest) -> Result<Page<BookmarkInfo>> {
        let rows = self
            .page_rows(
                &format!("SELECT {COLUMNS}, {AUDIT_COLUMNS} FROM bookmarks WHERE project_id = $1"),
                project_id.0,
                "id",
                page,
            )
            .await?;
        let items = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
        self.finish_page(items, |b| b.id, "SELECT 1 FROM bookmarks WHERE project_id = $1", project_id.0, "id", page)
            .await
    }

    /// Every saved report of the project, oldest first.
    pub async fn all_bookmarks(&self, project_id: ProjectId) -> Result<Vec<BookmarkInfo>> {
        let rows =
            sqlx::query(&format!("SELECT {COLUMNS}, {AUDIT_COLUMNS} FROM bookmarks WHERE project_id = $1 ORDER BY id"))
                .bind(project_id.0)
                .fetch_all(self.pool())
                .await?;
        rows.iter().map(from_row).collect()
    }
}
