//! The pipeline runner: writes each partition a running pipeline owes, in the
//! background, and writes it again when a `sync` pipeline's data changed.
//!
//! A partition (a UTC day, or an hour) is the project's events in it, each line what
//! raw export (`/api/2.0/export`) writes for it, gzipped, at
//! `<prefix>/<project id>/<yyyy>/<mm>/<dd>/full_day/export.json.gz` (an hour:
//! `.../<dd>/<hh>/export.json.gz`) in the pipeline's destination
//! (`crate::pipeline_store`: the server's pipeline root or an S3 bucket). It is
//! written exactly once: to a temporary file, synced, then published over the final
//! name, so a reader sees the old file or the new one, never a torn one, and a crash
//! leaves at most a temporary file, which the next attempt replaces. A schematized
//! pipeline (`fs-schema`, `aws`) writes the lines to its work directory first, then its
//! tables from them (`crate::pipeline_tables`), each published the same way. Each task's state
//! is kept in the control plane
//! (`Metadata::start_pipeline_task`), so a restarted server writes again what was
//! running and goes on from there.
//!
//! With `sync`, a published partition is read again once `pipeline_sync_seconds` have
//! passed since it was last written or read, and published again when the hash of its
//! lines changed: late events, a GDPR deletion, an identity merge that moved events to
//! another id, an edit of the pipeline's filter. A check reads and hashes the partition
//! without writing it; the store keeps no cheaper mark of a day's change yet. Partitions
//! never published go before such checks, and a `failed` one is tried again after an
//! edit or a resume.

use std::io::Write as _;
use std::path::PathBuf;

use flate2::Compression;
use flate2::write::GzEncoder;
use futures::TryStreamExt as _;
use sextant_expr::{Program, Scope};
use sextant_metadata::{Pipeline, PipelineTask, TaskDone};
use sextant_model::pipeline::{TaskState, partition_dir, partition_key};
use sextant_model::workspace::Visibility;
use sextant_storage::ExportQuery;
use sha2::{Digest as _, Sha256};

use crate::gdpr_queue::now_ms;
use crate::pipeline_queue::ATTEMPTS;
use crate::pipeline_store::Destination;
use crate::pipeline_tables::Files;
use crate::state::AppState;

/// The file a raw partition is published as.
pub const FILE_NAME: &str = "export.json.gz";

/// Where a schematized pipeline keeps a partition's lines while it makes its tables.
const WORK_DIR: &str = ".work";

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
        let owed: Vec<(i64, Option<&PipelineTask>)> = pipeline
            .spec
            .partitions_due(now)
            .into_iter()
            .map(|partition| (partition, tasks.iter().find(|t| t.partition_ms == partition)))
            .filter(|(_, task)| owed(&pipeline, *task, now, state.pipelines.sync_every_ms))
            .collect();
        // Partitions never published first, then the published ones a sync reads again.
        let (unpublished, synced): (Vec<_>, Vec<_>) =
            owed.into_iter().partition(|(_, t)| t.is_none_or(|t| t.state != TaskState::Succeeded));
        for (partition, task) in unpublished.into_iter().chain(synced) {
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
    let destination = match Destination::of(state, pipeline) {
        Ok(destination) => destination,
        Err(why) if published.is_some() => {
            tracing::warn!(pipeline = name, partition, why, "pipeline sync check failed; it will be tried again");
            return Ok(());
        }
        Err(why) => {
            state.metadata.start_pipeline_task(project, name, partition).await?;
            let outcome = Err(failure(task, false, why));
            return state.metadata.finish_pipeline_task(project, name, partition, outcome).await;
        }
    };
    let work = destination.work_dir();
    if let Some(t) = published {
        // A sync reads the partition and hashes its lines without writing them: most
        // checks find nothing changed.
        match render(state, pipeline, partition, work, false).await {
            Ok(lines) if t.digest.as_deref() == Some(lines.digest.as_str()) => {
                return unchanged(state, pipeline, partition, lines).await;
            }
            Ok(_) => {}
            Err(why) => {
                tracing::warn!(pipeline = name, partition, why, "pipeline sync check failed; it will be tried again");
                return Ok(());
            }
        }
    } else {
        state.metadata.start_pipeline_task(project, name, partition).await?;
    }
    let failed = |why: String| failure(task, published.is_some(), why);
    let outcome = match render(state, pipeline, partition, work, true).await {
        Ok(lines) => {
            let same = published.is_some_and(|t| t.digest.as_deref() == Some(lines.digest.as_str()));
            if same {
                // Changed back between the check and this read: nothing to publish.
                let _ = std::fs::remove_file(&lines.file);
                return unchanged(state, pipeline, partition, lines).await;
            }
            let previous = published.map(|t| t.tables.clone()).unwrap_or_default();
            match files_of(state, pipeline, partition, &destination, &lines, previous).await {
                Ok(files) => {
                    // The fault test's moment: the files written, not yet published.
                    let _ = tokio::task::spawn_blocking(|| {
                        sextant_storage_duckdb::pause::point(sextant_storage_duckdb::pause::PIPELINE_PUBLISH)
                    })
                    .await;
                    let tables = Some(files.tables.clone());
                    match destination.publish(&files).await {
                        Ok(()) => Ok(TaskDone { events: lines.events, digest: lines.digest, published: true, tables }),
                        Err(why) => Err(failed(why)),
                    }
                }
                Err(why) => Err(failed(why)),
            }
        }
        Err(why) => Err(failed(why)),
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

/// Records a published partition read again and found unchanged: the next check
/// waits its interval again.
async fn unchanged(
    state: &AppState,
    pipeline: &Pipeline,
    partition: i64,
    lines: Lines,
) -> Result<(), sextant_metadata::MetadataError> {
    let outcome = Ok(TaskDone { events: lines.events, digest: lines.digest, published: false, tables: None });
    state.metadata.finish_pipeline_task(pipeline.project_id, &pipeline.name, partition, outcome).await
}

/// The state a failed attempt leaves: `retried` until [`ATTEMPTS`], then `failed`.
fn failure(task: Option<&PipelineTask>, sync: bool, why: String) -> (TaskState, String) {
    let attempts = task.map_or(0, |t| t.attempts) + i64::from(!sync);
    if attempts >= ATTEMPTS { (TaskState::Failed, why) } else { (TaskState::Retried, why) }
}

/// A partition's lines, written to a file of their own.
struct Lines {
    /// A raw pipeline's gzipped file beside its final name; a schematized one's plain
    /// lines (times in milliseconds) in its work directory.
    file: PathBuf,
    events: i64,
    /// The hash of the lines: what a sync compares.
    digest: String,
}

/// Reads a partition's events into a file: export's lines, gzipped beside the final
/// name for a raw pipeline, plain in the work directory for a schematized one; with
/// `write` false, only their hash (a sync's check).
async fn render(
    state: &AppState,
    pipeline: &Pipeline,
    partition: i64,
    work: &std::path::Path,
    write: bool,
) -> Result<Lines, String> {
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
    let schematized = spec.kind.schematized();
    // One name each: an attempt after a crash truncates what the crashed one left.
    let (dir, file) = if schematized {
        let lines = work.join(WORK_DIR);
        let file = lines.join(format!("{}.jsonl", partition_key(partition, spec.frequency)));
        (lines, file)
    } else {
        let dir = work.join(partition_dir(partition, spec.frequency));
        let file = dir.join(format!(".{FILE_NAME}.partial"));
        (dir, file)
    };
    let create = {
        let (dir, file) = (dir.clone(), file.clone());
        tokio::task::spawn_blocking(move || -> std::io::Result<Sink> {
            if !write {
                return Ok(Sink::Discard);
            }
            std::fs::create_dir_all(&dir)?;
            let out = std::fs::File::create(&file)?;
            Ok(if schematized {
                Sink::Plain(std::io::BufWriter::with_capacity(1 << 20, out))
            } else {
                Sink::Gzip(GzEncoder::new(out, Compression::default()))
            })
        })
    };
    let mut sink =
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
    let failed = |why: String| {
        let _ = std::fs::remove_file(&file);
        why
    };
    loop {
        let chunk = match chunks.try_next().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(e) => return Err(failed(format!("cannot read the events: {e}"))),
        };
        let mut lines = String::with_capacity(chunk.len() * 256);
        for e in &chunk {
            // Tables keep times to the millisecond; raw lines are export's (seconds).
            crate::event_lines::write_line(&mut lines, e, schematized, &everything);
        }
        events += chunk.len() as i64;
        hash.update(lines.as_bytes());
        let written = tokio::task::spawn_blocking(move || sink.write_all(lines.as_bytes()).map(|()| sink)).await;
        sink = match written {
            Ok(Ok(sink)) => sink,
            Ok(Err(e)) => return Err(failed(format!("cannot write {}: {e}", file.display()))),
            Err(e) => return Err(failed(e.to_string())),
        };
    }
    let finished = tokio::task::spawn_blocking(move || sink.finish()).await;
    if let Err(e) = finished.map_err(|e| e.to_string()).and_then(|r| r.map_err(|e| e.to_string())) {
        return Err(failed(format!("cannot finish {}: {e}", file.display())));
    }
    let digest = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok(Lines { file, events, digest })
}

/// The files a partition's lines make: the raw file itself, or the schematized
/// tables (`crate::pipeline_tables`).
async fn files_of(
    state: &AppState,
    pipeline: &Pipeline,
    partition: i64,
    destination: &Destination,
    lines: &Lines,
    previous: Vec<String>,
) -> Result<Files, String> {
    let spec = &pipeline.spec;
    let dir = partition_dir(partition, spec.frequency);
    if !spec.kind.schematized() {
        return Ok(Files { written: vec![(lines.file.clone(), format!("{dir}/{FILE_NAME}"))], ..Files::default() });
    }
    let kinds = state.store.dictionary(pipeline.project_id, None).await.map_err(|e| e.to_string())?;
    let work = destination.work_dir().to_path_buf();
    let (source, format, schema) = (lines.file.clone(), spec.data_format, spec.schema_type);
    let made = tokio::task::spawn_blocking(move || {
        crate::pipeline_tables::write(&source, &work, &dir, format, schema, &kinds, &previous)
    })
    .await
    .map_err(|e| e.to_string())?;
    let mut files = made.inspect_err(|_| {
        let _ = std::fs::remove_file(&lines.file);
    })?;
    files.scratch.push(lines.file.clone());
    Ok(files)
}

/// Where a partition's lines are written: a file, gzipped or not, or nowhere (only
/// hashed).
enum Sink {
    Plain(std::io::BufWriter<std::fs::File>),
    Gzip(GzEncoder<std::fs::File>),
    Discard,
}

impl Sink {
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Sink::Plain(w) => w.write_all(bytes),
            Sink::Gzip(w) => w.write_all(bytes),
            Sink::Discard => Ok(()),
        }
    }

    /// Flushes and syncs.
    fn finish(self) -> std::io::Result<()> {
        let file = match self {
            Sink::Plain(w) => w.into_inner().map_err(|e| e.into_error())?,
            Sink::Gzip(w) => w.finish()?,
            Sink::Discard => return Ok(()),
        };
        file.sync_all()
    }
}
