//! Reports against hand-written DuckDB SQL on the same store, in one run.
//!
//! `cargo bench --workspace --bench segmentation -- [EVENTS] [DIR]` generates EVENTS
//! events (default 10 million; the figure is 100 million) with the repo's
//! deterministic generator over 30 days (beyond 10 million, the generated 10 million
//! repeated under other ids: see [`replicate`]), compacts them, then times each report
//! through the report layer and the store (what the endpoint runs, less HTTP and JSON)
//! and the same question in plain SQL, best of three, and prints a table; the report's
//! first run is shown apart, as it also learns the properties' kinds
//! (`sextant_storage_duckdb::kinds`). With DIR, the store is kept there and reused by
//! later runs.

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
/// Events the generator writes through ingestion; larger stores repeat them (see [`replicate`]).
const BASE_EVENTS: u64 = 10_000_000;

fn request(query: &str) -> Segmentation {
    let pairs: BTreeMap<String, String> =
        query.split('&').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let params = Params::new(|n| pairs.get(n).map(String::as_str));
    let options = Options { timezone: "Europe/Paris".parse().unwrap(), ..Options::default() };
    Segmentation::parse(&params, &options).unwrap_or_else(|e| panic!("{query}: {e}"))
}

/// The first of three runs and the best.
fn first_and_best_of_3(mut f: impl FnMut()) -> (f64, f64) {
    let times: Vec<f64> = (0..3)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    (times[0], times.iter().copied().fold(f64::INFINITY, f64::min))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let n: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(10_000_000);
    let kept = args.get(1).map(std::path::PathBuf::from);
    let temp = tempfile::tempdir().unwrap();
    let dir = kept.clone().unwrap_or_else(|| temp.path().to_path_buf());
    let t = Instant::now();
    let store = DuckDbStore::open(&dir, &StoreOptions { memory_limit: "8GB".into() }).unwrap();
    println!("store opened in {:.1} s", t.elapsed().as_secs_f64());
    let base = n.min(BASE_EVENTS);
    if stored(&store).await == 0 {
        let t = Instant::now();
        let spec = generator::Spec {
            project: ProjectId(1),
            events: base,
            users: (base / 50).max(1000),
            from_ms: FROM_MS,
            to_ms: FROM_MS + DAYS * DAY,
            seed: 42,
        };
        // Appended as generated, so memory holds one batch at a time.
        generator::generate(&spec, 50_000, |b| futures_lite(store.append(b)).unwrap());
        let appended = t.elapsed().as_secs_f64();
        store.compact_now().await.unwrap();
        println!(
            "generated and stored {base} events in {appended:.1} s, compacted in {:.1} s",
            t.elapsed().as_secs_f64() - appended
        );
    }
    if stored(&store).await < n {
        let t = Instant::now();
        let replicas = n.div_ceil(base);
        replicate(&store, replicas).await;
        println!(
            "{} events: the generator's {base}, {replicas} times over with disjoint user and insert ids, in {:.1} s",
            stored(&store).await,
            t.elapsed().as_secs_f64()
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
    println!("\n| query | report (s) | hand-written SQL (s) | ratio | report, first run (s) |\n|---|---|---|---|---|");
    for (name, q, sql) in cases {
        let r = request(&q);
        let (first, report) = first_and_best_of_3(|| {
            let q = r.query(ProjectId(1));
            let counts = futures_lite(store.segment(q)).unwrap();
            std::hint::black_box(r.answer(&counts));
        });
        let (_, hand) = first_and_best_of_3(|| {
            let sql = sql.clone();
            let rows = futures_lite(store_sql(&store, sql));
            std::hint::black_box(rows);
        });
        println!("| {name} | {report:.3} | {hand:.3} | {:.2} | {first:.3} |", report / hand);
    }
    store.close().await.unwrap();
}

/// Events in the store.
async fn stored(store: &DuckDbStore) -> u64 {
    store
        .with_connection(|c| Ok(c.query_row("SELECT count(*) FROM events", [], |r| r.get::<_, i64>(0)).unwrap()))
        .await
        .unwrap() as u64
}

/// Makes the store `replicas` times its generated events: each copy of them under other
/// user and insert ids (a suffix), with later sequence numbers, straight into the cold
/// tier. Generating and ingesting 100 million events through the JSON path takes over an
/// hour and twice the disk of the result on this machine; copying the stored VARIANT
/// values takes minutes, and keeps the generator's mix, user activity and properties.
async fn replicate(store: &DuckDbStore, replicas: u64) {
    store
        .with_connection(move |c| {
            let last: i64 = c.query_row("SELECT max(seq) FROM events_cold", [], |r| r.get(0)).unwrap();
            for k in 1..replicas {
                c.execute_batch(&format!(
                    "INSERT INTO events_cold (project_id, event, time_ms, distinct_id, insert_id, seq, properties,
                                              user_hash, copy_hash, superseded)
                     SELECT project_id, event, time_ms, distinct_id || '~{k}', insert_id || '~{k}', seq + {k} * {last},
                            properties, hash(distinct_id || '~{k}'), hash(insert_id || '~{k}'), superseded
                     FROM events_cold WHERE seq <= {last};
                     CHECKPOINT;"
                ))
                .unwrap();
            }
            Ok(())
        })
        .await
        .unwrap();
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
