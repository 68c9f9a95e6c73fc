//! The writer thread: group commit of events and profile updates.
//!
//! Requests queue on a channel. The thread takes the first waiting request, then every
//! other one already queued (up to [`MAX_GROUP_ROWS`]), appends them all in one
//! transaction, commits (DuckDB syncs its write-ahead log on commit), and only then
//! answers each request. Many concurrent requests thus share one sync, and no request
//! is acknowledged before its rows are durable. When a group's transaction fails, each
//! of its requests is committed alone, so a request the store refuses fails by itself
//! and not every request that happened to share its commit. After [`IDLE_CHECKPOINT`] without
//! work, it checkpoints, so the log is folded into the database between bursts.

use parking_lot::RwLock;
use std::collections::HashSet;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use duckdb::Connection;
use duckdb::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringBuilder};
use duckdb::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use sextant_model::profile::Refusal;
use sextant_model::{EventRow, IdentityEdge, ProfileUpdate};
use sextant_storage::Result;
use tokio::sync::oneshot;

use crate::space::Reserve;
use crate::{backend, catalog, identity, nullable, profiles};

/// Rows committed together at most; a larger backlog is committed in several groups.
pub const MAX_GROUP_ROWS: usize = 200_000;

/// Quiet time after which the writer checkpoints.
pub const IDLE_CHECKPOINT: Duration = Duration::from_secs(2);

/// What one request writes.
pub enum Work {
    /// Events to append, and the identity operations they carry.
    Events(Vec<EventRow>, Vec<IdentityEdge>),
    /// Profile updates to apply, in order.
    Profiles(Vec<ProfileUpdate>),
    /// Every row of a deleted project, in one transaction of its own.
    Purge(i64),
    /// One step of a GDPR deletion, in a transaction of its own.
    Erase(crate::erasure::Step),
    /// The tables the writer writes, copied afresh (after an erasure).
    Rebuild,
}

impl Work {
    fn len(&self) -> usize {
        match self {
            Work::Events(rows, _) => rows.len(),
            Work::Profiles(updates) => updates.len(),
            Work::Purge(_) | Work::Erase(_) | Work::Rebuild => 0,
        }
    }

    /// Whether it is committed alone, never grouped with appends.
    fn is_solo(&self) -> bool {
        matches!(self, Work::Purge(_) | Work::Erase(_) | Work::Rebuild)
    }

    fn events(&self) -> &[EventRow] {
        match self {
            Work::Events(rows, _) => rows,
            Work::Profiles(_) | Work::Purge(_) | Work::Erase(_) | Work::Rebuild => &[],
        }
    }
}

/// One write waiting for its commit.
pub struct WriteRequest {
    /// What to write.
    pub work: Work,
    /// Answered after the commit, with the profile updates refused (see [`Refused`]).
    pub done: oneshot::Sender<Result<Refused>>,
}

/// The profile updates of a request that the profiles they land on refused, by
/// position in the request, each with why (empty for events).
pub type Refused = Vec<(usize, Refusal)>;

/// Runs until every sender is dropped, then checkpoints the database.
pub fn run(
    conn: Connection,
    mut next_seq: i64,
    queue: Receiver<WriteRequest>,
    reserve: Reserve,
    catalog: Arc<RwLock<catalog::Known>>,
) {
    sextant_lanes::boost_current_thread(sextant_lanes::WRITER_BOOST);
    let mut dirty = false;
    let mut nullable = nullable::load(&conn).unwrap_or_else(|e| {
        // Names are then recorded again (INSERT OR IGNORE): slower, still right.
        tracing::warn!(error = %e, "cannot read the null property names");
        Default::default()
    });
    // A purge or erasure met while gathering a group, committed after it.
    let mut held: Option<WriteRequest> = None;
    loop {
        let first = if let Some(req) = held.take() {
            req
        } else if dirty {
            match queue.recv_timeout(IDLE_CHECKPOINT) {
                Ok(req) => req,
                Err(RecvTimeoutError::Timeout) => {
                    // A checkpoint that meets a full disk invalidates the database (see
                    // `crate::space`); the log keeps the rows until there is room.
                    if reserve.check().is_ok() {
                        checkpoint(&conn);
                        dirty = false;
                    }
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        } else {
            match queue.recv() {
                Ok(req) => req,
                Err(_) => break,
            }
        };
        crate::pause::point(crate::pause::WRITER_COMMIT);
        if first.work.is_solo() {
            let result = match &first.work {
                Work::Purge(project) => purge(&conn, *project, &mut nullable, &catalog),
                Work::Erase(step) => crate::erasure::erase(&conn, step).map_err(backend),
                _ => crate::erasure::rebuild_tables(&conn, &crate::erasure::WRITER_TABLES).map_err(backend),
            };
            dirty = true;
            let _ = first.done.send(result.map(|()| Vec::new()));
            continue;
        }
        let mut group = vec![first];
        let mut rows = group[0].work.len();
        while rows < MAX_GROUP_ROWS {
            match queue.try_recv() {
                Ok(req) if req.work.is_solo() => {
                    held = Some(req);
                    break;
                }
                Ok(req) => {
                    rows += req.work.len();
                    group.push(req);
                }
                Err(_) => break,
            }
        }
        match commit_group(&conn, &mut group, next_seq, &mut nullable, &catalog) {
            Ok(refused) => {
                next_seq += group.iter().map(|r| r.work.events().len() as i64).sum::<i64>();
                dirty = true;
                for (req, refused) in group.into_iter().zip(refused) {
                    let _ = req.done.send(Ok(refused));
                }
            }
            Err(e) if group.len() == 1 => {
                tracing::error!(error = %e, rows, "append failed");
                let _ = group.remove(0).done.send(Err(e));
            }
            // One request the store refuses must not fail every other client's request
            // that shared its commit: the group rolled back, so each is tried alone.
            Err(e) => {
                tracing::warn!(error = %e, requests = group.len(), "group commit failed; committing its requests one by one");
                for mut req in group {
                    let result = commit_group(&conn, std::slice::from_mut(&mut req), next_seq, &mut nullable, &catalog)
                        .map(|mut refused| refused.pop().unwrap_or_default());
                    match &result {
                        Ok(_) => {
                            next_seq += req.work.events().len() as i64;
                            dirty = true;
                        }
                        Err(e) => tracing::error!(error = %e, rows = req.work.len(), "append failed"),
                    }
                    let _ = req.done.send(result);
                }
            }
        }
    }
    if reserve.check().is_ok() {
        checkpoint(&conn);
    }
}

/// The tables holding a project's rows, children first (snapshots point at sessions).
const PROJECT_ROWS: [&str; 13] = [
    "engage_snapshots WHERE session_id IN (SELECT session_id FROM engage_sessions WHERE project_id = ?)",
    "engage_sessions WHERE project_id = ?",
    "profiles WHERE project_id = ?",
    "identities WHERE project_id = ?",
    "lookup_rows WHERE project_id = ?",
    "lookup_headers WHERE project_id = ?",
    "null_properties WHERE project_id = ?",
    "property_kinds WHERE project_id = ?",
    "catalog_events WHERE project_id = ?",
    "catalog_properties WHERE project_id = ?",
    "events_hot WHERE project_id = ?",
    "events_cold WHERE project_id = ?",
    "erasures WHERE project_id = ?",
];

/// Deletes every row of `project` in one transaction, then forgets what the writer
/// remembers of it. Run on the writer thread, so no append of the project's interleaves.
fn purge(
    conn: &Connection,
    project: i64,
    nullable: &mut HashSet<(i64, String)>,
    catalog: &RwLock<catalog::Known>,
) -> Result<()> {
    if conn.execute_batch("BEGIN TRANSACTION").is_err() {
        let _ = conn.execute_batch("ROLLBACK");
        conn.execute_batch("BEGIN TRANSACTION").map_err(backend)?;
    }
    let deleted = PROJECT_ROWS
        .iter()
        .try_for_each(|table| conn.execute(&format!("DELETE FROM {table}"), [project]).map(drop))
        .and_then(|()| conn.execute_batch("COMMIT"));
    if let Err(e) = deleted {
        let _ = conn.execute_batch("ROLLBACK");
        return Err(backend(e));
    }
    nullable.retain(|(p, _)| *p != project);
    catalog.write().forget(project);
    Ok(())
}

fn checkpoint(conn: &Connection) {
    // Fails harmlessly while the compactor's transaction is open; the next idle
    // period (or DuckDB's own threshold) checkpoints instead.
    if let Err(e) = conn.execute_batch("CHECKPOINT") {
        tracing::debug!(error = %e, "checkpoint skipped");
    }
}

fn commit_group(
    conn: &Connection,
    group: &mut [WriteRequest],
    first_seq: i64,
    nullable: &mut HashSet<(i64, String)>,
    catalog: &RwLock<catalog::Known>,
) -> Result<Vec<Refused>> {
    if conn.execute_batch("BEGIN TRANSACTION").is_err() {
        // A transaction left open by a failure whose rollback failed too (seen after
        // DuckDB ran out of memory mid-commit) would refuse every later write: end it.
        let _ = conn.execute_batch("ROLLBACK");
        conn.execute_batch("BEGIN TRANSACTION").map_err(backend)?;
    }
    #[cfg(test)]
    if group.iter().flat_map(|req| req.work.events()).any(|row| row.event == tests::REFUSED) {
        let _ = conn.execute_batch("ROLLBACK");
        return Err(sextant_storage::StorageError::Backend("refused by the test".into()));
    }
    if let Err(e) = identity::apply_edges(conn, group) {
        let _ = conn.execute_batch("ROLLBACK");
        return Err(backend(e));
    }
    // One scan of each row's properties serves the catalog and the names holding `null`.
    let mut seen = catalog.read().changes(group.iter().flat_map(|req| req.work.events().iter()));
    let found = std::mem::take(&mut seen.nulls);
    let added = if found.is_empty() { Ok(Vec::new()) } else { nullable::record(conn, nullable, found) };
    let added = match added {
        Ok(added) => added,
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(backend(e));
        }
    };
    if let Err(e) = catalog::record(conn, &seen) {
        let _ = conn.execute_batch("ROLLBACK");
        return Err(backend(e));
    }
    let rows = group.iter().flat_map(|req| req.work.events().iter());
    // Each update with its request and its position there, to hand refusals back.
    let (owners, updates): (Vec<(usize, usize)>, Vec<&ProfileUpdate>) = group
        .iter()
        .enumerate()
        .flat_map(|(r, req)| match &req.work {
            Work::Profiles(updates) => updates.iter().enumerate().map(|(at, u)| ((r, at), u)).collect::<Vec<_>>(),
            Work::Events(..) | Work::Purge(_) | Work::Erase(_) | Work::Rebuild => Vec::new(),
        })
        .unzip();
    let written = append_rows(conn, rows, first_seq)
        .and_then(|()| if updates.is_empty() { Ok(Vec::new()) } else { profiles::apply_updates(conn, &updates) });
    match written.and_then(|refused| conn.execute_batch("COMMIT").map(|()| refused)) {
        Ok(refused) => {
            nullable.extend(added);
            catalog.write().apply(seen);
            let mut per_request: Vec<Refused> = group.iter().map(|_| Vec::new()).collect();
            for (flat, why) in refused {
                let (r, at) = owners[flat];
                per_request[r].push((at, why));
            }
            Ok(per_request)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(backend(e))
        }
    }
}

/// Appends rows to `events_hot` in the current transaction, numbering them from
/// `first_seq + 1`. Rows go in as Arrow columns, DuckDB's bulk path: several times
/// faster than appending value by value.
pub fn append_rows<'a>(
    conn: &Connection,
    rows: impl Iterator<Item = &'a EventRow> + Clone,
    first_seq: i64,
) -> duckdb::Result<()> {
    let n = rows.clone().count();
    if n == 0 {
        return Ok(());
    }
    let strings = |f: fn(&EventRow) -> &str| -> ArrayRef {
        let bytes: usize = rows.clone().map(|r| f(r).len()).sum();
        let mut b = StringBuilder::with_capacity(n, bytes);
        for r in rows.clone() {
            b.append_value(f(r));
        }
        Arc::new(b.finish())
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(rows.clone().map(|r| r.project_id.0))),
        strings(|r| &r.event),
        Arc::new(Int64Array::from_iter_values(rows.clone().map(|r| r.time_ms))),
        strings(|r| &r.distinct_id),
        strings(|r| &r.insert_id),
        Arc::new(Int64Array::from_iter_values((1..=n as i64).map(|i| first_seq + i))),
        strings(|r| &r.properties),
    ];
    let batch =
        RecordBatch::try_new(schema(), columns).map_err(|e| duckdb::Error::ToSqlConversionFailure(Box::new(e)))?;
    let mut appender = conn.appender("events_hot")?;
    appender.append_record_batch(batch)?;
    appender.flush()
}

fn schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let field = |name: &str, t: DataType| Field::new(name, t, false);
            Arc::new(Schema::new(vec![
                field("project_id", DataType::Int64),
                field("event", DataType::Utf8),
                field("time_ms", DataType::Int64),
                field("distinct_id", DataType::Utf8),
                field("insert_id", DataType::Utf8),
                field("seq", DataType::Int64),
                field("properties", DataType::Utf8),
            ]))
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use sextant_model::{EventRow, ProjectId};
    use sextant_storage::{EventStore, StorageError};

    use crate::{DuckDbStore, StoreOptions};

    /// An event name the writer refuses in these tests, standing for whatever a store
    /// may refuse of one request.
    pub(super) const REFUSED: &str = "refused-by-the-test";

    fn row(i: i64, event: &str) -> EventRow {
        EventRow {
            project_id: ProjectId(1),
            event: event.into(),
            time_ms: 1_704_067_200_000 + i,
            distinct_id: format!("u{i}"),
            insert_id: format!("i{i}"),
            properties: "{}".into(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_request_the_store_refuses_fails_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(DuckDbStore::open(dir.path(), &StoreOptions::default()).unwrap());
        // Appends sent at once share commits; the store refuses one of them.
        let tasks: Vec<_> = (0..64)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move { store.append(vec![row(i, if i == 7 { REFUSED } else { "E" })]).await })
            })
            .collect();
        for (i, task) in tasks.into_iter().enumerate() {
            let answer = task.await.unwrap();
            assert_eq!(answer.is_err(), i == 7, "request {i}: {answer:?}");
        }
        let stored = store.count_events(ProjectId(1), 0, i64::MAX).await.unwrap();
        assert_eq!(stored, 63, "every other request's row is stored");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_stop_below_the_free_space_reserve() {
        let dir = tempfile::tempdir().unwrap();
        // No disk has this much free: every write is below the reserve.
        let options = StoreOptions { min_free_bytes: u64::MAX, ..StoreOptions::default() };
        let store = DuckDbStore::open(dir.path(), &options).unwrap();
        let refused = store.append(vec![row(1, "E")]).await.unwrap_err();
        assert!(matches!(&refused, StorageError::DiskFull(m) if m.contains("disk is full")), "{refused:?}");
        assert_eq!(store.count_events(ProjectId(1), 0, i64::MAX).await.unwrap(), 0);
    }
}
