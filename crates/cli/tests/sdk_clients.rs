//! The official Mixpanel clients against a real server: the `mixpanel` Python package
//! (Consumer with full URLs, service-account and legacy-secret imports) and the
//! `mixpanel` Node package (`host`, `protocol: 'http'`), and both again over HTTPS
//! through the self-signed mode (the Node package imports only over HTTPS). Events are read back through
//! `/api/2.0/export` and compared field by field.
//!
//! The packages are installed by `scripts/test` (a virtualenv for Python, npm for Node);
//! `SEXTANT_TEST_PYTHON` names the interpreter.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::*;
use serde_json::Value;

fn clients_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

fn run(cmd: &mut Command, what: &str) -> Vec<Value> {
    let out =
        cmd.output().unwrap_or_else(|e| panic!("cannot run {what}: {e}; run scripts/test to install the clients"));
    assert!(
        out.status.success(),
        "{what} failed (run scripts/test to install the official clients):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{what} printed no JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// Every property the client sent reads back unchanged; the lifted fields are right.
fn compare(sent: &[Value], exported: &[Value], lib: &str) {
    for s in sent {
        let seq = &s["properties"]["seq"];
        let found: Vec<&Value> = exported.iter().filter(|e| &e["properties"]["seq"] == seq).collect();
        assert_eq!(found.len(), 1, "event {seq} exported {} times", found.len());
        let e = found[0];
        let p = &e["properties"];
        assert_eq!(e["event"], s["event"], "{seq}");
        assert_eq!(p["distinct_id"], s["distinct_id"], "{seq}");
        for (k, v) in s["properties"].as_object().unwrap() {
            if k == "distinct_id" || k == "time" {
                continue;
            }
            assert_eq!(&p[k], v, "{seq}: property {k}");
        }
        if s["sdk_sets_lib"] != false {
            assert_eq!(p["mp_lib"], lib, "{seq}");
            assert!(p["$lib_version"].is_string(), "{seq}");
        }
        assert!(p.get("token").is_none(), "{seq}");
        if let Some(t) = s.get("time").and_then(Value::as_i64) {
            assert_eq!(p["time"], t, "{seq}: import time is kept to the second");
        }
        if let Some(t) = s.get("time_ms").and_then(Value::as_i64) {
            assert_eq!(p["time"].as_i64().unwrap(), t / 1000, "{seq}");
        }
        if s["endpoint"] == "import" {
            assert_eq!(p["$import"], true, "{seq}");
        } else {
            assert!(p.get("$import").is_none(), "{seq}");
        }
        let insert_id = p["$insert_id"].as_str().unwrap();
        assert!(!insert_id.is_empty() && insert_id.len() <= 36, "{seq}: {insert_id}");
    }
}

#[tokio::test]
async fn official_python_client() {
    let s = TestServer::start();
    let python = std::env::var("SEXTANT_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let c = &s.creds;
    let sent = run(
        Command::new(python).arg(clients_dir().join("python_sdk.py")).args([
            &s.url,
            &c.token,
            &c.project_id.to_string(),
            &c.sa_user,
            &c.sa_secret,
            &c.secret,
        ]),
        "the Python client",
    );
    let sent = sent.as_slice();
    assert_eq!(sent.len(), 10);
    let mut exported = s.export("").await;
    let old_day = sent.iter().filter_map(|e| e.get("time").and_then(Value::as_i64)).min().unwrap();
    exported.extend(s.export_range(&ymd(old_day - 86_400), &ymd(old_day + 86_400), "").await);
    compare(sent, &exported, "python");
    // Python's track sends float seconds; the server keeps milliseconds.
    let py_track = exported.iter().find(|e| e["properties"]["seq"] == "py-track-0").unwrap();
    assert!((py_track["properties"]["time"].as_i64().unwrap() - now_ms() / 1000).abs() < 600);
}

#[tokio::test]
async fn official_node_client() {
    let s = TestServer::start();
    let dir = clients_dir();
    assert!(dir.join("node_modules/mixpanel").exists(), "run scripts/test to install the Node client");
    let sent =
        run(Command::new("node").arg(dir.join("node_sdk.js")).args([&s.addr, &s.creds.token]), "the Node client");
    assert_eq!(sent.len(), 63);
    let exported = s.export("").await;
    compare(&sent, &exported, "node");
}

/// A server with the self-signed HTTPS listener beside HTTP.
fn https_server() -> TestServer {
    TestServer::start_with_config(&format!("{RELAXED_LIMITS}[tls]\nself_signed = true\nlisten = \"127.0.0.1:0\"\n"))
}

#[tokio::test]
async fn official_python_client_over_https() {
    let s = https_server();
    let python = std::env::var("SEXTANT_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let c = &s.creds;
    let base = s.https_url("");
    let sent = run(
        Command::new(python)
            .arg(clients_dir().join("python_sdk.py"))
            .args([&base, &c.token, &c.project_id.to_string(), &c.sa_user, &c.sa_secret, &c.secret])
            // `requests` trusts the authority the server printed.
            .env("REQUESTS_CA_BUNDLE", s.ca_cert.as_ref().unwrap()),
        "the Python client over HTTPS",
    );
    assert_eq!(sent.len(), 10);
    let mut exported = s.export("").await;
    let old_day = sent.iter().filter_map(|e| e.get("time").and_then(Value::as_i64)).min().unwrap();
    exported.extend(s.export_range(&ymd(old_day - 86_400), &ymd(old_day + 86_400), "").await);
    compare(&sent, &exported, "python");
}

#[tokio::test]
async fn official_node_client_over_https_with_import() {
    let s = https_server();
    let dir = clients_dir();
    assert!(dir.join("node_modules/mixpanel").exists(), "run scripts/test to install the Node client");
    let c = &s.creds;
    let host = s.https_url("").trim_start_matches("https://").to_string();
    let sent = run(
        Command::new("node")
            .arg(dir.join("node_sdk_https.js"))
            .args([&host, &c.token, &c.sa_user, &c.sa_secret, &c.project_id.to_string(), &c.secret])
            .env("NODE_EXTRA_CA_CERTS", s.ca_cert.as_ref().unwrap()),
        "the Node client over HTTPS",
    );
    assert_eq!(sent.len(), 123);
    let old_ms = sent.iter().filter_map(|e| e.get("time_ms").and_then(Value::as_i64)).min().unwrap();
    let mut exported = s.export("").await;
    exported.extend(s.export_range(&ymd(old_ms / 1000 - 86_400), &ymd(old_ms / 1000 + 86_400), "").await);
    compare(&sent, &exported, "node");
}
