//! `sextant backup` of a running server and `sextant restore` into a new data
//! directory: restored, the server answers the same export and the same reports; a
//! backup taken while a client keeps importing holds each acknowledged batch whole or
//! not at all, every batch acknowledged before it started, and nothing after its
//! recorded point.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use common::{TestServer, binary};
use serde_json::{Value, json};

const DAY: i64 = 1_704_067_200; // 2024-01-01T00:00:00Z
const BATCH: usize = 500;

fn remote(server: &TestServer) -> Vec<String> {
    [
        "--url",
        &server.url,
        "--username",
        &server.creds.sa_user,
        "--secret",
        &server.creds.sa_secret,
        "--project-id",
        &server.creds.project_id.to_string(),
        "--organization",
        &server.organization().to_string(),
    ]
    .map(String::from)
    .to_vec()
}

/// Runs `sextant ARGS`, which must succeed; its standard output.
fn sextant(args: &[String]) -> String {
    let out = Command::new(binary()).args(args).env("HOME", "/nonexistent").output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn batch(b: usize) -> Vec<Value> {
    (0..BATCH)
        .map(|i| {
            let name = ["Buy", "View"][i % 2];
            json!({"event": name, "properties": {
                "distinct_id": format!("u{}", i % 50), "time": DAY + (b * BATCH + i) as i64,
                "$insert_id": format!("b{b}-{i}"), "batch": b}})
        })
        .collect()
}

async fn export(server: &TestServer) -> Vec<Value> {
    let mut lines = server.export_range("2024-01-01", "2024-01-02", "").await;
    lines.sort_by_key(|e| e["properties"]["$insert_id"].as_str().unwrap().to_string());
    lines
}

async fn report(server: &TestServer) -> Value {
    let url = "/api/query/segmentation?event=Buy&from_date=2024-01-01&to_date=2024-01-02&on=properties%5B%22batch%22%5D&type=unique";
    server
        .http
        .get(server.url(url))
        .basic_auth(&server.creds.secret, Some(""))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Backs up `server` as `name` with the CLI, restores it into a new directory, and
/// starts a server there; also answers the manifest.
fn backup_and_restore(server: &TestServer, name: &str, into: &std::path::Path) -> (TestServer, Value) {
    let mut args = vec!["backup".to_string(), name.into(), "--json".into()];
    args.extend(remote(server));
    let backup: Value = serde_json::from_str(&sextant(&args)).unwrap();
    assert_eq!(backup["state"], "done", "{backup}");
    let source = backup["path"].as_str().unwrap().to_string();
    assert!(!std::path::Path::new(&source).join("timelines").exists());
    let out = sextant(&["restore".into(), source, "--data-dir".into(), into.display().to_string()]);
    assert!(out.contains("restored"), "{out}");
    (TestServer::start_in(into), backup["manifest"].clone())
}

#[tokio::test]
async fn a_restored_backup_answers_as_the_server_did() {
    let server = TestServer::start();
    for b in 0..4 {
        server.import_ok(&batch(b)).await;
    }
    let profiles = json!([{"$token": server.creds.token, "$distinct_id": "u1", "$set": {"plan": "pro"}}]);
    server.http.post(server.url("/engage")).json(&profiles).send().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (restored, manifest) = backup_and_restore(&server, "quiet", &dir.path().join("data"));
    assert_eq!(manifest["events"], 4 * BATCH);
    assert_eq!(manifest["control_plane"], "sqlite");
    assert_eq!(export(&restored).await, export(&server).await);
    assert_eq!(report(&restored).await, report(&server).await);
    let engage = |s: &TestServer| {
        s.http
            .post(s.url("/api/query/engage"))
            .basic_auth(&s.creds.secret, Some(""))
            .form(&[("distinct_id", "u1")])
            .send()
    };
    let (a, b): (Value, Value) =
        (engage(&server).await.unwrap().json().await.unwrap(), engage(&restored).await.unwrap().json().await.unwrap());
    assert_eq!(a["results"], b["results"]);

    // Restoring refuses a data directory in use and a damaged backup.
    let source = server.dir.join("backups/quiet");
    let out = Command::new(binary())
        .args(["restore"])
        .arg(&source)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("not an empty directory"));
    std::fs::write(source.join("bootstrap.json"), "{}").unwrap();
    let out = Command::new(binary())
        .args(["restore"])
        .arg(&source)
        .arg("--data-dir")
        .arg(dir.path().join("other"))
        .output()
        .unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("damaged"));
    // A name taken, and a bad one, are refused.
    let mut args = vec!["backup".to_string(), "quiet".into()];
    args.extend(remote(&server));
    let out = Command::new(binary()).args(&args).env("HOME", "/nonexistent").output().unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("409"));
    args[1] = "next.partial".into();
    let out = Command::new(binary()).args(&args).env("HOME", "/nonexistent").output().unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("400"));
}

#[tokio::test]
async fn a_backup_under_load_holds_whole_batches_up_to_its_point() {
    let server = Arc::new(TestServer::start());
    // One client imports batch after batch until told to stop.
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let loader = {
        let (server, acknowledged, stop) = (server.clone(), acknowledged.clone(), stop.clone());
        tokio::spawn(async move {
            let mut b = 0;
            while !stop.load(Ordering::Acquire) {
                server.import_ok(&batch(b)).await;
                b += 1;
                acknowledged.store(b, Ordering::Release);
            }
        })
    };
    while acknowledged.load(Ordering::Acquire) < 5 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let before = acknowledged.load(Ordering::Acquire);
    let dir = tempfile::tempdir().unwrap();
    let server_for_backup = server.clone();
    let into = dir.path().join("data");
    let (restored, manifest) =
        tokio::task::spawn_blocking(move || backup_and_restore(&server_for_backup, "busy", &into)).await.unwrap();
    // Let the import run on past the backup, then stop it.
    let after_backup = acknowledged.load(Ordering::Acquire);
    while acknowledged.load(Ordering::Acquire) < after_backup + 2 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Release);
    loader.await.unwrap();

    let mut per_batch: BTreeMap<i64, usize> = BTreeMap::new();
    for e in export(&restored).await {
        *per_batch.entry(e["properties"]["batch"].as_i64().unwrap()).or_default() += 1;
    }
    let kept = per_batch.len();
    assert!(per_batch.values().all(|n| *n == BATCH), "a batch is in the backup in part: {per_batch:?}");
    assert_eq!(per_batch.keys().copied().collect::<Vec<_>>(), (0..kept as i64).collect::<Vec<_>>(), "not a prefix");
    assert!(kept >= before, "batches acknowledged before the backup are missing: {kept} < {before}");
    assert_eq!(manifest["events"], kept * BATCH);
    // The live server has the batches after the backup's point; the backup does not.
    let live = export(&server).await.len();
    assert!(live > kept * BATCH, "nothing was acknowledged after the backup's point");
}

#[tokio::test]
async fn a_backup_a_stopped_server_left_is_failed_and_its_name_free_again() {
    let dir = tempfile::tempdir().unwrap();
    drop(TestServer::start_in(dir.path()));
    // What a server killed during a backup leaves.
    std::fs::create_dir_all(dir.path().join("backups/stale.partial")).unwrap();
    let server = TestServer::start_in(dir.path());
    let client = sextant_client::Client::builder()
        .base_url(&server.url)
        .service_account(&server.creds.sa_user, &server.creds.sa_secret, server.creds.project_id)
        .build()
        .unwrap();
    let backups = client.backups(server.organization());
    let stale = backups.get("stale").await.unwrap();
    assert_eq!(stale.state, "failed");
    assert!(stale.error.as_deref().unwrap_or_default().contains("interrupted"), "{stale:?}");
    backups.create("stale").await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while backups.get("stale").await.unwrap().state == "running" {
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(backups.get("stale").await.unwrap().state, "done");
}
