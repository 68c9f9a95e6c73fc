//! Lookup-table rows: one row per join key, the other columns as a JSON object.
//!
//! A replace deletes and inserts inside one transaction, so readers see the old
//! table or the new one. Queries read a table whole, once per replace: the store keeps
//! each table read into memory until it is replaced or deleted.

use std::sync::Arc;

use duckdb::{Connection, params};
use sextant_expr::LookupTable;
use sextant_model::ProjectId;
use sextant_storage::LookupTableSize;

/// Creates the tables if they do not exist.
pub fn migrate(conn: &Connection) -> duckdb::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS lookup_rows (
             project_id BIGINT NOT NULL, table_id VARCHAR NOT NULL, key VARCHAR NOT NULL, row JSON NOT NULL);
         CREATE TABLE IF NOT EXISTS lookup_headers (
             project_id BIGINT NOT NULL, table_id VARCHAR NOT NULL, columns JSON NOT NULL);",
    )
}

/// Replaces a table's rows and header in one transaction.
pub fn replace(conn: &mut Connection, project: ProjectId, table_id: &str, table: &LookupTable) -> duckdb::Result<()> {
    let tx = conn.transaction()?;
    delete_in(&tx, project, table_id)?;
    {
        let mut appender = tx.appender("lookup_rows")?;
        for (key, row) in &table.rows {
            let row = serde_json::to_string(row).unwrap_or_else(|_| "{}".into());
            appender.append_row(params![project.0, table_id, key, row])?;
        }
        appender.flush()?;
    }
    let columns = serde_json::to_string(&table.columns).unwrap_or_else(|_| "[]".into());
    tx.execute("INSERT INTO lookup_headers VALUES (?, ?, ?)", params![project.0, table_id, columns])?;
    tx.commit()
}

/// Removes a table's rows and header.
pub fn delete(conn: &mut Connection, project: ProjectId, table_id: &str) -> duckdb::Result<()> {
    let tx = conn.transaction()?;
    delete_in(&tx, project, table_id)?;
    tx.commit()
}

fn delete_in(conn: &Connection, project: ProjectId, table_id: &str) -> duckdb::Result<()> {
    conn.execute("DELETE FROM lookup_rows WHERE project_id = ? AND table_id = ?", params![project.0, table_id])?;
    conn.execute("DELETE FROM lookup_headers WHERE project_id = ? AND table_id = ?", params![project.0, table_id])?;
    Ok(())
}

/// Every table's row count and columns (a replace always writes the header, so a table
/// replaced with no rows is listed too).
pub fn sizes(conn: &Connection) -> duckdb::Result<Vec<LookupTableSize>> {
    let mut stmt = conn.prepare(
        "SELECT h.project_id, h.table_id, h.columns::VARCHAR, coalesce(r.n, 0)
         FROM lookup_headers h LEFT JOIN
             (SELECT project_id, table_id, count(*) AS n FROM lookup_rows GROUP BY ALL) r
             ON r.project_id = h.project_id AND r.table_id = h.table_id",
    )?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let columns: String = row.get(2)?;
        out.push(LookupTableSize {
            project_id: ProjectId(row.get(0)?),
            table_id: row.get(1)?,
            rows: row.get::<_, i64>(3)?.max(0) as u64,
            columns: serde_json::from_str(&columns).unwrap_or_default(),
        });
    }
    Ok(out)
}

/// Reads a table whole.
pub fn load(conn: &Connection, project: ProjectId, table_id: &str) -> duckdb::Result<Arc<LookupTable>> {
    let mut table = LookupTable::default();
    let mut stmt = conn.prepare("SELECT columns FROM lookup_headers WHERE project_id = ? AND table_id = ?")?;
    let mut rows = stmt.query(params![project.0, table_id])?;
    if let Some(row) = rows.next()? {
        table.columns = serde_json::from_str(&row.get::<_, String>(0)?).unwrap_or_default();
    }
    let mut stmt =
        conn.prepare("SELECT key, CAST(row AS VARCHAR) FROM lookup_rows WHERE project_id = ? AND table_id = ?")?;
    let mut rows = stmt.query(params![project.0, table_id])?;
    while let Some(row) = rows.next()? {
        let key: String = row.get(0)?;
        let text: String = row.get(1)?;
        if let Ok(serde_json::Value::Object(map)) = serde_json::from_str(&text) {
            table.rows.insert(key, map);
        }
    }
    Ok(Arc::new(table))
}
