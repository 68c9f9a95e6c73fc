//! Lexicon schemas over HTTP, in the shapes of Mixpanel's Lexicon Schemas spec: a round
//! trip of 1,000 declared events with 20 properties each, replacement that keeps the
//! Mixpanel metadata it leaves out, truncation, deletion by project, type and name;
//! declarations acting at ingestion (dropped events and properties, type violations
//! counted) and what was sent but never declared listed as inferred; the limits (requests and entries a minute, deletions a request); and who
//! may read and write.

mod common;

use common::*;
use serde_json::{Value, json};

/// The round trip writes 21,000 entries and properties in five batches and reads them
/// back: within these limits, which the configuration raises from Mixpanel's 5 requests
/// and 4,000 entries and properties a minute.
const ROUND_TRIP_LIMITS: &str = "[rate_limits.default.lexicon]\nper_minute = 30\nitems_per_minute = 25000\n";

fn base(s: &TestServer) -> String {
    s.url(&format!("/api/app/projects/{}/schemas", s.creds.project_id))
}

fn event_entry(i: usize) -> Value {
    let properties: serde_json::Map<String, Value> = (0..20)
        .map(|p| {
            let kind = ["string", "number", "boolean", "integer"][p % 4];
            (format!("prop_{p}"), json!({"type": kind, "description": format!("property {p} of event {i}")}))
        })
        .collect();
    json!({
        "entityType": "event",
        "name": format!("Event {i}"),
        "schemaJson": {
            "description": format!("event number {i}"),
            "properties": properties,
            "metadata": {"com.mixpanel": {"displayName": format!("Event #{i}"), "tags": ["generated"], "hidden": i.is_multiple_of(10)}}
        }
    })
}

#[tokio::test]
async fn a_thousand_events_are_declared_read_back_replaced_and_truncated() {
    let s = TestServer::start_with_config(ROUND_TRIP_LIMITS);
    let owner = |r: reqwest::RequestBuilder| r.basic_auth(&s.creds.sa_user, Some(&s.creds.sa_secret));

    // Declared in five batches of 200 events (4,200 entries and properties each).
    let mut added = 0;
    for batch in 0..5 {
        let entries: Vec<Value> = (batch * 200..(batch + 1) * 200).map(event_entry).collect();
        let (status, body) = send(owner(s.http.post(base(&s))).json(&json!({"entries": entries}))).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status"], "ok");
        assert_eq!(body["results"]["deleted"], 0);
        added += body["results"]["added"].as_u64().unwrap();
    }
    assert_eq!(added, 1000);

    // Read back: every entry, as sent, by type and name.
    let (status, all) = send(owner(s.http.get(base(&s)))).await;
    assert_eq!(status, 200, "{all}");
    let results = all["results"].as_array().unwrap();
    assert_eq!(results.len(), 1000);
    let seventh = results.iter().find(|e| e["name"] == "Event 7").unwrap();
    assert_eq!(seventh, &event_entry(7), "stored as sent");
    let (_, events) = send(owner(s.http.get(format!("{}/event", base(&s))))).await;
    assert_eq!(events["results"].as_array().unwrap().len(), 1000);
    let (_, profiles) = send(owner(s.http.get(format!("{}/profile", base(&s))))).await;
    assert_eq!(profiles, json!({"results": [], "status": "ok"}));
    let (_, named) = send(owner(s.http.get(format!("{}/event?entity_name=Event%207", base(&s))))).await;
    assert_eq!(named["results"], json!([event_entry(7)]));
    let (status, bare) = send(owner(s.http.get(format!("{}/event/Event%207", base(&s))))).await;
    assert_eq!(status, 200);
    assert_eq!(bare, event_entry(7)["schemaJson"], "one entry is answered as its bare schema");
    let (status, missing) = send(owner(s.http.get(format!("{}/event/Nothing", base(&s))))).await;
    assert_eq!((status, &missing["status"]), (404, &json!("error")), "{missing}");

    // Replaced: the Mixpanel metadata the request leaves out is kept.
    let replacement = json!({"description": "replaced", "properties": {"only": {"type": "string"}},
                             "metadata": {"com.mixpanel": {"hidden": true}}});
    let (status, body) = send(owner(s.http.post(format!("{}/event/Event%207", base(&s)))).json(&replacement)).await;
    assert_eq!((status, body), (200, json!({"status": "ok"})));
    let (_, bare) = send(owner(s.http.get(format!("{}/event/Event%207", base(&s))))).await;
    assert_eq!(bare["description"], "replaced");
    assert_eq!(bare["properties"], json!({"only": {"type": "string"}}));
    assert_eq!(
        bare["metadata"]["com.mixpanel"],
        json!({"displayName": "Event #7", "tags": ["generated"], "hidden": true})
    );

    // Truncated: only what the request names remains.
    let keep = json!({"entries": [event_entry(1), {"entityType": "profile", "name": "$email", "schemaJson": {"description": "e-mail"}}],
                      "truncate": true});
    let (status, body) = send(owner(s.http.post(base(&s))).json(&keep)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["results"], json!({"added": 2, "deleted": 999}));
    let (_, all) = send(owner(s.http.get(base(&s)))).await;
    let names: Vec<(&str, &str)> = all["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["entityType"].as_str().unwrap(), e["name"].as_str().unwrap()))
        .collect();
    assert_eq!(names, [("event", "Event 1"), ("profile", "$email")]);

    // Deleted by name, by type, and all.
    let (_, body) = send(owner(s.http.delete(format!("{}/event/Event%201", base(&s))))).await;
    assert_eq!(body, json!({"results": {"delete_count": 1}, "status": "ok"}));
    let (_, body) = send(owner(s.http.delete(format!("{}/event", base(&s))))).await;
    assert_eq!(body["results"]["delete_count"], 0);
    let (_, body) = send(owner(s.http.delete(base(&s)))).await;
    assert_eq!(body["results"]["delete_count"], 1);
    let (_, all) = send(owner(s.http.get(base(&s)))).await;
    assert_eq!(all["results"], json!([]));
}

#[tokio::test]
async fn declarations_drop_events_and_properties_and_count_type_violations() {
    let s = TestServer::start_with_config(ROUND_TRIP_LIMITS);
    let owner = |r: reqwest::RequestBuilder| r.basic_auth(&s.creds.sa_user, Some(&s.creds.sa_secret));
    let schemas = json!({"entries": [
        {"entityType": "event", "name": "Noise", "schemaJson": {"metadata": {"com.mixpanel": {"dropped": true}}}},
        {"entityType": "event", "name": "Buy", "schemaJson": {"properties": {
            "amount": {"type": "number"},
            "card": {"type": "string", "metadata": {"com.mixpanel": {"dropped": true}}}
        }}}
    ]});
    let (status, body) = send(owner(s.http.post(base(&s))).json(&schemas)).await;
    assert_eq!(status, 200, "{body}");

    let m = marker();
    let now = now_ms() / 1000;
    let event = |name: &str, props: Value| {
        let mut p = props;
        p["token"] = json!(s.creds.token);
        p["distinct_id"] = json!("u1");
        p["time"] = json!(now);
        p["m"] = json!(m);
        p["$insert_id"] = json!(format!("{name}-{}", p.to_string().len()));
        json!({"event": name, "properties": p})
    };
    let batch = json!([
        event("Noise", json!({})),
        event("Buy", json!({"amount": 12.5, "card": "4111"})),
        event("Buy", json!({"amount": "twelve"})),
        event("Undeclared", json!({"card": "kept"})),
    ]);
    let r = s.http.post(s.url("/track?verbose=1")).json(&batch).send().await.unwrap();
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["status"], 1, "dropped events are accepted, not failed: {answer}");

    let stored = s.export("").await;
    let mine = with_marker(&stored, &m);
    let mut seen: Vec<(String, Value, Value)> = mine
        .iter()
        .map(|e| {
            (
                e["event"].as_str().unwrap().to_string(),
                e["properties"]["amount"].clone(),
                e["properties"]["card"].clone(),
            )
        })
        .collect();
    seen.sort_by_key(|(name, amount, _)| (name.clone(), amount.to_string()));
    assert_eq!(
        seen,
        [
            ("Buy".to_string(), json!("twelve"), Value::Null),
            ("Buy".to_string(), json!(12.5), Value::Null),
            ("Undeclared".to_string(), Value::Null, json!("kept")),
        ],
        "Noise is dropped, Buy loses `card`, a wrong type is stored"
    );

    // The violation is counted on the entry, and on `/metrics`.
    let (_, buy) = send(owner(s.http.get(format!("{}/event/Buy", base(&s))))).await;
    assert_eq!(buy["metadata"]["sextant"]["violations"], json!({"amount": 1}), "{buy}");
    let metrics = s.http.get(s.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("sextant_lexicon_dropped_total"), "{metrics}");
    assert!(metrics.contains("sextant_lexicon_type_violations_total"), "{metrics}");

    // What was sent but never declared is listed as inferred; the declared entry shows
    // what was sent beside what it declares. Dropped events never reached the store.
    let (_, all) = send(owner(s.http.get(base(&s)))).await;
    let entry = |name: &str| all["results"].as_array().unwrap().iter().find(|e| e["name"] == name).cloned();
    let undeclared = entry("Undeclared").unwrap();
    assert_eq!(undeclared["entityType"], "event");
    assert_eq!(undeclared["schemaJson"]["properties"]["card"], json!({"type": "string"}));
    assert_eq!(undeclared["schemaJson"]["metadata"]["sextant"]["inferred"], true);
    assert_eq!(undeclared["schemaJson"]["metadata"]["sextant"]["count"], 1);
    let buy = entry("Buy").unwrap();
    let ours = &buy["schemaJson"]["metadata"]["sextant"];
    assert_eq!((&ours["inferred"], &ours["count"]), (&json!(false), &json!(2)), "{buy}");
    assert_eq!(ours["undeclared"]["m"]["kinds"], json!(["string"]), "the marker was sent, not declared: {buy}");
    assert!(ours["undeclared"].get("card").is_none(), "a dropped property never reaches the store");
    let (_, declared_only) = send(owner(s.http.get(format!("{}?inferred=false", base(&s))))).await;
    assert!(declared_only["results"].as_array().unwrap().iter().all(|e| e["name"] != "Undeclared"));
    let (_, buy) = send(owner(s.http.get(format!("{}/event/Buy", base(&s))))).await;

    // A schema read and sent back does not store Sextant's counts.
    let (status, _) = send(owner(s.http.post(format!("{}/event/Buy", base(&s)))).json(&buy)).await;
    assert_eq!(status, 200);
    let (_, list) = send(owner(s.http.get(format!("{}/event?entity_name=Buy", base(&s))))).await;
    assert_eq!(list["results"][0]["schemaJson"]["metadata"]["sextant"]["violations"], json!({"amount": 1}));

    // Undeclared, Noise is stored again from the next request on.
    let (status, _) = send(owner(s.http.delete(format!("{}/event/Noise", base(&s))))).await;
    assert_eq!(status, 200);
    let r = s.http.post(s.url("/track")).json(&json!([event("Noise", json!({"again": true}))])).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "1");
    let stored = s.export("").await;
    assert_eq!(with_marker(&stored, &m).iter().filter(|e| e["event"] == "Noise").count(), 1);

    // The counts are kept across a restart.
    let dir = s.dir.clone();
    let mut s = s;
    s.stop();
    let again = TestServer::start_in_with(&dir, ROUND_TRIP_LIMITS);
    let (_, buy) = send(
        again
            .http
            .get(format!("{}/event/Buy", base(&again)))
            .basic_auth(&again.creds.sa_user, Some(&again.creds.sa_secret)),
    )
    .await;
    assert_eq!(buy["metadata"]["sextant"]["violations"], json!({"amount": 1}), "{buy}");
}

#[tokio::test]
async fn bad_schemas_are_refused_naming_each_place() {
    let s = TestServer::start_with_config(ROUND_TRIP_LIMITS);
    let owner = |r: reqwest::RequestBuilder| r.basic_auth(&s.creds.sa_user, Some(&s.creds.sa_secret));
    let bad = json!({"entries": [
        event_entry(0),
        {"entityType": "group", "name": "A", "schemaJson": {}},
        {"entityType": "event", "name": "B", "schemaJson": {"properties": {"x": {"type": "decimal"}}}},
        {"entityType": "event", "name": "C", "schemaJson": {"metadata": {"com.mixpanel": {"hidden": "no"}}}}
    ]});
    let (status, body) = send(owner(s.http.post(base(&s))).json(&bad)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["status"], "error");
    let details = body["details"]["fields"].as_object().unwrap();
    let places: Vec<&str> = details.keys().map(String::as_str).collect();
    assert_eq!(
        places,
        [
            "entries[1].entityType",
            "entries[2].schemaJson.properties.x.type",
            "entries[3].schemaJson.metadata.com.mixpanel.hidden"
        ]
    );
    let (_, all) = send(owner(s.http.get(base(&s)))).await;
    assert_eq!(all["results"], json!([]), "nothing of a refused batch is written");
    let (status, body) = send(owner(s.http.get(format!("{}/group", base(&s))))).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) =
        send(owner(s.http.post(base(&s))).body("not json").header("content-type", "application/json")).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) =
        send(owner(s.http.post(format!("{}/event/X", base(&s)))).json(&json!({"properties": []}))).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["details"]["fields"]["body.properties"].is_string(), "{body}");
}

#[tokio::test]
async fn the_limits_refuse_before_any_work() {
    // Mixpanel's limits: 5 requests and 4,000 entries and properties a minute, 3,000
    // deletions a request.
    let s = TestServer::start();
    let owner = |r: reqwest::RequestBuilder| r.basic_auth(&s.creds.sa_user, Some(&s.creds.sa_secret));
    let entries: Vec<Value> = (0..3001)
        .map(|i| {
            let kind = if i % 2 == 0 { "event" } else { "profile" };
            json!({"entityType": kind, "name": format!("n{i}"), "schemaJson": {}})
        })
        .collect();
    let (status, body) = send(owner(s.http.post(base(&s))).json(&json!({"entries": entries}))).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = send(owner(s.http.delete(base(&s)))).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("at most 3000"), "{body}");
    let (status, body) = send(owner(s.http.delete(format!("{}/profile", base(&s))))).await;
    assert_eq!((status, &body["results"]["delete_count"]), (200, &json!(1500)), "{body}");

    // 3,001 entries so far: 1,000 more is over the minute's 4,000.
    let more: Vec<Value> =
        (0..1000).map(|i| json!({"entityType": "event", "name": format!("m{i}"), "schemaJson": {}})).collect();
    let r = owner(s.http.post(base(&s))).json(&json!({"entries": more})).send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_some());
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "error");
    assert!(body["error"].as_str().unwrap().contains("4000 schema entries and properties"), "{body}");
    // The refused batch wrote nothing (it counted as a request, charged before its body
    // was read): the fifth request is the last of the minute.
    let (status, all) = send(owner(s.http.get(base(&s)))).await;
    assert_eq!((status, all["results"].as_array().unwrap().len()), (200, 1501));
    let r = owner(s.http.get(base(&s))).send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_some());
}

#[tokio::test]
async fn a_batch_larger_than_a_minute_allows_is_a_bad_request() {
    let s = TestServer::start();
    let owner = |r: reqwest::RequestBuilder| r.basic_auth(&s.creds.sa_user, Some(&s.creds.sa_secret));
    let entries: Vec<Value> =
        (0..4001).map(|i| json!({"entityType": "event", "name": format!("n{i}"), "schemaJson": {}})).collect();
    let r = owner(s.http.post(base(&s))).json(&json!({"entries": entries})).send().await.unwrap();
    assert_eq!(r.status(), 400, "it could never be admitted, so retrying would not help");
    assert!(r.headers().get("retry-after").is_none());
    let body: Value = r.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("split it"), "{body}");
    // A truncating upload writes the entries it names as sent, keeping nothing.
    let hidden = json!({"entries": [{"entityType": "event", "name": "A",
        "schemaJson": {"metadata": {"com.mixpanel": {"hidden": true, "displayName": "Aa"}}}}]});
    assert_eq!(send(owner(s.http.post(base(&s))).json(&hidden)).await.0, 200);
    let plain = json!({"entries": [{"entityType": "event", "name": "A", "schemaJson": {"description": "a"}}], "truncate": true});
    let (_, body) = send(owner(s.http.post(base(&s))).json(&plain)).await;
    assert_eq!(body["results"], json!({"added": 1, "deleted": 0}));
    let (_, a) = send(owner(s.http.get(format!("{}/event/A", base(&s))))).await;
    assert_eq!(a, json!({"description": "a"}));
}

#[tokio::test]
async fn every_role_reads_schemas_and_owners_and_admins_change_them() {
    let s = TestServer::start_with_config(ROUND_TRIP_LIMITS);
    let pid = s.creds.project_id.to_string();
    let one = json!({"description": "x"});
    for (role, may_change) in [("owner", true), ("admin", true), ("analyst", false), ("consumer", false)] {
        let sa = s.cli_json(&["service-account", "create", "--project", &pid, "--role", role]);
        let as_role =
            |r: reqwest::RequestBuilder| r.basic_auth(sa["username"].as_str().unwrap(), sa["secret"].as_str());
        assert_eq!(send(as_role(s.http.get(base(&s)))).await.0, 200, "{role} reads");
        let (status, body) = send(as_role(s.http.post(format!("{}/event/{role}", base(&s)))).json(&one)).await;
        assert_eq!(status, if may_change { 200 } else { 403 }, "{role}: {body}");
        let (status, _) = send(as_role(s.http.delete(format!("{}/event/{role}", base(&s))))).await;
        assert_eq!(status, if may_change { 200 } else { 403 }, "{role} deletes");
    }
    // The project secret may; the project token may not.
    assert_eq!(send(s.http.get(base(&s)).basic_auth(&s.creds.secret, Some(""))).await.0, 200);
    let (status, _) = send(s.http.get(base(&s)).basic_auth(&s.creds.token, Some(""))).await;
    assert!(status == 401 || status == 403, "{status}");
    // An API token needs the `lexicon` family.
    let app_only = s.cli_json(&["token", "create", "--project", &pid, "--families", "app"]);
    let lexicon = s.cli_json(&["token", "create", "--project", &pid, "--families", "lexicon"]);
    let bearer = |t: &Value| format!("Bearer {}", t["token"].as_str().unwrap());
    let (status, _) = send(s.http.get(base(&s)).header("authorization", bearer(&app_only))).await;
    assert_eq!(status, 403);
    let (status, _) = send(s.http.get(base(&s)).header("authorization", bearer(&lexicon))).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn hidden_events_and_properties_are_flagged_in_the_event_lists() {
    let s = TestServer::start_with_config(ROUND_TRIP_LIMITS);
    let owner = |r: reqwest::RequestBuilder| r.basic_auth(&s.creds.sa_user, Some(&s.creds.sa_secret));
    let schemas = json!({"entries": [
        {"entityType": "event", "name": "Internal ping", "schemaJson": {"metadata": {"com.mixpanel": {"hidden": true}}}},
        {"entityType": "event", "name": "Buy", "schemaJson": {"properties": {
            "debug": {"type": "string", "metadata": {"com.mixpanel": {"hidden": true}}},
            "amount": {"type": "number"}
        }}}
    ]});
    assert_eq!(send(owner(s.http.post(base(&s))).json(&schemas)).await.0, 200);
    let now = now_ms() / 1000;
    let events: Vec<Value> = [("Internal ping", json!({})), ("Buy", json!({"debug": "x", "amount": 1}))]
        .into_iter()
        .enumerate()
        .map(|(i, (name, mut p))| {
            p["distinct_id"] = json!("u");
            p["time"] = json!(now);
            p["$insert_id"] = json!(format!("h{i}"));
            json!({"event": name, "properties": p})
        })
        .collect();
    s.import_ok(&events).await;

    let names = s
        .http
        .get(s.url("/api/query/events/names?type=general"))
        .basic_auth(&s.creds.secret, Some(""))
        .send()
        .await
        .unwrap();
    let flagged = names.headers().get("x-sextant-hidden-events").map(|v| v.to_str().unwrap().to_string());
    let names: Value = names.json().await.unwrap();
    assert_eq!(names.as_array().unwrap().len(), 2, "hidden events are still listed: {names}");
    assert_eq!(flagged.as_deref(), Some("Internal+ping"));
    let (_, top) =
        send(s.http.get(s.url("/api/query/events/properties/top?event=Buy")).basic_auth(&s.creds.secret, Some("")))
            .await;
    assert_eq!(top["debug"], json!({"count": 1, "hidden": true}), "{top}");
    assert_eq!(top["amount"], json!({"count": 1}), "{top}");
}
