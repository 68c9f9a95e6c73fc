//! `/api/2.0/export` over real HTTP: parameters, errors, auth, filters, gzip.

mod common;

use common::*;
use serde_json::{Value, json};

async fn seed(s: &TestServer, m: &str) {
    let t0 = now_ms() / 1000 - 3600;
    let events: Vec<Value> = (0..20)
        .map(|i| json!({"event": if i % 2 == 0 { "even" } else { "odd" },
                        "properties": {"time": t0 + i, "distinct_id": format!("u{i}"), "$insert_id": format!("e{i}"), "m": m, "i": i}}))
        .collect();
    s.import_ok(&events).await;
}

#[tokio::test]
async fn filters_limit_order_and_precision() {
    let s = TestServer::start();
    let m = marker();
    seed(&s, &m).await;
    let all = s.export("").await;
    let is: Vec<i64> = with_marker(&all, &m).iter().map(|e| e["properties"]["i"].as_i64().unwrap()).collect();
    assert_eq!(is, (0..20).collect::<Vec<_>>(), "time order");
    let odd = s.export(&format!("&event={}", urlencode(r#"["odd"]"#))).await;
    assert_eq!(odd.len(), 10);
    assert!(odd.iter().all(|e| e["event"] == "odd"));
    let both = s.export(&format!("&event={}", urlencode(r#"["odd","even"]"#))).await;
    assert_eq!(both.len(), 20);
    let limited = s.export("&limit=7").await;
    assert_eq!(limited.len(), 7);
    let ms = s.export("&time_in_ms=true&limit=1").await;
    assert!(ms[0]["properties"]["time"].as_i64().unwrap() > 1_000_000_000_000);
    // Service account with project_id works too, trailing slash included.
    let (from, to) = chrono_like_today();
    let r = s
        .http
        .get(s.url(&format!("/api/2.0/export/?from_date={from}&to_date={to}&project_id={}", s.creds.project_id)))
        .basic_auth(&s.creds.sa_user, Some(&s.creds.sa_secret))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap().lines().count(), 20);
}

#[tokio::test]
async fn where_filters_inside_the_store() {
    let s = TestServer::start();
    let m = marker();
    seed(&s, &m).await;
    let t0 = with_marker(&s.export("").await, &m)[0]["properties"]["time"].as_i64().unwrap();
    let count = |w: String| {
        let s = &s;
        let m = m.clone();
        async move { with_marker(&s.export(&format!("&where={}", urlencode(&w))).await, &m).len() }
    };
    let marked = format!(r#"properties["m"] == "{m}""#);
    assert_eq!(count(format!(r#"{marked} and properties["i"] >= 15"#)).await, 5);
    assert_eq!(count(format!(r#"{marked} and properties["i"] % 2 == 1 and properties["i"] < 10"#)).await, 5);
    assert_eq!(count(format!(r#"{marked} and not properties["i"] in [1, 2, 3]"#)).await, 17);
    // Both spellings of the event time, against datetime() of epoch seconds.
    assert_eq!(count(format!(r#"{marked} and event["$time"] >= datetime({})"#, t0 + 12)).await, 8);
    assert_eq!(count(format!(r#"{marked} and properties["$time"] < datetime({})"#, t0 + 3)).await, 3);
    // A function the store does not compile still filters (per event, in Rust).
    assert_eq!(count(format!(r#"{marked} and sum([properties["i"], 100]) > 110"#)).await, 9);
    // Case-insensitive string equality is the default.
    assert_eq!(count(format!(r#"properties["m"] == "{}""#, m.to_uppercase())).await, 20);
}

#[tokio::test]
async fn gzip_when_asked() {
    let s = TestServer::start();
    let m = marker();
    seed(&s, &m).await;
    let (from, to) = chrono_like_today();
    let r = s
        .http
        .get(s.url(&format!("/api/2.0/export?from_date={from}&to_date={to}")))
        .header("Accept-Encoding", "gzip")
        .basic_auth(&s.creds.secret, Some(""))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-encoding"], "gzip");
    let compressed = r.bytes().await.unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&compressed[..]), &mut text).unwrap();
    assert_eq!(text.lines().count(), 20);
}

#[tokio::test]
async fn bad_parameters_and_credentials_get_query_errors() {
    let s = TestServer::start();
    let auth = |r: reqwest::RequestBuilder| r.basic_auth(&s.creds.secret, Some(""));
    let cases = [
        ("/api/2.0/export?to_date=2024-01-02", "from_date is required (yyyy-mm-dd)"),
        ("/api/2.0/export?from_date=2024-01-05&to_date=2024-01-02", "from_date 2024-01-05 is after to_date 2024-01-02"),
        (
            "/api/2.0/export?from_date=2024-01-01&to_date=2024-06-01",
            "the range from_date..to_date covers 153 days; at most 100 are allowed per request",
        ),
        (
            "/api/2.0/export?from_date=01/02/2024&to_date=2024-06-01",
            "from_date `01/02/2024` is not a date in yyyy-mm-dd format",
        ),
        (
            "/api/2.0/export?from_date=2024-01-01&to_date=2024-01-02&limit=0",
            "limit must be an integer from 1 to 100000, got `0`",
        ),
        (
            "/api/2.0/export?from_date=2024-01-01&to_date=2024-01-02&event=%5Bbroken",
            "event must be a JSON array of event names, got `[broken`",
        ),
        (
            "/api/2.0/export?from_date=2024-01-01&to_date=2024-01-02&where=properties%5B%22a%22",
            "invalid `where` expression: expected `]` after property name, found the end of the expression at 15",
        ),
        (
            "/api/2.0/export?from_date=2024-01-01&to_date=2024-01-02&where=fooo(properties%5B%22a%22%5D)",
            "invalid `where` expression: unknown function `fooo` at 1",
        ),
        (
            "/api/2.0/export?from_date=2024-01-01&to_date=2024-01-02&where=properties%5B%22a%22%5D%20%3D%3D",
            "invalid `where` expression: expected a value, found the end of the expression at 19",
        ),
    ];
    for (path, message) in cases {
        let r = auth(s.http.get(s.url(path))).send().await.unwrap();
        assert_eq!(r.status(), 400, "{path}");
        assert_eq!(r.json::<Value>().await.unwrap(), json!({"request": path, "error": message}));
    }
    let path = "/api/2.0/export?from_date=2024-01-01&to_date=2024-01-02";
    let r = s.http.get(s.url(path)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.json::<Value>().await.unwrap()["error"].as_str().unwrap().starts_with("authentication required"));
    let r = s.http.get(s.url(path)).basic_auth(&s.creds.token, Some("")).send().await.unwrap();
    assert_eq!(r.status(), 401, "the public token cannot read");
    let r = s.http.get(s.url(path)).basic_auth("nope", Some("")).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"request": path, "error": "Invalid credentials"}));
}

#[tokio::test]
async fn a_large_export_streams() {
    let s = TestServer::start();
    let m = marker();
    let t0 = now_ms() / 1000 - 7200;
    for b in 0..10 {
        let events: Vec<Value> = (0..2000)
            .map(|i| json!({"event": "bulk", "properties": {"time": t0 + (b * 2000 + i) / 10, "distinct_id": format!("u{}", i % 97),
                             "$insert_id": format!("b{b}-{i}"), "m": m, "payload": "p".repeat(100)}}))
            .collect();
        s.import_ok(&events).await;
    }
    let all = s.export("").await;
    assert_eq!(all.len(), 20_000);
    let times: Vec<i64> = all.iter().map(|e| e["properties"]["time"].as_i64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
}
