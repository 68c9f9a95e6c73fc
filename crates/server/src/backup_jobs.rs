//! Taking an online backup of the data directory while the server runs: the control
//! plane, the event store and the files the server cannot rebuild, into
//! `<backups dir>/<name>/` with a manifest (`backup.json`).
//!
//! Order and content:
//! 1. The control plane first (`VACUUM INTO`, a SQLite snapshot; a PostgreSQL control
//!    plane is left to `pg_dump`): what it records as done (a warehouse watermark, a
//!    GDPR step) was committed to the event store before, so the event snapshot taken
//!    next holds at least that.
//! 2. The event store (`EventStore::backup`): one snapshot; its largest sequence number
//!    is the backup's recorded point.
//! 3. `secrets.key` (without it the sealed pipeline secrets are lost), `bootstrap.json`,
//!    `gdpr/runner-id` and the self-signed mode's `tls/ca.*`.
//!
//! Not copied: `timelines/` (the compactor rebuilds every day's file from the events at
//! start; a file written after the snapshot would claim events the copy lacks), the
//! stores' write-ahead logs, scratch space, pipeline outputs and import inputs.
//!
//! The work happens in `<name>.partial`, renamed to `<name>` when complete; a failure
//! leaves `<name>.failed` holding the reason. One backup runs at a time
//! (`crate::backup_queue`).

use std::path::Path;

use sextant_api::backups::{BackupFile, BackupManifest};
use sha2::Digest;

use crate::state::AppState;

/// The files besides the stores that a backup copies when they exist.
const FILES: [&str; 5] = ["secrets.key", "bootstrap.json", "gdpr/runner-id", "tls/ca.key", "tls/ca.crt"];

/// Takes the backup `name` (the slot already claimed), then frees the slot.
pub(crate) async fn take(state: AppState, name: String) {
    let backups = state.backups.clone();
    let partial = backups.root.join(format!("{name}.partial"));
    let result = write(&state, &partial).await;
    let outcome = match result {
        Ok(()) => tokio::fs::rename(&partial, backups.path(&name)).await.map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    if let Err(reason) = outcome {
        tracing::error!(backup = %name, %reason, "backup failed");
        // Failed before the partial copy goes, so the state is never "none" between.
        backups.fail(&name, &reason);
        let _ = tokio::fs::remove_dir_all(&partial).await;
    } else {
        tracing::info!(backup = %name, "backup done");
    }
    backups.release();
}

async fn write(state: &AppState, dir: &Path) -> Result<(), String> {
    // A backup holds every secret the server keeps: its owner only.
    {
        use std::os::unix::fs::PermissionsExt;
        let owner_only = std::fs::Permissions::from_mode(0o700);
        tokio::fs::set_permissions(dir, owner_only)
            .await
            .map_err(|e| format!("cannot restrict {}: {e}", dir.display()))?;
    }
    let taken_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let control_plane = match state.metadata.backup_into(&dir.join("metadata.sqlite")).await {
        Ok(true) => "sqlite",
        Ok(false) => "postgresql",
        Err(e) => return Err(format!("the control plane could not be copied: {e}")),
    };
    let point = state
        .store
        .backup(dir.join("events.duckdb"))
        .await
        .map_err(|e| format!("the event store could not be copied: {e}"))?;
    let data_dir = state.backups.data_dir.clone();
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        for file in FILES {
            let from = data_dir.join(file);
            if from.exists() {
                let to = dir.join(file);
                if let Some(parent) = to.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
                }
                std::fs::copy(&from, &to).map_err(|e| format!("cannot copy {}: {e}", from.display()))?;
            }
        }
        let manifest = BackupManifest {
            format: 1,
            sextant_version: env!("CARGO_PKG_VERSION").into(),
            taken_at,
            events_through_seq: point.seq,
            events: point.events,
            control_plane: control_plane.into(),
            files: inventory(&dir)?,
        };
        let text = serde_json::to_vec_pretty(&manifest).map_err(|e| e.to_string())?;
        crate::files::write_atomically(&dir.join("backup.json"), &text, 0o600)
            .map_err(|e| format!("cannot write the manifest: {e}"))
    })
    .await
    .map_err(|e| e.to_string())?
}

/// Every file under `dir` with its size and SHA-256, sorted by path.
pub fn inventory(dir: &Path) -> Result<Vec<BackupFile>, String> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(at) = pending.pop() {
        for entry in std::fs::read_dir(&at).map_err(|e| format!("cannot read {}: {e}", at.display()))? {
            let path = entry.map_err(|e| e.to_string())?.path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let relative = path.strip_prefix(dir).map_err(|e| e.to_string())?.to_string_lossy().replace('\\', "/");
            if relative == "backup.json" {
                continue;
            }
            let (bytes, sha256) = digest(&path)?;
            files.push(BackupFile { path: relative, bytes, sha256 });
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// A file's size and SHA-256, read in 1 MB pieces.
pub fn digest(path: &Path) -> Result<(u64, String), String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut hash = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
        bytes += n as u64;
    }
    Ok((bytes, hex::encode(hash.finalize())))
}
