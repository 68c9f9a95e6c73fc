//! Annotations: dated notes on a project's charts, with tags, as Mixpanel's annotations
//! API keeps them. A date is text, `YYYY-MM-DD HH:MM:SS` in the project's time zone, so
//! it sorts and filters as text on both databases.

use std::collections::BTreeMap;

use serde::Serialize;
use sextant_model::{Actor, Audit, ProjectId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::audit::{AUDIT_COLUMNS, CREATOR_COLUMNS, audit_from_row, bind_creator};
use crate::store::{Metadata, now_ms};
use crate::{MetadataError, Result};

/// The most annotations one list answers; a wider range is refused with a request to
/// narrow it, rather than cut short without saying so.
pub const MAX_ANNOTATIONS_LISTED: usize = 10_000;

/// The longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 1_000;

/// An annotation as stored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AnnotationInfo {
    /// Its id.
    pub id: i64,
    /// Its project.
    pub project_id: ProjectId,
    /// When, `YYYY-MM-DD HH:MM:SS` in the project's time zone.
    pub date: String,
    /// What happened.
    pub description: String,
    /// Its tags, by name.
    pub tags: Vec<AnnotationTag>,
    /// Made and last changed, and by whom it was made.
    pub audit: Audit,
}

/// A tag annotations can carry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AnnotationTag {
    /// Its id.
    pub id: i64,
    /// Its name.
    pub name: String,
}

/// What an update changes; `None` keeps the stored value.
#[derive(Clone, Debug, Default)]
pub struct AnnotationChanges {
    /// A new description.
    pub description: Option<String>,
    /// The complete new set of tag ids.
    pub tags: Option<Vec<i64>>,
}

const COLUMNS: &str = "id, project_id, date, description";

fn from_row(row: &AnyRow) -> Result<AnnotationInfo> {
    Ok(AnnotationInfo {
        id: row.try_get("id")?,
        project_id: ProjectId(row.try_get("project_id")?),
        date: row.try_get("date")?,
        description: row.try_get("description")?,
        tags: Vec::new(),
        audit: audit_from_row(row)?,
    })
}

/// The canonical form of an annotation date: `YYYY-MM-DD HH:MM:SS`, or a bare
/// `YYYY-MM-DD` (midnight).
pub fn canonical_date(text: &str) -> Result<String> {
    let text = text.trim();
    let parsed = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
        .or_else(|_| chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map(|d| d.and_time(chrono::NaiveTime::MIN)));
    match parsed {
        Ok(at) if (1971..=9999).contains(&chrono::Datelike::year(&at)) => {
            Ok(at.format("%Y-%m-%d %H:%M:%S").to_string())
        }
        _ => Err(MetadataError::Invalid(format!(
            "`{text}` is not a date: use \"YYYY-MM-DD HH:MM:SS\" (or \"YYYY-MM-DD\") from 1971 on"
        ))),
    }
}

fn description_of(text: &str) -> Result<String> {
    let text = text.trim();
    if text.is_empty() {
        return Err(MetadataError::Invalid("an annotation needs a description".into()));
    }
    if text.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(MetadataError::Invalid(format!("a description has at most {MAX_DESCRIPTION_CHARS} characters")));
    }
    Ok(text.to_string())
}

impl Metadata {
    /// Saves an annotation with the tags `tags` (ids of the project's tags).
    pub async fn create_annotation(
        &self,
        project_id: ProjectId,
        date: &str,
        description: &str,
        tags: &[i64],
        creator: &Actor,
    ) -> Result<AnnotationInfo> {
        let date = canonical_date(date)?;
        let description = description_of(description)?;
        self.check_tags(project_id, tags).await?;
        let now = now_ms();
        let insert = format!(
            "INSERT INTO annotations (project_id, date, description, created_at_ms, {CREATOR_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id"
        );
        let mut tx = self.pool().begin().await?;
        let query = sqlx::query(&insert).bind(project_id.0).bind(&date).bind(&description).bind(now);
        let id: i64 = bind_creator(query, now, creator).fetch_one(&mut *tx).await?.try_get("id")?;
        link_tags(&mut tx, id, tags).await?;
        tx.commit().await?;
        self.annotation(project_id, id).await
    }

    /// One annotation of the project.
    pub async fn annotation(&self, project_id: ProjectId, id: i64) -> Result<AnnotationInfo> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS}, {AUDIT_COLUMNS} FROM annotations WHERE id = $1 AND project_id = $2"
        ))
        .bind(id)
        .bind(project_id.0)
        .fetch_optional(self.pool())
        .await?
        .ok_or_else(|| MetadataError::NotFound(format!("annotation {id} in project {project_id}")))?;
        let mut annotation = from_row(&row)?;
        annotation.tags = self.tags_of(project_id, Some(id)).await?.remove(&id).unwrap_or_default();
        Ok(annotation)
    }

    /// The project's annotations dated within `from` and `to` (`YYYY-MM-DD`, both
    /// inclusive, either open), oldest first; more than [`MAX_ANNOTATIONS_LISTED`] is
    /// refused.
    pub async fn list_annotations(
        &self,
        project_id: ProjectId,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<Vec<AnnotationInfo>> {
        let day = |d: Option<&str>, time: &str| -> Result<String> {
            match d.map(str::trim).filter(|d| !d.is_empty()) {
                None => Ok(String::new()),
                Some(d) => chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
                    .map(|day| format!("{} {time}", day.format("%Y-%m-%d")))
                    .map_err(|_| MetadataError::Invalid(format!("`{d}` is not a date in yyyy-mm-dd format"))),
            }
        };
        let (from, to) = (day(from, "00:00:00")?, day(to, "23:59:59")?);
        let to = if to.is_empty() { "9999-12-31 23:59:59".to_string() } else { to };
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS}, {AUDIT_COLUMNS} FROM annotations \
             WHERE project_id = $1 AND date >= $2 AND date <= $3 ORDER BY date, id LIMIT $4"
        ))
        .bind(project_id.0)
        .bind(&from)
        .bind(&to)
        .bind(MAX_ANNOTATIONS_LISTED as i64 + 1)
        .fetch_all(self.pool())
        .await?;
        if rows.len() > MAX_ANNOTATIONS_LISTED {
            return Err(MetadataError::Invalid(format!(
                "more than {MAX_ANNOTATIONS_LISTED} annotations in that range: narrow it with fromDate and toDate"
            )));
        }
        let mut tags = self.tags_of(project_id, None).await?;
        rows.iter()
            .map(|row| {
                let mut a = from_row(row)?;
                a.tags = tags.remove(&a.id).unwrap_or_default();
                Ok(a)
            })
            .collect()
    }

    /// Changes an annotation's description or tags.
    pub async fn update_annotation(
        &self,
        project_id: ProjectId,
        id: i64,
        changes: AnnotationChanges,
    ) -> Result<AnnotationInfo> {
        let current = self.annotation(project_id, id).await?;
        let description = match &changes.description {
            Some(d) => description_of(d)?,
            None => current.description,
        };
        if let Some(tags) = &changes.tags {
            self.check_tags(project_id, tags).await?;
        }
        let mut tx = self.pool().begin().await?;
        sqlx::query("UPDATE annotations SET description = $1, modified_at_ms = $2 WHERE id = $3 AND project_id = $4")
            .bind(&description)
            .bind(now_ms())
            .bind(id)
            .bind(project_id.0)
            .execute(&mut *tx)
            .await?;
        if let Some(tags) = &changes.tags {
            sqlx::query("DELETE FROM annotation_tag_links WHERE annotation_id = $1").bind(id).execute(&mut *tx).await?;
            link_tags(&mut tx, id, tags).await?;
        }
        tx.commit().await?;
        self.annotation(project_id, id).await
    }

    /// Deletes an annotation (its tags stay).
    pub async fn delete_annotation(&self, project_id: ProjectId, id: i64) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "DELETE FROM annotation_tag_links WHERE annotation_id = $1 AND annotation_id IN \
                     (SELECT id FROM annotations WHERE project_id = $2)",
        )
        .bind(id)
        .bind(project_id.0)
        .execute(&mut *tx)
        .await?;
        let done = sqlx::query("DELETE FROM annotations WHERE id = $1 AND project_id = $2")
            .bind(id)
            .bind(project_id.0)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(MetadataError::NotFound(format!("annotation {id} in project {project_id}")));
        }
        tx.commit().await?;
        Ok(())
    }

    /// The project's tags, by name, each with whether an annotation carries it.
    pub async fn annotation_tags(&self, project_id: ProjectId) -> Result<Vec<(AnnotationTag, bool)>> {
        let rows = sqlx::query(
            "SELECT t.id, t.name, CAST(count(l.tag_id) AS BIGINT) AS uses FROM annotation_tags t \
             LEFT JOIN annotation_tag_links l ON l.tag_id = t.id \
             WHERE t.project_id = $1 GROUP BY t.id, t.name ORDER BY t.name",
        )
        .bind(project_id.0)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let tag = AnnotationTag { id: row.try_get("id")?, name: row.try_get("name")? };
                Ok((tag, row.try_get::<i64, _>("uses")? > 0))
            })
            .collect()
    }

    /// The project's tag named `name`, created if there is none.
    pub async fn create_annotation_tag(&self, project_id: ProjectId, name: &str) -> Result<AnnotationTag> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 255 {
            return Err(MetadataError::Invalid("a tag needs a name of 1 to 255 characters".into()));
        }
        sqlx::query(
            "INSERT INTO annotation_tags (project_id, name) VALUES ($1, $2) ON CONFLICT (project_id, name) DO NOTHING",
        )
        .bind(project_id.0)
        .bind(name)
        .execute(self.pool())
        .await?;
        let row = sqlx::query("SELECT id, name FROM annotation_tags WHERE project_id = $1 AND name = $2")
            .bind(project_id.0)
            .bind(name)
            .fetch_one(self.pool())
            .await?;
        Ok(AnnotationTag { id: row.try_get("id")?, name: row.try_get("name")? })
    }

    /// Refuses tag ids that are not the project's.
    async fn check_tags(&self, project_id: ProjectId, tags: &[i64]) -> Result<()> {
        let known: Vec<i64> = self.annotation_tags(project_id).await?.into_iter().map(|(t, _)| t.id).collect();
        match tags.iter().find(|t| !known.contains(t)) {
            Some(unknown) => {
                Err(MetadataError::Invalid(format!("tag {unknown} does not exist in project {project_id}")))
            }
            None => Ok(()),
        }
    }

    /// The tags of one annotation (or of all the project's), by annotation id.
    async fn tags_of(&self, project_id: ProjectId, one: Option<i64>) -> Result<BTreeMap<i64, Vec<AnnotationTag>>> {
        let rows = sqlx::query(
            "SELECT l.annotation_id, t.id, t.name FROM annotation_tag_links l \
             JOIN annotation_tags t ON t.id = l.tag_id \
             WHERE t.project_id = $1 AND ($2 = 0 OR l.annotation_id = $3) ORDER BY t.name",
        )
        .bind(project_id.0)
        .bind(i64::from(one.is_some()))
        .bind(one.unwrap_or(0))
        .fetch_all(self.pool())
        .await?;
        let mut by_annotation: BTreeMap<i64, Vec<AnnotationTag>> = BTreeMap::new();
        for row in &rows {
            let tag = AnnotationTag { id: row.try_get("id")?, name: row.try_get("name")? };
            by_annotation.entry(row.try_get("annotation_id")?).or_default().push(tag);
        }
        Ok(by_annotation)
    }
}

async fn link_tags(tx: &mut sqlx::Transaction<'_, sqlx::Any>, annotation: i64, tags: &[i64]) -> Result<()> {
    let mut seen = Vec::new();
    for tag in tags {
        if seen.contains(tag) {
            continue;
        }
        seen.push(*tag);
        sqlx::query("INSERT INTO annotation_tag_links (annotation_id, tag_id) VALUES ($1, $2)")
            .bind(annotation)
            .bind(*tag)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_take_mixpanels_form() {
        assert_eq!(canonical_date("2022-02-15 12:00:00").unwrap(), "2022-02-15 12:00:00");
        assert_eq!(canonical_date(" 2022-02-15 ").unwrap(), "2022-02-15 00:00:00");
        for bad in ["2022-02-30", "15/02/2022", "", "1969-12-31 00:00:00", "2022-02-15T12:00:00"] {
            assert!(canonical_date(bad).is_err(), "{bad}");
        }
    }
}
