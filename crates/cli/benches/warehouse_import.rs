//! A PostgreSQL warehouse import (issue "Data out and in on schedules"): an
//! `event_stream` import of a table of ROWS rows, against reading the same rows out of
//! PostgreSQL alone in the same run.
//!
//! Run: `cargo bench --bench warehouse_import` (optionally `-- ROWS`, default 2,000,000;
//! the figure is 10,000,000).
//!
//! 1. a throwaway PostgreSQL cluster (Debian's `postgresql`), a table of ROWS rows made
//!    by `generate_series`: an id, an event name, a time over yesterday, one of 20,000
//!    users, an amount, a plan and a load time;
//! 2. reference: `COPY (SELECT row_to_json(t)::text, loaded_at::text FROM sales t ORDER
//!    BY loaded_at) TO '/dev/null'`, the query the import runs, read by PostgreSQL alone;
//! 3. the import (`time_based` on the load time, every column a property), from its
//!    creation until its `history` shows the run `SUCCEEDED` (polled every 100 ms).
//!
//! Prints rows per second for each and the verdict against the 100,000 rows/s.
//! The exit code is 0 whatever the verdict.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sextant_metadata::testsupport::Cluster;

#[path = "../tests/common/mod.rs"]
mod common;

const CONFIG: &str = "warehouse_poll_seconds = 1\n[rate_limits.default.ingestion]\nbytes_per_minute = 0\n";

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let rows: i64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(2_000_000);
    let pg = Cluster::start();
    let yesterday_s = (common::now_ms() / 1000 / 86_400 - 1) * 86_400;
    let t = Instant::now();
    pg.execute(&format!(
        "CREATE TABLE sales AS SELECT i AS id, CASE WHEN i % 3 = 0 THEN 'Refund' ELSE 'Sale' END AS kind, \
         to_timestamp({yesterday_s} + (i * 86399 / {rows})) AS at, 'u' || (i % 20000) AS user_id, \
         (i % 1000) * 1.25::float8 AS amount, CASE WHEN i % 2 = 0 THEN 'pro' ELSE 'free' END AS plan, \
         to_timestamp(1700000000 + i) AS loaded_at FROM generate_series(1::bigint, {rows}) AS i; \
         CREATE INDEX ON sales (loaded_at); ANALYZE sales;"
    ));
    eprintln!("made {rows} rows in {:.1} s", t.elapsed().as_secs_f64());

    let t = Instant::now();
    pg.execute(
        "COPY (SELECT row_to_json(t)::text, (t.loaded_at)::text FROM sales AS t ORDER BY t.loaded_at) TO '/dev/null'",
    );
    let read_s = t.elapsed().as_secs_f64();

    let tmp = tempfile::tempdir().unwrap();
    let s = common::TestServer::start_in_with(tmp.path(), CONFIG);
    let base = format!("/api/app/projects/{}/warehouse-sources", s.creds.project_id);
    let source = json!({"name": "dw", "type": "postgres", "url": pg.url()});
    let (status, source) =
        common::send(s.http.post(s.url(&base)).basic_auth(&s.creds.secret, Some("")).json(&source)).await;
    assert_eq!(status, 201, "{source}");
    let import = json!({
        "import_type": "event_stream", "warehouse_source_id": source["results"]["id"],
        "table_params": {"table_name": "sales"}, "event_column_name": "kind", "time_column_name": "at",
        "user_column_name": "user_id", "insert_time_column_name": "loaded_at", "sync_mode": "time_based", "run_every": 0,
    });
    let t = Instant::now();
    let url = s.url(&format!("{base}/imports/event-stream"));
    let (status, made) = common::send(s.http.post(url).basic_auth(&s.creds.secret, Some("")).json(&import)).await;
    assert_eq!(status, 200, "{made}");
    let history = s.url(&format!("{base}/imports/{}/history", made["results"]["id"]));
    let run: Value = loop {
        let (_, body) = common::send(s.http.get(&history).basic_auth(&s.creds.secret, Some(""))).await;
        let run = body["results"]["runs"][0].clone();
        if ["SUCCEEDED", "FAILED"].contains(&run["status"].as_str().unwrap_or("")) {
            break run;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let import_s = t.elapsed().as_secs_f64();
    assert_eq!(run["status"], "SUCCEEDED", "{run}");
    let imported = run["num_events_imported"].as_i64().unwrap_or(0);

    println!("| what | rows | seconds | rows/s |");
    println!("|---|---:|---:|---:|");
    println!(
        "| PostgreSQL alone: the import's query, read to /dev/null (reference) | {rows} | {read_s:.2} | {:.0} |",
        rows as f64 / read_s
    );
    println!(
        "| event_stream import, time_based, created to SUCCEEDED | {imported} | {import_s:.2} | {:.0} |",
        imported as f64 / import_s
    );
    println!();
    let rate = imported as f64 / import_s;
    println!(
        "Import: {rate:.0} rows/s against the issue's 100,000: {}",
        if rate >= 100_000.0 { "met" } else { "NOT met" }
    );
}
