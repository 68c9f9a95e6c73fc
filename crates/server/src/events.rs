//! The events reports, each at `/api/query/...` and `/api/2.0/...`: `events`,
//! `events/top`, `events/names`, `events/properties`, `events/properties/top` and
//! `events/properties/values`. What they mean is `sextant_query::events`. Events and
//! properties the Lexicon declares hidden are flagged: `/events/names` names them in
//! the [`HIDDEN_EVENTS`] header, `/events/properties/top` gives them `"hidden": true`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sextant_query::events;
use sextant_query::segmentation::Segmentation;

use crate::error::ApiError;
use crate::extract::Reader;
use crate::state::AppState;

/// The header that names, form-encoded and comma-separated, the events of an
/// `/events/names` answer the Lexicon declares hidden (the first 32; the answer itself
/// stays a bare array of names, as Mixpanel's clients read it).
pub const HIDDEN_EVENTS: axum::http::HeaderName = axum::http::HeaderName::from_static("x-sextant-hidden-events");

/// Hidden events the header names at most (a header has room for a few kilobytes).
const MAX_HIDDEN_NAMED: usize = 32;

fn hidden_events_header(hidden: &[&String]) -> Option<axum::http::HeaderValue> {
    if hidden.is_empty() {
        return None;
    }
    let encoded: Vec<String> =
        hidden.iter().take(MAX_HIDDEN_NAMED).map(|n| form_urlencoded::byte_serialize(n.as_bytes()).collect()).collect();
    axum::http::HeaderValue::from_str(&encoded.join(",")).ok()
}

/// Which report.
#[derive(Clone, Copy)]
enum Report {
    Events,
    Top,
    Names,
    Properties,
    PropertiesTop,
    PropertiesValues,
}

/// Declares a report's two handlers (current and legacy path) with their documentation.
macro_rules! report {
    ($name:ident, $legacy:ident, $report:expr, $path:literal, $legacy_path:literal, $summary:literal, $answer:literal) => {
        #[doc = concat!("`GET ", $path, "`.")]
        #[utoipa::path(
            get,
            path = $path,
            tag = "query",
            summary = $summary,
            params(
                ("project_id" = Option<i64>, Query, description = "The project, with service-account credentials."),
                ("event" = Option<String>, Query, description = "The event (for `/events`, a JSON array of names)."),
                ("name" = Option<String>, Query, description = "The property (`/events/properties*`)."),
                ("values" = Option<String>, Query, description = "A JSON array of the property values to keep."),
                ("type" = Option<String>, Query, description = "`general`, `unique` or `average`."),
                ("unit" = Option<String>, Query, description = "`minute`, `hour`, `day`, `week` or `month`."),
                ("interval" = Option<u32>, Query, description = "The N most recent units, instead of dates."),
                ("from_date" = Option<String>, Query, format = Date, description = "First day, yyyy-mm-dd."),
                ("to_date" = Option<String>, Query, format = Date, description = "Last day (inclusive)."),
                ("limit" = Option<u32>, Query, description = "At most this many entries."),
                ("format" = Option<String>, Query, description = "`csv` for CSV (`/events`, `/events/properties`).")
            ),
            responses((status = 200, description = $answer, body = serde_json::Value)),
            security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
        )]
        pub async fn $name(State(state): State<AppState>, reader: Reader) -> Result<Response, ApiError> {
            answer(&state, reader, $report).await
        }

        #[doc = concat!("`GET ", $legacy_path, "`.")]
        #[utoipa::path(
            get,
            path = $legacy_path,
            tag = "query",
            summary = concat!($summary, " (legacy path)"),
            params(("project_id" = Option<i64>, Query, description = "The project, with service-account credentials.")),
            responses((status = 200, description = $answer, body = serde_json::Value)),
            security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
        )]
        pub async fn $legacy(State(state): State<AppState>, reader: Reader) -> Result<Response, ApiError> {
            answer(&state, reader, $report).await
        }
    };
}

report!(
    events_query,
    legacy_events,
    Report::Events,
    "/api/query/events",
    "/api/2.0/events",
    "Counts of several events per time bucket",
    "`{\"data\": {\"series\", \"values\": {event: {date: n}}}, \"legend_size\"}`"
);
report!(
    top,
    legacy_top,
    Report::Top,
    "/api/query/events/top",
    "/api/2.0/events/top",
    "Today's most common events, against yesterday",
    "`{\"events\": [{\"amount\", \"event\", \"percent_change\"}], \"type\"}`"
);
report!(
    names,
    legacy_names,
    Report::Names,
    "/api/query/events/names",
    "/api/2.0/events/names",
    "The most common event names of the last 31 days",
    "A JSON array of names (those the Lexicon declares hidden are named, form-encoded, in the `X-Sextant-Hidden-Events` header)"
);
report!(
    properties,
    legacy_properties,
    Report::Properties,
    "/api/query/events/properties",
    "/api/2.0/events/properties",
    "One event per time bucket, split by a property's values",
    "As `/events`, `values` keyed by property value"
);
report!(
    properties_top,
    legacy_properties_top,
    Report::PropertiesTop,
    "/api/query/events/properties/top",
    "/api/2.0/events/properties/top",
    "The most common properties of an event",
    "`{name: {\"count\": n}}`, with `\"hidden\": true` on those the Lexicon declares hidden"
);
report!(
    properties_values,
    legacy_properties_values,
    Report::PropertiesValues,
    "/api/query/events/properties/values",
    "/api/2.0/events/properties/values",
    "The most common values of an event's property",
    "A JSON array of values"
);

/// What a report asks the store, read from the parameters.
enum Plan {
    Buckets(Segmentation),
    Top(Segmentation, usize),
    Ranked(Segmentation, usize, bool),
    PropertyNames(String, i64, i64, usize),
}

async fn answer(state: &AppState, reader: Reader, report: Report) -> Result<Response, ApiError> {
    reader.check_workspace()?;
    let Reader { params, credential, options, view, .. } = reader;
    let project = &credential.project;
    let now = chrono::Utc::now().timestamp_millis();
    let plan = {
        // Not `Send`: read before the next await.
        let p = sextant_query::params::Params::new(|name| params.get(name));
        match report {
            Report::Events => events::events(&p, &options, now).map(Plan::Buckets),
            Report::Properties => events::properties(&p, &options, now).map(Plan::Buckets),
            Report::Top => events::top(&p, &options, now).map(|(r, l)| Plan::Top(r, l)),
            Report::Names => events::names(&p, &options, now).map(|(r, l)| Plan::Ranked(r, l, false)),
            Report::PropertiesValues => {
                events::property_values(&p, &options, now).map(|(r, l)| Plan::Ranked(r, l, true))
            }
            Report::PropertiesTop => {
                events::property_top(&p, &options, now).map(|(e, f, t, l)| Plan::PropertyNames(e, f, t, l))
            }
        }
        .map_err(|e| ApiError::invalid(e.0))?
    };
    match plan {
        Plan::Buckets(mut request) => {
            request.on = crate::lookup_join::Attacher::new(state, project.id).optional(request.on.take()).await?;
            let counts = state.reports.segment(request.query(project.id)).await?;
            Ok(crate::reports::respond(&request.answer(&counts), request.csv))
        }
        Plan::Top(request, limit) => {
            let mut query = request.query(project.id);
            sextant_query::workspace::narrow_names(&view, &mut query.events);
            let counts = state.reports.segment(query).await?;
            Ok(Json(events::top_answer(&request, &counts, limit)).into_response())
        }
        Plan::Ranked(request, limit, by_segment) => {
            let mut query = request.query(project.id);
            sextant_query::workspace::narrow_names(&view, &mut query.events);
            let counts = state.reports.segment(query).await?;
            let names: Vec<String> =
                events::ranked(request.kind, &counts, by_segment).into_iter().take(limit).map(|(n, _)| n).collect();
            let hidden: Vec<&String> = match state.dictionary.of(project.id) {
                Some(lexicon) if !by_segment => names.iter().filter(|n| lexicon.declarations.hides_event(n)).collect(),
                _ => Vec::new(),
            };
            let flag = hidden_events_header(&hidden);
            let mut response = Json(&names).into_response();
            if let Some(value) = flag {
                response.headers_mut().insert(HIDDEN_EVENTS, value);
            }
            Ok(response)
        }
        Plan::PropertyNames(event, from, to, limit) => {
            let mut found = state.reports.property_names(project.id, &event, from, to, limit).await?;
            found.retain(|(name, _)| view.shows_property(name));
            let declared = state.dictionary.of(project.id);
            let map: BTreeMap<String, Value> = found
                .into_iter()
                .map(|(k, n)| {
                    let mut about = json!({"count": n});
                    if declared.as_ref().is_some_and(|l| l.declarations.hides_property(Some(&event), &k)) {
                        about["hidden"] = Value::Bool(true);
                    }
                    (k, about)
                })
                .collect();
            Ok(Json(map).into_response())
        }
    }
}
