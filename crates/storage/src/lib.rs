//! The storage boundary: what every event store backend provides.
//!
//! The server talks only to [`EventStore`]; the embedded DuckDB backend implements it
//! today and a ClickHouse backend will implement it for scale-out. Backends prove they
//! keep the contract by passing [`conformance`] (behind the `testsuite` feature).
//!
//! # Layout
//! - [`EventStore`]: append (durable on return), export stream, deduplicated count, the
//!   dictionary of what was sent ([`SeenEvent`]), and the removal of people for GDPR
//!   deletions ([`Erased`]).
//! - [`ExportQuery`]: what a raw export asks for; [`event_matches`] applies its `where`
//!   in Rust when a backend cannot compile it.
//! - [`ProfileStore`]: user and group profiles: updates applied in arrival order
//!   (durable on return), and engage queries paged over a stable snapshot.
//! - [`LookupStore`]: lookup-table rows, replaced whole and read by join key.
//! - [`ReportStore`]: report counts ([`SegmentQuery`] bucketed by [`TimeBuckets`]) and
//!   behavioural scans ([`BehaviourQuery`]: each user's matching events in time order,
//!   for funnels and retention).
//! - [`StorageError`]: backend failures, mapped to [`sextant_model::ErrorCode`].
//! - [`conformance`]: the shared contract tests of [`EventStore`] and [`ReportStore`];
//!   [`conformance_profiles`] and [`conformance_lookups`] those of [`ProfileStore`] and
//!   [`LookupStore`].

#[cfg(feature = "testsuite")]
pub mod conformance;
#[cfg(feature = "testsuite")]
pub mod conformance_lookups;
#[cfg(feature = "testsuite")]
pub mod conformance_profiles;

use async_trait::async_trait;
use chrono::Datelike as _;
use futures::stream::BoxStream;
use sextant_model::lexicon::JsonType;
use sextant_model::{ErrorCode, EventRow, IdentityEdge, ProfileUpdate, ProjectId, Properties, StoredEvent};

/// A failure inside a storage backend.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The store is closed or shutting down.
    #[error("the event store is not available: {0}")]
    Unavailable(String),
    /// The store is overloaded: the request waited its whole allowance for the writer
    /// and was not queued. Nothing was written; the client retries later.
    #[error("{0}")]
    Busy(String),
    /// The data directory's disk is (nearly) full: nothing was written; the client
    /// retries once space returns.
    #[error("{0}")]
    DiskFull(String),
    /// The backend reported an error.
    #[error("event store error: {0}")]
    Backend(String),
    /// The request names something the store does not have (an expired engage session).
    #[error("{0}")]
    InvalidRequest(String),
}

impl StorageError {
    /// The client-facing code.
    pub fn code(&self) -> ErrorCode {
        match self {
            StorageError::Unavailable(_) | StorageError::Busy(_) | StorageError::DiskFull(_) => ErrorCode::Unavailable,
            StorageError::Backend(_) => ErrorCode::Internal,
            StorageError::InvalidRequest(_) => ErrorCode::InvalidRequest,
        }
    }
}

/// Result alias for storage calls.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// A raw-export request: one project's events in a time range.
#[derive(Clone, Debug)]
pub struct ExportQuery {
    /// Project whose events to read.
    pub project_id: ProjectId,
    /// Inclusive lower bound, epoch ms.
    pub from_ms: i64,
    /// Exclusive upper bound, epoch ms.
    pub to_ms: i64,
    /// Only these event names, when given.
    pub events: Option<Vec<String>>,
    /// At most this many events (counted after `filter`).
    pub limit: Option<u64>,
    /// Only the events of these users: those whose canonical id (through the identity
    /// graph) is the canonical id of one of these ids.
    pub users: Option<Vec<String>>,
    /// Only events for which this `where` expression is true. Backends compile it to
    /// their query language where they can, and evaluate it per event otherwise.
    pub filter: Option<std::sync::Arc<sextant_expr::Program>>,
    /// Only the copy ingested last of each duplicate (same event, `distinct_id`, time
    /// and `$insert_id`), as reports count them; raw export (`false`) returns every copy.
    pub dedup: bool,
    /// Only these top-level properties of each event, the others left out (a property
    /// the event lacks stays absent); `None`: every property. A `filter` the backend
    /// evaluates per event sees only these: name what it reads.
    pub properties: Option<Vec<String>>,
}

/// Whether a stored event passes a `where` evaluated in Rust: the path a backend takes
/// for an expression its query compiler declines (the answer is the compiled one's).
pub fn event_matches(program: &sextant_expr::Program, row: &EventRow) -> bool {
    let Ok(properties) = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&row.properties) else {
        return false;
    };
    program.matches(&sextant_expr::EventRecord {
        name: &row.event,
        time_ms: row.time_ms,
        distinct_id: &row.distinct_id,
        insert_id: &row.insert_id,
        properties: &properties,
        user: None,
    })
}

/// A stream of event chunks, in time order (ties in ingestion order).
pub type EventChunks = BoxStream<'static, Result<Vec<StoredEvent>>>;

/// An event store backend.
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Appends rows. When this returns `Ok`, the rows survive a crash of the process.
    /// Concurrent calls may be committed together (group commit).
    async fn append(&self, rows: Vec<EventRow>) -> Result<()> {
        self.append_with_identity(rows, Vec::new()).await
    }

    /// Appends rows and applies the identity operations they carry, in order, through
    /// [`sextant_model::Clusters::apply`], in the same commit. A refused operation is
    /// recorded on its event, as the property [`sextant_model::IdentityOp::failure_property`]
    /// names, before the event is stored.
    async fn append_with_identity(&self, rows: Vec<EventRow>, edges: Vec<IdentityEdge>) -> Result<()>;

    /// Streams the events an export asks for, every ingested copy included (no dedup),
    /// ordered by time, each `distinct_id` read through the identity graph (the
    /// canonical id of its cluster). Memory use must not grow with the size of the range.
    fn export(&self, query: ExportQuery) -> EventChunks;

    /// Counts a project's events in `[from_ms, to_ms)` as every query counts them:
    /// copies sharing (event, distinct_id, time, `$insert_id`) count once.
    async fn count_events(&self, project_id: ProjectId, from_ms: i64, to_ms: i64) -> Result<u64>;

    /// What the project has sent, as the store learned it while keeping the events
    /// (never by reading them back): each event name with how many were stored and when
    /// the first and last happened, and each top-level property with the kinds of value
    /// it held and when it first appeared (only the event `event`, when given). It
    /// covers every event whose append has returned.
    async fn dictionary(&self, project_id: ProjectId, event: Option<&str>) -> Result<Vec<SeenEvent>>;

    /// Deletes everything the backend keeps for a deleted project: its events and what
    /// it learned of them, and its profiles, identities and lookup rows where the same
    /// backend keeps those. Other projects are untouched; exports already streaming may
    /// finish from what they had read.
    async fn delete_project(&self, project_id: ProjectId) -> Result<()>;

    /// Every id sharing an identity cluster with one of `ids`, the ids themselves
    /// included: each once, sorted. What a GDPR job reads or removes for a person.
    async fn identity_cluster(&self, project_id: ProjectId, ids: Vec<String>) -> Result<Vec<String>>;

    /// Removes everything kept under `ids` (as stored, not resolved: pass whole
    /// clusters, [`EventStore::identity_cluster`]): their events, their user profiles,
    /// their identity memberships and their rows in engage snapshots, in one step that
    /// is all or nothing. `(job, step)` names the step: a step already done answers
    /// what it removed then and removes nothing more, so a job resumed after a crash
    /// neither misses nor double-counts. Export, engage and reports that read the rows
    /// stop seeing them when this returns; indexes derived from them (the embedded
    /// store's day timelines, which behavioural scans read) follow at
    /// [`EventStore::scrub`].
    async fn erase_users(&self, project_id: ProjectId, job: &str, step: i64, ids: Vec<String>) -> Result<Erased>;

    /// Ends a deletion job's removal: rebuilds what the backend derived from the rows
    /// the job's steps removed, and makes the rows unrecoverable from its files (a
    /// store that keeps deleted rows in old blocks rewrites and overwrites them). Slow:
    /// once at the end of a deletion job; running it again is harmless.
    async fn scrub(&self, project_id: ProjectId, job: &str) -> Result<()>;

    /// Writes a consistent copy of everything the backend keeps into a new file at
    /// `dest`, while appends go on: one snapshot, each append in it whole or not at
    /// all. Answers the snapshot's point: every event appended after it has a larger
    /// sequence number. A backend that cannot refuses with
    /// [`StorageError::InvalidRequest`].
    async fn backup(&self, dest: std::path::PathBuf) -> Result<BackupPoint> {
        let _ = dest;
        Err(StorageError::InvalidRequest("this event store has no online backup".into()))
    }

    /// Flushes and closes the store; later calls fail with [`StorageError::Unavailable`].
    async fn close(&self) -> Result<()>;
}

/// Where a backup's snapshot stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BackupPoint {
    /// The largest ingestion sequence number in it (0 when empty).
    pub seq: i64,
    /// The event rows in it (every stored copy).
    pub events: u64,
}

/// What one [`EventStore::erase_users`] step removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Erased {
    /// Events (every stored copy).
    pub events: u64,
    /// User profiles.
    pub profiles: u64,
}

/// An event name as the store has seen it (see [`EventStore::dictionary`]).
#[derive(Clone, Debug, PartialEq)]
pub struct SeenEvent {
    /// The name.
    pub name: String,
    /// Events stored under it (every copy).
    pub count: u64,
    /// The earliest event time, epoch ms.
    pub first_ms: i64,
    /// The latest event time, epoch ms.
    pub last_ms: i64,
    /// Its top-level properties, by name.
    pub properties: Vec<SeenProperty>,
}

/// A top-level property of one event name, as the store has seen it.
#[derive(Clone, Debug, PartialEq)]
pub struct SeenProperty {
    /// The name.
    pub name: String,
    /// The kinds of value it held, in [`JsonType::ALL`]'s order.
    pub kinds: Vec<JsonType>,
    /// The earliest time of an event carrying it, epoch ms.
    pub first_ms: i64,
}

/// An engage query: one project's user profiles (or one group key's group profiles).
#[derive(Clone, Debug)]
pub struct ProfileQuery {
    /// The project.
    pub project_id: ProjectId,
    /// `data_group_id`; [`sextant_model::profile::USER_PROFILES`] for users.
    pub group_key: String,
    /// Only these ids (`distinct_id`, `distinct_ids`), when given.
    pub ids: Option<Vec<String>>,
    /// Only profiles for which this `where` (profile scope) is true.
    pub filter: Option<std::sync::Arc<sextant_expr::Program>>,
    /// A snapshot an earlier page started; `None` starts a new one.
    pub session_id: Option<String>,
    /// Which page, from 0.
    pub page: u64,
    /// Profiles per page.
    pub page_size: u64,
    /// Event counts the `filter` reads as `behaviors["name"]`.
    pub behaviors: Vec<BehaviorCount>,
    /// Only count the matches: no snapshot, no profiles.
    pub count_only: bool,
}

/// One named count of each user's events (through identity clusters) over a window.
#[derive(Clone, Debug)]
pub struct BehaviorCount {
    /// The name `behaviors["name"]` reads.
    pub name: String,
    /// Window start, epoch ms (inclusive).
    pub from_ms: i64,
    /// Window end, epoch ms (exclusive).
    pub to_ms: i64,
    /// Events that count: a name and an optional `where` over the event.
    pub events: Vec<(String, Option<std::sync::Arc<sextant_expr::Program>>)>,
}

/// One page of an engage query.
#[derive(Clone, Debug, PartialEq)]
pub struct ProfilePage {
    /// The snapshot the page was read from; later pages name it.
    pub session_id: String,
    /// Profiles matching the query in the snapshot, on every page.
    pub total: u64,
    /// This page's profiles: id and properties, ordered by id.
    pub profiles: Vec<(String, Properties)>,
}

/// How long an engage snapshot can be paged after it was taken.
pub const ENGAGE_SESSION_TTL_MS: i64 = 60 * 60 * 1000;

/// A profile store backend.
#[async_trait]
pub trait ProfileStore: Send + Sync + 'static {
    /// Applies updates in order, each through [`sextant_model::profile::apply`]. When
    /// this returns `Ok`, they survive a crash of the process. The answer lists the
    /// updates the profiles they land on refused (by position in `updates`, each with
    /// why); a refused update leaves its profile as it was, and the others apply.
    async fn update_profiles(
        &self,
        updates: Vec<ProfileUpdate>,
    ) -> Result<Vec<(usize, sextant_model::profile::Refusal)>>;

    /// One page of matching profiles. Page 0 without a session takes a snapshot of
    /// every match; later pages read that snapshot, so updates made between pages
    /// neither move profiles between pages nor change `total`. A session from another
    /// project or group key, or older than [`ENGAGE_SESSION_TTL_MS`], is an
    /// [`StorageError::InvalidRequest`].
    async fn query_profiles(&self, query: ProfileQuery) -> Result<ProfilePage>;
}

/// Whether a profile passes a `where` (profile scope) evaluated in Rust, with its
/// behaviour counts when the query has behaviours.
pub fn profile_matches(
    program: &sextant_expr::Program,
    properties: &Properties,
    behaviors: Option<&Properties>,
) -> bool {
    program.matches(&sextant_expr::ProfileRecord { properties, behaviors })
}

/// A lookup-table backend: each table's rows, replaced whole.
#[async_trait]
pub trait LookupStore: Send + Sync + 'static {
    /// Replaces the table's rows with `table`'s, atomically: a reader sees the old
    /// contents or the new, never a mix. Durable when this returns `Ok`.
    async fn replace_lookup_table(
        &self,
        project_id: ProjectId,
        table_id: &str,
        table: sextant_expr::LookupTable,
    ) -> Result<()>;

    /// The table's rows; empty when nothing was ever uploaded.
    async fn lookup_table(
        &self,
        project_id: ProjectId,
        table_id: &str,
    ) -> Result<std::sync::Arc<sextant_expr::LookupTable>>;

    /// Removes the table's rows.
    async fn delete_lookup_table(&self, project_id: ProjectId, table_id: &str) -> Result<()>;

    /// Every table the store holds (replaced at least once, not deleted since), with
    /// its row count and columns. The control plane keeps its own copy of both, written
    /// after the store's replace; this is what that copy is checked against when a
    /// server starts, since a crash between the two writes leaves it behind.
    async fn lookup_table_sizes(&self) -> Result<Vec<LookupTableSize>>;
}

/// What a [`LookupStore`] holds of one table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LookupTableSize {
    /// Its project.
    pub project_id: ProjectId,
    /// Its id.
    pub table_id: String,
    /// How many rows it has.
    pub rows: u64,
    /// Its columns, the join key first.
    pub columns: Vec<String>,
}

/// How a report groups events in time: by wall-clock time in the project's timezone.
///
/// The caller (the query layer) works out the timezone's UTC offsets over the range, so
/// backends need no timezone database: an event's local time is its UTC time plus the
/// offset in force at that instant, and buckets are cut on local time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeBuckets {
    /// The bucket width.
    pub unit: BucketUnit,
    /// `(from, offset)`, ascending by `from` (UTC epoch ms): the offset (ms) in force
    /// from that instant on; the first also applies before its instant.
    pub offsets: Vec<(i64, i64)>,
}

/// A bucket width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BucketUnit {
    /// Local minutes.
    Minute,
    /// Local hours.
    Hour,
    /// Local days.
    Day,
    /// Local weeks, starting on Monday.
    Week,
    /// Local calendar months.
    Month,
    /// Runs of `days` local days counted from `origin` (local epoch ms of a midnight).
    Days {
        /// Days per bucket.
        days: u32,
        /// Where the first bucket starts.
        origin: i64,
    },
}

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

impl TimeBuckets {
    /// The UTC offset (ms) in force at `utc_ms`.
    pub fn offset_at(&self, utc_ms: i64) -> i64 {
        let i = self.offsets.partition_point(|(from, _)| *from <= utc_ms);
        self.offsets.get(i.saturating_sub(1)).map_or(0, |(_, o)| *o)
    }

    /// The local start (wall-clock epoch ms) of the bucket holding `utc_ms`.
    pub fn bucket_of(&self, utc_ms: i64) -> i64 {
        self.bucket_of_local(utc_ms + self.offset_at(utc_ms))
    }

    /// The start of the bucket holding the local time `local_ms`.
    pub fn bucket_of_local(&self, local_ms: i64) -> i64 {
        let floor = |w: i64| local_ms - local_ms.rem_euclid(w);
        match self.unit {
            BucketUnit::Minute => floor(60_000),
            BucketUnit::Hour => floor(3_600_000),
            BucketUnit::Day => floor(DAY_MS),
            BucketUnit::Week => {
                let day = floor(DAY_MS);
                // 1970-01-01 was a Thursday: three days after a Monday.
                day - (day / DAY_MS + 3).rem_euclid(7) * DAY_MS
            }
            BucketUnit::Month => {
                let days = local_ms.div_euclid(DAY_MS);
                let date = chrono::DateTime::from_timestamp(days * 86_400, 0).map(|d| d.date_naive());
                date.and_then(|d| d.with_day(1))
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
                    .map_or(floor(DAY_MS), |t| t.and_utc().timestamp_millis())
            }
            BucketUnit::Days { days, origin } => {
                let w = i64::from(days.max(1)) * DAY_MS;
                origin + (local_ms - origin).div_euclid(w) * w
            }
        }
    }
}

/// What a segmentation counts in each bucket and segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Measure {
    /// Events, each deduplicated copy once.
    Events,
    /// Distinct users (canonical ids through the identity graph).
    Users,
    /// Both.
    Both,
}

/// A segmentation: one project's events of some names in a time range, filtered,
/// bucketed in time and split by an `on` expression, counted.
#[derive(Clone, Debug)]
pub struct SegmentQuery {
    /// The project.
    pub project_id: ProjectId,
    /// Event names to count (each counted apart); empty counts every event.
    pub events: Vec<String>,
    /// Inclusive lower bound, UTC epoch ms.
    pub from_ms: i64,
    /// Exclusive upper bound, UTC epoch ms.
    pub to_ms: i64,
    /// The time buckets.
    pub buckets: TimeBuckets,
    /// Only events for which this `where` is true (`user[...]` reads the user's profile).
    pub filter: Option<std::sync::Arc<sextant_expr::Program>>,
    /// Split by the keys of this expression ([`sextant_expr::Program::segment_keys`]);
    /// events without a key are left out.
    pub on: Option<std::sync::Arc<sextant_expr::Program>>,
    /// What to count.
    pub measure: Measure,
    /// Also sum this expression over the counted events ([`SegmentCount::sum`]); a
    /// value that is not a number adds 0.
    pub sum: Option<std::sync::Arc<sextant_expr::Program>>,
    /// With `on`: keep only the segments [`TopSegments`] ranks highest; `None` keeps all.
    pub top: Option<TopSegments>,
}

/// The `limit` segments of an `on` whose values, added over every bucket and event, are
/// largest, ties going to the smaller key: what `/segmentation`'s `limit` keeps. The
/// store ranks them, so an `on` with a segment per event (`properties["$insert_id"]`
/// over 100M events) never leaves the store as 100M rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TopSegments {
    /// How many segments to keep.
    pub limit: usize,
    /// The value a segment is ranked by.
    pub by: SegmentValue,
}

/// A cell's value, as a segmentation answer shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentValue {
    /// Events.
    Events,
    /// Distinct users.
    Users,
    /// Events per user (0 without users).
    EventsPerUser,
}

impl SegmentValue {
    /// The value of one cell.
    pub fn of(self, c: &SegmentCount) -> f64 {
        match self {
            SegmentValue::Events => c.events as f64,
            SegmentValue::Users => c.users as f64,
            SegmentValue::EventsPerUser if c.users == 0 => 0.0,
            SegmentValue::EventsPerUser => c.events as f64 / c.users as f64,
        }
    }
}

impl TopSegments {
    /// Keeps the cells of the top segments only, for stores that rank in memory.
    pub fn keep(&self, counts: &mut Vec<SegmentCount>) {
        let mut totals: std::collections::HashMap<Option<&str>, f64> = std::collections::HashMap::new();
        for c in counts.iter() {
            *totals.entry(c.segment.as_deref()).or_default() += self.by.of(c);
        }
        if totals.len() <= self.limit {
            return;
        }
        let mut ranked: Vec<(Option<&str>, f64)> = totals.into_iter().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let kept: std::collections::HashSet<Option<String>> =
            ranked.into_iter().take(self.limit).map(|(s, _)| s.map(str::to_string)).collect();
        counts.retain(|c| kept.contains(&c.segment));
    }
}

/// One cell of a segmentation's answer.
#[derive(Clone, Debug, PartialEq, PartialOrd)]
pub struct SegmentCount {
    /// The bucket's local start (wall-clock epoch ms).
    pub bucket: i64,
    /// The event name.
    pub event: String,
    /// The segment key; `None` without `on`.
    pub segment: Option<String>,
    /// Events (deduplicated), when asked.
    pub events: u64,
    /// Distinct users, when asked.
    pub users: u64,
    /// The sum of [`SegmentQuery::sum`] over the events, when asked (else 0).
    pub sum: f64,
}

/// One condition of a behavioural scan: an event name (or any event), narrowed by a
/// `where` and, optionally, by a later start than the scan's.
#[derive(Clone, Debug, Default)]
pub struct EventCondition {
    /// The event name; `None` matches every event.
    pub event: Option<String>,
    /// An expression the event must also satisfy.
    pub filter: Option<std::sync::Arc<sextant_expr::Program>>,
    /// Only events at or after this instant (UTC epoch ms) match.
    pub from_ms: Option<i64>,
}

impl EventCondition {
    /// Events named `event`, narrowed by `filter`.
    pub fn named(event: &str, filter: Option<std::sync::Arc<sextant_expr::Program>>) -> Self {
        EventCondition { event: Some(event.to_string()), filter, from_ms: None }
    }
}

/// A behavioural scan: one project's events in a time range that satisfy at least one
/// of the conditions (and the shared `where`), for each user in time order. Funnels
/// and retention run their forward pass over it.
#[derive(Clone, Debug)]
pub struct BehaviourQuery {
    /// The project.
    pub project_id: ProjectId,
    /// Inclusive lower bound, UTC epoch ms.
    pub from_ms: i64,
    /// Exclusive upper bound, UTC epoch ms.
    pub to_ms: i64,
    /// The conditions, at most 32: condition `i` is bit `i` of [`BehaviourRows::mask`].
    pub conditions: Vec<EventCondition>,
    /// Only events for which this `where` is true.
    pub filter: Option<std::sync::Arc<sextant_expr::Program>>,
    /// The `on` expression: keys ([`sextant_expr::Program::segment_keys`]) are computed
    /// for the events whose mask shares a bit with `segment_mask`, the others get none.
    pub segment: Option<std::sync::Arc<sextant_expr::Program>>,
    /// Which conditions' events carry segment keys.
    pub segment_mask: u32,
}

/// The answer to a [`BehaviourQuery`], column by column: one entry per event, each
/// user's events together (users in no particular order) and in time order, events at
/// one instant by mask; copies of an event (same name, distinct id, time and
/// `$insert_id`) kept once.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BehaviourRows {
    /// The user: a 64-bit hash of the canonical distinct id (after identity resolution),
    /// the same for every event of one user. Two users share a hash with probability
    /// 2^-64 per pair.
    pub user: Vec<u64>,
    /// Event time, UTC epoch ms.
    pub time_ms: Vec<i64>,
    /// Which conditions the event satisfies (never 0).
    pub mask: Vec<u32>,
    /// The event's segment keys: an index into [`BehaviourRows::segments`].
    pub segment: Vec<u32>,
    /// Distinct key sets; entry 0 is the empty set (no `on`, or no key).
    pub segments: Vec<Vec<String>>,
}

impl BehaviourRows {
    /// Empty rows (with the empty key set at index 0).
    pub fn new() -> Self {
        BehaviourRows { segments: vec![Vec::new()], ..Default::default() }
    }

    /// How many events.
    pub fn len(&self) -> usize {
        self.user.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.user.is_empty()
    }

    /// The index range of each user's events, in order.
    pub fn users(&self) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
        self.users_in(0..self.len())
    }

    /// The index range of each user's events within `within`, a range that splits no
    /// user (see [`BehaviourRows::split`]).
    pub fn users_in(&self, within: std::ops::Range<usize>) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
        let mut start = within.start;
        let end = within.end.min(self.user.len());
        std::iter::from_fn(move || {
            if start >= end {
                return None;
            }
            let u = self.user[start];
            let len = self.user[start..end].iter().position(|&x| x != u).unwrap_or(end - start);
            let range = start..start + len;
            start += len;
            Some(range)
        })
    }

    /// At most `parts` consecutive ranges of about equal length that together cover
    /// every event and split no user: for running a kernel on several threads.
    pub fn split(&self, parts: usize) -> Vec<std::ops::Range<usize>> {
        let n = self.len();
        let mut out = Vec::new();
        let mut start = 0;
        for k in 1..=parts.max(1) {
            let mut end = if k == parts.max(1) { n } else { (n * k / parts).max(start) };
            while end < n && end > 0 && self.user[end] == self.user[end - 1] {
                end += 1;
            }
            if end > start {
                out.push(start..end);
                start = end;
            }
        }
        out
    }
}

/// A backend that answers reports.
#[async_trait]
pub trait ReportStore: Send + Sync + 'static {
    /// Counts a segmentation. Copies of an event (same name, distinct id, time and
    /// `$insert_id`) count once; an event whose `on` gives several keys counts once
    /// under each. Cells with nothing counted are left out.
    async fn segment(&self, query: SegmentQuery) -> Result<Vec<SegmentCount>>;

    /// The property names of one event's occurrences in `[from_ms, to_ms)`, with how
    /// many events carry each (copies counted once), most common first, at most `limit`.
    async fn property_names(
        &self,
        project_id: ProjectId,
        event: &str,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<(String, u64)>>;

    /// Each user's events that satisfy the scan's conditions, in time order.
    async fn behaviour(&self, query: BehaviourQuery) -> Result<BehaviourRows>;
}
