//! Case 7: a flood of bad credentials costs the server little. `/import` is refused
//! before its body is looked at; an address that keeps failing is refused with 429
//! before anything is read; events with made-up tokens are answered from a cache.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::*;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_bad_credentials_is_cut_off_by_address() {
    let _serial = one_at_a_time().await;
    let s = TestServer::start();
    let bystander = Bystander::beside(&s);
    let http = attacker();
    // A megabyte of gzip that would inflate to 10 MB, behind a wrong secret.
    let events: Vec<Value> = (0..2000)
        .map(|i| {
            json!({"event": "x", "properties": {"distinct_id": format!("u{i}"), "time": now_ms() / 1000,
                         "$insert_id": format!("i{i}"), "padding": "p".repeat(4000)}})
        })
        .collect();
    let body = gzip(&serde_json::to_vec(&events).unwrap());
    let cpu_before = s.cpu_seconds();
    let started = Instant::now();
    let (mut unauthenticated, mut limited) = (0, 0);
    for _ in 0..150 {
        let r = http
            .post(s.url("/import?strict=1"))
            .basic_auth("not-the-secret", Some(""))
            .header("Content-Encoding", "gzip")
            .header("Content-Type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        match r.status().as_u16() {
            401 => unauthenticated += 1,
            429 => {
                assert!(r.headers().contains_key("retry-after"));
                let body: Value = r.json().await.unwrap();
                assert_eq!(body["status"], "Too Many Requests", "the strict /import shape: {body}");
                limited += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(unauthenticated + limited, 150);
    assert!(limited >= 40, "the address is cut off after its burst: {unauthenticated} 401, {limited} 429");
    // Nothing was inflated or parsed: a tenth of a second of CPU for 150 requests
    // would already be 60 MB of JSON parsed per second.
    let cpu = s.cpu_seconds() - cpu_before;
    assert!(cpu < 2.0, "{cpu} s of server CPU for {:?} of refusals", started.elapsed());

    // Events with made-up tokens from yet another address: refused, and the right
    // token from the same request's neighbours is unaffected.
    let r = reqwest::Client::builder()
        .local_address("127.0.0.4".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
        .post(s.url("/track?verbose=1"))
        .json(&json!([{"event": "x", "properties": {"token": "made-up", "distinct_id": "u"}}]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    alive(&s).await;
    bystander.finish(Duration::from_secs(2)).await;
}
