//! The operations' semantics, the size limits and `$union`'s cost.

use super::*;
use serde_json::json;

#[test]
fn a_profile_holds_at_most_2000_properties() {
    let many: Properties = (0..2100).map(|i| (format!("p{i}"), json!(i))).collect();
    let mut profile = None;
    let mut u = update(vec![ProfileOp::Set(many)]);
    u.ignore_time = false;
    apply(&mut profile, &u);
    let p = profile.as_ref().unwrap();
    assert_eq!(p.len(), MAX_PROFILE_PROPERTIES + 1, "2000 and $last_seen");
    // Full: a new property is left out, an existing one still changes.
    let more = json!({"p0": "changed", "new": 1}).as_object().unwrap().clone();
    apply(&mut profile, &update(vec![ProfileOp::Set(more.clone()), ProfileOp::Add(more)]));
    let p = profile.as_ref().unwrap();
    assert_eq!(p["p0"], "changed");
    assert!(!p.contains_key("new"));
    // Room again after an unset.
    apply(&mut profile, &update(vec![ProfileOp::Unset(vec!["p1".into()])]));
    let add = json!({"new": 2}).as_object().unwrap().clone();
    apply(&mut profile, &update(vec![ProfileOp::Add(add)]));
    assert_eq!(profile.unwrap()["new"], 2);
}

/// `$union` as it was defined before the hash set (a `Vec::contains` per item): the
/// semantics to keep.
fn union_by_contains(list: &mut Vec<Value>, new: &[Value]) {
    for item in new {
        if !list.contains(item) {
            list.push(item.clone());
        }
    }
}

/// Deterministic values with many equal pairs under `Value`'s equality, some of them
/// spelled differently (`0.0` and `-0.0`), and pairs that look alike but differ (`1`
/// and `1.0`), objects, nested lists, nulls and booleans.
fn sample(seed: u64) -> Value {
    match seed % 9 {
        0 => json!(seed % 5),
        1 => json!((seed % 5) as f64),
        2 => json!(-0.0),
        3 => json!(0.0),
        4 => json!(format!("s{}", seed % 7)),
        5 => json!({"a": seed % 3, "b": "x"}),
        6 => json!({"b": "x", "a": (seed % 3) as f64}),
        7 => json!([seed % 2, [seed % 3]]),
        _ if seed.is_multiple_of(2) => Value::Null,
        _ => json!(seed % 4 == 1),
    }
}

fn one(key: &str, value: Value) -> Properties {
    let mut p = Map::new();
    p.insert(key.to_string(), value);
    p
}

fn text_len(p: Option<&Properties>) -> usize {
    p.map_or(0, |p| serde_json::to_string(p).unwrap().len())
}

#[test]
fn union_keeps_order_first_occurrences_and_value_equality() {
    let mut state = 7u64;
    let mut next = move || {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        state >> 33
    };
    // Small unions are compared directly, larger ones through the hash set.
    for (existing, new) in [(0, 3), (5, 8), (5, 9), (40, 200), (300, 1000)] {
        let list: Vec<Value> = (0..existing).map(|_| sample(next())).collect();
        let items: Vec<Value> = (0..new).map(|_| sample(next())).collect();
        let mut expected = list.clone();
        union_by_contains(&mut expected, &items);
        let mut p = Some(one("l", Value::Array(list)));
        let outcome = apply(&mut p, &update(vec![ProfileOp::Union(one("l", Value::Array(items.clone())))]));
        assert_eq!(outcome, Outcome::Applied);
        assert_eq!(p.unwrap()["l"], Value::Array(expected), "{existing} + {new}");
        // Onto a missing property: the distinct items, in order.
        let mut expected = Vec::new();
        union_by_contains(&mut expected, &items);
        let mut p = None;
        apply(&mut p, &update(vec![ProfileOp::Union(one("l", Value::Array(items)))]));
        assert_eq!(p.unwrap()["l"], Value::Array(expected));
    }
    let mut p = None;
    apply(&mut p, &update(vec![ProfileOp::Union(obj(json!({"l": [-0.0, 1, 0.0, 1.0, 1, {"a": 1}]})))]));
    assert_eq!(p.unwrap()["l"], json!([-0.0, 1, 1.0, {"a": 1}]), "0.0 equals -0.0; 1 differs from 1.0");
}

#[test]
fn a_list_holds_at_most_the_item_limit_and_an_update_over_it_changes_nothing() {
    let full: Vec<Value> = (0..MAX_PROFILE_LIST_ITEMS).map(|i| json!(i)).collect();
    let mut p = Some(obj(json!({"l": full, "plan": "free"})));
    let before = p.clone();
    // Items already present add nothing: accepted.
    assert!(apply(&mut p, &update(vec![ProfileOp::Union(obj(json!({"l": [0, 1, 2]})))])).is_applied());
    assert_eq!(p, before);
    // One new item: refused, and the `$set` of the same update, and `$last_seen`, undone.
    let mut u = update(vec![
        ProfileOp::Set(obj(json!({"plan": "pro", "new": 1}))),
        ProfileOp::Union(obj(json!({"l": [0, -1]}))),
    ]);
    u.ignore_time = false;
    let Outcome::Refused(r) = apply(&mut p, &u) else { panic!("a list over the limit was stored") };
    assert_eq!(r.field, "$union.l");
    assert_eq!(
        r.to_string(),
        format!(
            "'$union.l' is invalid: the list would hold {} items; a profile's list holds at most {}",
            MAX_PROFILE_LIST_ITEMS + 1,
            MAX_PROFILE_LIST_ITEMS
        )
    );
    assert_eq!(p, before);
    // Many new items at once (more than the hash-set threshold), and `$append`, alike.
    let many: Vec<Value> = (0..150_000).map(|i| json!(-1 - i)).collect();
    let outcome = apply(&mut p, &update(vec![ProfileOp::Union(one("l", Value::Array(many)))]));
    assert!(matches!(outcome, Outcome::Refused(ref r) if r.field == "$union.l"));
    let outcome = apply(&mut p, &update(vec![ProfileOp::Append(obj(json!({"l": 5})))]));
    assert!(matches!(outcome, Outcome::Refused(ref r) if r.field == "$append.l"));
    assert_eq!(p, before);
    // After a `$remove` there is room for one more.
    apply(&mut p, &update(vec![ProfileOp::Remove(obj(json!({"l": 0})))]));
    assert!(apply(&mut p, &update(vec![ProfileOp::Append(obj(json!({"l": "x"})))])).is_applied());
    assert_eq!(p.unwrap()["l"].as_array().unwrap().len(), MAX_PROFILE_LIST_ITEMS);
}

#[test]
fn a_value_holds_at_most_256_kib_of_json() {
    // Items of 1002 bytes: `1 + 1003 n` bytes for n of them.
    let item = json!("x".repeat(1000));
    let n = (MAX_PROFILE_VALUE_BYTES - 1) / 1003;
    let list = Value::Array(vec![item.clone(); n]);
    assert!(serde_json::to_string(&list).unwrap().len() + 1003 > MAX_PROFILE_VALUE_BYTES);
    let mut p = None;
    assert!(apply(&mut p, &update(vec![ProfileOp::Set(one("l", list))])).is_applied());
    let before = p.clone();
    let outcome = apply(&mut p, &update(vec![ProfileOp::Append(one("l", item.clone()))]));
    assert!(matches!(outcome, Outcome::Refused(ref r) if r.field == "$append.l"), "{outcome:?}");
    let outcome = apply(&mut p, &update(vec![ProfileOp::Union(one("l", json!(["y".repeat(1000)])))]));
    assert!(matches!(outcome, Outcome::Refused(ref r) if r.field == "$union.l"), "{outcome:?}");
    let outcome = apply(&mut p, &update(vec![ProfileOp::Set(one("l", Value::Array(vec![item; n + 1])))]));
    assert!(matches!(outcome, Outcome::Refused(ref r) if r.field == "$set.l"), "{outcome:?}");
    assert_eq!(p, before);
}

#[test]
fn a_profile_holds_at_most_a_mib_of_json() {
    // Lists of about 200 KB: five fit in 1 MiB, six do not.
    let list = || Value::Array(vec![json!("x".repeat(1000)); 200]);
    let mut profile = Profile::new(None);
    for key in ["a", "b", "c", "d", "e"] {
        assert!(profile.apply(&update(vec![ProfileOp::Set(one(key, list()))])).is_applied());
    }
    assert_eq!(profile.bytes(), text_len(profile.properties()));
    let before = profile.clone();
    let Outcome::Refused(r) = profile.apply(&update(vec![ProfileOp::Set(one("f", list()))])) else {
        panic!("a profile over the limit was stored")
    };
    assert_eq!(r.field, "$set");
    assert!(r.reason.ends_with(&format!("a profile holds at most {MAX_PROFILE_BYTES}")), "{}", r.reason);
    assert_eq!(profile, before);
    // Smaller updates of a full profile still apply; so does one that frees room first.
    assert!(profile.apply(&update(vec![ProfileOp::Set(obj(json!({"plan": "pro"})))])).is_applied());
    assert!(profile.apply(&update(vec![ProfileOp::Unset(vec!["a".into()])])).is_applied());
    assert!(profile.apply(&update(vec![ProfileOp::Set(one("f", list()))])).is_applied());
    assert_eq!(profile.bytes(), text_len(profile.properties()));
}

#[test]
fn a_refused_update_is_undone_whatever_the_order_of_its_operations() {
    let start = obj(json!({"l": [1, 2, 1], "n": 1, "gone": "x"}));
    let over = Value::Array((0..=MAX_PROFILE_LIST_ITEMS).map(|i| json!(i)).collect());
    let ops = vec![
        ProfileOp::Remove(obj(json!({"l": 1}))),
        ProfileOp::Unset(vec!["gone".into()]),
        ProfileOp::Union(obj(json!({"l": [7, 8]}))),
        ProfileOp::Add(obj(json!({"n": 2}))),
        ProfileOp::Delete,
        ProfileOp::Set(obj(json!({"fresh": 1}))),
        ProfileOp::Append(obj(json!({"fresh2": 1, "n2": 2}))),
        ProfileOp::Set(one("z", over.clone())),
    ];
    let mut p = Some(start.clone());
    let outcome = apply(&mut p, &update(ops));
    assert!(matches!(outcome, Outcome::Refused(ref r) if r.field == "$set.z"), "{outcome:?}");
    assert_eq!(p, Some(start));
    // A refused update creates no profile.
    let mut p = None;
    let ops = vec![ProfileOp::Set(obj(json!({"a": 1}))), ProfileOp::Union(one("l", over))];
    assert!(!apply(&mut p, &update(ops)).is_applied());
    assert_eq!(p, None);
}

#[test]
fn the_kept_size_is_the_size_of_the_json() {
    let mut profile = Profile::new(Some(obj(json!({"old": [1, 2, 2, -0.0, 3], "s\u{e9}\"": "\u{e9}\n"}))));
    assert_eq!(profile.bytes(), text_len(profile.properties()));
    let many: Vec<Value> = (0..20).map(|i| json!(format!("t{}", i % 12))).collect();
    let steps = vec![
        vec![ProfileOp::SetOnce(obj(json!({"first": "a", "s\u{e9}\"": "ignored"})))],
        vec![ProfileOp::Set(obj(json!({"first": "replaced", "obj": {"k": [1, {"x": null}]}})))],
        vec![ProfileOp::Add(obj(json!({"n": 1, "f": 0.5})))],
        vec![ProfileOp::Add(obj(json!({"n": 2, "f": 1e300})))],
        vec![ProfileOp::Union(obj(json!({"old": [3, 4], "new": []})))],
        vec![ProfileOp::Union(one("tags", Value::Array(many)))],
        vec![ProfileOp::Append(obj(json!({"old": {"a": 1}, "fresh": "x"})))],
        vec![ProfileOp::Remove(obj(json!({"old": 0.0, "tags": "t3", "fresh": "x"})))],
        vec![ProfileOp::Remove(obj(json!({"old": 2})))],
        vec![ProfileOp::Unset(vec!["first".into(), "missing".into(), "s\u{e9}\"".into()])],
        vec![ProfileOp::Delete],
        vec![ProfileOp::Unset(vec!["x".into()])],
        vec![ProfileOp::Append(obj(json!({"only": 1})))],
        vec![ProfileOp::Unset(vec!["only".into()])],
        vec![ProfileOp::Set(obj(json!({"again": true}))), ProfileOp::Delete],
        vec![ProfileOp::Set(obj(json!({"again": true})))],
    ];
    for (i, ops) in steps.into_iter().enumerate() {
        let mut u = update(ops);
        u.ignore_time = i % 3 == 0;
        u.time_ms += i as i64 * 1000;
        assert!(profile.apply(&u).is_applied(), "step {i}");
        assert_eq!(profile.bytes(), text_len(profile.properties()), "after step {i}");
    }
}

#[test]
fn operations_over_a_limit_are_refused_before_a_profile_is_read() {
    let many = |n: usize| Value::Array((0..n).map(|i| json!(i)).collect());
    assert_eq!(check_operation(&ProfileOp::Union(one("l", many(MAX_PROFILE_OPERATION_ITEMS)))), Ok(()));
    let half = MAX_PROFILE_OPERATION_ITEMS / 2 + 1;
    let mut two = one("a", many(half));
    two.insert("b".into(), many(half));
    let r = check_operation(&ProfileOp::Union(two)).unwrap_err();
    assert_eq!(
        r.to_string(),
        format!(
            "'$union' is invalid: carries {} items; one operation may carry at most {MAX_PROFILE_OPERATION_ITEMS}",
            2 * half
        )
    );
    let r = check_operation(&ProfileOp::SetOnce(one("l", many(MAX_PROFILE_LIST_ITEMS + 1)))).unwrap_err();
    assert_eq!(r.field, "$set_once.l");
    let r = check_operation(&ProfileOp::Set(one("blob", json!("x".repeat(MAX_PROFILE_VALUE_BYTES))))).unwrap_err();
    assert_eq!(r.field, "$set.blob");
    let r = check_operation(&ProfileOp::Append(one("blob", json!("x".repeat(MAX_PROFILE_VALUE_BYTES - 3)))));
    assert_eq!(r.unwrap_err().field, "$append.blob");
    let keys: Properties = (0..=MAX_PROFILE_OPERATION_ITEMS).map(|i| (format!("k{i}"), json!(i))).collect();
    assert_eq!(check_operation(&ProfileOp::Append(keys)).unwrap_err().field, "$append");
}

fn update(ops: Vec<ProfileOp>) -> ProfileUpdate {
    ProfileUpdate {
        key: ProfileKey { project_id: ProjectId(1), group_key: String::new(), id: "u".into() },
        ops,
        time_ms: 1_700_000_000_000,
        ignore_time: true,
        resolve_identity: false,
    }
}

fn obj(v: Value) -> Properties {
    v.as_object().unwrap().clone()
}

#[test]
fn operations_build_a_profile() {
    let mut p = None;
    for ops in [
        vec![ProfileOp::SetOnce(obj(json!({"plan": "free", "n": 1})))],
        vec![ProfileOp::Set(obj(json!({"plan": "pro"})))],
        vec![ProfileOp::SetOnce(obj(json!({"plan": "ignored"})))],
        vec![ProfileOp::Add(obj(json!({"n": 2, "m": -1.5, "plan": 1})))],
        vec![ProfileOp::Union(obj(json!({"tags": ["a", "b"]})))],
        vec![ProfileOp::Union(obj(json!({"tags": ["b", "c"]})))],
        vec![ProfileOp::Append(obj(json!({"tags": "a", "plan": "x"})))],
        vec![ProfileOp::Remove(obj(json!({"tags": "a"})))],
        vec![ProfileOp::Unset(vec!["m".into()])],
    ] {
        apply(&mut p, &update(ops));
    }
    assert_eq!(Value::Object(p.unwrap()), json!({"plan": "pro", "n": 3, "tags": ["b", "c"]}));
}

#[test]
fn delete_removes_the_profile_and_set_recreates_it() {
    let mut p = None;
    apply(&mut p, &update(vec![ProfileOp::Set(obj(json!({"a": 1})))]));
    apply(&mut p, &update(vec![ProfileOp::Delete]));
    assert_eq!(p, None);
    apply(&mut p, &update(vec![ProfileOp::Remove(obj(json!({"a": 1})))]));
    assert_eq!(p, None, "$remove and $unset create nothing");
    apply(&mut p, &update(vec![ProfileOp::Set(obj(json!({"b": 2})))]));
    assert_eq!(Value::Object(p.unwrap()), json!({"b": 2}));
}

#[test]
fn last_seen_follows_the_update_time_forward_only() {
    let mut p = None;
    let mut u = update(vec![ProfileOp::Set(obj(json!({"a": 1})))]);
    u.ignore_time = false;
    apply(&mut p, &u);
    assert_eq!(p.as_ref().unwrap()["$last_seen"], "2023-11-14T22:13:20");
    u.time_ms -= 86_400_000;
    apply(&mut p, &u);
    assert_eq!(p.as_ref().unwrap()["$last_seen"], "2023-11-14T22:13:20");
}
