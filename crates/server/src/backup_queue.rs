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
    /// Backups of `data_dir` into `root`. A backup a stopped server left unfinished
    /// (`<name>.partial`) is marked failed, so it never shows as running.
    pub fn new(root: PathBuf, data_dir: PathBuf) -> Backups {
        let backups = Backups { root, data_dir, running: AtomicBool::new(false) };
        let left = std::fs::read_dir(&backups.root).into_iter().flatten().flatten();
        for entry in left {
            let file = entry.file_name().to_string_lossy().into_owned();
            if let Some(name) = file.strip_suffix(".partial") {
                backups.fail(name, "interrupted: the server stopped during the backup");
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        backups
    }

    /// Records that the backup `name` failed, and why (written whole: a reader sees
    /// the reason or nothing).
    pub(crate) fn fail(&self, name: &str, reason: &str) {
        let path = self.root.join(format!("{name}.failed"));
        if let Err(e) = crate::files::write_atomically(&path, reason.as_bytes(), 0o600) {
            tracing::error!(error = %e, backup = %name, "cannot record a failed backup");
        }
    }

    /// Forgets a failed backup, so its name can be used again.
    pub(crate) fn forget_failure(&self, name: &str) {
        let _ = std::fs::remove_file(self.root.join(format!("{name}.failed")));
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
