//! Ingestion limits, from Mixpanel's published limits (wire-semantics §1.4) where it
//! publishes them; each figure says where it comes from.

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
/// Properties one profile holds, `$last_seen` (which the server keeps) aside. Mixpanel:
/// a profile has at most 2000 properties, and "attempts to add more will fail"
/// (<https://docs.mixpanel.com/docs/data-structure/user-profiles>, wire-semantics §1.4).
/// An operation that would add one more leaves that property out.
pub const MAX_PROFILE_PROPERTIES: usize = 2000;
/// Size of one profile property's value as compact JSON. Mixpanel: "Limits of a List
/// property: Event Property = 8KB, User Profile Property = 256KB", and the same for
/// objects (<https://docs.mixpanel.com/docs/data-structure/property-reference/data-type>);
/// Sextant reads KB as KiB and applies the figure to every value, lists or not.
pub const MAX_PROFILE_VALUE_BYTES: usize = 256 * 1024;
/// Items in one list property of a profile. Mixpanel publishes no count for profile lists
/// (events: "fewer than 255 elements"); this is Sextant's. 256 KiB holds about 10,000
/// short strings, so the byte limit above is usually the one reached first, while a
/// `$union` compares what it adds with at most this many items.
pub const MAX_PROFILE_LIST_ITEMS: usize = 10_000;
/// Items one `$union` (its lists' elements, all properties together, duplicates
/// counted) or one `$append` (its values) may carry; more fails the record at
/// ingestion. Sextant's: no more than one list may hold.
pub const MAX_PROFILE_OPERATION_ITEMS: usize = MAX_PROFILE_LIST_ITEMS;
/// Size of one profile as compact JSON. Mixpanel publishes no figure (only 1 MB per
/// update, <https://docs.mixpanel.com/reference/user-profile-limits>); Sextant's is that
/// size in MiB: room for 2000 properties with 255-byte names and values, or four full
/// lists. The writer reads and rewrites each profile it touches, so this bounds the work
/// one update can cost it.
pub const MAX_PROFILE_BYTES: usize = 1024 * 1024;
/// Raw export: at most this many days per request.
pub const MAX_EXPORT_DAYS: i64 = 100;
/// Rows a project's lookup tables may hold together (Mixpanel's limit).
pub const MAX_LOOKUP_PROJECT_ROWS: u64 = 5_000_000;
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
