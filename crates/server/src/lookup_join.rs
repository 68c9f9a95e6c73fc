//! Joining lookup tables into expressions: [`Attacher`] hands a request's checked
//! expressions the tables mapped to the properties they read, so every report, export
//! and profile query sees enriched properties the same way.
//!
//! It reads the control plane (the project's mappings) and the lookup store, so it lives
//! with the server's state rather than in the query crate; report handlers call it after
//! `sextant_query` has checked their parameters and before the store runs them.

use std::sync::Arc;

use sextant_expr::{Lookups, Program, Target};
use sextant_model::ProjectId;
use sextant_storage::BehaviorCount;

use crate::error::ApiError;
use crate::state::AppState;

/// Hands a request's expressions the lookup tables mapped to the properties they read.
/// The project's mappings are read once per request, and only when some expression
/// reads a property at all.
pub struct Attacher<'a> {
    state: &'a AppState,
    project: ProjectId,
    mappings: Option<Vec<(Target, String, String)>>,
}

impl<'a> Attacher<'a> {
    /// An attacher for `project`'s requests.
    pub fn new(state: &'a AppState, project: ProjectId) -> Self {
        Attacher { state, project, mappings: None }
    }

    /// The same program, reading the tables mapped to the properties it names (the
    /// program itself when it names none).
    pub async fn program(&mut self, program: Arc<Program>) -> Result<Arc<Program>, ApiError> {
        let referenced = program.referenced_properties();
        if referenced.is_empty() {
            return Ok(program);
        }
        if self.mappings.is_none() {
            let all = self.state.metadata.lookup_mappings(self.project).await?;
            let parsed = all
                .into_iter()
                .filter_map(|(m, table)| Some((m.target.parse::<Target>().ok()?, m.property, table)))
                .collect();
            self.mappings = Some(parsed);
        }
        let mut lookups = Lookups::default();
        for (target, property, table_id) in self.mappings.iter().flatten() {
            if referenced.iter().any(|(t, p)| t == target && p == property) {
                let table = self.state.lookups.lookup_table(self.project, table_id).await?;
                lookups.insert(*target, property.clone(), table);
            }
        }
        if lookups.is_empty() {
            return Ok(program);
        }
        Ok(Arc::new(Arc::unwrap_or_clone(program).with_lookups(Arc::new(lookups))))
    }

    /// [`Attacher::program`] for an optional expression.
    pub async fn optional(&mut self, program: Option<Arc<Program>>) -> Result<Option<Arc<Program>>, ApiError> {
        match program {
            Some(p) => Ok(Some(self.program(p).await?)),
            None => Ok(None),
        }
    }

    /// [`Attacher::program`] for every event selector of behaviour counts.
    pub async fn behaviors(&mut self, mut behaviors: Vec<BehaviorCount>) -> Result<Vec<BehaviorCount>, ApiError> {
        for b in &mut behaviors {
            for (_, selector) in &mut b.events {
                *selector = self.optional(selector.take()).await?;
            }
        }
        Ok(behaviors)
    }
}
