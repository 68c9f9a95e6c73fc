//! `sextant-client` against a real server, through the public API only: each family
//! the client covers, its errors (with the request id and hints), and its retries
//! against tiny rate limits.

mod common;

use std::time::{Duration, Instant};

use common::TestServer;
use futures::TryStreamExt;
use serde_json::{Value, json};
use sextant_client::api::gdpr::CreateJob;
use sextant_client::api::ingestion::ProfileUpdateRecord;
use sextant_client::api::query::{EngageParams, ExportParams, JqlForm, SegmentationParams};
use sextant_client::{Client, RetryPolicy};

const DAY: i64 = 1_704_067_200; // 2024-01-01T00:00:00Z

fn client(server: &TestServer) -> Client {
    Client::builder()
        .base_url(&server.url)
        .service_account(&server.creds.sa_user, &server.creds.sa_secret, server.creds.project_id)
        .build()
        .unwrap()
}

fn event(name: &str, user: &str, time: i64, insert_id: &str) -> Value {
    json!({"event": name, "properties": {"distinct_id": user, "time": time, "$insert_id": insert_id, "plan": "pro"}})
}

#[tokio::test]
async fn each_family_answers_in_its_types() {
    let server = TestServer::start();
    let client = client(&server);
    assert_eq!(client.health().await.unwrap().status, "ok");

    // Ingestion: imported, and a refused record reported with its index while the
    // rest are kept.
    let events: Vec<Value> =
        (0..10).map(|i| event("Buy", &format!("u{}", i % 3), DAY + i * 60, &format!("i{i}"))).collect();
    let outcome = client.ingestion().import(&events).await.unwrap();
    assert_eq!((outcome.imported, outcome.failed.len()), (10, 0));
    let mixed = vec![event("Buy", "u9", DAY + 3600, "ok1"), json!({"event": "Buy", "properties": {"time": DAY}})];
    let outcome = client.ingestion().import(&mixed).await.unwrap();
    assert_eq!(outcome.imported, 1);
    assert_eq!(outcome.failed.len(), 1);
    assert_eq!(outcome.failed[0].index, 1);

    // /track and /engage with the project token, which the client adds to each record.
    let sdk = Client::builder().base_url(&server.url).project_token(&server.creds.token).build().unwrap();
    // (`/track` keeps the last five days only, so this one is sent now.)
    let now = chrono::Utc::now();
    sdk.ingestion().track(&[event("Open", "u1", now.timestamp(), "t1")]).await.unwrap();
    let update = ProfileUpdateRecord {
        distinct_id: Some("u1".into()),
        set: Some([("plan".to_string(), json!("pro"))].into()),
        ..Default::default()
    };
    sdk.ingestion().engage(&[update]).await.unwrap();

    // Export as a stream of events; `dedup` counts copies once.
    let range = ExportParams { from_date: "2024-01-01".into(), to_date: "2024-01-01".into(), ..Default::default() };
    let exported: Vec<Value> = client.export().events(&range).await.unwrap().try_collect().await.unwrap();
    assert_eq!(exported.len(), 11);
    assert!(exported.iter().all(|e| e["properties"]["distinct_id"].is_string()));
    client.ingestion().import(&events[..4]).await.unwrap();
    let all: Vec<Value> = client.export().events(&range).await.unwrap().try_collect().await.unwrap();
    let once = ExportParams { dedup: Some(true), ..range.clone() };
    let deduped: Vec<Value> = client.export().events(&once).await.unwrap().try_collect().await.unwrap();
    assert_eq!((all.len(), deduped.len()), (15, 11));
    let today = now.format("%Y-%m-%d").to_string();
    let today = ExportParams { from_date: today.clone(), to_date: today, ..Default::default() };
    let tracked: Vec<Value> = sdk_reader(&server).export().events(&today).await.unwrap().try_collect().await.unwrap();
    assert_eq!(tracked.len(), 1);
    assert_eq!(tracked[0]["event"], "Open");

    // The Query API with the server's own parameter types.
    let params = SegmentationParams {
        event: "Buy".into(),
        from_date: "2024-01-01".into(),
        to_date: "2024-01-01".into(),
        ..Default::default()
    };
    let answer = client.query().segmentation(&params).await.unwrap();
    assert_eq!(answer["data"]["values"]["Buy"]["2024-01-01"], 11);
    let jql = JqlForm { script: "function main() { return Events({from_date: '2024-01-01', to_date: '2024-01-01'}).reduce(mixpanel.reducer.count()); }".into(), ..Default::default() };
    assert_eq!(client.query().jql(&jql).await.unwrap(), vec![json!(11)]);

    // Engage pages as one stream.
    let updates: Vec<ProfileUpdateRecord> = (0..25)
        .map(|i| ProfileUpdateRecord {
            distinct_id: Some(format!("p{i}")),
            set: Some([("n".to_string(), json!(i))].into()),
            ..Default::default()
        })
        .collect();
    client.ingestion().engage(&updates).await.unwrap();
    let params =
        EngageParams { where_: Some(r#"defined(properties["n"])"#.into()), page_size: Some(10), ..Default::default() };
    let profiles: Vec<_> = client.query().engage_all(params).try_collect().await.unwrap();
    let mut ids: Vec<String> = profiles.iter().map(|p| p.distinct_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 25);
}

/// The project secret: another credential kind.
fn sdk_reader(server: &TestServer) -> Client {
    Client::builder().base_url(&server.url).project_secret(&server.creds.secret).build().unwrap()
}

#[tokio::test]
async fn errors_carry_the_code_the_request_id_and_a_hint() {
    let server = TestServer::start();
    let wrong = Client::builder().base_url(&server.url).project_secret("not-the-secret").build().unwrap();
    let params = SegmentationParams {
        event: "Buy".into(),
        from_date: "2024-01-01".into(),
        to_date: "2024-01-01".into(),
        ..Default::default()
    };
    let e = wrong.query().segmentation(&params).await.unwrap_err();
    let api = e.api().expect("a refusal");
    assert_eq!(api.status, 401);
    assert_eq!(api.code, Some(sextant_model::ErrorCode::Unauthenticated));
    assert!(api.request_id.as_deref().is_some_and(|id| id.len() >= 32), "{api:?}");
    assert!(e.hint().unwrap().contains("secret"), "{e}");

    // A 400 is never retried.
    let bad = SegmentationParams { from_date: "yesterday".into(), ..params.clone() };
    let e = client(&server).query().segmentation(&bad).await.unwrap_err();
    assert_eq!((e.status(), e.api().unwrap().attempts), (Some(400), 1));
    assert!(e.to_string().contains("from_date"), "{e}");

    // Nobody listening: a transport error with a hint.
    let nowhere = Client::builder()
        .base_url("http://127.0.0.1:9")
        .project_secret("x")
        .retry(RetryPolicy { max_attempts: 2, base_delay: Duration::from_millis(10), ..RetryPolicy::default() })
        .build()
        .unwrap();
    let e = nowhere.health().await.unwrap_err();
    assert!(e.hint().unwrap().contains("base URL"), "{e}");
    assert!(Client::builder().base_url("ftp://x").project_secret("x").build().is_err());
    assert!(Client::builder().base_url(&server.url).build().is_err());
}

#[tokio::test]
async fn rate_limits_are_waited_out_within_the_budget() {
    // One query a second and five an hour.
    let server = TestServer::start_with_config(
        "[rate_limits.default.query]\nper_second = 1\nper_hour = 5\nconcurrent = 0\n[rate_limits.default.export]\nper_second = 0\nper_hour = 0\n",
    );
    let client = client(&server);
    let params = SegmentationParams {
        event: "Buy".into(),
        from_date: "2024-01-01".into(),
        to_date: "2024-01-01".into(),
        ..Default::default()
    };
    // Three queries at once: the second and third are refused with Retry-After, wait,
    // and succeed.
    let started = Instant::now();
    let query = client.query();
    let (a, b, c) = tokio::join!(query.segmentation(&params), query.segmentation(&params), query.segmentation(&params));
    assert!(a.is_ok() && b.is_ok() && c.is_ok(), "{a:?} {b:?} {c:?}");
    assert!(started.elapsed() >= Duration::from_secs(2), "waited {:?}", started.elapsed());

    // Two more use up the hour; the next asks for a wait far past the budget and the
    // client gives up at once, with the server's answer and a hint.
    client.query().segmentation(&params).await.unwrap();
    client.query().segmentation(&params).await.unwrap();
    let started = Instant::now();
    let e = client.query().segmentation(&params).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10), "gave up after {:?}", started.elapsed());
    let api = e.api().unwrap();
    assert_eq!((api.status, api.code), (429, Some(sextant_model::ErrorCode::RateLimited)));
    assert!(api.retry_after.is_some_and(|d| d > Duration::from_secs(120)), "{api:?}");
    assert!(e.hint().unwrap().contains("Retry-After"));

    // With no retries allowed, the first 429 is the answer.
    let impatient = Client::builder()
        .base_url(&server.url)
        .service_account(&server.creds.sa_user, &server.creds.sa_secret, server.creds.project_id)
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    assert_eq!(impatient.query().segmentation(&params).await.unwrap_err().status(), Some(429));
}

#[tokio::test]
async fn gdpr_jobs_through_the_client() {
    let server = TestServer::start();
    let sa = client(&server);
    let events: Vec<Value> =
        (0..6).map(|i| event("Buy", &format!("g{}", i % 2), DAY + i * 60, &format!("g{i}"))).collect();
    sa.ingestion().import(&events).await.unwrap();
    // A token scoped to the GDPR family, made through the App API.
    let made: Value = server
        .http
        .post(server.url(&format!("/api/app/projects/{}/api-tokens", server.creds.project_id)))
        .basic_auth(&server.creds.secret, Some(""))
        .json(&json!({"name": "gdpr", "families": ["gdpr"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = made["results"]["token"].as_str().unwrap();
    let client = Client::builder().base_url(&server.url).api_token(token).build().unwrap();
    let gdpr = client.gdpr(&server.creds.token);
    let one = |id: &str| CreateJob { distinct_ids: vec![id.to_string()], ..Default::default() };

    // A retrieval, then its archive (the GDPR limit's 429s are waited out by the client).
    let id = gdpr.retrievals().create(&one("g0")).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while gdpr.retrievals().get(&id).await.unwrap().status != "SUCCESS" {
        assert!(Instant::now() < deadline, "the retrieval did not finish");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let lines: Vec<_> = gdpr.retrievals().archive(&id).await.unwrap().try_collect().await.unwrap();
    let events = lines.iter().filter(|l| serde_json::from_slice::<Value>(l).unwrap()["event"] == "Buy").count();
    assert_eq!(events, 3);

    // A deletion: g0's events are gone; a finished deletion cannot be cancelled.
    let id = gdpr.deletions().create(&one("g0")).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while gdpr.deletions().get(&id).await.unwrap().status != "SUCCESS" {
        assert!(Instant::now() < deadline, "the deletion did not finish");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let range = ExportParams { from_date: "2024-01-01".into(), to_date: "2024-01-01".into(), ..Default::default() };
    let left: Vec<Value> = sa.export().events(&range).await.unwrap().try_collect().await.unwrap();
    assert!(left.len() == 3 && left.iter().all(|e| e["properties"]["distinct_id"] == "g1"), "{left:?}");
    let e = gdpr.deletions().cancel(&id).await.unwrap_err();
    assert_eq!(e.api().unwrap().code, Some(sextant_model::ErrorCode::NotAllowed));
    assert!(matches!(gdpr.deletions().get("../x").await, Err(sextant_client::Error::Invalid(_))));

    // The opt-out list, a page at a time.
    let ids = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    assert_eq!(gdpr.opt_outs().add(&ids(&["o2", "o1", "o3"])).await.unwrap(), 3);
    assert_eq!(gdpr.opt_outs().remove(&ids(&["o3", "o9"])).await.unwrap(), 1);
    let first = gdpr.opt_outs().page(None, Some(1)).await.unwrap();
    assert_eq!((first.distinct_ids.as_slice(), first.next.as_deref()), (&ids(&["o1"])[..], Some("o1")));
    let rest = gdpr.opt_outs().page(first.next.as_deref(), None).await.unwrap();
    assert_eq!((rest.distinct_ids, rest.next), (ids(&["o2"]), None));
}
