//! Pause points, for the fault tests: with `SEXTANT_PAUSE_AT=<point>` in its
//! environment, the store stops for good when it reaches that point, after creating
//! `paused-at-<point>` in its directory. A test waits for that file and then kills the
//! process with SIGKILL, so the kill lands at exactly that moment of a compaction move
//! or a timeline build (`crates/cli/tests/faults.rs`), or holds the writer so that
//! the write queue fills (`crates/cli/tests/abuse/`). A timer or a busy loop could only
//! make such a moment likely.
//!
//! The points: [`COMPACTION_MOVE`], [`TIMELINE_WRITE`], [`WRITER_COMMIT`],
//! [`ERASURE_SECOND_STEP`], [`LOOKUP_REPLACED`], and the server's [`PIPELINE_PUBLISH`]
//! and [`WAREHOUSE_WATERMARK`]. Unset, a point costs one read of a set-once cell.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

/// Inside a move's transaction: rows copied to the cold tier and deleted from the hot
/// one, not yet committed.
pub const COMPACTION_MOVE: &str = "compaction-move";
/// Halfway through writing a timeline's temporary file.
pub const TIMELINE_WRITE: &str = "timeline-write";
/// In the writer, before it commits its first group: every write then waits in the
/// queue, as behind a stalled disk.
pub const WRITER_COMMIT: &str = "writer-commit";

/// Inside the transaction of a GDPR deletion's second step: its rows deleted, not yet
/// committed (the first step is).
pub const ERASURE_SECOND_STEP: &str = "erasure-second-step";

/// In the pipeline runner, a partition's files written and synced, not yet published
/// (renamed over their final names, or uploaded).
pub const PIPELINE_PUBLISH: &str = "pipeline-publish";

/// A warehouse import's batch stored, its watermark not yet moved past it.
pub const WAREHOUSE_WATERMARK: &str = "warehouse-watermark";

/// A lookup table's new rows committed by the store, the control plane's row count and
/// columns not yet written.
pub const LOOKUP_REPLACED: &str = "lookup-replaced";

static ARMED: OnceLock<Option<(String, PathBuf)>> = OnceLock::new();

/// Reads `SEXTANT_PAUSE_AT` once, for a store in `dir`.
pub(crate) fn arm(dir: &Path) {
    ARMED.get_or_init(|| {
        let point = std::env::var("SEXTANT_PAUSE_AT").ok().filter(|p| !p.is_empty())?;
        let marker = dir.join(format!("paused-at-{point}"));
        tracing::warn!(point, "SEXTANT_PAUSE_AT is set: the store will stop there for good");
        Some((point, marker))
    });
}

/// Stops this thread for good if the store was armed at `point`.
pub fn point(point: &str) {
    let Some(Some((armed, marker))) = ARMED.get() else { return };
    if armed != point {
        return;
    }
    if let Err(e) = std::fs::write(marker, b"") {
        tracing::error!(error = %e, "cannot write the pause marker");
    }
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
