//! Online backups (`/api/app/organizations/{organization_id}/backups`): the request,
//! a backup's state, and the manifest written beside its files (`backup.json`), which
//! `sextant restore` checks.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The body of `POST .../backups`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BackupRequest {
    /// The backup's name, its directory under the server's backups directory: 1 to 64
    /// letters, digits, `.`, `_` or `-`, not starting with `.` nor ending in `.partial`
    /// or `.failed`.
    pub name: String,
}

/// A backup as the API shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Backup {
    /// Its name.
    pub name: String,
    /// `running`, `done` or `failed`.
    pub state: String,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Its directory on the server.
    pub path: String,
    /// What it holds, once done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<BackupManifest>,
}

/// `backup.json`: what a finished backup holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BackupManifest {
    /// The manifest's format (1).
    pub format: u32,
    /// The Sextant version that wrote it.
    pub sextant_version: String,
    /// When the snapshot was taken (RFC 3339).
    pub taken_at: String,
    /// The recorded point: the largest ingestion sequence number in the snapshot.
    /// Every event acknowledged after it has a larger one, and is not in the backup.
    pub events_through_seq: i64,
    /// Event rows in it (every stored copy).
    pub events: u64,
    /// `sqlite` (in `metadata.sqlite`), or `postgresql` (not included: back it up with
    /// `pg_dump`).
    pub control_plane: String,
    /// Every file, with its size and SHA-256.
    pub files: Vec<BackupFile>,
}

/// One file of a backup.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BackupFile {
    /// Its path within the backup (and the data directory).
    pub path: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// Its SHA-256, hex.
    pub sha256: String,
}

/// Whether `name` may name a backup (never ending as the server's own marks of a
/// running or failed one, `.partial` and `.failed`).
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && !name.starts_with('.')
        && !name.ends_with(".partial")
        && !name.ends_with(".failed")
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}
