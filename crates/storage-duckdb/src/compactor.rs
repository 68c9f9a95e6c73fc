//! The compactor: moves events from the hot tier (JSON text, cheap to append) to the
//! cold tier (VARIANT, cheap to query), in the background.
//!
//! Every [`TICK`] it looks at the hot tier. It moves rows when the tier has grown past
//! [`COMPACT_AT_ROWS`], or when it holds rows and has not grown since the last tick
//! (ingestion is quiet). A move is one transaction, `INSERT INTO events_cold ... ;
//! DELETE FROM events_hot ...` up to a sequence number read before it starts, so
//! readers see each row in exactly one tier and appends running meanwhile (higher
//! sequence numbers) are untouched.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use duckdb::Connection;
use parking_lot::Mutex;

use crate::schema::KEY_COLUMNS;

/// How often the compactor looks at the hot tier.
pub const TICK: Duration = Duration::from_secs(1);

/// Hot rows that trigger a move even while ingestion is busy.
pub const COMPACT_AT_ROWS: i64 = 1_000_000;

/// Serialises moves between the background thread and explicit `compact_now` calls:
/// two moves of the same rows would do the work twice and one would then conflict.
pub type CompactionLock = Arc<Mutex<()>>;

/// Runs until `stop` receives or disconnects.
pub fn run(conn: Connection, lock: CompactionLock, stop: Receiver<()>) {
    let mut last_count = 0;
    loop {
        match stop.recv_timeout(TICK) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
        }
        let count = match hot_rows(&conn) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "compactor cannot count hot rows");
                continue;
            }
        };
        let quiet = count > 0 && count == last_count;
        if quiet || count >= COMPACT_AT_ROWS {
            match compact(&conn, &lock) {
                Ok(moved) => tracing::debug!(moved, "moved events to the cold tier"),
                Err(e) => tracing::warn!(error = %e, "compaction failed; will retry"),
            }
            last_count = hot_rows(&conn).unwrap_or(0);
        } else {
            last_count = count;
        }
    }
}

fn hot_rows(conn: &Connection) -> duckdb::Result<i64> {
    conn.query_row("SELECT count(*) FROM events_hot", [], |r| r.get(0))
}

/// Moves every hot row present now to the cold tier. Returns how many moved.
pub fn compact(conn: &Connection, lock: &CompactionLock) -> duckdb::Result<usize> {
    let _only_one_move = lock.lock();
    let upto: Option<i64> = conn.query_row("SELECT max(seq) FROM events_hot", [], |r| r.get(0))?;
    let Some(upto) = upto else { return Ok(0) };
    conn.execute_batch("BEGIN TRANSACTION")?;
    let moved = (|| {
        let moved = conn.execute(
            &format!(
                "INSERT INTO events_cold ({KEY_COLUMNS}, properties, user_hash, copy_hash)
                 SELECT {KEY_COLUMNS}, properties::VARIANT, hash(distinct_id), hash(insert_id) FROM events_hot WHERE seq <= ?"
            ),
            [upto],
        )?;
        conn.execute("DELETE FROM events_hot WHERE seq <= ?", [upto])?;
        conn.execute_batch("COMMIT")?;
        Ok(moved)
    })();
    if moved.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    moved
}
