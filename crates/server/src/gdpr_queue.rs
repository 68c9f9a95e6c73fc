//! What the GDPR job runner (`crate::gdpr_jobs`) shares with the handlers
//! (`crate::gdpr`) through the server's state: where archives go and how long they
//! live, this server's id in the job queue, the runner's wake-up call, and how many
//! rounds in a row each job has failed.

use std::path::PathBuf;
use std::time::Duration;

/// How often the runner looks at the queue without being woken.
pub const POLL: Duration = Duration::from_secs(5);

/// Rounds a job is tried in a row, its steps failing, before it ends `FAILURE`; the
/// wait before each is [`POLL`] times the rounds so far.
pub const ATTEMPTS: u32 = 8;

/// Where archives go, how long they live, who this runner is, and its wake-up call.
pub struct GdprJobs {
    pub(crate) dir: PathBuf,
    pub(crate) archive_ttl_ms: i64,
    /// This server's id in the job queue: jobs it claimed are resumed by it alone, as
    /// only its store holds what they work on. Kept in the directory, so a restarted
    /// server is the same runner.
    pub(crate) runner: String,
    pub(crate) wake: tokio::sync::Notify,
    /// Failed rounds in a row, by job.
    pub(crate) attempts: parking_lot::Mutex<std::collections::HashMap<String, u32>>,
}

impl Default for GdprJobs {
    fn default() -> Self {
        let dir = std::env::temp_dir().join("sextant-gdpr");
        GdprJobs::with(dir, crate::config::DEFAULT_GDPR_ARCHIVE_TTL_SECONDS, sextant_metadata::secrets::random_hex32())
    }
}

impl GdprJobs {
    /// Archives in `dir` (made if missing, the owner's alone), served for
    /// `archive_ttl_seconds`; the runner's id read from `dir/runner-id`, or made.
    pub fn open(dir: PathBuf, archive_ttl_seconds: u64) -> std::io::Result<GdprJobs> {
        std::fs::create_dir_all(&dir)?;
        crate::files::make_private(&dir)?;
        let file = dir.join("runner-id");
        let runner = match std::fs::read_to_string(&file) {
            Ok(id) if !id.trim().is_empty() => id.trim().to_string(),
            _ => {
                let id = sextant_metadata::secrets::random_hex32();
                std::fs::write(&file, &id)?;
                id
            }
        };
        Ok(GdprJobs::with(dir, archive_ttl_seconds, runner))
    }

    fn with(dir: PathBuf, archive_ttl_seconds: u64, runner: String) -> GdprJobs {
        let archive_ttl_ms = i64::try_from(archive_ttl_seconds.saturating_mul(1000)).unwrap_or(i64::MAX);
        GdprJobs { dir, archive_ttl_ms, runner, wake: tokio::sync::Notify::new(), attempts: Default::default() }
    }

    /// Tells the runner a job is waiting.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The file of an archive the control plane names.
    pub fn archive_path(&self, name: &str) -> Option<PathBuf> {
        // Names are the runner's own (`<digits>.jsonl`); anything else is not served.
        let plain =
            name.strip_suffix(".jsonl").is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()));
        plain.then(|| self.dir.join(name))
    }
}

/// Now, in epoch ms.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
