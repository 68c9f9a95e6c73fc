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
            "413": {"description": "Over 2000 records or 10 MB uncompressed."},
            "429": {"$ref": "#/components/responses/RateLimited"}
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
            "401": {"description": "Bad credentials", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/QueryError"}}}},
            "429": {"$ref": "#/components/responses/RateLimited"}
        }
    });
    let app_security = json!([{"basic": []}, {"bearer": []}, {"apiTokenHeader": []}, {"apiTokenQuery": []}]);
    let project_param = json!({"in": "path", "name": "project_id", "required": true, "schema": {"type": "integer"}});
    let paging = json!([
        project_param,
        {"in": "query", "name": "limit", "schema": {"type": "integer", "minimum": 1, "maximum": 300, "default": 50}},
        {"in": "query", "name": "next", "schema": {"type": "string"}, "description": "Cursor from a previous page's `next`."},
        {"in": "query", "name": "previous", "schema": {"type": "string"}, "description": "Cursor from a previous page's `previous`."},
        {"in": "query", "name": "fields", "schema": {"type": "string"}, "description": "Comma-separated fields to keep, dot notation."}
    ]);
    let app_errors = json!({
        "400": {"$ref": "#/components/responses/AppError"},
        "401": {"$ref": "#/components/responses/AppError"},
        "403": {"$ref": "#/components/responses/AppError"},
        "429": {"$ref": "#/components/responses/RateLimited"}
    });
    let with_errors = |ok: Value| {
        let mut r = app_errors.clone();
        if let (Value::Object(r), Value::Object(ok)) = (&mut r, ok) {
            r.extend(ok);
        }
        r
    };
    let tokens = json!({
        "get": {
            "summary": "List personal API tokens, newest first",
            "security": app_security, "parameters": paging,
            "responses": with_errors(json!({"200": {"description": "A page of tokens",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Collection"}}}}}))
        },
        "post": {
            "summary": "Create a personal API token (`sx_...`), shown once",
            "security": app_security, "parameters": [project_param],
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewApiToken"}}}},
            "responses": with_errors(json!({"201": {"description": "Created; `results.token` holds the token"}}))
        }
    });
    let revoke = json!({"delete": {
        "summary": "Revoke a personal API token",
        "security": app_security,
        "parameters": [project_param, {"in": "path", "name": "token_id", "required": true, "schema": {"type": "integer"}}],
        "responses": with_errors(json!({"200": {"description": "Revoked"}, "404": {"$ref": "#/components/responses/AppError"}}))
    }});
    let service_accounts = json!({"get": {
        "summary": "List the project's service accounts, newest first",
        "security": app_security, "parameters": paging,
        "responses": with_errors(json!({"200": {"description": "A page of service accounts",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Collection"}}}}}))
    }});
    let simple = |summary: &str| json!({"get": {"summary": summary, "responses": {"200": {"description": "OK"}}}});
    json!({
        "openapi": "3.0.3",
        "info": {"title": "Sextant", "version": env!("CARGO_PKG_VERSION"),
                 "description": "A self-hosted analytics server that speaks Mixpanel's HTTP APIs."},
        "paths": {
            "/track": {"get": track.clone(), "post": track},
            "/import": {"get": import.clone(), "post": import},
            "/api/2.0/export": {"get": export},
            "/api/app/projects/{project_id}/api-tokens": tokens,
            "/api/app/projects/{project_id}/api-tokens/{token_id}": revoke,
            "/api/app/projects/{project_id}/service-accounts": service_accounts,
            "/healthz": simple("Liveness"),
            "/readyz": simple("Readiness: the store is open"),
            "/metrics": simple("Prometheus metrics"),
            "/openapi.json": simple("This document")
        },
        "components": {
            "securitySchemes": {
                "basic": {"type": "http", "scheme": "basic"},
                "bearer": {"type": "http", "scheme": "bearer", "description": "A personal API token, `sx_...`"},
                "apiTokenHeader": {"type": "apiKey", "in": "header", "name": "X-API-Token"},
                "apiTokenQuery": {"type": "apiKey", "in": "query", "name": "apiToken"}
            },
            "responses": {
                "RateLimited": {
                    "description": "Over a rate or concurrency limit; the body is the family's error shape.",
                    "headers": {
                        "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."},
                        "X-RateLimit-Limit": {"schema": {"type": "integer"}},
                        "X-RateLimit-Remaining": {"schema": {"type": "integer"}},
                        "X-RateLimit-Reset": {"schema": {"type": "integer"}, "description": "UTC epoch seconds."}
                    }
                },
                "AppError": {"description": "An App API error",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AppError"}}}}
            },
            "schemas": {
                "Event": {"type": "object", "required": ["event"], "properties": {
                    "event": {"type": "string"},
                    "properties": {"type": "object", "additionalProperties": true}
                }},
                "QueryError": {"type": "object", "properties": {
                    "request": {"type": "string"}, "error": {"type": "string"}
                }},
                "AppError": {"type": "object", "required": ["status", "error", "error_code"], "properties": {
                    "status": {"type": "string", "enum": ["error"]},
                    "error": {"type": "string"},
                    "message": {"type": "string"},
                    "error_code": {"type": "string", "enum": sextant_model::ErrorCode::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>()},
                    "details": {"type": "object", "additionalProperties": {"type": "string"}}
                }},
                "Collection": {"type": "object", "required": ["status", "results"], "properties": {
                    "status": {"type": "string", "enum": ["ok"]},
                    "results": {"type": "array", "items": {"type": "object"}},
                    "next": {"type": "string", "nullable": true},
                    "hasNext": {"type": "boolean"},
                    "previous": {"type": "string", "nullable": true},
                    "hasPrevious": {"type": "boolean"}
                }},
                "NewApiToken": {"type": "object", "required": ["families"], "properties": {
                    "name": {"type": "string", "maxLength": 255},
                    "families": {"oneOf": [
                        {"type": "array", "items": {"type": "string", "enum": sextant_model::ApiFamily::ALL.iter().map(|f| f.as_str()).collect::<Vec<_>>()}},
                        {"type": "string", "description": "Comma-separated family names"}
                    ]},
                    "expires_in": {"type": "integer", "minimum": 1, "description": "Seconds; default 4 hours"}
                }}
            }
        }
    })
}
