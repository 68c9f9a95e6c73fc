//! Contract tests every [`EventStore`] backend must pass.
//!
//! A backend's test file calls [`run_all`] with a fresh, empty store. Each check uses its
//! own project id, so they can share one store.

use futures::TryStreamExt;
use sextant_model::{EventRow, ProjectId};

use crate::{EventStore, ExportQuery, event_matches};

const T0: i64 = 1_700_000_000_000;

fn row(project: i64, event: &str, time_ms: i64, distinct_id: &str, insert_id: &str, props: &str) -> EventRow {
    EventRow {
        project_id: ProjectId(project),
        event: event.into(),
        time_ms,
        distinct_id: distinct_id.into(),
        insert_id: insert_id.into(),
        properties: props.into(),
    }
}

async fn export_all(store: &dyn EventStore, q: ExportQuery) -> Vec<EventRow> {
    let chunks: Vec<_> = store.export(q).try_collect().await.expect("export");
    chunks.into_iter().flatten().map(|e| e.row).collect()
}

fn query(project: i64) -> ExportQuery {
    ExportQuery {
        project_id: ProjectId(project),
        from_ms: T0 - 86_400_000,
        to_ms: T0 + 86_400_000,
        events: None,
        limit: None,
        users: None,
        filter: None,
        dedup: false,
        properties: None,
    }
}

/// Every event of `project`, at any time.
pub fn all_time(project: i64) -> ExportQuery {
    ExportQuery { from_ms: 0, to_ms: i64::MAX / 2, ..query(project) }
}

/// Runs every check against `store`.
pub async fn run_all(store: &dyn EventStore) {
    round_trip_keeps_every_field(store).await;
    export_is_time_ordered_filtered_and_limited(store).await;
    projects_are_isolated(store).await;
    duplicates_are_exported_but_counted_once(store).await;
    large_exports_arrive_in_chunks(store).await;
    long_sparse_ranges_are_cheap(store).await;
    where_filters_match_the_interpreter(store).await;
    exports_keep_only_the_properties_asked_for(store).await;
    users_are_read_through_the_identity_graph(store).await;
    the_dictionary_lists_what_was_sent(store).await;
    a_deleted_project_leaves_nothing(store).await;
    erased_people_leave_nothing_and_steps_run_once(store).await;
}

/// An erasure takes every event of the ids it names, in both tiers, and their identity
/// merges; nobody else's. A step run again removes nothing more and answers the same
/// counts; a scrub leaves the rest readable.
pub async fn erased_people_leave_nothing_and_steps_run_once(store: &dyn EventStore) {
    let p = ProjectId(140);
    let rows = vec![
        row(140, "anon", T0 + 1, "$device:d1", "1", r#"{"m":"secret"}"#),
        row(140, "login", T0 + 2, "alice", "2", "{}"),
        row(140, "login", T0 + 2, "alice", "2", "{}"),
        row(140, "other", T0 + 3, "bob", "3", "{}"),
    ];
    let edge = sextant_model::IdentityEdge {
        project_id: p,
        row: 1,
        op: sextant_model::IdentityOp::DeviceToUser { device: "$device:d1".into(), user: "alice".into() },
    };
    store.append_with_identity(rows, vec![edge]).await.unwrap();
    let cluster = store.identity_cluster(p, vec!["alice".into()]).await.unwrap();
    assert_eq!(cluster, ["$device:d1", "alice"]);
    assert_eq!(store.identity_cluster(p, vec!["nobody".into()]).await.unwrap(), ["nobody"]);
    let erased = store.erase_users(p, "job-1", 0, cluster.clone()).await.unwrap();
    assert_eq!(erased, crate::Erased { events: 3, profiles: 0 });
    let again = store.erase_users(p, "job-1", 0, cluster).await.unwrap();
    assert_eq!(again, erased, "a step done answers what it did");
    let left: Vec<_> = export_all(store, all_time(140)).await.into_iter().map(|r| r.distinct_id).collect();
    assert_eq!(left, ["bob"]);
    assert_eq!(store.count_events(p, 0, i64::MAX / 2).await.unwrap(), 1);
    // Written again after the erasure, the device is a user of its own.
    store.append(vec![row(140, "anon", T0 + 5, "$device:d1", "4", "{}")]).await.unwrap();
    store.scrub(p, "job-1").await.unwrap();
    let after: Vec<_> = export_all(store, all_time(140)).await.into_iter().map(|r| r.distinct_id).collect();
    assert_eq!(after, ["bob", "$device:d1"]);
}

/// Deleting a project takes its events, its identity merges and what was learned of
/// them, and nothing of another project's; the project id may be written again after.
pub async fn a_deleted_project_leaves_nothing(store: &dyn EventStore) {
    let rows = vec![
        row(130, "anon", T0 + 1, "$device:d1", "1", r#"{"plan":"pro"}"#),
        row(130, "login", T0 + 2, "alice", "2", r#"{"plan":null}"#),
        row(131, "kept", T0 + 3, "bob", "3", r#"{"x":1}"#),
    ];
    let edge = sextant_model::IdentityEdge {
        project_id: ProjectId(130),
        row: 1,
        op: sextant_model::IdentityOp::DeviceToUser { device: "$device:d1".into(), user: "alice".into() },
    };
    store.append_with_identity(rows, vec![edge]).await.unwrap();
    store.delete_project(ProjectId(130)).await.unwrap();
    assert!(export_all(store, all_time(130)).await.is_empty());
    assert_eq!(store.count_events(ProjectId(130), 0, i64::MAX / 2).await.unwrap(), 0);
    assert!(store.dictionary(ProjectId(130), None).await.unwrap().is_empty());
    assert_eq!(export_all(store, all_time(131)).await.len(), 1, "another project's events stay");
    assert_eq!(store.dictionary(ProjectId(131), None).await.unwrap().len(), 1);
    // Written again, the device is its own user: the old merge went with the project.
    store.append(vec![row(130, "anon", T0 + 5, "$device:d1", "4", "{}")]).await.unwrap();
    let again = export_all(store, all_time(130)).await;
    assert_eq!((again.len(), again[0].distinct_id.as_str()), (1, "$device:d1"));
    assert_eq!(store.dictionary(ProjectId(130), None).await.unwrap()[0].count, 1);
    store.delete_project(ProjectId(130)).await.unwrap();
}

/// The dictionary names every event, counts it (copies too), and gives each top-level
/// property the kinds of value it held and when it first appeared; other projects'
/// events are not in it.
pub async fn the_dictionary_lists_what_was_sent(store: &dyn EventStore) {
    use sextant_model::lexicon::JsonType as J;

    use crate::{SeenEvent, SeenProperty};
    let rows = vec![
        row(120, "Buy", T0 + 5, "u", "1", r#"{"amount":12.5,"sku":"a1","tags":["x"]}"#),
        row(120, "Buy", T0 + 9, "u", "2", r#"{"amount":3,"sku":null,"meta":{"k":1}}"#),
        row(120, "Buy", T0 + 9, "u", "2", r#"{"amount":3,"sku":null,"meta":{"k":1}}"#),
        row(120, "Sign up", T0, "v", "3", r#"{"ok":true,"":"empty name"}"#),
        row(121, "Elsewhere", T0, "v", "4", r#"{"x":1}"#),
    ];
    store.append(rows).await.unwrap();
    let property =
        |name: &str, kinds: Vec<J>, first: i64| SeenProperty { name: name.into(), kinds, first_ms: T0 + first };
    let seen = store.dictionary(ProjectId(120), None).await.unwrap();
    assert_eq!(
        seen,
        vec![
            SeenEvent {
                name: "Buy".into(),
                count: 3,
                first_ms: T0 + 5,
                last_ms: T0 + 9,
                properties: vec![
                    property("amount", vec![J::Integer, J::Number], 5),
                    property("meta", vec![J::Object], 9),
                    property("sku", vec![J::Null, J::String], 5),
                    property("tags", vec![J::Array], 5),
                ],
            },
            SeenEvent {
                name: "Sign up".into(),
                count: 1,
                first_ms: T0,
                last_ms: T0,
                properties: vec![property("", vec![J::String], 0), property("ok", vec![J::Boolean], 0)],
            },
        ]
    );
    // Later events widen what is known; an earlier one moves the first times back.
    store.append(vec![row(120, "Sign up", T0 + 20, "v", "5", r#"{"ok":"yes"}"#)]).await.unwrap();
    store.append(vec![row(120, "Buy", T0 + 1, "u", "6", r#"{"amount":3,"sku":null,"meta":{"k":1}}"#)]).await.unwrap();
    let seen = store.dictionary(ProjectId(120), None).await.unwrap();
    let sign_up = seen.iter().find(|e| e.name == "Sign up").unwrap();
    assert_eq!((sign_up.count, sign_up.last_ms), (2, T0 + 20));
    assert_eq!(sign_up.properties[1], property("ok", vec![J::Boolean, J::String], 0));
    let buy = seen.iter().find(|e| e.name == "Buy").unwrap();
    assert_eq!((buy.count, buy.first_ms), (4, T0 + 1));
    assert_eq!(buy.properties[1], property("meta", vec![J::Object], 1), "a known shape, earlier than recorded");
    let one = store.dictionary(ProjectId(120), Some("Sign up")).await.unwrap();
    assert_eq!(one.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(), ["Sign up"]);
    assert_eq!(one[0].properties.len(), 2);
    assert!(store.dictionary(ProjectId(120), Some("Nothing")).await.unwrap().is_empty());
}

/// Export gives each event its cluster's canonical id, and `users` selects by cluster.
pub async fn users_are_read_through_the_identity_graph(store: &dyn EventStore) {
    let rows = vec![
        row(109, "anon", T0 + 1, "$device:d1", "1", "{}"),
        row(109, "login", T0 + 2, "alice", "2", "{}"),
        row(109, "other", T0 + 3, "bob", "3", "{}"),
    ];
    let edge = sextant_model::IdentityEdge {
        project_id: ProjectId(109),
        row: 1,
        op: sextant_model::IdentityOp::DeviceToUser { device: "$device:d1".into(), user: "alice".into() },
    };
    store.append_with_identity(rows, vec![edge]).await.unwrap();
    let ids = |rows: Vec<EventRow>| rows.into_iter().map(|r| r.distinct_id).collect::<Vec<_>>();
    assert_eq!(ids(export_all(store, query(109)).await), ["alice", "alice", "bob"]);
    for who in ["alice", "$device:d1"] {
        let q = ExportQuery { users: Some(vec![who.into(), "nobody".into()]), ..query(109) };
        assert_eq!(ids(export_all(store, q).await), ["alice", "alice"], "{who}");
    }
    let q = ExportQuery { users: Some(vec!["bob".into()]), ..query(109) };
    assert_eq!(ids(export_all(store, q).await), ["bob"]);
    let q = ExportQuery { users: Some(vec![]), ..query(109) };
    assert!(export_all(store, q).await.is_empty());
}

/// What goes in comes out, byte for byte.
pub async fn round_trip_keeps_every_field(store: &dyn EventStore) {
    let r = row(101, "Signup ✓", T0 + 123, "user-1", "ins-1", r#"{"plan":"pro","n":1.5,"l":[1,"a"],"o":{"k":null}}"#);
    store.append(vec![r.clone()]).await.unwrap();
    assert_eq!(export_all(store, query(101)).await, vec![r]);
}

/// Export orders by time, honours the range (end exclusive), event names and limit.
pub async fn export_is_time_ordered_filtered_and_limited(store: &dyn EventStore) {
    let rows = vec![
        row(102, "b", T0 + 3, "u", "3", "{}"),
        row(102, "a", T0 + 1, "u", "1", "{}"),
        row(102, "a", T0 + 2, "u", "2", "{}"),
        row(102, "a", T0 + 86_400_000, "u", "out", "{}"),
    ];
    store.append(rows).await.unwrap();
    let times: Vec<i64> = export_all(store, query(102)).await.iter().map(|r| r.time_ms).collect();
    assert_eq!(times, vec![T0 + 1, T0 + 2, T0 + 3]);
    let only_b = ExportQuery { events: Some(vec!["b".into()]), ..query(102) };
    assert_eq!(export_all(store, only_b).await.len(), 1);
    let limited = ExportQuery { limit: Some(2), ..query(102) };
    assert_eq!(export_all(store, limited).await.len(), 2);
}

/// An export asked for some properties gives those the event has, `null`s included,
/// and leaves the others out.
pub async fn exports_keep_only_the_properties_asked_for(store: &dyn EventStore) {
    store
        .append(vec![
            row(110, "a", T0, "u", "1", r#"{"plan":"pro","n":3,"gone":null,"tags":["x"],"other":1}"#),
            row(110, "a", T0 + 1, "u", "2", r#"{"other":2}"#),
        ])
        .await
        .unwrap();
    let names = ["plan", "n", "gone", "tags", "missing"].map(String::from).to_vec();
    let q = ExportQuery { properties: Some(names), ..query(110) };
    let got: Vec<serde_json::Value> =
        export_all(store, q).await.iter().map(|r| serde_json::from_str(&r.properties).unwrap()).collect();
    assert_eq!(
        got,
        vec![serde_json::json!({"plan": "pro", "n": 3, "gone": null, "tags": ["x"]}), serde_json::json!({})]
    );
    let none = ExportQuery { properties: Some(Vec::new()), ..query(110) };
    assert!(export_all(store, none).await.iter().all(|r| r.properties == "{}"));
}

/// One project never sees another's events.
pub async fn projects_are_isolated(store: &dyn EventStore) {
    store.append(vec![row(103, "a", T0, "u", "1", "{}")]).await.unwrap();
    store.append(vec![row(104, "a", T0, "u", "1", "{}"), row(104, "a", T0, "u", "2", "{}")]).await.unwrap();
    assert_eq!(export_all(store, query(103)).await.len(), 1);
    assert_eq!(store.count_events(ProjectId(104), T0 - 1, T0 + 1).await.unwrap(), 2);
}

/// A retried batch is exported twice (raw export shows what was ingested) but counted once.
pub async fn duplicates_are_exported_but_counted_once(store: &dyn EventStore) {
    let batch = vec![row(105, "a", T0, "u", "x", r#"{"try":1}"#), row(105, "a", T0, "v", "x", "{}")];
    store.append(batch.clone()).await.unwrap();
    store.append(vec![row(105, "a", T0, "u", "x", r#"{"try":2}"#)]).await.unwrap();
    assert_eq!(export_all(store, query(105)).await.len(), 3);
    assert_eq!(store.count_events(ProjectId(105), T0, T0 + 1).await.unwrap(), 2);
    // Same insert id at another time is another event.
    store.append(vec![row(105, "a", T0 + 1, "u", "x", "{}")]).await.unwrap();
    assert_eq!(store.count_events(ProjectId(105), T0, T0 + 2).await.unwrap(), 3);
}

/// A large export is delivered in several chunks, all in order.
pub async fn large_exports_arrive_in_chunks(store: &dyn EventStore) {
    let rows: Vec<EventRow> = (0..25_000).map(|i| row(106, "e", T0 + i, "u", &format!("i{i}"), "{}")).collect();
    store.append(rows).await.unwrap();
    let chunks: Vec<_> = store.export(query(106)).try_collect().await.unwrap();
    assert!(chunks.len() > 1, "expected several chunks, got {}", chunks.len());
    let times: Vec<i64> = chunks.into_iter().flatten().map(|e| e.row.time_ms).collect();
    assert_eq!(times.len(), 25_000);
    assert!(times.windows(2).all(|w| w[0] < w[1]));
}

/// An export over centuries with two events finds them without walking every day.
pub async fn long_sparse_ranges_are_cheap(store: &dyn EventStore) {
    store.append(vec![row(107, "a", 86_400_000, "u", "1", "{}"), row(107, "a", T0, "u", "2", "{}")]).await.unwrap();
    let q = all_time(107);
    let started = std::time::Instant::now();
    assert_eq!(export_all(store, q).await.len(), 2);
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "a sparse export took {:?}", started.elapsed());
}

/// `where` keeps exactly the events the interpreter keeps, whether the backend compiles
/// the expression or falls back to evaluating it per event, and `limit` counts kept ones.
pub async fn where_filters_match_the_interpreter(store: &dyn EventStore) {
    use sextant_expr::{Options, Program, Scope};
    use std::sync::Arc;

    let plans = ["free", "pro", "PRO", "enterprise"];
    let rows: Vec<EventRow> = (0..3000)
        .map(|i: i64| {
            let mut props = serde_json::Map::new();
            if i % 7 != 0 {
                props.insert("plan".into(), plans[(i % 4) as usize].into());
            }
            match i % 5 {
                0 => props.insert("n".into(), serde_json::json!(i % 100)),
                1 => props.insert("n".into(), serde_json::json!(format!("{}", i % 100))),
                2 => props.insert("n".into(), serde_json::json!(i as f64 / 7.0)),
                3 => props.insert("n".into(), serde_json::Value::Null),
                _ => None,
            };
            if i % 3 == 0 {
                props.insert("tags".into(), serde_json::json!(["a", plans[(i % 4) as usize], i % 10]));
            }
            row(
                108,
                if i % 2 == 0 { "View" } else { "Buy" },
                T0 + i * 1000,
                &format!("u{}", i % 50),
                &format!("w{i}"),
                &serde_json::Value::Object(props).to_string(),
            )
        })
        .collect();
    store.append(rows.clone()).await.unwrap();
    let options = Options { now_ms: T0, ..Options::default() };
    let cases = [
        r#"properties["plan"] == "pro" and properties["n"] > 50"#,
        r#"properties["plan"] != "pro" or not defined(properties["n"])"#,
        r#""pro" in properties["tags"] or properties["n"] in [1, 2, "3"]"#,
        r#"number(properties["n"]) >= 10 and event["$time"] < datetime(1700002000)"#,
        r#"event["$event_name"] == "Buy" and properties["distinct_id"] == "u7""#,
        // `sum` is evaluated per event rather than compiled: the fallback path.
        r#"sum(properties["tags"]) > 4"#,
    ];
    for src in cases {
        let program = Program::parse(src, Scope::Event, options.clone()).unwrap();
        let want: Vec<&EventRow> = rows.iter().filter(|r| event_matches(&program, r)).collect();
        assert!(!want.is_empty() && want.len() < rows.len(), "{src} should split the events");
        let program = Arc::new(program);
        let got = export_all(store, ExportQuery { filter: Some(program.clone()), ..query(108) }).await;
        let got_ids: Vec<&str> = got.iter().map(|r| r.insert_id.as_str()).collect();
        let want_ids: Vec<&str> = want.iter().map(|r| r.insert_id.as_str()).collect();
        assert_eq!(got_ids, want_ids, "{src}");
        let limited = export_all(store, ExportQuery { filter: Some(program), limit: Some(5), ..query(108) }).await;
        let limited_ids: Vec<&str> = limited.iter().map(|r| r.insert_id.as_str()).collect();
        assert_eq!(limited_ids, want_ids[..want_ids.len().min(5)], "{src} with limit 5");
    }
}
