//! Cohorts: `POST /api/query/cohorts/list` (Mixpanel's shape, with live counts) and the
//! App API that saves them (`/api/app/projects/{project_id}/cohorts`). A definition
//! becomes a profile query in `sextant_query::cohorts`, which checks it before it is
//! saved too.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use serde_json::Value;
use sextant_metadata::{CohortChanges, CohortInfo, Metadata};
use sextant_model::{Actor, Audit, CohortDefinition, CohortId, Page, PageRequest, Project, ProjectId};
use sextant_query::cohorts;

use crate::audit::{AuditView, CreatorView};
use crate::error::ApiError;
use crate::extract::Reader;
use crate::reports::expression_options;
use crate::resource::{Changeable, Paged, Resource};
use crate::state::AppState;
use sextant_api::envelope::{CollectionPage, Single};

/// How many user profiles a cohort holds now.
pub async fn count(state: &AppState, project: &Project, cohort: &CohortInfo) -> Result<u64, ApiError> {
    crate::reports::cohort_members(state, project, &cohort.definition, None).await
}

/// A cohort in Mixpanel's `cohorts/list` shape.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ListedCohort {
    /// Members now.
    pub count: u64,
    /// 1 when visible.
    pub is_visible: u8,
    /// What it is for.
    pub description: String,
    /// `YYYY-MM-DD HH:MM:SS`, UTC.
    pub created: String,
    /// Its project.
    pub project_id: i64,
    /// Its id.
    pub id: i64,
    /// Its name.
    pub name: String,
}

/// `POST /api/query/cohorts/list`.
#[utoipa::path(
    method(get, post),
    path = "/api/query/cohorts/list",
    tag = "query",
    summary = "List saved cohorts with their member counts",
    params(("project_id" = Option<i64>, Query, description = "The project, with service-account credentials.")),
    responses((status = 200, description = "Every cohort, oldest first", body = Vec<ListedCohort>)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn list(State(state): State<AppState>, reader: Reader) -> Result<Json<Vec<ListedCohort>>, ApiError> {
    list_answer(&state, reader).await.map(Json)
}

/// `GET|POST /api/2.0/cohorts/list`: the same list at its legacy path.
#[utoipa::path(
    method(get, post),
    path = "/api/2.0/cohorts/list",
    tag = "query",
    summary = "List saved cohorts (legacy path)",
    params(("project_id" = Option<i64>, Query, description = "The project, with service-account credentials.")),
    responses((status = 200, description = "Every cohort, oldest first", body = Vec<ListedCohort>)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn legacy_list(state: State<AppState>, reader: Reader) -> Result<Json<Vec<ListedCohort>>, ApiError> {
    list(state, reader).await
}

async fn list_answer(state: &AppState, reader: Reader) -> Result<Vec<ListedCohort>, ApiError> {
    let Reader { credential, view, .. } = reader;
    let mut out = Vec::new();
    // Through a workspace, the cohorts it can count: every behaviour's events shown.
    let all = state.metadata.all_cohorts(credential.project.id).await?;
    for c in all.into_iter().filter(|c| sextant_query::workspace::shows_cohort(&view, &c.definition)) {
        out.push(ListedCohort {
            count: count(state, &credential.project, &c).await?,
            is_visible: u8::from(c.is_visible),
            description: c.description.clone(),
            created: chrono::DateTime::from_timestamp_millis(c.audit.created_at_ms)
                .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_default(),
            project_id: c.project_id.0,
            id: c.id.0,
            name: c.name,
        });
    }
    Ok(out)
}

/// A saved cohort, as the App API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CohortView {
    /// Its id.
    #[schema(required = false)]
    pub id: i64,
    /// Its name.
    #[schema(required = false)]
    pub name: String,
    /// What it is for.
    #[schema(required = false)]
    pub description: String,
    /// Who is in it: `where` and `behaviors`.
    #[schema(required = false, value_type = Object)]
    pub definition: Value,
    /// Whether it is listed as visible.
    #[schema(required = false)]
    pub is_visible: bool,
    /// When it was made and changed, and who made it.
    #[serde(flatten)]
    pub audit: AuditView,
}

impl CohortView {
    /// The view of a stored cohort.
    pub fn of(c: &CohortInfo, creator: Option<CreatorView>) -> CohortView {
        CohortView {
            id: c.id.0,
            name: c.name.clone(),
            description: c.description.clone(),
            definition: serde_json::to_value(&c.definition).unwrap_or(Value::Null),
            is_visible: c.is_visible,
            audit: AuditView::of(&c.audit, creator),
        }
    }
}

/// The body that creates or changes a cohort.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents the body `CohortBody::parse` reads
struct CohortRequest {
    /// Its name (required to create).
    name: Option<String>,
    /// What it is for.
    description: Option<String>,
    /// A `where` over profile properties and `behaviors[...]`.
    #[schema(rename = "where")]
    where_: Option<String>,
    /// Named event counts, as engage's `behaviors` takes them.
    #[schema(value_type = Option<Vec<Object>>)]
    behaviors: Option<Vec<Value>>,
    /// Whether it is listed as visible.
    is_visible: Option<bool>,
}

/// A create or update body, read. The definition's `where` and `behaviors` each
/// replace the stored one only when given.
struct CohortBody {
    name: Option<String>,
    description: Option<String>,
    where_: Option<Option<String>>,
    behaviors: Option<Vec<sextant_model::Behavior>>,
    is_visible: Option<bool>,
}

impl CohortBody {
    fn parse(body: &Value) -> Result<CohortBody, ApiError> {
        let Some(obj) = body.as_object() else {
            return Err(ApiError::invalid("the body must be a JSON object"));
        };
        let text = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_string);
        let where_ = match obj.get("where") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(Value::String(w)) => Some(Some(w.clone())),
            Some(_) => {
                return Err(ApiError::invalid_fields(
                    "invalid cohort",
                    vec![("where".into(), "must be a string".into())],
                ));
            }
        };
        let behaviors = match obj.get("behaviors") {
            None | Some(Value::Null) => None,
            Some(v) => Some(serde_json::from_value(v.clone()).map_err(|e| {
                ApiError::invalid_fields(
                    "invalid cohort",
                    vec![("behaviors".into(), format!("must be a list of {{window, name, event_selectors}}: {e}"))],
                )
            })?),
        };
        Ok(CohortBody {
            name: text("name"),
            description: text("description"),
            where_,
            behaviors,
            is_visible: obj.get("is_visible").and_then(Value::as_bool),
        })
    }

    /// `base` with what this body gives, or `None` when it gives neither part.
    fn definition(&self, base: &CohortDefinition) -> Option<CohortDefinition> {
        if self.where_.is_none() && self.behaviors.is_none() {
            return None;
        }
        Some(CohortDefinition {
            where_: self.where_.clone().unwrap_or_else(|| base.where_.clone()),
            behaviors: self.behaviors.clone().unwrap_or_else(|| base.behaviors.clone()),
        })
    }
}

crate::resource::app_resource! {
    resource: Cohorts,
    view: CohortView,
    body: CohortRequest,
    collection: "/api/app/projects/{project_id}/cohorts",
    item: "/api/app/projects/{project_id}/cohorts/{cohort_id}",
    id: ("cohort_id" = i64, "The cohort."),
    list: "List saved cohorts, newest first",
    create: "Save a cohort",
    get: "One saved cohort",
    update: "Change a saved cohort",
    delete: "Delete a saved cohort",
}

/// Saved cohorts, in the App API's one resource pattern.
pub(crate) struct Cohorts;

impl Resource for Cohorts {
    type Stored = CohortInfo;
    type View = CohortView;
    type Id = CohortId;
    const ID: &'static str = "cohort_id";
    const NOUN: &'static str = "cohort";

    fn parse_id(text: &str) -> Option<CohortId> {
        text.parse().ok().map(CohortId)
    }

    fn id_value(id: &CohortId) -> Value {
        serde_json::json!(id.0)
    }

    fn view(stored: &CohortInfo, creator: Option<CreatorView>) -> CohortView {
        CohortView::of(stored, creator)
    }

    fn audit(stored: &CohortInfo) -> &Audit {
        &stored.audit
    }

    async fn get(md: &Metadata, project: ProjectId, id: &CohortId) -> sextant_metadata::Result<CohortInfo> {
        md.cohort(project, *id).await
    }

    async fn create(state: &AppState, project: &Project, creator: &Actor, body: Value) -> Result<CohortInfo, ApiError> {
        let body = CohortBody::parse(&body)?;
        let name =
            body.name.clone().filter(|n| !n.trim().is_empty()).ok_or_else(|| {
                ApiError::invalid_fields("invalid cohort", vec![("name".into(), "is required".into())])
            })?;
        let definition = body.definition(&CohortDefinition::default()).unwrap_or_default();
        cohorts::compile(&definition, &expression_options(project), 0)?;
        let description = body.description.as_deref().unwrap_or("");
        let c = state.metadata.create_cohort(project.id, &name, description, &definition, creator).await?;
        Ok(match body.is_visible {
            Some(false) => {
                let changes = CohortChanges { is_visible: Some(false), ..Default::default() };
                state.metadata.update_cohort(project.id, c.id, changes).await?
            }
            _ => c,
        })
    }

    async fn delete(state: &AppState, project: ProjectId, id: &CohortId) -> Result<(), ApiError> {
        Ok(state.metadata.delete_cohort(project, *id).await?)
    }
}

impl Paged for Cohorts {
    async fn page(md: Metadata, project: ProjectId, page: PageRequest) -> sextant_metadata::Result<Page<CohortInfo>> {
        md.list_cohorts(project, page).await
    }
}

impl Changeable for Cohorts {
    async fn update(state: &AppState, project: &Project, id: &CohortId, body: Value) -> Result<CohortInfo, ApiError> {
        let body = CohortBody::parse(&body)?;
        let stored = state.metadata.cohort(project.id, *id).await?;
        let definition = body.definition(&stored.definition);
        if let Some(def) = &definition {
            cohorts::compile(def, &expression_options(project), 0)?;
        }
        let changes =
            CohortChanges { name: body.name, description: body.description, definition, is_visible: body.is_visible };
        Ok(state.metadata.update_cohort(project.id, *id, changes).await?)
    }
}
