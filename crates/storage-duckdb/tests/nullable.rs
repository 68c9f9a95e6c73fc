//! A property holding JSON `null` is the segment `"null"`; a missing one is no segment.
//! Queries only test existence for names the store has seen hold `null`, so this checks
//! that every way a `null` reaches the store is recorded: appended (hot tier), compacted
//! (cold tier), in another project, and in a store made before the record existed
//! (filled from the events on open).

use std::sync::Arc;

use sextant_expr::{Options, Program, Scope};
use sextant_model::{EventRow, ProjectId};
use sextant_storage::{BucketUnit, EventStore, Measure, ReportStore, SegmentQuery, TimeBuckets};
use sextant_storage_duckdb::{DuckDbStore, StoreOptions};

const T0: i64 = 1_704_067_200_000; // 2024-01-01T00:00Z

fn row(project: i64, i: i64, props: &str) -> EventRow {
    EventRow {
        project_id: ProjectId(project),
        event: "Play".into(),
        time_ms: T0 + i * 1000,
        distinct_id: format!("u{i}"),
        insert_id: format!("i{i}"),
        properties: props.into(),
    }
}

/// `on=properties["plan"]` over the first day: (segment, events), sorted.
async fn by_plan(store: &DuckDbStore, project: i64) -> Vec<(String, u64)> {
    let on = Program::parse(r#"properties["plan"]"#, Scope::Event, Options::default()).unwrap();
    let q = SegmentQuery {
        project_id: ProjectId(project),
        events: vec!["Play".into()],
        from_ms: T0,
        to_ms: T0 + 86_400_000,
        buckets: TimeBuckets { unit: BucketUnit::Day, offsets: vec![(T0, 0)] },
        filter: None,
        on: Some(Arc::new(on)),
        measure: Measure::Events,
        sum: None,
        top: None,
    };
    let mut out: Vec<(String, u64)> =
        store.segment(q).await.unwrap().into_iter().map(|c| (c.segment.unwrap_or_default(), c.events)).collect();
    out.sort();
    out
}

fn seg(pairs: &[(&str, u64)]) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = pairs.iter().map(|(s, n)| (s.to_string(), *n)).collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn null_is_a_segment_and_missing_is_not_in_every_tier() {
    let dir = tempfile::tempdir().unwrap();
    let store = DuckDbStore::open(dir.path(), &StoreOptions::default()).unwrap();
    store
        .append(vec![
            row(1, 1, r#"{"plan":"pro"}"#),
            row(1, 2, r#"{"plan":null}"#),
            row(1, 3, r#"{"other":1}"#),
            row(1, 4, r#"{"plan":{"k":null}}"#),
            // Written by hand, with spaces: still found.
            row(1, 5, r#"{"a": 1, "plan" : null}"#),
            // `null` only nested or inside text: no `null` segment in project 2.
            row(2, 1, r#"{"plan":"free","o":{"plan":null},"s":"plan:null"}"#),
            row(2, 2, r#"{}"#),
        ])
        .await
        .unwrap();
    let one = seg(&[("null", 2), ("pro", 1), ("{\"k\":null}", 1)]);
    assert_eq!(by_plan(&store, 1).await, one, "hot tier");
    assert_eq!(by_plan(&store, 2).await, seg(&[("free", 1)]));

    store.compact_now().await.unwrap();
    assert_eq!(by_plan(&store, 1).await, one, "cold tier");

    // A null arriving later, for a project that had none.
    store.append(vec![row(2, 3, r#"{"plan":null}"#)]).await.unwrap();
    assert_eq!(by_plan(&store, 2).await, seg(&[("free", 1), ("null", 1)]));
    store.close().await.unwrap();

    // A store from before the record: the table is rebuilt from the events on open.
    {
        let conn = duckdb::Connection::open(dir.path().join("events.duckdb")).unwrap();
        conn.execute_batch("DROP TABLE null_properties").unwrap();
    }
    let store = DuckDbStore::open(dir.path(), &StoreOptions::default()).unwrap();
    assert_eq!(by_plan(&store, 1).await, one, "after the fill");
    assert_eq!(by_plan(&store, 2).await, seg(&[("free", 1), ("null", 1)]));
    store.close().await.unwrap();
}
