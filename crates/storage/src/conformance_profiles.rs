//! Contract tests every [`ProfileStore`] backend must pass.
//!
//! Each check uses its own project id, so they can share one store.

use std::sync::Arc;

use serde_json::{Value, json};
use sextant_model::profile::{USER_PROFILES, apply};
use sextant_model::{ProfileKey, ProfileOp, ProfileUpdate, ProjectId, Properties};

use crate::{ProfileQuery, ProfileStore, StorageError};

fn key(project: i64, group_key: &str, id: &str) -> ProfileKey {
    ProfileKey { project_id: ProjectId(project), group_key: group_key.into(), id: id.into() }
}

fn set(project: i64, group_key: &str, id: &str, props: Value) -> ProfileUpdate {
    ProfileUpdate {
        key: key(project, group_key, id),
        ops: vec![ProfileOp::Set(props.as_object().unwrap().clone())],
        time_ms: 1_700_000_000_000,
        ignore_time: true,
        resolve_identity: false,
    }
}

fn query(project: i64) -> ProfileQuery {
    ProfileQuery {
        project_id: ProjectId(project),
        group_key: USER_PROFILES.into(),
        ids: None,
        filter: None,
        session_id: None,
        page: 0,
        page_size: 1000,
        behaviors: Vec::new(),
        count_only: false,
    }
}

async fn all(store: &dyn ProfileStore, q: ProfileQuery) -> Vec<(String, Properties)> {
    store.query_profiles(q).await.expect("engage query").profiles
}

/// Runs every check against `store`.
pub async fn run_all(store: &dyn ProfileStore) {
    updates_apply_in_order_as_the_model_folds_them(store).await;
    projects_and_group_keys_are_isolated(store).await;
    pages_read_one_snapshot(store).await;
    where_filters_match_the_interpreter(store).await;
    refusals_are_reported_by_position(store).await;
}

/// An update that only the stored profile makes too large is refused and reported by
/// its position; the profile stays as it was, and the updates around it apply.
pub async fn refusals_are_reported_by_position(store: &dyn ProfileStore) {
    let full: Vec<Value> = (0..sextant_model::limits::MAX_PROFILE_LIST_ITEMS).map(|i| json!(i)).collect();
    store.update_profiles(vec![set(205, USER_PROFILES, "u", json!({"l": full}))]).await.unwrap();
    let union = ProfileUpdate {
        ops: vec![ProfileOp::Union(json!({"l": ["one more"]}).as_object().unwrap().clone())],
        ..set(205, USER_PROFILES, "u", json!({}))
    };
    let refused = store
        .update_profiles(vec![
            set(205, USER_PROFILES, "v", json!({"before": 1})),
            union,
            set(205, USER_PROFILES, "v", json!({"after": 1})),
        ])
        .await
        .unwrap();
    assert_eq!(refused.iter().map(|(at, r)| (*at, r.field.as_str())).collect::<Vec<_>>(), [(1, "$union.l")]);
    let found = all(store, query(205)).await;
    assert_eq!(found[0].1["l"].as_array().unwrap().len(), sextant_model::limits::MAX_PROFILE_LIST_ITEMS);
    assert_eq!(found[1].1, json!({"before": 1, "after": 1}).as_object().unwrap().clone());
}

/// A long sequence, sent in several calls, reads back as folding it with `apply`.
pub async fn updates_apply_in_order_as_the_model_folds_them(store: &dyn ProfileStore) {
    let ops = |i: usize| -> ProfileOp {
        let o = |v: Value| v.as_object().unwrap().clone();
        match i % 7 {
            0 => ProfileOp::Set(o(json!({"a": i, "l": [i]}))),
            1 => ProfileOp::Add(o(json!({"n": 2}))),
            2 => ProfileOp::Union(o(json!({"l": [1, 2, i % 3]}))),
            3 => ProfileOp::Remove(o(json!({"l": 1}))),
            4 => ProfileOp::SetOnce(o(json!({"first": i}))),
            5 => ProfileOp::Unset(vec!["a".into()]),
            _ => {
                if i.is_multiple_of(3) {
                    ProfileOp::Delete
                } else {
                    ProfileOp::Append(o(json!({"l": "x"})))
                }
            }
        }
    };
    let updates: Vec<ProfileUpdate> = (0..300)
        .map(|i| ProfileUpdate {
            key: key(201, USER_PROFILES, ["p", "q", "r"][i % 3]),
            ops: vec![ops(i / 3 + i % 5)],
            time_ms: 1_700_000_000_000 + i as i64,
            ignore_time: i.is_multiple_of(2),
            resolve_identity: false,
        })
        .collect();
    let mut expected: std::collections::BTreeMap<String, Option<Properties>> = Default::default();
    for u in &updates {
        apply(expected.entry(u.key.id.clone()).or_default(), u);
    }
    for chunk in updates.chunks(37) {
        store.update_profiles(chunk.to_vec()).await.unwrap();
    }
    let found = all(store, query(201)).await;
    let expected: Vec<(String, Properties)> = expected.into_iter().filter_map(|(id, p)| p.map(|p| (id, p))).collect();
    assert_eq!(found, expected);
}

/// A project sees only its profiles; group profiles only under their key.
pub async fn projects_and_group_keys_are_isolated(store: &dyn ProfileStore) {
    store
        .update_profiles(vec![
            set(202, USER_PROFILES, "u", json!({"who": "user"})),
            set(202, "company", "u", json!({"who": "group"})),
            set(203, USER_PROFILES, "u", json!({"who": "other project"})),
        ])
        .await
        .unwrap();
    let users = all(store, query(202)).await;
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].1["who"], "user");
    let groups = all(store, ProfileQuery { group_key: "company".into(), ..query(202) }).await;
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].1["who"], "group");
    let ids = all(store, ProfileQuery { ids: Some(vec!["u".into(), "v".into()]), ..query(203) }).await;
    assert_eq!(ids.len(), 1);
}

/// Later pages read page 0's snapshot; a session is refused outside its project.
pub async fn pages_read_one_snapshot(store: &dyn ProfileStore) {
    let updates = (0..25).map(|i| set(204, USER_PROFILES, &format!("id-{i:02}"), json!({"i": i}))).collect();
    store.update_profiles(updates).await.unwrap();
    let first = store.query_profiles(ProfileQuery { page_size: 10, ..query(204) }).await.unwrap();
    assert_eq!((first.total, first.profiles.len()), (25, 10));
    store.update_profiles(vec![set(204, USER_PROFILES, "id-000", json!({}))]).await.unwrap();
    let mut ids: Vec<String> = first.profiles.into_iter().map(|p| p.0).collect();
    for page in 1..3 {
        let q = ProfileQuery { page, page_size: 10, session_id: Some(first.session_id.clone()), ..query(204) };
        let p = store.query_profiles(q).await.unwrap();
        assert_eq!(p.total, 25);
        ids.extend(p.profiles.into_iter().map(|p| p.0));
    }
    assert_eq!(ids, (0..25).map(|i| format!("id-{i:02}")).collect::<Vec<_>>());
    let elsewhere = ProfileQuery { page: 1, session_id: Some(first.session_id), ..query(205) };
    assert!(matches!(store.query_profiles(elsewhere).await, Err(StorageError::InvalidRequest(_))));
    let missing = ProfileQuery { page: 1, ..query(204) };
    assert!(matches!(store.query_profiles(missing).await, Err(StorageError::InvalidRequest(_))));
}

/// A `where` selects what the interpreter selects, compiled or not.
pub async fn where_filters_match_the_interpreter(store: &dyn ProfileStore) {
    let profiles = [
        json!({"plan": "pro", "n": 5, "tags": ["a"]}),
        json!({"plan": "PRO", "n": "5"}),
        json!({"plan": "free", "n": 50}),
        json!({"n": null}),
        json!({}),
    ];
    let updates = profiles.iter().enumerate().map(|(i, p)| set(206, USER_PROFILES, &format!("w{i}"), p.clone()));
    store.update_profiles(updates.collect()).await.unwrap();
    for src in [
        r#"properties["plan"] == "pro""#,
        r#"properties["n"] > 4"#,
        r#"not defined(properties["plan"])"#,
        r#""a" in properties["tags"]"#,
        r#"len(split(properties["plan"], "r")) == 2"#,
        r#"user["plan"] != "free""#,
    ] {
        let program = sextant_expr::Program::parse(src, sextant_expr::Scope::Profile, Default::default()).expect(src);
        let expected: Vec<String> = profiles
            .iter()
            .enumerate()
            .filter(|(_, p)| crate::profile_matches(&program, p.as_object().unwrap(), None))
            .map(|(i, _)| format!("w{i}"))
            .collect();
        let found = all(store, ProfileQuery { filter: Some(Arc::new(program)), ..query(206) }).await;
        assert_eq!(found.into_iter().map(|p| p.0).collect::<Vec<_>>(), expected, "{src}");
    }
}
