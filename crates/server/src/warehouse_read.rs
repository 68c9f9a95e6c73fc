//! Reading a warehouse source's rows for an import: a PostgreSQL table or query
//! (through sqlx), or Parquet and CSV files (through an in-memory DuckDB; a bucket's
//! are downloaded to a staging directory first, through `object_store`), each row as
//! a JSON object the source's database wrote (`row_to_json`, `to_json`), in the order
//! of the import's watermark column and past its watermark.
//!
//! Rows come in batches of [`BATCH_ROWS`], cut only where the watermark value changes,
//! so that each batch's last value is a watermark every row up to which was read: the
//! import stores a batch, then moves its watermark there. A batch of rows sharing one
//! value may grow past the size to keep that true. Rows whose watermark is NULL are not
//! read by a `time_based` import (they have no place in its order).
//!
//! A PostgreSQL source is reached with the URL's own host, port, user, password and
//! database only (`PostgresUrl`: nothing left for the server's environment to fill in),
//! in read-only transactions, each statement stopped after [`STATEMENT_TIMEOUT`].
//!
//! The watermark is kept as the text the source writes for the column's value
//! (`col::text`, `CAST(col AS VARCHAR)`) and read back with a cast to the column's own
//! type (`pg_typeof`, `typeof`), so the comparison is the source's: timestamps as
//! timestamps, numbers as numbers.

use std::path::{Path, PathBuf};
use std::str::FromStr as _;
use std::time::Duration;

use futures::TryStreamExt as _;
use serde_json::{Map, Value};
use sextant_expr::sql::quoted_identifier as ident;
use sextant_metadata::{WarehouseImport, WarehouseSource};
use sextant_model::warehouse::{FileFormat, PostgresUrl, SourceKind, TableParams, glob_match};
use sqlx::Connection as _;
use tokio::sync::mpsc;

use crate::pipeline_tables::literal;
use crate::secrets::SecretBox;

/// Rows a batch holds (more when one watermark value spans more).
pub const BATCH_ROWS: usize = 5_000;

/// How long connecting to a source may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// How long a source's statement may run (PostgreSQL's `statement_timeout`): reading a
/// table of 10M rows takes about 2 minutes here.
const STATEMENT_TIMEOUT: &str = "3600s";

/// Rows read, and the watermark reached once they are stored (`None`: the import has
/// none).
pub struct Batch {
    pub rows: Vec<Map<String, Value>>,
    pub watermark: Option<String>,
}

/// Where the rows come from, resolved from the source and the import.
pub struct SourceQuery {
    kind: Kind,
    /// The rows to read, as a `FROM` item.
    from: String,
    /// The watermark column, and the value already read past.
    watermark: Option<(String, Option<String>)>,
}

enum Kind {
    Postgres {
        url: PostgresUrl,
    },
    Files,
    /// Objects of a bucket, downloaded to `staging` first, then read as files.
    Bucket {
        store: std::sync::Arc<dyn object_store::ObjectStore>,
        prefix: String,
        pattern: String,
        staging: PathBuf,
    },
}

/// The DuckDB reader of a file format, over `pattern`.
fn file_reader(format: FileFormat, pattern: &str) -> String {
    match format {
        FileFormat::Parquet => format!("read_parquet({})", literal(pattern)),
        FileFormat::Csv => format!("read_csv({}, header = true, auto_detect = true)", literal(pattern)),
    }
}

/// A type name as the source wrote it, fit to be cast to.
fn type_name(name: &str) -> Result<String, String> {
    let fits = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '_' | '(' | ')' | ',' | '[' | ']'));
    if fits { Ok(name.to_string()) } else { Err(format!("the watermark column's type `{name}` cannot be compared")) }
}

impl SourceQuery {
    /// What `import` reads of `source`; files are looked for under the project's
    /// directory of `import_root`.
    pub fn new(
        source: &WarehouseSource,
        import: &WarehouseImport,
        secrets: &SecretBox,
        import_root: &Path,
        allowed: impl Fn(&str) -> Result<(), String>,
    ) -> Result<SourceQuery, String> {
        let watermark = import.spec.watermark_column().map(|column| (column.to_string(), import.watermark.clone()));
        match (&source.spec.kind, &import.spec.table_params) {
            (SourceKind::Postgres, params) => {
                let sealed = source.spec.url.as_deref().ok_or("the source has no URL")?;
                let url = PostgresUrl::parse(&secrets.unseal(sealed).map_err(|e| e.to_string())?)?;
                allowed(&url.host)?;
                let from = match params {
                    TableParams::Table { schema_name: Some(schema), table_name } => {
                        format!("{}.{}", ident(schema), ident(table_name))
                    }
                    TableParams::Table { schema_name: None, table_name } => ident(table_name),
                    TableParams::Query { query } => format!("({query})"),
                    TableParams::Files { .. } => return Err("a PostgreSQL source reads a table or a query".into()),
                };
                Ok(SourceQuery { kind: Kind::Postgres { url }, from, watermark })
            }
            (SourceKind::Files, TableParams::Files { path, format }) => {
                let dir: PathBuf =
                    import_root.join(source.project_id.0.to_string()).join(source.spec.path.as_deref().unwrap_or(""));
                let pattern = dir.join(path).to_string_lossy().to_string();
                Ok(SourceQuery { kind: Kind::Files, from: file_reader(*format, &pattern), watermark })
            }
            (SourceKind::S3, TableParams::Files { path, format }) => {
                let bucket = source.spec.bucket.as_ref().ok_or("the source has no bucket")?;
                if let Some(host) = bucket.endpoint_host() {
                    allowed(&host)?;
                }
                let store = crate::pipeline_store::bucket_store(bucket, secrets, object_store::RetryConfig::default())?;
                // Each run downloads what it reads afresh, into a directory of the import's.
                let staging = import_root.join(".staging").join(format!("import-{}", import.id));
                let from = file_reader(*format, &staging.join("*").to_string_lossy());
                let prefix = source.spec.path.clone().unwrap_or_default();
                let kind = Kind::Bucket { store, prefix, pattern: path.clone(), staging };
                Ok(SourceQuery { kind, from, watermark })
            }
            (SourceKind::Files | SourceKind::S3, _) => {
                Err("a files or s3 source reads a file pattern (`table_params.path`)".into())
            }
        }
    }

    /// Reads the rows into batches on `out`, in the background; an error ends them.
    pub fn spawn(self, out: mpsc::Sender<Result<Batch, String>>) {
        let SourceQuery { kind, from, watermark } = self;
        match kind {
            Kind::Postgres { url } => {
                tokio::spawn(async move {
                    if let Err(why) = read_postgres(&url, &from, watermark.as_ref(), &out).await {
                        let _ = out.send(Err(why)).await;
                    }
                });
            }
            Kind::Bucket { store, prefix, pattern, staging } => {
                tokio::spawn(async move {
                    let read = match download(store.as_ref(), &prefix, &pattern, &staging).await {
                        Ok(()) => {
                            let sender = out.clone();
                            let read =
                                tokio::task::spawn_blocking(move || read_files(&from, watermark.as_ref(), &sender));
                            read.await.unwrap_or_else(|e| Err(e.to_string()))
                        }
                        Err(why) => Err(why),
                    };
                    let _ = tokio::fs::remove_dir_all(&staging).await;
                    if let Err(why) = read {
                        let _ = out.send(Err(why)).await;
                    }
                });
            }
            Kind::Files => {
                tokio::task::spawn_blocking(move || {
                    if let Err(why) = read_files(&from, watermark.as_ref(), &out) {
                        let _ = out.blocking_send(Err(why));
                    }
                });
            }
        }
    }
}

/// Downloads the objects under `prefix` whose key past it matches `pattern` into
/// `staging` (emptied first), each under a name of its own.
async fn download(
    store: &dyn object_store::ObjectStore,
    prefix: &str,
    pattern: &str,
    staging: &Path,
) -> Result<(), String> {
    use futures::StreamExt as _;
    let _ = tokio::fs::remove_dir_all(staging).await;
    tokio::fs::create_dir_all(staging).await.map_err(|e| format!("cannot stage the objects: {e}"))?;
    let base = (!prefix.is_empty()).then(|| object_store::path::Path::from(prefix));
    let mut listed = store.list(base.as_ref());
    let mut found = 0usize;
    while let Some(object) = listed.next().await {
        let object = object.map_err(|e| format!("cannot list the bucket: {e}"))?;
        let key = object.location.as_ref();
        let relative = key.strip_prefix(prefix).unwrap_or(key).trim_start_matches('/');
        if !glob_match(pattern, relative) {
            continue;
        }
        let bytes = store.get(&object.location).await.map_err(|e| format!("cannot read {key}: {e}"))?;
        let bytes = bytes.bytes().await.map_err(|e| format!("cannot read {key}: {e}"))?;
        found += 1;
        let name = format!("{found:06}-{}", relative.replace('/', "_"));
        tokio::fs::write(staging.join(name), bytes).await.map_err(|e| format!("cannot stage {key}: {e}"))?;
    }
    if found == 0 {
        return Err(format!("no object under `{prefix}` matches `{pattern}`"));
    }
    Ok(())
}

/// Gathers rows into batches cut where the watermark changes.
struct Batcher {
    rows: Vec<Map<String, Value>>,
    last: Option<String>,
}

impl Batcher {
    fn new() -> Batcher {
        Batcher { rows: Vec::new(), last: None }
    }

    /// Adds a row; answers a full batch when the row starts a new watermark value (or,
    /// without a watermark, when it is full).
    fn add(&mut self, row: Map<String, Value>, watermark: Option<String>) -> Option<Batch> {
        let cut = self.rows.len() >= BATCH_ROWS && (watermark.is_none() || watermark != self.last);
        let full = cut.then(|| self.take());
        self.rows.push(row);
        self.last = watermark;
        full
    }

    fn take(&mut self) -> Batch {
        Batch { rows: std::mem::take(&mut self.rows), watermark: self.last.clone() }
    }
}

fn object(text: &str) -> Result<Map<String, Value>, String> {
    match serde_json::from_str(text) {
        Ok(Value::Object(row)) => Ok(row),
        _ => Err("the source wrote a row that is not a JSON object".into()),
    }
}

/// `text` with its `%xx` escapes undone (as a URL's user, password and database are
/// written).
fn percent_decoded(text: &str) -> String {
    percent_encoding::percent_decode_str(text).decode_utf8_lossy().into_owned()
}

async fn read_postgres(
    url: &PostgresUrl,
    from: &str,
    watermark: Option<&(String, Option<String>)>,
    out: &mpsc::Sender<Result<Batch, String>>,
) -> Result<(), String> {
    let mut options = sqlx_postgres::PgConnectOptions::new_without_pgpass()
        .host(&url.host)
        .port(url.port)
        .username(&percent_decoded(&url.user))
        .password(&percent_decoded(&url.password))
        .database(&percent_decoded(&url.database))
        .options([("statement_timeout", STATEMENT_TIMEOUT), ("default_transaction_read_only", "on")]);
    if let Some(mode) = &url.sslmode {
        let mode = sqlx_postgres::PgSslMode::from_str(mode).map_err(|e| format!("the source's sslmode: {e}"))?;
        options = options.ssl_mode(mode);
    }
    // An import's query reads a whole table: long by design, not worth a warning each run.
    let options = sqlx::ConnectOptions::disable_statement_logging(options);
    let connect = sqlx_postgres::PgConnection::connect_with(&options);
    let mut conn = tokio::time::timeout(CONNECT_TIMEOUT, connect)
        .await
        .map_err(|_| "cannot reach the source: no answer in 15 s".to_string())?
        .map_err(|e| format!("cannot reach the source: {e}"))?;
    let (sql, after) = match watermark {
        None => (format!("SELECT row_to_json(t)::text, NULL::text FROM {from} AS t"), None),
        Some((column, after)) => {
            let column = ident(column);
            let probe = format!("SELECT pg_typeof(t.{column})::text FROM {from} AS t LIMIT 1");
            let found: Option<(String,)> = sqlx::query_as(&probe)
                .fetch_optional(&mut conn)
                .await
                .map_err(|e| format!("cannot read the source: {e}"))?;
            let Some((kind,)) = found else { return Ok(()) };
            let kind = type_name(&kind)?;
            let past = if after.is_some() { format!(" AND t.{column} > ($1::text)::{kind}") } else { String::new() };
            let filter = format!("WHERE t.{column} IS NOT NULL{past}");
            let sql = format!(
                "SELECT row_to_json(t)::text, (t.{column})::text FROM {from} AS t {filter} ORDER BY t.{column}"
            );
            (sql, after.clone())
        }
    };
    let mut query = sqlx::query_as::<_, (String, Option<String>)>(&sql);
    if let Some(after) = &after {
        query = query.bind(after);
    }
    let mut rows = query.fetch(&mut conn);
    let mut batcher = Batcher::new();
    while let Some((row, mark)) = rows.try_next().await.map_err(|e| format!("cannot read the source: {e}"))? {
        if let Some(full) = batcher.add(object(&row)?, mark)
            && out.send(Ok(full)).await.is_err()
        {
            return Ok(());
        }
    }
    if !batcher.rows.is_empty() {
        let _ = out.send(Ok(batcher.take())).await;
    }
    Ok(())
}

fn read_files(
    from: &str,
    watermark: Option<&(String, Option<String>)>,
    out: &mpsc::Sender<Result<Batch, String>>,
) -> Result<(), String> {
    let fail = |e: duckdb::Error| format!("cannot read the files: {e}");
    let conn = duckdb::Connection::open_in_memory().map_err(fail)?;
    conn.execute_batch("SET threads = 1;").map_err(fail)?;
    let (sql, after) = match watermark {
        None => (format!("SELECT to_json(t)::VARCHAR, NULL::VARCHAR FROM {from} AS t"), None),
        Some((column, after)) => {
            let column = ident(column);
            let probe = format!("SELECT typeof(t.{column}) FROM {from} AS t WHERE t.{column} IS NOT NULL LIMIT 1");
            let kind: Option<String> = conn
                .prepare(&probe)
                .and_then(|mut s| s.query_map([], |r| r.get(0))?.next().transpose())
                .map_err(fail)?;
            let Some(kind) = kind else { return Ok(()) };
            let kind = type_name(&kind)?;
            let past = if after.is_some() { format!(" AND t.{column} > CAST(? AS {kind})") } else { String::new() };
            let filter = format!("WHERE t.{column} IS NOT NULL{past}");
            let sql = format!(
                "SELECT to_json(t)::VARCHAR, CAST(t.{column} AS VARCHAR) FROM {from} AS t {filter} ORDER BY t.{column}"
            );
            (sql, after.clone())
        }
    };
    let mut statement = conn.prepare(&sql).map_err(fail)?;
    let params: Vec<&dyn duckdb::ToSql> = after.iter().map(|a| a as &dyn duckdb::ToSql).collect();
    let mut rows = statement.query(params.as_slice()).map_err(fail)?;
    let mut batcher = Batcher::new();
    while let Some(row) = rows.next().map_err(fail)? {
        let text: String = row.get(0).map_err(fail)?;
        let mark: Option<String> = row.get(1).map_err(fail)?;
        if let Some(full) = batcher.add(object(&text)?, mark)
            && out.blocking_send(Ok(full)).is_err()
        {
            return Ok(());
        }
    }
    if !batcher.rows.is_empty() {
        let _ = out.blocking_send(Ok(batcher.take()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_cut_only_where_the_watermark_changes() {
        let mut b = Batcher::new();
        let mut cuts = Vec::new();
        for i in 0..(BATCH_ROWS + 10) {
            // The first BATCH_ROWS + 5 rows share one value.
            let mark = if i < BATCH_ROWS + 5 { "a" } else { "b" };
            if let Some(full) = b.add(Map::new(), Some(mark.to_string())) {
                cuts.push((full.rows.len(), full.watermark));
            }
        }
        assert_eq!(cuts, vec![(BATCH_ROWS + 5, Some("a".to_string()))]);
        assert_eq!((b.rows.len(), b.last.as_deref()), (5, Some("b")));
        // Without a watermark, every BATCH_ROWS rows.
        let mut b = Batcher::new();
        let cuts = (0..(2 * BATCH_ROWS + 1)).filter_map(|_| b.add(Map::new(), None)).count();
        assert_eq!(cuts, 2);
        assert_eq!(percent_decoded("p%40ss%2Fw%zz"), "p@ss/w%zz");
        assert!(type_name("timestamp with time zone").is_ok() && type_name("int); drop").is_err());
    }
}
