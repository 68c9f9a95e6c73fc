//! `/engage` and `/groups`: user and group profile updates.
//!
//! The same encodings, limits and answers as `/track` (`1`/`0`, `verbose`, `strict`,
//! JSONP, pixel). Each record names its project with `$token`; a Basic credential
//! (project secret, service account with `project_id`, or an API token scoped to
//! ingestion) covers records without one. Updates are applied in arrival order and
//! answered after they are durable. A record over a profile limit it shows by itself (a
//! `$union` or `$append` of more than 10,000 items, a list longer than a profile's list
//! may be, a value over 256 KiB: `sextant_model::profile::check_operation`) fails alone,
//! in `failed_records` under `strict=1`. The limits that depend on the stored profile
//! are the writer's (`sextant_model::profile::apply`); it reports the updates it refused
//! once the others are durable, and they are answered the same way. See
//! `docs/api-conventions.md`.

use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::Response;
use sextant_ingest::{
    NormalizedProfileUpdate, Params, ProfileKind, RecordError, decode_request, normalize_profile_update, split_records,
};
use sextant_model::{ApiFamily, ProfileUpdate, ProjectId};

use super::reply::ReplyStyle;
use super::{IngestParams, TokenResolver, fallback_credential};
use crate::error::ApiError;
use crate::ingest_steps::charge_ingestion;
use crate::limits::LimitSlot;
use crate::state::AppState;
use sextant_api::ingestion::{IngestForm, ProfileUpdateRecord};

/// `GET|POST /engage`.
#[utoipa::path(
    method(get, post),
    path = "/engage",
    tag = "ingestion",
    summary = "Update user profiles",
    description = "Up to 2000 updates (`$set`, `$set_once`, `$add`, `$union`, `$append`, `$remove`, `$unset`, `$delete`), each naming `$distinct_id` and its project's `$token`, applied in order. A `$union` or `$append` of more than 10,000 items, a list of more than 10,000 items or a value over 256 KiB of JSON fails its record.",
    params(IngestParams),
    request_body(content(
        (Vec<ProfileUpdateRecord> = "application/json"),
        (IngestForm = "application/x-www-form-urlencoded")
    )),
    security((), ("basic" = []), ("bearer" = []))
)]
pub async fn engage(State(state): State<AppState>, request: Request) -> Response {
    ingest_profiles(state, request, ProfileKind::User).await
}

/// `GET|POST /groups`.
#[utoipa::path(
    method(get, post),
    path = "/groups",
    tag = "ingestion",
    summary = "Update group profiles",
    description = "Up to 2000 updates (`$set`, `$set_once`, `$union`, `$remove`, `$unset`, `$delete`), each naming `$group_key`, `$group_id` and its project's `$token`; `$distinct_id` is refused. A `$union` of more than 10,000 items, a list of more than 10,000 items or a value over 256 KiB of JSON fails its record.",
    params(IngestParams),
    request_body(content(
        (Vec<ProfileUpdateRecord> = "application/json"),
        (IngestForm = "application/x-www-form-urlencoded")
    )),
    security((), ("basic" = []), ("bearer" = []))
)]
pub async fn groups(State(state): State<AppState>, request: Request) -> Response {
    ingest_profiles(state, request, ProfileKind::Group).await
}

/// Updates after validation.
struct Updates {
    accepted: Vec<(usize, NormalizedProfileUpdate)>,
    failed: Vec<(usize, RecordError)>,
    /// The `$token` of each failed update, by its place in `failed` (see
    /// [`super::TokenResolver::attribute`]).
    failed_tokens: Vec<Option<String>>,
    bytes: usize,
}

async fn ingest_profiles(state: AppState, request: Request, kind: ProfileKind) -> Response {
    let peer = request.extensions().get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0);
    let (parts, body) = request.into_parts();
    let query_params = Params::parse(parts.uri.query().unwrap_or("").as_bytes());
    let early_style = ReplyStyle::from_params(&query_params, true).unwrap_or_default();
    let geo = state.geo.clone();
    let client_ip = peer.map(|p| p.ip().to_string());
    let limit = ApiFamily::Ingestion.max_request_bytes();
    let raw = match super::read_body(&early_style, &parts.headers, body).await {
        Ok(raw) => raw,
        Err(refused) => return refused,
    };
    let query = parts.uri.query().map(str::to_string);
    let content_type = parts.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
    let now_ms = chrono::Utc::now().timestamp_millis();
    let processed = tokio::task::spawn_blocking(move || {
        let bytes = raw.decompress(limit)?;
        let decoded = decode_request(query.as_deref(), content_type.as_deref(), &bytes);
        let style = ReplyStyle::from_params(&decoded.params, true)?;
        // Profiles are placed by the request's address unless the request says `ip=0`.
        let use_request_ip = decoded.params.get("ip").is_none_or(|v| v.trim() != "0");
        let updates = decoded.payload.map_err(ApiError::from).and_then(|payload| {
            let raws = split_records(&payload)?;
            let mut updates = Updates {
                accepted: Vec::with_capacity(raws.len()),
                failed: Vec::new(),
                failed_tokens: Vec::new(),
                bytes: bytes.len(),
            };
            for (i, raw) in raws.iter().enumerate() {
                match normalize_profile_update(raw.get(), kind, now_ms) {
                    Ok(mut u) => {
                        let address = u.address.address(client_ip.as_deref(), use_request_ip);
                        if let Some(geo) = &geo
                            && kind == ProfileKind::User
                            && let Some((place, reverse)) =
                                sextant_ingest::geo::place_of(geo.as_ref(), u.coordinates, address)
                        {
                            sextant_ingest::geo::place_profile(&mut u.ops, &place, reverse);
                        }
                        updates.accepted.push((i, u))
                    }
                    Err(e) => {
                        updates.failed_tokens.push(super::token_in(raw.get(), "/$token"));
                        updates.failed.push((i, e))
                    }
                }
            }
            Ok(updates)
        });
        Ok::<_, ApiError>((style, decoded.params, updates))
    })
    .await;
    let (style, params, updates) = match processed {
        Ok(Ok(processed)) => processed,
        Ok(Err(e)) => return early_style.error(&e),
        Err(e) => {
            tracing::error!(error = %e, "profile ingest task failed");
            return early_style.error(&ApiError::new(sextant_model::ErrorCode::Internal, "internal error"));
        }
    };
    let updates = match updates {
        Ok(updates) => updates,
        Err(e) => return style.error(&e),
    };
    let slot = LimitSlot::of(&parts.extensions);
    match store(&state, &parts.headers, &slot, &params, updates).await {
        Ok((stored, failed)) => style.outcome(stored, stored, &failed),
        Err(e) => style.error(&e),
    }
}

/// Authenticates, resolves each update's project, charges the limit and applies them.
async fn store(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    slot: &LimitSlot,
    params: &Params,
    mut u: Updates,
) -> Result<(usize, Vec<(usize, RecordError)>), ApiError> {
    let credential = fallback_credential(state, headers, params).await?;
    let mut resolver = TokenResolver::new(state, headers, credential.as_ref());
    let mut ready: Vec<ProfileUpdate> = Vec::with_capacity(u.accepted.len());
    // The record each update in `ready` came from.
    let mut records: Vec<usize> = Vec::with_capacity(u.accepted.len());
    // Updates of opted-out users: accepted and dropped, by project (charged all the same).
    let mut opted_out: Vec<ProjectId> = Vec::new();
    for (index, update) in u.accepted.drain(..) {
        match resolver.project(update.token.as_deref()).await? {
            Some(project) => {
                let resolve = project.identity_mode == sextant_model::IdentityMode::Original;
                let update = update.into_update(project.id, resolve);
                if update.key.group_key == sextant_model::profile::USER_PROFILES
                    && state.opt_outs.drops(project.id, &update.key.id)
                {
                    opted_out.push(project.id);
                    continue;
                }
                ready.push(update);
                records.push(index);
            }
            None => u.failed.push((index, unattributed(update.token.as_deref()))),
        }
    }
    resolver.attribute(&mut u.failed, std::mem::take(&mut u.failed_tokens), unattributed).await?;
    // Nothing to apply and a token that names no project: unauthenticated, as `/track`.
    if ready.is_empty()
        && let Some((_, e)) = u.failed.iter().find(|(_, e)| e.field == "$token")
    {
        return Err(ApiError::unauthenticated(e.message.clone()));
    }
    charge_ingestion(state, slot, u.bytes, ready.iter().map(|r| r.key.project_id).chain(opted_out.iter().copied()))?;
    let sent = ready.len();
    // What only the stored profile shows over a limit is refused by the store, after
    // the others are durable, and reported like the refusals ingestion sees alone.
    let refused = state.profiles.update_profiles(ready).await?;
    let stored = sent - refused.len();
    for (at, why) in refused {
        u.failed.push((records[at], RecordError::invalid(&why.field, why.reason)));
    }
    u.failed.sort_by_key(|(i, _)| *i);
    Ok((stored + opted_out.len(), u.failed))
}

/// The failure of an update that belongs to no project.
fn unattributed(token: Option<&str>) -> RecordError {
    RecordError::invalid("$token", if token.is_some() { "not a known project token" } else { "missing or empty" })
}
