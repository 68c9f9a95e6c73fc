//! User and group profiles: the update operations of `/engage` and `/groups`, and what
//! each does to a profile.
//!
//! [`apply`] is the one definition of the operations' semantics; every store applies
//! updates through it, in arrival order, so a profile reads back exactly as folding its
//! updates with [`apply`] would build it. Choices where Mixpanel's documents are silent
//! (see `docs/compatibility.md`):
//! - a record may carry several operations; they apply in the order of [`ProfileOp`]'s
//!   variants (`$set`, `$set_once`, `$add`, `$union`, `$append`, `$remove`, `$unset`,
//!   `$delete`);
//! - `$add`, `$append`, `$union` and `$remove` on a property holding a value of another
//!   type (a string under `$add`, a number under `$append`) leave it unchanged;
//! - `$remove` removes every element equal to the value;
//! - `$last_seen` is the update's time (`$time`, else the arrival time), unless
//!   `$ignore_time` is set, and only moves forward;
//! - a profile holds at most [`MAX_PROFILE_PROPERTIES`] properties (Mixpanel: "attempts
//!   to add more will fail"): an operation that would add a property beyond it leaves
//!   that property out, while properties the profile already has still change.

use serde_json::{Map, Value};

use crate::ids::ProjectId;

/// A profile's properties.
pub type Properties = Map<String, Value>;

/// Most properties one profile holds (`$last_seen`, which the server keeps, aside).
pub const MAX_PROFILE_PROPERTIES: usize = 2000;

/// Whether `p` may hold `key`: it already does, or it has room for one more.
fn has_room(p: &Properties, key: &str) -> bool {
    p.contains_key(key) || p.len() < MAX_PROFILE_PROPERTIES + usize::from(p.contains_key("$last_seen"))
}

/// The `$group_key` of user profiles: they have none.
pub const USER_PROFILES: &str = "";

/// Which profile an update is for.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProfileKey {
    /// The project.
    pub project_id: ProjectId,
    /// `$group_key` for group profiles; [`USER_PROFILES`] for users.
    pub group_key: String,
    /// `$distinct_id` of a user, `$group_id` of a group.
    pub id: String,
}

/// One operation on a profile.
#[derive(Clone, Debug, PartialEq)]
pub enum ProfileOp {
    /// Overwrite these properties.
    Set(Properties),
    /// Set these properties where they are not set.
    SetOnce(Properties),
    /// Add these numbers to numeric properties (a missing one counts as 0).
    Add(Map<String, Value>),
    /// Add these values to list properties, skipping values already present.
    Union(Map<String, Value>),
    /// Append each value to its list property.
    Append(Properties),
    /// Remove each value from its list property.
    Remove(Properties),
    /// Remove these properties.
    Unset(Vec<String>),
    /// Remove the profile (its events stay).
    Delete,
}

impl ProfileOp {
    /// The wire name.
    pub fn name(&self) -> &'static str {
        match self {
            ProfileOp::Set(_) => "$set",
            ProfileOp::SetOnce(_) => "$set_once",
            ProfileOp::Add(_) => "$add",
            ProfileOp::Union(_) => "$union",
            ProfileOp::Append(_) => "$append",
            ProfileOp::Remove(_) => "$remove",
            ProfileOp::Unset(_) => "$unset",
            ProfileOp::Delete => "$delete",
        }
    }
}

/// An update to one profile, as ingestion hands it to storage.
#[derive(Clone, Debug, PartialEq)]
pub struct ProfileUpdate {
    /// The profile.
    pub key: ProfileKey,
    /// Its operations, in the order they apply.
    pub ops: Vec<ProfileOp>,
    /// The update's time, epoch ms (`$time`, else arrival).
    pub time_ms: i64,
    /// `$ignore_time`: leave `$last_seen` alone.
    pub ignore_time: bool,
    /// Apply to the canonical id of `key.id`'s identity cluster (Original ID Merge
    /// without `$ignore_alias`); otherwise to `key.id` literally.
    pub resolve_identity: bool,
}

/// Applies `update` to a profile (`None`: no profile yet, or deleted).
pub fn apply(profile: &mut Option<Properties>, update: &ProfileUpdate) {
    for op in &update.ops {
        apply_op(profile, op);
    }
    if let Some(p) = profile.as_mut()
        && !update.ignore_time
        && !update.ops.iter().any(|op| matches!(op, ProfileOp::Delete))
    {
        let seen = crate::time::format_datetime_ms(update.time_ms);
        let later = match p.get("$last_seen") {
            Some(Value::String(old)) => seen.as_str() > old.as_str(),
            _ => true,
        };
        if later {
            p.insert("$last_seen".into(), Value::String(seen));
        }
    }
}

fn apply_op(profile: &mut Option<Properties>, op: &ProfileOp) {
    match op {
        ProfileOp::Delete => *profile = None,
        ProfileOp::Unset(names) => {
            if let Some(p) = profile.as_mut() {
                for name in names {
                    p.remove(name);
                }
            }
        }
        ProfileOp::Set(values) => {
            let p = profile.get_or_insert_with(Map::new);
            for (k, v) in values {
                if has_room(p, k) {
                    p.insert(k.clone(), v.clone());
                }
            }
        }
        ProfileOp::SetOnce(values) => {
            let p = profile.get_or_insert_with(Map::new);
            for (k, v) in values {
                if has_room(p, k) {
                    p.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
        }
        ProfileOp::Add(values) => {
            let p = profile.get_or_insert_with(Map::new);
            for (k, v) in values {
                let Some(delta) = v.as_f64() else { continue };
                if !has_room(p, k) {
                    continue;
                }
                let sum = match p.get(k) {
                    None | Some(Value::Null) => add_numbers(&Value::from(0), v, delta),
                    Some(old @ Value::Number(n)) => add_numbers(old, v, n.as_f64().unwrap_or(0.0) + delta),
                    Some(_) => continue,
                };
                p.insert(k.clone(), sum);
            }
        }
        ProfileOp::Union(values) => {
            let p = profile.get_or_insert_with(Map::new);
            for (k, v) in values {
                let Value::Array(new) = v else { continue };
                if !has_room(p, k) {
                    continue;
                }
                let list = p.entry(k.clone()).or_insert_with(|| Value::Array(Vec::new()));
                let Value::Array(list) = list else { continue };
                for item in new {
                    if !list.contains(item) {
                        list.push(item.clone());
                    }
                }
            }
        }
        ProfileOp::Append(values) => {
            let p = profile.get_or_insert_with(Map::new);
            for (k, v) in values {
                if !has_room(p, k) {
                    continue;
                }
                let list = p.entry(k.clone()).or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(list) = list {
                    list.push(v.clone());
                }
            }
        }
        ProfileOp::Remove(values) => {
            if let Some(p) = profile.as_mut() {
                for (k, v) in values {
                    if let Some(Value::Array(list)) = p.get_mut(k) {
                        list.retain(|item| item != v);
                    }
                }
            }
        }
    }
}

/// `old + v` as JSON: an integer while both are integers and the sum fits, else a float.
fn add_numbers(old: &Value, v: &Value, float_sum: f64) -> Value {
    if let (Some(a), Some(b)) = (old.as_i64(), v.as_i64())
        && let Some(sum) = a.checked_add(b)
    {
        return Value::from(sum);
    }
    serde_json::Number::from_f64(float_sum).map(Value::Number).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_profile_holds_at_most_2000_properties() {
        let many: Properties = (0..2100).map(|i| (format!("p{i}"), json!(i))).collect();
        let mut profile = None;
        let mut u = update(vec![ProfileOp::Set(many)]);
        u.ignore_time = false;
        apply(&mut profile, &u);
        let p = profile.as_ref().unwrap();
        assert_eq!(p.len(), MAX_PROFILE_PROPERTIES + 1, "2000 and $last_seen");
        // Full: a new property is left out, an existing one still changes.
        let more = json!({"p0": "changed", "new": 1}).as_object().unwrap().clone();
        apply(&mut profile, &update(vec![ProfileOp::Set(more.clone()), ProfileOp::Add(more)]));
        let p = profile.as_ref().unwrap();
        assert_eq!(p["p0"], "changed");
        assert!(!p.contains_key("new"));
        // Room again after an unset.
        apply(&mut profile, &update(vec![ProfileOp::Unset(vec!["p1".into()])]));
        let add = json!({"new": 2}).as_object().unwrap().clone();
        apply(&mut profile, &update(vec![ProfileOp::Add(add)]));
        assert_eq!(profile.unwrap()["new"], 2);
    }

    fn update(ops: Vec<ProfileOp>) -> ProfileUpdate {
        ProfileUpdate {
            key: ProfileKey { project_id: ProjectId(1), group_key: String::new(), id: "u".into() },
            ops,
            time_ms: 1_700_000_000_000,
            ignore_time: true,
            resolve_identity: false,
        }
    }

    fn obj(v: Value) -> Properties {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn operations_build_a_profile() {
        let mut p = None;
        for ops in [
            vec![ProfileOp::SetOnce(obj(json!({"plan": "free", "n": 1})))],
            vec![ProfileOp::Set(obj(json!({"plan": "pro"})))],
            vec![ProfileOp::SetOnce(obj(json!({"plan": "ignored"})))],
            vec![ProfileOp::Add(obj(json!({"n": 2, "m": -1.5, "plan": 1})))],
            vec![ProfileOp::Union(obj(json!({"tags": ["a", "b"]})))],
            vec![ProfileOp::Union(obj(json!({"tags": ["b", "c"]})))],
            vec![ProfileOp::Append(obj(json!({"tags": "a", "plan": "x"})))],
            vec![ProfileOp::Remove(obj(json!({"tags": "a"})))],
            vec![ProfileOp::Unset(vec!["m".into()])],
        ] {
            apply(&mut p, &update(ops));
        }
        assert_eq!(Value::Object(p.unwrap()), json!({"plan": "pro", "n": 3, "tags": ["b", "c"]}));
    }

    #[test]
    fn delete_removes_the_profile_and_set_recreates_it() {
        let mut p = None;
        apply(&mut p, &update(vec![ProfileOp::Set(obj(json!({"a": 1})))]));
        apply(&mut p, &update(vec![ProfileOp::Delete]));
        assert_eq!(p, None);
        apply(&mut p, &update(vec![ProfileOp::Remove(obj(json!({"a": 1})))]));
        assert_eq!(p, None, "$remove and $unset create nothing");
        apply(&mut p, &update(vec![ProfileOp::Set(obj(json!({"b": 2})))]));
        assert_eq!(Value::Object(p.unwrap()), json!({"b": 2}));
    }

    #[test]
    fn last_seen_follows_the_update_time_forward_only() {
        let mut p = None;
        let mut u = update(vec![ProfileOp::Set(obj(json!({"a": 1})))]);
        u.ignore_time = false;
        apply(&mut p, &u);
        assert_eq!(p.as_ref().unwrap()["$last_seen"], "2023-11-14T22:13:20");
        u.time_ms -= 86_400_000;
        apply(&mut p, &u);
        assert_eq!(p.as_ref().unwrap()["$last_seen"], "2023-11-14T22:13:20");
    }
}
