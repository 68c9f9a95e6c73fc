//! Ingestion's wire: the records the SDKs send (`EventRecord`, `ProfileUpdateRecord`,
//! `IngestForm`) and the answers they read (`IngestReply`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// One event as sent to `/track` or `/import`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
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
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProfileUpdateRecord {
    /// The project token.
    #[serde(rename = "$token", skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The user (`/engage`).
    #[serde(rename = "$distinct_id", skip_serializing_if = "Option::is_none")]
    pub distinct_id: Option<String>,
    /// The group key (`/groups`).
    #[serde(rename = "$group_key", skip_serializing_if = "Option::is_none")]
    pub group_key: Option<String>,
    /// The group (`/groups`).
    #[serde(rename = "$group_id", skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// Overwrite properties.
    #[serde(rename = "$set", skip_serializing_if = "Option::is_none")]
    pub set: Option<BTreeMap<String, Value>>,
    /// Set properties not yet set.
    #[serde(rename = "$set_once", skip_serializing_if = "Option::is_none")]
    pub set_once: Option<BTreeMap<String, Value>>,
    /// Add to numeric properties (users only).
    #[serde(rename = "$add", skip_serializing_if = "Option::is_none")]
    pub add: Option<BTreeMap<String, f64>>,
    /// Merge into list properties without duplicates.
    #[serde(rename = "$union", skip_serializing_if = "Option::is_none")]
    pub union: Option<BTreeMap<String, Vec<Value>>>,
    /// Append to list properties (users only).
    #[serde(rename = "$append", skip_serializing_if = "Option::is_none")]
    pub append: Option<BTreeMap<String, Value>>,
    /// Remove a value from list properties.
    #[serde(rename = "$remove", skip_serializing_if = "Option::is_none")]
    pub remove: Option<BTreeMap<String, Value>>,
    /// Remove properties.
    #[serde(rename = "$unset", skip_serializing_if = "Option::is_none")]
    pub unset: Option<Vec<String>>,
    /// Delete the profile (the value is ignored).
    #[serde(rename = "$delete", skip_serializing_if = "Option::is_none")]
    pub delete: Option<Value>,
    /// The update's time, epoch seconds or milliseconds.
    #[serde(rename = "$time", skip_serializing_if = "Option::is_none")]
    pub time: Option<f64>,
    /// Leave `$last_seen` alone.
    #[serde(rename = "$ignore_time", skip_serializing_if = "Option::is_none")]
    pub ignore_time: Option<bool>,
}

/// A form body: `data=` holding the records as JSON or base64 JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IngestForm {
    /// One record or an array, JSON or base64 JSON.
    pub data: String,
}

/// JSON answers of `/track`, `/import`, `/engage` and `/groups` (keys in the order
/// Mixpanel's own answers give them).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
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
    Strict(StrictReply),
    /// A request refused as a whole on `/track`, `/engage` and `/groups` (401, 403,
    /// 413, 429, 503): the spec's `ErrorResponse`.
    Refused(IngestRefused),
}

/// `{"error": ..., "status": "error"}`, and nothing else (so that it is told apart from
/// a strict answer, which has the same two keys and more).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IngestRefused {
    /// Why.
    pub error: String,
    /// Always `error`.
    pub status: String,
}

/// A record refused by strict import.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
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

/// The strict answer of `/import` (and of `strict=1` elsewhere).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StrictReply {
    /// The HTTP status.
    pub code: u16,
    /// Why the request failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The records that failed validation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_records: Option<Vec<FailedRecord>>,
    /// Records stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_records_imported: Option<u64>,
    /// `OK`, or the reason phrase.
    pub status: String,
}
