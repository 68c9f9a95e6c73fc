//! The writer thread: group commit.
//!
//! Requests queue on a bounded channel. The thread takes the first waiting request,
//! then every other one already queued (up to [`MAX_GROUP_ROWS`]), appends them all in
//! one transaction, commits (DuckDB syncs its write-ahead log on commit), and only then
//! answers each request. Many concurrent requests thus share one sync, and no request
//! is acknowledged before its rows are durable.

use duckdb::{Connection, params};
use sextant_model::EventRow;
use sextant_storage::{Result, StorageError};
use tokio::sync::{mpsc, oneshot};

use crate::backend;

/// Rows committed together at most; a larger backlog is committed in several groups.
pub const MAX_GROUP_ROWS: usize = 200_000;

/// One append waiting for its commit.
pub struct WriteRequest {
    /// The rows to append.
    pub rows: Vec<EventRow>,
    /// Answered after the commit.
    pub done: oneshot::Sender<Result<()>>,
}

/// Runs until every sender is dropped, then checkpoints the database.
pub fn run(conn: Connection, mut next_seq: i64, mut queue: mpsc::Receiver<WriteRequest>) {
    while let Some(first) = queue.blocking_recv() {
        let mut group = vec![first];
        let mut rows = group[0].rows.len();
        while rows < MAX_GROUP_ROWS {
            match queue.try_recv() {
                Ok(req) => {
                    rows += req.rows.len();
                    group.push(req);
                }
                Err(_) => break,
            }
        }
        let result = commit_group(&conn, &group, next_seq);
        match &result {
            Ok(()) => next_seq += rows as i64,
            Err(e) => tracing::error!(error = %e, rows, "event append failed"),
        }
        for req in group {
            let answer = match &result {
                Ok(()) => Ok(()),
                Err(e) => Err(StorageError::Backend(e.to_string())),
            };
            let _ = req.done.send(answer);
        }
    }
    if let Err(e) = conn.execute_batch("CHECKPOINT") {
        tracing::warn!(error = %e, "checkpoint on close failed");
    }
}

fn commit_group(conn: &Connection, group: &[WriteRequest], first_seq: i64) -> Result<()> {
    conn.execute_batch("BEGIN TRANSACTION").map_err(backend)?;
    let appended = (|| {
        let mut appender = conn.appender("events")?;
        let mut seq = first_seq;
        for req in group {
            for r in &req.rows {
                seq += 1;
                appender.append_row(params![
                    r.project_id.0,
                    r.event,
                    r.time_ms,
                    r.distinct_id,
                    r.insert_id,
                    seq,
                    r.properties
                ])?;
            }
        }
        appender.flush()
    })();
    match appended.and_then(|()| conn.execute_batch("COMMIT")) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(backend(e))
        }
    }
}
