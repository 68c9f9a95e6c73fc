//! The server with its control plane in PostgreSQL (`SEXTANT_METADATA_URL`, a throwaway
//! cluster the test starts): it bootstraps there, serves ingestion and export, sees a
//! project the CLI creates in the same database, and a second server on another data
//! directory finds the same organisation instead of making its own, and applies the
//! Lexicon schemas and rate limits set through the first within ten seconds.

mod common;

use std::process::Command;

use common::*;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_plane_in_postgres() {
    let cluster = sextant_metadata::testsupport::Cluster::start();
    let url = cluster.url();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("one");
    let s = TestServer::start_in_with_env(&dir, RELAXED_LIMITS, &[("SEXTANT_METADATA_URL", &url)]);
    assert!(!dir.join("metadata.sqlite").exists(), "the control plane is not in the data directory");

    let m = marker();
    let t = now_ms() / 1000 - 60;
    let events: Vec<Value> = (0..20)
        .map(|i| json!({"event": "pg", "properties": {"time": t, "distinct_id": format!("u{i}"), "$insert_id": format!("i{i}"), "m": m}}))
        .collect();
    s.import_ok(&events).await;
    assert_eq!(with_marker(&s.export("").await, &m).len(), 20);

    // The CLI on the same database: the running server serves the new project at once.
    let out = Command::new(binary())
        .args(["project", "create", "--name", "Second", "--json", "--metadata-url", &url])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    let token = created["token"].as_str().unwrap();
    let event = json!([{"event": "second", "properties": {"token": token, "distinct_id": "x", "time": t}}]);
    let r = s.http.post(s.url("/track?verbose=1")).json(&event).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"status": 1, "error": null}));

    // Another server, another data directory, the same database: no second bootstrap,
    // and the first project's secret works there too.
    // (The harness reads credentials from bootstrap.json, which only a bootstrap writes:
    // the first one's is copied over, and a second bootstrap would overwrite it.)
    let other = tmp.path().join("two");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::copy(dir.join("bootstrap.json"), other.join("bootstrap.json")).unwrap();
    let two = TestServer::start_in_with_env(&other, RELAXED_LIMITS, &[("SEXTANT_METADATA_URL", &url)]);
    let kept: Value = serde_json::from_str(&std::fs::read_to_string(other.join("bootstrap.json")).unwrap()).unwrap();
    assert_eq!(kept["project"]["secret"], s.creds.secret.as_str(), "no second bootstrap");
    let r =
        two.http.get(two.url("/api/query/funnels/list")).basic_auth(&s.creds.secret, Some("")).send().await.unwrap();
    assert_eq!(r.status(), 200);

    // What one server changes, the other applies within ten seconds: a Lexicon schema
    // that drops an event at ingestion, and a project's own rate limits.
    let pid = s.creds.project_id;
    let declare = json!({"entries": [{"entityType": "event", "name": "Noise",
        "schemaJson": {"metadata": {"com.mixpanel": {"dropped": true}}}}]});
    let owner = |r: reqwest::RequestBuilder| r.basic_auth(&s.creds.sa_user, Some(&s.creds.sa_secret));
    let as_secret = |r: reqwest::RequestBuilder| r.basic_auth(&s.creds.secret, Some(""));
    let schemas = s.url(&format!("/api/app/projects/{pid}/schemas"));
    assert_eq!(send(as_secret(s.http.post(schemas)).json(&declare)).await.0, 200);
    let org = s.organization();
    let limits = json!({"rate_limits": {"lookup_tables": {"per_day": 7}}});
    let project = s.url(&format!("/api/app/organizations/{org}/projects/{pid}"));
    assert_eq!(send(owner(s.http.patch(project)).json(&limits)).await.0, 200);
    // Both are read again in the same tick: wait for the limits (the App API allows 120
    // calls a minute, the Lexicon's 5), then look at the schemas.
    let started = std::time::Instant::now();
    loop {
        let (_, project) = send(as_secret(two.http.get(two.url(&format!("/api/app/projects/{pid}"))))).await;
        if project["results"]["effective_rate_limits"]["lookup_tables"]["per_day"] == 7 {
            break;
        }
        assert!(started.elapsed().as_secs() < 25, "the second server did not see the limits: {project}");
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let (_, schemas) =
        send(as_secret(two.http.get(two.url(&format!("/api/app/projects/{pid}/schemas/event?inferred=false"))))).await;
    assert!(schemas["results"].as_array().is_some_and(|all| all.iter().any(|e| e["name"] == "Noise")), "{schemas}");
    let noise = json!([{"event": "Noise", "properties": {"time": t, "distinct_id": "n", "$insert_id": "n1", "m": m}}]);
    let r = two
        .http
        .post(two.url("/import?strict=1"))
        .basic_auth(&s.creds.secret, Some(""))
        .json(&noise)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(with_marker(&s.export("").await, &m).len(), 20, "the second server dropped it");
}
