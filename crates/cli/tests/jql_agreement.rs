//! The same questions asked through JQL and through the reports, on generated data:
//! counts by day, unique users by day, an `on` breakdown, `/events` over two names, a
//! funnel and a birth retention written with `groupByUser`, and an engage count. Each
//! pair must agree.

mod common;

use std::collections::BTreeMap;

use common::*;
use serde_json::{Value, json};

const DAY0: i64 = 1_717_200_000; // 2024-06-01T00:00:00Z
const NAMES: [&str; 4] = ["Open", "Browse", "Buy", "Share"];
const PLANS: [&str; 3] = ["free", "pro", "team"];

/// A small deterministic generator: 1,500 events over 5 days by 40 users, with a
/// `plan` (sometimes missing) and an `amount`; profiles for the first 30 users.
async fn load(s: &TestServer) {
    let mut state: u64 = 7;
    let mut next = |n: u64| {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % n
    };
    let mut events = Vec::new();
    for i in 0..1500 {
        let mut p = json!({
            "distinct_id": format!("user{}", next(40)),
            "time": DAY0 + next(5 * 86_400) as i64,
            "$insert_id": format!("g{i}"),
            "amount": next(100),
        });
        if next(5) > 0 {
            p["plan"] = json!(PLANS[next(3) as usize]);
        }
        events.push(json!({"event": NAMES[next(4) as usize], "properties": p}));
    }
    for chunk in events.chunks(500) {
        s.import_ok(chunk).await;
    }
    let profiles: Vec<Value> = (0..30)
        .map(|u| json!({"$token": s.creds.token, "$distinct_id": format!("user{u}"), "$set": {"plan": PLANS[u % 3]}}))
        .collect();
    let r = s.http.post(s.url("/engage?verbose=1")).json(&profiles).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

async fn get(s: &TestServer, path: &str) -> Value {
    let (status, body) = send(s.http.get(s.url(path)).basic_auth(&s.creds.secret, Some(""))).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

async fn jql(s: &TestServer, script: &str) -> Value {
    let form = [("script", script)];
    let (status, body) =
        send(s.http.post(s.url("/api/query/jql")).basic_auth(&s.creds.secret, Some("")).form(&form)).await;
    assert_eq!(status, 200, "{script}: {body}");
    body
}

/// `{date: n}` from JQL rows keyed by a day bucket (ms) and counting something.
fn by_date(rows: &Value, key_at: usize) -> BTreeMap<String, i64> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| (ymd(r["key"][key_at].as_i64().unwrap() / 1000), r["value"].as_i64().unwrap()))
        .collect()
}

/// `{date: n}` from a report's `values` entry, days without events left out.
fn nonzero(values: &Value) -> BTreeMap<String, i64> {
    values.as_object().unwrap().iter().map(|(d, n)| (d.clone(), n.as_i64().unwrap())).filter(|(_, n)| *n > 0).collect()
}

const RANGE: &str = "from_date=2024-06-01&to_date=2024-06-05";
const EVENTS: &str = "Events({from_date: '2024-06-01', to_date: '2024-06-05', event_selectors: [{event: 'Buy'}]})";
const DAY: &str = "mixpanel.numeric_bucket('time', mixpanel.daily_time_buckets)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jql_agrees_with_the_reports() {
    let s = TestServer::start_with_config(&format!(
        "{RELAXED_LIMITS}[rate_limits.default.jql]\nper_hour = 0\nconcurrent = 0\n"
    ));
    load(&s).await;

    // Counts by day.
    let report = get(&s, &format!("/api/query/segmentation?event=Buy&{RANGE}&unit=day")).await;
    let rows =
        jql(&s, &format!("function main() {{ return {EVENTS}.groupBy([{DAY}], mixpanel.reducer.count()); }}")).await;
    assert_eq!(by_date(&rows, 0), nonzero(&report["data"]["values"]["Buy"]), "counts by day");

    // Unique users by day: Mixpanel's groupByUser-then-slice pattern.
    let report = get(&s, &format!("/api/query/segmentation?event=Buy&{RANGE}&unit=day&type=unique")).await;
    let rows = jql(
        &s,
        &format!(
            "function main() {{ return {EVENTS}.groupByUser([{DAY}], mixpanel.reducer.null())\
             .groupBy([mixpanel.slice('key', 1)], mixpanel.reducer.count()); }}"
        ),
    )
    .await;
    assert_eq!(by_date(&rows, 0), nonzero(&report["data"]["values"]["Buy"]), "unique users by day");

    // An `on` breakdown, over the whole range (events without a plan are in no segment).
    let report = get(&s, &format!("/api/query/segmentation?event=Buy&{RANGE}&unit=day&on=properties[\"plan\"]")).await;
    let rows = jql(
        &s,
        &format!(
            "function main() {{ return {EVENTS}.filter(e => e.properties.plan !== undefined)\
             .groupBy(['properties.plan'], mixpanel.reducer.count()); }}"
        ),
    )
    .await;
    let from_jql: BTreeMap<String, i64> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["key"][0].as_str().unwrap().to_string(), r["value"].as_i64().unwrap()))
        .collect();
    let from_report: BTreeMap<String, i64> = report["data"]["values"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(plan, days)| (plan.clone(), nonzero(days).values().sum()))
        .collect();
    assert_eq!(from_jql, from_report, "on plan");

    // `/events` over two names, by day; and the store-computed groupBy of names.
    let names = urlencode(r#"["Open","Share"]"#);
    let report = get(&s, &format!("/api/query/events?event={names}&type=general&unit=day&{RANGE}")).await;
    let rows = jql(
        &s,
        "function main() { return Events({from_date: '2024-06-01', to_date: '2024-06-05', \
         event_selectors: [{event: 'Open'}, {event: 'Share'}]})\
         .groupBy(['name', mixpanel.numeric_bucket('time', mixpanel.daily_time_buckets)], mixpanel.reducer.count()); }",
    )
    .await;
    for name in ["Open", "Share"] {
        let mine: BTreeMap<String, i64> = rows
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["key"][0] == name)
            .map(|r| (ymd(r["key"][1].as_i64().unwrap() / 1000), r["value"].as_i64().unwrap()))
            .collect();
        assert_eq!(mine, nonzero(&report["data"]["values"][name]), "/events {name}");
    }
    let totals = jql(
        &s,
        "function main() { return Events({from_date: '2024-06-01', to_date: '2024-06-05'})\
         .groupBy(['name'], mixpanel.reducer.count()); }",
    )
    .await;
    let report = get(
        &s,
        &format!(
            "/api/query/events?event={}&type=general&unit=day&{RANGE}",
            urlencode(&serde_json::to_string(&NAMES).unwrap())
        ),
    )
    .await;
    for row in totals.as_array().unwrap() {
        let name = row["key"][0].as_str().unwrap();
        let summed: i64 = nonzero(&report["data"]["values"][name]).values().sum();
        assert_eq!(row["value"].as_i64().unwrap(), summed, "total {name}");
    }

    // A funnel, Open then Buy, entered on one day, written with groupByUser: the first
    // step on 2024-06-02, the second any time after within the window (the data ends on
    // 2024-06-05).
    let funnel = json!({"name": "Open to Buy", "steps": [{"event": "Open"}, {"event": "Buy"}],
                        "length": 30, "length_unit": "day"});
    let (status, created) = send(
        s.http
            .post(s.url(&format!("/api/app/projects/{}/funnels", s.creds.project_id)))
            .basic_auth(&s.creds.secret, Some(""))
            .json(&funnel),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["results"]["funnel_id"].as_i64().unwrap();
    let report = get(&s, &format!("/api/query/funnels?funnel_id={id}&from_date=2024-06-02&to_date=2024-06-02")).await;
    let steps: Vec<i64> = report["data"]["2024-06-02"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["count"].as_i64().unwrap())
        .collect();
    let rows = jql(
        &s,
        "function main() { return Events({from_date: '2024-06-02', to_date: '2024-06-05'})\
         .groupByUser(function (step, events) { step = step || 0; \
           events.forEach(function (e) { \
             if (step == 0 && e.name == 'Open' && e.time < 1717372800000) step = 1; \
             else if (step == 1 && e.name == 'Buy') step = 2; }); \
           return step; })\
         .reduce([mixpanel.reducer.count(), function (accs, rows) { var n = 0; accs.forEach(a => n += a); \
           rows.forEach(r => { if (r.value >= 1) n += 1; }); return n; }, \
           function (accs, rows) { var n = 0; accs.forEach(a => n += a); rows.forEach(r => { if (r.value == 2) n += 1; }); return n; }]); }",
    )
    .await;
    assert_eq!(vec![rows[0][1].as_i64().unwrap(), rows[0][2].as_i64().unwrap()], steps, "funnel steps");

    // Birth retention, Open then Buy, for the cohort born on 2024-06-01: each user's
    // 24-hour intervals from their first Open (the data starts that day).
    let report = get(
        &s,
        "/api/query/retention?from_date=2024-06-01&to_date=2024-06-01&born_event=Open&event=Buy&interval_count=2",
    )
    .await;
    let rows = jql(
        &s,
        "function main() { return Events({from_date: '2024-06-01', to_date: '2024-06-05'})\
         .groupByUser(function (state, events) { \
           state = state || {born: null, hits: [false, false, false]}; \
           events.forEach(function (e) { \
             if (state.born === null && e.name == 'Open') state.born = e.time < 1717286400000 ? e.time : -1; \
             else if (state.born > 0 && e.name == 'Buy') { \
               var i = Math.floor((e.time - state.born) / 86400000); if (i < 3) state.hits[i] = true; } }); \
           return state; })\
         .filter(row => row.value.born > 0)\
         .reduce(function (accs, rows) { \
           var out = {first: 0, counts: [0, 0, 0]}; \
           accs.concat(rows.map(r => ({first: 1, counts: r.value.hits.map(h => h ? 1 : 0)}))).forEach(function (a) { \
             out.first += a.first; for (var i = 0; i < 3; i++) out.counts[i] += a.counts[i]; }); \
           return out; }); }",
    )
    .await;
    assert_eq!(rows[0], report["2024-06-01"], "retention");
    assert!(rows[0]["first"].as_i64().unwrap() > 10 && rows[0]["counts"][1].as_i64().unwrap() > 0, "{rows}");

    // An engage count.
    let (status, engage) = send(
        s.http
            .post(s.url("/api/query/engage"))
            .basic_auth(&s.creds.secret, Some(""))
            .form(&[("where", r#"properties["plan"] == "pro""#)]),
    )
    .await;
    assert_eq!(status, 200, "{engage}");
    let rows = jql(
        &s,
        r#"function main() { return People({user_selectors: [{selector: 'user["plan"] == "pro"'}]}).reduce(mixpanel.reducer.count()); }"#,
    )
    .await;
    assert_eq!(rows, json!([engage["total"]]), "engage");
}
