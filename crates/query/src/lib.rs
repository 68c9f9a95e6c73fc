//! Reports: what the Query API's endpoints mean, apart from HTTP and from any store.
//!
//! Each report reads its parameters into a checked request (every mistake is a
//! [`QueryError`] that names the parameter), asks a [`sextant_storage::ReportStore`]
//! for counts, and shapes the answer as Mixpanel's API does. Time is the project's:
//! [`calendar`] turns dates and units into UTC ranges, DST-exact buckets and the date
//! keys of the answers.
//!
//! What may be saved and queried by definition (funnels, saved reports, cohorts) and the
//! engage query's parameters are checked here too, typed and apart from any HTTP body,
//! so the server and the CLI hold them to the same rules; a mistake there is a
//! [`FieldErrors`] naming each field at fault.
//!
//! # Layout
//! - [`calendar`]: project-local days, buckets and their keys.
//! - [`params`]: reading and checking request parameters.
//! - [`segmentation`]: `/segmentation` (general, unique, average; `on`, `where`,
//!   `limit`), `/segmentation/sum` and `/average`.
//! - [`events`]: `/events` and its `top`, `names` and `properties` relatives.
//! - [`funnels`]: `/funnels` over a saved funnel, its forward-pass [`funnels::kernel`],
//!   and what a saved funnel may be ([`funnels::definition`]).
//! - [`insights`]: saved reports computed by `/insights`, and what one may hold.
//! - [`retention`]: `/retention` (birth, compounded) and `/retention/addiction`, and
//!   their forward-pass [`retention::kernel`].
//! - [`numeric`]: `/segmentation/numeric`'s ranges.
//! - [`cohorts`]: a cohort definition compiled into a profile query's filter and
//!   behaviour counts.
//! - [`engage`]: the engage query's parameters, read into an [`engage::EngageRequest`].
//! - [`lexicon`]: the declared schemas merged with what the project has sent.
//! - [`experiments`]: an experiment's results: exposures, conversions, z- and t-tests.
//! - [`parallel`]: splitting a forward pass over users across the cores.
//! - [`workspace`]: what a report may name and list when it reads through a workspace.

pub mod calendar;
pub mod cohorts;
pub mod engage;
pub mod events;
pub mod experiments;
pub mod funnels;
pub mod insights;
pub mod lexicon;
pub mod numeric;
pub mod parallel;
pub mod params;
pub mod retention;
pub mod segmentation;
pub mod workspace;

use sextant_expr::Options;
use sextant_model::Project;

/// A request the report cannot answer, with the reason (a 400 in the Query API's shape).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct QueryError(pub String);

/// A definition or request with mistakes in named fields: what was being read
/// (`context`, such as `invalid funnel`) and, per field, what is wrong with it. The
/// server answers it as a 400 whose `details` name the fields; the CLI prints it. Its
/// text is the server's message, ``context: `field` problem; ...``, so both say the same.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldErrors {
    /// What was being read, such as `invalid funnel` (may be empty).
    pub context: String,
    /// Each field at fault, with what is wrong with it.
    pub fields: Vec<(String, String)>,
}

impl FieldErrors {
    /// Mistakes in `fields` of what `context` names.
    pub fn new(context: impl Into<String>, fields: Vec<(String, String)>) -> Self {
        FieldErrors { context: context.into(), fields }
    }

    /// One mistake: `field` and what is wrong with it.
    pub fn one(context: impl Into<String>, field: impl Into<String>, problem: impl Into<String>) -> Self {
        FieldErrors::new(context, vec![(field.into(), problem.into())])
    }
}

/// The fields listed after the context: ``context: `a` is wrong; `b` is too``.
impl std::fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = self.fields.iter().map(|(k, v)| format!("`{k}` {v}")).collect::<Vec<_>>().join("; ");
        if self.context.is_empty() { f.write_str(&list) } else { write!(f, "{}: {list}", self.context) }
    }
}

impl std::error::Error for FieldErrors {}

/// The expression settings of `project`: its timezone and string case rule, "now"
/// being now. Every expression a project's request or definition holds is read with
/// these.
pub fn expression_options(project: &Project) -> Options {
    Options {
        timezone: project.timezone.parse().unwrap_or(chrono_tz::UTC),
        case_sensitive: project.case_sensitive_strings,
        ..Options::default()
    }
}

/// The keys of the `limit` segments with the largest totals (summed per key), largest
/// first, ties by name: how behavioural reports choose the segments they answer.
pub(crate) fn top_segments<'a>(totals: impl Iterator<Item = (&'a str, u64)>, limit: usize) -> Vec<&'a str> {
    let mut by_key: std::collections::HashMap<&str, u64> = std::collections::HashMap::new();
    for (k, n) in totals {
        *by_key.entry(k).or_default() += n;
    }
    let mut ranked: Vec<(&str, u64)> = by_key.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    ranked.into_iter().take(limit).map(|(k, _)| k).collect()
}

impl QueryError {
    /// An error with `message`.
    pub fn new(message: impl Into<String>) -> Self {
        QueryError(message.into())
    }
}
