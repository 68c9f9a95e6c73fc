//! `sextant export`: a date range of raw events from a server's `/api/2.0/export`, over
//! the client, to a file or standard output.
//!
//! The range is split into the API's 100-day requests, read one after another as
//! streams. `--format jsonl` (the default) writes the lines as the server sends them;
//! `csv` and `parquet` land them in a temporary JSON-lines file first, then DuckDB
//! writes one column per property (its type inferred over every event; mixed types
//! become JSON).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use chrono::NaiveDate;
use clap::{Args, ValueEnum};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use sextant_client::api::query::ExportParams;
use sextant_model::limits::MAX_EXPORT_DAYS;

use super::remote::{RemoteArgs, explain};

#[derive(Args)]
pub(crate) struct ExportArgs {
    /// First day, yyyy-mm-dd (UTC).
    #[arg(long)]
    from: NaiveDate,
    /// Last day (inclusive), yyyy-mm-dd.
    #[arg(long)]
    to: NaiveDate,
    /// Only this event (repeat for several).
    #[arg(long = "event")]
    events: Vec<String>,
    /// Only events this expression keeps (`properties["plan"] == "pro"`).
    #[arg(long = "where")]
    where_: Option<String>,
    /// `jsonl`, `csv` or `parquet`.
    #[arg(long, value_enum, default_value = "jsonl")]
    format: OutputFormat,
    /// The file to write (default: standard output; `parquet` needs a file).
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Each event once, as reports count it (copies with the same event,
    /// `distinct_id`, `time` and `$insert_id` are one event), instead of every copy.
    #[arg(long)]
    dedup: bool,
    /// Times in milliseconds.
    #[arg(long)]
    time_in_ms: bool,
    /// No progress indicator, even on a terminal.
    #[arg(long)]
    no_progress: bool,
    #[command(flatten)]
    remote: RemoteArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum OutputFormat {
    /// One JSON event per line, as the API sends them.
    Jsonl,
    /// A header row and one row per event: `event`, then a column per property.
    Csv,
    /// Apache Parquet, a column per property.
    Parquet,
}

pub(crate) async fn run(args: ExportArgs) -> Result<()> {
    if args.from > args.to {
        bail!("--from {} is after --to {}", args.from, args.to);
    }
    if args.format == OutputFormat::Parquet && args.output.is_none() {
        bail!("--format parquet needs --output FILE");
    }
    let client = args.remote.client()?;
    let progress = if args.no_progress {
        ProgressBar::hidden()
    } else {
        let style = ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}").expect("a valid template");
        let bar = ProgressBar::new_spinner().with_style(style);
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        bar
    };
    // JSON lines go straight to their destination; other formats through a file.
    let staging = match args.format {
        OutputFormat::Jsonl => None,
        _ => Some(tempfile::Builder::new().prefix("sextant-export-").suffix(".jsonl").tempfile()?),
    };
    let mut out: Box<dyn Write> = match (&staging, &args.output) {
        (Some(staged), _) => Box::new(std::io::BufWriter::new(staged.reopen()?)),
        (None, Some(path)) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        )),
        (None, None) => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let started = Instant::now();
    let mut count = 0u64;
    let ranges = ranges(args.from, args.to);
    for (i, (from, to)) in ranges.iter().enumerate() {
        let params = ExportParams {
            from_date: from.to_string(),
            to_date: to.to_string(),
            event: (!args.events.is_empty()).then(|| serde_json::to_string(&args.events)).transpose()?,
            where_: args.where_.clone(),
            time_in_ms: args.time_in_ms.then_some(true),
            dedup: args.dedup.then_some(true),
            ..ExportParams::default()
        };
        let mut lines = client.export().lines(&params).await.map_err(explain)?;
        while let Some(line) = lines.next().await {
            let line = line.map_err(explain)?;
            out.write_all(&line)?;
            out.write_all(b"\n")?;
            count += 1;
            if count.is_multiple_of(10_000) {
                let rate = count as f64 / started.elapsed().as_secs_f64().max(1e-3);
                progress.set_message(format!(
                    "{count} events, {rate:.0} events/s, {from}..{to} ({}/{})",
                    i + 1,
                    ranges.len()
                ));
            }
        }
    }
    out.flush()?;
    drop(out);
    progress.finish_and_clear();
    if let Some(staged) = staging {
        let target = match &args.output {
            Some(path) => path.clone(),
            None => std::env::temp_dir().join(format!("sextant-export-{}.csv", std::process::id())),
        };
        convert(staged.path(), &target, args.format, count)?;
        if args.output.is_none() {
            std::io::copy(&mut std::fs::File::open(&target)?, &mut std::io::stdout().lock())?;
            let _ = std::fs::remove_file(&target);
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    eprintln!("exported {count} events in {seconds:.1} s ({:.0} events/s)", count as f64 / seconds.max(1e-3));
    Ok(())
}

/// `[from, to]` in requests of at most the API's 100 days.
fn ranges(from: NaiveDate, to: NaiveDate) -> Vec<(NaiveDate, NaiveDate)> {
    let mut out = Vec::new();
    let mut start = from;
    while start <= to {
        let end = (start + chrono::Days::new(MAX_EXPORT_DAYS as u64 - 1)).min(to);
        out.push((start, end));
        start = end + chrono::Days::new(1);
    }
    out
}

/// Writes the staged JSON lines as CSV or Parquet, a column per property.
fn convert(staged: &Path, target: &Path, format: OutputFormat, count: u64) -> Result<()> {
    use sextant_expr::sql::Dialect;
    let quote = |p: &Path| sextant_expr::sql::DuckDb.string(&p.display().to_string());
    let options = match format {
        OutputFormat::Parquet => "FORMAT parquet",
        _ => "FORMAT csv, HEADER",
    };
    let select = if count == 0 {
        "SELECT NULL::VARCHAR AS event WHERE false".to_string()
    } else {
        format!(
            "SELECT event, properties.* FROM read_json({}, format = 'newline_delimited', sample_size = -1, maximum_object_size = 16777216)",
            quote(staged)
        )
    };
    let db = duckdb::Connection::open_in_memory().context("cannot start DuckDB")?;
    db.execute_batch(&format!("COPY ({select}) TO {} ({options})", quote(target)))
        .with_context(|| format!("cannot write {}", target.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_cut_at_100_days() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(ranges(d("2024-01-01"), d("2024-01-01")), vec![(d("2024-01-01"), d("2024-01-01"))]);
        let cut = ranges(d("2024-01-01"), d("2024-12-31"));
        assert_eq!(cut.len(), 4);
        assert_eq!(cut[0], (d("2024-01-01"), d("2024-04-09")));
        assert_eq!(cut[3].1, d("2024-12-31"));
        assert!(cut.windows(2).all(|w| w[0].1 + chrono::Days::new(1) == w[1].0));
    }
}
