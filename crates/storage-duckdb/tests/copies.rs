//! Copies of an event (same name, distinct id, time and `$insert_id`) count once in
//! reports, with the properties of the copy ingested last, wherever the copies are: both
//! in the hot tier, both in the cold tier (one compacted with the other, or moved in
//! later), one in each, and in a store made before the cold tier flagged its copies.
//! Raw export still returns every copy.

use std::sync::Arc;

use futures::TryStreamExt;

use sextant_expr::{Options, Program, Scope};
use sextant_model::{EventRow, ProjectId};
use sextant_storage::{BucketUnit, EventStore, ExportQuery, Measure, ReportStore, SegmentQuery, TimeBuckets};
use sextant_storage_duckdb::{DuckDbStore, StoreOptions};

const T0: i64 = 1_704_067_200_000; // 2024-01-01T00:00Z

/// Event `i` of user `u`, with a `plan`.
fn row(u: i64, i: i64, plan: &str) -> EventRow {
    EventRow {
        project_id: ProjectId(1),
        event: "Play".into(),
        time_ms: T0 + i * 1000,
        distinct_id: format!("u{u}"),
        insert_id: format!("i{i}"),
        properties: format!(r#"{{"plan":"{plan}","n":{i}}}"#),
    }
}

fn query(on: Option<&str>, filter: Option<&str>, measure: Measure) -> SegmentQuery {
    let program = |s: &str| Arc::new(Program::parse(s, Scope::Event, Options::default()).unwrap());
    SegmentQuery {
        project_id: ProjectId(1),
        events: vec!["Play".into()],
        from_ms: T0,
        to_ms: T0 + 86_400_000,
        buckets: TimeBuckets { unit: BucketUnit::Day, offsets: vec![(T0, 0)] },
        filter: filter.map(program),
        on: on.map(program),
        measure,
        sum: None,
        top: None,
    }
}

/// (segment, events, users), sorted: `on=properties["plan"]`.
async fn by_plan(store: &DuckDbStore, filter: Option<&str>) -> Vec<(String, u64, u64)> {
    let q = query(Some(r#"properties["plan"]"#), filter, Measure::Both);
    let mut out: Vec<(String, u64, u64)> = store
        .segment(q)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.segment.unwrap_or_default(), c.events, c.users))
        .collect();
    out.sort();
    out
}

async fn total(store: &DuckDbStore) -> u64 {
    store.segment(query(None, None, Measure::Events)).await.unwrap().iter().map(|c| c.events).sum()
}

fn expect(pairs: &[(&str, u64, u64)]) -> Vec<(String, u64, u64)> {
    pairs.iter().map(|(s, e, u)| (s.to_string(), *e, *u)).collect()
}

async fn exported(store: &DuckDbStore) -> usize {
    exported_plans(store, false).await.len()
}

/// The `plan` of each exported event, in export order. A deduplicating export also
/// asks for `plan` (and an absent property) alone, as JQL's reads do.
async fn exported_plans(store: &DuckDbStore, dedup: bool) -> Vec<String> {
    let q = ExportQuery {
        project_id: ProjectId(1),
        from_ms: T0,
        to_ms: T0 + 86_400_000,
        events: None,
        limit: None,
        users: None,
        filter: None,
        dedup,
        properties: dedup.then(|| vec!["plan".to_string(), "absent".to_string()]),
    };
    let chunks: Vec<Vec<sextant_model::StoredEvent>> = store.export(q).try_collect().await.unwrap();
    let plan = |e: &sextant_model::StoredEvent| {
        let p: serde_json::Value = serde_json::from_str(&e.row.properties).unwrap();
        assert_eq!(p.as_object().unwrap().len(), if dedup { 1 } else { 2 }, "{p}");
        p["plan"].as_str().unwrap().to_string()
    };
    chunks.iter().flatten().map(plan).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_copy_ingested_last_counts_once_in_every_tier() {
    let dir = tempfile::tempdir().unwrap();
    let store = DuckDbStore::open(dir.path(), &StoreOptions::default()).unwrap();
    // Event 1 sent three times (the last says "pro"), event 2 once.
    store.append(vec![row(1, 1, "free"), row(1, 2, "free")]).await.unwrap();
    store.append(vec![row(1, 1, "trial")]).await.unwrap();
    store.append(vec![row(1, 1, "pro")]).await.unwrap();
    let after_three = expect(&[("free", 1, 1), ("pro", 1, 1)]);
    assert_eq!(by_plan(&store, None).await, after_three, "copies in the hot tier");
    assert_eq!(total(&store).await, 2);
    assert_eq!(exported_plans(&store, true).await, ["pro", "free"], "a deduplicating export, hot");

    store.compact_now().await.unwrap();
    assert_eq!(by_plan(&store, None).await, after_three, "copies compacted together");
    assert_eq!(total(&store).await, 2);
    // A filter reads the kept copy's properties: the older copies matched it, the last does not.
    assert_eq!(by_plan(&store, Some(r#"properties["plan"] == "trial""#)).await, expect(&[]));

    // A fourth copy arrives: in the hot tier, it hides the cold ones.
    store.append(vec![row(1, 1, "team")]).await.unwrap();
    let after_four = expect(&[("free", 1, 1), ("team", 1, 1)]);
    assert_eq!(by_plan(&store, None).await, after_four, "a hot copy of a cold event");
    assert_eq!(total(&store).await, 2);
    assert_eq!(exported_plans(&store, true).await, ["team", "free"], "a deduplicating export, both tiers");

    // Moved in later, it supersedes them there.
    store.compact_now().await.unwrap();
    assert_eq!(by_plan(&store, None).await, after_four, "a copy moved in after the others");
    assert_eq!(total(&store).await, 2);

    // Same insert id but another time, or another user: not a copy.
    let mut later = row(1, 1, "free");
    later.time_ms += 1;
    store.append(vec![later, row(2, 1, "free")]).await.unwrap();
    assert_eq!(by_plan(&store, None).await, expect(&[("free", 3, 2), ("team", 1, 1)]));
    assert_eq!(exported(&store).await, 7, "export returns every copy");
    assert_eq!(exported_plans(&store, true).await.len(), 4, "or one of each");
    store.close().await.unwrap();

    // A store from before the flags: they are filled on open.
    {
        let conn = duckdb::Connection::open(dir.path().join("events.duckdb")).unwrap();
        conn.execute_batch("ALTER TABLE events_cold DROP COLUMN superseded").unwrap();
    }
    let store = DuckDbStore::open(dir.path(), &StoreOptions::default()).unwrap();
    store.compact_now().await.unwrap();
    assert_eq!(by_plan(&store, None).await, expect(&[("free", 3, 2), ("team", 1, 1)]), "after the fill");
    assert_eq!(total(&store).await, 4);
    assert_eq!(exported(&store).await, 7);
    store.close().await.unwrap();
}
