//! JQL against `/segmentation`'s store call, in one run.
//!
//! `cargo bench --workspace --bench jql -- [EVENTS] [DIR] [USER_FUNCTION_DAYS]`
//! generates EVENTS events (default 10 million) with the generator the report
//! benchmarks use, over 30 days of a Paris project (beyond 10 million, the generated 10
//! million repeated under other ids, as `benches/segmentation.rs` does), compacts
//! them, then times, best of three (the scripts' first run shown apart):
//!
//! - `Events().groupBy(["name"], count())`, answered by the store (no event enters
//!   JavaScript), against the segmentation the same question is (every event, by day,
//!   summed per name);
//! - the same groupBy with a reducer written in JavaScript, a `groupByUser`
//!   funnel-style script, a filter on one property, and a script that reads every
//!   property (so the store cannot leave any out): every event goes through the
//!   engine, so these report events per second over the first USER_FUNCTION_DAYS days
//!   (default all 30).
//!
//! With DIR, the store is kept there and reused by later runs (the segmentation
//! benchmark's DIR works too).

#[path = "../../query/tests/support/generator.rs"]
mod generator;
#[path = "../../query/benches/support/stores.rs"]
mod stores;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use stores::{fill, first_and_best};

use sextant_expr::Options;
use sextant_jql::{Limits, Script, Stores};
use sextant_model::ProjectId;
use sextant_storage::{BucketUnit, EventStore, Measure, SegmentQuery};
use sextant_storage_duckdb::{DuckDbStore, StoreOptions};

const FROM_MS: i64 = 1_704_409_200_000; // 2024-01-05T00:00+01:00
const DAYS: i64 = 30;
const DAY: i64 = 86_400_000;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let n: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(stores::BASE_EVENTS);
    let kept = args.get(1).map(std::path::PathBuf::from);
    let js_days: i64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(DAYS).clamp(1, DAYS);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let temp = tempfile::tempdir().unwrap();
    let dir = kept.unwrap_or_else(|| temp.path().to_path_buf());
    let store = Arc::new(
        DuckDbStore::open(&dir, &StoreOptions { memory_limit: "8GB".into(), ..StoreOptions::default() }).unwrap(),
    );
    runtime.block_on(fill(&store, n, FROM_MS, FROM_MS + DAYS * DAY));
    let options = Options { timezone: "Europe/Paris".parse().unwrap(), ..Options::default() };
    let stores = Stores { events: store.clone(), profiles: store.clone(), reports: store.clone() };
    let handle = runtime.handle().clone();
    let events_in = |days: i64| {
        let store = store.clone();
        runtime.block_on(async move { store.count_events(ProjectId(1), FROM_MS, FROM_MS + days * DAY).await.unwrap() })
    };
    let all = events_in(DAYS);
    let js = events_in(js_days);
    let to_date = chrono::NaiveDate::from_ymd_opt(2024, 1, 5).unwrap() + chrono::Days::new(js_days as u64 - 1);
    let range = format!("from_date: '2024-01-05', to_date: '{to_date}'");
    let run = |source: &str| {
        let script = Script {
            source: source.to_string(),
            params: "null".into(),
            project: ProjectId(1),
            options: options.clone(),
            view: Default::default(),
            limits: Limits { time: std::time::Duration::from_secs(3600), ..Limits::default() },
            cancelled: Arc::new(AtomicBool::new(false)),
        };
        let out = sextant_jql::run(script, &stores, &handle).unwrap_or_else(|e| panic!("{source}: {e}"));
        std::hint::black_box(out);
    };
    let segmentation = || {
        let query = SegmentQuery {
            project_id: ProjectId(1),
            events: Vec::new(),
            from_ms: FROM_MS,
            to_ms: FROM_MS + DAYS * DAY,
            buckets: sextant_query::calendar::buckets(BucketUnit::Day, options.timezone, FROM_MS, FROM_MS + DAYS * DAY),
            filter: None,
            on: None,
            measure: Measure::Events,
            sum: None,
            top: None,
        };
        let store = store.clone();
        std::hint::black_box(
            runtime.block_on(async move { sextant_storage::ReportStore::segment(&*store, query).await.unwrap() }),
        );
    };
    println!("{all} events stored; the engine's cases read {js} of them ({js_days} days)\n");
    println!("| case | first run | best of 3 | events/s (best) | against segmentation |");
    println!("|---|---:|---:|---:|---:|");
    // The segmentation is timed before and after the script, and its best kept: the
    // first queries after loading pay for the store's last checkpoint.
    let (_, before) = first_and_best(3, segmentation);
    let native = "function main() { return Events({from_date: '2024-01-05', to_date: '2024-02-03'})\
                  .groupBy(['name'], mixpanel.reducer.count()); }";
    let script = first_and_best(3, || run(native));
    let (_, after) = first_and_best(3, segmentation);
    let seg_best = before.min(after);
    row("/segmentation's store call: every event by day", (seg_best, seg_best), all, None);
    row("JQL groupBy(['name'], count()), native", script, all, Some(seg_best));
    let user_reducer = format!(
        "function main() {{ return Events({{{range}}}).groupBy(['name'], function (accs, items) {{ \
           var n = 0; for (var i = 0; i < accs.length; i++) n += accs[i]; return n + items.length; }}); }}"
    );
    row("JQL groupBy(['name'], a JavaScript reducer)", first_and_best(3, || run(&user_reducer)), js, None);
    let funnel = format!(
        "function main() {{ return Events({{{range}}}).groupByUser(function (state, events) {{ \
           state = state || 0; \
           for (var i = 0; i < events.length; i++) {{ \
             if (state == 0 && events[i].name == 'Page View') state = 1; \
             else if (state == 1 && events[i].name == 'Play') state = 2; }} \
           return state; }}).groupBy(['value'], mixpanel.reducer.count()); }}"
    );
    row("JQL groupByUser funnel (Page View, then Play)", first_and_best(3, || run(&funnel)), js, None);
    let filter = format!(
        "function main() {{ return Events({{{range}}}).filter(e => e.properties.amount > 50)\
           .reduce(mixpanel.reducer.count()); }}"
    );
    row("JQL filter on one property, then count", first_and_best(3, || run(&filter)), js, None);
    let whole = format!(
        "function main() {{ return Events({{{range}}}).map(e => Object.keys(e.properties).length)\
           .reduce(mixpanel.reducer.sum()); }}"
    );
    row("JQL reading every property of every event", first_and_best(3, || run(&whole)), js, None);
}

fn row(case: &str, (first, best): (f64, f64), events: u64, against: Option<f64>) {
    let ratio = against.map_or("".to_string(), |s| format!("{:.2}x", best / s));
    println!("| {case} | {first:.2} s | {best:.2} s | {:.0} | {ratio} |", events as f64 / best);
}
