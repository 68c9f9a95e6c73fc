//! GDPR and CCPA jobs ([`GdprJob`]): the queue of retrievals and deletions, each job's
//! progress (so a restarted server resumes it), and the audit record it leaves: who
//! asked, when, for which ids, and how many events and profiles it read or removed.
//!
//! Every change of status is one conditional `UPDATE` (`... WHERE status = $from`), so a
//! cancel and the job runner never both win: a job cancelled while it was being staged
//! is not started, and one started is not cancelled. The rules of the lifecycle are
//! `sextant_model::gdpr`'s.

use sextant_model::ProjectId;
use sextant_model::gdpr::{ComplianceType, DisclosureType, JobKind, JobRequest, JobStatus};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::store::{Metadata, now_ms};
use crate::{MetadataError, Result};

/// A job as stored, and the audit record it leaves.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct GdprJob {
    /// Its id (`tracking_id`, also answered as `task_id`): decimal digits, as Mixpanel's.
    pub tracking_id: String,
    /// Its project.
    pub project_id: ProjectId,
    /// Retrieval or deletion.
    pub kind: JobKind,
    /// GDPR or CCPA.
    pub compliance_type: ComplianceType,
    /// A CCPA retrieval's disclosure type.
    pub disclosure_type: Option<DisclosureType>,
    /// Where it is.
    pub status: JobStatus,
    /// Who asked (the credential's name).
    pub requesting_user: String,
    /// The ids the request named.
    pub distinct_ids: Vec<String>,
    /// Every id of their identity clusters, fixed when staged; `None` before, and after
    /// the job ends.
    pub erase_ids: Option<Vec<String>>,
    /// The next chunk of `erase_ids` a deletion removes.
    pub next_chunk: i64,
    /// Events read (retrieval) or removed (deletion).
    pub events_touched: i64,
    /// Profiles read or removed.
    pub profiles_touched: i64,
    /// A finished retrieval's archive (a file name in the server's GDPR directory).
    pub archive: Option<String>,
    /// When that archive stops being served (epoch ms).
    pub expires_at_ms: Option<i64>,
    /// Why it failed.
    pub error: Option<String>,
    /// When it was requested (epoch ms).
    pub created_at_ms: i64,
    /// When it started.
    pub started_at_ms: Option<i64>,
    /// When it ended.
    pub finished_at_ms: Option<i64>,
}

const COLUMNS: &str = "tracking_id, project_id, kind, compliance_type, disclosure_type, status, requesting_user, \
     distinct_ids, erase_ids, next_chunk, events_touched, profiles_touched, archive, expires_at_ms, error, \
     created_at_ms, started_at_ms, finished_at_ms";

fn invalid(what: &str, e: impl std::fmt::Display) -> MetadataError {
    MetadataError::Invalid(format!("stored GDPR job {what}: {e}"))
}

fn from_row(row: &AnyRow) -> Result<GdprJob> {
    let text = |name: &str| -> Result<String> { Ok(row.try_get::<String, _>(name)?) };
    let kind = match text("kind")?.as_str() {
        "retrieval" => JobKind::Retrieval,
        "deletion" => JobKind::Deletion,
        other => return Err(invalid("kind", other)),
    };
    let status = text("status")?;
    let list = |value: String| serde_json::from_str::<Vec<String>>(&value).map_err(|e| invalid("ids", e));
    Ok(GdprJob {
        tracking_id: text("tracking_id")?,
        project_id: ProjectId(row.try_get("project_id")?),
        kind,
        compliance_type: {
            let c = text("compliance_type")?;
            ComplianceType::parse(&c).ok_or_else(|| invalid("compliance_type", &c))?
        },
        disclosure_type: row
            .try_get::<Option<String>, _>("disclosure_type")?
            .map(|d| DisclosureType::parse(&d).ok_or_else(|| invalid("disclosure_type", &d)))
            .transpose()?,
        status: JobStatus::parse(&status).ok_or_else(|| invalid("status", &status))?,
        requesting_user: text("requesting_user")?,
        distinct_ids: list(text("distinct_ids")?)?,
        erase_ids: row.try_get::<Option<String>, _>("erase_ids")?.map(list).transpose()?,
        next_chunk: row.try_get("next_chunk")?,
        events_touched: row.try_get("events_touched")?,
        profiles_touched: row.try_get("profiles_touched")?,
        archive: row.try_get("archive")?,
        expires_at_ms: row.try_get("expires_at_ms")?,
        error: row.try_get("error")?,
        created_at_ms: row.try_get("created_at_ms")?,
        started_at_ms: row.try_get("started_at_ms")?,
        finished_at_ms: row.try_get("finished_at_ms")?,
    })
}

/// A fresh tracking id: 19 decimal digits, the shape of Mixpanel's.
fn tracking_id() -> String {
    use rand::Rng as _;
    rand::rng().random_range(1_000_000_000_000_000_000u64..10_000_000_000_000_000_000u64).to_string()
}

impl Metadata {
    /// Queues a job (`PENDING`).
    pub async fn create_gdpr_job(
        &self,
        project: ProjectId,
        kind: JobKind,
        request: &JobRequest,
        requesting_user: &str,
    ) -> Result<GdprJob> {
        let id = tracking_id();
        let disclosure = request.disclosure_type.map(DisclosureType::as_str);
        let ids = serde_json::to_string(&request.distinct_ids).map_err(|e| MetadataError::Invalid(e.to_string()))?;
        sqlx::query(
            "INSERT INTO gdpr_jobs (tracking_id, project_id, kind, compliance_type, disclosure_type, status, \
             requesting_user, distinct_ids, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&id)
        .bind(project.0)
        .bind(kind.as_str())
        .bind(request.compliance_type.as_str())
        .bind(disclosure)
        .bind(JobStatus::Pending.as_str())
        .bind(requesting_user)
        .bind(ids)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        self.gdpr_job(&id).await
    }

    /// A job by its tracking id.
    pub async fn gdpr_job(&self, tracking_id: &str) -> Result<GdprJob> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM gdpr_jobs WHERE tracking_id = $1"))
            .bind(tracking_id)
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| MetadataError::NotFound(format!("GDPR job {tracking_id}")))?;
        from_row(&row)
    }

    /// A project's jobs, newest first, at most `limit`: the audit trail.
    pub async fn gdpr_jobs(&self, project: ProjectId, limit: i64) -> Result<Vec<GdprJob>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM gdpr_jobs WHERE project_id = $1 ORDER BY created_at_ms DESC, tracking_id DESC LIMIT $2"
        ))
        .bind(project.0)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// The jobs `runner` may work, oldest first: those queued, and those it claimed and
    /// has not finished (what a restarted server resumes).
    pub async fn unfinished_gdpr_jobs(&self, runner: &str) -> Result<Vec<GdprJob>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM gdpr_jobs WHERE status = $1 OR (status IN ($2, $3) AND runner = $4) \
             ORDER BY created_at_ms, tracking_id"
        ))
        .bind(JobStatus::Pending.as_str())
        .bind(JobStatus::Staging.as_str())
        .bind(JobStatus::Started.as_str())
        .bind(runner)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Claims a queued job for `runner` (`PENDING` to `STAGING`); `false` when another
    /// server claimed it first or it was cancelled.
    pub async fn claim_gdpr_job(&self, tracking_id: &str, runner: &str) -> Result<bool> {
        let claimed =
            sqlx::query("UPDATE gdpr_jobs SET status = $1, runner = $2 WHERE tracking_id = $3 AND status = $4")
                .bind(JobStatus::Staging.as_str())
                .bind(runner)
                .bind(tracking_id)
                .bind(JobStatus::Pending.as_str())
                .execute(self.pool())
                .await?;
        Ok(claimed.rows_affected() == 1)
    }

    /// Moves a job from `from` to `to`; `false` when it was not at `from` (cancelled
    /// meanwhile, or moved by another server).
    pub async fn move_gdpr_job(&self, tracking_id: &str, from: JobStatus, to: JobStatus) -> Result<bool> {
        let now = now_ms();
        let started = (to == JobStatus::Started).then_some(now);
        let finished = to.is_final().then_some(now);
        let moved = sqlx::query(
            "UPDATE gdpr_jobs SET status = $1, started_at_ms = coalesce($2, started_at_ms), \
             finished_at_ms = coalesce($3, finished_at_ms) WHERE tracking_id = $4 AND status = $5",
        )
        .bind(to.as_str())
        .bind(started)
        .bind(finished)
        .bind(tracking_id)
        .bind(from.as_str())
        .execute(self.pool())
        .await?;
        Ok(moved.rows_affected() == 1)
    }

    /// Cancels a job that has not started. Answers the status it has now: `REVOKED`
    /// when cancelled (or already), the status it had when too late.
    pub async fn cancel_gdpr_job(&self, tracking_id: &str) -> Result<JobStatus> {
        for from in [JobStatus::Pending, JobStatus::Staging] {
            if self.move_gdpr_job(tracking_id, from, JobStatus::Revoked).await? {
                // The audit record keeps the ids asked for, not their clusters.
                sqlx::query("UPDATE gdpr_jobs SET erase_ids = NULL WHERE tracking_id = $1")
                    .bind(tracking_id)
                    .execute(self.pool())
                    .await?;
                return Ok(JobStatus::Revoked);
            }
        }
        Ok(self.gdpr_job(tracking_id).await?.status)
    }

    /// Records a staged job's cluster ids (while it is `STAGING`: not once cancelled).
    pub async fn stage_gdpr_job(&self, tracking_id: &str, erase_ids: &[String]) -> Result<()> {
        let ids = serde_json::to_string(erase_ids).map_err(|e| MetadataError::Invalid(e.to_string()))?;
        sqlx::query("UPDATE gdpr_jobs SET erase_ids = $1 WHERE tracking_id = $2 AND status = $3")
            .bind(ids)
            .bind(tracking_id)
            .bind(JobStatus::Staging.as_str())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Records a chunk done: the next chunk, and the job's counts so far.
    pub async fn gdpr_progress(&self, tracking_id: &str, next_chunk: i64, events: i64, profiles: i64) -> Result<()> {
        sqlx::query(
            "UPDATE gdpr_jobs SET next_chunk = $1, events_touched = $2, profiles_touched = $3 WHERE tracking_id = $4",
        )
        .bind(next_chunk)
        .bind(events)
        .bind(profiles)
        .bind(tracking_id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Ends a job being staged or worked: `SUCCESS` (with a retrieval's archive and its expiry) or
    /// `FAILURE` (with why). The cluster ids are dropped: the audit record keeps the
    /// ids asked for and the counts.
    pub async fn finish_gdpr_job(
        &self,
        tracking_id: &str,
        outcome: std::result::Result<Option<(String, i64)>, String>,
    ) -> Result<()> {
        let (status, archive, expires, error) = match outcome {
            Ok(Some((archive, expires))) => (JobStatus::Success, Some(archive), Some(expires), None),
            Ok(None) => (JobStatus::Success, None, None, None),
            Err(why) => (JobStatus::Failure, None, None, Some(why)),
        };
        sqlx::query(
            "UPDATE gdpr_jobs SET status = $1, archive = $2, expires_at_ms = $3, error = $4, erase_ids = NULL, \
             finished_at_ms = $5 WHERE tracking_id = $6 AND status IN ($7, $8)",
        )
        .bind(status.as_str())
        .bind(archive)
        .bind(expires)
        .bind(error)
        .bind(now_ms())
        .bind(tracking_id)
        .bind(JobStatus::Staging.as_str())
        .bind(JobStatus::Started.as_str())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Retrievals whose archive expired before `now_ms`, with the archive's file name.
    pub async fn expired_gdpr_archives(&self, now_ms: i64) -> Result<Vec<(String, String)>> {
        let rows =
            sqlx::query("SELECT tracking_id, archive FROM gdpr_jobs WHERE archive IS NOT NULL AND expires_at_ms <= $1")
                .bind(now_ms)
                .fetch_all(self.pool())
                .await?;
        rows.iter().map(|r| Ok((r.try_get("tracking_id")?, r.try_get("archive")?))).collect()
    }

    /// Forgets a retrieval's archive once its file is gone (the job stays, as audit).
    pub async fn forget_gdpr_archive(&self, tracking_id: &str) -> Result<()> {
        sqlx::query("UPDATE gdpr_jobs SET archive = NULL WHERE tracking_id = $1")
            .bind(tracking_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}

/// The most ids one project's opt-out list holds: ingestion keeps the list in memory.
pub const MAX_OPT_OUTS: i64 = 1_000_000;

impl Metadata {
    /// Adds `ids` to the project's opt-out list (ids already on it stay); answers how
    /// many were added.
    pub async fn opt_out(&self, project: ProjectId, ids: &[String]) -> Result<u64> {
        let held: i64 = sqlx::query("SELECT count(*) AS n FROM gdpr_opt_outs WHERE project_id = $1")
            .bind(project.0)
            .fetch_one(self.pool())
            .await?
            .try_get("n")?;
        if held + ids.len() as i64 > MAX_OPT_OUTS {
            return Err(MetadataError::Invalid(format!(
                "the opt-out list holds {held} ids; at most {MAX_OPT_OUTS} are kept"
            )));
        }
        let now = now_ms();
        let mut tx = self.pool().begin().await?;
        let mut added = 0;
        for id in ids {
            added += sqlx::query(
                "INSERT INTO gdpr_opt_outs (project_id, distinct_id, created_at_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(project.0)
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(added)
    }

    /// Takes `ids` off the project's opt-out list; answers how many were on it.
    pub async fn opt_in(&self, project: ProjectId, ids: &[String]) -> Result<u64> {
        let mut tx = self.pool().begin().await?;
        let mut removed = 0;
        for id in ids {
            removed += sqlx::query("DELETE FROM gdpr_opt_outs WHERE project_id = $1 AND distinct_id = $2")
                .bind(project.0)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        Ok(removed)
    }

    /// How many ids are opted out, and when the last was added: what changes when the
    /// lists change, so a server reads them again only then.
    pub async fn opt_out_version(&self) -> Result<(i64, i64)> {
        let row = sqlx::query("SELECT count(*) AS n, coalesce(max(created_at_ms), 0) AS latest FROM gdpr_opt_outs")
            .fetch_one(self.pool())
            .await?;
        Ok((row.try_get("n")?, row.try_get("latest")?))
    }

    /// Up to `limit` of the project's opted-out ids after `after`, in id order.
    pub async fn opt_outs_after(&self, project: ProjectId, after: &str, limit: u32) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT distinct_id FROM gdpr_opt_outs WHERE project_id = $1 AND distinct_id > $2 \
             ORDER BY distinct_id LIMIT $3",
        )
        .bind(project.0)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| Ok(r.try_get("distinct_id")?)).collect()
    }

    /// Every project's opted-out ids: what ingestion drops.
    pub async fn all_opt_outs(&self) -> Result<Vec<(ProjectId, String)>> {
        let rows = sqlx::query("SELECT project_id, distinct_id FROM gdpr_opt_outs ORDER BY project_id, distinct_id")
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(|r| Ok((ProjectId(r.try_get("project_id")?), r.try_get("distinct_id")?))).collect()
    }
}
