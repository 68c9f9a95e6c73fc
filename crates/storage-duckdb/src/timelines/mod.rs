//! Day timelines: the behavioural index of the embedded store.
//!
//! Funnels and retention need each user's events in time order. Reading them out of
//! DuckDB and sorting them cost about 15 s for 56 million events of a 100-million-event
//! store (`benches/funnels.rs` in the query crate), ten times the funnel itself. So, for
//! each project and each closed UTC day (before today), the compactor keeps a file of
//! that day's cold-tier events as plain columns (`$insert_id` hash, time, event name),
//! ordered by user and time, one user hash per run of a user's rows, copies dropped
//! ([`file`]). A scan maps the
//! days it needs and merges them user by user ([`merge`]): days are disjoint in time,
//! so a user's events in time order are their run in each day, one day after another.
//!
//! **Coverage.** A timeline records `covered_seq`, the largest ingestion sequence
//! number among its rows: it holds every cold row of its day with `seq <= covered_seq`
//! (rows reach the cold tier in sequence order, all of a move at once). Rows that
//! arrive later for a closed day (`/import` of old data) are read from DuckDB by the
//! scan until the compactor rebuilds that day, which it does after every move that
//! touched it. Nothing is ever missed or counted twice, whatever the timing.
//!
//! Timelines answer scans by event name and time only; a `where`, a step selector or an
//! `on` is read from DuckDB as before.

pub mod file;
pub mod merge;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use duckdb::Connection;
use duckdb::arrow::array::{Array, AsArray};
use duckdb::arrow::datatypes::{Int64Type, UInt64Type};
use parking_lot::RwLock;

use file::Entry;
pub use file::{DAY_MS, DayFile};

/// The timelines of one store, by (project, day).
pub struct Timelines {
    dir: PathBuf,
    days: RwLock<HashMap<(i64, i64), Arc<DayFile>>>,
}

impl Timelines {
    /// Opens the timelines in `dir` (creating it); unreadable files are removed, and
    /// the compactor rebuilds their days.
    pub fn open(dir: &Path) -> std::io::Result<Timelines> {
        std::fs::create_dir_all(dir)?;
        let mut days = HashMap::new();
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "tl") {
                match DayFile::open(&path) {
                    Ok(f) => {
                        days.insert((f.project, f.day), Arc::new(f));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "dropping an unreadable timeline");
                        let _ = std::fs::remove_file(&path);
                    }
                }
            } else if path.extension().is_some_and(|e| e == "tmp") {
                let _ = std::fs::remove_file(&path);
            }
        }
        Ok(Timelines { dir: dir.to_path_buf(), days: RwLock::new(days) })
    }

    /// The timelines of `project` overlapping `[from_ms, to_ms)`, by day.
    pub fn covering(&self, project: i64, from_ms: i64, to_ms: i64) -> Vec<Arc<DayFile>> {
        if from_ms >= to_ms {
            return Vec::new();
        }
        let days = self.days.read();
        (from_ms.div_euclid(DAY_MS)..=(to_ms - 1).div_euclid(DAY_MS))
            .filter_map(|day| days.get(&(project, day)).cloned())
            .collect()
    }

    /// Forgets a deleted project's timelines and removes their files (a scan still
    /// holding one keeps its mapping until it ends). The caller holds the compactor's
    /// lock, so no build writes one again meanwhile.
    pub fn forget_project(&self, project: i64) {
        self.days.write().retain(|(p, _), _| *p != project);
        let prefix = format!("p{project}-d");
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with(&prefix) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
    }

    /// (Re)builds the timeline of `project`'s `day` from the cold tier.
    pub fn rebuild(&self, conn: &Connection, project: i64, day: i64) -> std::io::Result<()> {
        let path = self.dir.join(format!("p{project}-d{day}.tl"));
        let Some((names, entries, covered_seq)) = read_day(conn, project, day).map_err(std::io::Error::other)? else {
            // Nothing to index (no rows, or more names than a timeline holds): the scan
            // reads the day from DuckDB.
            self.days.write().remove(&(project, day));
            let _ = std::fs::remove_file(&path);
            return Ok(());
        };
        file::write(&path, project, day, covered_seq, &names, &entries)?;
        let f = DayFile::open(&path)?;
        self.days.write().insert((project, day), Arc::new(f));
        Ok(())
    }

    /// Builds every closed day (before `today`) whose timeline is missing or behind the
    /// cold tier: at start, and when a day closes. Each day is built holding `lock`
    /// (the compactor's), so moves and other builds wait for one day at most, and two
    /// builds never write the same file.
    pub fn catch_up(&self, conn: &Connection, today: i64, lock: &parking_lot::Mutex<()>) -> std::io::Result<usize> {
        let mut stmt = conn
            .prepare(
                "SELECT project_id, time_ms // 86400000 AS d, max(seq) FROM events_cold
                 WHERE time_ms < ? GROUP BY ALL ORDER BY ALL",
            )
            .map_err(std::io::Error::other)?;
        let present: Vec<(i64, i64, i64)> = stmt
            .query_map([today * DAY_MS], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .and_then(|rows| rows.collect())
            .map_err(std::io::Error::other)?;
        let mut built = 0;
        let stale = |project, day, max_seq| {
            self.days.read().get(&(project, day)).is_none_or(|f: &Arc<DayFile>| f.covered_seq < max_seq)
        };
        for (project, day, max_seq) in present {
            if stale(project, day, max_seq) {
                let _one_build = lock.lock();
                // Another build may have done it while this one waited.
                if stale(project, day, max_seq) {
                    self.rebuild(conn, project, day)?;
                    built += 1;
                }
            }
        }
        Ok(built)
    }
}

/// The current UTC day number: days before it are closed.
pub fn today() -> i64 {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default();
    now_ms.div_euclid(DAY_MS)
}

/// Names at most a timeline holds per day (the `event` column is 16 bits).
const MAX_NAMES: usize = u16::MAX as usize + 1;

/// One day's cold rows, sorted, without copies, and the largest `seq` among them; `None`
/// when there are none or they cannot be indexed.
#[allow(clippy::type_complexity)]
fn read_day(conn: &Connection, project: i64, day: i64) -> duckdb::Result<Option<(Vec<String>, Vec<Entry>, i64)>> {
    let start = day * DAY_MS;
    let mut stmt = conn.prepare(
        "SELECT user_hash, copy_hash, time_ms, event, seq FROM events_cold
         WHERE project_id = ? AND time_ms >= ? AND time_ms < ?",
    )?;
    let mut names: Vec<String> = Vec::new();
    let mut index: HashMap<String, u16> = HashMap::new();
    let mut entries = Vec::new();
    let mut covered_seq = i64::MIN;
    for batch in stmt.query_arrow(duckdb::params![project, start, start + DAY_MS])? {
        let columns = (
            batch.column(0).as_primitive_opt::<UInt64Type>(),
            batch.column(1).as_primitive_opt::<UInt64Type>(),
            batch.column(2).as_primitive_opt::<Int64Type>(),
            batch.column(4).as_primitive_opt::<Int64Type>(),
        );
        let (Some(user), Some(copy), Some(time), Some(seq)) = columns else { return Ok(None) };
        if user.null_count() + copy.null_count() > 0 {
            return Ok(None);
        }
        let event = batch.column(3);
        for i in 0..batch.num_rows() {
            let Some(name) = crate::behaviour::text_ref(event.as_ref(), i) else { return Ok(None) };
            let id = match index.get(name) {
                Some(&id) => id,
                None if names.len() == MAX_NAMES => return Ok(None),
                None => {
                    let id = names.len() as u16;
                    names.push(name.to_string());
                    index.insert(name.to_string(), id);
                    id
                }
            };
            covered_seq = covered_seq.max(seq.value(i));
            let time = (time.value(i) - start) as u32;
            entries.push(Entry { user: user.value(i), time, event: id, copy: copy.value(i) });
        }
    }
    if entries.is_empty() || entries.len() > u32::MAX as usize {
        return Ok(None);
    }
    entries.sort_unstable();
    entries.dedup();
    Ok(Some((names, entries, covered_seq)))
}
