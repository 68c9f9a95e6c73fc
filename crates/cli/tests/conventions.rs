//! API conventions over real HTTP: rate limits and their headers, concurrency caps,
//! error envelopes, personal API tokens, cursor pagination and `fields`.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

fn header(r: &reqwest::Response, name: &str) -> Option<u64> {
    r.headers().get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok())
}

fn rate(r: &reqwest::Response) -> (u64, u64, u64) {
    (
        header(r, "x-ratelimit-limit").expect("X-RateLimit-Limit"),
        header(r, "x-ratelimit-remaining").expect("X-RateLimit-Remaining"),
        header(r, "x-ratelimit-reset").expect("X-RateLimit-Reset"),
    )
}

fn export_url(s: &TestServer) -> String {
    let (from, to) = chrono_like_today();
    s.url(&format!("/api/2.0/export?from_date={from}&to_date={to}"))
}

async fn export(s: &TestServer) -> reqwest::Response {
    s.http.get(export_url(s)).basic_auth(&s.creds.secret, Some("")).send().await.unwrap()
}

#[tokio::test]
async fn export_limit_per_second_counts_down_refuses_and_recovers() {
    // Mixpanel's defaults: 3 a second (and 60 an hour).
    let s = TestServer::start_with_config("");
    let mut remaining = vec![];
    for _ in 0..3 {
        let r = export(&s).await;
        assert_eq!(r.status(), 200);
        let (limit, left, reset) = rate(&r);
        assert_eq!(limit, 3);
        assert!(reset >= now_ms() as u64 / 1000, "reset is an epoch second in the future");
        remaining.push(left);
    }
    assert_eq!(remaining, vec![2, 1, 0]);
    let r = export(&s).await;
    assert_eq!(r.status(), 429);
    assert_eq!(header(&r, "retry-after"), Some(1));
    assert_eq!(rate(&r).1, 0);
    let body: Value = r.json().await.unwrap();
    assert!(body["request"].as_str().unwrap().starts_with("/api/2.0/export?"), "{body}");
    assert!(body["error"].as_str().unwrap().contains("3 requests per rolling second"), "{body}");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = export(&s).await;
    assert_eq!(r.status(), 200, "recovers after the window");
}

#[tokio::test]
async fn hourly_limits_report_the_hour_and_are_per_project() {
    let s = TestServer::start_with_config("[rate_limits.default.export]\nper_second = 0\nper_hour = 2\n");
    for left in [1, 0] {
        let r = export(&s).await;
        assert_eq!(r.status(), 200);
        let (limit, remaining, reset) = rate(&r);
        assert_eq!((limit, remaining), (2, left));
        let in_an_hour = now_ms() as u64 / 1000 + 3600;
        assert!(reset.abs_diff(in_an_hour) <= 2, "reset {reset} vs {in_an_hour}");
    }
    let r = export(&s).await;
    assert_eq!(r.status(), 429);
    let retry = header(&r, "retry-after").unwrap();
    assert!((3590..=3600).contains(&retry), "Retry-After {retry}");
    // Another project has its own budget.
    let p = s.cli_json(&["project", "create", "--name", "other"]);
    let secret = p["secret"].as_str().unwrap();
    let r = s.http.get(export_url(&s)).basic_auth(secret, Some("")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(rate(&r).1, 1);
}

#[tokio::test]
async fn a_concurrency_cap_refuses_at_once_while_an_export_streams() {
    let s =
        TestServer::start_with_config("[rate_limits.default.export]\nper_second = 0\nper_hour = 0\nconcurrent = 1\n");
    // Enough data that the first export is still streaming while it is not read.
    let pad = "x".repeat(2000);
    let t0 = now_ms() / 1000 - 3600;
    for batch in 0..20 {
        let events: Vec<Value> = (0..2000)
            .map(|i| json!({"event": "e", "properties": {"time": t0, "distinct_id": "u", "$insert_id": format!("{batch}-{i}"), "pad": pad}}))
            .collect();
        // 2000 events of 2 kB each is under the 10 MB request limit only just; send halves.
        s.import_ok(&events[..1000]).await;
        s.import_ok(&events[1000..]).await;
    }
    let first = export(&s).await;
    assert_eq!(first.status(), 200);
    let second = export(&s).await;
    assert_eq!(second.status(), 429, "a second export while the first streams is refused");
    assert_eq!(header(&second, "retry-after"), Some(1));
    let body: Value = second.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("at most 1 at once"), "{body}");
    // Reading the first to the end frees its place.
    let text = first.text().await.unwrap();
    assert_eq!(text.lines().count(), 40_000);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(export(&s).await.status(), 200);
}

fn small_events(m: &str, n: usize) -> Vec<Value> {
    let t0 = now_ms() / 1000 - 60;
    (0..n)
        .map(|i| json!({"event": "limited", "properties": {"time": t0, "distinct_id": "u", "$insert_id": format!("{m}-{i}"), "m": m}}))
        .collect()
}

#[tokio::test]
async fn ingestion_counts_uncompressed_bytes_per_minute() {
    let s = TestServer::start_with_config(&format!(
        "{RELAXED_LIMITS}[rate_limits.default.ingestion]\nbytes_per_minute = 20000\n"
    ));
    let m = marker();
    let body = serde_json::to_vec(&small_events(&m, 60)).unwrap();
    assert!(body.len() > 8000 && body.len() < 10000, "{}", body.len());
    // Gzip shrinks the body on the wire; the limit counts what it inflates to.
    let r = s
        .http
        .post(s.url("/import?strict=1"))
        .basic_auth(&s.creds.secret, Some(""))
        .header("Content-Type", "application/json")
        .header("Content-Encoding", "gzip")
        .body(gzip(&body))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (limit, remaining, _) = rate(&r);
    assert_eq!(limit, 20000);
    assert_eq!(remaining, 20000 - body.len() as u64);
    let r = s
        .http
        .post(s.url("/import?strict=1"))
        .basic_auth(&s.creds.secret, Some(""))
        .json(&small_events(&m, 60))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The third would pass 20000 bytes: refused whole, in the ingestion shape.
    let r = s
        .http
        .post(s.url("/import?strict=1"))
        .basic_auth(&s.creds.secret, Some(""))
        .json(&small_events(&m, 60))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let retry = header(&r, "retry-after").unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], 429);
    assert_eq!(body["status"], "Too Many Requests");
    assert!(body["error"].as_str().unwrap().contains("20000 bytes"), "{body}");
    // /track answers in the spec's `ErrorResponse`, verbose or not.
    let mut tracked = small_events(&m, 40);
    for e in &mut tracked {
        e["properties"]["token"] = json!(s.creds.token);
    }
    let data = b64(&serde_json::to_string(&tracked).unwrap());
    let r = s.http.post(s.url("/track")).form(&[("data", data.as_str())]).send().await.unwrap();
    assert_eq!(r.status(), 429);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "error");
    let r = s.http.post(s.url("/track?verbose=1")).form(&[("data", data.as_str())]).send().await.unwrap();
    assert_eq!(r.status(), 429);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "error");
    assert!(v["error"].as_str().unwrap().contains("rate limit"), "{v}");
    // Only the two accepted batches were stored.
    let kept = s.export("").await;
    assert_eq!(with_marker(&kept, &m).len(), 120);
}

async fn create_token(s: &TestServer, body: Value) -> reqwest::Response {
    s.http
        .post(s.url(&format!("/api/app/projects/{}/api-tokens", s.creds.project_id)))
        .basic_auth(&s.creds.sa_user, Some(&s.creds.sa_secret))
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn api_tokens_are_scoped_expire_and_revoke() {
    let s = TestServer::start();
    let r = create_token(&s, json!({"name": "reader", "families": ["export", "ingestion"]})).await;
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    let token = created["results"]["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("sx_") && token.len() == 43, "{token}");
    let expires = created["results"]["expires"].as_str().unwrap();
    assert!(!expires.is_empty());
    let id = created["results"]["id"].as_i64().unwrap();

    // Three ways to present it.
    let m = marker();
    let mut events = small_events(&m, 3);
    let r = s.http.post(s.url("/import?strict=1")).bearer_auth(&token).json(&events).send().await.unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    events.truncate(0);
    let r = s.http.get(export_url(&s)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        with_marker(
            &r.text().await.unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect::<Vec<Value>>(),
            &m
        )
        .len(),
        3
    );
    let r = s.http.get(export_url(&s)).header("X-API-Token", &token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = s.http.get(format!("{}&apiToken={token}", export_url(&s))).send().await.unwrap();
    assert_eq!(r.status(), 200);

    // Out of scope: 403 naming the family. Wrong project: 401.
    let r = create_token(&s, json!({"families": "query"})).await;
    let query_only = r.json::<Value>().await.unwrap()["results"]["token"].as_str().unwrap().to_string();
    let r = s.http.get(export_url(&s)).bearer_auth(&query_only).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("may not call the export API"), "{body}");
    let r = s.http.get(format!("{}&project_id=999", export_url(&s))).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = s.http.get(export_url(&s)).bearer_auth("sx_0000000000000000000000000000000000000000").send().await.unwrap();
    assert_eq!(r.status(), 401);

    // Revoked: refused at once.
    let r = s
        .http
        .delete(s.url(&format!("/api/app/projects/{}/api-tokens/{id}", s.creds.project_id)))
        .basic_auth(&s.creds.secret, Some(""))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let revoked: Value = r.json().await.unwrap();
    assert!(revoked["results"]["revoked"].is_string(), "{revoked}");
    let r = s.http.get(export_url(&s)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("revoked"));

    // Expired: a one-second token stops working.
    let r = create_token(&s, json!({"families": ["export"], "expires_in": 1})).await;
    let short = r.json::<Value>().await.unwrap()["results"]["token"].as_str().unwrap().to_string();
    assert_eq!(s.http.get(export_url(&s)).bearer_auth(&short).send().await.unwrap().status(), 200);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let r = s.http.get(export_url(&s)).bearer_auth(&short).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("expired"));

    // The CLI makes them too; the default lifetime is four hours.
    let t = s.cli_json(&["token", "create", "--project", &s.creds.project_id.to_string(), "--families", "export"]);
    let lifetime = t["expires_at_ms"].as_i64().unwrap() - t["created_at_ms"].as_i64().unwrap();
    assert_eq!(lifetime, 4 * 3600 * 1000);
    let cli_token = t["token"].as_str().unwrap();
    assert_eq!(s.http.get(export_url(&s)).header("X-API-Token", cli_token).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn app_errors_carry_code_message_and_field_details() {
    let s = TestServer::start();
    let r = create_token(&s, json!({"families": ["export", "bogus"], "expires_in": -5})).await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "error");
    assert_eq!(body["error_code"], "INVALID_PARAM");
    assert_eq!(body["error"], body["message"]);
    assert!(body["details"]["fields"]["families"].as_str().unwrap().contains("bogus"), "{body}");
    assert!(body["details"]["fields"]["expires_in"].is_string(), "{body}");
    // Analysts may not administer; unknown paths are App-shaped 404s.
    let analyst =
        s.cli_json(&["service-account", "create", "--project", &s.creds.project_id.to_string(), "--role", "analyst"]);
    let r = s
        .http
        .get(s.url(&format!("/api/app/projects/{}/api-tokens", s.creds.project_id)))
        .basic_auth(analyst["username"].as_str().unwrap(), analyst["secret"].as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.json::<Value>().await.unwrap()["error_code"], "FORBIDDEN");
    let r = s.http.get(s.url("/api/app/nothing-here")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().await.unwrap()["error_code"], "NOT_FOUND");
    let r = s
        .http
        .get(s.url(&format!("/api/app/projects/{}/api-tokens?limit=0", s.creds.project_id)))
        .basic_auth(&s.creds.secret, Some(""))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.json::<Value>().await.unwrap()["details"]["fields"]["limit"].is_string());
}

async fn list(s: &TestServer, query: &str) -> Value {
    let r = s
        .http
        .get(s.url(&format!("/api/app/projects/{}/api-tokens?{query}", s.creds.project_id)))
        .basic_auth(&s.creds.secret, Some(""))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(rate(&r).0 > 0, "App API responses carry rate-limit headers");
    r.json().await.unwrap()
}

fn names(page: &Value) -> Vec<String> {
    page["results"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn collections_page_by_cursor_across_inserts_and_project_fields() {
    let s = TestServer::start();
    for i in 1..=7 {
        assert_eq!(create_token(&s, json!({"name": format!("t{i}"), "families": ["query"]})).await.status(), 201);
    }
    let p1 = list(&s, "limit=3").await;
    assert_eq!(names(&p1), ["t7", "t6", "t5"]);
    assert_eq!((p1["hasNext"].as_bool(), p1["hasPrevious"].as_bool()), (Some(true), Some(false)));
    // Inserts between pages do not shift the pages that follow.
    create_token(&s, json!({"name": "t8", "families": ["query"]})).await;
    create_token(&s, json!({"name": "t9", "families": ["query"]})).await;
    let next = p1["next"].as_str().unwrap();
    assert!(next.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "URL-safe cursor");
    let p2 = list(&s, &format!("limit=3&next={next}")).await;
    assert_eq!(names(&p2), ["t4", "t3", "t2"]);
    assert_eq!((p2["hasNext"].as_bool(), p2["hasPrevious"].as_bool()), (Some(true), Some(true)));
    let p3 = list(&s, &format!("limit=3&next={}", p2["next"].as_str().unwrap())).await;
    assert_eq!(names(&p3), ["t1"]);
    assert_eq!(p3["hasNext"], false);
    // Backward from page 2 returns page 1; from page 1, the items added since.
    let back = list(&s, &format!("limit=3&previous={}", p2["previous"].as_str().unwrap())).await;
    assert_eq!(names(&back), ["t7", "t6", "t5"]);
    assert_eq!(back["hasPrevious"], true);
    let newer = list(&s, &format!("limit=3&previous={}", p1["previous"].as_str().unwrap())).await;
    assert_eq!(names(&newer), ["t9", "t8"]);
    assert_eq!(newer["hasPrevious"], false);
    // Projection with `fields`, Mixpanel's keys kept.
    let f = list(&s, "limit=2&fields=id,name").await;
    assert_eq!(f["status"], "ok");
    for t in f["results"].as_array().unwrap() {
        let keys: Vec<&String> = t.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["id", "name"]);
    }
    // Service accounts page the same way.
    let r = s
        .http
        .get(s.url(&format!("/api/app/projects/{}/service-accounts?fields=username,role", s.creds.project_id)))
        .bearer_auth(
            create_token(&s, json!({"families": ["app"]})).await.json::<Value>().await.unwrap()["results"]["token"]
                .as_str()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let sa: Value = r.json().await.unwrap();
    assert_eq!(sa["results"], json!([{"username": s.creds.sa_user, "role": "owner"}]));
}

#[tokio::test]
async fn a_project_is_served_only_through_its_regions_hosts() {
    let s = TestServer::start();
    let p = s.cli_json(&["project", "create", "--name", "eu shop", "--region", "eu"]);
    assert_eq!(p["region"], "eu");
    let secret = p["secret"].as_str().unwrap();
    let via = |host: &'static str| s.http.get(export_url(&s)).header("Host", host).basic_auth(secret, Some("")).send();
    let r = via("api.sextant.test").await.unwrap();
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.unwrap();
    let message = body["error"].as_str().unwrap();
    assert!(message.contains("EU region") && message.contains("api-eu.sextant.test"), "{message}");
    assert_eq!(via("api-eu.sextant.test").await.unwrap().status(), 200);
    assert_eq!(via("localhost").await.unwrap().status(), 200, "hosts of no region serve every region");
    // Ingestion by token is held to the same rule; the US project is not.
    let event = json!([{"event": "e", "properties": {"token": p["token"], "distinct_id": "u"}}]);
    let data = b64(&event.to_string());
    let r = s
        .http
        .post(s.url("/track?verbose=1"))
        .header("Host", "api.sextant.test")
        .form(&[("data", data.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = s
        .http
        .post(s.url("/track?verbose=1"))
        .header("Host", "api-eu.sextant.test")
        .form(&[("data", data.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = s
        .http
        .get(export_url(&s))
        .header("Host", "api.sextant.test")
        .basic_auth(&s.creds.secret, Some(""))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = s
        .http
        .get(export_url(&s))
        .header("Host", "api-in.sextant.test")
        .basic_auth(&s.creds.secret, Some(""))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

/// Every saved object shows who made it and when it last changed; `expand=creator`
/// adds the creating credential as it is now, and an unknown expansion is refused.
#[tokio::test]
async fn saved_objects_carry_audit_fields_and_expand_their_creator() {
    let s = TestServer::start();
    let cohorts = s.url(&format!("/api/app/projects/{}/cohorts", s.creds.project_id));
    let as_owner = |r: reqwest::RequestBuilder| r.basic_auth(&s.creds.sa_user, Some(&s.creds.sa_secret));
    let r = as_owner(s.http.post(format!("{cohorts}?project_id={}", s.creds.project_id)))
        .json(&json!({"name": "Pro"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let made: Value = r.json().await.unwrap();
    let made = &made["results"];
    assert_eq!(made["creator_name"], s.creds.sa_user.as_str());
    assert_eq!(made["creator_type"], "service_account");
    assert!(made["creator_id"].as_i64().is_some(), "{made}");
    assert_eq!(made["modified"], made["created"]);
    assert!(made.get("creator").is_none(), "not expanded unless asked");
    let id = made["id"].as_i64().unwrap();

    // Changed through the project secret: modified moves, the creator stays.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let r = s
        .http
        .patch(format!("{cohorts}/{id}"))
        .basic_auth(&s.creds.secret, Some(""))
        .json(&json!({"description": "paying"}))
        .send()
        .await
        .unwrap();
    let changed: Value = r.json().await.unwrap();
    assert!(changed["results"]["modified"].as_str() > made["created"].as_str(), "{changed}");
    assert_eq!(changed["results"]["creator_name"], s.creds.sa_user.as_str());

    // Expanded, in a list and in a get; with `fields`, the expansion can be kept alone.
    let r = s.http.get(format!("{cohorts}?expand=creator")).basic_auth(&s.creds.secret, Some("")).send().await.unwrap();
    let page: Value = r.json().await.unwrap();
    let creator = &page["results"][0]["creator"];
    assert_eq!(creator["type"], "service_account");
    assert_eq!(creator["username"], s.creds.sa_user.as_str());
    assert_eq!(creator["role"], "owner");
    assert_eq!(creator["exists"], true);
    let r = s
        .http
        .get(format!("{cohorts}?expand=creator&fields=creator.role"))
        .basic_auth(&s.creds.secret, Some(""))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["results"], json!([{"creator": {"role": "owner"}}]));
    let r = s
        .http
        .get(format!("{cohorts}/{id}?expand=creator"))
        .basic_auth(&s.creds.secret, Some(""))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["results"]["creator"]["username"], s.creds.sa_user.as_str());

    // Made by an API token and by the CLI.
    let token = create_token(&s, json!({"name": "ci", "families": ["app"]})).await.json::<Value>().await.unwrap();
    let r = s
        .http
        .post(s.url(&format!("/api/app/projects/{}/funnels", s.creds.project_id)))
        .bearer_auth(token["results"]["token"].as_str().unwrap())
        .json(&json!({"name": "F", "steps": [{"event": "a"}, {"event": "b"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let funnel: Value = r.json().await.unwrap();
    assert_eq!(funnel["results"]["creator_type"], "api_token");
    assert_eq!(funnel["results"]["creator_name"], "ci");
    assert_eq!(funnel["results"]["creator_id"], token["results"]["id"]);
    let r = s
        .http
        .get(s.url(&format!("/api/app/projects/{}/funnels?expand=creator", s.creds.project_id)))
        .basic_auth(&s.creds.secret, Some(""))
        .send()
        .await
        .unwrap();
    let creator = r.json::<Value>().await.unwrap()["results"][0]["creator"].clone();
    assert_eq!((creator["type"].as_str(), creator["families"].clone()), (Some("api_token"), json!(["app"])));
    let table = s.cli_json(&["lookup-table", "create", "--project", "1", "--name", "T", "--map", "event:k"]);
    assert_eq!((table["creator_type"].as_str(), table["creator_id"].is_null()), (Some("cli"), true), "{table}");

    // An expansion this resource does not offer.
    let r = s.http.get(format!("{cohorts}?expand=owner")).basic_auth(&s.creds.secret, Some("")).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let refused: Value = r.json().await.unwrap();
    assert!(refused["details"]["fields"]["expand"].as_str().unwrap().contains("creator"), "{refused}");
}

/// A service account shows when it last authenticated and when it expires, and stops
/// authenticating when it expires.
#[tokio::test]
async fn service_accounts_expire_and_show_when_they_were_last_used() {
    let s = TestServer::start();
    let pid = s.creds.project_id.to_string();
    let expires = chrono::Utc::now() + chrono::Duration::seconds(3);
    let expires_text = expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let sa =
        s.cli_json(&["service-account", "create", "--project", &pid, "--role", "admin", "--expires", &expires_text]);
    let accounts = s.url(&format!("/api/app/projects/{pid}/service-accounts"));
    let as_sa = |r: reqwest::RequestBuilder| r.basic_auth(sa["username"].as_str().unwrap(), sa["secret"].as_str());
    let r = as_sa(s.http.get(&accounts)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let listed: Value = r.json().await.unwrap();
    let mine = listed["results"].as_array().unwrap().iter().find(|a| a["id"] == sa["id"]).unwrap().clone();
    assert!(mine["last_used"].is_string(), "used just now: {mine}");
    assert!(mine["expires"].as_str().unwrap().starts_with(&expires_text[..19]), "{mine}");
    assert_eq!(mine["role"], "admin");
    let owner = listed["results"].as_array().unwrap().iter().find(|a| a["role"] == "owner").unwrap().clone();
    assert!(owner.get("expires").is_none(), "the bootstrap owner never expires: {owner}");
    // Past its expiry it is refused, and says why.
    tokio::time::sleep(std::time::Duration::from_millis(3200)).await;
    let r = as_sa(s.http.get(&accounts)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let refused: Value = r.json().await.unwrap();
    assert!(refused["error"].as_str().unwrap().contains("expired"), "{refused}");
    // An expiry in the past is refused at creation.
    let out = std::process::Command::new(binary())
        .args(["service-account", "create", "--project", &pid, "--role", "admin", "--expires", "2020-01-01T00:00:00Z"])
        .arg("--data-dir")
        .arg(&s.dir)
        .output()
        .unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("future"), "{out:?}");
}
