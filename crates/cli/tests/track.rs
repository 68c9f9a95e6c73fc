//! `/track` over real HTTP: every SDK encoding of wire-semantics §1.2, the response
//! styles, and the validation rules. Each test reads its events back through export.

mod common;

use common::*;
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE};
use serde_json::{Value, json};

fn event(token: &str, m: &str, name: &str) -> Value {
    json!({"event": name, "properties": {"token": token, "distinct_id": "u1", "m": m, "time": now_ms() / 1000}})
}

const FORM: &str = "application/x-www-form-urlencoded";

#[tokio::test]
async fn every_sdk_encoding_is_accepted() {
    let s = TestServer::start();
    let t = &s.creds.token;
    let m = marker();
    let one = |name: &str| event(t, &m, name).to_string();
    let batch = |name: &str| json!([event(t, &m, name), event(t, &m, name)]).to_string();
    let c = &s.http;

    // mixpanel-js XHR: form body, data URL-encoded base64, ip=1 and a cache buster.
    let r = c
        .post(s.url(&format!("/track/?ip=1&_={}", now_ms())))
        .header(CONTENT_TYPE, FORM)
        .body(format!("data={}", urlencode(&b64(&one("js-xhr")))))
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "1");
    // mixpanel-js JSONP fallback: GET with callback.
    let r = c
        .get(s.url(&format!("/track/?data={}&callback=mp_cb_1", urlencode(&b64(&one("js-jsonp"))))))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()[CONTENT_TYPE], "text/javascript; charset=utf-8");
    assert_eq!(r.text().await.unwrap(), "mp_cb_1(1)");
    // mixpanel-js img mode.
    let r = c.get(s.url(&format!("/track?img=1&data={}", urlencode(&b64(&one("js-img")))))).send().await.unwrap();
    assert_eq!(r.headers()[CONTENT_TYPE], "image/gif");
    assert_eq!(&r.bytes().await.unwrap()[..6], b"GIF89a");
    // mixpanel-node single: GET, base64 in the query string, verbose.
    let r = c
        .get(s.url(&format!("/track?ip=0&verbose=1&data={}", urlencode(&b64(&one("node-get"))))))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"status": 1, "error": null}));
    // mixpanel-python: form body with raw JSON.
    let r = c
        .post(s.url("/track"))
        .header(CONTENT_TYPE, FORM)
        .body(format!("data={}&verbose=1&ip=0", urlencode(&batch("python"))))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["status"], 1);
    // mixpanel-ruby: form base64 with an unescaped '+' (a space once form-decoded).
    let r = c
        .post(s.url("/track"))
        .header(CONTENT_TYPE, FORM)
        .body(format!("data={}", b64(&one("ruby ??>>"))))
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "1");
    // mixpanel-java: the whole form body gzipped.
    let r = c
        .post(s.url("/track?ip=0"))
        .header(CONTENT_TYPE, FORM)
        .header(CONTENT_ENCODING, "gzip")
        .body(gzip(format!("data={}", urlencode(&b64(&batch("java")))).as_bytes()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "1");
    // mixpanel-swift: raw JSON array body, gzipped.
    let r = c
        .post(s.url("/track/?ip=1"))
        .header(CONTENT_TYPE, "application/json")
        .header(CONTENT_ENCODING, "gzip")
        .body(gzip(batch("swift").as_bytes()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "1");
    // mixpanel-go: raw JSON array body, verbose.
    let r = c
        .post(s.url("/track?verbose=1"))
        .header(CONTENT_TYPE, "application/json")
        .body(batch("go"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["status"], 1);
    // URL-safe base64 without padding, and no content type at all.
    let r = c.post(s.url("/track")).body(format!("data={}", b64url_nopad(&one("urlsafe")))).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "1");

    let events = s.export("").await;
    let mut names: Vec<&str> = with_marker(&events, &m).iter().map(|e| e["event"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(
        names,
        vec![
            "go",
            "go",
            "java",
            "java",
            "js-img",
            "js-jsonp",
            "js-xhr",
            "node-get",
            "python",
            "python",
            "ruby ??>>",
            "swift",
            "swift",
            "urlsafe"
        ]
    );
}

#[tokio::test]
async fn server_added_properties_and_lifted_fields() {
    let s = TestServer::start();
    let m = marker();
    let t_ms = now_ms() - 60_000;
    let body = json!([{"event": "e", "properties": {"token": s.creds.token, "distinct_id": "d1", "m": m,
        "time": t_ms as f64 / 1000.0, "$insert_id": "abc-123", "ip": "8.8.8.8", "x": 1}}]);
    let r = s.http.post(s.url("/track")).json(&body).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "1");
    let events = s.export("&time_in_ms=true").await;
    let e = with_marker(&events, &m)[0];
    let p = &e["properties"];
    assert_eq!(p["time"], t_ms);
    assert_eq!(p["distinct_id"], "d1");
    assert_eq!(p["$insert_id"], "abc-123");
    assert_eq!(p["x"], 1);
    assert_eq!(p["$mp_api_endpoint"], "127.0.0.1");
    assert!(p["$mp_api_timestamp_ms"].as_i64().unwrap() >= t_ms);
    assert!(p.get("token").is_none() && p.get("ip").is_none() && p.get("$import").is_none());
    let secs = s.export("").await;
    assert_eq!(with_marker(&secs, &m)[0]["properties"]["time"], t_ms / 1000);
}

#[tokio::test]
async fn time_window_future_clamp_and_ignore() {
    let s = TestServer::start();
    let m = marker();
    let now = now_ms();
    let mk = |name: &str, time: Value, extra: Value| {
        let mut e = json!({"event": name, "properties": {"token": s.creds.token, "m": m, "time": time}});
        if let Value::Object(x) = extra {
            e["properties"].as_object_mut().unwrap().extend(x);
        }
        e
    };
    let body = json!([
        mk("old", json!(now / 1000 - 6 * 86_400), json!({})),
        mk("future", json!(now + 3_600_000), json!({})),
        mk("ignored", json!(now / 1000), json!({"$ignore": true})),
        mk("kept", json!(now), json!({})),
    ]);
    let r = s.http.post(s.url("/track?verbose=1")).json(&body).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"status": 1, "error": null}));
    let events = s.export("&time_in_ms=1").await;
    let mine = with_marker(&events, &m);
    let names: Vec<&str> = mine.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&"future") && names.contains(&"kept"));
    let future = mine.iter().find(|e| e["event"] == "future").unwrap();
    assert!(future["properties"]["time"].as_i64().unwrap() <= now_ms());
    // Old events alone: still `1`, nothing stored.
    let r = s
        .http
        .post(s.url("/track"))
        .json(&json!([mk("old2", json!(now / 1000 - 10 * 86_400), json!({}))]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "1");
}

#[tokio::test]
async fn invalid_records_answer_zero_and_keep_valid_neighbours() {
    let s = TestServer::start();
    let t = &s.creds.token;
    let m = marker();
    // All invalid: 0, verbose names the field.
    let bad = json!([{"event": "x", "properties": {"token": t, "distinct_id": "null"}}]);
    let r = s.http.post(s.url("/track")).json(&bad).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "0");
    let r = s.http.post(s.url("/track?verbose=1")).json(&bad).send().await.unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"status": 0, "error": "'properties.distinct_id' is invalid: \"null\" is not an acceptable distinct_id"})
    );
    let bad_insert = json!([{"event": "x", "properties": {"token": t, "$insert_id": "has space"}}]);
    let r = s.http.post(s.url("/track?verbose=1")).json(&bad_insert).send().await.unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "'$insert_id' is invalid: must only contain alphanumeric or hyphen '-' characters"
    );
    let no_name = json!([{"properties": {"token": t}}]);
    let r = s.http.post(s.url("/track?verbose=1")).json(&no_name).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "'event' is invalid: must be a non-empty string");
    // Mixed: the valid one is kept.
    let mixed = json!([
        {"event": "bad", "properties": {"token": t, "distinct_id": "undefined", "m": m}},
        {"event": "good", "properties": {"token": t, "distinct_id": "ok", "m": m, "long": "x".repeat(300)}},
    ]);
    let r = s.http.post(s.url("/track")).json(&mixed).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "1");
    let events = s.export("").await;
    let mine = with_marker(&events, &m);
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["event"], "good");
    assert_eq!(mine[0]["properties"]["long"].as_str().unwrap().len(), 255);
}

#[tokio::test]
async fn malformed_requests_are_named() {
    let s = TestServer::start();
    let cases: Vec<(reqwest::RequestBuilder, &str)> = vec![
        (s.http.post(s.url("/track?verbose=1")), "data, missing or empty"),
        (s.http.get(s.url("/track?verbose=1&data=%25%25%25")), "data is neither JSON nor base64-encoded JSON"),
        (
            s.http.post(s.url("/track?verbose=1")).header(CONTENT_TYPE, "application/json").body("[{\"event\":"),
            "invalid JSON",
        ),
        (
            s.http.post(s.url("/track?verbose=1")).header(CONTENT_ENCODING, "gzip").body("not gzip"),
            "the body is not valid gzip",
        ),
        (
            s.http.post(s.url("/track?verbose=1")).header(CONTENT_ENCODING, "br").body("x"),
            "unsupported Content-Encoding",
        ),
        (
            s.http.post(s.url("/track?verbose=1")).json(&json!([1, 2])),
            "'event' is invalid: record must be a JSON object",
        ),
    ];
    for (req, expected) in cases {
        let r = req.send().await.unwrap();
        assert!(r.status() == 400 || r.status() == 200, "status {}", r.status());
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["status"], 0);
        assert!(body["error"].as_str().unwrap().contains(expected), "{body} should mention {expected}");
    }
    // Non-verbose: a plain 0, with the 200 that Mixpanel's spec gives every answer but
    // 401 and 403.
    let r = s.http.post(s.url("/track")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "0");
    // An unsafe JSONP callback is refused, and not echoed.
    let r = s.http.get(s.url("/track?callback=alert(1);x&data=e30")).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "0");
}

#[tokio::test]
async fn tokens_and_basic_credentials() {
    let s = TestServer::start();
    let m = marker();
    // No token anywhere: 401 in the spec's `ErrorResponse`, verbose or not.
    let no_token = json!([{"event": "e", "properties": {"m": m}}]);
    let r = s.http.post(s.url("/track?verbose=1")).json(&no_token).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"error": "token, missing or empty", "status": "error"}));
    let r = s.http.post(s.url("/track")).json(&no_token).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"error": "token, missing or empty", "status": "error"}));
    // An unknown token.
    let unknown = json!([{"event": "e", "properties": {"token": "nope", "m": m}}]);
    let r = s.http.post(s.url("/track")).json(&unknown).send().await.unwrap();
    assert_eq!(r.status(), 401);
    // `$token`-less events are covered by Basic token: and Basic secret:.
    for user in [&s.creds.token, &s.creds.secret] {
        let r = s.http.post(s.url("/track")).basic_auth(user, Some("")).json(&no_token).send().await.unwrap();
        assert_eq!(r.text().await.unwrap(), "1");
    }
    // A wrong Basic credential is refused even when events carry a token.
    let with_token = json!([{"event": "e", "properties": {"token": s.creds.token, "m": m}}]);
    let r = s.http.post(s.url("/track")).basic_auth("wrong", Some("")).json(&with_token).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(with_marker(&s.export("").await, &m).len(), 2);
}

#[tokio::test]
async fn size_limits_and_gzip_bombs() {
    let s = TestServer::start();
    let t = &s.creds.token;
    let many: Vec<Value> = (0..2001).map(|i| json!({"event": "e", "properties": {"token": t, "i": i}})).collect();
    let r = s.http.post(s.url("/track?verbose=1")).json(&many).send().await.unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "request has 2001 records; the limit is 2000 per request");
    // 11 MB of JSON, plain.
    let big = json!([{"event": "e", "properties": {"token": t, "pad": "x".repeat(11 * 1024 * 1024)}}]).to_string();
    let r = s.http.post(s.url("/track")).body(big.clone()).send().await.unwrap();
    assert_eq!(r.status(), 413);
    // A gzip bomb: 50 MB of zeros compress to ~50 KB; refused after 10 MB of output.
    let bomb = gzip(&vec![b' '; 50 * 1024 * 1024]);
    assert!(bomb.len() < 1024 * 1024);
    let r = s.http.post(s.url("/track?verbose=1")).header(CONTENT_ENCODING, "gzip").body(bomb).send().await.unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "request exceeds max limit of 10485760 bytes");
    // One event over 1 MB inside a request under 10 MB: that record fails.
    let body = json!([{"event": "big", "properties": {"token": t, "pad": "y".repeat(1_100_000)}}]);
    let r = s.http.post(s.url("/track?verbose=1")).json(&body).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "'event' is invalid: event is larger than 1048576 bytes");
}

#[tokio::test]
async fn cors_preflight_and_echoed_origin() {
    let s = TestServer::start();
    let r = s
        .http
        .request(reqwest::Method::OPTIONS, s.url("/track/"))
        .header("Origin", "https://app.example.com")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "content-type,traceparent,authorization")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let h = r.headers();
    assert_eq!(h["access-control-allow-origin"], "https://app.example.com");
    assert_eq!(h["access-control-allow-credentials"], "true");
    let allowed = h["access-control-allow-headers"].to_str().unwrap().to_ascii_lowercase();
    for needed in ["content-type", "traceparent", "authorization"] {
        assert!(allowed.contains(needed), "{allowed}");
    }
    let r =
        s.http.post(s.url("/track")).header("Origin", "https://app.example.com").body("data=e30").send().await.unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], "https://app.example.com");
}
