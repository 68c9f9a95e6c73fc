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
use sextant_query::cohorts;
use sextant_query::engage::EngageRequest;
use sextant_storage::ProfileQuery;

use crate::error::ApiError;
use crate::extract::Reader;
use crate::lookup_join::Attacher;
use crate::state::AppState;
use sextant_api::query::{EngagePage, EngageParams, EngageProfile};

/// Profiles per page unless `page_size` says otherwise, and the most it may say.
pub use sextant_query::engage::PAGE_SIZE;

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
