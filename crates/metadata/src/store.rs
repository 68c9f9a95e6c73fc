//! [`Metadata`]: the control plane's operations, on SQLite or PostgreSQL.

use std::path::Path;
use std::str::FromStr;

use serde::Serialize;
use sextant_model::{Actor, OrgId, ProjectId, Role, ServiceAccountId};
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use crate::backend::{self, Backend};
use crate::projects::NewProject;

use crate::secrets::{hash_secret, random_hex32};
use crate::{MetadataError, Result};

/// The control-plane database.
#[derive(Clone, Debug)]
pub struct Metadata {
    pool: AnyPool,
    backend: Backend,
}

/// A service account just created, with its secret (shown once).
#[derive(Clone, Debug, Serialize)]
pub struct NewServiceAccount {
    /// Its id.
    pub id: ServiceAccountId,
    /// The Basic-auth username.
    pub username: String,
    /// The Basic-auth password, in clear; only its hash is kept.
    pub secret: String,
    /// The project it was given a role in.
    pub project_id: ProjectId,
    /// That role.
    pub role: Role,
}

/// A service account as listed (no secret).
#[derive(Clone, Debug, Serialize)]
pub struct ServiceAccountInfo {
    /// Its id.
    pub id: ServiceAccountId,
    /// The Basic-auth username.
    pub username: String,
    /// Display name.
    pub name: String,
    /// Created, epoch ms.
    pub created_at_ms: i64,
    /// When it stops authenticating, epoch ms; `None`: never.
    pub expires_at_ms: Option<i64>,
    /// When it last authenticated (to the minute), epoch ms.
    pub last_used_ms: Option<i64>,
    /// Who made it; unknown for accounts made before Sextant recorded it.
    pub creator: Option<Actor>,
}

/// The columns [`service_account_from_row`] reads, from `service_accounts s` and
/// `service_account_roles r`.
fn service_account_columns() -> String {
    format!("{}, r.role", crate::org_accounts::COLUMNS)
}

/// How often a service account's `last_used` is written: at most once a minute, so
/// that authenticating costs no write per request.
const LAST_USED_RESOLUTION_MS: i64 = 60_000;

fn service_account_from_row(row: &AnyRow) -> Result<(ServiceAccountInfo, Role)> {
    let role: String = row.try_get("role")?;
    Ok((crate::org_accounts::account_from_row(row)?, Role::from_str(&role).map_err(MetadataError::Invalid)?))
}

/// What the first start of an empty data directory creates.
#[derive(Clone, Debug, Serialize)]
pub struct Bootstrap {
    /// The organisation.
    pub organization_id: OrgId,
    /// The default project, with its secret.
    pub project: NewProject,
    /// The owner service account, with its secret.
    pub service_account: NewServiceAccount,
}

/// The answer to a service account's credentials for one project.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceAccountAuth {
    /// No account with that username and secret.
    Invalid,
    /// The account exists but has no role in that project.
    NoAccess,
    /// The account's role in the project, and its id.
    Role(Role, ServiceAccountId),
    /// The account expired at this instant (epoch ms).
    Expired(i64),
}

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The PostgreSQL advisory lock key bootstraps take ("sextant" in ASCII, as a number).
const BOOTSTRAP_LOCK: i64 = 0x73_6578_7461_6e74;

impl Metadata {
    /// Opens (creating if needed) the SQLite database at `path` and migrates it.
    pub async fn open(path: &Path) -> Result<Self> {
        Self::connect(&backend::sqlite_url(path)).await
    }

    /// Connects to the database at `url` (`sqlite:` or `postgres:`) and migrates it.
    pub async fn connect(url: &str) -> Result<Self> {
        let (pool, backend) = backend::connect(url).await?;
        Ok(Metadata { pool, backend })
    }

    /// The kind of database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether the connection to the database is encrypted: PostgreSQL's view of this
    /// session (`pg_stat_ssl`); a SQLite file has no connection, so `false`.
    pub async fn transport_encrypted(&self) -> Result<bool> {
        if self.backend != Backend::Postgres {
            return Ok(false);
        }
        let ssl: Option<bool> = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_optional(&self.pool)
            .await?;
        Ok(ssl.unwrap_or(false))
    }

    /// On an empty database, creates an organisation, a default project and an owner
    /// service account, and returns them with their secrets; otherwise returns `None`.
    ///
    /// Servers sharing one PostgreSQL database may start at the same moment: a session
    /// advisory lock lets one of them bootstrap while the others wait, then find its
    /// organisation. (A SQLite file belongs to one data directory, so to one server.)
    pub async fn bootstrap(&self) -> Result<Option<Bootstrap>> {
        if self.backend != Backend::Postgres {
            return self.bootstrap_alone().await;
        }
        let mut lock = self.pool.acquire().await?;
        sqlx::query("SELECT pg_advisory_lock($1)").bind(BOOTSTRAP_LOCK).execute(&mut *lock).await?;
        let result = self.bootstrap_alone().await;
        let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)").bind(BOOTSTRAP_LOCK).execute(&mut *lock).await;
        if unlocked.is_err() {
            // Closing the session is what releases the lock then, instead of leaving it
            // held by a connection that goes back to the pool.
            let _ = lock.close().await;
        }
        result
    }

    /// [`Metadata::bootstrap`], with no other server bootstrapping at the same time.
    async fn bootstrap_alone(&self) -> Result<Option<Bootstrap>> {
        let existing: i64 = sqlx::query_scalar("SELECT count(*) FROM organizations").fetch_one(&self.pool).await?;
        if existing > 0 {
            return Ok(None);
        }
        let org = self.create_organization("Default Organization").await?;
        let project = self.create_project(org, "Default Project", "UTC").await?;
        // The first account owns the organisation too, so it can manage the others.
        let service_account = self
            .make_service_account(project.project.id, Role::Owner, "owner", None, &Actor::cli(), Some(Role::Owner))
            .await?;
        Ok(Some(Bootstrap { organization_id: org, project, service_account }))
    }

    /// Creates an organisation.
    pub async fn create_organization(&self, name: &str) -> Result<OrgId> {
        let id: i64 =
            sqlx::query_scalar("INSERT INTO organizations (name, created_at_ms) VALUES ($1, $2) RETURNING id")
                .bind(name)
                .bind(now_ms())
                .fetch_one(&self.pool)
                .await?;
        Ok(OrgId(id))
    }

    /// The first organisation, which owns projects created without naming one.
    pub async fn default_organization(&self) -> Result<OrgId> {
        let id: Option<i64> = sqlx::query_scalar("SELECT min(id) FROM organizations").fetch_one(&self.pool).await?;
        match id {
            Some(id) => Ok(OrgId(id)),
            None => self.create_organization("Default Organization").await,
        }
    }

    /// Creates a service account in the project's organisation (a member of it, with no
    /// role there) with `role` in `project_id`, expiring at `expires_at_ms` (never when
    /// `None`), made by `creator`.
    pub async fn create_service_account(
        &self,
        project_id: ProjectId,
        role: Role,
        name: &str,
        expires_at_ms: Option<i64>,
        creator: &Actor,
    ) -> Result<NewServiceAccount> {
        self.make_service_account(project_id, role, name, expires_at_ms, creator, None).await
    }

    /// [`Metadata::create_service_account`] with a role in the organisation too.
    async fn make_service_account(
        &self,
        project_id: ProjectId,
        role: Role,
        name: &str,
        expires_at_ms: Option<i64>,
        creator: &Actor,
        org_role: Option<Role>,
    ) -> Result<NewServiceAccount> {
        let project =
            self.project(project_id).await?.ok_or_else(|| MetadataError::NotFound(format!("project {project_id}")))?;
        let mut tx = self.pool.begin().await?;
        let (id, username, secret) =
            crate::org_accounts::insert_account(&mut tx, project.org_id, name, org_role, expires_at_ms, creator)
                .await?;
        crate::org_accounts::grant(&mut tx, id, project_id, role).await?;
        tx.commit().await?;
        Ok(NewServiceAccount { id, username, secret, project_id, role })
    }

    /// The service accounts with a role in `project_id`.
    pub async fn list_service_accounts(&self, project_id: ProjectId) -> Result<Vec<(ServiceAccountInfo, Role)>> {
        let rows = sqlx::query(&format!(
            "SELECT {} FROM service_accounts s \
             JOIN service_account_roles r ON r.service_account_id = s.id WHERE r.project_id = $1 ORDER BY s.id",
            service_account_columns()
        ))
        .bind(project_id.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(service_account_from_row).collect()
    }

    /// Checks a service account's credentials, its expiry and its role in `project_id`,
    /// and records that it was used.
    pub async fn authenticate_service_account(
        &self,
        username: &str,
        secret: &str,
        project_id: ProjectId,
    ) -> Result<ServiceAccountAuth> {
        let row = sqlx::query(
            "SELECT s.id, s.secret_hash, s.expires_at_ms, s.last_used_ms, r.role FROM service_accounts s \
             LEFT JOIN service_account_roles r ON r.service_account_id = s.id AND r.project_id = $1 \
             WHERE s.username = $2",
        )
        .bind(project_id.0)
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(ServiceAccountAuth::Invalid) };
        let stored: String = row.try_get("secret_hash")?;
        if !constant_time_eq(stored.as_bytes(), hash_secret(secret).as_bytes()) {
            return Ok(ServiceAccountAuth::Invalid);
        }
        let now = now_ms();
        if let Some(at) = row.try_get::<Option<i64>, _>("expires_at_ms")?.filter(|at| *at <= now) {
            return Ok(ServiceAccountAuth::Expired(at));
        }
        let last_used: Option<i64> = row.try_get("last_used_ms")?;
        let role: Option<String> = row.try_get("role")?;
        if role.is_some() && last_used.is_none_or(|at| now - at >= LAST_USED_RESOLUTION_MS) {
            // A record, not a condition of access: a busy database must not turn a valid
            // credential into an error.
            let written = sqlx::query("UPDATE service_accounts SET last_used_ms = $1 WHERE id = $2")
                .bind(now)
                .bind(row.try_get::<i64, _>("id")?)
                .execute(&self.pool)
                .await;
            if let Err(e) = written {
                tracing::debug!(error = %e, "last_used not recorded");
            }
        }
        Ok(match role {
            Some(role) => ServiceAccountAuth::Role(
                Role::from_str(&role).map_err(MetadataError::Invalid)?,
                ServiceAccountId(row.try_get("id")?),
            ),
            None => ServiceAccountAuth::NoAccess,
        })
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// One page of the service accounts with a role in `project_id`, newest first.
    pub async fn page_service_accounts(
        &self,
        project_id: ProjectId,
        page: sextant_model::PageRequest,
    ) -> Result<sextant_model::Page<(ServiceAccountInfo, Role)>> {
        const FROM: &str = "FROM service_accounts s JOIN service_account_roles r ON r.service_account_id = s.id \
                            WHERE r.project_id = $1";
        let rows =
            self.page_rows(&format!("SELECT {} {FROM}", service_account_columns()), project_id.0, "s.id", page).await?;
        let items = rows.iter().map(service_account_from_row).collect::<Result<Vec<_>>>()?;
        self.finish_page(items, |(a, _)| a.id.0, &format!("SELECT 1 {FROM}"), project_id.0, "s.id", page).await
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Writes a consistent copy of the control plane into a new SQLite file at `dest`
    /// (`VACUUM INTO`: one snapshot, taken while writes go on). Answers `false`, and
    /// writes nothing, when the control plane is PostgreSQL: `pg_dump` copies that.
    pub async fn backup_into(&self, dest: &std::path::Path) -> Result<bool> {
        if self.backend != Backend::Sqlite {
            return Ok(false);
        }
        let path = dest.to_str().ok_or_else(|| MetadataError::Invalid("the backup path is not UTF-8".into()))?;
        sqlx::query("VACUUM INTO $1").bind(path).execute(&self.pool).await?;
        Ok(true)
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// A new service account's Basic-auth username: its name as a slug, made unique.
pub(crate) fn service_account_username(name: &str) -> String {
    let slug: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).take(32).collect();
    let slug = if slug.trim_matches('-').is_empty() { "account".to_string() } else { slug };
    format!("{slug}.{}.sextant-service-account", &random_hex32()[..8])
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn open() -> (tempfile::TempDir, Metadata) {
        let dir = tempfile::tempdir().unwrap();
        let md = Metadata::open(&dir.path().join("meta.sqlite")).await.unwrap();
        (dir, md)
    }

    #[tokio::test]
    async fn bootstrap_happens_once_and_credentials_work() {
        let (_dir, md) = open().await;
        let boot = md.bootstrap().await.unwrap().expect("first bootstrap");
        assert!(md.bootstrap().await.unwrap().is_none());
        let p = &boot.project.project;
        assert_eq!(p.timezone, "UTC");
        assert_eq!(md.project_by_token(&p.token).await.unwrap().unwrap().id, p.id);
        assert_eq!(md.project_by_secret(&boot.project.secret).await.unwrap().unwrap().id, p.id);
        assert!(md.project_by_secret(&p.token).await.unwrap().is_none());
        let sa = &boot.service_account;
        assert_eq!(
            md.authenticate_service_account(&sa.username, &sa.secret, p.id).await.unwrap(),
            ServiceAccountAuth::Role(Role::Owner, sa.id)
        );
        assert_eq!(
            md.authenticate_service_account(&sa.username, "wrong", p.id).await.unwrap(),
            ServiceAccountAuth::Invalid
        );
        let other = md.create_project(boot.organization_id, "Other", "Europe/Paris").await.unwrap();
        assert_eq!(
            md.authenticate_service_account(&sa.username, &sa.secret, other.project.id).await.unwrap(),
            ServiceAccountAuth::NoAccess
        );
        assert_eq!(md.list_projects().await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn bad_timezones_and_names_are_refused() {
        let (_dir, md) = open().await;
        let org = md.default_organization().await.unwrap();
        assert!(matches!(md.create_project(org, "x", "Mars/Olympus").await, Err(MetadataError::Invalid(_))));
        assert!(matches!(md.create_project(org, "  ", "UTC").await, Err(MetadataError::Invalid(_))));
        assert!(matches!(
            md.create_service_account(ProjectId(999), Role::Admin, "x", None, &Actor::cli()).await,
            Err(MetadataError::NotFound(_))
        ));
    }
}
