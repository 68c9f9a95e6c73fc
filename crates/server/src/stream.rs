//! The activity feed: `GET /api/query/stream/query` and `/api/2.0/stream/query`.
//!
//! The events of the given users over a range of days in the project's timezone,
//! oldest first, each under its user's canonical id: asking for any id of an identity
//! cluster returns the whole cluster's activity.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use sextant_model::limits::MAX_EXPORT_DAYS;
use sextant_model::time::parse_date;
use sextant_storage::ExportQuery;

use crate::error::ApiError;
use crate::extract::Reader;
use crate::state::AppState;

/// Events one feed returns at most (oldest first).
pub const MAX_FEED_EVENTS: u64 = 100_000;

/// The activity feed's parameters, as the OpenAPI document lists them.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // describes the parameters; parsing is `answer`
pub struct StreamParams {
    /// The project, with service-account credentials.
    project_id: Option<i64>,
    /// A JSON array of distinct ids.
    distinct_ids: String,
    /// First day, yyyy-mm-dd, project timezone.
    #[param(format = Date)]
    from_date: String,
    /// Last day, yyyy-mm-dd, project timezone.
    #[param(format = Date)]
    to_date: String,
}

/// `GET /api/query/stream/query`.
#[utoipa::path(
    get,
    path = "/api/query/stream/query",
    tag = "query",
    summary = "Activity feed of some users",
    description = "Every event of the users named by `distinct_ids` (any id of their identity clusters), oldest first, between two days of the project's timezone (both inclusive, at most 100 days), at most 100000.",
    params(StreamParams),
    responses((status = 200, description = "`{\"status\": \"ok\", \"results\": {\"events\": [...]}}`", body = serde_json::Value)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn query(State(state): State<AppState>, reader: Reader) -> Result<Response, ApiError> {
    answer(&state, reader).await
}

/// `GET /api/2.0/stream/query`: the same feed at its legacy path.
#[utoipa::path(
    get,
    path = "/api/2.0/stream/query",
    tag = "query",
    summary = "Activity feed of some users (legacy path)",
    params(StreamParams),
    responses((status = 200, description = "`{\"status\": \"ok\", \"results\": {\"events\": [...]}}`", body = serde_json::Value)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn legacy_query(state: State<AppState>, reader: Reader) -> Result<Response, ApiError> {
    query(state, reader).await
}

async fn answer(state: &AppState, reader: Reader) -> Result<Response, ApiError> {
    let Reader { params, credential, view, .. } = reader;

    let mut problems = Vec::new();
    let users = match params.get("distinct_ids").map(str::trim).filter(|v| !v.is_empty()) {
        None => {
            problems.push(("distinct_ids".to_string(), "is required: a JSON array of distinct ids".to_string()));
            Vec::new()
        }
        Some(text) => match serde_json::from_str::<Vec<serde_json::Value>>(text) {
            Ok(items) if items.iter().all(|v| v.is_string() || v.is_number()) => {
                items.into_iter().map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())).collect()
            }
            _ => {
                problems.push(("distinct_ids".to_string(), "must be a JSON array of distinct ids".to_string()));
                Vec::new()
            }
        },
    };
    let mut date = |name: &str| match params.get(name).map(str::trim).and_then(parse_date) {
        Some(d) => Some(d),
        None => {
            problems.push((name.to_string(), "is required, as yyyy-mm-dd".to_string()));
            None
        }
    };
    let (from, to) = (date("from_date"), date("to_date"));
    // The day after `to`, where the range ends; none for the last day chrono has.
    let end = to.and_then(|to| to.checked_add_days(chrono::Days::new(1)));
    if to.is_some() && end.is_none() {
        problems.push(("to_date".to_string(), "is out of range".to_string()));
    }
    if let (Some(from), Some(to)) = (from, to) {
        if from > to {
            problems.push(("from_date".to_string(), format!("{from} is after to_date {to}")));
        } else if (to - from).num_days() + 1 > MAX_EXPORT_DAYS {
            problems.push(("to_date".to_string(), format!("the range may cover at most {MAX_EXPORT_DAYS} days")));
        }
    }
    if !problems.is_empty() {
        return Err(ApiError::invalid_fields("invalid activity feed query", problems));
    }
    let (Some(from), Some(end)) = (from, end) else { unreachable!("dates were checked") };
    let tz: chrono_tz::Tz = credential.project.timezone.parse().unwrap_or(chrono_tz::UTC);
    let mut query = ExportQuery {
        project_id: credential.project.id,
        from_ms: local_midnight_ms(from, tz),
        to_ms: local_midnight_ms(end, tz),
        events: None,
        limit: Some(MAX_FEED_EVENTS),
        users: Some(users),
        filter: None,
        dedup: false,
        properties: None,
    };
    sextant_query::workspace::narrow_events(&view, &mut query.events);
    // `{"status": "ok", "results": {"events": [` then each event, streamed.
    let mut chunks = state.store.export(query);
    let first = chunks.next().await.transpose()?;
    let mut started = false;
    let body = futures::stream::iter(first.map(Ok)).chain(chunks).map(move |chunk| {
        chunk.map(|events| {
            let mut out = String::new();
            for e in &events {
                out.push_str(if started { "," } else { "" });
                started = true;
                let mut line = String::new();
                crate::event_lines::write_line(&mut line, e, false, &view);
                out.push_str(line.trim_end());
            }
            bytes::Bytes::from(out)
        })
    });
    let head =
        futures::stream::once(async { Ok(bytes::Bytes::from_static(br#"{"status":"ok","results":{"events":["#)) });
    let tail = futures::stream::once(async { Ok(bytes::Bytes::from_static(b"]}}")) });
    let mut response = Body::from_stream(head.chain(body).chain(tail)).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

/// Midnight of `date` in `tz`, as epoch ms (the first valid instant when midnight is
/// skipped by a clock change).
fn local_midnight_ms(date: chrono::NaiveDate, tz: chrono_tz::Tz) -> i64 {
    use chrono::TimeZone;
    let midnight = date.and_time(chrono::NaiveTime::MIN);
    match tz.from_local_datetime(&midnight) {
        chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => t.timestamp_millis(),
        chrono::LocalResult::None => tz
            .from_local_datetime(&(midnight + chrono::Duration::hours(1)))
            .earliest()
            .map_or_else(|| midnight.and_utc().timestamp_millis(), |t| t.timestamp_millis()),
    }
}
