//! Data pipelines to an S3-compatible bucket (`s3-raw`, `aws`), written to a real S3
//! server on loopback: moto's, from PyPI (`scripts/test` installs it):
//!
//! - an `s3-raw` pipeline publishes each closed day as export's lines under
//!   `<s3_prefix>/<project>/<yyyy>/<mm>/<dd>/full_day/export.json.gz`; a server killed
//!   before it published a day leaves no object there, and publishes it once after a
//!   restart; a GDPR deletion and a sync take the person out of the objects;
//! - an `aws` pipeline writes Parquet tables that DuckDB reads back as export's events;
//! - the secret key is stored sealed, nowhere in the clear in the data directory;
//! - a bucket that cannot be written is refused at creation, naming `s3_bucket`.

mod common;

use std::io::Read as _;
use std::time::Duration;

use common::moto::Moto;
use common::*;
use serde_json::{Value, json};

const DAY: i64 = 86_400_000;

/// Pipelines looked at, and published partitions read again, every second; the export, query and GDPR limits lifted.
const CONFIG: &str = "pipeline_poll_seconds = 1\npipeline_sync_seconds = 1\n[rate_limits.default.export]\nper_second = 0\nper_hour = 0\n[rate_limits.default.query]\nper_hour = 0\nconcurrent = 0\n[rate_limits.default.gdpr]\nper_second = 0\n";

/// The secret key the pipelines are given: it must never be stored as it is.
const SECRET: &str = "wJalrXUtnFEMI-sextant-secret";

async fn call(s: &TestServer, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let url = s.url(&format!("/api/2.0/nessie/pipeline/{path}"));
    let request = if form.is_empty() { s.http.get(url) } else { s.http.post(url).form(form) };
    send(request.basic_auth(&s.creds.secret, Some(""))).await
}

async fn succeeded(s: &TestServer, name: &str) -> usize {
    let (status, body) = call(s, &format!("status?name={name}&summary=true"), &[]).await;
    assert_eq!(status, 200, "{body}");
    body["summary"]["succeeded"].as_u64().unwrap_or(0) as usize
}

/// Waits until `check` holds, for at most a minute.
async fn until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !check().await {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn lines_of(gz: &[u8]) -> Vec<Value> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(gz).read_to_string(&mut text).unwrap();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Two closed days of two users' events.
async fn load(s: &TestServer) -> i64 {
    let first = (now_ms() / DAY - 2) * DAY;
    let mut events = Vec::new();
    for d in 0..2 {
        for (k, user) in ["stays", "leaves"].iter().enumerate() {
            for i in 0..3i64 {
                let props = json!({"time": first + d * DAY + 3_600_000 * (i + 1) + k as i64, "$insert_id": format!("{d}-{k}-{i}"),
                                   "distinct_id": user, "price": i, "plan": "pro"});
                let name = if i % 2 == 0 { "A" } else { "B" };
                events.push(json!({"event": name, "properties": props}));
            }
        }
    }
    s.import_ok(&events).await;
    first
}

fn s3_form<'a>(moto: &'a Moto, kind: &'a str, from: &'a str, to: &'a str, prefix: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("type", kind),
        ("from_date", from),
        ("to_date", to),
        ("s3_bucket", "exports"),
        ("s3_region", "us-east-1"),
        ("s3_prefix", prefix),
        ("s3_role", "arn:aws:iam::123456789012:role/writer"),
        ("s3_endpoint", &moto.url),
        ("s3_access_key_id", "AKIDSEXTANT"),
        ("s3_secret_access_key", SECRET),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_pipeline_publishes_export_s_days_once_and_syncs_a_deletion() {
    let moto = Moto::start();
    moto.make_bucket("exports").await;
    let tmp = tempfile::tempdir().unwrap();
    let mut s = TestServer::start_in_with_env(tmp.path(), CONFIG, &[("SEXTANT_PAUSE_AT", "pipeline-publish")]);
    let first = load(&s).await;
    let (from, to) = (ymd(first / 1000), ymd((first + DAY) / 1000));
    let mut form = s3_form(&moto, "s3-raw", &from, &to, "mixpanel/raw");
    form.push(("sync", "true"));
    let (status, body) = call(&s, "create", &form).await;
    assert_eq!(status, 200, "{body}");
    let name = "events-daily-s3-raw-exports-mixpanel-raw";
    assert_eq!(body, json!({"pipeline_names": [name]}));
    let project = s.creds.project_id;
    let key =
        |day: i64| format!("mixpanel/raw/{project}/{}/full_day/export.json.gz", ymd(day / 1000).replace('-', "/"));

    // Killed with the first day written and not published: no object under its key.
    let marker = s.dir.join("paused-at-pipeline-publish");
    until("the runner at its pause point", async || marker.exists()).await;
    s.kill9();
    assert!(moto.get("exports", &key(first)).await.is_none(), "nothing published before the upload");
    std::fs::remove_file(&marker).unwrap();
    let s = TestServer::start_in_with(tmp.path(), CONFIG);
    until("two days published", async || succeeded(&s, name).await == 2).await;
    for d in 0..2 {
        let day = first + d * DAY;
        let expected = s.export_range(&ymd(day / 1000), &ymd(day / 1000), "").await;
        assert_eq!(expected.len(), 6);
        let object = moto.get("exports", &key(day)).await.unwrap();
        assert_eq!(lines_of(&object), expected, "day {d}");
    }
    let (_, timeline) = call(&s, &format!("timeline?name={name}"), &[]).await;
    assert_eq!(timeline["day_syncs"][0]["sync_times"].as_array().unwrap().len(), 1, "published once: {timeline}");
    let keys = moto.keys("exports").await;
    assert_eq!(keys.len(), 2, "the two days and nothing temporary: {keys:?}");

    // A GDPR deletion: the sync publishes both days again without the person.
    s.request_deletion(&["leaves"]).await;
    until("the person gone from every object", async || {
        let mut gone = true;
        for d in 0..2 {
            let lines = moto.get("exports", &key(first + d * DAY)).await.map(|o| lines_of(&o)).unwrap_or_default();
            gone &= lines.len() == 3 && lines.iter().all(|l| l["properties"]["distinct_id"] == "stays");
        }
        gone
    })
    .await;

    // The secret key is kept sealed: nowhere in the data directory as it was given.
    assert_eq!(files_holding(&s.dir, SECRET.as_bytes()), vec![]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aws_pipeline_writes_parquet_tables_duckdb_reads_as_export_s_events() {
    let moto = Moto::start();
    moto.make_bucket("exports").await;
    let s = TestServer::start_with_config(CONFIG);
    let first = load(&s).await;
    let day = ymd(first / 1000);
    let mut form = s3_form(&moto, "aws", &day, &day, "warehouse");
    form.extend([("data_format", "parquet"), ("schema_type", "multischema"), ("use_glue", "false")]);
    let (status, body) = call(&s, "create", &form).await;
    assert_eq!(status, 200, "{body}");
    let name = "events-daily-aws-multischema-exports-warehouse";
    until("the day published", async || succeeded(&s, name).await == 1).await;
    let exported = s.export_range(&day, &day, "&time_in_ms=true").await;
    let conn = duckdb::Connection::open_in_memory().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    for (table, event) in [("a", "A"), ("b", "B")] {
        let key = format!("warehouse/{}/{table}/{}/full_day/export.parquet", s.creds.project_id, day.replace('-', "/"));
        let file = tmp.path().join(format!("{table}.parquet"));
        std::fs::write(&file, moto.get("exports", &key).await.unwrap()).unwrap();
        let rows: Vec<(String, i64, String, i64)> = conn
            .prepare(&format!(
                "SELECT insert_id, epoch_ms(\"time\"), distinct_id, price FROM read_parquet('{}') ORDER BY insert_id",
                file.display()
            ))
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let mut expected: Vec<(String, i64, String, i64)> = exported
            .iter()
            .filter(|e| e["event"] == event)
            .map(|e| {
                let p = &e["properties"];
                let id = p["$insert_id"].as_str().unwrap().to_string();
                (
                    id,
                    p["time"].as_i64().unwrap(),
                    p["distinct_id"].as_str().unwrap().to_string(),
                    p["price"].as_i64().unwrap(),
                )
            })
            .collect();
        expected.sort();
        assert_eq!(rows, expected, "table {table}");
    }
    assert!(moto.keys("exports").await.iter().all(|k| !k.contains(".partial")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_that_cannot_be_written_is_refused_at_creation() {
    let moto = Moto::start();
    let s = TestServer::start_with_config(CONFIG);
    let today = ymd(now_ms() / 1000);
    // No such bucket on the server.
    let (status, body) = call(&s, "create", &s3_form(&moto, "s3-raw", &today, &today, "")).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["details"]["fields"]["s3_bucket"].as_str().is_some_and(|w| w.contains("cannot write")), "{body}");
    // Glue is not written; half a key pair is no key.
    let mut form = s3_form(&moto, "aws", &today, &today, "");
    form.retain(|(k, _)| *k != "s3_secret_access_key");
    form.push(("use_glue", "true"));
    let (status, body) = call(&s, "create", &form).await;
    assert_eq!(status, 400, "{body}");
    for field in ["use_glue", "s3_secret_access_key"] {
        assert!(body["details"]["fields"][field].is_string(), "{field}: {body}");
    }
    let (_, jobs) = call(&s, "jobs", &[]).await;
    assert_eq!(jobs[s.creds.project_id.to_string()], json!([]));
}
