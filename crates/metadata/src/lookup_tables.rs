//! Lookup tables of a project: their ids, names, shapes and the properties they are
//! mapped to. The rows themselves live in the event store.

use serde::Serialize;
use sextant_model::{Actor, Audit, Page, PageRequest, ProjectId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::audit::{AUDIT_COLUMNS, CREATOR_COLUMNS, audit_from_row, bind_creator};
use crate::store::{Metadata, now_ms};
use crate::{MetadataError, Result};

/// The two kinds of property a table can be mapped to.
pub const MAPPING_TARGETS: [&str; 2] = ["event", "user"];

/// One property a table enriches: `target` is `event` or `user`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
pub struct LookupMapping {
    /// `event` (an event property) or `user` (a user-profile property).
    pub target: String,
    /// The property whose value is the join key.
    pub property: String,
}

impl LookupMapping {
    /// Parses `event:song_id` or `user:plan_id`.
    pub fn parse(text: &str) -> Result<LookupMapping> {
        let (target, property) = text.split_once(':').ok_or_else(|| {
            MetadataError::Invalid(format!("mapping `{text}` must be `event:PROPERTY` or `user:PROPERTY`"))
        })?;
        let m = LookupMapping { target: target.trim().to_ascii_lowercase(), property: property.to_string() };
        m.validate()?;
        Ok(m)
    }

    fn validate(&self) -> Result<()> {
        if !MAPPING_TARGETS.contains(&self.target.as_str()) {
            return Err(MetadataError::Invalid(format!("mapping target `{}` must be `event` or `user`", self.target)));
        }
        if self.property.trim().is_empty() {
            return Err(MetadataError::Invalid("a mapping needs a property name".into()));
        }
        if matches!(self.property.as_str(), "distinct_id" | "$distinct_id") {
            return Err(MetadataError::Invalid("a lookup table cannot be mapped to the distinct id".into()));
        }
        Ok(())
    }
}

/// A lookup table as stored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LookupTableInfo {
    /// Its id (a UUID), the one `PUT /lookup-tables/{id}` names.
    pub id: String,
    /// Paging order.
    #[serde(skip)]
    pub seq: i64,
    /// Its project.
    pub project_id: ProjectId,
    /// Its name.
    pub name: String,
    /// Rows in its current contents.
    pub row_count: u64,
    /// Its columns, the join key first (empty until the first upload).
    pub columns: Vec<String>,
    /// The properties it is mapped to.
    pub mappings: Vec<LookupMapping>,
    /// Made and last changed (renamed, remapped or replaced), and by whom it was made.
    pub audit: Audit,
    /// Last replaced, epoch ms.
    pub replaced_at_ms: Option<i64>,
}

/// What an update changes; `None` keeps the stored value.
#[derive(Clone, Debug, Default)]
pub struct LookupTableChanges {
    /// A new name.
    pub name: Option<String>,
    /// The complete new set of mappings.
    pub mappings: Option<Vec<LookupMapping>>,
}

const COLUMNS: &str = "seq, id, project_id, name, row_count, columns, replaced_at_ms";

fn table_from_row(row: &AnyRow) -> Result<LookupTableInfo> {
    let columns: String = row.try_get("columns")?;
    Ok(LookupTableInfo {
        id: row.try_get("id")?,
        seq: row.try_get("seq")?,
        project_id: ProjectId(row.try_get("project_id")?),
        name: row.try_get("name")?,
        row_count: row.try_get::<i64, _>("row_count")?.max(0) as u64,
        columns: serde_json::from_str(&columns).unwrap_or_default(),
        mappings: Vec::new(),
        audit: audit_from_row(row)?,
        replaced_at_ms: row.try_get("replaced_at_ms")?,
    })
}

fn valid_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(MetadataError::Invalid("a lookup table needs a name".into()));
    }
    Ok(name.to_string())
}

impl Metadata {
    /// Creates an empty table with a fresh id, mapped to `mappings`.
    pub async fn create_lookup_table(
        &self,
        project_id: ProjectId,
        name: &str,
        mappings: &[LookupMapping],
        creator: &Actor,
    ) -> Result<LookupTableInfo> {
        let name = valid_name(name)?;
        mappings.iter().try_for_each(LookupMapping::validate)?;
        let id = uuid::Uuid::new_v4().to_string();
        let mut tx = self.pool().begin().await?;
        let now = now_ms();
        let insert = format!(
            "INSERT INTO lookup_tables (id, project_id, name, created_at_ms, {CREATOR_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        );
        let query = sqlx::query(&insert).bind(&id).bind(project_id.0).bind(&name).bind(now);
        bind_creator(query, now, creator).execute(&mut *tx).await?;
        insert_mappings(&mut tx, project_id, &id, mappings).await?;
        tx.commit().await?;
        self.lookup_table(project_id, &id).await
    }

    /// One table of the project.
    pub async fn lookup_table(&self, project_id: ProjectId, id: &str) -> Result<LookupTableInfo> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS}, {AUDIT_COLUMNS} FROM lookup_tables WHERE id = $1 AND project_id = $2"
        ))
        .bind(id)
        .bind(project_id.0)
        .fetch_optional(self.pool())
        .await?
        .ok_or_else(|| MetadataError::NotFound(format!("lookup table {id} in project {project_id}")))?;
        let mut table = table_from_row(&row)?;
        table.mappings = self.mappings_of(&table.id).await?;
        Ok(table)
    }

    async fn mappings_of(&self, table_id: &str) -> Result<Vec<LookupMapping>> {
        let rows =
            sqlx::query("SELECT target, property FROM lookup_mappings WHERE table_id = $1 ORDER BY target, property")
                .bind(table_id)
                .fetch_all(self.pool())
                .await?;
        rows.iter()
            .map(|r| Ok(LookupMapping { target: r.try_get("target")?, property: r.try_get("property")? }))
            .collect()
    }

    /// Every mapping of the project: `(mapping, table id)`.
    pub async fn lookup_mappings(&self, project_id: ProjectId) -> Result<Vec<(LookupMapping, String)>> {
        let rows = sqlx::query("SELECT target, property, table_id FROM lookup_mappings WHERE project_id = $1")
            .bind(project_id.0)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    LookupMapping { target: r.try_get("target")?, property: r.try_get("property")? },
                    r.try_get("table_id")?,
                ))
            })
            .collect()
    }

    /// Renames a table or replaces its mappings.
    pub async fn update_lookup_table(
        &self,
        project_id: ProjectId,
        id: &str,
        changes: LookupTableChanges,
    ) -> Result<LookupTableInfo> {
        let current = self.lookup_table(project_id, id).await?;
        let name = match changes.name {
            Some(n) => valid_name(&n)?,
            None => current.name,
        };
        let mut tx = self.pool().begin().await?;
        sqlx::query("UPDATE lookup_tables SET name = $1, modified_at_ms = $2 WHERE id = $3")
            .bind(&name)
            .bind(now_ms())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if let Some(mappings) = changes.mappings {
            mappings.iter().try_for_each(LookupMapping::validate)?;
            sqlx::query("DELETE FROM lookup_mappings WHERE table_id = $1").bind(id).execute(&mut *tx).await?;
            insert_mappings(&mut tx, project_id, id, &mappings).await?;
        }
        tx.commit().await?;
        self.lookup_table(project_id, id).await
    }

    /// Records a successful replace: the new row count and columns.
    pub async fn lookup_table_replaced(&self, id: &str, row_count: u64, columns: &[String]) -> Result<()> {
        sqlx::query(
            "UPDATE lookup_tables SET row_count = $1, columns = $2, replaced_at_ms = $3, modified_at_ms = $3 \
             WHERE id = $4",
        )
        .bind(row_count as i64)
        .bind(serde_json::to_string(columns).unwrap_or_else(|_| "[]".into()))
        .bind(now_ms())
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Records a table's row count and columns as its rows are, without calling it a
    /// replace (the repair at start, `server::lookup_repair`).
    pub async fn lookup_table_sized(&self, id: &str, row_count: u64, columns: &[String]) -> Result<()> {
        sqlx::query("UPDATE lookup_tables SET row_count = $1, columns = $2 WHERE id = $3")
            .bind(row_count as i64)
            .bind(serde_json::to_string(columns).unwrap_or_else(|_| "[]".into()))
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Rows held by the project's tables other than `except`.
    pub async fn lookup_rows_besides(&self, project_id: ProjectId, except: &str) -> Result<u64> {
        let n: i64 =
            sqlx::query("SELECT CAST(coalesce(sum(row_count), 0) AS BIGINT) AS n FROM lookup_tables WHERE project_id = $1 AND id <> $2")
                .bind(project_id.0)
                .bind(except)
                .fetch_one(self.pool())
                .await?
                .try_get("n")?;
        Ok(n.max(0) as u64)
    }

    /// Deletes a table and its mappings.
    pub async fn delete_lookup_table(&self, project_id: ProjectId, id: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM lookup_tables WHERE id = $1 AND project_id = $2")
            .bind(id)
            .bind(project_id.0)
            .execute(self.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(MetadataError::NotFound(format!("lookup table {id} in project {project_id}")));
        }
        Ok(())
    }

    /// Every table of the project, oldest first.
    pub async fn all_lookup_tables(&self, project_id: ProjectId) -> Result<Vec<LookupTableInfo>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS}, {AUDIT_COLUMNS} FROM lookup_tables WHERE project_id = $1 ORDER BY seq"
        ))
        .bind(project_id.0)
        .fetch_all(self.pool())
        .await?;
        let mut out = rows.iter().map(table_from_row).collect::<Result<Vec<_>>>()?;
        for t in &mut out {
            t.mappings = self.mappings_of(&t.id).await?;
        }
        Ok(out)
    }

    /// Every table of every project, without their mappings: what a server checks
    /// against its event store at start.
    pub async fn every_lookup_table(&self) -> Result<Vec<LookupTableInfo>> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS}, {AUDIT_COLUMNS} FROM lookup_tables ORDER BY seq"))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(table_from_row).collect()
    }

    /// A page of the project's tables, newest first.
    pub async fn list_lookup_tables(&self, project_id: ProjectId, page: PageRequest) -> Result<Page<LookupTableInfo>> {
        let rows = self
            .page_rows(
                &format!("SELECT {COLUMNS}, {AUDIT_COLUMNS} FROM lookup_tables WHERE project_id = $1"),
                project_id.0,
                "seq",
                page,
            )
            .await?;
        let mut items = rows.iter().map(table_from_row).collect::<Result<Vec<_>>>()?;
        for t in &mut items {
            t.mappings = self.mappings_of(&t.id).await?;
        }
        self.finish_page(
            items,
            |t| t.seq,
            "SELECT 1 FROM lookup_tables WHERE project_id = $1",
            project_id.0,
            "seq",
            page,
        )
        .await
    }
}

async fn insert_mappings(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    project_id: ProjectId,
    table_id: &str,
    mappings: &[LookupMapping],
) -> Result<()> {
    for m in mappings {
        let taken: Option<String> =
            sqlx::query("SELECT table_id FROM lookup_mappings WHERE project_id = $1 AND target = $2 AND property = $3")
                .bind(project_id.0)
                .bind(&m.target)
                .bind(&m.property)
                .fetch_optional(&mut **tx)
                .await?
                .map(|r| r.try_get("table_id"))
                .transpose()?;
        if let Some(other) = taken.filter(|t| t != table_id) {
            return Err(MetadataError::Conflict(format!(
                "{} property `{}` is already mapped to lookup table {other}; a property maps to one table",
                m.target, m.property
            )));
        }
        sqlx::query(
            "INSERT INTO lookup_mappings (project_id, target, property, table_id) VALUES ($1, $2, $3, $4) \
             ON CONFLICT DO NOTHING",
        )
        .bind(project_id.0)
        .bind(&m.target)
        .bind(&m.property)
        .bind(table_id)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
