//! At start, each lookup table's row count and columns in the control plane are brought
//! in line with what the event store holds.
//!
//! The two are written apart. A replace writes the store first (the write that can fail
//! or be refused, and is atomic there), then the control plane's copy; a crash between
//! the two leaves that copy describing the old contents, so the table would be listed
//! with the old size and columns, and the project's row cap would count the old size
//! until the next replace. A delete goes the other way (the control plane first), so a
//! crash between its two writes leaves rows that no table names; they are removed.
//! Either way the store's rows are the truth, and one scan of them at start (a
//! `GROUP BY` over at most the projects' capped rows) finds every difference.
//!
//! Only a control plane of the server's own (the SQLite file in its data directory, no
//! `--metadata-url`) is repaired: servers sharing a control plane each keep their own
//! event store today, so one server's store does not hold the tables another replaced.
//! A repair that fails is logged and the server starts: the tables are as they were.

use std::collections::HashMap;

use sextant_metadata::{Metadata, MetadataError};
use sextant_model::ProjectId;
use sextant_storage::{LookupStore, StorageError};

/// Repairs every difference, when `own_control_plane`; logs what it did or why it could
/// not.
pub async fn repair(metadata: &Metadata, store: &dyn LookupStore, own_control_plane: bool) {
    if !own_control_plane {
        return;
    }
    match differences(metadata, store).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(tables = n, "lookup tables' recorded sizes repaired"),
        Err(e) => tracing::warn!(error = %e, "cannot compare lookup tables with their rows; left as they are"),
    }
}

/// What went wrong reading either side.
#[derive(Debug, thiserror::Error)]
enum RepairError {
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

async fn differences(metadata: &Metadata, store: &dyn LookupStore) -> Result<usize, RepairError> {
    let mut held: HashMap<(ProjectId, String), (u64, Vec<String>)> = store
        .lookup_table_sizes()
        .await?
        .into_iter()
        .map(|s| ((s.project_id, s.table_id), (s.rows, s.columns)))
        .collect();
    let mut repaired = 0;
    for table in metadata.every_lookup_table().await? {
        // A table never replaced holds nothing in the store, and says so.
        let (rows, columns) = held.remove(&(table.project_id, table.id.clone())).unwrap_or_default();
        if (rows, &columns) != (table.row_count, &table.columns) {
            tracing::warn!(
                table = %table.id,
                project = table.project_id.0,
                recorded_rows = table.row_count,
                stored_rows = rows,
                "a lookup table's recorded size differs from its rows (a replace interrupted); recording its rows"
            );
            metadata.lookup_table_sized(&table.id, rows, &columns).await?;
            repaired += 1;
        }
    }
    for ((project, id), _) in held {
        tracing::warn!(table = %id, project = project.0, "rows of a deleted lookup table (a delete interrupted); removing them");
        store.delete_lookup_table(project, &id).await?;
        repaired += 1;
    }
    Ok(repaired)
}
