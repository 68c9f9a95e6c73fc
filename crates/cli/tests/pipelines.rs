//! Data pipelines over HTTP, at Mixpanel's paths (`data-pipelines.openapi.yaml`):
//!
//! - an `fs-raw` pipeline publishes each closed day as gzipped JSON lines equal to what
//!   raw export gives for that day, in Mixpanel's raw layout; `jobs`, `status` and
//!   `timeline` tell its progress; with `sync`, a GDPR deletion and an edit of its
//!   filter are published again; pause, resume and cancel do what they say;
//! - a server killed with a partition written but not published leaves no final file
//!   and publishes it once after a restart;
//! - a schematized pipeline (`fs-schema`) writes a day as typed tables, one per event
//!   (Parquet) or one for all (JSON lines), holding export's events;
//! - bad requests are refused in the spec's error shape, naming the field.

mod common;

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

const DAY: i64 = 86_400_000;

/// Pipelines looked at, and published partitions read again, every second; the export, query and GDPR limits lifted.
const CONFIG: &str = "pipeline_poll_seconds = 1\npipeline_sync_seconds = 1\n[rate_limits.default.export]\nper_second = 0\nper_hour = 0\n[rate_limits.default.query]\nper_hour = 0\nconcurrent = 0\n[rate_limits.default.gdpr]\nper_second = 0\n";

async fn call(s: &TestServer, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let url = s.url(&format!("/api/2.0/nessie/pipeline/{path}"));
    let request = if form.is_empty() && ["jobs", "status", "timeline"].iter().any(|p| path.starts_with(p)) {
        s.http.get(url)
    } else {
        s.http.post(url).form(form)
    };
    send(request.basic_auth(&s.creds.secret, Some(""))).await
}

fn ev(name: &str, time: i64, id: &str, user: &str) -> Value {
    json!({"event": name, "properties": {"time": time, "$insert_id": id, "distinct_id": user, "plan": "pro"}})
}

/// The published file of a day, read back as JSON lines (`None` before it exists).
fn published(s: &TestServer, prefix: &str, day_ms: i64) -> Option<Vec<Value>> {
    let day = ymd(day_ms / 1000);
    let path = s
        .dir
        .join("pipelines")
        .join(prefix)
        .join(s.creds.project_id.to_string())
        .join(day.replace('-', "/"))
        .join("full_day/export.json.gz");
    let file = std::fs::File::open(path).ok()?;
    let mut text = String::new();
    flate2::read::GzDecoder::new(file).read_to_string(&mut text).unwrap();
    Some(text.lines().map(|l| serde_json::from_str(l).unwrap()).collect())
}

fn leftovers(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.to_string_lossy().ends_with(".partial") {
                found.push(path);
            }
        }
    }
    found
}

/// Waits until `check` holds, for at most a minute.
async fn until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !check().await {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn succeeded(s: &TestServer, name: &str) -> usize {
    let (status, body) = call(s, &format!("status?name={name}&summary=true"), &[]).await;
    assert_eq!(status, 200, "{body}");
    body["summary"]["succeeded"].as_u64().unwrap_or(0) as usize
}

/// Three closed days of two users' events, and some of today's.
async fn load(s: &TestServer, now: i64) -> i64 {
    let first = (now / DAY - 3) * DAY;
    let mut events = Vec::new();
    for d in 0..3 {
        for (k, user) in ["stays", "leaves"].iter().enumerate() {
            for i in 0..4 {
                let name = if i % 2 == 0 { "A" } else { "B" };
                events.push(ev(name, first + d * DAY + 3_600_000 * (i + 1) + k as i64, &format!("{d}-{k}-{i}"), user));
            }
        }
    }
    events.push(ev("A", now - 1_000, "today", "stays"));
    s.import_ok(&events).await;
    first
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_publishes_each_day_as_export_gives_it_and_syncs_changes() {
    let s = TestServer::start_with_config(CONFIG);
    let now = now_ms();
    let first = load(&s, now).await;
    let (from, to) = (ymd(first / 1000), ymd((first + 2 * DAY) / 1000));
    let (status, body) = call(
        &s,
        "create",
        &[("type", "fs-raw"), ("from_date", &from), ("to_date", &to), ("sync", "true"), ("fs_prefix", "exports/web")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let name = "events-daily-fs-raw-exports-web";
    assert_eq!(body, json!({"pipeline_names": [name]}));
    until("three days published", async || succeeded(&s, name).await == 3).await;

    // Each day's file is what export gives for the day, line for line.
    for d in 0..3 {
        let day = first + d * DAY;
        let expected = s.export_range(&ymd(day / 1000), &ymd(day / 1000), "").await;
        assert_eq!(expected.len(), 8);
        assert_eq!(published(&s, "exports/web", day).unwrap(), expected, "day {d}");
    }
    assert!(published(&s, "exports/web", first + 3 * DAY).is_none(), "today has not ended");
    assert!(leftovers(&s.dir.join("pipelines")).is_empty());

    let (_, jobs) = call(&s, "jobs", &[]).await;
    let listed = &jobs[s.creds.project_id.to_string()];
    assert_eq!(listed.as_array().unwrap().len(), 1, "{jobs}");
    assert_eq!(listed[0]["name"], name);
    assert_eq!((listed[0]["frequency"].as_str(), listed[0]["sync_enabled"].as_str()), (Some("daily"), Some("true")));
    assert_eq!(listed[0]["Dispatcher"], "incremental", "every day that had ended is written");
    assert!(listed[0]["last_dispatched"].as_str().unwrap().ends_with("UTC"));
    let (_, full) = call(&s, &format!("status?name={name}"), &[]).await;
    let tasks = full["succeeded"].as_array().unwrap();
    assert_eq!(tasks.len(), 3);
    assert_eq!(tasks[0]["from_date"], from.as_str());
    assert_eq!(tasks[0]["events"], 8);
    let (_, filtered) = call(&s, &format!("status?name={name}&status=failed,retried"), &[]).await;
    assert_eq!(filtered, json!({}));
    let (_, timeline) = call(&s, &format!("timeline?name={name}"), &[]).await;
    let days = timeline["day_syncs"].as_array().unwrap();
    assert_eq!(days.len(), 3);
    assert_eq!(days[0]["date"], from.as_str());
    assert_eq!(days[0]["sync_times"].as_array().unwrap().len(), 1);

    // A GDPR deletion: the next round publishes the days again without the person.
    s.request_deletion(&["leaves"]).await;
    until("the person gone from every file", async || {
        (0..3).all(|d| {
            published(&s, "exports/web", first + d * DAY).is_some_and(|lines| {
                lines.len() == 4 && lines.iter().all(|l| l["properties"]["distinct_id"] == "stays")
            })
        })
    })
    .await;
    let (_, timeline) = call(&s, &format!("timeline?name={name}"), &[]).await;
    assert_eq!(timeline["day_syncs"][0]["sync_times"].as_array().unwrap().len(), 2, "{timeline}");

    // Paused, nothing moves; an edit of the filter is published once it resumes.
    let (status, _) = call(&s, "pause", &[("name", name)]).await;
    assert_eq!(status, 200);
    let (_, jobs) = call(&s, "jobs", &[]).await;
    assert_eq!(jobs[s.creds.project_id.to_string()][0]["state"], "paused");
    let (status, body) = call(&s, "edit", &[("name", name), ("events", "A")]).await;
    assert_eq!(status, 200, "{body}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(published(&s, "exports/web", first).unwrap().len(), 4, "paused: not written again");
    let (status, _) = call(&s, "resume", &[("name", name)]).await;
    assert_eq!(status, 200);
    until("only event A", async || {
        (0..3).all(|d| {
            published(&s, "exports/web", first + d * DAY)
                .is_some_and(|lines| lines.len() == 2 && lines.iter().all(|l| l["event"] == "A"))
        })
    })
    .await;

    // Cancelled: gone from the list; its files stay.
    let (status, _) = call(&s, "cancel", &[("name", name)]).await;
    assert_eq!(status, 200);
    let (_, jobs) = call(&s, "jobs", &[]).await;
    assert_eq!(jobs[s.creds.project_id.to_string()], json!([]));
    let (status, body) = call(&s, &format!("status?name={name}"), &[]).await;
    assert_eq!((status, body["status"].as_str()), (404, Some("error")), "{body}");
    assert!(published(&s, "exports/web", first).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_killed_before_it_is_published_is_published_once_after_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = TestServer::start_in_with_env(tmp.path(), CONFIG, &[("SEXTANT_PAUSE_AT", "pipeline-publish")]);
    let now = now_ms();
    let first = load(&s, now).await;
    let day = ymd(first / 1000);
    let (status, body) = call(&s, "create", &[("type", "fs-raw"), ("from_date", &day), ("to_date", &day)]).await;
    assert_eq!(status, 200, "{body}");
    let marker = s.dir.join("paused-at-pipeline-publish");
    until("the runner at its pause point", async || marker.exists()).await;
    s.kill9();
    assert!(published(&s, "", first).is_none(), "nothing published before the rename");
    assert_eq!(leftovers(&s.dir.join("pipelines")).len(), 1, "the written file waits under its temporary name");
    std::fs::remove_file(&marker).unwrap();

    let s = TestServer::start_in_with(tmp.path(), CONFIG);
    until("the day published", async || succeeded(&s, "events-daily-fs-raw").await == 1).await;
    let expected = s.export_range(&day, &day, "").await;
    assert_eq!(published(&s, "", first).unwrap(), expected);
    assert!(leftovers(&s.dir.join("pipelines")).is_empty());
    let (_, full) = call(&s, "status?name=events-daily-fs-raw", &[]).await;
    assert_eq!(full["succeeded"][0]["attempts"], 2, "{full}");
    let (_, timeline) = call(&s, "timeline?name=events-daily-fs-raw", &[]).await;
    assert_eq!(timeline["day_syncs"][0]["sync_times"].as_array().unwrap().len(), 1, "published once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_in_the_pipelines_shape() {
    let s = TestServer::start_with_config(CONFIG);
    let today = ymd(now_ms() / 1000);
    // The form, the field at fault, and what its message says.
    type Case<'a> = (Vec<(&'a str, &'a str)>, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (vec![("type", "bigquery"), ("from_date", &today)], "type", "fs-raw"),
        (vec![("type", "ftp"), ("from_date", &today)], "type", "not a pipeline type"),
        (vec![("type", "fs-raw")], "from_date", "required"),
        (vec![("type", "fs-raw"), ("from_date", "2001-01-01")], "from_date", "months"),
        (vec![("type", "fs-raw"), ("from_date", &today), ("fs_prefix", "../up")], "fs_prefix", "plain"),
        (vec![("type", "fs-raw"), ("from_date", &today), ("frequency", "weekly")], "frequency", "hourly"),
        (vec![("type", "fs-raw"), ("from_date", &today), ("where", "properties[\"a\"] ==")], "where", "expression"),
        (vec![("type", "fs-raw"), ("from_date", &today), ("s3_bucket", "b")], "s3_bucket", "not a field"),
    ];
    for (form, field, says) in cases {
        let (status, body) = call(&s, "create", &form).await;
        assert_eq!(status, 400, "{form:?}: {body}");
        assert_eq!(body["status"], "error", "{body}");
        assert!(body["details"]["fields"][field].as_str().is_some_and(|w| w.contains(says)), "{form:?}: {body}");
    }
    let (status, _) = call(&s, "create", &[("type", "fs-raw"), ("from_date", &today)]).await;
    assert_eq!(status, 200);
    let (status, body) = call(&s, "create", &[("type", "fs-raw"), ("from_date", &today)]).await;
    assert_eq!(status, 409, "the same name twice: {body}");
    // Inside the first one's directory (`<root>/<project>`): refused, or its files mix.
    let inside = s.creds.project_id.to_string();
    let (status, body) =
        call(&s, "create", &[("type", "fs-schema"), ("from_date", &today), ("fs_prefix", &inside)]).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["error"].as_str().unwrap().contains("writes to this directory"), "{body}");
    // An API token holding `pipelines`, sent as `?apiToken=`, creates one.
    let made = s
        .http
        .post(s.url(&format!("/api/app/projects/{}/api-tokens", s.creds.project_id)))
        .basic_auth(&s.creds.secret, Some(""))
        .json(&json!({"name": "pipes", "families": ["pipelines"]}));
    let (status, made) = send(made).await;
    assert_eq!(status, 201, "{made}");
    let token = made["results"]["token"].as_str().unwrap();
    let url = s.url(&format!("/api/2.0/nessie/pipeline/create?apiToken={token}"));
    let form = [("type", "fs-raw"), ("from_date", today.as_str()), ("fs_prefix", "by-token")];
    let (status, body) = send(s.http.post(url).form(&form)).await;
    assert_eq!((status, &body["pipeline_names"][0]), (200, &json!("events-daily-fs-raw-by-token")), "{body}");
    for path in ["status?name=nope", "timeline?name=nope"] {
        let (status, body) = call(&s, path, &[]).await;
        assert_eq!(status, 404, "{body}");
    }
    let (status, body) = call(&s, "pause", &[]).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = call(&s, "status?name=events-daily-fs-raw&status=lost", &[]).await;
    assert_eq!(status, 400, "{body}");
    // The public token reads no pipelines.
    let r = s.http.get(s.url("/api/2.0/nessie/pipeline/jobs")).basic_auth(&s.creds.token, Some(""));
    let (status, body) = send(r).await;
    assert_eq!((status, body["status"].as_str()), (401, Some("error")), "{body}");
}

/// The tables a schematized pipeline writes for one day: one per event name
/// (`multischema`, Parquet) or one for all (`monoschema`, gzipped JSON lines), each row
/// an exported event with its properties as typed columns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schematized_pipeline_writes_typed_tables_of_what_export_gives() {
    let s = TestServer::start_with_config(CONFIG);
    let day = (now_ms() / DAY - 1) * DAY;
    let mut events = Vec::new();
    for i in 0..30i64 {
        let name = if i % 3 == 0 { "Sign Up" } else { "Buy" };
        let plan = ["free", "pro"][(i % 2) as usize];
        let mut props = json!({"time": day + 1_000 * i + 7, "$insert_id": format!("t{i}"), "distinct_id": format!("u{}", i % 4),
                               "plan": plan, "price": i, "ratio": i as f64 / 4.0, "vip": i % 5 == 0});
        if name == "Buy" {
            props["tags"] = json!(["a", i.to_string()]);
        }
        events.push(json!({"event": name, "properties": props}));
    }
    s.import_ok(&events).await;
    let date = ymd(day / 1000);
    let d = date.as_str();
    let form = |format: &'static str, schema: &'static str, prefix: &'static str| {
        vec![
            ("type", "fs-schema"),
            ("from_date", d),
            ("to_date", d),
            ("data_format", format),
            ("schema_type", schema),
            ("fs_prefix", prefix),
        ]
    };
    let (status, body) = call(&s, "create", &form("parquet", "multischema", "pq")).await;
    assert_eq!((status, &body["pipeline_names"][0]), (200, &json!("events-daily-fs-schema-multischema-pq")), "{body}");
    let (status, body) = call(&s, "create", &form("json", "monoschema", "js")).await;
    assert_eq!(status, 200, "{body}");
    until("both published", async || {
        succeeded(&s, "events-daily-fs-schema-multischema-pq").await == 1
            && succeeded(&s, "events-daily-fs-schema-monoschema-js").await == 1
    })
    .await;
    let exported = s.export_range(&date, &date, "&time_in_ms=true").await;
    assert_eq!(exported.len(), 30);
    let base = |prefix: &str, table: &str| {
        s.dir
            .join("pipelines")
            .join(prefix)
            .join(s.creds.project_id.to_string())
            .join(table)
            .join(date.replace('-', "/"))
    };

    // Multischema, Parquet: a table per event, typed columns, the same rows.
    let conn = duckdb::Connection::open_in_memory().unwrap();
    for (table, event, n) in [("sign_up", "Sign Up", 10), ("buy", "Buy", 20)] {
        let file = base("pq", table).join("full_day/export.parquet");
        let path = file.to_string_lossy().to_string();
        let types: Vec<(String, String)> = conn
            .prepare(&format!("SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet('{path}'))"))
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let of = |c: &str| types.iter().find(|(n, _)| n == c).map(|(_, t)| t.as_str());
        assert_eq!(of("time"), Some("TIMESTAMP"), "{types:?}");
        assert_eq!(
            (of("price"), of("ratio"), of("vip"), of("plan")),
            (Some("BIGINT"), Some("DOUBLE"), Some("BOOLEAN"), Some("VARCHAR"))
        );
        assert_eq!(of("tags").is_some(), event == "Buy", "{types:?}");
        let rows: Vec<(String, i64, String, String, i64, bool)> = conn
            .prepare(&format!(
                "SELECT event_name, epoch_ms(\"time\"), distinct_id, insert_id, price, vip FROM read_parquet('{path}') ORDER BY insert_id"
            ))
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let mut expected: Vec<(String, i64, String, String, i64, bool)> = exported
            .iter()
            .filter(|e| e["event"] == event)
            .map(|e| {
                let p = &e["properties"];
                (
                    event.to_string(),
                    p["time"].as_i64().unwrap(),
                    p["distinct_id"].as_str().unwrap().to_string(),
                    p["$insert_id"].as_str().unwrap().to_string(),
                    p["price"].as_i64().unwrap(),
                    p["vip"].as_bool().unwrap(),
                )
            })
            .collect();
        expected.sort_by(|a, b| a.3.cmp(&b.3));
        assert_eq!(rows.len(), n);
        assert_eq!(rows, expected, "{table}");
    }

    // Monoschema, JSON: every event in mp_master_event.
    let file = base("js", "mp_master_event").join("full_day/export.json.gz");
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(file).unwrap()).read_to_string(&mut text).unwrap();
    let rows: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 30);
    let first = rows.iter().find(|r| r["insert_id"] == "t1").unwrap();
    assert_eq!(
        (first["event_name"].as_str(), first["distinct_id"].as_str(), first["plan"].as_str()),
        (Some("Buy"), Some("u1"), Some("pro"))
    );
    assert_eq!(first["price"], 1);
    assert!(leftovers(&s.dir.join("pipelines")).is_empty());
}
