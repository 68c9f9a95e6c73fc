//! Stages the store computes instead of the engine: `Events(...).groupBy(["name"], r)`
//! where every reducer is `count()` or `sum("properties.X")` becomes one segmentation
//! query ([`ReportStore::segment`], the store call `/segmentation` makes), and no event
//! is read into JavaScript. Its rows, shaped as the stage would have shaped them, go to
//! the script's remaining stages.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use sextant_expr::{Program, Scope as ExprScope};
use sextant_storage::{BucketUnit, Measure, SegmentQuery};

use crate::read::Scope;
use crate::sandbox::Sandbox;
use crate::source::EventFilter;
use crate::{JqlError, Stores};

/// The groupBy the library found it could hand over (`nativeGroupBy` in the prelude).
#[derive(Debug, Deserialize)]
pub(crate) struct NativeGroupBy {
    reducers: Vec<NativeReducer>,
    single: bool,
}

/// A built-in reducer the store computes.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum NativeReducer {
    /// `mixpanel.reducer.count()`.
    Count,
    /// `mixpanel.reducer.sum("properties.<property>")`.
    Sum { property: String },
}

/// Answers the groupBy from the store and sends its rows on, or says `false` when this
/// read cannot be answered so (selectors checked per event, a workspace that hides
/// properties, sums of two properties): the engine then runs it.
pub(crate) fn group_by_name(
    sandbox: &Sandbox,
    stores: &Stores,
    scope: &Scope,
    filter: &EventFilter,
    group: &NativeGroupBy,
) -> Result<bool, JqlError> {
    if filter.exact.is_some() || !scope.view.hidden_properties.is_empty() {
        return Ok(false);
    }
    let mut summed = group.reducers.iter().filter_map(|r| match r {
        NativeReducer::Sum { property } => Some(property.as_str()),
        NativeReducer::Count => None,
    });
    let sum = match summed.next() {
        None => None,
        Some(first) if summed.all(|p| p == first) => {
            let text = format!("properties[{}]", serde_json::to_string(first).unwrap_or_default());
            match Program::parse(&text, ExprScope::Event, scope.options.clone()) {
                Ok(program) => Some(Arc::new(program)),
                Err(_) => return Ok(false),
            }
        }
        Some(_) => return Ok(false),
    };
    let mut names = filter.names.clone();
    sextant_query::workspace::narrow_events(scope.view, &mut names);
    sandbox.skip_first_stage()?;
    if names.as_ref().is_some_and(Vec::is_empty) {
        return Ok(true); // nothing the reader may see was asked for
    }
    let query = SegmentQuery {
        project_id: scope.project,
        events: names.unwrap_or_default(),
        from_ms: filter.from_ms,
        to_ms: filter.to_ms,
        buckets: sextant_query::calendar::buckets(
            BucketUnit::Day,
            scope.options.timezone,
            filter.from_ms,
            filter.to_ms,
        ),
        filter: filter.pushed.clone(),
        on: None,
        measure: Measure::Events,
        sum,
        top: None,
    };
    let counts = scope.runtime.block_on(stores.reports.segment(query))?;
    sandbox.stop.checkpoint()?;
    let mut by_name: BTreeMap<String, (u64, f64)> = BTreeMap::new();
    for c in counts {
        let total = by_name.entry(c.event).or_default();
        total.0 += c.events;
        total.1 += c.sum;
    }
    // The engine orders keys as JavaScript compares strings: by UTF-16 code unit.
    let mut rows: Vec<(String, (u64, f64))> = by_name.into_iter().collect();
    rows.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
    let rows: Vec<serde_json::Value> = rows
        .into_iter()
        .map(|(name, (events, sum))| {
            let values: Vec<serde_json::Value> = group
                .reducers
                .iter()
                .map(|r| match r {
                    NativeReducer::Count => serde_json::Value::from(events),
                    NativeReducer::Sum { .. } => js_number(sum),
                })
                .collect();
            let value = if group.single { values.into_iter().next().unwrap_or_default() } else { values.into() };
            serde_json::json!({"key": [name], "value": value})
        })
        .collect();
    if !rows.is_empty() {
        let text = serde_json::to_string(&rows).map_err(|e| JqlError::Engine(e.to_string()))?;
        sandbox.push(&text, 0, false)?;
    }
    Ok(true)
}

/// A number as JavaScript prints it: whole numbers without a fraction.
fn js_number(x: f64) -> serde_json::Value {
    if x.fract() == 0.0 && x.abs() < 9_007_199_254_740_992.0 {
        serde_json::Value::from(x as i64)
    } else {
        serde_json::Value::from(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_as_javascript_prints_them() {
        assert_eq!(js_number(110.0).to_string(), "110");
        assert_eq!(js_number(27.5).to_string(), "27.5");
        assert_eq!(js_number(-3.0).to_string(), "-3");
    }
}
