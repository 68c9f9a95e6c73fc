//! The warehouse import runner: runs each import this server works when it is due (a
//! `manual-sync` waiting, or `run_every` passed since its last run; a `one_time` import
//! once), reading its source (`crate::warehouse_read`) and taking the rows through
//! ingestion's own steps (`crate::ingest_steps`).
//!
//! A run's batches are stored one at a time, and a `time_based` import's watermark is
//! moved past a batch only once it is stored: a server stopped in a run starts the
//! next from the watermark, and the rows it reads again are the same events (the same
//! `$insert_id`, from a column or derived from the import and the row), which `/import`'s
//! dedup drops. A batch the project's ingestion limit refuses, or the store cannot take
//! yet (its queue full, its disk below the reserve), is sent again after a pause, as an
//! SDK retries a 429 or a 503, for up to [`MAX_WAIT`] in all. Each run is recorded
//! (`history`): `SUCCEEDED` with the rows stored, or `FAILED` with why (an unreachable
//! source, a column the mapping names that the rows do not have, the limit still
//! reached after that wait); rows that fail alone (a time that is not one) are skipped
//! and counted in the run's message.

use std::time::Duration;

use serde_json::{Map, Value};
use sextant_ingest::ProfileKind;
use sextant_metadata::WarehouseImport;
use sextant_model::limits::MAX_LOOKUP_PROJECT_ROWS;
use sextant_model::warehouse::{ImportSpec, ImportType, SyncMode};
use sextant_model::{ErrorCode, Project};
use tokio::sync::mpsc;

use crate::error::ApiError;
use crate::gdpr_queue::now_ms;
use crate::ingest_steps::{self, Stored};
use crate::limits::LimitSlot;
use crate::state::AppState;
use crate::warehouse_read::SourceQuery;

/// How long a run waits for the source's next batch before it fails.
const QUIET_SOURCE: Duration = Duration::from_secs(900);

/// How long a run waits, in all, for the ingestion limit or the store to take its
/// batches before it fails (the limit's longest window is a minute).
const MAX_WAIT: Duration = Duration::from_secs(300);

/// The longest pause between two tries of a batch; pauses double from half a second.
const MAX_PAUSE: Duration = Duration::from_secs(8);

/// Runs until the server stops.
pub async fn run(state: AppState) {
    if let Err(e) = state.metadata.fail_unfinished_warehouse_runs(&state.gdpr.runner).await {
        tracing::warn!(error = %e, "warehouse imports: cannot close the runs a stop left open");
    }
    loop {
        if let Err(e) = work_through(&state).await {
            tracing::warn!(error = %e, "warehouse imports: cannot read the control plane; will retry");
        }
        let _ = tokio::time::timeout(state.warehouse.poll, state.warehouse.wake.notified()).await;
    }
}

/// One round: every due import of this server, one after the other.
async fn work_through(state: &AppState) -> Result<(), sextant_metadata::MetadataError> {
    let now = now_ms();
    for import in state.metadata.runner_warehouse_imports(&state.gdpr.runner).await? {
        if import.paused || !due(&import, now) {
            continue;
        }
        let run = state.metadata.start_warehouse_run(&import).await?;
        let (status, imported, message) = match import_rows(state, &import).await {
            Ok(done) => ("SUCCEEDED", done.imported, done.note()),
            Err((imported, why)) => {
                tracing::warn!(import = import.id, why, "warehouse import run failed");
                ("FAILED", imported, Some(why))
            }
        };
        state.metadata.finish_warehouse_run(run, status, imported, message.as_deref()).await?;
    }
    Ok(())
}

/// Whether an import is to run now.
fn due(import: &WarehouseImport, now: i64) -> bool {
    if import.sync_requested {
        return true;
    }
    match (import.spec.sync_mode, import.last_dispatch_ms) {
        (SyncMode::OneTime, last) => last.is_none(),
        (_, None) => true,
        (_, Some(last)) => import.run_every > 0 && now.saturating_sub(last) >= import.run_every / 1_000_000,
    }
}

/// What a run stored, and the rows it skipped with the first reason.
#[derive(Default)]
struct Done {
    imported: i64,
    skipped: i64,
    first_skip: Option<String>,
}

impl Done {
    fn note(&self) -> Option<String> {
        self.first_skip.as_ref().map(|why| format!("{} rows skipped; the first: {why}", self.skipped))
    }

    fn count(&mut self, stored: Stored, mapped: &[usize]) {
        self.imported += stored.accepted as i64;
        self.skipped += stored.failed.len() as i64;
        if self.first_skip.is_none()
            && let Some((i, why)) = stored.failed.first()
        {
            let row = mapped.get(*i).copied().unwrap_or(*i);
            self.first_skip = Some(format!("row {row} of its batch: {}: {}", why.field, why.message));
        }
    }
}

/// Reads an import's rows and stores them, a batch at a time; on failure, the rows
/// stored before it and why.
async fn import_rows(state: &AppState, import: &WarehouseImport) -> Result<Done, (i64, String)> {
    let fail = |why: String| (0, why);
    let project = state
        .metadata
        .project(import.project_id)
        .await
        .map_err(|e| fail(e.to_string()))?
        .ok_or_else(|| fail(format!("project {} is gone", import.project_id)))?;
    let source = state
        .metadata
        .warehouse_source(import.project_id, import.spec.warehouse_source_id)
        .await
        .map_err(|e| fail(e.to_string()))?;
    // The hosts allowed are checked again: the list may have changed since the source was made.
    let allowed = |host: &str| state.warehouse.host_allowed(host);
    let query = SourceQuery::new(&source, import, &state.secrets, &state.warehouse.root, allowed).map_err(fail)?;
    // A lookup table's rows are gathered whole, then replace its contents at once.
    let mut table = (import.spec.import_type == ImportType::LookupTable).then(|| LookupRows::new(&import.spec));
    let room = match &table {
        Some(_) => {
            let others = state.metadata.lookup_rows_besides(import.project_id, lookup_id(import)?).await;
            MAX_LOOKUP_PROJECT_ROWS.saturating_sub(others.map_err(|e| fail(e.to_string()))?)
        }
        None => 0,
    };
    let (tx, mut rx) = mpsc::channel(2);
    query.spawn(tx);
    let mut done = Done::default();
    let mut checked = false;
    let mut waited = Duration::ZERO;
    loop {
        let next = tokio::time::timeout(QUIET_SOURCE, rx.recv()).await;
        let batch = match next {
            Ok(Some(batch)) => batch.map_err(|why| (done.imported, why))?,
            Ok(None) => break,
            Err(_) => return Err((done.imported, format!("the source sent nothing for {} s", QUIET_SOURCE.as_secs()))),
        };
        // Deleted, paused, its project gone meanwhile: the rest waits (or goes).
        match state.metadata.warehouse_import(import.project_id, import.id).await {
            Ok(now) if !now.paused => {}
            Ok(_) => {
                return Err((done.imported, "paused during the run; the next run goes on from the watermark".into()));
            }
            Err(e) => return Err((done.imported, e.to_string())),
        }
        if !checked {
            check_columns(&import.spec, batch.rows.first()).map_err(|why| (done.imported, why))?;
            checked = true;
        }
        if let Some(table) = &mut table {
            table.add(&import.spec, &batch.rows, &mut done);
            if table.rows.len() as u64 > room {
                let why = format!("a project's lookup tables hold at most {MAX_LOOKUP_PROJECT_ROWS} rows together");
                return Err((0, why));
            }
            continue;
        }
        // Each row as the record its endpoint takes (off the async runtime: serde work on
        // thousands of rows); those that do not map are skipped.
        let (spec, id, watermark) = (import.spec.clone(), import.id, batch.watermark.clone());
        let rows = batch.rows;
        let mapping = tokio::task::spawn_blocking(move || map_rows(&spec, id, &rows)).await;
        let (records, mapped, skips) = mapping.map_err(|e| (done.imported, e.to_string()))?;
        for why in skips {
            done.skipped += 1;
            done.first_skip.get_or_insert(why);
        }
        let stored = store(state, &project, import.spec.import_type, records, &mut waited).await;
        done.count(stored.map_err(|e| (done.imported, e.message))?, &mapped);
        // The fault test's moment: the batch stored, the watermark not yet moved.
        let _ = tokio::task::spawn_blocking(|| {
            sextant_storage_duckdb::pause::point(sextant_storage_duckdb::pause::WAREHOUSE_WATERMARK)
        })
        .await;
        if let Some(mark) = &watermark {
            state
                .metadata
                .set_warehouse_watermark(import.id, mark)
                .await
                .map_err(|e| (done.imported, e.to_string()))?;
        }
    }
    if let Some(table) = table {
        done.imported = table.rows.len() as i64;
        replace_lookup(state, import, table).await.map_err(|why| (0, why))?;
    }
    Ok(done)
}

/// Stores a batch's records, trying again after a pause while the ingestion limit
/// refuses them or the store is not ready for them, until the run has waited
/// [`MAX_WAIT`] in all (`waited`).
async fn store(
    state: &AppState,
    project: &Project,
    import_type: ImportType,
    records: Vec<String>,
    waited: &mut Duration,
) -> Result<Stored, ApiError> {
    let mut pause = Duration::from_millis(500);
    loop {
        let tried = std::time::Instant::now();
        let stored = match import_type {
            ImportType::EventStream => {
                ingest_steps::import_events(state, project, records.clone(), "warehouse", &LimitSlot::default()).await
            }
            ImportType::Groups => {
                ingest_steps::update_profiles(state, project, records.clone(), ProfileKind::Group).await
            }
            _ => ingest_steps::update_profiles(state, project, records.clone(), ProfileKind::User).await,
        };
        match stored {
            Err(e) if matches!(e.code, ErrorCode::RateLimited | ErrorCode::Unavailable) && *waited < MAX_WAIT => {
                tracing::debug!(project = project.id.0, why = %e.message, "warehouse import waits to store a batch");
                tokio::time::sleep(pause).await;
                // The try counts too: a store that is not ready answers after its own wait.
                *waited += tried.elapsed();
                pause = (pause * 2).min(MAX_PAUSE);
            }
            other => return other,
        }
    }
}

/// The id of the lookup table a lookup-table import fills.
fn lookup_id(import: &WarehouseImport) -> Result<&str, (i64, String)> {
    import.spec.lookup_table_id.as_deref().ok_or((0, "the import has no lookup table".into()))
}

/// A lookup table's rows as a run gathers them: the key column first, then every other
/// column in the order first seen.
struct LookupRows {
    columns: Vec<String>,
    rows: std::collections::HashMap<String, Map<String, Value>>,
}

impl LookupRows {
    fn new(spec: &ImportSpec) -> LookupRows {
        LookupRows { columns: spec.property_key_column_name.iter().cloned().collect(), rows: Default::default() }
    }

    fn add(&mut self, spec: &ImportSpec, rows: &[Map<String, Value>], done: &mut Done) {
        for (i, row) in rows.iter().enumerate() {
            match spec.lookup_row(row) {
                Ok((key, rest)) => {
                    for column in rest.keys() {
                        if !self.columns.contains(column) {
                            self.columns.push(column.clone());
                        }
                    }
                    self.rows.insert(key, rest);
                }
                Err(why) => {
                    done.skipped += 1;
                    done.first_skip.get_or_insert(format!("row {i} of its batch: {why}"));
                }
            }
        }
    }
}

/// Replaces the import's lookup table with the rows read, as `PUT /lookup-tables/{id}`
/// does (one replace at a time, the project's row cap checked under the same lock).
async fn replace_lookup(state: &AppState, import: &WarehouseImport, table: LookupRows) -> Result<(), String> {
    let id = lookup_id(import).map_err(|(_, why)| why)?;
    let rows = table.rows.len() as u64;
    let _one_at_a_time = state.lookup_replaces.lock().await;
    let others = state.metadata.lookup_rows_besides(import.project_id, id).await.map_err(|e| e.to_string())?;
    if others + rows > MAX_LOOKUP_PROJECT_ROWS {
        return Err(format!(
            "a project's lookup tables hold at most {MAX_LOOKUP_PROJECT_ROWS} rows together; this import read {rows} \
             and the project's other tables hold {others}"
        ));
    }
    let columns = table.columns.clone();
    let table = sextant_expr::LookupTable { columns: table.columns, rows: table.rows };
    state.lookups.replace_lookup_table(import.project_id, id, table).await.map_err(|e| e.to_string())?;
    state.metadata.lookup_table_replaced(id, rows, &columns).await.map_err(|e| e.to_string())
}

/// Each row as the JSON text of the record its endpoint takes, with the row each came
/// from, and why each row that does not map was skipped.
fn map_rows(spec: &ImportSpec, import: i64, rows: &[Map<String, Value>]) -> (Vec<String>, Vec<usize>, Vec<String>) {
    let (mut records, mut mapped, mut skips) =
        (Vec::with_capacity(rows.len()), Vec::with_capacity(rows.len()), Vec::new());
    for (i, row) in rows.iter().enumerate() {
        let record = match spec.import_type {
            ImportType::EventStream => spec.event_record(import, row),
            _ => spec.profile_record(row),
        };
        match record {
            Ok(record) => {
                records.push(record.to_string());
                mapped.push(i);
            }
            Err(why) => skips.push(format!("row {i} of its batch: {why}")),
        }
    }
    (records, mapped, skips)
}

/// Checks that the columns the import names are in the source's rows (the first one
/// read), so that a wrong mapping fails the run with the columns there are, rather
/// than skipping every row.
fn check_columns(spec: &ImportSpec, first: Option<&Map<String, Value>>) -> Result<(), String> {
    let Some(row) = first else { return Ok(()) };
    let named = [
        &spec.event_column_name,
        &spec.time_column_name,
        &spec.user_column_name,
        &spec.insert_id_column_name,
        &spec.insert_time_column_name,
        &spec.group_id_column,
        &spec.property_key_column_name,
    ];
    for column in named.into_iter().flatten() {
        if !row.contains_key(column) {
            let there: Vec<&str> = row.keys().map(String::as_str).collect();
            return Err(format!("column `{column}` is not in the source's rows (they have: {})", there.join(", ")));
        }
    }
    Ok(())
}
