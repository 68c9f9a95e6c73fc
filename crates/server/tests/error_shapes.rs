//! Every documented route, in process (`tower::ServiceExt::oneshot` on the router the
//! server serves), answers a missing credential (401), a credential scoped to another
//! API family (403) and a malformed request (400) in the error shape of its family:
//! the Query API and export `{"request", "error"}`, the App API `{"status": "error",
//! "error", "error_code", "message"}`, lookup tables and `/import` `{"code", "error",
//! "status"}`. The routes come from the server's own OpenAPI document, so a new route
//! is in the table without anyone adding it.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sextant_server::config::{Config, ConfigOverrides};
use sextant_server::router::App;
use sextant_server::server::Server;
use tower::ServiceExt;

/// Rate limits lifted: the table sends several requests to each of about 70 routes.
const CONFIG: &str = "duckdb_memory_limit = \"1GB\"\n[rate_limits.default.query]\nper_hour = 0\nconcurrent = 0\n\
                      [rate_limits.default.export]\nper_second = 0\nper_hour = 0\n\
                      [rate_limits.default.gdpr]\nper_second = 0\n";

/// The families whose error shapes differ.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Family {
    Query,
    Export,
    App,
    LookupTables,
    Import,
}

impl Family {
    /// The family of a documented operation; `None` for routes that take no credential
    /// (health, metrics, the document) or answer errors in SDK reply styles (`/track`,
    /// `/engage`, `/groups`: `0`/`1`, verbose, JSONP or a pixel, as the client asks).
    fn of(method: &Method, path: &str) -> Option<Family> {
        match path {
            "/import" => Some(Family::Import),
            "/track" | "/engage" | "/groups" => None,
            "/api/2.0/export" => Some(Family::Export),
            p if p.starts_with("/lookup-tables") => Some(Family::LookupTables),
            // Data pipelines answer the spec's `ErrorResponse`, the App API's keys.
            p if p.starts_with("/api/app/") || p.starts_with("/api/2.0/nessie/") => Some(Family::App),
            p if p.starts_with("/api/query/") || p.starts_with("/api/2.0/") => {
                let _ = method;
                Some(Family::Query)
            }
            _ => None,
        }
    }

    /// The `families` of an API token that may not call this family.
    fn other_scope(self) -> &'static str {
        match self {
            Family::App => "query",
            _ => "app",
        }
    }

    /// Why `body` is not this family's error shape for `request_line`, if it is not.
    fn misfit(self, body: &Value, request_line: &str) -> Option<String> {
        let Some(object) = body.as_object() else { return Some("not a JSON object".into()) };
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        keys.sort_unstable();
        let text = |key: &str| object.get(key).and_then(Value::as_str).filter(|s| !s.is_empty());
        match self {
            Family::Query | Family::Export => {
                if keys != ["error", "request"] {
                    return Some(format!("keys {keys:?}, not request and error"));
                }
                if text("request") != Some(request_line) {
                    return Some(format!("request is {:?}, not {request_line:?}", object["request"]));
                }
                text("error").is_none().then(|| "no error text".into())
            }
            Family::App => {
                let wanted = ["error", "error_code", "message", "status"];
                if !wanted.iter().all(|k| keys.contains(k))
                    || keys.iter().any(|k| !wanted.contains(k) && *k != "details")
                {
                    return Some(format!("keys {keys:?}, not status, error, error_code, message"));
                }
                (object["status"] != "error" || text("error").is_none() || text("error_code").is_none())
                    .then(|| "status is not \"error\", or error or error_code is empty".into())
            }
            Family::LookupTables | Family::Import => {
                let wanted = ["code", "error", "status"];
                if !wanted.iter().all(|k| keys.contains(k))
                    || keys.iter().any(|k| !wanted.contains(k) && *k != "failed_records")
                {
                    return Some(format!("keys {keys:?}, not code, error, status"));
                }
                (!object["code"].is_u64() || text("error").is_none()).then(|| "code is not a number".into())
            }
        }
    }
}

struct Answer {
    status: StatusCode,
    body: Value,
}

async fn call(app: &App, request: Request<Body>) -> Answer {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    Answer { status, body }
}

fn request(method: &Method, uri: &str, auth: Option<&str>, body: &str) -> Request<Body> {
    let mut r = Request::builder().method(method.clone()).uri(uri);
    if let Some(value) = auth {
        r = r.header(header::AUTHORIZATION, value);
    }
    if !body.is_empty() {
        r = r.header(header::CONTENT_TYPE, "application/json");
    }
    r.body(Body::from(body.to_string())).unwrap()
}

fn basic(user: &str) -> String {
    use base64::Engine as _;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_errors_in_its_family_shape() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sextant.toml");
    std::fs::write(&file, CONFIG).unwrap();
    let overrides = ConfigOverrides { data_dir: Some(dir.path().join("data")), ..ConfigOverrides::default() };
    let config = Config::load(Some(&file), overrides).unwrap();
    let server = Server::open(&config).await.unwrap();
    let boot = server.bootstrap.clone().expect("a first start");
    let (project, secret) = (boot.project.project.id.0, basic(&boot.project.secret));
    let app = server.app();

    // API tokens of one family each, made through the App API.
    let mut tokens = std::collections::HashMap::new();
    for family in ["app", "query"] {
        let uri = format!("/api/app/projects/{project}/api-tokens");
        let body = json!({"name": family, "families": family}).to_string();
        let made = call(&app, request(&Method::POST, &uri, Some(&secret), &body)).await;
        assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
        tokens.insert(family, format!("Bearer {}", made.body["results"]["token"].as_str().unwrap()));
    }

    let document = call(&app, request(&Method::GET, "/openapi.json", None, "")).await.body;
    let mut checked = 0;
    let mut misfits = Vec::new();
    for (path, operations) in document["paths"].as_object().unwrap() {
        for (method, _) in operations.as_object().unwrap() {
            let Ok(method) = method.to_uppercase().parse::<Method>() else { continue };
            let Some(family) = Family::of(&method, path) else { continue };
            // The malformed id is the project's, or the organisation's on its routes.
            // Experiments' paths name the project through a workspace: its id stands in.
            let scope = if path.contains("{project_id}") { "{project_id}" } else { "{workspace_id}" };
            let concrete = |project_id: &str| {
                path.replace(scope, project_id)
                    .replace("{organization_id}", project_id)
                    .split('/')
                    .map(|part| if part.starts_with('{') { "1" } else { part })
                    .collect::<Vec<_>>()
                    .join("/")
            };
            let body = match family {
                // One event with no token: only a credential could let it in (a GET
                // without a body would be malformed before it is unauthenticated).
                Family::Import => r#"[{"event": "e", "properties": {"time": 1700000000, "distinct_id": "d"}}]"#,
                _ if matches!(method, Method::POST | Method::PUT | Method::PATCH) => "{}",
                _ => "",
            };
            let mut cases = vec![
                ("no credential", StatusCode::UNAUTHORIZED, concrete(&project.to_string()), None),
                (
                    "another family's token",
                    StatusCode::FORBIDDEN,
                    concrete(&project.to_string()),
                    Some(tokens[family.other_scope()].clone()),
                ),
            ];
            // Malformed: a project id (or workspace id) that is not a number, where the
            // request names one.
            // A route whose path names no project (the pipelines) takes it as `project_id`.
            let in_path = path.contains('{');
            match family {
                Family::App if in_path => {
                    cases.push(("a malformed project id", StatusCode::BAD_REQUEST, concrete("x"), Some(secret.clone())))
                }
                Family::App | Family::Query | Family::Export | Family::LookupTables => cases.push((
                    "a malformed project id",
                    StatusCode::BAD_REQUEST,
                    format!("{}?project_id=x", concrete(&project.to_string())),
                    Some(secret.clone()),
                )),
                Family::Import => {}
            }
            for (case, status, uri, auth) in cases {
                let answer = call(&app, request(&method, &uri, auth.as_deref(), body)).await;
                checked += 1;
                let problem = if answer.status != status {
                    Some(format!("status {} (body {})", answer.status, answer.body))
                } else {
                    family.misfit(&answer.body, &uri).map(|why| format!("{why}: {}", answer.body))
                };
                if let Some(problem) = problem {
                    misfits.push(format!("{method} {uri} ({family:?}), {case}: {problem}"));
                }
            }
        }
    }
    assert!(checked > 150, "only {checked} cases: did the document lose its routes?");
    assert!(misfits.is_empty(), "{} of {checked} answers out of shape:\n{}", misfits.len(), misfits.join("\n"));
}
