//! Lookup tables as expressions see them: a mapped property's value is a key into a
//! table, and the table's columns read as nested properties of it.
//!
//! A project maps a table to an event property or a user-profile property (Mixpanel's
//! Lexicon does this in its UI; Sextant through its App API and CLI). When `song_id` is
//! mapped to a table with the column `artist`, an expression reads that column in
//! either of two spellings:
//!
//! - `properties["song_id"]["artist"]`: the property indexed by the column name;
//! - `properties["song_id.artist"]`: the dotted name Mixpanel shows in its reports,
//!   used only when the record has no property of that literal name.
//!
//! The property's value is matched against the table's first column as text: a string
//! as it is, a number as [`crate::value::format_number`] prints it (`42`, not `42.0`).
//! A list-valued property maps element by element, giving the list of the values found
//! (elements without a row are left out; when none has one, undefined). Anything else,
//! or a key without a row, reads as undefined. Joins happen when the expression runs, so replacing a table changes
//! the answers about past events too.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::ast::{Expr, ExprKind, Source};
use crate::value::format_number;
use crate::{Scope, Value};

/// Whose property a table is mapped to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// An event property.
    Event,
    /// A user-profile property.
    User,
}

impl Target {
    /// The stable name used in the API and the metadata store.
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Event => "event",
            Target::User => "user",
        }
    }

    /// The target that `source[...]` reads in `scope`, if any.
    pub fn of(scope: Scope, source: Source) -> Option<Target> {
        match (scope, source) {
            (Scope::Event, Source::Properties) => Some(Target::Event),
            (Scope::Event, Source::User) | (Scope::Profile, Source::Properties | Source::User) => Some(Target::User),
            _ => None,
        }
    }
}

impl std::str::FromStr for Target {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "event" => Ok(Target::Event),
            "user" | "profile" => Ok(Target::User),
            other => Err(format!("unknown mapping target `{other}`: use `event` or `user`")),
        }
    }
}

/// One table's rows, by join key.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LookupTable {
    /// Column names, the join key first.
    pub columns: Vec<String>,
    /// Each row's other columns, by the row's key.
    pub rows: HashMap<String, serde_json::Map<String, serde_json::Value>>,
}

impl LookupTable {
    /// Column `column` of the row whose key is `key`'s text.
    fn get(&self, key: &Value, column: &str) -> Value {
        let cell = |k: &str| self.rows.get(k).and_then(|row| row.get(column)).map(Value::from_json);
        match key {
            Value::List(items) => {
                let found: Vec<Value> = items.iter().filter_map(|item| key_text(item).and_then(|k| cell(&k))).collect();
                if found.is_empty() { Value::Undefined } else { Value::List(found) }
            }
            other => key_text(other).and_then(|k| cell(&k)).unwrap_or(Value::Undefined),
        }
    }
}

/// The join-key text of a scalar property value.
pub fn key_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) if n.is_finite() => Some(format_number(*n)),
        _ => None,
    }
}

/// The tables an expression may read, by the property each is mapped to.
#[derive(Clone, Default)]
pub struct Lookups {
    tables: HashMap<(Target, String), Arc<LookupTable>>,
}

impl fmt::Debug for Lookups {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.tables.keys()).finish()
    }
}

impl Lookups {
    /// Makes `table` readable through `target`'s property `property`.
    pub fn insert(&mut self, target: Target, property: impl Into<String>, table: Arc<LookupTable>) {
        self.tables.insert((target, property.into()), table);
    }

    /// Whether no table is mapped.
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }

    /// The table mapped to `property` of `target`.
    pub fn table(&self, target: Target, property: &str) -> Option<&LookupTable> {
        self.tables.get(&(target, property.to_string())).map(Arc::as_ref)
    }

    /// `column` of the row `value` keys in the table mapped to `property`, or `None`
    /// when no table is mapped there.
    pub fn read(&self, target: Target, property: &str, value: &Value, column: &str) -> Option<Value> {
        self.table(target, property).map(|t| t.get(value, column))
    }

    /// For a dotted name `a.b` whose `a` (up to any dot) is mapped: `(a, b)`.
    pub fn split_dotted<'n>(&self, target: Target, name: &'n str) -> Option<(&'n str, &'n str)> {
        name.match_indices('.')
            .map(|(i, _)| (&name[..i], &name[i + 1..]))
            .find(|(prop, column)| !column.is_empty() && self.tables.contains_key(&(target, prop.to_string())))
    }
}

/// Every property an expression reads (`properties[...]` and `user[...]`), with the
/// target it would be mapped under in `scope`, and for dotted names each prefix too:
/// what to load before running it.
pub fn referenced_properties(expr: &Expr, scope: Scope) -> Vec<(Target, String)> {
    let mut out = Vec::new();
    collect(expr, scope, &mut out);
    out.sort();
    out.dedup();
    out
}

fn collect(e: &Expr, scope: Scope, out: &mut Vec<(Target, String)>) {
    if let ExprKind::Access { source, name } = &e.kind
        && let Some(target) = Target::of(scope, *source)
    {
        out.push((target, name.clone()));
        for (i, _) in name.match_indices('.') {
            out.push((target, name[..i].to_string()));
        }
    }
    for child in e.children() {
        collect(child, scope, out);
    }
}
