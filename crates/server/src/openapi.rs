//! The server's own OpenAPI document, served at `/openapi.json`.
//!
//! It describes the endpoints this build serves. Mixpanel's published specs remain the
//! wire contract; this document lists what Sextant implements of them, plus its own
//! operational endpoints.

use axum::Json;
use serde_json::{Value, json};

/// `GET /openapi.json`.
pub async fn document() -> Json<Value> {
    Json(spec())
}

fn ingest_op(summary: &str, description: &str, extra_params: Value) -> Value {
    let mut params = vec![
        json!({"in": "query", "name": "data", "schema": {"type": "string"},
               "description": "Records as JSON or base64 JSON (one object or an array); may also be sent in a form body."}),
        json!({"in": "query", "name": "verbose", "schema": {"type": "integer", "enum": [0, 1]}}),
        json!({"in": "query", "name": "ip", "schema": {"type": "integer", "enum": [0, 1]}}),
        json!({"in": "query", "name": "img", "schema": {"type": "integer", "enum": [0, 1]}}),
        json!({"in": "query", "name": "callback", "schema": {"type": "string"}}),
    ];
    if let Value::Array(extra) = extra_params {
        params.extend(extra);
    }
    json!({
        "summary": summary,
        "description": description,
        "parameters": params,
        "requestBody": {"content": {
            "application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}}},
            "application/x-www-form-urlencoded": {"schema": {"type": "object", "properties": {"data": {"type": "string"}}}},
            "application/x-ndjson": {"schema": {"type": "string"}}
        }},
        "responses": {
            "200": {"description": "`1`, `{\"status\": 1, \"error\": null}`, or the strict JSON, as the request asked."},
            "400": {"description": "Malformed request, or (strict) some records failed validation."},
            "401": {"description": "Missing or unknown credentials."},
            "403": {"description": "The credential's role may not do this."},
            "413": {"description": "Over 2000 records or 10 MB uncompressed."}
        }
    })
}

/// The document.
pub fn spec() -> Value {
    let track = ingest_op(
        "Track events",
        "Recent events from client SDKs; the project is named by each event's `properties.token`.",
        json!([]),
    );
    let import = ingest_op(
        "Import events",
        "Historical events; HTTP Basic with a service account and `project_id`, the project secret, or the project token.",
        json!([
            {"in": "query", "name": "strict", "schema": {"type": "integer", "enum": [0, 1]}},
            {"in": "query", "name": "project_id", "schema": {"type": "integer"}}
        ]),
    );
    let export = json!({
        "summary": "Raw event export",
        "description": "Streams events as JSON lines. UTC dates, both inclusive, at most 100 days.",
        "security": [{"basic": []}],
        "parameters": [
            {"in": "query", "name": "from_date", "required": true, "schema": {"type": "string", "format": "date"}},
            {"in": "query", "name": "to_date", "required": true, "schema": {"type": "string", "format": "date"}},
            {"in": "query", "name": "event", "schema": {"type": "string"}, "description": "JSON array of event names."},
            {"in": "query", "name": "limit", "schema": {"type": "integer", "maximum": 100000}},
            {"in": "query", "name": "time_in_ms", "schema": {"type": "boolean"}},
            {"in": "query", "name": "project_id", "schema": {"type": "integer"}}
        ],
        "responses": {
            "200": {"description": "JSON lines", "content": {"text/plain": {"schema": {"type": "string"}}}},
            "400": {"description": "Bad parameters", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/QueryError"}}}},
            "401": {"description": "Bad credentials", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/QueryError"}}}}
        }
    });
    let simple = |summary: &str| json!({"get": {"summary": summary, "responses": {"200": {"description": "OK"}}}});
    json!({
        "openapi": "3.0.3",
        "info": {"title": "Sextant", "version": env!("CARGO_PKG_VERSION"),
                 "description": "A self-hosted analytics server that speaks Mixpanel's HTTP APIs."},
        "paths": {
            "/track": {"get": track.clone(), "post": track},
            "/import": {"get": import.clone(), "post": import},
            "/api/2.0/export": {"get": export},
            "/healthz": simple("Liveness"),
            "/readyz": simple("Readiness: the store is open"),
            "/metrics": simple("Prometheus metrics"),
            "/openapi.json": simple("This document")
        },
        "components": {
            "securitySchemes": {"basic": {"type": "http", "scheme": "basic"}},
            "schemas": {
                "Event": {"type": "object", "required": ["event"], "properties": {
                    "event": {"type": "string"},
                    "properties": {"type": "object", "additionalProperties": true}
                }},
                "QueryError": {"type": "object", "properties": {
                    "request": {"type": "string"}, "error": {"type": "string"}
                }}
            }
        }
    })
}
