//! The events reports: `/events`, `/events/top`, `/events/names`, `/events/properties`,
//! `/events/properties/top` and `/events/properties/values`.
//!
//! They are segmentations with other defaults and shapes:
//! - `/events` counts several events, each a key of `values`; `interval=N` means the N
//!   most recent units up to now (instead of `from_date`/`to_date`).
//! - `/events/properties` splits one event by one property; `values` (a JSON array)
//!   keeps only those values.
//! - `/events/top` compares today with yesterday (project days): `percent_change` is
//!   `(today - yesterday) / yesterday`, and 0 when nothing happened yesterday (our
//!   choice; Mixpanel does not say).
//! - `/events/names`, `/events/properties/top` and `/events/properties/values` look at
//!   the last 31 project days (or `from_date`/`to_date` when given), most common first.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Days;
use chrono_tz::Tz;
use serde::Serialize;
use sextant_expr::{Options, Program, Scope};
use sextant_storage::{BucketUnit, DAY_MS, SegmentCount};

use crate::QueryError;
use crate::calendar;
use crate::params::Params;
use crate::segmentation::{Kind, Segmentation};

/// Days the "most common" reports look back.
pub const LOOKBACK_DAYS: u64 = 31;
/// Most names `/events/names` returns (larger limits are lowered to it, as Mixpanel does).
pub const MAX_NAMES: u64 = 5000;

/// `type`, refused for hourly or finer units unless `general` ("you cannot get hourly
/// uniques").
fn kind(params: &Params<'_>, unit: BucketUnit) -> Result<Kind, QueryError> {
    let k = Kind::parse(params, true)?;
    if k != Kind::General && matches!(unit, BucketUnit::Minute | BucketUnit::Hour) {
        return Err(QueryError::new("unique and average counts need a unit of a day or longer"));
    }
    Ok(k)
}

/// `[from, to)` of `interval` most recent units up to `now_ms`, or of the dates.
fn range(params: &Params<'_>, unit: BucketUnit, tz: Tz, now_ms: i64) -> Result<(i64, i64), QueryError> {
    if let Some(n) = params.text("interval") {
        let n = n.parse::<u32>().ok().filter(|n| (1..=3650).contains(n)).ok_or_else(|| {
            QueryError::new(format!("`interval` must be a number of units from 1 to 3650, got `{n}`"))
        })?;
        // Only the offset in force now matters for the bucket holding now.
        let mut start = calendar::buckets(unit, tz, now_ms, now_ms + 1).bucket_of(now_ms);
        for _ in 1..n {
            start = calendar::previous_bucket(unit, start);
        }
        let from = calendar::local_to_utc(start, tz);
        return Ok((from, now_ms + 1));
    }
    let (from, to) = params.date_range()?;
    Ok(calendar::date_range_ms(from, to, tz))
}

/// `/events`: several events' counts per bucket.
pub fn events(params: &Params<'_>, options: &Options, now_ms: i64) -> Result<Segmentation, QueryError> {
    let list = params.required("event")?;
    let events: Vec<String> = serde_json::from_str(list)
        .map_err(|_| QueryError::new(format!("`event` must be a JSON array of event names, got `{list}`")))?;
    if events.is_empty() {
        return Err(QueryError::new("`event` names no event"));
    }
    let tz = options.timezone;
    let unit = params.unit_only(&["minute", "hour", "day", "week", "month"])?;
    let kind = kind(params, unit)?;
    let mut request = Segmentation::over(events, range(params, unit, tz, now_ms)?, unit, kind, tz);
    request.csv = csv(params);
    Ok(request)
}

/// `format=csv` (anything else is JSON).
fn csv(params: &Params<'_>) -> bool {
    params.text("format").is_some_and(|f| f.eq_ignore_ascii_case("csv"))
}

/// An `on` reading one event property.
fn property(name: &str, options: &Options) -> Result<Program, QueryError> {
    let src = format!("properties[{}]", serde_json::Value::String(name.to_string()));
    Program::parse(&src, Scope::Event, options.clone()).map_err(|e| QueryError::new(format!("invalid `name`: {e}")))
}

/// `/events/properties`: one event split by one property's values.
pub fn properties(params: &Params<'_>, options: &Options, now_ms: i64) -> Result<Segmentation, QueryError> {
    let event = params.required("event")?.to_string();
    let name = params.required("name")?;
    let tz = options.timezone;
    let unit = params.unit_only(&["minute", "hour", "day", "week", "month"])?;
    let kind = kind(params, unit)?;
    let range = range(params, unit, tz, now_ms)?;
    let only = match params.text("values") {
        None => None,
        Some(v) => Some(
            serde_json::from_str::<Vec<serde_json::Value>>(v)
                .map_err(|_| QueryError::new(format!("`values` must be a JSON array of property values, got `{v}`")))?,
        ),
    }
    .map(|vals| {
        vals.iter()
            // Each value as the segment key it would be (`5`, `true`, `null`).
            .map(|v| match sextant_expr::Value::from_json(v).to_string_value(tz) {
                sextant_expr::Value::String(s) => s,
                _ => "null".to_string(),
            })
            .collect()
    });
    let mut request = Segmentation::over(vec![event], range, unit, kind, tz);
    request.limit = params.integer("limit", 255, 1, 10_000)? as usize;
    request.on = Some(Arc::new(property(name, options)?));
    request.csv = csv(params);
    request.only = only;
    Ok(request)
}

/// A look over the last 31 days (or the dates), one bucket, for "most common" lists.
fn lookback(params: &Params<'_>, tz: Tz, now_ms: i64) -> Result<(i64, i64, BucketUnit), QueryError> {
    let (from, to) = if params.text("from_date").is_some() || params.text("to_date").is_some() {
        params.date_range()?
    } else {
        let today = calendar::today(tz, now_ms);
        (today.checked_sub_days(Days::new(LOOKBACK_DAYS - 1)).unwrap_or(today), today)
    };
    let (from_ms, to_ms) = calendar::date_range_ms(from, to, tz);
    let origin = calendar::local_midnight_ms(from, chrono_tz::UTC);
    let days = u32::try_from((to_ms - from_ms) / DAY_MS + 2).unwrap_or(u32::MAX);
    Ok((from_ms, to_ms, BucketUnit::Days { days, origin }))
}

fn lookback_segmentation(
    params: &Params<'_>,
    options: &Options,
    now_ms: i64,
    events: Vec<String>,
    on: Option<Program>,
) -> Result<Segmentation, QueryError> {
    let tz = options.timezone;
    let (from_ms, to_ms, unit) = lookback(params, tz, now_ms)?;
    let mut request = Segmentation::over(events, (from_ms, to_ms), unit, Kind::parse(params, false)?, tz);
    request.on = on.map(Arc::new);
    Ok(request)
}

/// Totals by name (event or segment), most common first.
pub fn ranked(kind: Kind, counts: &[SegmentCount], by_segment: bool) -> Vec<(String, u64)> {
    let mut totals: BTreeMap<String, u64> = BTreeMap::new();
    for c in counts {
        let name = if by_segment { c.segment.clone() } else { Some(c.event.clone()) };
        let Some(name) = name else { continue };
        *totals.entry(name).or_default() += if kind == Kind::Unique { c.users } else { c.events };
    }
    let mut out: Vec<(String, u64)> = totals.into_iter().collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}

/// `/events/names`: the request (every event, one bucket) and the limit.
pub fn names(params: &Params<'_>, options: &Options, now_ms: i64) -> Result<(Segmentation, usize), QueryError> {
    let limit = match params.text("limit") {
        None => 255,
        Some(v) => v
            .parse::<u64>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| QueryError::new(format!("`limit` must be a positive integer, got `{v}`")))?
            .min(MAX_NAMES),
    };
    Ok((lookback_segmentation(params, options, now_ms, Vec::new(), None)?, limit as usize))
}

/// `/events/properties/values`: the request and the limit.
pub fn property_values(
    params: &Params<'_>,
    options: &Options,
    now_ms: i64,
) -> Result<(Segmentation, usize), QueryError> {
    let event = params.required("event")?.to_string();
    let on = property(params.required("name")?, options)?;
    let limit = params.integer("limit", 255, 1, 10_000)? as usize;
    Ok((lookback_segmentation(params, options, now_ms, vec![event], Some(on))?, limit))
}

/// `/events/properties/top`: `(event, from, to, limit)`.
pub fn property_top(
    params: &Params<'_>,
    options: &Options,
    now_ms: i64,
) -> Result<(String, i64, i64, usize), QueryError> {
    let event = params.required("event")?.to_string();
    let (from_ms, to_ms, _) = lookback(params, options.timezone, now_ms)?;
    let limit = params.integer("limit", 10, 1, 10_000)? as usize;
    Ok((event, from_ms, to_ms, limit))
}

/// `/events/top`: today and yesterday, every event.
pub fn top(params: &Params<'_>, options: &Options, now_ms: i64) -> Result<(Segmentation, usize), QueryError> {
    let tz = options.timezone;
    let today = calendar::today(tz, now_ms);
    let yesterday = today.checked_sub_days(Days::new(1)).unwrap_or(today);
    let limit = params.integer("limit", 100, 1, 10_000)? as usize;
    let range = calendar::date_range_ms(yesterday, today, tz);
    Ok((Segmentation::over(Vec::new(), range, BucketUnit::Day, Kind::parse(params, false)?, tz), limit))
}

/// One row of `/events/top`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TopEvent {
    /// Today's count.
    pub amount: u64,
    /// The event.
    pub event: String,
    /// `(today - yesterday) / yesterday`; 0 without yesterday.
    pub percent_change: f64,
}

/// `{"events": [...], "type": ...}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TopAnswer {
    /// Today's events, most common first.
    pub events: Vec<TopEvent>,
    /// `general` or `unique`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// `/events/top`'s answer from a two-day segmentation.
pub fn top_answer(request: &Segmentation, counts: &[SegmentCount], limit: usize) -> TopAnswer {
    let b = calendar::buckets(request.unit, request.tz, request.from_ms, request.to_ms);
    let days = calendar::series(&b, request.from_ms, request.to_ms);
    let (yesterday, today) = (days.first().copied(), days.last().copied());
    let mut per_event: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for c in counts {
        let n = if request.kind == Kind::Unique { c.users } else { c.events };
        let entry = per_event.entry(c.event.clone()).or_default();
        if Some(c.bucket) == today {
            entry.0 += n;
        } else if Some(c.bucket) == yesterday {
            entry.1 += n;
        }
    }
    let mut events: Vec<TopEvent> = per_event
        .into_iter()
        .filter(|(_, (t, _))| *t > 0)
        .map(|(event, (t, y))| TopEvent {
            amount: t,
            event,
            percent_change: if y == 0 { 0.0 } else { (t as f64 - y as f64) / y as f64 },
        })
        .collect();
    events.sort_by(|a, b| b.amount.cmp(&a.amount).then_with(|| a.event.cmp(&b.event)));
    events.truncate(limit);
    TopAnswer { events, kind: if request.kind == Kind::Unique { "unique" } else { "general" }.into() }
}
