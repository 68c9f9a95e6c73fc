//! GDPR and CCPA jobs (Mixpanel's `data-retrievals` and `data-deletions` v3.0): what a
//! request may ask for, and the states a job moves through.
//!
//! A job is `PENDING` when queued, `STAGING` while the ids are resolved to whole
//! identity clusters (still cancellable), `STARTED` once rows are being read or removed
//! (no longer cancellable), and ends `SUCCESS` or `FAILURE`; a cancel before `STARTED`
//! ends it `REVOKED`. [`JobStatus::cancel`] and [`JobStatus::advance`] are the only
//! moves.

use serde::{Deserialize, Serialize};

/// The most distinct ids one job names (Mixpanel's documented limit).
pub const MAX_JOB_IDS: usize = 2_000;

/// The longest distinct id a job accepts, in bytes (ingestion's own limit on ids).
pub const MAX_ID_BYTES: usize = 255;

/// Retrieval or deletion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    /// Everything kept about the ids, as an archive.
    Retrieval,
    /// Everything kept about the ids, removed.
    Deletion,
}

impl JobKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Retrieval => "retrieval",
            JobKind::Deletion => "deletion",
        }
    }
}

/// The law the request is made under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ComplianceType {
    /// Every record, however old.
    #[serde(rename = "GDPR")]
    Gdpr,
    /// The previous twelve months only (for retrievals).
    #[serde(rename = "CCPA")]
    Ccpa,
}

impl ComplianceType {
    /// The wire and stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ComplianceType::Gdpr => "GDPR",
            ComplianceType::Ccpa => "CCPA",
        }
    }

    /// The type a stored name names.
    pub fn parse(name: &str) -> Option<ComplianceType> {
        [ComplianceType::Gdpr, ComplianceType::Ccpa].into_iter().find(|c| c.as_str() == name)
    }
}

/// What a CCPA retrieval discloses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DisclosureType {
    /// The records themselves.
    Data,
    /// The categories: property names only.
    Categories,
    /// The means of collection: which libraries and APIs sent the records.
    Sources,
}

impl DisclosureType {
    /// The wire and stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            DisclosureType::Data => "Data",
            DisclosureType::Categories => "Categories",
            DisclosureType::Sources => "Sources",
        }
    }

    /// The type a stored name names.
    pub fn parse(name: &str) -> Option<DisclosureType> {
        [DisclosureType::Data, DisclosureType::Categories, DisclosureType::Sources]
            .into_iter()
            .find(|d| d.as_str() == name)
    }
}

/// Where a job is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    /// Queued.
    Pending,
    /// Resolving the ids to their identity clusters; still cancellable.
    Staging,
    /// Reading or removing; no longer cancellable.
    Started,
    /// Done.
    Success,
    /// Failed (the reason is kept with the job).
    Failure,
    /// Cancelled before it started.
    Revoked,
}

impl JobStatus {
    /// Every status.
    pub const ALL: [JobStatus; 6] = [
        JobStatus::Pending,
        JobStatus::Staging,
        JobStatus::Started,
        JobStatus::Success,
        JobStatus::Failure,
        JobStatus::Revoked,
    ];

    /// The wire and stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "PENDING",
            JobStatus::Staging => "STAGING",
            JobStatus::Started => "STARTED",
            JobStatus::Success => "SUCCESS",
            JobStatus::Failure => "FAILURE",
            JobStatus::Revoked => "REVOKED",
        }
    }

    /// The status a stored name names.
    pub fn parse(name: &str) -> Option<JobStatus> {
        JobStatus::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Whether the job has ended.
    pub fn is_final(self) -> bool {
        matches!(self, JobStatus::Success | JobStatus::Failure | JobStatus::Revoked)
    }

    /// Whether a cancel still stops it (before `STARTED`).
    pub fn cancellable(self) -> bool {
        matches!(self, JobStatus::Pending | JobStatus::Staging)
    }

    /// The next status of a job that is working normally, or `None` when it has ended
    /// or is at its last working step.
    pub fn advance(self) -> Option<JobStatus> {
        match self {
            JobStatus::Pending => Some(JobStatus::Staging),
            JobStatus::Staging => Some(JobStatus::Started),
            JobStatus::Started => Some(JobStatus::Success),
            JobStatus::Success | JobStatus::Failure | JobStatus::Revoked => None,
        }
    }
}

/// A validated request: the ids (each once, in the order sent) and the law.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobRequest {
    /// The distinct ids, 1 to [`MAX_JOB_IDS`].
    pub distinct_ids: Vec<String>,
    /// GDPR (the default) or CCPA.
    pub compliance_type: ComplianceType,
    /// CCPA retrievals only: what to disclose (default `Data`).
    pub disclosure_type: Option<DisclosureType>,
}

/// The body fields a request may carry.
const FIELDS: [&str; 3] = ["distinct_ids", "compliance_type", "disclosure_type"];

impl JobRequest {
    /// Reads a create request's JSON body for `kind`: every problem is one line of the
    /// error (`field: why`).
    pub fn parse(kind: JobKind, body: &serde_json::Value) -> Result<JobRequest, Vec<(String, String)>> {
        let mut problems = Vec::new();
        let Some(object) = body.as_object() else {
            return Err(vec![("body".into(), "must be a JSON object".into())]);
        };
        for key in object.keys().filter(|k| !FIELDS.contains(&k.as_str())) {
            problems.push((key.clone(), "is not a field of this request".into()));
        }
        if kind == JobKind::Deletion && object.contains_key("disclosure_type") {
            problems.push(("disclosure_type".into(), "applies to retrievals only".into()));
        }
        let distinct_ids = distinct_ids(object, &mut problems);
        let compliance_type = match object.get("compliance_type") {
            None | Some(serde_json::Value::Null) => ComplianceType::Gdpr,
            Some(v) => match v.as_str().map(str::to_ascii_uppercase).as_deref() {
                Some("GDPR") => ComplianceType::Gdpr,
                Some("CCPA") => ComplianceType::Ccpa,
                _ => {
                    problems.push(("compliance_type".into(), "must be GDPR or CCPA".into()));
                    ComplianceType::Gdpr
                }
            },
        };
        let disclosure_type = match object.get("disclosure_type") {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => match v.as_str().map(str::to_ascii_lowercase).as_deref() {
                Some("data") => Some(DisclosureType::Data),
                Some("categories") => Some(DisclosureType::Categories),
                Some("sources") => Some(DisclosureType::Sources),
                _ => {
                    problems.push(("disclosure_type".into(), "must be Data, Categories or Sources".into()));
                    None
                }
            },
        };
        if disclosure_type.is_some() && compliance_type != ComplianceType::Ccpa {
            problems.push(("disclosure_type".into(), "applies to CCPA requests only".into()));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let disclosure_type = match (kind, compliance_type) {
            (JobKind::Retrieval, ComplianceType::Ccpa) => Some(disclosure_type.unwrap_or(DisclosureType::Data)),
            _ => None,
        };
        Ok(JobRequest { distinct_ids, compliance_type, disclosure_type })
    }
}

/// The `distinct_ids` of a request's body: 1 to [`MAX_JOB_IDS`] strings, each once, in
/// the order sent; each problem is added to `problems` (`field: why`).
fn distinct_ids(
    object: &serde_json::Map<String, serde_json::Value>,
    problems: &mut Vec<(String, String)>,
) -> Vec<String> {
    let mut distinct_ids = Vec::new();
    match object.get("distinct_ids") {
        Some(serde_json::Value::Array(items)) => {
            let mut seen = std::collections::HashSet::new();
            for (i, item) in items.iter().enumerate() {
                match item.as_str() {
                    Some("") => problems.push((format!("distinct_ids[{i}]"), "must not be empty".into())),
                    Some(id) if id.len() > MAX_ID_BYTES => {
                        problems.push((format!("distinct_ids[{i}]"), format!("is longer than {MAX_ID_BYTES} bytes")))
                    }
                    Some(id) if id.contains('\0') => {
                        problems.push((format!("distinct_ids[{i}]"), "must not contain NUL".into()))
                    }
                    Some(id) => {
                        if seen.insert(id) {
                            distinct_ids.push(id.to_string());
                        }
                    }
                    None => problems.push((format!("distinct_ids[{i}]"), "must be a string".into())),
                }
            }
            if items.is_empty() {
                problems.push(("distinct_ids".into(), "must name at least one id".into()));
            }
            if distinct_ids.len() > MAX_JOB_IDS {
                problems.push((
                    "distinct_ids".into(),
                    format!("names {} distinct ids; a request takes at most {MAX_JOB_IDS}", distinct_ids.len()),
                ));
            }
        }
        Some(_) => problems.push(("distinct_ids".into(), "must be a list of strings".into())),
        None => problems.push(("distinct_ids".into(), "is required".into())),
    }
    distinct_ids
}

/// Reads the body of a change to the opt-out list (`{"distinct_ids": [...]}`, as a job
/// names its ids): the ids, or every problem.
pub fn parse_opt_out_ids(body: &serde_json::Value) -> Result<Vec<String>, Vec<(String, String)>> {
    let Some(object) = body.as_object() else {
        return Err(vec![("body".into(), "must be a JSON object".into())]);
    };
    let mut problems: Vec<(String, String)> = object
        .keys()
        .filter(|k| *k != "distinct_ids")
        .map(|k| (k.clone(), "is not a field of this request".into()))
        .collect();
    let ids = distinct_ids(object, &mut problems);
    if problems.is_empty() { Ok(ids) } else { Err(problems) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_request_defaults_to_gdpr_and_keeps_each_id_once() {
        let r = JobRequest::parse(JobKind::Deletion, &json!({"distinct_ids": ["a", "b", "a"]})).unwrap();
        assert_eq!(r.distinct_ids, vec!["a", "b"]);
        assert_eq!(r.compliance_type, ComplianceType::Gdpr);
        assert_eq!(r.disclosure_type, None);
        let r =
            JobRequest::parse(JobKind::Retrieval, &json!({"distinct_ids": ["a"], "compliance_type": "ccpa"})).unwrap();
        assert_eq!(r.disclosure_type, Some(DisclosureType::Data));
    }

    #[test]
    fn every_problem_is_named() {
        let ids: Vec<String> = (0..=MAX_JOB_IDS).map(|i| format!("u{i}")).collect();
        let problems = JobRequest::parse(
            JobKind::Deletion,
            &json!({"distinct_ids": ids, "compliance_type": "HIPAA", "disclosure_type": "Data", "x": 1}),
        )
        .unwrap_err();
        let fields: Vec<&str> = problems.iter().map(|(f, _)| f.as_str()).collect();
        assert!(fields.contains(&"x"), "{problems:?}");
        assert!(fields.contains(&"distinct_ids"), "{problems:?}");
        assert!(fields.contains(&"compliance_type"), "{problems:?}");
        assert!(fields.contains(&"disclosure_type"), "{problems:?}");
        let problems = JobRequest::parse(JobKind::Retrieval, &json!({"distinct_ids": [1, ""]})).unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(JobRequest::parse(JobKind::Retrieval, &json!({"distinct_ids": []})).is_err());
        assert!(JobRequest::parse(JobKind::Retrieval, &json!([])).is_err());
        let gdpr_disclosure = json!({"distinct_ids": ["a"], "disclosure_type": "Sources"});
        assert!(JobRequest::parse(JobKind::Retrieval, &gdpr_disclosure).is_err());
    }

    #[test]
    fn only_jobs_not_yet_started_can_be_cancelled() {
        let cancellable: Vec<_> = JobStatus::ALL.into_iter().filter(|s| s.cancellable()).collect();
        assert_eq!(cancellable, vec![JobStatus::Pending, JobStatus::Staging]);
        for s in JobStatus::ALL {
            assert_eq!(JobStatus::parse(s.as_str()), Some(s));
            assert_eq!(s.is_final(), s.advance().is_none());
        }
        for c in [ComplianceType::Gdpr, ComplianceType::Ccpa] {
            assert_eq!(ComplianceType::parse(c.as_str()), Some(c));
        }
        for d in [DisclosureType::Data, DisclosureType::Categories, DisclosureType::Sources] {
            assert_eq!(DisclosureType::parse(d.as_str()), Some(d));
        }
    }
}
