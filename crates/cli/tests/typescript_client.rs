//! The TypeScript client (`clients/typescript`): its types are generated from the
//! running server's `/openapi.json` and must compile; a required parameter the server
//! adds and the client does not send must fail that compilation; and its tests (Node's
//! test runner) pass against real servers, one with tiny rate limits. `scripts/test`
//! installs its npm dependencies.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::TestServer;
use serde_json::{Value, json};

fn package() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../clients/typescript")
}

/// Runs `node ARGS` in the package, answering its exit status and output.
fn node(args: &[&str], env: &[(&str, String)]) -> (bool, String) {
    let out = Command::new("node")
        .args(args)
        .current_dir(package())
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("node (scripts/test installs it)");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// Writes `doc` and generates the client's types from it.
fn generate(doc: &Value, dir: &Path) {
    let file = dir.join("openapi.json");
    std::fs::write(&file, serde_json::to_vec(doc).unwrap()).unwrap();
    let file = file.display().to_string();
    let (ok, out) =
        node(&["node_modules/openapi-typescript/bin/cli.js", &file, "--output", "src/generated/schema.ts"], &[]);
    assert!(ok, "openapi-typescript failed: {out}");
}

fn compile() -> (bool, String) {
    node(&["node_modules/typescript/bin/tsc", "-p", "."], &[])
}

#[tokio::test]
async fn the_typescript_client_compiles_against_the_document_and_passes_its_tests() {
    assert!(
        package().join("node_modules/openapi-typescript").exists(),
        "run scripts/test to install the TypeScript client's dependencies"
    );
    let server = TestServer::start();
    let limited =
        TestServer::start_with_config("[rate_limits.default.query]\nper_second = 1\nper_hour = 5\nconcurrent = 0\n");
    let doc: Value = server.http.get(server.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    let tmp = tempfile::tempdir().unwrap();

    // A parameter the server starts to require, which the client does not send: the
    // compilation fails, naming it.
    let mut changed = doc.clone();
    changed["paths"]["/api/query/segmentation"]["get"]["parameters"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "cohort_mode", "in": "query", "required": true, "schema": {"type": "string"}}));
    generate(&changed, tmp.path());
    let (ok, out) = compile();
    assert!(!ok && out.contains("cohort_mode"), "a new required parameter went unnoticed:\n{out}");

    // The document as it is: the client compiles and its tests pass.
    generate(&doc, tmp.path());
    let (ok, out) = compile();
    assert!(ok, "the client does not compile against the server's document:\n{out}");
    let env = [
        ("SEXTANT_URL", server.url.clone()),
        ("SEXTANT_SA_USER", server.creds.sa_user.clone()),
        ("SEXTANT_SA_SECRET", server.creds.sa_secret.clone()),
        ("SEXTANT_PROJECT_ID", server.creds.project_id.to_string()),
        ("SEXTANT_LIMITED_URL", limited.url.clone()),
        ("SEXTANT_LIMITED_SA_USER", limited.creds.sa_user.clone()),
        ("SEXTANT_LIMITED_SA_SECRET", limited.creds.sa_secret.clone()),
        ("SEXTANT_LIMITED_PROJECT_ID", limited.creds.project_id.to_string()),
    ];
    let (ok, out) = node(&["--test", "dist/test/"], &env);
    assert!(ok, "the TypeScript client's tests failed:\n{out}");
    assert!(out.contains("# pass 4"), "{out}");
}
