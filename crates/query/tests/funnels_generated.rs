//! A second, independent check of funnels: a generated dataset of 300,000 events (some
//! still in the append tier, most compacted), computed through the report layer, the
//! store and the forward-pass kernel, against answers computed here with plain SQL
//! (self-joins: slow, but plainly right) straight on the DuckDB file.
//!
//! The steps are different events, so "each step is the first matching event after
//! the step before, within the window from the first step-1 event of the day" is, in
//! SQL, a chain of `min(t)` joins. The range (January, Paris) has no DST change, so the
//! SQL uses a fixed +01:00 offset: an independent path from the report's time handling.

#[path = "support/generator.rs"]
mod generator;

use std::collections::BTreeMap;

use sextant_expr::Options;
use sextant_model::{FunnelDefinition, FunnelOrder, FunnelStep, LengthUnit, ProjectId};
use sextant_query::funnels::{DateValue, FunnelRequest, Step};
use sextant_query::params::Params;
use sextant_storage::{EventStore, ReportStore};
use sextant_storage_duckdb::{DuckDbStore, StoreOptions};

const FROM_MS: i64 = 1_704_409_200_000; // 2024-01-05T00:00+01:00
const TO_MS: i64 = 1_707_087_600_000; // 2024-02-05T00:00+01:00
const DAY: i64 = 86_400_000;

/// (date, segment, step) → (count, summed ms from the step before, summed ms from step 0).
type Table = BTreeMap<(String, String, i64), (i64, i64, i64)>;

fn step(event: &str, selector: Option<&str>) -> FunnelStep {
    FunnelStep { event: event.into(), selector: selector.map(str::to_string), label: None }
}

fn request(definition: &FunnelDefinition, query: &str) -> FunnelRequest {
    let pairs: BTreeMap<String, String> =
        query.split('&').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let params = Params::new(|n| pairs.get(n).map(String::as_str));
    let options = Options { timezone: "Europe/Paris".parse().unwrap(), ..Options::default() };
    FunnelRequest::parse(&params, definition.clone(), &options).unwrap_or_else(|e| panic!("{query}: {e}"))
}

/// The answer's counts, with each mean time turned back into a sum (mean × count),
/// which the SQL side rounds the same way.
fn as_table(answer: &sextant_query::funnels::FunnelAnswer) -> BTreeMap<(String, String, i64), (i64, i64, i64)> {
    let mut out = BTreeMap::new();
    let mut add = |date: &str, segment: &str, steps: &[Step]| {
        for (k, s) in steps.iter().enumerate() {
            if s.count > 0 {
                let key = (date.to_string(), segment.to_string(), k as i64);
                out.insert(key, (s.count as i64, s.avg_time.unwrap_or(0), s.avg_time_from_start.unwrap_or(0)));
            }
        }
    };
    for (date, value) in &answer.data {
        match value {
            DateValue::Steps { steps, .. } => add(date, "$overall", steps),
            DateValue::Segments(segments) => {
                for (segment, steps) in segments {
                    add(date, segment, steps);
                }
            }
        }
    }
    out
}

fn sql_table(conn: &duckdb::Connection, sql: &str) -> Table {
    let mut out = Table::new();
    let mut stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut rows = stmt.query([]).unwrap();
    while let Some(r) = rows.next().unwrap() {
        let count: i64 = r.get(3).unwrap();
        let mean = |sum: f64| if count == 0 { 0 } else { (sum / count as f64 / 1000.0).round() as i64 };
        out.insert(
            (r.get(0).unwrap(), r.get(1).unwrap(), r.get(2).unwrap()),
            (count, mean(r.get(4).unwrap()), mean(r.get(5).unwrap())),
        );
    }
    out
}

/// The self-join formulation of a three-step funnel: entries per (bucket, segment),
/// then the first step-2 event in the window after the entry, then the first step-3
/// event after that and still in the window.
fn funnel_sql(steps: [(&str, &str); 3], window_ms: i64, bucket: &str, segment: &str) -> String {
    let [(a, wa), (b, wb), (c, wc)] = steps;
    format!(
        "WITH ev AS (
           SELECT DISTINCT event, distinct_id AS u, time_ms AS t, insert_id, CAST(properties AS JSON) AS j
           FROM events WHERE project_id = 1 AND time_ms >= {FROM_MS} AND time_ms < {TO_MS} + {window_ms}),
         e0 AS (
           SELECT u, strftime({bucket}, '%Y-%m-%d') AS d, min(t) AS t0, arg_min_null({segment}, t) AS seg
           FROM ev WHERE event = '{a}' AND {wa} AND t < {TO_MS} GROUP BY u, d),
         e1 AS (
           SELECT e0.u, e0.d, e0.seg, e0.t0, min(x.t) AS t1 FROM e0 JOIN ev x
             ON x.u = e0.u AND x.event = '{b}' AND {wb} AND x.t >= e0.t0 AND x.t <= e0.t0 + {window_ms}
           GROUP BY ALL),
         e2 AS (
           SELECT e1.u, e1.d, e1.seg, e1.t0, e1.t1, min(x.t) AS t2 FROM e1 JOIN ev x
             ON x.u = e1.u AND x.event = '{c}' AND {wc} AND x.t >= e1.t1 AND x.t <= e1.t0 + {window_ms}
           GROUP BY ALL),
         steps AS (
           SELECT d, seg, 0 AS k, 0 AS prev, 0 AS start FROM e0
           UNION ALL SELECT d, seg, 1, t1 - t0, t1 - t0 FROM e1
           UNION ALL SELECT d, seg, 2, t2 - t1, t2 - t0 FROM e2)
         SELECT d, '$overall', k::BIGINT, count(*), sum(prev)::DOUBLE, sum(start)::DOUBLE FROM steps GROUP BY d, k
         UNION ALL
         SELECT d, seg, k::BIGINT, count(*), sum(prev)::DOUBLE, sum(start)::DOUBLE FROM steps
         WHERE seg IS NOT NULL GROUP BY d, seg, k"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn funnels_match_self_join_sql_on_a_generated_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        DuckDbStore::open(dir.path(), &StoreOptions { memory_limit: "1GB".into(), ..StoreOptions::default() }).unwrap();
    let mut batches = Vec::new();
    let spec = generator::Spec {
        project: ProjectId(1),
        events: 300_000,
        users: 20_000,
        from_ms: FROM_MS - DAY,
        to_ms: TO_MS + DAY,
        seed: 11,
    };
    generator::generate(&spec, 20_000, |b| batches.push(b));
    for (i, b) in batches.into_iter().enumerate() {
        store.append(b).await.unwrap();
        if i == 10 {
            store.compact_now().await.unwrap();
        }
    }

    let daily = FunnelDefinition {
        steps: vec![step("Page View", None), step("Play", None), step("Search", None)],
        length: 1,
        length_unit: LengthUnit::Day,
        order: FunnelOrder::Ordered,
    };
    let selective = FunnelDefinition {
        steps: vec![step("Play", None), step("Search", Some("properties[\"amount\"] > 50")), step("Add to Cart", None)],
        length: 2,
        length_unit: LengthUnit::Hour,
        order: FunnelOrder::Ordered,
    };
    let range = "from_date=2024-01-05&to_date=2024-02-04";
    let cases = [
        (&daily, range.to_string()),
        (&selective, format!("{range}&unit=week&on=properties[\"plan\"]")),
        (&selective, format!("{range}&length=30&length_unit=minute")),
    ];
    let mut answers = Vec::new();
    for (definition, q) in &cases {
        let r = request(definition, q);
        let rows = store.behaviour(r.query(ProjectId(1))).await.unwrap();
        answers.push(as_table(&r.answer(&rows)));
    }
    store.close().await.unwrap();

    let conn = duckdb::Connection::open(dir.path().join("events.duckdb")).unwrap();
    let day = "make_timestamp((t + 3600000) * 1000)";
    let week = "date_trunc('week', make_timestamp((t + 3600000) * 1000))";
    let amount = "(x.j->>'amount')::DOUBLE > 50";
    let expected = [
        funnel_sql([("Page View", "TRUE"), ("Play", "TRUE"), ("Search", "TRUE")], DAY, day, "CAST(NULL AS VARCHAR)"),
        funnel_sql([("Play", "TRUE"), ("Search", amount), ("Add to Cart", "TRUE")], 2 * 3_600_000, week, "j->>'plan'"),
        funnel_sql(
            [("Play", "TRUE"), ("Search", amount), ("Add to Cart", "TRUE")],
            30 * 60_000,
            day,
            "CAST(NULL AS VARCHAR)",
        ),
    ];
    for (i, (got, sql)) in answers.iter().zip(expected).enumerate() {
        let want = sql_table(&conn, &sql);
        let last_steps = want.keys().filter(|k| k.2 == 2).count();
        assert!(last_steps > 0, "case {i}: the dataset should have users completing the funnel");
        assert_eq!(got.len(), want.len(), "case {i}: the same cells");
        for (key, w) in &want {
            let g = got.get(key).unwrap_or_else(|| panic!("case {i}: {key:?} missing"));
            assert_eq!(g.0, w.0, "case {i}: count of {key:?}");
            // Means are rounded from sums computed apart: allow one second at a .5 tie.
            assert!((g.1 - w.1).abs() <= 1 && (g.2 - w.2).abs() <= 1, "case {i}: times of {key:?}: {g:?} vs {w:?}");
        }
    }
}
