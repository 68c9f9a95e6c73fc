//! `GET /segmentation`: one event's counts per time bucket, optionally split by an
//! `on` expression and filtered by `where`.
//!
//! - `type=general` counts events (copies with the same `$insert_id`, name, distinct
//!   id and time once), `unique` distinct users after identity resolution, `average`
//!   events per user in each bucket.
//! - Without `on`, `values` has one key, the event name; with `on`, one key per segment
//!   (the text of the value, `"null"` for null; a list gives one segment per element;
//!   undefined values are left out), the `limit` segments with the largest totals.
//! - `series` holds every bucket of the range, ascending, and every segment has a
//!   value for each (zero when nothing happened), so clients can sum or chart without
//!   filling gaps.
//! - `format=csv`: a header `date,<key>,...` then one line per bucket.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono_tz::Tz;
use serde::Serialize;
use sextant_expr::{Options, Program, Scope};
use sextant_model::ProjectId;
use sextant_storage::{BucketUnit, Measure, SegmentCount, SegmentQuery, SegmentValue, TopSegments};

use crate::QueryError;
use crate::calendar;
use crate::params::Params;

/// Most segments `limit` may ask for.
pub const MAX_LIMIT: u64 = 10_000;
/// Most time buckets one answer holds.
pub const MAX_BUCKETS: i64 = 100_000;

/// Segments returned when `limit` is not given.
pub const DEFAULT_LIMIT: u64 = 60;

/// What each value counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Events.
    General,
    /// Distinct users.
    Unique,
    /// Events per user.
    Average,
}

impl Kind {
    /// The `type` parameter; `average` reads as `general` where a report has no average.
    pub fn parse(params: &Params<'_>, with_average: bool) -> Result<Kind, QueryError> {
        Ok(match params.choice("type", &["general", "unique", "average"])? {
            "unique" => Kind::Unique,
            "average" if with_average => Kind::Average,
            _ => Kind::General,
        })
    }

    /// What the store must count for it.
    pub fn measure(self) -> Measure {
        match self {
            Kind::General => Measure::Events,
            Kind::Unique => Measure::Users,
            Kind::Average => Measure::Both,
        }
    }

    /// A cell's value: events, users, or events per user (0 without users).
    pub fn value(self, c: &SegmentCount) -> f64 {
        self.segment_value().of(c)
    }

    fn segment_value(self) -> SegmentValue {
        match self {
            Kind::General => SegmentValue::Events,
            Kind::Unique => SegmentValue::Users,
            Kind::Average => SegmentValue::EventsPerUser,
        }
    }
}

/// A checked segmentation request.
#[derive(Clone, Debug)]
pub struct Segmentation {
    /// The events (one for `/segmentation`); each is a key of `values` without `on`.
    pub events: Vec<String>,
    /// Start of the range, UTC epoch ms.
    pub from_ms: i64,
    /// End of the range (exclusive), UTC epoch ms.
    pub to_ms: i64,
    /// The bucket width.
    pub unit: BucketUnit,
    /// What to count.
    pub kind: Kind,
    /// Most segments returned.
    pub limit: usize,
    /// The `on` expression.
    pub on: Option<Arc<Program>>,
    /// The `where` expression.
    pub filter: Option<Arc<Program>>,
    /// Answer as CSV.
    pub csv: bool,
    /// The project's timezone.
    pub tz: Tz,
    /// Numeric segmentation's ranges: segment keys are indices into them.
    pub ranges: Option<Vec<crate::numeric::Range>>,
    /// Only these segments (`/events/properties`' `values`).
    pub only: Option<Vec<String>>,
}

impl Segmentation {
    /// Counts of `events` over `[from_ms, to_ms)`, neither split nor filtered, every
    /// segment kept, as JSON.
    pub fn over(
        events: Vec<String>,
        (from_ms, to_ms): (i64, i64),
        unit: BucketUnit,
        kind: Kind,
        tz: Tz,
    ) -> Segmentation {
        Segmentation {
            events,
            from_ms,
            to_ms,
            unit,
            kind,
            limit: usize::MAX,
            on: None,
            filter: None,
            csv: false,
            tz,
            ranges: None,
            only: None,
        }
    }

    /// Reads the request; expressions are checked with the project's `options`.
    pub fn parse(params: &Params<'_>, options: &Options) -> Result<Segmentation, QueryError> {
        let events = vec![params.required("event")?.to_string()];
        let (from, to) = params.date_range()?;
        let tz = options.timezone;
        let origin = calendar::local_midnight_ms(from, chrono_tz::UTC);
        let unit = params.unit(&["minute", "hour", "day", "week", "month"], origin)?;
        let kind = Kind::parse(params, true)?;
        let limit = params.integer("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)? as usize;
        let on = params.expression("on", Scope::Event, options)?.map(Arc::new);
        let filter = params.expression("where", Scope::Event, options)?.map(Arc::new);
        let csv = match params.text("format") {
            None => false,
            Some(f) if f.eq_ignore_ascii_case("csv") => true,
            Some(f) if f.eq_ignore_ascii_case("json") => false,
            Some(f) => return Err(QueryError::new(format!("`format` must be csv or json, got `{f}`"))),
        };
        let (from_ms, to_ms) = calendar::date_range_ms(from, to, tz);
        if let BucketUnit::Minute = unit
            && to_ms - from_ms > 31 * sextant_storage::DAY_MS
        {
            return Err(QueryError::new("unit=minute covers at most 31 days"));
        }
        if unit == BucketUnit::Hour && (to_ms - from_ms) / 3_600_000 > MAX_BUCKETS {
            return Err(QueryError::new(format!("unit=hour covers at most {MAX_BUCKETS} hours")));
        }
        Ok(Segmentation { events, from_ms, to_ms, unit, kind, limit, on, filter, csv, tz, ranges: None, only: None })
    }

    /// UTC bounds of the range.
    pub fn range_ms(&self) -> (i64, i64) {
        (self.from_ms, self.to_ms)
    }

    /// The store query.
    pub fn query(&self, project_id: ProjectId) -> SegmentQuery {
        let (from_ms, to_ms) = self.range_ms();
        SegmentQuery {
            project_id,
            events: self.events.clone(),
            from_ms,
            to_ms,
            buckets: calendar::buckets(self.unit, self.tz, from_ms, to_ms),
            filter: self.filter.clone(),
            on: self.on.clone(),
            measure: self.kind.measure(),
            sum: None,
            // The answer keeps the `limit` segments with the largest totals; the store
            // ranks them (a range's or a listed segment's name is known only here).
            top: (self.on.is_some() && self.ranges.is_none() && self.only.is_none())
                .then_some(TopSegments { limit: self.limit, by: self.kind.segment_value() }),
        }
    }

    /// Reads a `/segmentation/numeric` request: `on` is required and `unit` is `hour`
    /// or `day`.
    pub fn parse_numeric(params: &Params<'_>, options: &Options) -> Result<Segmentation, QueryError> {
        params.required("on")?;
        if let Some(u) = params.text("unit")
            && !["hour", "day"].iter().any(|a| a.eq_ignore_ascii_case(u))
        {
            return Err(QueryError::new(format!("`unit` must be one of hour, day, got `{u}`")));
        }
        let mut request = Segmentation::parse(params, options)?;
        request.limit = MAX_LIMIT as usize;
        Ok(request)
    }

    /// The first pass of a numeric segmentation: the values `on` takes, as numbers.
    pub fn numeric_values_query(&self, project_id: ProjectId) -> Result<SegmentQuery, QueryError> {
        let on = self.on.as_ref().ok_or_else(|| QueryError::new("missing required parameter `on`"))?;
        let number = Program::parse(&format!("number({})", on.expr()), Scope::Event, on.options().clone())
            .map_err(|e| QueryError::new(format!("invalid `on` expression: {e}")))?;
        let mut q = self.query(project_id);
        q.on = Some(Arc::new(number));
        q.top = None; // the ranges need every value
        q.measure = Measure::Events;
        // Only the values matter here, not when: one bucket over the whole range groups
        // by value alone (at 10M events, a tenth of the groups and half the time).
        let days = u32::try_from((self.to_ms - self.from_ms) / 86_400_000 + 2).unwrap_or(u32::MAX);
        q.buckets.unit = BucketUnit::Days { days, origin: self.from_ms };
        Ok(q)
    }

    /// The second pass: `on` replaced by the range of each event's value.
    pub fn with_ranges(&self, first_pass: &[SegmentCount]) -> Result<Segmentation, QueryError> {
        let on = self.on.as_ref().ok_or_else(|| QueryError::new("missing required parameter `on`"))?;
        let values: Vec<f64> = first_pass.iter().filter_map(|c| c.segment.as_deref()?.parse::<f64>().ok()).collect();
        let ranges = crate::numeric::ranges(&values);
        let program = crate::numeric::range_program(on, &ranges)?;
        Ok(Segmentation { on: Some(Arc::new(program)), ranges: Some(ranges), ..self.clone() })
    }

    /// The answer from the store's counts.
    pub fn answer(&self, counts: &[SegmentCount]) -> Answer {
        let (from_ms, to_ms) = self.range_ms();
        let buckets = calendar::buckets(self.unit, self.tz, from_ms, to_ms);
        let starts = calendar::series(&buckets, from_ms, to_ms);
        let series: Vec<String> = starts.iter().map(|s| calendar::key(self.unit, *s)).collect();
        let key_of: HashMap<i64, &String> = starts.iter().copied().zip(series.iter()).collect();
        // Per segment: its total (for `limit`) and its value per bucket key.
        let mut per_segment: HashMap<String, Totals> = HashMap::new();
        if self.on.is_none() {
            for e in &self.events {
                per_segment.insert(e.clone(), (0.0, BTreeMap::new()));
            }
        }
        for c in counts {
            let Some(key) = key_of.get(&c.bucket) else { continue };
            let name = match (&c.segment, &self.ranges) {
                (None, _) => c.event.clone(),
                (Some(s), None) => s.clone(),
                (Some(s), Some(ranges)) => match crate::numeric::relabel(s, ranges) {
                    Some(label) => label,
                    None => continue,
                },
            };
            if let Some(only) = &self.only
                && !only.contains(&name)
            {
                continue;
            }
            let entry = per_segment.entry(name).or_default();
            let v = self.kind.value(c);
            entry.0 += v;
            *entry.1.entry((*key).clone()).or_default() += v;
        }
        let mut ranked: Vec<(String, Totals)> = per_segment.into_iter().collect();
        ranked.sort_by(|a, b| b.1.0.total_cmp(&a.1.0).then_with(|| a.0.cmp(&b.0)));
        ranked.truncate(self.limit);
        let integral = self.kind != Kind::Average;
        let values: BTreeMap<String, BTreeMap<String, serde_json::Value>> = ranked
            .into_iter()
            .map(|(name, (_, by_date))| {
                let row = series
                    .iter()
                    .map(|d| {
                        let v = by_date.get(d).copied().unwrap_or(0.0);
                        (
                            d.clone(),
                            if integral { serde_json::Value::from(v as u64) } else { serde_json::Value::from(v) },
                        )
                    })
                    .collect();
                (name, row)
            })
            .collect();
        Answer { legend_size: values.len(), data: AnswerData { series, values } }
    }
}

/// A segment's total and its value per bucket key.
type Totals = (f64, BTreeMap<String, f64>);

/// `/segmentation/sum` and `/segmentation/average`: a numeric `on` summed (or averaged
/// over the events) per bucket; values that are not numbers count as 0.
#[derive(Clone, Debug)]
pub struct ValueReport {
    /// The counting part (its `on` is the value).
    pub base: Segmentation,
    /// Average instead of sum.
    pub average: bool,
}

impl ValueReport {
    /// The store query: events counted, `on` summed.
    pub fn query(&self, project_id: ProjectId) -> SegmentQuery {
        let mut q = self.base.query(project_id);
        q.sum = q.on.take();
        q.top = None;
        q.measure = Measure::Events;
        q
    }

    /// `{"status": "ok", "computed_at": ..., "results": {date: value}}`.
    pub fn answer(&self, counts: &[SegmentCount], now_ms: i64) -> ValueAnswer {
        let b = &self.base;
        let (from_ms, to_ms) = b.range_ms();
        let buckets = calendar::buckets(b.unit, b.tz, from_ms, to_ms);
        let mut per_bucket: HashMap<i64, (f64, u64)> = HashMap::new();
        for c in counts {
            let entry = per_bucket.entry(c.bucket).or_default();
            entry.0 += c.sum;
            entry.1 += c.events;
        }
        let results = calendar::series(&buckets, from_ms, to_ms)
            .into_iter()
            .map(|start| {
                let (sum, events) = per_bucket.get(&start).copied().unwrap_or_default();
                let v = if !self.average {
                    sum
                } else if events == 0 {
                    0.0
                } else {
                    sum / events as f64
                };
                (calendar::key(b.unit, start), v)
            })
            .collect();
        ValueAnswer { status: "ok".into(), computed_at: calendar::computed_at(now_ms), results }
    }
}

/// The answer of `/segmentation/sum` and `/segmentation/average`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ValueAnswer {
    /// `ok`.
    pub status: String,
    /// When it was computed (RFC 3339, UTC).
    pub computed_at: String,
    /// Bucket key to value.
    pub results: BTreeMap<String, f64>,
}

/// `{"data": {"series": [...], "values": {...}}, "legend_size": n}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Answer {
    /// The buckets and the values.
    pub data: AnswerData,
    /// How many keys `values` has.
    pub legend_size: usize,
}

/// The body of a segmentation answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AnswerData {
    /// Every bucket's key, ascending.
    pub series: Vec<String>,
    /// Segment (or event name) to bucket key to value.
    pub values: BTreeMap<String, BTreeMap<String, serde_json::Value>>,
}

impl Answer {
    /// The answer as CSV: `date,<key>,...`, then a line per bucket.
    pub fn to_csv(&self) -> String {
        let quote = |s: &str| {
            if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
        };
        let keys: Vec<&String> = self.data.values.keys().collect();
        let mut out = String::from("date");
        for k in &keys {
            out.push(',');
            out.push_str(&quote(k));
        }
        out.push('\n');
        for d in &self.data.series {
            out.push_str(d);
            for k in &keys {
                out.push(',');
                out.push_str(&self.data.values[*k].get(d).map(|v| v.to_string()).unwrap_or_default());
            }
            out.push('\n');
        }
        out
    }
}
