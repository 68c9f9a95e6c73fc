//! Data pipelines (Mixpanel's `/api/2.0/nessie/pipeline/...`): what a create or edit
//! request may ask for, the name a pipeline takes, and the partitions it owes.
//!
//! A pipeline exports a project's events, one partition (a UTC day, or an hour with
//! `frequency=hourly`) at a time, from `from_date` to `to_date` (or on and on without
//! one): a partition is owed once it has ended. Mixpanel's raw layout is kept:
//! `<prefix>/<project id>/<yyyy>/<mm>/<dd>/full_day/` for a day and
//! `<prefix>/<project id>/<yyyy>/<mm>/<dd>/<hh>/` for an hour (UNCONFIRMED: the path
//! Mixpanel's raw pipeline docs show for daily exports; the hourly form is ours).
//!
//! A schematized pipeline (`fs-schema`) writes tables instead: one, `mp_master_event`,
//! with `monoschema`, or one per event name with `multischema`, each
//! `<prefix>/<project id>/<table>/<yyyy>/<mm>/<dd>/full_day/` (an hour: `.../<hh>/`), in
//! Parquet or gzipped JSON lines ([`table_name`]).
//!
//! Sextant writes the types it can reach ([`PipelineType::writable`]): its own
//! directory types (`fs-raw`, `fs-schema`) under the server's pipeline root, and S3's
//! (`s3-raw`, `aws`) to any S3-compatible bucket
//! ([`crate::pipeline_bucket`]), in the same layout under `s3_prefix`. The others are
//! refused with the list of those it writes.

use chrono::{Datelike, Months, NaiveDate, Timelike};
use serde::{Deserialize, Serialize};

use crate::form::{Problem, boolean, problem, single};
use crate::pipeline_bucket::{GLUE_FIELDS, S3_FIELDS, S3Bucket};
use crate::time::{DAY_MS, parse_date, utc_midnight_ms};

/// The longest `fs_prefix`.
pub const MAX_PREFIX_BYTES: usize = 200;

/// The most event names an `events` filter lists.
pub const MAX_EVENTS: usize = 1_000;

/// How far back `from_date` may start: Mixpanel's six months.
pub const MAX_MONTHS_BACK: u32 = 6;

/// A trial pipeline's length in days (Mixpanel's thirty calendar days).
pub const TRIAL_DAYS: u64 = 30;

/// Where a pipeline writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PipelineType {
    /// Google Cloud Storage, raw JSON.
    #[serde(rename = "gcs-raw")]
    GcsRaw,
    /// Amazon S3, raw JSON.
    #[serde(rename = "s3-raw")]
    S3Raw,
    /// Azure Blob Storage, raw JSON.
    #[serde(rename = "azure-raw")]
    AzureRaw,
    /// BigQuery.
    #[serde(rename = "bigquery")]
    Bigquery,
    /// Snowflake.
    #[serde(rename = "snowflake")]
    Snowflake,
    /// S3 with a Glue schema.
    #[serde(rename = "aws")]
    Aws,
    /// Azure Blob Storage, schematized.
    #[serde(rename = "azure-blob")]
    AzureBlob,
    /// Google Cloud Storage, schematized.
    #[serde(rename = "gcs-schema")]
    GcsSchema,
    /// Sextant's own: a directory under the server's pipeline root, raw JSON.
    #[serde(rename = "fs-raw")]
    FsRaw,
    /// Sextant's own: a directory under the server's pipeline root, schematized tables.
    #[serde(rename = "fs-schema")]
    FsSchema,
}

impl PipelineType {
    /// Every type.
    pub const ALL: [PipelineType; 10] = [
        PipelineType::GcsRaw,
        PipelineType::S3Raw,
        PipelineType::AzureRaw,
        PipelineType::Bigquery,
        PipelineType::Snowflake,
        PipelineType::Aws,
        PipelineType::AzureBlob,
        PipelineType::GcsSchema,
        PipelineType::FsRaw,
        PipelineType::FsSchema,
    ];

    /// The wire and stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            PipelineType::GcsRaw => "gcs-raw",
            PipelineType::S3Raw => "s3-raw",
            PipelineType::AzureRaw => "azure-raw",
            PipelineType::Bigquery => "bigquery",
            PipelineType::Snowflake => "snowflake",
            PipelineType::Aws => "aws",
            PipelineType::AzureBlob => "azure-blob",
            PipelineType::GcsSchema => "gcs-schema",
            PipelineType::FsRaw => "fs-raw",
            PipelineType::FsSchema => "fs-schema",
        }
    }

    /// The type a name names.
    pub fn parse(name: &str) -> Option<PipelineType> {
        PipelineType::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// Whether this server writes it.
    pub fn writable(self) -> bool {
        matches!(self, PipelineType::FsRaw | PipelineType::FsSchema | PipelineType::S3Raw | PipelineType::Aws)
    }

    /// Whether it writes to an S3 bucket (else, a writable type, to a directory).
    pub fn s3(self) -> bool {
        matches!(self, PipelineType::S3Raw | PipelineType::Aws)
    }

    /// Whether it writes tables of columns (Mixpanel's schematized pipelines) rather
    /// than raw export's lines.
    pub fn schematized(self) -> bool {
        !matches!(self, PipelineType::FsRaw | PipelineType::GcsRaw | PipelineType::S3Raw | PipelineType::AzureRaw)
    }

    /// The types this server writes, as messages list them.
    pub fn writable_list() -> String {
        PipelineType::ALL.into_iter().filter(|t| t.writable()).map(PipelineType::as_str).collect::<Vec<_>>().join(", ")
    }
}

/// How often a pipeline exports, and so how large its partitions are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Frequency {
    /// A partition a UTC day.
    Daily,
    /// A partition an hour.
    Hourly,
}

impl Frequency {
    /// The wire and stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Frequency::Daily => "daily",
            Frequency::Hourly => "hourly",
        }
    }

    /// A partition's length in milliseconds.
    pub fn span_ms(self) -> i64 {
        match self {
            Frequency::Daily => DAY_MS,
            Frequency::Hourly => DAY_MS / 24,
        }
    }
}

/// How a schematized pipeline's files are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataFormat {
    /// Gzipped JSON lines (the only format of raw pipelines).
    #[default]
    Json,
    /// Parquet.
    Parquet,
}

/// How a schematized pipeline lays its events out in tables.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SchemaType {
    /// Every event in one table, `mp_master_event`.
    #[default]
    Monoschema,
    /// A table for each event name.
    Multischema,
}

impl SchemaType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            SchemaType::Monoschema => "monoschema",
            SchemaType::Multischema => "multischema",
        }
    }
}

/// The table of `monoschema`.
pub const MASTER_TABLE: &str = "mp_master_event";

/// The table an event goes to under `schema`: `mp_master_event`, or with
/// `multischema` the event's name in lower case with every character but letters and
/// digits as `_` (UNCONFIRMED: Mixpanel documents that names are cleaned, not how;
/// this is ours), `_` alone for a name with nothing left.
pub fn table_name(schema: SchemaType, event: &str) -> String {
    match schema {
        SchemaType::Monoschema => MASTER_TABLE.to_string(),
        SchemaType::Multischema => {
            let cleaned: String =
                event.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
            if cleaned.chars().all(|c| c == '_') { "_".to_string() } else { cleaned }
        }
    }
}

/// What a pipeline is asked to do: everything but its name and state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineSpec {
    /// Where it writes.
    #[serde(rename = "type")]
    pub kind: PipelineType,
    /// A trial pipeline (thirty days from yesterday).
    pub trial: bool,
    /// The first day exported.
    pub from_date: NaiveDate,
    /// The last day exported; `None`: on and on.
    pub to_date: Option<NaiveDate>,
    /// Daily or hourly partitions.
    pub frequency: Frequency,
    /// Only these events; empty: every event.
    pub events: Vec<String>,
    /// Only events this segmentation expression keeps.
    #[serde(rename = "where")]
    pub where_: Option<String>,
    /// Whether exported partitions are written again when their data changes.
    pub sync: bool,
    /// The path under the destination (the server's pipeline root, or the bucket)
    /// and above the project's id: `fs_prefix` or `s3_prefix`.
    pub prefix: String,
    /// The bucket of an S3 pipeline.
    #[serde(default)]
    pub bucket: Option<S3Bucket>,
    /// The files' format (schematized pipelines; raw ones write JSON).
    #[serde(default)]
    pub data_format: DataFormat,
    /// The tables' layout (schematized pipelines).
    #[serde(default)]
    pub schema_type: SchemaType,
}

/// The fields a create request may carry (type-specific ones of the types Sextant
/// refuses are not read: the type is refused first).
const CREATE_FIELDS: [&str; 13] = [
    "project_id",
    "type",
    "trial",
    "data_source",
    "from_date",
    "to_date",
    "frequency",
    "events",
    "where",
    "data_format",
    "schema_type",
    "sync",
    "fs_prefix",
];

/// Parameters every call may carry beside its fields: the credential (`apiToken`) and
/// the workspace a read goes through.
const CALL_PARAMETERS: [&str; 2] = ["apiToken", "workspace_id"];

/// The `events` filter: every `events` value (repeated as Mixpanel takes them), each
/// once; a value that is a JSON list is read as its names.
fn events(fields: &[(String, String)], problems: &mut Vec<Problem>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for (_, value) in fields.iter().filter(|(k, _)| k == "events") {
        let listed: Vec<String> = match serde_json::from_str::<Vec<String>>(value) {
            Ok(list) if value.trim_start().starts_with('[') => list,
            _ => vec![value.clone()],
        };
        for name in listed {
            if name.is_empty() {
                problems.push(problem("events", "must not name an empty event"));
            } else if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    if names.len() > MAX_EVENTS {
        problems.push(problem("events", format!("may name at most {MAX_EVENTS} events")));
    }
    names
}

/// Checks an `fs_prefix` or `s3_prefix`: relative, of plain path segments, none
/// starting with `.` (the server's own work directories do).
fn prefix(value: &str) -> Result<String, String> {
    let trimmed = value.trim_matches('/');
    if trimmed.len() > MAX_PREFIX_BYTES {
        return Err(format!("is longer than {MAX_PREFIX_BYTES} bytes"));
    }
    for segment in trimmed.split('/').filter(|s| !s.is_empty()) {
        let plain = segment.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !plain || segment.starts_with('.') {
            return Err(format!(
                "`{segment}` is not a plain path segment (letters, digits, `-`, `_`, `.`; not starting with `.`)"
            ));
        }
    }
    Ok(trimmed.split('/').filter(|s| !s.is_empty()).collect::<Vec<_>>().join("/"))
}

impl PipelineSpec {
    /// Reads a create request's form fields, `today` being the UTC date: every problem
    /// is one `(field, why)`.
    pub fn parse(fields: &[(String, String)], today: NaiveDate) -> Result<PipelineSpec, Vec<Problem>> {
        let mut problems = Vec::new();
        let kind = match single(fields, "type", &mut problems) {
            None | Some("") => {
                problems.push(problem("type", "is required"));
                None
            }
            Some(name) => match PipelineType::parse(name) {
                Some(kind) if kind.writable() => Some(kind),
                Some(kind) => {
                    return Err(vec![problem(
                        "type",
                        format!(
                            "`{}` is not written by this server; the types it writes: {}",
                            kind.as_str(),
                            PipelineType::writable_list()
                        ),
                    )]);
                }
                None => {
                    return Err(vec![problem(
                        "type",
                        format!(
                            "`{name}` is not a pipeline type; the types this server writes: {}",
                            PipelineType::writable_list()
                        ),
                    )]);
                }
            },
        };
        // Fields of other types (`s3_bucket`, `gcs_region`...) are another type's: a
        // request naming them is meant for a destination this one is not.
        let s3 = kind.is_some_and(PipelineType::s3);
        for (key, _) in fields {
            let key = key.as_str();
            let ours = match key {
                "fs_prefix" => !s3,
                _ if S3_FIELDS.contains(&key) => s3,
                _ if GLUE_FIELDS.contains(&key) => kind == Some(PipelineType::Aws),
                _ => CREATE_FIELDS.contains(&key) || CALL_PARAMETERS.contains(&key),
            };
            if !ours && !problems.iter().any(|(f, _)| f == key) {
                problems.push(problem(key, "is not a field of the pipeline types this server writes"));
            }
        }
        let trial = boolean(fields, "trial", &mut problems).unwrap_or(false);
        match single(fields, "data_source", &mut problems) {
            None | Some("events") => {}
            Some(other) => problems.push(problem(
                "data_source",
                format!("must be `events` (the only source this server exports), not `{other}`"),
            )),
        }
        let schematized = kind.is_some_and(PipelineType::schematized);
        let data_format = match (single(fields, "data_format", &mut problems), schematized) {
            (None | Some("json"), _) => DataFormat::Json,
            (Some("parquet"), true) => DataFormat::Parquet,
            (Some(other), true) => {
                problems.push(problem("data_format", format!("must be `json` or `parquet`, not `{other}`")));
                DataFormat::Json
            }
            (Some(other), false) => {
                problems.push(problem("data_format", format!("must be `json` for raw pipelines, not `{other}`")));
                DataFormat::Json
            }
        };
        let schema_type = match (single(fields, "schema_type", &mut problems), schematized) {
            (None | Some("monoschema"), _) => SchemaType::Monoschema,
            (Some("multischema"), true) => SchemaType::Multischema,
            (Some(other), true) => {
                problems.push(problem("schema_type", format!("must be `monoschema` or `multischema`, not `{other}`")));
                SchemaType::Monoschema
            }
            (Some(_), false) => {
                problems.push(problem("schema_type", "applies to schematized pipelines (fs-schema) only"));
                SchemaType::Monoschema
            }
        };
        let yesterday = today.pred_opt().unwrap_or(today);
        let date = |field: &str, problems: &mut Vec<Problem>| -> Option<NaiveDate> {
            let value = single(fields, field, problems)?;
            if value.is_empty() {
                return None;
            }
            let parsed = parse_date(value);
            if parsed.is_none() {
                problems.push(problem(field, format!("must be a date as yyyy-mm-dd, not `{value}`")));
            }
            parsed
        };
        let from_date = match (date("from_date", &mut problems), trial) {
            (Some(d), _) => Some(d),
            (None, true) => Some(yesterday),
            (None, false) => {
                if !problems.iter().any(|(f, _)| f == "from_date") {
                    problems.push(problem("from_date", "is required (unless `trial` is true)"));
                }
                None
            }
        };
        let mut to_date = date("to_date", &mut problems);
        if trial && to_date.is_none() {
            to_date = from_date.and_then(|d| d.checked_add_days(chrono::Days::new(TRIAL_DAYS - 1)));
        }
        if let Some(from) = from_date {
            let earliest = today.checked_sub_months(Months::new(MAX_MONTHS_BACK)).unwrap_or(today);
            if from < earliest {
                problems
                    .push(problem("from_date", format!("may be at most {MAX_MONTHS_BACK} months ago ({earliest})")));
            }
            if to_date.is_some_and(|to| to < from) {
                problems.push(problem("to_date", "must not be before from_date"));
            }
        }
        let frequency = match single(fields, "frequency", &mut problems) {
            None | Some("daily") => Frequency::Daily,
            Some("hourly") => Frequency::Hourly,
            Some(other) => {
                problems.push(problem("frequency", format!("must be `daily` or `hourly`, not `{other}`")));
                Frequency::Daily
            }
        };
        let events = events(fields, &mut problems);
        let where_ = single(fields, "where", &mut problems).filter(|w| !w.trim().is_empty()).map(str::to_string);
        // Mixpanel's schematized pipelines sync unless told not to; raw ones do not.
        let sync = boolean(fields, "sync", &mut problems).unwrap_or(schematized);
        let prefix_field = if s3 { "s3_prefix" } else { "fs_prefix" };
        let prefix = match single(fields, prefix_field, &mut problems).map(prefix) {
            None => String::new(),
            Some(Ok(p)) => p,
            Some(Err(why)) => {
                problems.push(problem(prefix_field, why));
                String::new()
            }
        };
        let bucket = if s3 { S3Bucket::parse(fields, &mut problems) } else { None };
        match (kind, from_date) {
            (Some(kind), Some(from_date)) if problems.is_empty() => Ok(PipelineSpec {
                kind,
                trial,
                from_date,
                to_date,
                frequency,
                events,
                where_,
                sync,
                prefix,
                bucket,
                data_format,
                schema_type,
            }),
            _ => Err(problems),
        }
    }

    /// The pipeline's name: `[trial-]events-<frequency>-<type>`, then `-<schema type>`
    /// for a schematized one, as Mixpanel names them (`events-daily-bigquery-monoschema`);
    /// then, Sextant's, `-<bucket>` for an S3 pipeline and `-<prefix>` (its `/` as `-`)
    /// when it has one, so that pipelines writing to different places have different
    /// names.
    pub fn name(&self) -> String {
        let trial = if self.trial { "trial-" } else { "" };
        let mut name = format!("{trial}events-{}-{}", self.frequency.as_str(), self.kind.as_str());
        if self.kind.schematized() {
            name = format!("{name}-{}", self.schema_type.as_str());
        }
        if let Some(bucket) = &self.bucket {
            name = format!("{name}-{}", bucket.bucket);
        }
        if !self.prefix.is_empty() {
            name = format!("{name}-{}", self.prefix.replace('/', "-"));
        }
        name
    }

    /// What tells destinations apart above the prefix: empty for the server's pipeline
    /// root, the server and bucket for an S3 bucket.
    pub fn location(&self) -> String {
        self.bucket.as_ref().map(S3Bucket::location).unwrap_or_default()
    }

    /// The partitions owed at `now_ms`: each that has ended, from `from_date` to
    /// `to_date`, oldest first (their start, epoch ms).
    pub fn partitions_due(&self, now_ms: i64) -> Vec<i64> {
        let span = self.frequency.span_ms();
        let start = utc_midnight_ms(self.from_date);
        let end = self.to_date.map_or(i64::MAX, |to| utc_midnight_ms(to) + DAY_MS);
        let mut out = Vec::new();
        let mut at = start;
        while at + span <= now_ms && at + span <= end {
            out.push(at);
            at += span;
        }
        out
    }
}

/// An edit (`/nessie/pipeline/edit`): a new `events` filter and `where`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PipelineEdit {
    /// The new filter; `None`: unchanged.
    pub events: Option<Vec<String>>,
    /// The new expression; `Some(None)`: removed.
    pub where_: Option<Option<String>>,
}

impl PipelineEdit {
    /// Reads an edit's form fields (`name` and `project_id` are the handler's).
    pub fn parse(fields: &[(String, String)]) -> Result<PipelineEdit, Vec<Problem>> {
        let mut problems = Vec::new();
        for (key, _) in fields {
            if !["name", "project_id", "events", "where"].contains(&key.as_str())
                && !CALL_PARAMETERS.contains(&key.as_str())
            {
                problems.push(problem(key, "is not a field of a pipeline edit"));
            }
        }
        let listed = fields.iter().any(|(k, _)| k == "events");
        let events = events(fields, &mut problems);
        let where_ =
            single(fields, "where", &mut problems).map(|w| Some(w.to_string()).filter(|w| !w.trim().is_empty()));
        if problems.is_empty() { Ok(PipelineEdit { events: listed.then_some(events), where_ }) } else { Err(problems) }
    }
}

/// Whether two pipelines' directories, `<prefix>/<project id>` under the root or in
/// the same bucket, are one inside the other (or the same): then one's files are among the other's, and a
/// schematized pipeline's clean-up of tables it no longer has would reach them.
pub fn destinations_overlap(a: (&PipelineSpec, i64), b: (&PipelineSpec, i64)) -> bool {
    if a.0.location() != b.0.location() {
        return false;
    }
    let segments = |(spec, project): (&PipelineSpec, i64)| {
        let mut s: Vec<String> = spec.prefix.split('/').filter(|p| !p.is_empty()).map(str::to_string).collect();
        s.push(project.to_string());
        s
    };
    let (a, b) = (segments(a), segments(b));
    let n = a.len().min(b.len());
    a[..n] == b[..n]
}

/// A partition's key: `yyyy-mm-dd` for a day, `yyyy-mm-ddThh` for an hour.
pub fn partition_key(start_ms: i64, frequency: Frequency) -> String {
    let t = chrono::DateTime::from_timestamp_millis(start_ms).unwrap_or_default();
    match frequency {
        Frequency::Daily => t.format("%Y-%m-%d").to_string(),
        Frequency::Hourly => t.format("%Y-%m-%dT%H").to_string(),
    }
}

/// A partition's directory under the pipeline's prefix and project:
/// `yyyy/mm/dd/full_day` or `yyyy/mm/dd/hh`.
pub fn partition_dir(start_ms: i64, frequency: Frequency) -> String {
    let t = chrono::DateTime::from_timestamp_millis(start_ms).unwrap_or_default();
    let day = format!("{:04}/{:02}/{:02}", t.year(), t.month(), t.day());
    match frequency {
        Frequency::Daily => format!("{day}/full_day"),
        Frequency::Hourly => format!("{day}/{:02}", t.hour()),
    }
}

/// A partition task's state, as `status` lists them (Mixpanel's names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Owed, not yet written.
    Pending,
    /// Being written.
    Running,
    /// Written and published.
    Succeeded,
    /// Failed; it will be tried again.
    Retried,
    /// Failed for good (a bad `where`, the destination refusing).
    Failed,
    /// Dropped: its pipeline was paused or edited before it was written.
    Canceled,
    /// Took too long.
    TimedOut,
}

impl TaskState {
    /// Every state.
    pub const ALL: [TaskState; 7] = [
        TaskState::Pending,
        TaskState::Running,
        TaskState::Succeeded,
        TaskState::Retried,
        TaskState::Failed,
        TaskState::Canceled,
        TaskState::TimedOut,
    ];

    /// The wire and stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Pending => "pending",
            TaskState::Running => "running",
            TaskState::Succeeded => "succeeded",
            TaskState::Retried => "retried",
            TaskState::Failed => "failed",
            TaskState::Canceled => "canceled",
            TaskState::TimedOut => "timed_out",
        }
    }

    /// The state a name names.
    pub fn parse(name: &str) -> Option<TaskState> {
        TaskState::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 7).unwrap()
    }

    #[test]
    fn a_daily_fs_pipeline_is_read_with_its_defaults() {
        let spec = PipelineSpec::parse(
            &fields(&[("type", "fs-raw"), ("from_date", "2026-12-01"), ("events", "A"), ("events", "[\"B\",\"A\"]")]),
            today(),
        )
        .unwrap();
        assert_eq!(spec.name(), "events-daily-fs-raw");
        assert_eq!(spec.events, vec!["A", "B"]);
        assert_eq!((spec.to_date, spec.sync, spec.frequency), (None, false, Frequency::Daily));
        let now = utc_midnight_ms(today()) + 3_600_000;
        let due = spec.partitions_due(now);
        assert_eq!(due.len(), 6, "Dec 1 to Dec 6; Dec 7 has not ended");
        assert_eq!(partition_key(due[5], Frequency::Daily), "2026-12-06");
        assert_eq!(partition_dir(due[0], Frequency::Daily), "2026/12/01/full_day");
    }

    #[test]
    fn hourly_partitions_stop_at_to_date() {
        let spec = PipelineSpec::parse(
            &fields(&[
                ("type", "fs-raw"),
                ("from_date", "2026-12-05"),
                ("to_date", "2026-12-05"),
                ("frequency", "hourly"),
            ]),
            today(),
        )
        .unwrap();
        let due = spec.partitions_due(utc_midnight_ms(today()));
        assert_eq!(due.len(), 24);
        assert_eq!(partition_dir(due[13], Frequency::Hourly), "2026/12/05/13");
        assert_eq!(partition_key(due[13], Frequency::Hourly), "2026-12-05T13");
    }

    #[test]
    fn a_trial_starts_yesterday_for_thirty_days() {
        let spec = PipelineSpec::parse(&fields(&[("type", "fs-raw"), ("trial", "true")]), today()).unwrap();
        assert_eq!(spec.name(), "trial-events-daily-fs-raw");
        assert_eq!(spec.from_date, NaiveDate::from_ymd_opt(2026, 12, 6).unwrap());
        assert_eq!(spec.to_date, NaiveDate::from_ymd_opt(2027, 1, 4));
    }

    #[test]
    fn types_this_server_cannot_write_are_refused_with_the_list() {
        let err =
            PipelineSpec::parse(&fields(&[("type", "bigquery"), ("from_date", "2026-12-01")]), today()).unwrap_err();
        assert_eq!(err.len(), 1);
        assert!(err[0].1.contains("not written by this server") && err[0].1.contains("fs-raw"), "{err:?}");
        let err = PipelineSpec::parse(&fields(&[("type", "ftp")]), today()).unwrap_err();
        assert!(err[0].1.contains("not a pipeline type"));
    }

    #[test]
    fn every_problem_is_named() {
        let err = PipelineSpec::parse(
            &fields(&[
                ("type", "fs-raw"),
                ("from_date", "2025-01-01"),
                ("to_date", "2024-12-01"),
                ("frequency", "weekly"),
                ("data_source", "people"),
                ("fs_prefix", "../etc"),
                ("s3_bucket", "b"),
                ("sync", "maybe"),
            ]),
            today(),
        )
        .unwrap_err();
        let named: Vec<&str> = err.iter().map(|(f, _)| f.as_str()).collect();
        for f in ["from_date", "to_date", "frequency", "data_source", "fs_prefix", "s3_bucket", "sync"] {
            assert!(named.contains(&f), "{f} in {err:?}");
        }
        assert!(PipelineSpec::parse(&fields(&[("type", "fs-raw")]), today()).is_err(), "from_date is required");
    }

    #[test]
    fn a_schematized_pipeline_takes_its_format_and_layout() {
        let spec = PipelineSpec::parse(
            &fields(&[
                ("type", "fs-schema"),
                ("from_date", "2026-12-01"),
                ("data_format", "parquet"),
                ("schema_type", "multischema"),
            ]),
            today(),
        )
        .unwrap();
        assert_eq!((spec.data_format, spec.schema_type), (DataFormat::Parquet, SchemaType::Multischema));
        assert_eq!(spec.name(), "events-daily-fs-schema-multischema");
        assert!(spec.sync, "schematized pipelines sync unless told not to");
        let with_token = [("type", "fs-raw"), ("from_date", "2026-12-01"), ("apiToken", "sx_1"), ("workspace_id", "1")];
        assert!(!PipelineSpec::parse(&fields(&with_token), today()).unwrap().sync);
        let err = PipelineSpec::parse(
            &fields(&[
                ("type", "fs-raw"),
                ("from_date", "2026-12-01"),
                ("data_format", "parquet"),
                ("schema_type", "multischema"),
            ]),
            today(),
        )
        .unwrap_err();
        assert_eq!(err.len(), 2, "{err:?}");
        assert_eq!(table_name(SchemaType::Multischema, "Sign Up!"), "sign_up_");
        assert_eq!(table_name(SchemaType::Multischema, "$$"), "_");
        assert_eq!(table_name(SchemaType::Monoschema, "Sign Up"), MASTER_TABLE);
    }

    #[test]
    fn destinations_overlap_when_one_holds_the_other() {
        let at = |prefix: &str| {
            PipelineSpec::parse(
                &fields(&[("type", "fs-raw"), ("from_date", "2026-12-01"), ("fs_prefix", prefix)]),
                today(),
            )
            .unwrap()
        };
        let overlap = |a: &str, p: i64, b: &str, q: i64| destinations_overlap((&at(a), p), (&at(b), q));
        assert!(overlap("", 7, "", 7));
        assert!(overlap("", 7, "7", 9), "root/7 holds root/7/9");
        assert!(overlap("a", 1, "a/1", 2));
        assert!(!overlap("a", 1, "b", 1));
        assert!(!overlap("", 7, "", 8));
        assert!(!overlap("a", 1, "ab", 1));
        let s3 = |bucket: &str| {
            PipelineSpec::parse(
                &fields(&[
                    ("type", "s3-raw"),
                    ("from_date", "2026-12-01"),
                    ("s3_bucket", bucket),
                    ("s3_region", "eu-west-1"),
                ]),
                today(),
            )
            .unwrap()
        };
        assert!(destinations_overlap((&s3("one"), 1), (&s3("one"), 1)));
        assert!(!destinations_overlap((&s3("one"), 1), (&s3("two"), 1)), "another bucket");
        assert!(!destinations_overlap((&s3("one"), 1), (&at(""), 1)), "a bucket is not the root");
    }

    #[test]
    fn an_s3_pipeline_takes_its_bucket_and_prefix() {
        let spec = PipelineSpec::parse(
            &fields(&[
                ("type", "aws"),
                ("from_date", "2026-12-01"),
                ("s3_bucket", "exports"),
                ("s3_region", "us-east-1"),
                ("s3_prefix", "/mixpanel/raw/"),
                ("s3_role", "arn:aws:iam::1:role/w"),
                ("data_format", "parquet"),
            ]),
            today(),
        )
        .unwrap();
        assert_eq!(spec.prefix, "mixpanel/raw");
        assert_eq!(spec.name(), "events-daily-aws-monoschema-exports-mixpanel-raw");
        assert_eq!(spec.bucket.as_ref().map(|b| b.role.as_deref()), Some(Some("arn:aws:iam::1:role/w")));
        let err = PipelineSpec::parse(
            &fields(&[("type", "s3-raw"), ("from_date", "2026-12-01"), ("fs_prefix", "x"), ("glue_role", "r")]),
            today(),
        )
        .unwrap_err();
        let named: Vec<&str> = err.iter().map(|(f, _)| f.as_str()).collect();
        for f in ["fs_prefix", "glue_role", "s3_bucket", "s3_region"] {
            assert!(named.contains(&f), "{f} in {err:?}");
        }
    }

    #[test]
    fn prefixes_are_plain_relative_paths() {
        assert_eq!(prefix("/exports/web/").unwrap(), "exports/web");
        assert!(prefix("a/../b").is_err() && prefix("a b").is_err() && prefix(".").is_err());
        assert!(prefix(".staging").is_err() && prefix("a/.work").is_err(), "the server's own directories");
        assert_eq!(prefix("v1.2/x").unwrap(), "v1.2/x");
    }

    #[test]
    fn an_edit_changes_what_it_names() {
        let edit = PipelineEdit::parse(&fields(&[("name", "n"), ("where", "")])).unwrap();
        assert_eq!(edit, PipelineEdit { events: None, where_: Some(None) });
        let edit = PipelineEdit::parse(&fields(&[("name", "n"), ("events", "A")])).unwrap();
        assert_eq!(edit.events, Some(vec!["A".to_string()]));
        assert!(PipelineEdit::parse(&fields(&[("name", "n"), ("type", "x")])).is_err());
    }
}
