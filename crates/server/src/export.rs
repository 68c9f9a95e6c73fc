//! `GET /api/2.0/export`: raw events as JSON lines, streamed.
//!
//! Each line is `{"event": ..., "properties": {"time": ..., "distinct_id": ...,
//! "$insert_id": ..., <stored properties>}}`. `time` is in seconds unless
//! `time_in_ms=true`. Dates are UTC days, both ends inclusive, at most 100 days.
//! Every ingested copy is returned, as Mixpanel's export does, unless Sextant's own
//! `dedup=true` asks for each event once, as reports count it. Each line is written by
//! [`crate::event_lines`].

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use std::sync::Arc;

use sextant_expr::{Program, Scope};
use sextant_ingest::Params;
use sextant_lanes::Lane;
use sextant_model::Project;
use sextant_model::limits::{MAX_EXPORT_DAYS, MAX_EXPORT_LIMIT};
use sextant_model::time::{DAY_MS, parse_date, utc_midnight_ms};
use sextant_storage::{ExportQuery, StorageError};

use crate::error::ApiError;
use crate::event_lines;
use crate::extract::{ExportApi, Reader};
use crate::state::AppState;
use sextant_api::query::ExportParams;

/// `GET /api/2.0/export`.
#[utoipa::path(
    get,
    path = "/api/2.0/export",
    tag = "export",
    summary = "Raw event export",
    description = "Streams events as JSON lines, one UTC day after another in time order. Dates are UTC, both inclusive, at most 100 days. Gzip when asked with `Accept-Encoding`.",
    params(ExportParams),
    responses((status = 200, description = "JSON lines: `{\"event\", \"properties\"}` per line", body = String, content_type = "text/plain")),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn export(State(state): State<AppState>, reader: Reader<ExportApi>) -> Result<Response, ApiError> {
    start(&state, reader).await
}

async fn start(state: &AppState, reader: Reader<ExportApi>) -> Result<Response, ApiError> {
    reader.check_workspace()?;
    let Reader { params, credential, view, .. } = reader;
    let mut query = parse_query(&params)?;
    query.project_id = credential.project.id;
    sextant_query::workspace::narrow_events(&view, &mut query.events);
    let view = std::sync::Arc::new(view);
    let filter = parse_where(&params, &credential.project)?;
    query.filter = crate::lookup_join::Attacher::new(state, credential.project.id).optional(filter).await?;
    let time_in_ms = params.flag("time_in_ms");
    let mut chunks = state.store.export(query);
    // Read the first chunk before answering, so a failure to start is a clear error
    // rather than a 200 with a broken body.
    let first = chunks.next().await.transpose()?;
    // Writing the lines is most of an export's CPU: it runs in the bulk lane, with the
    // reading, so a long export yields to ingestion and reports.
    let lines = futures::stream::iter(first.map(Ok)).chain(chunks).then(move |chunk| {
        let view = view.clone();
        async move {
            let events = chunk?;
            let text = Lane::Bulk
                .run(move || {
                    let mut out = String::with_capacity(events.len() * 256);
                    for e in &events {
                        event_lines::write_line(&mut out, e, time_in_ms, &view);
                    }
                    out
                })
                .await
                .map_err(|e| StorageError::Backend(format!("export formatting failed: {e}")))?;
            Ok::<_, StorageError>(bytes::Bytes::from(text))
        }
    });
    let mut response = Body::from_stream(lines).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    Ok(response)
}

/// Reads and checks the export parameters (the project is filled in by the caller).
fn parse_query(params: &Params) -> Result<ExportQuery, ApiError> {
    let date = |name: &str| -> Result<chrono::NaiveDate, ApiError> {
        let value = params.get(name).map(str::trim).filter(|v| !v.is_empty());
        let value = value.ok_or_else(|| ApiError::invalid(format!("{name} is required (yyyy-mm-dd)")))?;
        parse_date(value)
            .ok_or_else(|| ApiError::invalid(format!("{name} `{value}` is not a date in yyyy-mm-dd format")))
    };
    let (from, to) = (date("from_date")?, date("to_date")?);
    if from > to {
        return Err(ApiError::invalid(format!("from_date {from} is after to_date {to}")));
    }
    let days = (to - from).num_days() + 1;
    if days > MAX_EXPORT_DAYS {
        return Err(ApiError::invalid(format!(
            "the range from_date..to_date covers {days} days; at most {MAX_EXPORT_DAYS} are allowed per request"
        )));
    }
    let limit = match params.get("limit").map(str::trim).filter(|v| !v.is_empty()) {
        None => None,
        Some(v) => match v.parse::<u64>() {
            Ok(n) if (1..=MAX_EXPORT_LIMIT).contains(&n) => Some(n),
            _ => {
                return Err(ApiError::invalid(format!(
                    "limit must be an integer from 1 to {MAX_EXPORT_LIMIT}, got `{v}`"
                )));
            }
        },
    };
    let events = match params.get("event").map(str::trim).filter(|v| !v.is_empty()) {
        None => None,
        Some(v) if v.starts_with('[') => Some(
            serde_json::from_str::<Vec<String>>(v)
                .map_err(|_| ApiError::invalid(format!("event must be a JSON array of event names, got `{v}`")))?,
        ),
        Some(v) => Some(vec![v.to_string()]),
    };
    Ok(ExportQuery {
        project_id: sextant_model::ProjectId(0),
        from_ms: utc_midnight_ms(from),
        to_ms: utc_midnight_ms(to) + DAY_MS,
        events,
        limit,
        users: None,
        filter: None,
        dedup: params.flag("dedup"),
        properties: None,
    })
}

/// The `where` expression, checked for event queries in the project's timezone and
/// string-case setting. A bad one is a 400 that says what and where.
fn parse_where(params: &Params, project: &Project) -> Result<Option<Arc<Program>>, ApiError> {
    parse_where_in(params, project, Scope::Event)
}

/// The `where` parameter as a program over `scope`, with the project's settings.
pub(crate) fn parse_where_in(
    params: &Params,
    project: &Project,
    scope: Scope,
) -> Result<Option<Arc<Program>>, ApiError> {
    let Some(src) = params.get("where").filter(|w| !w.trim().is_empty()) else { return Ok(None) };
    Program::parse(src, scope, crate::reports::expression_options(project))
        .map(|p| Some(Arc::new(p)))
        .map_err(|e| ApiError::invalid(format!("invalid `where` expression: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_checked() {
        let q = |s: &str| parse_query(&Params::parse(s.as_bytes()));
        let ok = q("from_date=2024-01-01&to_date=2024-01-02&event=%5B%22a%22%5D&limit=5").unwrap();
        assert_eq!(ok.to_ms - ok.from_ms, 2 * DAY_MS);
        assert_eq!(ok.events, Some(vec!["a".to_string()]));
        assert_eq!(ok.limit, Some(5));
        assert!(q("to_date=2024-01-02").is_err());
        assert!(q("from_date=2024-01-03&to_date=2024-01-02").is_err());
        assert!(q("from_date=2024-01-01&to_date=2024-05-01").is_err());
        assert!(q("from_date=2024-01-01&to_date=2024-01-02&limit=100001").is_err());
        assert!(q("from_date=2024-1-1x&to_date=2024-01-02").is_err());
    }
}

#[cfg(test)]
mod where_tests {
    use super::*;

    fn project() -> Project {
        Project {
            id: sextant_model::ProjectId(1),
            org_id: sextant_model::OrgId(1),
            name: "p".into(),
            token: "t".into(),
            timezone: "Europe/Paris".into(),
            identity_mode: Default::default(),
            created_at_ms: 0,
            case_sensitive_strings: false,
            region: Default::default(),
            rate_limits: Default::default(),
        }
    }

    #[test]
    fn where_is_parsed_or_explained() {
        let w = |s: &str| parse_where(&Params::parse(s.as_bytes()), &project());
        assert!(w("from_date=2024-01-01").unwrap().is_none());
        assert!(w("where=properties%5B%22a%22%5D%3D%3D1").unwrap().is_some());
        let err = w("where=fooo(1)").unwrap_err();
        assert!(err.message.contains("unknown function `fooo` at 1"), "{}", err.message);
    }
}
