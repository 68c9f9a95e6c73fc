//! Table definitions and database settings for the embedded store.
//!
//! Events live in two tiers with the same columns. The dedup key fields are columns,
//! `seq` is the ingestion order (when queries deduplicate, the copy ingested last wins),
//! and `properties` holds everything else:
//!
//! - `events_hot` keeps `properties` as JSON text. Appends land here: text is the
//!   cheapest thing to append, so ingestion runs at its full rate.
//! - `events_cold` keeps `properties` as VARIANT, which DuckDB shreds into typed columns
//!   on checkpoint: a query that reads one property reads only that property's column
//!   instead of parsing every event's JSON (measured by `benches/property_storage.rs`:
//!   about 25 times faster filters and group-bys, and 6 times smaller on disk).
//!   The [`crate::compactor`] moves rows here from the hot tier. It also stores two
//!   64-bit hashes computed once there instead of at every query: `user_hash` (of
//!   `distinct_id`) and `copy_hash` (of `$insert_id`), so behavioural scans read
//!   integers, not strings (measured: a funnel's scan of 5.6M of 10M events went from
//!   about 1.0 s to 0.4 s without the sort, `benches/funnels.rs`).
//!   `superseded` marks a cold row with a later copy in the cold tier
//!   ([`crate::copies`]), so reports read each event once without deduplicating.
//!
//! The view `events` is both tiers with `properties` as VARIANT: what queries read.

use duckdb::Connection;

/// Every column but `properties`, in table order.
pub const KEY_COLUMNS: &str = "project_id, event, time_ms, distinct_id, insert_id, seq";

/// WAL size at which DuckDB checkpoints during a commit.
pub const CHECKPOINT_THRESHOLD: &str = "512MB";

/// Creates the tables if they do not exist and applies connection settings.
///
/// DuckDB checkpoints (compresses and writes row groups) whenever its write-ahead log
/// passes `checkpoint_threshold`, inside the commit that crossed it. At the default
/// 16 MB that happens every few thousand events and halves ingest throughput; at
/// [`CHECKPOINT_THRESHOLD`] the writer thread also checkpoints on its own when idle, so
/// the log stays short under light load and restarts replay little.
pub fn migrate(conn: &Connection, memory_limit: &str, temp_dir: &str) -> duckdb::Result<()> {
    conn.execute_batch(&format!(
        "SET memory_limit = '{memory_limit}';
         SET temp_directory = '{temp_dir}';
         SET checkpoint_threshold = '{CHECKPOINT_THRESHOLD}';
         CREATE TABLE IF NOT EXISTS events_hot ({hot_columns}, properties JSON NOT NULL USING COMPRESSION UNCOMPRESSED);
         CREATE TABLE IF NOT EXISTS events_cold ({columns}, properties VARIANT NOT NULL,
                                                 user_hash UBIGINT, copy_hash UBIGINT,
                                                 superseded BOOLEAN DEFAULT FALSE);
         CREATE OR REPLACE VIEW events AS
             SELECT {names}, properties FROM events_cold
             UNION ALL
             SELECT {names}, properties::VARIANT AS properties FROM events_hot;",
        columns = "project_id BIGINT NOT NULL, event VARCHAR NOT NULL, time_ms BIGINT NOT NULL, \
                   distinct_id VARCHAR NOT NULL, insert_id VARCHAR NOT NULL, seq BIGINT NOT NULL",
        hot_columns = "project_id BIGINT NOT NULL, event VARCHAR NOT NULL USING COMPRESSION UNCOMPRESSED, \
                       time_ms BIGINT NOT NULL, distinct_id VARCHAR NOT NULL USING COMPRESSION UNCOMPRESSED, \
                       insert_id VARCHAR NOT NULL USING COMPRESSION UNCOMPRESSED, seq BIGINT NOT NULL",
        names = KEY_COLUMNS,
        memory_limit = memory_limit.replace('\'', ""),
        temp_dir = temp_dir.replace('\'', "''"),
    ))
}

/// Adds the cold tier's hash columns to a store made before they existed and fills them,
/// in one transaction (later rows get them from the compactor), then checkpoints: until
/// then DuckDB keeps updated values apart and every scan pays to merge them. A store that
/// has the columns costs one catalog lookup.
pub fn add_hashes(conn: &Connection) -> duckdb::Result<()> {
    let present: bool = conn.query_row(
        "SELECT count(*) > 0 FROM duckdb_columns() WHERE table_name = 'events_cold' AND column_name = 'user_hash'",
        [],
        |r| r.get(0),
    )?;
    if present {
        return Ok(());
    }
    conn.execute_batch(
        "BEGIN TRANSACTION;
         ALTER TABLE events_cold ADD COLUMN user_hash UBIGINT;
         ALTER TABLE events_cold ADD COLUMN copy_hash UBIGINT;
         UPDATE events_cold SET user_hash = hash(distinct_id), copy_hash = hash(insert_id);
         COMMIT;
         CHECKPOINT;",
    )
}

/// The largest ingestion sequence number stored so far.
pub fn max_seq(conn: &Connection) -> duckdb::Result<i64> {
    conn.query_row("SELECT coalesce(max(seq), 0) FROM events", [], |r| r.get(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_from_before_the_hashes_gets_them_once() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE events_cold (project_id BIGINT NOT NULL, event VARCHAR NOT NULL, time_ms BIGINT NOT NULL,
                 distinct_id VARCHAR NOT NULL, insert_id VARCHAR NOT NULL, seq BIGINT NOT NULL, properties VARIANT NOT NULL);
             INSERT INTO events_cold VALUES (1, 'A', 1, 'u1', 'i1', 1, '{}'::JSON::VARIANT);",
        )
        .unwrap();
        add_hashes(&conn).unwrap();
        let same: bool = conn
            .query_row(
                "SELECT user_hash = hash(distinct_id) AND copy_hash = hash(insert_id) FROM events_cold",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(same);
        add_hashes(&conn).unwrap();
    }
}
