//! Choosing a context's variant of a flag as the official SDKs do locally, the same
//! variant for every context (mixpanel-python's `LocalFeatureFlagsProvider.get_variant`
//! is the reference; where it differs, `is_qa_tester` on overrides and Unicode case
//! folding, `docs/compatibility.md` says so):
//!
//! 1. The context must hold the flag's context key (`distinct_id`, `device_id` or a
//!    group key) with a value Python counts as true; else no variant.
//! 2. A QA tester (`ruleset.test.users`, keyed by `distinct_id`) gets their variant.
//! 3. Rollout groups in order: the first whose hash is below its `rollout_percentage`,
//!    whose runtime rule holds and, for a group confined to a cohort (a remote-only
//!    feature), whose cohort holds the context, is the context's group; none: no
//!    variant.
//!    The rollout hash is `normalized_hash(value, key + salt + index)` with a salt, or
//!    `normalized_hash(value, key + "rollout")` without.
//! 4. In the group: a `variant_override` naming a variant wins; else the variants,
//!    ordered by key, with the group's `variant_splits` replacing their own `split`,
//!    are walked adding up splits until the variant hash
//!    (`normalized_hash(value, key + salt + "variant")`, the salt empty when there is
//!    none) is below the sum; the last variant if it never is.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::definition::{FlagSpec, Rollout, Variant};
use crate::hash::normalized_hash;
use crate::rules::{Properties, Rule};

/// A flag ready to evaluate: its definition, variants ordered by key, rules compiled.
#[derive(Clone, Debug)]
pub struct Compiled {
    /// The definition.
    pub spec: FlagSpec,
    /// The variants, ordered by key (the order every SDK walks).
    variants: Vec<Variant>,
    /// Each rollout group's compiled runtime rule.
    rules: Vec<Option<Rule>>,
    /// What each rollout group's hash appends to the context value.
    rollout_salts: Vec<String>,
    /// What the variant hash appends.
    variant_salt: String,
}

/// The variant a context gets, in the shape `/flags` answers.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Selected {
    /// Its key.
    pub variant_key: String,
    /// Its value.
    pub variant_value: Value,
    /// The flag's experiment, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub experiment_id: Option<String>,
    /// Whether that experiment runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_experiment_active: Option<bool>,
    /// Whether the context is one of the flag's QA testers.
    pub is_qa_tester: bool,
}

impl Compiled {
    /// Compiles a definition that passed [`FlagSpec::check`]; a rule that does not
    /// compile (it would have been refused) holds for nobody.
    pub fn new(spec: FlagSpec) -> Compiled {
        let mut variants = spec.ruleset.variants.clone();
        variants.sort_by(|a, b| a.key.cmp(&b.key));
        let rules = spec
            .ruleset
            .rollout
            .iter()
            .map(|r| r.runtime_evaluation_rule.as_ref().map(Rule::compile))
            .collect::<Vec<_>>();
        let rules = rules.into_iter().map(|r| r.map(|compiled| compiled.ok()).unwrap_or(None)).collect();
        let key = &spec.key;
        let rollout_salts = (0..spec.ruleset.rollout.len())
            .map(|i| match &spec.hash_salt {
                Some(salt) => format!("{key}{salt}{i}"),
                None => format!("{key}rollout"),
            })
            .collect();
        let variant_salt = format!("{key}{}variant", spec.hash_salt.as_deref().unwrap_or(""));
        Compiled { spec, variants, rules, rollout_salts, variant_salt }
    }

    /// The variants, ordered by key.
    pub fn variants(&self) -> &[Variant] {
        &self.variants
    }

    /// The variant `context` gets, if any, as an SDK evaluating locally would choose it
    /// (a group confined to a cohort holds no one). `properties` are the context's own
    /// ([`Properties::of`]), lower-cased once for every flag.
    pub fn evaluate(&self, context: &Map<String, Value>, properties: &Properties) -> Option<Selected> {
        self.evaluate_in(context, properties, &|_| false)
    }

    /// The variant `context` gets, if any, where `member_of(cohort)` says whether the
    /// context is in a saved cohort (asked only for a group the context's hash falls in).
    pub fn evaluate_in(
        &self,
        context: &Map<String, Value>,
        properties: &Properties,
        member_of: &dyn Fn(i64) -> bool,
    ) -> Option<Selected> {
        let value = bucket_key(context.get(&self.spec.context)?)?;
        if let Some(tester) = self.tester(context) {
            return Some(tester);
        }
        let (_, rollout) = self.spec.ruleset.rollout.iter().enumerate().find(|(i, r)| {
            normalized_hash(&value, &self.rollout_salts[*i]) < r.rollout_percentage
                && self.rule_holds(*i, r, properties)
                && r.cohort_id().is_none_or(member_of)
        })?;
        self.variant_in(rollout, &value)
    }

    /// The cohorts whose membership decides `context`'s group: those of the groups its
    /// hash and runtime rules reach, in order, up to the first group without a cohort
    /// (which takes the context whatever the cohorts say). None for a QA tester, or a
    /// context without the flag's key.
    pub fn cohorts_to_check(&self, context: &Map<String, Value>, properties: &Properties) -> Vec<i64> {
        let Some(value) = context.get(&self.spec.context).and_then(bucket_key) else { return Vec::new() };
        if self.tester(context).is_some() {
            return Vec::new();
        }
        let mut cohorts = Vec::new();
        for (i, r) in self.spec.ruleset.rollout.iter().enumerate() {
            if normalized_hash(&value, &self.rollout_salts[i]) < r.rollout_percentage
                && self.rule_holds(i, r, properties)
            {
                match r.cohort_id() {
                    Some(cohort) => cohorts.push(cohort),
                    None => break,
                }
            }
        }
        cohorts
    }

    /// The saved cohorts the flag's rollout groups are confined to.
    pub fn cohorts(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self.spec.ruleset.rollout.iter().filter_map(Rollout::cohort_id).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    fn tester(&self, context: &Map<String, Value>) -> Option<Selected> {
        let users = &self.spec.ruleset.test.as_ref()?.users;
        let distinct_id = context.get("distinct_id").filter(|v| python_true(v))?;
        let wanted = users.get(distinct_id.as_str()?)?;
        self.spec.variant(wanted).map(|v| self.selected(v, true))
    }

    fn rule_holds(&self, index: usize, rollout: &Rollout, properties: &Properties) -> bool {
        if rollout.runtime_evaluation_rule.as_ref().is_some_and(python_true) {
            return self.rules.get(index).and_then(Option::as_ref).is_some_and(|rule| rule.holds(properties));
        }
        match &rollout.runtime_evaluation_definition {
            Some(definition) if !definition.is_empty() => properties.match_definition(definition),
            _ => true,
        }
    }

    fn variant_in(&self, rollout: &Rollout, value: &str) -> Option<Selected> {
        if let Some(forced) = rollout.variant_override.as_ref().and_then(|o| self.spec.variant(&o.key)) {
            return Some(self.selected(forced, false));
        }
        let hash = normalized_hash(value, &self.variant_salt);
        // A saved flag has a variant (`FlagSpec::check`); one without serves nothing.
        let mut chosen = self.variants.first()?;
        let mut cumulative = 0.0;
        for variant in &self.variants {
            chosen = variant;
            cumulative += rollout.variant_splits.get(&variant.key).copied().unwrap_or(variant.split);
            if hash < cumulative {
                break;
            }
        }
        Some(self.selected(chosen, false))
    }

    fn selected(&self, variant: &Variant, is_qa_tester: bool) -> Selected {
        Selected {
            variant_key: variant.key.clone(),
            variant_value: variant.value.clone(),
            experiment_id: self.spec.experiment_id.clone(),
            is_experiment_active: self.spec.is_experiment_active,
            is_qa_tester,
        }
    }
}

/// Python's truth of a JSON value (`if not value`).
fn python_true(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(members) => !members.is_empty(),
    }
}

/// The text a context value is hashed as (Python's `str()`), or `None` when Python
/// counts it false and the SDKs fall back. Strings and integers hash as the SDKs all
/// write them; Python and JavaScript differ on `true` and `1.0`, and Python, the
/// reference, is followed.
fn bucket_key(value: &Value) -> Option<String> {
    if !python_true(value) {
        return None;
    }
    Some(match value {
        Value::String(s) => s.clone(),
        Value::Bool(_) => "True".into(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) => python_float(f),
            _ => n.to_string(),
        },
        other => other.to_string(),
    })
}

/// Python's `str(float)` for the floats JSON brings: the shortest text that reads back,
/// `.0` on whole numbers, and from 1e16 up or below 1e-4 an exponent with a sign and at
/// least two digits (`1e+16`, `1e-07`).
fn python_float(f: f64) -> String {
    let plain = f == 0.0 || (1e-4..1e16).contains(&f.abs());
    if plain {
        return if f.fract() == 0.0 { format!("{f:.1}") } else { format!("{f}") };
    }
    let text = format!("{f:e}");
    let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
    let (sign, digits) = match exponent.strip_prefix('-') {
        Some(d) => ('-', d),
        None => ('+', exponent),
    };
    format!("{mantissa}e{sign}{digits:0>2}")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn flag(body: Value) -> Compiled {
        let spec: FlagSpec = serde_json::from_value(body).expect("a definition");
        assert_eq!(spec.check(), Vec::<(String, String)>::new());
        Compiled::new(spec)
    }

    fn variant_of(flag: &Compiled, context: Value) -> Option<String> {
        let context = context.as_object().expect("object").clone();
        flag.evaluate(&context, &Properties::of(&context)).map(|s| s.variant_key)
    }

    fn checkout(salt: Value, percentage: f64) -> Compiled {
        flag(json!({
            "name": "Checkout", "key": "new_checkout_flow", "context": "distinct_id", "serving_method": "server",
            "hash_salt": salt, "status": "enabled", "tags": [],
            "ruleset": {
                "variants": [
                    {"key": "treatment", "value": true, "is_control": false, "split": 0.5},
                    {"key": "control", "value": false, "is_control": true, "split": 0.5}
                ],
                "rollout": [{"rollout_percentage": percentage, "variant_splits": {}}],
                "test": {"users": {"qa": "TREATMENT"}}
            }
        }))
    }

    #[test]
    fn the_reference_vectors_choose_the_reference_variants() {
        // user123: legacy rollout hash 0.27, variant hash 0.59; salted 0.74 and 0.79.
        let legacy = checkout(Value::Null, 0.28);
        assert_eq!(variant_of(&legacy, json!({"distinct_id": "user123"})).as_deref(), Some("treatment"));
        assert_eq!(variant_of(&checkout(Value::Null, 0.27), json!({"distinct_id": "user123"})), None);
        let salted = checkout(json!("0123456789abcdef0123456789abcdef"), 0.75);
        assert_eq!(variant_of(&salted, json!({"distinct_id": "user123"})).as_deref(), Some("treatment"));
        assert_eq!(
            variant_of(&checkout(json!("0123456789abcdef0123456789abcdef"), 0.74), json!({"distinct_id": "user123"})),
            None
        );
    }

    #[test]
    fn testers_come_first_and_match_without_case() {
        let f = checkout(Value::Null, 0.0);
        let context = json!({"distinct_id": "qa"});
        let chosen = f.evaluate(context.as_object().expect("object"), &Properties::default()).expect("a variant");
        assert_eq!((chosen.variant_key.as_str(), chosen.is_qa_tester), ("treatment", true));
    }

    #[test]
    fn a_cohort_group_takes_only_its_members_and_the_next_group_the_rest() {
        let f = flag(json!({
            "name": "Beta", "key": "beta",
            "context": "distinct_id", "serving_method": "server", "status": "enabled", "tags": [],
            "ruleset": {
                "variants": [{"key": "on", "value": true, "is_control": false, "split": 1.0},
                             {"key": "off", "value": false, "is_control": true, "split": 0.0}],
                "rollout": [
                    {"rollout_percentage": 1.0, "cohort_definition": {"id": 7}, "variant_splits": {}},
                    {"rollout_percentage": 1.0, "variant_splits": {"on": 0.0, "off": 1.0}}
                ]
            }
        }));
        assert_eq!(f.cohorts(), vec![7]);
        let context = json!({"distinct_id": "u1"});
        let context = context.as_object().expect("object");
        let chosen = |member: &dyn Fn(i64) -> bool| {
            f.evaluate_in(context, &Properties::default(), member).map(|s| s.variant_key)
        };
        assert_eq!(f.cohorts_to_check(context, &Properties::default()), vec![7]);
        assert_eq!(
            f.cohorts_to_check(&json!({"device_id": "d"}).as_object().cloned().unwrap(), &Properties::default()),
            Vec::<i64>::new()
        );
        assert_eq!(chosen(&|c| c == 7).as_deref(), Some("on"));
        assert_eq!(chosen(&|c| c == 8).as_deref(), Some("off"));
        assert_eq!(f.evaluate(context, &Properties::default()).map(|s| s.variant_key).as_deref(), Some("off"));
    }

    #[test]
    fn a_missing_or_false_context_key_gets_nothing() {
        let f = checkout(Value::Null, 1.0);
        assert_eq!(variant_of(&f, json!({"device_id": "d"})), None);
        assert_eq!(variant_of(&f, json!({"distinct_id": ""})), None);
        assert_eq!(variant_of(&f, json!({"distinct_id": 0})), None);
    }

    #[test]
    fn context_values_hash_as_python_writes_them() {
        assert_eq!(bucket_key(&json!(12)).as_deref(), Some("12"));
        assert_eq!(bucket_key(&json!(1.0)).as_deref(), Some("1.0"));
        assert_eq!(bucket_key(&json!(0.5)).as_deref(), Some("0.5"));
        assert_eq!(bucket_key(&json!(true)).as_deref(), Some("True"));
        assert_eq!(bucket_key(&json!(1e20)).as_deref(), Some("1e+20"));
        assert_eq!(bucket_key(&json!(1e-7)).as_deref(), Some("1e-07"));
        assert_eq!(bucket_key(&json!(0.0001)).as_deref(), Some("0.0001"));
        assert_eq!(bucket_key(&json!(1.5e16)).as_deref(), Some("1.5e+16"));
    }
}
