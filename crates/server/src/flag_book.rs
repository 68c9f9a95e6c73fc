//! Each project's enabled feature flags, compiled, with the `/flags/definitions` body
//! and its `ETag`, kept in memory: server SDKs poll the definitions every 60 s from
//! every process and client SDKs evaluate remotely on every page, so neither may cost a
//! control-plane read (but for a flag confined to a cohort, whose membership `/flags`
//! reads for the context).
//!
//! A project's entry is built on first use from `Metadata::enabled_flags` (the flags
//! and the project's flag version, read together). A change made through this server
//! drops the entry at once ([`FlagBook::forget`]), so the next evaluation sees it; a
//! change made through another server sharing the control plane is seen when
//! [`FlagBook::refresh`] (every `state::TOKEN_TTL`) finds the project's version moved.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::RwLock;
use sextant_flags::{Compiled, ServedFlag, ServingMethod};
use sextant_metadata::Metadata;
use sextant_model::ProjectId;
use sha2::{Digest, Sha256};

/// One enabled flag.
pub struct BookedFlag {
    /// Its id.
    pub id: String,
    /// Its workspace.
    pub workspace_id: i64,
    /// Ready to evaluate.
    pub flag: Compiled,
}

/// A project's enabled flags as one version of the control plane had them.
pub struct ProjectFlags {
    /// The project's flag version they were read at.
    pub version: i64,
    /// Oldest first.
    pub flags: Vec<BookedFlag>,
    /// The `/flags/definitions` body: every flag but the remote-only ones and those
    /// with a cohort group.
    pub definitions: Bytes,
    /// Its strong `ETag` (quoted).
    pub etag: String,
}

/// Every project's flags read so far.
#[derive(Default)]
pub struct FlagBook {
    inner: RwLock<Book>,
}

#[derive(Default)]
struct Book {
    projects: HashMap<ProjectId, Arc<ProjectFlags>>,
    /// How many times each project's entry was dropped: a read that started before a
    /// drop is not kept (it may predate the change).
    drops: HashMap<ProjectId, u64>,
}

/// The `/flags/definitions` body: `{"flags": [...]}` (kept serialized in
/// [`ProjectFlags::definitions`]).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct FlagDefinitions {
    /// The project's enabled flags, variants ordered by key.
    pub flags: Vec<ServedFlag>,
}

impl FlagBook {
    /// The project's flags, read from the control plane if this server has not yet.
    pub async fn of(&self, metadata: &Metadata, project: ProjectId) -> sextant_metadata::Result<Arc<ProjectFlags>> {
        let drops = {
            let book = self.inner.read();
            if let Some(found) = book.projects.get(&project) {
                return Ok(found.clone());
            }
            book.drops.get(&project).copied().unwrap_or(0)
        };
        let (version, stored) = metadata.enabled_flags(project).await?;
        let flags: Vec<BookedFlag> = stored
            .into_iter()
            .map(|f| BookedFlag { id: f.id, workspace_id: f.workspace_id, flag: Compiled::new(f.spec) })
            .collect();
        let served: Vec<ServedFlag> = flags
            .iter()
            // The SDKs cannot evaluate cohort groups locally (they ignore them).
            .filter(|f| f.flag.spec.serving_method != ServingMethod::RemoteOnly && f.flag.cohorts().is_empty())
            .map(|f| ServedFlag::of(&f.id, project.0, f.workspace_id, &f.flag))
            .collect();
        let body = serde_json::to_vec(&FlagDefinitions { flags: served })
            .map_err(|e| sextant_metadata::MetadataError::Invalid(e.to_string()))?;
        let etag = format!("\"{}\"", hex::encode(&Sha256::digest(&body)[..16]));
        let entry = Arc::new(ProjectFlags { version, flags, definitions: Bytes::from(body), etag });
        let mut book = self.inner.write();
        if book.drops.get(&project).copied().unwrap_or(0) == drops {
            book.projects.insert(project, entry.clone());
        }
        Ok(entry)
    }

    /// Drops the project's entry: its flags changed.
    pub fn forget(&self, project: ProjectId) {
        let mut book = self.inner.write();
        book.projects.remove(&project);
        *book.drops.entry(project).or_default() += 1;
    }

    /// Drops every entry whose project's flag version moved on the control plane.
    pub async fn refresh(&self, metadata: &Metadata) -> sextant_metadata::Result<()> {
        let versions: HashMap<ProjectId, i64> = metadata.flag_versions().await?.into_iter().collect();
        let mut book = self.inner.write();
        let stale: Vec<ProjectId> = book
            .projects
            .iter()
            .filter(|(project, entry)| versions.get(project).copied().unwrap_or(0) != entry.version)
            .map(|(project, _)| *project)
            .collect();
        for project in stale {
            book.projects.remove(&project);
            *book.drops.entry(project).or_default() += 1;
        }
        Ok(())
    }
}
