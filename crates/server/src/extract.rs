//! Typed extractors: what a handler needs from its request, read and checked before the
//! handler runs. A failure is an [`ApiError`]; the router renders it in the route's
//! family shape (`router::family_errors`), so no handler picks an error shape.
//!
//! - [`Reader`]: a reading request of the Query API ([`QueryApi`]), raw export
//!   ([`ExportApi`]), JQL ([`JqlApi`]) or data pipelines ([`PipelinesApi`]): its parameters (query string, and a form body where one is sent),
//!   a credential that may read through the family, that family's rate limit charged,
//!   the project's expression settings, and what the workspace it reads through shows
//!   (`workspace_id`, or the workspaces its service account is confined to).
//! - [`FlagsCall`]: a feature-flag request (`/flags`, `/flags/definitions`): its
//!   parameters, its JSON body if it sent one, and a credential that may evaluate the
//!   project's flags (the project token included).
//! - [`GdprCall`]: a GDPR API request: a credential that may request GDPR jobs, the
//!   project token beside it as `?token=`, the GDPR limit charged, its JSON body.

use std::marker::PhantomData;

use axum::extract::{FromRequest, Request};
use sextant_expr::Options;
use sextant_ingest::Params;
use sextant_metadata::MetadataError;
use sextant_model::workspace::{self, Visibility};
use sextant_model::{ApiFamily, Project, Role};

use crate::auth::{self, Access, Credential};
use crate::body;
use crate::error::ApiError;
use crate::limits::LimitSlot;
use crate::state::AppState;

/// A family a [`Reader`] reads through.
pub trait ReadFamily: Send + Sync + 'static {
    /// The family.
    const FAMILY: ApiFamily;
}

/// The Query API (`/api/query/...`, `/api/2.0/...` reports).
pub struct QueryApi;

impl ReadFamily for QueryApi {
    const FAMILY: ApiFamily = ApiFamily::Query;
}

/// Raw export (`/api/2.0/export`).
pub struct ExportApi;

impl ReadFamily for ExportApi {
    const FAMILY: ApiFamily = ApiFamily::Export;
}

/// JQL (`/api/query/jql`, `/api/2.0/jql`).
pub struct JqlApi;

impl ReadFamily for JqlApi {
    const FAMILY: ApiFamily = ApiFamily::Jql;
}

/// Data pipelines (`/api/2.0/nessie/pipeline/...`).
pub struct PipelinesApi;

impl ReadFamily for PipelinesApi {
    const FAMILY: ApiFamily = ApiFamily::Pipelines;
}

/// An authenticated reading request.
pub struct Reader<F: ReadFamily = QueryApi> {
    /// Its parameters.
    pub params: Params,
    /// Who asked, and for which project.
    pub credential: Credential,
    /// The project's expression settings.
    pub options: Options,
    /// What the workspace the request reads through shows (everything, without one).
    pub view: Visibility,
    family: PhantomData<F>,
}

impl<F: ReadFamily> Reader<F> {
    /// The project read.
    pub fn project(&self) -> &Project {
        &self.credential.project
    }

    /// Refuses an event report whose parameters name an event the workspace does not
    /// show or read a property it hides (`sextant_query::workspace::check_params`).
    pub fn check_workspace(&self) -> Result<(), ApiError> {
        sextant_query::workspace::check_params(&self.view, |k| self.params.get(k), &self.options)?;
        Ok(())
    }
}

impl<F: ReadFamily> FromRequest<AppState> for Reader<F> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let (parts, body) = request.into_parts();
        let params = body::query_params(&parts, body, F::FAMILY.max_request_bytes()).await?;
        let credential = auth::reader(state, &parts, &params, F::FAMILY).await?;
        let options = crate::reports::expression_options(&credential.project);
        let view = visibility(state, &credential, &params).await?;
        Ok(Reader { params, credential, options, view, family: PhantomData })
    }
}

/// What the workspace a read goes through shows (`sextant_model::workspace::choose`).
async fn visibility(state: &AppState, credential: &Credential, params: &Params) -> Result<Visibility, ApiError> {
    let project = credential.project.id;
    let named = match params.get("workspace_id").map(str::trim).filter(|t| !t.is_empty()) {
        None => None,
        Some(text) => Some(text.parse::<i64>().map_err(|_| {
            ApiError::invalid_fields("invalid workspace_id", vec![("workspace_id".into(), "must be an integer".into())])
        })?),
    };
    // Owners and admins manage workspaces, and tokens are made only by them or the
    // secret: analysts and consumers are the ones a workspace confines.
    let confined = match (credential.account, &credential.access) {
        (Some(account), Access::ServiceAccount(Role::Analyst | Role::Consumer)) => {
            state.metadata.confinement(project, account).await?
        }
        _ => Vec::new(),
    };
    let Some(id) = workspace::choose(named, &confined).map_err(ApiError::forbidden)? else {
        return Ok(Visibility::default());
    };
    match state.metadata.workspace(project, id).await {
        Ok(w) => Ok(w.visibility),
        Err(MetadataError::NotFound(_)) => Err(ApiError::invalid_fields(
            "unknown workspace",
            vec![("workspace_id".into(), format!("project {project} has no workspace {id}"))],
        )),
        Err(e) => Err(e.into()),
    }
}

/// A feature-flag request, authenticated.
pub struct FlagsCall {
    /// Its parameters: the query string, and a form body's fields.
    pub params: Params,
    /// Where its limits' verdicts go (the ingestion limit too, when it records
    /// exposures).
    pub slot: LimitSlot,
    /// A JSON body, when one was sent (`POST /flags`).
    pub body: Option<serde_json::Value>,
    /// Who asked, and for which project.
    pub credential: Credential,
}

impl FromRequest<AppState> for FlagsCall {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let (parts, raw) = request.into_parts();
        let limit = ApiFamily::Flags.max_request_bytes();
        let mut params = Params::parse(parts.uri.query().unwrap_or("").as_bytes());
        let bytes = body::read(&parts.headers, raw, limit).await?.decompress(limit)?;
        let content_type = parts.headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
        let form = content_type.is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
        if form {
            params.extend(Params::parse(&bytes));
        }
        // Credentials first: a bad body from a stranger is a 401, not a 400.
        let credential = auth::reader(state, &parts, &params, ApiFamily::Flags).await?;
        let body = if form { None } else { optional_json(&bytes)? };
        Ok(FlagsCall { params, slot: LimitSlot::of(&parts.extensions), body, credential })
    }
}

/// A GDPR API request, authenticated: Mixpanel's GDPR token (here an API token holding
/// `gdpr`, or an owner's or admin's service account, or the secret) together with the
/// project token as `?token=`, which must be the credential's project's.
pub struct GdprCall {
    /// Its query parameters.
    pub params: Params,
    /// A JSON body, when one was sent (the create requests).
    pub body: Option<serde_json::Value>,
    /// Who asked, and for which project.
    pub credential: Credential,
}

impl FromRequest<AppState> for GdprCall {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let (parts, raw) = request.into_parts();
        let limit = ApiFamily::Gdpr.max_request_bytes();
        let params = Params::parse(parts.uri.query().unwrap_or("").as_bytes());
        // Credentials first: a bad body from a stranger is a 401, not a 400. This also
        // charges the GDPR API's limit (one request a second per project).
        let credential = auth::reader(state, &parts, &params, ApiFamily::Gdpr).await?;
        match params.get("token") {
            None | Some("") => {
                return Err(ApiError::invalid_fields(
                    "the project token is required",
                    vec![("token".into(), "is required: the project's token, as Mixpanel's GDPR API takes it".into())],
                ));
            }
            Some(token) if token != credential.project.token => {
                return Err(ApiError::forbidden("the `token` parameter is not the token of the credential's project"));
            }
            Some(_) => {}
        }
        let bytes = body::read(&parts.headers, raw, limit).await?.decompress(limit)?;
        Ok(GdprCall { body: optional_json(&bytes)?, params, credential })
    }
}

/// A JSON body, or `None` when none was sent (nothing but white space).
fn optional_json(bytes: &[u8]) -> Result<Option<serde_json::Value>, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(bytes).map(Some).map_err(|e| ApiError::invalid(format!("the body is not valid JSON: {e}")))
}
