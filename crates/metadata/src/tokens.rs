//! Personal API tokens: creation, listing, revocation and checking.

use std::str::FromStr;

use serde::Serialize;
use sextant_model::{ApiFamily, ApiTokenId, Cursor, Page, PageRequest, PageStart, Project, ProjectId};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::secrets::hash_secret;
use crate::store::{Metadata, now_ms};
use crate::{MetadataError, Result};

/// The prefix that makes a Sextant token recognisable (in logs, in secret scanners).
pub const TOKEN_PREFIX: &str = "sx_";

/// A token as listed: never the token itself.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ApiTokenInfo {
    /// Its id.
    pub id: ApiTokenId,
    /// The project it acts on.
    pub project_id: ProjectId,
    /// What its creator called it.
    pub name: String,
    /// The API families it may call.
    pub families: Vec<ApiFamily>,
    /// Its first characters, to tell tokens apart.
    pub prefix: String,
    /// Created, epoch ms.
    pub created_at_ms: i64,
    /// Expires, epoch ms.
    pub expires_at_ms: i64,
    /// Revoked, epoch ms, if it was.
    pub revoked_at_ms: Option<i64>,
}

/// A token just created, with its secret text (shown once).
#[derive(Clone, Debug, Serialize)]
pub struct NewApiToken {
    /// The token's details.
    #[serde(flatten)]
    pub info: ApiTokenInfo,
    /// The token, in clear; only its hash is kept.
    pub token: String,
}

/// The answer to a presented token.
#[derive(Clone, Debug, PartialEq)]
pub enum ApiTokenAuth {
    /// No such token.
    Invalid,
    /// It expired at this time (epoch ms).
    Expired(i64),
    /// It was revoked.
    Revoked,
    /// Valid: its project and families.
    Valid {
        /// The project.
        project: Project,
        /// The families it may call.
        families: Vec<ApiFamily>,
    },
}

fn new_token_text() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 20];
    rand::rng().fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", hex::encode(bytes))
}

fn families_text(families: &[ApiFamily]) -> String {
    families.iter().map(|f| f.as_str()).collect::<Vec<_>>().join(",")
}

fn parse_families(text: &str) -> Result<Vec<ApiFamily>> {
    text.split(',').filter(|s| !s.is_empty()).map(|s| ApiFamily::from_str(s).map_err(MetadataError::Invalid)).collect()
}

fn token_from_row(row: &SqliteRow) -> Result<ApiTokenInfo> {
    Ok(ApiTokenInfo {
        id: ApiTokenId(row.try_get("id")?),
        project_id: ProjectId(row.try_get("project_id")?),
        name: row.try_get("name")?,
        families: parse_families(&row.try_get::<String, _>("families")?)?,
        prefix: row.try_get("token_prefix")?,
        created_at_ms: row.try_get("created_at_ms")?,
        expires_at_ms: row.try_get("expires_at_ms")?,
        revoked_at_ms: row.try_get("revoked_at_ms")?,
    })
}

const TOKEN_COLUMNS: &str = "id, project_id, name, families, token_prefix, created_at_ms, expires_at_ms, revoked_at_ms";

impl Metadata {
    /// Creates a token for `project_id`, valid for `ttl_ms`, scoped to `families`.
    pub async fn create_api_token(
        &self,
        project_id: ProjectId,
        name: &str,
        families: &[ApiFamily],
        ttl_ms: i64,
    ) -> Result<NewApiToken> {
        if self.project(project_id).await?.is_none() {
            return Err(MetadataError::NotFound(format!("project {project_id}")));
        }
        if families.is_empty() {
            return Err(MetadataError::Invalid("a token needs at least one API family".into()));
        }
        if ttl_ms <= 0 {
            return Err(MetadataError::Invalid("a token's lifetime must be positive".into()));
        }
        let mut families = families.to_vec();
        families.sort();
        families.dedup();
        let token = new_token_text();
        let prefix = token[..TOKEN_PREFIX.len() + 6].to_string();
        let created = now_ms();
        let expires = created.saturating_add(ttl_ms);
        let name = if name.trim().is_empty() { "API token" } else { name.trim() };
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO api_tokens (project_id, name, families, token_prefix, token_hash, created_at_ms, expires_at_ms) \
             VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(project_id.0)
        .bind(name)
        .bind(families_text(&families))
        .bind(&prefix)
        .bind(hash_secret(&token))
        .bind(created)
        .bind(expires)
        .fetch_one(self.pool())
        .await?;
        let info = ApiTokenInfo {
            id: ApiTokenId(id),
            project_id,
            name: name.to_string(),
            families,
            prefix,
            created_at_ms: created,
            expires_at_ms: expires,
            revoked_at_ms: None,
        };
        Ok(NewApiToken { info, token })
    }

    /// One page of the project's tokens, newest first.
    pub async fn list_api_tokens(&self, project_id: ProjectId, page: PageRequest) -> Result<Page<ApiTokenInfo>> {
        let rows = self
            .page_rows(&format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE project_id = ?"), project_id, "id", page)
            .await?;
        let items = rows.iter().map(token_from_row).collect::<Result<Vec<_>>>()?;
        self.finish_page(items, |t| t.id.0, "SELECT 1 FROM api_tokens WHERE project_id = ?", project_id, "id", page)
            .await
    }

    /// Revokes a token of the project. Revoking twice is harmless.
    pub async fn revoke_api_token(&self, project_id: ProjectId, id: ApiTokenId) -> Result<ApiTokenInfo> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at_ms = coalesce(revoked_at_ms, ?) WHERE id = ? AND project_id = ?",
        )
        .bind(now_ms())
        .bind(id.0)
        .bind(project_id.0)
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(MetadataError::NotFound(format!("API token {id} in project {project_id}")));
        }
        let row = sqlx::query(&format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = ?"))
            .bind(id.0)
            .fetch_one(self.pool())
            .await?;
        token_from_row(&row)
    }

    /// Checks a presented token.
    pub async fn authenticate_api_token(&self, token: &str) -> Result<ApiTokenAuth> {
        let hash = hash_secret(token);
        // Looked up by hash: the database compares hashes, never the token itself.
        let row = sqlx::query(&format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = ?"))
            .bind(&hash)
            .fetch_optional(self.pool())
            .await?;
        let Some(row) = row else { return Ok(ApiTokenAuth::Invalid) };
        let info = token_from_row(&row)?;
        if info.revoked_at_ms.is_some() {
            return Ok(ApiTokenAuth::Revoked);
        }
        if info.expires_at_ms <= now_ms() {
            return Ok(ApiTokenAuth::Expired(info.expires_at_ms));
        }
        match self.project(info.project_id).await? {
            Some(project) => Ok(ApiTokenAuth::Valid { project, families: info.families }),
            None => Ok(ApiTokenAuth::Invalid),
        }
    }

    /// The rows of one page of `select` (which filters on one `project_id = ?`), newest
    /// (highest `key`) first.
    pub(crate) async fn page_rows(
        &self,
        select: &str,
        project_id: ProjectId,
        key: &str,
        page: PageRequest,
    ) -> Result<Vec<SqliteRow>> {
        let limit = i64::from(page.limit);
        let (sql, bound) = match page.from {
            PageStart::Newest => (format!("{select} ORDER BY {key} DESC LIMIT ?"), None),
            PageStart::After(c) => (format!("{select} AND {key} < ? ORDER BY {key} DESC LIMIT ?"), Some(c.0)),
            PageStart::Before(c) => (format!("{select} AND {key} > ? ORDER BY {key} ASC LIMIT ?"), Some(c.0)),
        };
        let mut q = sqlx::query(&sql).bind(project_id.0);
        if let Some(b) = bound {
            q = q.bind(b);
        }
        let mut rows = q.bind(limit).fetch_all(self.pool()).await?;
        if matches!(page.from, PageStart::Before(_)) {
            rows.reverse();
        }
        Ok(rows)
    }

    /// Cursors and "more" flags for a page of `items` (newest first). `exists` is a
    /// `SELECT 1 ... WHERE project_id = ?` over the same collection.
    pub(crate) async fn finish_page<T>(
        &self,
        items: Vec<T>,
        key_of: impl Fn(&T) -> i64,
        exists: &str,
        project_id: ProjectId,
        key: &str,
        page: PageRequest,
    ) -> Result<Page<T>> {
        let (first, last) = match (items.first(), items.last()) {
            (Some(f), Some(l)) => (key_of(f), key_of(l)),
            _ => {
                // An empty page: the cursor it was asked from still marks the place, so
                // polling `previous` (or `next`) keeps working.
                let (next, previous) = match page.from {
                    PageStart::Newest => (None, None),
                    PageStart::After(c) => (Some(c), Some(c)),
                    PageStart::Before(c) => (Some(c), Some(c)),
                };
                let has_next = match next {
                    Some(c) => self.any_beyond(exists, project_id, key, "<", c.0).await?,
                    None => false,
                };
                let has_previous = match previous {
                    Some(c) => self.any_beyond(exists, project_id, key, ">", c.0).await?,
                    None => false,
                };
                return Ok(Page { items, next, has_next, previous, has_previous });
            }
        };
        let has_next = self.any_beyond(exists, project_id, key, "<", last).await?;
        let has_previous = self.any_beyond(exists, project_id, key, ">", first).await?;
        Ok(Page { items, next: Some(Cursor(last)), has_next, previous: Some(Cursor(first)), has_previous })
    }

    async fn any_beyond(&self, exists: &str, project_id: ProjectId, key: &str, op: &str, value: i64) -> Result<bool> {
        let row = sqlx::query(&format!("{exists} AND {key} {op} ? LIMIT 1"))
            .bind(project_id.0)
            .bind(value)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.is_some())
    }
}
