//! An experiment as Mixpanel's experiments API (`experiments.openapi.yaml`) keeps it, and
//! its lifecycle: `draft` → `launch` → `active` → `force_conclude` → `concluded`, and
//! `decide` (from `active` or `concluded`) → `success` or `fail`.
//!
//! An experiment reads a feature flag: `settings.feature_flag_id` names one of the
//! project's flags (Sextant's spelling; the spec leaves `settings` open). Launching it
//! marks the flag's experiment as running (`experiment_id`, `is_experiment_active`), so
//! every SDK's `$experiment_started` carries it; concluding or deciding marks it stopped.
//! `variants`, `metrics`, `exposures_cache` and `results_cache` are kept as sent.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::definition::Problem;

/// The longest name (the spec's `maxLength`).
pub const MAX_NAME_CHARS: usize = 255;
/// The longest description (the spec's `maxLength`).
pub const MAX_DESCRIPTION_CHARS: usize = 400;

/// Where an experiment is in its life.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExperimentStatus {
    /// Being set up (the default).
    #[default]
    Draft,
    /// Running: its flag's exposures count.
    Active,
    /// Stopped without a decision.
    Concluded,
    /// Decided: the change shipped.
    Success,
    /// Decided: the change did not ship.
    Fail,
}

impl ExperimentStatus {
    /// As the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ExperimentStatus::Draft => "draft",
            ExperimentStatus::Active => "active",
            ExperimentStatus::Concluded => "concluded",
            ExperimentStatus::Success => "success",
            ExperimentStatus::Fail => "fail",
        }
    }

    /// Whether it is running.
    pub fn is_running(self) -> bool {
        self == ExperimentStatus::Active
    }

    /// The status after a move to `to`, or why the move is not allowed: forward only
    /// (draft, active, concluded, then a decision), never back.
    pub fn move_to(self, to: ExperimentStatus) -> Result<ExperimentStatus, String> {
        use ExperimentStatus::*;
        let allowed =
            matches!((self, to), (Draft, Active) | (Active, Concluded) | (Active | Concluded, Success | Fail))
                || self == to;
        if allowed {
            Ok(to)
        } else {
            Err(format!("an experiment that is {} cannot become {}", self.as_str(), to.as_str()))
        }
    }
}

/// How an experiment was decided.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Decision {
    /// Whether the change shipped.
    pub success: bool,
    /// The variant chosen.
    #[serde(default)]
    pub variant: Option<String>,
    /// Why.
    #[serde(default)]
    pub message: Option<String>,
}

/// What an experiment says: the spec's request fields (lifecycle fields apart).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExperimentSpec {
    /// Its name.
    pub name: String,
    /// A note (at most 400 characters).
    #[serde(default)]
    pub description: Option<String>,
    /// What it expects to learn.
    #[serde(default)]
    pub hypothesis: Option<String>,
    /// Settings; `feature_flag_id` names the flag it reads.
    #[serde(default)]
    pub settings: Map<String, Value>,
    /// Its variants, as sent.
    #[serde(default)]
    pub variants: Vec<Value>,
    /// Its metrics, as sent.
    #[serde(default)]
    pub metrics: Vec<Value>,
    /// Labels.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Who may see it, as sent.
    #[serde(default)]
    pub global_access_type: Option<String>,
    /// As sent.
    #[serde(default)]
    pub exposures_cache: Map<String, Value>,
    /// As sent.
    #[serde(default)]
    pub results_cache: Map<String, Value>,
    /// How it was decided.
    #[serde(default)]
    pub decision: Option<Decision>,
}

/// What a create or update body changes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExperimentChange {
    /// The fields of the spec the body named, applied over the stored ones.
    pub fields: Map<String, Value>,
    /// A status the body asked for.
    pub status: Option<ExperimentStatus>,
    /// `start_date`, as sent.
    pub start_date: Option<String>,
    /// `end_date`, as sent.
    pub end_date: Option<String>,
}

/// The fields a body may change, beyond the lifecycle's.
const SPEC_FIELDS: [&str; 10] = [
    "name",
    "description",
    "hypothesis",
    "settings",
    "variants",
    "metrics",
    "tags",
    "global_access_type",
    "exposures_cache",
    "results_cache",
];

impl ExperimentChange {
    /// Reads a create (`creating`) or update body: an object of the spec's fields only.
    pub fn parse(body: Value, creating: bool) -> Result<ExperimentChange, Vec<Problem>> {
        let Value::Object(fields) = body else { return Err(vec![("body".into(), "must be a JSON object".into())]) };
        let mut change = ExperimentChange::default();
        let mut problems = Vec::new();
        for (key, value) in fields {
            match key.as_str() {
                "status" if !creating => match value.as_str().and_then(parse_status) {
                    Some(s) => change.status = Some(s),
                    None => problems.push((key, "must be draft, active, concluded, success or fail".into())),
                },
                "start_date" | "end_date" if !creating => match value {
                    Value::String(text) if chrono::DateTime::parse_from_rfc3339(&text).is_ok() => {
                        if key == "start_date" {
                            change.start_date = Some(text);
                        } else {
                            change.end_date = Some(text);
                        }
                    }
                    _ => problems.push((key, "must be an ISO 8601 date and time with its offset".into())),
                },
                k if SPEC_FIELDS.contains(&k) => {
                    change.fields.insert(key, value);
                }
                _ => problems.push((key, "is not a field of an experiment".into())),
            }
        }
        if creating && !change.fields.contains_key("name") {
            problems.push(("name".into(), "is required".into()));
        }
        if problems.is_empty() { Ok(change) } else { Err(problems) }
    }

    /// `spec` with this change applied, checked.
    pub fn apply(&self, spec: &ExperimentSpec) -> Result<ExperimentSpec, Vec<Problem>> {
        let mut merged = match serde_json::to_value(spec) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        for (k, v) in &self.fields {
            merged.insert(k.clone(), v.clone());
        }
        let spec: ExperimentSpec =
            serde_json::from_value(Value::Object(merged)).map_err(|e| vec![("body".into(), e.to_string())])?;
        let problems = spec.check();
        if problems.is_empty() { Ok(spec) } else { Err(problems) }
    }
}

fn parse_status(text: &str) -> Option<ExperimentStatus> {
    use ExperimentStatus::*;
    [Draft, Active, Concluded, Success, Fail].into_iter().find(|s| s.as_str() == text)
}

impl ExperimentSpec {
    /// Every problem with it.
    pub fn check(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let n = self.name.trim().chars().count();
        if n == 0 || n > MAX_NAME_CHARS {
            problems.push(("name".into(), format!("must be 1 to {MAX_NAME_CHARS} characters")));
        }
        if self.description.as_ref().is_some_and(|d| d.chars().count() > MAX_DESCRIPTION_CHARS) {
            problems.push(("description".into(), format!("must be at most {MAX_DESCRIPTION_CHARS} characters")));
        }
        match self.settings.get("feature_flag_id") {
            None | Some(Value::Null) | Some(Value::String(_)) => {}
            Some(_) => problems.push(("settings.feature_flag_id".into(), "must be a flag's id (a string)".into())),
        }
        problems
    }

    /// The flag it reads, if it names one.
    pub fn flag_id(&self) -> Option<&str> {
        self.settings.get("feature_flag_id").and_then(Value::as_str)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_lifecycle_moves_forward_only() {
        use ExperimentStatus::*;
        assert_eq!(Draft.move_to(Active), Ok(Active));
        assert_eq!(Active.move_to(Concluded), Ok(Concluded));
        assert_eq!(Concluded.move_to(Fail), Ok(Fail));
        assert_eq!(Active.move_to(Success), Ok(Success));
        assert!(Draft.move_to(Concluded).is_err());
        assert!(Success.move_to(Active).is_err());
        assert!(Concluded.move_to(Active).is_err());
    }

    #[test]
    fn bodies_name_every_mistake() {
        let problems = ExperimentChange::parse(json!({"status": "active", "bogus": 1}), true).unwrap_err();
        let fields: Vec<&str> = problems.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["bogus", "status", "name"], "a new experiment takes no status, and needs a name");
        let change = ExperimentChange::parse(json!({"name": "A", "settings": {"feature_flag_id": 3}}), true).unwrap();
        let problems = change.apply(&ExperimentSpec::default()).unwrap_err();
        assert_eq!(problems[0].0, "settings.feature_flag_id");
        let change = ExperimentChange::parse(json!({"end_date": "yesterday"}), false).unwrap_err();
        assert_eq!(change[0].0, "end_date");
    }
}
