//! Types that exist to be named in the OpenAPI document: request bodies the SDKs send
//! (`EventRecord`, `ProfileUpdateRecord`, `IngestForm`), ingestion's answers, the health
//! answer, and the string enums of error codes and API families. A leaf: handlers, the
//! error module and the document all use it, and it uses none of them.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

/// The closed list of error codes, as a string enum.
pub struct ErrorCode;

impl PartialSchema for ErrorCode {
    fn schema() -> RefOr<Schema> {
        string_enum(sextant_model::ErrorCode::ALL.iter().map(|c| c.as_str()))
    }
}

impl ToSchema for ErrorCode {
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

/// One event as sent to `/track` or `/import`.
#[derive(Serialize, ToSchema)]
pub struct EventRecord {
    /// The event name.
    pub event: String,
    /// `distinct_id`, `time` (seconds or milliseconds), `$insert_id`, `token` (for
    /// `/track`) and any other properties.
    pub properties: BTreeMap<String, Value>,
}

/// One `/engage` or `/groups` update: the profile (`$distinct_id`, or `$group_key` and
/// `$group_id`), its project (`$token`), modifiers (`$time`, `$ignore_time`, `$ip`) and
/// one or more operations.
#[derive(Serialize, ToSchema)]
pub struct ProfileUpdateRecord {
    /// The project token.
    #[serde(rename = "$token")]
    pub token: Option<String>,
    /// The user (`/engage`).
    #[serde(rename = "$distinct_id")]
    pub distinct_id: Option<String>,
    /// The group key (`/groups`).
    #[serde(rename = "$group_key")]
    pub group_key: Option<String>,
    /// The group (`/groups`).
    #[serde(rename = "$group_id")]
    pub group_id: Option<String>,
    /// Overwrite properties.
    #[serde(rename = "$set")]
    pub set: Option<BTreeMap<String, Value>>,
    /// Set properties not yet set.
    #[serde(rename = "$set_once")]
    pub set_once: Option<BTreeMap<String, Value>>,
    /// Add to numeric properties (users only).
    #[serde(rename = "$add")]
    pub add: Option<BTreeMap<String, f64>>,
    /// Merge into list properties without duplicates.
    #[serde(rename = "$union")]
    pub union: Option<BTreeMap<String, Vec<Value>>>,
    /// Append to list properties (users only).
    #[serde(rename = "$append")]
    pub append: Option<BTreeMap<String, Value>>,
    /// Remove a value from list properties.
    #[serde(rename = "$remove")]
    pub remove: Option<BTreeMap<String, Value>>,
    /// Remove properties.
    #[serde(rename = "$unset")]
    pub unset: Option<Vec<String>>,
    /// Delete the profile (the value is ignored).
    #[serde(rename = "$delete")]
    pub delete: Option<Value>,
    /// The update's time, epoch seconds or milliseconds.
    #[serde(rename = "$time")]
    pub time: Option<f64>,
    /// Leave `$last_seen` alone.
    #[serde(rename = "$ignore_time")]
    pub ignore_time: Option<bool>,
}

/// A form body: `data=` holding the records as JSON or base64 JSON.
#[derive(Serialize, ToSchema)]
pub struct IngestForm {
    /// One record or an array, JSON or base64 JSON.
    pub data: String,
}

/// JSON answers of `/track`, `/import`, `/engage` and `/groups` (keys in the order
/// Mixpanel's own answers give them).
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum IngestReply {
    /// `verbose=1`: `{"error": null, "status": 1}`, or `status: 0` with the error.
    Verbose {
        /// Why not.
        error: Option<String>,
        /// 1 when the records were taken.
        status: u8,
    },
    /// `/import` (and `strict=1`): `{"code": 200, "num_records_imported", "status":
    /// "OK"}`, or the code, error and reason phrase of a refusal.
    Strict {
        /// The HTTP status.
        code: u16,
        /// Why the request failed.
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// The records that failed validation.
        #[serde(skip_serializing_if = "Option::is_none")]
        failed_records: Option<Vec<FailedRecord>>,
        /// Records stored.
        #[serde(skip_serializing_if = "Option::is_none")]
        num_records_imported: Option<u64>,
        /// `OK`, or the reason phrase.
        status: String,
    },
    /// A request refused as a whole on `/track`, `/engage` and `/groups` (401, 403,
    /// 413, 429, 503): the spec's `ErrorResponse`.
    Refused(IngestRefused),
}

/// `{"error": ..., "status": "error"}`, and nothing else (so that it is told apart from
/// a strict answer, which has the same two keys and more).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IngestRefused {
    /// Why.
    pub error: String,
    /// Always `error`.
    pub status: String,
}

/// A record refused by strict import.
#[derive(Serialize, ToSchema)]
pub struct FailedRecord {
    /// The field at fault.
    pub field: String,
    /// Its position in the request.
    pub index: u64,
    /// Its `$insert_id`, or empty.
    pub insert_id: String,
    /// What is wrong.
    pub message: String,
}

/// A health answer.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`, `ready`, `shutting_down` or `unavailable`.
    pub status: String,
    /// Why not ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Health {
    /// `{"status": status, "error"?: error}`.
    pub fn of(status: &str, error: Option<&str>) -> Health {
        Health { status: status.into(), error: error.map(str::to_string) }
    }
}
