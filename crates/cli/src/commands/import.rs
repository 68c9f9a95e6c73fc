//! `sextant import FILE|-`: events from a JSON array, NDJSON or CSV file into a server's
//! `/import`, over the client.
//!
//! - Batches of 2,000 (`--batch-size`), gzip, `--connections` requests at once; the
//!   client retries 429s (as `Retry-After` asks) and, since every event carries an
//!   `$insert_id`, server errors.
//! - Events without an `$insert_id` are given one derived from their position in the
//!   source and their text, the same on every run: a batch sent twice (resumed after
//!   a kill) is counted once by reports and `export --dedup`.
//! - Resumable: the checkpoint file (`SOURCE.checkpoint.json`, or `--checkpoint`)
//!   records how far every batch has been acknowledged; a rerun starts after it.
//!   Batches acknowledged beyond that point (connections finish out of order) are sent
//!   again, and their copies are one event as above.
//! - Records the server refuses go to the failures file (`SOURCE.failures.ndjson`),
//!   each with its position, field and reason; the rest of their batch is kept. A
//!   resumed import appends to it (a batch sent again reports its refusals again); a
//!   fresh one empties it.
//! - Batches stop at 2,000 events or 9 MB of JSON, whichever comes first.
//! - A progress bar (events/s, ETA) on a terminal; a summary at the end.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use sextant_client::ingestion::ImportOutcome;

use super::remote::{RemoteArgs, explain};

#[derive(Args)]
pub(crate) struct ImportArgs {
    /// The file to import, or `-` for standard input.
    source: String,
    /// The input's format (default: from the file's extension; NDJSON otherwise).
    #[arg(long, value_enum)]
    format: Option<InputFormat>,
    /// CSV: which column holds `event`, `distinct_id`, `time` (epoch seconds or
    /// milliseconds, or RFC 3339), `insert_id`, or a property of another name:
    /// `TARGET=COLUMN`, repeated. Other columns become properties of their own name.
    #[arg(long = "map", value_name = "TARGET=COLUMN")]
    map: Vec<String>,
    /// CSV: the event name, when no column gives it.
    #[arg(long)]
    event: Option<String>,
    /// Events per request (at most 2,000, `/import`'s limit).
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..=2000))]
    batch_size: u64,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=64))]
    connections: u64,
    /// The checkpoint file (default: SOURCE.checkpoint.json; none for standard input).
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Ignore the checkpoint and import from the start.
    #[arg(long)]
    restart: bool,
    /// Where refused records go (default: SOURCE.failures.ndjson, or
    /// import-failures.ndjson for standard input).
    #[arg(long)]
    failures: Option<PathBuf>,
    /// No progress bar, even on a terminal.
    #[arg(long)]
    no_progress: bool,
    /// Print the summary as JSON on standard output.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    remote: RemoteArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum InputFormat {
    /// One JSON array of events.
    Json,
    /// One event per line.
    Ndjson,
    /// A header row, then one event per row (see --map).
    Csv,
}

/// How far an import has been acknowledged, rewritten after each batch.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Checkpoint {
    /// The source as named on the command line.
    source: String,
    /// Records (from 0) before this one are acknowledged.
    next_record: u64,
    /// Bytes of the source those records span.
    bytes: u64,
    /// Events stored, refused.
    imported: u64,
    failed: u64,
    /// Every record was acknowledged.
    complete: bool,
}

/// What the summary reports.
#[derive(Debug, Serialize)]
struct Summary {
    imported: u64,
    failed: u64,
    skipped: u64,
    seconds: f64,
    events_per_second: f64,
    failures_file: Option<String>,
    checkpoint: Option<String>,
}

/// A batch's JSON stops growing past this, whatever its count: `/import` takes 10 MB
/// of uncompressed JSON per request.
const MAX_BATCH_BYTES: usize = 9 << 20;

/// A record larger than this could never be sent (its batch would exceed the request
/// limit alone); it is refused here.
const MAX_RECORD_BYTES: usize = 8 << 20;

/// A batch read from the source.
struct Batch {
    seq: u64,
    /// The source position of its first record.
    first: u64,
    records: Vec<Box<RawValue>>,
    /// Each record's position in the source.
    positions: Vec<u64>,
    /// The records' JSON bytes.
    bytes: usize,
    /// Records that could not be made into events before sending (CSV rows without
    /// an event name): (position, message).
    unsendable: Vec<(u64, String)>,
    /// The source's byte offset after its last record.
    bytes_end: u64,
}

pub(crate) async fn run(args: ImportArgs) -> Result<()> {
    let client = args.remote.client()?;
    let stdin = args.source == "-";
    let format = args.format.unwrap_or_else(|| format_of(&args.source));
    let checkpoint_path =
        args.checkpoint.clone().or_else(|| (!stdin).then(|| sibling(&args.source, ".checkpoint.json")));
    let failures_path = args.failures.clone().unwrap_or_else(|| {
        if stdin { PathBuf::from("import-failures.ndjson") } else { sibling(&args.source, ".failures.ndjson") }
    });
    let mut done = match (&checkpoint_path, args.restart) {
        (Some(path), false) => read_checkpoint(path, &args)?,
        _ => Checkpoint { source: args.source.clone(), ..Checkpoint::default() },
    };
    if done.complete {
        bail!(
            "{} was imported completely already (checkpoint {}); give --restart to import it again",
            args.source,
            checkpoint_path.as_deref().map(Path::display).map(|d| d.to_string()).unwrap_or_default()
        );
    }
    let skipped = done.next_record;
    let mapping = CsvMapping::parse(&args.map, args.event.clone())?;
    let total_bytes = if stdin { None } else { std::fs::metadata(&args.source).ok().map(|m| m.len()) };
    let input: Box<dyn Read + Send> = if stdin {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(&args.source).with_context(|| format!("cannot open {}", args.source))?)
    };

    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Batch>>(args.connections as usize * 2);
    let batch_size = args.batch_size;
    let from = done.next_record;
    let reader = std::thread::spawn(move || {
        let result = read_batches(input, format, &mapping, batch_size, from, &tx);
        if let Err(e) = result {
            let _ = tx.blocking_send(Err(e));
        }
    });

    let progress = progress_bar(total_bytes, args.no_progress, done.bytes);
    let mut failures = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(done.next_record > 0)
        .truncate(done.next_record == 0)
        .open(&failures_path)
        .with_context(|| format!("cannot open {}", failures_path.display()))?;
    let mut failures_written = false;
    let started = Instant::now();
    let mut imported_now = 0u64;
    // Batches acknowledged out of order, waiting for those before them.
    let mut finished: BTreeMap<u64, (u64, u64, u64, u64)> = BTreeMap::new();
    let mut next_seq = 0u64;
    let batches = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let mut sent = batches
        .map(|batch| {
            let client = client.clone();
            async move {
                let batch = batch?;
                // A batch of unsendable records only is answered here: the server
                // refuses an empty request.
                let outcome = if batch.records.is_empty() {
                    ImportOutcome::default()
                } else {
                    client.ingestion().import(&batch.records).await.map_err(explain)?
                };
                Ok::<_, anyhow::Error>((batch, outcome))
            }
        })
        .buffer_unordered(args.connections as usize);
    let mut failure: Option<anyhow::Error> = None;
    while let Some(result) = sent.next().await {
        let (batch, outcome) = match result {
            Ok(done) => done,
            Err(e) => {
                failure = Some(e);
                break;
            }
        };
        let mut lines = String::new();
        for f in &outcome.failed {
            let position = batch.positions.get(f.index as usize).copied().unwrap_or(batch.first + f.index);
            let record = batch.records.get(f.index as usize).map(|r| r.get()).unwrap_or("null");
            lines.push_str(&failure_line(position, &f.field, &f.message, record));
        }
        for (position, message) in &batch.unsendable {
            lines.push_str(&failure_line(*position, "", message, "null"));
        }
        if !lines.is_empty() {
            failures.write_all(lines.as_bytes()).context("cannot write the failures file")?;
            failures_written = true;
        }
        let failed = outcome.failed.len() as u64 + batch.unsendable.len() as u64;
        imported_now += outcome.imported;
        let count = batch.records.len() as u64 + batch.unsendable.len() as u64;
        finished.insert(batch.seq, (count, batch.bytes_end, outcome.imported, failed));
        // Advance the checkpoint over every batch acknowledged in order.
        let mut advanced = false;
        while let Some((count, bytes_end, imported, failed)) = finished.remove(&next_seq) {
            done.next_record += count;
            done.bytes = bytes_end;
            done.imported += imported;
            done.failed += failed;
            next_seq += 1;
            advanced = true;
        }
        if advanced {
            if let Some(path) = &checkpoint_path {
                write_checkpoint(path, &done)?;
            }
            progress.set_position(done.bytes);
        }
        let rate = imported_now as f64 / started.elapsed().as_secs_f64().max(1e-3);
        progress.set_message(format!("{} imported, {} failed, {rate:.0} events/s", done.imported, done.failed));
    }
    drop(sent);
    let _ = reader.join();
    progress.finish_and_clear();
    if let Some(e) = failure {
        let resume = checkpoint_path
            .as_deref()
            .map(|p| {
                format!("; run the same command again to resume after record {} ({})", done.next_record, p.display())
            })
            .unwrap_or_default();
        return Err(e.context(format!("the import stopped{resume}")));
    }
    done.complete = true;
    if let Some(path) = &checkpoint_path {
        write_checkpoint(path, &done)?;
    }
    if !failures_written && std::fs::metadata(&failures_path).is_ok_and(|m| m.len() == 0) {
        let _ = std::fs::remove_file(&failures_path);
    }
    let seconds = started.elapsed().as_secs_f64();
    let summary = Summary {
        imported: done.imported,
        failed: done.failed,
        skipped,
        seconds,
        events_per_second: imported_now as f64 / seconds.max(1e-3),
        failures_file: (done.failed > 0).then(|| failures_path.display().to_string()),
        checkpoint: checkpoint_path.map(|p| p.display().to_string()),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        eprintln!(
            "imported {} events, {} failed{} in {:.1} s ({:.0} events/s){}",
            summary.imported,
            summary.failed,
            summary.failures_file.as_deref().map(|f| format!(" (see {f})")).unwrap_or_default(),
            seconds,
            summary.events_per_second,
            if skipped > 0 { format!("; resumed after {skipped} records") } else { String::new() },
        );
    }
    Ok(())
}

/// The format a file's name suggests.
fn format_of(source: &str) -> InputFormat {
    let lower = source.to_ascii_lowercase();
    if lower.ends_with(".csv") {
        InputFormat::Csv
    } else if lower.ends_with(".json") {
        InputFormat::Json
    } else {
        InputFormat::Ndjson
    }
}

/// `SOURCE` with `suffix` appended, beside it.
fn sibling(source: &str, suffix: &str) -> PathBuf {
    PathBuf::from(format!("{source}{suffix}"))
}

fn read_checkpoint(path: &Path, args: &ImportArgs) -> Result<Checkpoint> {
    let fresh = Checkpoint { source: args.source.clone(), ..Checkpoint::default() };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(fresh),
        Err(e) => return Err(e).with_context(|| format!("cannot read the checkpoint {}", path.display())),
    };
    let checkpoint: Checkpoint = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a checkpoint; remove it or give --restart", path.display()))?;
    if checkpoint.source != args.source {
        bail!(
            "the checkpoint {} is for {}, not {}; give --checkpoint another file or --restart",
            path.display(),
            checkpoint.source,
            args.source
        );
    }
    Ok(checkpoint)
}

/// Replaces the checkpoint in one step (a kill leaves the old one or the new one).
fn write_checkpoint(path: &Path, checkpoint: &Checkpoint) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(checkpoint)?)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn failure_line(position: u64, field: &str, message: &str, record: &str) -> String {
    let record: Value = serde_json::from_str(record).unwrap_or(Value::Null);
    let line = serde_json::json!({"record": position, "field": field, "message": message, "event": record});
    format!("{line}\n")
}

fn progress_bar(total: Option<u64>, hidden: bool, at: u64) -> ProgressBar {
    if hidden {
        return ProgressBar::hidden();
    }
    let bar = match total {
        Some(total) => ProgressBar::new(total).with_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {percent}% ETA {eta} {msg}")
                .expect("a valid template"),
        ),
        None => ProgressBar::new_spinner()
            .with_style(ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}").expect("a valid template")),
    };
    bar.set_position(at);
    bar.reset_eta();
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

/// Reads the source from record `from` on, sending batches of `batch_size`.
fn read_batches(
    input: Box<dyn Read + Send>,
    format: InputFormat,
    mapping: &CsvMapping,
    batch_size: u64,
    from: u64,
    tx: &tokio::sync::mpsc::Sender<Result<Batch>>,
) -> Result<()> {
    let mut input = Counted { inner: BufReader::with_capacity(1 << 20, input), bytes: 0 };
    let mut batcher = Batcher { batch_size, seq: 0, current: None, tx };
    let mut position = 0u64;
    match format {
        InputFormat::Ndjson => {
            let mut line = String::new();
            loop {
                line.clear();
                if input.read_line(&mut line).context("cannot read the input")? == 0 {
                    break;
                }
                let text = line.trim();
                if text.is_empty() {
                    continue;
                }
                if position >= from {
                    batcher.push(position, with_insert_id(text, position), input.bytes)?;
                }
                position += 1;
            }
        }
        InputFormat::Json => {
            let mut text = String::new();
            input.read_to_string(&mut text).context("cannot read the input")?;
            let records: Vec<&RawValue> =
                serde_json::from_str(&text).context("the input is not a JSON array of events")?;
            let (count, total) = (records.len().max(1) as u64, input.bytes);
            for record in records {
                if position >= from {
                    // Byte positions within one array: proportional.
                    batcher.push(position, with_insert_id(record.get(), position), total * (position + 1) / count)?;
                }
                position += 1;
            }
        }
        InputFormat::Csv => {
            let mut csv = csv::ReaderBuilder::new().flexible(true).from_reader(&mut input);
            let headers = csv.headers().context("cannot read the CSV header")?.clone();
            let targets = mapping.targets(&headers)?;
            for row in csv.records() {
                let row = row.context("cannot read a CSV row")?;
                if position >= from {
                    let bytes = row.position().map(|p| p.byte()).unwrap_or_default();
                    match mapping.event(&targets, &row, position) {
                        Ok(event) => batcher.push(position, Ok(event), bytes)?,
                        Err(message) => batcher.unsendable(position, message, bytes)?,
                    }
                }
                position += 1;
            }
        }
    }
    batcher.flush()
}

/// A reader that counts the bytes read through it.
struct Counted<R> {
    inner: R,
    bytes: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Counted<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    fn consume(&mut self, amount: usize) {
        self.bytes += amount as u64;
        self.inner.consume(amount)
    }
}

struct Batcher<'a> {
    batch_size: u64,
    seq: u64,
    current: Option<Batch>,
    tx: &'a tokio::sync::mpsc::Sender<Result<Batch>>,
}

impl Batcher<'_> {
    fn batch(&mut self, position: u64) -> &mut Batch {
        self.current.get_or_insert_with(|| Batch {
            seq: 0,
            first: position,
            records: Vec::new(),
            positions: Vec::new(),
            bytes: 0,
            unsendable: Vec::new(),
            bytes_end: 0,
        })
    }

    /// Adds a record (or, when it is not JSON, a failure of its own).
    fn push(&mut self, position: u64, record: Result<Box<RawValue>, String>, bytes_end: u64) -> Result<()> {
        let batch = self.batch(position);
        match record {
            Ok(record) if record.get().len() > MAX_RECORD_BYTES => batch.unsendable.push((
                position,
                format!("the record is {} bytes; a request may hold at most {MAX_RECORD_BYTES}", record.get().len()),
            )),
            Ok(record) => {
                batch.bytes += record.get().len() + 1;
                batch.positions.push(position);
                batch.records.push(record);
            }
            Err(message) => batch.unsendable.push((position, message)),
        }
        batch.bytes_end = bytes_end;
        self.send_if_full()
    }

    fn unsendable(&mut self, position: u64, message: String, bytes_end: u64) -> Result<()> {
        self.push(position, Err(message), bytes_end)
    }

    fn send_if_full(&mut self) -> Result<()> {
        let full = self.current.as_ref().is_some_and(|b| {
            (b.records.len() + b.unsendable.len()) as u64 >= self.batch_size || b.bytes >= MAX_BATCH_BYTES
        });
        if full { self.flush() } else { Ok(()) }
    }

    fn flush(&mut self) -> Result<()> {
        if let Some(mut batch) = self.current.take() {
            batch.seq = self.seq;
            self.seq += 1;
            // The receiver is gone only when the import stopped: stop reading too.
            self.tx.blocking_send(Ok(batch)).map_err(|_| anyhow::anyhow!("the import stopped"))?;
        }
        Ok(())
    }
}

/// The record, with an `$insert_id` derived from its position and text when its
/// properties have none (and `properties` made when it is missing); a record that is not
/// JSON is refused here.
fn with_insert_id(text: &str, position: u64) -> Result<Box<RawValue>, String> {
    /// Reads only whether `properties.$insert_id` is there, skipping everything else.
    #[derive(Deserialize)]
    struct Probe {
        properties: Option<ProbeProperties>,
    }
    #[derive(Deserialize)]
    struct ProbeProperties {
        #[serde(rename = "$insert_id")]
        insert_id: Option<serde::de::IgnoredAny>,
    }
    if serde_json::from_str::<Probe>(text).is_ok_and(|p| p.properties.is_some_and(|p| p.insert_id.is_some())) {
        return RawValue::from_string(text.to_string()).map_err(|e| format!("not JSON: {e}"));
    }
    let mut event: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    if let Some(event) = event.as_object_mut() {
        let properties = event.entry("properties").or_insert_with(|| Value::Object(Map::new()));
        if let Some(properties) = properties.as_object_mut() {
            properties.insert("$insert_id".into(), Value::String(insert_id(position, text)));
        }
    }
    serde_json::value::to_raw_value(&event).map_err(|e| e.to_string())
}

/// 32 hex digits of SHA-256 over the record's position and text.
fn insert_id(position: u64, text: &str) -> String {
    use sha2::Digest;
    let mut hash = sha2::Sha256::new();
    hash.update(position.to_le_bytes());
    hash.update(text.as_bytes());
    hex::encode(&hash.finalize()[..16])
}

/// How CSV columns become an event.
struct CsvMapping {
    /// Column name to target (`event`, `distinct_id`, `time`, `insert_id`, or a
    /// property name).
    columns: BTreeMap<String, String>,
    event: Option<String>,
}

impl CsvMapping {
    fn parse(map: &[String], event: Option<String>) -> Result<CsvMapping> {
        let mut columns = BTreeMap::new();
        for m in map {
            let (target, column) = m.split_once('=').with_context(|| format!("--map `{m}` is not TARGET=COLUMN"))?;
            let (target, column) = (target.trim(), column.trim());
            if target.is_empty() || column.is_empty() {
                bail!("--map `{m}` is not TARGET=COLUMN");
            }
            columns.insert(column.to_string(), target.to_string());
        }
        Ok(CsvMapping { columns, event })
    }

    /// Each column's target, in header order; every mapped column must exist.
    fn targets(&self, headers: &csv::StringRecord) -> Result<Vec<String>> {
        for column in self.columns.keys() {
            if !headers.iter().any(|h| h == column) {
                bail!("--map names the column `{column}`, which the CSV header does not have");
            }
        }
        Ok(headers.iter().map(|h| self.columns.get(h).cloned().unwrap_or_else(|| h.to_string())).collect())
    }

    /// One row as an event, or why it cannot be one.
    fn event(&self, targets: &[String], row: &csv::StringRecord, position: u64) -> Result<Box<RawValue>, String> {
        let mut properties = Map::new();
        let mut name = self.event.clone();
        for (target, value) in targets.iter().zip(row.iter()) {
            if value.is_empty() {
                continue;
            }
            match target.as_str() {
                "event" => name = Some(value.to_string()),
                "distinct_id" => {
                    properties.insert("distinct_id".into(), Value::String(value.to_string()));
                }
                "time" => {
                    properties
                        .insert("time".into(), parse_time(value).ok_or_else(|| format!("`{value}` is not a time"))?);
                }
                "insert_id" | "$insert_id" => {
                    properties.insert("$insert_id".into(), Value::String(value.to_string()));
                }
                property => {
                    properties.insert(property.to_string(), typed(value));
                }
            }
        }
        let name = name.ok_or("no event name: map a column to `event` or give --event")?;
        let text = serde_json::to_string(&row.iter().collect::<Vec<_>>()).unwrap_or_default();
        properties.entry("$insert_id").or_insert_with(|| Value::String(insert_id(position, &text)));
        let event = serde_json::json!({"event": name, "properties": properties});
        serde_json::value::to_raw_value(&event).map_err(|e| e.to_string())
    }
}

/// Epoch seconds or milliseconds as they are, or RFC 3339 as milliseconds.
fn parse_time(value: &str) -> Option<Value> {
    if let Ok(n) = value.parse::<i64>() {
        return Some(Value::from(n));
    }
    if let Ok(x) = value.parse::<f64>() {
        return x.is_finite().then(|| Value::from(x));
    }
    chrono::DateTime::parse_from_rfc3339(value).ok().map(|t| Value::from(t.timestamp_millis()))
}

/// A CSV cell as JSON: numbers and booleans as such, anything else a string. Digits
/// with a leading zero (a zip code, an id) and integers past 2^53 (which a double
/// cannot hold) stay strings.
fn typed(value: &str) -> Value {
    match value {
        "true" => return Value::Bool(true),
        "false" => return Value::Bool(false),
        _ => {}
    }
    let digits = value.strip_prefix('-').unwrap_or(value);
    let leading_zero = digits.len() > 1 && digits.starts_with('0') && !digits.starts_with("0.");
    if leading_zero || !digits.starts_with(|c: char| c.is_ascii_digit()) {
        return Value::String(value.into());
    }
    if let Ok(n) = value.parse::<i64>() {
        return if n.unsigned_abs() <= 1 << 53 { Value::from(n) } else { Value::String(value.into()) };
    }
    match value.parse::<f64>() {
        Ok(x) if x.is_finite() => {
            serde_json::Number::from_f64(x).map(Value::Number).unwrap_or(Value::String(value.into()))
        }
        _ => Value::String(value.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn insert_ids_are_stable_and_kept() {
        let line = r#"{"event":"a","properties":{"distinct_id":"u","time":1}}"#;
        let a = with_insert_id(line, 7).unwrap();
        assert_eq!(a.get(), with_insert_id(line, 7).unwrap().get());
        assert_ne!(a.get(), with_insert_id(line, 8).unwrap().get());
        let nested = r#"{"event":"a","properties":{"x":{"$insert_id":"y"}}}"#;
        let nested: Value = serde_json::from_str(with_insert_id(nested, 1).unwrap().get()).unwrap();
        assert_eq!(nested["properties"]["$insert_id"].as_str().map(str::len), Some(32));
        let bare: Value = serde_json::from_str(with_insert_id(r#"{"event":"a"}"#, 1).unwrap().get()).unwrap();
        assert!(bare["properties"]["$insert_id"].is_string());
        let kept = r#"{"event":"a","properties":{"$insert_id":"x"}}"#;
        assert_eq!(with_insert_id(kept, 1).unwrap().get(), kept);
        assert!(with_insert_id("{not json", 1).is_err());
    }

    #[test]
    fn csv_rows_become_events() {
        let mapping =
            CsvMapping::parse(&["event=Action".into(), "distinct_id=User".into(), "time=When".into()], None).unwrap();
        let headers = csv::StringRecord::from(vec!["Action", "User", "When", "plan", "n"]);
        let targets = mapping.targets(&headers).unwrap();
        let row = csv::StringRecord::from(vec!["Buy", "u1", "2024-01-01T00:00:00Z", "pro", "3"]);
        let event: Value = serde_json::from_str(mapping.event(&targets, &row, 0).unwrap().get()).unwrap();
        assert_eq!(event["event"], "Buy");
        assert_eq!(event["properties"]["time"], 1_704_067_200_000i64);
        assert_eq!((event["properties"]["plan"].as_str(), event["properties"]["n"].as_i64()), (Some("pro"), Some(3)));
        assert_eq!(event["properties"]["$insert_id"].as_str().unwrap().len(), 32);
        assert_eq!(typed("02134"), Value::String("02134".into()));
        assert_eq!(typed("9007199254740993"), Value::String("9007199254740993".into()));
        assert_eq!(
            (typed("-3"), typed("0.5"), typed("0"), typed("1e3")),
            (json!(-3), json!(0.5), json!(0), json!(1000.0))
        );
        assert_eq!((typed("true"), typed("abc"), typed("+1")), (json!(true), json!("abc"), json!("+1")));
        let unnamed = CsvMapping::parse(&[], None).unwrap();
        assert!(unnamed.event(&unnamed.targets(&headers).unwrap(), &row, 0).is_err());
        assert!(CsvMapping::parse(&["event=Nope".into()], None).unwrap().targets(&headers).is_err());
    }
}
