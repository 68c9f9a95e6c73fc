//! Annotations and their tags (`/api/app/projects/{project_id}/annotations...`), in the
//! shapes of Mixpanel's annotations spec: an annotation is `id`, `date` (`YYYY-MM-DD
//! HH:MM:SS`), `description`, `user` (who made it) and `tags`; the list is every
//! annotation in a date range (`fromDate`, `toDate`), oldest first; tags are listed and
//! created as bare objects. Every role reads them; analysts and above change them.
//!
//! Get, create, update and delete are the App API's resource pattern
//! ([`crate::resource`]); the list and the tags have the spec's own shapes. The spec
//! allows no other keys on an annotation, so its audit fields are `user` (the creator)
//! alone; `expand=creator` adds `creator` when asked.

use axum::Json;
use axum::extract::{Path, Request, State};
use serde::Serialize;
use serde_json::Value;
use sextant_metadata::{AnnotationChanges, AnnotationInfo, AnnotationTag, Metadata};
use sextant_model::access::Operation;
use sextant_model::{Actor, ActorKind, Audit, Project, ProjectId};

use crate::admin::{admin_for, read_body};
use crate::audit::CreatorView;
use crate::error::ApiError;
use crate::resource::{Changeable, Resource};
use crate::state::AppState;
use sextant_api::envelope::Single;

/// An annotation as the spec shows it (`AnnotationsEntry`).
#[derive(Serialize, utoipa::ToSchema)]
pub struct AnnotationView {
    /// When, `YYYY-MM-DD HH:MM:SS` in the project's time zone.
    pub date: String,
    /// What happened.
    pub description: String,
    /// Its id.
    pub id: i64,
    /// Who made it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<UserView>,
    /// Its tags.
    pub tags: Vec<TagView>,
    /// With `expand=creator`: the credential that made it, as it is now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creator: Option<CreatorView>,
}

/// The maker of an annotation, as the spec's `UserInfo`: a service account's id and
/// username, or the name of the credential (an API token's name, `project secret`,
/// `sextant CLI`).
#[derive(Serialize, utoipa::ToSchema)]
pub struct UserView {
    /// A service account's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    /// The name.
    pub first_name: String,
    /// Empty: credentials have one name.
    pub last_name: String,
}

/// A tag on an annotation (`SimpleTag`).
#[derive(Serialize, utoipa::ToSchema)]
pub struct TagView {
    /// Its id.
    pub id: i64,
    /// Its name.
    pub name: String,
}

/// A project's tag (`AnnotationTag`).
#[derive(Serialize, utoipa::ToSchema)]
pub struct AnnotationTagView {
    /// Its id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Its project.
    pub project_id: i64,
    /// Whether an annotation carries it now.
    pub has_annotations: bool,
}

/// The list: `{"status": "ok", "results": [...]}`, unpaged, as the spec has it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AnnotationList {
    /// Always `ok`.
    pub status: String,
    /// The annotations in the range, oldest first.
    pub results: Vec<AnnotationView>,
}

impl AnnotationView {
    fn of(a: &AnnotationInfo, creator: Option<CreatorView>) -> AnnotationView {
        AnnotationView {
            date: a.date.clone(),
            description: a.description.clone(),
            id: a.id,
            user: a.audit.creator.as_ref().map(|c| UserView {
                id: c.id.filter(|_| c.kind == ActorKind::ServiceAccount),
                first_name: c.name.clone(),
                last_name: String::new(),
            }),
            tags: a.tags.iter().map(tag_view).collect(),
            creator,
        }
    }
}

fn tag_view(t: &AnnotationTag) -> TagView {
    TagView { id: t.id, name: t.name.clone() }
}

/// The body that makes or changes an annotation (`date` only when making one).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents the body `AnnotationBody::parse` reads
struct AnnotationRequest {
    /// `YYYY-MM-DD HH:MM:SS` (or `YYYY-MM-DD`), in the project's time zone.
    date: Option<String>,
    /// What happened (at most 1,000 characters).
    description: Option<String>,
    /// Ids of the project's tags.
    tags: Option<Vec<i64>>,
}

/// What a request body says, its fields checked.
struct AnnotationBody {
    date: Option<String>,
    description: Option<String>,
    tags: Option<Vec<i64>>,
}

impl AnnotationBody {
    fn parse(body: &Value) -> Result<AnnotationBody, ApiError> {
        let mut problems = Vec::new();
        let mut text = |key: &str| match body.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                problems.push((key.to_string(), "must be a string".to_string()));
                None
            }
        };
        let (date, description) = (text("date"), text("description"));
        let tags = match body.get("tags") {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => match items.iter().map(|t| t.as_i64()).collect::<Option<Vec<i64>>>() {
                Some(ids) => Some(ids),
                None => {
                    problems.push(("tags".into(), "must be a list of tag ids".into()));
                    None
                }
            },
            Some(_) => {
                problems.push(("tags".into(), "must be a list of tag ids".into()));
                None
            }
        };
        if !body.is_object() {
            problems.push(("body".into(), "must be a JSON object".into()));
        }
        if problems.is_empty() {
            Ok(AnnotationBody { date, description, tags })
        } else {
            Err(ApiError::invalid_fields("invalid annotation", problems))
        }
    }
}

/// Annotations, in the App API's resource pattern.
pub(crate) struct Annotations;

impl Resource for Annotations {
    type Stored = AnnotationInfo;
    type View = AnnotationView;
    type Id = i64;
    const ID: &'static str = "annotation_id";
    const NOUN: &'static str = "annotation";
    const READ: Operation = Operation::ReadAnnotations;
    const WRITE: Operation = Operation::WriteAnnotations;

    fn parse_id(text: &str) -> Option<i64> {
        text.parse().ok()
    }

    fn id_value(id: &i64) -> Value {
        Value::from(*id)
    }

    fn view(stored: &AnnotationInfo, creator: Option<CreatorView>) -> AnnotationView {
        AnnotationView::of(stored, creator)
    }

    fn audit(stored: &AnnotationInfo) -> &Audit {
        &stored.audit
    }

    async fn get(md: &Metadata, project: ProjectId, id: &i64) -> sextant_metadata::Result<AnnotationInfo> {
        md.annotation(project, *id).await
    }

    async fn create(
        state: &AppState,
        project: &Project,
        creator: &Actor,
        body: Value,
    ) -> Result<AnnotationInfo, ApiError> {
        let body = AnnotationBody::parse(&body)?;
        let mut missing = Vec::new();
        if body.date.is_none() {
            missing.push(("date".to_string(), "is required: \"YYYY-MM-DD HH:MM:SS\"".to_string()));
        }
        if body.description.is_none() {
            missing.push(("description".to_string(), "is required".to_string()));
        }
        let (Some(date), Some(description)) = (body.date, body.description) else {
            return Err(ApiError::invalid_fields("invalid annotation", missing));
        };
        let tags = body.tags.unwrap_or_default();
        Ok(state.metadata.create_annotation(project.id, &date, &description, &tags, creator).await?)
    }

    async fn delete(state: &AppState, project: ProjectId, id: &i64) -> Result<(), ApiError> {
        Ok(state.metadata.delete_annotation(project, *id).await?)
    }
}

impl Changeable for Annotations {
    async fn update(state: &AppState, project: &Project, id: &i64, body: Value) -> Result<AnnotationInfo, ApiError> {
        let body = AnnotationBody::parse(&body)?;
        let changes = AnnotationChanges { description: body.description, tags: body.tags };
        Ok(state.metadata.update_annotation(project.id, *id, changes).await?)
    }
}

/// `GET /api/app/projects/{project_id}/annotations`.
#[utoipa::path(
    get,
    path = "/api/app/projects/{project_id}/annotations",
    tag = "app",
    summary = "List annotations in a date range, oldest first",
    params(
        ("project_id" = i64, Path, description = "The project."),
        ("fromDate" = Option<String>, Query, description = "First day, yyyy-mm-dd (inclusive)."),
        ("toDate" = Option<String>, Query, description = "Last day, yyyy-mm-dd (inclusive).")
    ),
    responses((status = 200, description = "The annotations (at most 10,000: a wider range is refused)", body = AnnotationList)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    Path(project_id): Path<String>,
    request: Request,
) -> Result<Json<AnnotationList>, ApiError> {
    let (parts, _) = request.into_parts();
    let (credential, params) = admin_for(&state, &project_id, &parts, Operation::ReadAnnotations).await?;
    let found =
        state.metadata.list_annotations(credential.project.id, params.get("fromDate"), params.get("toDate")).await?;
    let results = found.iter().map(|a| AnnotationView::of(a, None)).collect();
    Ok(Json(AnnotationList { status: "ok".into(), results }))
}

/// `POST /api/app/projects/{project_id}/annotations`.
#[utoipa::path(
    post,
    path = "/api/app/projects/{project_id}/annotations",
    tag = "app",
    summary = "Make an annotation",
    params(("project_id" = i64, Path, description = "The project.")),
    request_body(content = AnnotationRequest, content_type = "application/json"),
    responses((status = 201, description = "Made", body = Single<AnnotationView>)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    Path(project_id): Path<String>,
    request: Request,
) -> Result<(axum::http::StatusCode, Json<Single<AnnotationView>>), ApiError> {
    crate::resource::create::<Annotations>(&state, &project_id, request).await
}

/// `GET /api/app/projects/{project_id}/annotations/{annotation_id}`.
#[utoipa::path(
    get,
    path = "/api/app/projects/{project_id}/annotations/{annotation_id}",
    tag = "app",
    summary = "One annotation",
    params(
        ("project_id" = i64, Path, description = "The project."),
        ("annotation_id" = i64, Path, description = "The annotation."),
        crate::audit::ExpandParams
    ),
    responses((status = 200, description = "The annotation", body = Single<AnnotationView>)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    Path((project_id, id)): Path<(String, String)>,
    request: Request,
) -> Result<Json<Single<AnnotationView>>, ApiError> {
    crate::resource::get::<Annotations>(&state, &project_id, &id, request).await
}

/// `PATCH /api/app/projects/{project_id}/annotations/{annotation_id}`.
#[utoipa::path(
    patch,
    path = "/api/app/projects/{project_id}/annotations/{annotation_id}",
    tag = "app",
    summary = "Change an annotation's description or tags",
    params(
        ("project_id" = i64, Path, description = "The project."),
        ("annotation_id" = i64, Path, description = "The annotation.")
    ),
    request_body(content = AnnotationRequest, content_type = "application/json"),
    responses((status = 200, description = "Changed", body = Single<AnnotationView>)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn update(
    State(state): State<AppState>,
    Path((project_id, id)): Path<(String, String)>,
    request: Request,
) -> Result<Json<Single<AnnotationView>>, ApiError> {
    crate::resource::update::<Annotations>(&state, &project_id, &id, request).await
}

/// `DELETE /api/app/projects/{project_id}/annotations/{annotation_id}`.
#[utoipa::path(
    delete,
    path = "/api/app/projects/{project_id}/annotations/{annotation_id}",
    tag = "app",
    summary = "Delete an annotation",
    params(
        ("project_id" = i64, Path, description = "The project."),
        ("annotation_id" = i64, Path, description = "The annotation.")
    ),
    responses((status = 200, description = "Deleted", body = crate::resource::Deleted)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    Path((project_id, id)): Path<(String, String)>,
    request: Request,
) -> Result<Json<crate::resource::Deleted>, ApiError> {
    crate::resource::delete::<Annotations>(&state, &project_id, &id, request).await
}

/// `GET /api/app/projects/{project_id}/annotations/tags`.
#[utoipa::path(
    get,
    path = "/api/app/projects/{project_id}/annotations/tags",
    tag = "app",
    summary = "The project's annotation tags, by name",
    params(("project_id" = i64, Path, description = "The project.")),
    responses((status = 200, description = "A bare array of tags, as the spec has it", body = Vec<AnnotationTagView>)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn tags(
    State(state): State<AppState>,
    Path(project_id): Path<String>,
    request: Request,
) -> Result<Json<Vec<AnnotationTagView>>, ApiError> {
    let (parts, _) = request.into_parts();
    let (credential, _) = admin_for(&state, &project_id, &parts, Operation::ReadAnnotations).await?;
    let project = credential.project.id;
    let all = state.metadata.annotation_tags(project).await?;
    Ok(Json(all.into_iter().map(|(t, used)| tag_of_project(t, project, used)).collect()))
}

/// The body that makes a tag.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents the body `create_tag` reads
struct TagRequest {
    /// Its name (a name already used names that tag).
    name: String,
}

/// `POST /api/app/projects/{project_id}/annotations/tags`.
#[utoipa::path(
    post,
    path = "/api/app/projects/{project_id}/annotations/tags",
    tag = "app",
    summary = "Make an annotation tag (a name already used answers that tag)",
    params(("project_id" = i64, Path, description = "The project.")),
    request_body(content = TagRequest, content_type = "application/json"),
    responses((status = 200, description = "The tag", body = AnnotationTagView)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn create_tag(
    State(state): State<AppState>,
    Path(project_id): Path<String>,
    request: Request,
) -> Result<Json<AnnotationTagView>, ApiError> {
    let (parts, body) = request.into_parts();
    let (credential, _) = admin_for(&state, &project_id, &parts, Operation::WriteAnnotations).await?;
    let body = read_body(&parts.headers, body).await?;
    let name = body.get("name").and_then(Value::as_str).ok_or_else(|| {
        ApiError::invalid_fields("invalid tag", vec![("name".into(), "is required: a string".into())])
    })?;
    let project = credential.project.id;
    let tag = state.metadata.create_annotation_tag(project, name).await?;
    let used = state.metadata.annotation_tags(project).await?.into_iter().any(|(t, used)| t.id == tag.id && used);
    Ok(Json(tag_of_project(tag, project, used)))
}

fn tag_of_project(tag: AnnotationTag, project: ProjectId, used: bool) -> AnnotationTagView {
    AnnotationTagView { id: tag.id, name: tag.name, project_id: project.0, has_annotations: used }
}
