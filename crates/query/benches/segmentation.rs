//! Reports against hand-written DuckDB SQL on the same store, in one run.
//!
//! `cargo bench --workspace --bench segmentation -- [EVENTS] [DIR]` generates EVENTS
//! events (default 10 million; the figure is 100 million) with the repo's
//! deterministic generator over 30 days, compacts them, then times each report through
//! the report layer and the store (what the endpoint runs, less HTTP and JSON) and the
//! same question in plain SQL, best of three, and prints a table. With DIR, the store
//! is kept there and reused by later runs.

#[path = "../tests/support/generator.rs"]
mod generator;

use std::collections::BTreeMap;
use std::time::Instant;

use sextant_expr::Options;
use sextant_model::ProjectId;
use sextant_query::params::Params;
use sextant_query::segmentation::Segmentation;
use sextant_storage::{EventStore, ReportStore};
use sextant_storage_duckdb::{DuckDbStore, StoreOptions};

const FROM_MS: i64 = 1_704_409_200_000; // 2024-01-05T00:00+01:00 (Paris, no DST until March)
const DAYS: i64 = 30;
const DAY: i64 = 86_400_000;

fn request(query: &str) -> Segmentation {
    let pairs: BTreeMap<String, String> =
        query.split('&').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let params = Params::new(|n| pairs.get(n).map(String::as_str));
    let options = Options { timezone: "Europe/Paris".parse().unwrap(), ..Options::default() };
    Segmentation::parse(&params, &options).unwrap_or_else(|e| panic!("{query}: {e}"))
}

fn best_of_3(mut f: impl FnMut()) -> f64 {
    (0..3)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let n: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(10_000_000);
    let kept = args.get(1).map(std::path::PathBuf::from);
    let temp = tempfile::tempdir().unwrap();
    let dir = kept.clone().unwrap_or_else(|| temp.path().to_path_buf());
    let fresh = !dir.join("events.duckdb").exists();
    let store = DuckDbStore::open(&dir, &StoreOptions { memory_limit: "8GB".into() }).unwrap();
    if fresh {
        let t = Instant::now();
        let users = (n / 50).max(1000);
        let spec = generator::Spec {
            project: ProjectId(1),
            events: n,
            users,
            from_ms: FROM_MS,
            to_ms: FROM_MS + DAYS * DAY,
            seed: 42,
        };
        // Appended as generated, so memory holds one batch at a time.
        generator::generate(&spec, 50_000, |b| futures_lite(store.append(b)).unwrap());
        let appended = t.elapsed().as_secs_f64();
        store.compact_now().await.unwrap();
        println!(
            "generated and stored {n} events in {appended:.1} s, compacted in {:.1} s",
            t.elapsed().as_secs_f64() - appended
        );
    }
    let to = "from_date=2024-01-05&to_date=2024-02-03";
    let (f, t) = (FROM_MS, FROM_MS + DAYS * DAY);
    let rows = |filter: &str| {
        format!(
            "(SELECT DISTINCT distinct_id, time_ms, insert_id FROM events \
              WHERE project_id = 1 AND event = 'Play' AND time_ms >= {f} AND time_ms < {t}{filter})"
        )
    };
    let day = "(time_ms + 3600000) // 86400000";
    let cases: Vec<(&str, String, String)> = vec![
        (
            "/segmentation, 30 days by day",
            format!("event=Play&{to}"),
            format!("SELECT {day} AS d, count(*) FROM {} GROUP BY d", rows("")),
        ),
        (
            "/segmentation on a string property",
            format!("event=Play&{to}&on=properties[\"plan\"]"),
            // Each tier read apart: through the `events` view (a UNION ALL) DuckDB reads the
            // whole VARIANT column to extract one field (measured: 9.5 s instead of 0.4 s).
            format!(
                "SELECT {day} AS d, p, count(*) FROM (SELECT DISTINCT distinct_id, time_ms, insert_id, p FROM (\
                 SELECT distinct_id, time_ms, insert_id, properties.plan::VARCHAR AS p FROM events_cold \
                 WHERE project_id = 1 AND event = 'Play' AND time_ms >= {f} AND time_ms < {t} \
                 UNION ALL SELECT distinct_id, time_ms, insert_id, (properties::VARIANT).plan::VARCHAR FROM events_hot \
                 WHERE project_id = 1 AND event = 'Play' AND time_ms >= {f} AND time_ms < {t}) WHERE p IS NOT NULL) \
                 GROUP BY d, p"
            ),
        ),
        (
            "/segmentation type=unique",
            format!("event=Play&{to}&type=unique"),
            format!(
                "SELECT {day} AS d, count(DISTINCT distinct_id) FROM events WHERE project_id = 1 AND event = 'Play' \
                 AND time_ms >= {f} AND time_ms < {t} GROUP BY d"
            ),
        ),
        (
            "/segmentation where a number",
            format!("event=Play&{to}&where=properties[\"amount\"] > 50"),
            format!("SELECT {day} AS d, count(*) FROM {} GROUP BY d", rows(" AND properties.amount::DOUBLE > 50")),
        ),
    ];
    println!("\n| query | report (s) | hand-written SQL (s) | ratio |\n|---|---|---|---|");
    for (name, q, sql) in cases {
        let r = request(&q);
        let report = best_of_3(|| {
            let q = r.query(ProjectId(1));
            let counts = futures_lite(store.segment(q)).unwrap();
            std::hint::black_box(r.answer(&counts));
        });
        let hand = best_of_3(|| {
            let sql = sql.clone();
            let rows = futures_lite(store_sql(&store, sql));
            std::hint::black_box(rows);
        });
        println!("| {name} | {report:.3} | {hand:.3} | {:.2} |", report / hand);
    }
    store.close().await.unwrap();
}

/// Runs a future to completion from inside the benchmark's synchronous timing closure.
fn futures_lite<F: std::future::Future>(f: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f))
}

/// Runs plain SQL on the store's database, returning the row count.
async fn store_sql(store: &DuckDbStore, sql: String) -> usize {
    store
        .with_connection(move |conn| {
            let mut stmt = conn.prepare(&sql).unwrap();
            let mut rows = stmt.query([]).unwrap();
            let mut n = 0;
            while rows.next().unwrap().is_some() {
                n += 1;
            }
            Ok(n)
        })
        .await
        .unwrap()
}
