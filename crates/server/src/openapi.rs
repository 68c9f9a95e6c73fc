//! The server's own OpenAPI document, served at `/openapi.json`, generated from the code.
//!
//! Every handler carries a `#[utoipa::path]` attribute and is registered through
//! `utoipa_axum::routes!` in [`crate::router`], so a route cannot be served without
//! being documented, and its path and methods come from the same place as the router's.
//! Each operation is tagged with its API family; [`finish`] then adds the error
//! responses every operation of that family can give (the family's error shape, as
//! `crate::error` renders it for the whole family), the 429 with its rate-limit headers,
//! and the security schemes.
//!
//! Mixpanel's published specs remain the wire contract; this document lists what this
//! build of Sextant implements of them, plus its own endpoints.

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use serde_json::{Value, json};
use utoipa::OpenApi;
use utoipa::openapi::OpenApi as Document;

use crate::lookup_tables::LookupErrorBody;
use sextant_api::errors::{ApiFamilyName, AppErrorBody, ErrorCodeName, QueryErrorBody};
use sextant_api::ingestion::IngestReply;

/// Operation tags, one per API family.
pub mod tag {
    /// `/track`, `/import`.
    pub const INGESTION: &str = "ingestion";
    /// `/api/2.0/export`.
    pub const EXPORT: &str = "export";
    /// The Query API (engage today).
    pub const QUERY: &str = "query";
    /// Sextant's own App API.
    pub const APP: &str = "app";
    /// `/lookup-tables`.
    pub const LOOKUP_TABLES: &str = "lookup_tables";
    /// Lexicon schemas.
    pub const LEXICON: &str = "lexicon";
    /// Feature flags as the SDKs read them.
    pub const FLAGS: &str = "flags";
    /// GDPR and CCPA retrievals and deletions.
    pub const GDPR: &str = "gdpr";
    /// Data pipelines.
    pub const PIPELINES: &str = "pipelines";
    /// Health, metrics and this document.
    pub const OPERATIONS: &str = "operations";
}

/// The root of the document: what no single handler says.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Sextant",
        description = "A self-hosted analytics server that speaks Mixpanel's HTTP APIs. \
                       Every path is also served with a trailing slash.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    tags(
        (name = "ingestion", description = "Events in (`/track` from client SDKs, `/import` from servers) and profile updates (`/engage`, `/groups`)."),
        (name = "export", description = "Raw events out, as JSON lines."),
        (name = "query", description = "The Query API: profiles through engage."),
        (name = "lookup_tables", description = "Lookup tables: list them, and replace one's contents with a CSV file."),
        (name = "app", description = "Per-project administration (API tokens, service accounts, cohorts, lookup tables and their mappings)."),
        (name = "lexicon", description = "Lexicon schemas: the project's data dictionary, as Mixpanel's Lexicon Schemas API keeps it."),
        (name = "flags", description = "Feature flags as the SDKs read them: definitions for local evaluation, and variants evaluated on the server."),
        (name = "gdpr", description = "GDPR and CCPA: jobs that retrieve or delete everything kept about some people (Mixpanel's GDPR API v3.0)."),
        (name = "pipelines", description = "Data pipelines: a project's events written out, partition by partition, on a schedule (Mixpanel's Data Pipelines API)."),
        (name = "operations", description = "Liveness, readiness, metrics and this document.")
    ),
    components(schemas(AppErrorBody, QueryErrorBody, LookupErrorBody, ErrorCodeName, IngestReply, ApiFamilyName))
)]
pub struct RootDoc;

/// The document as served, built once when the router is.
#[derive(Clone)]
pub struct ServedDocument(pub Arc<Value>);

/// `GET /openapi.json`.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    summary = "This document",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = serde_json::Value))
)]
pub async fn document(Extension(doc): Extension<ServedDocument>) -> Json<Value> {
    Json(doc.0.as_ref().clone())
}

/// Completes the generated document: family error responses, rate-limit responses and
/// security schemes.
pub fn finish(doc: Document) -> Value {
    let mut doc = serde_json::to_value(doc).unwrap_or_else(|_| json!({}));
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else { continue };
            for (method, operation) in item.iter_mut() {
                if !matches!(method.as_str(), "get" | "post" | "put" | "delete" | "patch") {
                    continue;
                }
                add_family_responses(operation, method != "get");
                operation["operationId"] = Value::String(operation_id(method, path));
            }
        }
    }
    let components = doc.as_object_mut().map(|d| d.entry("components").or_insert_with(|| json!({})));
    if let Some(Value::Object(components)) = components {
        components.insert("securitySchemes".into(), security_schemes());
    }
    doc
}

/// An operation's id, unique as OpenAPI requires (the handlers' function names repeat
/// across modules: `list`, `query`) and readable by generated clients: the method and
/// the path's words, `get_api_query_segmentation`.
fn operation_id(method: &str, path: &str) -> String {
    let words = path.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty());
    std::iter::once(method).chain(words).collect::<Vec<_>>().join("_")
}

/// The statuses every operation of a family may answer, beyond its own successes (for
/// ingestion, whose answers all take one shape, the success too); `changes`: the
/// operation writes (an App API change may conflict with what is stored).
fn add_family_responses(operation: &mut Value, changes: bool) {
    let family = operation["tags"].get(0).and_then(Value::as_str).unwrap_or("").to_string();
    let (error_content, statuses): (Value, &[(&str, &str)]) = match family.as_str() {
        tag::INGESTION => (
            ingest_content(),
            &[
                ("200", "Processed: `1`/`0`, verbose or strict JSON, JSONP or a GIF, as asked."),
                ("400", "A malformed request, or (strict) records that failed validation."),
                ("401", "Missing or unknown credentials."),
                ("403", "The credential may not do this, or the project lives in another region."),
                ("413", "Over 2000 records, 10 MB uncompressed, or 1 MB in one record."),
                ("429", "Over the project's ingestion limit."),
            ],
        ),
        tag::EXPORT | tag::QUERY => (
            json!({"application/json": {"schema": {"$ref": "#/components/schemas/QueryErrorBody"}}}),
            &[
                ("400", "Bad parameters."),
                ("401", "Missing or unknown credentials."),
                ("403", "The credential may not read events, or the project lives in another region."),
                ("404", "A saved report or cohort the request names does not exist."),
                ("429", "Over the project's export rate or concurrency limit."),
            ],
        ),
        tag::LOOKUP_TABLES => (
            json!({"application/json": {"schema": {"$ref": "#/components/schemas/LookupErrorBody"}}}),
            &[
                ("400", "Bad CSV: `failed_records` lists the first ten failing rows, by index after the header."),
                ("401", "Missing or unknown credentials."),
                ("403", "The credential may not do this, or the project lives in another region."),
                ("404", "No lookup table with that id in the project."),
                ("413", "A file over 100 MB uncompressed."),
                ("429", "Over 100 replacements in 24 hours."),
            ],
        ),
        tag::APP => (
            json!({"application/json": {"schema": {"$ref": "#/components/schemas/AppErrorBody"}}}),
            &[
                ("400", "Invalid parameters; `details` names each field at fault."),
                ("401", "Missing or unknown credentials."),
                ("403", "The credential may not administer the project, or the project lives in another region."),
                ("404", "No such project or object."),
                ("413", "A body over 1 MB."),
                ("429", "Over the project's App API limit."),
            ],
        ),
        tag::LEXICON => (
            json!({"application/json": {"schema": {"$ref": "#/components/schemas/AppErrorBody"}}}),
            &[
                (
                    "400",
                    "An invalid schema or parameter (`details` names each place at fault), or more than 3,000 deletions.",
                ),
                ("401", "Missing or unknown credentials."),
                ("403", "The credential may not do this, or the project lives in another region."),
                ("404", "No such project or schema."),
                ("413", "A body over 8 MB."),
                ("429", "Over 5 requests, or 4,000 entries and properties, a minute."),
            ],
        ),
        tag::FLAGS => (
            json!({"application/json": {"schema": {"$ref": "#/components/schemas/AppErrorBody"}}}),
            &[
                ("400", "A missing or malformed context (`details` names the field), or a body that is not JSON."),
                ("401", "Missing or unknown credentials."),
                ("403", "The credential may not evaluate flags, or the project lives in another region."),
                ("413", "A body over 256 KB."),
                ("429", "Over the project's feature-flag limit, when one is configured."),
            ],
        ),
        tag::GDPR => (
            json!({"application/json": {"schema": {"$ref": "#/components/schemas/AppErrorBody"}}}),
            &[
                ("400", "A missing project token, or an invalid request (`details` names each field at fault)."),
                ("401", "Missing or unknown credentials."),
                (
                    "403",
                    "The credential may not request GDPR jobs, the token is another project's, or the project lives \
                     in another region.",
                ),
                ("404", "No such job in the project."),
                ("413", "A body over 2 MB."),
                ("429", "Over one request a second."),
            ],
        ),
        tag::PIPELINES => (
            json!({"application/json": {"schema": {"$ref": "#/components/schemas/AppErrorBody"}}}),
            &[
                (
                    "400",
                    "An invalid request (`details` names each field at fault), or a pipeline type this server \
                     does not write.",
                ),
                ("401", "Missing or unknown credentials."),
                ("403", "The credential may not manage pipelines, or the project lives in another region."),
                ("404", "No pipeline of that name in the project."),
                ("409", "A pipeline of that name exists in the project."),
                ("413", "A body over 1 MB."),
                ("429", "Over the project's pipelines limit (120 a minute)."),
            ],
        ),
        _ => return,
    };
    let Some(responses) = operation.get_mut("responses").and_then(Value::as_object_mut) else { return };
    let conflict = [(
        "409",
        "The change conflicts with what is stored: a name or mapping already taken, the default workspace, a \
         project's identity merge once it holds events, a full collection.",
    )];
    let conflicts: &[(&str, &str)] = if changes && family == tag::APP { &conflict } else { &[] };
    for (status, description) in statuses.iter().chain(conflicts) {
        let mut response = json!({"description": description, "content": error_content});
        if *status == "429" {
            response["headers"] = rate_limit_headers(true);
        }
        responses.entry(status.to_string()).or_insert(response);
    }
    for (status, response) in responses.iter_mut() {
        if status != "429" && response.get("headers").is_none() {
            response["headers"] = rate_limit_headers(false);
        }
    }
}

/// What an ingestion answer can be: the SDKs' `0`/`1`, verbose or strict JSON, JSONP, or
/// the tracking pixel.
fn ingest_content() -> Value {
    json!({
        "text/plain": {"schema": {"type": "integer", "enum": [0, 1]}},
        "application/json": {"schema": {"$ref": "#/components/schemas/IngestReply"}},
        "text/javascript": {"schema": {"type": "string"}},
        "image/gif": {"schema": {"type": "string", "format": "binary"}}
    })
}

/// `X-RateLimit-*` (present when the request reached a project) and, on 429, `Retry-After`.
fn rate_limit_headers(retry_after: bool) -> Value {
    let mut headers = json!({
        "X-RateLimit-Limit": {"schema": {"type": "integer"}, "description": "The limit that applies to this request."},
        "X-RateLimit-Remaining": {"schema": {"type": "integer"}, "description": "What is left of it."},
        "X-RateLimit-Reset": {"schema": {"type": "integer"}, "description": "When it resets, UTC epoch seconds."}
    });
    if retry_after {
        headers["Retry-After"] = json!({"schema": {"type": "integer"}, "description": "Seconds to wait."});
    }
    headers
}

fn security_schemes() -> Value {
    json!({
        "basic": {"type": "http", "scheme": "basic",
                  "description": "The project secret as user (empty password), a service account (with `project_id`), or (ingestion) the project token."},
        "bearer": {"type": "http", "scheme": "bearer", "description": "A personal API token, `sx_...`."},
        "apiTokenHeader": {"type": "apiKey", "in": "header", "name": "X-API-Token"},
        "apiTokenQuery": {"type": "apiKey", "in": "query", "name": "apiToken"}
    })
}
