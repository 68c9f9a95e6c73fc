//! Feature flags ([`FlagInfo`]): a [`FlagSpec`] kept as JSON text in a workspace of a
//! project, with the audit columns and who changed it last. Deleting a flag archives
//! it (Mixpanel's soft delete): its key may then be used again. Every change raises the
//! project's flag version in its own transaction, so a server that caches a project's
//! flags for `/flags` sees another server's changes by comparing versions.

use serde::Serialize;
use sextant_flags::{FlagSpec, FlagStatus};
use sextant_model::{Actor, Audit, ProjectId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::audit::{AUDIT_COLUMNS, CREATOR_COLUMNS, MODIFIER_COLUMNS, audit_from_row, bind_creator, modifier_from_row};
use crate::secrets::random_hex32;
use crate::store::{Metadata, now_ms};
use crate::{MetadataError, Result};

/// The most flags a project keeps that are not archived: every `/flags` request
/// evaluates the enabled ones.
pub const MAX_FLAGS: i64 = 1_000;

/// A flag as stored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FlagInfo {
    /// Its id, a UUID.
    pub id: String,
    /// Its project.
    pub project_id: ProjectId,
    /// Its workspace.
    pub workspace_id: i64,
    /// Its definition.
    pub spec: FlagSpec,
    /// When it was last enabled.
    pub enabled_at_ms: Option<i64>,
    /// When it was archived.
    pub deleted_at_ms: Option<i64>,
    /// Made and last changed, and by whom it was made.
    pub audit: Audit,
    /// Who changed it last.
    pub modifier: Option<Actor>,
}

const COLUMNS: &str = "id, project_id, workspace_id, definition, enabled_at_ms, deleted_at_ms";

fn from_row(row: &AnyRow) -> Result<FlagInfo> {
    let definition: String = row.try_get("definition")?;
    let modifier = modifier_from_row(row)?;
    Ok(FlagInfo {
        id: row.try_get("id")?,
        project_id: ProjectId(row.try_get("project_id")?),
        workspace_id: row.try_get("workspace_id")?,
        spec: serde_json::from_str(&definition)
            .map_err(|e| MetadataError::Invalid(format!("stored flag definition: {e}")))?,
        enabled_at_ms: row.try_get("enabled_at_ms")?,
        deleted_at_ms: row.try_get("deleted_at_ms")?,
        audit: audit_from_row(row)?,
        modifier,
    })
}

/// Checks a definition, naming every problem.
fn checked(spec: &FlagSpec) -> Result<String> {
    checked_text(spec, spec.check())
}

/// `value` as the JSON text stored, unless its checks found `problems` (the first is
/// named, with how many more there are).
pub(crate) fn checked_text(value: &impl Serialize, problems: Vec<sextant_flags::Problem>) -> Result<String> {
    if let Some((field, problem)) = problems.first() {
        let rest = if problems.len() > 1 { format!(" (and {} more)", problems.len() - 1) } else { String::new() };
        return Err(MetadataError::Invalid(format!("{field} {problem}{rest}")));
    }
    serde_json::to_string(value).map_err(|e| MetadataError::Invalid(e.to_string()))
}

/// A unique-index violation on a live key, as a conflict that names it.
fn key_taken(e: sqlx::Error, key: &str) -> MetadataError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            MetadataError::Conflict(format!("a flag with key `{key}` already exists in the project"))
        }
        _ => MetadataError::Database(e),
    }
}

impl Metadata {
    /// Saves a new flag in `workspace`, with a fresh hash salt unless it brings one.
    pub async fn create_flag(
        &self,
        project_id: ProjectId,
        workspace_id: i64,
        mut spec: FlagSpec,
        creator: &Actor,
    ) -> Result<FlagInfo> {
        self.workspace(project_id, workspace_id).await?;
        if spec.hash_salt.is_none() {
            spec.hash_salt = Some(random_hex32());
        }
        let text = checked(&spec)?;
        let id = uuid::Uuid::new_v4().to_string();
        let now = now_ms();
        let enabled_at = (spec.status == FlagStatus::Enabled).then_some(now);
        let mut tx = self.pool().begin().await?;
        let held: i64 =
            sqlx::query("SELECT count(*) AS n FROM feature_flags WHERE project_id = $1 AND status <> 'archived'")
                .bind(project_id.0)
                .fetch_one(&mut *tx)
                .await?
                .try_get("n")?;
        if held >= MAX_FLAGS {
            return Err(MetadataError::Conflict(format!(
                "project {project_id} keeps {held} flags that are not archived, the most it may: archive some first"
            )));
        }
        let insert = format!(
            "INSERT INTO feature_flags (id, project_id, workspace_id, flag_key, status, definition, enabled_at_ms, \
             created_at_ms, {CREATOR_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        );
        let query = sqlx::query(&insert)
            .bind(&id)
            .bind(project_id.0)
            .bind(workspace_id)
            .bind(&spec.key)
            .bind(spec.status.as_str())
            .bind(&text)
            .bind(enabled_at)
            .bind(now);
        bind_creator(query, now, creator).execute(&mut *tx).await.map_err(|e| key_taken(e, &spec.key))?;
        bump_version(&mut tx, project_id).await?;
        tx.commit().await?;
        self.flag(project_id, &id).await
    }

    /// One flag of the project, archived or not.
    pub async fn flag(&self, project_id: ProjectId, id: &str) -> Result<FlagInfo> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS}, {MODIFIER_COLUMNS}, {AUDIT_COLUMNS} FROM feature_flags WHERE id = $1 AND project_id = $2"
        ))
        .bind(id)
        .bind(project_id.0)
        .fetch_optional(self.pool())
        .await?
        .ok_or_else(|| MetadataError::NotFound(format!("feature flag {id} in project {project_id}")))?;
        from_row(&row)
    }

    /// Replaces a flag's definition (`reset_salt`: with a new hash salt), recording who
    /// changed it. Enabling it stamps `enabled_at`; archiving it stamps `deleted`.
    pub async fn update_flag(
        &self,
        project_id: ProjectId,
        id: &str,
        mut spec: FlagSpec,
        reset_salt: bool,
        modifier: &Actor,
    ) -> Result<FlagInfo> {
        let old = self.flag(project_id, id).await?;
        // A definition sent without its salt keeps the stored one: dropping it would
        // move every user to the legacy buckets.
        if spec.hash_salt.is_none() {
            spec.hash_salt = old.spec.hash_salt.clone();
        }
        if reset_salt {
            spec.hash_salt = Some(random_hex32());
        }
        let text = checked(&spec)?;
        let now = now_ms();
        let enabled_at = match (old.spec.status, spec.status) {
            (FlagStatus::Enabled, FlagStatus::Enabled) => old.enabled_at_ms,
            (_, FlagStatus::Enabled) => Some(now),
            _ => old.enabled_at_ms,
        };
        let deleted_at = (spec.status == FlagStatus::Archived).then(|| old.deleted_at_ms.unwrap_or(now));
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "UPDATE feature_flags SET flag_key = $1, status = $2, definition = $3, enabled_at_ms = $4, \
             deleted_at_ms = $5, modified_at_ms = $6, modifier_kind = $7, modifier_id = $8, modifier_name = $9 \
             WHERE id = $10 AND project_id = $11",
        )
        .bind(&spec.key)
        .bind(spec.status.as_str())
        .bind(&text)
        .bind(enabled_at)
        .bind(deleted_at)
        .bind(now)
        .bind(modifier.kind.as_str())
        .bind(modifier.id)
        .bind(modifier.name.as_str())
        .bind(id)
        .bind(project_id.0)
        .execute(&mut *tx)
        .await
        .map_err(|e| key_taken(e, &spec.key))?;
        bump_version(&mut tx, project_id).await?;
        tx.commit().await?;
        self.flag(project_id, id).await
    }

    /// Archives a flag (Mixpanel's delete): no longer served, listed only when archived
    /// flags are asked for, its key free again.
    pub async fn archive_flag(&self, project_id: ProjectId, id: &str, modifier: &Actor) -> Result<FlagInfo> {
        let mut flag = self.flag(project_id, id).await?;
        flag.spec.status = FlagStatus::Archived;
        self.update_flag(project_id, id, flag.spec, false, modifier).await
    }

    /// The flags of a workspace, oldest first; archived ones only when asked.
    pub async fn list_flags(
        &self,
        project_id: ProjectId,
        workspace_id: i64,
        include_archived: bool,
    ) -> Result<Vec<FlagInfo>> {
        self.workspace(project_id, workspace_id).await?;
        let archived = if include_archived { "" } else { " AND status <> 'archived'" };
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS}, {MODIFIER_COLUMNS}, {AUDIT_COLUMNS} FROM feature_flags \
             WHERE project_id = $1 AND workspace_id = $2{archived} ORDER BY created_at_ms, id"
        ))
        .bind(project_id.0)
        .bind(workspace_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Every enabled flag of the project, in every workspace, oldest first, with the
    /// project's flag version read in the same transaction.
    pub async fn enabled_flags(&self, project_id: ProjectId) -> Result<(i64, Vec<FlagInfo>)> {
        let mut tx = self.pool().begin().await?;
        let version: Option<i64> = sqlx::query("SELECT version FROM flag_versions WHERE project_id = $1")
            .bind(project_id.0)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.try_get("version"))
            .transpose()?;
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS}, {MODIFIER_COLUMNS}, {AUDIT_COLUMNS} FROM feature_flags \
             WHERE project_id = $1 AND status = 'enabled' ORDER BY created_at_ms, id"
        ))
        .bind(project_id.0)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((version.unwrap_or(0), rows.iter().map(from_row).collect::<Result<Vec<_>>>()?))
    }

    /// Each project's flag version, raised by every change to its flags.
    pub async fn flag_versions(&self) -> Result<Vec<(ProjectId, i64)>> {
        let rows = sqlx::query("SELECT project_id, version FROM flag_versions").fetch_all(self.pool()).await?;
        rows.iter().map(|r| Ok((ProjectId(r.try_get("project_id")?), r.try_get("version")?))).collect()
    }
}

/// Raises the project's flag version ([`Metadata::flag_versions`]).
async fn bump_version(tx: &mut sqlx::Transaction<'_, sqlx::Any>, project_id: ProjectId) -> Result<()> {
    sqlx::query(
        "INSERT INTO flag_versions (project_id, version) VALUES ($1, 1) \
         ON CONFLICT (project_id) DO UPDATE SET version = flag_versions.version + 1",
    )
    .bind(project_id.0)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
