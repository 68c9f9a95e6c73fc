//! Sextant's own opt-out list (`sextant gdpr opt-out`): ids whose events and user
//! profile updates ingestion drops, answered as accepted. A GDPR deletion is no
//! opt-out (a deleted id may send again, as with Mixpanel); this list is how a person
//! stays out.
//!
//! Each server keeps every project's list in memory and reads it again every few
//! seconds (with the projects' other shared settings), so an id added through the CLI
//! or another server is dropped within that time.

use std::collections::{HashMap, HashSet};

use parking_lot::RwLock;
use sextant_metadata::Metadata;
use sextant_model::ProjectId;

/// The opted-out ids of every project.
#[derive(Default)]
pub struct OptOuts {
    ids: RwLock<HashMap<ProjectId, HashSet<String>>>,
    /// The lists' version as last read (`Metadata::opt_out_version`).
    version: parking_lot::Mutex<Option<(i64, i64)>>,
    /// Held through a whole refresh: two at once (the periodic one and an HTTP change's)
    /// could otherwise finish in the wrong order and leave the older lists in place.
    refreshing: tokio::sync::Mutex<()>,
}

impl OptOuts {
    /// Every project's list, from the control plane.
    pub async fn load(metadata: &Metadata) -> sextant_metadata::Result<OptOuts> {
        let lists = OptOuts::default();
        lists.refresh(metadata).await?;
        Ok(lists)
    }

    /// Reads every list again if any changed since it was read (one small read when
    /// none did).
    pub async fn refresh(&self, metadata: &Metadata) -> sextant_metadata::Result<()> {
        let _alone = self.refreshing.lock().await;
        // The version first: a change landing between the two reads is read again next time.
        let version = metadata.opt_out_version().await?;
        if *self.version.lock() == Some(version) {
            return Ok(());
        }
        let mut lists: HashMap<ProjectId, HashSet<String>> = HashMap::new();
        for (project, id) in metadata.all_opt_outs().await? {
            lists.entry(project).or_default().insert(id);
        }
        *self.ids.write() = lists;
        *self.version.lock() = Some(version);
        Ok(())
    }

    /// Whether ingestion drops what `id` sends to `project`.
    pub fn drops(&self, project: ProjectId, id: &str) -> bool {
        let lists = self.ids.read();
        !lists.is_empty() && lists.get(&project).is_some_and(|ids| ids.contains(id))
    }
}
