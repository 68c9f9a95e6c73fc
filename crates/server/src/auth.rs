//! Credentials: every form Mixpanel's APIs and SDKs use.
//!
//! - HTTP Basic with a service account (`username:secret`) plus `project_id`;
//! - HTTP Basic with the project secret as username (password empty);
//! - HTTP Basic with the project token as username (ingestion only);
//! - the project token inside each event (`properties.token`), resolved by ingestion;
//! - a personal API token (`sx_...`, scoped to one project and some API families) as
//!   `Authorization: Bearer`, the `X-API-Token` header or the `apiToken` parameter
//!   (`000_*.txt`'s convention; also the GDPR API's OAuth bearer slot).
//!
//! Basic credentials are accepted base64-encoded, as HTTP defines, and in plain text,
//! as Mixpanel also accepts.
//!
//! What each credential may do is not decided here: [`Credential::may`] reads
//! `sextant_model::access::MATRIX`, the one table of credentials against operations.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sextant_ingest::Params;
use sextant_metadata::{ApiTokenAuth, ServiceAccountAuth};
use sextant_model::access::{self, Operation, Principal, TokenScope};
use sextant_model::{Actor, ActorKind, ApiFamily, Project, ProjectId, Role, ServiceAccountId};

use crate::error::ApiError;
use crate::state::AppState;

/// How a request proved who it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Access {
    /// The public project token: may send data, may read nothing.
    Token,
    /// The project secret: full access to the project.
    Secret,
    /// A service account with this role in the project.
    ServiceAccount(Role),
    /// A personal API token: its id, families (checked when it was presented) and
    /// expiry, which bound the tokens it may create.
    ApiToken(TokenScope),
}

impl Access {
    /// Its column in the matrix.
    pub fn principal(&self) -> Principal {
        match self {
            Access::Token => Principal::ProjectToken,
            Access::Secret => Principal::ProjectSecret,
            Access::ServiceAccount(role) => Principal::ServiceAccount(*role),
            Access::ApiToken(_) => Principal::ApiToken,
        }
    }

    /// An API token's families; empty for other credentials.
    pub fn families(&self) -> &[ApiFamily] {
        match self {
            Access::ApiToken(scope) => &scope.families,
            _ => &[],
        }
    }
}

/// An authenticated request: the project and how it got in.
#[derive(Clone, Debug)]
pub struct Credential {
    /// The project the request acts on.
    pub project: Project,
    /// The credential used.
    pub access: Access,
    /// The API family of the endpoint it was presented to.
    pub family: ApiFamily,
    /// Who it is, as the audit fields of what it makes name it.
    pub actor: Actor,
    /// The service account it is, when it is one (workspaces may confine an analyst or
    /// a consumer).
    pub account: Option<ServiceAccountId>,
}

impl Credential {
    /// May this credential perform `op`? The answer is the matrix's
    /// (`sextant_model::access::MATRIX`). For an API token and an operation bounded by
    /// its scope (creating and revoking tokens), the handler checks the bounds too.
    pub fn may(&self, op: Operation) -> bool {
        access::permits(self.access.principal(), self.access.families(), op)
    }

    /// May this credential write through its endpoint's family: send events
    /// (`/import`), or replace a lookup table (`PUT /lookup-tables/{id}`)?
    pub fn may_import(&self) -> bool {
        Operation::write_of(self.family).is_some_and(|op| self.may(op))
    }

    /// May this credential read through its endpoint's family (export, the Query API,
    /// lookup tables)?
    pub fn may_read(&self) -> bool {
        Operation::read_of(self.family).is_some_and(|op| self.may(op))
    }

    /// The 403 for a credential that may not perform `op`, naming who may.
    pub fn refusal(&self, op: Operation) -> ApiError {
        let who = match &self.access {
            Access::ApiToken(scope) => {
                let scope: Vec<_> = scope.families.iter().map(|f| f.as_str()).collect();
                format!("this API token (scoped to {})", scope.join(", "))
            }
            other => other.principal().label().to_string(),
        };
        let allowed = access::allowed_to(op);
        let allowed = if allowed.is_empty() { "nobody".to_string() } else { allowed.join(", ") };
        ApiError::forbidden(format!("{who} may not {op}; allowed: {allowed}"))
    }
}

/// What a request presents, and what it asks for.
#[derive(Clone, Copy, Debug)]
pub struct AuthRequest<'a> {
    /// The request's headers.
    pub headers: &'a HeaderMap,
    /// Its parameters (query string, and form body where the family has one).
    pub params: &'a Params,
    /// The `project_id` it names, if any.
    pub project_id: Option<ProjectId>,
    /// The API family of the endpoint.
    pub family: ApiFamily,
    /// Whether the public project token is enough (ingestion only).
    pub allow_project_token: bool,
}

/// A personal API token, from wherever the request put it.
fn presented_api_token<'a>(headers: &'a HeaderMap, params: &'a Params) -> Result<Option<&'a str>, ApiError> {
    if let Some(value) = headers.get(AUTHORIZATION) {
        let value = value.to_str().unwrap_or("").trim();
        if let Some((scheme, rest)) = value.split_once(' ')
            && scheme.eq_ignore_ascii_case("bearer")
        {
            let token = rest.trim();
            if !token.starts_with(sextant_metadata::TOKEN_PREFIX) {
                return Err(ApiError::unauthenticated(
                    "unknown bearer token: Sextant accepts its personal API tokens (`sx_...`) as bearer tokens",
                ));
            }
            return Ok(Some(token));
        }
    }
    if let Some(value) = headers.get("x-api-token") {
        return Ok(Some(
            value.to_str().map_err(|_| ApiError::unauthenticated("X-API-Token is not valid text"))?.trim(),
        ));
    }
    Ok(params.get("apiToken").map(str::trim))
}

async fn authenticate_api_token(
    state: &AppState,
    token: &str,
    project_id: Option<ProjectId>,
    family: ApiFamily,
) -> Result<Credential, ApiError> {
    match state.metadata.authenticate_api_token(token).await? {
        ApiTokenAuth::Invalid => Err(ApiError::unauthenticated("invalid API token")),
        ApiTokenAuth::Revoked => Err(ApiError::unauthenticated("the API token was revoked")),
        ApiTokenAuth::Expired(at) => Err(ApiError::unauthenticated(format!(
            "the API token expired at {}; create a new one",
            chrono::DateTime::from_timestamp_millis(at).map(|t| t.to_rfc3339()).unwrap_or_default()
        ))),
        ApiTokenAuth::Valid { project, scope, name } => {
            if let Some(pid) = project_id.filter(|pid| *pid != project.id) {
                return Err(ApiError::unauthenticated(format!("the API token does not belong to project {pid}")));
            }
            if !scope.holds(family) {
                let names: Vec<_> = scope.families.iter().map(|f| f.as_str()).collect();
                return Err(ApiError::forbidden(format!(
                    "this API token may not call the {family} API; it is scoped to: {}",
                    names.join(", ")
                )));
            }
            let actor = Actor { kind: ActorKind::ApiToken, id: Some(scope.id.0), name };
            Ok(Credential { project, access: Access::ApiToken(scope), family, actor, account: None })
        }
    }
}

/// Basic credentials as sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Basic {
    /// Username (service account, project secret or project token).
    pub user: String,
    /// Password (service-account secret, or empty).
    pub password: String,
}

/// Reads `Authorization: Basic ...`, base64 or plain. `Ok(None)` when absent.
pub fn basic_credentials(headers: &HeaderMap) -> Result<Option<Basic>, ApiError> {
    let Some(value) = headers.get(AUTHORIZATION) else { return Ok(None) };
    let value =
        value.to_str().map_err(|_| ApiError::unauthenticated("the Authorization header is not valid text"))?.trim();
    let Some((scheme, rest)) = value.split_once(' ') else {
        return Err(ApiError::unauthenticated("the Authorization header must be `Basic <credentials>`"));
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(ApiError::unauthenticated(format!(
            "unsupported authorization scheme `{scheme}`; use Basic with a service account, the project secret or the project token, or Bearer with an API token"
        )));
    }
    let rest = rest.trim();
    let decoded = STANDARD
        .decode(rest)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .filter(|s| s.contains(':'))
        .unwrap_or_else(|| rest.to_string());
    let (user, password) = decoded.split_once(':').unwrap_or((decoded.as_str(), ""));
    if user.is_empty() {
        return Err(ApiError::unauthenticated("the Basic credentials have an empty username"));
    }
    Ok(Some(Basic { user: user.to_string(), password: password.to_string() }))
}

/// Parses the `project_id` parameter.
pub fn parse_project_id(value: Option<&str>) -> Result<Option<ProjectId>, ApiError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .parse::<i64>()
            .map(|id| Some(ProjectId(id)))
            .map_err(|_| ApiError::invalid(format!("project_id must be an integer, got `{v}`"))),
    }
}

/// Authenticates a request: a personal API token if one is presented, else Basic
/// credentials. `Ok(None)` when no credentials were sent.
pub async fn authenticate(state: &AppState, request: AuthRequest<'_>) -> Result<Option<Credential>, ApiError> {
    let credential = identify(state, request).await?;
    if let Some(c) = &credential {
        state.regions.check(request.headers, &c.project)?;
    }
    Ok(credential)
}

async fn identify(state: &AppState, request: AuthRequest<'_>) -> Result<Option<Credential>, ApiError> {
    let AuthRequest { headers, params, project_id, family, allow_project_token: allow_token } = request;
    if let Some(token) = presented_api_token(headers, params)? {
        return authenticate_api_token(state, token, project_id, family).await.map(Some);
    }
    let Some(basic) = basic_credentials(headers)? else { return Ok(None) };
    if let Some(pid) = project_id
        && !basic.password.is_empty()
    {
        match state.metadata.authenticate_service_account(&basic.user, &basic.password, pid).await? {
            ServiceAccountAuth::Role(role, id) => {
                let project = state
                    .metadata
                    .project(pid)
                    .await?
                    .ok_or_else(|| ApiError::unauthenticated(format!("project {pid} does not exist")))?;
                let actor = Actor { kind: ActorKind::ServiceAccount, id: Some(id.0), name: basic.user.clone() };
                let account = Some(id);
                return Ok(Some(Credential { project, access: Access::ServiceAccount(role), family, actor, account }));
            }
            ServiceAccountAuth::NoAccess => {
                return Err(ApiError::forbidden(format!("the service account has no role in project {pid}")));
            }
            ServiceAccountAuth::Expired(at) => {
                let at = crate::audit::iso(at).unwrap_or_default();
                return Err(ApiError::unauthenticated(format!("the service account expired at {at}")));
            }
            ServiceAccountAuth::Invalid => {}
        }
    }
    let by_token =
        |project| Credential { project, access: Access::Token, family, actor: Actor::project_token(), account: None };
    // Where the public token is enough it is looked up first, in the server's cache:
    // flag SDKs send it on every evaluation, and a secret lookup is a control-plane read.
    let cached = if allow_token { state.project_by_token(&basic.user).await?.map(by_token) } else { None };
    let found = match cached {
        Some(found) => Some(found),
        None => state.metadata.project_by_secret(&basic.user).await?.map(|project| Credential {
            project,
            access: Access::Secret,
            family,
            actor: Actor::project_secret(),
            account: None,
        }),
    };
    match (found, project_id) {
        (Some(c), Some(pid)) if c.project.id != pid => {
            Err(ApiError::unauthenticated(format!("the credentials do not belong to project {pid}")))
        }
        (Some(c), _) => Ok(Some(c)),
        (None, None) if !basic.password.is_empty() => Err(ApiError::unauthenticated(
            "Invalid credentials: service account credentials need the `project_id` parameter",
        )),
        (None, _) => Err(ApiError::unauthenticated("Invalid credentials")),
    }
}

/// Authenticates a request that reads a project's data (export, the Query API, JQL,
/// feature flags): the project secret, a service account with `project_id`, or an API
/// token scoped to `family` (and the project token where the matrix lets it read the
/// family); then charges one request to the project's `family` limit.
pub async fn reader(
    state: &AppState,
    parts: &axum::http::request::Parts,
    params: &Params,
    family: ApiFamily,
) -> Result<Credential, ApiError> {
    let project_id = parse_project_id(params.get("project_id"))?;
    // The matrix says whether the public token reads this family (feature flags).
    let allow_project_token = Operation::read_of(family)
        .is_some_and(|op| sextant_model::access::permits(sextant_model::access::Principal::ProjectToken, &[], op));
    let request = AuthRequest { headers: &parts.headers, params, project_id, family, allow_project_token };
    let credential = authenticate(state, request).await?.ok_or_else(|| {
        ApiError::unauthenticated(if allow_project_token {
            "authentication required: HTTP Basic with the project token, the project secret, or a service account and \
             project_id"
        } else {
            "authentication required: HTTP Basic with the project secret, or a service account and project_id"
        })
    })?;
    if let Some(op) = Operation::read_of(family).filter(|&op| !credential.may(op)) {
        return Err(credential.refusal(op));
    }
    let slot = crate::limits::LimitSlot::of(&parts.extensions);
    state.limiter.admit(&slot, credential.project.id, family, 1)?;
    Ok(credential)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn basic_is_read_encoded_and_plain() {
        let encoded = format!("Basic {}", STANDARD.encode("sa.user:s3cret"));
        let expected = Basic { user: "sa.user".into(), password: "s3cret".into() };
        assert_eq!(basic_credentials(&headers(&encoded)).unwrap(), Some(expected.clone()));
        assert_eq!(basic_credentials(&headers("Basic sa.user:s3cret")).unwrap(), Some(expected));
        let secret_only = format!("basic {}", STANDARD.encode("abc:"));
        assert_eq!(
            basic_credentials(&headers(&secret_only)).unwrap(),
            Some(Basic { user: "abc".into(), password: String::new() })
        );
        assert!(basic_credentials(&headers("Bearer x")).is_err());
        assert_eq!(basic_credentials(&HeaderMap::new()).unwrap(), None);
    }

    fn credential(access: Access, family: ApiFamily) -> Credential {
        let project = Project {
            id: ProjectId(1),
            org_id: sextant_model::OrgId(1),
            name: "p".into(),
            token: "t".into(),
            timezone: "UTC".into(),
            identity_mode: sextant_model::IdentityMode::Simplified,
            created_at_ms: 0,
            case_sensitive_strings: false,
            region: sextant_model::Region::Us,
            rate_limits: Default::default(),
        };
        Credential { project, access, family, actor: Actor::cli(), account: None }
    }

    fn token(families: &[ApiFamily]) -> Access {
        Access::ApiToken(TokenScope {
            id: sextant_model::ApiTokenId(7),
            families: families.to_vec(),
            expires_at_ms: i64::MAX,
        })
    }

    #[test]
    fn an_app_token_is_no_administrator() {
        let app = credential(token(&[ApiFamily::App]), ApiFamily::App);
        for op in [Operation::AppRead, Operation::AppWrite, Operation::ListApiTokens, Operation::CreateApiToken] {
            assert!(app.may(op), "{op:?}");
        }
        for op in [Operation::ManageServiceAccounts, Operation::Ingest, Operation::Export, Operation::Query] {
            assert!(!app.may(op), "{op:?}");
        }
        let refusal = app.refusal(Operation::ManageServiceAccounts);
        assert_eq!(refusal.code, sextant_model::ErrorCode::PermissionDenied);
        let message = &refusal.message;
        assert!(message.contains("this API token (scoped to app) may not manage service accounts"), "{message}");
        // The owner and the secret may; an analyst may not, and is told who may.
        assert!(credential(Access::ServiceAccount(Role::Owner), ApiFamily::App).may(Operation::CreateApiToken));
        assert!(credential(Access::Secret, ApiFamily::App).may(Operation::ManageServiceAccounts));
        let analyst = credential(Access::ServiceAccount(Role::Analyst), ApiFamily::App);
        assert!(!analyst.may(Operation::ListApiTokens));
        assert!(analyst.refusal(Operation::ListApiTokens).message.contains("allowed: the project secret"));
    }

    #[test]
    fn reads_and_writes_follow_the_endpoint_family() {
        // `/import` with the project token, an ingestion token, a consumer.
        assert!(credential(Access::Token, ApiFamily::Ingestion).may_import());
        assert!(credential(token(&[ApiFamily::Ingestion]), ApiFamily::Ingestion).may_import());
        assert!(!credential(Access::ServiceAccount(Role::Consumer), ApiFamily::Ingestion).may_import());
        // Replacing a lookup table needs `lookup_tables`, not `ingestion`.
        assert!(credential(token(&[ApiFamily::LookupTables]), ApiFamily::LookupTables).may_import());
        assert!(!credential(Access::ServiceAccount(Role::Analyst), ApiFamily::LookupTables).may_import());
        assert!(!credential(Access::Token, ApiFamily::LookupTables).may_import());
        // Reading: every role and the secret; never the project token.
        for role in Role::ALL {
            assert!(credential(Access::ServiceAccount(role), ApiFamily::Export).may_read(), "{role}");
        }
        assert!(credential(token(&[ApiFamily::Export]), ApiFamily::Export).may_read());
        assert!(!credential(Access::Token, ApiFamily::Query).may_read());
        assert!(!credential(Access::Secret, ApiFamily::Ingestion).may_read(), "ingestion has no read");
    }

    #[test]
    fn project_ids_must_be_integers() {
        assert_eq!(parse_project_id(Some("42")).unwrap(), Some(ProjectId(42)));
        assert_eq!(parse_project_id(None).unwrap(), None);
        assert!(parse_project_id(Some("abc")).is_err());
    }
}
