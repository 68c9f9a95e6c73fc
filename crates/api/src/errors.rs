//! Error bodies, one shape per API family:
//!
//! - the App API and Sextant's own endpoints: [`AppErrorBody`], `{"status": "error",
//!   "error", "error_code", "message"[, "details"]}` (Mixpanel's App API keys, with
//!   `000_*.txt`'s `message` and `003_*.txt`'s field-level `details`);
//! - the Query API and export: [`QueryErrorBody`], `{"request", "error"}`;
//! - ingestion: [`crate::ingestion::IngestReply`].
//!
//! [`ErrorCodeName`] and [`ApiFamilyName`] document the closed lists of
//! `sextant_model::ErrorCode` and `sextant_model::ApiFamily` as string enums.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

/// The body of an App API error (and of Sextant's own endpoints).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AppErrorBody {
    /// Always `error`.
    #[schema(inline, value_type = String, example = "error")]
    pub status: String,
    /// What went wrong (Mixpanel's key).
    pub error: String,
    /// The error code, from the closed list.
    #[schema(value_type = ErrorCodeName)]
    pub error_code: String,
    /// The same sentence as `error` (the key `000_*.txt`'s clients read).
    pub message: String,
    /// For validation failures, as Mixpanel's reference shows them: the first field at
    /// fault (`parameter`) and what is wrong with it (`message`), and every field at
    /// fault with its problem (`fields`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<ErrorDetails>,
}

/// The `details` of an App API validation failure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetails {
    /// The first field at fault.
    pub parameter: String,
    /// What is wrong with it.
    pub message: String,
    /// Every field at fault, with what is wrong with each.
    #[schema(value_type = std::collections::BTreeMap<String, String>)]
    pub fields: serde_json::Map<String, serde_json::Value>,
}

impl ErrorDetails {
    /// The details of a failure whose fields at fault are `fields` (field to problem),
    /// or `None` when there are none.
    pub fn of(fields: &serde_json::Map<String, serde_json::Value>) -> Option<ErrorDetails> {
        let (parameter, message) = fields.iter().next()?;
        Some(ErrorDetails {
            parameter: parameter.clone(),
            message: message.as_str().unwrap_or_default().to_string(),
            fields: fields.clone(),
        })
    }
}

/// The body of a Query API or export error.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct QueryErrorBody {
    /// The request's path and query string.
    pub request: String,
    /// What went wrong.
    pub error: String,
}

/// The closed list of error codes, as a string enum.
pub struct ErrorCodeName;

impl PartialSchema for ErrorCodeName {
    fn schema() -> RefOr<Schema> {
        string_enum(sextant_model::ErrorCode::ALL.iter().map(|c| c.as_str()))
    }
}

impl ToSchema for ErrorCodeName {
    fn name() -> Cow<'static, str> {
        "ErrorCode".into()
    }
}

/// The API families a personal API token can be scoped to.
pub struct ApiFamilyName;

impl PartialSchema for ApiFamilyName {
    fn schema() -> RefOr<Schema> {
        string_enum(sextant_model::ApiFamily::ALL.iter().map(|f| f.as_str()))
    }
}

impl ToSchema for ApiFamilyName {
    fn name() -> Cow<'static, str> {
        "ApiFamily".into()
    }
}

fn string_enum<'a>(values: impl Iterator<Item = &'a str>) -> RefOr<Schema> {
    ObjectBuilder::new().schema_type(Type::String).enum_values(Some(values.collect::<Vec<_>>())).into()
}
