//! User and group profiles: `/engage` and `/groups` in, the engage query out.

mod common;

use std::collections::BTreeMap;

use common::*;
use serde_json::{Map, Value, json};

impl TestServer {
    /// Posts `updates` as a JSON array to `path` (with `?strict=1` and so on) and returns
    /// the status and body.
    async fn post_updates(&self, path: &str, updates: &Value) -> (u16, String) {
        let r = self.http.post(self.url(path)).json(updates).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// One engage query with the project secret; parameters go in a form body.
    async fn engage(&self, form: &[(&str, &str)]) -> (u16, Value) {
        let r = self
            .http
            .post(self.url("/api/query/engage"))
            .basic_auth(&self.creds.secret, Some(""))
            .form(form)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    /// The profile of `id` (`None` when there is none), `$last_seen` left out.
    async fn profile(&self, id: &str, group_key: Option<&str>) -> Option<Value> {
        let mut form = vec![("distinct_id", id)];
        if let Some(k) = group_key {
            form.push(("data_group_id", k));
        }
        let (status, body) = self.engage(&form).await;
        assert_eq!(status, 200, "{body}");
        let results = body["results"].as_array().unwrap();
        assert!(results.len() <= 1);
        results.first().map(|r| {
            assert_eq!(r["$distinct_id"], id);
            let mut p = r["$properties"].clone();
            p.as_object_mut().unwrap().remove("$last_seen");
            p
        })
    }
}

fn engage_record(s: &TestServer, id: &str, op: &str, value: Value) -> Value {
    json!({"$token": s.creds.token, "$distinct_id": id, op: value, "$ignore_time": true})
}

#[tokio::test]
async fn every_engage_operation_reads_back_through_engage() {
    let s = TestServer::start();
    let steps = [
        ("$set_once", json!({"plan": "free", "visits": 1})),
        ("$set", json!({"plan": "pro", "name": "Ada"})),
        ("$set_once", json!({"plan": "ignored", "first": "yes"})),
        ("$add", json!({"visits": 2, "credit": -1.5})),
        ("$union", json!({"tags": ["a", "b"]})),
        ("$union", json!({"tags": ["b", "c"]})),
        ("$append", json!({"tags": "a", "log": {"k": 1}})),
        ("$remove", json!({"tags": "a", "missing": 1})),
        ("$unset", json!(["first"])),
    ];
    for (op, value) in steps {
        let (status, body) = s.post_updates("/engage?verbose=1", &json!([engage_record(&s, "ada", op, value)])).await;
        assert_eq!((status, body.as_str()), (200, r#"{"error":null,"status":1}"#), "{op}");
    }
    assert_eq!(
        s.profile("ada", None).await.unwrap(),
        json!({"plan": "pro", "name": "Ada", "visits": 3, "credit": -1.5, "tags": ["b", "c"], "log": [{"k": 1}]})
    );
    // $delete removes the profile; a later $set starts a new one.
    s.post_updates("/engage", &json!([engage_record(&s, "ada", "$delete", json!(""))])).await;
    assert_eq!(s.profile("ada", None).await, None);
    s.post_updates("/engage", &json!([engage_record(&s, "ada", "$set", json!({"back": true}))])).await;
    assert_eq!(s.profile("ada", None).await.unwrap(), json!({"back": true}));
}

#[tokio::test]
async fn last_seen_follows_time_unless_ignore_time() {
    let s = TestServer::start();
    let t = s.creds.token.clone();
    let body = json!([
        {"$token": t, "$distinct_id": "u", "$set": {"a": 1}, "$time": 1_700_000_000_000i64},
        {"$token": t, "$distinct_id": "u", "$set": {"b": 2}, "$time": 1_700_086_400, "$ignore_time": true},
    ]);
    assert_eq!(s.post_updates("/engage", &body).await, (200, "1".into()));
    let (_, page) = s.engage(&[("distinct_id", "u")]).await;
    assert_eq!(page["results"][0]["$properties"]["$last_seen"], "2023-11-14T22:13:20");
}

#[tokio::test]
async fn every_encoding_and_the_answers_each_sdk_expects() {
    let s = TestServer::start();
    let one = |id: &str| engage_record(&s, id, "$set", json!({"via": id}));
    // Form `data=` with base64 (Python, Node), raw JSON in `data=` (curl), GET (browser).
    let form = format!("data={}", urlencode(&b64(&json!([one("b64")]).to_string())));
    let r = s.http.post(s.url("/engage")).header("content-type", "application/x-www-form-urlencoded").body(form);
    assert_eq!(r.send().await.unwrap().text().await.unwrap(), "1");
    let form = format!("data={}", urlencode(&one("raw").to_string()));
    let r = s.http.post(s.url("/engage/")).header("content-type", "application/x-www-form-urlencoded").body(form);
    assert_eq!(r.send().await.unwrap().text().await.unwrap(), "1");
    let r = s.http.get(s.url(&format!("/engage?data={}", urlencode(&b64(&one("get").to_string())))));
    assert_eq!(r.send().await.unwrap().text().await.unwrap(), "1");
    let gz = gzip(json!([one("gzip")]).to_string().as_bytes());
    let r = s.http.post(s.url("/engage")).header("content-encoding", "gzip").header("content-type", "application/json");
    assert_eq!(r.body(gz).send().await.unwrap().text().await.unwrap(), "1");
    for id in ["b64", "raw", "get", "gzip"] {
        assert_eq!(s.profile(id, None).await.unwrap(), json!({"via": id}), "{id}");
    }
    // Failures: plain `0`, verbose with the reason, strict with each record.
    let bad = json!([{"$token": s.creds.token, "$set": {"a": 1}}]);
    assert_eq!(s.post_updates("/engage", &bad).await, (200, "0".into()));
    let (_, verbose) = s.post_updates("/engage?verbose=1", &bad).await;
    assert!(verbose.contains("$distinct_id") && verbose.contains("\"status\":0"), "{verbose}");
    let mixed = json!([one("ok"), {"$token": s.creds.token, "$distinct_id": "x", "$add": {"n": "two"}}]);
    let (status, strict) = s.post_updates("/engage?strict=1", &mixed).await;
    let strict: Value = serde_json::from_str(&strict).unwrap();
    assert_eq!(status, 400);
    assert_eq!(strict["num_records_imported"], 1);
    assert_eq!(strict["failed_records"][0]["index"], 1);
    assert_eq!(strict["failed_records"][0]["field"], "$add.n");
    // An unknown token is 401; more than 2000 updates is 413.
    let (status, _) =
        s.post_updates("/engage?verbose=1", &json!([{"$token": "nope", "$distinct_id": "u", "$set": {}}])).await;
    assert_eq!(status, 401);
    let many: Vec<Value> = (0..2001).map(|i| one(&format!("m{i}"))).collect();
    assert_eq!(s.post_updates("/engage", &Value::Array(many)).await.0, 413);
}

#[tokio::test]
async fn group_profiles_and_their_rules() {
    let s = TestServer::start();
    let g = |op: &str, value: Value| json!({"$token": s.creds.token, "$group_key": "company", "$group_id": "Acme", op: value, "$ignore_time": true});
    for (op, value) in [
        ("$set", json!({"size": 10, "plan": "x"})),
        ("$set_once", json!({"size": 99, "founded": 1999})),
        ("$union", json!({"regions": ["eu", "us"]})),
        ("$remove", json!({"regions": "us"})),
        ("$unset", json!(["plan"])),
    ] {
        assert_eq!(s.post_updates("/groups", &json!([g(op, value)])).await, (200, "1".into()), "{op}");
    }
    assert_eq!(
        s.profile("Acme", Some("company")).await.unwrap(),
        json!({"size": 10, "founded": 1999, "regions": ["eu"]})
    );
    assert_eq!(s.profile("Acme", None).await, None, "group profiles are not user profiles");
    for (record, field) in [
        (g("$add", json!({"n": 1})), "$add"),
        (g("$append", json!({"l": 1})), "$append"),
        (
            json!({"$token": s.creds.token, "$group_key": "company", "$group_id": "A", "$distinct_id": "u", "$set": {}}),
            "$distinct_id",
        ),
        (json!({"$token": s.creds.token, "$group_id": "A", "$set": {}}), "$group_key"),
    ] {
        let (status, body) = s.post_updates("/groups?strict=1", &json!([record])).await;
        assert_eq!(status, 400, "{body}");
        assert!(body.contains(&format!("\"field\":\"{field}\"")), "{body}");
    }
    s.post_updates("/groups", &json!([g("$delete", json!(null))])).await;
    assert_eq!(s.profile("Acme", Some("company")).await, None);
}

#[tokio::test]
async fn engage_query_filters_projects_and_pages_over_a_snapshot() {
    let s = TestServer::start();
    let updates: Vec<Value> = (0..25)
        .map(|i| {
            engage_record(
                &s,
                &format!("user-{i:02}"),
                "$set",
                json!({"n": i, "plan": if i % 2 == 0 { "pro" } else { "free" }}),
            )
        })
        .collect();
    s.post_updates("/engage", &Value::Array(updates)).await;
    // where + output_properties.
    let (_, page) = s
        .engage(&[
            ("where", r#"properties["plan"] == "pro" and properties["n"] >= 10"#),
            ("output_properties", r#"["n"]"#),
        ])
        .await;
    assert_eq!(page["total"], 8);
    let ids: Vec<&str> =
        page["results"].as_array().unwrap().iter().map(|r| r["$distinct_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["user-10", "user-12", "user-14", "user-16", "user-18", "user-20", "user-22", "user-24"]);
    assert_eq!(page["results"][0]["$properties"], json!({"n": 10}));
    // A `where` the SQL compiler declines (split without a count) runs per profile in
    // Rust, with the same answer.
    let (_, page) = s.engage(&[("where", r#"len(split(properties["plan"], "o")) == 2"#)]).await;
    assert_eq!(page["total"], 13, "{page}");
    // distinct_ids.
    let (_, page) = s.engage(&[("distinct_ids", r#"["user-03", "user-07", "nobody"]"#)]).await;
    assert_eq!(page["total"], 2);
    // Paging: pages of 10 over a snapshot; updates between pages change nothing.
    let (_, first) = s.engage(&[("page_size", "10")]).await;
    assert_eq!((first["total"].as_u64(), first["results"].as_array().unwrap().len()), (Some(25), 10));
    let session = first["session_id"].as_str().unwrap().to_string();
    s.post_updates(
        "/engage",
        &json!([
            engage_record(&s, "user-00a", "$set", json!({"new": true})),
            engage_record(&s, "user-24", "$delete", json!(""))
        ]),
    )
    .await;
    let mut seen: Vec<String> = Vec::new();
    for page in 0..3 {
        let page_text = page.to_string();
        let (status, body) = s.engage(&[("page_size", "10"), ("page", &page_text), ("session_id", &session)]).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["total"], 25);
        assert_eq!(body["page"], page);
        seen.extend(
            body["results"].as_array().unwrap().iter().map(|r| r["$distinct_id"].as_str().unwrap().to_string()),
        );
    }
    let expected: Vec<String> = (0..25).map(|i| format!("user-{i:02}")).collect();
    assert_eq!(seen, expected, "every profile of the snapshot exactly once, in id order");
    // A new query sees the updates.
    let (_, fresh) = s.engage(&[]).await;
    assert_eq!(fresh["total"], 25);
    // Errors in the Query API's shape.
    for (form, needle) in [
        (vec![("page", "1")], "session_id"),
        (vec![("page", "1"), ("session_id", "made-up")], "session_id"),
        (vec![("where", "properties[\"a\"] ==")], "where"),
        (vec![("distinct_ids", "user-1")], "distinct_ids"),
        (vec![("page_size", "0")], "page_size"),
        (vec![("filter_by_cohort", "nope")], "filter_by_cohort"),
    ] {
        let (status, body) = s.engage(&form).await;
        assert_eq!(status, 400, "{form:?}: {body}");
        assert!(body["error"].as_str().unwrap().contains(needle), "{form:?}: {body}");
        assert!(body["request"].is_string());
    }
    // The legacy path, with everything in the query string of a GET (mixpanel-utils).
    let r = s
        .http
        .get(s.url("/api/2.0/engage?where=properties%5B%22n%22%5D%20%3D%3D%203"))
        .basic_auth(&s.creds.secret, Some(""));
    let body: Value = r.send().await.unwrap().json().await.unwrap();
    assert_eq!(body["results"][0]["$distinct_id"], "user-03");
    // The project token may send updates but not read profiles.
    let r = s.http.get(s.url("/api/2.0/engage")).basic_auth(&s.creds.token, Some(""));
    assert_eq!(r.send().await.unwrap().status(), 401);
}

/// A small reference model of the operations, written apart from the server's.
fn model_apply(profiles: &mut BTreeMap<String, Map<String, Value>>, id: &str, op: &str, value: &Value) {
    if op == "$delete" {
        profiles.remove(id);
        return;
    }
    if matches!(op, "$unset" | "$remove") && !profiles.contains_key(id) {
        return;
    }
    let p = profiles.entry(id.to_string()).or_default();
    match op {
        "$set" => p.extend(value.as_object().unwrap().clone()),
        "$set_once" => {
            for (k, v) in value.as_object().unwrap() {
                p.entry(k.clone()).or_insert(v.clone());
            }
        }
        "$add" => {
            for (k, v) in value.as_object().unwrap() {
                match p.get(k) {
                    None | Some(Value::Null) => {
                        p.insert(k.clone(), v.clone());
                    }
                    Some(Value::Number(n)) => {
                        let sum = n.as_i64().unwrap() + v.as_i64().unwrap();
                        p.insert(k.clone(), json!(sum));
                    }
                    Some(_) => {}
                }
            }
        }
        "$union" | "$append" => {
            for (k, v) in value.as_object().unwrap() {
                let list = p.entry(k.clone()).or_insert(json!([]));
                let Some(list) = list.as_array_mut() else { continue };
                if op == "$append" {
                    list.push(v.clone());
                } else {
                    for item in v.as_array().unwrap() {
                        if !list.contains(item) {
                            list.push(item.clone());
                        }
                    }
                }
            }
        }
        "$remove" => {
            for (k, v) in value.as_object().unwrap() {
                if let Some(Value::Array(list)) = p.get_mut(k) {
                    list.retain(|x| x != v);
                }
            }
        }
        "$unset" => {
            for k in value.as_array().unwrap() {
                p.remove(k.as_str().unwrap());
            }
        }
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn long_random_operation_sequences_match_a_reference_model() {
    let s = TestServer::start();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    let ids = ["a", "b", "c", "d", "e", "f"];
    let keys = ["k1", "k2", "k3", "l1", "l2"];
    let values = [json!(1), json!(-2), json!("x"), json!("y"), json!(true), json!(null), json!([1, "x"])];
    let mut model: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for _batch in 0..40 {
        let mut batch = Vec::new();
        for _ in 0..(1 + next(60)) {
            let id = ids[next(ids.len() as u64) as usize];
            let key = keys[next(keys.len() as u64) as usize];
            let v = values[next(values.len() as u64) as usize].clone();
            let (op, value) = match next(9) {
                0 | 1 => ("$set", json!({key: v})),
                2 => ("$set_once", json!({key: v})),
                3 => {
                    let delta = [1, -3, 5][next(3) as usize];
                    ("$add", json!({key: delta}))
                }
                4 => ("$union", json!({key: [v, "u"]})),
                5 => ("$append", json!({key: v})),
                6 => ("$remove", json!({key: v})),
                7 => ("$unset", json!([key])),
                _ => {
                    if next(4) == 0 {
                        ("$delete", json!(""))
                    } else {
                        ("$set", json!({key: v}))
                    }
                }
            };
            model_apply(&mut model, id, op, &value);
            batch.push(engage_record(&s, id, op, value));
        }
        let (status, body) = s.post_updates("/engage?strict=1", &Value::Array(batch)).await;
        assert_eq!(status, 200, "{body}");
    }
    for id in ids {
        let expected = model.get(id).map(|p| Value::Object(p.clone()));
        assert_eq!(s.profile(id, None).await, expected, "profile {id}");
    }
}

fn clients_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

/// Runs a client script and reads the profiles it says it built.
fn run_client(cmd: &mut std::process::Command, what: &str) -> Value {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {what}: {e}; run scripts/test to install it"));
    assert!(out.status.success(), "{what} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{what} printed no JSON ({e})"))
}

/// Every profile the client built reads back as it expects, with `$last_seen` set.
async fn check_expected(s: &TestServer, expected: &Value) {
    for (id, props) in expected["users"].as_object().unwrap() {
        let found = s.profile(id, None).await;
        assert_eq!(found.as_ref(), if props.is_null() { None } else { Some(props) }, "user {id}");
        if !props.is_null() {
            let (_, page) = s.engage(&[("distinct_id", id)]).await;
            assert!(page["results"][0]["$properties"]["$last_seen"].is_string(), "{page}");
        }
    }
    for (key_id, props) in expected["groups"].as_object().unwrap() {
        let (key, id) = key_id.split_once('/').unwrap();
        let found = s.profile(id, Some(key)).await;
        assert_eq!(found.as_ref(), if props.is_null() { None } else { Some(props) }, "group {key_id}");
    }
}

#[tokio::test]
async fn official_python_client_updates_profiles_and_groups() {
    let s = TestServer::start();
    let python = std::env::var("SEXTANT_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let expected = run_client(
        std::process::Command::new(python).arg(clients_dir().join("python_profiles.py")).args([&s.url, &s.creds.token]),
        "the Python client",
    );
    check_expected(&s, &expected).await;
}

#[tokio::test]
async fn official_node_client_updates_profiles_and_groups() {
    let s = TestServer::start();
    let expected = run_client(
        std::process::Command::new("node").arg(clients_dir().join("node_profiles.js")).args([&s.addr, &s.creds.token]),
        "the Node client",
    );
    check_expected(&s, &expected).await;
}

#[tokio::test]
async fn mixpanel_utils_pages_through_every_profile_exactly_once() {
    let s = TestServer::start();
    for chunk in 0..3 {
        let updates: Vec<Value> = (chunk * 1000..(chunk + 1) * 1000)
            .map(|i| engage_record(&s, &format!("p{i:05}"), "$set", json!({"n": i})))
            .collect();
        assert_eq!(s.post_updates("/engage", &Value::Array(updates)).await, (200, "1".into()));
    }
    let python = std::env::var("SEXTANT_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = clients_dir().join("mixpanel_utils_engage.py");
    let all =
        run_client(std::process::Command::new(&python).arg(&script).args([&s.url, &s.creds.secret]), "mixpanel-utils");
    let mut ids: Vec<String> = all.as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    assert_eq!(ids.len(), 3000, "three pages of 1000");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3000, "no profile twice");
    let some = run_client(
        std::process::Command::new(&python).arg(&script).args([&s.url, &s.creds.secret, r#"properties["n"] >= 2500"#]),
        "mixpanel-utils with where",
    );
    assert_eq!(some.as_array().unwrap().len(), 500);
}
