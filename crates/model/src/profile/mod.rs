//! User and group profiles: the update operations of `/engage` and `/groups`, and what
//! each does to a profile.
//!
//! [`apply`] (and [`Profile::apply`], the same for a caller folding many updates over one
//! profile) is the one definition of the operations' semantics; every store applies
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
//!
//! Size limits ([`crate::limits`]): an update is refused whole, leaving the profile as
//! it was (`$last_seen` included), when it would make a property's value larger than
//! [`MAX_PROFILE_VALUE_BYTES`] of JSON or a list longer than [`MAX_PROFILE_LIST_ITEMS`],
//! or, after its `$set` ... `$append` operations, leave the profile larger than
//! [`MAX_PROFILE_BYTES`](crate::limits::MAX_PROFILE_BYTES) and larger than it was. A value or profile already over a limit
//! (stored before the limit existed) is kept, and `$remove`, `$unset` and `$delete` still
//! shrink it. Ingestion refuses what it can see from the record alone
//! ([`check_operation`]) before it reaches the writer.
//!
//! Cost: an update takes time linear in what it carries plus the properties it touches:
//! `$union` looks members up in a hash set rather than scanning the list for each item,
//! and [`Profile`] keeps the profile's size instead of measuring it again.
//!
//! Modules: `state` ([`Profile`], the operations applied and undone) and `tests`.

use serde_json::{Map, Value};

use crate::ids::ProjectId;
#[cfg(test)]
use crate::limits::MAX_PROFILE_BYTES;
pub use crate::limits::MAX_PROFILE_PROPERTIES;
use crate::limits::{MAX_PROFILE_LIST_ITEMS, MAX_PROFILE_OPERATION_ITEMS, MAX_PROFILE_VALUE_BYTES};

mod state;

pub use state::Profile;

/// A profile's properties.
pub type Properties = Map<String, Value>;

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

/// What became of an update.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Its operations were applied.
    Applied,
    /// It would have put a property or the profile over a size limit; the profile is
    /// as it was before it.
    Refused(Refusal),
}

impl Outcome {
    /// Whether the update was applied.
    pub fn is_applied(&self) -> bool {
        matches!(self, Outcome::Applied)
    }
}

/// Why an update or an operation is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The operation and property, as `$union.tags`; the operation alone when the
    /// operation as a whole or the profile is over its limit.
    pub field: String,
    /// What is over which limit.
    pub reason: String,
}

impl Refusal {
    fn new(op: &str, property: Option<&str>, reason: String) -> Self {
        let field = match property {
            Some(p) => format!("{op}.{p}"),
            None => op.to_string(),
        };
        Refusal { field, reason }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "'{}' is invalid: {}", self.field, self.reason)
    }
}

/// Checks what one operation carries against the limits, without a profile: a list
/// longer than a profile's list may be, a value over [`MAX_PROFILE_VALUE_BYTES`], a
/// `$union` or `$append` carrying more than [`MAX_PROFILE_OPERATION_ITEMS`] items.
/// Ingestion refuses such a record; [`apply`] would refuse its update anyway. Costs the
/// size of the operation.
pub fn check_operation(op: &ProfileOp) -> Result<(), Refusal> {
    let name = op.name();
    match op {
        ProfileOp::Set(values) | ProfileOp::SetOnce(values) => {
            for (k, v) in values {
                check_value(name, k, v)?;
            }
        }
        ProfileOp::Union(values) => {
            let items: usize = values.values().map(|v| v.as_array().map_or(0, Vec::len)).sum();
            check_operation_items(name, items)?;
            for (k, v) in values {
                check_value(name, k, v)?;
            }
        }
        ProfileOp::Append(values) => {
            check_operation_items(name, values.len())?;
            for (k, v) in values {
                // The smallest list holding it: `[v]`.
                let len = json_len(v) + 2;
                if len > MAX_PROFILE_VALUE_BYTES {
                    return Err(value_too_large(name, k, len));
                }
            }
        }
        ProfileOp::Add(_) | ProfileOp::Remove(_) | ProfileOp::Unset(_) | ProfileOp::Delete => {}
    }
    Ok(())
}

fn check_operation_items(op: &str, items: usize) -> Result<(), Refusal> {
    if items > MAX_PROFILE_OPERATION_ITEMS {
        return Err(Refusal::new(
            op,
            None,
            format!("carries {items} items; one operation may carry at most {MAX_PROFILE_OPERATION_ITEMS}"),
        ));
    }
    Ok(())
}

/// `value`'s size as JSON, or why `op` may not store it under `key`.
fn check_value(op: &str, key: &str, value: &Value) -> Result<usize, Refusal> {
    if let Value::Array(items) = value {
        check_list_items(op, key, items.len())?;
    }
    let len = json_len(value);
    if len > MAX_PROFILE_VALUE_BYTES {
        return Err(value_too_large(op, key, len));
    }
    Ok(len)
}

fn check_list_items(op: &str, key: &str, items: usize) -> Result<(), Refusal> {
    if items > MAX_PROFILE_LIST_ITEMS {
        return Err(Refusal::new(
            op,
            Some(key),
            format!("the list would hold {items} items; a profile's list holds at most {MAX_PROFILE_LIST_ITEMS}"),
        ));
    }
    Ok(())
}

fn value_too_large(op: &str, key: &str, len: usize) -> Refusal {
    Refusal::new(
        op,
        Some(key),
        format!("the value would be {len} bytes of JSON; a profile property holds at most {MAX_PROFILE_VALUE_BYTES}"),
    )
}

/// Applies `update` to a profile (`None`: no profile yet, or deleted). A refused update
/// leaves `profile` as it was.
///
/// This measures the profile first (its size as JSON), so each call costs the whole
/// profile once; a caller folding many updates over one profile should keep a
/// [`Profile`] instead, which keeps the size up to date.
pub fn apply(profile: &mut Option<Properties>, update: &ProfileUpdate) -> Outcome {
    let mut state = Profile::new(profile.take());
    let outcome = state.apply(update);
    *profile = state.into_properties();
    outcome
}

/// The size of `value` as compact JSON (as `serde_json::to_string` writes it), without
/// building the text.
fn json_len<T: serde::Serialize + ?Sized>(value: &T) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Serialising a JSON value or a string cannot fail, and the writer never does.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

/// The size of `"key":value` when the value is `value_len` bytes.
fn entry_len(key: &str, value_len: usize) -> usize {
    json_len(key) + 1 + value_len
}

/// Commas between `n` items.
fn commas(n: usize) -> usize {
    n.saturating_sub(1)
}

/// The size of a list of `n` items whose sizes add up to `items_len`.
fn list_len(n: usize, items_len: usize) -> usize {
    2 + items_len + commas(n)
}

#[cfg(test)]
mod tests;
