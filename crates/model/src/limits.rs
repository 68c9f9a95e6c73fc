//! Ingestion limits, from Mixpanel's published limits (wire-semantics §1.4).

/// Records accepted in one `/track`, `/import`, `/engage` or `/groups` request.
pub const MAX_RECORDS_PER_REQUEST: usize = 2000;
/// Uncompressed body size of one ingestion request.
pub const MAX_REQUEST_BYTES: usize = 10 * 1024 * 1024;
/// Uncompressed size of one event.
pub const MAX_EVENT_BYTES: usize = 1024 * 1024;
/// Properties on one event (Mixpanel: "up to 255").
pub const MAX_PROPERTIES: usize = 255;
/// Keys in one nested object.
pub const MAX_OBJECT_KEYS: usize = 255;
/// Elements in one list.
pub const MAX_LIST_ELEMENTS: usize = 255;
/// Nesting depth of objects and lists inside a property value.
pub const MAX_NESTING_DEPTH: usize = 3;
/// Longer strings (values and property names) are truncated to this many characters.
pub const MAX_STRING_CHARS: usize = 255;
/// Longest accepted `$insert_id`, in bytes.
pub const MAX_INSERT_ID_BYTES: usize = 36;
/// `/track` keeps only events from this many days back.
pub const TRACK_WINDOW_DAYS: i64 = 5;
/// `/import` rejects events further than this in the future.
pub const IMPORT_FUTURE_TOLERANCE_MS: i64 = 60 * 60 * 1000;
/// `/import` rejects events before 1971-01-01T00:00:00Z.
pub const IMPORT_EARLIEST_MS: i64 = 31_536_000_000;
/// Raw export: at most this many days per request.
pub const MAX_EXPORT_DAYS: i64 = 100;
/// Raw export: largest `limit`.
pub const MAX_EXPORT_LIMIT: u64 = 100_000;

/// distinct_id values that Mixpanel refuses (compared case-insensitively by Sextant).
pub const DISTINCT_ID_BLOCKLIST: &[&str] = &[
    "00000000-0000-0000-0000-000000000000",
    "anon",
    "anonymous",
    "nil",
    "none",
    "null",
    "n/a",
    "na",
    "undefined",
    "unknown",
    "<nil>",
    "0",
    "-1",
    "true",
    "false",
    "[]",
    "{}",
];

/// Whether `id` is on the distinct_id blocklist (ASCII case-insensitive, surrounding
/// whitespace ignored).
pub fn is_blocked_id(id: &str) -> bool {
    let id = id.trim();
    DISTINCT_ID_BLOCKLIST.iter().any(|b| b.eq_ignore_ascii_case(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocklist_ignores_case_and_whitespace() {
        assert!(is_blocked_id("NULL"));
        assert!(is_blocked_id(" undefined "));
        assert!(!is_blocked_id("user-1"));
        assert!(!is_blocked_id(""));
    }
}
