//! A daily `fs-raw` pipeline over one day of events (issue "Data out and in on
//! schedules"), against raw export of the same day in the same run.
//!
//! Run: `cargo bench --bench pipeline_write` (optionally `-- EVENTS`, default
//! 2,000,000; the figure is 10,000,000).
//!
//! 1. preload: EVENTS events spread over yesterday (UTC), `/import`, gzip, batches of
//!    2,000 on 4 connections; then wait until the server is quiet;
//! 2. export: `GET /api/2.0/export` of yesterday, read to its end (the reference: the
//!    same lines, not compressed, not written);
//! 3. pipelines, one after the other: `fs-raw`, then `fs-schema` in Parquet, each
//!    created with `from_date=to_date=yesterday`; the time until `status` shows the day
//!    `succeeded` (polled every 50 ms), and the file's size.
//!
//! Prints events per second for each and the verdict of the Parquet pipeline against
//! the 500,000 events/s. The exit code is 0 whatever the verdict.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

#[path = "../tests/common/mod.rs"]
mod common;

const BATCH: u64 = 2_000;
const DAY: i64 = 86_400_000;
const CONFIG: &str = "[rate_limits.default.export]\nper_second = 0\nper_hour = 0\n[rate_limits.default.ingestion]\nbytes_per_minute = 0\n[rate_limits.default.pipelines]\nper_minute = 0\n";

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let total: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(2_000_000);
    let tmp = tempfile::tempdir().unwrap();
    let s = Arc::new(common::TestServer::start_in_with(tmp.path(), CONFIG));
    let yesterday = common::now_ms().div_euclid(DAY) * DAY - DAY;
    let day = common::ymd(yesterday / 1000);

    let t = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let mut loaders = Vec::new();
    for _ in 0..4 {
        let (s, next) = (s.clone(), next.clone());
        loaders.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            loop {
                let first = next.fetch_add(1, Ordering::Relaxed) * BATCH;
                if first >= total {
                    break;
                }
                let time = |i: u64| yesterday + (i as i128 * DAY as i128 / total as i128) as i64;
                let body = common::bench_batch(first, BATCH.min(total - first), 20_000, time, "p");
                let r = http
                    .post(s.url("/import"))
                    .basic_auth(&s.creds.secret, Some(""))
                    .header("content-type", "application/json")
                    .header("content-encoding", "gzip")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200, "preload refused");
            }
        }));
    }
    for l in loaders {
        l.await.unwrap();
    }
    let loaded = t.elapsed().as_secs_f64();
    s.wait_quiet(Duration::from_secs(1_800)).await;
    eprintln!("preloaded {total} events in {loaded:.1} s; quiet after {:.1} s", t.elapsed().as_secs_f64());

    let http = reqwest::Client::new();
    let t = Instant::now();
    let r = http
        .get(s.url(&format!("/api/2.0/export?from_date={day}&to_date={day}")))
        .basic_auth(&s.creds.secret, Some(""))
        .send()
        .await
        .unwrap();
    let body = r.bytes().await.unwrap();
    let exported = body.iter().filter(|b| **b == b'\n').count() as u64;
    let export_s = t.elapsed().as_secs_f64();

    let raw = publish(&s, &http, &[("type", "fs-raw")], "events-daily-fs-raw", &day).await;
    let parquet = publish(
        &s,
        &http,
        &[("type", "fs-schema"), ("data_format", "parquet"), ("fs_prefix", "pq")],
        "events-daily-fs-schema-monoschema-pq",
        &day,
    )
    .await;
    let size = |prefix: &str, table: &str, file: &str| {
        let dir = tmp.path().join("pipelines").join(prefix).join(s.creds.project_id.to_string()).join(table);
        std::fs::metadata(dir.join(day.replace('-', "/")).join("full_day").join(file)).map(|m| m.len()).unwrap_or(0)
    };
    let (raw_size, parquet_size) = (size("", "", "export.json.gz"), size("pq", "mp_master_event", "export.parquet"));

    println!("| what | events | seconds | events/s |");
    println!("|---|---:|---:|---:|");
    println!("| raw export of the day (reference) | {exported} | {export_s:.2} | {:.0} |", exported as f64 / export_s);
    for ((written, seconds), what, bytes) in [
        (raw, "fs-raw pipeline (gzipped JSON lines), the day published", raw_size),
        (parquet, "fs-schema pipeline (Parquet, monoschema), the day published", parquet_size),
    ] {
        println!(
            "| {what} ({:.0} bytes an event) | {written} | {seconds:.2} | {:.0} |",
            bytes as f64 / written.max(1) as f64,
            written as f64 / seconds
        );
    }
    println!();
    let rate = parquet.0 as f64 / parquet.1;
    println!(
        "Parquet: {rate:.0} events/s against the issue's 500,000: {}",
        if rate >= 500_000.0 { "met" } else { "NOT met" }
    );
}

/// Creates a pipeline of `day` with `form`, and answers the events it published and
/// the seconds from the request until `status` showed the day `succeeded`.
async fn publish(
    s: &common::TestServer,
    http: &reqwest::Client,
    form: &[(&str, &str)],
    name: &str,
    day: &str,
) -> (u64, f64) {
    let t = Instant::now();
    let mut fields = form.to_vec();
    fields.extend([("from_date", day), ("to_date", day)]);
    let r = http
        .post(s.url("/api/2.0/nessie/pipeline/create"))
        .basic_auth(&s.creds.secret, Some(""))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    let status_url = s.url(&format!("/api/2.0/nessie/pipeline/status?name={name}"));
    loop {
        let v: Value =
            http.get(&status_url).basic_auth(&s.creds.secret, Some("")).send().await.unwrap().json().await.unwrap();
        if let Some(task) = v["succeeded"].get(0) {
            return (task["events"].as_u64().unwrap_or(0), t.elapsed().as_secs_f64());
        }
        assert!(v["failed"].is_null(), "the partition failed: {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
