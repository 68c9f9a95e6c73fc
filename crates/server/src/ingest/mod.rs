//! `/track` and `/import`: the event ingestion endpoints.
//!
//! Both run the same pipeline and differ in their rules: `/track` takes the project from
//! each event's token and keeps only recent events; `/import` requires credentials,
//! takes historical events, and can answer in the strict per-record JSON.
//!
//! 1. for `/import`, check the credentials the head carries, before any body work;
//! 2. read the body under the size limit ([`crate::body`]);
//! 3. off the async runtime: decompress, decode, split and normalise the records;
//! 4. authenticate (unless step 1 did) and resolve each record's project;
//! 5. append the accepted rows (durable when this returns);
//! 6. answer in the style the client asked for ([`reply`]).

pub mod profiles;
pub mod reply;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::http::header::CONTENT_TYPE;
use axum::response::Response;
use sextant_ingest::{
    Endpoint, IngestContext, Outcome, Params, RecordError, decode_request, normalize_event, split_records,
};
use sextant_model::{ApiFamily, Project, ProjectId};

use crate::auth::{self, Credential};
use crate::body;
use crate::error::ApiError;
use crate::ingest_steps::{Rows, charge_ingestion};
use crate::limits::LimitSlot;
use crate::metrics;
use crate::state::AppState;
use reply::ReplyStyle;
use sextant_api::ingestion::{EventRecord, IngestForm};

/// `GET|POST /track`.
#[utoipa::path(
    method(get, post),
    path = "/track",
    tag = "ingestion",
    summary = "Track events",
    description = "Recent events from client SDKs; each event names its project by `properties.token`.",
    params(IngestParams),
    request_body(
        description = "Records: a JSON array (or one object), NDJSON, or a form with `data=`; any of them gzip-compressed with `Content-Encoding: gzip`.",
        content(
            (Vec<EventRecord> = "application/json"),
            (IngestForm = "application/x-www-form-urlencoded"),
            (String = "application/x-ndjson"),
            (String = "text/plain")
        )
    ),
    security((), ("basic" = []))
)]
pub async fn track(State(state): State<AppState>, request: Request) -> Response {
    ingest(state, request, Kind::Track).await
}

/// `GET|POST /import`.
#[utoipa::path(
    method(get, post),
    path = "/import",
    tag = "ingestion",
    summary = "Import events",
    description = "Historical events; HTTP Basic with a service account and `project_id`, the project secret, or the project token.",
    params(IngestParams),
    request_body(
        description = "Records: a JSON array (or one object), NDJSON, or a form with `data=`; any of them gzip-compressed with `Content-Encoding: gzip`.",
        content(
            (Vec<EventRecord> = "application/json"),
            (IngestForm = "application/x-www-form-urlencoded"),
            (String = "application/x-ndjson"),
            (String = "text/plain")
        )
    ),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn import(State(state): State<AppState>, request: Request) -> Response {
    ingest(state, request, Kind::Import).await
}

/// The query parameters of `/track`, `/import`, `/engage` and `/groups`, as the
/// OpenAPI document lists them (`sextant_ingest::decode_request` and
/// [`ReplyStyle::from_params`] read them; any may also come in a form body).
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // describes the parameters; parsing is in sextant_ingest and reply
pub struct IngestParams {
    /// Records as JSON or base64 JSON (one object or an array); may instead be sent in the body.
    data: Option<String>,
    /// 1: answer `{"status", "error"}` instead of `1`/`0`.
    verbose: Option<u8>,
    /// 1: take the geolocation IP from the connection.
    ip: Option<u8>,
    /// 1: answer with a 1x1 GIF.
    img: Option<u8>,
    /// JSONP: wrap the answer in a call to this function.
    callback: Option<String>,
    /// 1: validate every record and report each that fails (not `/track`).
    strict: Option<u8>,
    /// The project, with service-account credentials.
    project_id: Option<i64>,
}

/// The two event endpoints.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `/track`.
    Track,
    /// `/import`.
    Import,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Track => "track",
            Kind::Import => "import",
        }
    }
}

/// Records after normalisation: each accepted one with its index, the failures, and how
/// many were valid but dropped on purpose.
struct Records {
    accepted: Vec<(usize, sextant_ingest::NormalizedEvent)>,
    failed: Vec<(usize, RecordError)>,
    /// The token of each failed record, by its place in `failed` (see
    /// [`TokenResolver::attribute`]).
    failed_tokens: Vec<Option<String>>,
    dropped: usize,
    /// Uncompressed size of the request's payload, charged to the ingestion limit.
    bytes: usize,
}

/// What the blocking half needs to know about the request.
struct RequestFacts {
    query: Option<String>,
    content_type: Option<String>,
    api_endpoint: String,
    client_ip: Option<String>,
    geo: Option<std::sync::Arc<dyn sextant_ingest::geo::Geolocate>>,
    now_ms: i64,
}

async fn ingest(state: AppState, request: Request, kind: Kind) -> Response {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    let (parts, body) = request.into_parts();
    let query_params = Params::parse(parts.uri.query().unwrap_or("").as_bytes());
    // Until the body is read, answer in the style the query string asks for.
    let early_style = reply_style(&query_params, kind).unwrap_or_default();
    // Credentials the head alone settles are checked before the body is read: a wrong
    // `/import` secret costs one lookup, not reading, inflating and parsing 10 MB.
    let early = match kind {
        Kind::Import => match credential_from_head(&state, &parts.headers, &query_params).await {
            Ok(c) => c,
            Err(e) => {
                body::drain(body, 0).await;
                return early_style.error(&e);
            }
        },
        Kind::Track => None,
    };
    let raw = match read_body(&early_style, &parts.headers, body).await {
        Ok(raw) => raw,
        Err(refused) => return refused,
    };
    let facts = RequestFacts {
        query: parts.uri.query().map(str::to_string),
        content_type: parts.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string),
        api_endpoint: crate::regions::host_name(&parts.headers),
        client_ip: peer.map(|p| p.ip().to_string()),
        geo: state.geo.clone(),
        now_ms: chrono::Utc::now().timestamp_millis(),
    };
    let (style, params, records) = match tokio::task::spawn_blocking(move || process(raw, facts, kind)).await {
        Ok(Ok(processed)) => processed,
        Ok(Err(e)) => return early_style.error(&e),
        Err(e) => {
            tracing::error!(error = %e, "ingest task failed");
            return early_style.error(&ApiError::new(sextant_model::ErrorCode::Internal, "internal error"));
        }
    };
    let records = match records {
        Ok(records) => records,
        Err(e) => return style.error(&e),
    };
    let slot = LimitSlot::of(&parts.extensions);
    match store_records(&state, &parts.headers, &slot, &params, kind, early, records).await {
        Ok((stored, valid, failed)) => style.outcome(stored, valid, &failed),
        Err(e) => style.error(&e),
    }
}

/// Reads an ingestion request's body. An encoding Sextant cannot undo is refused like
/// unusable data; a transfer that fails (cut off, stalled, too large) keeps its status.
pub(crate) async fn read_body(
    style: &ReplyStyle,
    headers: &HeaderMap,
    body: axum::body::Body,
) -> Result<body::RawBody, Response> {
    let encoding = body::encoding(headers).map_err(|e| style.error(&e))?;
    body::read_encoded(encoding, body, ApiFamily::Ingestion.max_request_bytes()).await.map_err(|e| style.unread(&e))
}

/// The blocking half: decompress, decode, split and normalise. The outer error is one
/// that must be answered in the query string's style (the body's parameters are unknown
/// or unusable); the inner one is answered in the style the whole request asked for.
fn process(
    raw: body::RawBody,
    facts: RequestFacts,
    kind: Kind,
) -> Result<(ReplyStyle, Params, Result<Records, ApiError>), ApiError> {
    let bytes = raw.decompress(ApiFamily::Ingestion.max_request_bytes())?;
    let decoded = decode_request(facts.query.as_deref(), facts.content_type.as_deref(), &bytes);
    let params = decoded.params;
    let style = reply_style(&params, kind)?;
    let endpoint = match kind {
        Kind::Track => Endpoint::Track,
        Kind::Import => Endpoint::Import { strict: params.flag("strict") },
    };
    let ctx = IngestContext {
        endpoint,
        now_ms: facts.now_ms,
        api_endpoint: facts.api_endpoint,
        client_ip: facts.client_ip,
        use_ip: params.flag("ip"),
        geo: facts.geo,
    };
    let records = decoded.payload.map_err(ApiError::from).and_then(|payload| {
        let raws = split_records(&payload)?;
        let mut records = Records {
            accepted: Vec::with_capacity(raws.len()),
            failed: Vec::new(),
            failed_tokens: Vec::new(),
            dropped: 0,
            bytes: bytes.len(),
        };
        for (i, raw) in raws.iter().enumerate() {
            match normalize_event(raw.get(), &ctx) {
                Ok(Outcome::Accepted(e)) => records.accepted.push((i, e)),
                Ok(Outcome::Dropped(_)) => records.dropped += 1,
                Err(e) => {
                    records.failed_tokens.push(token_in(raw.get(), "/properties/token"));
                    records.failed.push((i, e))
                }
            }
        }
        Ok(records)
    });
    Ok((style, params, records))
}

/// Authenticates, resolves projects, appends. Returns (stored, valid, failures).
async fn store_records(
    state: &AppState,
    headers: &HeaderMap,
    slot: &LimitSlot,
    params: &Params,
    kind: Kind,
    early: Option<Credential>,
    mut p: Records,
) -> Result<(usize, usize, Vec<(usize, RecordError)>), ApiError> {
    let credential = match (early, kind) {
        (Some(c), _) => Some(c),
        (None, Kind::Import) => {
            let project_id = auth::parse_project_id(params.get("project_id"))?;
            let request = auth::AuthRequest {
                headers,
                params,
                project_id,
                family: ApiFamily::Ingestion,
                allow_project_token: true,
            };
            auth::authenticate(state, request).await?
        }
        (None, Kind::Track) => fallback_credential(state, headers, params).await?,
    };
    let rows: Rows = match kind {
        Kind::Import => {
            let credential = credential.ok_or_else(|| {
                ApiError::unauthenticated(
                    "Invalid credentials: /import needs HTTP Basic auth with a service account and project_id, \
                     the project secret, or the project token",
                )
            })?;
            if !credential.may_import() {
                return Err(ApiError::forbidden(
                    "this service account's role may not import events (owner or admin needed)",
                ));
            }
            let mut rows = Rows::default();
            for (_, event) in p.accepted.drain(..) {
                rows.push(state, event, &credential.project, true);
            }
            rows
        }
        Kind::Track => resolve_track_projects(state, headers, credential.as_ref(), &mut p).await?,
    };
    let Rows { rows, edges, dropped } = rows;
    let stored = rows.len();
    // Events the Lexicon drops are charged like the rest: they were sent.
    charge_ingestion(state, slot, p.bytes, rows.iter().map(|r| r.project_id).chain(dropped.iter().copied()))?;
    let mut per_project: HashMap<ProjectId, usize> = HashMap::new();
    for row in &rows {
        *per_project.entry(row.project_id).or_default() += 1;
    }
    state.store.append_with_identity(rows, edges).await?;
    for (project, count) in per_project {
        metrics::events_ingested(project, kind.name(), count);
    }
    p.failed.sort_by_key(|(i, _)| *i);
    Ok((stored, stored + p.dropped + dropped.len(), p.failed))
}

/// The credential of a request whose head settles it: HTTP Basic or an API token in a
/// header, with `project_id` in the query string when a service account needs one.
/// `Ok(None)` when the body may still hold what is missing (a form's `project_id` or
/// `apiToken`); an error when the head's credentials are wrong.
async fn credential_from_head(
    state: &AppState,
    headers: &HeaderMap,
    query: &Params,
) -> Result<Option<Credential>, ApiError> {
    let project_id = auth::parse_project_id(query.get("project_id"))?;
    let settled = match auth::basic_credentials(headers) {
        Ok(Some(basic)) => basic.password.is_empty() || project_id.is_some(),
        // Not Basic: a bearer or `X-API-Token` header, or a malformed header, which
        // authentication reports the same way now as later.
        Err(_) => true,
        Ok(None) => headers.contains_key("x-api-token") || query.get("apiToken").is_some(),
    };
    if !settled {
        return Ok(None);
    }
    let request = auth::AuthRequest {
        headers,
        params: query,
        project_id,
        family: ApiFamily::Ingestion,
        allow_project_token: true,
    };
    auth::authenticate(state, request).await
}

/// The credential of a request whose records name their projects by token (`/track`,
/// `/engage`, `/groups`): optional, the project of records without a token. Mixpanel's
/// spec gives these endpoints no credential at all, so a service account without
/// `project_id`, which names no project, is passed over rather than refused; its
/// records must then carry their tokens.
pub(crate) async fn fallback_credential(
    state: &AppState,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Option<Credential>, ApiError> {
    let project_id = auth::parse_project_id(params.get("project_id"))?;
    if project_id.is_none() && matches!(auth::basic_credentials(headers), Ok(Some(b)) if !b.password.is_empty()) {
        return Ok(None);
    }
    let request =
        auth::AuthRequest { headers, params, project_id, family: ApiFamily::Ingestion, allow_project_token: true };
    let credential = auth::authenticate(state, request).await?;
    // A credential that may not send data (an analyst or consumer account, a token
    // without `ingestion`) lends no project to records either.
    if let Some(c) = &credential
        && !c.may(sextant_model::access::Operation::Ingest)
    {
        return Err(c.refusal(sextant_model::access::Operation::Ingest));
    }
    Ok(credential)
}

/// `/track` events name their project by token; a Basic credential covers events
/// without one. Events whose token matches no project fail; if nothing is stored and
/// one of them has such a token, the request as a whole is unauthenticated.
async fn resolve_track_projects(
    state: &AppState,
    headers: &HeaderMap,
    credential: Option<&Credential>,
    p: &mut Records,
) -> Result<Rows, ApiError> {
    let mut resolver = TokenResolver::new(state, headers, credential);
    resolver.attribute(&mut p.failed, std::mem::take(&mut p.failed_tokens), unattributed).await?;
    let mut rows = Rows::default();
    for (index, event) in p.accepted.drain(..) {
        let project = resolver.project(event.token.as_deref()).await?;
        match project {
            Some(project) => rows.push(state, event, &project, false),
            None => {
                let failure = RecordError { insert_id: Some(event.insert_id), ..unattributed(event.token.as_deref()) };
                p.failed.push((index, failure));
            }
        }
    }
    // Nothing stored and a token that names no project: the request is unauthenticated,
    // whatever else failed beside it.
    if rows.rows.is_empty()
        && rows.dropped.is_empty()
        && p.dropped == 0
        && let Some((_, e)) = p.failed.iter().find(|(_, e)| e.field == "properties.token")
    {
        return Err(ApiError::unauthenticated(e.message.clone()));
    }
    Ok(rows)
}

/// The failure of an event that belongs to no project.
fn unattributed(token: Option<&str>) -> RecordError {
    let message = if token.is_some() { "token, not a known project token" } else { "token, missing or empty" };
    RecordError { field: "properties.token".into(), message: message.into(), insert_id: None }
}

/// The token at `pointer` in a record that failed validation, if it names one.
pub(crate) fn token_in(raw: &str, pointer: &str) -> Option<String> {
    let record: serde_json::Value = serde_json::from_str(raw).ok()?;
    record.pointer(pointer)?.as_str().filter(|t| !t.is_empty()).map(str::to_string)
}

/// Resolves the project token each record carries (`properties.token`, `$token`), with a
/// cache for the request; a record without one falls back to the request's credential.
/// A token's project must be served by the host the request reached. Projects are
/// shared (`Arc`), so a request of many records clones none.
pub(crate) struct TokenResolver<'a> {
    state: &'a AppState,
    headers: &'a HeaderMap,
    fallback: Option<Arc<Project>>,
    seen: HashMap<String, Option<Arc<Project>>>,
}

impl<'a> TokenResolver<'a> {
    pub(crate) fn new(state: &'a AppState, headers: &'a HeaderMap, credential: Option<&Credential>) -> Self {
        let fallback = credential.map(|c| Arc::new(c.project.clone()));
        TokenResolver { state, headers, fallback, seen: HashMap::new() }
    }

    /// The record's project, or `None` when its token is unknown (or it has none and
    /// the request has no credential).
    pub(crate) async fn project(&mut self, token: Option<&str>) -> Result<Option<Arc<Project>>, ApiError> {
        let Some(token) = token else { return Ok(self.fallback.clone()) };
        if let Some(found) = self.seen.get(token) {
            return Ok(found.clone());
        }
        let found = self.state.project_by_token(token).await?;
        if let Some(project) = &found {
            self.state.regions.check(self.headers, project)?;
        }
        let found = found.map(Arc::new);
        self.seen.insert(token.to_string(), found.clone());
        Ok(found)
    }
}

impl TokenResolver<'_> {
    /// Reports each failed record whose token names no project (`tokens` holds the
    /// token of each of the first failures, if it had one) as `unattributed` says, in
    /// place of what else was wrong with it: authentication comes before validation, and
    /// the request may then be unauthenticated as a whole. A record without a token
    /// keeps its own failure.
    pub(crate) async fn attribute(
        &mut self,
        failed: &mut [(usize, RecordError)],
        tokens: Vec<Option<String>>,
        unattributed: fn(Option<&str>) -> RecordError,
    ) -> Result<(), ApiError> {
        for ((_, error), token) in failed.iter_mut().zip(tokens) {
            if let Some(token) = token
                && self.project(Some(&token)).await?.is_none()
            {
                *error = RecordError { insert_id: error.insert_id.take(), ..unattributed(Some(&token)) };
            }
        }
        Ok(())
    }
}

/// How a `/track` or `/import` request asked to be answered.
pub(crate) fn reply_style(params: &Params, kind: Kind) -> Result<ReplyStyle, ApiError> {
    let style = ReplyStyle::from_params(params, kind == Kind::Import)?;
    Ok(if kind == Kind::Import { style.importing(params) } else { style })
}
