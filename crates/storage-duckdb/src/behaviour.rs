//! Behavioural scans for funnels and retention: each user's matching events, in time
//! order, as columns.
//!
//! One SQL statement reads only the asked events of the range, computes each event's
//! condition bits (step `i` is bit `i`), its user (a hash of the canonical id) and, for
//! `on`, its segment keys; the rows come back as Arrow batches, not row by row, and are
//! sorted by user and time in Rust. Copies of an event are then dropped
//! (they sort next to each other: same user, same time, same `$insert_id` and same
//! condition bits, hence the same event name). When an expression does not
//! compile, the rows are read whole and the interpreter decides in Rust, with the same
//! answers.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use duckdb::Connection;
use duckdb::arrow::array::{Array, AsArray};
use duckdb::arrow::datatypes::{Int64Type, UInt32Type, UInt64Type};
use sextant_expr::sql::{CompileError, KindSet, duckdb_predicate, duckdb_segment_key};
use sextant_storage::{BehaviourQuery, BehaviourRows, Result, StorageError};

use crate::backend;
use crate::interpreted::{quote, reads_user};
use crate::kinds::KindCache;
use crate::tier::{Tier, TierScan};
use crate::timelines::merge;
use crate::timelines::{DAY_MS, DayFile, Timelines};

/// Runs a behavioural scan on `conn`, through the day timelines where they answer it.
pub fn scan(
    conn: &Connection,
    q: &BehaviourQuery,
    timelines: Option<&Timelines>,
    kinds: &KindCache,
) -> Result<BehaviourRows> {
    if q.conditions.len() > 32 {
        return Err(StorageError::Backend("a behavioural scan takes at most 32 conditions".into()));
    }
    if q.from_ms >= q.to_ms || q.conditions.is_empty() {
        return Ok(BehaviourRows::new());
    }
    let by_name_and_time = q.filter.is_none() && q.segment.is_none() && q.conditions.iter().all(|c| c.filter.is_none());
    if let Some(timelines) = timelines.filter(|_| by_name_and_time) {
        let days = timelines.covering(q.project_id.0, q.from_ms, q.to_ms);
        if !days.is_empty() {
            return over_timelines(conn, q, &days);
        }
    }
    let uid = crate::identity::distinct_id_sql(conn, q.project_id).map_err(backend)?;
    let head = scan_head(q);
    // One transaction: what it learns of the properties' kinds describes the rows it reads.
    conn.execute_batch("BEGIN TRANSACTION").map_err(backend)?;
    let out = (|| {
        let nullable = crate::nullable::of_project(conn, q.project_id.0).map_err(backend)?;
        let expressions = [&q.filter, &q.segment].into_iter().chain(q.conditions.iter().map(|c| &c.filter));
        let names = crate::reports::event_properties(expressions);
        let events: Option<Vec<String>> = q.conditions.iter().map(|c| c.event.clone()).collect();
        let kinds = kinds.of(conn, q.project_id.0, &events.unwrap_or_default(), &names).map_err(backend)?;
        match compiled_sql(q, &head, uid, &["TRUE".to_string()], &nullable, Some(&kinds)) {
            Ok(sql) => Ok(compiled(conn, &sql, q.segment_mask, q.segment.is_some())?.finish()),
            Err(why) => {
                tracing::debug!(%why, "behavioural scan evaluated per event");
                let join_user = joins_user(q);
                per_event(conn, q, &head, uid, join_user)
            }
        }
    })();
    // Read only: ending it either way changes nothing.
    let _ = conn.execute_batch(if out.is_ok() { "COMMIT" } else { "ROLLBACK" });
    out
}

/// The scan's conditions on every row: project, range and, unless a condition takes
/// any event, the asked event names.
fn scan_head(q: &BehaviourQuery) -> String {
    let mut head =
        format!("e.project_id = {} AND e.time_ms >= {} AND e.time_ms < {}", q.project_id.0, q.from_ms, q.to_ms);
    let names: Option<Vec<String>> = q.conditions.iter().map(|c| c.event.as_deref().map(quote)).collect();
    if let Some(mut names) = names {
        names.sort();
        names.dedup();
        head.push_str(&format!(" AND e.event IN ({})", names.join(", ")));
    }
    head
}

fn joins_user(q: &BehaviourQuery) -> bool {
    reads_user(q.filter.as_ref())
        || reads_user(q.segment.as_ref())
        || q.conditions.iter().any(|c| reads_user(c.filter.as_ref()))
}

/// The scan as one statement: the cold tier once per entry of `cold_parts` (each an
/// extra condition on its rows), and the hot tier.
fn compiled_sql(
    q: &BehaviourQuery,
    head: &str,
    uid: &str,
    cold_parts: &[String],
    nullable: &Arc<HashSet<String>>,
    cold_kinds: Option<&Arc<HashMap<String, KindSet>>>,
) -> std::result::Result<String, CompileError> {
    let join_user = joins_user(q);
    let mut selects = Vec::new();
    for part in cold_parts {
        let head = format!("{head} AND ({part})");
        let cold = TierScan { tier: Tier::Cold, head: &head, uid, join_user, nullable, kinds: cold_kinds };
        selects.push(tier_select(&cold, q)?);
    }
    let hot = TierScan { tier: Tier::Hot, head, uid, join_user, nullable, kinds: None };
    selects.push(tier_select(&hot, q)?);
    // Without selectors every row read matches a condition: no mask test needed.
    let selective = q.conditions.iter().any(|c| c.filter.is_some() || c.from_ms.is_some());
    let keep = if selective { "WHERE m <> 0" } else { "" };
    // Sorted in Rust (see `sort_by_user_and_time`): faster than DuckDB's ORDER BY.
    Ok(format!("SELECT * FROM ({}) {keep}", selects.join(" UNION ALL ")))
}

/// A scan by event name and time over day timelines: the rows they do not hold come
/// from DuckDB (see [`crate::timelines`] for which), ids merged into another user are
/// moved under it, and [`merge::scan`] does the rest.
fn over_timelines(conn: &Connection, q: &BehaviourQuery, days: &[Arc<DayFile>]) -> Result<BehaviourRows> {
    let uid = crate::identity::distinct_id_sql(conn, q.project_id).map_err(backend)?;
    let head = scan_head(q);
    // No expressions here (timelines serve only scans by name and time).
    let sql = compiled_sql(q, &head, uid, &uncovered(q, days), &Arc::default(), None)
        .map_err(|e| StorageError::Backend(format!("behavioural scan: {e}")))?;
    let extra = compiled(conn, &sql, 0, false)?.sorted_rows();
    let moved = if uid == "e.distinct_id" { HashMap::new() } else { merged_ids(conn, q.project_id.0)? };
    Ok(merge::scan(days, q, extra, &moved))
}

/// Conditions on cold rows for what `days` do not hold within the scan's range: the
/// stretches without a timeline, and rows of a covered day past its `covered_seq`.
fn uncovered(q: &BehaviourQuery, days: &[Arc<DayFile>]) -> Vec<String> {
    let mut parts = Vec::new();
    let mut from = q.from_ms;
    for d in days {
        let start = d.start_ms().max(q.from_ms);
        if start > from {
            parts.push(format!("e.time_ms >= {from} AND e.time_ms < {start}"));
        }
        from = from.max((d.start_ms() + DAY_MS).min(q.to_ms));
    }
    if from < q.to_ms {
        parts.push(format!("e.time_ms >= {from} AND e.time_ms < {}", q.to_ms));
    }
    let oldest = days.iter().map(|d| d.covered_seq).min().unwrap_or(i64::MAX);
    let late: Vec<String> = days
        .iter()
        .map(|d| {
            let start = d.start_ms();
            format!("(e.time_ms >= {start} AND e.time_ms < {} AND e.seq > {})", start + DAY_MS, d.covered_seq)
        })
        .collect();
    // `seq > oldest` on its own lets DuckDB skip old row groups by their statistics.
    parts.push(format!("e.seq > {oldest} AND ({})", late.join(" OR ")));
    parts
}

/// Hash of each id merged into another, to the hash of its canonical id.
fn merged_ids(conn: &Connection, project: i64) -> Result<HashMap<u64, u64>> {
    let mut stmt = conn
        .prepare("SELECT hash(id), hash(canonical) FROM identities WHERE project_id = ? AND id <> canonical")
        .map_err(backend)?;
    let rows = stmt.query_map([project], |r| Ok((r.get::<_, u64>(0)?, r.get::<_, u64>(1)?))).map_err(backend)?;
    rows.collect::<duckdb::Result<HashMap<u64, u64>>>().map_err(backend)
}

/// One tier's rows as `(u, t, m, c[, s, l])`:
/// user hash, time, condition mask, a hash of the `$insert_id` and, with `on`, the
/// segment key text (non-list values) and the segment key texts as a JSON list (list
/// values).
///
/// The user is `hash(canonical id)`. The cold tier stores `hash(distinct_id)` and
/// `hash(insert_id)` (see [`crate::schema`]), so it reads integers: through the identity
/// graph by joining on the hashes of merged ids, which gives the same value.
fn tier_select(scan: &TierScan, q: &BehaviourQuery) -> std::result::Result<String, CompileError> {
    let TierScan { tier, head, uid, .. } = *scan;
    let table = tier.table();
    // Ids merged into others exist only when the uid reads through the identity graph.
    let merged = uid != "e.distinct_id";
    let (from, user, copy, head) = if scan.join_user {
        (scan.with_profile(&format!("{table} e WHERE {head}")), "hash(e.uid)".to_string(), "hash(e.insert_id)", "TRUE")
    } else if tier == Tier::Hot {
        (format!("{table} e"), format!("hash({uid})"), "hash(e.insert_id)", head)
    } else if merged {
        (
            format!(
                "{table} e LEFT JOIN (SELECT hash(id) AS h, hash(canonical) AS c FROM identities \
                 WHERE project_id = {}) m ON m.h = e.user_hash",
                q.project_id.0
            ),
            "coalesce(m.c, e.user_hash)".to_string(),
            "e.copy_hash",
            head,
        )
    } else {
        (format!("{table} e"), "e.user_hash".to_string(), "e.copy_hash", head)
    };
    let columns = scan.columns();
    let mut mask = Vec::new();
    for (i, c) in q.conditions.iter().enumerate() {
        let mut condition = match &c.event {
            Some(name) => format!("e.event = {}", quote(name)),
            None => "TRUE".to_string(),
        };
        if let Some(from) = c.from_ms {
            condition.push_str(&format!(" AND e.time_ms >= {from}"));
        }
        if let Some(f) = &c.filter {
            condition.push_str(&format!(" AND coalesce({}, FALSE)", duckdb_predicate(f, &columns)?));
        }
        mask.push(format!("CASE WHEN {condition} THEN {} ELSE 0 END", 1_i64 << i));
    }
    let filter = match &q.filter {
        None => "TRUE".to_string(),
        Some(p) => format!("coalesce({}, FALSE)", duckdb_predicate(p, &columns)?),
    };
    let segments = match &q.segment {
        None => String::new(),
        Some(p) => {
            let k = duckdb_segment_key(p, &columns)?;
            let list = match k.list() {
                Some(texts) => format!("CAST(to_json(CAST({texts} AS VARCHAR[])) AS VARCHAR)"),
                None => "CAST(NULL AS VARCHAR)".to_string(),
            };
            format!(", CAST({} AS VARCHAR) AS s, {list} AS l", k.scalar)
        }
    };
    Ok(format!(
        "SELECT {user} AS u, e.time_ms AS t, CAST({mask} AS UINTEGER) AS m, {copy} AS c{segments}
         FROM {from} WHERE {head} AND {filter}",
        mask = mask.join(" + "),
    ))
}

/// One scanned event. The derived order is (user, time, mask, copy): the scan's order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Row {
    /// Hash of the canonical user.
    pub user: u64,
    pub time_ms: i64,
    /// Condition bits.
    pub mask: u32,
    /// A hash of its `$insert_id`: among one user's events at one instant, a row with
    /// the same hash and the same mask (hence the same event name) is a copy.
    pub copy: u64,
    pub segment: u32,
}

/// Collects scanned rows, interns segment key sets, then sorts and drops copies.
struct Collector {
    rows: Vec<Row>,
    segments: Vec<Vec<String>>,
    interned: HashMap<Vec<String>, u32>,
}

impl Collector {
    fn new() -> Self {
        Collector { rows: Vec::new(), segments: vec![Vec::new()], interned: HashMap::new() }
    }

    fn intern(&mut self, mut keys: Vec<String>) -> u32 {
        if keys.is_empty() {
            return 0;
        }
        keys.sort();
        keys.dedup();
        if let Some(&i) = self.interned.get(&keys) {
            return i;
        }
        let i = self.segments.len() as u32;
        self.segments.push(keys.clone());
        self.interned.insert(keys, i);
        i
    }

    /// The rows in (user, time) order, without copies, as columns.
    fn finish(mut self) -> BehaviourRows {
        let segments = std::mem::take(&mut self.segments);
        let rows = self.sorted_rows();
        BehaviourRows {
            user: rows.iter().map(|r| r.user).collect(),
            time_ms: rows.iter().map(|r| r.time_ms).collect(),
            mask: rows.iter().map(|r| r.mask).collect(),
            segment: rows.iter().map(|r| r.segment).collect(),
            segments,
        }
    }

    /// The rows in (user, time, mask, copy) order, without copies.
    fn sorted_rows(self) -> Vec<Row> {
        let mut sorted = sort_by_user_and_time(self.rows);
        // Copies sort next to each other: same user and instant. `run` holds the rows of
        // the current (user, instant) kept so far.
        let mut run: Vec<(u64, u32)> = Vec::new();
        let mut last = None;
        sorted.retain(|r| {
            if last != Some((r.user, r.time_ms)) {
                last = Some((r.user, r.time_ms));
                run.clear();
            } else if run.contains(&(r.copy, r.mask)) {
                return false;
            }
            run.push((r.copy, r.mask));
            true
        });
        sorted
    }
}

/// Orders rows by user, then time (then mask and copy hash, so the order does not
/// depend on how the store returned them). A radix pass on the user hash's top 16 bits
/// scatters the rows into buckets of a few hundred, each sorted on its own while it sits
/// in cache; the rows move whole, so nothing is gathered from random places afterwards;
/// two threads share the buckets.
fn sort_by_user_and_time(rows: Vec<Row>) -> Vec<Row> {
    let key = |r: &Row| (r.user, r.time_ms, r.mask, r.copy);
    if rows.windows(2).all(|w| key(&w[0]) <= key(&w[1])) {
        return rows;
    }
    const BITS: u32 = 16;
    let bucket = |u: u64| (u >> (64 - BITS)) as usize;
    let mut starts = vec![0usize; (1 << BITS) + 1];
    for r in &rows {
        starts[bucket(r.user) + 1] += 1;
    }
    for i in 1..starts.len() {
        starts[i] += starts[i - 1];
    }
    // Two threads, each owning the buckets of about half the rows: each reads every row
    // and moves its own, then sorts its buckets.
    let n = rows.len();
    let mid = starts.partition_point(|&s| s < n / 2).min(1 << BITS);
    let mut sorted = vec![Row::default(); n];
    let (low, high) = sorted.split_at_mut(starts[mid]);
    let fill = |part: &mut [Row], buckets: std::ops::Range<usize>| {
        let base = starts[buckets.start];
        let mut next: Vec<usize> = starts[buckets.clone()].iter().map(|s| s - base).collect();
        for r in &rows {
            let b = bucket(r.user);
            if buckets.contains(&b) {
                let slot = &mut next[b - buckets.start];
                part[*slot] = *r;
                *slot += 1;
            }
        }
        for b in buckets {
            part[starts[b] - base..starts[b + 1] - base].sort_unstable_by_key(key);
        }
    };
    std::thread::scope(|scope| {
        scope.spawn(|| fill(low, 0..mid));
        fill(high, mid..1 << BITS);
    });
    sorted
}

/// Reads the compiled statement's Arrow batches.
fn compiled(conn: &Connection, sql: &str, segment_mask: u32, with_segments: bool) -> Result<Collector> {
    let mut stmt = conn.prepare(sql).map_err(backend)?;
    let mut out = Collector::new();
    let bad = |what: &str| StorageError::Backend(format!("behavioural scan: unexpected {what} column type"));
    for batch in stmt.query_arrow([]).map_err(backend)? {
        let user = batch.column(0).as_primitive_opt::<UInt64Type>().ok_or_else(|| bad("user"))?;
        let time = batch.column(1).as_primitive_opt::<Int64Type>().ok_or_else(|| bad("time"))?;
        let mask = batch.column(2).as_primitive_opt::<UInt32Type>().ok_or_else(|| bad("mask"))?;
        let copy = batch.column(3).as_primitive_opt::<UInt64Type>().ok_or_else(|| bad("copy"))?;
        if user.null_count() + time.null_count() + mask.null_count() + copy.null_count() > 0 {
            return Err(bad("NULL in a key"));
        }
        let (user, time, mask, copy) = (user.values(), time.values(), mask.values(), copy.values());
        out.rows.reserve(batch.num_rows());
        for i in 0..batch.num_rows() {
            let segment = if with_segments && mask[i] & segment_mask != 0 {
                let (scalar, list) = (batch.column(4), batch.column(5));
                let mut keys = Vec::new();
                if let Some(text) = text_at(scalar.as_ref(), i) {
                    keys.push(text);
                }
                if let Some(json) = text_at(list.as_ref(), i) {
                    keys.extend(serde_json::from_str::<Vec<String>>(&json).unwrap_or_default());
                }
                out.intern(keys)
            } else {
                0
            };
            out.rows.push(Row { user: user[i], time_ms: time[i], copy: copy[i], mask: mask[i], segment });
        }
    }
    Ok(out)
}

/// The text at `i` of a VARCHAR column (Arrow Utf8, large or view), `None` for NULL.
fn text_at(column: &dyn Array, i: usize) -> Option<String> {
    text_ref(column, i).map(str::to_string)
}

/// [`text_at`] without the copy.
pub(crate) fn text_ref(column: &dyn Array, i: usize) -> Option<&str> {
    if column.is_null(i) {
        return None;
    }
    if let Some(a) = column.as_string_opt::<i32>() {
        return Some(a.value(i));
    }
    if let Some(a) = column.as_string_opt::<i64>() {
        return Some(a.value(i));
    }
    column.as_string_view_opt().map(|a| a.value(i))
}

/// The interpreter's path: reads the rows whole, decides in Rust, sorts.
fn per_event(conn: &Connection, q: &BehaviourQuery, head: &str, uid: &str, join_user: bool) -> Result<BehaviourRows> {
    let mut out = Collector::new();
    crate::interpreted::each_record(conn, head, uid, join_user, false, |record, uid| {
        if q.filter.as_ref().is_some_and(|f| !f.matches(record)) {
            return;
        }
        let mut mask = 0u32;
        for (i, c) in q.conditions.iter().enumerate() {
            if c.event.as_ref().is_none_or(|e| e == record.name)
                && c.from_ms.is_none_or(|from| record.time_ms >= from)
                && c.filter.as_ref().is_none_or(|f| f.matches(record))
            {
                mask |= 1 << i;
            }
        }
        if mask == 0 {
            return;
        }
        let segment = match &q.segment {
            Some(on) if mask & q.segment_mask != 0 => out.intern(on.segment_keys(record)),
            _ => 0,
        };
        let (user, copy) = (hash_of(&uid), hash_of(&record.insert_id));
        out.rows.push(Row { user, time_ms: record.time_ms, copy, mask, segment });
    })?;
    Ok(out.finish())
}

fn hash_of(value: &impl Hash) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    value.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_come_out_by_user_and_time_without_copies() {
        // Users spread over the whole hash range, times out of order, a few copies.
        let mut rows = Vec::new();
        let mut x: u64 = 7;
        for i in 0..20_000u64 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let user = (x % 97).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let time_ms = ((x >> 20) % 1000) as i64;
            rows.push(Row { user, time_ms, copy: i, mask: 1, segment: 0 });
            if i % 10 == 0 {
                rows.push(Row { user, time_ms, copy: i, mask: 1, segment: 0 });
            }
        }
        let distinct: std::collections::HashSet<(u64, i64, u64)> =
            rows.iter().map(|r| (r.user, r.time_ms, r.copy)).collect();
        let mut c = Collector::new();
        c.rows = rows;
        let out = c.finish();
        assert_eq!(out.len(), distinct.len(), "each copy kept once");
        assert!((1..out.len()).all(|i| (out.user[i - 1], out.time_ms[i - 1]) <= (out.user[i], out.time_ms[i])));
        assert_eq!(out.users().count(), 97);
    }
}
