//! Reports: what the Query API's endpoints mean, apart from HTTP and from any store.
//!
//! Each report reads its parameters into a checked request (every mistake is a
//! [`QueryError`] that names the parameter), asks a [`sextant_storage::ReportStore`]
//! for counts, and shapes the answer as Mixpanel's API does. Time is the project's:
//! [`calendar`] turns dates and units into UTC ranges, DST-exact buckets and the date
//! keys of the answers.
//!
//! # Layout
//! - [`calendar`]: project-local days, buckets and their keys.
//! - [`params`]: reading and checking request parameters.
//! - [`segmentation`]: `/segmentation` (general, unique, average; `on`, `where`,
//!   `limit`), `/segmentation/sum` and `/average`.
//! - [`events`]: `/events` and its `top`, `names` and `properties` relatives.
//! - [`funnels`]: `/funnels` over a saved funnel, and its forward-pass [`funnels::kernel`].
//! - [`insights`]: saved reports computed by `/insights`.
//! - [`retention`]: `/retention` (birth, compounded) and `/retention/addiction`, and
//!   their forward-pass [`retention::kernel`].
//! - [`numeric`]: `/segmentation/numeric`'s ranges.

pub mod calendar;
pub mod events;
pub mod funnels;
pub mod insights;
pub mod numeric;
pub mod parallel;
pub mod params;
pub mod retention;
pub mod segmentation;

/// A request the report cannot answer, with the reason (a 400 in the Query API's shape).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct QueryError(pub String);

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
