//! Tokens cannot widen themselves (issue 23, case 8): an API token may create only
//! tokens whose families it holds and that expire no later than itself, may revoke only
//! tokens within its families, and the tokens it creates die with it.

use crate::common::*;
use crate::support::one_at_a_time;
use serde_json::{Value, json};

fn tokens_url(s: &TestServer) -> String {
    s.url(&format!("/api/app/projects/{}/api-tokens", s.creds.project_id))
}

/// Creates a token as the owner service account; returns `results`.
async fn create_as_owner(s: &TestServer, body: Value) -> Value {
    let r = s.http.post(tokens_url(s)).basic_auth(&s.creds.sa_user, Some(&s.creds.sa_secret)).json(&body).send().await;
    let r = r.unwrap();
    assert_eq!(r.status(), 201);
    r.json::<Value>().await.unwrap()["results"].clone()
}

/// Asks for a token with an API token as the credential.
async fn create_with(s: &TestServer, token: &str, body: Value) -> (u16, Value) {
    let r = s.http.post(tokens_url(s)).bearer_auth(token).json(&body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

/// A 403 in the App API's error shape whose message contains `needle`.
fn assert_app_forbidden(status: u16, body: &Value, needle: &str) {
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["status"], "error", "{body}");
    assert_eq!(body["error_code"], "FORBIDDEN", "{body}");
    assert_eq!(body["error"], body["message"], "{body}");
    assert!(body["error"].as_str().unwrap().contains(needle), "expected `{needle}` in {body}");
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("no `{key}` in {v}"))
}

#[tokio::test]
async fn an_app_token_cannot_mint_wider_or_longer_tokens() {
    let _serial = one_at_a_time().await;
    let s = TestServer::start();
    let parent = create_as_owner(&s, json!({"name": "app-only", "families": ["app"], "expires_in": 600})).await;
    let parent_token = text(&parent, "token").to_string();
    let parent_id = parent["id"].as_i64().unwrap();
    let parent_expires = text(&parent, "expires").to_string();
    let ten_years = 10 * 365 * 86_400;

    // (a) Families it lacks: refused, whatever the lifetime.
    let (status, body) = create_with(
        &s,
        &parent_token,
        json!({"name": "wide", "families": ["ingestion", "query", "export", "app"], "expires_in": ten_years}),
    )
    .await;
    assert_app_forbidden(status, &body, "does not hold: ingestion, query, export");
    let (status, body) = create_with(&s, &parent_token, json!({"families": "query", "expires_in": 60})).await;
    assert_app_forbidden(status, &body, "does not hold: query");

    // (b) Its own family for ten years: refused, not shortened in silence.
    let (status, body) =
        create_with(&s, &parent_token, json!({"name": "long", "families": ["app"], "expires_in": ten_years})).await;
    assert_app_forbidden(status, &body, "may not outlive it");
    // Without `expires_in`, the default (four hours) is cut to the creator's expiry.
    let (status, body) = create_with(&s, &parent_token, json!({"name": "default", "families": ["app"]})).await;
    assert_eq!(status, 201, "{body}");
    let capped = &body["results"];
    assert!(text(capped, "expires") <= parent_expires.as_str(), "{capped} outlives {parent_expires}");
    assert_eq!(capped["parent_id"].as_i64(), Some(parent_id), "{capped}");

    // Nothing was created by the refused requests: the owner sees the two tokens only.
    let r = s.http.get(tokens_url(&s)).basic_auth(&s.creds.secret, Some("")).send().await.unwrap();
    let listed: Value = r.json().await.unwrap();
    let names: Vec<&str> = listed["results"].as_array().unwrap().iter().map(|t| text(t, "name")).collect();
    assert_eq!(names, ["default", "app-only"], "{listed}");

    // (c) A subset with a shorter lifetime: created, and it works.
    let (status, body) =
        create_with(&s, &parent_token, json!({"name": "child", "families": ["app"], "expires_in": 60})).await;
    assert_eq!(status, 201, "{body}");
    let child = &body["results"];
    let child_token = text(child, "token").to_string();
    assert!(text(child, "expires") <= parent_expires.as_str(), "{child}");
    assert_eq!(child["families"], json!(["app"]));
    assert_eq!(child["parent_id"].as_i64(), Some(parent_id), "{child}");
    let r = s.http.get(tokens_url(&s)).bearer_auth(&child_token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // The child is bounded in turn.
    let (status, body) = create_with(&s, &child_token, json!({"families": ["app"], "expires_in": 600})).await;
    assert_app_forbidden(status, &body, "may not outlive it");
    let (status, body) = create_with(&s, &child_token, json!({"families": ["export"], "expires_in": 10})).await;
    assert_app_forbidden(status, &body, "does not hold: export");

    assert_eq!(s.http.get(s.url("/healthz")).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn tokens_die_with_their_creator_and_revoke_only_within_scope() {
    let _serial = one_at_a_time().await;
    let s = TestServer::start();
    let parent = create_as_owner(&s, json!({"families": ["app", "query"], "expires_in": 600})).await;
    let parent_token = text(&parent, "token").to_string();
    let parent_id = parent["id"].as_i64().unwrap();
    let (status, body) = create_with(&s, &parent_token, json!({"families": ["query"], "expires_in": 120})).await;
    assert_eq!(status, 201, "{body}");
    let child = body["results"].clone();
    let child_id = child["id"].as_i64().unwrap();
    let query_url = s.url("/api/query/events/names?type=general");
    let r = s.http.get(&query_url).bearer_auth(text(&child, "token")).send().await.unwrap();
    assert_eq!(r.status(), 200, "the child may query");

    // An app-only token may not revoke a token holding a family it lacks (the child
    // holds query), but may revoke one within its families.
    let app_only = create_as_owner(&s, json!({"families": ["app"], "expires_in": 600})).await;
    let app_only_token = text(&app_only, "token").to_string();
    let revoke = |id: i64| s.url(&format!("/api/app/projects/{}/api-tokens/{id}", s.creds.project_id));
    let r = s.http.delete(revoke(child_id)).bearer_auth(&app_only_token).send().await.unwrap();
    let status = r.status().as_u16();
    assert_app_forbidden(status, &r.json().await.unwrap(), "does not hold: query");
    let sibling = create_as_owner(&s, json!({"families": ["app"], "expires_in": 600})).await;
    let r = s.http.delete(revoke(sibling["id"].as_i64().unwrap())).bearer_auth(&app_only_token).send().await.unwrap();
    assert_eq!(r.status(), 200);

    // Revoking the creator revokes what it created, at once.
    let r = s.http.delete(revoke(parent_id)).basic_auth(&s.creds.sa_user, Some(&s.creds.sa_secret)).send().await;
    assert_eq!(r.unwrap().status(), 200);
    let r = s.http.get(&query_url).bearer_auth(text(&child, "token")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("revoked"));
    let r = s.http.get(tokens_url(&s)).basic_auth(&s.creds.secret, Some("")).send().await.unwrap();
    let listed: Value = r.json().await.unwrap();
    let listed_child = listed["results"].as_array().unwrap().iter().find(|t| t["id"] == child["id"]).unwrap();
    assert!(listed_child["revoked"].is_string(), "{listed_child}");

    // Service accounts with the right role still create any token.
    let wide = create_as_owner(
        &s,
        json!({"families": ["ingestion", "query", "export", "app"], "expires_in": 10 * 365 * 86_400}),
    )
    .await;
    assert!(wide["parent_id"].is_null(), "{wide}");

    assert_eq!(s.http.get(s.url("/healthz")).send().await.unwrap().status(), 200);
}
