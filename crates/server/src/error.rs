//! Errors as clients see them, and the one place where codes become HTTP statuses.
//!
//! Handlers return [`ApiError`] (a code from the closed list, a message, and for
//! validation failures the fields at fault). Each API family renders it in its own
//! documented shape: ingestion in `ingest::reply` (`0`/`1`, verbose, strict); the Query
//! and export family here ([`QueryError`], `{"request": ..., "error": ...}`); the App
//! API and Sextant's own endpoints here too (`{"status": "error", "error",
//! "error_code", "message", "details"}`: Mixpanel's App API keys, with `000_*.txt`'s
//! `message` and `003_*.txt`'s field-level `details`).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sextant_api::errors::{AppErrorBody, ErrorDetails, QueryErrorBody};
use sextant_ingest::DecodeError;
use sextant_metadata::MetadataError;
use sextant_model::ErrorCode;
use sextant_query::FieldErrors;
use sextant_storage::StorageError;

/// An error with its client-facing code and message.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    /// What kind of failure.
    pub code: ErrorCode,
    /// A sentence naming what is wrong.
    pub message: String,
    /// Field-level problems of a validation failure: field name to what is wrong.
    pub details: Option<serde_json::Map<String, serde_json::Value>>,
}

impl ApiError {
    /// An error of `code` with `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError { code, message: message.into(), details: None }
    }

    /// A validation failure naming each field at fault: the message lists them after
    /// `context` (if any), and `details` maps each field to its problem.
    pub fn invalid_fields(context: &str, fields: Vec<(String, String)>) -> Self {
        let list = fields.iter().map(|(k, v)| format!("`{k}` {v}")).collect::<Vec<_>>().join("; ");
        let message = if context.is_empty() { list } else { format!("{context}: {list}") };
        let details = fields.into_iter().map(|(k, v)| (k, serde_json::Value::String(v))).collect();
        ApiError { code: ErrorCode::InvalidRequest, message, details: Some(details) }
    }

    /// A malformed request.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }

    /// Missing or wrong credentials.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthenticated, message)
    }

    /// A credential whose role may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::PermissionDenied, message)
    }

    /// The HTTP status for the code.
    pub fn status(&self) -> StatusCode {
        status_of(self.code)
    }
}

/// Maps an error code to its HTTP status.
pub fn status_of(code: ErrorCode) -> StatusCode {
    StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::InvalidRequest(message) => return ApiError::invalid(message),
            StorageError::Busy(message) | StorageError::DiskFull(message) => {
                return ApiError::new(ErrorCode::Unavailable, message);
            }
            _ => {}
        }
        tracing::error!(error = %e, "storage failure");
        match e.code() {
            ErrorCode::Unavailable => {
                ApiError::new(ErrorCode::Unavailable, "the event store is unavailable; retry later")
            }
            code => ApiError::new(code, "internal error in the event store"),
        }
    }
}

impl From<MetadataError> for ApiError {
    fn from(e: MetadataError) -> Self {
        match e.code() {
            ErrorCode::Internal => {
                tracing::error!(error = %e, "metadata failure");
                ApiError::new(ErrorCode::Internal, "internal error in the control plane")
            }
            ErrorCode::Upstream => {
                tracing::error!(error = %e, "the control-plane database did not answer");
                ApiError::new(ErrorCode::Upstream, "the control-plane database did not answer; retry later")
            }
            code => ApiError::new(code, e.to_string()),
        }
    }
}

impl From<DecodeError> for ApiError {
    fn from(e: DecodeError) -> Self {
        ApiError::new(e.code(), e.to_string())
    }
}

/// A definition or request the query crate refused field by field: a validation failure
/// naming each field (the same message the CLI prints for it).
impl From<FieldErrors> for ApiError {
    fn from(e: FieldErrors) -> Self {
        ApiError::invalid_fields(&e.context, e.fields)
    }
}

/// An error of the Query API family (export included): `{"request": ..., "error": ...}`.
#[derive(Debug)]
pub struct QueryError {
    /// The request's path and query string.
    pub request: String,
    /// The error.
    pub error: ApiError,
}

impl IntoResponse for QueryError {
    fn into_response(self) -> Response {
        let body = QueryErrorBody { request: self.request, error: self.error.message.clone() };
        (self.error.status(), Json(body)).into_response()
    }
}

/// An error as a handler or extractor returns it: the App API's envelope, `{"status":
/// "error", "error", "error_code", "message"[, "details"]}`, carrying the error itself
/// in the response's extensions, from which `router::family_errors` renders it again in
/// the shape of the route's family (the Query API's `{"request", "error"}`, ingestion's
/// reply style). So the family decides the shape, never the handler.
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.app_shape();
        response.extensions_mut().insert(self);
        response
    }
}

impl ApiError {
    /// The App API's envelope, and nothing else.
    pub fn app_shape(&self) -> Response {
        let body = AppErrorBody {
            status: "error".into(),
            error: self.message.clone(),
            error_code: self.code.as_str().into(),
            message: self.message.clone(),
            details: self.details.as_ref().and_then(ErrorDetails::of),
        };
        (self.status(), Json(body)).into_response()
    }
}
