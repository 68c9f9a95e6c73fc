//! Operational surface: health, readiness, metrics, OpenAPI, first-start bootstrap, CLI.

mod common;

use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn health_readiness_metrics_and_openapi() {
    let s = TestServer::start();
    let r = s.http.get(s.url("/healthz")).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"status": "ok"}));
    let r = s.http.get(s.url("/readyz")).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"status": "ready"}));
    let body = json!([{"event": "e", "properties": {"token": s.creds.token}}]);
    assert_eq!(s.http.post(s.url("/track")).json(&body).send().await.unwrap().text().await.unwrap(), "1");
    let metrics = s.http.get(s.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("http_requests_total{route=\"/track\",method=\"POST\",status=\"200\"} 1"), "{metrics}");
    assert!(metrics.contains("http_request_duration_seconds_bucket{route=\"/track\""), "{metrics}");
    let ingested =
        format!("sextant_events_ingested_total{{project_id=\"{}\",endpoint=\"track\"}} 1", s.creds.project_id);
    assert!(metrics.contains(&ingested), "{metrics}");
    let spec: Value = s.http.get(s.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert!(spec["paths"]["/track"]["post"].is_object());
    assert!(spec["paths"]["/api/2.0/export"]["get"].is_object());
    let r = s.http.get(s.url("/nowhere")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().await.unwrap()["error_code"], "NOT_FOUND");
}

#[tokio::test]
async fn bootstrap_is_written_once_with_owner_only_permissions() {
    let mut s = TestServer::start();
    let path = s.dir.join("bootstrap.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let first = std::fs::read_to_string(&path).unwrap();
    let boot: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(boot["project"]["timezone"], "UTC");
    assert_eq!(boot["service_account"]["role"], "owner");
    s.stop();
    let dir = s.dir.clone();
    // Loosened by hand (or made by an older version): tightened again at the next start.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(dir.join("metadata.sqlite"), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let again = TestServer::start_in(&dir);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), first, "a second start creates nothing");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700, "the data directory is the owner's alone");
        assert_eq!(mode(&dir.join("metadata.sqlite")), 0o600);
    }
    drop(again);
}

#[test]
fn cli_project_and_service_account_commands() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(binary()).args(args).arg("--data-dir").arg(dir.path()).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let created: Value =
        serde_json::from_str(&run(&["project", "create", "--name", "Shop", "--timezone", "Europe/Paris", "--json"]))
            .unwrap();
    assert_eq!(created["name"], "Shop");
    assert_eq!(created["timezone"], "Europe/Paris");
    assert_eq!(created["token"].as_str().unwrap().len(), 32);
    assert_eq!(created["secret"].as_str().unwrap().len(), 32);
    let listed: Value = serde_json::from_str(&run(&["project", "list", "--json"])).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(listed[0].get("secret").is_none(), "secrets are never listed");
    let text = run(&["project", "list"]);
    assert!(text.contains("Shop") && text.contains("Europe/Paris"));
    let id = created["id"].as_i64().unwrap().to_string();
    let sa: Value =
        serde_json::from_str(&run(&["service-account", "create", "--project", &id, "--role", "consumer", "--json"]))
            .unwrap();
    assert_eq!(sa["role"], "consumer");
    // Bad input is refused with a message, not a panic.
    let out = std::process::Command::new(binary())
        .args(["project", "create", "--name", "x", "--timezone", "Mars/Base", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown timezone"));
    let out = std::process::Command::new(binary())
        .args(["service-account", "create", "--project", "999", "--role", "admin", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"));
}

/// Issue 23's lanes: reports (and DuckDB's own workers) run below ingestion, and export
/// streams below both, so neither can starve the SDKs' events of the CPU; the store's
/// writer runs above them all.
#[tokio::test]
async fn reports_and_exports_run_on_threads_below_ingestion() {
    let s = TestServer::start();
    let now = now_ms() / 1000;
    s.import_ok(&[json!({"event": "e", "properties": {"time": now, "distinct_id": "a", "$insert_id": "lane-1"}})])
        .await;
    let (from, to) = chrono_like_today();
    let report = s.url(&format!("/api/query/segmentation?event=e&from_date={from}&to_date={to}"));
    let r = s.http.get(report).basic_auth(&s.creds.secret, Some("")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(s.export("").await.len(), 1);

    let (threads, main) = s.thread_priorities();
    let nice_of = |prefix: &str| -> Vec<i32> {
        threads.iter().filter(|(name, _)| name.starts_with(prefix)).map(|(_, nice)| *nice).collect()
    };
    // The writer runs five above the process where the kernel allows (root, or
    // CAP_SYS_NICE), and at the process's priority where it does not.
    let writer = nice_of("duckdb-writer");
    assert!(writer == vec![(main - 5).max(-20)] || writer == vec![main], "{threads:?}");
    assert_eq!(nice_of("duckdb-compacto"), vec![main], "{threads:?}");
    // DuckDB's workers are named after the thread that opened the database.
    let duckdb_workers = nice_of("lane-inter-own");
    assert!(!duckdb_workers.is_empty(), "{threads:?}");
    let interactive = nice_of("lane-inter");
    assert!(interactive.iter().all(|&n| n == (main + 4).min(19)), "{threads:?}");
    let bulk = nice_of("lane-bulk");
    assert!(!bulk.is_empty() && bulk.iter().all(|&n| n == (main + 10).min(19)), "{threads:?}");
}
