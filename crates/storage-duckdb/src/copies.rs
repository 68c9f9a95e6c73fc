//! Which copy of a duplicated event queries read.
//!
//! Copies of an event share the dedup key (`event`, `distinct_id`, `time`,
//! `$insert_id`); reports count the one ingested last and read its properties, as
//! Mixpanel's do. Raw export returns every copy, so none is ever deleted. Deduplicating
//! at query time (`SELECT DISTINCT` over the key) was most of a segmentation's cost:
//! hashing two strings per event and aggregating (measured on 10M events: 0.95 s of a
//! 1.05 s count by day). So the cold tier knows its copies instead:
//!
//! - `events_cold.superseded` is true for a row with a later copy in the cold tier. The
//!   compactor sets it in the transaction that moves the later copy in ([`flag_moved`]);
//!   a store made before the column gets it filled once ([`migrate`]).
//! - So the cold rows that are not superseded hold each key once, and a query reads
//!   them without deduplicating, except against the hot tier: a hot row is always
//!   ingested after every cold row (rows move in sequence order), so a cold row with a
//!   copy in the hot tier is dropped ([`cold_kept`], an anti-join on the key's hashes
//!   against the few hot rows), and the hot tier keeps its last copy of each key
//!   ([`hot_kept`]).
//!
//! Keys are compared through the cold tier's stored 64-bit hashes of the distinct id
//! and the insert id, with the event name and the time in full: two different events
//! would need the same name and millisecond and both hashes to collide to be taken for
//! copies. The hashes are DuckDB's `hash()`, the function the compactor stores with.

use duckdb::Connection;

/// Adds `superseded` to the cold tier of a store made before it and flags the older
/// copies already there, in one transaction, then checkpoints (until then DuckDB keeps
/// updated values apart and every scan pays to merge them). A store that has the column
/// costs one catalog lookup.
pub fn migrate(conn: &Connection) -> duckdb::Result<()> {
    let present: bool = conn.query_row(
        "SELECT count(*) > 0 FROM duckdb_columns() WHERE table_name = 'events_cold' AND column_name = 'superseded'",
        [],
        |r| r.get(0),
    )?;
    if present {
        return Ok(());
    }
    conn.execute_batch(
        "BEGIN TRANSACTION;
         ALTER TABLE events_cold ADD COLUMN superseded BOOLEAN DEFAULT FALSE;
         UPDATE events_cold AS c SET superseded = TRUE
         FROM (SELECT project_id, event, time_ms, user_hash, copy_hash, max(seq) AS last FROM events_cold
               GROUP BY ALL HAVING count(*) > 1) m
         WHERE c.project_id = m.project_id AND c.event = m.event AND c.time_ms = m.time_ms
           AND c.user_hash = m.user_hash AND c.copy_hash = m.copy_hash AND c.seq < m.last;
         COMMIT;
         CHECKPOINT;",
    )
}

/// Flags the cold rows that the rows just moved in (sequence numbers above `after`, up
/// to `upto`) make older copies: copies among the moved rows and earlier cold rows
/// alike. Runs inside the move's transaction.
pub fn flag_moved(conn: &Connection, after: i64, upto: i64) -> duckdb::Result<usize> {
    conn.execute(
        "UPDATE events_cold AS c SET superseded = TRUE
         FROM (SELECT project_id, event, time_ms, user_hash, copy_hash, max(seq) AS last FROM events_cold
               WHERE seq > ? AND seq <= ? GROUP BY ALL) m
         WHERE c.project_id = m.project_id AND c.event = m.event AND c.time_ms = m.time_ms
           AND c.user_hash = m.user_hash AND c.copy_hash = m.copy_hash AND c.seq < m.last AND NOT c.superseded",
        [after, upto],
    )
}

/// The cold rows of `cold` (a query over `events_cold` giving at least `event`,
/// `time_ms`, `user_hash` and `copy_hash`, and reading only rows that are not
/// superseded) that have no copy in the hot tier among the rows `hot_head` (a condition
/// on `events_hot` aliased `e`) selects; `hot_head` must select every hot row that
/// could copy one of them. Every column of `cold` is kept.
///
/// `cold` computes its property expressions directly on the table, and the anti-join
/// sits above it: DuckDB reads only the VARIANT fields an expression names when the
/// expression is evaluated right on the table scan.
pub fn cold_kept(cold: &str, hot_head: &str) -> String {
    format!(
        "SELECT c.* FROM ({cold}) c ANTI JOIN (
           SELECT e.event, e.time_ms, hash(e.distinct_id) AS user_hash, hash(e.insert_id) AS copy_hash
           FROM events_hot e WHERE {hot_head}) h
         ON c.event = h.event AND c.time_ms = h.time_ms AND c.user_hash = h.user_hash AND c.copy_hash = h.copy_hash"
    )
}

/// The hot rows `head` (a condition on `events_hot` aliased `e`) selects, the last
/// copy of each key only, as a subquery aliased `e` with the table's columns.
pub fn hot_kept(head: &str) -> String {
    format!(
        "(SELECT * FROM events_hot e WHERE {head}
          QUALIFY row_number() OVER (PARTITION BY e.project_id, e.event, e.time_ms, e.distinct_id, e.insert_id
                                     ORDER BY e.seq DESC) = 1) e"
    )
}

/// Every kept event `head` (a condition over the key columns, aliased `e`) selects, as
/// a subquery aliased `e` with the key columns and `properties` as VARIANT: what the
/// interpreter reads.
pub fn kept_events(head: &str) -> String {
    use crate::schema::KEY_COLUMNS;
    let cold = format!(
        "SELECT {KEY_COLUMNS}, properties, user_hash, copy_hash FROM events_cold e WHERE {head} AND NOT e.superseded"
    );
    format!(
        "(SELECT {KEY_COLUMNS}, properties FROM ({kept}) UNION ALL
          SELECT {KEY_COLUMNS}, CAST(properties AS VARIANT) AS properties FROM {hot}) e",
        kept = cold_kept(&cold, head),
        hot = hot_kept(head),
    )
}
