//! Identity merge in both modes: Simplified (`$device_id`/`$user_id`) and Original
//! (`$identify`, `$create_alias`, `$merge`), read back through export, where every
//! event carries its cluster's canonical id.

mod common;

use std::collections::HashMap;

use common::*;
use serde_json::{Value, json};

struct Project {
    token: String,
    secret: String,
}

fn original_project(s: &TestServer) -> Project {
    let p = s.cli_json(&["project", "create", "--name", "orig", "--identity-mode", "original"]);
    assert_eq!(p["identity_mode"], "original");
    Project { token: p["token"].as_str().unwrap().into(), secret: p["secret"].as_str().unwrap().into() }
}

async fn import(s: &TestServer, secret: &str, events: &[Value]) {
    let r = s.http.post(s.url("/import?strict=1")).basic_auth(secret, Some("")).json(events).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

/// Every exported event of the project, by `$insert_id`.
async fn exported(s: &TestServer, secret: &str) -> HashMap<String, Value> {
    let (from, to) = chrono_like_today();
    let r = s
        .http
        .get(s.url(&format!("/api/2.0/export?from_date={from}&to_date={to}")))
        .basic_auth(secret, Some(""))
        .send()
        .await
        .unwrap();
    r.text()
        .await
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|e| (e["properties"]["$insert_id"].as_str().unwrap().to_string(), e))
        .collect()
}

fn event(name: &str, insert_id: &str, props: Value) -> Value {
    let mut p = props;
    p["time"] = json!(now_ms() - 1000);
    p["$insert_id"] = json!(insert_id);
    json!({"event": name, "properties": p})
}

#[tokio::test]
async fn simplified_mode_maps_devices_to_users_retroactively() {
    let s = TestServer::start();
    let secret = s.creds.secret.clone();
    import(
        &s,
        &secret,
        &[
            event("Anon", "e1", json!({"$device_id": "d1"})),
            event("Legacy device", "e2", json!({"distinct_id": "$device:d1"})),
            event("Login", "e3", json!({"$device_id": "d1", "$user_id": "alice"})),
            event("Known", "e4", json!({"$user_id": "alice", "distinct_id": "overridden"})),
            event("Legacy user", "e5", json!({"distinct_id": "alice"})),
            event("Steal", "e6", json!({"$device_id": "d1", "$user_id": "mallory"})),
            event("Ignored", "e7", json!({"distinct_id": "x", "$anon_id": "d9", "$identified_id": "alice"})),
        ],
    )
    .await;
    let e = exported(&s, &secret).await;
    for id in ["e1", "e2", "e3", "e4", "e5"] {
        assert_eq!(e[id]["properties"]["distinct_id"], "alice", "{id}: {}", e[id]);
    }
    assert_eq!(e["e2"]["properties"]["$device_id"], "d1", "a legacy $device: id gains $device_id");
    assert_eq!(e["e5"]["properties"]["$user_id"], "alice", "a legacy id gains $user_id");
    assert_eq!(e["e6"]["properties"]["distinct_id"], "mallory");
    assert!(e["e6"]["properties"]["$identity_failure_reason"].is_string(), "{}", e["e6"]);
    assert!(e["e3"]["properties"].get("$identity_failure_reason").is_none());
    assert_eq!(e["e7"]["properties"]["distinct_id"], "x");
}

#[tokio::test]
async fn original_mode_identify_alias_and_merge() {
    let s = TestServer::start();
    let p = original_project(&s);
    let anon = "5f0c4d2e-8b1a-4c3d-9e2f-0a1b2c3d4e5f";
    import(
        &s,
        &p.secret,
        &[
            event("Browse", "o1", json!({"distinct_id": anon})),
            event("$identify", "o2", json!({"distinct_id": "u1", "$identified_id": "u1", "$anon_id": anon})),
            event(
                "$identify",
                "o3",
                json!({"distinct_id": "u2", "$identified_id": "u2", "$anon_distinct_id": "not-a-guid"}),
            ),
            event("$create_alias", "o4", json!({"distinct_id": "u1", "alias": "ada@example.com"})),
            event("Email", "o5", json!({"distinct_id": "ada@example.com"})),
            event("Other", "o6", json!({"distinct_id": "u3"})),
            event("$merge", "o7", json!({"distinct_id": "u1", "$distinct_ids": ["u3", "u1"]})),
        ],
    )
    .await;
    // $merge through /track is refused.
    let track = json!([{"event": "$merge", "properties": {"token": p.token, "distinct_id": "u2", "$insert_id": "o8", "$distinct_ids": ["u2", "u3"]}}]);
    assert_eq!(s.http.post(s.url("/track")).json(&track).send().await.unwrap().text().await.unwrap(), "1");
    let e = exported(&s, &p.secret).await;
    for id in ["o1", "o2", "o4", "o5", "o6", "o7"] {
        assert_eq!(e[id]["properties"]["distinct_id"], "u3", "{id}: {}", e[id]);
    }
    assert_eq!(e["o3"]["properties"]["$failure_reason"], "errAnonDistinctIdNonGUIDForm");
    assert_eq!(e["o3"]["properties"]["distinct_id"], "u2");
    assert_eq!(e["o8"]["properties"]["$failure_reason"], "errMergeOnlyThroughImport");
    assert_eq!(e["o8"]["properties"]["distinct_id"], "u2");
}

/// A reference model of the identity graph, written apart from the server's.
#[derive(Default)]
struct Model {
    root: HashMap<String, String>,
}

impl Model {
    fn find(&self, id: &str) -> String {
        self.root.get(id).cloned().unwrap_or_else(|| id.to_string())
    }
    fn size(&self, root: &str) -> usize {
        self.root.values().filter(|r| *r == root).count().max(1)
    }
    fn in_cluster(&self, id: &str) -> bool {
        self.root.contains_key(id)
    }
    fn add(&mut self, id: &str, root: &str) {
        self.root.entry(root.to_string()).or_insert_with(|| root.to_string());
        self.root.insert(id.to_string(), root.to_string());
    }
    /// Joins `id` to `target`'s cluster if it is in none; false when refused.
    fn join(&mut self, id: &str, target: &str, limit: usize) -> bool {
        let root = self.find(target);
        if id == target || self.find(id) == root && self.in_cluster(id) {
            return true;
        }
        if self.in_cluster(id) || self.size(&root) + 1 > limit {
            return false;
        }
        self.add(id, &root);
        true
    }
    fn merge(&mut self, a: &str, b: &str) -> bool {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return true;
        }
        if self.size(&ra) + self.size(&rb) > 500 {
            return false;
        }
        self.root.entry(ra.clone()).or_insert_with(|| ra.clone());
        self.root.entry(rb.clone()).or_insert_with(|| rb.clone());
        for r in self.root.values_mut() {
            if *r == rb {
                *r = ra.clone();
            }
        }
        true
    }
}

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

#[tokio::test]
async fn random_simplified_interleavings_match_a_reference_model() {
    let s = TestServer::start();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut model = Model::default();
    let mut expected: Vec<(String, String, bool)> = Vec::new(); // insert id, sent distinct id, refused
    let mut batch = Vec::new();
    for i in 0..400 {
        let device = format!("d{}", rng.below(8));
        let user = format!("u{}", rng.below(4));
        let id = format!("s{i}");
        let (props, sent, refused) = match rng.below(5) {
            0 => (json!({"$device_id": device}), format!("$device:{device}"), false),
            1 => (json!({"$user_id": user}), user.clone(), false),
            2 | 3 => {
                let ok =
                    model.find(&format!("$device:{device}")) == user || !model.in_cluster(&format!("$device:{device}"));
                if ok {
                    model.join(&format!("$device:{device}"), &user, usize::MAX);
                }
                (json!({"$device_id": device, "$user_id": user}), user.clone(), !ok)
            }
            _ => (json!({"distinct_id": format!("$device:{device}")}), format!("$device:{device}"), false),
        };
        batch.push(event("e", &id, props));
        expected.push((id, sent, refused));
        if batch.len() == 1 + rng.below(40) {
            import(&s, &s.creds.secret, &std::mem::take(&mut batch)).await;
        }
    }
    import(&s, &s.creds.secret, &batch).await;
    let e = exported(&s, &s.creds.secret).await;
    for (id, sent, refused) in expected {
        let p = &e[&id]["properties"];
        assert_eq!(p["distinct_id"], model.find(&sent), "{id}: sent {sent}");
        assert_eq!(p.get("$identity_failure_reason").is_some(), refused, "{id}: {p}");
    }
}

#[tokio::test]
async fn random_original_interleavings_match_a_reference_model() {
    let s = TestServer::start();
    let p = original_project(&s);
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let anons: Vec<String> = (0..8).map(|i| format!("{i:08x}-0000-4000-8000-{i:012x}")).collect();
    let users: Vec<String> = (0..4).map(|i| format!("user{i}")).collect();
    let aliases: Vec<String> = (0..4).map(|i| format!("alias{i}@x")).collect();
    let all: Vec<String> = anons.iter().chain(&users).chain(&aliases).cloned().collect();
    let mut model = Model::default();
    let mut expected: Vec<(String, String, bool)> = Vec::new();
    let mut batch = Vec::new();
    for i in 0..400 {
        let id = format!("o{i}");
        let (name, props, sent, refused) = match rng.below(6) {
            0 => {
                let (anon, user) = (&anons[rng.below(anons.len())], &users[rng.below(users.len())]);
                let ok = model.join(anon, user, 500);
                ("$identify", json!({"distinct_id": user, "$identified_id": user, "$anon_id": anon}), user.clone(), !ok)
            }
            1 => {
                let (alias, target) = (&aliases[rng.below(aliases.len())], &all[rng.below(all.len())]);
                let ok = model.join(alias, target, 500);
                ("$create_alias", json!({"distinct_id": target, "alias": alias}), target.clone(), !ok)
            }
            2 => {
                let (a, b) = (&all[rng.below(all.len())], &all[rng.below(all.len())]);
                let ok = model.merge(a, b);
                ("$merge", json!({"distinct_id": a, "$distinct_ids": [a, b]}), a.clone(), !ok)
            }
            _ => {
                let who = &all[rng.below(all.len())];
                ("Page", json!({"distinct_id": who}), who.clone(), false)
            }
        };
        batch.push(event(name, &id, props));
        expected.push((id, sent, refused));
        if batch.len() == 1 + rng.below(40) {
            import(&s, &p.secret, &std::mem::take(&mut batch)).await;
        }
    }
    import(&s, &p.secret, &batch).await;
    let e = exported(&s, &p.secret).await;
    for (id, sent, refused) in expected {
        let props = &e[&id]["properties"];
        assert_eq!(props["distinct_id"], model.find(&sent), "{id}: sent {sent}");
        assert_eq!(props.get("$failure_reason").is_some(), refused, "{id}: {props}");
    }
}

#[tokio::test]
async fn a_devices_profile_folds_into_the_users_when_they_merge() {
    let s = TestServer::start();
    let secret = s.creds.secret.clone();
    let updates = json!([
        {"$token": s.creds.token, "$distinct_id": "$device:d7", "$set": {"first_touch": "ad", "plan": "trial"}},
        {"$token": s.creds.token, "$distinct_id": "bob", "$set": {"plan": "pro"}},
    ]);
    let r = s.http.post(s.url("/engage")).json(&updates).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "1");
    import(&s, &secret, &[event("Login", "m1", json!({"$device_id": "d7", "$user_id": "bob"}))]).await;
    let r = s.http.post(s.url("/api/query/engage")).basic_auth(&secret, Some("")).send().await.unwrap();
    let page: Value = r.json().await.unwrap();
    assert_eq!(page["total"], 1, "one profile for the merged cluster: {page}");
    let props = &page["results"][0]["$properties"];
    assert_eq!(page["results"][0]["$distinct_id"], "bob");
    assert_eq!(props["plan"], "pro", "the user's own value wins");
    assert_eq!(props["first_touch"], "ad", "the device's fills the gap");
}

#[tokio::test]
async fn original_mode_profile_updates_follow_aliases_unless_ignore_alias() {
    let s = TestServer::start();
    let p = original_project(&s);
    import(&s, &p.secret, &[event("$create_alias", "a1", json!({"distinct_id": "u1", "alias": "ada@x"}))]).await;
    let updates = json!([
        {"$token": p.token, "$distinct_id": "ada@x", "$set": {"via": "alias"}},
        {"$token": p.token, "$distinct_id": "ada@x", "$set": {"own": true}, "$ignore_alias": true},
    ]);
    let r = s.http.post(s.url("/engage")).json(&updates).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "1");
    let read = |id: &'static str| {
        let (s, secret) = (&s, p.secret.clone());
        async move {
            let r = s.http.post(s.url("/api/query/engage")).basic_auth(&secret, Some("")).form(&[("distinct_id", id)]);
            let body: Value = r.send().await.unwrap().json().await.unwrap();
            body["results"][0]["$properties"].clone()
        }
    };
    assert_eq!(read("u1").await["via"], "alias", "the update went to the canonical id");
    assert_eq!(read("ada@x").await["own"], true, "$ignore_alias kept the literal id");
    assert!(read("ada@x").await.get("via").is_none());
}

#[tokio::test]
async fn official_python_client_alias_and_merge() {
    let s = TestServer::start();
    let p = original_project(&s);
    let sa = s.cli_json(&["service-account", "create", "--project", "2", "--role", "admin"]);
    let python = std::env::var("SEXTANT_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients/python_identity.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .args([&s.url, &p.token, sa["username"].as_str().unwrap(), sa["secret"].as_str().unwrap(), "2"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let e = exported(&s, &p.secret).await;
    let ids: std::collections::BTreeSet<&str> = e
        .values()
        .filter(|e| e["event"] != "$merge")
        .map(|e| e["properties"]["distinct_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.into_iter().collect::<Vec<_>>(), ["py-original-user"], "{e:?}");
    assert!(e.values().all(|e| e["properties"].get("$failure_reason").is_none()), "{e:?}");
}

#[tokio::test]
async fn official_node_client_alias() {
    let s = TestServer::start();
    let p = original_project(&s);
    let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients/node_identity.js");
    let out = std::process::Command::new("node").arg(script).args([&s.addr, &p.token]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let e = exported(&s, &p.secret).await;
    let steps: Vec<(&str, &str)> = e
        .values()
        .filter(|e| e["event"] != "$create_alias")
        .map(|e| (e["event"].as_str().unwrap(), e["properties"]["distinct_id"].as_str().unwrap()))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(steps, [("After alias", "node-original"), ("Before alias", "node-original")], "{e:?}");
    assert!(e.values().all(|e| e["properties"].get("$failure_reason").is_none()), "{e:?}");
}

#[tokio::test]
async fn the_activity_feed_follows_identity_clusters() {
    let s = TestServer::start();
    let secret = s.creds.secret.clone();
    import(
        &s,
        &secret,
        &[
            event("Anon", "f1", json!({"$device_id": "d1"})),
            event("Login", "f2", json!({"$device_id": "d1", "$user_id": "alice"})),
            event("Other", "f3", json!({"$user_id": "bob"})),
        ],
    )
    .await;
    let (from, to) = chrono_like_today();
    let feed = |ids: &str, from: String, to: String| {
        let url =
            s.url(&format!("/api/query/stream/query?distinct_ids={}&from_date={from}&to_date={to}", urlencode(ids)));
        let req = s.http.get(url).basic_auth(&secret, Some(""));
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    for ids in [r#"["alice"]"#, r#"["$device:d1"]"#] {
        let (status, body) = feed(ids, from.clone(), to.clone()).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status"], "ok");
        let events = body["results"]["events"].as_array().unwrap();
        let names: Vec<&str> = events.iter().map(|e| e["event"].as_str().unwrap()).collect();
        assert_eq!(names, ["Anon", "Login"], "{ids}");
        assert!(events.iter().all(|e| e["properties"]["distinct_id"] == "alice"));
        assert!(events[0]["properties"]["time"].is_i64());
    }
    let (_, both) = feed(r#"["alice", "bob"]"#, from.clone(), to.clone()).await;
    assert_eq!(both["results"]["events"].as_array().unwrap().len(), 3);
    let (_, none) = feed(r#"["carol"]"#, from.clone(), to.clone()).await;
    assert_eq!(none["results"]["events"], json!([]));
    let (status, err) = feed("alice", from.clone(), to.clone()).await;
    assert_eq!(status, 400);
    assert!(err["error"].as_str().unwrap().contains("distinct_ids"), "{err}");
    let (status, _) = feed(r#"["alice"]"#, to.clone(), from.clone()).await;
    assert_eq!(status, 400);
}
