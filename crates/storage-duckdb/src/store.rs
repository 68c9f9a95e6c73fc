//! [`DuckDbStore`]: the embedded backend behind the [`EventStore`] boundary.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;

use async_trait::async_trait;
use duckdb::Connection;
use parking_lot::{Mutex, RwLock};
use sextant_expr::LookupTable;
use sextant_lanes::Lane;
use sextant_model::profile::Refusal;
use sextant_model::{EventRow, IdentityEdge, ProfileUpdate, ProjectId};
use sextant_storage::{
    BehaviourQuery, BehaviourRows, Erased, EventChunks, EventStore, ExportQuery, LookupStore, LookupTableSize,
    ProfilePage, ProfileQuery, ProfileStore, ReportStore, Result, SeenEvent, SegmentCount, SegmentQuery, StorageError,
};
use std::sync::mpsc as std_mpsc;

use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::kinds::KindCache;
use crate::space::Reserve;
use crate::timelines::Timelines;
use crate::writer::{Work, WriteRequest};
use crate::{backend, compactor, copies, export, identity, lookups, nullable, profiles, reports, schema, writer};

/// Settings of the embedded store.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// DuckDB's memory limit, such as `"2GB"`.
    pub memory_limit: String,
    /// Free bytes the data directory's file system keeps: below them writes are refused
    /// (see [`crate::space`]); 0 turns the check off.
    pub min_free_bytes: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions { memory_limit: "4GB".into(), min_free_bytes: crate::space::DEFAULT_MIN_FREE_BYTES }
    }
}

/// Append requests that may wait for the writer at once; more wait for a slot.
const QUEUED_REQUESTS: usize = 256;

/// How long a request waits for one of those slots before it is answered "busy" (503
/// with `Retry-After`, which every SDK retries). Without a bound, a writer slowed down
/// (a full disk, a checkpoint, a flood) let waiting requests pile up in memory, each
/// holding its parsed rows.
pub const QUEUE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Events and profiles in a DuckDB file, written by one group-commit thread.
pub struct DuckDbStore {
    path: PathBuf,
    writes: Mutex<Option<std_mpsc::Sender<WriteRequest>>>,
    /// Bounds the requests queued for the writer (back-pressure on ingestion).
    queue_slots: Semaphore,
    writer: Mutex<Option<JoinHandle<()>>>,
    /// Dropping the sender stops the compactor.
    compactor: Mutex<Option<(std_mpsc::Sender<()>, JoinHandle<()>)>>,
    compaction_lock: compactor::CompactionLock,
    /// Each closed day's events by user and time, for behavioural scans.
    timelines: Arc<Timelines>,
    /// Kept to clone a connection for each read.
    reader: Mutex<Option<Connection>>,
    /// Lookup tables read since they were last replaced.
    lookup_cache: Mutex<HashMap<(ProjectId, String), Arc<LookupTable>>>,
    /// Bumped by every replace and delete, so a read that raced one is not cached.
    lookup_generation: std::sync::atomic::AtomicU64,
    /// The kinds of value event properties hold in the cold tier, learned by queries.
    kinds: Arc<KindCache>,
    /// What each project has sent, as of the last commit (the writer keeps it).
    catalog: Arc<RwLock<crate::catalog::Known>>,
    /// Write requests received and waiting; the compactor tells a quiet tick by them.
    write_activity: Arc<compactor::WriteActivity>,
    /// The free space writes leave on the data directory's disk.
    reserve: Reserve,
}

impl DuckDbStore {
    /// Opens (creating if needed) `dir/events.duckdb`, replaying its write-ahead log.
    pub fn open(dir: &Path, options: &StoreOptions) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| StorageError::Unavailable(format!("{}: {e}", dir.display())))?;
        crate::pause::arm(dir);
        let path = dir.join("events.duckdb");
        let tmp = dir.join("duckdb-tmp");
        // DuckDB starts its worker threads here, and they take the priority of the thread
        // that opens it: the query lane's, so a report's parallel work yields to ingestion.
        let conn = Lane::Interactive
            .call(|| Connection::open(&path))
            .map_err(|e| StorageError::Unavailable(format!("{}: {e}", path.display())))?;
        schema::migrate(&conn, &options.memory_limit, &tmp.to_string_lossy()).map_err(backend)?;
        schema::add_hashes(&conn).map_err(backend)?;
        copies::migrate(&conn).map_err(backend)?;
        profiles::migrate(&conn).map_err(backend)?;
        identity::migrate(&conn).map_err(backend)?;
        lookups::migrate(&conn).map_err(backend)?;
        nullable::migrate(&conn).map_err(backend)?;
        crate::kinds::migrate(&conn).map_err(backend)?;
        crate::catalog::migrate(&conn).map_err(backend)?;
        crate::erasure::migrate(&conn).map_err(backend)?;
        let next_seq = schema::max_seq(&conn).map_err(backend)?;
        let kinds = Arc::new(KindCache::load(&conn, next_seq).map_err(backend)?);
        let catalog = crate::catalog::Known::load(&conn).unwrap_or_else(|e| {
            // The catalog then knows only what arrives from now on; the events are intact.
            tracing::warn!(error = %e, "cannot read the catalog of what was sent");
            Default::default()
        });
        let catalog = Arc::new(RwLock::new(catalog));
        let writer_catalog = catalog.clone();
        let reader = conn.try_clone().map_err(backend)?;
        let compactor_conn = conn.try_clone().map_err(backend)?;
        let (stop, stopped) = std_mpsc::channel();
        let compaction_lock = compactor::CompactionLock::default();
        let lock = compaction_lock.clone();
        let timelines_dir = dir.join("timelines");
        let timelines = Arc::new(
            Timelines::open(&timelines_dir)
                .map_err(|e| StorageError::Unavailable(format!("{}: {e}", timelines_dir.display())))?,
        );
        let compactor_timelines = timelines.clone();
        let compactor_kinds = kinds.clone();
        let write_activity = Arc::new(compactor::WriteActivity::default());
        let compactor_writes = write_activity.clone();
        let reserve = Reserve::new(dir, options.min_free_bytes);
        let (compactor_reserve, writer_reserve) = (reserve.clone(), reserve.clone());
        let compactor = std::thread::Builder::new()
            .name("duckdb-compactor".into())
            .spawn(move || {
                let shared = compactor::Shared {
                    lock,
                    timelines: compactor_timelines,
                    kinds: compactor_kinds,
                    writes: compactor_writes,
                    reserve: compactor_reserve,
                };
                compactor::run(compactor_conn, shared, stopped)
            })
            .map_err(|e| StorageError::Unavailable(e.to_string()))?;
        let (tx, rx) = std_mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("duckdb-writer".into())
            .spawn(move || writer::run(conn, next_seq, rx, writer_reserve, writer_catalog))
            .map_err(|e| StorageError::Unavailable(e.to_string()))?;
        Ok(DuckDbStore {
            path,
            writes: Mutex::new(Some(tx)),
            queue_slots: Semaphore::new(QUEUED_REQUESTS),
            writer: Mutex::new(Some(handle)),
            compactor: Mutex::new(Some((stop, compactor))),
            compaction_lock,
            timelines,
            reader: Mutex::new(Some(reader)),
            lookup_cache: Mutex::default(),
            lookup_generation: Default::default(),
            kinds,
            catalog,
            write_activity,
            reserve,
        })
    }

    /// Moves every event now in the hot tier to the cold tier and rebuilds the day
    /// timelines it touched (the compactor does this on its own; tests and benchmarks
    /// call it to reach a known layout).
    pub async fn compact_now(&self) -> Result<usize> {
        let lock = self.compaction_lock.clone();
        let timelines = self.timelines.clone();
        self.run_blocking(move |conn| compactor::compact(&conn, &lock, &timelines).map_err(backend)).await
    }

    /// Builds every closed day's timeline that is missing or behind (the compactor does
    /// this at start and when a day closes; benchmarks call it to wait for it).
    pub async fn build_timelines(&self) -> Result<usize> {
        let lock = self.compaction_lock.clone();
        let timelines = self.timelines.clone();
        self.run_blocking(move |conn| {
            timelines
                .catch_up(&conn, crate::timelines::today(), &lock)
                .map_err(|e| StorageError::Backend(e.to_string()))
        })
        .await
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read_connection(&self) -> Result<Connection> {
        match self.reader.lock().as_ref() {
            Some(conn) => conn.try_clone().map_err(backend),
            None => Err(closed()),
        }
    }

    /// Queues `work` for the writer thread and waits for its commit.
    async fn write(&self, work: Work) -> Result<crate::writer::Refused> {
        // Before anything is queued: a write refused for space costs one `statvfs`.
        self.reserve.check().map_err(StorageError::DiskFull)?;
        let _waiting = self.write_activity.arrive();
        let _slot = match tokio::time::timeout(QUEUE_WAIT, self.queue_slots.acquire()).await {
            Ok(slot) => slot.map_err(|_| closed())?,
            Err(_) => {
                return Err(StorageError::Busy(format!(
                    "the event store is busy: this write waited {} s for the writer and was not taken; retry later",
                    QUEUE_WAIT.as_secs()
                )));
            }
        };
        let (done, answer) = oneshot::channel();
        {
            let sender = self.writes.lock();
            let sender = sender.as_ref().ok_or_else(closed)?;
            sender.send(WriteRequest { work, done }).map_err(|_| closed())?;
        }
        answer.await.map_err(|_| closed())?
    }

    /// Runs `f` on a read connection to the database, on a blocking thread: for
    /// benchmarks that time hand-written SQL against the store's own queries.
    pub async fn with_connection<T: Send + 'static>(
        &self,
        f: impl FnOnce(Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.run_blocking(f).await
    }

    async fn run_blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let conn = self.read_connection()?;
        // When the caller stops waiting (its deadline passed, or its client went away),
        // the future is dropped and the guard interrupts the statement DuckDB is running,
        // instead of letting a query nobody will read run to its end.
        let guard = InterruptOnDrop(Some(conn.interrupt_handle()));
        let out = Lane::Interactive.run(move || f(conn)).await;
        guard.disarm();
        out.map_err(|e| StorageError::Backend(format!("read task failed: {e}")))?
    }
}

/// Interrupts a connection's running statement when dropped, unless disarmed first.
struct InterruptOnDrop(Option<Arc<duckdb::InterruptHandle>>);

impl InterruptOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for InterruptOnDrop {
    fn drop(&mut self) {
        if let Some(handle) = self.0.take() {
            handle.interrupt();
        }
    }
}

fn closed() -> StorageError {
    StorageError::Unavailable("the event store is closed".into())
}

#[async_trait]
impl EventStore for DuckDbStore {
    async fn append_with_identity(&self, rows: Vec<EventRow>, edges: Vec<IdentityEdge>) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        self.write(Work::Events(rows, edges)).await.map(|_| ())
    }

    fn export(&self, query: ExportQuery) -> EventChunks {
        let (tx, rx) = mpsc::channel(2);
        match self.read_connection() {
            Ok(conn) => {
                Lane::Bulk.spawn(move || export::run(conn, query, tx));
            }
            Err(e) => {
                let _ = tx.try_send(Err(e));
            }
        }
        Box::pin(tokio_stream_from(rx))
    }

    async fn count_events(&self, project_id: ProjectId, from_ms: i64, to_ms: i64) -> Result<u64> {
        self.run_blocking(move |conn| {
            conn.query_row(
                "SELECT count(*) FROM (SELECT DISTINCT event, distinct_id, time_ms, insert_id FROM events \
                 WHERE project_id = ? AND time_ms >= ? AND time_ms < ?)",
                duckdb::params![project_id.0, from_ms, to_ms],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(backend)
        })
        .await
    }

    async fn dictionary(&self, project_id: ProjectId, event: Option<&str>) -> Result<Vec<SeenEvent>> {
        // Copying 50,000 properties out takes milliseconds: not on the async runtime.
        let (catalog, event) = (self.catalog.clone(), event.map(str::to_string));
        tokio::task::spawn_blocking(move || catalog.read().seen(project_id.0, event.as_deref()))
            .await
            .map_err(|e| StorageError::Backend(e.to_string()))
    }

    async fn delete_project(&self, project_id: ProjectId) -> Result<()> {
        // Deletes grow the write-ahead log too: refused on a full disk like any write.
        self.reserve.check().map_err(StorageError::DiskFull)?;
        let sender = self.writes.lock().as_ref().cloned().ok_or_else(closed)?;
        let (lock, timelines, kinds) = (self.compaction_lock.clone(), self.timelines.clone(), self.kinds.clone());
        // Holding the compactor's lock from before the rows go until the timelines do: no
        // move or day build reads the project half deleted or writes a file back.
        let purged = tokio::task::spawn_blocking(move || {
            let _compaction = lock.lock();
            kinds.forget(project_id.0);
            let (done, answer) = oneshot::channel();
            sender.send(WriteRequest { work: Work::Purge(project_id.0), done }).map_err(|_| closed())?;
            answer.blocking_recv().map_err(|_| closed())??;
            timelines.forget_project(project_id.0);
            Ok::<_, StorageError>(())
        })
        .await
        .map_err(|e| StorageError::Backend(e.to_string()))?;
        // A read that raced the delete is not cached either.
        self.lookup_generation.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        self.lookup_cache.lock().retain(|(p, _), _| *p != project_id);
        purged
    }

    async fn identity_cluster(&self, project_id: ProjectId, ids: Vec<String>) -> Result<Vec<String>> {
        self.run_blocking(move |conn| {
            let clusters = identity::load(&conn, project_id, ids.iter().map(String::as_str)).map_err(backend)?;
            let mut all: std::collections::BTreeSet<String> = ids.into_iter().collect();
            all.extend(clusters.memberships().map(|(id, _)| id.to_string()));
            Ok(all.into_iter().collect())
        })
        .await
    }

    async fn erase_users(&self, project_id: ProjectId, job: &str, step: i64, ids: Vec<String>) -> Result<Erased> {
        self.reserve.check().map_err(StorageError::DiskFull)?;
        let sender = self.writes.lock().as_ref().cloned().ok_or_else(closed)?;
        let conn = self.read_connection()?;
        let (lock, job) = (self.compaction_lock.clone(), job.to_string());
        // Under the compactor's lock: no move takes the rows from one tier to the other
        // while they go.
        tokio::task::spawn_blocking(move || {
            let _compaction = lock.lock();
            let (done, answer) = oneshot::channel();
            let step_work = crate::erasure::Step { project: project_id.0, job: job.clone(), step, ids };
            sender.send(WriteRequest { work: Work::Erase(step_work), done }).map_err(|_| closed())?;
            answer.blocking_recv().map_err(|_| closed())??;
            let done = crate::erasure::done(&conn, &job, step)
                .map_err(backend)?
                .ok_or_else(|| StorageError::Backend(format!("erasure step {step} of job {job} was not recorded")))?;
            Ok(Erased { events: done.events as u64, profiles: done.profiles as u64 })
        })
        .await
        .map_err(|e| StorageError::Backend(e.to_string()))?
    }

    async fn scrub(&self, project_id: ProjectId, job: &str) -> Result<()> {
        self.reserve.check().map_err(StorageError::DiskFull)?;
        let sender = self.writes.lock().as_ref().cloned().ok_or_else(closed)?;
        let conn = self.read_connection()?;
        let (lock, timelines, job) = (self.compaction_lock.clone(), self.timelines.clone(), job.to_string());
        let patience = std::time::Duration::from_secs(30);
        // Holding the compactor's lock throughout (only moves, purges and erasures write
        // the cold tier, and all take it): the day timelines of the days the job touched,
        // once for the whole job (a step of 100 people touches most days); the tables the
        // writer writes, on the writer thread between two commits; then the cold tier,
        // while appends go on.
        Lane::Bulk
            .run(move || {
                let started = std::time::Instant::now();
                let _compaction = lock.lock();
                let locked = started.elapsed();
                let today = crate::timelines::today();
                let days = crate::erasure::days_of(&conn, &job).map_err(backend)?;
                for &day in days.iter().filter(|d| **d < today) {
                    timelines.rebuild(&conn, project_id.0, day).map_err(|e| StorageError::Backend(e.to_string()))?;
                }
                let rebuilt = started.elapsed();
                // The hot tier emptied into the cold one, then copied at once: no move
                // runs while the lock is held, so the hot tier only grows from here.
                let moved = compactor::compact_locked(&conn, &timelines).map_err(backend)?;
                let compacted = started.elapsed();
                let (done, answer) = oneshot::channel();
                sender.send(WriteRequest { work: Work::Rebuild, done }).map_err(|_| closed())?;
                answer.blocking_recv().map_err(|_| closed())??;
                let writer_copied = started.elapsed();
                let cold_rows: i64 =
                    conn.query_row("SELECT count(*) FROM events_cold", [], |r| r.get(0)).map_err(backend)?;
                crate::erasure::rebuild_tables(&conn, &["events_cold"]).map_err(backend)?;
                let copied = started.elapsed();
                let (blocks, meta) = crate::erasure::overwrite_free_blocks(&conn, patience).map_err(backend)?;
                tracing::info!(
                    job,
                    days = days.len(),
                    moved,
                    cold_rows,
                    blocks,
                    metadata_blocks = meta,
                    lock_ms = locked.as_millis() as u64,
                    timelines_ms = (rebuilt - locked).as_millis() as u64,
                    compaction_ms = (compacted - rebuilt).as_millis() as u64,
                    writer_copy_ms = (writer_copied - compacted).as_millis() as u64,
                    cold_copy_ms = (copied - writer_copied).as_millis() as u64,
                    overwrite_ms = (started.elapsed() - copied).as_millis() as u64,
                    "scrubbed the event store"
                );
                Ok(())
            })
            .await
            .map_err(|e| StorageError::Backend(format!("scrub task failed: {e}")))?
    }

    async fn backup(&self, dest: std::path::PathBuf) -> Result<sextant_storage::BackupPoint> {
        // The copy is at most the file and its log; checked once, before it starts.
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let wal = PathBuf::from(format!("{}.wal", self.path.display()));
        let dir = dest.parent().unwrap_or(Path::new("."));
        self.reserve.room_for(dir, size(&self.path) + size(&wal)).map_err(StorageError::DiskFull)?;
        let conn = self.read_connection()?;
        let lock = self.compaction_lock.clone();
        // A copy of the whole file is bulk work: it yields to ingestion and reports.
        Lane::Bulk
            .run(move || crate::backup::copy(&conn, &lock, &dest))
            .await
            .map_err(|e| StorageError::Backend(format!("the backup stopped: {e}")))?
    }

    async fn close(&self) -> Result<()> {
        let compactor = self.compactor.lock().take();
        if let Some((stop, handle)) = compactor {
            drop(stop);
            tokio::task::spawn_blocking(move || handle.join())
                .await
                .map_err(|e| StorageError::Backend(e.to_string()))?
                .map_err(|_| StorageError::Backend("the compactor thread panicked".into()))?;
        }
        drop(self.writes.lock().take());
        drop(self.reader.lock().take());
        let handle = self.writer.lock().take();
        if let Some(handle) = handle {
            tokio::task::spawn_blocking(move || handle.join())
                .await
                .map_err(|e| StorageError::Backend(e.to_string()))?
                .map_err(|_| StorageError::Backend("the writer thread panicked".into()))?;
        }
        Ok(())
    }
}

#[async_trait]
impl ProfileStore for DuckDbStore {
    async fn update_profiles(&self, updates: Vec<ProfileUpdate>) -> Result<Vec<(usize, Refusal)>> {
        if updates.is_empty() {
            return Ok(Vec::new());
        }
        self.write(Work::Profiles(updates)).await
    }

    async fn query_profiles(&self, query: ProfileQuery) -> Result<ProfilePage> {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default();
        self.run_blocking(move |conn| profiles::query(&conn, &query, now_ms)).await
    }
}

#[async_trait]
impl LookupStore for DuckDbStore {
    async fn replace_lookup_table(&self, project_id: ProjectId, table_id: &str, table: LookupTable) -> Result<()> {
        let key = (project_id, table_id.to_string());
        let id = table_id.to_string();
        let table = Arc::new(table);
        let stored = table.clone();
        self.lookup_generation.fetch_add(1, Ordering::SeqCst);
        let replaced = self
            .run_blocking(move |mut conn| {
                lookups::replace(&mut conn, project_id, &id, &stored).map_err(backend)?;
                crate::pause::point(crate::pause::LOOKUP_REPLACED);
                Ok(())
            })
            .await;
        let mut cache = self.lookup_cache.lock();
        self.lookup_generation.fetch_add(1, Ordering::SeqCst);
        match replaced {
            Ok(()) => cache.insert(key, table),
            Err(e) => {
                cache.remove(&key);
                return Err(e);
            }
        };
        Ok(())
    }

    async fn lookup_table(&self, project_id: ProjectId, table_id: &str) -> Result<Arc<LookupTable>> {
        let key = (project_id, table_id.to_string());
        if let Some(t) = self.lookup_cache.lock().get(&key) {
            return Ok(t.clone());
        }
        let generation = self.lookup_generation.load(Ordering::SeqCst);
        let id = table_id.to_string();
        let table = self.run_blocking(move |conn| lookups::load(&conn, project_id, &id).map_err(backend)).await?;
        let mut cache = self.lookup_cache.lock();
        if self.lookup_generation.load(Ordering::SeqCst) == generation {
            cache.insert(key, table.clone());
        }
        Ok(table)
    }

    async fn delete_lookup_table(&self, project_id: ProjectId, table_id: &str) -> Result<()> {
        let id = table_id.to_string();
        self.lookup_generation.fetch_add(1, Ordering::SeqCst);
        let deleted =
            self.run_blocking(move |mut conn| lookups::delete(&mut conn, project_id, &id).map_err(backend)).await;
        let mut cache = self.lookup_cache.lock();
        self.lookup_generation.fetch_add(1, Ordering::SeqCst);
        cache.remove(&(project_id, table_id.to_string()));
        deleted
    }

    async fn lookup_table_sizes(&self) -> Result<Vec<LookupTableSize>> {
        self.run_blocking(|conn| lookups::sizes(&conn).map_err(backend)).await
    }
}

#[async_trait]
impl ReportStore for DuckDbStore {
    async fn segment(&self, query: SegmentQuery) -> Result<Vec<SegmentCount>> {
        let kinds = self.kinds.clone();
        self.run_blocking(move |conn| reports::segment(&conn, &query, &kinds)).await
    }

    async fn property_names(
        &self,
        project_id: ProjectId,
        event: &str,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<(String, u64)>> {
        let event = event.to_string();
        self.run_blocking(move |conn| reports::property_names(&conn, project_id, &event, from_ms, to_ms, limit)).await
    }

    async fn behaviour(&self, query: BehaviourQuery) -> Result<BehaviourRows> {
        let timelines = self.timelines.clone();
        let kinds = self.kinds.clone();
        self.run_blocking(move |conn| crate::behaviour::scan(&conn, &query, Some(&timelines), &kinds)).await
    }
}

/// Adapts a receiver into a stream.
fn tokio_stream_from<T: Send + 'static>(mut rx: mpsc::Receiver<T>) -> impl futures::Stream<Item = T> + Send {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
