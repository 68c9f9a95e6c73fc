//! The Query API's parameters, as the OpenAPI document lists them and as clients send
//! them: the reports' (segmentation, funnels, retention, addiction, engage), export's
//! and JQL's. The server documents the parameters with these types and parses them with
//! `sextant_query`, which checks them and explains each refusal; clients serialise them
//! into a query string or form (`None` is left out).
//!
//! Also the engage query's answer, [`EngagePage`].

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

/// The `/export` parameters.
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// The project, with service-account credentials.
    pub project_id: Option<i64>,
    /// The workspace (data view) to read through; default: the whole project, or the
    /// caller's own workspace.
    pub workspace_id: Option<i64>,
    /// First day, yyyy-mm-dd (UTC).
    #[param(format = Date)]
    pub from_date: String,
    /// Last day (inclusive), yyyy-mm-dd; at most 100 days after `from_date`.
    #[param(format = Date)]
    pub to_date: String,
    /// A JSON array of event names to keep.
    pub event: Option<String>,
    /// A segmentation expression over `properties[...]`.
    #[serde(rename = "where")]
    #[param(rename = "where")]
    pub where_: Option<String>,
    /// At most this many events.
    #[param(minimum = 1, maximum = 100000)]
    pub limit: Option<u64>,
    /// Times in milliseconds instead of seconds.
    pub time_in_ms: Option<bool>,
    /// Sextant's own: `true` returns each event once, as reports count it (copies
    /// with the same event, `distinct_id`, `time` and `$insert_id` are one event,
    /// the last one ingested), where Mixpanel's raw export returns every copy.
    pub dedup: Option<bool>,
}

/// The segmentation parameters, as the OpenAPI document lists them.
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SegmentationParams {
    /// The project, with service-account credentials.
    pub project_id: Option<i64>,
    /// The workspace (data view) to read through: its events only, its hidden
    /// properties refused; default: the whole project, or the caller's own workspace.
    pub workspace_id: Option<i64>,
    /// The event to count.
    pub event: String,
    /// First day, yyyy-mm-dd, in the project's timezone.
    #[param(format = Date)]
    pub from_date: String,
    /// Last day (inclusive), yyyy-mm-dd.
    #[param(format = Date)]
    pub to_date: String,
    /// An expression to split by, such as `properties["$browser"]`.
    pub on: Option<String>,
    /// `minute`, `hour`, `day` (default), `week` or `month`.
    pub unit: Option<String>,
    /// Days per bucket, in place of `unit`.
    #[param(minimum = 1, maximum = 3650)]
    pub interval: Option<u32>,
    /// An expression events must satisfy.
    #[serde(rename = "where")]
    #[param(rename = "where")]
    pub where_: Option<String>,
    /// Segments returned, the largest first (default 60).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<u32>,
    /// `general` (events, the default), `unique` (users) or `average` (events per user).
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub type_: Option<String>,
    /// `csv` for CSV instead of JSON.
    pub format: Option<String>,
    /// `true`: the project's annotations dated within the answer's range, under
    /// `annotations` (JSON answers).
    pub annotations: Option<bool>,
}

/// The `/funnels` parameters, as the OpenAPI document lists them.
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FunnelParams {
    /// The project, with service-account credentials.
    pub project_id: Option<i64>,
    /// The workspace (data view) to read through; default: the whole project, or the
    /// caller's own workspace.
    pub workspace_id: Option<i64>,
    /// The saved funnel.
    pub funnel_id: i64,
    /// First day users may enter, yyyy-mm-dd, in the project's timezone.
    #[param(format = Date)]
    pub from_date: String,
    /// Last day users may enter (inclusive), yyyy-mm-dd.
    #[param(format = Date)]
    pub to_date: String,
    /// The conversion window in `length_unit`s (at most 90 days; default: the saved one).
    pub length: Option<u32>,
    /// `day`, `hour`, `minute` or `second` (default: the saved one).
    pub length_unit: Option<String>,
    /// Days per date bucket (default 1).
    #[param(minimum = 1, maximum = 3650)]
    pub interval: Option<u32>,
    /// `day`, `week` or `month`, in place of `interval`.
    pub unit: Option<String>,
    /// An expression to split by, read from each user's first step.
    pub on: Option<String>,
    /// An expression every step's events must satisfy.
    #[serde(rename = "where")]
    #[param(rename = "where")]
    pub where_: Option<String>,
    /// Segments returned, the largest first (default 255).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<u32>,
}

/// The `/retention` parameters, as the OpenAPI document lists them.
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RetentionParams {
    /// The project, with service-account credentials.
    pub project_id: Option<i64>,
    /// The workspace (data view) to read through; default: the whole project, or the
    /// caller's own workspace.
    pub workspace_id: Option<i64>,
    /// First cohort day, yyyy-mm-dd, in the project's timezone.
    #[param(format = Date)]
    pub from_date: String,
    /// Last cohort day (inclusive), yyyy-mm-dd.
    #[param(format = Date)]
    pub to_date: String,
    /// `birth` (the default: each user's first `born_event` ever) or `compounded`
    /// (every day the user did `event`).
    pub retention_type: Option<String>,
    /// The event that puts a user in a cohort (required for birth retention).
    pub born_event: Option<String>,
    /// The return event; any event when absent.
    pub event: Option<String>,
    /// An expression born events must satisfy.
    pub born_where: Option<String>,
    /// An expression return events must satisfy.
    #[serde(rename = "where")]
    #[param(rename = "where")]
    pub where_: Option<String>,
    /// Units (days without `unit`) per interval (default 1; at most 90 days).
    #[param(minimum = 1)]
    pub interval: Option<u32>,
    /// Intervals after the 0th (default 1).
    #[param(minimum = 1, maximum = 400)]
    pub interval_count: Option<u32>,
    /// `day`, `week` or `month`: calendar cohorts and intervals. Without it, intervals
    /// are 24-hour periods from each user's own entry.
    pub unit: Option<String>,
    /// `true`: a user counts in every interval up to the last one they returned in.
    pub unbounded_retention: Option<bool>,
    /// An expression to split by, read from the entering event.
    pub on: Option<String>,
    /// Segments returned, the largest first (default 255).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<u32>,
}

/// The `/retention/addiction` parameters.
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AddictionParams {
    /// The project, with service-account credentials.
    pub project_id: Option<i64>,
    /// The workspace (data view) to read through; default: the whole project, or the
    /// caller's own workspace.
    pub workspace_id: Option<i64>,
    /// First day, yyyy-mm-dd, in the project's timezone.
    #[param(format = Date)]
    pub from_date: String,
    /// Last day (inclusive), yyyy-mm-dd.
    #[param(format = Date)]
    pub to_date: String,
    /// The period: `day`, `week` or `month`.
    pub unit: String,
    /// What is counted within a period: `hour` or `day`.
    pub addiction_unit: String,
    /// The event; any event when absent.
    pub event: Option<String>,
    /// An expression the events must satisfy.
    #[serde(rename = "where")]
    #[param(rename = "where")]
    pub where_: Option<String>,
    /// An expression to split by.
    pub on: Option<String>,
    /// Segments returned, the largest first (default 255).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<u32>,
}

/// The engage query's parameters, as the OpenAPI document lists them (read from the
/// query string or a form body by `EngageRequest::parse`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EngageParams {
    /// The project, with service-account credentials.
    pub project_id: Option<i64>,
    /// One user (or group id with `data_group_id`).
    pub distinct_id: Option<String>,
    /// A JSON array of ids.
    pub distinct_ids: Option<String>,
    /// Query this group key's group profiles instead of users.
    pub data_group_id: Option<String>,
    /// A segmentation expression over `properties[...]` and `behaviors[...]`.
    #[serde(rename = "where")]
    pub where_: Option<String>,
    /// A JSON array of the properties to return.
    pub output_properties: Option<String>,
    /// The snapshot page 0 answered; required after page 0.
    pub session_id: Option<String>,
    /// The page, from 0.
    pub page: Option<u64>,
    /// Profiles per page (default 1000).
    #[param(minimum = 1, maximum = 1000)]
    pub page_size: Option<u64>,
    /// A JSON list of `{window, name, event_selectors}`; the `where` reads `behaviors["name"]`.
    pub behaviors: Option<String>,
    /// Epoch seconds at which behaviour windows end (default now).
    pub as_of_timestamp: Option<i64>,
    /// `{"id": N}`: only members of a saved cohort.
    pub filter_by_cohort: Option<String>,
    /// With `filter_by_cohort`; cohorts hold profiles only, so it changes nothing.
    pub include_all_users: Option<bool>,
}

/// One page of profiles, in Mixpanel's shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EngagePage {
    /// The page, from 0.
    pub page: u64,
    /// Profiles per page.
    pub page_size: u64,
    /// Name it to read later pages of the same snapshot.
    pub session_id: String,
    /// Always `ok`.
    pub status: String,
    /// Every profile that matches, not only this page's.
    pub total: u64,
    /// This page's profiles.
    pub results: Vec<EngageProfile>,
}

/// One profile.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EngageProfile {
    /// The user's distinct id, or the group's id.
    #[serde(rename = "$distinct_id")]
    pub distinct_id: String,
    /// Its properties (only `output_properties` when given).
    #[serde(rename = "$properties")]
    #[schema(value_type = Object)]
    pub properties: Map<String, Value>,
}
/// The form a JQL request sends.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct JqlForm {
    /// The script: JavaScript defining `main()`, which returns a collection built from
    /// `Events()`, `People()` or `join()`.
    pub script: String,
    /// A JSON object the script sees as the global `params`.
    pub params: Option<String>,
    /// The project, with service-account credentials.
    pub project_id: Option<i64>,
}
