//! `/insights?bookmark_id=`: a saved report computed now.
//!
//! Mixpanel saves reports in its UI; Sextant saves a report kind and the parameters of
//! that kind's endpoint (App API or `sextant bookmark create`). Kinds today:
//! `segmentation` (the parameters of `/segmentation`), `events` (those of `/events`),
//! `funnels` (`funnel_id` and the other parameters of `/funnels`) and `retention`
//! (those of `/retention`). Besides fixed
//! `from_date`/`to_date`, a saved report may say `last_days=N`: the N project days up to
//! today, worked out when the report runs.
//!
//! The answer is Mixpanel's: `computed_at`, `date_range` (the range's first and last
//! instants with the project's offset), `headers` (what each level of `series` is
//! keyed by: `$event`, `$funnel` or `$retention`, then the `on` expression when there is
//! one) and `series`:
//! - segmentation and events: `{event: {date: n}}` (`{event: {segment: {date: n}}}`
//!   with `on`), date keys being each bucket's start with the project's offset;
//! - funnels: `{funnel name: {metric: {"1. <step label>": {"all": v}}}}` for the metrics
//!   `count`, `step_conv_ratio`, `overall_conv_ratio`, `avg_time` and
//!   `avg_time_from_start`, over the whole range (each user enters once); with `on`,
//!   `{"$overall": v, segment: v}` in place of `{"all": v}`;
//! - retention: `{cohort date: {"first", "counts", "rates"}}` (`rates[i]` being
//!   `counts[i] / first`), or `{cohort date: {segment: {...}}}` with `on`.
//!
//! A report is checked before it is saved ([`check`]): it must plan now, so a saved
//! report that cannot run is refused when it is saved rather than when it is read.

use std::collections::BTreeMap;

use chrono::{Days, TimeZone};
use serde::Serialize;
use sextant_expr::Options;
use sextant_storage::{BehaviourRows, BucketUnit, DAY_MS, SegmentCount};

use crate::calendar;
use crate::funnels::{DateValue, FunnelRequest, Step};
use crate::params::Params;
use crate::retention::RetentionRequest;
use crate::segmentation::{Kind, Segmentation};
use crate::{FieldErrors, QueryError};

/// The report kinds a bookmark may hold.
pub const KINDS: [&str; 4] = ["segmentation", "events", "funnels", "retention"];

/// What a saved report runs.
#[derive(Clone, Debug)]
pub enum Plan {
    /// Segmentation or events counts.
    Counts(Segmentation),
    /// A saved funnel (its definition is read by the caller), with the parameters.
    Funnel {
        /// The funnel.
        funnel_id: i64,
        /// The `/funnels` parameters, dates resolved.
        params: BTreeMap<String, String>,
    },
    /// A retention report.
    Retention(RetentionRequest),
}

/// The request a saved report makes now.
pub fn plan(kind: &str, saved: &BTreeMap<String, String>, options: &Options, now_ms: i64) -> Result<Plan, QueryError> {
    let params = resolve_dates(saved, options, now_ms)?;
    let reader = Params::new(|name| params.get(name).map(String::as_str));
    match kind {
        "segmentation" => Segmentation::parse(&reader, options).map(Plan::Counts),
        "events" => crate::events::events(&reader, options, now_ms).map(Plan::Counts),
        "funnels" => {
            let id = reader.required("funnel_id")?;
            let funnel_id = id
                .parse::<i64>()
                .map_err(|_| QueryError::new(format!("`funnel_id` must be an integer, got `{id}`")))?;
            reader.date_range()?;
            Ok(Plan::Funnel { funnel_id, params: params.clone() })
        }
        "retention" => RetentionRequest::parse(&reader, options).map(Plan::Retention),
        other => Err(QueryError::new(format!("unknown report kind `{other}`: use one of {}", KINDS.join(", ")))),
    }
}

/// The context of every mistake in a saved report.
pub const INVALID: &str = "invalid saved report";

/// Reads saved parameters written as a query string (a leading `?` allowed), such as
/// `event=Signed up&unit=week&last_days=30`.
pub fn params_from_query(text: &str) -> BTreeMap<String, String> {
    form_urlencoded::parse(text.trim_start_matches('?').as_bytes()).into_owned().collect()
}

/// Checks that a report of `kind` with `params` would run now (at `now_ms`), read with
/// the project's `options`: a mistake is in `params`.
pub fn check(kind: &str, params: &BTreeMap<String, String>, options: &Options, now_ms: i64) -> Result<(), FieldErrors> {
    plan(kind, params, options, now_ms).map(|_| ()).map_err(|e| FieldErrors::one(INVALID, "params", e.0))
}

/// The saved parameters with `last_days=N` turned into `from_date` and `to_date`.
fn resolve_dates(
    saved: &BTreeMap<String, String>,
    options: &Options,
    now_ms: i64,
) -> Result<BTreeMap<String, String>, QueryError> {
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
    Ok(params)
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

fn date_range(from_ms: i64, to_ms: i64, tz: chrono_tz::Tz) -> DateRange {
    DateRange { from_date: stamp(from_ms, tz, false), to_date: stamp(to_ms - 1, tz, true) }
}

/// A funnel over the whole range: one bucket, so each user enters once.
pub fn whole_range(mut request: FunnelRequest) -> FunnelRequest {
    let days = ((request.to_ms - request.from_ms + DAY_MS - 1) / DAY_MS).max(1) as u32;
    // The local wall-clock start of the range (Days buckets count from local time).
    let offset =
        calendar::buckets(BucketUnit::Day, request.tz, request.from_ms, request.to_ms).offset_at(request.from_ms);
    let origin = request.from_ms + offset;
    request.unit = BucketUnit::Days { days, origin };
    request
}

/// The answer of a saved funnel named `name` (run through [`whole_range`]).
pub fn funnel_answer(request: &FunnelRequest, name: &str, rows: &BehaviourRows, now_ms: i64) -> InsightsAnswer {
    let answer = request.answer(rows);
    // One bucket: its steps, per segment ("all" without `on`).
    let mut per_segment: Vec<(String, Vec<Step>)> = Vec::new();
    if let Some(value) = answer.data.values().next() {
        match value {
            DateValue::Steps { steps, .. } => per_segment.push(("all".into(), steps.clone())),
            DateValue::Segments(segments) => per_segment.extend(segments.iter().map(|(k, v)| (k.clone(), v.clone()))),
        }
    }
    let labels: Vec<String> = request
        .definition
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| format!("{}. {}", i + 1, s.label.as_deref().unwrap_or(&s.event)))
        .collect();
    let metric = |pick: &dyn Fn(&Step) -> serde_json::Value| {
        let by_step: serde_json::Map<String, serde_json::Value> = labels
            .iter()
            .enumerate()
            .map(|(k, label)| {
                let cells: serde_json::Map<String, serde_json::Value> =
                    per_segment.iter().map(|(segment, steps)| (segment.clone(), pick(&steps[k]))).collect();
                (label.clone(), serde_json::Value::Object(cells))
            })
            .collect();
        serde_json::Value::Object(by_step)
    };
    let metrics = serde_json::json!({
        "count": metric(&|s| s.count.into()),
        "step_conv_ratio": metric(&|s| s.step_conv_ratio.into()),
        "overall_conv_ratio": metric(&|s| s.overall_conv_ratio.into()),
        "avg_time": metric(&|s| s.avg_time.into()),
        "avg_time_from_start": metric(&|s| s.avg_time_from_start.into()),
    });
    let mut headers = vec!["$funnel".to_string()];
    if let Some(on) = &request.on {
        headers.push(on.expr().to_string());
    }
    InsightsAnswer {
        computed_at: calendar::computed_at(now_ms),
        date_range: date_range(request.from_ms, request.to_ms, request.tz),
        headers,
        series: serde_json::json!({ name: metrics }),
    }
}

/// The answer of a saved retention report: the `/retention` answer keyed by each cohort's
/// start with the project's offset, with `rates`.
pub fn retention_answer(request: &RetentionRequest, rows: &BehaviourRows, now_ms: i64) -> InsightsAnswer {
    let with_rates = |c: &serde_json::Value| {
        let first = c["first"].as_u64().unwrap_or(0);
        let counts: Vec<u64> = c["counts"].as_array().into_iter().flatten().filter_map(|v| v.as_u64()).collect();
        let rates: Vec<f64> = counts.iter().map(|n| if first == 0 { 0.0 } else { *n as f64 / first as f64 }).collect();
        serde_json::json!({"first": first, "counts": counts, "rates": rates})
    };
    let series: serde_json::Map<String, serde_json::Value> = request
        .answer(rows)
        .into_iter()
        .map(|(date, value)| {
            let start = chrono::NaiveDate::parse_from_str(&date, "%Y-%m-%d")
                .map(|d| stamp(calendar::local_midnight_ms(d, request.tz), request.tz, false))
                .unwrap_or(date);
            let value = match (&request.on, value) {
                (Some(_), serde_json::Value::Object(segments)) => {
                    serde_json::Value::Object(segments.iter().map(|(k, c)| (k.clone(), with_rates(c))).collect())
                }
                (_, cohort) => with_rates(&cohort),
            };
            (start, value)
        })
        .collect();
    let mut headers = vec!["$retention".to_string()];
    if let Some(on) = &request.on {
        headers.push(on.expr().to_string());
    }
    InsightsAnswer {
        computed_at: calendar::computed_at(now_ms),
        date_range: date_range(request.from_ms, request.to_ms, request.tz),
        headers,
        series: serde_json::Value::Object(series),
    }
}
