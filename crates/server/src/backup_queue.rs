//! What backups share between the handlers and the work: where they go, each one's
//! state as its directories show it (`<name>` with `backup.json`: done;
//! `<name>.failed`: failed, with why; `<name>.partial`: running), and the one slot for
//! a running backup.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use sextant_api::backups::{Backup, BackupManifest};

/// Where backups go, and whether one is running.
#[derive(Debug, Default)]
pub struct Backups {
    /// The backups directory (`backups_dir`; default `<data dir>/backups`). Empty: no
    /// backups (a state made without a data directory).
    pub root: PathBuf,
    /// The data directory the files are copied from.
    pub data_dir: PathBuf,
    running: AtomicBool,
}

impl Backups {
    /// Backups of `data_dir` into `root`.
    pub fn new(root: PathBuf, data_dir: PathBuf) -> Backups {
        Backups { root, data_dir, running: AtomicBool::new(false) }
    }

    /// The directory a backup named `name` has (or will have).
    pub fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Claims the one running slot; `false` when a backup is running.
    pub(crate) fn claim(&self) -> bool {
        !self.running.swap(true, Ordering::AcqRel)
    }

    /// Frees the running slot (a backup that could not start).
    pub(crate) fn release(&self) {
        self.running.store(false, Ordering::Release);
    }

    /// A backup's state, from its directories: `None` when there is none by that name.
    pub fn status(&self, name: &str) -> Option<Backup> {
        let done = self.path(name);
        let view = |state: &str, error: Option<String>, manifest: Option<BackupManifest>| Backup {
            name: name.to_string(),
            state: state.into(),
            error,
            path: done.display().to_string(),
            manifest,
        };
        if let Ok(text) = std::fs::read_to_string(done.join("backup.json")) {
            return Some(view("done", None, serde_json::from_str(&text).ok()));
        }
        if let Ok(reason) = std::fs::read_to_string(self.root.join(format!("{name}.failed"))) {
            return Some(view("failed", Some(reason), None));
        }
        if self.root.join(format!("{name}.partial")).exists() {
            return Some(view("running", None, None));
        }
        None
    }
}
