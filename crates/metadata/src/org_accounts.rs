//! An organisation's service accounts, as Mixpanel's service-accounts spec manages them:
//! listed, made (with a role in the organisation and roles in some of its projects),
//! deleted everywhere at once, and added to or removed from projects. Only the
//! organisation's owners and admins do this ([`Metadata::authenticate_org_admin`]).

use std::str::FromStr;

use sextant_model::{Actor, OrgId, ProjectId, Role, ServiceAccountId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::secrets::hash_secret;
use crate::store::{Metadata, ServiceAccountInfo, now_ms};
use crate::{MetadataError, Result};

/// The answer to a service account's credentials for its organisation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OrgAuth {
    /// No account with that username and secret in that organisation.
    Invalid,
    /// The account expired at this instant (epoch ms).
    Expired(i64),
    /// The account is in the organisation but neither owns nor administers it.
    NotAdmin,
    /// An owner or admin of the organisation: its id, username and organisation role.
    Admin(ServiceAccountId, String, Role),
}

/// The columns [`account_from_row`] reads, from `service_accounts s`.
pub(crate) const COLUMNS: &str = "s.id, s.username, s.name, s.created_at_ms, s.expires_at_ms, s.last_used_ms, \
                                  s.creator_kind, s.creator_id, s.creator_name";

/// A service account as listed, from a row of [`COLUMNS`].
pub(crate) fn account_from_row(row: &AnyRow) -> Result<ServiceAccountInfo> {
    Ok(ServiceAccountInfo {
        id: ServiceAccountId(row.try_get("id")?),
        username: row.try_get("username")?,
        name: row.try_get("name")?,
        created_at_ms: row.try_get("created_at_ms")?,
        expires_at_ms: row.try_get("expires_at_ms")?,
        last_used_ms: row.try_get("last_used_ms")?,
        creator: crate::audit::creator_from_row(row)?,
    })
}

impl Metadata {
    /// Checks a service account's credentials against `org` and whether it owns or
    /// administers the organisation.
    pub async fn authenticate_org_admin(&self, username: &str, secret: &str, org: OrgId) -> Result<OrgAuth> {
        let row = sqlx::query(
            "SELECT id, secret_hash, expires_at_ms, org_role FROM service_accounts WHERE username = $1 AND org_id = $2",
        )
        .bind(username)
        .bind(org.0)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(OrgAuth::Invalid) };
        let stored: String = row.try_get("secret_hash")?;
        if !crate::store::constant_time_eq(stored.as_bytes(), hash_secret(secret).as_bytes()) {
            return Ok(OrgAuth::Invalid);
        }
        if let Some(at) = row.try_get::<Option<i64>, _>("expires_at_ms")?.filter(|at| *at <= now_ms()) {
            return Ok(OrgAuth::Expired(at));
        }
        let role: Option<String> = row.try_get("org_role")?;
        Ok(match role.as_deref().map(Role::from_str) {
            Some(Ok(role @ (Role::Owner | Role::Admin))) => {
                OrgAuth::Admin(ServiceAccountId(row.try_get("id")?), username.to_string(), role)
            }
            _ => OrgAuth::NotAdmin,
        })
    }

    /// A service account's role in its organisation, if it has one.
    pub async fn org_role(&self, org: OrgId, id: ServiceAccountId) -> Result<Option<Role>> {
        let role: Option<Option<String>> =
            sqlx::query_scalar("SELECT org_role FROM service_accounts WHERE org_id = $1 AND id = $2")
                .bind(org.0)
                .bind(id.0)
                .fetch_optional(self.pool())
                .await?;
        role.flatten().map(|r| Role::from_str(&r).map_err(MetadataError::Invalid)).transpose()
    }

    /// The roles `accounts` hold in `projects` (the pairs that exist), in one query.
    pub async fn project_roles_of(
        &self,
        accounts: &[ServiceAccountId],
        projects: &[ProjectId],
    ) -> Result<Vec<(ServiceAccountId, ProjectId, Role)>> {
        if accounts.is_empty() || projects.is_empty() {
            return Ok(Vec::new());
        }
        let list = |from: usize, n: usize| (from..from + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "SELECT service_account_id, project_id, role FROM service_account_roles \
             WHERE service_account_id IN ({}) AND project_id IN ({})",
            list(1, accounts.len()),
            list(accounts.len() + 1, projects.len())
        );
        let mut query = sqlx::query(&sql);
        for account in accounts {
            query = query.bind(account.0);
        }
        for project in projects {
            query = query.bind(project.0);
        }
        query
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|row| {
                let role: String = row.try_get("role")?;
                Ok((
                    ServiceAccountId(row.try_get("service_account_id")?),
                    ProjectId(row.try_get("project_id")?),
                    Role::from_str(&role).map_err(MetadataError::Invalid)?,
                ))
            })
            .collect()
    }

    /// The organisation's service accounts, oldest first.
    pub async fn org_service_accounts(&self, org: OrgId) -> Result<Vec<ServiceAccountInfo>> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM service_accounts s WHERE s.org_id = $1 ORDER BY s.id"))
            .bind(org.0)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(account_from_row).collect()
    }

    /// One service account of the organisation.
    pub async fn org_service_account(&self, org: OrgId, id: ServiceAccountId) -> Result<ServiceAccountInfo> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM service_accounts s WHERE s.org_id = $1 AND s.id = $2"))
            .bind(org.0)
            .bind(id.0)
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| MetadataError::NotFound(format!("service account {} in organization {}", id.0, org.0)))?;
        account_from_row(&row)
    }

    /// Makes a service account of `org` with `org_role`, expiring at `expires_at_ms`,
    /// with a role in each of `projects` (which must be the organisation's). Returns it
    /// and its secret, shown once.
    pub async fn create_org_service_account(
        &self,
        org: OrgId,
        name: &str,
        org_role: Role,
        expires_at_ms: Option<i64>,
        projects: &[(ProjectId, Role)],
        creator: &Actor,
    ) -> Result<(ServiceAccountInfo, String)> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 255 {
            return Err(MetadataError::Invalid("a service account needs a username of 1 to 255 characters".into()));
        }
        self.check_projects(org, projects.iter().map(|(p, _)| *p)).await?;
        let mut tx = self.pool().begin().await?;
        let (id, _, secret) = insert_account(&mut tx, org, name, Some(org_role), expires_at_ms, creator).await?;
        for (project, role) in projects {
            grant(&mut tx, id, *project, *role).await?;
        }
        tx.commit().await?;
        Ok((self.org_service_account(org, id).await?, secret))
    }

    /// Deletes a service account of the organisation: its roles in every project go with
    /// it, so it authenticates nowhere from then on.
    pub async fn delete_org_service_account(&self, org: OrgId, id: ServiceAccountId) -> Result<()> {
        self.org_service_account(org, id).await?;
        let mut tx = self.pool().begin().await?;
        sqlx::query("DELETE FROM workspace_members WHERE service_account_id = $1").bind(id.0).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM service_account_roles WHERE service_account_id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM service_accounts WHERE id = $1 AND org_id = $2")
            .bind(id.0)
            .bind(org.0)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Gives each of `accounts` the role of each of `projects` (replacing a role it had
    /// there). All must be the organisation's; nothing changes otherwise.
    pub async fn add_to_projects(
        &self,
        org: OrgId,
        accounts: &[ServiceAccountId],
        projects: &[(ProjectId, Role)],
    ) -> Result<()> {
        self.check_accounts(org, accounts).await?;
        self.check_projects(org, projects.iter().map(|(p, _)| *p)).await?;
        let mut tx = self.pool().begin().await?;
        for account in accounts {
            for (project, role) in projects {
                grant(&mut tx, *account, *project, *role).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Takes each project's listed accounts out of it. All must be the organisation's;
    /// nothing changes otherwise.
    pub async fn remove_from_projects(
        &self,
        org: OrgId,
        removals: &[(ProjectId, Vec<ServiceAccountId>)],
    ) -> Result<()> {
        self.check_projects(org, removals.iter().map(|(p, _)| *p)).await?;
        let accounts: Vec<ServiceAccountId> = removals.iter().flat_map(|(_, a)| a.iter().copied()).collect();
        self.check_accounts(org, &accounts).await?;
        let mut tx = self.pool().begin().await?;
        for (project, accounts) in removals {
            for account in accounts {
                // Out of the project, out of its workspaces: back in it, it sees all.
                sqlx::query(
                    "DELETE FROM workspace_members WHERE service_account_id = $1 \
                     AND workspace_id IN (SELECT id FROM workspaces WHERE project_id = $2)",
                )
                .bind(account.0)
                .bind(project.0)
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM service_account_roles WHERE service_account_id = $1 AND project_id = $2")
                    .bind(account.0)
                    .bind(project.0)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Refuses projects that are not the organisation's.
    async fn check_projects(&self, org: OrgId, projects: impl Iterator<Item = ProjectId>) -> Result<()> {
        for project in projects {
            match self.project(project).await? {
                Some(p) if p.org_id == org => {}
                _ => return Err(MetadataError::Invalid(format!("project {project} is not in organization {}", org.0))),
            }
        }
        Ok(())
    }

    /// Refuses accounts that are not the organisation's.
    async fn check_accounts(&self, org: OrgId, accounts: &[ServiceAccountId]) -> Result<()> {
        for account in accounts {
            match self.org_service_account(org, *account).await {
                Ok(_) => {}
                Err(MetadataError::NotFound(_)) => {
                    return Err(MetadataError::Invalid(format!(
                        "service account {} is not in organization {}",
                        account.0, org.0
                    )));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Adds a service account to `org` with `org_role` (none: a member only), expiring at
/// `expires_at_ms`, made by `creator`; returns its id, its user name and its secret.
pub(crate) async fn insert_account(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    org: OrgId,
    name: &str,
    org_role: Option<Role>,
    expires_at_ms: Option<i64>,
    creator: &Actor,
) -> Result<(ServiceAccountId, String, String)> {
    if expires_at_ms.is_some_and(|at| at <= now_ms()) {
        return Err(MetadataError::Invalid("a service account must expire in the future".into()));
    }
    let secret = crate::secrets::random_hex32();
    let username = crate::store::service_account_username(name);
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO service_accounts (org_id, username, name, secret_hash, created_at_ms, expires_at_ms, \
         creator_kind, creator_id, creator_name, org_role) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         RETURNING id",
    )
    .bind(org.0)
    .bind(&username)
    .bind(name)
    .bind(hash_secret(&secret))
    .bind(now_ms())
    .bind(expires_at_ms)
    .bind(creator.kind.as_str())
    .bind(creator.id)
    .bind(creator.name.as_str())
    .bind(org_role.map(Role::as_str))
    .fetch_one(&mut **tx)
    .await?;
    Ok((ServiceAccountId(id), username, secret))
}

/// Gives `account` `role` in `project`, replacing the role it had there.
pub(crate) async fn grant(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    account: ServiceAccountId,
    project: ProjectId,
    role: Role,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO service_account_roles (service_account_id, project_id, role) VALUES ($1, $2, $3) \
         ON CONFLICT (service_account_id, project_id) DO UPDATE SET role = excluded.role",
    )
    .bind(account.0)
    .bind(project.0)
    .bind(role.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(())
}
