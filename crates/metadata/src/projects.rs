//! Projects: creating one (with its default workspace), reading, listing a page of an
//! organisation's, changing settings, deleting one with everything the control plane
//! keeps for it, and the rate-limit overrides projects carry.

use std::str::FromStr;

use serde::Serialize;
use sextant_model::rate_limits::ProjectLimits;
use sextant_model::workspace::DEFAULT_NAME;
use sextant_model::{IdentityMode, OrgId, Page, PageRequest, Project, ProjectChanges, ProjectId, Region};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::secrets::{hash_secret, random_hex32};
use crate::store::{Metadata, now_ms};
use crate::{MetadataError, Result};

/// A project just created, with its secret (shown once).
#[derive(Clone, Debug, Serialize)]
pub struct NewProject {
    /// The project.
    #[serde(flatten)]
    pub project: Project,
    /// The project secret, in clear; only its hash is kept.
    pub secret: String,
}

pub(crate) const PROJECT_COLUMNS: &str =
    "id, org_id, name, token, timezone, identity_mode, created_at_ms, case_sensitive_strings, region, rate_limits";

pub(crate) fn project_from_row(row: &AnyRow) -> Result<Project> {
    let mode: String = row.try_get("identity_mode")?;
    let limits: Option<String> = row.try_get("rate_limits")?;
    Ok(Project {
        id: ProjectId(row.try_get("id")?),
        org_id: OrgId(row.try_get("org_id")?),
        name: row.try_get("name")?,
        token: row.try_get("token")?,
        timezone: row.try_get("timezone")?,
        identity_mode: IdentityMode::from_str(&mode).map_err(MetadataError::Invalid)?,
        created_at_ms: row.try_get("created_at_ms")?,
        case_sensitive_strings: row.try_get::<i64, _>("case_sensitive_strings")? != 0,
        region: Region::from_str(&row.try_get::<String, _>("region")?).map_err(MetadataError::Invalid)?,
        rate_limits: match limits {
            Some(text) => serde_json::from_str(&text)
                .map_err(|e| MetadataError::Invalid(format!("stored rate limits of a project: {e}")))?,
            None => ProjectLimits::new(),
        },
    })
}

fn check_timezone(timezone: &str) -> Result<()> {
    if timezone.parse::<chrono_tz::Tz>().is_err() {
        return Err(MetadataError::Invalid(format!(
            "unknown timezone `{timezone}` (use an IANA name such as Europe/Paris)"
        )));
    }
    Ok(())
}

fn limits_text(limits: &ProjectLimits) -> Option<String> {
    (!limits.is_empty()).then(|| serde_json::to_string(limits).unwrap_or_else(|_| "{}".into()))
}

/// The tables keeping a project's objects, children before the tables they point at;
/// deleting a project empties them of its rows, then deletes its row.
const PROJECT_TABLES: [&str; 26] = [
    "warehouse_import_runs WHERE project_id = $1",
    "warehouse_imports WHERE project_id = $1",
    "warehouse_sources WHERE project_id = $1",
    "pipeline_syncs WHERE project_id = $1",
    "pipeline_tasks WHERE project_id = $1",
    "pipelines WHERE project_id = $1",
    "gdpr_jobs WHERE project_id = $1",
    "gdpr_opt_outs WHERE project_id = $1",
    "experiments WHERE project_id = $1",
    "feature_flags WHERE project_id = $1",
    "flag_versions WHERE project_id = $1",
    "workspace_members WHERE workspace_id IN (SELECT id FROM workspaces WHERE project_id = $1)",
    "workspaces WHERE project_id = $1",
    "lexicon_versions WHERE project_id = $1",
    "lexicon_violations WHERE project_id = $1",
    "lexicon_schemas WHERE project_id = $1",
    "annotation_tag_links WHERE annotation_id IN (SELECT id FROM annotations WHERE project_id = $1)",
    "annotation_tags WHERE project_id = $1",
    "annotations WHERE project_id = $1",
    "bookmarks WHERE project_id = $1",
    "funnels WHERE project_id = $1",
    "cohorts WHERE project_id = $1",
    "lookup_mappings WHERE project_id = $1",
    "lookup_tables WHERE project_id = $1",
    "api_tokens WHERE project_id = $1",
    "service_account_roles WHERE project_id = $1",
];

impl Metadata {
    /// Creates a project with a fresh token and secret, in UTC, Simplified ID Merge and
    /// the US region unless `settings` say otherwise, with its default workspace.
    pub async fn create_project_with(&self, org: OrgId, settings: &ProjectChanges) -> Result<NewProject> {
        let name = settings.name.as_deref().map(str::trim).unwrap_or_default();
        if name.is_empty() {
            return Err(MetadataError::Invalid("project name must not be empty".into()));
        }
        let timezone = settings.timezone.as_deref().unwrap_or("UTC");
        check_timezone(timezone)?;
        let (token, secret) = (random_hex32(), random_hex32());
        let project = Project {
            id: ProjectId(0),
            org_id: org,
            name: name.to_string(),
            token,
            timezone: timezone.to_string(),
            identity_mode: settings.identity_mode.unwrap_or_default(),
            created_at_ms: now_ms(),
            case_sensitive_strings: settings.case_sensitive_strings.unwrap_or(false),
            region: settings.region.unwrap_or_default(),
            rate_limits: settings.rate_limits.clone().unwrap_or_default(),
        };
        let mut tx = self.pool().begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO projects (org_id, name, token, secret_hash, timezone, identity_mode, created_at_ms, \
             case_sensitive_strings, region, rate_limits) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
        )
        .bind(org.0)
        .bind(&project.name)
        .bind(&project.token)
        .bind(hash_secret(&secret))
        .bind(&project.timezone)
        .bind(project.identity_mode.as_str())
        .bind(project.created_at_ms)
        .bind(project.case_sensitive_strings as i64)
        .bind(project.region.as_str())
        .bind(limits_text(&project.rate_limits))
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO workspaces (project_id, name, is_default, created_at_ms) VALUES ($1, $2, 1, $3)")
            .bind(id)
            .bind(DEFAULT_NAME)
            .bind(project.created_at_ms)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(NewProject { project: Project { id: ProjectId(id), ..project }, secret })
    }

    /// Creates a project named `name` reporting in `timezone`, otherwise with the
    /// defaults of [`Metadata::create_project_with`].
    pub async fn create_project(&self, org: OrgId, name: &str, timezone: &str) -> Result<NewProject> {
        let settings =
            ProjectChanges { name: Some(name.to_string()), timezone: Some(timezone.to_string()), ..Default::default() };
        self.create_project_with(org, &settings).await
    }

    /// Applies `changes` to a project and returns it. The caller decides whether the
    /// identity-merge mode may still change (Mixpanel fixes it once a project has data).
    pub async fn update_project(&self, id: ProjectId, changes: &ProjectChanges) -> Result<Project> {
        let mut project = self.project(id).await?.ok_or_else(|| MetadataError::NotFound(format!("project {id}")))?;
        if let Some(name) = &changes.name {
            if name.trim().is_empty() {
                return Err(MetadataError::Invalid("project name must not be empty".into()));
            }
            project.name = name.trim().to_string();
        }
        if let Some(timezone) = &changes.timezone {
            check_timezone(timezone)?;
            project.timezone = timezone.clone();
        }
        project.region = changes.region.unwrap_or(project.region);
        project.identity_mode = changes.identity_mode.unwrap_or(project.identity_mode);
        project.case_sensitive_strings = changes.case_sensitive_strings.unwrap_or(project.case_sensitive_strings);
        if let Some(limits) = &changes.rate_limits {
            project.rate_limits = limits.clone();
        }
        sqlx::query(
            "UPDATE projects SET name = $1, timezone = $2, region = $3, identity_mode = $4, \
             case_sensitive_strings = $5, rate_limits = $6 WHERE id = $7",
        )
        .bind(&project.name)
        .bind(&project.timezone)
        .bind(project.region.as_str())
        .bind(project.identity_mode.as_str())
        .bind(project.case_sensitive_strings as i64)
        .bind(limits_text(&project.rate_limits))
        .bind(id.0)
        .execute(self.pool())
        .await?;
        Ok(project)
    }

    /// Deletes a project and everything the control plane keeps for it (its saved
    /// objects, Lexicon, workspaces, API tokens and members' roles), in one
    /// transaction. What the event store keeps is the caller's to clear first.
    pub async fn delete_project(&self, id: ProjectId) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        for table in PROJECT_TABLES {
            sqlx::query(&format!("DELETE FROM {table}")).bind(id.0).execute(&mut *tx).await?;
        }
        let done = sqlx::query("DELETE FROM projects WHERE id = $1").bind(id.0).execute(&mut *tx).await?;
        if done.rows_affected() == 0 {
            return Err(MetadataError::NotFound(format!("project {id}")));
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every project, oldest first.
    pub async fn list_projects(&self) -> Result<Vec<Project>> {
        let rows =
            sqlx::query(&format!("SELECT {PROJECT_COLUMNS} FROM projects ORDER BY id")).fetch_all(self.pool()).await?;
        rows.iter().map(project_from_row).collect()
    }

    /// A page of an organisation's projects, newest first.
    pub async fn page_projects(&self, org: OrgId, page: PageRequest) -> Result<Page<Project>> {
        let select = format!("SELECT {PROJECT_COLUMNS} FROM projects WHERE org_id = $1");
        let rows = self.page_rows(&select, org.0, "id", page).await?;
        let items = rows.iter().map(project_from_row).collect::<Result<Vec<_>>>()?;
        self.finish_page(items, |p| p.id.0, "SELECT 1 FROM projects WHERE org_id = $1", org.0, "id", page).await
    }

    /// Every project's own rate-limit overrides (projects without any are left out).
    pub async fn project_limits(&self) -> Result<Vec<(ProjectId, ProjectLimits)>> {
        let rows = sqlx::query(&format!("SELECT {PROJECT_COLUMNS} FROM projects WHERE rate_limits IS NOT NULL"))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(|row| project_from_row(row).map(|p| (p.id, p.rate_limits))).collect()
    }

    /// One project by id.
    pub async fn project(&self, id: ProjectId) -> Result<Option<Project>> {
        self.project_where("id = $1", id.0).await
    }

    /// The project whose public token this is.
    pub async fn project_by_token(&self, token: &str) -> Result<Option<Project>> {
        self.project_where("token = $1", token.to_string()).await
    }

    /// The project whose secret this is.
    pub async fn project_by_secret(&self, secret: &str) -> Result<Option<Project>> {
        self.project_where("secret_hash = $1", hash_secret(secret)).await
    }

    async fn project_where<T>(&self, condition: &str, value: T) -> Result<Option<Project>>
    where
        T: for<'q> sqlx::Encode<'q, sqlx::Any> + sqlx::Type<sqlx::Any> + Send + 'static,
    {
        let row = sqlx::query(&format!("SELECT {PROJECT_COLUMNS} FROM projects WHERE {condition}"))
            .bind(value)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(project_from_row).transpose()
    }
}
