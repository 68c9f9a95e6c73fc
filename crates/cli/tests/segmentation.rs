//! `/segmentation` on a small hand-built dataset in a Paris project across the start
//! of summer time (2024-03-31, a 23-hour day). Every expected number is written here,
//! worked out by hand from the events below.

mod common;

use common::*;
use serde_json::{Value, json};

struct Paris {
    id: i64,
    secret: String,
    token: String,
}

/// The dataset (UTC times; Paris is UTC+1 until 2024-03-31T01:00Z, UTC+2 after):
///
/// | id | UTC | Paris day | user | properties |
/// |---|---|---|---|---|
/// | e1 | 03-30 22:30 | 03-30 | alice | genre jazz, n 1, tags [a, b], premium true |
/// | e2 | 03-30 23:30 | 03-31 | bob | genre rock, n 2.5, tags [a], premium false |
/// | e3 | 03-31 21:30 | 03-31 | alice | genre jazz, n 1 |
/// | e4 (sent twice) | 03-31 22:30 | 04-01 | carol | genre jazz |
/// | e5 | 04-01 10:00 | 04-01 | bob | none |
/// | e7 | 04-01 11:00 | 04-01 | device d1, later carol | genre pop |
/// | e8 | 04-01 13:00 | 04-01 | carol (logs in on d1) | genre pop |
/// | o1 | 04-01 12:00 | 04-01 | bob | an `Other` event |
async fn seed(s: &TestServer) -> Paris {
    let p = s.cli_json(&["project", "create", "--name", "paris", "--timezone", "Europe/Paris"]);
    let paris = Paris {
        id: p["id"].as_i64().unwrap(),
        secret: p["secret"].as_str().unwrap().into(),
        token: p["token"].as_str().unwrap().into(),
    };
    let at = |iso: &str| chrono_ms(iso);
    let ev = |name: &str, id: &str, iso: &str, props: Value| {
        let mut p = props;
        p["time"] = json!(at(iso));
        p["$insert_id"] = json!(id);
        json!({"event": name, "properties": p})
    };
    let events = vec![
        ev(
            "Play",
            "e1",
            "2024-03-30T22:30:00Z",
            json!({"distinct_id": "alice", "genre": "jazz", "n": 1, "tags": ["a", "b"], "premium": true}),
        ),
        ev(
            "Play",
            "e2",
            "2024-03-30T23:30:00Z",
            json!({"distinct_id": "bob", "genre": "rock", "n": 2.5, "tags": ["a"], "premium": false}),
        ),
        ev("Play", "e3", "2024-03-31T21:30:00Z", json!({"distinct_id": "alice", "genre": "jazz", "n": 1})),
        ev("Play", "e4", "2024-03-31T22:30:00Z", json!({"distinct_id": "carol", "genre": "jazz"})),
        ev("Play", "e4", "2024-03-31T22:30:00Z", json!({"distinct_id": "carol", "genre": "jazz"})),
        ev("Play", "e5", "2024-04-01T10:00:00Z", json!({"distinct_id": "bob"})),
        ev("Play", "e7", "2024-04-01T11:00:00Z", json!({"$device_id": "d1", "genre": "pop"})),
        ev("Play", "e8", "2024-04-01T13:00:00Z", json!({"$device_id": "d1", "$user_id": "carol", "genre": "pop"})),
        ev("Other", "o1", "2024-04-01T12:00:00Z", json!({"distinct_id": "bob", "genre": "jazz"})),
    ];
    let r =
        s.http.post(s.url("/import?strict=1")).basic_auth(&paris.secret, Some("")).json(&events).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let profiles = json!([
        {"$token": paris.token, "$distinct_id": "alice", "$set": {"plan": "pro"}},
        {"$token": paris.token, "$distinct_id": "carol", "$set": {"plan": "free"}},
    ]);
    let r = s.http.post(s.url("/engage")).json(&profiles).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "1");
    paris
}

/// UTC epoch ms of an RFC 3339 instant.
fn chrono_ms(iso: &str) -> i64 {
    let out = std::process::Command::new("date").args(["-u", "-d", iso, "+%s"]).output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().parse::<i64>().unwrap() * 1000
}

async fn get(s: &TestServer, p: &Paris, path: &str, query: &str) -> (u16, Value) {
    let r = s.http.get(s.url(&format!("{path}?{query}"))).basic_auth(&p.secret, Some("")).send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn seg(s: &TestServer, p: &Paris, extra: &str) -> Value {
    let q = format!("event=Play&from_date=2024-03-30&to_date=2024-04-01{extra}");
    let (status, body) = get(s, p, "/api/query/segmentation", &q).await;
    assert_eq!(status, 200, "{extra}: {body}");
    body
}

const DAYS: [&str; 3] = ["2024-03-30", "2024-03-31", "2024-04-01"];

fn by_day(values: [u64; 3]) -> Value {
    json!({DAYS[0]: values[0], DAYS[1]: values[1], DAYS[2]: values[2]})
}

#[tokio::test]
async fn segmentation_answers_match_the_hand_worked_dataset() {
    let s = TestServer::start();
    let p = seed(&s).await;

    // general: days are Paris days (e2 is 03-31 there, e4 04-01), e4's copy counts once.
    let body = seg(&s, &p, "").await;
    assert_eq!(body, json!({"data": {"series": DAYS, "values": {"Play": by_day([1, 2, 4])}}, "legend_size": 1}));
    let legacy = get(&s, &p, "/api/2.0/segmentation/", "event=Play&from_date=2024-03-30&to_date=2024-04-01").await;
    assert_eq!(legacy, (200, body));

    // unique: after identity merge e7's device is carol, so 04-01 has carol and bob.
    assert_eq!(seg(&s, &p, "&type=unique").await["data"]["values"]["Play"], by_day([1, 2, 2]));
    let average = seg(&s, &p, "&type=average").await;
    assert_eq!(average["data"]["values"]["Play"], json!({DAYS[0]: 1.0, DAYS[1]: 1.0, DAYS[2]: 2.0}));

    // on: strings, numbers, booleans, lists; undefined values are left out.
    let on = |e: &str| format!("&on={}", urlencode(e));
    let genre = seg(&s, &p, &on(r#"properties["genre"]"#)).await;
    assert_eq!(
        genre["data"]["values"],
        json!({"jazz": by_day([1, 1, 1]), "rock": by_day([0, 1, 0]), "pop": by_day([0, 0, 2])})
    );
    assert_eq!(genre["legend_size"], 3);
    assert_eq!(
        seg(&s, &p, &on(r#"properties["n"]"#)).await["data"]["values"],
        json!({"1": by_day([1, 1, 0]), "2.5": by_day([0, 1, 0])})
    );
    assert_eq!(
        seg(&s, &p, &on(r#"properties["premium"]"#)).await["data"]["values"],
        json!({"true": by_day([1, 0, 0]), "false": by_day([0, 1, 0])})
    );
    assert_eq!(
        seg(&s, &p, &on(r#"properties["tags"]"#)).await["data"]["values"],
        json!({"a": by_day([1, 1, 0]), "b": by_day([1, 0, 0])})
    );
    let unique_genre = seg(&s, &p, &format!("{}&type=unique", on(r#"properties["genre"]"#))).await;
    assert_eq!(unique_genre["data"]["values"]["pop"], by_day([0, 0, 1]), "e7 and e8 are both carol");

    // limit keeps the largest totals.
    let top = seg(&s, &p, &format!("{}&limit=1", on(r#"properties["genre"]"#))).await;
    assert_eq!(top["data"]["values"], json!({"jazz": by_day([1, 1, 1])}));
    assert_eq!(top["legend_size"], 1);

    // where, over the event and over the user's profile (alice is pro).
    let w = |e: &str| format!("&where={}", urlencode(e));
    assert_eq!(seg(&s, &p, &w(r#"properties["genre"] == "jazz""#)).await["data"]["values"]["Play"], by_day([1, 1, 1]));
    assert_eq!(seg(&s, &p, &w(r#"user["plan"] == "pro""#)).await["data"]["values"]["Play"], by_day([1, 1, 0]));
    // An expression the SQL compiler leaves to the interpreter gives the same kind of answer.
    assert_eq!(seg(&s, &p, &w(r#"properties["tags"][0] == "a""#)).await["data"]["values"]["Play"], by_day([1, 1, 0]));
    let interpreted = seg(&s, &p, &format!("{}&type=unique", on(r#"properties["tags"][0]"#))).await;
    assert_eq!(interpreted["data"]["values"], json!({"a": by_day([1, 1, 0])}));
}

#[tokio::test]
async fn units_follow_the_project_calendar() {
    let s = TestServer::start();
    let p = seed(&s).await;
    let week = seg(&s, &p, "&unit=week").await;
    assert_eq!(week["data"]["series"], json!(["2024-03-25", "2024-04-01"]));
    assert_eq!(week["data"]["values"]["Play"], json!({"2024-03-25": 3, "2024-04-01": 4}));
    let month = seg(&s, &p, "&unit=month").await;
    assert_eq!(month["data"]["values"]["Play"], json!({"2024-03-01": 3, "2024-04-01": 4}));
    let runs = seg(&s, &p, "&interval=2&type=unique").await;
    assert_eq!(runs["data"]["values"]["Play"], json!({"2024-03-30": 2, "2024-04-01": 2}));

    let (_, hours) =
        get(&s, &p, "/api/query/segmentation", "event=Play&from_date=2024-03-31&to_date=2024-03-31&unit=hour").await;
    let series = hours["data"]["series"].as_array().unwrap();
    assert_eq!(series.first().unwrap(), "2024-03-31 00:00:00");
    assert_eq!(series.last().unwrap(), "2024-03-31 23:00:00");
    let values = &hours["data"]["values"]["Play"];
    assert_eq!(values["2024-03-31 00:00:00"], 1, "e2 at 00:30 local");
    assert_eq!(values["2024-03-31 23:00:00"], 1, "e3 at 23:30 local, summer time");
    assert_eq!(values.as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum::<u64>(), 2);

    let (_, minutes) =
        get(&s, &p, "/api/query/segmentation", "event=Play&from_date=2024-03-31&to_date=2024-03-31&unit=minute").await;
    assert_eq!(minutes["data"]["values"]["Play"]["2024-03-31 23:30:00"], 1);

    // A day with nothing still has its zero, and an unknown event answers zeros.
    let (_, none) = get(&s, &p, "/api/query/segmentation", "event=Nope&from_date=2024-03-30&to_date=2024-03-31").await;
    assert_eq!(none["data"]["values"], json!({"Nope": {"2024-03-30": 0, "2024-03-31": 0}}));

    let r = s
        .http
        .get(s.url("/api/query/segmentation?event=Play&from_date=2024-03-30&to_date=2024-04-01&format=csv&on=properties%5B%22genre%22%5D"))
        .basic_auth(&p.secret, Some(""))
        .send()
        .await
        .unwrap();
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    assert_eq!(r.text().await.unwrap(), "date,jazz,pop,rock\n2024-03-30,1,0,0\n2024-03-31,1,0,1\n2024-04-01,1,2,0\n");
}

#[tokio::test]
async fn bad_requests_are_400s_in_the_query_shape() {
    let s = TestServer::start();
    let p = seed(&s).await;
    for (query, needle) in [
        ("from_date=2024-03-30&to_date=2024-04-01", "event"),
        ("event=Play&from_date=2024-04-02&to_date=2024-04-01", "after"),
        ("event=Play&from_date=2024-13-01&to_date=2024-04-01", "from_date"),
        ("event=Play&from_date=1999-12-31&to_date=2024-04-01", "bad year"),
        ("event=Play&from_date=2024-03-30&to_date=2024-04-01&unit=fortnight", "unit"),
        ("event=Play&from_date=2024-03-30&to_date=2024-04-01&type=median", "type"),
        ("event=Play&from_date=2024-03-30&to_date=2024-04-01&limit=0", "limit"),
        ("event=Play&from_date=2024-03-30&to_date=2024-04-01&where=properties%5B", "where"),
        ("event=Play&from_date=2024-03-30&to_date=2024-04-01&on=fooo(1)", "fooo"),
        ("event=Play&from_date=2024-01-01&to_date=2024-04-01&unit=minute", "minute"),
    ] {
        let (status, body) = get(&s, &p, "/api/query/segmentation", query).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["request"], format!("/api/query/segmentation?{query}"));
        assert!(body["error"].as_str().unwrap().contains(needle), "{query}: {body}");
    }
    let r = s
        .http
        .get(s.url("/api/query/segmentation?event=Play&from_date=2024-03-30&to_date=2024-04-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = s
        .http
        .get(s.url("/api/query/segmentation?event=Play&from_date=2024-03-30&to_date=2024-04-01"))
        .basic_auth(&p.token, Some(""))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "the public token reads nothing");
}

#[tokio::test]
async fn numeric_sum_and_average_reports() {
    let s = TestServer::start();
    let p = seed(&s).await;
    let q = format!("event=Play&from_date=2024-03-30&to_date=2024-04-01&on={}", urlencode(r#"properties["n"]"#));

    // n is 1 (e1, 03-30), 2.5 (e2, 03-31) and 1 (e3, 03-31); other events have none (0).
    let (status, sum) = get(&s, &p, "/api/query/segmentation/sum", &q).await;
    assert_eq!(status, 200, "{sum}");
    assert_eq!(sum["status"], "ok");
    assert!(sum["computed_at"].as_str().unwrap().ends_with("+00:00"), "{sum}");
    assert_eq!(sum["results"], json!({DAYS[0]: 1.0, DAYS[1]: 3.5, DAYS[2]: 0.0}));
    let (_, average) = get(&s, &p, "/api/2.0/segmentation/average", &q).await;
    assert_eq!(
        average["results"],
        json!({DAYS[0]: 1.0, DAYS[1]: 1.75, DAYS[2]: 0.0}),
        "four events on 04-01 count as 0"
    );

    // Values 1 and 2.5: eight ranges of 0.2 from 1; only ranges with events appear.
    let (status, numeric) = get(&s, &p, "/api/query/segmentation/numeric", &q).await;
    assert_eq!(status, 200, "{numeric}");
    assert_eq!(numeric["data"]["values"], json!({"1 - 1.2": by_day([1, 1, 0]), "2.4 - 2.6": by_day([0, 1, 0])}));
    assert_eq!(numeric["legend_size"], 2);
    let (_, unique) = get(&s, &p, "/api/query/segmentation/numeric", &format!("{q}&type=unique")).await;
    assert_eq!(unique["data"]["values"]["1 - 1.2"], by_day([1, 1, 0]));

    let (status, body) =
        get(&s, &p, "/api/query/segmentation/sum", "event=Play&from_date=2024-03-30&to_date=2024-04-01").await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("`on`"), "{body}");
    let (status, _) = get(&s, &p, "/api/query/segmentation/numeric", &format!("{q}&unit=week")).await;
    assert_eq!(status, 400, "numeric takes hour or day");
}

#[tokio::test]
async fn saved_reports_are_computed_by_insights() {
    let s = TestServer::start();
    let p = seed(&s).await;
    let pid = p.id.to_string();
    let saved = s.cli_json(&[
        "bookmark",
        "create",
        "--project",
        &pid,
        "--name",
        "Plays",
        "--kind",
        "segmentation",
        "--params",
        "event=Play&from_date=2024-03-30&to_date=2024-04-01",
    ]);
    let id = saved["id"].as_i64().unwrap();
    let (status, body) = get(&s, &p, "/api/query/insights", &format!("bookmark_id={id}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["date_range"],
        json!({"from_date": "2024-03-30T00:00:00+01:00", "to_date": "2024-04-01T23:59:59.999000+02:00"})
    );
    assert_eq!(body["headers"], json!(["$event"]));
    assert_eq!(
        body["series"],
        json!({"Play": {"2024-03-30T00:00:00+01:00": 1, "2024-03-31T00:00:00+01:00": 2, "2024-04-01T00:00:00+02:00": 4}})
    );
    assert!(body["computed_at"].as_str().unwrap().ends_with("+00:00"));

    let app = |body: Value| {
        s.http
            .post(s.url(&format!("/api/app/projects/{pid}/bookmarks")))
            .basic_auth(&p.secret, Some(""))
            .json(&body)
            .send()
    };
    let r = app(json!({"name": "Genres", "kind": "segmentation", "params": {
        "event": "Play", "from_date": "2024-03-30", "to_date": "2024-04-01", "on": "properties[\"genre\"]", "type": "unique"}}))
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    let genres: Value = r.json().await.unwrap();
    let (_, body) = get(&s, &p, "/api/2.0/insights", &format!("bookmark_id={}", genres["results"]["id"])).await;
    assert_eq!(body["headers"], json!(["$event", "properties[\"genre\"]"]));
    assert_eq!(body["series"]["Play"]["pop"]["2024-04-01T00:00:00+02:00"], 1);
    assert_eq!(body["series"]["Play"]["jazz"]["2024-03-30T00:00:00+01:00"], 1);

    let r = app(json!({"name": "Weekly", "kind": "events",
        "params": "event=%5B%22Play%22%2C%22Other%22%5D&type=general&unit=week&from_date=2024-03-30&to_date=2024-04-01"}))
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    let weekly: Value = r.json().await.unwrap();
    let (_, body) = get(&s, &p, "/api/query/insights", &format!("bookmark_id={}", weekly["results"]["id"])).await;
    assert_eq!(
        body["series"],
        json!({"Play": {"2024-03-25T00:00:00+01:00": 3, "2024-04-01T00:00:00+02:00": 4},
               "Other": {"2024-03-25T00:00:00+01:00": 0, "2024-04-01T00:00:00+02:00": 1}})
    );

    // A relative range runs up to today.
    let r = app(json!({"name": "Recent", "kind": "segmentation", "params": {"event": "Play", "last_days": "3"}}))
        .await
        .unwrap();
    let recent: Value = r.json().await.unwrap();
    let (status, body) = get(&s, &p, "/api/query/insights", &format!("bookmark_id={}", recent["results"]["id"])).await;
    assert_eq!(status, 200);
    assert_eq!(body["series"]["Play"].as_object().unwrap().len(), 3);

    // Bad reports are refused when saved; unknown ids are 404s in the Query API's shape.
    let r = app(json!({"name": "F", "kind": "funnels", "params": {}})).await.unwrap();
    assert_eq!(r.status(), 400);
    let r = app(json!({"name": "Bad", "kind": "segmentation", "params": {"event": "Play"}})).await.unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(body["details"]["fields"]["params"].as_str().unwrap().contains("from_date"), "{body}");
    let (status, body) = get(&s, &p, "/api/query/insights", "bookmark_id=999").await;
    assert_eq!(status, 404);
    assert_eq!(body["request"], "/api/query/insights?bookmark_id=999");
    let r = s
        .http
        .get(s.url(&format!("/api/app/projects/{pid}/bookmarks")))
        .basic_auth(&p.secret, Some(""))
        .send()
        .await
        .unwrap();
    let page: Value = r.json().await.unwrap();
    assert_eq!(page["results"].as_array().unwrap().len(), 4);
}
