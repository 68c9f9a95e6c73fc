//! JQL, Mixpanel's JavaScript Query Language: a script's `main()` describes a data
//! source and a chain of transformations; Sextant reads the source from its stores and
//! runs the chain in an embedded, sandboxed JavaScript engine.
//!
//! What runs where:
//! - The store filters: the date range, event names and selector expressions
//!   (compiled by `sextant_expr`) are part of the read, so only selected events reach
//!   the engine; identity resolution and dedup are the store's, as in every report.
//! - The engine (QuickJS) runs the JQL library (`prelude.js`: the collection, its
//!   transformations, `mixpanel.reducer.*` and the other built-ins; `underscore.js`:
//!   `_`) and the user's functions, over batches of items.
//!
//! # Layout
//! - [`sandbox`]: the engine, its limits ([`Limits`]) and how its errors read.
//! - `source`: what `main()` asked to read, compiled into store filters.
//! - `read`: reading events, profiles and joins into the engine in batches.
//! - `native`: the stages the store computes instead (a groupBy of event names with
//!   count and sum).
//! - `projection`: which event properties a script can read, from its text.
//! - `error`: [`JqlError`].
//! - [`csv_answer`]: an answer as CSV (`format=csv`).

pub mod csv_answer;
mod error;
mod native;
mod projection;
mod read;
pub mod sandbox;
mod source;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use sextant_expr::Options;
use sextant_model::ProjectId;
use sextant_model::workspace::Visibility;
use sextant_storage::{EventStore, ProfileStore, ReportStore};

pub use error::JqlError;
pub use sandbox::Limits;

use source::{Plan, Source};

/// The stores a script reads.
#[derive(Clone)]
pub struct Stores {
    /// Events.
    pub events: Arc<dyn EventStore>,
    /// User profiles.
    pub profiles: Arc<dyn ProfileStore>,
    /// Report counts (what native stages ask).
    pub reports: Arc<dyn ReportStore>,
}

/// One script to run.
pub struct Script {
    /// The JavaScript source; it must define `main()`.
    pub source: String,
    /// `params`, as JSON text (`null` when none were sent).
    pub params: String,
    /// The project read.
    pub project: ProjectId,
    /// The project's expression settings (its timezone among them).
    pub options: Options,
    /// What the reader's workspace shows.
    pub view: Visibility,
    /// The script's budget.
    pub limits: Limits,
    /// Set when the answer is no longer wanted: the script stops within a second.
    pub cancelled: Arc<AtomicBool>,
}

/// Runs `script` and answers its final collection as a JSON array. Blocks: call it
/// on a blocking thread; `runtime` drives the stores' calls.
pub fn run(script: Script, stores: &Stores, runtime: &tokio::runtime::Handle) -> Result<String, JqlError> {
    if serde_json::from_str::<serde_json::Value>(&script.params).is_err() {
        return Err(JqlError::Script("params must be JSON".into()));
    }
    let deadline = Instant::now() + script.limits.time;
    let projection = projection::names(&script.source);
    if let Some(answer) = run_once(&script, stores, runtime, deadline, projection)? {
        return Ok(answer);
    }
    // The answer held events whose properties were read in part: read them whole.
    run_once(&script, stores, runtime, deadline, None)?
        .ok_or_else(|| JqlError::Engine("a run with every property gave no answer".into()))
}

/// One run, reading only the `projection` of each event's properties when given; `None`
/// when that projection reached the answer.
fn run_once(
    script: &Script,
    stores: &Stores,
    runtime: &tokio::runtime::Handle,
    deadline: Instant,
    projection: Option<Vec<String>>,
) -> Result<Option<String>, JqlError> {
    let sandbox = sandbox::Sandbox::new(&script.limits, deadline, script.cancelled.clone())?;
    let plan = sandbox.plan(&script.source, &script.params)?;
    let Plan { source, native } = serde_json::from_str(&plan)
        .map_err(|e| JqlError::Script(format!("main() returned a source that cannot be read: {e}")))?;
    let mut scope = read::Scope {
        project: script.project,
        options: &script.options,
        view: &script.view,
        runtime,
        memory_bytes: script.limits.memory_bytes,
        projection,
    };
    match source {
        Source::Events(spec) => {
            spec.check_view(&script.view, &script.options)?;
            let filter = spec.compile(&script.options)?;
            let answered = match &native {
                Some(group) => native::group_by_name(&sandbox, stores, &scope, &filter, group)?,
                None => false,
            };
            if !answered {
                scope.read_also(filter.reads());
                read::events(&sandbox, stores, &scope, &filter)?;
            }
        }
        Source::People(spec) => read::people(&sandbox, stores, &scope, spec.compile(&script.options)?)?,
        Source::Join { events, people, kind, selectors } => {
            events.check_view(&script.view, &script.options)?;
            source::check_view(&selectors, "join selectors", &script.view, &script.options)?;
            let filters = (&events.compile(&script.options)?, people.compile(&script.options)?);
            let selectors = source::join_selectors(&selectors, &script.options)?;
            scope.read_also(filters.0.reads());
            scope.read_also(selectors.iter().flat_map(source::SelectorCheck::reads));
            read::join(&sandbox, stores, &scope, filters, kind, &selectors)?
        }
    }
    sandbox.finish()
}
