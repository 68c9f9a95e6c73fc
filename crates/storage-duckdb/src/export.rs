//! Streaming reads for raw export (and for JQL, which asks for one copy of each
//! duplicate and, often, for a few properties only).
//!
//! The range is read one UTC day at a time, each day ordered by time and ingestion
//! order and streamed from DuckDB in Arrow batches; rows travel to the async side
//! through a bounded channel, so memory stays flat however long the range is, and the
//! read stops as soon as the client goes away.

use std::sync::Arc;

use duckdb::arrow::array::{Array, AsArray, RecordBatch};
use duckdb::arrow::compute::cast;
use duckdb::arrow::datatypes::{DataType, Int64Type};
use duckdb::{Connection, params_from_iter, types::Value as SqlValue};
use sextant_expr::sql::{Columns, duckdb_predicate};
use sextant_model::time::DAY_MS;
use sextant_model::{EventRow, ProjectId, StoredEvent};
use sextant_storage::{ExportQuery, Result, StorageError, event_matches};
use tokio::sync::mpsc;

use crate::backend;

/// Reads `query` on `conn`, sending chunks to `out` until done, failed, or `out` closes.
pub fn run(conn: Connection, query: ExportQuery, out: mpsc::Sender<Result<Vec<StoredEvent>>>) {
    if let Err(e) = read(&conn, &query, &out) {
        let _ = out.blocking_send(Err(e));
    }
}

fn read(conn: &Connection, q: &ExportQuery, out: &mpsc::Sender<Result<Vec<StoredEvent>>>) -> Result<()> {
    let mut remaining = q.limit.unwrap_or(u64::MAX);
    // A `where` runs inside DuckDB when it compiles; otherwise each event is checked
    // here with the interpreter, which gives the same answer (see tests/expr_agreement).
    // The hot tier keeps properties as JSON text, which the predicate reads directly.
    let hot_columns = Columns { properties_text: true, ..Columns::default() };
    let cold_columns = Columns::default();
    let (hot_predicate, cold_predicate, per_event) = match &q.filter {
        None => (String::new(), String::new(), None),
        Some(program) => match (duckdb_predicate(program, &hot_columns), duckdb_predicate(program, &cold_columns)) {
            (Ok(hot), Ok(cold)) => (format!(" WHERE {hot}"), format!(" WHERE {cold}"), None),
            (Err(why), _) | (_, Err(why)) => {
                tracing::debug!(%why, "export filter evaluated per event");
                (String::new(), String::new(), Some(program.as_ref()))
            }
        },
    };
    let mut events_filter = match &q.events {
        Some(names) if !names.is_empty() => {
            format!(" AND event IN ({})", vec!["?"; names.len()].join(", "))
        }
        _ => String::new(),
    };
    if let Some(users) = &q.users {
        events_filter.push_str(&users_filter(conn, q.project_id, users).map_err(backend)?);
    }
    // Read distinct ids through the identity graph only when the project has one.
    let resolved = crate::identity::distinct_id_sql(conn, q.project_id).map_err(backend)?;
    // The same filter on both tiers; each side's parameters are bound in turn.
    let filter = format!("project_id = ? AND time_ms >= ? AND time_ms < ?{events_filter}");
    // With a list of properties, each is its own column, read on the table scan (so
    // DuckDB reads only those fields of the cold tier's VARIANT), and the row's object
    // is written from them ([`to_events`]); otherwise the whole object as JSON text.
    let (hot_values, cold_values, hot_p, cold_p) = match &q.properties {
        Some(names) => {
            let nullable = crate::nullable::of_project(conn, q.project_id.0).map_err(backend)?;
            let columns: String = (0..names.len()).map(|i| format!(", v{i}")).collect();
            (
                names.iter().enumerate().map(|(i, n)| format!(", {} AS v{i}", hot_value(n))).collect(),
                names.iter().enumerate().map(|(i, n)| format!(", {} AS v{i}", cold_value(n, &nullable))).collect(),
                format!("CAST(NULL AS VARCHAR) AS p{columns}"),
                format!("CAST(NULL AS VARCHAR) AS p{columns}"),
            )
        }
        None => (
            String::new(),
            String::new(),
            "CAST(properties AS VARCHAR) AS p".to_string(),
            "CAST(CAST(properties AS JSON) AS VARCHAR) AS p".to_string(),
        ),
    };
    let resolve = |values: &str| format!("SELECT e.* REPLACE ({resolved} AS distinct_id){values}");
    let (hot, cold) = if q.dedup {
        // As reports read them (`copies`): the hot tier's last copy of each key, and
        // the cold rows that are not superseded and have no copy in the hot tier.
        let cold = format!("{} FROM events_cold e WHERE {filter} AND NOT e.superseded", resolve(&cold_values));
        (
            format!("{} FROM {}", resolve(&hot_values), crate::copies::hot_kept(&filter)),
            crate::copies::cold_kept(&cold, &filter),
        )
    } else {
        (
            format!("{} FROM events_hot e WHERE {filter}", resolve(&hot_values)),
            format!("{} FROM events_cold e WHERE {filter}", resolve(&cold_values)),
        )
    };
    let bindings = if q.dedup { 3 } else { 2 };
    let sql = format!(
        "SELECT * FROM (\
           SELECT event, time_ms, distinct_id, insert_id, seq, {hot_p} FROM ({hot}){hot_predicate} \
           UNION ALL \
           SELECT event, time_ms, distinct_id, insert_id, seq, {cold_p} FROM ({cold}){cold_predicate}) \
         ORDER BY time_ms, seq LIMIT ?",
    );
    let mut stmt = conn.prepare(&sql).map_err(backend)?;
    let mut day_start = q.from_ms;
    while day_start < q.to_ms && remaining > 0 {
        // Jump over days without events, so a long, sparse range costs no more than a dense one.
        let next: Option<i64> = conn
            .query_row(
                "SELECT min(time_ms) FROM events WHERE project_id = ? AND time_ms >= ? AND time_ms < ?",
                duckdb::params![q.project_id.0, day_start, q.to_ms],
                |r| r.get(0),
            )
            .map_err(backend)?;
        let Some(next) = next else { break };
        day_start = day_start.max(next.div_euclid(DAY_MS) * DAY_MS);
        let day_end = (day_start.div_euclid(DAY_MS) + 1) * DAY_MS;
        let day_end = day_end.min(q.to_ms);
        let mut args: Vec<SqlValue> = Vec::new();
        for _filter in 0..bindings {
            args.extend([SqlValue::BigInt(q.project_id.0), SqlValue::BigInt(day_start), SqlValue::BigInt(day_end)]);
            if let Some(names) = &q.events {
                args.extend(names.iter().map(|n| SqlValue::Text(n.clone())));
            }
        }
        // Filtering here means the SQL cannot count kept rows: read the day, stop early.
        let sql_limit = if per_event.is_some() { u64::MAX } else { remaining };
        args.push(SqlValue::BigInt(sql_limit.min(i64::MAX as u64) as i64));
        for batch in stmt.stream_arrow(params_from_iter(args)).map_err(backend)? {
            let batch = batch.map_err(backend)?;
            let mut chunk = to_events(&batch, q.project_id, q.properties.as_deref())?;
            if let Some(program) = per_event {
                chunk.retain(|e| event_matches(program, &e.row));
                chunk.truncate(remaining.min(usize::MAX as u64) as usize);
                if chunk.is_empty() {
                    continue;
                }
            }
            remaining = remaining.saturating_sub(chunk.len() as u64);
            if out.blocking_send(Ok(chunk)).is_err() {
                return Ok(()); // the client went away
            }
            if remaining == 0 {
                break;
            }
        }
        day_start = day_end;
    }
    Ok(())
}

/// `AND distinct_id IN (...)` over every raw id whose canonical id is that of one of
/// `users` (their clusters' members, and the ids themselves).
fn users_filter(conn: &Connection, project: ProjectId, users: &[String]) -> duckdb::Result<String> {
    let clusters = crate::identity::load(conn, project, users.iter().map(String::as_str))?;
    let roots: std::collections::BTreeSet<&str> =
        users.iter().map(|u| clusters.canonical(u).unwrap_or(u.as_str())).collect();
    let mut raw: std::collections::BTreeSet<&str> = roots.clone();
    raw.extend(clusters.memberships().filter(|(_, c)| roots.contains(c)).map(|(id, _)| id));
    if raw.is_empty() {
        return Ok(" AND false".into());
    }
    let quoted: Vec<String> = raw.iter().map(|id| crate::interpreted::quote(id)).collect();
    Ok(format!(" AND distinct_id IN ({})", quoted.join(", ")))
}

/// A hot-tier property as JSON text: `null` for a JSON null, NULL when absent.
fn hot_value(name: &str) -> String {
    let pointer = sextant_expr::sql::json_pointer(name);
    format!("CAST(json_extract(e.properties, {}) AS VARCHAR)", crate::interpreted::quote(&pointer))
}

/// A cold-tier property as JSON text. `variant_extract` gives NULL for a JSON null and
/// for an absent member alike; only the names the project has ever stored a null
/// under (`crate::nullable`) pay for `variant_exists` to tell them apart.
fn cold_value(name: &str, nullable: &std::collections::HashSet<String>) -> String {
    let quoted = crate::interpreted::quote(name);
    let value = format!("CAST(CAST(variant_extract(e.properties, {quoted}) AS JSON) AS VARCHAR)");
    if nullable.contains(name) {
        format!("CASE WHEN coalesce(variant_exists(e.properties, {quoted}), FALSE) THEN coalesce({value}, 'null') END")
    } else {
        value
    }
}

/// The rows of `batch` as events; with `names`, each row's properties object is written
/// from its `v0, v1, ...` columns (absent where NULL).
fn to_events(batch: &RecordBatch, project_id: ProjectId, names: Option<&[String]>) -> Result<Vec<StoredEvent>> {
    let text = |i: usize| -> Result<Arc<dyn Array>> {
        let col = batch.column(i);
        if col.data_type() == &DataType::Utf8 {
            Ok(col.clone())
        } else {
            cast(col, &DataType::Utf8).map_err(|e| StorageError::Backend(e.to_string()))
        }
    };
    let (event, distinct_id, insert_id, props) = (text(0)?, text(2)?, text(3)?, text(5)?);
    let (event, distinct_id, insert_id, props) = (
        event.as_string::<i32>(),
        distinct_id.as_string::<i32>(),
        insert_id.as_string::<i32>(),
        props.as_string::<i32>(),
    );
    let values: Vec<Arc<dyn Array>> = match names {
        Some(names) => (0..names.len()).map(|i| text(6 + i)).collect::<Result<_>>()?,
        None => Vec::new(),
    };
    let keys: Vec<String> =
        names.unwrap_or_default().iter().map(|n| serde_json::to_string(n).unwrap_or_default()).collect();
    let properties = |i: usize| -> String {
        if names.is_none() {
            return props.value(i).to_string();
        }
        let mut out = String::from("{");
        for (key, column) in keys.iter().zip(&values) {
            let column = column.as_string::<i32>();
            if column.is_null(i) {
                continue;
            }
            if out.len() > 1 {
                out.push(',');
            }
            out.push_str(key);
            out.push(':');
            out.push_str(column.value(i));
        }
        out.push('}');
        out
    };
    let time = batch.column(1).as_primitive::<Int64Type>();
    let seq = batch.column(4).as_primitive::<Int64Type>();
    Ok((0..batch.num_rows())
        .map(|i| StoredEvent {
            row: EventRow {
                project_id,
                event: event.value(i).to_string(),
                time_ms: time.value(i),
                distinct_id: distinct_id.value(i).to_string(),
                insert_id: insert_id.value(i).to_string(),
                properties: properties(i),
            },
            seq: seq.value(i),
        })
        .collect())
}
