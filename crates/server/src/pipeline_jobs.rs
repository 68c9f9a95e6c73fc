//! The pipeline runner: writes each partition a running pipeline owes, in the
//! background, and writes it again when a `sync` pipeline's data changed.
//!
//! A partition (a UTC day, or an hour) is the project's events in it, each line what
//! raw export (`/api/2.0/export`) writes for it, gzipped, in
//! `<root>/<fs_prefix>/<project id>/<yyyy>/<mm>/<dd>/full_day/export.json.gz` (an hour:
//! `.../<dd>/<hh>/export.json.gz`). It is written exactly once: to a temporary file in
//! the same directory, synced, then renamed over the final name, so a reader sees the
//! old file or the new one, never a torn one, and a crash leaves at most a temporary
//! file, which the next attempt replaces. Each task's state is kept in the control plane
//! (`Metadata::start_pipeline_task`), so a restarted server writes again what was
//! running and goes on from there.
//!
//! With `sync`, a published partition is read again once `pipeline_sync_seconds` have
//! passed since it was last written or read, and published again when the hash of its
//! lines changed: late events, a GDPR deletion, an identity merge that moved events to
//! another id, an edit of the pipeline's filter. Each check costs one export of the
//! partition; the store keeps no cheaper mark of a day's change yet.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use futures::TryStreamExt as _;
use sextant_expr::{Program, Scope};
use sextant_metadata::{Pipeline, PipelineTask};
use sextant_model::pipeline::{TaskState, partition_dir};
use sextant_model::workspace::Visibility;
use sextant_storage::ExportQuery;
use sha2::{Digest as _, Sha256};

use crate::gdpr_queue::now_ms;
use crate::pipeline_queue::ATTEMPTS;
use crate::state::AppState;

/// The file a partition is published as.
pub const FILE_NAME: &str = "export.json.gz";

/// Runs until the server stops.
pub async fn run(state: AppState) {
    loop {
        if let Err(e) = work_through(&state).await {
            tracing::warn!(error = %e, "pipelines: cannot read the control plane; will retry");
        }
        let _ = tokio::time::timeout(state.pipelines.poll, state.pipelines.wake.notified()).await;
    }
}

/// One round: every running pipeline this server works, every partition it owes.
async fn work_through(state: &AppState) -> Result<(), sextant_metadata::MetadataError> {
    let now = now_ms();
    for pipeline in state.metadata.running_pipelines(&state.gdpr.runner).await? {
        let tasks = state.metadata.pipeline_tasks(pipeline.project_id, &pipeline.name).await?;
        for partition in pipeline.spec.partitions_due(now) {
            let task = tasks.iter().find(|t| t.partition_ms == partition);
            if !owed(&pipeline, task, now, state.pipelines.sync_every_ms) {
                continue;
            }
            // Paused or cancelled meanwhile: the rest waits.
            match state.metadata.pipeline(pipeline.project_id, &pipeline.name).await {
                Ok(current) if current.running && current.spec == pipeline.spec => {}
                Ok(_) | Err(sextant_metadata::MetadataError::NotFound(_)) => break,
                Err(e) => return Err(e),
            }
            write_partition(state, &pipeline, partition, task).await?;
        }
    }
    Ok(())
}

/// Whether a partition is to be written (or, published, read again) this round.
fn owed(pipeline: &Pipeline, task: Option<&PipelineTask>, now: i64, sync_every_ms: i64) -> bool {
    match task.map(|t| t.state) {
        None => true,
        Some(TaskState::Succeeded) => {
            let last = task.and_then(|t| t.finished_at_ms).unwrap_or(0);
            pipeline.spec.sync && now.saturating_sub(last) >= sync_every_ms
        }
        Some(TaskState::Failed | TaskState::Canceled | TaskState::TimedOut) => false,
        Some(TaskState::Pending | TaskState::Running | TaskState::Retried) => true,
    }
}

/// Writes one partition and records how it went.
async fn write_partition(
    state: &AppState,
    pipeline: &Pipeline,
    partition: i64,
    task: Option<&PipelineTask>,
) -> Result<(), sextant_metadata::MetadataError> {
    let (project, name) = (pipeline.project_id, pipeline.name.as_str());
    let published = task.filter(|t| t.state == TaskState::Succeeded);
    if published.is_none() {
        state.metadata.start_pipeline_task(project, name, partition).await?;
    }
    let outcome = match render(state, pipeline, partition).await {
        Ok(written) => {
            let same = published.is_some_and(|t| t.digest.as_deref() == Some(written.digest.as_str()));
            if same {
                let _ = std::fs::remove_file(&written.temporary);
                // Read and unchanged: the next check waits its interval again.
                let unchanged = Ok((written.events, written.digest, false));
                return state.metadata.finish_pipeline_task(project, name, partition, unchanged).await;
            }
            // The fault test's moment: the file written, not yet published.
            let _ = tokio::task::spawn_blocking(|| {
                sextant_storage_duckdb::pause::point(sextant_storage_duckdb::pause::PIPELINE_PUBLISH)
            })
            .await;
            match publish(&written) {
                Ok(()) => Ok((written.events, written.digest, true)),
                Err(e) => Err(failure(task, published.is_some(), format!("cannot publish the file: {e}"))),
            }
        }
        Err(why) => Err(failure(task, published.is_some(), why)),
    };
    if let Err((state_after, why)) = &outcome {
        tracing::warn!(pipeline = name, partition, state = state_after.as_str(), why, "pipeline partition not written");
        if published.is_some() {
            // A sync that failed leaves the published file and its record as they were.
            return Ok(());
        }
    }
    state.metadata.finish_pipeline_task(project, name, partition, outcome).await
}

/// The state a failed attempt leaves: `retried` until [`ATTEMPTS`], then `failed`.
fn failure(task: Option<&PipelineTask>, sync: bool, why: String) -> (TaskState, String) {
    let attempts = task.map_or(0, |t| t.attempts) + i64::from(!sync);
    if attempts >= ATTEMPTS { (TaskState::Failed, why) } else { (TaskState::Retried, why) }
}

/// A partition written to its temporary file.
struct Written {
    temporary: PathBuf,
    target: PathBuf,
    events: i64,
    digest: String,
}

/// Writes a partition's lines, gzipped, to a temporary file beside its final name.
async fn render(state: &AppState, pipeline: &Pipeline, partition: i64) -> Result<Written, String> {
    let spec = &pipeline.spec;
    let project = state
        .metadata
        .project(pipeline.project_id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("project {} is gone", pipeline.project_id))?;
    let filter = match &spec.where_ {
        None => None,
        Some(text) => {
            let program = Program::parse(text, Scope::Event, crate::reports::expression_options(&project))
                .map_err(|e| format!("invalid `where` expression: {e}"))?;
            crate::lookup_join::Attacher::new(state, project.id)
                .optional(Some(std::sync::Arc::new(program)))
                .await
                .map_err(|e| e.message)?
        }
    };
    let dir = state.pipelines.destination(&spec.prefix, project.id).join(partition_dir(partition, spec.frequency));
    let target = dir.join(FILE_NAME);
    // One name: an attempt after a crash truncates what the crashed one left.
    let temporary = dir.join(format!(".{FILE_NAME}.partial"));
    let create = {
        let (dir, temporary) = (dir.clone(), temporary.clone());
        tokio::task::spawn_blocking(move || -> std::io::Result<GzEncoder<std::fs::File>> {
            std::fs::create_dir_all(&dir)?;
            Ok(GzEncoder::new(std::fs::File::create(&temporary)?, Compression::default()))
        })
    };
    let mut encoder =
        create.await.map_err(|e| e.to_string())?.map_err(|e| format!("cannot write {}: {e}", dir.display()))?;
    let query = ExportQuery {
        project_id: project.id,
        from_ms: partition,
        to_ms: partition + spec.frequency.span_ms(),
        events: (!spec.events.is_empty()).then(|| spec.events.clone()),
        limit: None,
        users: None,
        filter,
        dedup: false,
        properties: None,
    };
    let mut chunks = state.store.export(query);
    let (mut events, mut hash) = (0i64, Sha256::new());
    let everything = Visibility::default();
    loop {
        let chunk = match chunks.try_next().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(e) => {
                let _ = std::fs::remove_file(&temporary);
                return Err(format!("cannot read the events: {e}"));
            }
        };
        let mut lines = String::with_capacity(chunk.len() * 256);
        for e in &chunk {
            crate::event_lines::write_line(&mut lines, e, false, &everything);
        }
        events += chunk.len() as i64;
        hash.update(lines.as_bytes());
        let written = tokio::task::spawn_blocking(move || encoder.write_all(lines.as_bytes()).map(|()| encoder)).await;
        encoder = match written {
            Ok(Ok(encoder)) => encoder,
            Ok(Err(e)) => {
                let _ = std::fs::remove_file(&temporary);
                return Err(format!("cannot write {}: {e}", temporary.display()));
            }
            Err(e) => return Err(e.to_string()),
        };
    }
    let finished = tokio::task::spawn_blocking(move || -> std::io::Result<()> { encoder.finish()?.sync_all() }).await;
    if let Err(e) = finished.map_err(|e| e.to_string()).and_then(|r| r.map_err(|e| e.to_string())) {
        let _ = std::fs::remove_file(&temporary);
        return Err(format!("cannot finish {}: {e}", temporary.display()));
    }
    let digest = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok(Written { temporary, target, events, digest })
}

/// Moves the written file over its final name (one rename: readers see the old file
/// or the new one).
fn publish(written: &Written) -> std::io::Result<()> {
    std::fs::rename(&written.temporary, &written.target)?;
    if let Some(dir) = written.target.parent() {
        sync_dir(dir);
    }
    Ok(())
}

/// Makes a rename durable (best effort where directories cannot be opened).
fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}
