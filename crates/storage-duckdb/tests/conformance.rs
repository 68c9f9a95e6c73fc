//! The storage contract, run against the embedded DuckDB backend.

use sextant_storage::EventStore;
use sextant_storage_duckdb::{DuckDbStore, StoreOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duckdb_passes_the_storage_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = DuckDbStore::open(dir.path(), &StoreOptions::default()).unwrap();
    sextant_storage::conformance::run_all(&store).await;
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duckdb_passes_the_profile_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = DuckDbStore::open(dir.path(), &StoreOptions::default()).unwrap();
    sextant_storage::conformance_profiles::run_all(&store).await;
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duckdb_passes_the_lookup_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = DuckDbStore::open(dir.path(), &StoreOptions::default()).unwrap();
    sextant_storage::conformance_lookups::run_all(&store).await;
    // And the rows are on disk, not only in the cache.
    store.close().await.unwrap();
    let store = DuckDbStore::open(dir.path(), &StoreOptions::default()).unwrap();
    let t = sextant_storage::LookupStore::lookup_table(&store, sextant_model::ProjectId(9101), "t1").await.unwrap();
    assert_eq!(t.rows.len(), 2);
    assert_eq!(t.columns, vec!["id", "artist"]);
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_rows_survive_a_reopen() {
    use sextant_model::{EventRow, ProjectId};
    let dir = tempfile::tempdir().unwrap();
    let row = EventRow {
        project_id: ProjectId(1),
        event: "e".into(),
        time_ms: 1_700_000_000_000,
        distinct_id: "u".into(),
        insert_id: "i".into(),
        properties: "{}".into(),
    };
    {
        let store = DuckDbStore::open(dir.path(), &StoreOptions::default()).unwrap();
        store.append(vec![row.clone(), row.clone()]).await.unwrap();
        store.close().await.unwrap();
    }
    let store = DuckDbStore::open(dir.path(), &StoreOptions::default()).unwrap();
    assert_eq!(store.count_events(ProjectId(1), 0, i64::MAX).await.unwrap(), 1);
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_tiers_read_as_one() {
    use futures::TryStreamExt;
    use sextant_model::{EventRow, ProjectId};
    let dir = tempfile::tempdir().unwrap();
    let store = DuckDbStore::open(dir.path(), &StoreOptions::default()).unwrap();
    let row = |t: i64, id: &str, props: &str| EventRow {
        project_id: ProjectId(7),
        event: "e".into(),
        time_ms: 1_700_000_000_000 + t,
        distinct_id: "u".into(),
        insert_id: id.into(),
        properties: props.into(),
    };
    let props = r#"{"a":1.5,"big":12345678901234567890,"l":[1,"x",null],"o":{"k":true},"s":"café"}"#;
    store.append(vec![row(2, "b", props), row(0, "a", "{}")]).await.unwrap();
    assert_eq!(store.compact_now().await.unwrap(), 2);
    assert_eq!(store.compact_now().await.unwrap(), 0);
    store.append(vec![row(1, "c", props), row(2, "b", props)]).await.unwrap();
    let q = sextant_storage::conformance::all_time(7);
    let chunks: Vec<Vec<sextant_model::StoredEvent>> = store.export(q).try_collect().await.unwrap();
    let rows: Vec<EventRow> = chunks.into_iter().flatten().map(|e| e.row).collect();
    let ids: Vec<&str> = rows.iter().map(|r| r.insert_id.as_str()).collect();
    assert_eq!(ids, vec!["a", "c", "b", "b"], "time order across tiers, ties in ingestion order");
    let parsed = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
    for r in &rows {
        if r.insert_id != "a" {
            assert_eq!(parsed(&r.properties), parsed(props), "properties survive the move to VARIANT");
        }
    }
    // The duplicate spans both tiers and still counts once.
    assert_eq!(store.count_events(ProjectId(7), 0, i64::MAX / 2).await.unwrap(), 3);
    store.close().await.unwrap();
}

/// Deleting a project empties every table that held it (profiles, lookup rows, both
/// tiers) and removes its day timelines, while another project's stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_project_leaves_no_row_and_no_timeline() {
    use sextant_expr::LookupTable;
    use sextant_model::profile::USER_PROFILES;
    use sextant_model::{EventRow, ProfileKey, ProfileOp, ProfileUpdate, ProjectId};
    use sextant_storage::{LookupStore, ProfileQuery, ProfileStore};
    let dir = tempfile::tempdir().unwrap();
    let store = DuckDbStore::open(dir.path(), &StoreOptions::default()).unwrap();
    let (gone, kept) = (ProjectId(40), ProjectId(41));
    let row = |project: ProjectId, id: &str| EventRow {
        project_id: project,
        event: "e".into(),
        time_ms: 1_700_000_000_000,
        distinct_id: "u".into(),
        insert_id: id.into(),
        properties: r#"{"a":1}"#.into(),
    };
    store.append(vec![row(gone, "1"), row(kept, "2")]).await.unwrap();
    store.compact_now().await.unwrap();
    store.build_timelines().await.unwrap();
    store.append(vec![row(gone, "3")]).await.unwrap();
    let timelines = |project: ProjectId| {
        std::fs::read_dir(dir.path().join("timelines"))
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with(&format!("p{}-", project.0)))
            .count()
    };
    assert_eq!((timelines(gone), timelines(kept)), (1, 1));
    for project in [gone, kept] {
        let update = ProfileUpdate {
            key: ProfileKey { project_id: project, group_key: USER_PROFILES.into(), id: "u".into() },
            ops: vec![ProfileOp::Set(serde_json::json!({"n": 1}).as_object().unwrap().clone())],
            time_ms: 1_700_000_000_000,
            ignore_time: true,
            resolve_identity: false,
        };
        store.update_profiles(vec![update]).await.unwrap();
        let rows = std::collections::HashMap::from([("k".to_string(), serde_json::Map::new())]);
        let table = LookupTable { columns: vec!["id".into(), "x".into()], rows };
        store.replace_lookup_table(project, "t", table).await.unwrap();
    }
    store.delete_project(gone).await.unwrap();
    let profiles = |project: ProjectId| ProfileQuery {
        project_id: project,
        group_key: USER_PROFILES.into(),
        ids: None,
        filter: None,
        session_id: None,
        page: 0,
        page_size: 10,
        behaviors: Vec::new(),
        count_only: false,
    };
    assert!(store.query_profiles(profiles(gone)).await.unwrap().profiles.is_empty());
    assert_eq!(store.query_profiles(profiles(kept)).await.unwrap().profiles.len(), 1);
    assert!(store.lookup_table(gone, "t").await.unwrap().rows.is_empty());
    assert_eq!(store.lookup_table(kept, "t").await.unwrap().rows.len(), 1);
    assert_eq!((timelines(gone), timelines(kept)), (0, 1));
    assert_eq!(store.count_events(gone, 0, i64::MAX / 2).await.unwrap(), 0);
    assert_eq!(store.count_events(kept, 0, i64::MAX / 2).await.unwrap(), 1);
    store.close().await.unwrap();
    // And it stays gone after a reopen (the rows were deleted, not hidden).
    let store = DuckDbStore::open(dir.path(), &StoreOptions::default()).unwrap();
    assert_eq!(store.count_events(gone, 0, i64::MAX / 2).await.unwrap(), 0);
    store.close().await.unwrap();
}
