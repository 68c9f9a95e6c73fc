//! Mixpanel's Data Pipelines API at its paths (`data-pipelines.openapi.yaml`):
//! `/api/2.0/nessie/pipeline/{jobs,create,edit,cancel,pause,resume,status,timeline}`.
//!
//! Every call authenticates as raw export does (the project secret, or a service
//! account with `project_id`; an API token holding `pipelines`) and must be allowed to
//! manage pipelines (owners and admins). `fs-raw` writes raw export's lines, `fs-schema`
//! typed tables (`crate::pipeline_tables`). Create, edit, cancel, pause and resume take
//! form fields, as Mixpanel's do. The partitions are written in the background
//! (`crate::pipeline_jobs`); `status` lists them by state, `timeline` every
//! publication by day. Errors take the spec's `ErrorResponse` keys (`error`,
//! `status: "error"`), the App API's shape.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use sextant_expr::{Program, Scope};
use sextant_metadata::{Pipeline, PipelineTask};
use sextant_model::pipeline::{PipelineEdit, PipelineSpec, TaskState, destinations_overlap, partition_key};

use crate::error::ApiError;
use crate::extract::{PipelinesApi, Reader};
use crate::state::AppState;

/// One pipeline in `jobs`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PipelineSummary {
    /// Its name.
    pub name: String,
    /// `backfill` while it writes partitions that ended before it was created, then
    /// `incremental`.
    #[serde(rename = "Dispatcher")]
    pub dispatcher: &'static str,
    /// When a partition was last started (`yyyy-mm-dd hh:mm:ss UTC`), empty before.
    pub last_dispatched: String,
    /// `daily` or `hourly`.
    pub frequency: &'static str,
    /// `"true"` or `"false"`, a string as in Mixpanel's answer.
    pub sync_enabled: String,
    /// `running` or `paused` (Sextant's own).
    pub state: &'static str,
    /// Its type (Sextant's own).
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The first day it exports (Sextant's own).
    pub from_date: String,
    /// The last, empty when it goes on (Sextant's own).
    pub to_date: String,
}

/// `create`'s answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PipelineCreated {
    /// The name of the pipeline made: what the other calls take as `name`.
    pub pipeline_names: Vec<String>,
}

/// The answer of `edit`, `cancel`, `pause` and `resume`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PipelineDone {
    /// Always `ok`.
    pub status: &'static str,
    /// The pipeline.
    pub name: String,
}

/// One partition in `status` (`PipelineStatusJobList`'s items).
#[derive(Serialize, utoipa::ToSchema)]
pub struct PipelineTaskView {
    /// The project.
    pub project_id: i64,
    /// The pipeline.
    pub name: String,
    /// The task's state.
    pub state: &'static str,
    /// When it last ended, empty while it runs.
    pub last_finish: String,
    /// When it last started.
    pub run_at: String,
    /// The partition's start (`yyyy-mm-dd`, or `yyyy-mm-ddThh` for an hour).
    pub from_date: String,
    /// The partition's end (the same for a day; the next hour for an hour).
    pub to_date: String,
    /// Events in the published file (Sextant's own).
    pub events: i64,
    /// Times it was tried (Sextant's own).
    pub attempts: i64,
    /// Why it last failed (Sextant's own).
    pub error: Option<String>,
}

/// `status`'s answer: the partitions under their state's name
/// (`PipelineStatusResponse`), or with `summary` how many are in each, under
/// `summary` (the spec's keys hold lists, so the counts go under a key of their own).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum PipelineStatus {
    /// The partitions, by state.
    Tasks(BTreeMap<String, Vec<PipelineTaskView>>),
    /// How many, by state.
    Counts {
        /// State name to count.
        summary: BTreeMap<String, usize>,
    },
}

/// One day in `timeline`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DaySyncs {
    /// The day (`yyyy-mm-dd`).
    pub date: String,
    /// Every time a partition of that day was published.
    pub sync_times: Vec<String>,
}

/// `timeline`'s answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PipelineTimeline {
    /// By day, oldest first.
    pub day_syncs: Vec<DaySyncs>,
}

/// The pipeline `name` names in the request's project.
async fn named(state: &AppState, reader: &Reader<PipelinesApi>) -> Result<Pipeline, ApiError> {
    let name = reader.params.get("name").map(str::trim).filter(|n| !n.is_empty());
    let name = name.ok_or_else(|| {
        ApiError::invalid_fields("a pipeline is required", vec![("name".into(), "is required".into())])
    })?;
    Ok(state.metadata.pipeline(reader.project().id, name).await?)
}

fn format_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

fn check_where(where_: Option<&str>, reader: &Reader<PipelinesApi>) -> Result<(), ApiError> {
    if let Some(text) = where_ {
        Program::parse(text, Scope::Event, reader.options.clone()).map_err(|e| {
            ApiError::invalid_fields(
                "invalid pipeline",
                vec![("where".into(), format!("is not a valid expression: {e}"))],
            )
        })?;
    }
    Ok(())
}

/// `GET /api/2.0/nessie/pipeline/jobs`.
#[utoipa::path(
    get,
    path = "/api/2.0/nessie/pipeline/jobs",
    tag = "pipelines",
    summary = "The project's pipelines",
    params(("project_id" = Option<i64>, Query, description = "The project, with service-account credentials.")),
    responses((status = 200, description = "The pipelines, under the project's id", body = BTreeMap<String, Vec<PipelineSummary>>)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn jobs(
    State(state): State<AppState>,
    reader: Reader<PipelinesApi>,
) -> Result<Json<BTreeMap<String, Vec<PipelineSummary>>>, ApiError> {
    let project = reader.project().id;
    let mut listed = Vec::new();
    for p in state.metadata.pipelines(project).await? {
        let tasks = state.metadata.pipeline_tasks(project, &p.name).await?;
        // Backfilling until every partition that had ended when it was made is written.
        let caught_up = p
            .spec
            .partitions_due(p.created_at_ms)
            .iter()
            .all(|partition| tasks.iter().any(|t| t.partition_ms == *partition && t.state == TaskState::Succeeded));
        listed.push(PipelineSummary {
            dispatcher: if caught_up { "incremental" } else { "backfill" },
            last_dispatched: p.last_dispatched_ms.map(format_time).unwrap_or_default(),
            frequency: p.spec.frequency.as_str(),
            sync_enabled: p.spec.sync.to_string(),
            state: if p.running { "running" } else { "paused" },
            kind: p.spec.kind.as_str(),
            from_date: p.spec.from_date.to_string(),
            to_date: p.spec.to_date.map(|d| d.to_string()).unwrap_or_default(),
            name: p.name,
        });
    }
    Ok(Json(BTreeMap::from([(project.0.to_string(), listed)])))
}

/// The fields `create` reads (a form; documents what `PipelineSpec::parse` reads).
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
struct CreatePipeline {
    /// `fs-raw`, `fs-schema`, `s3-raw` or `aws` (the types this server writes; the
    /// others are refused with a 400).
    r#type: String,
    /// A thirty-day trial from yesterday.
    trial: Option<bool>,
    /// `events`.
    data_source: Option<String>,
    /// The first day (yyyy-mm-dd), at most six months ago; required unless `trial`.
    from_date: Option<String>,
    /// The last day; empty: on and on.
    to_date: Option<String>,
    /// `daily` (default) or `hourly`.
    frequency: Option<String>,
    /// An event to export (repeat the field for more); none: every event.
    events: Option<String>,
    /// A segmentation expression events must match.
    r#where: Option<String>,
    /// `json` (default), or `parquet` for `fs-schema`.
    data_format: Option<String>,
    /// `fs-schema`: `monoschema` (default: one table, `mp_master_event`) or
    /// `multischema` (a table for each event).
    schema_type: Option<String>,
    /// Write partitions again when their events change.
    sync: Option<bool>,
    /// A path under the server's pipeline directory (`fs-*`; Sextant's own).
    fs_prefix: Option<String>,
    /// `s3-raw`, `aws`: the bucket.
    s3_bucket: Option<String>,
    /// `s3-raw`, `aws`: the bucket's region.
    s3_region: Option<String>,
    /// `s3-raw`, `aws`: the path above the project's id.
    s3_prefix: Option<String>,
    /// `s3-raw`, `aws`: kept and shown; the server writes with the key pair given, or
    /// its own AWS credentials.
    s3_role: Option<String>,
    /// `none` (default), `aes` or `kms`.
    s3_encryption: Option<String>,
    /// The KMS key of `kms` encryption.
    s3_kms_key_id: Option<String>,
    /// An S3-compatible server's URL (Sextant's own); none: Amazon's.
    s3_endpoint: Option<String>,
    /// The key pair's id (Sextant's own); none: the server's own credentials.
    s3_access_key_id: Option<String>,
    /// The key pair's secret (Sextant's own), kept sealed under the server's key.
    s3_secret_access_key: Option<String>,
    /// `aws`: must be false (Glue is not written).
    use_glue: Option<bool>,
}

/// `POST /api/2.0/nessie/pipeline/create`.
#[utoipa::path(
    post,
    path = "/api/2.0/nessie/pipeline/create",
    tag = "pipelines",
    summary = "Create a pipeline",
    request_body(content = CreatePipeline, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "Created", body = PipelineCreated)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    reader: Reader<PipelinesApi>,
) -> Result<Json<PipelineCreated>, ApiError> {
    let today = chrono::Utc::now().date_naive();
    let mut spec = PipelineSpec::parse(reader.params.pairs(), today)
        .map_err(|problems| ApiError::invalid_fields("invalid pipeline", problems))?;
    check_where(spec.where_.as_deref(), &reader)?;
    let name = spec.name();
    let credential = &reader.credential;
    let prefix_field = if spec.kind.s3() { "s3_prefix" } else { "fs_prefix" };
    for other in state.metadata.all_pipelines().await? {
        if destinations_overlap((&spec, credential.project.id.0), (&other.spec, other.project_id.0)) {
            let message = if other.project_id == credential.project.id {
                format!(
                    "pipeline `{}` writes to this directory already; give this one another `{prefix_field}`",
                    other.name
                )
            } else {
                format!("another project's pipeline writes to this directory; give this one another `{prefix_field}`")
            };
            return Err(ApiError::new(sextant_model::ErrorCode::Conflict, message));
        }
    }
    if let Some(bucket) = spec.bucket.as_mut() {
        // The secret is stored sealed, and the bucket tried before the pipeline exists.
        bucket.secret_access_key = bucket.secret_access_key.as_deref().map(|s| state.secrets.seal(s));
        crate::pipeline_store::check_bucket(&state.secrets, bucket, &spec.prefix, credential.project.id.0)
            .await
            .map_err(|why| ApiError::invalid_fields("invalid pipeline", vec![("s3_bucket".into(), why)]))?;
    }
    state
        .metadata
        .create_pipeline(credential.project.id, &name, &spec, &state.gdpr.runner, &credential.actor.name)
        .await?;
    state.pipelines.wake();
    Ok(Json(PipelineCreated { pipeline_names: vec![name] }))
}

/// The fields `edit` reads.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
struct EditPipeline {
    /// The pipeline.
    name: String,
    /// The new event filter (repeat the field for more).
    events: Option<String>,
    /// The new expression; empty removes it.
    r#where: Option<String>,
}

/// `POST /api/2.0/nessie/pipeline/edit`: a new `events` filter or `where`, for the
/// partitions written from now on (and, with `sync`, those written again).
#[utoipa::path(
    post,
    path = "/api/2.0/nessie/pipeline/edit",
    tag = "pipelines",
    summary = "Change a pipeline's filters",
    request_body(content = EditPipeline, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "Changed", body = PipelineDone)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn edit(State(state): State<AppState>, reader: Reader<PipelinesApi>) -> Result<Json<PipelineDone>, ApiError> {
    let pipeline = named(&state, &reader).await?;
    let edit = PipelineEdit::parse(reader.params.pairs())
        .map_err(|problems| ApiError::invalid_fields("invalid pipeline edit", problems))?;
    let mut spec = pipeline.spec.clone();
    if let Some(events) = edit.events {
        spec.events = events;
    }
    if let Some(where_) = edit.where_ {
        check_where(where_.as_deref(), &reader)?;
        spec.where_ = where_;
    }
    state.metadata.replace_pipeline_spec(pipeline.project_id, &pipeline.name, &spec).await?;
    // What failed may pass with the new filter.
    state.metadata.retry_pipeline_tasks(pipeline.project_id, &pipeline.name).await?;
    state.pipelines.wake();
    Ok(Json(PipelineDone { status: "ok", name: pipeline.name }))
}

/// The fields `cancel`, `pause` and `resume` read.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
struct NamePipeline {
    /// The pipeline.
    name: String,
}

/// `POST /api/2.0/nessie/pipeline/cancel`: deletes the pipeline and its history (the
/// files it published stay where they are).
#[utoipa::path(
    post,
    path = "/api/2.0/nessie/pipeline/cancel",
    tag = "pipelines",
    summary = "Delete a pipeline",
    request_body(content = NamePipeline, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "Deleted", body = PipelineDone)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn cancel(
    State(state): State<AppState>,
    reader: Reader<PipelinesApi>,
) -> Result<Json<PipelineDone>, ApiError> {
    let pipeline = named(&state, &reader).await?;
    state.metadata.delete_pipeline(pipeline.project_id, &pipeline.name).await?;
    // A bucket pipeline's staged files (events, some perhaps deleted since) go with it.
    let staging = state.pipelines.staging(pipeline.project_id, &pipeline.name);
    let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(staging)).await;
    Ok(Json(PipelineDone { status: "ok", name: pipeline.name }))
}

/// `POST /api/2.0/nessie/pipeline/pause`.
#[utoipa::path(
    post,
    path = "/api/2.0/nessie/pipeline/pause",
    tag = "pipelines",
    summary = "Pause a pipeline: no partition is started until it resumes",
    request_body(content = NamePipeline, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "Paused", body = PipelineDone)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn pause(
    State(state): State<AppState>,
    reader: Reader<PipelinesApi>,
) -> Result<Json<PipelineDone>, ApiError> {
    set_running(&state, &reader, false).await
}

/// `POST /api/2.0/nessie/pipeline/resume`.
#[utoipa::path(
    post,
    path = "/api/2.0/nessie/pipeline/resume",
    tag = "pipelines",
    summary = "Resume a paused pipeline: it writes what it owes",
    request_body(content = NamePipeline, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "Resumed", body = PipelineDone)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn resume(
    State(state): State<AppState>,
    reader: Reader<PipelinesApi>,
) -> Result<Json<PipelineDone>, ApiError> {
    set_running(&state, &reader, true).await
}

async fn set_running(
    state: &AppState,
    reader: &Reader<PipelinesApi>,
    running: bool,
) -> Result<Json<PipelineDone>, ApiError> {
    let pipeline = named(state, reader).await?;
    state.metadata.set_pipeline_running(pipeline.project_id, &pipeline.name, running).await?;
    if running {
        // Resumed: what failed is tried again.
        state.metadata.retry_pipeline_tasks(pipeline.project_id, &pipeline.name).await?;
    }
    state.pipelines.wake();
    Ok(Json(PipelineDone { status: "ok", name: pipeline.name }))
}

/// The task states `status` is asked for: `status` repeated, comma-separated, or a
/// JSON list; none: every state.
fn wanted_states(reader: &Reader<PipelinesApi>) -> Result<Vec<TaskState>, ApiError> {
    let mut names: Vec<String> = Vec::new();
    for (_, value) in reader.params.pairs().iter().filter(|(k, _)| k == "status") {
        match serde_json::from_str::<Vec<String>>(value) {
            Ok(list) if value.trim_start().starts_with('[') => names.extend(list),
            _ => names.extend(value.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty())),
        }
    }
    if names.is_empty() {
        return Ok(TaskState::ALL.to_vec());
    }
    names
        .iter()
        .map(|n| {
            TaskState::parse(n).ok_or_else(|| {
                let all = TaskState::ALL.map(TaskState::as_str).join(", ");
                ApiError::invalid_fields(
                    "invalid status filter",
                    vec![("status".into(), format!("`{n}` is not one of {all}"))],
                )
            })
        })
        .collect()
}

fn task_view(pipeline: &Pipeline, t: &PipelineTask) -> PipelineTaskView {
    let frequency = pipeline.spec.frequency;
    let end = match frequency {
        sextant_model::pipeline::Frequency::Daily => t.partition_ms,
        sextant_model::pipeline::Frequency::Hourly => t.partition_ms + frequency.span_ms(),
    };
    PipelineTaskView {
        project_id: pipeline.project_id.0,
        name: pipeline.name.clone(),
        state: t.state.as_str(),
        last_finish: t.finished_at_ms.map(format_time).unwrap_or_default(),
        run_at: format_time(t.run_at_ms),
        from_date: partition_key(t.partition_ms, frequency),
        to_date: partition_key(end, frequency),
        events: t.events,
        attempts: t.attempts,
        error: t.error.clone(),
    }
}

/// `GET /api/2.0/nessie/pipeline/status`: the pipeline's partitions by state
/// (`PipelineStatusResponse`); with `summary=true`, only how many in each.
#[utoipa::path(
    get,
    path = "/api/2.0/nessie/pipeline/status",
    tag = "pipelines",
    summary = "A pipeline's partitions, by state",
    params(
        ("project_id" = Option<i64>, Query, description = "The project, with service-account credentials."),
        ("name" = String, Query, description = "The pipeline."),
        ("summary" = Option<bool>, Query, description = "Only the count in each state."),
        ("status" = Option<Vec<String>>, Query, description = "Only these states: pending, running, succeeded, retried, failed, canceled, timed_out.")
    ),
    responses((status = 200, description = "Partitions under their state's name (counts with `summary`)", body = PipelineStatus)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn status(
    State(state): State<AppState>,
    reader: Reader<PipelinesApi>,
) -> Result<Json<PipelineStatus>, ApiError> {
    let pipeline = named(&state, &reader).await?;
    let wanted = wanted_states(&reader)?;
    let tasks = state.metadata.pipeline_tasks(pipeline.project_id, &pipeline.name).await?;
    let mut by_state: BTreeMap<String, Vec<PipelineTaskView>> = BTreeMap::new();
    for t in tasks.iter().filter(|t| wanted.contains(&t.state)) {
        by_state.entry(t.state.as_str().to_string()).or_default().push(task_view(&pipeline, t));
    }
    Ok(Json(if reader.params.flag("summary") {
        PipelineStatus::Counts { summary: by_state.iter().map(|(k, v)| (k.clone(), v.len())).collect() }
    } else {
        PipelineStatus::Tasks(by_state)
    }))
}

/// `GET /api/2.0/nessie/pipeline/timeline`: every publication, by the day of its
/// partition.
#[utoipa::path(
    get,
    path = "/api/2.0/nessie/pipeline/timeline",
    tag = "pipelines",
    summary = "When each day's partitions were published",
    params(
        ("project_id" = Option<i64>, Query, description = "The project, with service-account credentials."),
        ("name" = String, Query, description = "The pipeline.")
    ),
    responses((status = 200, description = "Publications by day", body = PipelineTimeline)),
    security(("basic" = []), ("bearer" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn timeline(
    State(state): State<AppState>,
    reader: Reader<PipelinesApi>,
) -> Result<Json<PipelineTimeline>, ApiError> {
    let pipeline = named(&state, &reader).await?;
    let mut days: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (partition, at) in state.metadata.pipeline_syncs(pipeline.project_id, &pipeline.name).await? {
        let day = partition_key(partition, sextant_model::pipeline::Frequency::Daily);
        let time = chrono::DateTime::from_timestamp_millis(at)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S%.6f +0000 UTC").to_string())
            .unwrap_or_default();
        days.entry(day).or_default().push(time);
    }
    let day_syncs = days.into_iter().map(|(date, sync_times)| DaySyncs { date, sync_times }).collect();
    Ok(Json(PipelineTimeline { day_syncs }))
}
