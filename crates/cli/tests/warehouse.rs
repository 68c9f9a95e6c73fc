//! Warehouse connectors over HTTP (`warehouse-connectors.openapi.yaml`), reading a real
//! PostgreSQL cluster the test starts and Parquet and CSV files:
//!
//! - an `event_stream` import of a PostgreSQL table brings each row in as the event
//!   `/api/2.0/export` gives back, its columns mapped; a `manual-sync` picks up only the
//!   rows past the watermark; a server killed after storing a batch and before moving
//!   the watermark reads the batch again after a restart and counts nothing twice;
//! - a wrong column and an unreachable source end the run `FAILED`, saying why, in the
//!   import's `history`; paused, an import does not run; deleted, it is gone;
//! - Parquet events and CSV people from a `files` source query back exactly, and so do
//!   Parquet events from an S3 bucket (moto's server);
//! - bad requests are refused naming the field.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use sextant_metadata::testsupport::Cluster;

/// Imports looked for every second; the export, query and ingestion limits lifted.
const CONFIG: &str = "warehouse_poll_seconds = 1\n[rate_limits.default.export]\nper_second = 0\nper_hour = 0\n[rate_limits.default.query]\nper_hour = 0\nconcurrent = 0\n";

const DAY_S: i64 = 86_400;

fn imports_url(s: &TestServer, rest: &str) -> String {
    s.url(&format!("/api/app/projects/{}/warehouse-sources{rest}", s.creds.project_id))
}

async fn post(s: &TestServer, rest: &str, body: Value) -> (u16, Value) {
    send(s.http.post(imports_url(s, rest)).basic_auth(&s.creds.secret, Some("")).json(&body)).await
}

async fn get(s: &TestServer, rest: &str) -> (u16, Value) {
    send(s.http.get(imports_url(s, rest)).basic_auth(&s.creds.secret, Some(""))).await
}

/// The runs of an import, newest first.
async fn runs(s: &TestServer, import: i64) -> Vec<Value> {
    let (status, body) = get(s, &format!("/imports/{import}/history")).await;
    assert_eq!(status, 200, "{body}");
    body["results"]["runs"].as_array().unwrap().clone()
}

/// Asks for a run of the import now.
async fn manual_sync(s: &TestServer, import: i64) -> (u16, Value) {
    let url = imports_url(s, &format!("/imports/{import}/manual-sync"));
    send(s.http.put(url).basic_auth(&s.creds.secret, Some("")).json(&json!({}))).await
}

/// Waits until the import has `n` runs that ended; answers the newest.
async fn ended(s: &TestServer, import: i64, n: usize) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let all = runs(s, import).await;
        let done: Vec<&Value> =
            all.iter().filter(|r| ["SUCCEEDED", "FAILED"].contains(&r["status"].as_str().unwrap())).collect();
        if done.len() >= n {
            return done[0].clone();
        }
        assert!(std::time::Instant::now() < deadline, "import {import}: {all:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// How many `event`s the segmentation report counts between two days.
async fn counted(s: &TestServer, event: &str, from: &str, to: &str) -> i64 {
    let url = s.url(&format!("/api/query/segmentation?event={event}&from_date={from}&to_date={to}&unit=day"));
    let (status, body) = send(s.http.get(url).basic_auth(&s.creds.secret, Some(""))).await;
    assert_eq!(status, 200, "{body}");
    body["data"]["values"][event].as_object().unwrap().values().map(|v| v.as_i64().unwrap()).sum()
}

/// `n` rows from `first`, loaded in that order, over two days before today.
fn insert_rows(pg: &Cluster, first: i64, n: i64, base_s: i64) {
    pg.execute(&format!(
        "INSERT INTO sales (id, kind, at, user_id, amount, extra, loaded_at) \
         SELECT i, CASE WHEN i % 3 = 0 THEN 'Refund' ELSE 'Sale' END, \
                to_timestamp({base_s} + i * 600), 'u' || (i % 7), i * 1.5, \
                json_build_object('plan', CASE WHEN i % 2 = 0 THEN 'pro' ELSE 'free' END), \
                to_timestamp(1700000000 + i) \
         FROM generate_series({first}, {}) AS i",
        first + n - 1
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_table_is_imported_incrementally_and_exactly_once() {
    let pg = Cluster::start();
    pg.execute(
        "CREATE TABLE sales (id BIGINT PRIMARY KEY, kind TEXT, at TIMESTAMPTZ, user_id TEXT, amount NUMERIC, \
         extra JSON, loaded_at TIMESTAMPTZ)",
    );
    let base_s = (now_ms() / 1000 / DAY_S - 3) * DAY_S;
    insert_rows(&pg, 1, 300, base_s);
    let tmp = tempfile::tempdir().unwrap();
    let s = TestServer::start_in_with(tmp.path(), CONFIG);
    let (status, source) = post(&s, "", json!({"name": "dw", "type": "postgres", "url": pg.url()})).await;
    assert_eq!(status, 201, "{source}");
    assert_eq!(source["results"]["url"], pg.url(), "no password to hide");
    let source_id = source["results"]["id"].as_i64().unwrap();
    let import = json!({
        "import_type": "event_stream",
        "warehouse_source_id": source_id,
        "table_params": {"schema_name": "public", "table_name": "sales"},
        "event_column_name": "kind",
        "time_column_name": "at",
        "user_column_name": "user_id",
        "insert_time_column_name": "loaded_at",
        "json_properties_column_name": "extra",
        "property_mappings": {"amount": "Amount"},
        "sync_mode": "time_based",
        "run_every": 0,
    });
    let (status, made) = post(&s, "/imports/event-stream", import.clone()).await;
    assert_eq!(status, 200, "{made}");
    let id = made["results"]["id"].as_i64().unwrap();
    assert_eq!(
        (made["results"]["import_type"].as_str(), made["results"]["sync_mode"].as_str()),
        (Some("event_stream"), Some("time_based"))
    );

    // Made, it runs once: every row an event, as export gives it back.
    let run = ended(&s, id, 1).await;
    assert_eq!((run["status"].as_str(), run["num_events_imported"].as_i64()), (Some("SUCCEEDED"), Some(300)), "{run}");
    let (from, to) = (ymd(base_s), ymd(base_s + 3 * DAY_S));
    let exported = s.export_range(&from, &to, "").await;
    assert_eq!(exported.len(), 300);
    let sale = exported.iter().find(|e| e["properties"]["Amount"] == json!(4.5)).expect("row 3");
    let p = &sale["properties"];
    assert_eq!(
        (sale["event"].as_str(), p["distinct_id"].as_str(), p["plan"].as_str()),
        (Some("Refund"), Some("u3"), Some("free"))
    );
    assert_eq!(p["time"].as_i64(), Some(base_s + 3 * 600));
    assert!(p.get("extra").is_none() && p.get("loaded_at").is_none() && p.get("amount").is_none(), "{p}");
    assert_eq!(p["id"], 3, "unmapped columns come in under their own names");

    // New rows: a manual sync brings those only.
    insert_rows(&pg, 301, 40, base_s);
    let (status, sync) = manual_sync(&s, id).await;
    assert_eq!(status, 200, "{sync}");
    assert!(sync["results"]["run_id"].is_string());
    let run = ended(&s, id, 2).await;
    assert_eq!(run["num_events_imported"], 40, "{run}");
    assert_eq!(s.export_range(&from, &to, "").await.len(), 340);
    let (_, shown) = get(&s, &format!("/imports/{id}")).await;
    assert!(shown["results"]["watermark"].as_str().unwrap().starts_with("2023-11-14"), "{shown}");
    drop(s);

    // Killed with a batch stored and the watermark not moved: after a restart the batch
    // is read again and is the same events.
    insert_rows(&pg, 341, 25, base_s);
    let mut s = TestServer::start_in_with_env(tmp.path(), CONFIG, &[("SEXTANT_PAUSE_AT", "warehouse-watermark")]);
    let (status, _) = manual_sync(&s, id).await;
    assert_eq!(status, 200);
    let marker = s.dir.join("paused-at-warehouse-watermark");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !marker.exists() {
        assert!(std::time::Instant::now() < deadline, "the runner at its pause point");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    s.kill9();
    std::fs::remove_file(&marker).unwrap();
    let s = TestServer::start_in_with(tmp.path(), CONFIG);
    let stopped = ended(&s, id, 3).await;
    assert!(stopped["error"].as_str().unwrap_or("").contains("stopped during the run"), "{stopped}");
    let (status, _) = manual_sync(&s, id).await;
    assert_eq!(status, 200);
    let run = ended(&s, id, 4).await;
    assert_eq!((run["status"].as_str(), run["num_events_imported"].as_i64()), (Some("SUCCEEDED"), Some(25)), "{run}");
    // Export gives every copy sent, as Mixpanel's does; the reports count each event once.
    assert_eq!(counted(&s, "Sale", &from, &to).await + counted(&s, "Refund", &from, &to).await, 365);

    // Paused, a sync waits; deleted, the import and its history are gone.
    let (status, body) = send(
        s.http
            .patch(imports_url(&s, &format!("/imports/{id}")))
            .basic_auth(&s.creds.secret, Some(""))
            .json(&json!({"paused": true, "run_every": 3_600_000_000_000i64})),
    )
    .await;
    assert_eq!((status, &body["results"]["paused"]), (200, &json!(true)), "{body}");
    let (status, body) = get(&s, "/imports").await;
    assert_eq!((status, body["results"].as_array().map(Vec::len)), (200, Some(1)), "{body}");
    let (status, _) =
        send(s.http.delete(imports_url(&s, &format!("/imports/{id}"))).basic_auth(&s.creds.secret, Some(""))).await;
    assert_eq!(status, 200);
    let (status, _) = get(&s, &format!("/imports/{id}/history")).await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_column_or_an_unreachable_source_fails_the_run_saying_why() {
    let pg = Cluster::start();
    pg.execute("CREATE TABLE sales (id BIGINT, at TIMESTAMPTZ, user_id TEXT)");
    pg.execute("INSERT INTO sales VALUES (1, now() - interval '1 day', 'a')");
    let s = TestServer::start_with_config(CONFIG);
    let (_, source) = post(&s, "", json!({"name": "dw", "type": "postgres", "url": pg.url()})).await;
    let source_id = source["results"]["id"].as_i64().unwrap();
    let import = |time: &str, source: i64| {
        json!({"import_type": "event_stream", "warehouse_source_id": source, "table_params": {"table_name": "sales"},
               "event_name": "Sale", "time_column_name": time, "user_column_name": "user_id", "sync_mode": "full_sync", "run_every": 0})
    };
    let (_, made) = post(&s, "/imports/event-stream", import("when", source_id)).await;
    let run = ended(&s, made["results"]["id"].as_i64().unwrap(), 1).await;
    assert_eq!(run["status"], "FAILED", "{run}");
    let why = run["error"].as_str().unwrap();
    assert!(why.contains("column `when`") && why.contains("at, id, user_id"), "{why}");

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let closed = format!("postgres://etl:hunter2@127.0.0.1:{port}/dw");
    let (status, gone) = post(&s, "", json!({"name": "gone", "type": "postgres", "url": closed})).await;
    assert_eq!(status, 201, "{gone}");
    assert_eq!(gone["results"]["url"], format!("postgres://etl:***@127.0.0.1:{port}/dw"), "the password hidden");
    let (_, made) = post(&s, "/imports/event-stream", import("at", gone["results"]["id"].as_i64().unwrap())).await;
    let run = ended(&s, made["results"]["id"].as_i64().unwrap(), 1).await;
    assert_eq!(run["status"], "FAILED", "{run}");
    assert!(run["error"].as_str().unwrap().contains("cannot reach the source"), "{run}");
    assert_eq!(files_holding(&s.dir, b"hunter2"), vec![], "the password is kept sealed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parquet_events_and_csv_people_from_files_query_back_exactly() {
    let s = TestServer::start_with_config(CONFIG);
    // The project's own directory of the import root.
    let drop = s.dir.join("imports").join(s.creds.project_id.to_string()).join("drop");
    std::fs::create_dir_all(&drop).unwrap();
    let day_s = (now_ms() / 1000 / DAY_S - 1) * DAY_S;
    let conn = duckdb::Connection::open_in_memory().unwrap();
    // Events with a time zone (TIMESTAMPTZ, which DuckDB writes `... +00`).
    let write_events = |file: &str, range: &str| {
        format!(
            "COPY (SELECT 'Play' AS name, to_timestamp({day_s} + i * 60) AS ts, 'p' || (i % 5) AS who, \
                          'ins-' || i AS iid, i AS level, 'p' || (i % 5) AS player FROM range({range}) t(i)) TO '{}' (FORMAT parquet);",
            drop.join(file).display()
        )
    };
    conn.execute_batch(&format!(
        "{}
         COPY (SELECT 'p' || i AS who, 'Player ' || i AS \"$name\", i * 10 AS score FROM range(5) t(i)) \
         TO '{}' (FORMAT csv, HEADER true);",
        write_events("events-1.parquet", "0, 200"),
        drop.join("people.csv").display()
    ))
    .unwrap();
    let (status, source) = post(&s, "", json!({"name": "drop", "type": "files", "path": "drop"})).await;
    assert_eq!(status, 201, "{source}");
    let source_id = source["results"]["id"].as_i64().unwrap();
    let (status, events) = post(&s, "/imports/event-stream", json!({
        "import_type": "event_stream", "warehouse_source_id": source_id, "table_params": {"path": "*.parquet"},
        "event_column_name": "name", "time_column_name": "ts", "user_column_name": "who", "insert_id_column_name": "iid",
        "sync_mode": "time_based", "run_every": 0,
    })).await;
    assert_eq!(status, 200, "{events}");
    let (status, people) = post(
        &s,
        "/imports/people",
        json!({
            "import_type": "people", "warehouse_source_id": source_id, "table_params": {"path": "people.csv"},
            "user_column_name": "who", "sync_mode": "full_sync", "run_every": 0,
        }),
    )
    .await;
    assert_eq!(status, 200, "{people}");
    let run = ended(&s, events["results"]["id"].as_i64().unwrap(), 1).await;
    assert_eq!((run["status"].as_str(), run["num_events_imported"].as_i64()), (Some("SUCCEEDED"), Some(200)), "{run}");
    let run = ended(&s, people["results"]["id"].as_i64().unwrap(), 1).await;
    assert_eq!((run["status"].as_str(), run["num_events_imported"].as_i64()), (Some("SUCCEEDED"), Some(5)), "{run}");

    // A second file: the next run reads its rows only, past the watermark.
    conn.execute_batch(&write_events("events-2.parquet", "200, 250")).unwrap();
    let (status, _) = manual_sync(&s, events["results"]["id"].as_i64().unwrap()).await;
    assert_eq!(status, 200);
    let run = ended(&s, events["results"]["id"].as_i64().unwrap(), 2).await;
    assert_eq!((run["status"].as_str(), run["num_events_imported"].as_i64()), (Some("SUCCEEDED"), Some(50)), "{run}");

    let exported = s.export_range(&ymd(day_s), &ymd(day_s), "").await;
    assert_eq!(exported.len(), 250);
    let mut seen: Vec<(String, i64, String, i64)> = exported
        .iter()
        .map(|e| {
            let p = &e["properties"];
            (
                p["$insert_id"].as_str().unwrap().to_string(),
                p["time"].as_i64().unwrap(),
                p["distinct_id"].as_str().unwrap().to_string(),
                p["level"].as_i64().unwrap(),
            )
        })
        .collect();
    seen.sort();
    let mut expected: Vec<(String, i64, String, i64)> =
        (0..250).map(|i| (format!("ins-{i}"), day_s + i * 60, format!("p{}", i % 5), i)).collect();
    expected.sort();
    assert_eq!(seen, expected);

    // A lookup table from the same CSV, keyed by `who`, joined to events' `player`.
    let (status, lookup) = post(
        &s,
        "/imports/lookup-table",
        json!({
            "import_type": "lookup_table", "warehouse_source_id": source_id, "table_params": {"path": "people.csv"},
            "mixpanel_property": {"value": "player", "resourceType": "event"}, "property_key_column_name": "who",
            "sync_mode": "full_sync", "run_every": 0,
        }),
    )
    .await;
    assert_eq!(status, 200, "{lookup}");
    let run = ended(&s, lookup["results"]["id"].as_i64().unwrap(), 1).await;
    assert_eq!((run["status"].as_str(), run["num_events_imported"].as_i64()), (Some("SUCCEEDED"), Some(5)), "{run}");
    let table = lookup["results"]["lookup_table_id"].as_str().unwrap();
    let url = s.url(&format!("/api/app/projects/{}/lookup-tables/{table}", s.creds.project_id));
    let (_, shown) = send(s.http.get(url).basic_auth(&s.creds.secret, Some(""))).await;
    assert_eq!(shown["results"]["row_count"], 5, "{shown}");
    assert_eq!(shown["results"]["columns"], json!(["who", "$name", "score"]), "{shown}");
    assert_eq!(shown["results"]["mappings"], json!([{"target": "event", "property": "player"}]));
    // Joined: the events of p1 read their player's score through the table.
    let on = urlencode(r#"properties["player"]["score"]"#);
    let day = ymd(day_s);
    let url = s.url(&format!("/api/query/segmentation?event=Play&from_date={day}&to_date={day}&unit=day&on={on}"));
    let (status, body) = send(s.http.get(url).basic_auth(&s.creds.secret, Some(""))).await;
    assert_eq!(status, 200, "{body}");
    let by_score = &body["data"]["values"];
    assert_eq!(by_score["10"][&day], 50, "p1's 50 events under its score: {body}");

    // The same rows as group profiles of the key `team`.
    let (status, groups) = post(
        &s,
        "/imports/groups",
        json!({
            "import_type": "groups", "warehouse_source_id": source_id, "table_params": {"path": "people.csv"},
            "group_key": "team", "group_id_column": "who", "sync_mode": "one_time",
        }),
    )
    .await;
    assert_eq!(status, 200, "{groups}");
    let run = ended(&s, groups["results"]["id"].as_i64().unwrap(), 1).await;
    assert_eq!((run["status"].as_str(), run["num_events_imported"].as_i64()), (Some("SUCCEEDED"), Some(5)), "{run}");
    let r = s.http.get(s.url("/api/2.0/engage?data_group_id=team")).basic_auth(&s.creds.secret, Some(""));
    let body: Value = r.send().await.unwrap().json().await.unwrap();
    let teams: Vec<&Value> = body["results"].as_array().unwrap().iter().collect();
    assert_eq!(teams.len(), 5, "{body}");
    assert!(teams.iter().any(|t| t["$distinct_id"] == "p3" && t["$properties"]["score"] == 30), "{body}");

    let r = s.http.get(s.url("/api/2.0/engage")).basic_auth(&s.creds.secret, Some(""));
    let body: Value = r.send().await.unwrap().json().await.unwrap();
    let mut profiles: Vec<(String, String, i64)> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let props = &p["$properties"];
            (
                p["$distinct_id"].as_str().unwrap().to_string(),
                props["$name"].as_str().unwrap().to_string(),
                props["score"].as_i64().unwrap(),
            )
        })
        .collect();
    profiles.sort();
    let expected: Vec<(String, String, i64)> =
        (0..5).map(|i| (format!("p{i}"), format!("Player {i}"), i * 10)).collect();
    assert_eq!(profiles, expected);
}

/// A run whose batches the project's ingestion limit refuses waits and sends them
/// again, as an SDK does after a 429, and ends with every row stored once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_over_the_ingestion_limit_waits_for_it() {
    let s = TestServer::start_with_config(&format!("{CONFIG}[rate_limits.default.ingestion]\nper_second = 1\n"));
    let drop = s.dir.join("imports").join(s.creds.project_id.to_string()).join("drop");
    std::fs::create_dir_all(&drop).unwrap();
    let day_s = (now_ms() / 1000 / DAY_S - 1) * DAY_S;
    // Three batches (5,000 rows each at the most), the second and third ready within the
    // first's second.
    duckdb::Connection::open_in_memory()
        .unwrap()
        .execute_batch(&format!(
            "COPY (SELECT 'Play' AS name, to_timestamp({day_s} + i) AS ts, 'p' || (i % 7) AS who, 'ins-' || i AS iid \
             FROM range(12000) t(i)) TO '{}' (FORMAT parquet);",
            drop.join("events.parquet").display()
        ))
        .unwrap();
    let (status, source) = post(&s, "", json!({"name": "drop", "type": "files", "path": "drop"})).await;
    assert_eq!(status, 201, "{source}");
    let (status, events) = post(&s, "/imports/event-stream", json!({
        "import_type": "event_stream", "warehouse_source_id": source["results"]["id"], "table_params": {"path": "*.parquet"},
        "event_column_name": "name", "time_column_name": "ts", "user_column_name": "who", "insert_id_column_name": "iid",
        "sync_mode": "time_based", "run_every": 0,
    })).await;
    assert_eq!(status, 200, "{events}");
    let run = ended(&s, events["results"]["id"].as_i64().unwrap(), 1).await;
    assert_eq!(
        (run["status"].as_str(), run["num_events_imported"].as_i64()),
        (Some("SUCCEEDED"), Some(12000)),
        "{run}"
    );
    assert_eq!(counted(&s, "Play", &ymd(day_s), &ymd(day_s)).await, 12000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parquet_objects_of_an_s3_bucket_are_imported() {
    let moto = common::moto::Moto::start();
    moto.make_bucket("lake").await;
    let day_s = (now_ms() / 1000 / DAY_S - 1) * DAY_S;
    let tmp = tempfile::tempdir().unwrap();
    let conn = duckdb::Connection::open_in_memory().unwrap();
    for part in 0..2 {
        let file = tmp.path().join(format!("{part}.parquet"));
        conn.execute_batch(&format!(
            "COPY (SELECT 'Read' AS name, make_timestamp(({day_s} + i * 60) * 1000000) AS ts, 'r' || (i % 3) AS who \
             FROM range({}, {}) t(i)) TO '{}' (FORMAT parquet);",
            part * 100,
            part * 100 + 100,
            file.display()
        ))
        .unwrap();
        moto.put("lake", &format!("exports/day={part}/part-0.parquet"), std::fs::read(&file).unwrap()).await;
    }
    moto.put("lake", "exports/README.txt", b"not a table".to_vec()).await;
    moto.put("lake", "other/day=9/part-0.parquet", b"not under the prefix".to_vec()).await;
    let s = TestServer::start_with_config(CONFIG);
    let secret = "lake-secret-key-sextant";
    let (status, source) = post(
        &s,
        "",
        json!({
            "name": "lake", "type": "s3", "s3_bucket": "lake", "s3_region": "us-east-1", "s3_prefix": "exports",
            "s3_endpoint": moto.url, "s3_access_key_id": "AKIDLAKE", "s3_secret_access_key": secret,
        }),
    )
    .await;
    assert_eq!(status, 201, "{source}");
    assert_eq!(
        (source["results"]["s3_bucket"].as_str(), source["results"]["path"].as_str()),
        (Some("lake"), Some("exports"))
    );
    let (status, import) = post(
        &s,
        "/imports/event-stream",
        json!({
            "import_type": "event_stream", "warehouse_source_id": source["results"]["id"],
            "table_params": {"path": "day=*/*.parquet"}, "event_column_name": "name", "time_column_name": "ts",
            "user_column_name": "who", "sync_mode": "full_sync", "run_every": 0,
        }),
    )
    .await;
    assert_eq!(status, 200, "{import}");
    let run = ended(&s, import["results"]["id"].as_i64().unwrap(), 1).await;
    assert_eq!((run["status"].as_str(), run["num_events_imported"].as_i64()), (Some("SUCCEEDED"), Some(200)), "{run}");
    let exported = s.export_range(&ymd(day_s), &ymd(day_s), "").await;
    let mut times: Vec<i64> = exported.iter().map(|e| e["properties"]["time"].as_i64().unwrap()).collect();
    times.sort();
    assert_eq!(times, (0..200).map(|i| day_s + i * 60).collect::<Vec<_>>());
    assert_eq!(files_holding(&s.dir, secret.as_bytes()), vec![], "the secret key is kept sealed");
    // A bucket the key cannot list is refused at creation, naming the field.
    let (status, body) = post(
        &s,
        "",
        json!({
            "name": "none", "type": "s3", "s3_bucket": "no-such-bucket", "s3_region": "us-east-1",
            "s3_endpoint": moto.url, "s3_access_key_id": "AK", "s3_secret_access_key": "SK",
        }),
    )
    .await;
    assert_eq!((status, body["details"]["fields"]["s3_bucket"].is_string()), (400, true), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_naming_the_field() {
    let s = TestServer::start_with_config(CONFIG);
    let (status, body) = post(&s, "", json!({"name": "x", "type": "files", "path": "../etc"})).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["details"]["fields"]["path"].is_string(), "{body}");
    let (status, body) = post(&s, "", json!({"name": "x", "type": "files", "path": "missing"})).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = post(&s, "", json!({"name": "x", "type": "mysql"})).await;
    assert_eq!((status, body["details"]["fields"]["type"].is_string()), (400, true), "{body}");
    let (status, body) = post(
        &s,
        "/imports/event-stream",
        json!({"import_type": "people", "warehouse_source_id": 99, "sync_mode": "mirror_mode"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    for field in ["import_type", "warehouse_source_id", "sync_mode", "table_params"] {
        assert!(body["details"]["fields"][field].is_string(), "{field}: {body}");
    }
    let (status, body) = post(&s, "/imports/lookup-table", json!({})).await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = get(&s, "/imports/12345").await;
    assert_eq!(status, 404);
    let r = s.http.get(imports_url(&s, "/imports")).basic_auth(&s.creds.token, Some(""));
    let (status, _) = send(r).await;
    assert_eq!(status, 401, "the public token reads no imports");

    // A server that lists the hosts sources may name refuses the others.
    let s = TestServer::start_with_config(&format!("warehouse_hosts = [\"db.internal\"]\n{CONFIG}"));
    let url = |host: &str| format!("postgres://etl:pw@{host}:5432/dw");
    let (status, body) = post(&s, "", json!({"name": "x", "type": "postgres", "url": url("10.0.0.9")})).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["details"]["fields"]["url"].as_str().unwrap().contains("warehouse_hosts"), "{body}");
    let (status, body) = post(&s, "", json!({"name": "x", "type": "postgres", "url": url("DB.internal")})).await;
    assert_eq!(status, 201, "{body}");
}
