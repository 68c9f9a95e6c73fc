//! Personal API tokens: creation, listing, revocation and checking.
//!
//! A token created by another token (through the App API) records it as its parent:
//! it holds no family its parent lacks (checked here too) and never outlives it (its
//! expiry is capped to the parent's in the statement that inserts it, which also
//! refuses a parent that is revoked or expired). Revoking a token revokes every token
//! created through it, and a token with a revoked ancestor is refused.

use std::str::FromStr;

use serde::Serialize;
use sextant_model::access::TokenScope;
use sextant_model::{
    ApiFamily, ApiTokenId, Cursor, Page, PageRequest, PageStart, Project, ProjectId, ServiceAccountId,
};
use sqlx::Row;
use sqlx::any::AnyRow;

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
    /// Revoked, epoch ms, if it was (or when a token it was created through was).
    pub revoked_at_ms: Option<i64>,
    /// The API token that created it, if one did.
    pub parent_id: Option<ApiTokenId>,
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
    /// It was revoked, or a token it was created through was.
    Revoked,
    /// Valid: its project, and its id, families and expiry.
    Valid {
        /// The project.
        project: Project,
        /// What it may do and pass on.
        scope: TokenScope,
        /// Its name.
        name: String,
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

fn token_from_row(row: &AnyRow) -> Result<ApiTokenInfo> {
    Ok(ApiTokenInfo {
        id: ApiTokenId(row.try_get("id")?),
        project_id: ProjectId(row.try_get("project_id")?),
        name: row.try_get("name")?,
        families: parse_families(&row.try_get::<String, _>("families")?)?,
        prefix: row.try_get("token_prefix")?,
        created_at_ms: row.try_get("created_at_ms")?,
        expires_at_ms: row.try_get("expires_at_ms")?,
        revoked_at_ms: row.try_get("revoked_at_ms")?,
        parent_id: row.try_get::<Option<i64>, _>("parent_id")?.map(ApiTokenId),
    })
}

const TOKEN_COLUMNS: &str =
    "id, project_id, name, families, token_prefix, created_at_ms, expires_at_ms, revoked_at_ms, parent_id";

/// A token about to be inserted: checked, with its text and times.
struct Pending {
    project_id: ProjectId,
    name: String,
    families: Vec<ApiFamily>,
    token: String,
    prefix: String,
    created: i64,
    expires: i64,
}

impl Pending {
    fn into_new(self, id: i64, expires: i64, parent_id: Option<ApiTokenId>) -> NewApiToken {
        let info = ApiTokenInfo {
            id: ApiTokenId(id),
            project_id: self.project_id,
            name: self.name,
            families: self.families,
            prefix: self.prefix,
            created_at_ms: self.created,
            expires_at_ms: expires,
            revoked_at_ms: None,
            parent_id,
        };
        NewApiToken { info, token: self.token }
    }
}

impl Metadata {
    /// Checks a token request and prepares its text and times.
    async fn pending_token(
        &self,
        project_id: ProjectId,
        name: &str,
        families: &[ApiFamily],
        ttl_ms: i64,
    ) -> Result<Pending> {
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
        Ok(Pending { project_id, name: name.to_string(), families, token, prefix, created, expires })
    }

    /// Creates a token for `project_id`, valid for `ttl_ms`, scoped to `families`, on
    /// the authority of a service account (`made_by`: the token stops authenticating
    /// when that account is deleted or expires), the project secret or the CLI (no
    /// parent).
    pub async fn create_api_token(
        &self,
        project_id: ProjectId,
        name: &str,
        families: &[ApiFamily],
        ttl_ms: i64,
        made_by: Option<ServiceAccountId>,
    ) -> Result<NewApiToken> {
        let p = self.pending_token(project_id, name, families, ttl_ms).await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO api_tokens (project_id, name, families, token_prefix, token_hash, created_at_ms, expires_at_ms, \
             service_account_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(project_id.0)
        .bind(&p.name)
        .bind(families_text(&p.families))
        .bind(&p.prefix)
        .bind(hash_secret(&p.token))
        .bind(p.created)
        .bind(p.expires)
        .bind(made_by.map(|a| a.0))
        .fetch_one(self.pool())
        .await?;
        let expires = p.expires;
        Ok(p.into_new(id, expires, None))
    }

    /// Creates a token on the authority of the API token `parent` (of the same
    /// project): `families` must be among the parent's (else `Invalid`), and the new
    /// token expires at the end of `ttl_ms` or with its parent, whichever is first.
    /// `Ok(None)` when the parent is revoked or expired by the time of the insert (one
    /// statement, so a concurrent revocation either sees the new token or refuses it).
    pub async fn create_api_token_under(
        &self,
        parent: ApiTokenId,
        project_id: ProjectId,
        name: &str,
        families: &[ApiFamily],
        ttl_ms: i64,
    ) -> Result<Option<NewApiToken>> {
        let held = sqlx::query_scalar::<_, String>("SELECT families FROM api_tokens WHERE id = $1 AND project_id = $2")
            .bind(parent.0)
            .bind(project_id.0)
            .fetch_optional(self.pool())
            .await?;
        let Some(held) = held else {
            return Err(MetadataError::NotFound(format!("API token {parent} in project {project_id}")));
        };
        let held = parse_families(&held)?;
        let lacking: Vec<&str> = families.iter().filter(|f| !held.contains(f)).map(|f| f.as_str()).collect();
        if !lacking.is_empty() {
            return Err(MetadataError::Invalid(format!(
                "API token {parent} may not create a token for families it does not hold: {}",
                lacking.join(", ")
            )));
        }
        let p = self.pending_token(project_id, name, families, ttl_ms).await?;
        let row = sqlx::query(
            "INSERT INTO api_tokens \
               (project_id, name, families, token_prefix, token_hash, created_at_ms, expires_at_ms, parent_id, \
                service_account_id) \
             SELECT $1, $2, $3, $4, $5, $6, \
                    CASE WHEN p.expires_at_ms < $7 THEN p.expires_at_ms ELSE $8 END, p.id, p.service_account_id \
             FROM api_tokens p \
             WHERE p.id = $9 AND p.project_id = $10 AND p.revoked_at_ms IS NULL AND p.expires_at_ms > $11 \
             RETURNING id, expires_at_ms",
        )
        .bind(project_id.0)
        .bind(&p.name)
        .bind(families_text(&p.families))
        .bind(&p.prefix)
        .bind(hash_secret(&p.token))
        .bind(p.created)
        .bind(p.expires)
        .bind(p.expires)
        .bind(parent.0)
        .bind(project_id.0)
        .bind(p.created)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let id: i64 = row.try_get("id")?;
        let expires: i64 = row.try_get("expires_at_ms")?;
        Ok(Some(p.into_new(id, expires, Some(parent))))
    }

    /// One token of the project.
    pub async fn api_token(&self, project_id: ProjectId, id: ApiTokenId) -> Result<ApiTokenInfo> {
        let row = sqlx::query(&format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = $1 AND project_id = $2"))
            .bind(id.0)
            .bind(project_id.0)
            .fetch_optional(self.pool())
            .await?;
        match row {
            Some(row) => token_from_row(&row),
            None => Err(MetadataError::NotFound(format!("API token {id} in project {project_id}"))),
        }
    }

    /// One page of the project's tokens, newest first.
    pub async fn list_api_tokens(&self, project_id: ProjectId, page: PageRequest) -> Result<Page<ApiTokenInfo>> {
        let rows = self
            .page_rows(
                &format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE project_id = $1"),
                project_id.0,
                "id",
                page,
            )
            .await?;
        let items = rows.iter().map(token_from_row).collect::<Result<Vec<_>>>()?;
        self.finish_page(items, |t| t.id.0, "SELECT 1 FROM api_tokens WHERE project_id = $1", project_id.0, "id", page)
            .await
    }

    /// Revokes a token of the project, and every token created through it (its
    /// children, theirs, and so on). Revoking twice is harmless.
    pub async fn revoke_api_token(&self, project_id: ProjectId, id: ApiTokenId) -> Result<ApiTokenInfo> {
        let done = sqlx::query(
            "WITH RECURSIVE tree(id) AS ( \
                 SELECT id FROM api_tokens WHERE id = $1 AND project_id = $2 \
                 UNION \
                 SELECT t.id FROM api_tokens t JOIN tree ON t.parent_id = tree.id \
             ) \
             UPDATE api_tokens SET revoked_at_ms = coalesce(revoked_at_ms, $3) WHERE id IN (SELECT id FROM tree)",
        )
        .bind(id.0)
        .bind(project_id.0)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(MetadataError::NotFound(format!("API token {id} in project {project_id}")));
        }
        self.api_token(project_id, id).await
    }

    /// Whether the token `id` or one it was created through is revoked.
    async fn revoked_in_chain(&self, id: ApiTokenId) -> Result<bool> {
        let revoked: i64 = sqlx::query_scalar(
            "WITH RECURSIVE chain(id, parent_id, revoked_at_ms) AS ( \
                 SELECT id, parent_id, revoked_at_ms FROM api_tokens WHERE id = $1 \
                 UNION \
                 SELECT p.id, p.parent_id, p.revoked_at_ms FROM api_tokens p JOIN chain c ON p.id = c.parent_id \
             ) \
             SELECT count(*) FROM chain WHERE revoked_at_ms IS NOT NULL",
        )
        .bind(id.0)
        .fetch_one(self.pool())
        .await?;
        Ok(revoked > 0)
    }

    /// Checks a presented token.
    pub async fn authenticate_api_token(&self, token: &str) -> Result<ApiTokenAuth> {
        let hash = hash_secret(token);
        // Looked up by hash: the database compares hashes, never the token itself.
        let row =
            sqlx::query(&format!("SELECT {TOKEN_COLUMNS}, service_account_id FROM api_tokens WHERE token_hash = $1"))
                .bind(&hash)
                .fetch_optional(self.pool())
                .await?;
        let Some(row) = row else { return Ok(ApiTokenAuth::Invalid) };
        let info = token_from_row(&row)?;
        if info.revoked_at_ms.is_some() {
            return Ok(ApiTokenAuth::Revoked);
        }
        // A token made on a service account's authority lives no longer than the account.
        if let Some(account) = row.try_get::<Option<i64>, _>("service_account_id")? {
            let expires: Option<Option<i64>> =
                sqlx::query_scalar("SELECT expires_at_ms FROM service_accounts WHERE id = $1")
                    .bind(account)
                    .fetch_optional(self.pool())
                    .await?;
            match expires {
                None => return Ok(ApiTokenAuth::Revoked),
                Some(Some(at)) if at <= now_ms() => return Ok(ApiTokenAuth::Expired(at)),
                Some(_) => {}
            }
        }
        // Revoking cascades to children at once; the chain is read as well, so that a
        // token never outlives a revoked ancestor whatever the order of writes was.
        if let Some(parent) = info.parent_id
            && self.revoked_in_chain(parent).await?
        {
            return Ok(ApiTokenAuth::Revoked);
        }
        if info.expires_at_ms <= now_ms() {
            return Ok(ApiTokenAuth::Expired(info.expires_at_ms));
        }
        match self.project(info.project_id).await? {
            Some(project) => Ok(ApiTokenAuth::Valid {
                project,
                scope: TokenScope { id: info.id, families: info.families, expires_at_ms: info.expires_at_ms },
                name: info.name,
            }),
            None => Ok(ApiTokenAuth::Invalid),
        }
    }

    /// The rows of one page of `select` (which filters on one scope column, `project_id = $1` or
    /// `org_id = $1`, bound to `scope`), newest
    /// (highest `key`) first.
    pub(crate) async fn page_rows(
        &self,
        select: &str,
        scope: i64,
        key: &str,
        page: PageRequest,
    ) -> Result<Vec<AnyRow>> {
        let limit = i64::from(page.limit);
        let (sql, bound) = match page.from {
            PageStart::Newest => (format!("{select} ORDER BY {key} DESC LIMIT $2"), None),
            PageStart::After(c) => (format!("{select} AND {key} < $2 ORDER BY {key} DESC LIMIT $3"), Some(c.0)),
            PageStart::Before(c) => (format!("{select} AND {key} > $2 ORDER BY {key} ASC LIMIT $3"), Some(c.0)),
        };
        let mut q = sqlx::query(&sql).bind(scope);
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
    /// `SELECT 1 ... WHERE <scope column> = $1` over the same collection.
    pub(crate) async fn finish_page<T>(
        &self,
        items: Vec<T>,
        key_of: impl Fn(&T) -> i64,
        exists: &str,
        scope: i64,
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
                    Some(c) => self.any_beyond(exists, scope, key, "<", c.0).await?,
                    None => false,
                };
                let has_previous = match previous {
                    Some(c) => self.any_beyond(exists, scope, key, ">", c.0).await?,
                    None => false,
                };
                return Ok(Page { items, next, has_next, previous, has_previous });
            }
        };
        let has_next = self.any_beyond(exists, scope, key, "<", last).await?;
        let has_previous = self.any_beyond(exists, scope, key, ">", first).await?;
        Ok(Page { items, next: Some(Cursor(last)), has_next, previous: Some(Cursor(first)), has_previous })
    }

    async fn any_beyond(&self, exists: &str, scope: i64, key: &str, op: &str, value: i64) -> Result<bool> {
        let row = sqlx::query(&format!("{exists} AND {key} {op} $2 LIMIT 1"))
            .bind(scope)
            .bind(value)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn open() -> (tempfile::TempDir, Metadata, ProjectId) {
        let dir = tempfile::tempdir().unwrap();
        let md = Metadata::open(&dir.path().join("meta.sqlite")).await.unwrap();
        let project = md.bootstrap().await.unwrap().expect("first bootstrap").project.project.id;
        (dir, md, project)
    }

    fn scope(auth: ApiTokenAuth) -> TokenScope {
        match auth {
            ApiTokenAuth::Valid { scope, .. } => scope,
            other => panic!("not valid: {other:?}"),
        }
    }

    #[tokio::test]
    async fn tokens_made_by_tokens_stay_inside_them_and_die_with_them() {
        let (_dir, md, pid) = open().await;
        let parent =
            md.create_api_token(pid, "parent", &[ApiFamily::App, ApiFamily::Query], 600_000, None).await.unwrap();
        assert_eq!(parent.info.parent_id, None);
        let ps = scope(md.authenticate_api_token(&parent.token).await.unwrap());
        assert_eq!((ps.id, ps.expires_at_ms), (parent.info.id, parent.info.expires_at_ms));

        // A ten-year lifetime is cut to the parent's; families it lacks are refused.
        let ten_years: i64 = 10 * 366 * 86_400_000;
        let child = md.create_api_token_under(ps.id, pid, "child", &[ApiFamily::Query], ten_years).await.unwrap();
        let child = child.expect("the parent is valid");
        assert_eq!(child.info.expires_at_ms, parent.info.expires_at_ms);
        assert_eq!(child.info.parent_id, Some(parent.info.id));
        assert_eq!(md.api_token(pid, child.info.id).await.unwrap(), child.info);
        let wider = md.create_api_token_under(ps.id, pid, "wider", &[ApiFamily::Export], 1000).await;
        assert!(matches!(wider, Err(MetadataError::Invalid(_))), "{wider:?}");

        // A grandchild; revoking the parent revokes the whole line at once.
        let cs = scope(md.authenticate_api_token(&child.token).await.unwrap());
        let grandchild = md.create_api_token_under(cs.id, pid, "gc", &[ApiFamily::Query], 1000).await.unwrap().unwrap();
        assert!(matches!(md.authenticate_api_token(&grandchild.token).await.unwrap(), ApiTokenAuth::Valid { .. }));
        let unrelated = md.create_api_token(pid, "other", &[ApiFamily::Query], 600_000, None).await.unwrap();
        md.revoke_api_token(pid, parent.info.id).await.unwrap();
        for t in [&parent.token, &child.token, &grandchild.token] {
            assert_eq!(md.authenticate_api_token(t).await.unwrap(), ApiTokenAuth::Revoked);
        }
        assert!(md.api_token(pid, grandchild.info.id).await.unwrap().revoked_at_ms.is_some());
        assert!(matches!(md.authenticate_api_token(&unrelated.token).await.unwrap(), ApiTokenAuth::Valid { .. }));

        // A revoked parent creates nothing.
        let late = md.create_api_token_under(ps.id, pid, "late", &[ApiFamily::Query], 1000).await.unwrap();
        assert!(late.is_none());

        // The chain is read at each use too: a child whose own row was missed by the
        // cascade is still refused.
        sqlx::query("UPDATE api_tokens SET revoked_at_ms = NULL WHERE id = $1")
            .bind(grandchild.info.id.0)
            .execute(md.pool())
            .await
            .unwrap();
        assert_eq!(md.authenticate_api_token(&grandchild.token).await.unwrap(), ApiTokenAuth::Revoked);

        // Unknown tokens are not found, in this project or another.
        assert!(matches!(md.api_token(pid, ApiTokenId(999)).await, Err(MetadataError::NotFound(_))));
        assert!(matches!(md.revoke_api_token(ProjectId(999), child.info.id).await, Err(MetadataError::NotFound(_))));
    }
}
