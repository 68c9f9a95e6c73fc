//! Records that come from inside the server (a warehouse import's rows) taken through
//! the same steps as `/import` and `/engage`: each record checked as those endpoints
//! check it (`/import`'s strict rules), the Lexicon's drops and the opt-out list
//! applied, the project's identity mode, the ingestion limit charged, and the events
//! stored with `$insert_id` dedup. Nothing here answers HTTP: the caller records what
//! failed.

use sextant_ingest::{
    Endpoint, IngestContext, Outcome, ProfileKind, RecordError, normalize_event, normalize_profile_update,
};
use sextant_model::{ProfileUpdate, Project};

use super::{Rows, charge_ingestion};
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

/// Imports `records` (JSON texts of `/import` records) into `project`. An error is the
/// whole batch's (the ingestion limit reached, the store failing): nothing of it was
/// stored, and it may be sent again.
pub(crate) async fn import_events(
    state: &AppState,
    project: &Project,
    records: Vec<String>,
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
    charge_ingestion(state, &LimitSlot::default(), bytes, projects)?;
    let stored = rows.len();
    state.store.append_with_identity(rows, edges).await?;
    metrics::events_ingested(project.id, "warehouse", stored);
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
