//! A feature flag as the management API (`feature-flags-management.openapi.yaml`) takes
//! and shows it, and the checks a definition passes before it is saved.
//!
//! Fractions (`split`, `rollout_percentage`, `variant_splits`) are 0.0 to 1.0, as the
//! spec has them. Cohort targeting names one of the project's saved cohorts,
//! `cohort_definition: {"id": N}` (the spec leaves the object's shape open; this is
//! the shape engage's `filter_by_cohort` takes), and is evaluated on the server only:
//! such a flag is left out of `/flags/definitions`, as the SDKs cannot evaluate it
//! locally. `cohort_hash` and first-time event targeting (`runtime_event_rule`) are
//! refused with a field error naming them: a flag saved with them would be evaluated
//! without them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::rules;

/// The most variants a flag has (the management spec's `maxItems`).
pub const MAX_VARIANTS: usize = 11;
/// The most rollout groups a flag has: each costs a hash per evaluation.
pub const MAX_ROLLOUTS: usize = 100;
/// The longest string value a variant has (the spec's `maxLength`).
pub const MAX_VALUE_CHARS: usize = 32_768;
/// The longest name, key and context (the spec's `maxLength`).
pub const MAX_NAME_CHARS: usize = 255;
/// The length of a hash salt.
pub const SALT_CHARS: usize = 32;

/// Whether a flag is served.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FlagStatus {
    /// Served to the SDKs.
    Enabled,
    /// Kept, not served (the default for a new flag).
    #[default]
    Disabled,
    /// Soft-deleted: listed only with `include_archived=true`.
    Archived,
}

impl FlagStatus {
    /// As the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            FlagStatus::Enabled => "enabled",
            FlagStatus::Disabled => "disabled",
            FlagStatus::Archived => "archived",
        }
    }

    /// The status `text` spells.
    pub fn parse(text: &str) -> Option<FlagStatus> {
        [FlagStatus::Enabled, FlagStatus::Disabled, FlagStatus::Archived].into_iter().find(|s| s.as_str() == text)
    }
}

/// Where a flag may be evaluated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ServingMethod {
    /// By client SDKs, through `/flags`.
    Client,
    /// By server SDKs, locally from `/flags/definitions` or remotely.
    Server,
    /// Either way.
    #[default]
    RemoteOrLocal,
    /// Only through `/flags`: left out of `/flags/definitions`.
    RemoteOnly,
}

/// One variant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// Its key, unique in the flag without regard to case.
    pub key: String,
    /// What the SDKs return for it: any JSON, one type across the flag's variants.
    pub value: Value,
    /// A note.
    #[serde(default)]
    pub description: Option<String>,
    /// Whether it is the experiment's control.
    pub is_control: bool,
    /// Its share of a rollout group, 0.0 to 1.0 (a group's `variant_splits` win).
    pub split: f64,
    /// Kept as sent (sticky assignment is not evaluated yet).
    #[serde(default)]
    pub is_sticky: bool,
}

/// A rollout group's forced variant (deprecated in the spec, still honoured).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VariantOverride {
    /// A variant's key.
    pub key: String,
}

/// One rollout group, tried in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rollout {
    /// Its label.
    #[serde(default)]
    pub name: Option<String>,
    /// Cohort targeting: `{"id": N}`, one of the project's saved cohorts, whose members
    /// alone the group takes (see [`Rollout::cohort_id`]).
    #[serde(default)]
    pub cohort_definition: Option<Map<String, Value>>,
    /// Deprecated runtime targeting: property -> value, matched without regard to case.
    #[serde(default)]
    pub runtime_evaluation_definition: Option<Map<String, Value>>,
    /// Runtime targeting: a JSONLogic rule over the context's `custom_properties`.
    #[serde(default)]
    pub runtime_evaluation_rule: Option<Value>,
    /// First-time event targeting (refused for now).
    #[serde(default)]
    pub runtime_event_rule: Option<Value>,
    /// A cohort's hash (refused for now).
    #[serde(default)]
    pub cohort_hash: Option<String>,
    /// The share of contexts the group takes, 0.0 to 1.0.
    pub rollout_percentage: f64,
    /// A forced variant.
    #[serde(default)]
    pub variant_override: Option<VariantOverride>,
    /// Variant key -> share within the group, replacing the variants' own `split`.
    #[serde(default)]
    pub variant_splits: BTreeMap<String, f64>,
}

impl Rollout {
    /// The saved cohort the group is confined to, if any.
    pub fn cohort_id(&self) -> Option<i64> {
        self.cohort_definition.as_ref().and_then(Rollout::cohort_id_of)
    }

    /// The `id` of a `{"id": N}` cohort definition: a positive whole number, or one
    /// written as a string.
    fn cohort_id_of(definition: &Map<String, Value>) -> Option<i64> {
        match definition.get("id")? {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
        .filter(|id| *id > 0)
    }
}

/// The QA testers: `users` maps a `distinct_id` to the variant it always gets.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TestUsers {
    /// `distinct_id` -> variant key.
    #[serde(default)]
    pub users: BTreeMap<String, String>,
}

/// What a flag serves, to whom.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Ruleset {
    /// The variants.
    pub variants: Vec<Variant>,
    /// The rollout groups, in order.
    pub rollout: Vec<Rollout>,
    /// QA testers.
    #[serde(default)]
    pub test: Option<TestUsers>,
}

/// A flag's definition: the management API's `FeatureFlagRequest` less the one-shot
/// `reset_hash_salt`, with its hash salt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FlagSpec {
    /// Its display name.
    pub name: String,
    /// The key SDKs ask for, unique in the project among flags not archived.
    pub key: String,
    /// A note.
    #[serde(default)]
    pub description: Option<String>,
    /// Labels.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The experiment reading it, a UUID.
    #[serde(default)]
    pub experiment_id: Option<String>,
    /// Whether that experiment runs.
    #[serde(default)]
    pub is_experiment_active: Option<bool>,
    /// Served or not.
    #[serde(default)]
    pub status: FlagStatus,
    /// The context key users are bucketed by: `distinct_id`, `device_id` or a group key.
    pub context: String,
    /// Kept as sent (Mixpanel's data group).
    #[serde(default)]
    pub data_group_id: Option<Value>,
    /// Where it may be evaluated.
    pub serving_method: ServingMethod,
    /// Variants, rollout groups and testers.
    pub ruleset: Ruleset,
    /// 32 characters mixed into every hash (`null`: the legacy hashing without one).
    #[serde(default)]
    pub hash_salt: Option<String>,
}

/// The keys a management request body may hold (the spec allows no others).
const REQUEST_KEYS: [&str; 15] = [
    "name",
    "key",
    "description",
    "tags",
    "experiment_id",
    "status",
    "context",
    "data_group_id",
    "serving_method",
    "ruleset",
    "workspace_id",
    "is_experiment_active",
    "hash_salt",
    "reset_hash_salt",
    "id",
];

/// A management request's body (`FeatureFlagRequest`), read and checked.
#[derive(Clone, Debug, PartialEq)]
pub struct FlagRequest {
    /// The definition.
    pub spec: FlagSpec,
    /// Whether to draw a new hash salt.
    pub reset_hash_salt: bool,
}

impl FlagRequest {
    /// Reads a body (the API's, or the CLI's file): an object with the spec's fields
    /// only (`workspace_id` and `id` are accepted and ignored: the path names them), a
    /// definition [`FlagSpec::check`] passes. Every problem is named.
    pub fn parse(body: Value) -> Result<FlagRequest, Vec<Problem>> {
        let Value::Object(mut fields) = body else {
            return Err(vec![("body".into(), "must be a JSON object".into())]);
        };
        let unknown: Vec<Problem> = fields
            .keys()
            .filter(|k| !REQUEST_KEYS.contains(&k.as_str()))
            .map(|k| (k.clone(), "is not a field of a feature flag".into()))
            .collect();
        if !unknown.is_empty() {
            return Err(unknown);
        }
        let reset_hash_salt = match fields.remove("reset_hash_salt") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => b,
            Some(_) => return Err(vec![("reset_hash_salt".into(), "must be a boolean".into())]),
        };
        fields.remove("workspace_id");
        fields.remove("id");
        let spec: FlagSpec =
            serde_json::from_value(Value::Object(fields)).map_err(|e| vec![("body".into(), e.to_string())])?;
        let problems = spec.check();
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(FlagRequest { spec, reset_hash_salt })
    }
}

/// A problem with a definition: the field (a JSON path like `ruleset.rollout[1].rollout_percentage`)
/// and what is wrong.
pub type Problem = (String, String);

fn chars_between(problems: &mut Vec<Problem>, field: &str, text: &str, max: usize) {
    let n = text.chars().count();
    if n == 0 || n > max {
        problems.push((field.into(), format!("must be 1 to {max} characters")));
    }
}

fn fraction(problems: &mut Vec<Problem>, field: String, value: f64) {
    if !(0.0..=1.0).contains(&value) {
        problems.push((field, "must be a fraction from 0.0 to 1.0".into()));
    }
}

/// The JSON type of a variant value, as "one type per flag" compares them.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

impl FlagSpec {
    /// Every problem with the definition; empty when it may be saved.
    pub fn check(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        chars_between(&mut problems, "name", &self.name, MAX_NAME_CHARS);
        chars_between(&mut problems, "key", &self.key, MAX_NAME_CHARS);
        chars_between(&mut problems, "context", &self.context, MAX_NAME_CHARS);
        if let Some(salt) = &self.hash_salt
            && salt.chars().count() != SALT_CHARS
        {
            problems.push(("hash_salt".into(), format!("must be {SALT_CHARS} characters, or null")));
        }
        if let Some(id) = &self.experiment_id
            && !is_uuid(id)
        {
            problems.push(("experiment_id".into(), "must be a UUID".into()));
        }
        self.ruleset.check(&mut problems);
        // Cohorts hold users, looked up by the context's distinct_id.
        for (i, r) in self.ruleset.rollout.iter().enumerate() {
            if r.cohort_definition.is_some() && self.context != "distinct_id" {
                problems.push((
                    format!("ruleset.rollout[{i}].cohort_definition"),
                    "needs the flag's context to be `distinct_id`".into(),
                ));
            }
        }
        problems
    }

    /// The variant whose key is `key` without regard to case, as the SDKs match test
    /// users and overrides.
    pub fn variant(&self, key: &str) -> Option<&Variant> {
        self.ruleset.variant(key)
    }
}

impl Ruleset {
    fn variant(&self, key: &str) -> Option<&Variant> {
        let key = key.to_lowercase();
        self.variants.iter().find(|v| v.key.to_lowercase() == key)
    }

    fn check(&self, problems: &mut Vec<Problem>) {
        let variants = &self.variants;
        if variants.is_empty() || variants.len() > MAX_VARIANTS {
            problems.push(("ruleset.variants".into(), format!("must hold 1 to {MAX_VARIANTS} variants")));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, v) in variants.iter().enumerate() {
            let at = format!("ruleset.variants[{i}]");
            if v.key.is_empty() {
                problems.push((format!("{at}.key"), "must not be empty".into()));
            } else if !seen.insert(v.key.to_lowercase()) {
                problems.push((
                    format!("{at}.key"),
                    format!("`{}` is used twice (keys match without regard to case)", v.key),
                ));
            }
            if let Value::String(s) = &v.value
                && s.chars().count() > MAX_VALUE_CHARS
            {
                problems.push((format!("{at}.value"), format!("must be at most {MAX_VALUE_CHARS} characters")));
            }
            if let Some(first) = variants.first()
                && kind(&first.value) != kind(&v.value)
            {
                problems.push((
                    format!("{at}.value"),
                    format!(
                        "is a {}, and the first variant's is a {}: a flag's values share one type",
                        kind(&v.value),
                        kind(&first.value)
                    ),
                ));
            }
            fraction(problems, format!("{at}.split"), v.split);
        }
        if self.rollout.len() > MAX_ROLLOUTS {
            problems.push(("ruleset.rollout".into(), format!("must hold at most {MAX_ROLLOUTS} rollout groups")));
        }
        for (i, r) in self.rollout.iter().enumerate() {
            self.check_rollout(problems, &format!("ruleset.rollout[{i}]"), r);
        }
        if let Some(test) = &self.test {
            for (user, key) in &test.users {
                if self.variant(key).is_none() {
                    problems.push((format!("ruleset.test.users.{user}"), format!("names no variant: `{key}`")));
                }
            }
        }
    }

    fn check_rollout(&self, problems: &mut Vec<Problem>, at: &str, r: &Rollout) {
        fraction(problems, format!("{at}.rollout_percentage"), r.rollout_percentage);
        for (key, share) in &r.variant_splits {
            if !self.variants.iter().any(|v| &v.key == key) {
                problems.push((format!("{at}.variant_splits.{key}"), "names no variant".into()));
            }
            fraction(problems, format!("{at}.variant_splits.{key}"), *share);
        }
        if let Some(o) = &r.variant_override
            && self.variant(&o.key).is_none()
        {
            problems.push((format!("{at}.variant_override.key"), format!("names no variant: `{}`", o.key)));
        }
        if let Some(rule) = &r.runtime_evaluation_rule
            && let Err(e) = rules::Rule::compile(rule)
        {
            problems.push((format!("{at}.runtime_evaluation_rule"), e));
        }
        if let Some(definition) = &r.runtime_evaluation_definition
            && definition.values().any(|v| !v.is_string())
        {
            problems.push((format!("{at}.runtime_evaluation_definition"), "must map property names to strings".into()));
        }
        if r.cohort_definition.as_ref().is_some_and(|d| d.len() != 1 || Rollout::cohort_id_of(d).is_none()) {
            problems.push((
                format!("{at}.cohort_definition"),
                "must be {\"id\": N}, naming one of the project's saved cohorts".into(),
            ));
        }
        let unsupported = [
            ("cohort_hash", r.cohort_hash.is_some()),
            ("runtime_event_rule", r.runtime_event_rule.as_ref().is_some_and(|v| !v.is_null())),
        ];
        for (field, set) in unsupported {
            if set {
                problems.push((format!("{at}.{field}"), "is not supported by Sextant yet: leave it null".into()));
            }
        }
    }
}

/// Whether `text` is a UUID (`8-4-4-4-12` hexadecimal digits).
fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}
