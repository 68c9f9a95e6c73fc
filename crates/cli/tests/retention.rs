//! `/retention` and `/retention/addiction` on hand-built users in a Paris project across
//! the start of summer time (2024-03-31). Every expected number is written here, worked
//! out by hand from the events below.

mod common;

use common::*;
use serde_json::{Value, json};

struct Paris {
    id: i64,
    secret: String,
}

/// UTC epoch ms of `2024-{iso}:00Z`.
fn at(iso: &str) -> i64 {
    let out =
        std::process::Command::new("date").args(["-u", "-d", &format!("2024-{iso}:00Z"), "+%s"]).output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().parse::<i64>().unwrap() * 1000
}

/// The users (UTC; Paris is UTC+1 until 2024-03-31T01:00Z, UTC+2 after):
///
/// | user | Sign Up (src) | Play (level) |
/// |---|---|---|
/// | a | 03-29 10:00 (ads) | 03-29 20:00 (1), 03-30 11:00 (2), 03-31 09:00 (3) |
/// | b | 03-29 23:30, 03-30 in Paris (ads) | 03-31 23:00, 04-01 in Paris (2) |
/// | c | 03-28 12:00 (before the range), 03-29 12:00 | 03-29 13:00 |
/// | d | 03-30 08:00 (organic), 03-30 09:00 | none |
/// | e | 03-30 10:00 as device de (organic) | 03-30 12:00 as de + user e (merge) (5), 03-31 11:00 as e (5) |
/// | f | 03-31 21:30, 23:30 summer time (ads) | 04-01 20:00, 04-01 22:00 |
/// | g | none | 03-30 10:00, 10:30, 11:15, 15:00 |
async fn seed(s: &TestServer) -> Paris {
    let p = s.cli_json(&["project", "create", "--name", "paris", "--timezone", "Europe/Paris"]);
    let paris = Paris { id: p["id"].as_i64().unwrap(), secret: p["secret"].as_str().unwrap().into() };
    let mut n = 0;
    let mut ev = |name: &str, who: Value, iso: &str, props: Value| {
        n += 1;
        let mut p = props;
        for (k, v) in who.as_object().unwrap() {
            p[k] = v.clone();
        }
        p["time"] = json!(at(iso));
        p["$insert_id"] = json!(format!("r{n}"));
        json!({"event": name, "properties": p})
    };
    let u = |id: &str| json!({"distinct_id": id});
    let events = vec![
        ev("Sign Up", u("a"), "03-29T10:00", json!({"src": "ads"})),
        ev("Play", u("a"), "03-29T20:00", json!({"level": 1})),
        ev("Play", u("a"), "03-30T11:00", json!({"level": 2})),
        ev("Play", u("a"), "03-31T09:00", json!({"level": 3})),
        ev("Sign Up", u("b"), "03-29T23:30", json!({"src": "ads"})),
        ev("Play", u("b"), "03-31T23:00", json!({"level": 2})),
        ev("Sign Up", u("c"), "03-28T12:00", json!({})),
        ev("Sign Up", u("c"), "03-29T12:00", json!({})),
        ev("Play", u("c"), "03-29T13:00", json!({})),
        ev("Sign Up", u("d"), "03-30T08:00", json!({"src": "organic"})),
        ev("Sign Up", u("d"), "03-30T09:00", json!({"src": "organic"})),
        ev("Sign Up", json!({"$device_id": "de"}), "03-30T10:00", json!({"src": "organic"})),
        ev("Play", json!({"$device_id": "de", "$user_id": "e"}), "03-30T12:00", json!({"level": 5})),
        ev("Play", u("e"), "03-31T11:00", json!({"level": 5})),
        ev("Sign Up", u("f"), "03-31T21:30", json!({"src": "ads"})),
        ev("Play", u("f"), "04-01T20:00", json!({})),
        ev("Play", u("f"), "04-01T22:00", json!({})),
        ev("Play", u("g"), "03-30T10:00", json!({})),
        ev("Play", u("g"), "03-30T10:30", json!({})),
        ev("Play", u("g"), "03-30T11:15", json!({})),
        ev("Play", u("g"), "03-30T15:00", json!({})),
    ];
    let r =
        s.http.post(s.url("/import?strict=1")).basic_auth(&paris.secret, Some("")).json(&events).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    paris
}

async fn get(s: &TestServer, p: &Paris, path: &str, query: &str) -> (u16, Value) {
    let r = s.http.get(s.url(&format!("{path}?{query}"))).basic_auth(&p.secret, Some("")).send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn retention(s: &TestServer, p: &Paris, extra: &str) -> Value {
    let q = format!("from_date=2024-03-29&to_date=2024-03-31&interval_count=2{extra}");
    let (status, body) = get(s, p, "/api/query/retention", &q).await;
    assert_eq!(status, 200, "{extra}: {body}");
    body
}

fn cohort(first: u64, counts: [u64; 3]) -> Value {
    json!({"first": first, "counts": counts})
}

#[tokio::test]
async fn retention_matches_the_hand_worked_users() {
    let s = TestServer::start();
    let p = seed(&s).await;
    let birth = "&born_event=Sign%20Up&event=Play";

    // Each user's own 24-hour intervals. c signed up before the range: no cohort.
    // a: 10 h (0), 25 h (1), 47 h (1). b: 47.5 h (1). e (merged with its device): 2 h
    // (0), 25 h (1). f: 22.5 h (0), 24.5 h (1).
    let body = retention(&s, &p, birth).await;
    assert_eq!(
        body,
        json!({
            "2024-03-29": cohort(1, [1, 1, 0]),
            "2024-03-30": cohort(3, [1, 2, 0]),
            "2024-03-31": cohort(1, [1, 1, 0]),
        })
    );
    // The same once the compactor has moved the events to the query tier (e's device
    // is then joined through the identity graph's hashes).
    tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
    assert_eq!(retention(&s, &p, birth).await, body, "after compaction");
    let legacy =
        get(&s, &p, "/api/2.0/retention/", &format!("from_date=2024-03-29&to_date=2024-03-31&interval_count=2{birth}"))
            .await;
    assert_eq!(legacy, (200, body));

    // Unbounded: e came back in interval 1, so it counts in 0 too.
    let unbounded = retention(&s, &p, &format!("{birth}&unbounded_retention=true")).await;
    assert_eq!(unbounded["2024-03-30"], cohort(3, [2, 2, 0]));

    // Calendar days in Paris: a plays on its day, the next and the one after; b's play
    // is 04-01 01:00 in Paris (day 2); f's plays are 04-01 22:00 and 04-02 00:00.
    let days = retention(&s, &p, &format!("{birth}&unit=day")).await;
    assert_eq!(
        days,
        json!({
            "2024-03-29": cohort(1, [1, 1, 1]),
            "2024-03-30": cohort(3, [1, 1, 1]),
            "2024-03-31": cohort(1, [0, 1, 1]),
        })
    );

    // born_where narrows the cohorts, where the returns.
    let ads = retention(&s, &p, &format!("{birth}&born_where={}", urlencode(r#"properties["src"] == "ads""#))).await;
    assert_eq!(ads["2024-03-30"], cohort(1, [0, 1, 0]));
    let levels = retention(&s, &p, &format!("{birth}&where={}", urlencode(r#"properties["level"] >= 2"#))).await;
    assert_eq!(levels["2024-03-29"], cohort(1, [0, 1, 0]));
    assert_eq!(levels["2024-03-30"], cohort(3, [1, 2, 0]));
    assert_eq!(levels["2024-03-31"], cohort(1, [0, 0, 0]));

    // on: the Sign Up's src; every date lists $overall and the top segments.
    let on = format!("{birth}&on={}", urlencode(r#"properties["src"]"#));
    let by_src = retention(&s, &p, &on).await;
    assert_eq!(by_src["2024-03-30"]["ads"], cohort(1, [0, 1, 0]));
    assert_eq!(by_src["2024-03-30"]["organic"], cohort(2, [1, 1, 0]));
    assert_eq!(by_src["2024-03-30"]["$overall"], cohort(3, [1, 2, 0]));
    assert_eq!(by_src["2024-03-29"]["organic"], cohort(0, [0, 0, 0]));
    let top = retention(&s, &p, &format!("{on}&limit=1")).await;
    let keys: Vec<&String> = top["2024-03-31"].as_object().unwrap().keys().collect();
    assert_eq!(keys, vec!["$overall", "ads"], "ads has 3 users, organic 2");

    // The same as a saved report: cohorts keyed by their start with the offset, and rates.
    let report = json!({"name": "Sign-up retention", "kind": "retention",
        "params": "from_date=2024-03-29&to_date=2024-03-31&interval_count=2&born_event=Sign%20Up&event=Play"});
    let r = s
        .http
        .post(s.url(&format!("/api/app/projects/{}/bookmarks", p.id)))
        .basic_auth(&p.secret, Some(""))
        .json(&report)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let saved: Value = r.json().await.unwrap();
    let (status, insight) =
        get(&s, &p, "/api/query/insights", &format!("bookmark_id={}", saved["results"]["id"])).await;
    assert_eq!(status, 200, "{insight}");
    assert_eq!(insight["headers"], json!(["$retention"]));
    assert_eq!(
        insight["series"]["2024-03-30T00:00:00+01:00"],
        json!({"first": 3, "counts": [1, 2, 0], "rates": [1.0 / 3.0, 2.0 / 3.0, 0.0]})
    );
    assert_eq!(insight["series"]["2024-03-31T00:00:00+01:00"]["first"], 1);

    // Compounded: every Paris day with a Play is a cohort, from that day's first Play.
    // 03-29: a (back 15 h and 37 h later), c. 03-30: a (22 h), e (23 h), g (30 min).
    // 03-31: a and e, who do not come back.
    let compounded = retention(&s, &p, "&retention_type=compounded&event=Play").await;
    assert_eq!(
        compounded,
        json!({
            "2024-03-29": cohort(2, [1, 1, 0]),
            "2024-03-30": cohort(3, [3, 0, 0]),
            "2024-03-31": cohort(2, [0, 0, 0]),
        })
    );
}

#[tokio::test]
async fn addiction_counts_distinct_hours_and_days() {
    let s = TestServer::start();
    let p = seed(&s).await;
    let (status, body) = get(
        &s,
        &p,
        "/api/query/retention/addiction",
        "from_date=2024-03-29&to_date=2024-03-31&unit=day&addiction_unit=hour&event=Play",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let hours = |first: &[u64]| {
        let mut v = first.to_vec();
        v.resize(24, 0);
        json!(v)
    };
    // 03-30 in Paris: a at 12, e at 13, g at 11, 11, 12 and 16 (three distinct hours).
    assert_eq!(
        body,
        json!({"data": {
            "2024-03-29": hours(&[2]),
            "2024-03-30": hours(&[3, 1, 1]),
            "2024-03-31": hours(&[2]),
        }})
    );
    // Days of a week: a played on 3 days, e on 2, c and g on 1.
    let (_, week) = get(
        &s,
        &p,
        "/api/2.0/retention/addiction",
        "from_date=2024-03-29&to_date=2024-03-31&unit=week&addiction_unit=day&event=Play",
    )
    .await;
    assert_eq!(week, json!({"data": {"2024-03-25": [4, 2, 1, 0, 0, 0, 0]}}));
}

#[tokio::test]
async fn bad_retention_requests_are_400s_in_the_query_shape() {
    let s = TestServer::start();
    let p = seed(&s).await;
    let base = "from_date=2024-03-29&to_date=2024-03-31";
    for (path, query, needle) in [
        ("/api/query/retention", format!("{base}&event=Play"), "born_event"),
        ("/api/query/retention", format!("{base}&born_event=A&retention_type=sometimes"), "retention_type"),
        ("/api/query/retention", format!("{base}&born_event=A&interval_count=0"), "interval_count"),
        ("/api/query/retention", format!("{base}&born_event=A&interval=91"), "interval"),
        ("/api/query/retention", format!("{base}&born_event=A&unit=hour"), "unit"),
        ("/api/query/retention", format!("{base}&born_event=A&unbounded_retention=maybe"), "unbounded_retention"),
        ("/api/query/retention", format!("{base}&born_event=A&born_where=properties%5B"), "born_where"),
        ("/api/query/retention", "born_event=A&to_date=2024-03-31".to_string(), "from_date"),
        ("/api/query/retention/addiction", format!("{base}&addiction_unit=hour"), "unit"),
        ("/api/query/retention/addiction", format!("{base}&unit=day"), "addiction_unit"),
        ("/api/query/retention/addiction", format!("{base}&unit=day&addiction_unit=minute"), "addiction_unit"),
        ("/api/query/retention/addiction", format!("{base}&unit=day&addiction_unit=day"), "shorter"),
    ] {
        let (status, body) = get(&s, &p, path, &query).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body["error"].as_str().unwrap_or_default().contains(needle), "{query}: {body}");
        assert!(body["request"].as_str().unwrap_or_default().contains(path), "{query}: {body}");
    }
}
