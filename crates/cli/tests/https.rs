//! HTTPS: the self-signed mode and operator-provided certificates, beside plain HTTP.
//! (The official clients over HTTPS are in `sdk_clients.rs`.)

mod common;

use std::process::Command;

use common::*;
use serde_json::{Value, json};

fn self_signed_config() -> String {
    format!("{RELAXED_LIMITS}[tls]\nself_signed = true\nlisten = \"127.0.0.1:0\"\n")
}

#[tokio::test]
async fn self_signed_mode_serves_https_beside_http_and_keeps_its_authority() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    std::fs::create_dir_all(&dir).unwrap();
    let mut s = TestServer::start_in_with(&dir, &self_signed_config());
    let ca = s.ca_cert.clone().expect("the server names the certificate to trust");
    assert_eq!(ca, dir.join("tls/ca.crt"));
    let https = s.https_client();

    let health = https.get(s.https_url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(s.http.get(s.url("/healthz")).send().await.unwrap().status(), 200, "HTTP still answers");

    // Events in over HTTPS (/track with the token, /import with the secret), out over HTTPS.
    let m = marker();
    let t = https
        .post(s.https_url("/track"))
        .json(&json!([{"event": "tls", "properties": {"token": s.creds.token, "distinct_id": "u", "m": m}}]))
        .send()
        .await
        .unwrap();
    assert_eq!(t.text().await.unwrap(), "1");
    let i = https
        .post(s.https_url("/import?strict=1"))
        .basic_auth(&s.creds.secret, Some(""))
        .json(&json!([{"event": "tls", "properties": {"distinct_id": "u", "time": now_ms(), "$insert_id": "a1", "m": m}}]))
        .send()
        .await
        .unwrap();
    assert_eq!(i.status(), 200, "{}", i.text().await.unwrap());
    let (from, to) = chrono_like_today();
    let exported = https
        .get(s.https_url(&format!("/api/2.0/export?from_date={from}&to_date={to}")))
        .basic_auth(&s.creds.secret, Some(""))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let events: Vec<Value> = exported.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(with_marker(&events, &m).len(), 2);

    // A client that does not trust the authority is refused: this really is TLS.
    let untrusting = reqwest::Client::builder().build().unwrap();
    assert!(untrusting.get(s.https_url("/healthz")).send().await.is_err());

    // A restart keeps the authority, so clients that trust it keep working.
    let before = std::fs::read(&ca).unwrap();
    s.stop();
    let s2 = TestServer::start_in_with(&dir, &self_signed_config());
    assert_eq!(std::fs::read(&ca).unwrap(), before);
    let again = https.get(s2.https_url("/readyz")).send().await.unwrap();
    assert_eq!(again.status(), 200);
}

/// A certificate authority and a server certificate for `localhost`, as PEM files.
fn operator_certificate(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf, Vec<u8>) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_string()]).unwrap().signed_by(&key, &issuer).unwrap();
    let cert_path = dir.join("server.pem");
    let key_path = dir.join("server.key");
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (cert_path, key_path, ca_cert.pem().into_bytes())
}

#[tokio::test]
async fn operator_certificate_and_key_files() {
    let tmp = tempfile::tempdir().unwrap();
    let (cert, key, ca_pem) = operator_certificate(tmp.path());
    let config = format!("{RELAXED_LIMITS}[tls]\nlisten = \"127.0.0.1:0\"\ncert = {:?}\nkey = {:?}\n", cert, key);
    let s = TestServer::start_with_config(&config);
    assert!(s.ca_cert.is_none(), "no authority is created when the operator brings a certificate");
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca_pem).unwrap())
        .build()
        .unwrap();
    let r = client
        .get(s.https_url(&format!(
            "/track?data={}",
            b64(&format!(r#"{{"event":"e","properties":{{"token":"{}"}}}}"#, s.creds.token))
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "1");
}

#[test]
fn unusable_tls_settings_stop_the_server_with_a_clear_message() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(binary())
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(tmp.path().join("data"))
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} should not start");
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let missing = tmp.path().join("nope.pem");
    let missing = missing.to_str().unwrap();
    let err = run(&["--tls-listen", "127.0.0.1:0", "--tls-cert", missing, "--tls-key", missing]);
    assert!(err.contains("nope.pem"), "{err}");
    let garbage = tmp.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    let garbage = garbage.to_str().unwrap();
    let err = run(&["--tls-cert", garbage, "--tls-key", garbage]);
    assert!(err.contains("garbage.pem"), "{err}");
    let err = run(&["--tls-listen", "127.0.0.1:0"]);
    assert!(err.contains("--tls-self-signed"), "{err}");
}
