//! The engage query: `POST /api/query/engage` and the legacy `GET|POST /api/2.0/engage`.
//!
//! Parameters come from the query string and a form body alike (mixpanel-utils sends
//! everything in the query string of a GET); what they mean and how they are checked is
//! `sextant_query::engage`, and the definition they make (with a saved cohort's, for
//! `filter_by_cohort`) is compiled by `sextant_query::cohorts`. Page 0 takes a snapshot
//! of every matching profile and answers its `session_id`; later pages name it, so
//! paging is stable while updates continue, and `total` is the full match count on every
//! page (mixpanel-utils computes its page count from it). Profiles come back ordered by
//! id.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use serde_json::{Map, Value};
use sextant_query::cohorts;
use sextant_query::engage::EngageRequest;
use sextant_storage::ProfileQuery;

use crate::error::ApiError;
use crate::extract::Reader;
use crate::lookup_join::Attacher;
use crate::state::AppState;

/// Profiles per page unless `page_size` says otherwise, and the most it may say.
pub use sextant_query::engage::PAGE_SIZE;

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
/// query string or a form body by `EngageRequest::parse`).
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // describes the parameters; parsing is `EngageRequest::parse`
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
    let Reader { params, credential, options, view, .. } = reader;
    let project = &credential.project;
    let request = {
        // Not `Send`: read before the next await.
        let reader = sextant_query::params::Params::new(|name| params.get(name));
        EngageRequest::parse(&reader, chrono::Utc::now().timestamp_millis())?
    };
    let cohort = match request.cohort {
        Some(id) => Some(state.metadata.cohort(project.id, id).await?.definition),
        None => None,
    };
    let definition = request.definition(cohort)?;
    sextant_query::workspace::check_cohort(&view, "behaviors", &definition, &options)?;
    let compiled = cohorts::compile(&definition, &options, request.as_of_ms)?;
    let mut attacher = Attacher::new(state, project.id);
    let filter = attacher.optional(compiled.filter).await?;
    let behaviors = attacher.behaviors(compiled.behaviors).await?;
    let EngageRequest { ids, output_properties, page, page_size, group_key, session_id, .. } = request;
    let query = ProfileQuery {
        project_id: project.id,
        group_key,
        ids,
        filter,
        session_id,
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
