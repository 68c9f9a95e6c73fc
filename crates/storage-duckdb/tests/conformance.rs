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
