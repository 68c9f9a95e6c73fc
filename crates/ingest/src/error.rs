//! Errors of the ingestion pipeline: one for a request that cannot be read at all,
//! one for a single record that fails validation (the rest of its batch is kept).

use sextant_model::ErrorCode;

/// A request whose records cannot be extracted.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DecodeError {
    /// Neither a `data` parameter nor a JSON body was sent.
    #[error("data, missing or empty")]
    MissingData,
    /// `data` was neither JSON nor base64 of JSON.
    #[error("data is neither JSON nor base64-encoded JSON: {0}")]
    BadData(String),
    /// The body or `data` is not valid JSON.
    #[error("invalid JSON: {0}")]
    BadJson(String),
    /// The JSON is valid but is not an object or an array of objects.
    #[error("expected a JSON object or an array of objects")]
    NotRecords,
    /// An NDJSON line is not valid JSON.
    #[error("invalid JSON on line {line}: {message}")]
    BadNdjsonLine {
        /// 1-based line number.
        line: usize,
        /// The parser's message.
        message: String,
    },
    /// More records than one request may carry.
    #[error("request has {count} records; the limit is {limit} per request")]
    TooManyRecords {
        /// Records sent.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// An array with no records.
    #[error("no records in request")]
    Empty,
}

impl DecodeError {
    /// The client-facing code.
    pub fn code(&self) -> ErrorCode {
        match self {
            DecodeError::TooManyRecords { .. } => ErrorCode::PayloadTooLarge,
            _ => ErrorCode::InvalidRequest,
        }
    }
}

/// One record that failed validation, reported in Mixpanel's strict `/import` shape.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordError {
    /// The path of the offending field, such as `properties.time`.
    pub field: String,
    /// A sentence naming what is wrong, in Mixpanel's `'<field>' is invalid: <reason>` form.
    pub message: String,
    /// The record's `$insert_id`, when it had a readable one.
    pub insert_id: Option<String>,
}

impl RecordError {
    /// An error on `field`, phrased as Mixpanel phrases them.
    pub fn invalid(field: &str, reason: impl std::fmt::Display) -> Self {
        RecordError { field: field.to_string(), message: format!("'{field}' is invalid: {reason}"), insert_id: None }
    }

    /// Attaches the record's insert id.
    pub fn with_insert_id(mut self, insert_id: Option<&str>) -> Self {
        self.insert_id = insert_id.map(str::to_string);
        self
    }
}
