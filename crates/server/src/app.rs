//! Sextant's own App API: personal API tokens, per project.
//!
//! - `GET|POST /api/app/projects/{project_id}/api-tokens`: list (paged) and create
//!   personal API tokens;
//! - `DELETE /api/app/projects/{project_id}/api-tokens/{token_id}`: revoke one.
//!
//! Service accounts are [`crate::service_accounts`].
//!
//! Callers authenticate as for Mixpanel's App API (a service account with the owner or
//! admin role, or the project secret), or with an API token scoped to `app`; each
//! handler names its [`Operation`] and `sextant_model::access::MATRIX` decides. An API
//! token is no administrator: it may create only tokens whose families it holds and
//! that expire no later than itself (an explicit `expires_in` past its own expiry is
//! refused; the default lifetime is cut to what is left of its own), and may revoke only
//! tokens whose families it holds. Tokens it creates record it as their parent and are
//! revoked with it. Refusals are 403 `FORBIDDEN`. Responses are
//! `{"status": "ok", "results": ...}`; errors use the App API envelope. What every App
//! API handler shares (authenticating, bodies, pages) is [`crate::admin`].

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use sextant_metadata::ApiTokenInfo;
use sextant_model::access::Operation;
use sextant_model::{ApiFamily, ApiTokenId};

use crate::admin::{admin_for, admin_page_for, read_body, to_value};
use crate::audit::iso;
use crate::auth::Access;
use crate::collection::PageParams;
use crate::error::ApiError;
use crate::state::AppState;
use sextant_api::envelope::{CollectionPage, Single};
use sextant_api::errors::ApiFamilyName;

/// `GET /api/app/projects/{project_id}/api-tokens`.
#[utoipa::path(
    get,
    path = "/api/app/projects/{project_id}/api-tokens",
    tag = "app",
    summary = "List personal API tokens, newest first",
    params(
        ("project_id" = i64, Path, description = "The project."),
        PageParams
    ),
    responses((status = 200, description = "A page of tokens (never the tokens themselves)", body = CollectionPage<ApiTokenView>)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn list_api_tokens(
    State(state): State<AppState>,
    Path(project_id): Path<String>,
    request: Request,
) -> Result<Json<Value>, ApiError> {
    let fetch = |md: sextant_metadata::Metadata, p, page| async move { md.list_api_tokens(p, page).await };
    let view = |t: &ApiTokenInfo| to_value(ApiTokenView::of(t));
    admin_page_for(&state, &project_id, request, Operation::ListApiTokens, fetch, view).await
}

/// `POST /api/app/projects/{project_id}/api-tokens`: `name`, `families` (a list or a
/// comma-separated string) and `expires_in` (seconds), as JSON or a form. Presented
/// with an API token, the new token is bounded by it (see the module's documentation).
#[utoipa::path(
    post,
    path = "/api/app/projects/{project_id}/api-tokens",
    tag = "app",
    summary = "Create a personal API token (`sx_...`), shown once",
    params(("project_id" = i64, Path, description = "The project.")),
    request_body(content((NewApiToken = "application/json"), (NewApiToken = "application/x-www-form-urlencoded"))),
    responses((status = 201, description = "Created; `results.token` holds the token, shown only now", body = Single<ApiTokenView>)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn create_api_token(
    State(state): State<AppState>,
    Path(project_id): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let (credential, _) = admin_for(&state, &project_id, &parts, Operation::CreateApiToken).await?;
    let body = read_body(&parts.headers, body).await?;
    let spec = TokenSpec::parse(&body)?;
    let project = credential.project.id;
    let default_ms = seconds_to_ms(state.api_token_ttl_seconds);
    let created = match &credential.access {
        Access::ApiToken(scope) => {
            let requested_ms = spec.expires_in.map(seconds_to_ms);
            let now = chrono::Utc::now().timestamp_millis();
            let ttl_ms = scope
                .child_lifetime(&spec.families, requested_ms, default_ms, now)
                .map_err(|refusal| ApiError::forbidden(refusal.to_string()))?;
            state
                .metadata
                .create_api_token_under(scope.id, project, &spec.name, &spec.families, ttl_ms)
                .await?
                .ok_or_else(|| ApiError::unauthenticated("the API token was revoked or expired during this request"))?
        }
        _ => {
            let ttl_ms = spec.expires_in.map_or(default_ms, seconds_to_ms);
            // Made by a service account: the token dies with the account.
            let made_by = match credential.access {
                Access::ServiceAccount(_) => credential.actor.id.map(sextant_model::ServiceAccountId),
                _ => None,
            };
            state.metadata.create_api_token(project, &spec.name, &spec.families, ttl_ms, made_by).await?
        }
    };
    let results = ApiTokenView { token: Some(created.token), ..ApiTokenView::of(&created.info) };
    Ok((StatusCode::CREATED, Json(Single::ok(results))).into_response())
}

/// `DELETE /api/app/projects/{project_id}/api-tokens/{token_id}`.
#[utoipa::path(
    delete,
    path = "/api/app/projects/{project_id}/api-tokens/{token_id}",
    tag = "app",
    summary = "Revoke a personal API token",
    params(("project_id" = i64, Path, description = "The project."), ("token_id" = i64, Path, description = "The token's id.")),
    responses((status = 200, description = "Revoked with every token created through it (again: the same answer)", body = Single<ApiTokenView>)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn revoke_api_token(
    State(state): State<AppState>,
    Path((project_id, token_id)): Path<(String, String)>,
    request: Request,
) -> Result<Json<Single<ApiTokenView>>, ApiError> {
    let (parts, _) = request.into_parts();
    let (credential, _) = admin_for(&state, &project_id, &parts, Operation::RevokeApiToken).await?;
    let id = token_id.parse::<i64>().map(ApiTokenId).map_err(|_| {
        ApiError::invalid_fields("invalid token id", vec![("token_id".into(), "must be an integer".into())])
    })?;
    if let Access::ApiToken(scope) = &credential.access {
        let target = state.metadata.api_token(credential.project.id, id).await?;
        scope.covers(&target.families).map_err(|refusal| ApiError::forbidden(refusal.to_string()))?;
    }
    let revoked = state.metadata.revoke_api_token(credential.project.id, id).await?;
    Ok(Json(Single::ok(ApiTokenView::of(&revoked))))
}

/// Seconds as milliseconds, saturating.
fn seconds_to_ms(seconds: u64) -> i64 {
    i64::try_from(seconds.saturating_mul(1000)).unwrap_or(i64::MAX)
}

/// A token request, validated.
struct TokenSpec {
    name: String,
    families: Vec<ApiFamily>,
    /// The lifetime asked for, in seconds; `None`: the server's default.
    expires_in: Option<u64>,
}

impl TokenSpec {
    fn parse(body: &Value) -> Result<TokenSpec, ApiError> {
        let Some(obj) = body.as_object() else {
            return Err(ApiError::invalid("the body must be a JSON object or a form"));
        };
        let mut problems = Vec::new();
        let name = match obj.get("name") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) if s.chars().count() <= 255 => s.clone(),
            Some(_) => {
                problems.push(("name".to_string(), "must be a string of at most 255 characters".to_string()));
                String::new()
            }
        };
        let names: Vec<String> = match obj.get("families") {
            Some(Value::String(s)) => s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect(),
            Some(Value::Array(items)) => items.iter().map(|i| i.as_str().unwrap_or("").to_string()).collect(),
            _ => Vec::new(),
        };
        let mut families = Vec::new();
        if names.is_empty() {
            let all: Vec<_> = ApiFamily::ALL.iter().map(|f| f.as_str()).collect();
            problems.push(("families".to_string(), format!("is required: one or more of {}", all.join(", "))));
        }
        for n in &names {
            match n.parse::<ApiFamily>() {
                Ok(f) => families.push(f),
                Err(e) => problems.push(("families".to_string(), e)),
            }
        }
        let expires_in = match obj.get("expires_in") {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_u64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok())) {
                Some(n) if n > 0 && n <= 10 * 366 * 86_400 => Some(n),
                _ => {
                    problems.push((
                        "expires_in".to_string(),
                        "must be a whole number of seconds, from 1 to ten years".to_string(),
                    ));
                    None
                }
            },
        };
        if !problems.is_empty() {
            return Err(ApiError::invalid_fields("invalid API token request", problems));
        }
        Ok(TokenSpec { name, families, expires_in })
    }
}

/// The body `POST .../api-tokens` takes.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents the body `TokenSpec::parse` reads
struct NewApiToken {
    /// A label, at most 255 characters.
    #[schema(max_length = 255)]
    name: Option<String>,
    /// The API families it may call: a list, or a comma-separated string.
    #[schema(value_type = Vec<ApiFamilyName>)]
    families: Vec<String>,
    /// Lifetime in seconds (default: the server's `api_token_ttl_seconds`, 4 hours).
    /// Asked with an API token: at most what is left of that token's own lifetime
    /// (403 beyond), and the default is cut to it.
    #[schema(minimum = 1, maximum = 316224000)]
    expires_in: Option<u64>,
}

/// A personal API token as listed (the token itself only when it is created). No field
/// is required: `fields` may leave any out.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ApiTokenView {
    /// Its id.
    #[schema(required = false, value_type = i64)]
    pub id: ApiTokenId,
    /// The project it is scoped to.
    #[schema(required = false, value_type = i64)]
    pub project_id: sextant_model::ProjectId,
    /// Its label.
    #[schema(required = false)]
    pub name: String,
    /// The API families it may call.
    #[schema(required = false, value_type = Vec<ApiFamilyName>)]
    pub families: Vec<ApiFamily>,
    /// The first characters of the token, to recognise it.
    #[schema(required = false)]
    pub prefix: String,
    /// When it was created (RFC 3339).
    #[schema(required = false)]
    pub created: Option<String>,
    /// When it expires (RFC 3339).
    #[schema(required = false)]
    pub expires: Option<String>,
    /// When it was revoked, if it was (or when a token it was created through was).
    #[schema(required = false)]
    pub revoked: Option<String>,
    /// The API token that created it, if one did (`null` otherwise).
    #[schema(required = false, value_type = Option<i64>)]
    pub parent_id: Option<ApiTokenId>,
    /// The token, `sx_...`: only in the answer that creates it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub token: Option<String>,
}

impl ApiTokenView {
    fn of(t: &ApiTokenInfo) -> ApiTokenView {
        ApiTokenView {
            id: t.id,
            project_id: t.project_id,
            name: t.name.clone(),
            families: t.families.clone(),
            prefix: t.prefix.clone(),
            created: iso(t.created_at_ms),
            expires: iso(t.expires_at_ms),
            revoked: t.revoked_at_ms.and_then(iso),
            parent_id: t.parent_id,
            token: None,
        }
    }
}
