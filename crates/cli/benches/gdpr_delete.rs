//! A GDPR deletion under load (issue "GDPR and CCPA"): 1,000 people deleted from a
//! preloaded store while ingestion and a report client run, against the same clients
//! on the idle server.
//!
//! Run: `cargo bench --bench gdpr_delete` (optionally `-- PRELOAD_EVENTS`, default
//! 2,000,000; the figure is `-- 100000000`, which takes the preload's time
//! first: about 25 minutes of importing and compaction on two cores).
//!
//! Phases, on one server (rate limits lifted):
//! 1. preload: PRELOAD_EVENTS events over the 30 whole UTC days before today, one user
//!    in every 100 events (`/import`, gzip, batches of 2,000, 4 connections); then wait
//!    until the server is quiet (its compactor and day timelines done);
//! 2. idle: for 30 s, 2 import clients (new events, today) and 1 report client (a
//!    segmentation by day over the preloaded days, again and again);
//! 3. deletion: `POST /api/app/data-deletions/v3.0` for 1,000 of the users, and the same
//!    clients until the job ends.
//!
//! Prints the job's time, and per phase the ingestion rate and the report's p50, p99
//! and max; the verdicts: the job within 10 minutes, ingestion during it at least 70 %
//! of idle. The exit code is 0 whatever the verdicts.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

#[path = "../tests/common/mod.rs"]
mod common;

const BATCH: u64 = 2_000;
const EVENTS_PER_USER: u64 = 100;
const DELETED: u64 = 1_000;
const DAY: i64 = 86_400_000;
const CONFIG: &str = "[rate_limits.default.export]\nper_second = 0\nper_hour = 0\n[rate_limits.default.query]\nper_hour = 0\nconcurrent = 0\n[rate_limits.default.gdpr]\nper_second = 0\n[rate_limits.default.ingestion]\nbytes_per_minute = 0\n";

async fn post_import(http: &reqwest::Client, s: &common::TestServer, body: Vec<u8>) -> bool {
    let r = http
        .post(s.url("/import"))
        .basic_auth(&s.creds.secret, Some(""))
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(body)
        .send()
        .await;
    match r {
        Ok(r) if r.status() == 200 => true,
        Ok(r) => {
            let status = r.status();
            eprintln!("import answered {status}: {:.300}", r.text().await.unwrap_or_default());
            false
        }
        Err(e) => {
            eprintln!("import failed: {e}");
            false
        }
    }
}

struct Phase {
    seconds: f64,
    events: u64,
    latencies_ms: Vec<f64>,
    errors: u64,
}

/// Runs 2 import clients and 1 report client until `stop` is set.
async fn load(s: Arc<common::TestServer>, stop: Arc<AtomicBool>, tag: &'static str, from: String, to: String) -> Phase {
    let started = Instant::now();
    let events = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let next = Arc::new(AtomicU64::new(0));
    let mut importers = Vec::new();
    for _ in 0..2 {
        let (s, stop, events, errors, next) = (s.clone(), stop.clone(), events.clone(), errors.clone(), next.clone());
        importers.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            while !stop.load(Ordering::Relaxed) {
                let b = next.fetch_add(1, Ordering::Relaxed);
                let now = common::now_ms();
                let body = common::bench_batch(b * BATCH, BATCH, 50_000, |i| now - 5_000 + (i % 1000) as i64, tag);
                if post_import(&http, &s, body).await {
                    events.fetch_add(BATCH, Ordering::Relaxed);
                } else {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let querier = {
        let (s, stop, errors) = (s.clone(), stop.clone(), errors.clone());
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut latencies = Vec::new();
            let url = s.url(&format!("/api/query/segmentation?event=Buy&from_date={from}&to_date={to}&unit=day"));
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let r = http.get(&url).basic_auth(&s.creds.secret, Some("")).send().await;
                match r {
                    Ok(r) if r.status() == 200 => {
                        let _ = r.bytes().await;
                        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            latencies
        })
    };
    for i in importers {
        let _ = i.await;
    }
    let mut latencies_ms = querier.await.unwrap_or_default();
    latencies_ms.sort_by(f64::total_cmp);
    Phase {
        seconds: started.elapsed().as_secs_f64(),
        events: events.load(Ordering::Relaxed),
        latencies_ms,
        errors: errors.load(Ordering::Relaxed),
    }
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let total: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(2_000_000);
    let users = (total / EVENTS_PER_USER).max(DELETED * 2);
    let tmp = tempfile::tempdir().unwrap();
    // What the job did, step by step, on the server's standard error.
    let log = [("RUST_LOG", "warn,sextant_server::gdpr_jobs=info,sextant_storage_duckdb::store=info")];
    let s = Arc::new(common::TestServer::start_in_with_env(tmp.path(), CONFIG, &log));
    let today = common::now_ms().div_euclid(DAY) * DAY;
    let start = today - 30 * DAY;
    let span = 30 * DAY;

    let t = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let mut loaders = Vec::new();
    for _ in 0..4 {
        let (s, next) = (s.clone(), next.clone());
        loaders.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            loop {
                let b = next.fetch_add(1, Ordering::Relaxed);
                let first = b * BATCH;
                if first >= total {
                    break;
                }
                let n = BATCH.min(total - first);
                let body = common::bench_batch(
                    first,
                    n,
                    users,
                    |i| start + (i as i128 * span as i128 / total as i128) as i64,
                    "p",
                );
                assert!(post_import(&http, &s, body).await, "preload refused");
            }
        }));
    }
    for l in loaders {
        l.await.unwrap();
    }
    let imported = t.elapsed().as_secs_f64();
    s.wait_quiet(Duration::from_secs(3600)).await;
    println!(
        "preload: {total} events, {users} users, imported in {imported:.0} s, quiet after {:.0} s",
        t.elapsed().as_secs_f64()
    );
    let (from, to) = (common::ymd(start / 1000), common::ymd((today - DAY) / 1000));

    let stop = Arc::new(AtomicBool::new(false));
    let idle = tokio::spawn(load(s.clone(), stop.clone(), "idle", from.clone(), to.clone()));
    tokio::time::sleep(Duration::from_secs(30)).await;
    stop.store(true, Ordering::Relaxed);
    let idle = idle.await.unwrap();
    s.wait_quiet(Duration::from_secs(600)).await;

    let url = s.url(&format!("/api/app/projects/{}/api-tokens", s.creds.project_id));
    let (_, token) =
        common::send(s.http.post(url).basic_auth(&s.creds.secret, Some("")).json(&json!({"families": ["gdpr"]}))).await;
    let token = token["results"]["token"].as_str().unwrap().to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let during = tokio::spawn(load(s.clone(), stop.clone(), "during", from, to));
    let ids: Vec<String> = (0..DELETED).map(|u| format!("u{u}")).collect();
    let job_started = Instant::now();
    let url = s.url(&format!("/api/app/data-deletions/v3.0?token={}", s.creds.token));
    let (_, created) = common::send(s.http.post(url).bearer_auth(&token).json(&json!({"distinct_ids": ids}))).await;
    let id = created["results"]["task_id"].as_str().expect("a job").to_string();
    let status = loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let url = s.url(&format!("/api/app/data-deletions/v3.0/{id}?token={}", s.creds.token));
        let (_, r) = common::send(s.http.get(url).bearer_auth(&token)).await;
        let status = r["results"]["status"].as_str().unwrap_or("").to_string();
        if ["SUCCESS", "FAILURE"].contains(&status.as_str()) || job_started.elapsed() > Duration::from_secs(3600) {
            break status;
        }
    };
    let job_seconds = job_started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let during = during.await.unwrap();
    let jobs = s.cli_json(&["gdpr", "jobs", "--project", &s.creds.project_id.to_string()]);

    println!();
    println!(
        "| phase | seconds | ingest events/s | report requests | report p50 ms | report p99 ms | report max ms | errors |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (name, p) in [("idle", &idle), ("during the deletion", &during)] {
        println!(
            "| {name} | {:.0} | {:.0} | {} | {:.0} | {:.0} | {:.0} | {} |",
            p.seconds,
            p.events as f64 / p.seconds,
            p.latencies_ms.len(),
            percentile(&p.latencies_ms, 0.5),
            percentile(&p.latencies_ms, 0.99),
            p.latencies_ms.last().copied().unwrap_or(f64::NAN),
            p.errors
        );
    }
    println!();
    println!(
        "deletion of {DELETED} users: {status} in {job_seconds:.1} s (events removed: {}, profiles: {})",
        jobs[0]["events_touched"], jobs[0]["profiles_touched"]
    );
    let ratio = (during.events as f64 / during.seconds) / (idle.events as f64 / idle.seconds);
    let p99 = percentile(&during.latencies_ms, 0.99) / percentile(&idle.latencies_ms, 0.99);
    println!("verdict: job within 10 minutes: {}", if job_seconds <= 600.0 { "PASS" } else { "FAIL" });
    println!(
        "verdict: ingestion during the job / idle = {ratio:.2} (target >= 0.70): {}",
        if ratio >= 0.70 { "PASS" } else { "FAIL" }
    );
    println!("report p99 during the job / idle = {p99:.2}");
}
