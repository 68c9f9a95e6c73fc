//! The free-space reserve of the data directory's file system.
//!
//! DuckDB takes a full disk in two ways (measured with DuckDB 2.0 on a full tmpfs): a
//! commit whose write-ahead log cannot grow fails by itself, and the database stays
//! usable; a checkpoint that cannot write fails *fatally*: the database is invalidated
//! and refuses every later statement until the process restarts. Checkpoints come
//! unasked, inside any commit that takes the log past its threshold (512 MB, see
//! [`crate::schema::CHECKPOINT_THRESHOLD`]), so the store keeps clear of a full disk
//! instead of meeting it: while less than the reserve is free, the writer refuses new
//! writes (`StorageError::DiskFull`, a 503 to the client; nothing is written, so nothing
//! acknowledged is lost), and neither the writer's idle checkpoint nor the compactor's
//! moves and timeline builds start. Everything resumes by itself at the first write or
//! tick after space returns. The default reserve, 1 GiB, is twice the checkpoint
//! threshold, room for the largest checkpoint a commit can set off.

use std::path::{Path, PathBuf};

/// The default reserve: 1 GiB.
pub const DEFAULT_MIN_FREE_BYTES: u64 = 1 << 30;

/// The data directory and how much of its file system must stay free.
#[derive(Clone, Debug)]
pub struct Reserve {
    dir: PathBuf,
    min_free: u64,
}

impl Reserve {
    /// The reserve of `min_free` bytes on the file system holding `dir`.
    pub fn new(dir: &Path, min_free: u64) -> Reserve {
        Reserve { dir: dir.to_path_buf(), min_free }
    }

    /// `Err` with a message unless the file system holding `dir` has room for `bytes`
    /// more and still the reserve (a backup written beside the data directory must not
    /// eat the room the store's own checkpoints need).
    pub fn room_for(&self, dir: &Path, bytes: u64) -> Result<(), String> {
        let free = match rustix::fs::statvfs(dir) {
            Ok(s) => s.f_bavail.saturating_mul(s.f_frsize),
            Err(e) => return Err(format!("cannot read the free space of {}: {e}", dir.display())),
        };
        let needed = bytes.saturating_add(self.min_free);
        if free >= needed {
            return Ok(());
        }
        Err(format!(
            "not enough free space in {}: {} MiB free, and the copy needs {} MiB plus the store's reserve of {} MiB",
            dir.display(),
            free >> 20,
            bytes.div_ceil(1 << 20),
            self.min_free.div_ceil(1 << 20),
        ))
    }

    /// `Err` with a message for the client while less than the reserve is free. A
    /// file system that cannot be asked counts as having room: the write then fails,
    /// or not, on its own.
    pub fn check(&self) -> Result<(), String> {
        if self.min_free == 0 {
            return Ok(());
        }
        let free = match rustix::fs::statvfs(&self.dir) {
            Ok(s) => s.f_bavail.saturating_mul(s.f_frsize),
            Err(e) => {
                tracing::debug!(error = %e, "cannot read the data directory's free space");
                return Ok(());
            }
        };
        if free >= self.min_free {
            return Ok(());
        }
        Err(format!(
            "the server's disk is full: {} MiB free, and writes stop below {} MiB; nothing was written, retry later",
            free >> 20,
            self.min_free.div_ceil(1 << 20),
        ))
    }
}
