//! Mixpanel's GDPR API v3.0, at its paths and in its shapes (`gdpr.openapi.yaml`):
//!
//! - `POST /api/app/data-retrievals/v3.0` and `POST /api/app/data-deletions/v3.0`
//!   queue a job for up to 2,000 distinct ids (201, with both `task_id`, the spec's
//!   key, and `tracking_id`, the prose's);
//! - `GET .../v3.0/{tracking_id}` answers its status (`PENDING`, `STAGING`,
//!   `STARTED`, `SUCCESS`, `FAILURE`, `REVOKED`); a finished retrieval's `results` is
//!   the link to its archive;
//! - `DELETE /api/app/data-deletions/v3.0/{tracking_id}` cancels a deletion that has
//!   not started (204; 405 once it has);
//! - `GET /api/app/data-retrievals/v3.0/{tracking_id}/archive` (Sextant's own) serves
//!   the archive to the project's GDPR credentials until the link expires (then 410).
//!
//! - `GET`, `POST` and `DELETE /api/app/opt-outs/v3.0` (Sextant's own): the project's
//!   opt-out list (`crate::opt_outs`), read a page at a time in id order, and ids put
//!   on it or taken off it, up to 2,000 a call (`{"distinct_ids": [...]}`, as a job
//!   names them).
//!
//! Every call takes the project token as `?token=` beside a credential that may
//! request GDPR jobs (`extract::GdprCall`), and counts against the GDPR limit of one
//! request a second per project. The jobs themselves run in the background
//! (`crate::gdpr_jobs`).

use axum::Json;
use axum::body::Body;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sextant_metadata::{GdprJob, MetadataError};
use sextant_model::ErrorCode;
use sextant_model::gdpr::{JobKind, JobRequest, JobStatus};

use sextant_api::gdpr::{
    CheckDeletionResponse, CheckRetrievalResponse, CreateJob, CreatedIds, DeletionJobResult, JobCreated,
    OptOutChangeResponse, OptOutChanged, OptOutIds, OptOutListResponse, OptOutPage, RetrievalResult,
};

use crate::audit::iso;
use crate::auth::Credential;
use crate::error::ApiError;
use crate::extract::GdprCall;
use crate::regions::{Scheme, base_url};
use crate::state::AppState;

async fn create(state: &AppState, call: GdprCall, kind: JobKind) -> Result<Response, ApiError> {
    let body = call.body.ok_or_else(|| ApiError::invalid("a JSON body with `distinct_ids` is required"))?;
    let request = JobRequest::parse(kind, &body)
        .map_err(|problems| ApiError::invalid_fields("invalid GDPR request", problems))?;
    let job =
        state.metadata.create_gdpr_job(call.credential.project.id, kind, &request, &call.credential.actor.name).await?;
    state.gdpr.wake();
    let results = CreatedIds { task_id: job.tracking_id.clone(), tracking_id: job.tracking_id };
    Ok((StatusCode::CREATED, Json(JobCreated { status: "ok".into(), results })).into_response())
}

/// The job `tracking_id` of the credential's project and of `kind`; another project's
/// or kind's is not found, as it is not there for this caller.
async fn the_job(
    state: &AppState,
    credential: &Credential,
    tracking_id: &str,
    kind: JobKind,
) -> Result<GdprJob, ApiError> {
    let missing = || ApiError::new(ErrorCode::NotFound, format!("no {} job {tracking_id}", kind.as_str()));
    match state.metadata.gdpr_job(tracking_id).await {
        Ok(job) if job.project_id == credential.project.id && job.kind == kind => Ok(job),
        Ok(_) | Err(MetadataError::NotFound(_)) => Err(missing()),
        Err(e) => Err(e.into()),
    }
}

/// `POST /api/app/data-retrievals/v3.0`.
#[utoipa::path(
    post,
    path = "/api/app/data-retrievals/v3.0",
    tag = "gdpr",
    summary = "Queue a retrieval of everything kept about some people",
    params(("token" = String, Query, description = "The project token.")),
    request_body(content = CreateJob, content_type = "application/json"),
    responses((status = 201, description = "Queued", body = JobCreated)),
    security(("bearer" = []), ("basic" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn create_retrieval(State(state): State<AppState>, call: GdprCall) -> Result<Response, ApiError> {
    create(&state, call, JobKind::Retrieval).await
}

/// `POST /api/app/data-deletions/v3.0`.
#[utoipa::path(
    post,
    path = "/api/app/data-deletions/v3.0",
    tag = "gdpr",
    summary = "Queue the deletion of everything kept about some people",
    params(("token" = String, Query, description = "The project token.")),
    request_body(content = CreateJob, content_type = "application/json"),
    responses((status = 201, description = "Queued", body = JobCreated)),
    security(("bearer" = []), ("basic" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn create_deletion(State(state): State<AppState>, call: GdprCall) -> Result<Response, ApiError> {
    create(&state, call, JobKind::Deletion).await
}

/// `GET /api/app/data-retrievals/v3.0/{tracking_id}`.
#[utoipa::path(
    get,
    path = "/api/app/data-retrievals/v3.0/{tracking_id}",
    tag = "gdpr",
    summary = "A retrieval's status, and its archive's link once done",
    params(
        ("tracking_id" = String, Path, description = "The job's id."),
        ("token" = String, Query, description = "The project token.")
    ),
    responses((status = 200, description = "The job", body = CheckRetrievalResponse)),
    security(("bearer" = []), ("basic" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn get_retrieval(
    State(state): State<AppState>,
    Path(tracking_id): Path<String>,
    headers: HeaderMap,
    scheme: Option<Extension<Scheme>>,
    call: GdprCall,
) -> Result<Json<CheckRetrievalResponse>, ApiError> {
    let job = the_job(&state, &call.credential, &tracking_id, JobKind::Retrieval).await?;
    let link = match &job.archive {
        Some(_) if job.status == JobStatus::Success => format!(
            "{}/api/app/data-retrievals/v3.0/{}/archive?token={}",
            base_url(&headers, scheme.map(|Extension(s)| s)),
            job.tracking_id,
            call.credential.project.token
        ),
        _ => String::new(),
    };
    let results = RetrievalResult {
        status: job.status.as_str().to_string(),
        results: link,
        distinct_ids: job.distinct_ids,
        tracking_id: job.tracking_id,
        compliance_type: job.compliance_type.as_str().to_string(),
        disclosure_type: job.disclosure_type.map(|d| d.as_str().to_string()),
        requesting_user: job.requesting_user,
        date_requested: iso(job.created_at_ms).unwrap_or_default(),
        expires: job.archive.and(job.expires_at_ms).and_then(iso),
    };
    Ok(Json(CheckRetrievalResponse { status: "ok".into(), results }))
}

/// `GET /api/app/data-retrievals/v3.0/{tracking_id}/archive`.
#[utoipa::path(
    get,
    path = "/api/app/data-retrievals/v3.0/{tracking_id}/archive",
    tag = "gdpr",
    summary = "A finished retrieval's archive (JSON lines), until its link expires",
    params(
        ("tracking_id" = String, Path, description = "The job's id."),
        ("token" = String, Query, description = "The project token.")
    ),
    responses(
        (status = 200, description = "The archive: raw-export lines of the events, then the profiles", content_type = "application/x-ndjson", body = String),
        (status = 410, description = "The link expired and the archive is deleted")
    ),
    security(("bearer" = []), ("basic" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn archive(
    State(state): State<AppState>,
    Path(tracking_id): Path<String>,
    call: GdprCall,
) -> Result<Response, ApiError> {
    let job = the_job(&state, &call.credential, &tracking_id, JobKind::Retrieval).await?;
    let expired = job.expires_at_ms.is_some_and(|at| at <= crate::gdpr_queue::now_ms());
    let path = match (&job.archive, job.status) {
        (Some(name), JobStatus::Success) if !expired => state.gdpr.archive_path(name),
        _ if job.expires_at_ms.is_some() => {
            return Err(ApiError::new(ErrorCode::Gone, format!("the archive of retrieval {tracking_id} has expired")));
        }
        _ => {
            return Err(ApiError::new(
                ErrorCode::NotFound,
                format!("retrieval {tracking_id} has no archive yet (it is {})", job.status.as_str()),
            ));
        }
    };
    let file = match path {
        Some(path) => tokio::fs::File::open(&path).await.ok(),
        None => None,
    };
    let Some(file) = file else {
        return Err(ApiError::new(ErrorCode::Gone, format!("the archive of retrieval {tracking_id} is gone")));
    };
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    let disposition = format!("attachment; filename=\"gdpr-retrieval-{tracking_id}.jsonl\"");
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson".to_string()), (header::CONTENT_DISPOSITION, disposition)], body)
        .into_response())
}

/// `GET /api/app/data-deletions/v3.0/{tracking_id}`.
#[utoipa::path(
    get,
    path = "/api/app/data-deletions/v3.0/{tracking_id}",
    tag = "gdpr",
    summary = "A deletion's status",
    params(
        ("tracking_id" = String, Path, description = "The job's id."),
        ("token" = String, Query, description = "The project token.")
    ),
    responses((status = 200, description = "The job", body = CheckDeletionResponse)),
    security(("bearer" = []), ("basic" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn get_deletion(
    State(state): State<AppState>,
    Path(tracking_id): Path<String>,
    call: GdprCall,
) -> Result<Json<CheckDeletionResponse>, ApiError> {
    let job = the_job(&state, &call.credential, &tracking_id, JobKind::Deletion).await?;
    let results = DeletionJobResult {
        tracking_id: job.tracking_id,
        status: job.status.as_str().to_string(),
        requesting_user: job.requesting_user,
        compliance_type: job.compliance_type.as_str().to_string(),
        project_id: job.project_id.0,
        date_requested: iso(job.created_at_ms).unwrap_or_default(),
        distinct_ids: job.distinct_ids,
    };
    Ok(Json(CheckDeletionResponse { status: "ok".into(), results }))
}

/// `DELETE /api/app/data-deletions/v3.0/{tracking_id}`.
#[utoipa::path(
    delete,
    path = "/api/app/data-deletions/v3.0/{tracking_id}",
    tag = "gdpr",
    summary = "Cancel a deletion that has not started",
    params(
        ("tracking_id" = String, Path, description = "The job's id."),
        ("token" = String, Query, description = "The project token.")
    ),
    responses(
        (status = 204, description = "Cancelled (REVOKED)"),
        (status = 405, description = "It has started or ended: no longer cancellable")
    ),
    security(("bearer" = []), ("basic" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn cancel_deletion(
    State(state): State<AppState>,
    Path(tracking_id): Path<String>,
    call: GdprCall,
) -> Result<StatusCode, ApiError> {
    the_job(&state, &call.credential, &tracking_id, JobKind::Deletion).await?;
    match state.metadata.cancel_gdpr_job(&tracking_id).await? {
        JobStatus::Revoked => Ok(StatusCode::NO_CONTENT),
        other => Err(ApiError::new(
            ErrorCode::NotAllowed,
            format!("deletion {tracking_id} is {} and can no longer be cancelled", other.as_str()),
        )),
    }
}

/// Ids of an opt-out list page when `limit` is not given, and the most it may ask.
const OPT_OUT_PAGE: u32 = 1_000;
const MAX_OPT_OUT_PAGE: u32 = 10_000;

/// `GET /api/app/opt-outs/v3.0`.
#[utoipa::path(
    get,
    path = "/api/app/opt-outs/v3.0",
    tag = "gdpr",
    summary = "A page of the project's opt-out list (Sextant's own), in id order",
    params(
        ("token" = String, Query, description = "The project token."),
        ("after" = Option<String>, Query, description = "The page after this id: the previous page's `next`."),
        ("limit" = Option<u32>, Query, description = "Ids a page holds: 1 to 10,000, default 1,000.")
    ),
    responses((status = 200, description = "The page", body = OptOutListResponse)),
    security(("bearer" = []), ("basic" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn list_opt_outs(
    State(state): State<AppState>,
    call: GdprCall,
) -> Result<Json<OptOutListResponse>, ApiError> {
    let limit = match call.params.get("limit") {
        None => OPT_OUT_PAGE,
        Some(text) => text.parse().ok().filter(|n| (1..=MAX_OPT_OUT_PAGE).contains(n)).ok_or_else(|| {
            ApiError::invalid_fields(
                "invalid limit",
                vec![("limit".into(), format!("must be a whole number from 1 to {MAX_OPT_OUT_PAGE}"))],
            )
        })?,
    };
    let after = call.params.get("after").unwrap_or_default();
    let mut ids = state.metadata.opt_outs_after(call.credential.project.id, after, limit + 1).await?;
    let next = (ids.len() > limit as usize).then(|| {
        ids.truncate(limit as usize);
        ids.last().cloned().unwrap_or_default()
    });
    Ok(Json(OptOutListResponse { status: "ok".into(), results: OptOutPage { distinct_ids: ids, next } }))
}

/// Puts the ids the call names on the opt-out list (`add`) or takes them off, and has
/// this server drop (or keep) what they send from now on.
async fn change_opt_outs(state: &AppState, call: GdprCall, add: bool) -> Result<Json<OptOutChangeResponse>, ApiError> {
    let body = call.body.as_ref().ok_or_else(|| ApiError::invalid("a JSON body with `distinct_ids` is required"))?;
    let ids = sextant_model::gdpr::parse_opt_out_ids(body)
        .map_err(|problems| ApiError::invalid_fields("invalid opt-out request", problems))?;
    let project = call.credential.project.id;
    let changed =
        if add { state.metadata.opt_out(project, &ids).await? } else { state.metadata.opt_in(project, &ids).await? };
    state.opt_outs.refresh(&state.metadata).await?;
    Ok(Json(OptOutChangeResponse { status: "ok".into(), results: OptOutChanged { changed } }))
}

/// `POST /api/app/opt-outs/v3.0`.
#[utoipa::path(
    post,
    path = "/api/app/opt-outs/v3.0",
    tag = "gdpr",
    summary = "Put ids on the opt-out list (Sextant's own): ingestion drops what they send",
    params(("token" = String, Query, description = "The project token.")),
    request_body(content = OptOutIds, content_type = "application/json"),
    responses((status = 200, description = "How many were added", body = OptOutChangeResponse)),
    security(("bearer" = []), ("basic" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn add_opt_outs(
    State(state): State<AppState>,
    call: GdprCall,
) -> Result<Json<OptOutChangeResponse>, ApiError> {
    change_opt_outs(&state, call, true).await
}

/// `DELETE /api/app/opt-outs/v3.0`.
#[utoipa::path(
    delete,
    path = "/api/app/opt-outs/v3.0",
    tag = "gdpr",
    summary = "Take ids off the opt-out list (Sextant's own)",
    params(("token" = String, Query, description = "The project token.")),
    request_body(content = OptOutIds, content_type = "application/json"),
    responses((status = 200, description = "How many were removed", body = OptOutChangeResponse)),
    security(("bearer" = []), ("basic" = []), ("apiTokenHeader" = []), ("apiTokenQuery" = []))
)]
pub async fn remove_opt_outs(
    State(state): State<AppState>,
    call: GdprCall,
) -> Result<Json<OptOutChangeResponse>, ApiError> {
    change_opt_outs(&state, call, false).await
}
