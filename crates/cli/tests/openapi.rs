//! The served OpenAPI document: it lists every endpoint, and schemathesis (from PyPI,
//! installed by `scripts/test` into the test virtualenv) finds no server error and no
//! response that breaks the document, for a bounded number of generated requests.

mod common;

use std::process::Command;

use common::*;
use serde_json::{Value, json};

/// Every limit lifted: schemathesis sends hundreds of requests a second.
const UNLIMITED: &str = "[rate_limits.default.export]\nper_second = 0\nper_hour = 0\nconcurrent = 0\n\
                         [rate_limits.default.query]\nper_hour = 0\nconcurrent = 0\n\
                         [rate_limits.default.jql]\nper_hour = 0\nconcurrent = 0\n\
                         [rate_limits.default.app]\nper_minute = 0\n\
                         [rate_limits.default.lexicon]\nper_minute = 0\nitems_per_minute = 0\n\
                         [rate_limits.default.gdpr]\nper_second = 0\n\
                         [rate_limits.default.pipelines]\nper_minute = 0\n\
                         [rate_limits.client_failures]\nburst = 0\n";

#[tokio::test]
async fn the_document_lists_every_endpoint_with_its_family_errors() {
    let s = TestServer::start();
    let doc: Value = s.http.get(s.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    // Operation ids are unique, as OpenAPI requires and generated clients rely on.
    let ids: Vec<&str> = paths
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .filter_map(|op| op.get("operationId").and_then(Value::as_str))
        .collect();
    let unique: std::collections::BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(ids.len(), unique.len(), "repeated operation ids");
    assert!(unique.contains("get_api_query_segmentation"));
    for (path, methods) in [
        ("/track", &["get", "post"][..]),
        ("/import", &["get", "post"]),
        ("/engage", &["get", "post"]),
        ("/groups", &["get", "post"]),
        ("/api/query/engage", &["get", "post"]),
        ("/api/2.0/engage", &["get", "post"]),
        ("/api/query/stream/query", &["get"]),
        ("/api/2.0/stream/query", &["get"]),
        ("/api/query/segmentation", &["get"]),
        ("/api/2.0/segmentation", &["get"]),
        ("/api/query/segmentation/numeric", &["get"]),
        ("/api/2.0/segmentation/numeric", &["get"]),
        ("/api/query/segmentation/sum", &["get"]),
        ("/api/2.0/segmentation/sum", &["get"]),
        ("/api/query/segmentation/average", &["get"]),
        ("/api/2.0/segmentation/average", &["get"]),
        ("/api/query/events", &["get"]),
        ("/api/2.0/events", &["get"]),
        ("/api/query/events/top", &["get"]),
        ("/api/2.0/events/top", &["get"]),
        ("/api/query/events/names", &["get"]),
        ("/api/2.0/events/names", &["get"]),
        ("/api/query/events/properties", &["get"]),
        ("/api/2.0/events/properties", &["get"]),
        ("/api/query/events/properties/top", &["get"]),
        ("/api/2.0/events/properties/top", &["get"]),
        ("/api/query/events/properties/values", &["get"]),
        ("/api/2.0/events/properties/values", &["get"]),
        ("/api/query/insights", &["get"]),
        ("/api/2.0/insights", &["get"]),
        ("/api/app/projects/{project_id}/bookmarks", &["get", "post"]),
        ("/api/app/projects/{project_id}/bookmarks/{bookmark_id}", &["get", "delete"]),
        ("/api/query/cohorts/list", &["get", "post"]),
        ("/api/2.0/cohorts/list", &["get", "post"]),
        ("/api/app/projects/{project_id}/cohorts", &["get", "post"]),
        ("/api/app/projects/{project_id}/cohorts/{cohort_id}", &["get", "patch", "delete"]),
        ("/api/2.0/export", &["get"]),
        ("/api/query/jql", &["post"]),
        ("/api/2.0/jql", &["post"]),
        ("/api/app/projects/{project_id}/api-tokens", &["get", "post"]),
        ("/api/app/projects/{project_id}/api-tokens/{token_id}", &["delete"]),
        ("/api/app/projects/{project_id}/service-accounts", &["get"]),
        ("/api/app/projects/{project_id}/annotations", &["get", "post"]),
        ("/api/app/projects/{project_id}/annotations/{annotation_id}", &["get", "patch", "delete"]),
        ("/api/app/projects/{project_id}/annotations/tags", &["get", "post"]),
        ("/api/app/projects/{project_id}/schemas", &["get", "post", "delete"]),
        ("/api/app/projects/{project_id}/schemas/{entity_type}", &["get", "delete"]),
        ("/api/app/projects/{project_id}/schemas/{entity_type}/{name}", &["get", "post", "delete"]),
        ("/api/app/organizations/{organization_id}/service-accounts", &["get", "post"]),
        ("/api/app/organizations/{organization_id}/service-accounts/{service_account_id}", &["get", "delete"]),
        ("/api/app/organizations/{organization_id}/service-accounts/add-to-project", &["post"]),
        ("/api/app/organizations/{organization_id}/service-accounts/remove-from-project", &["post"]),
        ("/api/query/funnels", &["get"]),
        ("/api/2.0/funnels", &["get"]),
        ("/api/query/funnels/list", &["get"]),
        ("/api/2.0/funnels/list", &["get"]),
        ("/api/app/projects/{project_id}/funnels", &["get", "post"]),
        ("/api/app/projects/{project_id}/funnels/{funnel_id}", &["get", "patch", "delete"]),
        ("/api/query/retention", &["get"]),
        ("/api/2.0/retention", &["get"]),
        ("/api/query/retention/addiction", &["get"]),
        ("/api/2.0/retention/addiction", &["get"]),
        ("/lookup-tables", &["get"]),
        ("/lookup-tables/{id}", &["put"]),
        ("/api/app/projects/{project_id}/lookup-tables", &["get", "post"]),
        ("/api/app/projects/{project_id}/lookup-tables/{table_id}", &["get", "patch", "delete"]),
        ("/api/app/organizations/{organization_id}/projects", &["get", "post"]),
        ("/api/app/organizations/{organization_id}/projects/{project_id}", &["get", "patch", "delete"]),
        ("/api/app/organizations/{organization_id}/backups", &["post"]),
        ("/api/app/organizations/{organization_id}/backups/{name}", &["get"]),
        ("/api/app/projects/{project_id}", &["get"]),
        ("/api/app/projects/{project_id}/workspaces", &["get", "post"]),
        ("/api/app/projects/{project_id}/workspaces/{workspace_id}", &["get", "patch", "delete"]),
        ("/flags", &["get", "post"]),
        ("/flags/definitions", &["get"]),
        ("/api/app/projects/{project_id}/workspaces/{workspace_id}/feature-flags", &["get", "post"]),
        ("/api/app/projects/{project_id}/workspaces/{workspace_id}/feature-flags/{flag_id}", &["get", "put", "delete"]),
        ("/api/app/workspaces/{workspace_id}/experiments", &["get", "post"]),
        ("/api/app/workspaces/{workspace_id}/experiments/{experiment_id}", &["get", "patch", "delete"]),
        ("/api/app/workspaces/{workspace_id}/experiments/{experiment_id}/archive", &["post", "delete"]),
        ("/api/app/workspaces/{workspace_id}/experiments/{experiment_id}/launch", &["put"]),
        ("/api/app/workspaces/{workspace_id}/experiments/{experiment_id}/force_conclude", &["put"]),
        ("/api/app/workspaces/{workspace_id}/experiments/{experiment_id}/decide", &["patch"]),
        ("/api/app/workspaces/{workspace_id}/experiments/{experiment_id}/results", &["get"]),
        ("/api/app/data-retrievals/v3.0", &["post"]),
        ("/api/app/data-retrievals/v3.0/{tracking_id}", &["get"]),
        ("/api/app/data-retrievals/v3.0/{tracking_id}/archive", &["get"]),
        ("/api/app/data-deletions/v3.0", &["post"]),
        ("/api/app/data-deletions/v3.0/{tracking_id}", &["get", "delete"]),
        ("/api/app/opt-outs/v3.0", &["get", "post", "delete"]),
        ("/api/2.0/nessie/pipeline/jobs", &["get"]),
        ("/api/2.0/nessie/pipeline/create", &["post"]),
        ("/api/2.0/nessie/pipeline/edit", &["post"]),
        ("/api/2.0/nessie/pipeline/cancel", &["post"]),
        ("/api/2.0/nessie/pipeline/pause", &["post"]),
        ("/api/2.0/nessie/pipeline/resume", &["post"]),
        ("/api/2.0/nessie/pipeline/status", &["get"]),
        ("/api/2.0/nessie/pipeline/timeline", &["get"]),
        ("/api/app/projects/{project_id}/warehouse-sources", &["get", "post"]),
        ("/api/app/projects/{project_id}/warehouse-sources/{source_id}", &["get", "delete"]),
        ("/api/app/projects/{project_id}/warehouse-sources/imports", &["get"]),
        ("/api/app/projects/{project_id}/warehouse-sources/imports/event-stream", &["post"]),
        ("/api/app/projects/{project_id}/warehouse-sources/imports/people", &["post"]),
        ("/api/app/projects/{project_id}/warehouse-sources/imports/groups", &["post"]),
        ("/api/app/projects/{project_id}/warehouse-sources/imports/lookup-table", &["post"]),
        ("/api/app/projects/{project_id}/warehouse-sources/imports/{import_id}", &["get", "patch", "delete"]),
        ("/api/app/projects/{project_id}/warehouse-sources/imports/{import_id}/manual-sync", &["put"]),
        ("/api/app/projects/{project_id}/warehouse-sources/imports/{import_id}/history", &["get"]),
        ("/healthz", &["get"]),
        ("/readyz", &["get"]),
        ("/metrics", &["get"]),
        ("/openapi.json", &["get"]),
    ] {
        for m in methods {
            let op = &paths[path][*m];
            assert!(op.is_object(), "{m} {path} is not documented");
            assert!(op["summary"].is_string(), "{m} {path} has no summary");
            assert!(op["tags"][0].is_string(), "{m} {path} has no family tag");
        }
    }
    assert_eq!(paths.len(), 112, "an endpoint this test does not know: {:?}", paths.keys().collect::<Vec<_>>());
    // Family errors and rate limits are added to every operation of the family.
    let export = &paths["/api/2.0/export"]["get"]["responses"];
    assert_eq!(export["400"]["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/QueryErrorBody");
    assert!(export["429"]["headers"]["Retry-After"].is_object());
    let revoke = &paths["/api/app/projects/{project_id}/api-tokens/{token_id}"]["delete"]["responses"];
    assert_eq!(revoke["404"]["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/AppErrorBody");
    let replace = &paths["/lookup-tables/{id}"]["put"]["responses"];
    assert_eq!(replace["400"]["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/LookupErrorBody");
    assert!(doc["components"]["schemas"]["FailedRow"].is_object(), "nested schemas are included");
    let codes = &doc["components"]["schemas"]["ErrorCode"]["enum"];
    assert!(codes.as_array().unwrap().contains(&json!("RATE_LIMITED")), "{codes}");
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    // The document is served with a trailing slash too, like every path.
    assert_eq!(s.http.get(s.url("/openapi.json/")).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn schemathesis_finds_no_server_error_or_schema_violation() {
    let s = TestServer::start_with_config(UNLIMITED);
    // Something to export, and a token to revoke.
    s.import_ok(&[json!({"event": "seed", "properties": {"distinct_id": "u", "time": now_ms(), "$insert_id": "s1"}})])
        .await;
    let created: Value = s
        .http
        .post(s.url(&format!("/api/app/projects/{}/api-tokens", s.creds.project_id)))
        .basic_auth(&s.creds.secret, Some(""))
        .json(&json!({"families": ["export"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token_id = created["results"]["id"].as_i64().unwrap();
    let table = s.cli_json(&["lookup-table", "create", "--project", "1", "--name", "T", "--map", "event:k"]);
    let table_id = table["id"].as_str().unwrap().to_string();
    let funnel = s.cli_json(&["funnel", "create", "--project", "1", "--name", "F", "--step", "seed", "--step", "seed"]);
    let funnel_id = funnel["funnel_id"].as_i64().unwrap();
    let annotation: Value = s
        .http
        .post(s.url(&format!("/api/app/projects/{}/annotations", s.creds.project_id)))
        .basic_auth(&s.creds.secret, Some(""))
        .json(&json!({"date": "2026-01-02 10:00:00", "description": "seed"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let annotation_id = annotation["results"]["id"].as_i64().unwrap();
    let (source_id, import_id) = seed_warehouse_import(&s, &s.creds.secret, "").await;

    let work = tempfile::tempdir().unwrap();
    // Real identifiers for path and query parameters, so requests reach the handlers.
    std::fs::write(
        work.path().join("schemathesis.toml"),
        format!(
            "[parameters]\n\"path.project_id\" = {p}\n\"query.project_id\" = {p}\n\"path.token_id\" = {token_id}\n\"path.cohort_id\" = 1\n\
             \"path.id\" = \"{table_id}\"\n\"path.table_id\" = \"{table_id}\"\n\"path.bookmark_id\" = 1\n\
             \"path.funnel_id\" = {funnel_id}\n\"query.funnel_id\" = {funnel_id}\n\"path.annotation_id\" = {annotation_id}\n\"path.organization_id\" = 1\n\"path.service_account_id\" = 1\n\"path.workspace_id\" = 1\n\
             \"path.source_id\" = {source_id}\n\"path.import_id\" = {import_id}\n",
            p = s.creds.project_id
        ),
    )
    .unwrap();
    let (ok, report) = schemathesis(work.path(), &s.url("/openapi.json"), None, &format!("{}:", s.creds.secret), &[]);
    assert!(ok, "schemathesis found problems:\n{report}");
    assert!(report.contains("Tested: 163"), "every operation is tested:\n{report}");
}

/// The organisation's project routes, which take an organisation owner or admin (the
/// first start's service account) rather than a project's secret: schemathesis as that
/// owner, on a spare project it may change and delete.
#[tokio::test]
async fn schemathesis_on_the_organisation_project_routes_as_their_owner() {
    let s = TestServer::start_with_config(UNLIMITED);
    let spare = s.cli_json(&["project", "create", "--name", "spare"]);
    let work = tempfile::tempdir().unwrap();
    std::fs::write(
        work.path().join("schemathesis.toml"),
        format!(
            "[parameters]\n\"path.organization_id\" = {}\n\"path.project_id\" = {}\n",
            s.organization(),
            spare["id"].as_i64().unwrap()
        ),
    )
    .unwrap();
    let auth = format!("{}:{}", s.creds.sa_user, s.creds.sa_secret);
    let (ok, report) = schemathesis_checking(
        work.path(),
        &s.url("/openapi.json"),
        None,
        &auth,
        &[],
        ALL_CHECKS,
        &["--include-path-regex", "^/api/app/organizations/[^/]+/projects"],
    );
    assert!(ok, "schemathesis found problems:\n{report}");
    assert!(report.contains("Tested: 5"), "every operation is tested:\n{report}");
}

/// Mixpanel's own ingestion spec (`schemathesis/mixpanel-ingestion.openapi.yaml`, copied
/// from its published OpenAPI documents, MIT), completed only with the answers its own
/// parameter descriptions promise (`schemathesis/complete_spec.py`): no status, content
/// type or body of ours breaks it. Records carry the project's real token
/// (`schemathesis/real_token.py`), so requests get past authentication to storage.
#[tokio::test]
async fn mixpanel_ingestion_spec_finds_no_violation() {
    let s = TestServer::start_with_config(&format!(
        "{UNLIMITED}[rate_limits.default.lookup_tables]\nper_day = 0\n[rate_limits.default.ingestion]\nbytes_per_minute = 0\n"
    ));
    let table = s.cli_json(&["lookup-table", "create", "--project", "1", "--name", "T", "--map", "event:k"]);
    let table_id = table["id"].as_str().unwrap();
    let work = tempfile::tempdir().unwrap();
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis");
    let spec = work.path().join("ingestion.yaml");
    let out = Command::new(python())
        .arg(here.join("complete_spec.py"))
        .arg(here.join("mixpanel-ingestion.openapi.yaml"))
        .arg(&spec)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::write(
        work.path().join("schemathesis.toml"),
        format!("[parameters]\n\"query.project_id\" = \"{}\"\n\"path.id\" = \"{table_id}\"\n", s.creds.project_id),
    )
    .unwrap();
    let auth = format!("{}:{}", s.creds.sa_user, s.creds.sa_secret);
    let hooks = [
        ("PYTHONPATH", here.to_str().unwrap()),
        ("SCHEMATHESIS_HOOKS", "real_token"),
        ("SEXTANT_TOKEN", s.creds.token.as_str()),
    ];
    let (ok, report) = schemathesis(work.path(), spec.to_str().unwrap(), Some(&s.url("")), &auth, &hooks);
    assert!(ok, "schemathesis found problems with Mixpanel's ingestion spec:\n{report}");
    assert!(report.contains("Tested: 20"), "every operation is tested:\n{report}");
    assert!(!report.contains("Authentication failed"), "requests got past authentication:\n{report}");
}

/// Mixpanel's annotations spec (`schemathesis/mixpanel-annotations.openapi.yaml`,
/// copied from its published documents, MIT) against the server at `/api/app`: no
/// server error and no answer that breaks a schema the spec gives. (The spec documents
/// only 200, 401 and 403, so a refused date or an unknown id, 400 and 404 in the App
/// API's error shape, are checked as well-formed, not as documented.)
#[tokio::test]
async fn mixpanel_annotations_spec_finds_no_server_error_or_schema_violation() {
    let s = TestServer::start_with_config(UNLIMITED);
    let annotations = s.url(&format!("/api/app/projects/{}/annotations", s.creds.project_id));
    let tag: Value = s
        .http
        .post(format!("{annotations}/tags"))
        .basic_auth(&s.creds.secret, Some(""))
        .json(&json!({"name": "launch"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for day in 1..=3 {
        let body = json!({"date": format!("2026-01-0{day} 10:00:00"), "description": "seed", "tags": [tag["id"]]});
        let r = s.http.post(&annotations).basic_auth(&s.creds.secret, Some("")).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 201);
    }
    let parameters = format!("\"path.projectId\" = {}\n\"path.annotationId\" = 2\n", s.creds.project_id);
    mixpanel_app_spec(&s, "mixpanel-annotations.openapi.yaml", &parameters);
}

/// Mixpanel's Query API spec (`schemathesis/mixpanel-query.openapi.yaml`, copied from
/// its published documents, MIT), its `/jql` operation against the server at
/// `/api/query` as the first start's service account: no server error and no answer
/// that breaks the spec's schema. (Random scripts mostly fail to parse: 400s in the
/// Query API's error shape, which the spec does not document.)
#[tokio::test]
async fn mixpanel_query_spec_jql_finds_no_server_error_or_schema_violation() {
    let s = TestServer::start_with_config(UNLIMITED);
    s.import_ok(&[json!({"event": "seed", "properties": {"distinct_id": "u", "time": now_ms(), "$insert_id": "s1"}})])
        .await;
    let work = tempfile::tempdir().unwrap();
    std::fs::write(
        work.path().join("schemathesis.toml"),
        format!("[parameters]\n\"query.project_id\" = {}\n", s.creds.project_id),
    )
    .unwrap();
    let spec = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis/mixpanel-query.openapi.yaml");
    let auth = format!("{}:{}", s.creds.sa_user, s.creds.sa_secret);
    let (ok, report) = schemathesis_checking(
        work.path(),
        spec.to_str().unwrap(),
        Some(&s.url("/api/query")),
        &auth,
        &[],
        "not_a_server_error,response_schema_conformance",
        &["--include-path-regex", "^/jql$"],
    );
    assert!(ok, "schemathesis found problems with Mixpanel's /jql:\n{report}");
    assert!(report.contains("Tested: 1"), "the operation is tested:\n{report}");
}

/// A flag for the feature-flag specs to find: enabled, with an experiment, in the
/// default workspace (1). Returns its id.
async fn seed_flag(s: &TestServer) -> String {
    let body = json!({
        "name": "Seed", "key": "seed_flag", "tags": [], "context": "distinct_id", "serving_method": "server",
        "status": "enabled", "experiment_id": "00000000-0000-4000-8000-000000000001", "is_experiment_active": true,
        "ruleset": {
            "variants": [
                {"key": "control", "value": "a", "is_control": true, "split": 0.5},
                {"key": "treatment", "value": "b", "is_control": false, "split": 0.5}
            ],
            "rollout": [{"rollout_percentage": 1.0, "variant_splits": {},
                         "runtime_evaluation_rule": {"==": [{"var": "plan"}, "gold"]}}],
            "test": {"users": {"qa": "treatment"}}
        }
    });
    let url = s.url(&format!("/api/app/projects/{}/workspaces/1/feature-flags", s.creds.project_id));
    let made: Value =
        s.http.post(url).basic_auth(&s.creds.secret, Some("")).json(&body).send().await.unwrap().json().await.unwrap();
    made["results"]["id"].as_str().unwrap().to_string()
}

/// Mixpanel's feature-flag management spec
/// (`schemathesis/mixpanel-feature-flags-management.openapi.yaml`, copied from its
/// published documents, MIT) against the server at `/api/app`: no server error and no
/// answer that breaks one of its schemas (which allow no field they do not name).
#[tokio::test]
async fn mixpanel_feature_flags_management_spec_finds_no_server_error_or_schema_violation() {
    let s = TestServer::start_with_config(UNLIMITED);
    let flag = seed_flag(&s).await;
    let parameters = format!(
        "\"path.project_id\" = {}\n\"path.workspace_id\" = 1\n\"path.flag_id\" = \"{flag}\"\n",
        s.creds.project_id
    );
    mixpanel_app_spec(&s, "mixpanel-feature-flags-management.openapi.yaml", &parameters);
}

/// Mixpanel's experiments spec (`schemathesis/mixpanel-experiments.openapi.yaml`, copied
/// from its published documents, MIT) against the server at `/api/app`, with a flag and
/// an experiment reading it to find: no server error and no answer that breaks one of its
/// schemas.
#[tokio::test]
async fn mixpanel_experiments_spec_finds_no_server_error_or_schema_violation() {
    let s = TestServer::start_with_config(UNLIMITED);
    let flag = seed_flag(&s).await;
    let made: Value = s
        .http
        .post(s.url("/api/app/workspaces/1/experiments"))
        .basic_auth(&s.creds.secret, Some(""))
        .json(&json!({"name": "Seed", "settings": {"feature_flag_id": flag}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let experiment = made["results"]["id"].as_str().unwrap().to_string();
    let parameters = format!("\"path.workspace_id\" = 1\n\"path.experiment_id\" = \"{experiment}\"\n");
    mixpanel_app_spec(&s, "mixpanel-experiments.openapi.yaml", &parameters);
}

/// Mixpanel's feature-flag evaluation spec (`schemathesis/mixpanel-feature-flags.openapi.yaml`)
/// against the server's root, as the first start's service account with `project_id`:
/// no server error and no answer that breaks its schemas.
#[tokio::test]
async fn mixpanel_feature_flags_spec_finds_no_server_error_or_schema_violation() {
    let s = TestServer::start_with_config(UNLIMITED);
    seed_flag(&s).await;
    let work = tempfile::tempdir().unwrap();
    std::fs::write(
        work.path().join("schemathesis.toml"),
        format!("[parameters]\n\"query.project_id\" = \"{}\"\n", s.creds.project_id),
    )
    .unwrap();
    let spec =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis/mixpanel-feature-flags.openapi.yaml");
    let auth = format!("{}:{}", s.creds.sa_user, s.creds.sa_secret);
    let (ok, report) = schemathesis_checking(
        work.path(),
        spec.to_str().unwrap(),
        Some(&s.url("")),
        &auth,
        &[],
        "not_a_server_error,response_schema_conformance",
        &[],
    );
    assert!(ok, "schemathesis found problems with Mixpanel's feature flags spec:\n{report}");
    assert!(report.contains("Tested: 2"), "every operation is tested:\n{report}");
}

/// Mixpanel's GDPR spec (`schemathesis/mixpanel-gdpr.openapi.yaml`, copied from its
/// published documents, MIT) against the server at `/api/app`, with the project secret
/// (the spec's OAuth token stands for a credential that may request GDPR jobs), the
/// project token as `token` and a real job's id: no server error and no answer that
/// breaks one of its schemas.
#[tokio::test]
async fn mixpanel_gdpr_spec_finds_no_server_error_or_schema_violation() {
    let s = TestServer::start_with_config(UNLIMITED);
    s.import_ok(&[json!({"event": "seed", "properties": {"distinct_id": "u", "time": now_ms(), "$insert_id": "s1"}})])
        .await;
    let url = s.url(&format!("/api/app/data-deletions/v3.0?token={}", s.creds.token));
    let (_, created) =
        send(s.http.post(url).basic_auth(&s.creds.secret, Some("")).json(&json!({"distinct_ids": ["u"]}))).await;
    let id = created["results"]["task_id"].as_str().unwrap().to_string();
    let work = tempfile::tempdir().unwrap();
    std::fs::write(
        work.path().join("schemathesis.toml"),
        format!("[parameters]\n\"query.token\" = \"{}\"\n\"path.tracking_id\" = \"{id}\"\n", s.creds.token),
    )
    .unwrap();
    let spec = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis/mixpanel-gdpr.openapi.yaml");
    let (ok, report) = schemathesis_checking(
        work.path(),
        spec.to_str().unwrap(),
        Some(&s.url("/api/app")),
        &format!("{}:", s.creds.secret),
        &[],
        "not_a_server_error,response_schema_conformance",
        &[],
    );
    assert!(ok, "schemathesis found problems with Mixpanel's GDPR spec:\n{report}");
    assert!(report.contains("Tested: 5"), "every operation is tested:\n{report}");
}

/// Mixpanel's Data Pipelines spec (`schemathesis/mixpanel-data-pipelines.openapi.yaml`,
/// copied from its published documents, MIT) against the server at `/api/2.0`, with the
/// project secret and a real pipeline's name: no server error and no answer that
/// breaks one of its schemas (the types it names that Sextant does not write are 400s
/// in its `ErrorResponse`).
#[tokio::test]
async fn mixpanel_data_pipelines_spec_finds_no_server_error_or_schema_violation() {
    let s = TestServer::start_with_config(UNLIMITED);
    s.import_ok(&[
        json!({"event": "seed", "properties": {"distinct_id": "u", "time": now_ms() - 86_400_000, "$insert_id": "s1"}}),
    ])
    .await;
    let from = ymd(now_ms() / 1000 - 86_400);
    let create = s.http.post(s.url("/api/2.0/nessie/pipeline/create")).basic_auth(&s.creds.secret, Some(""));
    let (status, created) = send(create.form(&[("type", "fs-raw"), ("from_date", from.as_str())])).await;
    assert_eq!(status, 200, "{created}");
    let work = tempfile::tempdir().unwrap();
    std::fs::write(
        work.path().join("schemathesis.toml"),
        format!(
            "[parameters]\n\"query.project_id\" = {}\n\"query.name\" = \"events-daily-fs-raw\"\n",
            s.creds.project_id
        ),
    )
    .unwrap();
    let spec = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/schemathesis/mixpanel-data-pipelines.openapi.yaml");
    let (ok, report) = schemathesis_checking(
        work.path(),
        spec.to_str().unwrap(),
        Some(&s.url("/api/2.0")),
        &format!("{}:", s.creds.secret),
        &[],
        "not_a_server_error,response_schema_conformance",
        &[],
    );
    assert!(ok, "schemathesis found problems with Mixpanel's Data Pipelines spec:\n{report}");
    assert!(report.contains("Tested: 8"), "every operation is tested:\n{report}");
}

/// Mixpanel's Lexicon Schemas spec (`schemathesis/mixpanel-lexicon-schemas.openapi.yaml`,
/// copied from its published documents, MIT) against the server at `/api/app`, with a few
/// schemas declared first so reads and deletes find something: no server error and no
/// answer that breaks one of its schemas.
#[tokio::test]
async fn mixpanel_lexicon_spec_finds_no_server_error_or_schema_violation() {
    let s = TestServer::start_with_config(UNLIMITED);
    let schemas = s.url(&format!("/api/app/projects/{}/schemas", s.creds.project_id));
    let entries: Vec<Value> = ["Purchase", "Sign Up", "Added To Cart"]
        .iter()
        .map(|name| {
            json!({"entityType": "event", "name": name,
                   "schemaJson": {"description": "seed", "properties": {"amount": {"type": "number"}}}})
        })
        .collect();
    let r = s
        .http
        .post(&schemas)
        .basic_auth(&s.creds.secret, Some(""))
        .json(&json!({"entries": entries}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let parameters = format!("\"path.projectId\" = {}\n", s.creds.project_id);
    mixpanel_app_spec(&s, "mixpanel-lexicon-schemas.openapi.yaml", &parameters);
}

/// Mixpanel's service-accounts spec (`schemathesis/mixpanel-service-accounts.openapi.yaml`,
/// copied from its published documents, MIT) against the server at `/api/app`, as the
/// organisation's owner: no server error and no answer that breaks one of its schemas.
#[tokio::test]
async fn mixpanel_service_accounts_spec_finds_no_server_error_or_schema_violation() {
    let s = TestServer::start_with_config(UNLIMITED);
    let boot: Value = serde_json::from_str(&std::fs::read_to_string(s.dir.join("bootstrap.json")).unwrap()).unwrap();
    let org = boot["organization_id"].as_i64().unwrap();
    let parameters = format!(
        "\"path.organizationId\" = {org}\n\"path.projectId\" = {}\n\"path.serviceAccountId\" = 1\n",
        s.creds.project_id
    );
    mixpanel_app_spec(&s, "mixpanel-service-accounts.openapi.yaml", &parameters);
}

/// A warehouse source (PostgreSQL, on a port nothing listens on) and an import of it,
/// made with `user:password`: their ids.
async fn seed_warehouse_import(s: &TestServer, user: &str, password: &str) -> (i64, i64) {
    let base = format!("/api/app/projects/{}/warehouse-sources", s.creds.project_id);
    let source = json!({"name": "seed", "type": "postgres", "url": "postgres://etl@127.0.0.1:9/dw"});
    let r = s.http.post(s.url(&base)).basic_auth(user, Some(password)).json(&source);
    let (status, source) = send(r).await;
    assert_eq!(status, 201, "{source}");
    let source_id = source["results"]["id"].as_i64().unwrap();
    let import = json!({"import_type": "event_stream", "warehouse_source_id": source_id,
                        "table_params": {"table_name": "events"}, "event_name": "Seed", "time_column_name": "at",
                        "user_column_name": "user_id", "sync_mode": "full_sync", "run_every": 0});
    let r = s.http.post(s.url(&format!("{base}/imports/event-stream"))).basic_auth(user, Some(password)).json(&import);
    let (status, import) = send(r).await;
    assert_eq!(status, 200, "{import}");
    (source_id, import["results"]["id"].as_i64().unwrap())
}

/// Mixpanel's Warehouse Connectors spec
/// (`schemathesis/mixpanel-warehouse-connectors.openapi.yaml`, copied from its published
/// documents, MIT) against the server at `/api/app`, as the organisation's owner, with a
/// real import (of a source that cannot be reached, so its runs fail fast): no server
/// error and no answer that breaks one of its schemas.
#[tokio::test]
async fn mixpanel_warehouse_connectors_spec_finds_no_server_error_or_schema_violation() {
    let s = TestServer::start_with_config(UNLIMITED);
    let (_, import_id) = seed_warehouse_import(&s, &s.creds.sa_user, &s.creds.sa_secret).await;
    let parameters = format!("\"path.projectId\" = {}\n\"path.importId\" = {import_id}\n", s.creds.project_id);
    mixpanel_app_spec(&s, "mixpanel-warehouse-connectors.openapi.yaml", &parameters);
}

/// Runs schemathesis with one of Mixpanel's App API specs (a file of
/// `tests/schemathesis/`) against the server at `/api/app`, as the organisation's owner,
/// with these `[parameters]`, checking for server errors and for answers that break the
/// spec's schemas (what the issue asks of them: the specs document few statuses), and
/// that every operation was tested.
fn mixpanel_app_spec(s: &TestServer, file: &str, parameters: &str) {
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("schemathesis.toml"), format!("[parameters]\n{parameters}")).unwrap();
    let spec = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis").join(file);
    let spec_text = std::fs::read_to_string(&spec).unwrap();
    let operations = spec_text.matches("operationId:").count();
    let auth = format!("{}:{}", s.creds.sa_user, s.creds.sa_secret);
    let (ok, report) = schemathesis_checking(
        work.path(),
        spec.to_str().unwrap(),
        Some(&s.url("/api/app")),
        &auth,
        &[],
        "not_a_server_error,response_schema_conformance",
        &[],
    );
    assert!(ok, "schemathesis found problems with Mixpanel's {file}:\n{report}");
    assert!(report.contains(&format!("Tested: {operations}")), "every operation is tested:\n{report}");
}

fn python() -> String {
    std::env::var("SEXTANT_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Runs schemathesis on the document at `location` (a URL, or a file describing the
/// server at `base`) from `dir`, where its `schemathesis.toml` is: the checks against
/// server errors and against the document, a fixed seed, and
/// `SEXTANT_SCHEMATHESIS_EXAMPLES` (40) examples an operation. Returns whether it
/// passed, and its report.
fn schemathesis(
    dir: &std::path::Path,
    location: &str,
    base: Option<&str>,
    auth: &str,
    env: &[(&str, &str)],
) -> (bool, String) {
    schemathesis_checking(dir, location, base, auth, env, ALL_CHECKS, &[])
}

/// Every check against server errors and against the document.
const ALL_CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance";

/// [`schemathesis`] with only `checks`, and `args` added to its command line.
fn schemathesis_checking(
    dir: &std::path::Path,
    location: &str,
    base: Option<&str>,
    auth: &str,
    env: &[(&str, &str)],
    checks: &str,
    args: &[&str],
) -> (bool, String) {
    let examples = std::env::var("SEXTANT_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "40".into());
    let python = python();
    let mut command = Command::new(&python);
    command.current_dir(dir).args(["-m", "schemathesis.cli", "run", location]);
    if let Some(base) = base {
        command.args(["--url", base]);
    }
    let out = command
        .args(["--auth", auth])
        .args(["--checks", checks])
        .args(["--max-examples", &examples, "--seed", "20261123", "--generation-database", "none", "--no-color"])
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}; run scripts/test to install schemathesis"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named"),
        "schemathesis is not installed in {python}; run scripts/test to install it:\n{stderr}"
    );
    (out.status.success(), format!("{stdout}\n{stderr}"))
}
