//! An online copy of the database, taken while ingestion goes on: every table of one
//! snapshot, written into a new DuckDB file.
//!
//! A read connection attaches the new file, opens a transaction under the compactor's
//! lock (so no move between the tiers, erasure or scrub is half done in the snapshot)
//! and reads one row, which fixes the snapshot. The lock is released; the snapshot's
//! largest ingestion sequence number is the backup's recorded point, and
//! `COPY FROM DATABASE` writes the snapshot's tables (and the
//! `events` view) into the new file while the writer keeps committing; a batch is in the
//! snapshot whole or not at all, and everything committed after it has a larger
//! sequence number. The copy is written block by block afresh, so it holds no bytes
//! of deleted rows.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use duckdb::Connection;
use sextant_storage::{BackupPoint, StorageError};

use crate::backend;
use crate::compactor::CompactionLock;
use crate::interpreted::quote;

/// Backups taken by this process, for a name of each one's own.
static TAKEN: AtomicU64 = AtomicU64::new(0);

/// Copies the database `conn` reads into a new file at `dest` (which must not exist).
pub(crate) fn copy(conn: &Connection, lock: &CompactionLock, dest: &Path) -> Result<BackupPoint, StorageError> {
    if dest.exists() {
        return Err(StorageError::InvalidRequest(format!("{} exists already", dest.display())));
    }
    let path = dest.to_str().ok_or_else(|| StorageError::InvalidRequest("the backup path is not UTF-8".into()))?;
    // The store's own catalog is named after its file (`events`).
    let source: String = conn.query_row("SELECT current_database()", [], |r| r.get(0)).map_err(backend)?;
    let source = sextant_expr::sql::quoted_identifier(&source);
    // An attachment is seen by every connection of the instance: a name of its own, so
    // one left by a failed detach never stops the next backup.
    let alias = format!("sextant_backup_{}", TAKEN.fetch_add(1, Ordering::Relaxed));
    conn.execute_batch(&format!("ATTACH {} AS {alias}", quote(path))).map_err(backend)?;
    let copied = snapshot_into(conn, lock, &source, &alias);
    let detached = conn.execute_batch(&format!("DETACH DATABASE IF EXISTS {alias}")).map_err(backend);
    let point = copied?;
    detached?;
    Ok(point)
}

fn snapshot_into(
    conn: &Connection,
    lock: &CompactionLock,
    source: &str,
    alias: &str,
) -> Result<BackupPoint, StorageError> {
    {
        let _compaction = lock.lock();
        conn.execute_batch("BEGIN TRANSACTION").map_err(backend)?;
        // The first read of the store's catalog fixes the snapshot the copy reads; a
        // cheap one, so the compactor waits for no scan.
        if let Err(e) = conn.execute_batch(&format!("SELECT 1 FROM {source}.events_hot LIMIT 1")) {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(backend(e));
        }
    }
    let copied = conn
        .query_row(&format!("SELECT coalesce(max(seq), 0), count(*) FROM {source}.events"), [], |r| {
            Ok(BackupPoint { seq: r.get(0)?, events: r.get::<_, i64>(1)? as u64 })
        })
        .and_then(|point| {
            conn.execute_batch(&format!(
                "COPY FROM DATABASE {source} TO {alias} (SCHEMA); COPY FROM DATABASE {source} TO {alias} (DATA); COMMIT"
            ))?;
            Ok(point)
        });
    let point = match copied {
        Ok(point) => point,
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(backend(e));
        }
    };
    conn.execute_batch(&format!("CHECKPOINT {alias}")).map_err(backend)?;
    Ok(point)
}
