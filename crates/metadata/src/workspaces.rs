//! A project's workspaces (Mixpanel's data views) and their members. The rules of what
//! a workspace may say are `sextant_model::workspace`'s; this keeps them.

use std::collections::{BTreeMap, BTreeSet};

use sextant_model::workspace::{MAX_WORKSPACES, Visibility, Workspace, WorkspaceChange};
use sextant_model::{Actor, Page, PageRequest, ProjectId, Role, ServiceAccountId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::audit::{AUDIT_COLUMNS, CREATOR_COLUMNS, audit_from_row, bind_creator};
use crate::store::{Metadata, now_ms};
use crate::{MetadataError, Result};

const COLUMNS: &str = "id, project_id, name, description, is_default, events, hidden_properties";

fn names_of(text: &str) -> Result<BTreeSet<String>> {
    serde_json::from_str(text).map_err(|e| MetadataError::Invalid(format!("stored workspace names: {e}")))
}

fn from_row(row: &AnyRow) -> Result<Workspace> {
    let events: Option<String> = row.try_get("events")?;
    Ok(Workspace {
        id: row.try_get("id")?,
        project_id: ProjectId(row.try_get("project_id")?),
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        is_default: row.try_get::<i64, _>("is_default")? != 0,
        visibility: Visibility {
            events: events.as_deref().map(names_of).transpose()?,
            hidden_properties: names_of(&row.try_get::<String, _>("hidden_properties")?)?,
        },
        members: Vec::new(),
        audit: audit_from_row(row)?,
    })
}

fn json_of(names: &BTreeSet<String>) -> String {
    serde_json::to_string(names).unwrap_or_else(|_| "[]".into())
}

fn not_found(project: ProjectId, id: i64) -> MetadataError {
    MetadataError::NotFound(format!("workspace {id} in project {project}"))
}

/// Makes `members` the workspace's members, in the caller's transaction.
async fn set_members(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    workspace: i64,
    members: &[ServiceAccountId],
) -> Result<()> {
    sqlx::query("DELETE FROM workspace_members WHERE workspace_id = $1").bind(workspace).execute(&mut **tx).await?;
    for account in members {
        sqlx::query("INSERT INTO workspace_members (workspace_id, service_account_id) VALUES ($1, $2)")
            .bind(workspace)
            .bind(account.0)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

impl Metadata {
    /// Fills in the members of `workspaces` (all of one project).
    async fn with_members(&self, project: ProjectId, mut workspaces: Vec<Workspace>) -> Result<Vec<Workspace>> {
        let rows = sqlx::query(
            "SELECT m.workspace_id, m.service_account_id FROM workspace_members m \
             JOIN workspaces w ON w.id = m.workspace_id WHERE w.project_id = $1 \
             ORDER BY m.workspace_id, m.service_account_id",
        )
        .bind(project.0)
        .fetch_all(self.pool())
        .await?;
        let mut members: BTreeMap<i64, Vec<ServiceAccountId>> = BTreeMap::new();
        for row in rows {
            members.entry(row.try_get(0)?).or_default().push(ServiceAccountId(row.try_get(1)?));
        }
        for w in &mut workspaces {
            w.members = members.remove(&w.id).unwrap_or_default();
        }
        Ok(workspaces)
    }

    /// One workspace of the project.
    pub async fn workspace(&self, project: ProjectId, id: i64) -> Result<Workspace> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS}, {AUDIT_COLUMNS} FROM workspaces WHERE id = $1 AND project_id = $2"
        ))
        .bind(id)
        .bind(project.0)
        .fetch_optional(self.pool())
        .await?
        .ok_or_else(|| not_found(project, id))?;
        let one = vec![from_row(&row)?];
        Ok(self.with_members(project, one).await?.remove(0))
    }

    /// Every workspace of the project, oldest (the default) first.
    pub async fn workspaces(&self, project: ProjectId) -> Result<Vec<Workspace>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS}, {AUDIT_COLUMNS} FROM workspaces WHERE project_id = $1 ORDER BY id"
        ))
        .bind(project.0)
        .fetch_all(self.pool())
        .await?;
        let all = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
        self.with_members(project, all).await
    }

    /// A page of the project's workspaces, newest first.
    pub async fn page_workspaces(&self, project: ProjectId, page: PageRequest) -> Result<Page<Workspace>> {
        let select = format!("SELECT {COLUMNS}, {AUDIT_COLUMNS} FROM workspaces WHERE project_id = $1");
        let rows = self.page_rows(&select, project.0, "id", page).await?;
        let items = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
        let items = self.with_members(project, items).await?;
        self.finish_page(items, |w| w.id, "SELECT 1 FROM workspaces WHERE project_id = $1", project.0, "id", page).await
    }

    /// The workspaces of the project listing `account` as a member (empty: it is
    /// confined to none).
    pub async fn confinement(&self, project: ProjectId, account: ServiceAccountId) -> Result<Vec<i64>> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT w.id FROM workspaces w JOIN workspace_members m ON m.workspace_id = w.id \
             WHERE w.project_id = $1 AND m.service_account_id = $2 ORDER BY w.id",
        )
        .bind(project.0)
        .bind(account.0)
        .fetch_all(self.pool())
        .await?;
        Ok(ids)
    }

    /// Refuses members without the analyst or consumer role in the project (owners and
    /// admins manage workspaces: none confines them).
    async fn check_members(&self, project: ProjectId, members: &[ServiceAccountId]) -> Result<()> {
        for account in members {
            let role: Option<String> = sqlx::query_scalar(
                "SELECT role FROM service_account_roles WHERE service_account_id = $1 AND project_id = $2",
            )
            .bind(account.0)
            .bind(project.0)
            .fetch_optional(self.pool())
            .await?;
            match role.as_deref().map(str::parse::<Role>) {
                Some(Ok(Role::Analyst | Role::Consumer)) => {}
                Some(_) => {
                    return Err(MetadataError::Invalid(format!(
                        "members: service account {account} is an owner or admin of project {project}; a workspace \
                         confines analysts and consumers"
                    )));
                }
                None => {
                    return Err(MetadataError::Invalid(format!(
                        "members: service account {account} has no role in project {project}"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Creates a workspace (at most [`MAX_WORKSPACES`] a project).
    pub async fn create_workspace(
        &self,
        project: ProjectId,
        change: &WorkspaceChange,
        creator: &Actor,
    ) -> Result<Workspace> {
        let name = change.name.as_deref().ok_or_else(|| MetadataError::Invalid("a workspace needs a name".into()))?;
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM workspaces WHERE project_id = $1")
            .bind(project.0)
            .fetch_one(self.pool())
            .await?;
        if count as usize >= MAX_WORKSPACES {
            return Err(MetadataError::Conflict(format!(
                "project {project} has {count} workspaces, the most it may have; delete one first"
            )));
        }
        let members = change.members.clone().unwrap_or_default();
        self.check_members(project, &members).await?;
        let now = now_ms();
        let insert = format!(
            "INSERT INTO workspaces (project_id, name, description, is_default, events, hidden_properties, \
             created_at_ms, {CREATOR_COLUMNS}) VALUES ($1, $2, $3, 0, $4, $5, $6, $7, $8, $9, $10) RETURNING id"
        );
        let mut tx = self.pool().begin().await?;
        let query = sqlx::query(&insert)
            .bind(project.0)
            .bind(name)
            .bind(change.description.clone().unwrap_or_default())
            .bind(change.events.clone().flatten().as_ref().map(json_of))
            .bind(json_of(&change.hidden_properties.clone().unwrap_or_default()))
            .bind(now);
        let id: i64 = bind_creator(query, now, creator).fetch_one(&mut *tx).await?.try_get("id")?;
        set_members(&mut tx, id, &members).await?;
        tx.commit().await?;
        self.workspace(project, id).await
    }

    /// Applies `change` to a workspace. The default workspace shows everything: it may
    /// be renamed and described, not restricted.
    pub async fn update_workspace(&self, project: ProjectId, id: i64, change: &WorkspaceChange) -> Result<Workspace> {
        let mut w = self.workspace(project, id).await?;
        if w.is_default && change.restricts() {
            return Err(MetadataError::Invalid(
                "the default workspace shows all project data: create another workspace to restrict what readers see"
                    .into(),
            ));
        }
        if let Some(members) = &change.members {
            self.check_members(project, members).await?;
            w.members = members.clone();
        }
        w.name = change.name.clone().unwrap_or(w.name);
        w.description = change.description.clone().unwrap_or(w.description);
        if let Some(events) = &change.events {
            w.visibility.events = events.clone();
        }
        if let Some(hidden) = &change.hidden_properties {
            w.visibility.hidden_properties = hidden.clone();
        }
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "UPDATE workspaces SET name = $1, description = $2, events = $3, hidden_properties = $4, \
             modified_at_ms = $5 WHERE id = $6 AND project_id = $7",
        )
        .bind(&w.name)
        .bind(&w.description)
        .bind(w.visibility.events.as_ref().map(json_of))
        .bind(json_of(&w.visibility.hidden_properties))
        .bind(now_ms())
        .bind(id)
        .bind(project.0)
        .execute(&mut *tx)
        .await?;
        if change.members.is_some() {
            set_members(&mut tx, id, &w.members).await?;
        }
        tx.commit().await?;
        self.workspace(project, id).await
    }

    /// Deletes a workspace (never the default one); its members are confined by it no
    /// longer.
    pub async fn delete_workspace(&self, project: ProjectId, id: i64) -> Result<()> {
        let w = self.workspace(project, id).await?;
        if w.is_default {
            return Err(MetadataError::Conflict("the default workspace cannot be deleted".into()));
        }
        let mut tx = self.pool().begin().await?;
        let live: i64 =
            sqlx::query("SELECT count(*) AS n FROM feature_flags WHERE workspace_id = $1 AND status <> 'archived'")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?
                .try_get("n")?;
        if live > 0 {
            return Err(MetadataError::Conflict(format!(
                "workspace {id} holds {live} feature flags: delete them first"
            )));
        }
        sqlx::query("DELETE FROM feature_flags WHERE workspace_id = $1").bind(id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM experiments WHERE workspace_id = $1").bind(id).execute(&mut *tx).await?;
        set_members(&mut tx, id, &[]).await?;
        sqlx::query("DELETE FROM workspaces WHERE id = $1 AND project_id = $2")
            .bind(id)
            .bind(project.0)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
