//! The engage query's parameters (`/api/query/engage`, `/api/2.0/engage`), read into an
//! [`EngageRequest`] apart from HTTP: the server reads them from the query string or a
//! form body alike (mixpanel-utils sends everything in the query string of a GET).
//!
//! - `distinct_id` (one id) or `distinct_ids` (a JSON array), not both;
//!   `data_group_id` queries that group key's profiles instead of users';
//! - `output_properties`: a JSON array of the properties to return;
//! - `page` (from 0), `page_size` (1 to [`PAGE_SIZE`]) and `session_id` (the snapshot
//!   page 0 answered);
//! - `where`: an expression over `properties[...]` and `behaviors[...]`;
//! - `behaviors` (the engage form: `[{"window": "30d", "name": ..., "event_selectors":
//!   [...]}]`), windows ending at `as_of_timestamp` (epoch seconds) or now;
//! - `filter_by_cohort` (`{"id": N}`), in place of `behaviors`: a saved cohort's
//!   definition joins the `where` ([`EngageRequest::definition`]); cohorts hold user
//!   profiles only, so `include_all_users` (allowed only with it) changes nothing.
//!
//! Mistakes are [`FieldErrors`] of [`INVALID`]: every simple one at once, then the
//! first of `behaviors` and `filter_by_cohort` that cannot be read.

use serde_json::Value;
use sextant_model::profile::USER_PROFILES;
use sextant_model::{Behavior, CohortDefinition, CohortId};

use crate::FieldErrors;
use crate::params::Params;

/// Profiles per page unless `page_size` says otherwise, and the most it may say.
pub const PAGE_SIZE: u64 = 1000;

/// The context of every mistake in an engage query.
pub const INVALID: &str = "invalid engage query";

/// A checked engage query.
#[derive(Clone, Debug)]
pub struct EngageRequest {
    /// Only these ids (`distinct_id`, `distinct_ids`), when given.
    pub ids: Option<Vec<String>>,
    /// Only these properties in the answer, when given.
    pub output_properties: Option<Vec<String>>,
    /// The page, from 0.
    pub page: u64,
    /// Profiles per page.
    pub page_size: u64,
    /// Where behaviour windows end, epoch ms.
    pub as_of_ms: i64,
    /// `data_group_id`, or [`USER_PROFILES`].
    pub group_key: String,
    /// The snapshot an earlier page started.
    pub session_id: Option<String>,
    /// The request's own `where`.
    pub where_: Option<String>,
    /// The request's own `behaviors`.
    pub behaviors: Vec<Behavior>,
    /// `filter_by_cohort`'s cohort, whose definition the caller reads.
    pub cohort: Option<CohortId>,
}

impl EngageRequest {
    /// Reads the parameters, `now_ms` being when behaviour windows end unless
    /// `as_of_timestamp` says otherwise.
    pub fn parse(params: &Params<'_>, now_ms: i64) -> Result<EngageRequest, FieldErrors> {
        let mut problems = Vec::new();
        let ids = match (params.text("distinct_id"), params.text("distinct_ids")) {
            (Some(one), None) => Some(vec![one.to_string()]),
            (None, Some(list)) => match string_list(list) {
                Some(ids) => Some(ids),
                None => {
                    problems.push(("distinct_ids".into(), "must be a JSON array of strings".into()));
                    None
                }
            },
            (Some(_), Some(_)) => {
                problems.push(("distinct_id".into(), "give `distinct_id` or `distinct_ids`, not both".into()));
                None
            }
            (None, None) => None,
        };
        let output_properties = match params.text("output_properties") {
            None => None,
            Some(list) => match string_list(list) {
                Some(names) => Some(names),
                None => {
                    problems.push(("output_properties".into(), "must be a JSON array of property names".into()));
                    None
                }
            },
        };
        let page = number(params, "page", &mut problems, 0, 0..=1_000_000_000);
        let page_size = number(params, "page_size", &mut problems, PAGE_SIZE, 1..=PAGE_SIZE);
        let as_of_ms = match params.text("as_of_timestamp") {
            None => now_ms,
            Some(v) => match v.parse::<i64>() {
                Ok(s) if s > 0 => s.saturating_mul(1000),
                _ => {
                    problems.push(("as_of_timestamp".into(), "must be epoch seconds".into()));
                    0
                }
            },
        };
        let behaviors_param = params.text("behaviors");
        let cohort_param = params.text("filter_by_cohort");
        if behaviors_param.is_some() && cohort_param.is_some() {
            problems.push(("behaviors".into(), "give `behaviors` or `filter_by_cohort`, not both".into()));
        }
        if let Some(v) = params.text("include_all_users") {
            if cohort_param.is_none() {
                problems.push(("include_all_users".into(), "only applies with `filter_by_cohort`".into()));
            } else if !matches!(v, "true" | "false" | "1" | "0") {
                problems.push(("include_all_users".into(), "must be true or false".into()));
            }
        }
        if !problems.is_empty() {
            return Err(FieldErrors::new(INVALID, problems));
        }
        let behaviors = match behaviors_param {
            None => Vec::new(),
            Some(list) => serde_json::from_str::<Vec<Behavior>>(list).map_err(|e| {
                FieldErrors::one(
                    INVALID,
                    "behaviors",
                    format!("must be a JSON list of {{window, name, event_selectors}}: {e}"),
                )
            })?,
        };
        let cohort = match cohort_param {
            None => None,
            Some(cohort) => Some(CohortId(cohort_id(cohort).ok_or_else(|| {
                FieldErrors::one(INVALID, "filter_by_cohort", "must be a JSON object with the cohort's `id`")
            })?)),
        };
        Ok(EngageRequest {
            ids,
            output_properties,
            page,
            page_size,
            as_of_ms,
            group_key: params.text("data_group_id").unwrap_or(USER_PROFILES).to_string(),
            session_id: params.text("session_id").map(str::to_string),
            where_: params.text("where").map(str::to_string),
            behaviors,
            cohort,
        })
    }

    /// The request's own `where` and behaviours, then `cohort`'s (the definition of
    /// [`EngageRequest::cohort`], when it names one), as one definition: both `where`s
    /// must hold, and the cohort's behaviours are the ones counted.
    pub fn definition(&self, cohort: Option<CohortDefinition>) -> Result<CohortDefinition, FieldErrors> {
        let mut definition = CohortDefinition { where_: self.where_.clone(), behaviors: self.behaviors.clone() };
        if let Some(cohort) = cohort {
            definition.where_ = match (definition.where_.take(), cohort.where_) {
                (Some(a), Some(b)) => Some(
                    sextant_expr::conjunction(&b, &a).map_err(|e| FieldErrors::one(INVALID, "where", e.to_string()))?,
                ),
                (a, b) => a.or(b),
            };
            definition.behaviors = cohort.behaviors;
        }
        Ok(definition)
    }
}

/// A whole number in `range`, `default` when absent; a problem (and `default`) otherwise.
fn number(
    params: &Params<'_>,
    name: &str,
    problems: &mut Vec<(String, String)>,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> u64 {
    match params.text(name) {
        None => default,
        Some(v) => match v.parse::<u64>() {
            Ok(n) if range.contains(&n) => n,
            _ => {
                problems.push((
                    name.to_string(),
                    format!("must be a whole number from {} to {}", range.start(), range.end()),
                ));
                default
            }
        },
    }
}

/// A JSON array of strings (numbers are taken as their text).
fn string_list(text: &str) -> Option<Vec<String>> {
    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(text) else { return None };
    items
        .into_iter()
        .map(|v| match v {
            Value::String(s) => Some(s),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .collect()
}

/// The `id` of a `filter_by_cohort` object, a number or a numeric string.
fn cohort_id(text: &str) -> Option<i64> {
    let v = serde_json::from_str::<Value>(text).ok()?;
    let id = v.get("id")?;
    id.as_i64().or_else(|| id.as_str().and_then(|s| s.parse().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<EngageRequest, FieldErrors> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let params = Params::new(|name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()));
        EngageRequest::parse(&params, 5_000)
    }

    #[test]
    fn defaults_and_lists() {
        let r = parse(&[("distinct_ids", r#"["a", 7]"#), ("output_properties", r#"["$name"]"#)]).unwrap();
        assert_eq!(r.ids, Some(vec!["a".to_string(), "7".to_string()]));
        assert_eq!((r.page, r.page_size, r.as_of_ms), (0, PAGE_SIZE, 5_000));
        assert_eq!(r.group_key, USER_PROFILES);
        let r = parse(&[("filter_by_cohort", r#"{"id": "12"}"#), ("as_of_timestamp", "7")]).unwrap();
        assert_eq!((r.cohort, r.as_of_ms), (Some(CohortId(12)), 7_000));
    }

    #[test]
    fn every_simple_mistake_is_named_at_once() {
        let e = parse(&[("distinct_id", "a"), ("distinct_ids", "[]"), ("page_size", "0"), ("include_all_users", "1")])
            .unwrap_err();
        let fields: Vec<&str> = e.fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(fields, ["distinct_id", "page_size", "include_all_users"]);
        assert_eq!(parse(&[("behaviors", "[1]")]).unwrap_err().fields[0].0, "behaviors");
        assert_eq!(parse(&[("filter_by_cohort", "7")]).unwrap_err().fields[0].0, "filter_by_cohort");
    }

    #[test]
    fn a_cohort_joins_the_where() {
        let r = parse(&[("where", "properties[\"a\"] == 1"), ("filter_by_cohort", r#"{"id": 1}"#)]).unwrap();
        let cohort = CohortDefinition { where_: Some("properties[\"b\"] == 2".into()), behaviors: Vec::new() };
        let joined = r.definition(Some(cohort)).unwrap().where_.unwrap();
        assert!(joined.contains("\"a\"") && joined.contains("\"b\""), "{joined}");
        assert_eq!(r.definition(None).unwrap().where_.as_deref(), Some("properties[\"a\"] == 1"));
    }
}
