//! Lexicon schemas: a project's declared data dictionary, one JSON Schema per (entity
//! type, name), and the count of values ingestion stored although they broke a declared
//! type. What a schema may say and how a replacement merges are
//! `sextant_model::lexicon`'s rules; this module keeps the rows.

use std::collections::{BTreeMap, HashMap};

use sextant_model::lexicon::{Batch, EntityType, MAX_DELETIONS_PER_REQUEST, SchemaEntry, merged};
use sextant_model::{Actor, ProjectId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::store::{Metadata, now_ms};
use crate::{MetadataError, Result};

/// What a batch upload did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LexiconWrite {
    /// Entries written (made or replaced).
    pub added: u64,
    /// Entries deleted by `truncate`.
    pub deleted: u64,
}

/// Which entries a read or a delete covers: all of the project's, one entity type's, or
/// one entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LexiconScope<'a> {
    /// Every entry.
    All,
    /// Every entry of one type.
    Type(EntityType),
    /// One entry.
    One(EntityType, &'a str),
}

impl LexiconScope<'_> {
    /// Whether `entry` is in the scope.
    pub fn covers(&self, entry: &SchemaEntry) -> bool {
        match *self {
            LexiconScope::All => true,
            LexiconScope::Type(t) => entry.entity_type == t,
            LexiconScope::One(t, name) => entry.entity_type == t && entry.name == name,
        }
    }

    /// The `WHERE` clause after `project_id = $1`, and its binds.
    fn filter(&self) -> (&'static str, Vec<&str>) {
        match self {
            LexiconScope::All => ("", vec![]),
            LexiconScope::Type(t) => (" AND entity_type = $2", vec![t.as_str()]),
            LexiconScope::One(t, name) => (" AND entity_type = $2 AND name = $3", vec![t.as_str(), name]),
        }
    }
}

fn entry_of(row: &AnyRow) -> Result<SchemaEntry> {
    let kind: String = row.try_get("entity_type")?;
    let text: String = row.try_get("schema_json")?;
    Ok(SchemaEntry {
        entity_type: EntityType::parse(&kind)
            .ok_or_else(|| MetadataError::Invalid(format!("stored entity type `{kind}` is unknown")))?,
        name: row.try_get("name")?,
        schema: serde_json::from_str(&text)
            .map_err(|e| MetadataError::Invalid(format!("a stored schema is not JSON: {e}")))?,
    })
}

impl Metadata {
    /// The project's entries in `scope`, by entity type and then name.
    pub async fn lexicon_schemas(&self, project_id: ProjectId, scope: LexiconScope<'_>) -> Result<Vec<SchemaEntry>> {
        let (filter, binds) = scope.filter();
        let sql = format!(
            "SELECT entity_type, name, schema_json FROM lexicon_schemas WHERE project_id = $1{filter} \
             ORDER BY entity_type, name"
        );
        let query = binds.into_iter().fold(sqlx::query(&sql).bind(project_id.0), |q, b| q.bind(b));
        query.fetch_all(self.pool()).await?.iter().map(entry_of).collect()
    }

    /// Writes a batch, each entry replacing the one of its type and name (keeping the
    /// Mixpanel metadata it leaves out). With `truncate` the batch is the whole
    /// dictionary: every entry it does not name is deleted (refused when that is more
    /// than [`MAX_DELETIONS_PER_REQUEST`]), with the type violations counted for the
    /// deleted events, and the entries it names are written as sent, keeping nothing.
    /// One transaction: all or nothing.
    pub async fn write_lexicon(&self, project_id: ProjectId, batch: Batch, actor: &Actor) -> Result<LexiconWrite> {
        let mut tx = self.pool().begin().await?;
        let rows = sqlx::query("SELECT entity_type, name, schema_json FROM lexicon_schemas WHERE project_id = $1")
            .bind(project_id.0)
            .fetch_all(&mut *tx)
            .await?;
        let mut current: HashMap<(EntityType, String), serde_json::Value> = HashMap::new();
        for row in &rows {
            let entry = entry_of(row)?;
            current.insert((entry.entity_type, entry.name), entry.schema);
        }
        let mut deleted = 0;
        if batch.truncate {
            let named: std::collections::HashSet<(EntityType, &str)> =
                batch.entries.iter().map(|e| (e.entity_type, e.name.as_str())).collect();
            let doomed: Vec<(EntityType, String)> =
                current.keys().filter(|(t, n)| !named.contains(&(*t, n.as_str()))).cloned().collect();
            refuse_too_many_deletions(doomed.len() as u64)?;
            for (entity_type, name) in &doomed {
                sqlx::query("DELETE FROM lexicon_schemas WHERE project_id = $1 AND entity_type = $2 AND name = $3")
                    .bind(project_id.0)
                    .bind(entity_type.as_str())
                    .bind(name.as_str())
                    .execute(&mut *tx)
                    .await?;
                if *entity_type == EntityType::Event {
                    forget_violations(&mut tx, project_id, Some(name)).await?;
                }
            }
            deleted = doomed.len() as u64;
            current.clear();
        }
        let now = now_ms();
        let added = batch.entries.len() as u64;
        for entry in batch.entries {
            let schema = match current.get(&(entry.entity_type, entry.name.clone())) {
                Some(before) => merged(before, entry.schema),
                None => entry.schema,
            };
            sqlx::query(
                "INSERT INTO lexicon_schemas (project_id, entity_type, name, schema_json, created_at_ms, \
                 modified_at_ms, creator_kind, creator_id, creator_name) VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8) \
                 ON CONFLICT (project_id, entity_type, name) \
                 DO UPDATE SET schema_json = excluded.schema_json, modified_at_ms = excluded.modified_at_ms",
            )
            .bind(project_id.0)
            .bind(entry.entity_type.as_str())
            .bind(&entry.name)
            .bind(schema.to_string())
            .bind(now)
            .bind(actor.kind.as_str())
            .bind(actor.id)
            .bind(actor.name.as_str())
            .execute(&mut *tx)
            .await?;
        }
        bump_version(&mut tx, project_id).await?;
        tx.commit().await?;
        Ok(LexiconWrite { added, deleted })
    }

    /// Deletes the entries in `scope`; refused, deleting nothing, when that is more than
    /// [`MAX_DELETIONS_PER_REQUEST`]. Returns how many went.
    pub async fn delete_lexicon(&self, project_id: ProjectId, scope: LexiconScope<'_>) -> Result<u64> {
        let (filter, binds) = scope.filter();
        let mut tx = self.pool().begin().await?;
        let count_sql =
            format!("SELECT CAST(count(*) AS BIGINT) AS n FROM lexicon_schemas WHERE project_id = $1{filter}");
        let count = binds.iter().fold(sqlx::query(&count_sql).bind(project_id.0), |q, b| q.bind(*b));
        let n: i64 = count.fetch_one(&mut *tx).await?.try_get("n")?;
        refuse_too_many_deletions(n as u64)?;
        let delete_sql = format!("DELETE FROM lexicon_schemas WHERE project_id = $1{filter}");
        let delete = binds.iter().fold(sqlx::query(&delete_sql).bind(project_id.0), |q, b| q.bind(*b));
        let done = delete.execute(&mut *tx).await?.rows_affected();
        // A schema declared again starts counting its violations afresh.
        match scope {
            LexiconScope::All | LexiconScope::Type(EntityType::Event) => {
                forget_violations(&mut tx, project_id, None).await?
            }
            LexiconScope::One(EntityType::Event, name) => forget_violations(&mut tx, project_id, Some(name)).await?,
            LexiconScope::Type(EntityType::Profile) | LexiconScope::One(EntityType::Profile, _) => {}
        }
        bump_version(&mut tx, project_id).await?;
        tx.commit().await?;
        Ok(done)
    }

    /// Adds to the counts of values stored although they broke their declared type:
    /// `(event, property)` to how many more.
    pub async fn add_lexicon_violations(
        &self,
        project_id: ProjectId,
        counts: &BTreeMap<(String, String), u64>,
    ) -> Result<()> {
        let now = now_ms();
        let mut tx = self.pool().begin().await?;
        for ((event, property), n) in counts {
            sqlx::query(
                "INSERT INTO lexicon_violations (project_id, event, property, count, last_seen_ms) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (project_id, event, property) \
                 DO UPDATE SET count = lexicon_violations.count + excluded.count, last_seen_ms = excluded.last_seen_ms",
            )
            .bind(project_id.0)
            .bind(event.as_str())
            .bind(property.as_str())
            .bind(*n as i64)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The project's counts of values that broke their declared type, by (event,
    /// property).
    pub async fn lexicon_violations(&self, project_id: ProjectId) -> Result<BTreeMap<(String, String), u64>> {
        let rows = sqlx::query("SELECT event, property, count FROM lexicon_violations WHERE project_id = $1")
            .bind(project_id.0)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| Ok(((r.try_get("event")?, r.try_get("property")?), r.try_get::<i64, _>("count")?.max(0) as u64)))
            .collect()
    }

    /// Every project's entries, for the ingestion declarations loaded at start.
    pub async fn all_lexicon_schemas(&self) -> Result<Vec<(ProjectId, SchemaEntry)>> {
        let rows = sqlx::query("SELECT project_id, entity_type, name, schema_json FROM lexicon_schemas")
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(|r| Ok((ProjectId(r.try_get("project_id")?), entry_of(r)?))).collect()
    }

    /// Each project's Lexicon version, which every change raises in its own
    /// transaction: a server compares them with those it read to see another server's
    /// changes without reading every schema again.
    pub async fn lexicon_versions(&self) -> Result<Vec<(ProjectId, i64)>> {
        let rows = sqlx::query("SELECT project_id, version FROM lexicon_versions").fetch_all(self.pool()).await?;
        rows.iter().map(|r| Ok((ProjectId(r.try_get("project_id")?), r.try_get("version")?))).collect()
    }
}

/// Raises the project's Lexicon version (`Metadata::lexicon_versions`).
async fn bump_version(tx: &mut sqlx::Transaction<'_, sqlx::Any>, project_id: ProjectId) -> Result<()> {
    sqlx::query(
        "INSERT INTO lexicon_versions (project_id, version) VALUES ($1, 1) \
         ON CONFLICT (project_id) DO UPDATE SET version = lexicon_versions.version + 1",
    )
    .bind(project_id.0)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Deletes the violations counted for the project's event `event` (every event when
/// `None`).
async fn forget_violations(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    project_id: ProjectId,
    event: Option<&str>,
) -> Result<()> {
    let query = match event {
        Some(event) => sqlx::query("DELETE FROM lexicon_violations WHERE project_id = $1 AND event = $2")
            .bind(project_id.0)
            .bind(event),
        None => sqlx::query("DELETE FROM lexicon_violations WHERE project_id = $1").bind(project_id.0),
    };
    query.execute(&mut **tx).await?;
    Ok(())
}

fn refuse_too_many_deletions(n: u64) -> Result<()> {
    if n > MAX_DELETIONS_PER_REQUEST {
        return Err(MetadataError::Invalid(format!(
            "this request would delete {n} schemas; at most {MAX_DELETIONS_PER_REQUEST} may be deleted in one \
             request: delete by entity type or by name first"
        )));
    }
    Ok(())
}
