//! Events read whole for the expression interpreter: what reports and behavioural
//! scans fall back to when an expression does not compile to SQL.

use std::sync::Arc;

use duckdb::Connection;
use sextant_expr::{EventRecord, Program, Target};
use sextant_storage::Result;

use crate::backend;

/// A text constant for SQL written into a statement: the store's one quoting, which
/// the expression compiler's DuckDB dialect also uses. Any text is safe, NUL included
/// (DuckDB refuses a NUL inside SQL text, so it is spliced in with `chr(0)`).
pub(crate) fn quote(text: &str) -> String {
    use sextant_expr::sql::Dialect;
    sextant_expr::sql::DuckDb.string(text)
}

/// Whether an expression reads `user[...]` (in event scope), so profiles are joined.
pub(crate) fn reads_user(program: Option<&Arc<Program>>) -> bool {
    program.is_some_and(|p| p.referenced_properties().iter().any(|(t, _)| *t == Target::User))
}

/// Hands `each` every event matching `head` (a condition on the `events` view aliased
/// `e`) as a record, with its distinct id read through `uid` (an expression over `e`)
/// and, when `join_user`, its user's profile. With `kept_only`, only the copy of each
/// event that counts (see [`crate::copies`]), else every copy.
pub(crate) fn each_record(
    conn: &Connection,
    head: &str,
    uid: &str,
    join_user: bool,
    kept_only: bool,
    mut each: impl FnMut(&EventRecord<'_>, &str),
) -> Result<()> {
    let rows = if kept_only { crate::copies::kept_events(head) } else { format!("events e WHERE {head}") };
    let mut from = format!("(SELECT e.*, {uid} AS uid FROM {rows}) e");
    if join_user {
        from.push_str(" LEFT JOIN profiles p ON p.project_id = e.project_id AND p.group_key = '' AND p.id = e.uid");
    }
    let user = if join_user { "CAST(p.properties AS VARCHAR)" } else { "CAST(NULL AS VARCHAR)" };
    let sql = format!(
        "SELECT e.event, e.time_ms, e.distinct_id, e.insert_id, e.uid, CAST(CAST(e.properties AS JSON) AS VARCHAR), {user}
         FROM {from}"
    );
    let mut stmt = conn.prepare(&sql).map_err(backend)?;
    let mut rows = stmt.query([]).map_err(backend)?;
    while let Some(row) = rows.next().map_err(backend)? {
        let event: String = row.get(0).map_err(backend)?;
        let distinct_id: String = row.get(2).map_err(backend)?;
        let insert_id: String = row.get(3).map_err(backend)?;
        let uid: String = row.get(4).map_err(backend)?;
        let props: String = row.get(5).map_err(backend)?;
        let profile: Option<String> = row.get(6).map_err(backend)?;
        let properties: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&props).unwrap_or_default();
        let profile: Option<serde_json::Map<String, serde_json::Value>> =
            profile.and_then(|u| serde_json::from_str(&u).ok());
        let record = EventRecord {
            name: &event,
            time_ms: row.get(1).map_err(backend)?,
            distinct_id: &distinct_id,
            insert_id: &insert_id,
            properties: &properties,
            user: profile.as_ref(),
        };
        each(&record, &uid);
    }
    Ok(())
}
