//! A second, independent check of the reports: a generated dataset of 300,000 events
//! (some still in the append tier, most compacted), asked through the report layer and
//! the store, against answers computed here with plain SQL written for this test,
//! straight on the DuckDB file.
//!
//! The range (2024-01-05 to 2024-02-04, Paris) has no DST change, so the SQL can use a
//! fixed +01:00 offset: an independent path from the report's timezone handling.

#[path = "support/generator.rs"]
mod generator;

use std::collections::BTreeMap;

use sextant_expr::Options;
use sextant_model::ProjectId;
use sextant_query::params::Params;
use sextant_query::segmentation::Segmentation;
use sextant_storage::{EventStore, ReportStore};
use sextant_storage_duckdb::{DuckDbStore, StoreOptions};

const FROM_MS: i64 = 1_704_409_200_000; // 2024-01-05T00:00+01:00
const TO_MS: i64 = 1_707_087_600_000; // 2024-02-05T00:00+01:00
const DAY: i64 = 86_400_000;

type Table = BTreeMap<String, BTreeMap<String, f64>>;

fn options() -> Options {
    Options { timezone: "Europe/Paris".parse().unwrap(), ..Options::default() }
}

fn request(query: &str) -> Segmentation {
    let pairs: BTreeMap<String, String> = form_urlencoded(query);
    let params = Params::new(|n| pairs.get(n).map(String::as_str));
    Segmentation::parse(&params, &options()).unwrap_or_else(|e| panic!("{query}: {e}"))
}

fn form_urlencoded(q: &str) -> BTreeMap<String, String> {
    q.split('&').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), v.replace("%20", " "))).collect()
}

fn as_table(answer: &sextant_query::segmentation::Answer) -> Table {
    answer
        .data
        .values
        .iter()
        .map(|(seg, row)| {
            (
                seg.clone(),
                row.iter()
                    .filter(|(_, v)| v.as_f64() != Some(0.0))
                    .map(|(d, v)| (d.clone(), v.as_f64().unwrap()))
                    .collect(),
            )
        })
        .collect()
}

fn sql_table(conn: &duckdb::Connection, sql: &str) -> Table {
    let mut out = Table::new();
    let mut stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut rows = stmt.query([]).unwrap();
    while let Some(r) = rows.next().unwrap() {
        let seg: String = r.get(0).unwrap();
        let day: String = r.get(1).unwrap();
        let v: f64 = r.get(2).unwrap();
        if v != 0.0 {
            out.entry(seg).or_default().insert(day, v);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_match_plain_sql_on_a_generated_dataset() {
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
        seed: 7,
    };
    generator::generate(&spec, 20_000, |b| batches.push(b));
    for (i, b) in batches.into_iter().enumerate() {
        store.append(b).await.unwrap();
        if i == 10 {
            store.compact_now().await.unwrap();
        }
    }

    let base = "event=Play&from_date=2024-01-05&to_date=2024-02-04";
    let cases: Vec<(&str, String)> = vec![
        ("general by day", base.to_string()),
        ("unique by day", format!("{base}&type=unique")),
        ("average by day", format!("{base}&type=average")),
        ("on a string", format!("{base}&on=properties[\"plan\"]")),
        ("on a number, top 5", format!("{base}&on=properties[\"items\"]&limit=5")),
        (
            "where, unique by week",
            format!("{base}&type=unique&unit=week&where=properties[\"amount\"] > 50 and properties[\"premium\"]"),
        ),
    ];
    let mut answers = Vec::new();
    for (name, q) in &cases {
        let r = request(q);
        let counts = store.segment(r.query(ProjectId(1))).await.unwrap();
        answers.push((name, as_table(&r.answer(&counts))));
    }
    store.close().await.unwrap();

    let conn = duckdb::Connection::open(dir.path().join("events.duckdb")).unwrap();
    let rows = format!(
        "(SELECT DISTINCT event, distinct_id, time_ms, insert_id, CAST(properties AS JSON) AS j,
                 strftime(make_timestamp((time_ms + 3600000) * 1000), '%Y-%m-%d') AS day,
                 strftime(date_trunc('week', make_timestamp((time_ms + 3600000) * 1000)), '%Y-%m-%d') AS week
          FROM events WHERE project_id = 1 AND event = 'Play' AND time_ms >= {FROM_MS} AND time_ms < {TO_MS})"
    );
    let expected = [
        format!("SELECT 'Play', day, count(*)::DOUBLE FROM {rows} GROUP BY day"),
        format!("SELECT 'Play', day, count(DISTINCT distinct_id)::DOUBLE FROM {rows} GROUP BY day"),
        format!("SELECT 'Play', day, count(*) / count(DISTINCT distinct_id) FROM {rows} GROUP BY day"),
        format!("SELECT j->>'plan', day, count(*)::DOUBLE FROM {rows} WHERE j->>'plan' IS NOT NULL GROUP BY ALL"),
        format!(
            "SELECT j->>'items', day, count(*)::DOUBLE FROM {rows} WHERE j->>'items' IN
               (SELECT j->>'items' FROM {rows} GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 5) GROUP BY ALL"
        ),
        format!(
            "SELECT 'Play', week, count(DISTINCT distinct_id)::DOUBLE FROM {rows}
             WHERE (j->>'amount')::DOUBLE > 50 AND (j->>'premium')::BOOLEAN GROUP BY week"
        ),
    ];
    let mut total = 0.0;
    for ((name, got), sql) in answers.iter().zip(expected) {
        let want = sql_table(&conn, &sql);
        assert!(!want.is_empty(), "{name}: the dataset should give answers");
        for (seg, row) in &want {
            for (day, v) in row {
                let g = got.get(seg).and_then(|r| r.get(day)).copied().unwrap_or(0.0);
                assert!((g - v).abs() < 1e-9, "{name}: {seg} {day}: report {g}, SQL {v}");
            }
        }
        assert_eq!(got.len(), want.len(), "{name}: segments");
        for (seg, row) in got {
            assert_eq!(row.len(), want[seg].len(), "{name}: {seg}: buckets");
        }
        total += want.values().flat_map(|r| r.values()).sum::<f64>();
    }
    assert!(total > 10_000.0, "the checks covered too little: {total}");
}
