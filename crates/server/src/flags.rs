//! Feature flags as the official SDKs read them, at Mixpanel's paths
//! (`feature-flags.openapi.yaml`): authenticated with the project token (as every SDK
//! sends it, `Authorization: Basic base64(TOKEN:)`), the secret, a service account with
//! `project_id`, or an API token holding `flags`.
//!
//! - `GET /flags/definitions`: the project's enabled flags for local evaluation
//!   (remote-only ones left out), with a strong `ETag`; `If-None-Match` with it answers
//!   304. The body is built once per change of the project's flags
//!   ([`crate::flag_book`]).
//! - `GET /flags` (`context` a JSON object in the query string, optional `flag_key`)
//!   and `POST /flags` (the same as a JSON body, `flag_keys` a list): each flag's
//!   variant for the context, computed exactly as the SDKs compute it locally
//!   (`sextant_flags::evaluate`), as `{"code": 200, "flags": {key: variant}}` with only
//!   the flags the context gets. A rollout group confined to a saved cohort (remote
//!   only) takes the context's user when the cohort's definition, run over that one
//!   profile at the time of the call, holds it: live, where Mixpanel's cohorts refresh
//!   about every two hours. With `record_exposures` (Sextant's own parameter), the call
//!   also stores each variant it answers as the `$experiment_started` event an SDK
//!   would track (`sextant_flags::exposure`), through ingestion's own steps and under
//!   the project's ingestion limit, before answering; a server-side caller then need
//!   not track exposures itself.

use std::collections::{BTreeMap, BTreeSet};

use axum::Json;
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};
use sextant_flags::exposure::{Fetch, exposure};
use sextant_flags::{Properties, Selected};

use sextant_model::{CohortId, Project};

use crate::error::ApiError;
use crate::extract::FlagsCall;
use crate::state::AppState;

/// The variants a context gets: `{"code": 200, "flags": {...}}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct FlagAssignments {
    /// Always 200 (the Python SDK requires it).
    pub code: u16,
    /// Flag key -> the context's variant, for the flags it gets.
    pub flags: BTreeMap<String, Selected>,
}

/// Whether an `If-None-Match` header names `etag` (or is `*`).
fn matches(headers: &HeaderMap, etag: &str) -> bool {
    headers.get_all(IF_NONE_MATCH).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(|tag| {
        let tag = tag.trim();
        tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag
    })
}

/// `GET /flags/definitions`.
#[utoipa::path(
    get,
    path = "/flags/definitions",
    tag = "flags",
    summary = "The project's enabled flags, for the SDKs' local evaluation",
    params(
        ("token" = Option<String>, Query, description = "The project token (the SDKs also send it as Basic user)."),
        ("project_id" = Option<i64>, Query, description = "With service-account credentials."),
        ("If-None-Match" = Option<String>, Header, description = "The ETag of the definitions held: 304 if unchanged.")
    ),
    responses(
        (status = 200, description = "The definitions", body = crate::flag_book::FlagDefinitions),
        (status = 304, description = "Unchanged since the ETag sent")
    ),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn definitions(
    State(state): State<AppState>,
    headers: HeaderMap,
    call: FlagsCall,
) -> Result<Response, ApiError> {
    let book = state.flags.of(&state.metadata, call.credential.project.id).await?;
    let etag = HeaderValue::from_str(&book.etag)
        .map_err(|e| ApiError::new(sextant_model::ErrorCode::Internal, e.to_string()))?;
    let no_cache = HeaderValue::from_static("no-cache");
    if matches(&headers, &book.etag) {
        return Ok((StatusCode::NOT_MODIFIED, [(ETAG, etag), (CACHE_CONTROL, no_cache)]).into_response());
    }
    let json = HeaderValue::from_static("application/json");
    Ok(([(CONTENT_TYPE, json), (ETAG, etag), (CACHE_CONTROL, no_cache)], book.definitions.clone()).into_response())
}

/// What an evaluation asks: the context and, if some, which flags.
struct Ask {
    context: Map<String, Value>,
    keys: Option<BTreeSet<String>>,
    /// Store the answer's exposures.
    record: bool,
}

fn bad_context(problem: &str) -> ApiError {
    ApiError::invalid_fields("invalid context", vec![("context".into(), problem.into())])
}

impl Ask {
    fn of(call: &FlagsCall) -> Result<Ask, ApiError> {
        let from_body = call.body.as_ref().and_then(|b| b.get("context")).cloned();
        let context = match (from_body, call.params.get("context")) {
            (Some(c), _) => c,
            (None, Some(text)) => serde_json::from_str(text).map_err(|e| bad_context(&format!("is not JSON: {e}")))?,
            (None, None) => return Err(bad_context("is required: a JSON object with distinct_id")),
        };
        let Value::Object(context) = context else { return Err(bad_context("must be a JSON object")) };
        if !context.get("distinct_id").is_some_and(Value::is_string) {
            return Err(bad_context("distinct_id must be provided in evalContext as a string"));
        }
        let mut keys: Option<BTreeSet<String>> = None;
        let mut add = |key: &str| {
            keys.get_or_insert_with(BTreeSet::new).insert(key.to_string());
        };
        if let Some(key) = call.params.get("flag_key") {
            add(key);
        }
        if let Some(list) = call.params.get("flag_keys") {
            list.split(',').map(str::trim).filter(|k| !k.is_empty()).for_each(&mut add);
        }
        let not_strings = || {
            ApiError::invalid_fields(
                "invalid flag_keys",
                vec![("flag_keys".into(), "must be a list of strings".into())],
            )
        };
        match call.body.as_ref().and_then(|b| b.get("flag_keys")) {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for item in items {
                    add(item.as_str().ok_or_else(not_strings)?);
                }
            }
            Some(_) => return Err(not_strings()),
        }
        let record =
            match (call.body.as_ref().and_then(|b| b.get("record_exposures")), call.params.get("record_exposures")) {
                (Some(Value::Bool(b)), _) => *b,
                (None | Some(Value::Null), None) => false,
                (None | Some(Value::Null), Some("true" | "1")) => true,
                (None | Some(Value::Null), Some("false" | "0")) => false,
                _ => {
                    return Err(ApiError::invalid_fields(
                        "invalid record_exposures",
                        vec![("record_exposures".into(), "must be true or false".into())],
                    ));
                }
            };
        Ok(Ask { context, keys, record })
    }
}

/// `GET /flags` and `POST /flags`.
async fn evaluate(state: &AppState, call: FlagsCall) -> Result<Json<FlagAssignments>, ApiError> {
    let started_ms = chrono::Utc::now().timestamp_millis();
    let ask = Ask::of(&call)?;
    let project = &call.credential.project;
    let book = state.flags.of(&state.metadata, project.id).await?;
    let properties = Properties::of(&ask.context);
    let asked: Vec<_> =
        book.flags.iter().filter(|f| ask.keys.as_ref().is_none_or(|keys| keys.contains(&f.flag.spec.key))).collect();
    // The cohorts that decide a group for this context, each read once.
    let distinct_id = ask.context.get("distinct_id").and_then(Value::as_str).unwrap_or_default();
    let mut to_check = BTreeSet::new();
    if !distinct_id.is_empty() {
        to_check.extend(asked.iter().flat_map(|f| f.flag.cohorts_to_check(&ask.context, &properties)));
    }
    let mut members = BTreeSet::new();
    for cohort in to_check.into_iter().take(MAX_COHORTS_A_CALL) {
        if holds(state, project, cohort, distinct_id).await {
            members.insert(cohort);
        }
    }
    let flags = asked
        .iter()
        .filter_map(|f| {
            let chosen = f.flag.evaluate_in(&ask.context, &properties, &|cohort| members.contains(&cohort))?;
            Some((f.flag.spec.key.clone(), chosen))
        })
        .collect();
    if ask.record {
        let fetch = Fetch { started_ms, completed_ms: chrono::Utc::now().timestamp_millis() };
        record_exposures(state, &call, distinct_id, &flags, fetch).await?;
    }
    Ok(Json(FlagAssignments { code: 200, flags }))
}

/// Stores `distinct_id`'s exposure to each of `flags` as `/import` would. An error (the
/// ingestion limit, the store) fails the call, so that the caller knows to send it
/// again rather than lose the exposures.
async fn record_exposures(
    state: &AppState,
    call: &FlagsCall,
    distinct_id: &str,
    flags: &BTreeMap<String, Selected>,
    fetch: Fetch,
) -> Result<(), ApiError> {
    if flags.is_empty() {
        return Ok(());
    }
    let records = flags.iter().map(|(key, selected)| exposure(key, selected, distinct_id, fetch).to_string()).collect();
    let project = &call.credential.project;
    let stored = crate::ingest_steps::import_events(state, project, records, "flags", &call.slot).await?;
    for (_, why) in stored.failed {
        tracing::warn!(project = project.id.0, reason = %why.message, "an exposure was refused");
    }
    Ok(())
}

/// The most cohorts one `/flags` call reads (each a control-plane read and a profile
/// lookup); groups past them hold no one for that call.
const MAX_COHORTS_A_CALL: usize = 20;

/// Whether the user `distinct_id` is, now, in the project's saved cohort `id`: the
/// cohort's definition run over that one profile, as engage's `filter_by_cohort` runs
/// it. A cohort that cannot say (deleted, changed to read behaviours since the flag was
/// saved, or a failed read) holds no one, and the other flags are answered still.
async fn holds(state: &AppState, project: &Project, id: i64, distinct_id: &str) -> bool {
    let definition = match state.metadata.cohort(project.id, CohortId(id)).await {
        Ok(cohort) if cohort.definition.behaviors.is_empty() => cohort.definition,
        Ok(_) => {
            tracing::warn!(cohort = id, "a flag's cohort reads behaviours; it holds no one for flags");
            return false;
        }
        Err(sextant_metadata::MetadataError::NotFound(_)) => return false,
        Err(e) => {
            tracing::warn!(cohort = id, error = %e, "cannot read a flag's cohort");
            return false;
        }
    };
    match crate::reports::cohort_members(state, project, &definition, Some(vec![distinct_id.to_string()])).await {
        Ok(n) => n > 0,
        Err(e) => {
            tracing::warn!(cohort = id, error = %e.message, "cannot tell a flag's cohort members");
            false
        }
    }
}

/// `GET /flags`.
#[utoipa::path(
    get,
    path = "/flags",
    tag = "flags",
    summary = "The variants a context gets, evaluated on the server",
    params(
        ("context" = String, Query, description = "A JSON object: distinct_id (required), device_id, custom_properties, group keys."),
        ("flag_key" = Option<String>, Query, description = "Only this flag."),
        ("record_exposures" = Option<bool>, Query, description = "Sextant's own: also store each variant answered as the `$experiment_started` event an SDK would track."),
        ("token" = Option<String>, Query, description = "The project token (the SDKs also send it as Basic user)."),
        ("project_id" = Option<i64>, Query, description = "With service-account credentials.")
    ),
    responses((status = 200, description = "The variants of the flags the context gets", body = FlagAssignments)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn assignments(State(state): State<AppState>, call: FlagsCall) -> Result<Json<FlagAssignments>, ApiError> {
    evaluate(&state, call).await
}

/// The body of `POST /flags`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents the body `Ask::of` reads
struct EvaluateRequest {
    /// distinct_id (required), device_id, custom_properties, group keys.
    context: Map<String, Value>,
    /// Only these flags.
    flag_keys: Option<Vec<String>>,
    /// Sextant's own: also store each variant answered as the `$experiment_started`
    /// event an SDK would track.
    record_exposures: Option<bool>,
}

/// `POST /flags`.
#[utoipa::path(
    post,
    path = "/flags",
    tag = "flags",
    summary = "The variants a context gets, evaluated on the server (the context as a JSON body)",
    params(
        ("token" = Option<String>, Query, description = "The project token (the SDKs also send it as Basic user)."),
        ("project_id" = Option<i64>, Query, description = "With service-account credentials.")
    ),
    request_body(content = EvaluateRequest, content_type = "application/json"),
    responses((status = 200, description = "The variants of the flags the context gets", body = FlagAssignments)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn assignments_posted(
    State(state): State<AppState>,
    call: FlagsCall,
) -> Result<Json<FlagAssignments>, ApiError> {
    evaluate(&state, call).await
}
