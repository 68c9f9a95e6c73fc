//! `/import` over real HTTP: encodings, strict and legacy responses, validation, and
//! every credential form.

mod common;

use common::*;
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE};
use serde_json::{Value, json};

fn ev(m: &str, i: usize, t_s: i64) -> Value {
    json!({"event": "imp", "properties": {"time": t_s, "distinct_id": format!("u{i}"), "$insert_id": format!("i{}-{i}", &m[..12]), "m": m, "i": i}})
}

fn days_ago(d: i64) -> i64 {
    now_ms() / 1000 - d * 86_400
}

#[tokio::test]
async fn strict_import_with_service_account_json_ndjson_and_gzip() {
    let s = TestServer::start();
    let m = marker();
    let c = &s.creds;
    let url = s.url(&format!("/import?strict=1&project_id={}", c.project_id));
    let batch: Vec<Value> = (0..3).map(|i| ev(&m, i, days_ago(1))).collect();
    let r = s.http.post(&url).basic_auth(&c.sa_user, Some(&c.sa_secret)).json(&batch).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"code": 200, "num_records_imported": 3, "status": "OK"}));
    let ndjson: String = (3..5).map(|i| format!("{}\n", ev(&m, i, days_ago(1)))).collect();
    let r = s
        .http
        .post(&url)
        .basic_auth(&c.sa_user, Some(&c.sa_secret))
        .header(CONTENT_TYPE, "application/x-ndjson")
        .header(CONTENT_ENCODING, "gzip")
        .body(gzip(ndjson.as_bytes()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["num_records_imported"], 2);
    let events = s.export("").await;
    let mine = with_marker(&events, &m);
    assert_eq!(mine.len(), 5);
    assert!(mine.iter().all(|e| e["properties"]["$import"] == true));
}

#[tokio::test]
async fn strict_partial_failure_reports_each_record() {
    let s = TestServer::start();
    let m = marker();
    let c = &s.creds;
    let future = now_ms() / 1000 + 3 * 3600;
    let batch = json!([
        ev(&m, 0, days_ago(2)),
        {"event": "imp", "properties": {"time": "soon", "distinct_id": "u", "$insert_id": "bad-time", "m": m}},
        {"event": "imp", "properties": {"time": days_ago(1), "distinct_id": "u", "$insert_id": "has_underscore", "m": m}},
        {"event": "imp", "properties": {"time": future, "distinct_id": "u", "$insert_id": "fut", "m": m}},
        {"event": "imp", "properties": {"time": 100, "distinct_id": "u", "$insert_id": "ancient", "m": m}},
        {"event": "imp", "properties": {"time": days_ago(1), "distinct_id": "nil", "$insert_id": "blocked", "m": m}},
        {"event": "imp", "properties": {"time": days_ago(1), "distinct_id": "u", "m": m}},
        ev(&m, 7, days_ago(400)),
    ]);
    let r = s
        .http
        .post(s.url(&format!("/import?strict=1&project_id={}", c.project_id)))
        .basic_auth(&c.sa_user, Some(&c.sa_secret))
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], 400);
    assert_eq!(body["status"], "Bad Request");
    assert_eq!(body["error"], "some data points in the request failed validation");
    assert_eq!(body["num_records_imported"], 2);
    let failed = body["failed_records"].as_array().unwrap();
    let got: Vec<(i64, &str, &str)> = failed
        .iter()
        .map(|f| (f["index"].as_i64().unwrap(), f["insert_id"].as_str().unwrap(), f["field"].as_str().unwrap()))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, "bad-time", "properties.time"),
            (2, "has_underscore", "properties.$insert_id"),
            (3, "fut", "properties.time"),
            (4, "ancient", "properties.time"),
            (5, "blocked", "properties.distinct_id"),
            (6, "", "properties.$insert_id"),
        ]
    );
    assert_eq!(failed[0]["message"], "'properties.time' is invalid: must be specified as seconds since epoch");
    assert_eq!(
        failed[1]["message"],
        "'$insert_id' is invalid: must only contain alphanumeric or hyphen '-' characters"
    );
    // The two valid records were kept; the 400-day-old one needs a wider export window.
    let from = ymd(days_ago(401));
    let to = ymd(days_ago(330));
    let old = s.export_range(&from, &to, "").await;
    assert_eq!(with_marker(&old, &m).len(), 1);
    assert_eq!(with_marker(&s.export("").await, &m).len(), 0);
    let recent = s.export_range(&ymd(days_ago(3)), &ymd(days_ago(0)), "").await;
    assert_eq!(with_marker(&recent, &m).len(), 1);
}

#[tokio::test]
async fn legacy_form_import_answers_like_track() {
    let s = TestServer::start();
    let m = marker();
    let data = json!([ev(&m, 0, days_ago(10))]).to_string();
    // python: raw JSON in a form body with verbose=1 and the secret as Basic user.
    let r = s
        .http
        .post(s.url("/import"))
        .basic_auth(&s.creds.secret, Some(""))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("data={}&verbose=1&api_key=ignored", urlencode(&data)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"status": 1, "error": null}));
    // ruby/node: base64 JSON, non-verbose: body `1`. Insert id is optional outside strict mode.
    let data = json!([{"event": "imp", "properties": {"time": days_ago(10), "distinct_id": "x", "m": m}}]).to_string();
    let r = s
        .http
        .post(s.url("/import"))
        .basic_auth(&s.creds.secret, Some(""))
        .body(format!("data={}", urlencode(&b64(&data))))
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "1");
    let r = s
        .http
        .post(s.url("/import/?verbose=1"))
        .basic_auth(&s.creds.secret, Some(""))
        .json(&json!([{"event": "imp", "properties": {"distinct_id": "x"}}]))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"status": 0, "error": "'properties.time' is invalid: is required"})
    );
    let old = s.export_range(&ymd(days_ago(11)), &ymd(days_ago(9)), "").await;
    assert_eq!(with_marker(&old, &m).len(), 2);
}

#[tokio::test]
async fn every_credential_form() {
    let s = TestServer::start();
    let c = s.creds.clone();
    let m = marker();
    let pid = c.project_id;
    let body = || json!([ev(&m, 0, days_ago(1))]);
    let strict = |q: &str| s.url(&format!("/import?strict=1{q}"));
    let ok = json!({"code": 200, "num_records_imported": 1, "status": "OK"});

    // Service account, base64 Basic, with project_id.
    let r = s
        .http
        .post(strict(&format!("&project_id={pid}")))
        .basic_auth(&c.sa_user, Some(&c.sa_secret))
        .json(&body())
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap(), ok);
    // Service account, plain-text Basic.
    let r = s
        .http
        .post(strict(&format!("&project_id={pid}")))
        .header("Authorization", format!("Basic {}:{}", c.sa_user, c.sa_secret))
        .json(&body())
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap(), ok);
    // Project secret, with and without project_id.
    for q in [String::new(), format!("&project_id={pid}")] {
        let r = s.http.post(strict(&q)).basic_auth(&c.secret, Some("")).json(&body()).send().await.unwrap();
        assert_eq!(r.json::<Value>().await.unwrap(), ok);
    }
    // Project token.
    let r = s.http.post(strict("")).basic_auth(&c.token, None::<&str>).json(&body()).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap(), ok);

    let unauthorized = |msg: &str| json!({"code": 401, "error": msg, "status": "Unauthorized"});
    // Nothing.
    let r = s.http.post(strict("")).json(&body()).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "Unauthorized");
    // Wrong secret.
    let r = s.http.post(strict("")).basic_auth("wrong", Some("")).json(&body()).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap(), unauthorized("Invalid credentials"));
    // Service account with a wrong secret.
    let r = s
        .http
        .post(strict(&format!("&project_id={pid}")))
        .basic_auth(&c.sa_user, Some("nope"))
        .json(&body())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Service account without project_id.
    let r = s.http.post(strict("")).basic_auth(&c.sa_user, Some(&c.sa_secret)).json(&body()).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.json::<Value>().await.unwrap()["error"].as_str().unwrap().contains("project_id"));
    // A malformed project_id.
    let r = s.http.post(strict("&project_id=abc")).basic_auth(&c.secret, Some("")).json(&body()).send().await.unwrap();
    assert_eq!(r.status(), 400);
    // The secret of this project with another project's id.
    let r = s.http.post(strict("&project_id=999")).basic_auth(&c.secret, Some("")).json(&body()).send().await.unwrap();
    assert_eq!(r.status(), 401);

    // An analyst service account may not import: 403.
    let analyst = s.cli_json(&["service-account", "create", "--project", &pid.to_string(), "--role", "analyst"]);
    let r = s
        .http
        .post(strict(&format!("&project_id={pid}")))
        .basic_auth(analyst["username"].as_str().unwrap(), analyst["secret"].as_str())
        .json(&body())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "Forbidden");
    // A project created by the CLI while the server runs is usable at once.
    let second = s.cli_json(&["project", "create", "--name", "Second"]);
    let r = s
        .http
        .post(s.url("/track"))
        .json(&json!([{"event": "e", "properties": {"token": second["token"], "m": m}}]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "1");
    let r = s
        .http
        .post(strict(&format!("&project_id={pid}")))
        .basic_auth(second["secret"].as_str().unwrap(), Some(""))
        .json(&body())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "one project's secret does not open another");

    assert_eq!(with_marker(&s.export("").await, &m).len(), 5, "events stay in their own project");
}

#[tokio::test]
async fn import_limits() {
    let s = TestServer::start();
    let m = marker();
    let url = s.url("/import?strict=1");
    let many: Vec<Value> = (0..2001).map(|i| ev(&m, i, days_ago(1))).collect();
    let r = s.http.post(&url).basic_auth(&s.creds.secret, Some("")).json(&many).send().await.unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "Request Entity Too Large");
    let bomb = gzip(&vec![b'['; 30 * 1024 * 1024]);
    let r = s
        .http
        .post(&url)
        .basic_auth(&s.creds.secret, Some(""))
        .header(CONTENT_ENCODING, "gzip")
        .body(bomb)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"code": 413, "error": "request exceeds max limit of 10485760 bytes", "status": "Request Entity Too Large"})
    );
    // 2000 records is fine.
    let full: Vec<Value> = (0..2000).map(|i| ev(&m, i, days_ago(1))).collect();
    let r = s.http.post(&url).basic_auth(&s.creds.secret, Some("")).json(&full).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["num_records_imported"], 2000);
}

#[tokio::test]
async fn retried_batches_are_stored_as_sent() {
    // Raw export shows every ingested copy (as Mixpanel's does); queries count one.
    // The dedup count itself is checked by the storage conformance suite.
    let s = TestServer::start();
    let m = marker();
    let batch: Vec<Value> = (0..10).map(|i| ev(&m, i, days_ago(1))).collect();
    for _ in 0..3 {
        let r = s
            .http
            .post(s.url("/import?strict=1"))
            .basic_auth(&s.creds.secret, Some(""))
            .json(&batch)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let events = s.export("").await;
    let mine = with_marker(&events, &m);
    assert_eq!(mine.len(), 30);
    let mut ids: Vec<&str> = mine.iter().map(|e| e["properties"]["$insert_id"].as_str().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 10);
}
