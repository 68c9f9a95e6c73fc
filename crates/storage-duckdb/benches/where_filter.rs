//! `where` compiled to SQL against the same predicate written by hand, in one run.
//!
//! Builds `SEXTANT_BENCH_ROWS` events (default 10 million) in the cold-tier layout
//! (properties as VARIANT, checkpointed so DuckDB shreds them), then counts the events
//! matching `properties["plan"] == "pro" and properties["price"] > 50` both ways.
//! Target (issue 3): compiled within 1.2x of hand-written SQL.
//!
//! Then a `let` whose value is read four times (so the compiler binds it once, see
//! `sextant_expr::sql`'s `bindings`) against the same expression with the value written
//! out at each use, which the compiler copies.
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
    let compiled_src = |src: &str, case_sensitive: bool| {
        let program = Program::parse(src, Scope::Event, Options { case_sensitive, ..Options::default() }).unwrap();
        format!("SELECT count(*) FROM events WHERE {}", duckdb_predicate(&program, &Columns::default()).unwrap())
    };
    let compiled = |case_sensitive: bool| compiled_src(src, case_sensitive);
    let value = r#"lower(string(properties["plan"]) + "/" + string(properties["browser"]))"#;
    let uses = |v: &str| format!(r#"{v} == "pro/b1" or {v} == "free/b2" or has_prefix({v}, "ent") or {v} == "x""#);
    let written_out = compiled_src(&uses(value), true);
    let bound = compiled_src(&format!("let(v, {value}, {})", uses("v")), true);
    let cases = [
        ("hand-written, exact case", "SELECT count(*) FROM events WHERE properties.plan::VARCHAR = 'pro' AND TRY_CAST(properties.price AS DOUBLE) > 50".to_string()),
        ("compiled, case-sensitive", compiled(true)),
        ("hand-written, any case", "SELECT count(*) FROM events WHERE lower(properties.plan::VARCHAR) = 'pro' AND TRY_CAST(properties.price AS DOUBLE) > 50".to_string()),
        ("compiled, case-insensitive (default)", compiled(false)),
        ("a value written out at each of 4 uses (copied)", written_out),
        ("the same value bound once with `let`", bound),
    ];
    println!("compiled (case-sensitive): {}\n", cases[1].1);
    println!("copied: {} bytes of SQL; bound: {} bytes\n", cases[4].1.len(), cases[5].1.len());
    println!("| query | matches | best of 5 (s) | vs the first of its pair |");
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
