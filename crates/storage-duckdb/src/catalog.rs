//! What each project has sent: every event name with how many were stored and when the
//! first and last happened, and every top-level property of it with the kinds of value
//! it held and when it first appeared. The Lexicon shows it beside the declared schemas
//! (`GET /schemas`), so a team sees what it sends next to what it documented; reading
//! it never scans events.
//!
//! The writer keeps it, in the transaction that stores the rows, so it is exact at every
//! commit, and answers from memory ([`Known`]). The tables take rows, never updates: each commit adds a row per event name
//! it carries (its count and times) and one per property whose kinds or first time
//! changed, and loading adds them up; the compactor folds them into one row per key once
//! they are many ([`fold`]). Each row's properties are read once by [`members_of`], a scan of the top level
//! of the stored JSON text that builds nothing: it hashes the members' names and kinds
//! into a shape, and a shape already known for the event (and no older than what is
//! known) needs nothing more. Only a new shape looks its members up in [`Known`], the
//! writer's copy of the catalog, and only what changes is written: a row per event name
//! a commit carries; a property, when it shows a new kind or an earlier time.
//! Counting the members of every row in SQL instead, as the compactor moved them, had
//! made moving 400,000 events take 2.5 times as long (7.0 s -> 17.2 s; grouping rows by
//! `json_structure` first, 9.0 s). Here it costs the writer about 1 to 2 µs an event
//! (`cargo bench --bench ingest_throughput -- 400000 4`: `DuckDbStore::append` 220k to
//! 268k -> 178k events/s), while `/import`'s server CPU stays within its noise (13 to
//! 15 µs an event).
//!
//! It is bounded per project: [`MAX_EVENTS`] event names and [`MAX_PROPERTIES`]
//! properties are recorded, and what comes after them is not (the events themselves are
//! stored as ever); a run of rows with ever new shapes forgets the shapes it knows past
//! [`MAX_SHAPES`] an event. A store written before the catalog existed learns from the
//! events that arrive after.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use rustc_hash::{FxHashMap, FxHasher};

use duckdb::Connection;
use sextant_model::EventRow;
use sextant_model::lexicon::JsonType;
use sextant_storage::{SeenEvent, SeenProperty};

use crate::interpreted::quote;

/// Event names recorded at most per project.
pub const MAX_EVENTS: usize = 20_000;

/// Properties (of all its events) recorded at most per project.
pub const MAX_PROPERTIES: usize = 200_000;

/// Shapes remembered at most per event name; past it they are forgotten and read again.
const MAX_SHAPES: usize = 1_024;

/// Rows written by one statement.
const ROWS_PER_STATEMENT: usize = 1_000;

/// Creates the catalog's tables when missing.
pub fn migrate(conn: &Connection) -> duckdb::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS catalog_events (project_id BIGINT NOT NULL, event VARCHAR NOT NULL,
             events BIGINT NOT NULL, first_ms BIGINT NOT NULL, last_ms BIGINT NOT NULL);
         CREATE TABLE IF NOT EXISTS catalog_properties (project_id BIGINT NOT NULL, event VARCHAR NOT NULL,
             name VARCHAR NOT NULL, kinds UTINYINT NOT NULL, first_ms BIGINT NOT NULL);",
    )
}

/// A kind's bit, in [`JsonType::ALL`]'s order.
fn bit(kind: JsonType) -> u8 {
    1 << JsonType::ALL.iter().position(|k| *k == kind).unwrap_or(0)
}

/// The kinds a bit set names.
fn kinds_of(bits: u8) -> Vec<JsonType> {
    JsonType::ALL.into_iter().enumerate().filter(|(i, _)| bits & (1 << i) != 0).map(|(_, t)| t).collect()
}

/// What the catalog holds of one event name.
#[derive(Debug)]
struct EventKnown {
    /// Events stored under it.
    count: u64,
    /// The earliest and latest event times.
    first_ms: i64,
    last_ms: i64,
    /// Shapes whose members are all recorded, each with the earliest time it was
    /// recorded for: a row of that shape and no earlier needs nothing more.
    shapes: FxHashMap<u64, i64>,
    /// Each property's kinds and first time.
    properties: FxHashMap<String, (u8, i64)>,
}

impl Default for EventKnown {
    fn default() -> Self {
        EventKnown {
            count: 0,
            first_ms: i64::MAX,
            last_ms: i64::MIN,
            shapes: FxHashMap::default(),
            properties: FxHashMap::default(),
        }
    }
}

/// The catalog in memory, as of the last commit: the writer reads it to write only what
/// changes, and [`Known::seen`] answers `EventStore::dictionary` from it without a
/// query. The tables keep it across restarts.
#[derive(Debug, Default)]
pub struct Known {
    events: FxHashMap<i64, FxHashMap<String, EventKnown>>,
    /// Properties recorded, by project.
    properties: FxHashMap<i64, usize>,
}

/// One event name's rows in a batch.
struct InBatch {
    count: u64,
    first_ms: i64,
    last_ms: i64,
    /// Shapes whose members this batch records, from this time on.
    shapes: FxHashMap<u64, i64>,
}

impl Default for InBatch {
    fn default() -> Self {
        InBatch { count: 0, first_ms: i64::MAX, last_ms: i64::MIN, shapes: FxHashMap::default() }
    }
}

/// What one commit adds to the catalog.
#[derive(Debug, Default)]
pub struct Changes {
    /// (project, event) to (count, first, last).
    events: HashMap<(i64, String), (u64, i64, i64)>,
    /// (project, event, property) to (kinds, first), merged with what is known.
    properties: HashMap<(i64, String, String), (u8, i64)>,
    /// (project, event, shape) now fully recorded, from this time on.
    shapes: HashMap<(i64, String, u64), i64>,
    /// (project, name) of the top-level members holding `null` in the rows of new
    /// shapes: every name that may be new to [`crate::nullable`] (a known shape's were
    /// taken when it was recorded).
    pub nulls: Vec<(i64, String)>,
}

impl Known {
    /// Forgets a deleted project (its rows are deleted with its events).
    pub fn forget(&mut self, project: i64) {
        self.events.remove(&project);
        self.properties.remove(&project);
    }

    /// The catalog as stored.
    pub fn load(conn: &Connection) -> duckdb::Result<Known> {
        let mut known = Known::default();
        let mut stmt = conn.prepare(
            "SELECT project_id, event, sum(events)::BIGINT, min(first_ms), max(last_ms) FROM catalog_events GROUP BY ALL",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let entry = known.event(r.get(0)?, r.get::<_, String>(1)?);
            entry.count = r.get::<_, i64>(2)?.max(0) as u64;
            entry.first_ms = r.get(3)?;
            entry.last_ms = r.get(4)?;
        }
        let mut stmt = conn.prepare(
            "SELECT project_id, event, name, bit_or(kinds), min(first_ms) FROM catalog_properties GROUP BY ALL",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let project: i64 = r.get(0)?;
            let entry = known.event(project, r.get::<_, String>(1)?);
            entry.properties.insert(r.get(2)?, (r.get(3)?, r.get(4)?));
            *known.properties.entry(project).or_default() += 1;
        }
        Ok(known)
    }

    fn event(&mut self, project: i64, event: String) -> &mut EventKnown {
        self.events.entry(project).or_default().entry(event).or_default()
    }

    /// What `rows` add to the catalog (nothing is changed until [`Known::apply`]).
    pub fn changes<'a>(&self, rows: impl Iterator<Item = &'a EventRow>) -> Changes {
        // This batch, by (project, event) borrowed from the rows: names are copied only
        // once per event and per property of a new shape.
        let mut batch: FxHashMap<(i64, &'a str), InBatch> = FxHashMap::default();
        let mut properties: FxHashMap<(i64, &'a str, Cow<'a, str>), (u8, i64)> = FxHashMap::default();
        let mut members: Vec<(Cow<'a, str>, JsonType)> = Vec::new();
        let mut nulls = Vec::new();
        for row in rows {
            let project = row.project_id.0;
            let event = row.event.as_str();
            let here = batch.entry((project, event)).or_default();
            here.count += 1;
            here.first_ms = here.first_ms.min(row.time_ms);
            here.last_ms = here.last_ms.max(row.time_ms);
            members.clear();
            let Some(shape) = members_of(&row.properties, &mut members) else { continue };
            let known = self.events.get(&project).and_then(|e| e.get(event));
            let covered = |since: Option<&i64>| since.is_some_and(|since| row.time_ms >= *since);
            if covered(known.and_then(|k| k.shapes.get(&shape))) || covered(here.shapes.get(&shape)) {
                continue;
            }
            for (name, kind) in members.drain(..) {
                if kind == JsonType::Null {
                    nulls.push((project, name.to_string()));
                }
                let recorded = known.and_then(|k| k.properties.get(name.as_ref())).copied();
                let entry = properties.entry((project, event, name)).or_insert(recorded.unwrap_or((0, i64::MAX)));
                *entry = (entry.0 | bit(kind), entry.1.min(row.time_ms));
            }
            let since = here.shapes.entry(shape).or_insert(row.time_ms);
            *since = (*since).min(row.time_ms);
        }
        // New names past a project's bounds are left out, in no particular order.
        let mut changes = Changes { nulls, ..Changes::default() };
        let mut new_events: FxHashMap<i64, usize> = FxHashMap::default();
        let mut kept = |project: i64, event: &str| {
            let known = self.events.get(&project);
            if known.is_some_and(|e| e.contains_key(event)) {
                return true;
            }
            let added = new_events.entry(project).or_default();
            *added += 1;
            known.map_or(0, FxHashMap::len) + *added <= MAX_EVENTS
        };
        let mut events_kept = FxHashMap::default();
        for ((project, event), here) in batch {
            if !kept(project, event) {
                continue;
            }
            events_kept.insert((project, event), ());
            changes.events.insert((project, event.to_string()), (here.count, here.first_ms, here.last_ms));
            for (shape, since) in here.shapes {
                changes.shapes.insert((project, event.to_string(), shape), since);
            }
        }
        let mut new_properties: FxHashMap<i64, usize> = FxHashMap::default();
        for ((project, event, name), value) in properties {
            if !events_kept.contains_key(&(project, event)) {
                continue;
            }
            let recorded =
                self.events.get(&project).and_then(|e| e.get(event)).and_then(|k| k.properties.get(name.as_ref()));
            if recorded == Some(&value) {
                continue;
            }
            if recorded.is_none() {
                let added = new_properties.entry(project).or_default();
                *added += 1;
                if self.properties.get(&project).copied().unwrap_or(0) + *added > MAX_PROPERTIES {
                    // A shape with a member left out is not fully recorded.
                    changes.shapes.retain(|(p, e, _), _| !(*p == project && e == event));
                    continue;
                }
            }
            changes.properties.insert((project, event.to_string(), name.into_owned()), value);
        }
        changes
    }

    /// The project's catalog (one event's, when `only` names it), by event name and
    /// then property name.
    pub fn seen(&self, project: i64, only: Option<&str>) -> Vec<SeenEvent> {
        let Some(events) = self.events.get(&project) else { return Vec::new() };
        let mut out: Vec<SeenEvent> = events
            .iter()
            .filter(|(name, known)| only.is_none_or(|o| o == name.as_str()) && known.count > 0)
            .map(|(name, known)| {
                let mut properties: Vec<SeenProperty> = known
                    .properties
                    .iter()
                    .map(|(name, (bits, first))| SeenProperty {
                        name: name.clone(),
                        kinds: kinds_of(*bits),
                        first_ms: *first,
                    })
                    .collect();
                properties.sort_by(|a, b| a.name.cmp(&b.name));
                SeenEvent {
                    name: name.clone(),
                    count: known.count,
                    first_ms: known.first_ms,
                    last_ms: known.last_ms,
                    properties,
                }
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// Takes in what a committed transaction wrote.
    pub fn apply(&mut self, changes: Changes) {
        for ((project, event), (count, first, last)) in changes.events {
            let entry = self.event(project, event);
            entry.count += count;
            entry.first_ms = entry.first_ms.min(first);
            entry.last_ms = entry.last_ms.max(last);
        }
        for ((project, event, name), value) in changes.properties {
            if self.event(project, event).properties.insert(name, value).is_none() {
                *self.properties.entry(project).or_default() += 1;
            }
        }
        for ((project, event, shape), since) in changes.shapes {
            let shapes = &mut self.event(project, event).shapes;
            if shapes.len() >= MAX_SHAPES {
                shapes.clear();
            }
            let known = shapes.entry(shape).or_insert(since);
            *known = (*known).min(since);
        }
    }
}

/// Writes `changes` in the caller's transaction.
pub fn record(conn: &Connection, changes: &Changes) -> duckdb::Result<()> {
    let events: Vec<String> = changes
        .events
        .iter()
        .map(|((project, event), (count, first, last))| {
            format!("({project}, {}, {count}, {first}, {last})", quote(event))
        })
        .collect();
    for values in events.chunks(ROWS_PER_STATEMENT) {
        conn.execute_batch(&format!("INSERT INTO catalog_events VALUES {}", values.join(", ")))?;
    }
    let properties: Vec<String> = changes
        .properties
        .iter()
        .map(|((project, event, name), (kinds, first))| {
            format!("({project}, {}, {}, {kinds}, {first})", quote(event), quote(name))
        })
        .collect();
    for values in properties.chunks(ROWS_PER_STATEMENT) {
        conn.execute_batch(&format!("INSERT INTO catalog_properties VALUES {}", values.join(", ")))?;
    }
    Ok(())
}

/// Rows a table must have before [`fold`] folds it.
pub const FOLD_AT_ROWS: i64 = 100_000;

/// Folds a table's rows into one per key, in one transaction, once it has
/// [`FOLD_AT_ROWS`] rows and twice as many rows as keys (so a table that is large
/// because it has many keys is not rewritten every tick). The compactor calls it every
/// tick. Rows a commit adds meanwhile are not in the fold's snapshot and stay as they
/// are. Returns how many tables it folded.
pub fn fold(conn: &Connection) -> duckdb::Result<usize> {
    const TABLES: [(&str, &str, &str); 2] = [
        (
            "catalog_events",
            "project_id, event",
            "sum(events)::BIGINT AS events, min(first_ms) AS first_ms, max(last_ms) AS last_ms",
        ),
        ("catalog_properties", "project_id, event, name", "bit_or(kinds) AS kinds, min(first_ms) AS first_ms"),
    ];
    let mut folded = 0;
    for (table, key, aggregates) in TABLES {
        let rows: i64 = conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?;
        if rows < FOLD_AT_ROWS {
            continue;
        }
        let keys: i64 =
            conn.query_row(&format!("SELECT count(*) FROM (SELECT DISTINCT {key} FROM {table})"), [], |r| r.get(0))?;
        if rows < 2 * keys {
            continue;
        }
        conn.execute_batch("BEGIN TRANSACTION")?;
        let done = conn.execute_batch(&format!(
            "CREATE TEMP TABLE folded AS SELECT {key}, {aggregates} FROM {table} GROUP BY {key};
             DELETE FROM {table}; INSERT INTO {table} SELECT * FROM folded; DROP TABLE folded;
             COMMIT"
        ));
        if let Err(e) = done {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e);
        }
        folded += 1;
    }
    Ok(folded)
}

/// Reads the top-level members of a JSON object's text into `out` (each name and the
/// kind of its value) and returns their shape, a hash of both; `None` when the text is
/// not an object. Nothing is built but the list; a name is unescaped only if it has an
/// escape.
pub fn members_of<'t>(text: &'t str, out: &mut Vec<(Cow<'t, str>, JsonType)>) -> Option<u64> {
    let bytes = text.as_bytes();
    let mut hasher = FxHasher::default();
    let mut at = skip_space(bytes, 0);
    if bytes.get(at) != Some(&b'{') {
        return None;
    }
    at = skip_space(bytes, at + 1);
    if bytes.get(at) == Some(&b'}') {
        return Some(hasher.finish());
    }
    loop {
        let (name, end) = string_at(text, at)?;
        at = skip_space(bytes, end);
        if bytes.get(at) != Some(&b':') {
            return None;
        }
        at = skip_space(bytes, at + 1);
        let (kind, end) = value_at(bytes, at)?;
        name.hash(&mut hasher);
        bit(kind).hash(&mut hasher);
        out.push((name, kind));
        at = skip_space(bytes, end);
        match bytes.get(at) {
            Some(b',') => at = skip_space(bytes, at + 1),
            Some(b'}') => return Some(hasher.finish()),
            _ => return None,
        }
    }
}

fn skip_space(bytes: &[u8], mut at: usize) -> usize {
    while bytes.get(at).is_some_and(u8::is_ascii_whitespace) {
        at += 1;
    }
    at
}

/// The string starting at `at` (its opening quote), unescaped, and where it ends.
fn string_at(text: &str, at: usize) -> Option<(Cow<'_, str>, usize)> {
    let bytes = text.as_bytes();
    if bytes.get(at) != Some(&b'"') {
        return None;
    }
    let end = string_end(bytes, at)?;
    let inner = &text[at + 1..end - 1];
    if inner.contains('\\') {
        serde_json::from_str::<String>(&text[at..end]).ok().map(|s| (Cow::Owned(s), end))
    } else {
        Some((Cow::Borrowed(inner), end))
    }
}

/// Just past the closing quote of the string opening at `at`.
fn string_end(bytes: &[u8], at: usize) -> Option<usize> {
    let mut i = at + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// The kind of the value starting at `at`, and where it ends.
fn value_at(bytes: &[u8], at: usize) -> Option<(JsonType, usize)> {
    match *bytes.get(at)? {
        b'"' => Some((JsonType::String, string_end(bytes, at)?)),
        b't' => Some((JsonType::Boolean, at + 4)),
        b'f' => Some((JsonType::Boolean, at + 5)),
        b'n' => Some((JsonType::Null, at + 4)),
        b'{' | b'[' => {
            Some((if bytes[at] == b'{' { JsonType::Object } else { JsonType::Array }, nested_end(bytes, at)?))
        }
        b'-' | b'0'..=b'9' => {
            let mut end = at + 1;
            let mut fraction = false;
            while let Some(&c) = bytes.get(end) {
                match c {
                    b'0'..=b'9' | b'+' | b'-' => {}
                    b'.' | b'e' | b'E' => fraction = true,
                    _ => break,
                }
                end += 1;
            }
            Some((if fraction { JsonType::Number } else { JsonType::Integer }, end))
        }
        _ => None,
    }
}

/// Just past the bracket closing the object or list opening at `at`.
fn nested_end(bytes: &[u8], at: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = at;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i = string_end(bytes, i)?;
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use JsonType::{Array, Boolean, Integer, Null, Number, Object};

    fn read(text: &str) -> Option<Vec<(String, JsonType)>> {
        let mut out = Vec::new();
        members_of(text, &mut out).map(|_| out.into_iter().map(|(n, k)| (n.into_owned(), k)).collect())
    }

    #[test]
    fn members_and_their_kinds_at_the_top_level() {
        let text = r#"{"a":1,"b":-2.5e3,"c":"x\"}","d\"e":null,"f":true,"g":false,"h":[1,{"i":"]"}],"j":{"k":[]}}"#;
        let expected = [
            ("a", Integer),
            ("b", Number),
            ("c", JsonType::String),
            ("d\"e", Null),
            ("f", Boolean),
            ("g", Boolean),
            ("h", Array),
            ("j", Object),
        ];
        assert_eq!(read(text).unwrap(), expected.map(|(n, k)| (n.to_string(), k)));
        assert_eq!(read(" { } "), Some(vec![]));
        assert_eq!(read(r#"{ "a" : 1 , "b" : "2" }"#).unwrap().len(), 2);
        for bad in ["", "[]", "{", r#"{"a"}"#, r#"{"a":}"#, r#"{"a":1"#, r#"{"a":"1}"#] {
            assert_eq!(read(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_shape_is_its_names_and_kinds() {
        let shape = |t: &str| members_of(t, &mut Vec::new()).unwrap();
        assert_eq!(shape(r#"{"a":1,"b":"x"}"#), shape(r#"{"a":7,"b":"y"}"#));
        assert_ne!(shape(r#"{"a":1,"b":"x"}"#), shape(r#"{"a":1.5,"b":"x"}"#));
        assert_ne!(shape(r#"{"a":1,"b":"x"}"#), shape(r#"{"a":1,"c":"x"}"#));
    }
}
