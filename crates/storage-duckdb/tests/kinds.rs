//! The store learns which kinds of value a property holds in the cold tier the first
//! time a query reads it, and compiles later queries without type tests where one kind
//! is all there is. These check that the answers stay those of full type tests as the
//! property's kinds change: values of a new kind moved in after the store learned,
//! `null`, missing, and values still in the hot tier.

use std::sync::Arc;

use sextant_expr::{Options, Program, Scope};
use sextant_model::{EventRow, ProjectId};
use sextant_storage::{BucketUnit, EventStore, Measure, ReportStore, SegmentQuery, TimeBuckets};
use sextant_storage_duckdb::{DuckDbStore, StoreOptions};

const T0: i64 = 1_704_067_200_000; // 2024-01-01T00:00Z

fn row(event: &str, i: i64, props: &str) -> EventRow {
    EventRow {
        project_id: ProjectId(1),
        event: event.into(),
        time_ms: T0 + i * 1000,
        distinct_id: format!("u{i}"),
        insert_id: format!("i{i}"),
        properties: props.into(),
    }
}

/// (segment, events) of `Play` by `on`, filtered by `filter`, sorted.
async fn segments(store: &DuckDbStore, on: &str, filter: Option<&str>) -> Vec<(String, u64)> {
    let program = |s: &str| Arc::new(Program::parse(s, Scope::Event, Options::default()).unwrap());
    let q = SegmentQuery {
        project_id: ProjectId(1),
        events: vec!["Play".into()],
        from_ms: T0,
        to_ms: T0 + 86_400_000,
        buckets: TimeBuckets { unit: BucketUnit::Day, offsets: vec![(T0, 0)] },
        filter: filter.map(program),
        on: Some(program(on)),
        measure: Measure::Events,
        sum: None,
        top: None,
    };
    let mut out: Vec<(String, u64)> =
        store.segment(q).await.unwrap().into_iter().map(|c| (c.segment.unwrap_or_default(), c.events)).collect();
    out.sort();
    out
}

fn expect(pairs: &[(&str, u64)]) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = pairs.iter().map(|(s, n)| (s.to_string(), *n)).collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_follow_a_property_whose_kinds_change() {
    let dir = tempfile::tempdir().unwrap();
    let store = DuckDbStore::open(dir.path(), &StoreOptions::default()).unwrap();
    let plan = r#"properties["plan"]"#;
    // Strings only, in the cold tier; `plan` is a number in another event.
    store
        .append(vec![
            row("Play", 1, r#"{"plan":"pro","n":1}"#),
            row("Play", 2, r#"{"plan":"free","n":2}"#),
            row("Play", 3, r#"{"n":3}"#),
            row("Stop", 4, r#"{"plan":7,"n":"x"}"#),
        ])
        .await
        .unwrap();
    store.compact_now().await.unwrap();
    assert_eq!(segments(&store, plan, None).await, expect(&[("free", 1), ("pro", 1)]));
    assert_eq!(segments(&store, plan, Some(r#"properties["plan"] == "pro""#)).await, expect(&[("pro", 1)]));
    assert_eq!(segments(&store, r#"properties["n"] * 2"#, None).await, expect(&[("2", 1), ("4", 1), ("6", 1)]));

    // A number, a boolean and a null arrive: first in the hot tier, then moved.
    store
        .append(vec![
            row("Play", 5, r#"{"plan":12,"n":"5"}"#),
            row("Play", 6, r#"{"plan":true,"n":6}"#),
            row("Play", 7, r#"{"plan":null,"n":7}"#),
            row("Play", 8, r#"{"plan":["a","pro"],"n":8}"#),
        ])
        .await
        .unwrap();
    let all = expect(&[("12", 1), ("a", 1), ("free", 1), ("null", 1), ("pro", 2), ("true", 1)]);
    assert_eq!(segments(&store, plan, None).await, all, "new kinds in the hot tier");
    store.compact_now().await.unwrap();
    assert_eq!(segments(&store, plan, None).await, all, "new kinds moved to the cold tier");
    assert_eq!(segments(&store, plan, Some(r#"properties["plan"] > 10"#)).await, expect(&[("12", 1)]));
    // "5" is a string: arithmetic on it is undefined, so no segment (event 5 drops out).
    assert_eq!(
        segments(&store, r#"properties["n"] * 2"#, None).await,
        expect(&[("12", 1), ("14", 1), ("16", 1), ("2", 1), ("4", 1), ("6", 1)])
    );
    store.close().await.unwrap();
}

/// The saved kinds of (project 1, `Play`, `name`): (kinds, covered sequence number).
fn saved(dir: &std::path::Path, name: &str) -> Option<(u8, i64)> {
    let conn = duckdb::Connection::open(dir.join("events.duckdb")).unwrap();
    conn.query_row(
        "SELECT kinds, covered_seq FROM property_kinds WHERE project_id = 1 AND event = 'Play' AND name = ?",
        [name],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn learned_kinds_are_saved_and_outlive_a_restart() {
    use sextant_expr::sql::{Kind, KindSet};
    let dir = tempfile::tempdir().unwrap();
    let store = DuckDbStore::open(dir.path(), &StoreOptions::default()).unwrap();
    store
        .append(vec![row("Play", 1, r#"{"plan":"pro","n":1}"#), row("Play", 2, r#"{"plan":"free","n":2}"#)])
        .await
        .unwrap();
    store.compact_now().await.unwrap();
    assert_eq!(segments(&store, r#"properties["plan"]"#, None).await, expect(&[("free", 1), ("pro", 1)]));
    store.close().await.unwrap();
    let strings = KindSet::of(Kind::Str).bits();
    assert_eq!(saved(dir.path(), "plan"), Some((strings, 2)), "saved when the store closed");
    assert_eq!(saved(dir.path(), "n"), None, "never asked about");

    // An entry past the store's last sequence number (as after the newest rows were
    // deleted) is not trusted: `n` holds numbers, not strings.
    {
        let conn = duckdb::Connection::open(dir.path().join("events.duckdb")).unwrap();
        conn.execute("INSERT INTO property_kinds VALUES (1, 'Play', 'n', ?, 99)", [strings]).unwrap();
    }
    let store = DuckDbStore::open(dir.path(), &StoreOptions::default()).unwrap();
    assert_eq!(segments(&store, r#"properties["n"] * 2"#, None).await, expect(&[("2", 1), ("4", 1)]));
    // A number arrives for `plan`: the loaded entry (strings up to 2) is extended.
    store.append(vec![row("Play", 3, r#"{"plan":12,"n":3}"#)]).await.unwrap();
    store.compact_now().await.unwrap();
    assert_eq!(segments(&store, r#"properties["plan"]"#, None).await, expect(&[("12", 1), ("free", 1), ("pro", 1)]));
    store.close().await.unwrap();
    let numbers = KindSet::of(Kind::Num).bits();
    assert_eq!(saved(dir.path(), "plan"), Some((strings | numbers, 3)));
    assert_eq!(saved(dir.path(), "n"), Some((numbers, 2)), "learned again, not taken from the bad entry");
}
