//! A project's workspaces (Mixpanel's data views), in the App API's one resource
//! pattern: `GET|POST /api/app/projects/{project_id}/workspaces` and
//! `GET|PATCH|DELETE .../workspaces/{workspace_id}`.
//!
//! Every role reads them (a reader picks the `workspace_id` its reports go through);
//! owners, admins, the project secret and `app` API tokens change them. What a workspace
//! may say is `sextant_model::workspace`'s; what reading through one means for each
//! report is `sextant_query::workspace`'s.

use serde::Serialize;
use serde_json::Value;
use sextant_metadata::Metadata;
use sextant_model::access::Operation;
use sextant_model::workspace::{Workspace, WorkspaceChange};
use sextant_model::{Actor, Audit, Page, PageRequest, Project, ProjectId};

use crate::audit::{AuditView, CreatorView};
use crate::error::ApiError;
use crate::resource::{Changeable, Paged, Resource};
use crate::state::AppState;
use sextant_api::envelope::{CollectionPage, Single};

/// A workspace, as the App API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct WorkspaceView {
    /// Its id: the Query API's `workspace_id`.
    #[schema(required = false)]
    pub id: i64,
    /// Its project.
    #[schema(required = false)]
    pub project_id: i64,
    /// Its name.
    #[schema(required = false)]
    pub name: String,
    /// What it is for.
    #[schema(required = false)]
    pub description: String,
    /// Whether it is the project's "All Project Data" workspace.
    #[schema(required = false)]
    pub is_default: bool,
    /// The events its readers see; `null`: every event.
    #[schema(required = false)]
    pub events: Option<Vec<String>>,
    /// The event properties hidden from its readers.
    #[schema(required = false)]
    pub hidden_properties: Vec<String>,
    /// The service accounts that read the project only through the workspaces listing
    /// them.
    #[schema(required = false)]
    pub members: Vec<i64>,
    /// When it was made and changed, and who made it.
    #[serde(flatten)]
    pub audit: AuditView,
}

impl WorkspaceView {
    fn of(w: &Workspace, creator: Option<CreatorView>) -> WorkspaceView {
        WorkspaceView {
            id: w.id,
            project_id: w.project_id.0,
            name: w.name.clone(),
            description: w.description.clone(),
            is_default: w.is_default,
            events: w.visibility.events.as_ref().map(|e| e.iter().cloned().collect()),
            hidden_properties: w.visibility.hidden_properties.iter().cloned().collect(),
            members: w.members.iter().map(|m| m.0).collect(),
            audit: AuditView::of(&w.audit, creator),
        }
    }
}

/// The body that makes or changes a workspace (every field optional on a change).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents the body the handlers read
struct WorkspaceBody {
    /// Its name (required to make one), at most 255 characters.
    name: String,
    /// What it is for.
    description: Option<String>,
    /// The event names its readers see (at most 5,000); `null` or absent: every event.
    events: Option<Vec<String>>,
    /// Event properties hidden from its readers (at most 5,000).
    hidden_properties: Option<Vec<String>>,
    /// Service accounts of the project confined to it (and to any other workspace
    /// listing them); `[]` frees them.
    members: Option<Vec<i64>>,
}

fn change_of(body: &Value, creating: bool) -> Result<WorkspaceChange, ApiError> {
    WorkspaceChange::from_json(body, creating)
        .map_err(|problems| ApiError::invalid_fields("invalid workspace", problems))
}

crate::resource::app_resource! {
    resource: Workspaces,
    view: WorkspaceView,
    body: WorkspaceBody,
    collection: "/api/app/projects/{project_id}/workspaces",
    item: "/api/app/projects/{project_id}/workspaces/{workspace_id}",
    id: ("workspace_id" = i64, "The workspace."),
    list: "List the project's workspaces (data views), newest first",
    create: "Make a workspace that shows only some events and hides some properties",
    get: "One workspace",
    update: "Rename a workspace, or change what it shows and who is confined to it",
    delete: "Delete a workspace (never the default one)",
}

/// Workspaces, in the App API's one resource pattern.
pub(crate) struct Workspaces;

impl Resource for Workspaces {
    type Stored = Workspace;
    type View = WorkspaceView;
    type Id = i64;
    const ID: &'static str = "workspace_id";
    const NOUN: &'static str = "workspace";
    const READ: Operation = Operation::ReadProject;

    fn parse_id(text: &str) -> Option<i64> {
        text.trim().parse().ok()
    }

    fn id_value(id: &i64) -> Value {
        serde_json::json!(id)
    }

    fn view(stored: &Workspace, creator: Option<CreatorView>) -> WorkspaceView {
        WorkspaceView::of(stored, creator)
    }

    fn audit(stored: &Workspace) -> &Audit {
        &stored.audit
    }

    async fn get(md: &Metadata, project: ProjectId, id: &i64) -> sextant_metadata::Result<Workspace> {
        md.workspace(project, *id).await
    }

    async fn create(state: &AppState, project: &Project, creator: &Actor, body: Value) -> Result<Workspace, ApiError> {
        let change = change_of(&body, true)?;
        Ok(state.metadata.create_workspace(project.id, &change, creator).await?)
    }

    async fn delete(state: &AppState, project: ProjectId, id: &i64) -> Result<(), ApiError> {
        Ok(state.metadata.delete_workspace(project, *id).await?)
    }
}

impl Paged for Workspaces {
    async fn page(md: Metadata, project: ProjectId, page: PageRequest) -> sextant_metadata::Result<Page<Workspace>> {
        md.page_workspaces(project, page).await
    }
}

impl Changeable for Workspaces {
    async fn update(state: &AppState, project: &Project, id: &i64, body: Value) -> Result<Workspace, ApiError> {
        let change = change_of(&body, false)?;
        Ok(state.metadata.update_workspace(project.id, *id, &change).await?)
    }
}
