//! Cohorts: saved through the CLI and the App API, listed with live counts by
//! `cohorts/list`, and used by engage (`filter_by_cohort`, `behaviors`).

mod common;

use common::*;
use serde_json::{Value, json};

async fn engage(s: &TestServer, form: &[(&str, &str)]) -> (u16, Value) {
    let r = s.http.post(s.url("/api/query/engage")).basic_auth(&s.creds.secret, Some("")).form(form);
    let r = r.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

fn ids(page: &Value) -> Vec<String> {
    page["results"].as_array().unwrap().iter().map(|r| r["$distinct_id"].as_str().unwrap().to_string()).collect()
}

/// Ten users (`u0`..`u9`, even ones on the pro plan); `u1` buys three times, `u2` twice
/// (once from a device later identified as `u2`), `u3` once, an hour ago.
async fn seed(s: &TestServer) {
    let updates: Vec<Value> = (0..10)
        .map(|i| json!({"$token": s.creds.token, "$distinct_id": format!("u{i}"), "$set": {"plan": if i % 2 == 0 { "pro" } else { "free" }}}))
        .collect();
    let r = s.http.post(s.url("/engage")).json(&updates).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "1");
    let t = now_ms() - 3_600_000;
    let buy = |id: &str, n: usize, props: Value| {
        let mut p = props;
        p["time"] = json!(t);
        p["$insert_id"] = json!(format!("{id}-{n}"));
        p["amount"] = json!(10 * n);
        json!({"event": "Purchase", "properties": p})
    };
    s.import_ok(&[
        buy("u1", 1, json!({"$user_id": "u1"})),
        buy("u1", 2, json!({"$user_id": "u1"})),
        buy("u1", 3, json!({"$user_id": "u1"})),
        buy("d2", 1, json!({"$device_id": "d2"})),
        buy("u2", 2, json!({"$user_id": "u2", "$device_id": "d2"})),
        buy("u3", 1, json!({"$user_id": "u3"})),
    ])
    .await;
}

#[tokio::test]
async fn cohorts_are_saved_listed_counted_and_filter_engage() {
    let s = TestServer::start();
    seed(&s).await;
    // One cohort from the CLI (profile properties), one from the App API (behaviour).
    let pro = s.cli_cohort("Pro", r#"properties["plan"] == "pro""#);
    let buyers_body = json!({
        "name": "Repeat buyers",
        "description": "two purchases in 30 days",
        "where": "behaviors[\"buys\"] >= 2",
        "behaviors": [{"window": "30d", "name": "buys", "event_selectors": [{"event": "Purchase"}]}],
    });
    let r = s.http.post(s.url("/api/app/projects/1/cohorts")).basic_auth(&s.creds.secret, Some("")).json(&buyers_body);
    let r = r.send().await.unwrap();
    assert_eq!(r.status(), 201);
    let buyers: Value = r.json().await.unwrap();
    let buyers_id = buyers["results"]["id"].as_i64().unwrap();

    let r = s.http.post(s.url("/api/query/cohorts/list")).basic_auth(&s.creds.secret, Some(""));
    let list: Value = r.send().await.unwrap().json().await.unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    assert_eq!(list[0]["name"], "Pro");
    assert_eq!(list[0]["count"], 5);
    assert_eq!(list[0]["id"], pro["id"]);
    assert_eq!(list[0]["is_visible"], 1);
    assert_eq!(list[0]["project_id"], 1);
    assert_eq!(list[0]["created"].as_str().unwrap().len(), 19);
    assert_eq!(list[1]["count"], 2, "u1 and u2 (whose device purchase counts through identity)");

    // filter_by_cohort, alone and with a `where`.
    let cohort = format!(r#"{{"id": {buyers_id}}}"#);
    let (status, page) = engage(&s, &[("filter_by_cohort", &cohort)]).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(ids(&page), ["u1", "u2"]);
    let (_, page) = engage(
        &s,
        &[("filter_by_cohort", &cohort), ("where", r#"properties["plan"] == "pro""#), ("include_all_users", "false")],
    )
    .await;
    assert_eq!(ids(&page), ["u2"]);

    // behaviors directly, with a selector, and as of a time before the purchases.
    let behaviors = r#"[{"window": "7d", "name": "big", "event_selectors": [{"event": "Purchase", "selector": "properties[\"amount\"] >= 20"}]}]"#;
    let (_, page) = engage(&s, &[("behaviors", behaviors), ("where", r#"behaviors["big"] > 0"#)]).await;
    assert_eq!(ids(&page), ["u1", "u2"]);
    let before = ((now_ms() - 7_200_000) / 1000).to_string();
    let (_, page) =
        engage(&s, &[("behaviors", behaviors), ("where", r#"behaviors["big"] > 0"#), ("as_of_timestamp", &before)])
            .await;
    assert_eq!(ids(&page), Vec::<String>::new());
    let (_, page) = engage(&s, &[("behaviors", behaviors), ("where", r#"behaviors["big"] == 0"#)]).await;
    assert_eq!(page["total"], 8, "users without purchases count 0");

    // Changing and deleting.
    let r = s
        .http
        .patch(s.url(&format!("/api/app/projects/1/cohorts/{buyers_id}")))
        .basic_auth(&s.creds.secret, Some(""))
        .json(&json!({"where": "behaviors[\"buys\"] >= 1"}));
    assert_eq!(r.send().await.unwrap().status(), 200);
    let r =
        s.http.get(s.url(&format!("/api/app/projects/1/cohorts/{buyers_id}"))).basic_auth(&s.creds.secret, Some(""));
    let one: Value = r.send().await.unwrap().json().await.unwrap();
    assert_eq!((&one["status"], &one["results"]["id"]), (&json!("ok"), &json!(buyers_id)), "{one}");
    assert_eq!(
        one["results"]["definition"]["where"], "behaviors[\"buys\"] >= 1",
        "the change is what GET shows: {one}"
    );
    let r = s.http.get(s.url("/api/2.0/cohorts/list")).basic_auth(&s.creds.secret, Some(""));
    let list: Value = r.send().await.unwrap().json().await.unwrap();
    assert_eq!(list[1]["count"], 3);
    let cli_list = s.cli_json(&["cohort", "list", "--project", "1"]);
    assert_eq!(cli_list.as_array().unwrap().len(), 2);
    let r =
        s.http.delete(s.url(&format!("/api/app/projects/1/cohorts/{buyers_id}"))).basic_auth(&s.creds.secret, Some(""));
    assert_eq!(r.send().await.unwrap().status(), 200);
    let (status, err) = engage(&s, &[("filter_by_cohort", &cohort)]).await;
    assert_eq!(status, 404, "{err}");
    assert!(err["request"].is_string());
    // The App API pages them.
    let r = s.http.get(s.url("/api/app/projects/1/cohorts?fields=name")).basic_auth(&s.creds.secret, Some(""));
    let page: Value = r.send().await.unwrap().json().await.unwrap();
    assert_eq!(page["results"], json!([{"name": "Pro"}]));
}

#[tokio::test]
async fn bad_cohorts_and_behaviours_are_refused_with_the_field() {
    let s = TestServer::start();
    let r = s.http.post(s.url("/api/app/projects/1/cohorts")).basic_auth(&s.creds.secret, Some("")).json(
        &json!({"name": "x", "behaviors": [{"window": "30y", "name": "b", "event_selectors": [{"event": "E"}]}]}),
    );
    let r = r.send().await.unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(body["details"]["fields"]["behaviors[0].window"].is_string(), "{body}");
    let r = s
        .http
        .post(s.url("/api/app/projects/1/cohorts"))
        .basic_auth(&s.creds.secret, Some(""))
        .json(&json!({"where": "1"}));
    assert_eq!(r.send().await.unwrap().status(), 400, "a name is required");
    for (form, field) in [
        (vec![("behaviors", "[1]")], "behaviors"),
        (vec![("behaviors", "[]"), ("filter_by_cohort", r#"{"id": 1}"#)], "behaviors"),
        (vec![("filter_by_cohort", "7")], "filter_by_cohort"),
        (vec![("include_all_users", "true")], "include_all_users"),
        (vec![("as_of_timestamp", "soon")], "as_of_timestamp"),
    ] {
        let (status, body) = engage(&s, &form).await;
        assert_eq!(status, 400, "{form:?}: {body}");
        assert!(body["error"].as_str().unwrap().contains(field), "{form:?}: {body}");
    }
    let out = std::process::Command::new(binary())
        .args(["cohort", "create", "--project", "1", "--name", "x", "--where", "properties[", "--data-dir"])
        .arg(&s.dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--where"));
}
