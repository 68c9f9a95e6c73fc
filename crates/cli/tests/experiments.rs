//! Experiments over HTTP, at Mixpanel's paths: the lifecycle (draft, launch, conclude,
//! decide), archiving, and the flag an experiment reads marked running while it runs.

mod common;

use common::*;
use serde_json::{Value, json};

async fn call(s: &TestServer, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut r = s.http.request(method, s.url(path)).basic_auth(&s.creds.secret, Some(""));
    if let Some(body) = body {
        r = r.json(&body);
    }
    send(r).await
}

#[tokio::test]
async fn an_experiment_runs_its_course_and_marks_its_flag() {
    use reqwest::Method;
    let s = TestServer::start();
    let pid = s.creds.project_id;
    let flag_body = json!({
        "name": "Checkout", "key": "checkout", "tags": [], "context": "distinct_id", "serving_method": "server",
        "status": "enabled",
        "ruleset": {"variants": [{"key": "on", "value": true, "is_control": false, "split": 1.0}],
                    "rollout": [{"rollout_percentage": 1.0, "variant_splits": {}}]}
    });
    let (status, flag) =
        call(&s, Method::POST, &format!("/api/app/projects/{pid}/workspaces/1/feature-flags"), Some(flag_body)).await;
    assert_eq!(status, 200, "{flag}");
    let flag_id = flag["results"]["id"].as_str().unwrap().to_string();

    // A draft; a flag that does not exist, or a field the spec lacks, is refused.
    let base = "/api/app/workspaces/1/experiments";
    let (status, err) =
        call(&s, Method::POST, base, Some(json!({"name": "X", "settings": {"feature_flag_id": "nope"}}))).await;
    assert_eq!(status, 400, "{err}");
    let (status, err) = call(&s, Method::POST, base, Some(json!({"name": "X", "colour": "red"}))).await;
    assert_eq!((status, err.to_string().contains("colour")), (400, true), "{err}");
    let body = json!({"name": "New checkout", "hypothesis": "more purchases", "settings": {"feature_flag_id": flag_id},
                      "metrics": [{"event": "Purchase"}], "tags": ["q4"]});
    let (status, made) = call(&s, Method::POST, base, Some(body)).await;
    assert_eq!(status, 200, "{made}");
    let e = &made["results"];
    assert_eq!((e["status"].as_str(), e["content_type"].as_str()), (Some("draft"), Some("experiments")));
    assert_eq!(e["feature_flag"]["key"], "checkout");
    let id = e["id"].as_str().unwrap().to_string();
    let item = format!("{base}/{id}");

    // Only a running experiment concludes; launching starts it and marks its flag.
    let (status, err) = call(&s, Method::PUT, &format!("{item}/force_conclude"), Some(json!({}))).await;
    assert_eq!(status, 400, "{err}");
    let (status, launched) = call(&s, Method::PUT, &format!("{item}/launch"), None).await;
    assert_eq!(status, 200, "{launched}");
    assert_eq!(launched["results"]["status"], "active");
    assert!(launched["results"]["start_date"].is_string());
    let flags = |s: &TestServer| {
        let r = s.http.post(s.url("/flags")).basic_auth(&s.creds.token, Some(""));
        r.json(&json!({"context": {"distinct_id": "u1"}}))
    };
    let (_, answer) = send(flags(&s)).await;
    assert_eq!(answer["flags"]["checkout"]["experiment_id"], json!(id));
    assert_eq!(answer["flags"]["checkout"]["is_experiment_active"], true);

    // Changed while running; the status moves forward only.
    let (status, changed) = call(&s, Method::PATCH, &item, Some(json!({"description": "v2"}))).await;
    assert_eq!((status, &changed["results"]["description"]), (200, &json!("v2")), "{changed}");
    let (status, err) = call(&s, Method::PATCH, &item, Some(json!({"status": "draft"}))).await;
    assert_eq!(status, 400, "{err}");

    // Decided: the flag's experiment is marked stopped, the decision kept.
    let (status, decided) =
        call(&s, Method::PATCH, &format!("{item}/decide"), Some(json!({"success": true, "variant": "on"}))).await;
    assert_eq!(status, 200, "{decided}");
    assert_eq!(decided["results"]["status"], "success");
    assert_eq!(decided["results"]["settings"]["decision"]["variant"], "on");
    assert!(decided["results"]["end_date"].is_string());
    let (_, answer) = send(flags(&s)).await;
    assert_eq!(answer["flags"]["checkout"]["is_experiment_active"], false);
    let (status, _) = call(&s, Method::PATCH, &format!("{item}/decide"), Some(json!({"variant": "on"}))).await;
    assert_eq!(status, 400, "a decision needs `success`");

    // Archived: listed only when asked; restored; deleted.
    let (status, _) = call(&s, Method::POST, &format!("{item}/archive"), None).await;
    assert_eq!(status, 200);
    let (_, listed) = call(&s, Method::GET, base, None).await;
    assert_eq!(listed["results"].as_array().unwrap().len(), 0);
    let (_, listed) = call(&s, Method::GET, &format!("{base}?include_archived=true"), None).await;
    assert!(listed["results"][0]["deleted"].is_string());
    let (status, restored) = call(&s, Method::DELETE, &format!("{item}/archive"), None).await;
    assert_eq!((status, restored["results"]["deleted"].is_null()), (200, true), "{restored}");
    let (status, _) = call(&s, Method::DELETE, &item, None).await;
    assert_eq!(status, 200);
    let (status, _) = call(&s, Method::GET, &item, None).await;
    assert_eq!(status, 404);
    // A workspace that does not exist.
    let (status, _) = call(&s, Method::GET, "/api/app/workspaces/999/experiments", None).await;
    assert_eq!(status, 404);
}
