//! Case 10 (engage): a `where` cannot escape the cohort it is combined with, and the
//! number of behaviours one query may scan is bounded (case 9).

use serde_json::{Value, json};

use crate::common::*;
use crate::support::one_at_a_time;

async fn engage(s: &TestServer, form: &[(&str, &str)]) -> (u16, Value) {
    let r = s.http.post(s.url("/api/query/engage")).basic_auth(&s.creds.secret, Some("")).form(form);
    let r = r.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn a_where_cannot_escape_the_cohort_filter() {
    let _serial = one_at_a_time().await;
    let s = TestServer::start();
    let updates: Vec<Value> = (0..5)
        .map(|i| json!({"$token": s.creds.token, "$distinct_id": format!("p{i}"), "$set": {"plan": "free"}}))
        .collect();
    let r = s.http.post(s.url("/engage")).json(&updates).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "1");
    let body = json!({"name": "Nobody", "where": "properties[\"plan\"] == \"enterprise\""});
    let r = s.http.post(s.url("/api/app/projects/1/cohorts")).basic_auth(&s.creds.secret, Some("")).json(&body);
    let r = r.send().await.unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    let cohort = format!(r#"{{"id": {}}}"#, created["results"]["id"]);

    // Joined as text this was `(cohort) and (true) or (true)`: every profile.
    let (status, page) = engage(&s, &[("filter_by_cohort", &cohort), ("where", "true) or (true")]).await;
    assert_eq!(status, 400, "{page}");
    let (status, page) = engage(&s, &[("filter_by_cohort", &cohort), ("where", "true or true")]).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 0, "{page}");
}

#[tokio::test]
async fn too_many_behaviours_are_a_400() {
    let _serial = one_at_a_time().await;
    let s = TestServer::start();
    let one = json!({"window": "7d", "name": "b", "event_selectors": [{"event": "Any"}]});
    let many: Vec<Value> = (0..21)
        .map(|i| json!({"window": one["window"], "name": format!("b{i}"), "event_selectors": one["event_selectors"]}))
        .collect();
    let (status, body) = engage(&s, &[("behaviors", &Value::from(many).to_string())]).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("at most 20 behaviors"), "{body}");
}
