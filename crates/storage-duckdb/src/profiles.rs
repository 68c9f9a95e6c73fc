//! User and group profiles in DuckDB.
//!
//! `profiles` holds the current state of each profile, properties as JSON text. The
//! writer thread applies a group of updates in its transaction: it reads the current
//! state of every profile the group touches (one join against a temporary key table),
//! folds the updates over them in arrival order with
//! [`sextant_model::profile::apply`], deletes the old rows and appends the new ones.
//!
//! Engage queries page over a snapshot: page 0 copies every matching profile, numbered
//! in id order, into `engage_snapshots` under a new session id (`engage_sessions` keeps
//! its project, group key and total); later pages read that copy. Sessions older than
//! [`ENGAGE_SESSION_TTL_MS`] are dropped when the next one is taken.

use std::collections::HashMap;

use duckdb::{Connection, params};
use parking_lot::Mutex;
use sextant_expr::sql::{Columns, duckdb_predicate};
use sextant_model::profile::{Outcome, Profile, Properties, Refusal};
use sextant_model::{ProfileKey, ProfileUpdate, ProjectId};
use sextant_storage::{ENGAGE_SESSION_TTL_MS, ProfilePage, ProfileQuery, Result, StorageError, profile_matches};

use crate::backend;

/// Creates the profile tables if they do not exist.
pub fn migrate(conn: &Connection) -> duckdb::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS profiles (
             project_id BIGINT NOT NULL, group_key VARCHAR NOT NULL, id VARCHAR NOT NULL,
             properties JSON NOT NULL);
         CREATE TABLE IF NOT EXISTS engage_sessions (
             session_id VARCHAR NOT NULL, project_id BIGINT NOT NULL, group_key VARCHAR NOT NULL,
             total BIGINT NOT NULL, created_ms BIGINT NOT NULL);
         CREATE TABLE IF NOT EXISTS engage_snapshots (
             session_id VARCHAR NOT NULL, n BIGINT NOT NULL, id VARCHAR NOT NULL, properties JSON NOT NULL);",
    )
}

/// Applies `updates` in order inside the caller's transaction. Returns those the
/// profile they land on refused (by position in `updates`), each with why: an update
/// that would make a list, a value or the profile too large leaves the profile as it
/// was.
pub fn apply_updates(conn: &Connection, updates: &[&ProfileUpdate]) -> duckdb::Result<Vec<(usize, Refusal)>> {
    let resolved;
    let updates: Vec<&ProfileUpdate> = if updates.iter().any(|u| u.resolve_identity) {
        resolved = resolve_identities(conn, updates)?;
        resolved.iter().collect()
    } else {
        updates.to_vec()
    };
    let updates = updates.as_slice();
    conn.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS profile_keys (project_id BIGINT, group_key VARCHAR, id VARCHAR);
         DELETE FROM profile_keys;",
    )?;
    // Each profile is measured once, when read; updates then cost what they carry.
    let mut states: HashMap<&ProfileKey, Profile> = HashMap::with_capacity(updates.len());
    {
        let mut appender = conn.appender("profile_keys")?;
        for u in updates {
            if !states.contains_key(&u.key) {
                states.insert(&u.key, Profile::default());
                appender.append_row(params![u.key.project_id.0, u.key.group_key, u.key.id])?;
            }
        }
        appender.flush()?;
    }
    {
        let mut stmt = conn.prepare(
            "SELECT p.project_id, p.group_key, p.id, p.properties::VARCHAR FROM profiles p
             JOIN profile_keys k ON p.project_id = k.project_id AND p.group_key = k.group_key AND p.id = k.id",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let key = ProfileKey { project_id: ProjectId(row.get(0)?), group_key: row.get(1)?, id: row.get(2)? };
            let text: String = row.get(3)?;
            if let Some(state) = states.get_mut(&key) {
                *state = Profile::new(serde_json::from_str(&text).ok());
            }
        }
    }
    let mut refused = Vec::new();
    for (at, u) in updates.iter().enumerate() {
        if let Some(state) = states.get_mut(&u.key)
            && let Outcome::Refused(why) = state.apply(u)
        {
            // Ingestion refuses what an update shows alone; this is one that only the
            // profile it lands on makes too large. Its request reports it.
            refused.push((at, why));
        }
    }
    conn.execute_batch(
        "DELETE FROM profiles USING profile_keys k
         WHERE profiles.project_id = k.project_id AND profiles.group_key = k.group_key AND profiles.id = k.id",
    )?;
    let mut appender = conn.appender("profiles")?;
    for (key, state) in &states {
        if let Some(properties) = state.properties() {
            let text = serde_json::Value::Object(properties.clone()).to_string();
            appender.append_row(params![key.project_id.0, key.group_key, key.id, text])?;
        }
    }
    appender.flush()?;
    Ok(refused)
}

/// The updates with each `resolve_identity` key moved to its cluster's canonical id.
fn resolve_identities(conn: &Connection, updates: &[&ProfileUpdate]) -> duckdb::Result<Vec<ProfileUpdate>> {
    let mut by_project: HashMap<ProjectId, Vec<&str>> = HashMap::new();
    for u in updates.iter().filter(|u| u.resolve_identity) {
        by_project.entry(u.key.project_id).or_default().push(&u.key.id);
    }
    let mut canonical: HashMap<(ProjectId, String), String> = HashMap::new();
    for (project, ids) in by_project {
        let clusters = crate::identity::load(conn, project, ids.iter().copied())?;
        for id in ids {
            if let Some(c) = clusters.canonical(id) {
                canonical.insert((project, id.to_string()), c.to_string());
            }
        }
    }
    Ok(updates
        .iter()
        .map(|u| {
            let mut u = (*u).clone();
            if u.resolve_identity
                && let Some(c) = canonical.get(&(u.key.project_id, u.key.id.clone()))
            {
                u.key.id = c.clone();
            }
            u
        })
        .collect())
}

/// Held by the one request that deletes expired sessions; the others skip the clean-up
/// instead of waiting. Snapshots themselves are taken without a lock: each appends rows
/// under its own session id, which DuckDB lets concurrent transactions do, so a page 0
/// over many profiles in one project does not hold up every other project's.
static CLEANING: Mutex<()> = Mutex::new(());

/// Shared by every request writing engage snapshots (taking one, dropping expired
/// ones); held alone by a GDPR erasure step and by the scrub's copy of the snapshot
/// table (`crate::erasure`), so no snapshot copies a profile being removed and none is
/// written into a table being replaced.
pub(crate) static SNAPSHOTS: parking_lot::RwLock<()> = parking_lot::RwLock::new(());

/// Answers one engage page.
pub fn query(conn: &Connection, q: &ProfileQuery, now_ms: i64) -> Result<ProfilePage> {
    if q.count_only {
        let total = matches(conn, q, &mut |_, _| Ok(())).map_err(backend)?;
        return Ok(ProfilePage { session_id: String::new(), total, profiles: Vec::new() });
    }
    let session = match &q.session_id {
        Some(id) => match find_session(conn, id, q, now_ms)? {
            Some(total) => Some((id.clone(), total)),
            None if q.page == 0 => None,
            None => {
                return Err(StorageError::InvalidRequest(format!(
                    "unknown or expired session_id `{id}`: start again from page 0 without one"
                )));
            }
        },
        None if q.page > 0 => {
            return Err(StorageError::InvalidRequest("session_id is required for pages after 0".into()));
        }
        None => None,
    };
    let (session_id, total) = match session {
        Some(s) => s,
        None => take_snapshot(conn, q, now_ms)?,
    };
    let first = q.page.saturating_mul(q.page_size);
    let mut stmt = conn
        .prepare(
            "SELECT id, properties::VARCHAR FROM engage_snapshots
             WHERE session_id = ? AND n > ? AND n <= ? ORDER BY n",
        )
        .map_err(backend)?;
    let mut rows =
        stmt.query(params![session_id, first as i64, first.saturating_add(q.page_size) as i64]).map_err(backend)?;
    let mut profiles = Vec::new();
    while let Some(row) = rows.next().map_err(backend)? {
        let id: String = row.get(0).map_err(backend)?;
        let text: String = row.get(1).map_err(backend)?;
        profiles.push((id, serde_json::from_str(&text).unwrap_or_default()));
    }
    Ok(ProfilePage { session_id, total, profiles })
}

/// The total of a live session of this project and group key.
fn find_session(conn: &Connection, id: &str, q: &ProfileQuery, now_ms: i64) -> Result<Option<u64>> {
    let mut stmt = conn
        .prepare(
            "SELECT total FROM engage_sessions
             WHERE session_id = ? AND project_id = ? AND group_key = ? AND created_ms > ?",
        )
        .map_err(backend)?;
    let mut rows =
        stmt.query(params![id, q.project_id.0, q.group_key, now_ms - ENGAGE_SESSION_TTL_MS]).map_err(backend)?;
    match rows.next().map_err(backend)? {
        Some(row) => Ok(Some(row.get::<_, i64>(0).map_err(backend)? as u64)),
        None => Ok(None),
    }
}

/// Copies every matching profile into a new session; returns its id and total.
fn take_snapshot(conn: &Connection, q: &ProfileQuery, now_ms: i64) -> Result<(String, u64)> {
    let session_id = new_session_id(now_ms);
    let taken = {
        let _writing_snapshots = SNAPSHOTS.read();
        in_transaction(conn, || {
            let total = copy_matches(conn, q, &session_id)?;
            conn.execute(
                "INSERT INTO engage_sessions VALUES (?, ?, ?, ?, ?)",
                params![session_id, q.project_id.0, q.group_key, total as i64, now_ms],
            )?;
            Ok(total)
        })
    };
    taken.map_err(backend).map(|total| {
        drop_expired_sessions(conn, now_ms);
        (session_id, total)
    })
}

/// Deletes the sessions past their time, unless another request is doing it already.
/// A failure (a conflict with a concurrent reader's transaction) is left for the next.
fn drop_expired_sessions(conn: &Connection, now_ms: i64) {
    let Some(_cleaning) = CLEANING.try_lock() else { return };
    let _writing_snapshots = SNAPSHOTS.read();
    let expired = now_ms - ENGAGE_SESSION_TTL_MS;
    let dropped = in_transaction(conn, || {
        conn.execute(
            "DELETE FROM engage_snapshots WHERE session_id IN
                 (SELECT session_id FROM engage_sessions WHERE created_ms <= ?)",
            params![expired],
        )?;
        conn.execute("DELETE FROM engage_sessions WHERE created_ms <= ?", params![expired])
    });
    if let Err(e) = dropped {
        tracing::debug!(error = %e, "expired engage sessions left for later");
    }
}

/// Runs `f` in a transaction, committed when it succeeds and rolled back otherwise.
fn in_transaction<T>(conn: &Connection, f: impl FnOnce() -> duckdb::Result<T>) -> duckdb::Result<T> {
    conn.execute_batch("BEGIN TRANSACTION")?;
    match f().and_then(|out| conn.execute_batch("COMMIT").map(|()| out)) {
        Ok(out) => Ok(out),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// Copies the matches in id order, numbered from 1, into the session, and counts them.
fn copy_matches(conn: &Connection, q: &ProfileQuery, session_id: &str) -> duckdb::Result<u64> {
    if q.behaviors.is_empty()
        && let Some(predicate) = compiled_filter(q)
    {
        return conn
            .execute(
                &format!(
                    "INSERT INTO engage_snapshots
                     SELECT ?, row_number() OVER (ORDER BY id), id, properties FROM ({}) WHERE {predicate}",
                    base_select(q)
                ),
                params![session_id],
            )
            .map(|n| n as u64);
    }
    let mut appender = conn.appender("engage_snapshots")?;
    let mut n: i64 = 0;
    let total = matches(conn, q, &mut |id, text| {
        n += 1;
        appender.append_row(params![session_id, n, id, text])
    })?;
    appender.flush()?;
    Ok(total)
}

/// Counts the matches, handing each (id, properties text) to `sink` in id order. The
/// `where` runs inside DuckDB when it compiles and reads no behaviours, and in Rust
/// otherwise (same answers).
fn matches(
    conn: &Connection,
    q: &ProfileQuery,
    sink: &mut dyn FnMut(&str, &str) -> duckdb::Result<()>,
) -> duckdb::Result<u64> {
    if q.behaviors.is_empty()
        && let Some(predicate) = compiled_filter(q)
    {
        let mut stmt = conn.prepare(&format!(
            "SELECT id, properties::VARCHAR FROM ({}) WHERE {predicate} ORDER BY id",
            base_select(q)
        ))?;
        let mut rows = stmt.query([])?;
        let mut n = 0;
        while let Some(row) = rows.next()? {
            let (id, text): (String, String) = (row.get(0)?, row.get(1)?);
            sink(&id, &text)?;
            n += 1;
        }
        return Ok(n);
    }
    let counts = behavior_counts(conn, q)?;
    let zeros: Properties = q.behaviors.iter().map(|b| (b.name.clone(), serde_json::Value::from(0))).collect();
    let mut stmt = conn.prepare(&format!("SELECT id, properties::VARCHAR FROM ({}) ORDER BY id", base_select(q)))?;
    let mut rows = stmt.query([])?;
    let mut n = 0;
    while let Some(row) = rows.next()? {
        let (id, text): (String, String) = (row.get(0)?, row.get(1)?);
        let keep = match &q.filter {
            None => true,
            Some(program) => {
                let properties: Properties = serde_json::from_str(&text).unwrap_or_default();
                let behaviors = (!q.behaviors.is_empty()).then(|| counts.get(&id).unwrap_or(&zeros));
                profile_matches(program, &properties, behaviors)
            }
        };
        if keep {
            sink(&id, &text)?;
            n += 1;
        }
    }
    Ok(n)
}

/// The query's profiles, with their properties as JSON text.
fn base_select(q: &ProfileQuery) -> String {
    let ids_filter = match &q.ids {
        Some(ids) if ids.is_empty() => " AND false".to_string(),
        Some(ids) => {
            let list: Vec<String> = ids.iter().map(|id| crate::interpreted::quote(id)).collect();
            format!(" AND id IN ({})", list.join(", "))
        }
        None => String::new(),
    };
    format!(
        "SELECT id, properties FROM profiles
         WHERE project_id = {} AND group_key = {}{ids_filter}",
        q.project_id.0,
        crate::interpreted::quote(&q.group_key),
    )
}

/// The `where` as SQL, when there is none (`true`) or it compiles.
fn compiled_filter(q: &ProfileQuery) -> Option<String> {
    // The filter reads the members it names from the JSON text (see `Columns::properties_text`).
    let columns =
        Columns { properties_text: true, user: Some("properties".into()), user_text: true, ..Columns::default() };
    match &q.filter {
        None => Some("true".to_string()),
        Some(program) => match duckdb_predicate(program, &columns) {
            Ok(sql) => Some(sql),
            Err(why) => {
                tracing::debug!(%why, "engage filter evaluated per profile");
                None
            }
        },
    }
}

/// Each user's behaviour counts (by canonical id), for users with at least one event.
fn behavior_counts(conn: &Connection, q: &ProfileQuery) -> duckdb::Result<HashMap<String, Properties>> {
    let mut counts: HashMap<String, Properties> = HashMap::new();
    let resolved = crate::identity::RESOLVED_DISTINCT_ID;
    for b in &q.behaviors {
        let mut per_user: HashMap<String, i64> = HashMap::new();
        for (event, selector) in &b.events {
            let compiled = match selector {
                None => Some("true".to_string()),
                Some(p) => duckdb_predicate(p, &Columns::default()).ok(),
            };
            let head = "FROM events e WHERE e.project_id = ? AND e.time_ms >= ? AND e.time_ms < ? AND e.event = ?";
            let args = params![q.project_id.0, b.from_ms, b.to_ms, event];
            match compiled {
                Some(predicate) => {
                    let mut stmt = conn.prepare(&format!(
                        "SELECT {resolved} AS uid, count(*) {head} AND ({predicate}) GROUP BY uid"
                    ))?;
                    let mut rows = stmt.query(args)?;
                    while let Some(row) = rows.next()? {
                        *per_user.entry(row.get(0)?).or_default() += row.get::<_, i64>(1)?;
                    }
                }
                None => {
                    let program = selector.as_ref().expect("a selector that did not compile");
                    let mut stmt = conn.prepare(&format!(
                        "SELECT {resolved} AS uid, e.event, e.time_ms, e.distinct_id, e.insert_id, \
                         CAST(CAST(e.properties AS JSON) AS VARCHAR) {head}"
                    ))?;
                    let mut rows = stmt.query(args)?;
                    while let Some(row) = rows.next()? {
                        let event_row = sextant_model::EventRow {
                            project_id: q.project_id,
                            event: row.get(1)?,
                            time_ms: row.get(2)?,
                            distinct_id: row.get(3)?,
                            insert_id: row.get(4)?,
                            properties: row.get(5)?,
                        };
                        if sextant_storage::event_matches(program, &event_row) {
                            *per_user.entry(row.get(0)?).or_default() += 1;
                        }
                    }
                }
            }
        }
        for (user, n) in per_user {
            let entry = counts
                .entry(user)
                .or_insert_with(|| q.behaviors.iter().map(|b| (b.name.clone(), serde_json::Value::from(0))).collect());
            entry.insert(b.name.clone(), serde_json::Value::from(n));
        }
    }
    Ok(counts)
}

/// An opaque session id: the time it was taken and a random part.
fn new_session_id(now_ms: i64) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_i64(now_ms);
    format!("{}-{:016x}", now_ms / 1000, h.finish())
}
