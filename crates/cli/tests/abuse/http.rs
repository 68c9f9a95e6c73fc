//! Case 6: HTTP-level exhaustion. Clients that send half a request head, hold idle
//! connections or stall their bodies are dropped on time, the connection cap refuses
//! what is over it at once, and well-behaved clients keep being served.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::*;
use crate::support::*;

/// Reads until the server closes the connection (or resets it), giving up at `until`:
/// what the server sent, or `None` if the connection was still open then.
async fn read_until_closed(stream: &mut TcpStream, until: Instant) -> Option<Vec<u8>> {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = until.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(received),
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
        }
    }
}

/// One `/track` event for the bootstrap project, answered `1`.
async fn track_ok(s: &TestServer) {
    let event = json!({"event": "Polite", "properties": {
        "token": s.creds.token, "distinct_id": "polite", "time": now_ms() / 1000}});
    let r = s.http.post(s.url("/track")).json(&json!([event])).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_request_heads_are_dropped_after_the_header_timeout() {
    let _serial = one_at_a_time().await;
    let s = TestServer::start_with_config(&format!("{RELAXED_LIMITS}[http]\nheader_read_timeout_seconds = 2\n"));
    let bystander = Bystander::beside(&s);
    let started = Instant::now();
    let mut slow = Vec::new();
    for _ in 0..50 {
        let mut stream = TcpStream::connect(&s.addr).await.unwrap();
        stream.write_all(b"POST /track HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        slow.push(stream);
    }
    // Meanwhile a well-behaved client is served at once.
    let r = s.http.get(s.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    track_ok(&s).await;
    // Each slow connection is closed once its 2 s are up (4 s of slack); before the
    // timeout existed all 50 were still open 35 s later.
    let until = started + Duration::from_secs(6);
    for (i, stream) in slow.iter_mut().enumerate() {
        let received = read_until_closed(stream, until).await;
        assert!(received.is_some(), "connection {i} was still open {:?} after it started", started.elapsed());
    }
    assert!(started.elapsed() >= Duration::from_millis(1500), "closed before the timeout: {:?}", started.elapsed());
    alive(&s).await;
    track_ok(&s).await;
    bystander.finish(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_are_refused_at_once() {
    let _serial = one_at_a_time().await;
    let s = TestServer::start_with_config(&format!("{RELAXED_LIMITS}[http]\nmax_connections = 20\n"));
    // 20 idle connections take every place (the default header timeout, 10 s, would
    // close them only after this test).
    let mut idle = Vec::new();
    for _ in 0..20 {
        idle.push(TcpStream::connect(&s.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The 21st is answered 503 or closed at once, not left waiting.
    let started = Instant::now();
    let mut extra = TcpStream::connect(&s.addr).await.unwrap();
    let _ = extra.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    let received = read_until_closed(&mut extra, started + Duration::from_secs(3)).await;
    let received = received.expect("the connection over the cap was left open");
    let text = String::from_utf8_lossy(&received);
    assert!(received.is_empty() || text.starts_with("HTTP/1.1 503"), "over the cap: {text}");
    if !received.is_empty() {
        assert!(text.to_ascii_lowercase().contains("retry-after: 1"), "{text}");
    }
    assert!(started.elapsed() < Duration::from_secs(2), "refused only after {:?}", started.elapsed());
    // Once the idle ones leave, requests are served again.
    drop(idle);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match s.http.get(s.url("/healthz")).send().await {
            Ok(r) if r.status() == 200 => break,
            answer => {
                let status = answer.map(|r| r.status().to_string()).unwrap_or_else(|e| e.to_string());
                assert!(Instant::now() < deadline, "still refused 5 s after the idle connections closed: {status}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    track_ok(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_body_is_dropped_after_the_body_timeout() {
    let _serial = one_at_a_time().await;
    let s = TestServer::start_with_config(&format!("{RELAXED_LIMITS}[http]\nbody_idle_timeout_seconds = 2\n"));
    let started = Instant::now();
    let mut stream = TcpStream::connect(&s.addr).await.unwrap();
    stream
        .write_all(
            b"POST /track HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
              Content-Length: 1000\r\n\r\ndata=",
        )
        .await
        .unwrap();
    // Without the timeout the server would wait for the other 995 bytes until the
    // ingestion deadline (60 s).
    let received = read_until_closed(&mut stream, started + Duration::from_secs(6)).await;
    let received = received.expect("the stalled request was still open after 6 s");
    let text = String::from_utf8_lossy(&received);
    assert!(received.is_empty() || text.starts_with("HTTP/1.1 4"), "a stalled body: {text}");
    assert!(started.elapsed() >= Duration::from_millis(1500), "answered before the timeout: {:?}", started.elapsed());
    alive(&s).await;
    track_ok(&s).await;
}
