//! `sextant backup NAME`: an online backup of a running server, over its API (the
//! server writes it into its backups directory while it keeps ingesting); and
//! `sextant restore SRC --data-dir DIR`: a backup made into a new data directory,
//! offline, every file checked against the manifest first.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use sextant_client::api::backups::{Backup, BackupManifest};

use super::remote::{RemoteArgs, explain};

#[derive(Args)]
pub(crate) struct BackupArgs {
    /// The backup's name: its directory under the server's backups directory.
    name: String,
    /// The first organization's id (backups are taken through it).
    #[arg(long, default_value_t = 1)]
    organization: i64,
    /// Start it and return, without waiting for it to finish.
    #[arg(long)]
    no_wait: bool,
    /// Print the backup as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    remote: RemoteArgs,
}

#[derive(Args)]
pub(crate) struct RestoreArgs {
    /// The backup's directory (holding `backup.json`).
    source: PathBuf,
    /// The new data directory (absent or empty).
    #[arg(long)]
    data_dir: PathBuf,
}

pub(crate) async fn backup(args: BackupArgs) -> Result<()> {
    let client = args.remote.client()?;
    let backups = client.backups(args.organization);
    let mut backup = backups.create(&args.name).await.map_err(explain)?;
    while !args.no_wait && backup.state == "running" {
        tokio::time::sleep(Duration::from_millis(250)).await;
        backup = backups.get(&args.name).await.map_err(explain)?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&backup)?);
    } else {
        print_backup(&backup);
    }
    if backup.state == "failed" {
        bail!("backup `{}` failed: {}", backup.name, backup.error.unwrap_or_default());
    }
    Ok(())
}

fn print_backup(backup: &Backup) {
    match &backup.manifest {
        Some(m) => println!(
            "backup `{}` done in {}: {} events (through sequence {}), control plane {}, {} files, {} bytes",
            backup.name,
            backup.path,
            m.events,
            m.events_through_seq,
            m.control_plane,
            m.files.len(),
            m.files.iter().map(|f| f.bytes).sum::<u64>()
        ),
        None => println!("backup `{}`: {} ({})", backup.name, backup.state, backup.path),
    }
}

pub(crate) fn restore(args: RestoreArgs) -> Result<()> {
    let manifest_path = args.source.join("backup.json");
    let manifest: BackupManifest = serde_json::from_str(
        &std::fs::read_to_string(&manifest_path).with_context(|| format!("cannot read {}", manifest_path.display()))?,
    )
    .with_context(|| format!("{} is not a backup manifest", manifest_path.display()))?;
    if manifest.format != 1 {
        bail!("backup format {} is not one this sextant reads (1)", manifest.format);
    }
    let sqlite = manifest.control_plane == "sqlite";
    for needed in ["events.duckdb", "metadata.sqlite"].into_iter().filter(|f| *f != "metadata.sqlite" || sqlite) {
        if !manifest.files.iter().any(|f| f.path == needed) {
            bail!("the backup has no {needed}: it is not a backup this sextant wrote");
        }
    }
    // Every file is what the manifest says before anything is written.
    for file in &manifest.files {
        let path = inside(&args.source, &file.path)?;
        let (bytes, sha256) = sextant_server::backup_jobs::digest(&path).map_err(anyhow::Error::msg)?;
        if bytes != file.bytes || sha256 != file.sha256 {
            bail!(
                "{} is not the file the backup wrote (size or SHA-256 differs): the backup is damaged",
                path.display()
            );
        }
    }
    let target = &args.data_dir;
    if target.exists() && (!target.is_dir() || std::fs::read_dir(target)?.next().is_some()) {
        bail!("{} is not an empty directory: restore into a new data directory", target.display());
    }
    // Written beside the target and renamed into place at the end: a restore that
    // stops halfway leaves no data directory a server would start on.
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "data".into());
    let staging = target.with_file_name(format!(".{name}.restoring"));
    if staging.exists() {
        std::fs::remove_dir_all(&staging).with_context(|| format!("cannot clear {}", staging.display()))?;
    }
    std::fs::create_dir_all(&staging).with_context(|| format!("cannot create {}", staging.display()))?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&staging, std::fs::Permissions::from_mode(0o700))?;
    }
    for file in &manifest.files {
        let to = inside(&staging, &file.path)?;
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(inside(&args.source, &file.path)?, &to)
            .with_context(|| format!("cannot write {}", to.display()))?;
        std::fs::File::open(&to).and_then(|f| f.sync_all()).with_context(|| format!("cannot sync {}", to.display()))?;
    }
    if target.exists() {
        std::fs::remove_dir(target).with_context(|| format!("cannot replace {}", target.display()))?;
    }
    std::fs::rename(&staging, target)
        .with_context(|| format!("cannot move the restored files to {}", target.display()))?;
    let postgres = !sqlite;
    println!(
        "restored {} events (through sequence {}) into {}{}",
        manifest.events,
        manifest.events_through_seq,
        target.display(),
        if postgres {
            "; the control plane was PostgreSQL: restore it with pg_restore to the backup's time before starting"
        } else {
            ""
        }
    );
    Ok(())
}

/// `relative` under `dir`, refused when it would step outside.
fn inside(dir: &Path, relative: &str) -> Result<PathBuf> {
    let path = Path::new(relative);
    if path.is_absolute() || path.components().any(|c| !matches!(c, std::path::Component::Normal(_))) {
        bail!("the manifest names `{relative}`, outside the backup");
    }
    Ok(dir.join(path))
}
