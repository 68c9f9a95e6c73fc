//! Contract tests every [`LookupStore`] backend must pass.
//!
//! Each check uses its own project id, so they can share one store.

use serde_json::json;
use sextant_expr::LookupTable;
use sextant_model::ProjectId;

use crate::{LookupStore, LookupTableSize};

fn table(rows: &[(&str, serde_json::Value)]) -> LookupTable {
    let mut t = LookupTable { columns: vec!["id".into(), "artist".into()], ..Default::default() };
    for (k, v) in rows {
        t.rows.insert((*k).into(), v.as_object().expect("an object row").clone());
    }
    t
}

/// Runs every check.
pub async fn run_all(store: &impl LookupStore) {
    a_table_reads_back_as_written(store).await;
    a_replace_drops_every_old_row(store).await;
    tables_are_separate_per_project_and_id(store).await;
    a_deleted_table_reads_empty(store).await;
    sizes_list_what_each_table_holds(store).await;
}

/// Rows, columns and cell types come back as written; a never-written table is empty.
pub async fn a_table_reads_back_as_written(store: &impl LookupStore) {
    let p = ProjectId(9101);
    assert!(store.lookup_table(p, "t-none").await.unwrap().rows.is_empty());
    let t = table(&[
        ("s1", json!({"artist": "Nina", "plays": 10, "live": true, "tags": ["a", "b"]})),
        ("s2", json!({"artist": "Miles"})),
    ]);
    store.replace_lookup_table(p, "t1", t.clone()).await.unwrap();
    assert_eq!(*store.lookup_table(p, "t1").await.unwrap(), t);
}

/// A replace is whole: keys absent from the new contents are gone.
pub async fn a_replace_drops_every_old_row(store: &impl LookupStore) {
    let p = ProjectId(9102);
    store.replace_lookup_table(p, "t", table(&[("a", json!({"x": 1})), ("b", json!({"x": 2}))])).await.unwrap();
    let _ = store.lookup_table(p, "t").await.unwrap();
    let new = table(&[("b", json!({"x": 3})), ("c", json!({"x": 4}))]);
    store.replace_lookup_table(p, "t", new.clone()).await.unwrap();
    assert_eq!(*store.lookup_table(p, "t").await.unwrap(), new);
}

/// Neither another project nor another table id sees a table's rows.
pub async fn tables_are_separate_per_project_and_id(store: &impl LookupStore) {
    let (p, q) = (ProjectId(9103), ProjectId(9104));
    store.replace_lookup_table(p, "t", table(&[("a", json!({"x": 1}))])).await.unwrap();
    store.replace_lookup_table(q, "t", table(&[("z", json!({"x": 9}))])).await.unwrap();
    store.replace_lookup_table(p, "u", table(&[("u", json!({"x": 5}))])).await.unwrap();
    let read = store.lookup_table(p, "t").await.unwrap();
    assert_eq!(read.rows.keys().collect::<Vec<_>>(), vec!["a"]);
    assert_eq!(store.lookup_table(q, "t").await.unwrap().rows.keys().collect::<Vec<_>>(), vec!["z"]);
}

/// Deleting empties the table; deleting again is harmless.
pub async fn a_deleted_table_reads_empty(store: &impl LookupStore) {
    let p = ProjectId(9105);
    store.replace_lookup_table(p, "t", table(&[("a", json!({"x": 1}))])).await.unwrap();
    store.delete_lookup_table(p, "t").await.unwrap();
    assert!(store.lookup_table(p, "t").await.unwrap().rows.is_empty());
    store.delete_lookup_table(p, "t").await.unwrap();
}

/// The sizes name every table replaced and not deleted since, with its rows and columns.
pub async fn sizes_list_what_each_table_holds(store: &impl LookupStore) {
    let p = ProjectId(9106);
    store.replace_lookup_table(p, "t", table(&[("a", json!({"x": 1})), ("b", json!({"x": 2}))])).await.unwrap();
    store.replace_lookup_table(p, "u", table(&[("a", json!({"x": 1}))])).await.unwrap();
    store
        .replace_lookup_table(p, "empty", LookupTable { columns: vec!["id".into()], ..Default::default() })
        .await
        .unwrap();
    store.delete_lookup_table(p, "u").await.unwrap();
    let mut sizes: Vec<LookupTableSize> =
        store.lookup_table_sizes().await.unwrap().into_iter().filter(|s| s.project_id == p).collect();
    sizes.sort_by(|a, b| a.table_id.cmp(&b.table_id));
    let size = |id: &str, rows: u64, columns: &[&str]| LookupTableSize {
        project_id: p,
        table_id: id.into(),
        rows,
        columns: columns.iter().map(|c| c.to_string()).collect(),
    };
    assert_eq!(sizes, vec![size("empty", 0, &["id"]), size("t", 2, &["id", "artist"])]);
}
