//! The event property names that have ever held JSON `null`, per project.
//!
//! DuckDB's `variant_extract` gives SQL NULL both for a member holding `null` and for a
//! missing one; only `variant_exists` tells them apart, and it reads the whole VARIANT
//! column instead of one shredded field (measured on 10M events: a segmentation on a
//! string property took 14.4 s with the test, 0.49 s without). So the writer records
//! each top-level name it stores with a `null` value, in the same transaction as the
//! rows, and queries test existence only for those names
//! (`sextant_expr::sql::Columns::nullable`). A name recorded wrongly (nested `null`,
//! text that merely looks like one) only costs speed; a name missed would lose a
//! `null` segment, so every event written is read for them: by the writer's one scan of
//! each row's members (`crate::catalog::Known::changes`), and by [`names_in`] when this
//! table is first filled from a store made before it existed.

use std::collections::HashSet;
use std::sync::Arc;

use duckdb::Connection;
use serde_json::value::RawValue;

/// Creates the table; on a store made before it existed, fills it from the stored
/// events (once: one pass over every event's properties).
pub fn migrate(conn: &Connection) -> duckdb::Result<()> {
    let present: bool =
        conn.query_row("SELECT count(*) > 0 FROM duckdb_tables() WHERE table_name = 'null_properties'", [], |r| {
            r.get(0)
        })?;
    if present {
        return Ok(());
    }
    conn.execute_batch("BEGIN TRANSACTION")?;
    let filled = (|| -> duckdb::Result<()> {
        conn.execute_batch(
            "CREATE TABLE null_properties (project_id BIGINT NOT NULL, name VARCHAR NOT NULL,
                                           PRIMARY KEY (project_id, name))",
        )?;
        let mut found = HashSet::new();
        let mut stmt = conn.prepare(
            "SELECT project_id, text FROM (SELECT project_id, CAST(CAST(properties AS JSON) AS VARCHAR) AS text
             FROM events) WHERE contains(text, 'null')",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let project: i64 = row.get(0)?;
            let text: String = row.get(1)?;
            found.extend(names_in(&text).into_iter().map(|name| (project, name)));
        }
        record(conn, &HashSet::new(), found.into_iter().collect()).map(drop)
    })();
    match filled {
        Ok(()) => conn.execute_batch("COMMIT"),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// Every (project, name) recorded so far: the writer's starting point.
pub fn load(conn: &Connection) -> duckdb::Result<HashSet<(i64, String)>> {
    let mut stmt = conn.prepare("SELECT project_id, name FROM null_properties")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// The names of one project, for compiling its queries.
pub fn of_project(conn: &Connection, project: i64) -> duckdb::Result<Arc<HashSet<String>>> {
    let mut stmt = conn.prepare("SELECT name FROM null_properties WHERE project_id = ?")?;
    let rows = stmt.query_map([project], |r| r.get(0))?;
    Ok(Arc::new(rows.collect::<duckdb::Result<_>>()?))
}

/// Records the names in `found` that `known` lacks, in the caller's transaction;
/// returns them, for the caller to add to `known` once the transaction commits.
pub fn record(
    conn: &Connection,
    known: &HashSet<(i64, String)>,
    found: Vec<(i64, String)>,
) -> duckdb::Result<Vec<(i64, String)>> {
    let mut added = Vec::new();
    for entry in found {
        if known.contains(&entry) || added.contains(&entry) {
            continue;
        }
        conn.execute("INSERT OR IGNORE INTO null_properties VALUES (?, ?)", duckdb::params![entry.0, entry.1])?;
        added.push(entry);
    }
    Ok(added)
}

/// The top-level names holding `null` in one event's properties (JSON text as stored).
pub fn names_in(properties: &str) -> Vec<String> {
    // Nearly every event has none.
    if !properties.contains("null") {
        return Vec::new();
    }
    match serde_json::from_str::<std::collections::BTreeMap<String, &RawValue>>(properties) {
        Ok(map) => map.into_iter().filter(|(_, v)| v.get() == "null").map(|(k, _)| k).collect(),
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_holding_null_at_the_top_level() {
        assert!(names_in(r#"{"a":1,"b":"x"}"#).is_empty());
        assert_eq!(names_in(r#"{"a":null,"b":{"c":null},"d":"k:null","e\"":null}"#), vec!["a", "e\""]);
    }
}
