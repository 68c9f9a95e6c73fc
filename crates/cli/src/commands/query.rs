//! `sextant query segmentation|funnels|retention|events|engage|jql`: the Query API's
//! reports from any server, over the client, as a table on a terminal, JSON with
//! `--json` (the answer as the API gives it), or CSV with `--csv`.
//!
//! Each report's answer becomes rows: segmentation and events a row per segment with a
//! column per date; funnels a row per date and step; retention a row per cohort date
//! with a column per interval; engage a row per profile with a column per property;
//! JQL a row per element (objects spread into columns).

use std::collections::BTreeSet;
use std::io::Read;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use futures::TryStreamExt;
use serde_json::{Map, Value};
use sextant_client::api::query::{EngageParams, FunnelParams, JqlForm, RetentionParams, SegmentationParams};

use super::remote::{RemoteArgs, explain};

#[derive(Subcommand)]
pub(crate) enum QueryCommand {
    /// An event's counts per time bucket, optionally split by an expression.
    Segmentation {
        /// The event.
        #[arg(long)]
        event: String,
        #[command(flatten)]
        range: Range,
        /// An expression to split by (`properties["$browser"]`).
        #[arg(long)]
        on: Option<String>,
        /// `minute`, `hour`, `day`, `week` or `month`.
        #[arg(long)]
        unit: Option<String>,
        /// `general` (events), `unique` (users) or `average`.
        #[arg(long = "type")]
        kind: Option<String>,
        /// Segments returned, the largest first.
        #[arg(long)]
        limit: Option<u32>,
        #[command(flatten)]
        common: Common,
    },
    /// A saved funnel's conversion per date and step.
    Funnels {
        /// The saved funnel.
        #[arg(long)]
        funnel_id: i64,
        #[command(flatten)]
        range: Range,
        /// `day`, `week` or `month` buckets.
        #[arg(long)]
        unit: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Birth retention (or compounded with --retention-type compounded).
    Retention {
        #[command(flatten)]
        range: Range,
        /// The event that puts a user in a cohort.
        #[arg(long)]
        born_event: Option<String>,
        /// The return event (any event when absent).
        #[arg(long)]
        event: Option<String>,
        /// `birth` or `compounded`.
        #[arg(long)]
        retention_type: Option<String>,
        /// `day`, `week` or `month`.
        #[arg(long)]
        unit: Option<String>,
        /// Intervals after the 0th.
        #[arg(long)]
        interval_count: Option<u32>,
        #[command(flatten)]
        common: Common,
    },
    /// Several events' counts per time bucket (`/api/query/events`).
    Events {
        /// The events (repeat for several).
        #[arg(long = "event", required = true)]
        events: Vec<String>,
        #[command(flatten)]
        range: Range,
        /// `general`, `unique` or `average`.
        #[arg(long = "type", default_value = "general")]
        kind: String,
        /// `minute`, `hour`, `day`, `week` or `month`.
        #[arg(long, default_value = "day")]
        unit: String,
        #[command(flatten)]
        common: Common,
    },
    /// Profiles matching an expression, every page.
    Engage {
        /// An expression over `properties[...]`.
        #[arg(long = "where")]
        where_: Option<String>,
        /// One user.
        #[arg(long)]
        distinct_id: Option<String>,
        /// The properties to show (repeat; default: all).
        #[arg(long = "property")]
        properties: Vec<String>,
        /// A group key: its group profiles instead of users.
        #[arg(long)]
        data_group_id: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Runs a JQL script from a file (or `-`).
    Jql {
        /// The script's file, or `-` for standard input.
        script: String,
        /// A JSON object the script reads as `params`.
        #[arg(long)]
        params: Option<String>,
        #[command(flatten)]
        common: Common,
    },
}

/// The date range a report covers, in the project's timezone.
#[derive(Args)]
pub(crate) struct Range {
    /// First day, yyyy-mm-dd.
    #[arg(long)]
    from: String,
    /// Last day (inclusive), yyyy-mm-dd.
    #[arg(long)]
    to: String,
    /// An expression the events must satisfy.
    #[arg(long = "where")]
    where_: Option<String>,
}

/// What every report takes: the output style and the server.
#[derive(Args)]
pub(crate) struct Common {
    /// Print the answer as the API gives it (JSON).
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    /// Print the table as CSV.
    #[arg(long)]
    csv: bool,
    #[command(flatten)]
    remote: RemoteArgs,
}

/// Rows to print: a header and cells.
#[derive(Debug, Default, PartialEq)]
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

pub(crate) async fn run(command: QueryCommand) -> Result<()> {
    let (answer, common, shape): (Value, Common, fn(&Value) -> Table) = match command {
        QueryCommand::Segmentation { event, range, on, unit, kind, limit, common } => {
            let params = SegmentationParams {
                event,
                from_date: range.from,
                to_date: range.to,
                where_: range.where_,
                on,
                unit,
                type_: kind,
                limit,
                ..SegmentationParams::default()
            };
            let client = common.remote.client()?;
            (client.query().segmentation(&params).await.map_err(explain)?, common, series_table)
        }
        QueryCommand::Funnels { funnel_id, range, unit, common } => {
            let params = FunnelParams {
                funnel_id,
                from_date: range.from,
                to_date: range.to,
                where_: range.where_,
                unit,
                ..FunnelParams::default()
            };
            let client = common.remote.client()?;
            (client.query().funnels(&params).await.map_err(explain)?, common, funnel_table)
        }
        QueryCommand::Retention { range, born_event, event, retention_type, unit, interval_count, common } => {
            let params = RetentionParams {
                from_date: range.from,
                to_date: range.to,
                where_: range.where_,
                born_event,
                event,
                retention_type,
                unit,
                interval_count,
                ..RetentionParams::default()
            };
            let client = common.remote.client()?;
            (client.query().retention(&params).await.map_err(explain)?, common, retention_table)
        }
        QueryCommand::Events { events, range, kind, unit, common } => {
            let names = serde_json::to_string(&events)?;
            let mut params = vec![
                ("event", names.as_str()),
                ("type", &kind),
                ("unit", &unit),
                ("from_date", &range.from),
                ("to_date", &range.to),
            ];
            if let Some(w) = &range.where_ {
                params.push(("where", w));
            }
            let client = common.remote.client()?;
            (client.query().report("/api/query/events", &params).await.map_err(explain)?, common, series_table)
        }
        QueryCommand::Engage { where_, distinct_id, properties, data_group_id, common } => {
            let params = EngageParams {
                where_,
                distinct_id,
                data_group_id,
                output_properties: (!properties.is_empty()).then(|| serde_json::to_string(&properties)).transpose()?,
                ..EngageParams::default()
            };
            let client = common.remote.client()?;
            let profiles: Vec<_> = client.query().engage_all(params).try_collect().await.map_err(explain)?;
            (serde_json::to_value(profiles)?, common, engage_table)
        }
        QueryCommand::Jql { script, params, common } => {
            let script = if script == "-" {
                let mut text = String::new();
                std::io::stdin().read_to_string(&mut text)?;
                text
            } else {
                std::fs::read_to_string(&script).with_context(|| format!("cannot read {script}"))?
            };
            let form = JqlForm { script, params, project_id: None };
            let client = common.remote.client()?;
            (Value::Array(client.query().jql(&form).await.map_err(explain)?), common, list_table)
        }
    };
    if common.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(());
    }
    let table = shape(&answer);
    if common.csv {
        let mut out = csv::Writer::from_writer(std::io::stdout().lock());
        out.write_record(&table.header)?;
        for row in &table.rows {
            out.write_record(row)?;
        }
        out.flush()?;
    } else {
        let mut printed = comfy_table::Table::new();
        printed.load_style(comfy_table::presets::UTF8_FULL_CONDENSED).set_header(&table.header);
        for row in &table.rows {
            printed.add_row(row);
        }
        println!("{printed}");
    }
    Ok(())
}

/// A cell: strings as they are, anything else as JSON, nothing as empty.
fn cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// `{"data": {"series": [dates], "values": {segment: {date: n}}}}`: a row per segment.
fn series_table(answer: &Value) -> Table {
    let dates: Vec<String> = answer["data"]["series"].as_array().into_iter().flatten().map(|d| cell(Some(d))).collect();
    let empty = Map::new();
    let values = answer["data"]["values"].as_object().unwrap_or(&empty);
    let header = std::iter::once("segment".to_string()).chain(dates.iter().cloned()).collect();
    let rows = values
        .iter()
        .map(|(segment, by_date)| {
            std::iter::once(segment.clone()).chain(dates.iter().map(|d| cell(by_date.get(d)))).collect()
        })
        .collect();
    Table { header, rows }
}

/// `{"meta": {"dates"}, "data": {date: {"steps": [...]}}}`: a row per date and step
/// (the overall funnel when it is segmented).
fn funnel_table(answer: &Value) -> Table {
    let header = ["date", "step", "event", "count", "step conversion", "overall conversion"].map(String::from).to_vec();
    let mut rows = Vec::new();
    for date in answer["meta"]["dates"].as_array().into_iter().flatten() {
        let date = cell(Some(date));
        let day = &answer["data"][&date];
        let steps = if day["steps"].is_array() { &day["steps"] } else { &day["$overall"] };
        for (i, step) in steps.as_array().into_iter().flatten().enumerate() {
            let ratio = |key: &str| step[key].as_f64().map(|r| format!("{:.1}%", r * 100.0)).unwrap_or_default();
            rows.push(vec![
                date.clone(),
                (i + 1).to_string(),
                cell(step.get("event").or(step.get("goal"))),
                cell(step.get("count")),
                ratio("step_conv_ratio"),
                ratio("overall_conv_ratio"),
            ]);
        }
    }
    Table { header, rows }
}

/// `{date: {"counts": [...], "first": n}}`: a row per cohort date.
fn retention_table(answer: &Value) -> Table {
    let empty = Map::new();
    let cohorts = answer.as_object().unwrap_or(&empty);
    let width = cohorts.values().filter_map(|c| c["counts"].as_array().map(Vec::len)).max().unwrap_or(0);
    let header =
        ["date", "first"].map(String::from).into_iter().chain((0..width).map(|i| format!("interval {i}"))).collect();
    let rows = cohorts
        .iter()
        .map(|(date, c)| {
            let counts = c["counts"].as_array();
            [date.clone(), cell(c.get("first"))]
                .into_iter()
                .chain((0..width).map(|i| cell(counts.and_then(|a| a.get(i)))))
                .collect()
        })
        .collect();
    Table { header, rows }
}

/// Profiles: `$distinct_id`, then a column per property any of them has.
fn engage_table(answer: &Value) -> Table {
    let profiles = answer.as_array().map(Vec::as_slice).unwrap_or_default();
    let names: BTreeSet<&String> =
        profiles.iter().filter_map(|p| p["$properties"].as_object()).flat_map(|m| m.keys()).collect();
    let header = std::iter::once("$distinct_id".to_string()).chain(names.iter().map(|n| n.to_string())).collect();
    let rows = profiles
        .iter()
        .map(|p| {
            std::iter::once(cell(p.get("$distinct_id")))
                .chain(names.iter().map(|n| cell(p["$properties"].get(n.as_str()))))
                .collect()
        })
        .collect();
    Table { header, rows }
}

/// JQL's elements: objects spread into a column per key, anything else one column.
fn list_table(answer: &Value) -> Table {
    let items = answer.as_array().map(Vec::as_slice).unwrap_or_default();
    if !items.is_empty() && items.iter().all(Value::is_object) {
        let keys: BTreeSet<&String> = items.iter().filter_map(Value::as_object).flat_map(|m| m.keys()).collect();
        let header = keys.iter().map(|k| k.to_string()).collect();
        let rows = items.iter().map(|item| keys.iter().map(|k| cell(item.get(k.as_str()))).collect()).collect();
        return Table { header, rows };
    }
    Table { header: vec!["value".into()], rows: items.iter().map(|v| vec![cell(Some(v))]).collect() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn answers_become_rows() {
        let seg = json!({"data": {"series": ["2024-01-01", "2024-01-02"], "values": {"Chrome": {"2024-01-01": 3, "2024-01-02": 0}}}});
        let t = series_table(&seg);
        assert_eq!(t.header, ["segment", "2024-01-01", "2024-01-02"]);
        assert_eq!(t.rows, [["Chrome", "3", "0"]]);
        let funnel = json!({"meta": {"dates": ["2024-01-01"]}, "data": {"2024-01-01": {"steps": [
            {"event": "View", "count": 10, "step_conv_ratio": 1.0, "overall_conv_ratio": 1.0},
            {"event": "Buy", "count": 4, "step_conv_ratio": 0.4, "overall_conv_ratio": 0.4}]}}});
        assert_eq!(funnel_table(&funnel).rows[1], ["2024-01-01", "2", "Buy", "4", "40.0%", "40.0%"]);
        let retention =
            json!({"2024-01-01": {"counts": [5, 2], "first": 5}, "2024-01-02": {"counts": [1], "first": 1}});
        let t = retention_table(&retention);
        assert_eq!(t.header, ["date", "first", "interval 0", "interval 1"]);
        assert_eq!(t.rows[1], ["2024-01-02", "1", "1", ""]);
        let profiles = json!([{"$distinct_id": "u1", "$properties": {"plan": "pro"}}, {"$distinct_id": "u2", "$properties": {"n": 2}}]);
        let t = engage_table(&profiles);
        assert_eq!(t.header, ["$distinct_id", "n", "plan"]);
        assert_eq!(t.rows, [["u1", "", "pro"], ["u2", "2", ""]]);
        assert_eq!(list_table(&json!([{"k": "a", "v": 1}])).rows, [["a", "1"]]);
        assert_eq!(list_table(&json!([3])).rows, [["3"]]);
    }
}
