//! [`Profile`]: a profile being updated, the operations applied one by one with their
//! size kept up to date, and undone whole when an update is refused.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::{
    Outcome, ProfileOp, ProfileUpdate, Properties, Refusal, check_list_items, check_value, commas, entry_len, has_room,
    json_len, list_len, value_too_large,
};
use crate::limits::{MAX_PROFILE_BYTES, MAX_PROFILE_VALUE_BYTES};

/// A profile being updated: its properties and their size as compact JSON (what a store
/// writes), kept up to date as updates apply, so that an update costs what it carries
/// and the properties it touches rather than the whole profile.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Profile {
    properties: Option<Properties>,
    bytes: usize,
}

/// What an update changed, so that a refused update can be undone.
enum Change {
    /// `key` held `old` (`None`: nothing) before.
    Replaced { key: String, old: Option<Value> },
    /// The list under `key` had `len` items before.
    Extended { key: String, len: usize },
    /// The profile was `old` before a `$delete`.
    Deleted(Option<Properties>),
}

impl Profile {
    /// A profile as read from a store (`None`: there is none). Measures it once.
    pub fn new(properties: Option<Properties>) -> Self {
        let bytes = properties.as_ref().map_or(0, json_len);
        Profile { properties, bytes }
    }

    /// Its properties (`None`: no profile).
    pub fn properties(&self) -> Option<&Properties> {
        self.properties.as_ref()
    }

    /// Its properties (`None`: no profile).
    pub fn into_properties(self) -> Option<Properties> {
        self.properties
    }

    /// Its size as compact JSON (0 when there is no profile).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Applies `update`; see [`apply`]. A refused update changes nothing.
    pub fn apply(&mut self, update: &ProfileUpdate) -> Outcome {
        let was_none = self.properties.is_none();
        let bytes_before = self.bytes;
        // Refusals come from the operations that add; what the others change is kept
        // for undoing only when such an operation follows them.
        let last_adding = update.ops.iter().rposition(ProfileOp::adds);
        let mut log = Vec::new();
        for (i, op) in update.ops.iter().enumerate() {
            let undoable = last_adding.is_some_and(|last| i < last);
            let mut result = self.apply_op(op, undoable, &mut log);
            let grew_too_large = self.bytes > MAX_PROFILE_BYTES && self.bytes > bytes_before;
            if result.is_ok() && Some(i) == last_adding && grew_too_large {
                result = Err(Refusal::new(
                    op.name(),
                    None,
                    format!(
                        "the profile would be {} bytes of JSON; a profile holds at most {MAX_PROFILE_BYTES}",
                        self.bytes
                    ),
                ));
            }
            if let Err(refusal) = result {
                self.undo(log, was_none, bytes_before);
                return Outcome::Refused(refusal);
            }
        }
        if let Some(p) = self.properties.as_mut()
            && !update.ignore_time
            && !update.ops.iter().any(|op| matches!(op, ProfileOp::Delete))
        {
            let seen = crate::time::format_datetime_ms(update.time_ms);
            let later = match p.get("$last_seen") {
                Some(Value::String(old)) => seen.as_str() > old.as_str(),
                _ => true,
            };
            if later {
                let value = Value::String(seen);
                let len = json_len(&value);
                put(p, &mut self.bytes, "$last_seen", value, len);
            }
        }
        Outcome::Applied
    }

    /// Applies one operation, logging what it changes (always for the operations that
    /// add, which may refuse halfway; for the others when `undoable`).
    fn apply_op(&mut self, op: &ProfileOp, undoable: bool, log: &mut Vec<Change>) -> Result<(), Refusal> {
        let name = op.name();
        match op {
            ProfileOp::Delete => {
                let old = self.properties.take();
                self.bytes = 0;
                if undoable {
                    log.push(Change::Deleted(old));
                }
            }
            ProfileOp::Unset(names) => {
                if let Some(p) = self.properties.as_mut() {
                    for key in names {
                        if let Some(old) = p.remove(key.as_str()) {
                            let removed = entry_len(key, json_len(&old)) + usize::from(!p.is_empty());
                            self.bytes = self.bytes.saturating_sub(removed);
                            if undoable {
                                log.push(Change::Replaced { key: key.clone(), old: Some(old) });
                            }
                        }
                    }
                }
            }
            ProfileOp::Set(values) | ProfileOp::SetOnce(values) => {
                let once = matches!(op, ProfileOp::SetOnce(_));
                let p = create(&mut self.properties, &mut self.bytes);
                for (k, v) in values {
                    if !has_room(p, k) || (once && p.contains_key(k)) {
                        continue;
                    }
                    let len = check_value(name, k, v)?;
                    let old = put(p, &mut self.bytes, k, v.clone(), len);
                    log.push(Change::Replaced { key: k.clone(), old });
                }
            }
            ProfileOp::Add(values) => {
                let p = create(&mut self.properties, &mut self.bytes);
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
                    let len = json_len(&sum);
                    let old = put(p, &mut self.bytes, k, sum, len);
                    log.push(Change::Replaced { key: k.clone(), old });
                }
            }
            ProfileOp::Union(values) => {
                let p = create(&mut self.properties, &mut self.bytes);
                for (k, v) in values {
                    let Value::Array(new) = v else { continue };
                    if !has_room(p, k) {
                        continue;
                    }
                    match p.get(k) {
                        None => {
                            let added = union_additions(&[], new);
                            check_list_items(name, k, added.len())?;
                            let len = list_len(added.len(), added.iter().map(|item| json_len(*item)).sum());
                            if len > MAX_PROFILE_VALUE_BYTES {
                                return Err(value_too_large(name, k, len));
                            }
                            let list = Value::Array(added.into_iter().cloned().collect());
                            let old = put(p, &mut self.bytes, k, list, len);
                            log.push(Change::Replaced { key: k.clone(), old });
                        }
                        Some(Value::Array(list)) => {
                            let added = union_additions(list, new);
                            if added.is_empty() {
                                continue;
                            }
                            let n = list.len();
                            check_list_items(name, k, n + added.len())?;
                            let items_len: usize = added.iter().map(|item| json_len(*item)).sum();
                            let grows = items_len + commas(n + added.len()) - commas(n);
                            let len = json_len(list) + grows;
                            if len > MAX_PROFILE_VALUE_BYTES {
                                return Err(value_too_large(name, k, len));
                            }
                            let added: Vec<Value> = added.into_iter().cloned().collect();
                            if let Some(Value::Array(list)) = p.get_mut(k) {
                                list.extend(added);
                            }
                            self.bytes += grows;
                            log.push(Change::Extended { key: k.clone(), len: n });
                        }
                        Some(_) => {}
                    }
                }
            }
            ProfileOp::Append(values) => {
                let p = create(&mut self.properties, &mut self.bytes);
                for (k, v) in values {
                    if !has_room(p, k) {
                        continue;
                    }
                    let item_len = json_len(v);
                    match p.get(k) {
                        None => {
                            let len = list_len(1, item_len);
                            if len > MAX_PROFILE_VALUE_BYTES {
                                return Err(value_too_large(name, k, len));
                            }
                            let old = put(p, &mut self.bytes, k, Value::Array(vec![v.clone()]), len);
                            log.push(Change::Replaced { key: k.clone(), old });
                        }
                        Some(Value::Array(list)) => {
                            let n = list.len();
                            check_list_items(name, k, n + 1)?;
                            let grows = item_len + usize::from(n > 0);
                            let len = json_len(list) + grows;
                            if len > MAX_PROFILE_VALUE_BYTES {
                                return Err(value_too_large(name, k, len));
                            }
                            if let Some(Value::Array(list)) = p.get_mut(k) {
                                list.push(v.clone());
                            }
                            self.bytes += grows;
                            log.push(Change::Extended { key: k.clone(), len: n });
                        }
                        Some(_) => {}
                    }
                }
            }
            ProfileOp::Remove(values) => {
                if let Some(p) = self.properties.as_mut() {
                    for (k, v) in values {
                        let Some(Value::Array(list)) = p.get_mut(k) else { continue };
                        let n = list.len();
                        let before = undoable.then(|| list.clone());
                        let mut removed_len = 0;
                        list.retain(|item| {
                            let keep = item != v;
                            if !keep {
                                removed_len += json_len(item);
                            }
                            keep
                        });
                        let left = list.len();
                        if left < n {
                            self.bytes = self.bytes.saturating_sub(removed_len + commas(n) - commas(left));
                            if let Some(old) = before {
                                log.push(Change::Replaced { key: k.clone(), old: Some(Value::Array(old)) });
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Undoes the changes in `log`, latest first, back to the profile before the update.
    fn undo(&mut self, log: Vec<Change>, was_none: bool, bytes: usize) {
        for change in log.into_iter().rev() {
            match change {
                Change::Deleted(old) => self.properties = old,
                Change::Replaced { key, old } => {
                    if let Some(p) = self.properties.as_mut() {
                        match old {
                            Some(v) => {
                                p.insert(key, v);
                            }
                            None => {
                                p.remove(&key);
                            }
                        }
                    }
                }
                Change::Extended { key, len } => {
                    if let Some(Value::Array(list)) = self.properties.as_mut().and_then(|p| p.get_mut(&key)) {
                        list.truncate(len);
                    }
                }
            }
        }
        if was_none {
            self.properties = None;
        }
        self.bytes = bytes;
    }
}

impl ProfileOp {
    /// Whether the operation can make a profile larger (and so be refused).
    fn adds(&self) -> bool {
        matches!(
            self,
            ProfileOp::Set(_) | ProfileOp::SetOnce(_) | ProfileOp::Add(_) | ProfileOp::Union(_) | ProfileOp::Append(_)
        )
    }
}

/// The profile's properties, creating an empty profile (`{}`, 2 bytes) when there is none.
fn create<'a>(properties: &'a mut Option<Properties>, bytes: &mut usize) -> &'a mut Properties {
    if properties.is_none() {
        *bytes = 2;
    }
    properties.get_or_insert_with(Map::new)
}

/// Sets `key` to `value` (`len` bytes of JSON) in `p`, keeping `bytes`, the size of `p`
/// as JSON, up to date. Returns what `key` held.
fn put(p: &mut Properties, bytes: &mut usize, key: &str, value: Value, len: usize) -> Option<Value> {
    let old = p.insert(key.to_string(), value);
    match &old {
        Some(old) => *bytes = (*bytes + len).saturating_sub(json_len(old)),
        None => *bytes += entry_len(key, len) + usize::from(p.len() > 1),
    }
    old
}

/// What `$union` adds to `existing`: the items of `new` equal to none in `existing` nor
/// earlier in `new`, in order. Equality is `Value`'s (what `Vec::contains` used). A few
/// new items are compared directly; more go in a hash set that one pass over `existing`
/// strikes off (stopping when none is left), so the cost is linear in both lists. The
/// set hashes with std's randomly keyed SipHash, so crafted values cannot force
/// collisions.
fn union_additions<'a>(existing: &[Value], new: &'a [Value]) -> Vec<&'a Value> {
    const COMPARE_DIRECTLY: usize = 8;
    if new.len() <= COMPARE_DIRECTLY {
        let mut added: Vec<&'a Value> = Vec::with_capacity(new.len());
        for item in new {
            if !existing.contains(item) && !added.contains(&item) {
                added.push(item);
            }
        }
        return added;
    }
    let mut pending: HashSet<&'a Value> = new.iter().collect();
    for item in existing {
        if pending.is_empty() {
            break;
        }
        pending.remove(item);
    }
    // `remove` holds once per distinct item: its first occurrence.
    new.iter().filter(|item| pending.remove(*item)).collect()
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
