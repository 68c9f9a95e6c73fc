//! What each project has sent, learned as the compactor moves events to the cold tier:
//! every event name with its count and first and last times, and every top-level
//! property of it with the kinds of value it held. The Lexicon shows it beside the
//! declared schemas (`GET /schemas`), so a team sees what it sends next to what it
//! documented, and reading it costs two small tables, never a scan of events.
//!
//! The counts are kept in the transaction that moves the rows (one grouped pass over
//! the chunk, `json_each` over the hot tier's JSON text), so every row is counted exactly
//! once, and the catalog lags the newest events only by what the hot tier holds (moved
//! within a second or two of a quiet moment; see [`crate::compactor`]). A store written
//! before the catalog existed learns from the events that arrive after.

use duckdb::Connection;
use sextant_model::lexicon::JsonType;
use sextant_storage::{SeenEvent, SeenProperty};

/// Creates the catalog's tables when missing.
pub fn migrate(conn: &Connection) -> duckdb::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS seen_events (project_id BIGINT NOT NULL, event VARCHAR NOT NULL,
             events BIGINT NOT NULL, first_ms BIGINT NOT NULL, last_ms BIGINT NOT NULL,
             PRIMARY KEY (project_id, event));
         CREATE TABLE IF NOT EXISTS seen_properties (project_id BIGINT NOT NULL, event VARCHAR NOT NULL,
             name VARCHAR NOT NULL, kinds UTINYINT NOT NULL, first_ms BIGINT NOT NULL, last_ms BIGINT NOT NULL,
             PRIMARY KEY (project_id, event, name));",
    )
}

/// The bit of each kind, in [`JsonType::ALL`]'s order, from the type `json_each` names.
const KIND_BITS: &str = "CASE e.type WHEN 'ARRAY' THEN 1 WHEN 'BOOLEAN' THEN 2 WHEN 'BIGINT' THEN 4 \
     WHEN 'UBIGINT' THEN 4 WHEN 'NULL' THEN 8 WHEN 'DOUBLE' THEN 16 WHEN 'OBJECT' THEN 32 WHEN 'VARCHAR' THEN 64 \
     ELSE 0 END";

/// Counts the hot rows with sequence numbers in `(after, upto]`, inside the transaction
/// that moves them.
pub fn record_moved(conn: &Connection, after: i64, upto: i64) -> duckdb::Result<()> {
    conn.execute(
        "INSERT INTO seen_events (project_id, event, events, first_ms, last_ms)
         SELECT project_id, event, count(*), min(time_ms), max(time_ms) FROM events_hot
         WHERE seq > ? AND seq <= ? GROUP BY project_id, event
         ON CONFLICT (project_id, event) DO UPDATE SET events = events + excluded.events,
             first_ms = least(first_ms, excluded.first_ms), last_ms = greatest(last_ms, excluded.last_ms)",
        [after, upto],
    )?;
    conn.execute(
        &format!(
            "INSERT INTO seen_properties (project_id, event, name, kinds, first_ms, last_ms)
             SELECT h.project_id, h.event, e.key, bit_or({KIND_BITS})::UTINYINT, min(h.time_ms), max(h.time_ms)
             FROM events_hot h, json_each(h.properties) e
             WHERE h.seq > ? AND h.seq <= ? GROUP BY h.project_id, h.event, e.key
             ON CONFLICT (project_id, event, name) DO UPDATE SET kinds = kinds | excluded.kinds,
                 first_ms = least(first_ms, excluded.first_ms), last_ms = greatest(last_ms, excluded.last_ms)"
        ),
        [after, upto],
    )?;
    Ok(())
}

/// The project's catalog, by event name and then property name.
pub fn read(conn: &Connection, project: i64) -> duckdb::Result<Vec<SeenEvent>> {
    let mut events: Vec<SeenEvent> = conn
        .prepare("SELECT event, events, first_ms, last_ms FROM seen_events WHERE project_id = ? ORDER BY event")?
        .query_map([project], |r| {
            Ok(SeenEvent {
                name: r.get(0)?,
                count: r.get::<_, i64>(1)?.max(0) as u64,
                first_ms: r.get(2)?,
                last_ms: r.get(3)?,
                properties: Vec::new(),
            })
        })?
        .collect::<duckdb::Result<_>>()?;
    let mut stmt = conn.prepare(
        "SELECT event, name, kinds, first_ms, last_ms FROM seen_properties WHERE project_id = ? ORDER BY event, name",
    )?;
    let mut rows = stmt.query([project])?;
    // Both lists are in event order: walk them together.
    let mut at = 0;
    while let Some(r) = rows.next()? {
        let event: String = r.get(0)?;
        while at < events.len() && events[at].name < event {
            at += 1;
        }
        let Some(seen) = events.get_mut(at).filter(|e| e.name == event) else { continue };
        let bits: u8 = r.get(2)?;
        seen.properties.push(SeenProperty {
            name: r.get(1)?,
            kinds: kinds_of(bits),
            first_ms: r.get(3)?,
            last_ms: r.get(4)?,
        });
    }
    Ok(events)
}

/// The kinds a bit set names.
fn kinds_of(bits: u8) -> Vec<JsonType> {
    JsonType::ALL.into_iter().enumerate().filter(|(i, _)| bits & (1 << i) != 0).map(|(_, t)| t).collect()
}
