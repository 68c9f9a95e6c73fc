//! The Lexicon kept in memory: each project's schemas (what `GET /schemas` reads) and
//! their [`Declarations`] as ingestion applies them, loaded at start and reloaded when a
//! Lexicon request changes the project's schemas (so a `dropped` declaration acts from
//! the next request on), and the
//! counts of values stored although they broke a declared type, gathered here and
//! written to the control plane every [`FLUSH_EVERY`] (and when the server stops).
//!
//! A server sharing a PostgreSQL control plane with others compares each project's
//! Lexicon version with the one it read every few seconds ([`Dictionary::refresh`]) and
//! reads the changed projects again.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use sextant_ingest::NormalizedEvent;
use sextant_metadata::{LexiconScope, Metadata};
use sextant_model::ProjectId;
use sextant_model::lexicon::{Declarations, SchemaEntry};

/// How often counted violations are written to the control plane.
pub const FLUSH_EVERY: Duration = Duration::from_secs(2);

/// Violations counted but not yet written, by project, then (event, property).
type Pending = HashMap<ProjectId, BTreeMap<(String, String), u64>>;

/// One project's schemas as stored (what `GET /schemas` reads: parsing 5,000 schemas
/// from the control plane took 55 to 100 ms of a 200-ms budget) and what they declare.
pub struct ProjectLexicon {
    /// The schemas, by entity type and name.
    pub entries: Vec<SchemaEntry>,
    /// What they make ingestion do.
    pub declarations: Declarations,
}

impl ProjectLexicon {
    fn of(entries: Vec<SchemaEntry>) -> ProjectLexicon {
        ProjectLexicon { declarations: Declarations::from_entries(&entries), entries }
    }
}

/// Every project's schemas and declarations, and the violations not yet written.
#[derive(Default)]
pub struct Dictionary {
    /// Projects with schemas.
    projects: RwLock<HashMap<ProjectId, Arc<ProjectLexicon>>>,
    pending: Mutex<Pending>,
    /// Held by a Lexicon change from its write to its reload (changes are few: 5 a
    /// minute per project by default).
    changes: tokio::sync::Mutex<()>,
    /// Each project's Lexicon version as last read (`Metadata::lexicon_versions`).
    versions: Mutex<HashMap<ProjectId, i64>>,
}

impl Dictionary {
    /// Every project's schemas, read from the control plane.
    pub async fn load(metadata: &Metadata) -> sextant_metadata::Result<Dictionary> {
        // The versions first: a change landing between the two reads is then read again
        // by the next refresh, never mistaken for one already read.
        let versions = metadata.lexicon_versions().await?.into_iter().collect();
        let mut by_project: HashMap<ProjectId, Vec<SchemaEntry>> = HashMap::new();
        for (project, entry) in metadata.all_lexicon_schemas().await? {
            by_project.entry(project).or_default().push(entry);
        }
        let projects =
            by_project.into_iter().map(|(project, entries)| (project, Arc::new(ProjectLexicon::of(entries)))).collect();
        Ok(Dictionary { projects: RwLock::new(projects), versions: Mutex::new(versions), ..Dictionary::default() })
    }

    /// Reads again the projects whose schemas changed since they were read, through
    /// this server or another sharing the control plane (the server calls it every few
    /// seconds; comparing versions costs one small read).
    pub async fn refresh(&self, metadata: &Metadata) -> sextant_metadata::Result<()> {
        let now: HashMap<ProjectId, i64> = metadata.lexicon_versions().await?.into_iter().collect();
        let changed: Vec<ProjectId> = {
            let known = self.versions.lock();
            let differs = now.iter().filter(|(p, v)| known.get(p) != Some(v)).map(|(p, _)| *p);
            differs.chain(known.keys().filter(|p| !now.contains_key(p)).copied()).collect()
        };
        if changed.is_empty() {
            return Ok(());
        }
        let _changing = self.changing().await;
        for project in changed {
            self.reload(metadata, project).await?;
        }
        *self.versions.lock() = now;
        Ok(())
    }

    /// Waits for the right to change schemas: hold it from the write to its
    /// [`Dictionary::reload`], so an older read is never installed after a newer one.
    pub async fn changing(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.changes.lock().await
    }

    /// Reads one project's schemas again, after they changed.
    pub async fn reload(&self, metadata: &Metadata, project: ProjectId) -> sextant_metadata::Result<()> {
        let entries = metadata.lexicon_schemas(project, LexiconScope::All).await?;
        let mut all = self.projects.write();
        if entries.is_empty() {
            all.remove(&project);
        } else {
            all.insert(project, Arc::new(ProjectLexicon::of(entries)));
        }
        Ok(())
    }

    /// Forgets a deleted project's schemas and the violations not yet written.
    pub fn forget(&self, project: ProjectId) {
        self.projects.write().remove(&project);
        self.pending.lock().remove(&project);
    }

    /// The project's schemas in `scope`, by entity type and name, as stored.
    pub fn schemas(&self, project: ProjectId, scope: LexiconScope<'_>) -> Vec<SchemaEntry> {
        let Some(lexicon) = self.of(project) else { return Vec::new() };
        lexicon.entries.iter().filter(|e| scope.covers(e)).cloned().collect()
    }

    /// The project's schemas and declarations, if it has any.
    pub fn of(&self, project: ProjectId) -> Option<Arc<ProjectLexicon>> {
        self.projects.read().get(&project).cloned()
    }

    /// Applies the project's declarations to an event about to be stored: `false` when
    /// the event is declared dropped (it is counted on `/metrics`, not stored); otherwise
    /// its dropped properties are removed and values breaking a declared type counted.
    pub fn admit(&self, project: ProjectId, event: &mut NormalizedEvent) -> bool {
        let Some(lexicon) = self.of(project) else { return true };
        let Some(declared) = lexicon.declarations.event(&event.event) else { return true };
        if declared.dropped {
            crate::metrics::lexicon_dropped(project, "event", 1);
            return false;
        }
        let applied = declared.apply(&event.properties);
        if let Some(kept) = applied.properties {
            crate::metrics::lexicon_dropped(project, "property", 1);
            event.properties = kept;
        }
        if !applied.violations.is_empty() {
            crate::metrics::lexicon_violations(project, applied.violations.len() as u64);
            let mut pending = self.pending.lock();
            let counts = pending.entry(project).or_default();
            for property in applied.violations {
                *counts.entry((event.event.clone(), property)).or_default() += 1;
            }
        }
        true
    }

    /// The project's violations: those written and those still pending.
    pub async fn violations(
        &self,
        metadata: &Metadata,
        project: ProjectId,
    ) -> sextant_metadata::Result<BTreeMap<(String, String), u64>> {
        let mut counts = metadata.lexicon_violations(project).await?;
        if let Some(pending) = self.pending.lock().get(&project) {
            for (key, n) in pending {
                *counts.entry(key.clone()).or_default() += n;
            }
        }
        Ok(counts)
    }

    /// Writes the pending violations; what fails to be written stays pending.
    pub async fn flush(&self, metadata: &Metadata) {
        let pending = std::mem::take(&mut *self.pending.lock());
        for (project, counts) in pending {
            if let Err(e) = metadata.add_lexicon_violations(project, &counts).await {
                // A project deleted since its events were counted has nowhere to keep
                // them: they go with it, instead of failing every flush from now on.
                if matches!(metadata.project(project).await, Ok(None)) {
                    continue;
                }
                tracing::warn!(error = %e, %project, "cannot record Lexicon type violations; will retry");
                let mut again = self.pending.lock();
                let kept = again.entry(project).or_default();
                for (key, n) in counts {
                    *kept.entry(key).or_default() += n;
                }
            }
        }
    }
}
