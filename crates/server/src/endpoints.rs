//! Every endpoint and what it takes to call it: the operation of the role and credential
//! matrix (`sextant_model::access::MATRIX`) its handler checks, open, or an
//! organisation's owners and admins. With the matrix this is the one table of who may
//! call what; `docs/access-matrix.md` is [`markdown`]'s rendering of both, a unit test
//! keeps it current, another checks that every documented route has a row here, and
//! `crates/cli/tests/access_matrix.rs` calls every row with every kind of credential
//! over HTTP and checks the answer is what the table says.

use sextant_model::access::{self, Operation, Principal, Rule};

/// What an endpoint requires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Guard {
    /// Nothing: health, metrics and the OpenAPI document.
    Open,
    /// The operation's row of the matrix, in the project the request names.
    Operation(Operation),
    /// A service account that is an owner or admin of the organisation in the path
    /// (the organisation's service accounts and projects).
    OrganizationAdmin,
}

/// One endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// The HTTP method, upper case.
    pub method: &'static str,
    /// The path, as the OpenAPI document spells it.
    pub path: &'static str,
    /// What calling it takes.
    pub guard: Guard,
}

const fn op(method: &'static str, path: &'static str, operation: Operation) -> Endpoint {
    Endpoint { method, path, guard: Guard::Operation(operation) }
}

const fn open(method: &'static str, path: &'static str) -> Endpoint {
    Endpoint { method, path, guard: Guard::Open }
}

const fn org(method: &'static str, path: &'static str) -> Endpoint {
    Endpoint { method, path, guard: Guard::OrganizationAdmin }
}

use Operation::{
    AppRead, AppWrite, CreateApiToken, EvaluateFlags, Export, Gdpr, Ingest, Jql, ListApiTokens, ListServiceAccounts,
    Pipelines, Query, ReadAnnotations, ReadFlags, ReadLexicon, ReadLookupTables, ReadProject, ReplaceLookupTable,
    RevokeApiToken, WriteAnnotations, WriteFlags, WriteLexicon,
};

/// Every endpoint, by family.
pub const ENDPOINTS: &[Endpoint] = &[
    // Ingestion.
    op("GET", "/track", Ingest),
    op("POST", "/track", Ingest),
    op("GET", "/import", Ingest),
    op("POST", "/import", Ingest),
    op("GET", "/engage", Ingest),
    op("POST", "/engage", Ingest),
    op("GET", "/groups", Ingest),
    op("POST", "/groups", Ingest),
    // Raw export.
    op("GET", "/api/2.0/export", Export),
    // JQL.
    op("POST", "/api/query/jql", Jql),
    op("POST", "/api/2.0/jql", Jql),
    // The Query API, at both prefixes.
    op("GET", "/api/query/cohorts/list", Query),
    op("POST", "/api/query/cohorts/list", Query),
    op("GET", "/api/2.0/cohorts/list", Query),
    op("POST", "/api/2.0/cohorts/list", Query),
    op("GET", "/api/query/engage", Query),
    op("POST", "/api/query/engage", Query),
    op("GET", "/api/2.0/engage", Query),
    op("POST", "/api/2.0/engage", Query),
    op("GET", "/api/query/events", Query),
    op("GET", "/api/2.0/events", Query),
    op("GET", "/api/query/events/names", Query),
    op("GET", "/api/2.0/events/names", Query),
    op("GET", "/api/query/events/properties", Query),
    op("GET", "/api/2.0/events/properties", Query),
    op("GET", "/api/query/events/properties/top", Query),
    op("GET", "/api/2.0/events/properties/top", Query),
    op("GET", "/api/query/events/properties/values", Query),
    op("GET", "/api/2.0/events/properties/values", Query),
    op("GET", "/api/query/events/top", Query),
    op("GET", "/api/2.0/events/top", Query),
    op("GET", "/api/query/funnels", Query),
    op("GET", "/api/2.0/funnels", Query),
    op("GET", "/api/query/funnels/list", Query),
    op("GET", "/api/2.0/funnels/list", Query),
    op("GET", "/api/query/insights", Query),
    op("GET", "/api/2.0/insights", Query),
    op("GET", "/api/query/retention", Query),
    op("GET", "/api/2.0/retention", Query),
    op("GET", "/api/query/retention/addiction", Query),
    op("GET", "/api/2.0/retention/addiction", Query),
    op("GET", "/api/query/segmentation", Query),
    op("GET", "/api/2.0/segmentation", Query),
    op("GET", "/api/query/segmentation/average", Query),
    op("GET", "/api/2.0/segmentation/average", Query),
    op("GET", "/api/query/segmentation/numeric", Query),
    op("GET", "/api/2.0/segmentation/numeric", Query),
    op("GET", "/api/query/segmentation/sum", Query),
    op("GET", "/api/2.0/segmentation/sum", Query),
    op("GET", "/api/query/stream/query", Query),
    op("GET", "/api/2.0/stream/query", Query),
    // Lookup tables.
    op("GET", "/lookup-tables", ReadLookupTables),
    op("PUT", "/lookup-tables/{id}", ReplaceLookupTable),
    // The App API: saved objects.
    op("GET", "/api/app/projects/{project_id}/bookmarks", AppRead),
    op("POST", "/api/app/projects/{project_id}/bookmarks", AppWrite),
    op("GET", "/api/app/projects/{project_id}/bookmarks/{bookmark_id}", AppRead),
    op("DELETE", "/api/app/projects/{project_id}/bookmarks/{bookmark_id}", AppWrite),
    op("GET", "/api/app/projects/{project_id}/cohorts", AppRead),
    op("POST", "/api/app/projects/{project_id}/cohorts", AppWrite),
    op("GET", "/api/app/projects/{project_id}/cohorts/{cohort_id}", AppRead),
    op("PATCH", "/api/app/projects/{project_id}/cohorts/{cohort_id}", AppWrite),
    op("DELETE", "/api/app/projects/{project_id}/cohorts/{cohort_id}", AppWrite),
    op("GET", "/api/app/projects/{project_id}/funnels", AppRead),
    op("POST", "/api/app/projects/{project_id}/funnels", AppWrite),
    op("GET", "/api/app/projects/{project_id}/funnels/{funnel_id}", AppRead),
    op("PATCH", "/api/app/projects/{project_id}/funnels/{funnel_id}", AppWrite),
    op("DELETE", "/api/app/projects/{project_id}/funnels/{funnel_id}", AppWrite),
    op("GET", "/api/app/projects/{project_id}/lookup-tables", AppRead),
    op("POST", "/api/app/projects/{project_id}/lookup-tables", AppWrite),
    op("GET", "/api/app/projects/{project_id}/lookup-tables/{table_id}", AppRead),
    op("PATCH", "/api/app/projects/{project_id}/lookup-tables/{table_id}", AppWrite),
    op("DELETE", "/api/app/projects/{project_id}/lookup-tables/{table_id}", AppWrite),
    // Warehouse connectors: Sextant's sources, Mixpanel's imports.
    op("GET", "/api/app/projects/{project_id}/warehouse-sources", AppRead),
    op("POST", "/api/app/projects/{project_id}/warehouse-sources", AppWrite),
    op("GET", "/api/app/projects/{project_id}/warehouse-sources/{source_id}", AppRead),
    op("DELETE", "/api/app/projects/{project_id}/warehouse-sources/{source_id}", AppWrite),
    op("GET", "/api/app/projects/{project_id}/warehouse-sources/imports", AppRead),
    op("POST", "/api/app/projects/{project_id}/warehouse-sources/imports/event-stream", AppWrite),
    op("POST", "/api/app/projects/{project_id}/warehouse-sources/imports/people", AppWrite),
    op("POST", "/api/app/projects/{project_id}/warehouse-sources/imports/groups", AppWrite),
    op("POST", "/api/app/projects/{project_id}/warehouse-sources/imports/lookup-table", AppWrite),
    op("GET", "/api/app/projects/{project_id}/warehouse-sources/imports/{import_id}", AppRead),
    op("PATCH", "/api/app/projects/{project_id}/warehouse-sources/imports/{import_id}", AppWrite),
    op("DELETE", "/api/app/projects/{project_id}/warehouse-sources/imports/{import_id}", AppWrite),
    op("PUT", "/api/app/projects/{project_id}/warehouse-sources/imports/{import_id}/manual-sync", AppWrite),
    op("GET", "/api/app/projects/{project_id}/warehouse-sources/imports/{import_id}/history", AppRead),
    // Feature flags, as the SDKs read them.
    op("GET", "/flags/definitions", EvaluateFlags),
    op("GET", "/flags", EvaluateFlags),
    op("POST", "/flags", EvaluateFlags),
    // The App API: feature flags.
    op("GET", "/api/app/projects/{project_id}/workspaces/{workspace_id}/feature-flags", ReadFlags),
    op("POST", "/api/app/projects/{project_id}/workspaces/{workspace_id}/feature-flags", WriteFlags),
    op("GET", "/api/app/projects/{project_id}/workspaces/{workspace_id}/feature-flags/{flag_id}", ReadFlags),
    op("PUT", "/api/app/projects/{project_id}/workspaces/{workspace_id}/feature-flags/{flag_id}", WriteFlags),
    op("DELETE", "/api/app/projects/{project_id}/workspaces/{workspace_id}/feature-flags/{flag_id}", WriteFlags),
    // The App API: experiments (the workspace names the project).
    op("GET", "/api/app/workspaces/{workspace_id}/experiments", ReadFlags),
    op("POST", "/api/app/workspaces/{workspace_id}/experiments", WriteFlags),
    op("GET", "/api/app/workspaces/{workspace_id}/experiments/{experiment_id}", ReadFlags),
    op("PATCH", "/api/app/workspaces/{workspace_id}/experiments/{experiment_id}", WriteFlags),
    op("DELETE", "/api/app/workspaces/{workspace_id}/experiments/{experiment_id}", WriteFlags),
    op("POST", "/api/app/workspaces/{workspace_id}/experiments/{experiment_id}/archive", WriteFlags),
    op("DELETE", "/api/app/workspaces/{workspace_id}/experiments/{experiment_id}/archive", WriteFlags),
    op("PUT", "/api/app/workspaces/{workspace_id}/experiments/{experiment_id}/launch", WriteFlags),
    op("PUT", "/api/app/workspaces/{workspace_id}/experiments/{experiment_id}/force_conclude", WriteFlags),
    op("PATCH", "/api/app/workspaces/{workspace_id}/experiments/{experiment_id}/decide", WriteFlags),
    op("GET", "/api/app/workspaces/{workspace_id}/experiments/{experiment_id}/results", ReadFlags),
    // The GDPR API (with the project token as `?token=`).
    op("POST", "/api/app/data-retrievals/v3.0", Gdpr),
    op("GET", "/api/app/data-retrievals/v3.0/{tracking_id}", Gdpr),
    op("GET", "/api/app/data-retrievals/v3.0/{tracking_id}/archive", Gdpr),
    op("POST", "/api/app/data-deletions/v3.0", Gdpr),
    op("GET", "/api/app/data-deletions/v3.0/{tracking_id}", Gdpr),
    op("DELETE", "/api/app/data-deletions/v3.0/{tracking_id}", Gdpr),
    op("GET", "/api/app/opt-outs/v3.0", Gdpr),
    op("POST", "/api/app/opt-outs/v3.0", Gdpr),
    op("DELETE", "/api/app/opt-outs/v3.0", Gdpr),
    // Data pipelines.
    op("GET", "/api/2.0/nessie/pipeline/jobs", Pipelines),
    op("POST", "/api/2.0/nessie/pipeline/create", Pipelines),
    op("POST", "/api/2.0/nessie/pipeline/edit", Pipelines),
    op("POST", "/api/2.0/nessie/pipeline/cancel", Pipelines),
    op("POST", "/api/2.0/nessie/pipeline/pause", Pipelines),
    op("POST", "/api/2.0/nessie/pipeline/resume", Pipelines),
    op("GET", "/api/2.0/nessie/pipeline/status", Pipelines),
    op("GET", "/api/2.0/nessie/pipeline/timeline", Pipelines),
    // The App API: annotations.
    op("GET", "/api/app/projects/{project_id}/annotations", ReadAnnotations),
    op("POST", "/api/app/projects/{project_id}/annotations", WriteAnnotations),
    op("GET", "/api/app/projects/{project_id}/annotations/{annotation_id}", ReadAnnotations),
    op("PATCH", "/api/app/projects/{project_id}/annotations/{annotation_id}", WriteAnnotations),
    op("DELETE", "/api/app/projects/{project_id}/annotations/{annotation_id}", WriteAnnotations),
    op("GET", "/api/app/projects/{project_id}/annotations/tags", ReadAnnotations),
    op("POST", "/api/app/projects/{project_id}/annotations/tags", WriteAnnotations),
    // The App API: Lexicon schemas.
    op("GET", "/api/app/projects/{project_id}/schemas", ReadLexicon),
    op("POST", "/api/app/projects/{project_id}/schemas", WriteLexicon),
    op("DELETE", "/api/app/projects/{project_id}/schemas", WriteLexicon),
    op("GET", "/api/app/projects/{project_id}/schemas/{entity_type}", ReadLexicon),
    op("DELETE", "/api/app/projects/{project_id}/schemas/{entity_type}", WriteLexicon),
    op("GET", "/api/app/projects/{project_id}/schemas/{entity_type}/{name}", ReadLexicon),
    op("POST", "/api/app/projects/{project_id}/schemas/{entity_type}/{name}", WriteLexicon),
    op("DELETE", "/api/app/projects/{project_id}/schemas/{entity_type}/{name}", WriteLexicon),
    // The App API: credentials.
    op("GET", "/api/app/projects/{project_id}/api-tokens", ListApiTokens),
    op("POST", "/api/app/projects/{project_id}/api-tokens", CreateApiToken),
    op("DELETE", "/api/app/projects/{project_id}/api-tokens/{token_id}", RevokeApiToken),
    op("GET", "/api/app/projects/{project_id}/service-accounts", ListServiceAccounts),
    org("GET", "/api/app/organizations/{organization_id}/service-accounts"),
    org("POST", "/api/app/organizations/{organization_id}/service-accounts"),
    org("GET", "/api/app/organizations/{organization_id}/service-accounts/{service_account_id}"),
    org("DELETE", "/api/app/organizations/{organization_id}/service-accounts/{service_account_id}"),
    org("POST", "/api/app/organizations/{organization_id}/service-accounts/add-to-project"),
    org("POST", "/api/app/organizations/{organization_id}/service-accounts/remove-from-project"),
    // The App API: online backups (the first organization's only; its handlers check).
    org("POST", "/api/app/organizations/{organization_id}/backups"),
    org("GET", "/api/app/organizations/{organization_id}/backups/{name}"),
    // The App API: projects and their workspaces.
    org("GET", "/api/app/organizations/{organization_id}/projects"),
    org("POST", "/api/app/organizations/{organization_id}/projects"),
    org("GET", "/api/app/organizations/{organization_id}/projects/{project_id}"),
    org("PATCH", "/api/app/organizations/{organization_id}/projects/{project_id}"),
    org("DELETE", "/api/app/organizations/{organization_id}/projects/{project_id}"),
    op("GET", "/api/app/projects/{project_id}", ReadProject),
    op("GET", "/api/app/projects/{project_id}/workspaces", ReadProject),
    op("POST", "/api/app/projects/{project_id}/workspaces", AppWrite),
    op("GET", "/api/app/projects/{project_id}/workspaces/{workspace_id}", ReadProject),
    op("PATCH", "/api/app/projects/{project_id}/workspaces/{workspace_id}", AppWrite),
    op("DELETE", "/api/app/projects/{project_id}/workspaces/{workspace_id}", AppWrite),
    // Operations.
    open("GET", "/healthz"),
    open("GET", "/readyz"),
    open("GET", "/metrics"),
    open("GET", "/openapi.json"),
];

/// The row of `method` and `path`, if there is one.
pub fn endpoint(method: &str, path: &str) -> Option<&'static Endpoint> {
    ENDPOINTS.iter().find(|e| e.method.eq_ignore_ascii_case(method) && e.path == path)
}

/// Whether `principal` (an API token holding `families`) may call `endpoint`, as the
/// table and the matrix say. An organisation's owners and admins are service accounts
/// with that role in the organisation, which `org_admin` says.
pub fn allows(
    endpoint: &Endpoint,
    principal: Principal,
    families: &[sextant_model::ApiFamily],
    org_admin: bool,
) -> bool {
    match endpoint.guard {
        Guard::Open => true,
        Guard::Operation(op) => access::permits(principal, families, op),
        Guard::OrganizationAdmin => matches!(principal, Principal::ServiceAccount(_)) && org_admin,
    }
}

/// The table as `docs/access-matrix.md` shows it: one row per endpoint, one column per
/// credential kind.
pub fn markdown() -> String {
    let mut out = String::from(
        "# Who may call what\n\n\
         Generated from `sextant_server::endpoints::ENDPOINTS` and `sextant_model::access::MATRIX`\n\
         (a unit test fails when this file is not what they say; `crates/cli/tests/access_matrix.rs`\n\
         checks every cell over HTTP). Every credential acts in its own project only.\n\
         `token: f` is an API token holding the family `f`; `token: f (scope)` may also pass on\n\
         only what it holds itself. The service-account columns are the account's role in the\n\
         project; organisation endpoints take an owner or admin of the organisation.\n\n\
         | endpoint | operation | project token | project secret | owner | admin | analyst | consumer | API token |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    for e in ENDPOINTS {
        let (operation, cells): (String, Vec<String>) = match e.guard {
            Guard::Open => ("open".into(), vec!["yes".into(); 7]),
            Guard::OrganizationAdmin => (
                "manage the organisation's service accounts and projects".into(),
                vec![
                    "no",
                    "no",
                    "organisation owner or admin",
                    "organisation owner or admin",
                    "organisation owner or admin",
                    "organisation owner or admin",
                    "no",
                ]
                .into_iter()
                .map(String::from)
                .collect(),
            ),
            Guard::Operation(op) => (
                op.describe().into(),
                Principal::ALL
                    .into_iter()
                    .map(|p| match access::rule(p, op) {
                        Rule::Deny => "no".into(),
                        Rule::Allow => "yes".into(),
                        Rule::Family(f) => format!("token: {f}"),
                        Rule::WithinScope(f) => format!("token: {f} (scope)"),
                    })
                    .collect(),
            ),
        };
        out.push_str(&format!("| `{} {}` | {operation} | {} |\n", e.method, e.path, cells.join(" | ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_route_has_a_row_and_every_row_a_route() {
        let document = crate::router::openapi_document();
        let mut documented = Vec::new();
        for (path, methods) in document["paths"].as_object().unwrap() {
            for method in methods.as_object().unwrap().keys() {
                documented.push((method.to_uppercase(), path.clone()));
            }
        }
        for (method, path) in &documented {
            assert!(endpoint(method, path).is_some(), "{method} {path} has no row in ENDPOINTS");
        }
        for e in ENDPOINTS {
            assert!(
                documented.iter().any(|(m, p)| m == e.method && p == e.path),
                "{} {} is in ENDPOINTS but not served",
                e.method,
                e.path
            );
        }
        assert_eq!(documented.len(), ENDPOINTS.len(), "one row per endpoint");
    }

    /// `SEXTANT_WRITE_DOCS=1` writes the file instead of checking it.
    #[test]
    fn the_documented_table_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/access-matrix.md");
        if std::env::var_os("SEXTANT_WRITE_DOCS").is_some() {
            std::fs::write(path, markdown()).unwrap();
        }
        let written = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            written == markdown(),
            "docs/access-matrix.md is out of date: run this test with SEXTANT_WRITE_DOCS=1 to write it"
        );
    }
}
