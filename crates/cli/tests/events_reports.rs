//! The events reports (`/events`, `/events/top`, `/events/names`, `/events/properties`
//! and its `top` and `values`) on events placed today and yesterday (UTC project).
//!
//! | day | event | user | plan |
//! |---|---|---|---|
//! | today | A | u1 | pro |
//! | today | A | u2 | free |
//! | today | A | u1 | pro |
//! | today | B | u3 | |
//! | yesterday | A | u1 | pro |
//! | yesterday | A | u2 | free |
//! | yesterday | C | u4 | |

mod common;

use common::*;
use serde_json::{Value, json};

const DAY: i64 = 86_400_000;

async fn seed(s: &TestServer) -> (String, String) {
    let now = now_ms();
    let today_start = now - now % DAY;
    let t = today_start + (now - today_start) / 2;
    let y = today_start - DAY / 2;
    let ev = |name: &str, n: usize, time: i64, user: &str, plan: Option<&str>| {
        let mut p = json!({"time": time, "distinct_id": user, "$insert_id": format!("{name}{n}")});
        if let Some(plan) = plan {
            p["plan"] = json!(plan);
        }
        json!({"event": name, "properties": p})
    };
    s.import_ok(&[
        ev("A", 1, t, "u1", Some("pro")),
        ev("A", 2, t, "u2", Some("free")),
        ev("A", 3, t - 1000, "u1", Some("pro")),
        ev("B", 1, t, "u3", None),
        ev("A", 4, y, "u1", Some("pro")),
        ev("A", 5, y, "u2", Some("free")),
        ev("C", 1, y, "u4", None),
    ])
    .await;
    (ymd((today_start - DAY) / 1000), ymd(today_start / 1000))
}

async fn get(s: &TestServer, path: &str, query: &str) -> Value {
    let r = s.http.get(s.url(&format!("{path}?{query}"))).basic_auth(&s.creds.secret, Some("")).send().await.unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{path}?{query}: {body}");
    body
}

#[tokio::test]
async fn events_reports_answer_in_mixpanels_shapes() {
    let s = TestServer::start();
    let (yesterday, today) = seed(&s).await;
    let days = json!([yesterday, today]);

    let body =
        get(&s, "/api/query/events", &format!("event={}&type=general&unit=day&interval=2", urlencode(r#"["A","B"]"#)))
            .await;
    assert_eq!(body["data"]["series"], days);
    assert_eq!(body["data"]["values"], json!({"A": {&yesterday: 2, &today: 3}, "B": {&yesterday: 0, &today: 1}}));
    assert_eq!(body["legend_size"], 2);
    let dated = get(
        &s,
        "/api/2.0/events",
        &format!("event={}&type=unique&unit=day&from_date={yesterday}&to_date={today}", urlencode(r#"["A"]"#)),
    )
    .await;
    assert_eq!(dated["data"]["values"], json!({"A": {&yesterday: 2, &today: 2}}));

    let top = get(&s, "/api/query/events/top", "type=general").await;
    assert_eq!(
        top,
        json!({"events": [{"amount": 3, "event": "A", "percent_change": 0.5}, {"amount": 1, "event": "B", "percent_change": 0.0}], "type": "general"})
    );
    let top = get(&s, "/api/query/events/top", "type=unique&limit=1").await;
    assert_eq!(top, json!({"events": [{"amount": 2, "event": "A", "percent_change": 0.0}], "type": "unique"}));

    assert_eq!(get(&s, "/api/query/events/names", "type=general").await, json!(["A", "B", "C"]));
    assert_eq!(get(&s, "/api/2.0/events/names", "type=general&limit=1").await, json!(["A"]));

    let props = get(&s, "/api/query/events/properties", "event=A&name=plan&type=general&unit=day&interval=2").await;
    assert_eq!(props["data"]["values"], json!({"pro": {&yesterday: 1, &today: 2}, "free": {&yesterday: 1, &today: 1}}));
    let only = get(
        &s,
        "/api/query/events/properties",
        &format!("event=A&name=plan&type=general&unit=day&interval=2&values={}", urlencode(r#"["pro"]"#)),
    )
    .await;
    assert_eq!(only["data"]["values"], json!({"pro": {&yesterday: 1, &today: 2}}));

    let top_props = get(&s, "/api/query/events/properties/top", "event=A").await;
    assert_eq!(top_props["plan"], json!({"count": 5}), "{top_props}");
    assert!(top_props.as_object().unwrap().len() <= 10);
    assert_eq!(get(&s, "/api/query/events/properties/values", "event=A&name=plan").await, json!(["pro", "free"]));
    assert_eq!(get(&s, "/api/query/events/properties/values", "event=A&name=plan&limit=1").await, json!(["pro"]));
}

#[tokio::test]
async fn events_reports_refuse_bad_parameters() {
    let s = TestServer::start();
    for (path, query, needle) in [
        ("/api/query/events", "event=A&type=general&unit=day&interval=2", "JSON array"),
        ("/api/query/events", "event=%5B%22A%22%5D&type=unique&unit=hour&interval=2", "unit"),
        ("/api/query/events", "event=%5B%22A%22%5D&type=general&unit=day", "from_date"),
        ("/api/query/events/properties", "event=A&unit=day&interval=2", "name"),
        ("/api/query/events/properties", "event=A&name=plan&interval=2&values=pro", "values"),
        ("/api/query/events/top", "type=weird", "type"),
        ("/api/query/events/names", "limit=0", "limit"),
    ] {
        let r =
            s.http.get(s.url(&format!("{path}?{query}"))).basic_auth(&s.creds.secret, Some("")).send().await.unwrap();
        assert_eq!(r.status(), 400, "{path}?{query}");
        let body: Value = r.json().await.unwrap();
        assert!(body["error"].as_str().unwrap().contains(needle), "{path}?{query}: {body}");
        assert_eq!(body["request"], format!("{path}?{query}"));
    }
}
