//! `sextant import` of a large NDJSON file against the ingest bench's own `/import`
//! load, on the same machine in one run: how much of the server's import rate the CLI
//! (reading, batching, gzip, four connections, checkpoints) keeps.
//!
//! Run: `cargo bench --workspace --bench cli_import` (optionally `-- EVENTS`, default
//! 1,000,000). Prints a table. Target: the CLI at 90% or more of `/import`'s rate.
//!
//! Rows:
//! - `/import`, gzip, 4 connections: the ingest bench's load (batches of 2,000
//!   realistic browser-SDK events, prepared and compressed before the clock starts);
//! - `sextant import`: the same events as an NDJSON file, to a fresh server, by the
//!   binary with its defaults (batches of 2,000, gzip, 4 connections).

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

#[path = "../tests/common/mod.rs"]
mod common;

const BATCH: usize = 2000;
const CONNECTIONS: usize = 4;

fn row(name: &str, events: usize, seconds: f64, reference: Option<f64>) {
    let rate = events as f64 / seconds;
    let share = reference.map(|r| format!("{:.0}%", 100.0 * rate / r)).unwrap_or_default();
    println!("| {name:<40} | {events:>9} | {seconds:>8.2} | {rate:>10.0} | {share:>12} |");
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let total: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let t0 = common::now_ms() / 1000 - 20 * 86_400;
    let step_ms = (15 * 86_400_000 / total as i64).max(1);
    let lines: Vec<String> = (0..total).map(|i| common::realistic_event(i, t0, step_ms).to_string()).collect();
    println!("{total} events, batches of {BATCH}, {CONNECTIONS} connections\n");
    println!("| {:<40} | {:>9} | {:>8} | {:>10} | {:>12} |", "path", "events", "seconds", "events/s", "of /import");
    println!("|{:-<42}|{:->11}|{:->10}|{:->12}|{:->14}|", "", "", "", "", "");

    // The reference: the ingest bench's load.
    let bodies: Vec<Vec<u8>> =
        lines.chunks(BATCH).map(|c| common::gzip(format!("[{}]", c.join(",")).as_bytes())).collect();
    let bodies = Arc::new(bodies);
    let server = common::TestServer::start();
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let (bodies, next) = (bodies.clone(), next.clone());
        let (url, secret) = (server.url("/import?strict=1"), server.creds.secret.clone());
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            while let Some(body) = bodies.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed)) {
                let r = http
                    .post(&url)
                    .basic_auth(&secret, Some(""))
                    .header("Content-Type", "application/json")
                    .header("Content-Encoding", "gzip")
                    .body(body.clone())
                    .send()
                    .await
                    .expect("request");
                assert_eq!(r.status(), 200);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let reference = total as f64 / started.elapsed().as_secs_f64();
    row("/import, gzip (the ingest bench's load)", total, started.elapsed().as_secs_f64(), None);
    drop(server);

    // The CLI, on a fresh server.
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("events.ndjson");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&source).unwrap());
    for line in &lines {
        writeln!(file, "{line}").unwrap();
    }
    file.flush().unwrap();
    drop(file);
    drop(lines);
    let server = common::TestServer::start();
    let started = Instant::now();
    let out = std::process::Command::new(common::binary())
        .arg("import")
        .arg(&source)
        .args(["--no-progress", "--json", "--url", &server.url, "--api-secret", &server.creds.secret])
        .output()
        .unwrap();
    let seconds = started.elapsed().as_secs_f64();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["imported"], total as u64, "{summary}");
    row("sextant import (NDJSON file)", total, seconds, Some(reference));
    println!("\ntarget: sextant import at 90% or more of /import's rate");
}
