//! The normalised event: what ingestion hands to storage and what export reads back.
//!
//! The four dedup-key fields (`event`, `distinct_id`, `time`, `$insert_id`) are kept as
//! columns; every other property stays in `properties`, a JSON object serialised as text
//! (the keys `time`, `distinct_id`, `$insert_id` and `token` are not repeated there).

use crate::ids::ProjectId;

/// An event ready to be stored.
#[derive(Clone, Debug, PartialEq)]
pub struct EventRow {
    /// Owning project.
    pub project_id: ProjectId,
    /// Event name, at most 255 characters.
    pub event: String,
    /// Event time, epoch milliseconds (UTC).
    pub time_ms: i64,
    /// The distinct_id as sent (identity resolution happens at query time).
    pub distinct_id: String,
    /// `$insert_id`, sent or generated.
    pub insert_id: String,
    /// Every other property, server-added ones included, as a JSON object.
    pub properties: String,
}

/// An event read back from storage.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredEvent {
    /// The event as it was stored.
    pub row: EventRow,
    /// Ingestion sequence number: later copies of a duplicate have larger numbers.
    pub seq: i64,
}
