//! The steps every event and profile update takes into the store, whoever sent it:
//! [`Rows`] applies the opt-out list, the Lexicon's drops and the project's identity mode
//! to normalised events, and [`charge_ingestion`] charges the ingestion limit before
//! anything is stored. The `ingest` handlers take HTTP requests through them; records
//! that come from inside the server (a warehouse import's rows, the exposures `/flags`
//! records) go through [`import_events`] and [`update_profiles`], which check each
//! record as `/import` and `/engage` do (`/import`'s strict rules) and answer no HTTP:
//! the caller records what failed.

use std::collections::HashMap;

use sextant_ingest::NormalizedEvent;
use sextant_ingest::{
    Endpoint, IngestContext, Outcome, ProfileKind, RecordError, normalize_event, normalize_profile_update,
};
use sextant_model::{ApiFamily, EventRow, IdentityEdge, IdentityMode, ProfileUpdate, Project, ProjectId};

use crate::error::ApiError;
use crate::limits::LimitSlot;
use crate::metrics;
use crate::state::AppState;

/// What a batch came to: records stored (or dropped on purpose, as `/import` counts
/// them), and each failed record's index and reason.
pub(crate) struct Stored {
    /// Records accepted.
    pub accepted: usize,
    /// Records refused, by their index in the batch.
    pub failed: Vec<(usize, RecordError)>,
}

/// Imports `records` (JSON texts of `/import` records) into `project`, counted in the
/// metrics as coming from `source`, the ingestion limit's verdict kept in `slot` (a
/// request's, so that a refusal's `Retry-After` reaches its answer). An error is the
/// whole batch's (the ingestion limit reached, the store failing): nothing of it was
/// stored, and it may be sent again.
pub(crate) async fn import_events(
    state: &AppState,
    project: &Project,
    records: Vec<String>,
    source: &'static str,
    slot: &LimitSlot,
) -> Result<Stored, ApiError> {
    let bytes: usize = records.iter().map(String::len).sum();
    let ctx = IngestContext {
        endpoint: Endpoint::Import { strict: true },
        now_ms: chrono::Utc::now().timestamp_millis(),
        api_endpoint: String::new(),
        client_ip: None,
        use_ip: false,
        geo: None,
    };
    let normalized =
        tokio::task::spawn_blocking(move || records.iter().map(|raw| normalize_event(raw, &ctx)).collect::<Vec<_>>())
            .await
            .map_err(|e| ApiError::new(sextant_model::ErrorCode::Internal, e.to_string()))?;
    let (mut rows, mut failed, mut dropped) = (Rows::default(), Vec::new(), 0usize);
    for (i, outcome) in normalized.into_iter().enumerate() {
        match outcome {
            Ok(Outcome::Accepted(event)) => rows.push(state, event, project, true),
            Ok(Outcome::Dropped(_)) => dropped += 1,
            Err(e) => failed.push((i, e)),
        }
    }
    let Rows { rows, edges, dropped: declined } = rows;
    let projects = rows.iter().map(|r| r.project_id).chain(declined.iter().copied());
    charge_ingestion(state, slot, bytes, projects)?;
    let stored = rows.len();
    state.store.append_with_identity(rows, edges).await?;
    metrics::events_ingested(project.id, source, stored);
    Ok(Stored { accepted: stored + dropped + declined.len(), failed })
}

/// Applies `records` (JSON texts of `/engage` or `/groups` updates, without their
/// token) to `project`'s profiles.
pub(crate) async fn update_profiles(
    state: &AppState,
    project: &Project,
    records: Vec<String>,
    kind: ProfileKind,
) -> Result<Stored, ApiError> {
    let bytes: usize = records.iter().map(String::len).sum();
    let now_ms = chrono::Utc::now().timestamp_millis();
    let mut failed = Vec::new();
    let (mut ready, mut places, mut opted_out): (Vec<ProfileUpdate>, Vec<usize>, usize) = (Vec::new(), Vec::new(), 0);
    let resolve = project.identity_mode == sextant_model::IdentityMode::Original;
    for (i, raw) in records.iter().enumerate() {
        match normalize_profile_update(raw, kind, now_ms) {
            Ok(update) => {
                let update = update.into_update(project.id, resolve);
                if update.key.group_key == sextant_model::profile::USER_PROFILES
                    && state.opt_outs.drops(project.id, &update.key.id)
                {
                    opted_out += 1;
                    continue;
                }
                ready.push(update);
                places.push(i);
            }
            Err(e) => failed.push((i, e)),
        }
    }
    let charged = ready.iter().map(|u| u.key.project_id).chain(std::iter::repeat_n(project.id, opted_out));
    charge_ingestion(state, &LimitSlot::default(), bytes, charged)?;
    let sent = ready.len();
    let refused = state.profiles.update_profiles(ready).await?;
    let applied = sent - refused.len();
    for (at, why) in refused {
        failed.push((places[at], RecordError::invalid(&why.field, why.reason)));
    }
    failed.sort_by_key(|(i, _)| *i);
    Ok(Stored { accepted: applied + opted_out, failed })
}

/// Charges each project its share of the payload's uncompressed bytes (by its share of
/// the stored records) and returns the records per project. Over the limit, the whole
/// request is refused before anything is stored.
pub(crate) fn charge_ingestion(
    state: &AppState,
    slot: &LimitSlot,
    bytes: usize,
    projects: impl Iterator<Item = ProjectId>,
) -> Result<HashMap<ProjectId, usize>, ApiError> {
    let mut per_project: HashMap<ProjectId, usize> = HashMap::new();
    for project in projects {
        *per_project.entry(project).or_default() += 1;
    }
    let stored: usize = per_project.values().sum();
    for (project, count) in &per_project {
        let cost = (bytes as u64).saturating_mul(*count as u64) / stored.max(1) as u64;
        state.limiter.admit(slot, *project, ApiFamily::Ingestion, cost)?;
    }
    Ok(per_project)
}

/// Rows ready to append, the identity operations they carry, and the project of each
/// event the Lexicon's declarations dropped.
#[derive(Default)]
pub(crate) struct Rows {
    pub(crate) rows: Vec<EventRow>,
    pub(crate) edges: Vec<IdentityEdge>,
    pub(crate) dropped: Vec<ProjectId>,
}

impl Rows {
    /// Adds an event of `project`, applying the project's identity mode: Simplified
    /// rewrites `distinct_id` and maps devices to users; Original reads `$identify`,
    /// `$create_alias` and `$merge` (the last only through `/import`), recording a
    /// refusal that ingestion can already see on the event.
    ///
    /// An event the project's Lexicon declares dropped, or whose id is on the project's
    /// opt-out list, is counted, not added, and its identity operation (if any) not
    /// applied; dropped properties are removed first.
    pub(crate) fn push(&mut self, state: &AppState, mut event: NormalizedEvent, project: &Project, via_import: bool) {
        if state.opt_outs.drops(project.id, &event.distinct_id) || !state.dictionary.admit(project.id, &mut event) {
            self.dropped.push(project.id);
            return;
        }
        let op = match project.identity_mode {
            IdentityMode::Simplified => sextant_ingest::identity::simplified(&mut event),
            IdentityMode::Original => match sextant_ingest::identity::original(&event, via_import) {
                Ok(op) => op,
                Err(reason) => {
                    sextant_ingest::identity::add_property(&mut event, "$failure_reason", reason);
                    None
                }
            },
        };
        // Simplified ID Merge may have made the id a user's: the list names either.
        if state.opt_outs.drops(project.id, &event.distinct_id) {
            self.dropped.push(project.id);
            return;
        }
        if let Some(op) = op {
            self.edges.push(IdentityEdge { project_id: project.id, row: self.rows.len(), op });
        }
        self.rows.push(event.into_row(project.id));
    }
}
