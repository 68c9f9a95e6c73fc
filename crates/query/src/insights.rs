//! `/insights?bookmark_id=`: a saved report computed now.
//!
//! Mixpanel saves reports in its UI; Sextant saves a report kind and the parameters of
//! that kind's endpoint (App API or `sextant bookmark create`). Kinds today:
//! `segmentation` (the parameters of `/segmentation`) and `events` (those of
//! `/events`); funnels and retention join when those reports land. Besides fixed
//! `from_date`/`to_date`, a saved report may say `last_days=N`: the N project days up to
//! today, worked out when the report runs.
//!
//! The answer is Mixpanel's: `computed_at`, `date_range` (the range's first and last
//! instants with the project's offset), `headers` (what each level of `series` is
//! keyed by: `$event`, then the `on` expression when there is one) and `series`, whose
//! date keys are each bucket's start with the project's offset.

use std::collections::BTreeMap;

use chrono::{Days, TimeZone};
use serde::Serialize;
use sextant_expr::Options;
use sextant_storage::SegmentCount;

use crate::QueryError;
use crate::calendar;
use crate::params::Params;
use crate::segmentation::{Kind, Segmentation};

/// The report kinds a bookmark may hold.
pub const KINDS: [&str; 2] = ["segmentation", "events"];

/// The request a saved report makes now.
pub fn plan(
    kind: &str,
    saved: &BTreeMap<String, String>,
    options: &Options,
    now_ms: i64,
) -> Result<Segmentation, QueryError> {
    let mut params = saved.clone();
    if let Some(n) = params.remove("last_days") {
        let n = n.trim().parse::<u64>().ok().filter(|n| (1..=3650).contains(n)).ok_or_else(|| {
            QueryError::new(format!("`last_days` must be a number of days from 1 to 3650, got `{n}`"))
        })?;
        let today = calendar::today(options.timezone, now_ms);
        let from = today.checked_sub_days(Days::new(n - 1)).unwrap_or(today);
        params.insert("from_date".into(), from.format("%Y-%m-%d").to_string());
        params.insert("to_date".into(), today.format("%Y-%m-%d").to_string());
    }
    let reader = Params::new(|name| params.get(name).map(String::as_str));
    match kind {
        "segmentation" => Segmentation::parse(&reader, options),
        "events" => crate::events::events(&reader, options, now_ms),
        other => Err(QueryError::new(format!("unknown report kind `{other}`: use one of {}", KINDS.join(", ")))),
    }
}

/// `{"computed_at", "date_range", "headers", "series"}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InsightsAnswer {
    /// When it was computed (RFC 3339, UTC).
    pub computed_at: String,
    /// The range's first and last instants, with the project's offset.
    pub date_range: DateRange,
    /// What each level of `series` is keyed by.
    pub headers: Vec<String>,
    /// `{event: {date: n}}`, or `{event: {segment: {date: n}}}` with `on`.
    pub series: serde_json::Value,
}

/// The range of an insights answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DateRange {
    /// First instant, `YYYY-MM-DDTHH:MM:SS±HH:MM`.
    pub from_date: String,
    /// Last instant, `YYYY-MM-DDTHH:MM:SS.ffffff±HH:MM`.
    pub to_date: String,
}

fn stamp(utc_ms: i64, tz: chrono_tz::Tz, fraction: bool) -> String {
    let Some(t) = tz.timestamp_millis_opt(utc_ms).single() else { return String::new() };
    if fraction {
        t.format("%Y-%m-%dT%H:%M:%S%.6f%:z").to_string()
    } else {
        t.format("%Y-%m-%dT%H:%M:%S%:z").to_string()
    }
}

/// The answer from the store's counts for `request`.
pub fn answer(request: &Segmentation, counts: &[SegmentCount], now_ms: i64) -> InsightsAnswer {
    let (from_ms, to_ms) = request.range_ms();
    let tz = request.tz;
    let buckets = calendar::buckets(request.unit, tz, from_ms, to_ms);
    let starts = calendar::series(&buckets, from_ms, to_ms);
    let key_of = |local: i64| stamp(calendar::local_to_utc(local, tz), tz, false);
    let keys: BTreeMap<i64, String> = starts.iter().map(|s| (*s, key_of(*s))).collect();
    let number = |v: f64| {
        if request.kind == Kind::Average { serde_json::Value::from(v) } else { serde_json::Value::from(v as u64) }
    };
    let zeros = || keys.values().map(|k| (k.clone(), 0.0)).collect::<BTreeMap<String, f64>>();
    // event -> segment ("" without `on`) -> date -> value
    let mut tree: BTreeMap<String, BTreeMap<String, BTreeMap<String, f64>>> = BTreeMap::new();
    if request.on.is_none() {
        for e in &request.events {
            tree.entry(e.clone()).or_default().insert(String::new(), zeros());
        }
    }
    for c in counts {
        let Some(key) = keys.get(&c.bucket) else { continue };
        let segment = c.segment.clone().unwrap_or_default();
        let row = tree.entry(c.event.clone()).or_default().entry(segment).or_insert_with(zeros);
        *row.entry(key.clone()).or_default() += request.kind.value(c);
    }
    let series: serde_json::Map<String, serde_json::Value> = tree
        .into_iter()
        .map(|(event, segments)| {
            let by_date = |row: BTreeMap<String, f64>| {
                serde_json::Value::Object(row.into_iter().map(|(d, v)| (d, number(v))).collect())
            };
            let inner = if request.on.is_none() {
                segments.into_values().next().map(by_date).unwrap_or_default()
            } else {
                serde_json::Value::Object(segments.into_iter().map(|(s, row)| (s, by_date(row))).collect())
            };
            (event, inner)
        })
        .collect();
    let mut headers = vec!["$event".to_string()];
    if let Some(on) = &request.on {
        headers.push(on.expr().to_string());
    }
    InsightsAnswer {
        computed_at: calendar::computed_at(now_ms),
        date_range: DateRange { from_date: stamp(from_ms, tz, false), to_date: stamp(to_ms - 1, tz, true) },
        headers,
        series: serde_json::Value::Object(series),
    }
}
