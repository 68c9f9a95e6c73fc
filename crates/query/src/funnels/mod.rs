//! `GET /funnels`: a saved funnel computed over a date range.
//!
//! The request names a saved funnel (`funnel_id`) and may override its window
//! (`length`, `length_unit`); it adds `from_date`/`to_date`, date buckets (`interval`
//! days or `unit`), `on`, `where` and `limit`. Per date bucket, users enter at their
//! first step-1 event in that bucket; the window (at most 90 days) runs from there and
//! may reach past `to_date` (those later events are read too). See [`kernel`] for the
//! counting rules.
//!
//! The answer is Mixpanel's: `{"meta": {"dates": [...]}, "data": {date: {"steps":
//! [...], "analysis": {...}}}}`; with `on`, `data[date]` maps `"$overall"` and each of
//! the `limit` largest segments (by users entering over the whole range) to its array
//! of steps. A segment is the `on` value of the user's step-1 event. `avg_time` and
//! `avg_time_from_start` are whole seconds, `null` for step 1 and for steps nobody
//! reached; `analysis.worst` is the (0-based) index of the step with the largest share
//! of users lost from the step before it.
//!
//! What a saved funnel may be (a save or a change, checked) is [`definition`].

pub mod definition;
pub mod kernel;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono_tz::Tz;
use serde::Serialize;
use sextant_expr::{Options, Program, Scope};
use sextant_model::{FunnelDefinition, LengthUnit, ProjectId};
use sextant_storage::{BehaviourQuery, BehaviourRows, BucketUnit, EventCondition};

use crate::QueryError;
use crate::calendar;
use crate::params::Params;
pub use definition::{FunnelSpec, define};
use kernel::{Funnel, FunnelTotals, StepTotals};

/// Segments returned when `limit` is not given.
pub const DEFAULT_LIMIT: u64 = 255;
/// Most segments `limit` may ask for.
pub const MAX_LIMIT: u64 = 10_000;

/// A checked `/funnels` request.
#[derive(Clone, Debug)]
pub struct FunnelRequest {
    /// The saved definition.
    pub definition: FunnelDefinition,
    /// Each step's `where`, parsed.
    pub selectors: Vec<Option<Arc<Program>>>,
    /// Start of the range, UTC epoch ms.
    pub from_ms: i64,
    /// End of the range (exclusive), UTC epoch ms.
    pub to_ms: i64,
    /// The conversion window, ms.
    pub window_ms: i64,
    /// Date buckets.
    pub unit: BucketUnit,
    /// The `on` expression.
    pub on: Option<Arc<Program>>,
    /// The `where` expression.
    pub filter: Option<Arc<Program>>,
    /// Most segments returned.
    pub limit: usize,
    /// The project's timezone.
    pub tz: Tz,
}

/// Parses each step's `where` with the project's `options`; a mistake names the step.
pub fn selectors(definition: &FunnelDefinition, options: &Options) -> Result<Vec<Option<Arc<Program>>>, QueryError> {
    definition.check().map_err(QueryError::new)?;
    definition
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| match s.selector.as_deref().map(str::trim).filter(|w| !w.is_empty()) {
            None => Ok(None),
            Some(src) => Program::parse(src, Scope::Event, options.clone())
                .map(|p| Some(Arc::new(p)))
                .map_err(|e| QueryError::new(format!("invalid `where` of step {}: {e}", i + 1))),
        })
        .collect()
}

impl FunnelRequest {
    /// Reads the request for the saved `definition`.
    pub fn parse(
        params: &Params<'_>,
        definition: FunnelDefinition,
        options: &Options,
    ) -> Result<FunnelRequest, QueryError> {
        let selectors = selectors(&definition, options)?;
        let (from, to) = params.date_range()?;
        let tz = options.timezone;
        let unit = params.unit(&["day", "week", "month"], calendar::local_midnight_ms(from, chrono_tz::UTC))?;
        let length_unit = match params.text("length_unit") {
            None => definition.length_unit,
            Some(u) => LengthUnit::parse(u).ok_or_else(|| {
                QueryError::new(format!("`length_unit` must be one of day, hour, minute, second, got `{u}`"))
            })?,
        };
        let length = params.integer("length", u64::from(definition.length), 1, u64::from(u32::MAX))? as u32;
        sextant_model::funnel::check_window(length, length_unit).map_err(QueryError::new)?;
        let limit = params.integer("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)? as usize;
        let on = params.expression("on", Scope::Event, options)?.map(Arc::new);
        let filter = params.expression("where", Scope::Event, options)?.map(Arc::new);
        let (from_ms, to_ms) = calendar::date_range_ms(from, to, tz);
        let window_ms = i64::from(length) * length_unit.seconds() * 1000;
        Ok(FunnelRequest { definition, selectors, from_ms, to_ms, window_ms, unit, on, filter, limit, tz })
    }

    /// The store scan: every step's events from the start of the range to one window
    /// after its end; `on` keys for step-1 events.
    pub fn query(&self, project_id: ProjectId) -> BehaviourQuery {
        BehaviourQuery {
            project_id,
            from_ms: self.from_ms,
            to_ms: self.to_ms.saturating_add(self.window_ms),
            conditions: self
                .definition
                .steps
                .iter()
                .zip(&self.selectors)
                .map(|(s, w)| EventCondition::named(&s.event, w.clone()))
                .collect(),
            filter: self.filter.clone(),
            segment: self.on.clone(),
            segment_mask: 1,
        }
    }

    /// Local starts of the date buckets.
    fn bucket_starts_local(&self) -> Vec<i64> {
        let buckets = calendar::buckets(self.unit, self.tz, self.from_ms, self.to_ms);
        calendar::series(&buckets, self.from_ms, self.to_ms)
    }

    /// The kernel's parameters.
    pub fn kernel(&self) -> Funnel {
        Funnel {
            steps: self.definition.steps.len(),
            window_ms: self.window_ms,
            order: self.definition.order,
            from_ms: self.from_ms,
            to_ms: self.to_ms,
            bucket_starts: self
                .bucket_starts_local()
                .into_iter()
                .map(|local| calendar::local_to_utc(local, self.tz))
                .collect(),
        }
    }

    /// Runs the kernel on the scan and shapes the answer.
    pub fn answer(&self, rows: &BehaviourRows) -> FunnelAnswer {
        self.shape(&self.kernel().run(rows), &rows.segments)
    }

    /// Shapes kernel totals into the answer.
    pub fn shape(&self, totals: &FunnelTotals, segments: &[Vec<String>]) -> FunnelAnswer {
        let n = self.definition.steps.len();
        let dates: Vec<String> = self.bucket_starts_local().into_iter().map(|s| calendar::key(self.unit, s)).collect();
        let empty = || StepTotals { count: vec![0; n], from_previous_ms: vec![0; n], from_start_ms: vec![0; n] };
        let mut overall: Vec<StepTotals> = (0..dates.len()).map(|_| empty()).collect();
        let mut by_key: HashMap<&str, Vec<StepTotals>> = HashMap::new();
        for (&(bucket, set), t) in &totals.cells {
            let Some(cell) = overall.get_mut(bucket) else { continue };
            cell.add(t);
            if self.on.is_some() {
                for key in segments.get(set as usize).into_iter().flatten() {
                    let per_date = by_key.entry(key).or_insert_with(|| (0..dates.len()).map(|_| empty()).collect());
                    per_date[bucket].add(t);
                }
            }
        }
        let data = if self.on.is_none() {
            dates
                .iter()
                .zip(&overall)
                .map(|(d, t)| (d.clone(), DateValue::Steps { steps: self.steps(t), analysis: analysis(t) }))
                .collect()
        } else {
            let entries = by_key.iter().map(|(k, v)| (*k, v.iter().map(|t| t.count[0]).sum()));
            let ranked = crate::top_segments(entries, self.limit);
            dates
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    let mut segments = BTreeMap::new();
                    segments.insert("$overall".to_string(), self.steps(&overall[i]));
                    for key in &ranked {
                        segments.insert(key.to_string(), self.steps(&by_key[key][i]));
                    }
                    (d.clone(), DateValue::Segments(segments))
                })
                .collect()
        };
        FunnelAnswer { meta: Meta { dates }, data }
    }

    fn steps(&self, t: &StepTotals) -> Vec<Step> {
        let first = t.count[0];
        self.definition
            .steps
            .iter()
            .enumerate()
            .map(|(k, s)| {
                let count = t.count[k];
                let ratio = |num: u64, den: u64| if den == 0 { 0.0 } else { num as f64 / den as f64 };
                let mean =
                    |sum_ms: i64| (k > 0 && count > 0).then(|| (sum_ms as f64 / count as f64 / 1000.0).round() as i64);
                Step {
                    count,
                    avg_time: mean(t.from_previous_ms[k]),
                    avg_time_from_start: mean(t.from_start_ms[k]),
                    step_conv_ratio: if k == 0 { 1.0 } else { ratio(count, t.count[k - 1]) },
                    overall_conv_ratio: if k == 0 { 1.0 } else { ratio(count, first) },
                    goal: s.event.clone(),
                    event: s.event.clone(),
                    step_label: s.label.clone().unwrap_or_else(|| s.event.clone()),
                }
            })
            .collect()
    }
}

/// `completion`, `starting_amount`, `steps`, `worst`.
fn analysis(t: &StepTotals) -> Analysis {
    let n = t.count.len();
    let mut worst = 1;
    let mut worst_loss = -1.0;
    for k in 1..n {
        let before = t.count[k - 1];
        let loss = if before == 0 { 0.0 } else { 1.0 - t.count[k] as f64 / before as f64 };
        if loss > worst_loss {
            worst_loss = loss;
            worst = k;
        }
    }
    Analysis { completion: t.count[n - 1], starting_amount: t.count[0], steps: n, worst }
}

/// The answer of `/funnels`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FunnelAnswer {
    /// The date keys.
    pub meta: Meta,
    /// Per date key, the steps (or, with `on`, the steps per segment).
    pub data: BTreeMap<String, DateValue>,
}

/// `{"dates": [...]}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Meta {
    /// Every bucket's key, ascending.
    pub dates: Vec<String>,
}

/// One date's funnel.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum DateValue {
    /// Without `on`.
    Steps {
        /// The steps.
        steps: Vec<Step>,
        /// The summary.
        analysis: Analysis,
    },
    /// With `on`: `$overall` and each segment.
    Segments(BTreeMap<String, Vec<Step>>),
}

/// One step of a funnel answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Step {
    /// Users who reached it.
    pub count: u64,
    /// Mean whole seconds from the step before (`null` for the first step).
    pub avg_time: Option<i64>,
    /// Mean whole seconds from the first step (`null` for the first step).
    pub avg_time_from_start: Option<i64>,
    /// `count` over the step before's `count` (1 for the first step).
    pub step_conv_ratio: f64,
    /// `count` over the first step's `count` (1 for the first step).
    pub overall_conv_ratio: f64,
    /// The event name.
    pub goal: String,
    /// The event name.
    pub event: String,
    /// The step's label (its event name when it has none).
    pub step_label: String,
}

/// A funnel's summary.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Analysis {
    /// Users who reached the last step.
    pub completion: u64,
    /// Users who entered.
    pub starting_amount: u64,
    /// Number of steps.
    pub steps: usize,
    /// Index of the step with the largest share of users lost from the step before.
    pub worst: usize,
}

/// `GET /funnels/list`'s items.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ListedFunnel {
    /// The id.
    pub funnel_id: i64,
    /// The name.
    pub name: String,
}
