//! An acknowledged event survives `kill -9`: ingest continuously from several clients,
//! SIGKILL the server mid-stream, restart it on the same data directory, and check that
//! every acknowledged event is there exactly once.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_events_survive_sigkill() {
    let mut s = TestServer::start();
    let m = marker();
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let url = s.url("/import?strict=1");
    let secret = s.creds.secret.clone();
    let mut clients = Vec::new();
    for client in 0..4 {
        let (acked, url, secret, m, http) = (acked.clone(), url.clone(), secret.clone(), m.clone(), s.http.clone());
        clients.push(tokio::spawn(async move {
            let t = now_ms() / 1000 - 60;
            for batch in 0.. {
                let ids: Vec<String> = (0..250).map(|i| format!("c{client}-b{batch}-{i}")).collect();
                let events: Vec<Value> = ids.iter()
                    .map(|id| json!({"event": "durable", "properties": {"time": t, "distinct_id": id, "$insert_id": id, "m": m}}))
                    .collect();
                match http.post(&url).basic_auth(&secret, Some("")).json(&events).send().await {
                    Ok(r) if r.status() == 200 => acked.lock().unwrap().extend(ids),
                    _ => break,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    s.kill9();
    for c in clients {
        c.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 1000, "only {} events were acknowledged before the kill", acked.len());

    let dir = s.dir.clone();
    let restarted = TestServer::start_in(&dir);
    let events = restarted.export("").await;
    let mut seen: HashMap<String, usize> = HashMap::new();
    for e in with_marker(&events, &m) {
        *seen.entry(e["properties"]["$insert_id"].as_str().unwrap().to_string()).or_default() += 1;
    }
    let missing: Vec<&String> = acked.iter().filter(|id| !seen.contains_key(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged events lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    let doubled: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(doubled.is_empty(), "events stored twice: {:?}", &doubled[..doubled.len().min(5)]);
    let acked_set: HashSet<&String> = acked.iter().collect();
    eprintln!(
        "acknowledged {}, stored {} ({} in flight at the kill)",
        acked_set.len(),
        seen.len(),
        seen.len() - acked_set.len()
    );
    drop(restarted);
    drop(s);
}
