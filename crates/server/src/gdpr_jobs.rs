//! The GDPR job runner: works through the queue the control plane keeps
//! (`sextant_metadata::GdprJob`), one job at a time, in the background.
//!
//! A job is staged (its ids resolved to their whole identity clusters, which are then
//! fixed in the job), started (from then on it cannot be cancelled), and worked in
//! steps that each commit on their own:
//!
//! - a deletion removes [`STEP_IDS`] ids a step (`EventStore::erase_users`, one writer
//!   transaction each, so appends wait for one step at most), records how far it got,
//!   and ends with `EventStore::scrub`, after which nothing of the people is left in the
//!   store's files. A server killed mid-job resumes at the step it had not recorded; a
//!   step it had committed but not recorded answers its counts again and removes
//!   nothing more.
//! - a retrieval writes an archive (`<data dir>/gdpr/<tracking id>.jsonl`): the events
//!   of the clusters exactly as raw export writes them (the previous 365 days under
//!   CCPA), then their user profiles; under CCPA's `Categories`, the property names
//!   only; under `Sources`, the libraries and APIs that sent the records. The archive is
//!   served to the project's GDPR credentials until it expires, then deleted.
//!
//! The runner wakes when a job is created and every [`POLL`] (a job created through
//! another server sharing the control plane, an archive expiring).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::time::Duration;

use futures::TryStreamExt as _;
use sextant_metadata::GdprJob;
use sextant_model::gdpr::{ComplianceType, DisclosureType, JobKind, JobStatus};
use sextant_model::profile::USER_PROFILES;
use sextant_model::workspace::Visibility;
use sextant_storage::{ExportQuery, ProfileQuery};

use crate::gdpr_queue::{ATTEMPTS, POLL};
use crate::state::AppState;

/// Ids removed in one step of a deletion: a step scans the project's rows once, so
/// fewer steps cost less, and each holds the writer for one scan only.
pub const STEP_IDS: usize = 100;

/// How far back a CCPA retrieval reads: the previous year.
const CCPA_DAYS: i64 = 365;

/// Profiles read per engage page while writing an archive.
const PROFILE_PAGE: u64 = 1_000;

/// Runs until the server stops.
pub async fn run(state: AppState) {
    loop {
        let wait = match work_through(&state).await {
            Ok(wait) => wait,
            Err(e) => {
                tracing::warn!(error = %e, "GDPR jobs: cannot read the queue; will retry");
                POLL
            }
        };
        sweep(&state).await;
        let _ = tokio::time::timeout(wait, state.gdpr.wake.notified()).await;
    }
}

/// Works every job this runner may, oldest first; answers how long to wait before the
/// next round (longer after failed rounds).
async fn work_through(state: &AppState) -> Result<Duration, sextant_metadata::MetadataError> {
    for job in state.metadata.unfinished_gdpr_jobs(&state.gdpr.runner).await? {
        let id = job.tracking_id.clone();
        let why = match work(state, job).await {
            Ok(()) => {
                state.gdpr.attempts.lock().remove(&id);
                continue;
            }
            Err(Problem::Retry(why)) => why,
            Err(Problem::Fail(why)) => {
                tracing::error!(job = %id, why, "GDPR job failed");
                state.metadata.finish_gdpr_job(&id, Err(why)).await?;
                continue;
            }
        };
        let rounds = {
            let mut attempts = state.gdpr.attempts.lock();
            let n = attempts.entry(id.clone()).or_default();
            *n += 1;
            *n
        };
        if rounds >= ATTEMPTS {
            tracing::error!(job = %id, why, rounds, "GDPR job failed: its steps kept failing");
            state.gdpr.attempts.lock().remove(&id);
            state.metadata.finish_gdpr_job(&id, Err(why)).await?;
            continue;
        }
        // The job stays where it is; later jobs wait behind it, in order.
        tracing::warn!(job = %id, why, rounds, "GDPR job: a step failed; it will be tried again");
        return Ok(POLL * rounds);
    }
    Ok(POLL)
}

/// Why a job stopped.
enum Problem {
    /// Something that may pass (the store busy, the disk full, the control plane down):
    /// the job stays where it is and is tried again.
    Retry(String),
    /// Something that will not pass: the job ends `FAILURE`.
    Fail(String),
}

impl From<sextant_metadata::MetadataError> for Problem {
    fn from(e: sextant_metadata::MetadataError) -> Self {
        Problem::Retry(e.to_string())
    }
}

impl From<sextant_storage::StorageError> for Problem {
    /// A request the store refuses will be refused again; anything else (busy, a full
    /// disk, a conflict with another transaction) may pass, up to [`ATTEMPTS`] rounds.
    fn from(e: sextant_storage::StorageError) -> Self {
        match e {
            sextant_storage::StorageError::InvalidRequest(why) => Problem::Fail(why),
            other => Problem::Retry(other.to_string()),
        }
    }
}

/// Moves one job as far as it goes.
async fn work(state: &AppState, mut job: GdprJob) -> Result<(), Problem> {
    let id = job.tracking_id.clone();
    if job.status == JobStatus::Pending {
        if !state.metadata.claim_gdpr_job(&id, &state.gdpr.runner).await? {
            return Ok(());
        }
        job.status = JobStatus::Staging;
    }
    if job.status == JobStatus::Staging {
        let ids = state.store.identity_cluster(job.project_id, job.distinct_ids.clone()).await?;
        state.metadata.stage_gdpr_job(&id, &ids).await?;
        job.erase_ids = Some(ids);
        // Cancelled while staging: the move fails and the job stays revoked.
        if !state.metadata.move_gdpr_job(&id, JobStatus::Staging, JobStatus::Started).await? {
            return Ok(());
        }
        job.status = JobStatus::Started;
    }
    let ids = match &job.erase_ids {
        Some(ids) => ids.clone(),
        None => state.store.identity_cluster(job.project_id, job.distinct_ids.clone()).await?,
    };
    match job.kind {
        JobKind::Deletion => delete(state, &job, &ids).await,
        JobKind::Retrieval => retrieve(state, &job, &ids).await,
    }
}

async fn delete(state: &AppState, job: &GdprJob, ids: &[String]) -> Result<(), Problem> {
    let (mut events, mut profiles) = (job.events_touched, job.profiles_touched);
    let steps: Vec<&[String]> = ids.chunks(STEP_IDS).collect();
    for (step, chunk) in steps.iter().enumerate().skip(usize::try_from(job.next_chunk).unwrap_or(0)) {
        let started = std::time::Instant::now();
        let erased = state.store.erase_users(job.project_id, &job.tracking_id, step as i64, chunk.to_vec()).await?;
        tracing::info!(job = %job.tracking_id, step, events = erased.events, ms = started.elapsed().as_millis() as u64, "GDPR deletion step done");
        events += erased.events as i64;
        profiles += erased.profiles as i64;
        state.metadata.gdpr_progress(&job.tracking_id, step as i64 + 1, events, profiles).await?;
    }
    forget_archives_of(state, job, ids).await?;
    // A scrub that fails (a conflict with a transaction it raced, a full disk) is tried
    // again at the next round: the rows are gone already, the files not yet clean.
    state
        .store
        .scrub(job.project_id, &job.tracking_id)
        .await
        .map_err(|e| Problem::Retry(format!("scrubbing the store: {e}")))?;
    state.metadata.finish_gdpr_job(&job.tracking_id, Ok(None)).await?;
    tracing::info!(
        job = %job.tracking_id,
        project = job.project_id.0,
        requested_by = %job.requesting_user,
        ids = job.distinct_ids.len(),
        cluster_ids = ids.len(),
        events,
        profiles,
        "GDPR deletion done"
    );
    Ok(())
}

async fn retrieve(state: &AppState, job: &GdprJob, ids: &[String]) -> Result<(), Problem> {
    let partial = state.gdpr.dir.join(format!("{}.partial", job.tracking_id));
    let written = write_archive(state, job, ids, &partial).await;
    if written.is_err() {
        // People's data: never left behind half written (the sweep also removes any a
        // stopped server left).
        let _ = std::fs::remove_file(&partial);
    }
    written
}

async fn write_archive(
    state: &AppState,
    job: &GdprJob,
    ids: &[String],
    partial: &std::path::Path,
) -> Result<(), Problem> {
    let fail = |e: std::io::Error| Problem::Fail(format!("cannot write the archive: {e}"));
    std::fs::create_dir_all(&state.gdpr.dir).map_err(fail)?;
    let name = format!("{}.jsonl", job.tracking_id);
    let path = state.gdpr.dir.join(&name);
    let now = crate::gdpr_queue::now_ms();
    let from_ms = match job.compliance_type {
        ComplianceType::Ccpa => now - CCPA_DAYS * sextant_storage::DAY_MS,
        ComplianceType::Gdpr => 0,
    };
    let disclosure = job.disclosure_type.unwrap_or(DisclosureType::Data);
    let mut out = std::io::BufWriter::new(std::fs::File::create(partial).map_err(fail)?);
    let mut line = String::new();
    let mut event_names: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut sources: BTreeSet<String> = BTreeSet::new();
    let mut events = 0i64;
    let query = ExportQuery {
        project_id: job.project_id,
        from_ms,
        to_ms: i64::MAX / 2,
        events: None,
        limit: None,
        users: Some(ids.to_vec()),
        filter: None,
        dedup: false,
        properties: None,
    };
    let mut chunks = state.store.export(query);
    let everything = Visibility::default();
    while let Some(chunk) = chunks.try_next().await? {
        for e in chunk {
            events += 1;
            match disclosure {
                DisclosureType::Data => {
                    line.clear();
                    crate::event_lines::write_line(&mut line, &e, false, &everything);
                    out.write_all(line.as_bytes()).map_err(fail)?;
                }
                DisclosureType::Categories | DisclosureType::Sources => {
                    let properties: serde_json::Map<String, serde_json::Value> =
                        serde_json::from_str(&e.row.properties).unwrap_or_default();
                    if disclosure == DisclosureType::Sources {
                        sources.insert(source_of(&properties));
                    } else {
                        event_names
                            .entry(e.row.event.clone())
                            .or_default()
                            .extend(properties.into_iter().map(|(k, _)| k));
                    }
                }
            }
        }
    }
    let people = read_profiles(state, job.project_id, USER_PROFILES, ids).await?;
    let profiles = people.len() as i64;
    let mut profile_names: BTreeSet<String> = BTreeSet::new();
    for (distinct_id, properties) in &people {
        match disclosure {
            DisclosureType::Data => {
                let record = serde_json::json!({"$distinct_id": distinct_id, "$properties": properties});
                writeln!(out, "{record}").map_err(fail)?;
            }
            DisclosureType::Categories => profile_names.extend(properties.keys().cloned()),
            DisclosureType::Sources => {
                sources.insert("user profile updates (/engage)".into());
            }
        }
    }
    if disclosure == DisclosureType::Data {
        for (group_key, group_id, properties) in memberships(state, job.project_id, &people).await? {
            let record = serde_json::json!({"$group_key": group_key, "$group_id": group_id, "$properties": properties});
            writeln!(out, "{record}").map_err(fail)?;
        }
    }
    match disclosure {
        DisclosureType::Data => {}
        DisclosureType::Categories => {
            for (event, names) in event_names {
                writeln!(out, "{}", serde_json::json!({"event": event, "properties": names})).map_err(fail)?;
            }
            writeln!(out, "{}", serde_json::json!({"profile_properties": profile_names})).map_err(fail)?;
        }
        DisclosureType::Sources => {
            writeln!(out, "{}", serde_json::json!({"sources": sources})).map_err(fail)?;
        }
    }
    out.into_inner().map_err(|e| fail(e.into_error()))?.sync_all().map_err(fail)?;
    std::fs::rename(partial, &path).map_err(fail)?;
    state.metadata.gdpr_progress(&job.tracking_id, 0, events, profiles).await?;
    let expires = crate::gdpr_queue::now_ms().saturating_add(state.gdpr.archive_ttl_ms);
    state.metadata.finish_gdpr_job(&job.tracking_id, Ok(Some((name, expires)))).await?;
    tracing::info!(job = %job.tracking_id, project = job.project_id.0, events, profiles, "GDPR retrieval done");
    Ok(())
}

/// The profiles of `ids` under `group_key`, every page.
async fn read_profiles(
    state: &AppState,
    project: sextant_model::ProjectId,
    group_key: &str,
    ids: &[String],
) -> Result<Vec<(String, serde_json::Map<String, serde_json::Value>)>, Problem> {
    let mut all = Vec::new();
    let mut session = None;
    for page in 0.. {
        let answer = state
            .profiles
            .query_profiles(ProfileQuery {
                project_id: project,
                group_key: group_key.to_string(),
                ids: Some(ids.to_vec()),
                filter: None,
                session_id: session.clone(),
                page,
                page_size: PROFILE_PAGE,
                behaviors: Vec::new(),
                count_only: false,
            })
            .await?;
        session = Some(answer.session_id.clone());
        let last = answer.profiles.len() < PROFILE_PAGE as usize;
        all.extend(answer.profiles);
        if last {
            break;
        }
    }
    Ok(all)
}

/// Group keys a person's profile is read for: the first this many of its properties
/// holding text (a group key's property holds the group's id, or a list of them).
const GROUP_KEYS_READ: usize = 50;

/// The group profiles the people belong to: for each property of their profiles that
/// holds text, the group profiles under that key with those ids (Mixpanel's group
/// analytics keeps membership as such a property).
async fn memberships(
    state: &AppState,
    project: sextant_model::ProjectId,
    people: &[(String, serde_json::Map<String, serde_json::Value>)],
) -> Result<Vec<(String, String, serde_json::Map<String, serde_json::Value>)>, Problem> {
    let mut candidates: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (_, properties) in people {
        for (key, value) in properties.iter().filter(|(k, _)| !k.starts_with('$')) {
            let ids: Vec<&str> = match value {
                serde_json::Value::String(s) => vec![s.as_str()],
                serde_json::Value::Array(items) => items.iter().filter_map(|v| v.as_str()).collect(),
                _ => Vec::new(),
            };
            if !ids.is_empty() && (candidates.len() < GROUP_KEYS_READ || candidates.contains_key(key)) {
                candidates.entry(key.clone()).or_default().extend(ids.into_iter().map(str::to_string));
            }
        }
    }
    let mut out = Vec::new();
    for (key, ids) in candidates {
        let ids: Vec<String> = ids.into_iter().collect();
        for (id, properties) in read_profiles(state, project, &key, &ids).await? {
            out.push((key.clone(), id, properties));
        }
    }
    Ok(out)
}

/// How an event was collected: the SDK that sent it (`$lib`, or `mp_lib` of older
/// SDKs, with its version), else the HTTP API.
fn source_of(properties: &serde_json::Map<String, serde_json::Value>) -> String {
    let text = |k: &str| properties.get(k).and_then(|v| v.as_str());
    match (text("$lib").or(text("mp_lib")), text("$lib_version")) {
        (Some(lib), Some(version)) => format!("{lib} {version}"),
        (Some(lib), None) => lib.to_string(),
        (None, _) => "the HTTP API (/track or /import)".to_string(),
    }
}

/// Deletes the archives of earlier retrievals that hold any of the deleted people:
/// files Sextant derived from their data.
async fn forget_archives_of(state: &AppState, job: &GdprJob, ids: &[String]) -> Result<(), Problem> {
    let deleted: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
    for earlier in state.metadata.gdpr_jobs(job.project_id, i64::MAX).await? {
        let Some(name) = &earlier.archive else { continue };
        let named = earlier.distinct_ids.iter().chain(earlier.erase_ids.iter().flatten());
        if earlier.kind == JobKind::Retrieval && named.into_iter().any(|id| deleted.contains(id.as_str())) {
            if let Some(path) = state.gdpr.archive_path(name)
                && let Err(e) = std::fs::remove_file(&path)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                return Err(Problem::Retry(format!("cannot delete the archive {}: {e}", path.display())));
            }
            state.metadata.forget_gdpr_archive(&earlier.tracking_id).await?;
        }
    }
    Ok(())
}

/// Deletes the archives whose links expired, and any file of the directory no job
/// names: an archive half written when a server stopped, the archive of a job deleted
/// with its project. (The runner writes archives itself, between sweeps.)
async fn sweep(state: &AppState) {
    if let Ok(entries) = std::fs::read_dir(&state.gdpr.dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let stray = match name.split_once('.') {
                Some((_, "partial")) => true,
                Some((id, "jsonl")) => match state.metadata.gdpr_job(id).await {
                    Ok(job) => job.archive.as_deref() != Some(name.as_str()),
                    Err(sextant_metadata::MetadataError::NotFound(_)) => true,
                    Err(_) => false,
                },
                _ => false,
            };
            if stray && let Err(e) = std::fs::remove_file(entry.path()) {
                tracing::warn!(error = %e, file = %name, "cannot delete a stray GDPR archive");
            }
        }
    }
    let expired = match state.metadata.expired_gdpr_archives(crate::gdpr_queue::now_ms()).await {
        Ok(expired) => expired,
        Err(e) => {
            tracing::warn!(error = %e, "GDPR jobs: cannot list expired archives");
            return;
        }
    };
    for (id, name) in expired {
        if let Some(path) = state.gdpr.archive_path(&name)
            && let Err(e) = std::fs::remove_file(&path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(error = %e, job = %id, "cannot delete an expired GDPR archive");
            continue;
        }
        if let Err(e) = state.metadata.forget_gdpr_archive(&id).await {
            tracing::warn!(error = %e, job = %id, "cannot record a deleted GDPR archive");
        }
    }
}
