//! The identity graph in DuckDB: `identities` maps every id that is in a cluster to
//! its cluster's canonical id (the canonical id maps to itself).
//!
//! The writer thread applies a group's identity operations before appending its
//! events: per project it loads every cluster the operations touch, applies them in
//! arrival order with [`sextant_model::Clusters::apply`], rewrites those clusters, and
//! records each refusal on the event that carried it. Exports read `distinct_id`
//! through the graph (see [`RESOLVED_DISTINCT_ID`]).

use std::collections::{BTreeMap, BTreeSet};

use duckdb::{Connection, params};
use sextant_model::{Clusters, IdentityEdge, ProjectId};

use crate::writer::{Work, WriteRequest};

/// Creates the identity table if it does not exist.
pub fn migrate(conn: &Connection) -> duckdb::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS identities (
             project_id BIGINT NOT NULL, id VARCHAR NOT NULL, canonical VARCHAR NOT NULL)",
    )
}

/// An event's `distinct_id` read through the graph, for a row aliased `e`.
pub const RESOLVED_DISTINCT_ID: &str = "coalesce((SELECT i.canonical FROM identities i \
     WHERE i.project_id = e.project_id AND i.id = e.distinct_id), e.distinct_id)";

/// How a query over project `project`'s events (aliased `e`) reads a distinct id: through
/// the graph ([`RESOLVED_DISTINCT_ID`]) when the project has one, else as stored, which
/// spares a lookup per event.
pub fn distinct_id_sql(conn: &Connection, project: ProjectId) -> duckdb::Result<&'static str> {
    let has_identities: bool =
        conn.query_row("SELECT EXISTS (SELECT 1 FROM identities WHERE project_id = ?)", params![project.0], |r| {
            r.get(0)
        })?;
    Ok(if has_identities { RESOLVED_DISTINCT_ID } else { "e.distinct_id" })
}

/// Applies every identity operation of the group, in order, inside the caller's
/// transaction, and marks refused operations on their events.
pub fn apply_edges(conn: &Connection, group: &mut [WriteRequest]) -> duckdb::Result<()> {
    // (request, edge) positions by project, in arrival order.
    let mut by_project: BTreeMap<ProjectId, Vec<(usize, usize)>> = BTreeMap::new();
    for (r, req) in group.iter().enumerate() {
        if let Work::Events(_, edges) = &req.work {
            for (e, edge) in edges.iter().enumerate() {
                by_project.entry(edge.project_id).or_default().push((r, e));
            }
        }
    }
    for (project, positions) in by_project {
        let edges: Vec<IdentityEdge> = positions
            .iter()
            .map(|&(r, e)| match &group[r].work {
                Work::Events(_, edges) => edges[e].clone(),
                Work::Profiles(_) | Work::Purge(_) | Work::Erase(_) | Work::Rebuild => {
                    unreachable!("positions index event work")
                }
            })
            .collect();
        let mut clusters = load(conn, project, edges.iter().flat_map(|e| e.op.ids()))?;
        let before = clusters.clone();
        for (edge, &(r, _)) in edges.iter().zip(&positions) {
            if let Err(reason) = clusters.apply(&edge.op)
                && let Work::Events(rows, _) = &mut group[r].work
                && let Some(row) = rows.get_mut(edge.row)
            {
                row.properties = with_property(&row.properties, edge.op.failure_property(), reason);
            }
        }
        store(conn, project, &before, &clusters)?;
    }
    Ok(())
}

/// Loads every cluster that holds one of `ids`. The ids reach DuckDB through the
/// appender (a temporary key table), never as SQL text: an id may hold any character,
/// NUL included, which DuckDB refuses inside SQL text.
pub fn load<'a>(conn: &Connection, project: ProjectId, ids: impl Iterator<Item = &'a str>) -> duckdb::Result<Clusters> {
    let list: BTreeSet<&str> = ids.collect();
    let mut clusters = Clusters::default();
    if list.is_empty() {
        return Ok(clusters);
    }
    fill_keys(conn, list.into_iter())?;
    let mut stmt = conn.prepare_cached(
        "SELECT id, canonical FROM identities WHERE project_id = ?1 AND canonical IN
             (SELECT i.canonical FROM identities i JOIN identity_keys k ON i.id = k.id WHERE i.project_id = ?1)",
    )?;
    let mut rows = stmt.query(params![project.0])?;
    while let Some(row) = rows.next()? {
        clusters.insert(row.get(0)?, row.get(1)?);
    }
    Ok(clusters)
}

/// Replaces the temporary table `identity_keys` (this connection's) with `ids`, through
/// the appender (an id may hold any character, which SQL text may not). Erasures use it
/// too (`crate::erasure`), on the writer thread between two of its other uses.
pub(crate) fn fill_keys<'a>(conn: &Connection, ids: impl Iterator<Item = &'a str>) -> duckdb::Result<()> {
    conn.execute_batch("CREATE TEMP TABLE IF NOT EXISTS identity_keys (id VARCHAR); DELETE FROM identity_keys;")?;
    let mut appender = conn.appender("identity_keys")?;
    for id in ids {
        appender.append_row(params![id])?;
    }
    appender.flush()
}

/// Writes the memberships the operations changed: a new id, or an id whose canonical id
/// is not the one it had. A change costs what it changed, not the size of its cluster
/// (a user with thousands of devices gains one more in one row).
fn store(conn: &Connection, project: ProjectId, before: &Clusters, clusters: &Clusters) -> duckdb::Result<()> {
    if before == clusters {
        return Ok(());
    }
    // Operations only add ids to clusters, so the current ids cover the loaded ones.
    let changed: Vec<(&str, &str)> =
        clusters.memberships().filter(|(id, canonical)| before.canonical(id) != Some(*canonical)).collect();
    let moved: Vec<(&str, &str)> = changed
        .iter()
        .filter(|(id, canonical)| id != canonical && before.canonical(id).unwrap_or(id) != *canonical)
        .copied()
        .collect();
    fill_keys(conn, changed.iter().map(|(id, _)| *id))?;
    conn.execute(
        "DELETE FROM identities WHERE project_id = ? AND id IN (SELECT id FROM identity_keys)",
        params![project.0],
    )?;
    let mut appender = conn.appender("identities")?;
    for (id, canonical) in changed {
        appender.append_row(params![project.0, id, canonical])?;
    }
    appender.flush()?;
    drop(appender);
    move_profiles(conn, project, &moved)
}

/// Folds the user profile of each id that now belongs to another canonical id into
/// that id's profile: the canonical profile's properties win, the moved one's fill the
/// gaps (as `$set_once` would), and the moved profile is removed. Profiles are keyed by
/// canonical id (updates are resolved when applied), so after a merge the cluster has
/// one profile again, and engage shows it once.
fn move_profiles(conn: &Connection, project: ProjectId, moved: &[(&str, &str)]) -> duckdb::Result<()> {
    let user = sextant_model::profile::USER_PROFILES;
    let read = |id: &str| -> duckdb::Result<Option<serde_json::Map<String, serde_json::Value>>> {
        let mut stmt = conn.prepare_cached(
            "SELECT properties::VARCHAR FROM profiles WHERE project_id = ? AND group_key = ? AND id = ?",
        )?;
        let mut rows = stmt.query(params![project.0, user, id])?;
        Ok(match rows.next()? {
            Some(row) => serde_json::from_str(&row.get::<_, String>(0)?).ok(),
            None => None,
        })
    };
    for (from, to) in moved {
        let Some(old) = read(from)? else { continue };
        let mut merged = read(to)?.unwrap_or_default();
        for (k, v) in old {
            if merged.len() < sextant_model::profile::MAX_PROFILE_PROPERTIES {
                merged.entry(k).or_insert(v);
            }
        }
        conn.execute(
            "DELETE FROM profiles WHERE project_id = ? AND group_key = ? AND id IN (?, ?)",
            params![project.0, user, from, to],
        )?;
        let text = serde_json::Value::Object(merged).to_string();
        conn.execute("INSERT INTO profiles VALUES (?, ?, ?, ?)", params![project.0, user, to, text])?;
    }
    Ok(())
}

/// `object` (a JSON object's text) with `name: value` added.
fn with_property(object: &str, name: &str, value: &str) -> String {
    let Ok(serde_json::Value::Object(mut map)) = serde_json::from_str::<serde_json::Value>(object) else {
        return object.to_string();
    };
    map.insert(name.to_string(), serde_json::Value::String(value.to_string()));
    serde_json::Value::Object(map).to_string()
}
