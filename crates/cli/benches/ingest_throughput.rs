//! Ingestion and export throughput of the real server over loopback, against DuckDB's
//! own appender as the reference, in one run.
//!
//! Run: `cargo bench --bench ingest_throughput` (optionally `-- EVENTS CONNECTIONS`,
//! default 400000 events over 4 connections). Prints a table. The most one project may
//! send in a minute under the ingestion rate limit (2 GiB of JSON, about 3.6 million of
//! these events) is the longest import worth measuring: `-- 3500000 4`.
//!
//! Rows measured:
//! - `/import` plain JSON and gzip: batches of 2000 realistic browser-SDK events, sent
//!   by several concurrent connections, each request acknowledged (durable) before the
//!   connection sends the next;
//! - `/api/2.0/export`: streaming every event back;
//! - DuckDB appender: the same rows appended in 2000-row transactions straight into a
//!   table of the same schema (no HTTP, no parsing) — the reference;
//! - `normalize_event`: validating and normalising the records, one thread, no I/O;
//! - `DuckDbStore::append`: the store's group-commit path without HTTP.
//! - compaction: moving those rows from the JSON tier to the VARIANT tier.

use std::sync::Arc;
use std::time::Instant;

use sextant_ingest::{Endpoint, IngestContext, Outcome, normalize_event};
use sextant_model::{EventRow, ProjectId};
use sextant_storage::EventStore;

#[path = "../tests/common/mod.rs"]
mod common;

const BATCH: usize = 2000;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    common::gzip(bytes)
}

struct Row {
    name: String,
    events: usize,
    seconds: f64,
    bytes: usize,
    /// CPU seconds the server process used meanwhile (HTTP rows only): on two cores
    /// shared with the client, this is what bounds throughput, and it varies far less
    /// from run to run than the wall time does.
    server_cpu: Option<f64>,
}

impl Row {
    /// A row measured without a server (no CPU column).
    fn local(name: &str, events: usize, seconds: f64, bytes: usize) -> Row {
        Row { name: name.into(), events, seconds, bytes, server_cpu: None }
    }

    fn print(&self) {
        let rate = self.events as f64 / self.seconds;
        let cpu = self.server_cpu.map(|s| format!("{:.2}", s * 1e6 / self.events as f64)).unwrap_or_default();
        println!(
            "| {:<44} | {:>9} | {:>8.2} | {:>12.0} | {:>9.1} | {:>10} |",
            self.name,
            self.events,
            self.seconds,
            rate,
            self.bytes as f64 / self.seconds / 1e6,
            cpu
        );
    }
}

async fn send_all(server: &common::TestServer, bodies: Arc<Vec<Vec<u8>>>, gz: bool, connections: usize) -> f64 {
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (bodies, next) = (bodies.clone(), next.clone());
        let http = reqwest::Client::new();
        let url = server.url("/import?strict=1");
        let secret = server.creds.secret.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { break };
                let mut req = http.post(&url).basic_auth(&secret, Some("")).header("Content-Type", "application/json");
                if gz {
                    req = req.header("Content-Encoding", "gzip");
                }
                let r = req.body(body.clone()).send().await.expect("request");
                assert_eq!(r.status(), 200, "{:.300?}", r.text().await);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    started.elapsed().as_secs_f64()
}

fn rows_of(events: &[String], project: ProjectId, now_ms: i64) -> Vec<EventRow> {
    let ctx = IngestContext {
        endpoint: Endpoint::Import { strict: true },
        now_ms,
        api_endpoint: "127.0.0.1".into(),
        client_ip: None,
        use_ip: false,
        geo: None,
    };
    events
        .iter()
        .map(|e| match normalize_event(e, &ctx).unwrap() {
            Outcome::Accepted(n) => n.into_row(project),
            other => panic!("{other:?}"),
        })
        .collect()
}

/// The reference: the same rows straight into DuckDB through its bulk (Arrow) appender,
/// one 2000-row transaction at a time, no HTTP, no parsing, no queue.
fn direct_append(rows: &[EventRow]) -> (f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let conn = duckdb::Connection::open(dir.path().join("ref.duckdb")).unwrap();
    sextant_storage_duckdb::schema::migrate(&conn, "4GB", &dir.path().join("tmp").to_string_lossy()).unwrap();
    let started = Instant::now();
    let mut seq = 0i64;
    for chunk in rows.chunks(BATCH) {
        conn.execute_batch("BEGIN").unwrap();
        sextant_storage_duckdb::writer::append_rows(&conn, chunk.iter(), seq).unwrap();
        conn.execute_batch("COMMIT").unwrap();
        seq += chunk.len() as i64;
    }
    let committed = started.elapsed().as_secs_f64();
    conn.execute_batch("CHECKPOINT").unwrap();
    (committed, started.elapsed().as_secs_f64())
}

async fn store_append(rows: &[EventRow], concurrency: usize) -> (f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(sextant_storage_duckdb::DuckDbStore::open(dir.path(), &Default::default()).unwrap());
    let chunks: Arc<Vec<Vec<EventRow>>> = Arc::new(rows.chunks(BATCH).map(|c| c.to_vec()).collect());
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (store, chunks, next) = (store.clone(), chunks.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(chunk) = chunks.get(i) else { break };
                store.append(chunk.clone()).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    let started = Instant::now();
    store.compact_now().await.unwrap();
    let compact = started.elapsed().as_secs_f64();
    store.close().await.unwrap();
    (secs, compact)
}

/// Sends `bodies` to a fresh server and prints two rows: the import itself, and the same
/// import with the server's CPU counted until it is idle again (the compactor moving the
/// rows to the cold tier and rebuilding the day timelines): the cost per event a
/// sustained import pays in the end, whatever runs during it and whatever after.
async fn import(
    bodies: Arc<Vec<Vec<u8>>>,
    gz: bool,
    connections: usize,
    total: usize,
    name: &str,
    bytes: usize,
) -> common::TestServer {
    let server = common::TestServer::start();
    let cpu = server.cpu_seconds();
    let started = Instant::now();
    let secs = send_all(&server, bodies, gz, connections).await;
    let server_cpu = Some(server.cpu_seconds() - cpu);
    Row { name: name.into(), events: total, seconds: secs, bytes, server_cpu }.print();
    // Idle: under a tenth of a core for three seconds in a row.
    let (mut last, mut busy_until) = (server.cpu_seconds(), secs);
    let mut quiet = 0;
    while quiet < 3 {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let now = server.cpu_seconds();
        if now - last < 0.1 {
            quiet += 1;
        } else {
            quiet = 0;
            busy_until = started.elapsed().as_secs_f64();
        }
        last = now;
    }
    let server_cpu = Some(last - cpu);
    let name = "  ... until compacted (server idle again)".into();
    Row { name, events: total, seconds: busy_until, bytes, server_cpu }.print();
    server
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let total: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(400_000);
    let connections: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(4);
    let now_ms = common::now_ms();
    let t0 = now_ms / 1000 - 20 * 86_400;
    // Spread over 19 days ending a day ago, inside /import's window.
    let step_ms = 19 * 86_400_000 / total as i64;
    // Records as JSON text; a body is a batch of them as a JSON array.
    let raw: Vec<String> = (0..total).map(|i| common::realistic_event(i, t0, step_ms).to_string()).collect();
    let plain: Vec<Vec<u8>> = raw.chunks(BATCH).map(|c| format!("[{}]", c.join(",")).into_bytes()).collect();
    let plain_bytes: usize = plain.iter().map(Vec::len).sum();
    // Mixpanel's rate limit, which the server applies by default: a project may send
    // 2 GiB of uncompressed JSON a minute. Each import here takes well under a minute.
    const RATE_LIMIT_BYTES: usize = 2 << 30;
    if plain_bytes > RATE_LIMIT_BYTES {
        eprintln!(
            "{total} events are {:.2} GiB of JSON, more than the ingestion rate limit lets one project send \
             in a minute (2 GiB); the server would answer 429. Use fewer events (at 595 bytes an event, \
             up to about 3.6 million).",
            plain_bytes as f64 / (1u64 << 30) as f64
        );
        std::process::exit(2);
    }
    let gzipped: Vec<Vec<u8>> = plain.iter().map(|b| gzip(b)).collect();
    let gz_bytes: usize = gzipped.iter().map(Vec::len).sum();
    println!(
        "{total} events, {:.0} bytes/event as JSON ({:.1} MB; {:.1} MB gzipped), batches of {BATCH}, {connections} connections",
        plain_bytes as f64 / total as f64,
        plain_bytes as f64 / 1e6,
        gz_bytes as f64 / 1e6
    );
    println!(
        "| {:<44} | {:>9} | {:>8} | {:>12} | {:>9} | {:>10} |",
        "path", "events", "seconds", "events/s", "MB/s", "server CPU µs/event"
    );
    println!("|{:-<46}|{:->11}|{:->10}|{:->14}|{:->11}|{:->12}|", "", "", "", "", "", "");

    // Each encoding gets a fresh server, so both start from the same empty store.
    let server = import(Arc::new(gzipped), true, connections, total, "/import, gzip over loopback", gz_bytes).await;
    drop(server);
    let server =
        import(Arc::new(plain), false, connections, total, "/import, plain JSON over loopback", plain_bytes).await;

    let from = common::ymd(t0 - 86_400);
    let to = common::ymd(t0 + 20 * 86_400);
    let started = Instant::now();
    let cpu = server.cpu_seconds();
    let resp = reqwest::Client::new()
        .get(server.url(&format!("/api/2.0/export?from_date={from}&to_date={to}")))
        .basic_auth(&server.creds.secret, Some(""))
        .send()
        .await
        .unwrap();
    let mut exported_bytes = 0usize;
    let mut lines = 0usize;
    let mut resp = resp;
    while let Some(chunk) = resp.chunk().await.unwrap() {
        exported_bytes += chunk.len();
        lines += chunk.iter().filter(|b| **b == b'\n').count();
    }
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(lines, total, "export returns every event");
    let server_cpu = Some(server.cpu_seconds() - cpu);
    Row { name: "/api/2.0/export, streamed".into(), events: lines, seconds: secs, bytes: exported_bytes, server_cpu }
        .print();
    drop(server);

    let started = Instant::now();
    let rows = rows_of(&raw, ProjectId(1), now_ms);
    let secs = started.elapsed().as_secs_f64();
    Row::local("normalize_event alone, one thread", total, secs, plain_bytes).print();
    let row_bytes: usize = rows.iter().map(|r| r.properties.len()).sum();
    let (secs, with_checkpoint) = direct_append(&rows);
    Row::local("reference: DuckDB Arrow appender, 2000-row tx", total, secs, row_bytes).print();
    Row::local("reference, plus a final CHECKPOINT", total, with_checkpoint, row_bytes).print();
    let (secs, compact) = store_append(&rows, connections).await;
    Row::local("DuckDbStore::append (group commit, no HTTP)", total, secs, row_bytes).print();
    Row::local("compaction: hot JSON tier -> VARIANT tier", total, compact, row_bytes).print();
}
