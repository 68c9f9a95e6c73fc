//! `GET /retention` and `GET /retention/addiction`.
//!
//! Retention (`retention_type=birth`, the default): each user's cohort is the date of
//! their first `born_event` ever (narrowed by `born_where`), when that date is in the
//! range; `compounded`: every date on which the user did `event` is a cohort of theirs.
//! `counts[i]` is how many of a cohort did `event` (narrowed by `where`; any event
//! when `event` is absent) in interval `i` after entering, the entering event itself
//! left out; there are `interval_count + 1` intervals. Without `unit`, intervals are
//! `interval` days of each user's own clock (`[birth + i days, birth + i+1 days)`);
//! with `unit`, they are `interval` local days, weeks or months counted from the one
//! holding the entry, and cohorts are dates of that unit. `unbounded_retention=true`
//! counts a user in every interval up to the last one they came back in.
//!
//! Answers: `{date: {"counts": [...], "first": n}}` for every cohort date of the range;
//! with `on` (the entering event's value), `{date: {"$overall": {...}, segment: {...}}}`
//! with the `limit` largest segments by users entering.
//!
//! Addiction: per `unit` period, among users who did `event` in it, `data[date][k]` is
//! how many did it in at least `k + 1` distinct `addiction_unit`s (hours or days) of
//! the period; arrays have one entry per unit a period can hold (24 for a day of local
//! hours, 7 for a week of days, 31 for a month of days).

pub mod kernel;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono_tz::Tz;
use serde::Serialize;
use sextant_expr::{Options, Program, Scope};
use sextant_model::ProjectId;
use sextant_storage::{BehaviourQuery, BehaviourRows, BucketUnit, DAY_MS, EventCondition};

use crate::calendar;
use crate::params::Params;
use crate::{QueryError, top_segments};
use kernel::{Addiction, CalendarUnit, Cohort, Intervals, Retention};

/// Segments returned when `limit` is not given.
pub const DEFAULT_LIMIT: u64 = 255;
/// Most segments `limit` may ask for.
pub const MAX_LIMIT: u64 = 10_000;
/// Most intervals after the 0th.
pub const MAX_INTERVAL_COUNT: u64 = 400;

/// A checked `/retention` request.
#[derive(Clone, Debug)]
pub struct RetentionRequest {
    /// Compounded (recurring) rather than birth (first time).
    pub compounded: bool,
    /// The cohort event (birth).
    pub born_event: Option<String>,
    /// The return event; any event when absent.
    pub event: Option<String>,
    /// Narrows born events.
    pub born_filter: Option<Arc<Program>>,
    /// Narrows return events.
    pub filter: Option<Arc<Program>>,
    /// The `on` expression, read from the entering event.
    pub on: Option<Arc<Program>>,
    /// Start of the range, UTC epoch ms.
    pub from_ms: i64,
    /// End of the range (exclusive), UTC epoch ms.
    pub to_ms: i64,
    /// `unit`, when given.
    pub unit: Option<CalendarUnit>,
    /// Units (days without `unit`) per interval.
    pub interval: i64,
    /// Intervals after the 0th.
    pub interval_count: usize,
    /// Count a user in every interval up to their last return.
    pub unbounded: bool,
    /// Most segments returned.
    pub limit: usize,
    /// The project's timezone.
    pub tz: Tz,
}

/// `true`/`false`/`1`/`0` (absent: false).
fn flag(params: &Params<'_>, name: &str) -> Result<bool, QueryError> {
    match params.text(name).map(str::to_ascii_lowercase).as_deref() {
        None | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(v) => Err(QueryError::new(format!("`{name}` must be true or false, got `{v}`"))),
    }
}

fn calendar_unit(params: &Params<'_>, name: &str) -> Result<Option<CalendarUnit>, QueryError> {
    Ok(match params.text(name) {
        None => None,
        Some(_) => Some(match params.choice(name, &["day", "week", "month"])? {
            "week" => CalendarUnit::Week,
            "month" => CalendarUnit::Month,
            _ => CalendarUnit::Day,
        }),
    })
}

fn bucket_unit(unit: Option<CalendarUnit>) -> BucketUnit {
    match unit {
        None | Some(CalendarUnit::Day) => BucketUnit::Day,
        Some(CalendarUnit::Week) => BucketUnit::Week,
        Some(CalendarUnit::Month) => BucketUnit::Month,
    }
}

impl RetentionRequest {
    /// Reads the request; expressions are checked with the project's `options`.
    pub fn parse(params: &Params<'_>, options: &Options) -> Result<RetentionRequest, QueryError> {
        let compounded = params.choice("retention_type", &["birth", "compounded"])? == "compounded";
        let born_event = params.text("born_event").map(str::to_string);
        if !compounded && born_event.is_none() {
            return Err(QueryError::new("missing required parameter `born_event` (birth retention)"));
        }
        let event = params.text("event").map(str::to_string);
        let (from, to) = params.date_range()?;
        let unit = calendar_unit(params, "unit")?;
        let max_interval = if matches!(unit, None | Some(CalendarUnit::Day)) { 90 } else { 3650 };
        let interval = params.integer("interval", 1, 1, max_interval)? as i64;
        let interval_count = params.integer("interval_count", 1, 1, MAX_INTERVAL_COUNT)? as usize;
        let unbounded = flag(params, "unbounded_retention")?;
        let limit = params.integer("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)? as usize;
        let born_filter = params.expression("born_where", Scope::Event, options)?.map(Arc::new);
        let filter = params.expression("where", Scope::Event, options)?.map(Arc::new);
        let on = params.expression("on", Scope::Event, options)?.map(Arc::new);
        let tz = options.timezone;
        let (from_ms, to_ms) = calendar::date_range_ms(from, to, tz);
        Ok(RetentionRequest {
            compounded,
            born_event,
            event,
            born_filter,
            filter,
            on,
            from_ms,
            to_ms,
            unit,
            interval,
            interval_count,
            unbounded,
            limit,
            tz,
        })
    }

    /// How far after the range the last interval can reach.
    fn reach_ms(&self) -> i64 {
        let unit_ms = match self.unit {
            None | Some(CalendarUnit::Day) => DAY_MS,
            Some(CalendarUnit::Week) => 7 * DAY_MS,
            Some(CalendarUnit::Month) => 31 * DAY_MS,
        };
        // The cohort's own unit plus every interval, and an hour for DST.
        unit_ms + (self.interval_count as i64 + 1) * self.interval * unit_ms + 3_600_000
    }

    /// The store scan. Birth: bit 0 is the born event, read from the beginning of time
    /// (a user's first one ever decides their cohort), bit 1 the return event from the
    /// range's start. Compounded: bit 0 is the return event, which also makes cohorts.
    pub fn query(&self, project_id: ProjectId) -> BehaviourQuery {
        let returning = EventCondition { event: self.event.clone(), filter: self.filter.clone(), from_ms: None };
        let (from_ms, conditions) = if self.compounded {
            (self.from_ms, vec![returning])
        } else {
            let born =
                EventCondition { event: self.born_event.clone(), filter: self.born_filter.clone(), from_ms: None };
            (0, vec![born, EventCondition { from_ms: Some(self.from_ms), ..returning }])
        };
        BehaviourQuery {
            project_id,
            from_ms,
            to_ms: self.to_ms.saturating_add(self.reach_ms()),
            conditions,
            filter: None,
            segment: self.on.clone(),
            segment_mask: 1,
        }
    }

    /// The kernel's parameters.
    pub fn kernel(&self) -> Retention {
        Retention {
            compounded: self.compounded,
            born_bit: 1,
            return_bit: if self.compounded { 1 } else { 2 },
            from_ms: self.from_ms,
            to_ms: self.to_ms,
            buckets: calendar::buckets(bucket_unit(self.unit), self.tz, self.from_ms, self.to_ms),
            intervals: match self.unit {
                None => Intervals::Relative { ms: self.interval * DAY_MS },
                Some(unit) => Intervals::Calendar { unit, units: self.interval },
            },
            interval_count: self.interval_count,
            unbounded: self.unbounded,
        }
    }

    /// Runs the kernel on the scan and shapes the answer.
    pub fn answer(&self, rows: &BehaviourRows) -> BTreeMap<String, serde_json::Value> {
        let kernel = self.kernel();
        let cells = kernel.run(rows);
        let unit = bucket_unit(self.unit);
        let starts = calendar::series(&kernel.buckets, self.from_ms, self.to_ms);
        let empty = || Cohort { first: 0, counts: vec![0; self.interval_count + 1] };
        let mut overall: BTreeMap<i64, Cohort> = starts.iter().map(|s| (*s, empty())).collect();
        let mut by_key: HashMap<(&str, i64), Cohort> = HashMap::new();
        for (&(start, set), cohort) in &cells {
            overall.entry(start).or_insert_with(empty).add(cohort);
            for key in rows.segments.get(set as usize).into_iter().flatten() {
                by_key.entry((key.as_str(), start)).or_insert_with(empty).add(cohort);
            }
        }
        let view = |c: &Cohort| serde_json::json!({"counts": c.counts, "first": c.first});
        if self.on.is_none() {
            return overall.iter().map(|(s, c)| (calendar::key(unit, *s), view(c))).collect();
        }
        let top = top_segments(by_key.iter().map(|((k, _), c)| (*k, c.first)), self.limit);
        overall
            .iter()
            .map(|(start, c)| {
                let mut segments = serde_json::Map::new();
                segments.insert("$overall".into(), view(c));
                for key in &top {
                    let cohort = by_key.get(&(*key, *start)).cloned().unwrap_or_else(empty);
                    segments.insert(key.to_string(), view(&cohort));
                }
                (calendar::key(unit, *start), serde_json::Value::Object(segments))
            })
            .collect()
    }
}

/// A checked `/retention/addiction` request.
#[derive(Clone, Debug)]
pub struct AddictionRequest {
    /// The counted event; any event when absent.
    pub event: Option<String>,
    /// Narrows the events.
    pub filter: Option<Arc<Program>>,
    /// The `on` expression.
    pub on: Option<Arc<Program>>,
    /// Start of the range, UTC epoch ms.
    pub from_ms: i64,
    /// End of the range (exclusive), UTC epoch ms.
    pub to_ms: i64,
    /// The period.
    pub unit: BucketUnit,
    /// An hour or a day, ms.
    pub addiction_unit_ms: i64,
    /// Most segments returned.
    pub limit: usize,
    /// The project's timezone.
    pub tz: Tz,
}

/// `{"data": {date: [...]}}`, or with `on` `{"data": {date: {"$overall": [...], segment: [...]}}}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AddictionAnswer {
    /// Per period.
    pub data: BTreeMap<String, serde_json::Value>,
}

impl AddictionRequest {
    /// Reads the request; `unit` and `addiction_unit` are required.
    pub fn parse(params: &Params<'_>, options: &Options) -> Result<AddictionRequest, QueryError> {
        params.required("unit")?;
        let unit = bucket_unit(calendar_unit(params, "unit")?);
        params.required("addiction_unit")?;
        let addiction_unit_ms = match params.choice("addiction_unit", &["hour", "day"])? {
            "day" => DAY_MS,
            _ => 3_600_000,
        };
        if unit == BucketUnit::Day && addiction_unit_ms == DAY_MS {
            return Err(QueryError::new("`addiction_unit` must be shorter than `unit`: use hour with unit=day"));
        }
        let (from, to) = params.date_range()?;
        let event = params.text("event").map(str::to_string);
        let filter = params.expression("where", Scope::Event, options)?.map(Arc::new);
        let on = params.expression("on", Scope::Event, options)?.map(Arc::new);
        let limit = params.integer("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)? as usize;
        let tz = options.timezone;
        let (from_ms, to_ms) = calendar::date_range_ms(from, to, tz);
        Ok(AddictionRequest { event, filter, on, from_ms, to_ms, unit, addiction_unit_ms, limit, tz })
    }

    /// The store scan: the event over the range, `on` keys on every event.
    pub fn query(&self, project_id: ProjectId) -> BehaviourQuery {
        BehaviourQuery {
            project_id,
            from_ms: self.from_ms,
            to_ms: self.to_ms,
            conditions: vec![EventCondition { event: self.event.clone(), filter: self.filter.clone(), from_ms: None }],
            filter: None,
            segment: self.on.clone(),
            segment_mask: 1,
        }
    }

    /// Entries per array: the most addiction units one period holds (local hours, so a
    /// day has at most 24 of them, DST or not; a month at most 31 days).
    fn slots(&self) -> usize {
        let hours = self.addiction_unit_ms == 3_600_000;
        match (self.unit, hours) {
            (BucketUnit::Week, true) => 7 * 24,
            (BucketUnit::Week, false) => 7,
            (BucketUnit::Month, true) => 31 * 24,
            (BucketUnit::Month, false) => 31,
            (_, true) => 24,
            (_, false) => 1,
        }
    }

    /// Runs the kernel on the scan and shapes the answer.
    pub fn answer(&self, rows: &BehaviourRows) -> AddictionAnswer {
        let buckets = calendar::buckets(self.unit, self.tz, self.from_ms, self.to_ms);
        let kernel = Addiction {
            from_ms: self.from_ms,
            to_ms: self.to_ms,
            buckets: buckets.clone(),
            unit_ms: self.addiction_unit_ms,
            slots: self.slots(),
        };
        let cells = kernel.run(rows);
        let starts = calendar::series(&buckets, self.from_ms, self.to_ms);
        let len = self.slots();
        let mut overall: BTreeMap<i64, Vec<u64>> = starts.iter().map(|s| (*s, vec![0; len])).collect();
        let mut by_key: HashMap<(&str, i64), Vec<u64>> = HashMap::new();
        let add = |into: &mut Vec<u64>, from: &[u64]| {
            for (a, b) in into.iter_mut().zip(from) {
                *a += b;
            }
        };
        let mut users_per_key: Vec<(&str, u64)> = Vec::new();
        for (&(start, set), counts) in &cells {
            add(overall.entry(start).or_insert_with(|| vec![0; len]), counts);
            for key in rows.segments.get(set as usize).into_iter().flatten() {
                add(by_key.entry((key.as_str(), start)).or_insert_with(|| vec![0; len]), counts);
                users_per_key.push((key.as_str(), counts.first().copied().unwrap_or(0)));
            }
        }
        let data = if self.on.is_none() {
            overall.into_iter().map(|(s, c)| (calendar::key(self.unit, s), serde_json::json!(c))).collect()
        } else {
            let top = top_segments(users_per_key.into_iter(), self.limit);
            overall
                .into_iter()
                .map(|(start, c)| {
                    let mut segments = serde_json::Map::new();
                    segments.insert("$overall".into(), serde_json::json!(c));
                    for key in &top {
                        let counts = by_key.get(&(*key, start)).cloned().unwrap_or_else(|| vec![0; len]);
                        segments.insert(key.to_string(), serde_json::json!(counts));
                    }
                    (calendar::key(self.unit, start), serde_json::Value::Object(segments))
                })
                .collect()
        };
        AddictionAnswer { data }
    }
}
