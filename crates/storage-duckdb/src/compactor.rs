//! The compactor: moves events from the hot tier (JSON text, cheap to append) to the
//! cold tier (VARIANT, cheap to query), in the background.
//!
//! Every [`TICK`] it looks at the hot tier. It moves rows when the tier has grown past
//! [`COMPACT_AT_ROWS`], or when it holds rows and has not grown since the last tick
//! (ingestion is quiet). A move is one transaction, `INSERT INTO events_cold ... ;
//! DELETE FROM events_hot ...` up to a sequence number read before it starts, so
//! readers see each row in exactly one tier and appends running meanwhile (higher
//! sequence numbers) are untouched.
//!
//! It also keeps the day [`Timelines`]: after a move it rebuilds the closed days the
//! move touched, and at start and whenever a UTC day closes it builds every closed day
//! whose timeline is missing or behind.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use duckdb::Connection;
use parking_lot::Mutex;

use crate::schema::KEY_COLUMNS;
use crate::timelines::{DAY_MS, Timelines, today};

/// How often the compactor looks at the hot tier.
pub const TICK: Duration = Duration::from_secs(1);

/// Hot rows that trigger a move even while ingestion is busy.
pub const COMPACT_AT_ROWS: i64 = 1_000_000;

/// Serialises moves between the background thread and explicit `compact_now` calls:
/// two moves of the same rows would do the work twice and one would then conflict.
pub type CompactionLock = Arc<Mutex<()>>;

/// Runs until `stop` receives or disconnects.
pub fn run(conn: Connection, lock: CompactionLock, timelines: Arc<Timelines>, stop: Receiver<()>) {
    let mut last_count = 0;
    let mut caught_up_to = None;
    loop {
        let today = today();
        if caught_up_to != Some(today) {
            match timelines.catch_up(&conn, today, &lock) {
                Ok(built) => {
                    tracing::debug!(built, "day timelines caught up");
                    caught_up_to = Some(today);
                }
                Err(e) => tracing::warn!(error = %e, "cannot build day timelines; will retry"),
            }
        }
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
            match compact(&conn, &lock, &timelines) {
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

/// Moves every hot row present now to the cold tier, then rebuilds the timelines of
/// the closed days it touched. Returns how many rows moved.
pub fn compact(conn: &Connection, lock: &CompactionLock, timelines: &Timelines) -> duckdb::Result<usize> {
    let _only_one_move = lock.lock();
    let upto: Option<i64> = conn.query_row("SELECT max(seq) FROM events_hot", [], |r| r.get(0))?;
    let Some(upto) = upto else { return Ok(0) };
    // The closed days this move touches: their timelines are rebuilt after it.
    let touched: Vec<(i64, i64)> = conn
        .prepare("SELECT DISTINCT project_id, time_ms // 86400000 FROM events_hot WHERE seq <= ? AND time_ms < ?")?
        .query_map([upto, today() * DAY_MS], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<duckdb::Result<_>>()?;
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
    if moved.is_ok() {
        for (project, day) in touched {
            if let Err(e) = timelines.rebuild(conn, project, day) {
                // The scan reads what a timeline lacks from DuckDB: slower, still right.
                tracing::warn!(error = %e, project, day, "cannot rebuild a day timeline");
            }
        }
    }
    moved
}
