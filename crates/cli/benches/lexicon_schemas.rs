//! `GET /schemas` on a large dictionary, over loopback: the declared schemas merged with
//! the catalog of what was sent, both kept in memory (the store keeps the catalog as it
//! commits events), so the answer never reads the events.
//!
//! Run: `cargo bench --workspace --bench lexicon_schemas` (optionally
//! `-- EVENTS NAMES PROPERTIES`, default 1000000 events over 5000 event names with 10
//! properties each: 50,000 property names). Prints a table. The target: under
//! 200 ms for 5,000 event names and 50,000 property names, with no event scan (the time
//! must not grow with the number of events: run it with more events to see).
//!
//! Measured here (2 cores): 100,000 events, `GET /schemas` 180 ms median (215 slowest);
//! 400,000 events, 158 ms (219); the declared schemas alone 57 ms. At 1,000,000 events
//! the compactor ran out of the test server's 1-GB DuckDB memory moving events with
//! 50,000 distinct property names to the cold tier (a limit of the store, not of this
//! answer), so larger runs need a larger `--duckdb-memory-limit`.
//!
//! Rows measured:
//! - `GET /schemas`: every declared schema, with what was sent merged in;
//! - `GET /schemas?inferred=false`: the declared schemas alone;
//! - `GET /schemas/event/{name}`: one entry, merged with that event's catalog rows.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[path = "../tests/common/mod.rs"]
mod common;

const BATCH: usize = 2000;
const CONFIG: &str = "[rate_limits.default.ingestion]\nbytes_per_minute = 0\n\
                      [rate_limits.default.lexicon]\nper_minute = 0\nitems_per_minute = 0\n";

fn event(i: usize, names: usize, properties: usize, t0: i64) -> Value {
    let e = i % names;
    let mut props = serde_json::Map::new();
    for k in 0..properties {
        let value = match k % 3 {
            0 => json!(format!("v{}", i % 7)),
            1 => json!(i % 100),
            _ => json!(i.is_multiple_of(2)),
        };
        props.insert(format!("e{e}_p{k}"), value);
    }
    props.insert("distinct_id".into(), json!(format!("u{}", i % 50_000)));
    props.insert("time".into(), json!(t0 + (i as i64 % 2_000_000)));
    props.insert("$insert_id".into(), json!(format!("i{i}")));
    json!({"event": format!("Event {e}"), "properties": props})
}

fn schema(e: usize, properties: usize) -> Value {
    let props: serde_json::Map<String, Value> = (0..properties)
        .map(|k| {
            let kind = ["string", "integer", "boolean"][k % 3];
            (format!("e{e}_p{k}"), json!({"type": kind, "description": "d"}))
        })
        .collect();
    json!({"entityType": "event", "name": format!("Event {e}"),
           "schemaJson": {"description": format!("event {e}"), "properties": props,
                          "metadata": {"com.mixpanel": {"tags": ["bench"]}}}})
}

async fn import(server: &common::TestServer, bodies: Arc<Vec<String>>, connections: usize) {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (bodies, next) = (bodies.clone(), next.clone());
        let url = server.url("/import");
        let secret = server.creds.secret.clone();
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { break };
                let r = http
                    .post(&url)
                    .basic_auth(&secret, Some(""))
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

/// Times `runs` GETs of `path`, each until its whole body has arrived (not parsed);
/// returns (median, slowest) and the last answer.
async fn time_get(server: &common::TestServer, path: &str, runs: usize) -> (Duration, Duration, Value) {
    let mut times = Vec::new();
    let mut last = Value::Null;
    for _ in 0..runs {
        let started = Instant::now();
        let r = server
            .http
            .get(server.url(path))
            .basic_auth(&server.creds.sa_user, Some(&server.creds.sa_secret))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let bytes = r.bytes().await.unwrap();
        times.push(started.elapsed());
        last = serde_json::from_slice(&bytes).unwrap();
    }
    times.sort();
    (times[times.len() / 2], times[times.len() - 1], last)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let events: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let names: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(5_000);
    let properties: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(10);
    let server = common::TestServer::start_with_config(CONFIG);
    let t0 = common::now_ms() / 1000 - 30 * 86_400;

    let started = Instant::now();
    let mut sent = 0;
    while sent < events {
        // A few batches in memory at a time, so 100M events need no 40 GB of JSON.
        let chunk = (events - sent).min(200 * BATCH);
        let bodies: Vec<String> = (sent..sent + chunk)
            .collect::<Vec<_>>()
            .chunks(BATCH)
            .map(|c| {
                format!(
                    "[{}]",
                    c.iter().map(|i| event(*i, names, properties, t0).to_string()).collect::<Vec<_>>().join(",")
                )
            })
            .collect();
        import(&server, Arc::new(bodies), 4).await;
        sent += chunk;
        // Pauses as real traffic has them, in which the compactor moves the chunk to the
        // cold tier (about 17 µs an event): an import that never pauses keeps every
        // event in the hot tier, in memory, until it does.
        tokio::time::sleep(Duration::from_micros(20 * chunk as u64)).await;
    }
    let import_secs = started.elapsed().as_secs_f64();
    let base = format!("/api/app/projects/{}/schemas", server.creds.project_id);
    let declared: Vec<Value> = (0..names).map(|e| schema(e, properties)).collect();
    for batch in declared.chunks(1000) {
        let r = server
            .http
            .post(server.url(&base))
            .basic_auth(&server.creds.sa_user, Some(&server.creds.sa_secret))
            .json(&json!({"entries": batch}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }

    println!(
        "{events} events over {names} event names x {properties} properties ({} property names); imported in {import_secs:.1} s",
        names * properties
    );
    println!("| {:<40} | {:>8} | {:>11} | {:>11} | {:>8} |", "request", "entries", "median ms", "slowest ms", "target");
    println!("|{:-<42}|{:->10}|{:->13}|{:->13}|{:->10}|", "", "", "", "", "");
    let one = format!("{base}/event/Event%2042");
    for (label, path) in [
        ("GET /schemas", base.clone()),
        ("GET /schemas?inferred=false", format!("{base}?inferred=false")),
        ("GET /schemas/event/{name}", one),
    ] {
        let (median, slowest, answer) = time_get(&server, &path, 20).await;
        let entries = answer["results"].as_array().map_or(1, Vec::len);
        if label == "GET /schemas" {
            assert_eq!(entries, names, "every event, declared and sent");
            let sent = &answer["results"][0]["schemaJson"]["metadata"]["sextant"];
            assert_eq!(sent["inferred"], false, "what was sent is merged in: {sent}");
        }
        println!(
            "| {:<40} | {:>8} | {:>11.1} | {:>11.1} | {:>8} |",
            label,
            entries,
            median.as_secs_f64() * 1000.0,
            slowest.as_secs_f64() * 1000.0,
            if label == "GET /schemas" { "< 200" } else { "" }
        );
    }
}
