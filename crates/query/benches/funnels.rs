//! Funnels, retention and addiction through the store and the forward-pass kernels,
//! against the join formulation of the same question in DuckDB SQL and, when asked,
//! ClickHouse (`windowFunnel`, and the same joins) on the same events, in one run.
//!
//! `cargo bench --workspace --bench funnels -- [EVENTS] [DIR]` generates EVENTS events
//! (default 10 million; the figure is 100 million) with the repo's generator
//! over 30 days, or reuses the store in DIR (the segmentation benchmark's stores are
//! the same data). It prints, per funnel, the end-to-end report time (scan + kernel +
//! answer), the scan alone, the kernel alone and its rate, best of three, then the
//! references. Set `SEXTANT_BENCH_CLICKHOUSE=1` to load the events into a local
//! ClickHouse server (table `sextant_bench.events`, ordered by user and time) and time
//! the same questions there.

#[path = "../tests/support/generator.rs"]
mod generator;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Instant;

use sextant_expr::Options;
use sextant_model::{FunnelDefinition, FunnelOrder, FunnelStep, LengthUnit, ProjectId};
use sextant_query::funnels::FunnelRequest;
use sextant_query::params::Params;
use sextant_query::retention::{AddictionRequest, RetentionRequest};
use sextant_storage::{EventStore, ReportStore};
use sextant_storage_duckdb::{DuckDbStore, StoreOptions};

const FROM_MS: i64 = 1_704_409_200_000; // 2024-01-05T00:00+01:00 (Paris, no DST until March)
const DAYS: i64 = 30;
const DAY: i64 = 86_400_000;

fn definition(events: &[&str]) -> FunnelDefinition {
    FunnelDefinition {
        steps: events.iter().map(|e| FunnelStep { event: e.to_string(), selector: None, label: None }).collect(),
        length: 1,
        length_unit: LengthUnit::Day,
        order: FunnelOrder::Ordered,
    }
}

fn request(definition: &FunnelDefinition) -> FunnelRequest {
    request_with(definition, &[])
}

fn request_with(definition: &FunnelDefinition, extra: &[(&'static str, &'static str)]) -> FunnelRequest {
    let mut pairs: BTreeMap<&str, &str> = [("from_date", "2024-01-05"), ("to_date", "2024-02-03")].into();
    pairs.extend(extra.iter().copied());
    let params = Params::new(|n| pairs.get(n).copied());
    let options = Options { timezone: "Europe/Paris".parse().unwrap(), ..Options::default() };
    FunnelRequest::parse(&params, definition.clone(), &options).unwrap()
}

/// The hand-written SQL's time, or NaN when `SEXTANT_BENCH_SKIP_SQL=1` (while iterating
/// on the kernel: the joins take minutes at 100M events).
fn sql_best_of_3(store: &DuckDbStore, sql: &str) -> (f64, usize) {
    if std::env::var("SEXTANT_BENCH_SKIP_SQL").is_ok_and(|v| v == "1") {
        return (f64::NAN, 0);
    }
    best_of_3(|| block_on(store_sql(store, sql.to_string())))
}

fn best_of_3<T>(mut f: impl FnMut() -> T) -> (f64, T) {
    let mut best = f64::INFINITY;
    let mut out = None;
    for _ in 0..3 {
        let t = Instant::now();
        let v = f();
        best = best.min(t.elapsed().as_secs_f64());
        out = Some(v);
    }
    (best, out.unwrap())
}

/// The self-join formulation: per user and day, the first step-1 event, then for each
/// later step the first matching event after the one before and within a day of entry.
fn self_join_sql(events: &[&str]) -> String {
    let to = FROM_MS + DAYS * DAY;
    let mut sql = format!(
        "WITH ev AS (SELECT event, distinct_id AS u, time_ms AS t FROM events
                     WHERE project_id = 1 AND time_ms >= {FROM_MS} AND time_ms < {to} + {DAY}),
         s0 AS (SELECT u, (t + 3600000) // {DAY} AS d, min(t) AS t0, min(t) AS tp FROM ev
                WHERE event = '{}' AND t < {to} GROUP BY u, d)",
        events[0]
    );
    for (k, e) in events.iter().enumerate().skip(1) {
        sql.push_str(&format!(
            ", s{k} AS (SELECT s.u, s.d, s.t0, min(x.t) AS tp FROM s{} s JOIN ev x ON x.u = s.u AND x.event = '{e}'
                        AND x.t >= s.tp AND x.t <= s.t0 + {DAY} GROUP BY s.u, s.d, s.t0)",
            k - 1
        ));
    }
    let counts: Vec<String> = (0..events.len()).map(|k| format!("SELECT {k} AS k, count(*) AS n FROM s{k}")).collect();
    sql.push_str(&format!(" {}", counts.join(" UNION ALL ")));
    sql
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let n: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(10_000_000);
    let kept = args.get(1).map(std::path::PathBuf::from);
    let temp = tempfile::tempdir().unwrap();
    let dir = kept.clone().unwrap_or_else(|| temp.path().to_path_buf());
    let fresh = !dir.join("events.duckdb").exists();
    let opened = Instant::now();
    let store =
        DuckDbStore::open(&dir, &StoreOptions { memory_limit: "12GB".into(), ..StoreOptions::default() }).unwrap();
    // Long only the first time a store from before some migration opens (say, the list
    // of property names that have held null, filled from every event).
    println!("store opened in {:.1} s", opened.elapsed().as_secs_f64());
    if fresh {
        let t = Instant::now();
        let spec = generator::Spec {
            project: ProjectId(1),
            events: n,
            users: (n / 50).max(1000),
            from_ms: FROM_MS,
            to_ms: FROM_MS + DAYS * DAY,
            seed: 42,
        };
        if n > 20_000_000 {
            generate_in_sql(&store, &spec).await;
        } else {
            generator::generate(&spec, 50_000, |b| block_on(store.append(b)).unwrap());
            store.compact_now().await.unwrap();
        }
        println!("generated and stored {n} events in {:.1} s", t.elapsed().as_secs_f64());
    }
    // A settled store: everything written is checkpointed, as on a server that has been up.
    let total: i64 = store
        .with_connection(|c| {
            c.execute_batch("CHECKPOINT").unwrap();
            Ok(c.query_row("SELECT count(*) FROM events", [], |r| r.get(0)).unwrap())
        })
        .await
        .unwrap();
    println!("{total} events in the store");
    // The day timelines the compactor keeps (built here when the store is new to them).
    let t = Instant::now();
    let built = store.build_timelines().await.unwrap();
    println!("day timelines: {built} days built in {:.1} s\n", t.elapsed().as_secs_f64());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;

    let three = ["Page View", "Play", "Search"];
    let six = ["Page View", "Play", "Search", "Add to Cart", "Sign Up", "Purchase"];
    let clickhouse = std::env::var("SEXTANT_BENCH_CLICKHOUSE").is_ok_and(|v| v == "1");
    if clickhouse {
        load_clickhouse(&store).await;
    }
    println!(
        "| report | report (s) | scan (s) | kernel (s) | kernel rate (M events/s per core, all cores) | DuckDB SQL, joins (s) | ClickHouse (s) |"
    );
    println!("|---|---|---|---|---|---|---|");
    for steps in [&three[..], &six[..]] {
        let r = request(&definition(steps));
        let q = r.query(ProjectId(1));
        let (report, answer) = best_of_3(|| {
            let rows = block_on(store.behaviour(r.query(ProjectId(1)))).unwrap();
            r.answer(&rows)
        });
        let (scan, rows) = best_of_3(|| block_on(store.behaviour(q.clone())).unwrap());
        let kernel_params = r.kernel();
        let (kernel, _) = best_of_3(|| kernel_params.run(&rows));
        let first = answer.data.values().next().map(|v| serde_json::to_string(v).unwrap()).unwrap_or_default();
        let sql = self_join_sql(steps);
        let (join, _) = sql_best_of_3(&store, &sql);
        let ch = if clickhouse { clickhouse_funnel(steps).map(|s| format!("{s:.3}")) } else { None };
        println!(
            "| {}-step funnel, 30 days, 1-day window | {report:.3} | {scan:.3} | {kernel:.3} | {:.0} | {join:.3} | {} (windowFunnel) |",
            steps.len(),
            rows.len() as f64 / kernel / cores / 1e6,
            ch.unwrap_or_else(|| "not run".into())
        );
        eprintln!("  ({} events scanned; first day: {:.300})", rows.len(), first);
    }

    // Segmented by a property: the steps' rows come from DuckDB (the timelines hold no
    // properties), each with its segment key. Compared with nothing: no other system here
    // answers Mixpanel's `on`, and the joins above take minutes.
    let r = request_with(&definition(&three), &[("on", "properties[\"plan\"]")]);
    let (report, _) = best_of_3(|| r.answer(&block_on(store.behaviour(r.query(ProjectId(1)))).unwrap()));
    let (scan, rows) = best_of_3(|| block_on(store.behaviour(r.query(ProjectId(1)))).unwrap());
    let kernel_params = r.kernel();
    let (kernel, _) = best_of_3(|| kernel_params.run(&rows));
    println!(
        "| 3-step funnel, on a string property | {report:.3} | {scan:.3} | {kernel:.3} | {:.0} | not run | not run |",
        rows.len() as f64 / kernel / cores / 1e6,
    );

    // Birth retention: Sign Up cohorts by day over the 30 days, Play on each later day.
    let to = FROM_MS + DAYS * DAY;
    let pairs: BTreeMap<&str, &str> = [
        ("from_date", "2024-01-05"),
        ("to_date", "2024-02-03"),
        ("born_event", "Sign Up"),
        ("event", "Play"),
        ("unit", "day"),
        ("interval_count", "29"),
    ]
    .into();
    let options = Options { timezone: "Europe/Paris".parse().unwrap(), ..Options::default() };
    let r = RetentionRequest::parse(&Params::new(|n| pairs.get(n).copied()), &options).unwrap();
    let (report, _) = best_of_3(|| r.answer(&block_on(store.behaviour(r.query(ProjectId(1)))).unwrap()));
    let (scan, rows) = best_of_3(|| block_on(store.behaviour(r.query(ProjectId(1)))).unwrap());
    let kernel_params = r.kernel();
    let (kernel, _) = best_of_3(|| kernel_params.run(&rows));
    let sql = format!(
        "WITH ev AS (SELECT event, distinct_id AS u, time_ms AS t FROM events
                     WHERE project_id = 1 AND event IN ('Sign Up', 'Play') AND time_ms < {horizon}),
         born AS (SELECT u, min(t) AS b FROM ev WHERE event = 'Sign Up' GROUP BY u),
         cohort AS (SELECT u, b, (b + 3600000) // {DAY} AS d FROM born WHERE b >= {FROM_MS} AND b < {to}),
         back AS (SELECT DISTINCT c.u, c.d, (x.t + 3600000) // {DAY} - c.d AS k FROM cohort c JOIN ev x
                  ON x.u = c.u AND x.event = 'Play' AND x.t >= c.b AND x.t >= {FROM_MS})
         SELECT d, k, count(*) FROM back WHERE k <= 29 GROUP BY d, k",
        horizon = to + 30 * DAY
    );
    let (join, _) = sql_best_of_3(&store, &sql);
    let ch = if clickhouse { clickhouse_retention().map(|s| format!("{s:.3}")) } else { None };
    println!(
        "| birth retention, 30 days by day | {report:.3} | {scan:.3} | {kernel:.3} | {:.0} | {join:.3} | {} (join) |",
        rows.len() as f64 / kernel / cores / 1e6,
        ch.unwrap_or_else(|| "not run".into())
    );

    // Addiction: distinct hours of Play per user and day.
    let pairs: BTreeMap<&str, &str> = [
        ("from_date", "2024-01-05"),
        ("to_date", "2024-02-03"),
        ("event", "Play"),
        ("unit", "day"),
        ("addiction_unit", "hour"),
    ]
    .into();
    let a = AddictionRequest::parse(&Params::new(|n| pairs.get(n).copied()), &options).unwrap();
    let (report, _) = best_of_3(|| a.answer(&block_on(store.behaviour(a.query(ProjectId(1)))).unwrap()));
    let (scan, rows) = best_of_3(|| block_on(store.behaviour(a.query(ProjectId(1)))).unwrap());
    let (kernel, _) = best_of_3(|| a.answer(&rows));
    let sql = format!(
        "SELECT d, n, count(*) FROM (SELECT distinct_id, (time_ms + 3600000) // {DAY} AS d,
                count(DISTINCT (time_ms + 3600000) // 3600000) AS n FROM events
         WHERE project_id = 1 AND event = 'Play' AND time_ms >= {FROM_MS} AND time_ms < {to} GROUP BY ALL) GROUP BY ALL"
    );
    let (join, _) = sql_best_of_3(&store, &sql);
    let ch = if clickhouse { clickhouse_addiction().map(|s| format!("{s:.3}")) } else { None };
    println!(
        "| addiction, hours per day | {report:.3} | {scan:.3} | {kernel:.3} | {:.0} | {join:.3} (group by) | {} (group by) |",
        rows.len() as f64 / kernel / cores / 1e6,
        ch.unwrap_or_else(|| "not run".into())
    );
    store.close().await.unwrap();
}

/// The generator's shape written by DuckDB itself, for sizes where building JSON in Rust
/// and ingesting it would take an hour: the same event names with the same Zipf weights,
/// Zipf users, uniform times over the range, 1% retried copies (same `$insert_id`), and
/// two properties (`plan`, `amount`) instead of 20 to 50. Rows go straight to the query
/// tier with the hashes the compactor would add.
async fn generate_in_sql(store: &DuckDbStore, spec: &generator::Spec) {
    let names: Vec<String> = generator::EVENTS.iter().map(|e| format!("'{e}'")).collect();
    let plans: Vec<String> = generator::PLANS.iter().map(|p| format!("'{p}'")).collect();
    let (n, users, from, span) = (spec.events, spec.users, spec.from_ms, spec.to_ms - spec.from_ms);
    let chunk = 10_000_000u64;
    for start in (0..n).step_by(chunk as usize) {
        let end = (start + chunk).min(n);
        // A uniform number in [0, 1) from row i and a salt, the same for a row's copy.
        let u = |salt: u32| format!("((hash(i, {salt}) % 1000000007) / 1000000007.0)");
        let sql = format!(
            "INSERT INTO events_cold (project_id, event, time_ms, distinct_id, insert_id, seq, properties, user_hash, copy_hash)
             SELECT 1, event, time_ms, distinct_id, insert_id, i + copy * {n}, properties,
                    hash(distinct_id), hash(insert_id)
             FROM (
               SELECT i, copy,
                      ([{names}])[1 + least(floor(pow(12, {e}) - 1), 11)::INTEGER] AS event,
                      {from} + floor({t} * {span})::BIGINT AS time_ms,
                      'user' || least(floor(pow({users}, {w}) - 1), {users} - 1)::BIGINT AS distinct_id,
                      'i' || i AS insert_id,
                      CAST({{'plan': ([{plans}])[1 + least(floor(pow(4, {p}) - 1), 3)::INTEGER],
                             'amount': floor({a} * 10000) / 100}} AS VARIANT) AS properties
               FROM range({start}, {end}) r(i), (SELECT unnest([0, 1]) AS copy) c
               WHERE copy = 0 OR i % 100 = 0)",
            names = names.join(", "),
            plans = plans.join(", "),
            e = u(1),
            t = u(2),
            w = u(3),
            p = u(4),
            a = u(5),
        );
        store
            .with_connection(move |c| {
                c.execute_batch(&sql).unwrap();
                Ok(())
            })
            .await
            .unwrap();
    }
    // Rows written straight to the cold tier: flag the older copies as a move would.
    store
        .with_connection(|c| {
            sextant_storage_duckdb::copies::flag_moved(&c, 0, i64::MAX).unwrap();
            c.execute_batch("CHECKPOINT").unwrap();
            Ok(())
        })
        .await
        .unwrap();
}

/// Runs a future to completion from inside the benchmark's synchronous closures.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
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

fn clickhouse(query: &str) -> Option<String> {
    let out = Command::new("clickhouse-client").args(["--query", query]).output().ok()?;
    if !out.status.success() {
        eprintln!("clickhouse-client: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Copies the store's events to ClickHouse (once), ordered by user and time.
async fn load_clickhouse(store: &DuckDbStore) {
    let have: u64 =
        clickhouse("SELECT count() FROM sextant_bench.events").and_then(|s| s.trim().parse().ok()).unwrap_or(0);
    let total: u64 = store
        .with_connection(|c| Ok(c.query_row("SELECT count(*) FROM events", [], |r| r.get::<_, i64>(0)).unwrap()))
        .await
        .unwrap() as u64;
    if have == total {
        return;
    }
    let t = Instant::now();
    clickhouse("CREATE DATABASE IF NOT EXISTS sextant_bench");
    clickhouse("DROP TABLE IF EXISTS sextant_bench.events");
    clickhouse(
        "CREATE TABLE sextant_bench.events (user String, time DateTime, time_ms Int64, event String) \
         ENGINE = MergeTree ORDER BY (user, time)",
    );
    let tsv = std::env::temp_dir().join("sextant-bench-events.tsv");
    let path = tsv.display().to_string();
    store
        .with_connection(move |c| {
            c.execute_batch(&format!(
                "COPY (SELECT distinct_id, time_ms // 1000, time_ms, event FROM events) TO '{path}' (DELIMITER '\t', HEADER false)"
            ))
            .unwrap();
            Ok(())
        })
        .await
        .unwrap();
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "clickhouse-client --query 'INSERT INTO sextant_bench.events FORMAT TabSeparated' < {}",
            tsv.display()
        ))
        .status()
        .unwrap();
    let _ = std::fs::remove_file(&tsv);
    assert!(status.success(), "loading ClickHouse failed");
    clickhouse("OPTIMIZE TABLE sextant_bench.events FINAL");
    eprintln!("loaded {total} events into ClickHouse in {:.1} s", t.elapsed().as_secs_f64());
}

/// `windowFunnel` over the same range with a one-day window, best of three.
fn clickhouse_funnel(steps: &[&str]) -> Option<f64> {
    let to = FROM_MS + DAYS * DAY;
    let conditions: Vec<String> = steps.iter().map(|e| format!("event = '{e}'")).collect();
    let names: Vec<String> = steps.iter().map(|e| format!("'{e}'")).collect();
    let query = format!(
        "SELECT level, count() FROM (SELECT user, windowFunnel(86400)(time, {}) AS level FROM sextant_bench.events \
         WHERE time_ms >= {FROM_MS} AND time_ms < {to} + {DAY} AND event IN ({}) GROUP BY user) GROUP BY level",
        conditions.join(", "),
        names.join(", ")
    );
    clickhouse_best_of_3(&query)
}

fn clickhouse_best_of_3(query: &str) -> Option<f64> {
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let t = Instant::now();
        clickhouse(query)?;
        best = best.min(t.elapsed().as_secs_f64());
    }
    Some(best)
}

/// The retention question in ClickHouse: each user's first Sign Up, joined to their
/// Plays.
fn clickhouse_retention() -> Option<f64> {
    let to = FROM_MS + DAYS * DAY;
    clickhouse_best_of_3(&format!(
        "SELECT d, k, uniqExact(user) FROM (
           SELECT user, b, intDiv(b + 3600000, {DAY}) AS d FROM (
             SELECT user, min(time_ms) AS b FROM sextant_bench.events WHERE event = 'Sign Up' GROUP BY user)
           WHERE b >= {FROM_MS} AND b < {to})
         ALL INNER JOIN (SELECT user, time_ms FROM sextant_bench.events
                         WHERE event = 'Play' AND time_ms >= {FROM_MS} AND time_ms < {horizon}) USING user
         WHERE time_ms >= b
         GROUP BY d, intDiv(time_ms + 3600000, {DAY}) - d AS k HAVING k <= 29",
        horizon = to + 30 * DAY
    ))
}

/// The addiction question in ClickHouse.
fn clickhouse_addiction() -> Option<f64> {
    let to = FROM_MS + DAYS * DAY;
    clickhouse_best_of_3(&format!(
        "SELECT d, n, count() FROM (
           SELECT user, intDiv(time_ms + 3600000, {DAY}) AS d, uniqExact(intDiv(time_ms + 3600000, 3600000)) AS n
           FROM sextant_bench.events WHERE event = 'Play' AND time_ms >= {FROM_MS} AND time_ms < {to}
           GROUP BY user, d)
         GROUP BY d, n"
    ))
}
