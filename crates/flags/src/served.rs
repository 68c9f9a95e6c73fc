//! What `/flags/definitions` serves: each enabled flag the SDKs may evaluate locally, in
//! the shape their `ExperimentationFlag` parsers read, variants ordered by key (Python,
//! Go and Java sort them; Node and Ruby keep the order served, so serving them sorted
//! makes every SDK walk the same order). Fields without a value are left out rather
//! than sent as `null`, as the published schema has them (every SDK reads them as
//! optional).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::definition::{FlagSpec, TestUsers, VariantOverride};
use crate::evaluate::Compiled;

/// One flag as served.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ServedFlag {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its key.
    pub key: String,
    /// Always `enabled`.
    pub status: &'static str,
    /// Its project.
    pub project_id: i64,
    /// Its workspace.
    pub workspace_id: i64,
    /// The context key users are bucketed by.
    pub context: String,
    /// Its experiment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub experiment_id: Option<String>,
    /// Whether the experiment runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_experiment_active: Option<bool>,
    /// Mixed into every hash (`null`: legacy hashing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash_salt: Option<String>,
    /// Variants, rollout groups, testers.
    pub ruleset: ServedRuleset,
}

/// A served ruleset.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ServedRuleset {
    /// Ordered by key.
    pub variants: Vec<ServedVariant>,
    /// In order.
    pub rollout: Vec<ServedRollout>,
    /// QA testers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test: Option<TestUsers>,
}

/// A served variant.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ServedVariant {
    /// Its key.
    pub key: String,
    /// Its value.
    pub value: Value,
    /// Whether it is the control.
    pub is_control: bool,
    /// Whether it is sticky.
    pub is_sticky: bool,
    /// Its share.
    pub split: f64,
}

/// A served rollout group.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ServedRollout {
    /// Its share of contexts.
    pub rollout_percentage: f64,
    /// Never sent: cohort targeting is not served for local evaluation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cohort_hash: Option<String>,
    /// Its JSONLogic rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime_evaluation_rule: Option<Value>,
    /// Its deprecated property matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime_evaluation_definition: Option<Map<String, Value>>,
    /// Shares within the group.
    pub variant_splits: BTreeMap<String, f64>,
    /// A forced variant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant_override: Option<VariantOverride>,
}

impl ServedFlag {
    /// `flag` as served, with its ids.
    pub fn of(id: &str, project_id: i64, workspace_id: i64, flag: &Compiled) -> ServedFlag {
        let spec: &FlagSpec = &flag.spec;
        ServedFlag {
            id: id.to_string(),
            name: spec.name.clone(),
            key: spec.key.clone(),
            status: "enabled",
            project_id,
            workspace_id,
            context: spec.context.clone(),
            experiment_id: spec.experiment_id.clone(),
            is_experiment_active: spec.is_experiment_active,
            hash_salt: spec.hash_salt.clone(),
            ruleset: ServedRuleset {
                variants: flag
                    .variants()
                    .iter()
                    .map(|v| ServedVariant {
                        key: v.key.clone(),
                        value: v.value.clone(),
                        is_control: v.is_control,
                        is_sticky: v.is_sticky,
                        split: v.split,
                    })
                    .collect(),
                rollout: spec
                    .ruleset
                    .rollout
                    .iter()
                    .map(|r| ServedRollout {
                        rollout_percentage: r.rollout_percentage,
                        cohort_hash: None,
                        runtime_evaluation_rule: r.runtime_evaluation_rule.clone(),
                        runtime_evaluation_definition: r.runtime_evaluation_definition.clone(),
                        variant_splits: r.variant_splits.clone(),
                        variant_override: r.variant_override.clone(),
                    })
                    .collect(),
                test: spec.ruleset.test.clone(),
            },
        }
    }
}
