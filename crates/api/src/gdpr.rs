//! GDPR and CCPA jobs (`/api/app/data-retrievals/v3.0`, `/api/app/data-deletions/v3.0`),
//! in the shapes of Mixpanel's GDPR spec: the request that queues a job, the ids it
//! answers, and each kind's status; and Sextant's own opt-out list
//! (`/api/app/opt-outs/v3.0`), in the same envelope.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The ids of a queued job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreatedIds {
    /// The job's id (the spec's key).
    pub task_id: String,
    /// The same id (the key Mixpanel's prose and status answers use).
    pub tracking_id: String,
}

/// `{"status": "ok", "results": {"task_id", "tracking_id"}}` (`JobCreated`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobCreated {
    /// Always `ok`.
    pub status: String,
    /// The job's ids.
    pub results: CreatedIds,
}

/// A retrieval's status (`CheckRetrievalResponse.results`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RetrievalResult {
    /// `PENDING`, `STAGING`, `STARTED`, `SUCCESS`, `FAILURE` or `REVOKED`.
    pub status: String,
    /// The archive's link once it succeeded (until it expires); else empty.
    pub results: String,
    /// The ids asked for.
    pub distinct_ids: Vec<String>,
    /// The job's id.
    pub tracking_id: String,
    /// `GDPR` or `CCPA`.
    pub compliance_type: String,
    /// A CCPA retrieval's `Data`, `Categories` or `Sources`.
    pub disclosure_type: Option<String>,
    /// Who asked.
    pub requesting_user: String,
    /// When (RFC 3339).
    pub date_requested: String,
    /// When the link stops working (RFC 3339), once there is one.
    pub expires: Option<String>,
}

/// `{"status": "ok", "results": {...}}` for a retrieval.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CheckRetrievalResponse {
    /// Always `ok`.
    pub status: String,
    /// The job.
    pub results: RetrievalResult,
}

/// A deletion's status (`DeletionJobResult`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeletionJobResult {
    /// The job's id.
    pub tracking_id: String,
    /// `PENDING`, `STAGING`, `STARTED`, `SUCCESS`, `FAILURE` or `REVOKED`.
    pub status: String,
    /// Who asked.
    pub requesting_user: String,
    /// `GDPR` or `CCPA`.
    pub compliance_type: String,
    /// The project.
    pub project_id: i64,
    /// When (RFC 3339).
    pub date_requested: String,
    /// The ids asked for.
    pub distinct_ids: Vec<String>,
}

/// `{"status": "ok", "results": {...}}` for a deletion (`CheckDeletionResponse`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CheckDeletionResponse {
    /// Always `ok`.
    pub status: String,
    /// The job.
    pub results: DeletionJobResult,
}

/// The body of both create calls (the server reads it with
/// `sextant_model::gdpr::JobRequest::parse`, which explains each refusal).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreateJob {
    /// 1 to 2,000 distinct ids.
    pub distinct_ids: Vec<String>,
    /// `GDPR` (default) or `CCPA`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compliance_type: Option<String>,
    /// CCPA retrievals: `Data` (default), `Categories` or `Sources`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disclosure_type: Option<String>,
}

/// The body of a change to the opt-out list: the ids to put on it or take off it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OptOutIds {
    /// 1 to 2,000 distinct ids.
    pub distinct_ids: Vec<String>,
}

/// How many ids a change to the opt-out list added or removed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OptOutChanged {
    /// Ids put on the list (`POST`) or taken off it (`DELETE`); ids already there, or
    /// not there, are not counted.
    pub changed: u64,
}

/// The answer to a change to the opt-out list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OptOutChangeResponse {
    /// `ok`.
    pub status: String,
    /// What changed.
    pub results: OptOutChanged,
}

/// A page of the opt-out list, in id order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OptOutPage {
    /// The ids of this page.
    pub distinct_ids: Vec<String>,
    /// The `after` that asks for the next page; absent on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// The answer to a read of the opt-out list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OptOutListResponse {
    /// `ok`.
    pub status: String,
    /// The page.
    pub results: OptOutPage,
}
