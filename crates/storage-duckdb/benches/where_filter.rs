//! `where` compiled to SQL against the same predicate written by hand, in one run.
//!
//! Builds `SEXTANT_BENCH_ROWS` events (default 10 million) in the cold-tier layout
//! (properties as VARIANT, checkpointed so DuckDB shreds them), then counts the events
//! matching `properties["plan"] == "pro" and properties["price"] > 50` both ways.
//! Target (issue 3): compiled within 1.2x of hand-written SQL.
//!
//! `cargo bench --workspace --bench where_filter`

use std::time::Instant;

use duckdb::Connection;
use sextant_expr::sql::{Columns, duckdb_predicate};
use sextant_expr::{Options, Program, Scope};

fn main() {
    let rows: u64 = std::env::var("SEXTANT_BENCH_ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000_000);
    let dir = tempfile::tempdir().unwrap();
    let conn = Connection::open(dir.path().join("bench.duckdb")).unwrap();
    let start = Instant::now();
    conn.execute_batch(&format!(
        "CREATE TABLE events AS SELECT i AS seq, 'E' || (i % 20) AS event, 1700000000000 + i * 1000 AS time_ms, \
           CAST(CAST(json_object('plan', (['free','pro','Pro','enterprise'])[1 + (i % 4)::INTEGER], \
                                 'price', (i * 37) % 100, 'browser', 'b' || (i % 7), \
                                 'utm_source', CASE WHEN i % 3 = 0 THEN 'google' END) AS JSON) AS VARIANT) AS properties \
         FROM range({rows}) t(i); CHECKPOINT;"
    ))
    .unwrap();
    println!("built {rows} events in {:.1} s\n", start.elapsed().as_secs_f64());

    let time = |sql: &str| -> (i64, f64) {
        let _: i64 = conn.query_row(sql, [], |r| r.get(0)).unwrap(); // warm
        let mut best = f64::MAX;
        let mut n = 0;
        for _ in 0..5 {
            let t = Instant::now();
            n = conn.query_row(sql, [], |r| r.get(0)).unwrap();
            best = best.min(t.elapsed().as_secs_f64());
        }
        (n, best)
    };
    let src = r#"properties["plan"] == "pro" and properties["price"] > 50"#;
    let compiled = |case_sensitive: bool| {
        let program = Program::parse(src, Scope::Event, Options { case_sensitive, ..Options::default() }).unwrap();
        format!("SELECT count(*) FROM events WHERE {}", duckdb_predicate(&program, &Columns::default()).unwrap())
    };
    let cases = [
        ("hand-written, exact case", "SELECT count(*) FROM events WHERE properties.plan::VARCHAR = 'pro' AND TRY_CAST(properties.price AS DOUBLE) > 50".to_string()),
        ("compiled, case-sensitive", compiled(true)),
        ("hand-written, any case", "SELECT count(*) FROM events WHERE lower(properties.plan::VARCHAR) = 'pro' AND TRY_CAST(properties.price AS DOUBLE) > 50".to_string()),
        ("compiled, case-insensitive (default)", compiled(false)),
    ];
    println!("compiled (case-sensitive): {}\n", cases[1].1);
    println!("| query | matches | best of 5 (s) | vs hand-written |");
    println!("|---|---:|---:|---:|");
    let mut baseline = 0.0;
    for (i, (name, sql)) in cases.iter().enumerate() {
        let (n, secs) = time(sql);
        if i % 2 == 0 {
            baseline = secs;
        }
        println!("| {name} | {n} | {secs:.3} | {:.2}x |", secs / baseline);
    }
}
