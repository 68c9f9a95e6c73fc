//! Per-record validation of `/engage` and `/groups` updates (wire-semantics §1.7, §1.8).
//!
//! A record names its profile (`$distinct_id`, or `$group_key` and `$group_id`), carries
//! one or more operations, and may carry the modifiers `$token`, `$time`,
//! `$ignore_time`, `$ip`, `$ignore_alias`, `$latitude`/`$longitude`. Keys the official
//! SDKs add that change nothing here (`$device_id`, `$user_id`,
//! `$had_persisted_distinct_id`, `$mp_lib`...) are ignored.
//!
//! An operation over a profile limit that the record alone shows (a list longer than a
//! profile's list may be, a value over 256 KiB of JSON, a `$union` or `$append` carrying
//! more than [`MAX_PROFILE_OPERATION_ITEMS`](sextant_model::limits::MAX_PROFILE_OPERATION_ITEMS) items: [`check_operation`]) makes the record
//! a failed record, as `strict=1` reports them; the rest of the batch is kept. Limits
//! that depend on the stored profile are applied by the writer
//! ([`sextant_model::profile::apply`]).

use serde_json::{Map, Value};
use sextant_model::limits::{MAX_EVENT_BYTES, MAX_STRING_CHARS};
use sextant_model::profile::{USER_PROFILES, check_operation};
use sextant_model::time::time_value_to_ms;
use sextant_model::{ProfileKey, ProfileOp, ProfileUpdate, ProjectId};

use crate::error::RecordError;

/// Which kind of profile the endpoint updates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProfileKind {
    /// `/engage`: user profiles.
    User,
    /// `/groups`: group profiles.
    Group,
}

/// A valid update whose token still has to be resolved to a project.
#[derive(Clone, Debug, PartialEq)]
pub struct NormalizedProfileUpdate {
    /// `$token`, if the record carried one.
    pub token: Option<String>,
    /// `$group_key` ([`USER_PROFILES`] for users).
    pub group_key: String,
    /// `$distinct_id` or `$group_id`.
    pub id: String,
    /// The operations, in the order they apply.
    pub ops: Vec<ProfileOp>,
    /// `$time`, else the arrival time.
    pub time_ms: i64,
    /// `$ignore_time`.
    pub ignore_time: bool,
    /// `$ignore_alias`.
    pub ignore_alias: bool,
    /// `$ip`: which address places the profile (see [`crate::geo`]).
    pub address: crate::geo::AddressChoice,
    /// `$latitude` and `$longitude`, when both are numbers.
    pub coordinates: Option<(f64, f64)>,
}

impl NormalizedProfileUpdate {
    /// The storable update, once the project is known. In Original ID Merge
    /// (`resolve_aliases`) a user update goes to its id's cluster unless `$ignore_alias`.
    pub fn into_update(self, project_id: ProjectId, resolve_aliases: bool) -> ProfileUpdate {
        let resolve_identity = resolve_aliases && !self.ignore_alias && self.group_key == USER_PROFILES;
        ProfileUpdate {
            key: ProfileKey { project_id, group_key: self.group_key, id: self.id },
            ops: self.ops,
            time_ms: self.time_ms,
            ignore_time: self.ignore_time,
            resolve_identity,
        }
    }
}

/// The operations in the order they apply when a record carries several.
const OPERATIONS: [&str; 8] = ["$set", "$set_once", "$add", "$union", "$append", "$remove", "$unset", "$delete"];

/// Validates one record (`raw` is its JSON text); `now_ms` is the arrival time.
pub fn normalize_profile_update(
    raw: &str,
    kind: ProfileKind,
    now_ms: i64,
) -> Result<NormalizedProfileUpdate, RecordError> {
    if raw.len() > MAX_EVENT_BYTES {
        return Err(RecordError::invalid("$set", format!("the update is over {MAX_EVENT_BYTES} bytes")));
    }
    let record: Map<String, Value> = match serde_json::from_str(raw) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return Err(RecordError::invalid("record", "a profile update must be a JSON object")),
        Err(e) => return Err(RecordError::invalid("record", format!("not valid JSON: {e}"))),
    };
    let token = match record.get("$token") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Some(_) => return Err(RecordError::invalid("$token", "must be a non-empty string")),
    };
    let (group_key, id) = match kind {
        ProfileKind::User => (USER_PROFILES.to_string(), identifier(&record, "$distinct_id")?),
        ProfileKind::Group => {
            if record.contains_key("$distinct_id") {
                return Err(RecordError::invalid(
                    "$distinct_id",
                    "is not allowed on group profile updates; name the group with $group_key and $group_id",
                ));
            }
            let key = identifier(&record, "$group_key")?;
            (key, identifier(&record, "$group_id")?)
        }
    };
    let time_ms = match record.get("$time") {
        None | Some(Value::Null) => now_ms,
        Some(v) => v
            .as_f64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            .and_then(time_value_to_ms)
            .ok_or_else(|| RecordError::invalid("$time", "must be epoch seconds or milliseconds"))?,
    };
    let ignore_time = flag(&record, "$ignore_time")?;
    let ignore_alias = flag(&record, "$ignore_alias")?;
    let mut ops = Vec::new();
    for name in OPERATIONS {
        let Some(value) = record.get(name) else { continue };
        if kind == ProfileKind::Group && matches!(name, "$add" | "$append") {
            return Err(RecordError::invalid(name, "is not supported on group profiles"));
        }
        let op = operation(name, value)?;
        check_operation(&op).map_err(|refusal| RecordError::invalid(&refusal.field, refusal.reason))?;
        ops.push(op);
    }
    if ops.is_empty() {
        return Err(RecordError::invalid("record", format!("no operation: expected one of {}", OPERATIONS.join(", "))));
    }
    let address = crate::geo::AddressChoice::read(record.get("$ip"));
    let coordinates = crate::geo::coordinates(record.get("$latitude"), record.get("$longitude"));
    Ok(NormalizedProfileUpdate { token, group_key, id, ops, time_ms, ignore_time, ignore_alias, address, coordinates })
}

/// A boolean modifier, as the SDKs spell it (`true`, `1`, `"true"`).
fn flag(record: &Map<String, Value>, name: &str) -> Result<bool, RecordError> {
    match record.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::Number(n)) => Ok(n.as_f64() != Some(0.0)),
        Some(Value::String(s)) => Ok(matches!(s.trim().to_ascii_lowercase().as_str(), "true" | "1")),
        Some(_) => Err(RecordError::invalid(name, "must be a boolean")),
    }
}

/// A required identifier: a non-empty string (numbers are taken as their text).
fn identifier(record: &Map<String, Value>, name: &str) -> Result<String, RecordError> {
    let text = match record.get(name) {
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    if text.is_empty() {
        return Err(RecordError::invalid(name, "missing or empty"));
    }
    if text.chars().count() > MAX_STRING_CHARS {
        return Err(RecordError::invalid(name, format!("longer than {MAX_STRING_CHARS} characters")));
    }
    Ok(text)
}

fn operation(name: &str, value: &Value) -> Result<ProfileOp, RecordError> {
    let object = |value: &Value| -> Result<Map<String, Value>, RecordError> {
        match value {
            Value::Object(map) => Ok(map.clone()),
            _ => Err(RecordError::invalid(name, "must be an object of property names to values")),
        }
    };
    Ok(match name {
        "$set" => ProfileOp::Set(object(value)?),
        "$set_once" => ProfileOp::SetOnce(object(value)?),
        "$add" => {
            let values = object(value)?;
            if let Some((k, _)) = values.iter().find(|(_, v)| !v.is_number()) {
                return Err(RecordError::invalid(&format!("$add.{k}"), "must be a number"));
            }
            ProfileOp::Add(values)
        }
        "$union" => {
            let values = object(value)?;
            if let Some((k, _)) = values.iter().find(|(_, v)| !v.is_array()) {
                return Err(RecordError::invalid(&format!("$union.{k}"), "must be a list"));
            }
            ProfileOp::Union(values)
        }
        "$append" => ProfileOp::Append(object(value)?),
        "$remove" => ProfileOp::Remove(object(value)?),
        "$unset" => match value {
            Value::Array(items) => {
                let mut names = Vec::with_capacity(items.len());
                for item in items {
                    match item.as_str() {
                        Some(s) => names.push(s.to_string()),
                        None => return Err(RecordError::invalid("$unset", "must be a list of property names")),
                    }
                }
                ProfileOp::Unset(names)
            }
            Value::String(s) => ProfileOp::Unset(vec![s.clone()]),
            _ => return Err(RecordError::invalid("$unset", "must be a list of property names")),
        },
        _ => ProfileOp::Delete,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sextant_model::limits::MAX_PROFILE_OPERATION_ITEMS;

    const NOW: i64 = 1_700_000_000_000;

    #[test]
    fn a_python_sdk_update_is_read() {
        let u = normalize_profile_update(
            r#"{"$token":"t","$distinct_id":"u1","$time":1700000001.5,"$set":{"plan":"pro"},"$ignore_time":true}"#,
            ProfileKind::User,
            NOW,
        )
        .unwrap();
        assert_eq!(u.token.as_deref(), Some("t"));
        assert_eq!(u.id, "u1");
        assert_eq!(u.time_ms, 1_700_000_001_500);
        assert!(u.ignore_time);
        assert_eq!(u.ops.len(), 1);
    }

    #[test]
    fn group_rules() {
        let ok = normalize_profile_update(
            r#"{"$token":"t","$group_key":"company","$group_id":"Acme","$union":{"x":[1]}}"#,
            ProfileKind::Group,
            NOW,
        )
        .unwrap();
        assert_eq!((ok.group_key.as_str(), ok.id.as_str()), ("company", "Acme"));
        let with_distinct_id = r#"{"$group_key":"c","$group_id":"A","$distinct_id":"u","$set":{}}"#;
        let err = normalize_profile_update(with_distinct_id, ProfileKind::Group, NOW).unwrap_err();
        assert_eq!(err.field, "$distinct_id");
        let add = r#"{"$group_key":"c","$group_id":"A","$add":{"n":1}}"#;
        assert_eq!(normalize_profile_update(add, ProfileKind::Group, NOW).unwrap_err().field, "$add");
    }

    #[test]
    fn operations_over_a_profile_limit_are_refused_per_record() {
        // About 150,000 items aimed at one list, under the 1 MB record limit.
        let items: Vec<String> = (0..150_000).map(|i| i.to_string()).collect();
        let raw = format!(r#"{{"$token":"t","$distinct_id":"u","$union":{{"tags":[{}]}}}}"#, items.join(","));
        assert!(raw.len() < MAX_EVENT_BYTES);
        let err = normalize_profile_update(&raw, ProfileKind::User, NOW).unwrap_err();
        assert_eq!(err.field, "$union");
        let limit = MAX_PROFILE_OPERATION_ITEMS;
        assert_eq!(
            err.message,
            format!("'$union' is invalid: carries 150000 items; one operation may carry at most {limit}")
        );
        // A list at the limit is accepted.
        let at_limit = (0..MAX_PROFILE_OPERATION_ITEMS).map(|i| i.to_string()).collect::<Vec<_>>().join(",");
        let raw = format!(r#"{{"$distinct_id":"u","$union":{{"tags":[{at_limit}]}}}}"#);
        assert!(normalize_profile_update(&raw, ProfileKind::User, NOW).is_ok());
        // $set of a list longer than a profile list may be; $append of too many values.
        let raw = format!(r#"{{"$distinct_id":"u","$set":{{"l":[{at_limit},0]}}}}"#);
        let err = normalize_profile_update(&raw, ProfileKind::User, NOW).unwrap_err();
        assert_eq!(err.field, "$set.l");
        assert!(err.message.starts_with("'$set.l' is invalid: the list would hold"), "{}", err.message);
        let values: Vec<String> = (0..=MAX_PROFILE_OPERATION_ITEMS).map(|i| format!(r#""k{i}":1"#)).collect();
        let raw = format!(r#"{{"$distinct_id":"u","$append":{{{}}}}}"#, values.join(","));
        assert_eq!(normalize_profile_update(&raw, ProfileKind::User, NOW).unwrap_err().field, "$append");
        // A value over 256 KiB of JSON.
        let raw = format!(r#"{{"$distinct_id":"u","$set_once":{{"blob":"{}"}}}}"#, "x".repeat(300_000));
        assert_eq!(normalize_profile_update(&raw, ProfileKind::User, NOW).unwrap_err().field, "$set_once.blob");
    }

    #[test]
    fn bad_records_name_the_field() {
        let cases = [
            (r#"{"$set":{"a":1}}"#, "$distinct_id"),
            (r#"{"$distinct_id":"u"}"#, "record"),
            (r#"{"$distinct_id":"u","$add":{"n":"x"}}"#, "$add.n"),
            (r#"{"$distinct_id":"u","$union":{"l":"x"}}"#, "$union.l"),
            (r#"{"$distinct_id":"u","$set":[1]}"#, "$set"),
            (r#"{"$distinct_id":"u","$unset":[1]}"#, "$unset"),
            (r#"{"$distinct_id":"u","$time":"soon","$set":{}}"#, "$time"),
            (r#"[1]"#, "record"),
        ];
        for (raw, field) in cases {
            assert_eq!(normalize_profile_update(raw, ProfileKind::User, NOW).unwrap_err().field, field, "{raw}");
        }
    }
}
