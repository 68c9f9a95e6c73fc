//! What the pipeline runner (`crate::pipeline_jobs`) shares with the handlers
//! (`crate::pipelines`) through the server's state: where directory pipelines write
//! and bucket pipelines stage their files,
//! how often the runner looks for partitions owed and reads published ones again, and
//! its wake-up call.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sextant_model::ProjectId;

/// Times a partition is tried before it is `failed` for good.
pub const ATTEMPTS: i64 = 5;

/// Where pipelines write and how often the runner looks.
pub struct PipelineRunner {
    root: PathBuf,
    pub(crate) poll: Duration,
    /// How long a published partition of a `sync` pipeline goes unread (ms).
    pub(crate) sync_every_ms: i64,
    pub(crate) wake: tokio::sync::Notify,
}

impl Default for PipelineRunner {
    fn default() -> Self {
        PipelineRunner::new(
            std::env::temp_dir().join("sextant-pipelines"),
            crate::config::DEFAULT_PIPELINE_POLL_SECONDS,
            crate::config::DEFAULT_PIPELINE_SYNC_SECONDS,
        )
    }
}

impl PipelineRunner {
    /// Pipelines writing under `root`, looked at every `poll_seconds`, their published
    /// partitions read again every `sync_seconds`.
    pub fn new(root: PathBuf, poll_seconds: u64, sync_seconds: u64) -> PipelineRunner {
        PipelineRunner {
            root,
            poll: Duration::from_secs(poll_seconds.max(1)),
            sync_every_ms: i64::try_from(sync_seconds.saturating_mul(1000)).unwrap_or(i64::MAX),
            wake: tokio::sync::Notify::new(),
        }
    }

    /// Tells the runner a pipeline changed.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The directory a project's `fs-raw` pipeline with `prefix` writes under:
    /// `<root>/<prefix>/<project id>`. The prefix is plain relative segments
    /// (`sextant_model::pipeline` checks it), so nothing escapes the root.
    pub fn destination(&self, prefix: &str, project: ProjectId) -> PathBuf {
        let base: &Path = &self.root;
        let base = if prefix.is_empty() { base.to_path_buf() } else { base.join(prefix) };
        base.join(project.0.to_string())
    }

    /// Where a bucket pipeline's files are written before they are uploaded:
    /// `<root>/.staging/<project id>/<hash of the name>` (no prefix starts with `.`; a
    /// name may be longer than a file name may).
    pub fn staging(&self, project: ProjectId, name: &str) -> PathBuf {
        use sha2::Digest as _;
        let hash = hex::encode(&sha2::Sha256::digest(name.as_bytes())[..12]);
        self.root.join(".staging").join(project.0.to_string()).join(hash)
    }
}
