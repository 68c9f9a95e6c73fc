//! What every App API handler shares (`/api/app/projects/{project_id}/...`: tokens,
//! service accounts, and through [`crate::resource`] the saved objects): authenticating
//! a credential for an [`Operation`] in the project in the path and counting the request
//! ([`admin_for`]), or an owner or admin of the organisation in the path
//! (`/api/app/organizations/{organization_id}/...`: [`org_admin`]), reading a JSON or form body ([`read_body`]), answering a page of a
//! collection ([`admin_page_for`]), and how views show values ([`to_value`]; times:
//! [`crate::audit::iso`]).
//!
//! Handlers of one saved object do not call another's; what they have in common is here.

use axum::Json;
use axum::body::Body;
use axum::extract::Request;
use axum::http::HeaderMap;
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use serde::Serialize;
use serde_json::{Value, json};
use sextant_ingest::Params;
use sextant_metadata::OrgAuth;
use sextant_model::access::{self, Operation};
use sextant_model::{Actor, ActorKind, ApiFamily, OrgId, ProjectId, Role};

use crate::audit::iso;
use crate::auth::{self, Credential};
use crate::collection::CollectionQuery;
use crate::error::ApiError;
use crate::limits::LimitSlot;
use crate::state::AppState;

/// Largest App API request body.
pub(crate) const MAX_BODY_BYTES: usize = ApiFamily::App.max_request_bytes();

/// Authenticates a credential that may perform `op` (an App API operation) in the
/// project in the path, as the matrix says, and counts the request against the
/// operation's family.
pub(crate) async fn admin_for(
    state: &AppState,
    project_id: &str,
    request: &Parts,
    op: Operation,
) -> Result<(Credential, Params), ApiError> {
    let project_id = auth::parse_project_id(Some(project_id))?
        .ok_or_else(|| ApiError::invalid("the path must name a project id"))?;
    let params = Params::parse(request.uri.query().unwrap_or("").as_bytes());
    let auth_request = auth::AuthRequest {
        headers: &request.headers,
        params: &params,
        project_id: Some(project_id),
        family: op.family(),
        allow_project_token: false,
    };
    let credential = auth::authenticate(state, auth_request).await?.ok_or_else(|| {
        ApiError::unauthenticated(
            "authentication required: a service account (owner or admin), the project secret, or an API token",
        )
    })?;
    if !credential.may(op) {
        return Err(credential.refusal(op));
    }
    // The request only: what it carries (a Lexicon upload's entries) is charged once
    // its body is read (`Limiter::admit_volume`).
    state.limiter.admit(&LimitSlot::of(&request.extensions), credential.project.id, op.family(), 0)?;
    Ok((credential, params))
}

/// Reads an App API body: a form as an object of strings, JSON otherwise (an empty
/// body being `{}`), at most [`MAX_BODY_BYTES`] on the wire and once inflated.
pub(crate) async fn read_body(headers: &HeaderMap, body: Body) -> Result<Value, ApiError> {
    let raw = crate::body::read(headers, body, MAX_BODY_BYTES).await?;
    let bytes = raw.decompress(MAX_BODY_BYTES)?;
    let form = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    if form {
        let pairs = form_urlencoded::parse(&bytes).into_owned();
        let mut map = serde_json::Map::new();
        for (k, v) in pairs {
            map.insert(k, Value::String(v));
        }
        return Ok(Value::Object(map));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(&bytes).map_err(|e| ApiError::invalid(format!("the body is not valid JSON: {e}")))
}

/// Answers a page of one of the project's collections: authenticates a credential that
/// may perform `op` in the project in the path, reads the paging parameters, fetches the
/// page and renders each item as its view. Every App API list handler is this call.
pub(crate) async fn admin_page_for<T, Fut>(
    state: &AppState,
    project_id: &str,
    request: Request,
    op: Operation,
    fetch: impl FnOnce(sextant_metadata::Metadata, sextant_model::ProjectId, sextant_model::PageRequest) -> Fut,
    view: impl Fn(&T) -> Value,
) -> Result<Json<Value>, ApiError>
where
    Fut: std::future::Future<Output = sextant_metadata::Result<sextant_model::Page<T>>>,
{
    let (parts, _) = request.into_parts();
    let (credential, params) = admin_for(state, project_id, &parts, op).await?;
    let query = CollectionQuery::parse(&params)?;
    let page = fetch(state.metadata.clone(), credential.project.id, query.page).await?;
    Ok(Json(query.respond(page, view)))
}

/// Who is calling: the organisation, the account as an actor, and its organisation role.
pub(crate) struct Caller {
    /// The organisation in the path.
    pub org: OrgId,
    /// The calling account.
    pub actor: Actor,
    /// Its role in the organisation.
    pub role: Role,
}

/// Authenticates an owner or admin of the organisation in the path, and counts the
/// request against the App API's limit, with a budget of the organisation's own.
pub(crate) async fn org_admin(state: &AppState, organization_id: &str, parts: &Parts) -> Result<Caller, ApiError> {
    let org = organization_id.trim().parse::<i64>().map(OrgId).map_err(|_| {
        ApiError::invalid_fields(
            "invalid organization id",
            vec![("organization_id".into(), "must be an integer".into())],
        )
    })?;
    // API tokens act within one project's families and never manage service accounts
    // (the matrix's `ManageServiceAccounts` row).
    let token = parts.headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let presents_token = token.is_some_and(|t| t.trim_start().to_ascii_lowercase().starts_with("bearer "))
        || parts.headers.contains_key("x-api-token");
    if presents_token
        && !access::permits(access::Principal::ApiToken, &ApiFamily::ALL, Operation::ManageServiceAccounts)
    {
        return Err(ApiError::forbidden(
            "an API token may not manage the organization: use a service account of the organization (HTTP Basic)",
        ));
    }
    let basic = auth::basic_credentials(&parts.headers)?.filter(|b| !b.password.is_empty()).ok_or_else(|| {
        ApiError::unauthenticated("authentication required: a service account of the organization (HTTP Basic)")
    })?;
    let actor = match state.metadata.authenticate_org_admin(&basic.user, &basic.password, org).await? {
        OrgAuth::Invalid => return Err(ApiError::unauthenticated("Invalid credentials for this organization")),
        OrgAuth::Expired(at) => {
            let at = iso(at).unwrap_or_default();
            return Err(ApiError::unauthenticated(format!("the service account expired at {at}")));
        }
        OrgAuth::NotAdmin => {
            return Err(ApiError::forbidden(
                "managing the organization's service accounts and projects needs the owner or admin role in it",
            ));
        }
        OrgAuth::Admin(id, name, role) => (Actor { kind: ActorKind::ServiceAccount, id: Some(id.0), name }, role),
    };
    // Organisations have no project id; a negative key never meets one.
    state.limiter.admit(&LimitSlot::of(&parts.extensions), ProjectId(-org.0), ApiFamily::App, 1)?;
    let (actor, role) = actor;
    Ok(Caller { org, actor, role })
}

/// A view as JSON (`null` if it cannot be).
pub(crate) fn to_value(view: impl Serialize) -> Value {
    serde_json::to_value(view).unwrap_or(Value::Null)
}

/// A workspace id from a path.
pub(crate) fn workspace_id(text: &str) -> Result<i64, ApiError> {
    text.trim().parse::<i64>().map_err(|_| {
        ApiError::invalid_fields("invalid workspace id", vec![("workspace_id".into(), "must be an integer".into())])
    })
}

/// Refuses a service account confined to some workspaces (analysts and consumers; see
/// `extract::visibility`) acting in workspace `id` when it is not one of them. Whether
/// the workspace exists is the store's to say.
pub(crate) async fn check_confinement(state: &AppState, credential: &Credential, id: i64) -> Result<(), ApiError> {
    if let (Some(account), crate::auth::Access::ServiceAccount(Role::Analyst | Role::Consumer)) =
        (credential.account, &credential.access)
    {
        let confined = state.metadata.confinement(credential.project.id, account).await?;
        sextant_model::workspace::choose(Some(id), &confined).map_err(ApiError::forbidden)?;
    }
    Ok(())
}

/// `include_archived`: `true` or `false` (the default); anything else is refused.
pub(crate) fn include_archived(params: &Params) -> Result<bool, ApiError> {
    match params.get("include_archived") {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(ApiError::invalid_fields(
            "invalid include_archived",
            vec![("include_archived".into(), "must be `true` or `false`".into())],
        )),
    }
}
