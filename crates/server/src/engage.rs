//! The engage query: `POST /api/query/engage` and the legacy `GET|POST /api/2.0/engage`.
//!
//! Parameters come from the query string and a form body alike (mixpanel-utils sends
//! everything in the query string of a GET). Page 0 takes a snapshot of every matching
//! profile and answers its `session_id`; later pages name it, so paging is stable while
//! updates continue, and `total` is the full match count on every page (mixpanel-utils
//! computes its page count from it). Profiles come back ordered by id.
//!
//! `behaviors` (the engage form: `[{"window": "30d", "name": ..., "event_selectors":
//! [...]}]`, windows ending at `as_of_timestamp` or now) gives the `where` each user's
//! event counts as `behaviors["name"]`; `filter_by_cohort` (`{"id": N}`) adds a saved
//! cohort's definition. Cohorts hold user profiles only, so `include_all_users` changes
//! nothing.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use serde_json::{Map, Value};
use sextant_ingest::Params;
use sextant_model::profile::USER_PROFILES;
use sextant_model::{Behavior, CohortDefinition};
use sextant_storage::ProfileQuery;

use crate::error::ApiError;
use crate::extract::Reader;
use crate::state::AppState;

/// Profiles per page unless `page_size` says otherwise, and the most it may say.
pub const PAGE_SIZE: u64 = 1000;

/// One page of profiles, in Mixpanel's shape.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EngagePage {
    /// The page, from 0.
    pub page: u64,
    /// Profiles per page.
    pub page_size: u64,
    /// Name it to read later pages of the same snapshot.
    pub session_id: String,
    /// Always `ok`.
    pub status: String,
    /// Every profile that matches, not only this page's.
    pub total: u64,
    /// This page's profiles.
    pub results: Vec<EngageProfile>,
}

/// One profile.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EngageProfile {
    /// The user's distinct id, or the group's id.
    #[serde(rename = "$distinct_id")]
    pub distinct_id: String,
    /// Its properties (only `output_properties` when given).
    #[serde(rename = "$properties")]
    #[schema(value_type = Object)]
    pub properties: Map<String, Value>,
}

/// The engage query's parameters, as the OpenAPI document lists them (read from the
/// query string or a form body by `answer`).
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // describes the parameters; parsing is `answer`
pub struct EngageParams {
    /// The project, with service-account credentials.
    project_id: Option<i64>,
    /// One user (or group id with `data_group_id`).
    distinct_id: Option<String>,
    /// A JSON array of ids.
    distinct_ids: Option<String>,
    /// Query this group key's group profiles instead of users.
    data_group_id: Option<String>,
    /// A segmentation expression over `properties[...]` and `behaviors[...]`.
    #[serde(rename = "where")]
    where_: Option<String>,
    /// A JSON array of the properties to return.
    output_properties: Option<String>,
    /// The snapshot page 0 answered; required after page 0.
    session_id: Option<String>,
    /// The page, from 0.
    page: Option<u64>,
    /// Profiles per page (default 1000).
    #[param(minimum = 1, maximum = 1000)]
    page_size: Option<u64>,
    /// A JSON list of `{window, name, event_selectors}`; the `where` reads `behaviors["name"]`.
    behaviors: Option<String>,
    /// Epoch seconds at which behaviour windows end (default now).
    as_of_timestamp: Option<i64>,
    /// `{"id": N}`: only members of a saved cohort.
    filter_by_cohort: Option<String>,
    /// With `filter_by_cohort`; cohorts hold profiles only, so it changes nothing.
    include_all_users: Option<bool>,
}

/// `POST /api/query/engage`.
#[utoipa::path(
    method(get, post),
    path = "/api/query/engage",
    tag = "query",
    summary = "Query user or group profiles",
    description = "Parameters in the query string or a form body: `distinct_id`, `distinct_ids` (JSON array), `data_group_id`, `where` (over profile properties), `output_properties` (JSON array), `session_id`, `page`, `page_size` (default and maximum 1000).",
    params(EngageParams),
    responses((status = 200, description = "A page of profiles", body = EngagePage)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn query(State(state): State<AppState>, reader: Reader) -> Result<Json<EngagePage>, ApiError> {
    answer(&state, reader).await.map(Json)
}

/// `GET|POST /api/2.0/engage`: the same query at its legacy path.
#[utoipa::path(
    method(get, post),
    path = "/api/2.0/engage",
    tag = "query",
    summary = "Query user or group profiles (legacy path, as mixpanel-utils calls it)",
    params(EngageParams),
    responses((status = 200, description = "A page of profiles", body = EngagePage)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn legacy_query(state: State<AppState>, reader: Reader) -> Result<Json<EngagePage>, ApiError> {
    query(state, reader).await
}

async fn answer(state: &AppState, reader: Reader) -> Result<EngagePage, ApiError> {
    let Reader { params, credential, .. } = reader;
    let mut problems = Vec::new();
    let ids = match (text(&params, "distinct_id"), text(&params, "distinct_ids")) {
        (Some(one), None) => Some(vec![one.to_string()]),
        (None, Some(list)) => match string_list(list) {
            Some(ids) => Some(ids),
            None => {
                problems.push(("distinct_ids".into(), "must be a JSON array of strings".into()));
                None
            }
        },
        (Some(_), Some(_)) => {
            problems.push(("distinct_id".into(), "give `distinct_id` or `distinct_ids`, not both".into()));
            None
        }
        (None, None) => None,
    };
    let output_properties = match text(&params, "output_properties") {
        None => None,
        Some(list) => match string_list(list) {
            Some(names) => Some(names),
            None => {
                problems.push(("output_properties".into(), "must be a JSON array of property names".into()));
                None
            }
        },
    };
    let number =
        |name: &str, problems: &mut Vec<(String, String)>, default: u64, range: std::ops::RangeInclusive<u64>| {
            match text(&params, name) {
                None => default,
                Some(v) => match v.parse::<u64>() {
                    Ok(n) if range.contains(&n) => n,
                    _ => {
                        problems.push((
                            name.to_string(),
                            format!("must be a whole number from {} to {}", range.start(), range.end()),
                        ));
                        default
                    }
                },
            }
        };
    let page = number("page", &mut problems, 0, 0..=1_000_000_000);
    let page_size = number("page_size", &mut problems, PAGE_SIZE, 1..=PAGE_SIZE);
    let as_of_ms = match text(&params, "as_of_timestamp") {
        None => chrono::Utc::now().timestamp_millis(),
        Some(v) => match v.parse::<i64>() {
            Ok(s) if s > 0 => s.saturating_mul(1000),
            _ => {
                problems.push(("as_of_timestamp".into(), "must be epoch seconds".into()));
                0
            }
        },
    };
    let behaviors_param = text(&params, "behaviors");
    let cohort_param = text(&params, "filter_by_cohort");
    if behaviors_param.is_some() && cohort_param.is_some() {
        problems.push(("behaviors".into(), "give `behaviors` or `filter_by_cohort`, not both".into()));
    }
    if let Some(v) = text(&params, "include_all_users") {
        if cohort_param.is_none() {
            problems.push(("include_all_users".into(), "only applies with `filter_by_cohort`".into()));
        } else if !matches!(v, "true" | "false" | "1" | "0") {
            problems.push(("include_all_users".into(), "must be true or false".into()));
        }
    }
    if !problems.is_empty() {
        return Err(ApiError::invalid_fields("invalid engage query", problems));
    }
    // The request's own `where` and behaviours, then a cohort's, as one definition.
    let mut definition = CohortDefinition { where_: text(&params, "where").map(str::to_string), behaviors: Vec::new() };
    if let Some(list) = behaviors_param {
        definition.behaviors = serde_json::from_str::<Vec<Behavior>>(list).map_err(|e| {
            ApiError::invalid_fields(
                "invalid engage query",
                vec![("behaviors".into(), format!("must be a JSON list of {{window, name, event_selectors}}: {e}"))],
            )
        })?;
    }
    if let Some(cohort) = cohort_param {
        let id = serde_json::from_str::<Value>(cohort)
            .ok()
            .and_then(|v| v.get("id").and_then(|id| id.as_i64().or_else(|| id.as_str().and_then(|s| s.parse().ok()))))
            .ok_or_else(|| {
                ApiError::invalid_fields(
                    "invalid engage query",
                    vec![("filter_by_cohort".into(), "must be a JSON object with the cohort's `id`".into())],
                )
            })?;
        let cohort = state.metadata.cohort(credential.project.id, sextant_model::CohortId(id)).await?;
        definition.where_ = match (definition.where_.take(), cohort.definition.where_) {
            (Some(a), Some(b)) => Some(sextant_expr::conjunction(&b, &a).map_err(|e| {
                ApiError::invalid_fields("invalid engage query", vec![("where".into(), e.to_string())])
            })?),
            (a, b) => a.or(b),
        };
        definition.behaviors = cohort.definition.behaviors;
    }
    let (filter, behaviors) = crate::cohorts::compile_definition(&definition, &credential.project, as_of_ms)?;
    let mut attacher = crate::lookup_tables::Attacher::new(state, credential.project.id);
    let filter = attacher.optional(filter).await?;
    let behaviors = attacher.behaviors(behaviors).await?;
    let query = ProfileQuery {
        project_id: credential.project.id,
        group_key: text(&params, "data_group_id").unwrap_or(USER_PROFILES).to_string(),
        ids,
        filter,
        session_id: text(&params, "session_id").map(str::to_string),
        page,
        page_size,
        behaviors,
        count_only: false,
    };
    let found = state.profiles.query_profiles(query).await?;
    let results = found
        .profiles
        .into_iter()
        .map(|(id, mut properties)| {
            if let Some(keep) = &output_properties {
                properties.retain(|k, _| keep.iter().any(|n| n == k));
            }
            EngageProfile { distinct_id: id, properties }
        })
        .collect();
    Ok(EngagePage { page, page_size, session_id: found.session_id, status: "ok".into(), total: found.total, results })
}

/// A parameter with something in it.
fn text<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params.get(name).map(str::trim).filter(|v| !v.is_empty())
}

/// A JSON array of strings (numbers are taken as their text).
fn string_list(text: &str) -> Option<Vec<String>> {
    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(text) else { return None };
    items
        .into_iter()
        .map(|v| match v {
            Value::String(s) => Some(s),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .collect()
}
