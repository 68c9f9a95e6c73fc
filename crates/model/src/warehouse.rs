//! Warehouse connectors (Mixpanel's `/projects/{id}/warehouse-sources/imports`): the
//! sources Sextant reads, what an import asks for, and how a source's row becomes an
//! event or a profile update.
//!
//! A **source** is Sextant's own resource (Mixpanel makes its sources in its web app):
//! a PostgreSQL database (`postgres`, a connection URL, kept sealed as it may hold a
//! password), a directory of Parquet and CSV files under the server's import root
//! (`files`), or Parquet and CSV files under a prefix of an S3 bucket (`s3`, with a
//! pipeline's `s3_*` fields, [`crate::pipeline_bucket`]). An **import** reads one table, query or file pattern of a source
//! (`table_params`) and maps its columns ([`ImportSpec`]): the event name (a constant or
//! a column), the time, the distinct id, the insert id (Sextant's
//! `insert_id_column_name`; without it an id is derived from the import and the row, so
//! a row read twice is one event), and every other column as a property under its own
//! name or the one `property_mappings` gives it.
//!
//! `time_based` imports read the rows whose watermark column (`insert_time_column_name`,
//! else `time_column_name`) is past the import's watermark, in its order; `full_sync`
//! reads everything each time; `one_time` once. `mirror_mode` is refused (**not
//! done**).

use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use crate::form::{Problem, problem};
use crate::pipeline_bucket::{S3_FIELDS, S3Bucket};

/// `run_every` values, in nanoseconds, as Mixpanel takes them: manual only, hourly,
/// daily, weekly.
pub const SYNC_FREQUENCIES_NS: [i64; 4] = [0, 3_600_000_000_000, 86_400_000_000_000, 604_800_000_000_000];

/// A minute in nanoseconds: Sextant also takes any whole number of minutes.
const MINUTE_NS: i64 = 60_000_000_000;

/// The longest name, column or path an import names.
const MAX_NAME_BYTES: usize = 1_024;

/// The longest SQL query an import runs.
const MAX_QUERY_BYTES: usize = 64 * 1024;

/// The most property mappings.
const MAX_MAPPINGS: usize = 2_000;

/// What a source is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// A PostgreSQL database.
    Postgres,
    /// Parquet and CSV files in a directory under the server's import root.
    Files,
    /// Parquet and CSV files in an S3 bucket, Amazon's or any S3-compatible store's.
    S3,
}

/// A warehouse source, as created.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceSpec {
    /// Its name.
    pub name: String,
    /// What it is.
    #[serde(rename = "type")]
    pub kind: SourceKind,
    /// `postgres`: the connection URL (sealed by the server before it is stored).
    pub url: Option<String>,
    /// `files`: the directory, relative to the import root; `s3`: the key prefix.
    pub path: Option<String>,
    /// `s3`: the bucket (its secret key sealed by the server before it is stored).
    #[serde(default)]
    pub bucket: Option<S3Bucket>,
    /// `postgres`: the URL with its password hidden, as answers show it.
    #[serde(default)]
    pub shown_url: Option<String>,
}

/// A field of a JSON body, if it is a string (else a problem).
fn text<'a>(body: &'a Value, field: &str, problems: &mut Vec<Problem>) -> Option<&'a str> {
    match body.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.len() > MAX_NAME_BYTES && field != "query" => {
            problems.push(problem(field, format!("is longer than {MAX_NAME_BYTES} bytes")));
            None
        }
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => {
            problems.push(problem(field, "must be a string"));
            None
        }
    }
}

/// A relative path of plain segments (letters, digits, `-`, `_`, `.`, `=` as in
/// `day=1`, and in a pattern `*` and `?`), none `.` or `..`.
pub fn relative_path(value: &str, pattern: bool) -> Result<String, String> {
    let segments: Vec<&str> = value.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    for segment in &segments {
        let plain = segment.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '=') || (pattern && matches!(c, '*' | '?'))
        });
        if !plain || *segment == "." || *segment == ".." {
            return Err(format!("`{segment}` is not a plain path segment"));
        }
    }
    Ok(segments.join("/"))
}

/// Whether `key` (a `/`-separated path) matches `pattern`, segment by segment: `*` is
/// any run of characters within a segment, `?` one character (as DuckDB's globs of a
/// `files` source match local paths).
pub fn glob_match(pattern: &str, key: &str) -> bool {
    fn segment(p: &[char], t: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('*', rest)) => (0..=t.len()).any(|i| segment(rest, &t[i..])),
            Some(('?', rest)) => !t.is_empty() && segment(rest, &t[1..]),
            Some((c, rest)) => t.first() == Some(c) && segment(rest, &t[1..]),
        }
    }
    let (p, k): (Vec<&str>, Vec<&str>) = (pattern.split('/').collect(), key.split('/').collect());
    p.len() == k.len()
        && p.iter().zip(&k).all(|(p, k)| segment(&p.chars().collect::<Vec<_>>(), &k.chars().collect::<Vec<_>>()))
}

impl SourceSpec {
    /// Reads a create request's body.
    pub fn parse(body: &Value) -> Result<SourceSpec, Vec<Problem>> {
        let mut problems = Vec::new();
        if !body.is_object() {
            return Err(vec![problem("body", "must be a JSON object")]);
        }
        let name = text(body, "name", &mut problems).map(str::trim).filter(|n| !n.is_empty());
        if name.is_none() && !problems.iter().any(|(f, _)| f == "name") {
            problems.push(problem("name", "is required"));
        }
        let kind = match text(body, "type", &mut problems) {
            Some("postgres") => Some(SourceKind::Postgres),
            Some("files") => Some(SourceKind::Files),
            Some("s3") => Some(SourceKind::S3),
            Some(other) => {
                problems.push(problem("type", format!("must be `postgres`, `files` or `s3`, not `{other}`")));
                None
            }
            None => {
                problems.push(problem("type", "is required (`postgres`, `files` or `s3`)"));
                None
            }
        };
        // An `s3` source's fields are a pipeline's `s3_*` ones, read the same way.
        let s3_pairs: Vec<(String, String)> = S3_FIELDS
            .iter()
            .filter_map(|f| {
                body.get(*f).map(|v| (f.to_string(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
            })
            .collect();
        let url = text(body, "url", &mut problems);
        let path = text(body, "path", &mut problems);
        match kind {
            Some(SourceKind::Postgres) => match url.map(PostgresUrl::parse) {
                Some(Ok(_)) => {}
                Some(Err(why)) => problems.push(problem("url", why)),
                None => problems.push(problem("url", "is required for a `postgres` source")),
            },
            Some(SourceKind::Files) => {
                if let Some(Err(why)) = path.map(|p| relative_path(p, false)) {
                    problems.push(problem("path", why));
                }
            }
            Some(SourceKind::S3) if s3_pairs.iter().any(|(f, _)| f == "s3_role") => {
                problems.push(problem("s3_role", "is not assumed by this server: give a key pair"));
            }
            Some(SourceKind::S3) | None => {}
        }
        let bucket = match kind {
            Some(SourceKind::S3) => S3Bucket::parse(&s3_pairs, &mut problems),
            _ => None,
        };
        let prefix = s3_pairs.iter().find(|(f, _)| f == "s3_prefix").map(|(_, p)| relative_path(p, false));
        if let Some(Err(why)) = &prefix {
            problems.push(problem("s3_prefix", why.clone()));
        }
        for field in ["url", "path"].into_iter().chain(S3_FIELDS) {
            let ours = match kind {
                Some(SourceKind::Postgres) => field == "url",
                Some(SourceKind::Files) => field == "path",
                Some(SourceKind::S3) => S3_FIELDS.contains(&field),
                None => true,
            };
            if !ours && body.get(field).is_some() && !problems.iter().any(|(f, _)| f == field) {
                problems.push(problem(field, "is not a field of this type of source"));
            }
        }
        match (name, kind) {
            (Some(name), Some(kind)) if problems.is_empty() => Ok(SourceSpec {
                name: name.to_string(),
                kind,
                url: url.filter(|_| kind == SourceKind::Postgres).map(str::to_string),
                path: match kind {
                    SourceKind::Files => path.and_then(|p| relative_path(p, false).ok()),
                    SourceKind::S3 => prefix.and_then(Result::ok),
                    SourceKind::Postgres => None,
                },
                bucket,
                shown_url: None,
            }),
            _ => Err(problems),
        }
    }
}

/// A PostgreSQL source's connection URL, taken apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostgresUrl {
    /// `postgres` or `postgresql`.
    pub scheme: String,
    /// The user.
    pub user: String,
    /// The password, still percent-encoded as the URL has it (empty: none, for a
    /// server that asks for none).
    pub password: String,
    /// The host name or address.
    pub host: String,
    /// The port (5432 when the URL names none).
    pub port: u16,
    /// The database.
    pub database: String,
    /// `sslmode`, when given.
    pub sslmode: Option<String>,
}

/// The `sslmode`s PostgreSQL knows.
const SSL_MODES: [&str; 6] = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"];

impl PostgresUrl {
    /// Reads `postgres://user[:password]@host[:port]/database[?sslmode=...]`. The user,
    /// host and database are required, and nothing but `sslmode` is taken beside them:
    /// a URL that left a part out would have it filled from the server's own
    /// environment (`PGHOST`, `PGPASSWORD`, `~/.pgpass`, its socket), reaching the
    /// server's own databases with the server's own credentials; certificate and key
    /// files and `options` would be read or set on the server's side. The reader sets
    /// every part itself (a missing password is an empty one, never the environment's).
    pub fn parse(url: &str) -> Result<PostgresUrl, String> {
        let (scheme, rest) = url.split_once("://").ok_or("must be postgres://user:password@host/database")?;
        if !matches!(scheme, "postgres" | "postgresql") {
            return Err("must be a postgres:// or postgresql:// URL".into());
        }
        let (rest, query) = rest.split_once('?').map_or((rest, None), |(r, q)| (r, Some(q)));
        let (userinfo, rest) = rest.rsplit_once('@').ok_or("must name its user (user:password@host)")?;
        let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
        if user.is_empty() || userinfo.contains('/') {
            return Err("must give a user (and a password), percent-encoded (user:password@host)".into());
        }
        let (hostport, database) = rest.split_once('/').ok_or("must name a database (host/database)")?;
        let (host, port) = match hostport.rsplit_once(':') {
            Some((host, port)) if !hostport.ends_with(']') => {
                (host, port.parse::<u16>().map_err(|_| format!("`{port}` is not a port"))?)
            }
            _ => (hostport, 5432),
        };
        let plain_host = !host.is_empty()
            && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '[' | ']' | ':'));
        if !plain_host {
            return Err("must name a host by name or address (not a socket directory)".into());
        }
        if database.is_empty() || database.contains('/') {
            return Err("must name one database (host/database)".into());
        }
        let mut sslmode = None;
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("sslmode", mode)) if SSL_MODES.contains(&mode) => sslmode = Some(mode.to_string()),
                _ => return Err(format!("`{pair}` is not taken: only `sslmode` may follow the URL")),
            }
        }
        Ok(PostgresUrl {
            scheme: scheme.to_string(),
            user: user.to_string(),
            password: password.to_string(),
            host: host.to_string(),
            port,
            database: database.to_string(),
            sslmode,
        })
    }

    /// The URL with its password hidden, as answers show it.
    pub fn masked(&self) -> String {
        let ssl = self.sslmode.as_deref().map(|m| format!("?sslmode={m}")).unwrap_or_default();
        let password = if self.password.is_empty() { "" } else { ":***" };
        format!("{}://{}{password}@{}:{}/{}{ssl}", self.scheme, self.user, self.host, self.port, self.database)
    }
}

/// What an import brings in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportType {
    /// Events, each row one.
    EventStream,
    /// User profiles, each row a `$set`.
    People,
    /// Group profiles, each row a `$set`.
    Groups,
    /// A lookup table's rows, replaced whole.
    LookupTable,
}

impl ImportType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ImportType::EventStream => "event_stream",
            ImportType::People => "people",
            ImportType::Groups => "groups",
            ImportType::LookupTable => "lookup_table",
        }
    }
}

/// How an import reads its source each run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncMode {
    /// The rows past the watermark.
    TimeBased,
    /// Every row, each run.
    FullSync,
    /// Every row, once.
    OneTime,
}

/// Where in its source an import reads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TableParams {
    /// A table (or view) of a PostgreSQL source.
    Table { schema_name: Option<String>, table_name: String },
    /// A query of a PostgreSQL source, read as a table.
    Query { query: String },
    /// Files of a `files` source matching a pattern (`events/*.parquet`).
    Files { path: String, format: FileFormat },
}

/// A file source's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    /// Parquet.
    Parquet,
    /// CSV with a header row.
    Csv,
}

/// The Mixpanel property a lookup table's key joins on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinProperty {
    /// The property's name.
    pub value: String,
    /// `event` or `user`.
    #[serde(rename = "resourceType")]
    pub resource_type: String,
}

/// What an import asks for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportSpec {
    /// What it brings in.
    pub import_type: ImportType,
    /// The source it reads.
    pub warehouse_source_id: i64,
    /// Where in the source.
    pub table_params: TableParams,
    /// How it reads each run.
    pub sync_mode: SyncMode,
    /// Nanoseconds between scheduled runs; 0: `manual-sync` only.
    pub run_every: i64,
    /// Every row's event name (events).
    pub event_name: Option<String>,
    /// The column holding the event name (events).
    pub event_column_name: Option<String>,
    /// The column holding the event's time (events).
    pub time_column_name: Option<String>,
    /// The column holding the distinct id (events, people).
    pub user_column_name: Option<String>,
    /// The column holding the insert id (events; Sextant's own).
    pub insert_id_column_name: Option<String>,
    /// The column a `time_based` import's watermark follows.
    pub insert_time_column_name: Option<String>,
    /// A column holding a JSON object of more properties.
    pub json_properties_column_name: Option<String>,
    /// Column to property names.
    pub property_mappings: BTreeMap<String, String>,
    /// The group key (groups).
    pub group_key: Option<String>,
    /// The column holding the group id (groups).
    pub group_id_column: Option<String>,
    /// The property a lookup table joins on (lookup tables).
    pub mixpanel_property: Option<JoinProperty>,
    /// The column holding a lookup table's key (lookup tables).
    pub property_key_column_name: Option<String>,
    /// The lookup table a lookup-table import fills (made with the import).
    #[serde(default)]
    pub lookup_table_id: Option<String>,
}

/// The fields a create request may carry.
const IMPORT_FIELDS: [&str; 19] = [
    "import_type",
    "warehouse_source_id",
    "table_params",
    "sync_mode",
    "run_every",
    "event_name",
    "event_column_name",
    "time_column_name",
    "user_column_name",
    "insert_id_column_name",
    "insert_time_column_name",
    "json_properties_column_name",
    "property_mappings",
    "group_key",
    "group_id_column",
    "mixpanel_property",
    "property_key_column_name",
    "device_column_name",
    "databricks_params",
];

/// A `run_every`: one of Mixpanel's values, or (Sextant's) a whole number of minutes.
pub fn check_run_every(value: &Value) -> Result<i64, String> {
    let ns = value.as_i64().ok_or("must be an integer number of nanoseconds")?;
    if SYNC_FREQUENCIES_NS.contains(&ns) || (ns > 0 && ns % MINUTE_NS == 0) {
        Ok(ns)
    } else {
        Err("must be 0 (manual only), 3600000000000 (hourly), 86400000000000 (daily), 604800000000000 (weekly), or a whole number of minutes in nanoseconds".into())
    }
}

impl ImportSpec {
    /// Reads a create request's body for an import of `import_type` (the path's);
    /// `source` is the kind of the source it names, when it exists.
    pub fn parse(
        body: &Value,
        import_type: ImportType,
        source: Option<SourceKind>,
    ) -> Result<ImportSpec, Vec<Problem>> {
        let mut problems = Vec::new();
        let Some(fields) = body.as_object() else { return Err(vec![problem("body", "must be a JSON object")]) };
        for key in fields.keys() {
            if !IMPORT_FIELDS.contains(&key.as_str()) {
                problems.push(problem(key, "is not a field of a warehouse import"));
            }
        }
        match text(body, "import_type", &mut problems) {
            Some(t) if t == import_type.as_str() => {}
            Some(t) => problems
                .push(problem("import_type", format!("must be `{}` at this path, not `{t}`", import_type.as_str()))),
            None => {}
        }
        if fields.get("device_column_name").is_some_and(|v| !v.is_null()) {
            problems.push(problem("device_column_name", "is not read by this server (**not done**)"));
        }
        if fields.get("databricks_params").is_some_and(|v| !v.is_null()) {
            problems.push(problem("databricks_params", "is for Databricks sources, which this server does not read"));
        }
        let source_id = match fields.get("warehouse_source_id") {
            Some(v) => v.as_i64().or_else(|| {
                problems.push(problem("warehouse_source_id", "must be an integer"));
                None
            }),
            None => {
                problems.push(problem("warehouse_source_id", "is required"));
                None
            }
        };
        let source_known = source.is_some();
        if source_id.is_some() && !source_known {
            problems.push(problem("warehouse_source_id", "names no warehouse source of this project"));
        }
        let table_params = table_params(fields.get("table_params"), source, &mut problems);
        let sync_mode = match text(body, "sync_mode", &mut problems) {
            Some("time_based") if import_type != ImportType::LookupTable => Some(SyncMode::TimeBased),
            Some("full_sync") => Some(SyncMode::FullSync),
            Some("one_time") => Some(SyncMode::OneTime),
            Some("mirror_mode") => {
                problems.push(problem(
                    "sync_mode",
                    "`mirror_mode` is not done by this server; use `time_based` or `full_sync`",
                ));
                None
            }
            Some(other) => {
                problems.push(problem("sync_mode", format!("`{other}` is not a sync mode of this import type")));
                None
            }
            None => {
                problems.push(problem("sync_mode", "is required"));
                None
            }
        };
        let run_every = match fields.get("run_every") {
            None | Some(Value::Null) => match sync_mode {
                Some(SyncMode::OneTime) => 0,
                _ => SYNC_FREQUENCIES_NS[1],
            },
            Some(v) => check_run_every(v).unwrap_or_else(|why| {
                problems.push(problem("run_every", why));
                0
            }),
        };
        let column = |field: &str, problems: &mut Vec<Problem>| text(body, field, problems).map(str::to_string);
        let event_name = column("event_name", &mut problems);
        let event_column_name = column("event_column_name", &mut problems);
        let time_column_name = column("time_column_name", &mut problems);
        let user_column_name = column("user_column_name", &mut problems);
        let insert_id_column_name = column("insert_id_column_name", &mut problems);
        let insert_time_column_name = column("insert_time_column_name", &mut problems);
        let json_properties_column_name = column("json_properties_column_name", &mut problems);
        let group_key = column("group_key", &mut problems);
        let group_id_column = column("group_id_column", &mut problems);
        let property_key_column_name = column("property_key_column_name", &mut problems);
        let property_mappings = match fields.get("property_mappings") {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(Value::Object(map)) if map.len() <= MAX_MAPPINGS => {
                let mut out = BTreeMap::new();
                for (column, property) in map {
                    match property.as_str() {
                        Some(p) if !p.is_empty() => {
                            out.insert(column.clone(), p.to_string());
                        }
                        _ => problems
                            .push(problem("property_mappings", format!("`{column}` must map to a property name"))),
                    }
                }
                out
            }
            Some(_) => {
                problems.push(problem(
                    "property_mappings",
                    format!("must be an object of at most {MAX_MAPPINGS} column to property names"),
                ));
                BTreeMap::new()
            }
        };
        let mixpanel_property = match fields.get("mixpanel_property") {
            None | Some(Value::Null) => None,
            Some(v) => match serde_json::from_value::<JoinProperty>(v.clone()) {
                Ok(p) if !p.value.is_empty() && matches!(p.resource_type.as_str(), "event" | "user") => Some(p),
                _ => {
                    problems.push(problem(
                        "mixpanel_property",
                        "must be {\"value\": <property>, \"resourceType\": \"event\" or \"user\"}",
                    ));
                    None
                }
            },
        };
        let mut require = |field: &str, present: bool, why: &str| {
            if !present && !problems.iter().any(|(f, _)| f == field) {
                problems.push(problem(field, why));
            }
        };
        match import_type {
            ImportType::EventStream => {
                require("time_column_name", time_column_name.is_some(), "is required for events");
                require("user_column_name", user_column_name.is_some(), "is required for events");
                require(
                    "event_name",
                    event_name.is_some() != event_column_name.is_some(),
                    "give `event_name` or `event_column_name`, one of them",
                );
            }
            ImportType::People => require("user_column_name", user_column_name.is_some(), "is required for people"),
            ImportType::Groups => {
                require("group_key", group_key.is_some(), "is required for groups");
                require("group_id_column", group_id_column.is_some(), "is required for groups");
            }
            ImportType::LookupTable => {
                require("mixpanel_property", mixpanel_property.is_some(), "is required for a lookup table");
                require(
                    "property_key_column_name",
                    property_key_column_name.is_some(),
                    "is required for a lookup table",
                );
            }
        }
        if sync_mode == Some(SyncMode::TimeBased) {
            let watermark = insert_time_column_name.is_some()
                || (import_type == ImportType::EventStream && time_column_name.is_some());
            require("insert_time_column_name", watermark, "is required for `time_based` syncs of profiles");
        }
        match (source_id, table_params, sync_mode) {
            (Some(warehouse_source_id), Some(table_params), Some(sync_mode)) if problems.is_empty() => Ok(ImportSpec {
                import_type,
                warehouse_source_id,
                table_params,
                sync_mode,
                run_every,
                event_name,
                event_column_name,
                time_column_name,
                user_column_name,
                insert_id_column_name,
                insert_time_column_name,
                json_properties_column_name,
                property_mappings,
                group_key,
                group_id_column,
                mixpanel_property,
                property_key_column_name,
                lookup_table_id: None,
            }),
            _ => Err(problems),
        }
    }

    /// The column a `time_based` import's watermark follows.
    pub fn watermark_column(&self) -> Option<&str> {
        match self.sync_mode {
            SyncMode::TimeBased => self.insert_time_column_name.as_deref().or(self.time_column_name.as_deref()),
            SyncMode::FullSync | SyncMode::OneTime => None,
        }
    }

    /// The columns a row's special values come from, kept out of its properties.
    fn special_columns(&self) -> Vec<&str> {
        [
            &self.event_column_name,
            &self.time_column_name,
            &self.user_column_name,
            &self.insert_id_column_name,
            &self.insert_time_column_name,
            &self.json_properties_column_name,
            &self.group_id_column,
        ]
        .into_iter()
        .filter_map(|c| c.as_deref())
        .collect()
    }

    /// A row's properties: every other column under its name or its mapping's, nulls
    /// left out, then the JSON-properties column's object.
    fn properties(&self, row: &Map<String, Value>) -> Result<Map<String, Value>, String> {
        let special = self.special_columns();
        let mut out = Map::new();
        for (column, value) in row {
            if special.contains(&column.as_str()) || value.is_null() {
                continue;
            }
            let name = self.property_mappings.get(column).cloned().unwrap_or_else(|| column.clone());
            out.insert(name, value.clone());
        }
        if let Some(column) = &self.json_properties_column_name {
            match row.get(column) {
                None | Some(Value::Null) => {}
                Some(Value::Object(more)) => out.extend(more.clone()),
                Some(Value::String(text)) => match serde_json::from_str::<Value>(text) {
                    Ok(Value::Object(more)) => out.extend(more),
                    _ => return Err(format!("column `{column}` does not hold a JSON object")),
                },
                Some(_) => return Err(format!("column `{column}` does not hold a JSON object")),
            }
        }
        Ok(out)
    }

    /// A row as the record `/import` takes: `{"event", "properties": {"time",
    /// "distinct_id", "$insert_id", ...}}`. `import_id` makes the derived insert id.
    pub fn event_record(&self, import_id: i64, row: &Map<String, Value>) -> Result<Value, String> {
        let name = match (&self.event_name, &self.event_column_name) {
            (Some(name), _) => name.clone(),
            (None, Some(column)) => scalar_text(row, column)?,
            (None, None) => return Err("no event name".into()),
        };
        let time_column = self.time_column_name.as_deref().ok_or("no time column")?;
        let time = time_ms(row.get(time_column).unwrap_or(&Value::Null))
            .ok_or_else(|| format!("column `{time_column}` does not hold a time"))?;
        let user = self.user_column_name.as_deref().ok_or("no user column")?;
        let distinct_id = scalar_text(row, user)?;
        let insert_id = match &self.insert_id_column_name {
            Some(column) => scalar_text(row, column)?,
            None => derived_insert_id(import_id, row),
        };
        let mut properties = self.properties(row)?;
        properties.insert("time".into(), Value::from(time));
        properties.insert("distinct_id".into(), Value::from(distinct_id));
        properties.insert("$insert_id".into(), Value::from(insert_id));
        Ok(serde_json::json!({ "event": name, "properties": properties }))
    }

    /// A row as a lookup table's: its key (the key column's value as text) and its
    /// other columns (nulls left out).
    pub fn lookup_row(&self, row: &Map<String, Value>) -> Result<(String, Map<String, Value>), String> {
        let column = self.property_key_column_name.as_deref().ok_or("no key column")?;
        let key = scalar_text(row, column)?;
        let rest = row.iter().filter(|(c, v)| c.as_str() != column && !v.is_null());
        Ok((key, rest.map(|(c, v)| (c.clone(), v.clone())).collect()))
    }

    /// A row as the update `/engage` (people) or `/groups` takes: a `$set` of its
    /// properties.
    pub fn profile_record(&self, row: &Map<String, Value>) -> Result<Value, String> {
        let properties = self.properties(row)?;
        match self.import_type {
            ImportType::Groups => {
                let column = self.group_id_column.as_deref().ok_or("no group id column")?;
                Ok(serde_json::json!({
                    "$group_key": self.group_key,
                    "$group_id": scalar_text(row, column)?,
                    "$set": properties,
                }))
            }
            _ => {
                let column = self.user_column_name.as_deref().ok_or("no user column")?;
                Ok(serde_json::json!({ "$distinct_id": scalar_text(row, column)?, "$set": properties }))
            }
        }
    }
}

fn table_params(value: Option<&Value>, source: Option<SourceKind>, problems: &mut Vec<Problem>) -> Option<TableParams> {
    let Some(value) = value.filter(|v| v.is_object()) else {
        problems.push(problem("table_params", "is required: an object"));
        return None;
    };
    let mut inner = Vec::new();
    let parsed = match source {
        None => return None,
        Some(SourceKind::Postgres) => {
            let table = text(value, "table_name", &mut inner);
            let schema = text(value, "schema_name", &mut inner);
            let query = text(value, "query", &mut inner);
            match (table, query) {
                (Some(table), None) => {
                    Some(TableParams::Table { schema_name: schema.map(str::to_string), table_name: table.to_string() })
                }
                (None, Some(query)) if query.len() <= MAX_QUERY_BYTES && schema.is_none() => {
                    Some(TableParams::Query { query: query.to_string() })
                }
                (None, Some(_)) if schema.is_some() => {
                    inner.push(problem("schema_name", "goes with `table_name`, not `query`"));
                    None
                }
                (None, Some(_)) => {
                    inner.push(problem("query", format!("is longer than {MAX_QUERY_BYTES} bytes")));
                    None
                }
                _ => {
                    inner.push(problem("table_name", "give `table_name` (and `schema_name`) or `query`, one of them"));
                    None
                }
            }
        }
        Some(SourceKind::Files | SourceKind::S3) => {
            let path = text(value, "path", &mut inner).map(|p| relative_path(p, true));
            let format = match text(value, "format", &mut inner) {
                Some("parquet") => Some(FileFormat::Parquet),
                Some("csv") => Some(FileFormat::Csv),
                Some(other) => {
                    inner.push(problem("format", format!("must be `parquet` or `csv`, not `{other}`")));
                    None
                }
                None => match value.get("path").and_then(Value::as_str) {
                    Some(p) if p.ends_with(".parquet") => Some(FileFormat::Parquet),
                    Some(p) if p.ends_with(".csv") => Some(FileFormat::Csv),
                    _ => {
                        inner.push(problem("format", "is required unless `path` ends in .parquet or .csv"));
                        None
                    }
                },
            };
            match (path, format) {
                (Some(Ok(path)), Some(format)) if !path.is_empty() => Some(TableParams::Files { path, format }),
                (Some(Err(why)), _) => {
                    inner.push(problem("path", why));
                    None
                }
                (None, _) | (Some(Ok(_)), _) if !inner.iter().any(|(f, _)| f == "path") => {
                    inner.push(problem("path", "is required: a file pattern under the source's directory"));
                    None
                }
                _ => None,
            }
        }
    };
    problems.extend(inner.into_iter().map(|(f, why)| (format!("table_params.{f}"), why)));
    parsed
}

/// A column's value as text: strings as they are, numbers and booleans written out.
fn scalar_text(row: &Map<String, Value>, column: &str) -> Result<String, String> {
    match row.get(column) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(v @ (Value::Number(_) | Value::Bool(_))) => Ok(v.to_string()),
        None => Err(format!("column `{column}` is not in the source's rows")),
        Some(_) => Err(format!("column `{column}` is empty or not a string or number")),
    }
}

/// A time as epoch milliseconds: a number of seconds (or of milliseconds, past 1e11,
/// as `/import` reads them), or text as PostgreSQL and DuckDB write timestamps and
/// dates (RFC 3339; `yyyy-mm-dd[ T]hh:mm:ss[.f]` read as UTC; `yyyy-mm-dd`).
pub fn time_ms(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => {
            let t = n.as_f64()?;
            Some(if t.abs() >= 1e11 { t as i64 } else { (t * 1000.0) as i64 })
        }
        Value::String(s) => {
            let s = s.trim();
            if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
                return Some(t.timestamp_millis());
            }
            // PostgreSQL's and DuckDB's `+00` offsets, without minutes, after a `T` or a
            // space.
            for format in ["%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f%#z"] {
                if let Ok(t) = chrono::DateTime::parse_from_str(s, format) {
                    return Some(t.timestamp_millis());
                }
            }
            for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
                if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
                    return Some(t.and_utc().timestamp_millis());
                }
            }
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc().timestamp_millis())
        }
        _ => None,
    }
}

/// An insert id for a row without one: the hash of the import and the row, so that
/// the same row read again is the same event (`/import` drops it as a duplicate).
fn derived_insert_id(import_id: i64, row: &Map<String, Value>) -> String {
    let mut hash = Sha256::new();
    hash.update(import_id.to_le_bytes());
    hash.update(serde_json::to_vec(row).unwrap_or_default());
    hash.finalize()[..16].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn events_spec() -> ImportSpec {
        let body = json!({
            "import_type": "event_stream",
            "warehouse_source_id": 3,
            "table_params": {"schema_name": "public", "table_name": "events"},
            "event_column_name": "kind",
            "time_column_name": "at",
            "user_column_name": "user_id",
            "sync_mode": "time_based",
            "property_mappings": {"amt": "Amount"},
            "json_properties_column_name": "extra",
        });
        ImportSpec::parse(&body, ImportType::EventStream, Some(SourceKind::Postgres)).unwrap()
    }

    #[test]
    fn a_row_becomes_an_import_record() {
        let spec = events_spec();
        assert_eq!(spec.watermark_column(), Some("at"));
        assert_eq!(spec.run_every, SYNC_FREQUENCIES_NS[1], "hourly unless told");
        let row = json!({"kind": "Buy", "at": "2026-12-05T10:00:00.5+00:00", "user_id": 42, "amt": 9.5,
                         "note": null, "extra": "{\"plan\": \"pro\"}"});
        let record = spec.event_record(7, row.as_object().unwrap()).unwrap();
        let p = &record["properties"];
        assert_eq!(record["event"], "Buy");
        assert_eq!((p["time"].as_i64(), p["distinct_id"].as_str()), (Some(1_796_464_800_500), Some("42")));
        assert_eq!((p["Amount"].as_f64(), p["plan"].as_str()), (Some(9.5), Some("pro")));
        assert!(p.get("note").is_none() && p.get("at").is_none() && p.get("extra").is_none(), "{p}");
        let again = spec.event_record(7, row.as_object().unwrap()).unwrap();
        assert_eq!(again["properties"]["$insert_id"], p["$insert_id"], "the same row is the same event");
        let other = spec.event_record(8, row.as_object().unwrap()).unwrap();
        assert_ne!(other["properties"]["$insert_id"], p["$insert_id"], "another import's row is another");
        let bad = json!({"kind": "Buy", "at": "yesterday", "user_id": 1});
        assert!(spec.event_record(7, bad.as_object().unwrap()).unwrap_err().contains("`at`"));
    }

    #[test]
    fn times_are_read_as_the_databases_write_them() {
        let at = 1_796_464_800_000;
        for text in [
            "2026-12-05T10:00:00+00:00",
            "2026-12-05T10:00:00+00",
            "2026-12-05 10:00:00",
            "2026-12-05T10:00:00Z",
            "2026-12-05 11:00:00+01",
            "2026-12-05 10:00:00.000+00",
        ] {
            assert_eq!(time_ms(&json!(text)), Some(at), "{text}");
        }
        assert_eq!(time_ms(&json!(1_796_464_800)), Some(at));
        assert_eq!(time_ms(&json!(1_796_464_800_000i64)), Some(at));
        assert_eq!(time_ms(&json!("2026-12-05")), Some(at - 36_000_000));
    }

    #[test]
    fn every_problem_is_named() {
        let body = json!({"import_type": "people", "warehouse_source_id": "x", "table_params": {"query": "select 1", "schema_name": "s"},
                          "sync_mode": "mirror_mode", "run_every": 5, "device_column_name": "d", "colour": 1});
        let err = ImportSpec::parse(&body, ImportType::EventStream, Some(SourceKind::Postgres)).unwrap_err();
        let named: Vec<&str> = err.iter().map(|(f, _)| f.as_str()).collect();
        for f in [
            "import_type",
            "warehouse_source_id",
            "table_params.schema_name",
            "sync_mode",
            "run_every",
            "device_column_name",
            "colour",
            "time_column_name",
            "user_column_name",
            "event_name",
        ] {
            assert!(named.contains(&f), "{f} in {err:?}");
        }
        let files = json!({"import_type": "people", "warehouse_source_id": 1, "table_params": {"path": "../x.csv"}, "sync_mode": "time_based", "user_column_name": "u"});
        let err = ImportSpec::parse(&files, ImportType::People, Some(SourceKind::Files)).unwrap_err();
        let named: Vec<&str> = err.iter().map(|(f, _)| f.as_str()).collect();
        assert!(named.contains(&"table_params.path") && named.contains(&"insert_time_column_name"), "{err:?}");
    }

    #[test]
    fn sources_are_checked_and_passwords_hidden() {
        let pg = SourceSpec::parse(
            &json!({"name": "dw", "type": "postgres", "url": "postgres://etl:s3cret@db/prod?sslmode=require"}),
        )
        .unwrap();
        let url = PostgresUrl::parse(pg.url.as_deref().unwrap()).unwrap();
        assert_eq!((url.port, url.masked().as_str()), (5432, "postgres://etl:***@db:5432/prod?sslmode=require"));
        for bad in [
            "postgres://etl@db/prod?password=hunter2",
            "postgres:///sextant",
            "postgres://etl:pw@%2Frun%2Fpostgresql/db",
            "postgres://etl:pw@db/prod?sslrootcert=/etc/shadow",
            "postgres://etl:pw@db",
            "mysql://etl:pw@db/x",
        ] {
            let err = SourceSpec::parse(&json!({"name": "dw", "type": "postgres", "url": bad})).unwrap_err();
            assert_eq!(err[0].0, "url", "{bad}: {err:?}");
        }
        let files = SourceSpec::parse(&json!({"name": "drop", "type": "files", "path": "/exports/"})).unwrap();
        assert_eq!(files.path.as_deref(), Some("exports"));
        let err = SourceSpec::parse(&json!({"type": "files", "path": "../etc", "url": "x"})).unwrap_err();
        let named: Vec<&str> = err.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(named, ["name", "path", "url"], "{err:?}");
        assert!(relative_path("a/*.parquet", true).is_ok() && relative_path("a/*.parquet", false).is_err());
        assert!(glob_match("day=*/*.parquet", "day=1/part-0.parquet"));
        assert!(!glob_match("*.parquet", "day=1/part-0.parquet"), "a star stays in its segment");
        assert!(glob_match("part-?.csv", "part-7.csv") && !glob_match("part-?.csv", "part-17.csv"));
        let s3 =
            SourceSpec::parse(&json!({"name": "lake", "type": "s3", "s3_bucket": "lake", "s3_region": "us-east-1",
                                           "s3_prefix": "/exports/", "s3_endpoint": "http://127.0.0.1:9000",
                                           "s3_access_key_id": "AK", "s3_secret_access_key": "SK"}))
            .unwrap();
        assert_eq!((s3.path.as_deref(), s3.bucket.map(|b| b.bucket)), (Some("exports"), Some("lake".to_string())));
        let err = SourceSpec::parse(&json!({"name": "lake", "type": "s3", "s3_region": "x", "path": "p"})).unwrap_err();
        let named: Vec<&str> = err.iter().map(|(f, _)| f.as_str()).collect();
        assert!(named.contains(&"s3_bucket") && named.contains(&"path"), "{err:?}");
    }
}
