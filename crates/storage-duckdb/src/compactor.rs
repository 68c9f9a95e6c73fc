//! The compactor: moves events from the hot tier (JSON text, cheap to append) to the
//! cold tier (VARIANT, cheap to query), in the background.
//!
//! Every [`TICK`] it looks at the hot tier. It moves rows when the tier has grown past
//! [`COMPACT_AT_ROWS`], or when it holds rows and ingestion is quiet: no write request
//! arrived during the last tick, none is waiting for its commit, and the tier has not
//! grown. (Neither the tier's row count nor arrivals alone is enough: while DuckDB
//! checkpoints inside a commit, commits stop for a second or two, and clients that
//! wait for their acknowledgement send nothing meanwhile; a move started then would
//! compete with the rest of the import for the CPU: it did in the 3.5M-event import of
//! `benches/ingest_throughput.rs` until waiting requests counted, and the import's rate
//! went from 122k to 137k events/s when they did.) A move takes the rows up to a
//! sequence number read before it starts, a million at a time, each million one transaction
//! (`INSERT INTO events_cold ... ; DELETE FROM events_hot ...`), so readers see each row
//! in exactly one tier and appends running meanwhile (higher sequence numbers) are
//! untouched. The same transaction flags the cold rows the moved ones make older
//! copies of (see [`crate::copies`]).
//!
//! It also keeps the day [`Timelines`]: it rebuilds the closed days a move touched at
//! the first quiet tick (right after the move when the move itself was quiet; a busy
//! backfill does not rebuild every day it touches after every move), and at start and
//! whenever a UTC day closes it builds every closed day whose timeline is missing or
//! behind. And it keeps the property kinds queries have learned (see [`crate::kinds`])
//! current after each move, and saves them; and it folds the catalog of what was sent
//! ([`crate::catalog::fold`]).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use duckdb::Connection;
use parking_lot::Mutex;

use crate::copies;
use crate::kinds::KindCache;
use crate::schema::KEY_COLUMNS;
use crate::space::Reserve;
use crate::timelines::{DAY_MS, Timelines, today};

/// How often the compactor looks at the hot tier.
pub const TICK: Duration = Duration::from_secs(1);

/// Hot rows that trigger a move even while ingestion is busy.
///
/// Moving an event costs the server about 16 µs of CPU, more than receiving it (9 to
/// 11 µs), so a move running beside an import roughly halves the import's rate on two
/// cores. Below this many rows the compactor leaves the CPU to the import and moves
/// once ingestion is quiet; queries meanwhile read hot rows member by member from their
/// JSON text (about 0.5 µs a row for each property read; see
/// `sextant_expr::sql::Columns::properties_text`), and the hot tier takes about 750
/// bytes an event on disk. An import that never pauses is bounded by the sum of both
/// costs whatever this is (about 77k events/s here); this sets how large a burst is
/// taken at the full rate.
pub const COMPACT_AT_ROWS: i64 = 4_000_000;

/// Rows a move commits at a time: each chunk is one transaction, so a large move
/// holds no more than this in one transaction and readers see its progress.
const MOVE_CHUNK_ROWS: i64 = 1_000_000;

/// Serialises moves between the background thread and explicit `compact_now` calls:
/// two moves of the same rows would do the work twice and one would then conflict.
pub type CompactionLock = Arc<Mutex<()>>;

/// The store's write requests as the compactor sees them: how many have arrived, and
/// how many are waiting for their commit.
#[derive(Debug, Default)]
pub struct WriteActivity {
    received: AtomicU64,
    waiting: AtomicU64,
}

impl WriteActivity {
    /// Counts a request from its arrival until the returned guard drops (after its
    /// commit, or when the caller gives up waiting).
    pub fn arrive(self: &Arc<Self>) -> Waiting {
        self.received.fetch_add(1, Ordering::Relaxed);
        self.waiting.fetch_add(1, Ordering::Relaxed);
        Waiting(self.clone())
    }

    fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    fn waiting(&self) -> u64 {
        self.waiting.load(Ordering::Relaxed)
    }
}

/// A write request that has arrived and not yet been answered.
#[derive(Debug)]
pub struct Waiting(Arc<WriteActivity>);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What the compactor shares with the rest of the store.
pub struct Shared {
    /// Held by every move and timeline build.
    pub lock: CompactionLock,
    /// The day timelines it keeps.
    pub timelines: Arc<Timelines>,
    /// The property kinds it saves.
    pub kinds: Arc<KindCache>,
    /// The write requests it stays out of the way of.
    pub writes: Arc<WriteActivity>,
    /// Below it, nothing is moved or built (a move grows the log and the database).
    pub reserve: Reserve,
}

/// Runs until `stop` receives or disconnects.
pub fn run(conn: Connection, shared: Shared, stop: Receiver<()>) {
    let Shared { lock, timelines, kinds, writes, reserve } = shared;
    let mut last_count = 0;
    let mut last_writes = writes.received();
    let mut caught_up_to = None;
    // Closed days moved into while ingestion was busy, whose timelines wait for a quiet
    // tick: a backfill touching many days would otherwise rebuild all of them after
    // every move. Scans stay exact meanwhile (they read what a file lacks from DuckDB).
    let mut stale: BTreeSet<(i64, i64)> = BTreeSet::new();
    let mut short_of_space = false;
    loop {
        let today = today();
        // Nothing that writes starts below the reserve: a checkpoint that meets a full
        // disk invalidates the database (see `crate::space`).
        match (reserve.check(), short_of_space) {
            (Err(why), false) => {
                tracing::warn!(why, "compaction paused until the disk has room");
                short_of_space = true;
            }
            (Ok(()), true) => {
                tracing::info!("the disk has room again: compaction resumes");
                short_of_space = false;
            }
            _ => {}
        }
        if short_of_space {
            if stop.recv_timeout(TICK) != Err(RecvTimeoutError::Timeout) {
                break;
            }
            continue;
        }
        if caught_up_to != Some(today) {
            match timelines.catch_up(&conn, today, &lock) {
                Ok(built) => {
                    tracing::debug!(built, "day timelines caught up");
                    caught_up_to = Some(today);
                }
                Err(e) => tracing::warn!(error = %e, "cannot build day timelines; will retry"),
            }
        }
        let stopping = match stop.recv_timeout(TICK) {
            Err(RecvTimeoutError::Timeout) => false,
            Ok(()) | Err(RecvTimeoutError::Disconnected) => true,
        };
        // What queries learned of property kinds, so a restart need not learn it again.
        if let Err(e) = kinds.save(&conn) {
            tracing::warn!(error = %e, "cannot save property kinds; will retry");
        }
        // The catalog's rows, added to at every commit, folded once they are many.
        if let Err(e) = crate::catalog::fold(&conn) {
            tracing::warn!(error = %e, "cannot fold the catalog of what was sent; will retry");
        }
        if stopping {
            break;
        }
        let count = match hot_rows(&conn) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "compactor cannot count hot rows");
                continue;
            }
        };
        let received = writes.received();
        let quiet = count == last_count && received == last_writes && writes.waiting() == 0;
        last_writes = received;
        if count > 0 && (quiet || count >= COMPACT_AT_ROWS) {
            match move_hot(&conn, &lock) {
                Ok((moved, touched)) => {
                    tracing::debug!(moved, "moved events to the cold tier");
                    stale.extend(touched);
                    if moved > 0
                        && let Err(e) = kinds.refresh(&conn)
                    {
                        tracing::warn!(error = %e, "cannot refresh property kinds; queries will read them");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "compaction failed; will retry"),
            }
            last_count = hot_rows(&conn).unwrap_or(0);
        } else {
            last_count = count;
        }
        if quiet {
            for (project, day) in std::mem::take(&mut stale) {
                let _no_move_meanwhile = lock.lock();
                rebuild(&conn, &timelines, project, day);
            }
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
    compact_locked(conn, timelines)
}

/// [`compact`], for a caller that holds the compactor's lock already.
pub fn compact_locked(conn: &Connection, timelines: &Timelines) -> duckdb::Result<usize> {
    let (moved, touched) = move_rows(conn, MOVE_CHUNK_ROWS)?;
    for (project, day) in touched {
        rebuild(conn, timelines, project, day);
    }
    Ok(moved)
}

/// Moves every hot row present now to the cold tier; returns how many, and the closed
/// (project, day) pairs they belong to.
fn move_hot(conn: &Connection, lock: &CompactionLock) -> duckdb::Result<(usize, Vec<(i64, i64)>)> {
    let _only_one_move = lock.lock();
    move_rows(conn, MOVE_CHUNK_ROWS)
}

fn move_rows(conn: &Connection, chunk_rows: i64) -> duckdb::Result<(usize, Vec<(i64, i64)>)> {
    let (first, upto): (Option<i64>, Option<i64>) =
        conn.query_row("SELECT min(seq), max(seq) FROM events_hot", [], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let (Some(first), Some(upto)) = (first, upto) else { return Ok((0, Vec::new())) };
    let touched: Vec<(i64, i64)> = conn
        .prepare("SELECT DISTINCT project_id, time_ms // 86400000 FROM events_hot WHERE seq <= ? AND time_ms < ?")?
        .query_map([upto, today() * DAY_MS], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<duckdb::Result<_>>()?;
    // In sequence order, so that every cold row keeps a smaller sequence number than
    // every hot one (what `move_chunk` relies on) after each chunk's commit.
    let mut moved = 0;
    let mut after = first - 1;
    while after < upto {
        let end = upto.min(after.saturating_add(chunk_rows));
        moved += move_chunk(conn, after, end)?;
        after = end;
    }
    Ok((moved, touched))
}

/// Moves the hot rows with sequence numbers in `(after, upto]`, in one transaction.
fn move_chunk(conn: &Connection, after: i64, upto: i64) -> duckdb::Result<usize> {
    conn.execute_batch("BEGIN TRANSACTION")?;
    let moved = (|| -> duckdb::Result<usize> {
        let moved = conn.execute(
            &format!(
                "INSERT INTO events_cold ({KEY_COLUMNS}, properties, user_hash, copy_hash)
                 SELECT {KEY_COLUMNS}, properties::VARIANT, hash(distinct_id), hash(insert_id) FROM events_hot
                 WHERE seq > ? AND seq <= ?"
            ),
            [after, upto],
        )?;
        // Every cold row has a smaller sequence number than every hot one, so the rows
        // above `after` are this chunk's.
        copies::flag_moved(conn, after, upto)?;
        conn.execute("DELETE FROM events_hot WHERE seq > ? AND seq <= ?", [after, upto])?;
        crate::pause::point(crate::pause::COMPACTION_MOVE);
        conn.execute_batch("COMMIT")?;
        Ok(moved)
    })();
    if moved.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    moved
}

fn rebuild(conn: &Connection, timelines: &Timelines, project: i64, day: i64) {
    if let Err(e) = timelines.rebuild(conn, project, day) {
        // The scan reads what a timeline lacks from DuckDB: slower, still right.
        tracing::warn!(error = %e, project, day, "cannot rebuild a day timeline");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_counts_as_waiting_until_answered_or_abandoned() {
        let activity = Arc::new(WriteActivity::default());
        let first = activity.arrive();
        let second = activity.arrive();
        assert_eq!((activity.received(), activity.waiting()), (2, 2));
        drop(first);
        assert_eq!((activity.received(), activity.waiting()), (2, 1));
        drop(second);
        assert_eq!((activity.received(), activity.waiting()), (2, 0));
    }

    /// A move in several transactions moves each row once and flags the copies whose
    /// later copy arrives in a later chunk.
    #[test]
    fn a_move_in_chunks_moves_every_row_once_and_flags_copies_across_chunks() {
        let conn = Connection::open_in_memory().unwrap();
        crate::schema::migrate(&conn, "1GB", &std::env::temp_dir().to_string_lossy()).unwrap();
        // Ten rows, sequence numbers 1 to 10: 9 is a later copy of 2 (two chunks later),
        // 5 of 4 (the same chunk).
        let key = |seq: i64| match seq {
            9 => 2,
            5 => 4,
            s => s,
        };
        for seq in 1..=10 {
            let k = key(seq);
            conn.execute(
                "INSERT INTO events_hot VALUES (1, 'Play', ?, ?, ?, ?, '{\"n\": 1}')",
                duckdb::params![1_000 * k, format!("u{k}"), format!("i{k}"), seq],
            )
            .unwrap();
        }
        // Chunks of three: (0, 3], (3, 6], (6, 9], (9, 10].
        let (moved, _) = move_rows(&conn, 3).unwrap();
        assert_eq!(moved, 10);
        let count = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
        assert_eq!(count("SELECT count(*) FROM events_hot"), 0);
        assert_eq!(count("SELECT count(*) FROM events_cold"), 10);
        assert_eq!(count("SELECT count(DISTINCT seq) FROM events_cold"), 10);
        let superseded: Vec<i64> = conn
            .prepare("SELECT seq FROM events_cold WHERE superseded ORDER BY seq")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<duckdb::Result<_>>()
            .unwrap();
        assert_eq!(superseded, vec![2, 4]);
    }
}
