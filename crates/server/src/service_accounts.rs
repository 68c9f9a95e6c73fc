//! Service accounts, in the shapes of Mixpanel's service-accounts spec:
//!
//! - `GET /api/app/projects/{project_id}/service-accounts`: the project's, paged, with
//!   each one's role there (project owners and admins, the secret, `app` tokens);
//! - `GET|POST /api/app/organizations/{organization_id}/service-accounts`: the
//!   organisation's, and making one (with a role in the organisation and roles in some
//!   of its projects; its secret is shown once);
//! - `GET|DELETE .../service-accounts/{service_account_id}`: one, and deleting it from
//!   every project at once;
//! - `POST .../service-accounts/add-to-project` and `.../remove-from-project`.
//!
//! The organisation's calls take a service account of the organisation, with HTTP
//! Basic and no `project_id`, whose organisation role is owner or admin (the bootstrap
//! account owns its organisation); they count against the App API's limit of a budget
//! of the organisation's own. No caller gives a role above its own organisation role
//! (in the organisation or in a project), and only owners delete an owner or take a
//! project's owner out of it. A request names at most [`MAX_LISTED`] projects and as
//! many accounts.

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::Value;
use sextant_metadata::ServiceAccountInfo;
use sextant_model::access::Operation;
use sextant_model::{ActorKind, ProjectId, Role, ServiceAccountId};

use crate::admin::{Caller, admin_page_for, org_admin, read_body, to_value};
use crate::audit::iso;
use crate::collection::PageParams;
use crate::error::ApiError;
use crate::state::AppState;
use sextant_api::envelope::{CollectionPage, Single};

/// `GET /api/app/projects/{project_id}/service-accounts`.
#[utoipa::path(
    get,
    path = "/api/app/projects/{project_id}/service-accounts",
    tag = "app",
    summary = "List the project's service accounts, newest first",
    params(
        ("project_id" = i64, Path, description = "The project."),
        PageParams
    ),
    responses((status = 200, description = "A page of service accounts", body = CollectionPage<ServiceAccountView>)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn list_service_accounts(
    State(state): State<AppState>,
    Path(project_id): Path<String>,
    request: Request,
) -> Result<Json<Value>, ApiError> {
    let fetch = |md: sextant_metadata::Metadata, p, page| async move { md.page_service_accounts(p, page).await };
    let view = |(account, role): &(ServiceAccountInfo, Role)| to_value(ServiceAccountView::of(account, *role));
    admin_page_for(&state, &project_id, request, Operation::ListServiceAccounts, fetch, view).await
}

/// A service account as listed (any field may be left out by `fields`).
#[derive(Serialize, utoipa::ToSchema)]
pub struct ServiceAccountView {
    /// Its id.
    #[schema(required = false)]
    pub id: i64,
    /// The user name it authenticates with.
    #[schema(required = false)]
    pub username: String,
    /// Its label.
    #[schema(required = false)]
    pub name: String,
    /// Its role in this project.
    #[schema(required = false, value_type = String)]
    pub role: &'static str,
    /// When it was created (RFC 3339).
    #[schema(required = false)]
    pub created: Option<String>,
    /// When it last authenticated (RFC 3339, to the minute); absent if never.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub last_used: Option<String>,
    /// When it stops authenticating (RFC 3339); absent if never.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub expires: Option<String>,
    /// The id of the service account that made it (Mixpanel: the user); absent when
    /// another credential, or one Sextant did not record, did.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub creator: Option<i64>,
    /// How it is a member of the project: always `individual`.
    #[schema(required = false, value_type = String)]
    pub target_type: &'static str,
}

impl ServiceAccountView {
    fn of(a: &ServiceAccountInfo, role: Role) -> ServiceAccountView {
        ServiceAccountView {
            id: a.id.0,
            username: a.username.clone(),
            name: a.name.clone(),
            role: role.as_str(),
            created: iso(a.created_at_ms),
            last_used: a.last_used_ms.and_then(iso),
            expires: a.expires_at_ms.and_then(iso),
            creator: made_by(a),
            target_type: "individual",
        }
    }
}

/// A service account of the organisation (`ServiceAccountRead`).
#[derive(Serialize, utoipa::ToSchema)]
pub struct OrgServiceAccountView {
    /// Its id.
    pub id: i64,
    /// The user name it authenticates with.
    pub username: String,
    /// Its label.
    pub name: String,
    /// When it was created (RFC 3339).
    pub created: Option<String>,
    /// When it last authenticated (RFC 3339, to the minute); absent if never.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used: Option<String>,
    /// When it stops authenticating (RFC 3339); absent if never.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// The id of the service account that made it, when one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creator: Option<i64>,
    /// Its secret: only in the answer that made it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl OrgServiceAccountView {
    /// The view of a stored account (without its secret).
    pub fn of(a: &ServiceAccountInfo) -> OrgServiceAccountView {
        OrgServiceAccountView {
            id: a.id.0,
            username: a.username.clone(),
            name: a.name.clone(),
            created: iso(a.created_at_ms),
            last_used: a.last_used_ms.and_then(iso),
            expires: a.expires_at_ms.and_then(iso),
            creator: made_by(a),
            token: None,
        }
    }
}

/// The id of the service account that made `a`, if one did.
fn made_by(a: &ServiceAccountInfo) -> Option<i64> {
    a.creator.as_ref().filter(|c| c.kind == ActorKind::ServiceAccount).and_then(|c| c.id)
}

/// `{"status": "ok", "results": [...]}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct OrgServiceAccountList {
    /// Always `ok`.
    pub status: String,
    /// The organisation's service accounts, oldest first.
    pub results: Vec<OrgServiceAccountView>,
}

/// `{"status": "ok"}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Done {
    /// Always `ok`.
    pub status: String,
}

impl Done {
    fn ok() -> Json<Done> {
        Json(Done { status: "ok".into() })
    }
}

/// The most projects, and the most accounts, one request names.
pub const MAX_LISTED: usize = 100;

impl Caller {
    /// Refuses `role` when it is above the caller's own.
    fn may_give(&self, role: Role) -> Result<(), ApiError> {
        if self.role.covers(role) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "an organization {} may not give the role {role}: no role above its own",
                self.role
            )))
        }
    }

    /// Refuses a change to an owner by a caller that is no owner.
    fn may_touch(&self, role: Role) -> Result<(), ApiError> {
        if role != Role::Owner || self.role == Role::Owner {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "only an owner of the organization may delete an owner or take one out of a project",
            ))
        }
    }
}

fn account_id(text: &str) -> Result<ServiceAccountId, ApiError> {
    text.trim().parse::<i64>().map(ServiceAccountId).map_err(|_| {
        ApiError::invalid_fields(
            "invalid service account id",
            vec![("service_account_id".into(), "must be an integer".into())],
        )
    })
}

/// `GET /api/app/organizations/{organization_id}/service-accounts`.
#[utoipa::path(
    get,
    path = "/api/app/organizations/{organization_id}/service-accounts",
    tag = "app",
    summary = "List the organization's service accounts",
    params(("organization_id" = i64, Path, description = "The organization.")),
    responses((status = 200, description = "Its service accounts, oldest first", body = OrgServiceAccountList)),
    security(("basic" = []))
)]
pub async fn list_org(
    State(state): State<AppState>,
    Path(organization_id): Path<String>,
    request: Request,
) -> Result<Json<OrgServiceAccountList>, ApiError> {
    let (parts, _) = request.into_parts();
    let caller = org_admin(&state, &organization_id, &parts).await?;
    let all = state.metadata.org_service_accounts(caller.org).await?;
    Ok(Json(OrgServiceAccountList {
        status: "ok".into(),
        results: all.iter().map(OrgServiceAccountView::of).collect(),
    }))
}

/// A role in a request body.
fn role_of(value: Option<&Value>, field: &str, problems: &mut Vec<(String, String)>) -> Option<Role> {
    match value.and_then(Value::as_str).map(str::parse::<Role>) {
        Some(Ok(role)) => Some(role),
        _ => {
            problems.push((field.into(), "must be one of owner, admin, analyst, consumer".into()));
            None
        }
    }
}

/// `projects: [{"id", "role"}]`.
fn project_roles(value: Option<&Value>, problems: &mut Vec<(String, String)>) -> Vec<(ProjectId, Role)> {
    let mut out = Vec::new();
    let Some(items) = value.and_then(Value::as_array).filter(|items| items.len() <= MAX_LISTED) else {
        problems.push(("projects".into(), format!("must be a list of at most {MAX_LISTED} {{\"id\", \"role\"}}")));
        return out;
    };
    for (i, item) in items.iter().enumerate() {
        let id = item.get("id").and_then(Value::as_i64);
        let role = role_of(item.get("role"), &format!("projects[{i}].role"), problems);
        match (id, role) {
            (Some(id), Some(role)) if !out.iter().any(|(p, _)| *p == ProjectId(id)) => out.push((ProjectId(id), role)),
            (Some(_), Some(_)) => problems.push((format!("projects[{i}].id"), "names a project twice".into())),
            (None, _) => problems.push((format!("projects[{i}].id"), "must be a project id".into())),
            _ => {}
        }
    }
    out
}

/// A list of service account ids.
fn account_ids(value: Option<&Value>, field: &str, problems: &mut Vec<(String, String)>) -> Vec<ServiceAccountId> {
    let items = value.and_then(Value::as_array).filter(|items| items.len() <= MAX_LISTED);
    match items.map(|a| a.iter().map(Value::as_i64).collect::<Option<Vec<_>>>()) {
        Some(Some(mut ids)) => {
            ids.sort_unstable();
            ids.dedup();
            ids.into_iter().map(ServiceAccountId).collect()
        }
        _ => {
            problems.push((field.into(), format!("must be a list of at most {MAX_LISTED} service account ids")));
            Vec::new()
        }
    }
}

fn refuse_if(problems: Vec<(String, String)>, context: &str) -> Result<(), ApiError> {
    if problems.is_empty() { Ok(()) } else { Err(ApiError::invalid_fields(context, problems)) }
}

/// The body that makes a service account (`ServiceAccountWrite`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents the body `create_org` reads
struct OrgServiceAccountRequest {
    /// A descriptive name; the user name is made from it.
    username: String,
    /// Its role in the organisation (default consumer).
    role: Option<String>,
    /// When it stops authenticating (RFC 3339).
    expires: Option<String>,
    /// Projects to give it a role in: `[{"id", "role"}]`.
    #[schema(value_type = Option<Vec<Object>>)]
    projects: Option<Vec<Value>>,
}

/// `POST /api/app/organizations/{organization_id}/service-accounts`.
#[utoipa::path(
    post,
    path = "/api/app/organizations/{organization_id}/service-accounts",
    tag = "app",
    summary = "Make a service account of the organization (its secret, `token`, is shown only now)",
    params(("organization_id" = i64, Path, description = "The organization.")),
    request_body(content = OrgServiceAccountRequest, content_type = "application/json"),
    responses((status = 201, description = "Made", body = Single<OrgServiceAccountView>)),
    security(("basic" = []))
)]
pub async fn create_org(
    State(state): State<AppState>,
    Path(organization_id): Path<String>,
    request: Request,
) -> Result<(StatusCode, Json<Single<OrgServiceAccountView>>), ApiError> {
    let (parts, body) = request.into_parts();
    let caller = org_admin(&state, &organization_id, &parts).await?;
    let body = read_body(&parts.headers, body).await?;
    let mut problems = Vec::new();
    let name = match body.get("username").and_then(Value::as_str) {
        Some(name) => name.to_string(),
        None => {
            problems.push(("username".into(), "is required: a descriptive name".into()));
            String::new()
        }
    };
    let role = match body.get("role") {
        None | Some(Value::Null) => Some(Role::Consumer),
        given => role_of(given, "role", &mut problems),
    };
    let expires = match body.get("expires") {
        None | Some(Value::Null) => None,
        Some(value) => match value.as_str().map(chrono::DateTime::parse_from_rfc3339) {
            Some(Ok(at)) => Some(at.timestamp_millis()),
            _ => {
                problems.push(("expires".into(), "must be an RFC 3339 date-time".into()));
                None
            }
        },
    };
    let projects = match body.get("projects") {
        None | Some(Value::Null) => Vec::new(),
        given => project_roles(given, &mut problems),
    };
    refuse_if(problems, "invalid service account")?;
    let role = role.unwrap_or(Role::Consumer);
    caller.may_give(role)?;
    projects.iter().try_for_each(|(_, r)| caller.may_give(*r))?;
    let (made, secret) =
        state.metadata.create_org_service_account(caller.org, &name, role, expires, &projects, &caller.actor).await?;
    let view = OrgServiceAccountView { token: Some(secret), ..OrgServiceAccountView::of(&made) };
    Ok((StatusCode::CREATED, Json(Single::ok(view))))
}

/// `GET /api/app/organizations/{organization_id}/service-accounts/{service_account_id}`.
#[utoipa::path(
    get,
    path = "/api/app/organizations/{organization_id}/service-accounts/{service_account_id}",
    tag = "app",
    summary = "One service account of the organization",
    params(
        ("organization_id" = i64, Path, description = "The organization."),
        ("service_account_id" = i64, Path, description = "The service account.")
    ),
    responses((status = 200, description = "The service account", body = Single<OrgServiceAccountView>)),
    security(("basic" = []))
)]
pub async fn get_org(
    State(state): State<AppState>,
    Path((organization_id, id)): Path<(String, String)>,
    request: Request,
) -> Result<Json<Single<OrgServiceAccountView>>, ApiError> {
    let (parts, _) = request.into_parts();
    let caller = org_admin(&state, &organization_id, &parts).await?;
    let account = state.metadata.org_service_account(caller.org, account_id(&id)?).await?;
    Ok(Json(Single::ok(OrgServiceAccountView::of(&account))))
}

/// `DELETE /api/app/organizations/{organization_id}/service-accounts/{service_account_id}`.
#[utoipa::path(
    delete,
    path = "/api/app/organizations/{organization_id}/service-accounts/{service_account_id}",
    tag = "app",
    summary = "Delete a service account from every project and the organization",
    params(
        ("organization_id" = i64, Path, description = "The organization."),
        ("service_account_id" = i64, Path, description = "The service account.")
    ),
    responses((status = 200, description = "Deleted", body = Done)),
    security(("basic" = []))
)]
pub async fn delete_org(
    State(state): State<AppState>,
    Path((organization_id, id)): Path<(String, String)>,
    request: Request,
) -> Result<Json<Done>, ApiError> {
    let (parts, _) = request.into_parts();
    let caller = org_admin(&state, &organization_id, &parts).await?;
    let id = account_id(&id)?;
    // An account deleting itself could leave the organisation with no one to manage it;
    // and since only owners delete owners, the last owner always stays.
    if caller.actor.id == Some(id.0) {
        return Err(ApiError::invalid("a service account cannot delete itself; use another owner or admin"));
    }
    if let Some(role) = state.metadata.org_role(caller.org, id).await? {
        caller.may_touch(role)?;
    }
    state.metadata.delete_org_service_account(caller.org, id).await?;
    Ok(Done::ok())
}

/// The body of `add-to-project`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents the body `add_to_project` reads
struct AddToProjectRequest {
    /// `[{"id", "role"}]`.
    #[schema(value_type = Vec<Object>)]
    projects: Vec<Value>,
    /// The accounts to give those roles.
    service_account_ids: Vec<i64>,
}

/// `POST /api/app/organizations/{organization_id}/service-accounts/add-to-project`.
#[utoipa::path(
    post,
    path = "/api/app/organizations/{organization_id}/service-accounts/add-to-project",
    tag = "app",
    summary = "Give service accounts a role in projects of the organization",
    params(("organization_id" = i64, Path, description = "The organization.")),
    request_body(content = AddToProjectRequest, content_type = "application/json"),
    responses((status = 200, description = "Added (a role an account had there is replaced)", body = Done)),
    security(("basic" = []))
)]
pub async fn add_to_project(
    State(state): State<AppState>,
    Path(organization_id): Path<String>,
    request: Request,
) -> Result<Json<Done>, ApiError> {
    let (parts, body) = request.into_parts();
    let caller = org_admin(&state, &organization_id, &parts).await?;
    let body = read_body(&parts.headers, body).await?;
    let mut problems = Vec::new();
    let projects = project_roles(body.get("projects"), &mut problems);
    let accounts = account_ids(body.get("service_account_ids"), "service_account_ids", &mut problems);
    refuse_if(problems, "invalid request")?;
    projects.iter().try_for_each(|(_, r)| caller.may_give(*r))?;
    // Replacing an owner's role in a project is taking that owner out of it.
    let ids: Vec<ProjectId> = projects.iter().map(|(p, _)| *p).collect();
    for (_, _, held) in state.metadata.project_roles_of(&accounts, &ids).await? {
        caller.may_touch(held)?;
    }
    state.metadata.add_to_projects(caller.org, &accounts, &projects).await?;
    Ok(Done::ok())
}

/// The body of `remove-from-project`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents the body `remove_from_project` reads
struct RemoveFromProjectRequest {
    /// `[{"id", "service_account_ids"}]`.
    #[schema(value_type = Vec<Object>)]
    projects: Vec<Value>,
}

/// `POST /api/app/organizations/{organization_id}/service-accounts/remove-from-project`.
#[utoipa::path(
    post,
    path = "/api/app/organizations/{organization_id}/service-accounts/remove-from-project",
    tag = "app",
    summary = "Take service accounts out of projects of the organization",
    params(("organization_id" = i64, Path, description = "The organization.")),
    request_body(content = RemoveFromProjectRequest, content_type = "application/json"),
    responses((status = 200, description = "Removed", body = Done)),
    security(("basic" = []))
)]
pub async fn remove_from_project(
    State(state): State<AppState>,
    Path(organization_id): Path<String>,
    request: Request,
) -> Result<Json<Done>, ApiError> {
    let (parts, body) = request.into_parts();
    let caller = org_admin(&state, &organization_id, &parts).await?;
    let body = read_body(&parts.headers, body).await?;
    let mut problems = Vec::new();
    let mut removals = Vec::new();
    match body.get("projects").and_then(Value::as_array).filter(|items| items.len() <= MAX_LISTED) {
        Some(items) => {
            for (i, item) in items.iter().enumerate() {
                let accounts = account_ids(
                    item.get("service_account_ids"),
                    &format!("projects[{i}].service_account_ids"),
                    &mut problems,
                );
                match item.get("id").and_then(Value::as_i64) {
                    Some(id) => removals.push((ProjectId(id), accounts)),
                    None => problems.push((format!("projects[{i}].id"), "must be a project id".into())),
                }
            }
        }
        None => problems.push((
            "projects".into(),
            format!("must be a list of at most {MAX_LISTED} {{\"id\", \"service_account_ids\"}}"),
        )),
    }
    refuse_if(problems, "invalid request")?;
    for (project, accounts) in &removals {
        for (_, _, held) in state.metadata.project_roles_of(accounts, &[*project]).await? {
            caller.may_touch(held)?;
        }
    }
    state.metadata.remove_from_projects(caller.org, &removals).await?;
    Ok(Done::ok())
}
