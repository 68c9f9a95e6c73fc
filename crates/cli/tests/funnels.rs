//! `/funnels` on hand-built users in a Paris project across the start of summer time
//! (2024-03-31, a 23-hour day). Every expected number is written here, worked out by
//! hand from the events below.

mod common;

use common::*;
use serde_json::{Value, json};

struct Paris {
    id: i64,
    secret: String,
}

/// UTC epoch ms of an RFC 3339 instant (whole seconds).
fn at(iso: &str) -> i64 {
    let out = std::process::Command::new("date").args(["-u", "-d", iso, "+%s"]).output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().parse::<i64>().unwrap() * 1000
}

/// The users (UTC times; Paris is UTC+1 until 2024-03-31T01:00Z, UTC+2 after). The
/// funnel "Signup" is View → Signup → Purchase with `amount > 10`, within one hour.
///
/// | user | events | Paris day of entry | steps reached |
/// |---|---|---|---|
/// | u1 | View 03-30 10:00, Signup 10:20, Purchase(20) 11:00 (window just fits) | 03-30 | 3 |
/// | u2 | View 10:00, Signup 10:30, Purchase(20) 11:00:00.001 (just misses) | 03-30 | 2 |
/// | u3 | View 12:00, Signup 12:10, Purchase(5) 12:20 (fails the step's where), Purchase(50) 12:40 | 03-30 | 3 |
/// | u4 | View, Signup, Purchase(15), all at 14:00, sent in reverse order | 03-30 | 3 |
/// | u5 | View 15:00, Purchase(30) 15:05, Signup 15:10 (purchase before signup) | 03-30 | 2 |
/// | u6 | View 16:00 sent twice (one `$insert_id`) | 03-30 | 1 |
/// | u7 | two Views at 17:00 (two `$insert_id`s) | 03-30 | 1 |
/// | u8 | View 18:00 as device d8, Signup 18:10 as d8 + user u8 (merge), Purchase(12) 18:20 as u8 | 03-30 | 3 |
/// | u10 | View 20:00; View 03-31 08:00, Signup 08:30 | 03-30 and 03-31 | 1; 2 |
/// | u13 | View 09:30, Signup 09:40 | 03-30 | 2 |
/// | u9 | View 23:30 (00:30 on 03-31 in Paris), Signup 23:40 | 03-31 | 2 |
/// | u11 | View 03-31 08:00, View 08:45, Signup 09:10 (the window runs from the first View) | 03-31 | 1 |
/// | u14 | View 03-31 21:30 (23:30 summer time), Signup 21:50; View 22:30 (04-01 in Paris) | 03-31 | 2 |
/// | u15 | View 03-31 21:55, Signup 22:10 (after `to_date`: still scanned) | 03-31 | 2 |
///
/// `plan` on Views: pro for u1, u3, u6, u7, u8, u10, u13, u15; free for u2, u4, u9,
/// u11, u14; none for u5. u1's events also carry `bot: true`.
async fn seed(s: &TestServer) -> Paris {
    let p = s.cli_json(&["project", "create", "--name", "paris", "--timezone", "Europe/Paris"]);
    let paris = Paris { id: p["id"].as_i64().unwrap(), secret: p["secret"].as_str().unwrap().into() };
    let mut n = 0;
    let mut ev = |name: &str, who: Value, time: i64, props: Value| {
        n += 1;
        let mut p = props;
        for (k, v) in who.as_object().unwrap() {
            p[k] = v.clone();
        }
        p["time"] = json!(time);
        p["$insert_id"] = json!(format!("i{n}"));
        json!({"event": name, "properties": p})
    };
    let u = |id: &str| json!({"distinct_id": id});
    let t = |iso: &str| at(&format!("2024-{iso}:00Z"));
    let bot = json!({"bot": true});
    let mut events = vec![
        ev("View", u("u1"), t("03-30T10:00"), json!({"plan": "pro", "bot": true})),
        ev("Signup", u("u1"), t("03-30T10:20"), bot.clone()),
        ev("Purchase", u("u1"), t("03-30T11:00"), json!({"amount": 20, "bot": true})),
        ev("View", u("u2"), t("03-30T10:00"), json!({"plan": "free"})),
        ev("Signup", u("u2"), t("03-30T10:30"), json!({})),
        ev("Purchase", u("u2"), t("03-30T11:00") + 1, json!({"amount": 20})),
        ev("View", u("u3"), t("03-30T12:00"), json!({"plan": "pro"})),
        ev("Signup", u("u3"), t("03-30T12:10"), json!({})),
        ev("Purchase", u("u3"), t("03-30T12:20"), json!({"amount": 5})),
        ev("Purchase", u("u3"), t("03-30T12:40"), json!({"amount": 50})),
        ev("Purchase", u("u4"), t("03-30T14:00"), json!({"amount": 15})),
        ev("Signup", u("u4"), t("03-30T14:00"), json!({})),
        ev("View", u("u4"), t("03-30T14:00"), json!({"plan": "free"})),
        ev("View", u("u5"), t("03-30T15:00"), json!({})),
        ev("Purchase", u("u5"), t("03-30T15:05"), json!({"amount": 30})),
        ev("Signup", u("u5"), t("03-30T15:10"), json!({})),
        ev("View", u("u7"), t("03-30T17:00"), json!({"plan": "pro"})),
        ev("View", u("u7"), t("03-30T17:00"), json!({"plan": "pro"})),
        ev("View", json!({"$device_id": "d8"}), t("03-30T18:00"), json!({"plan": "pro"})),
        ev("Signup", json!({"$device_id": "d8", "$user_id": "u8"}), t("03-30T18:10"), json!({})),
        ev("Purchase", u("u8"), t("03-30T18:20"), json!({"amount": 12})),
        ev("View", u("u10"), t("03-30T20:00"), json!({"plan": "pro"})),
        ev("View", u("u10"), t("03-31T08:00"), json!({"plan": "pro"})),
        ev("Signup", u("u10"), t("03-31T08:30"), json!({})),
        ev("View", u("u13"), t("03-30T09:30"), json!({"plan": "pro"})),
        ev("Signup", u("u13"), t("03-30T09:40"), json!({})),
        ev("View", u("u9"), t("03-30T23:30"), json!({"plan": "free"})),
        ev("Signup", u("u9"), t("03-30T23:40"), json!({})),
        ev("View", u("u11"), t("03-31T08:00"), json!({"plan": "free"})),
        ev("View", u("u11"), t("03-31T08:45"), json!({"plan": "free"})),
        ev("Signup", u("u11"), t("03-31T09:10"), json!({})),
        ev("View", u("u14"), t("03-31T21:30"), json!({"plan": "free"})),
        ev("Signup", u("u14"), t("03-31T21:50"), json!({})),
        ev("View", u("u14"), t("03-31T22:30"), json!({"plan": "free"})),
        ev("View", u("u15"), t("03-31T21:55"), json!({"plan": "pro"})),
        ev("Signup", u("u15"), t("03-31T22:10"), json!({})),
    ];
    // u6's View, retried with the same `$insert_id`.
    let u6 = ev("View", u("u6"), t("03-30T16:00"), json!({"plan": "pro"}));
    events.push(u6.clone());
    events.push(u6);
    let r =
        s.http.post(s.url("/import?strict=1")).basic_auth(&paris.secret, Some("")).json(&events).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    paris
}

async fn call(s: &TestServer, p: &Paris, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut r = s.http.request(method, s.url(path)).basic_auth(&p.secret, Some(""));
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn funnel(s: &TestServer, p: &Paris, id: i64, extra: &str) -> Value {
    let q = format!("/api/query/funnels?funnel_id={id}&from_date=2024-03-30&to_date=2024-03-31{extra}");
    let (status, body) = call(s, p, reqwest::Method::GET, &q, None).await;
    assert_eq!(status, 200, "{extra}: {body}");
    body
}

fn counts(steps: &Value) -> Vec<u64> {
    steps.as_array().unwrap().iter().map(|s| s["count"].as_u64().unwrap()).collect()
}

/// Saves "Signup" through the App API and "Views" (View then View) through the CLI.
async fn save(s: &TestServer, p: &Paris) -> (i64, i64) {
    let body = json!({
        "name": "Signup",
        "steps": [
            {"event": "View"},
            {"event": "Signup", "label": "Signed up"},
            {"event": "Purchase", "where": "properties[\"amount\"] > 10"}
        ],
        "length": 1,
        "length_unit": "hour"
    });
    let path = format!("/api/app/projects/{}/funnels", p.id);
    let (status, created) = call(s, p, reqwest::Method::POST, &path, Some(body)).await;
    assert_eq!(status, 201, "{created}");
    let signup = created["results"]["funnel_id"].as_i64().unwrap();
    let views = s.cli_json(&[
        "funnel",
        "create",
        "--project",
        &p.id.to_string(),
        "--name",
        "Views",
        "--step",
        "View",
        "--step",
        "View",
        "--length",
        "1",
        "--length-unit",
        "day",
    ]);
    (signup, views["funnel_id"].as_i64().unwrap())
}

#[tokio::test]
async fn funnels_match_the_hand_worked_users() {
    let s = TestServer::start();
    let p = seed(&s).await;
    let (signup, views) = save(&s, &p).await;

    let body = funnel(&s, &p, signup, "").await;
    assert_eq!(body["meta"]["dates"], json!(["2024-03-30", "2024-03-31"]));
    let day1 = &body["data"]["2024-03-30"];
    assert_eq!(
        day1["steps"],
        json!([
            {"count": 10, "avg_time": null, "avg_time_from_start": null, "step_conv_ratio": 1.0,
             "overall_conv_ratio": 1.0, "goal": "View", "event": "View", "step_label": "View"},
            // Signup times: u1 1200 s, u2 1800, u3 600, u4 0, u5 600, u8 600, u13 600: 5400 / 7.
            {"count": 7, "avg_time": 771, "avg_time_from_start": 771, "step_conv_ratio": 0.7,
             "overall_conv_ratio": 0.7, "goal": "Signup", "event": "Signup", "step_label": "Signed up"},
            // Purchase: u1 2400 s after signup (3600 from the View), u3 1800 (2400), u4 0 (0), u8 600 (1200).
            {"count": 4, "avg_time": 1200, "avg_time_from_start": 1800, "step_conv_ratio": 4.0 / 7.0,
             "overall_conv_ratio": 0.4, "goal": "Purchase", "event": "Purchase", "step_label": "Purchase"}
        ])
    );
    assert_eq!(day1["analysis"], json!({"completion": 4, "starting_amount": 10, "steps": 3, "worst": 2}));
    let day2 = &body["data"]["2024-03-31"];
    assert_eq!(counts(&day2["steps"]), vec![5, 4, 0]);
    // u9 600 s, u10 1800, u14 1200, u15 900.
    assert_eq!(day2["steps"][1]["avg_time"], 1125);
    assert_eq!(day2["steps"][2]["avg_time"], Value::Null, "nobody reached it");
    assert_eq!(day2["steps"][2]["step_conv_ratio"], 0.0);
    assert_eq!(day2["analysis"], json!({"completion": 0, "starting_amount": 5, "steps": 3, "worst": 2}));

    // Once the compactor has moved the events to the query tier (about two quiet
    // seconds), the answer is the same: there, users are read from stored hashes and
    // joined through the identity graph's hashes (u8's device).
    tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
    assert_eq!(funnel(&s, &p, signup, "").await, body, "after compaction");

    // The legacy path, with a trailing slash, answers the same.
    let legacy = format!("/api/2.0/funnels/?funnel_id={signup}&from_date=2024-03-30&to_date=2024-03-31");
    assert_eq!(call(&s, &p, reqwest::Method::GET, &legacy, None).await, (200, body.clone()));

    // A longer window: u2's purchase (1 ms late) and u11's signup now fit.
    let two_hours = funnel(&s, &p, signup, "&length=2&length_unit=hour").await;
    assert_eq!(counts(&two_hours["data"]["2024-03-30"]["steps"]), vec![10, 7, 5]);
    assert_eq!(counts(&two_hours["data"]["2024-03-31"]["steps"]), vec![5, 5, 0]);

    // One bucket for both days: each user enters once, at their first View.
    let week = funnel(&s, &p, signup, "&unit=week").await;
    assert_eq!(week["meta"]["dates"], json!(["2024-03-25"]));
    assert_eq!(counts(&week["data"]["2024-03-25"]["steps"]), vec![14, 10, 4]);
    let runs = funnel(&s, &p, signup, "&interval=2").await;
    assert_eq!(counts(&runs["data"]["2024-03-30"]["steps"]), vec![14, 10, 4]);

    // where applies to every step's events: u1 is gone.
    let no_bots = funnel(&s, &p, signup, &format!("&where={}", urlencode(r#"not defined(properties["bot"])"#))).await;
    assert_eq!(counts(&no_bots["data"]["2024-03-30"]["steps"]), vec![9, 6, 3]);
    // The same with an expression the SQL compiler leaves to the interpreter.
    let interpreted =
        funnel(&s, &p, signup, &format!("&where={}", urlencode(r#"not defined(properties["bot"]) and [1][0] == 1"#)))
            .await;
    assert_eq!(interpreted, no_bots);

    // on: the segment is the entry View's plan; u5 (no plan) is only in $overall.
    let on = format!("&on={}", urlencode(r#"properties["plan"]"#));
    let by_plan = funnel(&s, &p, signup, &on).await;
    let d1 = &by_plan["data"]["2024-03-30"];
    assert_eq!(counts(&d1["$overall"]), vec![10, 7, 4]);
    assert_eq!(counts(&d1["pro"]), vec![7, 4, 3]);
    assert_eq!(counts(&d1["free"]), vec![2, 2, 1]);
    let d2 = &by_plan["data"]["2024-03-31"];
    assert_eq!(counts(&d2["pro"]), vec![2, 2, 0]);
    assert_eq!(counts(&d2["free"]), vec![3, 2, 0]);
    let top = funnel(&s, &p, signup, &format!("{on}&limit=1")).await;
    let keys: Vec<&String> = top["data"]["2024-03-31"].as_object().unwrap().keys().collect();
    assert_eq!(keys, vec!["$overall", "pro"], "pro has 9 entries, free 5");

    // A saved report of the funnel: the whole range at once, each user entering once.
    let report = json!({"name": "Signup, two days", "kind": "funnels",
                        "params": {"funnel_id": signup, "from_date": "2024-03-30", "to_date": "2024-03-31"}});
    let (status, saved) =
        call(&s, &p, reqwest::Method::POST, &format!("/api/app/projects/{}/bookmarks", p.id), Some(report)).await;
    assert_eq!(status, 201, "{saved}");
    let one = format!("/api/app/projects/{}/bookmarks/{}", p.id, saved["results"]["id"]);
    let (status, fetched) = call(&s, &p, reqwest::Method::GET, &one, None).await;
    assert_eq!((status, &fetched["results"]), (200, &saved["results"]), "GET shows what POST saved");
    let insights = format!("/api/query/insights?bookmark_id={}", saved["results"]["id"]);
    let (status, insight) = call(&s, &p, reqwest::Method::GET, &insights, None).await;
    assert_eq!(status, 200, "{insight}");
    assert_eq!(insight["headers"], json!(["$funnel"]));
    assert_eq!(
        insight["series"]["Signup"]["count"],
        json!({"1. View": {"all": 14}, "2. Signed up": {"all": 10}, "3. Purchase": {"all": 4}})
    );
    assert_eq!(insight["series"]["Signup"]["overall_conv_ratio"]["3. Purchase"]["all"], json!(4.0 / 14.0));
    assert_eq!(insight["date_range"]["from_date"], "2024-03-30T00:00:00+01:00");

    // View then View: u6's retried copy is one event, u7's two Views at one instant
    // are two, u10's second View is within the day, u14's later View may be after to_date.
    let repeat = funnel(&s, &p, views, "").await;
    assert_eq!(counts(&repeat["data"]["2024-03-30"]["steps"]), vec![10, 2]);
    assert_eq!(counts(&repeat["data"]["2024-03-31"]["steps"]), vec![5, 2]);
}

#[tokio::test]
async fn saved_funnels_are_listed_changed_and_deleted() {
    let s = TestServer::start();
    let p = seed(&s).await;
    let (signup, views) = save(&s, &p).await;
    let (status, list) = call(&s, &p, reqwest::Method::GET, "/api/query/funnels/list", None).await;
    assert_eq!(status, 200);
    assert_eq!(list, json!([{"funnel_id": signup, "name": "Signup"}, {"funnel_id": views, "name": "Views"}]));
    assert_eq!(call(&s, &p, reqwest::Method::GET, "/api/2.0/funnels/list", None).await.1, list);

    // The App API: one funnel, a page of them, a change, a deletion.
    let one = format!("/api/app/projects/{}/funnels/{signup}", p.id);
    let (status, got) = call(&s, &p, reqwest::Method::GET, &one, None).await;
    assert_eq!(status, 200);
    assert_eq!(got["results"]["steps"][2], json!({"event": "Purchase", "where": "properties[\"amount\"] > 10"}));
    assert_eq!((got["results"]["length"].clone(), got["results"]["length_unit"].clone()), (json!(1), json!("hour")));
    let (_, page) = call(&s, &p, reqwest::Method::GET, &format!("/api/app/projects/{}/funnels", p.id), None).await;
    assert_eq!(page["results"].as_array().unwrap().len(), 2);
    let change = json!({"name": "Signup (2h)", "length": 2});
    let (status, changed) = call(&s, &p, reqwest::Method::PATCH, &one, Some(change)).await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["results"]["name"], "Signup (2h)");
    assert_eq!(changed["results"]["steps"].as_array().unwrap().len(), 3, "steps kept");
    let body = funnel(&s, &p, signup, "").await;
    assert_eq!(counts(&body["data"]["2024-03-30"]["steps"]), vec![10, 7, 5], "the saved window is now 2 hours");

    // The CLI changes the steps.
    let updated = s.cli_json(&[
        "funnel",
        "update",
        "--project",
        &p.id.to_string(),
        "--id",
        &views.to_string(),
        "--step",
        "View",
        "--step",
        r#"{"event": "Signup", "label": "Signed up"}"#,
    ]);
    assert_eq!(updated["steps"][1]["label"], "Signed up");
    assert_eq!(updated["length_unit"], "day");

    let (status, _) = call(&s, &p, reqwest::Method::DELETE, &one, None).await;
    assert_eq!(status, 200);
    let (status, body) = call(&s, &p, reqwest::Method::GET, &one, None).await;
    assert_eq!(status, 404, "{body}");
    let (_, list) = call(&s, &p, reqwest::Method::GET, "/api/query/funnels/list", None).await;
    assert_eq!(list, json!([{"funnel_id": views, "name": "Views"}]));
}

#[tokio::test]
async fn bad_funnel_requests_are_clear_errors() {
    let s = TestServer::start();
    let p = seed(&s).await;
    let (signup, _) = save(&s, &p).await;
    let base = format!("/api/query/funnels?funnel_id={signup}&from_date=2024-03-30&to_date=2024-03-31");
    for (query, status, needle) in [
        ("/api/query/funnels?from_date=2024-03-30&to_date=2024-03-31".to_string(), 400, "funnel_id"),
        ("/api/query/funnels?funnel_id=x&from_date=2024-03-30&to_date=2024-03-31".to_string(), 400, "integer"),
        (format!("/api/query/funnels?funnel_id={signup}&to_date=2024-03-31"), 400, "from_date"),
        (format!("{base}&length=91&length_unit=day"), 400, "90 days"),
        (format!("{base}&length_unit=week"), 400, "length_unit"),
        (format!("{base}&unit=hour"), 400, "unit"),
        (format!("{base}&on=properties%5B"), 400, "on"),
        (format!("{base}&limit=0"), 400, "limit"),
        ("/api/query/funnels?funnel_id=999&from_date=2024-03-30&to_date=2024-03-31".to_string(), 404, "999"),
    ] {
        let (got, body) = call(&s, &p, reqwest::Method::GET, &query, None).await;
        assert_eq!(got, status, "{query}: {body}");
        assert!(body["error"].as_str().unwrap_or_default().contains(needle), "{query}: {body}");
        assert!(body["request"].as_str().is_some(), "{query}: {body}");
    }

    let path = format!("/api/app/projects/{}/funnels", p.id);
    for (body, needle) in [
        (json!({"steps": [{"event": "A"}, {"event": "B"}]}), "name"),
        (json!({"name": "x", "steps": [{"event": "A"}]}), "two steps"),
        (json!({"name": "x"}), "steps"),
        (json!({"name": "x", "steps": [{"event": "A"}, {"event": "B", "where": "properties["}]}), "step 2"),
        (
            json!({"name": "x", "steps": [{"event": "A"}, {"event": "B"}], "length": 3, "length_unit": "month"}),
            "length_unit",
        ),
        (json!({"name": "x", "steps": [{"event": "A"}, {"event": "B"}], "order": "sideways"}), "sideways"),
    ] {
        let (status, answer) = call(&s, &p, reqwest::Method::POST, &path, Some(body.clone())).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(answer.to_string().contains(needle), "{body}: {answer}");
    }
}
