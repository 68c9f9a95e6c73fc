//! Runtime rules: a rollout group's JSONLogic `runtime_evaluation_rule`, or its
//! deprecated `runtime_evaluation_definition`, against the context's
//! `custom_properties`, as the official SDKs evaluate them (mixpanel-python's
//! `_is_runtime_rules_engine_satisfied` is the reference):
//!
//! - the properties' keys and string values are lower-cased, and so are the string
//!   leaves of the rule (its operators are keys, and stay as they are), so matching
//!   ignores case;
//! - missing or empty `custom_properties` satisfy no rule; an error satisfies none
//!   either;
//! - a result counts by Python's truth (`bool(result)`): empty strings, lists and
//!   objects, zero and null are false;
//! - the deprecated definition is property -> value, every one present and equal
//!   without regard to case.
//!
//! Rules are compiled once, when a project's flags are loaded, by `datalogic-rs` with
//! the SDKs' two custom operators ([`crate::operators`]).

use std::sync::{Arc, LazyLock};

use datalogic_rs::bumpalo::Bump;
use datalogic_rs::datavalue::NumberValue;
use datalogic_rs::operator::EvalContext;
use datalogic_rs::{ArenaExt, CustomOperator, DataValue, Engine, Logic};
use serde_json::{Map, Value};

use crate::operators::{self, Millis};

/// The one engine: JSONLogic's operators and the SDKs' two.
static ENGINE: LazyLock<Engine> = LazyLock::new(|| {
    Engine::builder()
        .add_operator("semver_compare", SemverCompare)
        .add_operator("datetime_compare", DatetimeCompare)
        .build()
});

struct SemverCompare;

impl CustomOperator for SemverCompare {
    fn evaluate<'a>(
        &self,
        args: &[&'a DataValue<'a>],
        _ctx: &mut EvalContext<'_, 'a>,
        arena: &'a Bump,
    ) -> datalogic_rs::Result<&'a DataValue<'a>> {
        let verdict = match args {
            [DataValue::String(actual), DataValue::String(symbol), DataValue::String(target)] => {
                operators::semver_compare(actual, symbol, target)
            }
            _ => false,
        };
        Ok(arena.bool(verdict))
    }
}

struct DatetimeCompare;

impl CustomOperator for DatetimeCompare {
    fn evaluate<'a>(
        &self,
        args: &[&'a DataValue<'a>],
        _ctx: &mut EvalContext<'_, 'a>,
        arena: &'a Bump,
    ) -> datalogic_rs::Result<&'a DataValue<'a>> {
        let verdict = match args {
            [DataValue::String(actual), DataValue::String(symbol), DataValue::Number(target)] => {
                let target = match *target {
                    NumberValue::Integer(n) => Millis::Integer(n),
                    NumberValue::Float(f) => Millis::Float(f),
                };
                operators::datetime_compare(actual, symbol, target)
            }
            _ => false,
        };
        Ok(arena.bool(verdict))
    }
}

/// A compiled runtime rule.
#[derive(Clone)]
pub struct Rule(Arc<Logic>);

impl std::fmt::Debug for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Rule")
    }
}

impl Rule {
    /// Compiles a rule as stored (its string leaves are lower-cased here), or says why
    /// it is no rule.
    pub fn compile(rule: &Value) -> Result<Rule, String> {
        if !rule.is_object() {
            return Err("must be a JSONLogic rule: an object".into());
        }
        let text = lowercase(rule, false).to_string();
        let logic = ENGINE.compile(text.as_str()).map_err(|e| format!("is no JSONLogic rule: {e}"))?;
        // Operators are looked up as the rule runs: one run over no properties finds a
        // name that is no operator, which would fail every evaluation.
        let arena = Bump::new();
        if let Err(e) = ENGINE.evaluate(&logic, "{}", &arena)
            && matches!(e.kind, datalogic_rs::ErrorKind::InvalidOperator(_))
        {
            return Err(format!("is no JSONLogic rule: {e}"));
        }
        Ok(Rule(Arc::new(logic)))
    }

    /// Whether the rule holds for `properties` (already [`Properties::of`]).
    pub fn holds(&self, properties: &Properties) -> bool {
        let Some(text) = &properties.json else { return false };
        let arena = Bump::new();
        let Ok(data) = DataValue::from_str(text, &arena) else { return false };
        match ENGINE.evaluate(&self.0, data, &arena) {
            Ok(result) => python_truth(result),
            Err(_) => false,
        }
    }
}

/// Python's `bool()` of a rule's result.
fn python_truth(value: &DataValue<'_>) -> bool {
    match value {
        DataValue::Null => false,
        DataValue::Bool(b) => *b,
        DataValue::Number(NumberValue::Integer(n)) => *n != 0,
        DataValue::Number(NumberValue::Float(f)) => *f != 0.0,
        DataValue::String(s) => !s.is_empty(),
        DataValue::Array(items) => !items.is_empty(),
        DataValue::Object(members) => !members.is_empty(),
        #[allow(unreachable_patterns)] // date and duration values, behind features not enabled
        _ => true,
    }
}

/// A context's `custom_properties`, lower-cased once for every rule of a request.
#[derive(Debug, Default)]
pub struct Properties {
    /// Lower-cased, for the deprecated definitions.
    map: Option<Map<String, Value>>,
    /// The same as JSON text, for JSONLogic.
    json: Option<String>,
}

impl Properties {
    /// The properties of a context (`None` when it has no non-empty object of them).
    pub fn of(context: &Map<String, Value>) -> Properties {
        match context.get("custom_properties") {
            Some(Value::Object(p)) if !p.is_empty() => {
                let map: Map<String, Value> = p.iter().map(|(k, v)| (k.to_lowercase(), lowercase(v, true))).collect();
                let json = Some(Value::Object(map.clone()).to_string());
                Properties { map: Some(map), json }
            }
            _ => Properties::default(),
        }
    }

    /// Whether every property of a deprecated definition is present and equal without
    /// regard to case (a value that is not a string matches nothing).
    pub fn match_definition(&self, definition: &Map<String, Value>) -> bool {
        let Some(map) = &self.map else { return false };
        definition.iter().all(|(key, expected)| match (map.get(key), expected) {
            (Some(Value::String(actual)), Value::String(expected)) => *actual == expected.to_lowercase(),
            _ => false,
        })
    }
}

/// String values lower-cased all the way down, and keys too when `keys` (the
/// properties' keys are; a rule's keys are its operators, and stay).
fn lowercase(value: &Value, keys: bool) -> Value {
    match value {
        Value::String(s) => Value::String(s.to_lowercase()),
        Value::Array(items) => Value::Array(items.iter().map(|v| lowercase(v, keys)).collect()),
        Value::Object(members) => Value::Object(
            members
                .iter()
                .map(|(k, v)| (if keys { k.to_lowercase() } else { k.clone() }, lowercase(v, keys)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn holds(rule: Value, properties: Value) -> bool {
        let context = json!({"distinct_id": "u", "custom_properties": properties});
        Rule::compile(&rule).expect("compiles").holds(&Properties::of(context.as_object().expect("object")))
    }

    #[test]
    fn case_is_ignored_on_both_sides() {
        assert!(holds(json!({"==": [{"var": "Platform"}, "WEB"]}), json!({"PLATFORM": "Web"})));
        assert!(holds(json!({"in": ["US", {"var": "country"}]}), json!({"country": "us"})));
        assert!(!holds(json!({"==": [{"var": "platform"}, "web"]}), json!({"platform": "ios"})));
    }

    #[test]
    fn no_properties_satisfy_no_rule() {
        let rule = Rule::compile(&json!({"!": [{"var": "x"}]})).expect("compiles");
        assert!(!rule.holds(&Properties::of(json!({"distinct_id": "u"}).as_object().expect("object"))));
        assert!(!holds(json!({"!": [{"var": "x"}]}), json!({})));
    }

    #[test]
    fn results_count_by_python_truth() {
        assert!(!holds(json!({"var": "list"}), json!({"list": []})));
        assert!(holds(json!({"var": "n"}), json!({"n": 2})));
        assert!(!holds(json!({"var": "missing"}), json!({"n": 2})));
    }

    #[test]
    fn the_custom_operators_are_registered() {
        assert!(holds(json!({"semver_compare": [{"var": "v"}, ">=", "2.1"]}), json!({"v": "V2.10.0"})));
        assert!(holds(
            json!({"datetime_compare": [{"var": "t"}, "<", 1_784_160_000_000_i64]}),
            json!({"t": "2026-07-15T00:00:00z"})
        ));
    }

    #[test]
    fn what_is_no_rule_is_refused() {
        assert!(Rule::compile(&json!("yes")).is_err());
        assert!(Rule::compile(&json!({"no_such_operator": [1]})).is_err());
    }

    /// The SDKs' golden vectors (`tests/data`, copied from mixpanel-python's
    /// `mixpanel/flags/test-data`, the cross-SDK contract), each run through the engine
    /// as `{"<op>": [{"var": "value"}, symbol, target]}`, without the lower-casing flags
    /// add, as the SDKs' own tests run them.
    fn golden(operator: &str) -> usize {
        let path = format!("{}/tests/data/{operator}_compare_tests.json", env!("CARGO_MANIFEST_DIR"));
        let entries: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(path).expect("vectors")).expect("JSON");
        let mut cases = 0;
        for entry in entries.iter().filter_map(Value::as_array) {
            let [subject, symbol, target, want] = entry.as_slice() else { panic!("a case is four values: {entry:?}") };
            let rule = json!({ format!("{operator}_compare"): [{"var": "value"}, symbol, target] }).to_string();
            let data = if subject.is_null() { json!({}) } else { json!({ "value": subject }) }.to_string();
            let logic = ENGINE.compile(rule.as_str()).expect("compiles");
            let arena = Bump::new();
            let result = ENGINE.evaluate(&logic, data.as_str(), &arena).expect("evaluates");
            assert_eq!(
                python_truth(result),
                want.as_bool().expect("a verdict"),
                "{operator}: {subject} {symbol} {target}"
            );
            cases += 1;
        }
        cases
    }

    #[test]
    fn semver_compare_matches_the_golden_vectors() {
        assert_eq!(golden("semver"), 124);
    }

    #[test]
    fn datetime_compare_matches_the_golden_vectors() {
        assert_eq!(golden("datetime"), 79);
    }

    #[test]
    fn deprecated_definitions_match_without_case() {
        let p = Properties::of(json!({"custom_properties": {"Plan": "Gold", "n": 3}}).as_object().expect("object"));
        assert!(p.match_definition(json!({"plan": "GOLD"}).as_object().expect("object")));
        assert!(!p.match_definition(json!({"Plan": "gold"}).as_object().expect("object")));
        assert!(!p.match_definition(json!({"n": "3"}).as_object().expect("object")));
    }
}
