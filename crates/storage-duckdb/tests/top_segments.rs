//! `SegmentQuery::top`: the store keeps only the segments `/segmentation`'s `limit`
//! asks for, ranked by their total over every bucket, ties to the smaller key, the same
//! way in SQL and on the interpreter's path.

use std::sync::Arc;

use sextant_expr::{Options, Program, Scope};
use sextant_model::{EventRow, ProjectId};
use sextant_storage::{
    BucketUnit, EventStore, Measure, ReportStore, SegmentQuery, SegmentValue, TimeBuckets, TopSegments,
};
use sextant_storage_duckdb::{DuckDbStore, StoreOptions};

const T0: i64 = 1_704_067_200_000; // 2024-01-01T00:00Z

fn row(user: i64, i: i64, plan: &str, day: i64) -> EventRow {
    EventRow {
        project_id: ProjectId(1),
        event: "Play".into(),
        time_ms: T0 + day * 86_400_000 + i * 1000,
        distinct_id: format!("u{user}"),
        insert_id: format!("i{i}"),
        properties: format!(r#"{{"plan":"{plan}"}}"#),
    }
}

fn query(on: &str, top: TopSegments) -> SegmentQuery {
    SegmentQuery {
        project_id: ProjectId(1),
        events: vec!["Play".into()],
        from_ms: T0,
        to_ms: T0 + 2 * 86_400_000,
        buckets: TimeBuckets { unit: BucketUnit::Day, offsets: vec![(T0, 0)] },
        filter: None,
        on: Some(Arc::new(Program::parse(on, Scope::Event, Options::default()).unwrap())),
        measure: Measure::Both,
        sum: None,
        top: Some(top),
    }
}

async fn kept(store: &DuckDbStore, on: &str, limit: usize, by: SegmentValue) -> Vec<String> {
    let counts = store.segment(query(on, TopSegments { limit, by })).await.unwrap();
    let mut names: Vec<String> = counts.into_iter().filter_map(|c| c.segment).collect();
    names.sort();
    names.dedup();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_top_segments_leave_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = DuckDbStore::open(dir.path(), &StoreOptions::default()).unwrap();
    let mut rows = Vec::new();
    let mut i = 0;
    let mut add = |user: i64, plan: &str, day: i64| {
        i += 1;
        rows.push(row(user, i, plan, day));
    };
    // a: 10 events by one user over two days; b: 5 events by 5 users; c: 5 events by 3
    // users; d: 1 event.
    for n in 0..10 {
        add(1, "a", n % 2);
    }
    for u in 0..5 {
        add(10 + u, "b", 1);
    }
    for n in 0..5 {
        add(20 + n % 3, "c", 0);
    }
    add(30, "d", 0);
    store.append(rows).await.unwrap();

    let compiled = r#"properties["plan"]"#;
    // `sum([1])` does not compile to SQL: the same query on the interpreter's path.
    let interpreted = r#"if(sum([1]) == 1, properties["plan"], "x")"#;
    for on in [compiled, interpreted] {
        // Totals over both days: a 10, then b and c tie at 5 and the smaller key wins.
        assert_eq!(kept(&store, on, 2, SegmentValue::Events).await, ["a", "b"], "{on}");
        // By users, added over the days: b 5, c 3, a 1 + 1, d 1.
        assert_eq!(kept(&store, on, 2, SegmentValue::Users).await, ["b", "c"], "{on}");
        // Events per user, added over the days: a 5 + 5, c 5/3, b 1, d 1.
        assert_eq!(kept(&store, on, 2, SegmentValue::EventsPerUser).await, ["a", "c"], "{on}");
        assert_eq!(kept(&store, on, 10, SegmentValue::Events).await, ["a", "b", "c", "d"], "{on}");
    }
    store.close().await.unwrap();
}
