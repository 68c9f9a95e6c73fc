//! Table definitions and database settings for the embedded store.
//!
//! One `events` table holds every project's events. The dedup key fields are columns;
//! `properties` holds the rest as JSON text. `seq` is the ingestion order, so that when
//! queries deduplicate, the copy ingested last wins.

use duckdb::Connection;

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
         CREATE TABLE IF NOT EXISTS events (
             project_id  BIGINT  NOT NULL,
             event       VARCHAR NOT NULL,
             time_ms     BIGINT  NOT NULL,
             distinct_id VARCHAR NOT NULL,
             insert_id   VARCHAR NOT NULL,
             seq         BIGINT  NOT NULL,
             properties  JSON    NOT NULL
         );",
        memory_limit = memory_limit.replace('\'', ""),
        temp_dir = temp_dir.replace('\'', "''"),
    ))
}

/// The largest ingestion sequence number stored so far.
pub fn max_seq(conn: &Connection) -> duckdb::Result<i64> {
    conn.query_row("SELECT coalesce(max(seq), 0) FROM events", [], |r| r.get(0))
}
