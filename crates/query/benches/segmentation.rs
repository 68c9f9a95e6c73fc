//! Reports against hand-written DuckDB SQL on the same store, in one run.
//!
//! `cargo bench --workspace --bench segmentation -- [EVENTS] [DIR]` generates EVENTS
//! events (default 10 million; the issue's figure is 100 million) with the repo's
//! deterministic generator over 30 days (beyond 10 million, the generated 10 million
//! repeated under other ids: see `stores::replicate`), compacts them, then times each report
//! through the report layer and the store (what the endpoint runs, less HTTP and JSON)
//! and the same question in plain SQL, best of three, and prints a table; the report's
//! first run is shown apart, as it also learns the properties' kinds
//! (`sextant_storage_duckdb::kinds`). With DIR, the store is kept there and reused by
//! later runs.

#[path = "../tests/support/generator.rs"]
mod generator;
#[path = "support/stores.rs"]
mod stores;

use std::collections::BTreeMap;
use std::time::Instant;

use stores::{fill, first_and_best};

use sextant_expr::Options;
use sextant_model::ProjectId;
use sextant_query::params::Params;
use sextant_query::segmentation::{Segmentation, ValueReport};
use sextant_storage::{EventStore, ReportStore};
use sextant_storage_duckdb::{DuckDbStore, StoreOptions};

const FROM_MS: i64 = 1_704_409_200_000; // 2024-01-05T00:00+01:00 (Paris, no DST until March)
const DAYS: i64 = 30;
const DAY: i64 = 86_400_000;

/// A report run: the store query and the answer's assembly, as the endpoint runs them.
type Report<'a> = Box<dyn Fn() + 'a>;

fn pairs(query: &str) -> BTreeMap<String, String> {
    query.split('&').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Parameters that live as long as the benchmark (leaked: a handful of small maps).
fn params(query: &str) -> Params<'static> {
    let pairs: &'static BTreeMap<String, String> = Box::leak(Box::new(pairs(query)));
    Params::new(move |n| pairs.get(n).map(String::as_str))
}

fn request(query: &str) -> Segmentation {
    let options = Options { timezone: "Europe/Paris".parse().unwrap(), ..Options::default() };
    Segmentation::parse(&params(query), &options).unwrap_or_else(|e| panic!("{query}: {e}"))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let n: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(10_000_000);
    let kept = args.get(1).map(std::path::PathBuf::from);
    let temp = tempfile::tempdir().unwrap();
    let dir = kept.clone().unwrap_or_else(|| temp.path().to_path_buf());
    let t = Instant::now();
    let store =
        DuckDbStore::open(&dir, &StoreOptions { memory_limit: "8GB".into(), ..StoreOptions::default() }).unwrap();
    println!("store opened in {:.1} s", t.elapsed().as_secs_f64());
    fill(&store, n, FROM_MS, FROM_MS + DAYS * DAY).await;
    let to = "from_date=2024-01-05&to_date=2024-02-03";
    let (f, t) = (FROM_MS, FROM_MS + DAYS * DAY);
    let rows = |filter: &str| {
        format!(
            "(SELECT DISTINCT distinct_id, time_ms, insert_id FROM events \
              WHERE project_id = 1 AND event = 'Play' AND time_ms >= {f} AND time_ms < {t}{filter})"
        )
    };
    let day = "(time_ms + 3600000) // 86400000";
    let plan_by_day = format!(
        "SELECT {day} AS d, p, count(*) FROM (SELECT DISTINCT distinct_id, time_ms, insert_id, p FROM (\
         SELECT distinct_id, time_ms, insert_id, properties.plan::VARCHAR AS p FROM events_cold \
         WHERE project_id = 1 AND event = 'Play' AND time_ms >= {f} AND time_ms < {t} \
         UNION ALL SELECT distinct_id, time_ms, insert_id, (properties::VARIANT).plan::VARCHAR FROM events_hot \
         WHERE project_id = 1 AND event = 'Play' AND time_ms >= {f} AND time_ms < {t}) WHERE p IS NOT NULL) \
         GROUP BY d, p"
    );
    let store = &store;
    let options = Options { timezone: "Europe/Paris".parse().unwrap(), ..Options::default() };
    // "Now" is the last moment of the generated range, for the endpoints that look back.
    let now_ms = t - 1;
    let counts = |q: sextant_storage::SegmentQuery| futures_lite(store.segment(q)).unwrap();
    // A segmentation-shaped report: the request's store query, then its answer.
    let segmentation = |r: Segmentation| -> Report<'_> {
        Box::new(move || {
            std::hint::black_box(r.answer(&counts(r.query(ProjectId(1)))));
        })
    };
    let dedup = |events: &str, extra: &str| {
        format!(
            "SELECT DISTINCT event, distinct_id, time_ms, insert_id{extra} FROM events \
             WHERE project_id = 1 AND event IN ({events}) AND time_ms >= {f} AND time_ms < {t}"
        )
    };
    // `/segmentation/sum` (or `/average`) of `amount` by day, and the same in SQL.
    let value_report = |average: bool| -> Report<'_> {
        let base = request(&format!("event=Play&{to}&on=properties[\"amount\"]"));
        let report = ValueReport { base, average };
        Box::new(move || {
            std::hint::black_box(report.answer(&counts(report.query(ProjectId(1))), now_ms));
        })
    };
    let amount_by_day = |aggregate: &str| {
        format!(
            "SELECT {day} AS d, {aggregate}(a) FROM (SELECT DISTINCT ON (distinct_id, time_ms, insert_id) \
             distinct_id, time_ms, insert_id, properties.amount::DOUBLE AS a FROM events_cold \
             WHERE project_id = 1 AND event = 'Play' AND time_ms >= {f} AND time_ms < {t} ORDER BY seq DESC) GROUP BY d"
        )
    };
    let cases: Vec<(&str, Report<'_>, String, usize)> = vec![
        (
            "/segmentation, 30 days by day",
            segmentation(request(&format!("event=Play&{to}"))),
            format!("SELECT {day} AS d, count(*) FROM {} GROUP BY d", rows("")),
            3,
        ),
        (
            "/segmentation on a string property",
            segmentation(request(&format!("event=Play&{to}&on=properties[\"plan\"]"))),
            // Each tier read apart: through the `events` view (a UNION ALL) DuckDB reads the
            // whole VARIANT column to extract one field (measured: 9.5 s instead of 0.4 s).
            plan_by_day.clone(),
            3,
        ),
        (
            "/segmentation type=unique",
            segmentation(request(&format!("event=Play&{to}&type=unique"))),
            format!(
                "SELECT {day} AS d, count(DISTINCT distinct_id) FROM events WHERE project_id = 1 AND event = 'Play' \
                 AND time_ms >= {f} AND time_ms < {t} GROUP BY d"
            ),
            3,
        ),
        (
            "/segmentation type=average",
            segmentation(request(&format!("event=Play&{to}&type=average"))),
            format!("SELECT {day} AS d, count(*) / count(DISTINCT distinct_id) FROM {} GROUP BY d", rows("")),
            3,
        ),
        (
            "/segmentation where a number",
            segmentation(request(&format!("event=Play&{to}&where=properties[\"amount\"] > 50"))),
            format!("SELECT {day} AS d, count(*) FROM {} GROUP BY d", rows(" AND properties.amount::DOUBLE > 50")),
            3,
        ),
        ("/segmentation/sum of a number", value_report(false), amount_by_day("sum"), 3),
        ("/segmentation/average of a number", value_report(true), amount_by_day("avg"), 3),
        (
            "/segmentation/numeric on a number",
            {
                let query = format!("event=Play&{to}&on=properties[\"amount\"]&unit=day");
                let r = Segmentation::parse_numeric(&params(&query), &options).unwrap();
                Box::new(move || {
                    let values = counts(r.numeric_values_query(ProjectId(1)).unwrap());
                    let ranged = r.with_ranges(&values).unwrap();
                    std::hint::black_box(ranged.answer(&counts(ranged.query(ProjectId(1)))));
                })
            },
            // The same two passes: the values' range, then each event's bucket in it.
            format!(
                "WITH v AS (SELECT DISTINCT ON (distinct_id, time_ms, insert_id) time_ms, \
                   properties.amount::DOUBLE AS a FROM events_cold WHERE project_id = 1 AND event = 'Play' \
                   AND time_ms >= {f} AND time_ms < {t} ORDER BY seq DESC), \
                 r AS (SELECT min(a) AS lo, greatest((max(a) - min(a)) / 10, 1) AS w FROM v) \
                 SELECT {day} AS d, floor((a - lo) / w) AS k, count(*) FROM v, r WHERE a IS NOT NULL GROUP BY d, k"
            ),
            3,
        ),
        (
            "/events, 2 events by day",
            segmentation(
                sextant_query::events::events(
                    &params(r#"event=["Play","Search"]&type=general&unit=day&interval=30"#),
                    &options,
                    now_ms,
                )
                .unwrap(),
            ),
            format!("SELECT event, {day} AS d, count(*) FROM ({}) GROUP BY ALL", dedup("'Play', 'Search'", "")),
            3,
        ),
        (
            "/events/properties, a string by day",
            segmentation(
                sextant_query::events::properties(
                    &params("event=Play&name=plan&type=general&unit=day&interval=30"),
                    &options,
                    now_ms,
                )
                .unwrap(),
            ),
            plan_by_day.clone(),
            3,
        ),
        (
            "/events/properties/values",
            {
                let (r, limit) =
                    sextant_query::events::property_values(&params("event=Play&name=plan"), &options, now_ms).unwrap();
                Box::new(move || {
                    let c = counts(r.query(ProjectId(1)));
                    let mut ranked = sextant_query::events::ranked(r.kind, &c, true);
                    ranked.truncate(limit);
                    std::hint::black_box(ranked);
                })
            },
            format!(
                "SELECT p, count(*) AS n FROM (SELECT DISTINCT distinct_id, time_ms, insert_id, p FROM (\
                 SELECT distinct_id, time_ms, insert_id, properties.plan::VARCHAR AS p FROM events_cold \
                 WHERE project_id = 1 AND event = 'Play' AND time_ms >= {f} AND time_ms < {t}) WHERE p IS NOT NULL) \
                 GROUP BY p ORDER BY n DESC"
            ),
            3,
        ),
        (
            "/events/names, every event",
            {
                let (r, limit) = sextant_query::events::names(&params("type=general"), &options, now_ms).unwrap();
                Box::new(move || {
                    let c = counts(r.query(ProjectId(1)));
                    let mut ranked = sextant_query::events::ranked(r.kind, &c, false);
                    ranked.truncate(limit);
                    std::hint::black_box(ranked);
                })
            },
            format!(
                "SELECT event, count(*) AS n FROM (SELECT DISTINCT event, distinct_id, time_ms, insert_id FROM events \
                 WHERE project_id = 1 AND time_ms >= {f} AND time_ms < {t}) GROUP BY event ORDER BY n DESC"
            ),
            3,
        ),
        (
            "/events/top, today against yesterday",
            {
                let (r, limit) = sextant_query::events::top(&params("type=general"), &options, now_ms).unwrap();
                Box::new(move || {
                    std::hint::black_box(sextant_query::events::top_answer(&r, &counts(r.query(ProjectId(1))), limit));
                })
            },
            format!(
                "SELECT event, {day} AS d, count(*) FROM (SELECT DISTINCT event, distinct_id, time_ms, insert_id \
                 FROM events WHERE project_id = 1 AND time_ms >= {} AND time_ms < {t}) GROUP BY ALL",
                t - 2 * DAY
            ),
            3,
        ),
        (
            "/insights, a saved segmentation on a string property (last 30 days)",
            {
                let saved = pairs("event=Play&on=properties[\"plan\"]&last_days=30");
                let sextant_query::insights::Plan::Counts(r) =
                    sextant_query::insights::plan("segmentation", &saved, &options, now_ms).unwrap()
                else {
                    unreachable!("a saved segmentation plans counts")
                };
                Box::new(move || {
                    std::hint::black_box(sextant_query::insights::answer(&r, &counts(r.query(ProjectId(1))), now_ms));
                })
            },
            plan_by_day.clone(),
            3,
        ),
        (
            "/events/properties/top (every event's properties, once)",
            {
                let (event, from, to, limit) =
                    sextant_query::events::property_top(&params("event=Play"), &options, now_ms).unwrap();
                Box::new(move || {
                    let names = futures_lite(store.property_names(ProjectId(1), &event, from, to, limit)).unwrap();
                    std::hint::black_box(names);
                })
            },
            format!(
                "SELECT k, count(*) AS n FROM (SELECT DISTINCT distinct_id, time_ms, insert_id, \
                 unnest(variant_keys(properties)) AS k FROM events WHERE project_id = 1 AND event = 'Play' \
                 AND time_ms >= {f} AND time_ms < {t}) GROUP BY k ORDER BY n DESC LIMIT 10"
            ),
            1,
        ),
    ];
    println!("\n| query | report (s) | hand-written SQL (s) | ratio | report, first run (s) |\n|---|---|---|---|---|");
    for (name, report, sql, runs) in cases {
        let (first, best) = first_and_best(runs, report);
        let (_, hand) = first_and_best(runs, || {
            std::hint::black_box(futures_lite(store_sql(store, sql.clone())));
        });
        println!("| {name} | {best:.3} | {hand:.3} | {:.2} | {first:.3} |", best / hand);
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
