//! A schematized pipeline's tables for one partition (`fs-schema`), made from the
//! partition's export lines by an in-memory DuckDB: the lines are read once, and each
//! table is written with `COPY ... TO` as Parquet or gzipped JSON lines.
//!
//! Columns: `event_name`, `time` (a UTC timestamp, to the millisecond),
//! `distinct_id`, `insert_id`, then each property the partition's events of the table
//! carry, under its own name (a second name equal but for case, or equal to a fixed
//! column, takes `_2`, `_3`..., in the order the project first saw them, so a column
//! keeps its name from day to day; the empty name is `_`; a name with a NUL is left
//! out). A property's type is the project's, from the kinds
//! the store has seen of it under the table's events (`EventStore::dictionary`), so a
//! column keeps its type from one partition to the next: integers only `BIGINT`,
//! numbers `DOUBLE`, booleans `BOOLEAN`, strings `VARCHAR`; lists, objects and mixed
//! kinds their JSON text (`VARCHAR`). Not done: Lexicon's declared types (the seen
//! kinds decide).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use sextant_expr::sql::{Dialect as _, DuckDb, json_pointer as pointer, quoted_identifier as ident};
use sextant_model::lexicon::JsonType;
use sextant_model::pipeline::{DataFormat, SchemaType, table_name};
use sextant_storage::SeenEvent;

/// What a partition publishes: each file written and where it goes, and the files of
/// an earlier publication it no longer has (a `multischema` table whose events left).
/// Final names are `/`-separated paths under the pipeline's destination
/// (`crate::pipeline_store`).
#[derive(Default)]
pub struct Files {
    /// Each file written (a temporary file in the work directory) and its final name.
    pub written: Vec<(PathBuf, String)>,
    /// Final names to remove.
    pub stale: Vec<String>,
    /// Scratch files to remove once published.
    pub scratch: Vec<PathBuf>,
    /// The tables this publication has (schematized pipelines).
    pub tables: Vec<String>,
}

/// The columns every table starts with.
const FIXED: [&str; 4] = ["event_name", "time", "distinct_id", "insert_id"];

/// The properties the fixed columns hold.
const FIXED_PROPERTIES: [&str; 3] = ["time", "distinct_id", "$insert_id"];

/// A column's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Column {
    BigInt,
    Double,
    Boolean,
    Text,
    JsonText,
}

/// The column type for the kinds seen of a property (`null` aside).
fn column_of(kinds: &[JsonType]) -> Column {
    let kinds: Vec<JsonType> = kinds.iter().copied().filter(|k| *k != JsonType::Null).collect();
    let only = |allowed: &[JsonType]| !kinds.is_empty() && kinds.iter().all(|k| allowed.contains(k));
    if only(&[JsonType::Integer]) {
        Column::BigInt
    } else if only(&[JsonType::Integer, JsonType::Number]) {
        Column::Double
    } else if only(&[JsonType::Boolean]) {
        Column::Boolean
    } else if only(&[JsonType::String]) {
        Column::Text
    } else {
        Column::JsonText
    }
}

/// `'text'` as a DuckDB string literal (the expression compiler's quoting).
pub(crate) fn literal(text: &str) -> String {
    DuckDb.string(text)
}

/// Column names for property names, in the order given (the order the project first
/// saw them, so a name keeps its column from one partition to the next): each its own
/// name, `_` for the empty one, and `_2`, `_3`... after one that is taken whatever the
/// case (DuckDB's names ignore case), the fixed columns included.
fn aliases<'a>(names: impl IntoIterator<Item = &'a str>) -> HashMap<String, String> {
    let mut taken: HashSet<String> = FIXED.iter().map(|f| f.to_string()).collect();
    let mut out = HashMap::new();
    for name in names {
        if out.contains_key(name) {
            continue;
        }
        let base = if name.is_empty() { "_" } else { name };
        let mut alias = base.to_string();
        let mut n = 1;
        while !taken.insert(alias.to_lowercase()) {
            n += 1;
            alias = format!("{base}_{n}");
        }
        out.insert(name.to_string(), alias);
    }
    out
}

impl Column {
    /// Its type in DuckDB's `json_transform` structure.
    fn transform_type(self) -> &'static str {
        match self {
            Column::BigInt => "BIGINT",
            Column::Double => "DOUBLE",
            Column::Boolean => "BOOLEAN",
            Column::Text => "VARCHAR",
            Column::JsonText => "JSON",
        }
    }
}

/// The rows a table's columns are selected from: its events, each with `p`, its
/// properties transformed once into a struct of the table's typed fields
/// (`json_transform`: one parse of a row, where a `json_extract` a column parsed it once
/// a column; a day of 2M events went from 135k to 194k events/s,
/// `cargo bench --workspace --bench pipeline_write`).
fn typed_rows(properties: &[(String, Column, String)], in_events: &str) -> String {
    let mut structure = serde_json::Map::new();
    for (name, kind) in [("time", "BIGINT"), ("distinct_id", "VARCHAR"), ("$insert_id", "VARCHAR")] {
        structure.insert(name.to_string(), serde_json::Value::from(kind));
    }
    for (name, column, _) in properties.iter().filter(|(name, _, _)| in_struct(properties, name)) {
        structure.insert(name.clone(), serde_json::Value::from(column.transform_type()));
    }
    let structure = serde_json::Value::Object(structure).to_string();
    format!(
        "SELECT event, properties, json_transform(properties, {}) AS p FROM raw WHERE event IN ({in_events})",
        literal(&structure)
    )
}

/// Whether a property is a field of the transformed struct: a struct's field names
/// are unique whatever their case and not empty, so a name equal but for case to
/// another (or to a fixed property), and the empty name, are read on their own.
fn in_struct(properties: &[(String, Column, String)], name: &str) -> bool {
    let lower = name.to_lowercase();
    let clashes = properties.iter().filter(|(n, _, _)| n.to_lowercase() == lower).count() > 1
        || FIXED_PROPERTIES.iter().any(|f| f.to_lowercase() == lower);
    !name.is_empty() && !clashes
}

/// The select list of a table over [`typed_rows`]: the fixed columns, then each
/// property as a typed column under its alias.
fn select_list(properties: &[(String, Column, String)]) -> String {
    let field = |name: &str| format!("struct_extract(p, {})", literal(name));
    let mut out = vec![
        "event AS event_name".to_string(),
        format!("epoch_ms({}) AS \"time\"", field("time")),
        format!("{} AS distinct_id", field("distinct_id")),
        format!("{} AS insert_id", field("$insert_id")),
    ];
    for (name, column, alias) in properties {
        let value = if in_struct(properties, name) {
            match column {
                Column::JsonText => format!("CAST({} AS VARCHAR)", field(name)),
                _ => field(name),
            }
        } else {
            let at = literal(&pointer(name));
            match column {
                Column::BigInt => format!("TRY_CAST(json_extract_string(properties, {at}) AS BIGINT)"),
                Column::Double => format!("TRY_CAST(json_extract_string(properties, {at}) AS DOUBLE)"),
                Column::Boolean => format!("TRY_CAST(json_extract_string(properties, {at}) AS BOOLEAN)"),
                Column::Text => format!("json_extract_string(properties, {at})"),
                Column::JsonText => format!("CAST(json_extract(properties, {at}) AS VARCHAR)"),
            }
        };
        out.push(format!("{value} AS {}", ident(alias)));
    }
    out.join(", ")
}

/// The file name of a table's partition.
fn file_name(format: DataFormat) -> &'static str {
    match format {
        DataFormat::Parquet => "export.parquet",
        DataFormat::Json => "export.json.gz",
    }
}

/// Writes the tables of the partition whose lines are in `lines` (times in ms), each
/// to a temporary file at `<work>/<table>/<dir>/.<file>.partial`, to be published as
/// `<table>/<dir>/<file>`; answers those, and the files of the tables this partition
/// published before (`previous`, as the control plane recorded them) and has no more
/// (`multischema`).
pub fn write(
    lines: &Path,
    work: &Path,
    dir: &str,
    format: DataFormat,
    schema: SchemaType,
    seen: &[SeenEvent],
    previous: &[String],
) -> Result<Files, String> {
    let fail = |e: duckdb::Error| format!("cannot write the tables: {e}");
    let conn = duckdb::Connection::open_in_memory().map_err(fail)?;
    // A partition without events has no table (and drops those it had).
    let empty = std::fs::metadata(lines).map_or(true, |m| m.len() == 0);
    let source = if empty {
        "SELECT NULL::VARCHAR AS event, NULL::JSON AS properties WHERE false".to_string()
    } else {
        format!(
            "SELECT event, properties FROM read_json({}, format = 'newline_delimited', \
             columns = {{'event': 'VARCHAR', 'properties': 'JSON'}})",
            literal(&lines.to_string_lossy())
        )
    };
    conn.execute_batch(&format!("SET threads = 1; CREATE TABLE raw AS {source};")).map_err(fail)?;
    // The event names present, by table.
    let names: Vec<String> = if empty {
        Vec::new()
    } else {
        conn.prepare("SELECT DISTINCT event FROM raw ORDER BY event")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .map_err(fail)?
    };
    let mut tables: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // Which table each event goes to, bound as parameters: event names are data.
    conn.execute_batch("CREATE TABLE mapping (event VARCHAR, tbl VARCHAR);").map_err(fail)?;
    let mut insert = conn.prepare("INSERT INTO mapping VALUES (?, ?)").map_err(fail)?;
    for name in names {
        let table = table_name(schema, &name);
        insert.execute(duckdb::params![name, table]).map_err(fail)?;
        tables.entry(table).or_default().push(name);
    }
    let file = file_name(format);
    let mut files = Files::default();
    for (table, events) in &tables {
        // Table names are letters, digits and `_` (`table_name`).
        let in_events = format!("SELECT event FROM mapping WHERE tbl = {}", literal(table));
        // The properties these events carry here, typed by what the project has seen.
        let keys: Vec<String> = conn
            .prepare(&format!(
                "SELECT DISTINCT unnest(json_keys(properties)) AS k FROM raw WHERE event IN ({in_events}) ORDER BY k"
            ))
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .map_err(fail)?;
        // Every property the project has seen under these events, first seen first: the
        // columns' names; those the partition carries that the store has not listed
        // yet come after, by name.
        let mut known: Vec<(i64, &str)> = seen
            .iter()
            .filter(|e| events.contains(&e.name))
            .flat_map(|e| e.properties.iter().map(|p| (p.first_ms, p.name.as_str())))
            .collect();
        known.sort_unstable();
        let names = aliases(known.iter().map(|(_, n)| *n).chain(keys.iter().map(String::as_str)));
        let properties: Vec<(String, Column, String)> = keys
            .iter()
            // A NUL cannot be named in DuckDB's SQL text: such a property is left out.
            .filter(|k| !FIXED_PROPERTIES.contains(&k.as_str()) && !k.contains('\0'))
            .map(|k| {
                let kinds: Vec<JsonType> = seen
                    .iter()
                    .filter(|e| events.contains(&e.name))
                    .flat_map(|e| e.properties.iter().filter(|p| &p.name == k).flat_map(|p| p.kinds.iter().copied()))
                    .collect();
                (k.clone(), column_of(&kinds), names[k.as_str()].clone())
            })
            .collect();
        let target_dir = work.join(table).join(dir);
        std::fs::create_dir_all(&target_dir).map_err(|e| format!("cannot write {}: {e}", target_dir.display()))?;
        let temporary = target_dir.join(format!(".{file}.partial"));
        let options = match format {
            DataFormat::Parquet => "FORMAT parquet",
            DataFormat::Json => "FORMAT json, COMPRESSION gzip",
        };
        conn.execute_batch(&format!(
            "COPY (SELECT {} FROM ({}) ORDER BY \"time\", insert_id) TO {} ({options});",
            select_list(&properties),
            typed_rows(&properties, &in_events),
            literal(&temporary.to_string_lossy())
        ))
        .map_err(fail)?;
        if let Ok(f) = std::fs::File::open(&temporary) {
            let _ = f.sync_all();
        }
        files.written.push((temporary, format!("{table}/{dir}/{file}")));
    }
    // A table this partition published before and has no more: its file goes.
    for old in previous.iter().filter(|t| !tables.contains_key(*t)) {
        files.stale.push(format!("{old}/{dir}/{file}"));
    }
    files.tables = tables.into_keys().collect();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_make_column_types() {
        let kinds = |k: &[JsonType]| k.to_vec();
        assert_eq!(column_of(&kinds(&[JsonType::Integer, JsonType::Null])), Column::BigInt);
        assert_eq!(column_of(&kinds(&[JsonType::Integer, JsonType::Number])), Column::Double);
        assert_eq!(column_of(&kinds(&[JsonType::Boolean])), Column::Boolean);
        assert_eq!(column_of(&kinds(&[JsonType::String])), Column::Text);
        assert_eq!(column_of(&kinds(&[JsonType::String, JsonType::Number])), Column::JsonText);
        assert_eq!(column_of(&kinds(&[JsonType::Array])), Column::JsonText);
        assert_eq!(column_of(&kinds(&[])), Column::JsonText, "unknown to the store: its JSON");
    }

    #[test]
    fn names_stay_apart_whatever_their_case() {
        let names = aliases(["Plan", "plan", "time", "", "Plan"]);
        assert_eq!(
            (names["Plan"].as_str(), names["plan"].as_str(), names["time"].as_str()),
            ("Plan", "plan_2", "time_2")
        );
        assert_eq!(names[""], "_");
        let list = select_list(&[("a\"b".into(), Column::Text, "a\"b".into())]);
        assert!(list.ends_with("struct_extract(p, 'a\"b') AS \"a\"\"b\""), "{list}");
        let clashing =
            [("Plan".to_string(), Column::Text, "Plan".to_string()), ("plan".into(), Column::Text, "plan_2".into())];
        assert!(select_list(&clashing).ends_with("json_extract_string(properties, '/plan') AS \"plan_2\""));
        assert!(!in_struct(&clashing, "Plan") && !in_struct(&[], "") && !in_struct(&[], "Time"));
        assert_eq!(pointer("a/b~c"), "/a~1b~0c");
        assert_eq!(literal("it's"), "'it''s'");
    }
}
