//! Case 4: an event carrying an id DuckDB cannot take as SQL text (a NUL) is refused on
//! its own, and the other requests committed beside it all succeed.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::*;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_in_an_id_fails_only_its_own_record() {
    let _serial = one_at_a_time().await;
    let s = TestServer::start();
    let bystander = Bystander::beside(&s);
    let m = marker();
    // 16 clean imports for the bootstrap project beside 16 hostile /track events.
    let mut tasks = Vec::new();
    for i in 0..16 {
        let (http, url, secret) = (s.http.clone(), s.url("/import?strict=1"), s.creds.secret.clone());
        let batch: Vec<Value> = (0..200)
            .map(|j| {
                json!({"event": "Clean", "properties": {
                "distinct_id": format!("c{j}"), "time": now_ms() / 1000, "$insert_id": format!("c-{i}-{j}"), "m": m}})
            })
            .collect();
        tasks.push(tokio::spawn(async move {
            let r = http.post(url).basic_auth(secret, Some("")).json(&batch).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }));
        let (http, url, token) = (s.http.clone(), s.url("/track?verbose=1"), s.creds.token.clone());
        tasks.push(tokio::spawn(async move {
            let bad = json!({"event": "Hostile", "properties": {
                "token": token, "$user_id": "a\u{0}b", "$device_id": format!("d{i}"), "time": now_ms() / 1000}});
            let r = http.post(url).json(&json!([bad])).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }));
    }
    for (n, task) in tasks.into_iter().enumerate() {
        let (status, body) = task.await.unwrap();
        if n % 2 == 0 {
            assert_eq!(status, 200, "a clean import failed: {body}");
        } else {
            assert_eq!(status, 200, "{body}");
            let body: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(body["status"], 0, "{body}");
            assert!(body["error"].as_str().unwrap().contains("control characters"), "{body}");
        }
    }
    let exported = s.export("&event=%5B%22Clean%22%5D").await;
    assert_eq!(with_marker(&exported, &m).len(), 16 * 200, "every clean event stored once");
    assert!(s.export("&event=%5B%22Hostile%22%5D").await.is_empty());
    alive(&s).await;
    bystander.finish(Duration::from_secs(2)).await;
}

/// Case 5: a write waits for a place in the writer's queue for a bounded time, then is
/// answered 503 with `Retry-After` (which the SDKs retry), holding nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_cannot_be_queued_in_time_gets_503() {
    let _serial = one_at_a_time().await;
    let tmp = tempfile::tempdir().unwrap();
    // The writer stops before its first commit, as behind a disk that hangs.
    let s = TestServer::start_in_with_env(tmp.path(), RELAXED_LIMITS, &[("SEXTANT_PAUSE_AT", "writer-commit")]);
    let import = |n: usize| {
        let (http, url, secret) = (s.http.clone(), s.url("/import?strict=1"), s.creds.secret.clone());
        let event = json!({"event": "Queued", "properties": {
            "distinct_id": "q", "time": now_ms() / 1000, "$insert_id": format!("q-{n}")}});
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let r = http.post(url).basic_auth(secret, Some("")).json(&json!([event])).send().await.unwrap();
            let retry_after = r.headers().contains_key("retry-after");
            (r.status().as_u16(), retry_after, r.text().await.unwrap(), started.elapsed())
        })
    };
    let first = import(0);
    let paused = tmp.path().join("paused-at-writer-commit");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !paused.exists() {
        assert!(std::time::Instant::now() < deadline, "the writer never reached its pause point");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The writer holds the first request; the others take every place in the queue,
    // and those past the last place wait for one. Those that hold a place would wait
    // for ingestion's 60-s deadline; the test does not.
    const OVER: usize = 20;
    let others: Vec<_> = (1..=QUEUE_PLACES + OVER).map(import).collect();
    tokio::time::sleep(Duration::from_secs(25)).await;
    let health = s.http.get(s.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let mut refused = 0;
    for task in others {
        if !task.is_finished() {
            task.abort();
            continue;
        }
        let (status, retry_after, body, waited) = task.await.unwrap();
        assert_eq!(status, 503, "{body}");
        assert!(retry_after, "{body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["code"], 503, "{body}");
        assert_eq!(body["status"], "Service Unavailable", "{body}");
        assert!(body["error"].as_str().unwrap().contains("retry later"), "{body}");
        // After the queue's wait (10 s), not at once.
        assert!(waited >= Duration::from_secs(9), "{waited:?}");
        refused += 1;
    }
    assert!(refused >= OVER, "{refused} writes were refused; at least {OVER} found no place");
    first.abort();
}

/// Places in the DuckDB store's write queue (`QUEUED_REQUESTS` in its `store.rs`).
const QUEUE_PLACES: usize = 256;
