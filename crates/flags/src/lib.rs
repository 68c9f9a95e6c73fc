//! Feature flags and the experiments that read them: what a flag is, and which variant a context gets, bit for bit as the
//! official SDKs compute it locally, so `/flags` (evaluated here) and an SDK evaluating
//! `/flags/definitions` agree on every user. Cohort groups are evaluated on the server
//! alone ([`Compiled::evaluate_in`]), as Mixpanel's are.
//!
//! # Modules
//! - [`definition`]: a flag as the management API takes and shows it, and its checks.
//! - [`hash`]: the SDKs' FNV-1a `normalized_hash`.
//! - [`evaluate`]: choosing a context's variant ([`Compiled::evaluate`]).
//! - [`rules`]: runtime rules (JSONLogic over `custom_properties`, lower-cased).
//! - [`operators`]: the SDKs' `semver_compare` and `datetime_compare` operators.
//! - [`served`]: the `/flags/definitions` shape.
//! - [`experiment`]: an experiment, its lifecycle, and the flag it reads.
//! - [`exposure`]: the `$experiment_started` event `/flags` records when asked.

pub mod definition;
pub mod evaluate;
pub mod experiment;
pub mod exposure;
pub mod hash;
pub mod operators;
pub mod rules;
pub mod served;

pub use definition::{FlagRequest, FlagSpec, FlagStatus, Problem, Rollout, Ruleset, ServingMethod, TestUsers, Variant};
pub use evaluate::{Compiled, Selected};
pub use experiment::{Decision, ExperimentChange, ExperimentSpec, ExperimentStatus};
pub use hash::normalized_hash;
pub use rules::Properties;
pub use served::ServedFlag;
