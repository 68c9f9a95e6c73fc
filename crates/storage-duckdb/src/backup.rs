//! An online copy of the database, taken while ingestion goes on: every table of one
//! snapshot, written into a new DuckDB file.
//!
//! A read connection attaches the new file, opens a transaction under the compactor's
//! lock (so no move between the tiers, erasure or scrub is half done in the snapshot)
//! and reads the largest ingestion sequence number in it: the backup's recorded point.
//! The lock is released and `COPY FROM DATABASE` writes the snapshot's tables (and the
//! `events` view) into the new file while the writer keeps committing; a batch is in the
//! snapshot whole or not at all, and everything committed after it has a larger
//! sequence number. The copy is written block by block afresh, so it holds no bytes
//! of deleted rows.

use std::path::Path;

use duckdb::Connection;
use sextant_storage::{BackupPoint, StorageError};

use crate::backend;
use crate::compactor::CompactionLock;
use crate::interpreted::quote;

/// The name the new file is attached under, for the length of the copy.
const ALIAS: &str = "sextant_backup";

/// Copies the database `conn` reads into a new file at `dest` (which must not exist).
pub(crate) fn copy(conn: &Connection, lock: &CompactionLock, dest: &Path) -> Result<BackupPoint, StorageError> {
    if dest.exists() {
        return Err(StorageError::InvalidRequest(format!("{} exists already", dest.display())));
    }
    let path = dest.to_str().ok_or_else(|| StorageError::InvalidRequest("the backup path is not UTF-8".into()))?;
    // The store's own catalog is named after its file (`events`).
    let source: String = conn.query_row("SELECT current_database()", [], |r| r.get(0)).map_err(backend)?;
    let source = format!("\"{}\"", source.replace('"', "\"\""));
    conn.execute_batch(&format!("ATTACH {} AS {ALIAS}", quote(path))).map_err(backend)?;
    let copied = snapshot_into(conn, lock, &source);
    let detached = conn.execute_batch(&format!("DETACH {ALIAS}")).map_err(backend);
    let point = copied?;
    detached?;
    Ok(point)
}

fn snapshot_into(conn: &Connection, lock: &CompactionLock, source: &str) -> Result<BackupPoint, StorageError> {
    let point = {
        let _compaction = lock.lock();
        conn.execute_batch("BEGIN TRANSACTION").map_err(backend)?;
        // The first read of the store's catalog fixes the snapshot the copy reads.
        let read = conn.query_row(&format!("SELECT coalesce(max(seq), 0), count(*) FROM {source}.events"), [], |r| {
            Ok(BackupPoint { seq: r.get(0)?, events: r.get::<_, i64>(1)? as u64 })
        });
        match read {
            Ok(point) => point,
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(backend(e));
            }
        }
    };
    let copied = conn.execute_batch(&format!(
        "COPY FROM DATABASE {source} TO {ALIAS} (SCHEMA); COPY FROM DATABASE {source} TO {ALIAS} (DATA); COMMIT"
    ));
    if let Err(e) = copied {
        let _ = conn.execute_batch("ROLLBACK");
        return Err(backend(e));
    }
    conn.execute_batch(&format!("CHECKPOINT {ALIAS}")).map_err(backend)?;
    Ok(point)
}
