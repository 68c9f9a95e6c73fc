//! What an expression reads: one event or profile, through the [`Record`] trait.

use crate::ast::Source;
use crate::{Scope, Value};

/// An event's own fields, which the store keeps beside its properties.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// The event time, a datetime.
    Time,
    /// The event name.
    Name,
    /// The user's distinct id.
    DistinctId,
    /// The deduplication id.
    InsertId,
}

/// The field that `source[name]` reads in `scope`, if it is one rather than a property.
///
/// `event[...]` may only name fields; `properties[...]` names these four fields the way
/// export prints them (`time`, `$time`, `distinct_id`, `$insert_id`), because the store
/// keeps them as columns rather than inside the properties.
pub fn field(scope: Scope, source: Source, name: &str) -> Option<Field> {
    match (scope, source) {
        (Scope::Event, Source::Event) => match name {
            "$time" | "time" => Some(Field::Time),
            "$event_name" | "name" | "event" => Some(Field::Name),
            "distinct_id" | "$distinct_id" => Some(Field::DistinctId),
            "$insert_id" | "insert_id" => Some(Field::InsertId),
            _ => None,
        },
        (Scope::Event, Source::Properties) => match name {
            "$time" | "time" => Some(Field::Time),
            "distinct_id" => Some(Field::DistinctId),
            "$insert_id" => Some(Field::InsertId),
            _ => None,
        },
        _ => None,
    }
}

/// The names `event[...]` accepts, for error messages.
pub const EVENT_FIELDS: &str =
    "\"$time\", \"time\", \"$event_name\", \"name\", \"event\", \"distinct_id\", \"$distinct_id\", \"$insert_id\"";

/// One record an expression is evaluated on.
pub trait Record {
    /// A field of an event (never called in profile scope).
    fn field(&self, field: Field) -> Value;
    /// `properties[name]` that is not a field: the event's or the profile's property.
    fn property(&self, name: &str) -> Value;
    /// `user[name]`: a property of the user's profile; undefined without a profile.
    fn user(&self, name: &str) -> Value {
        let _ = name;
        Value::Undefined
    }
    /// `behaviors[name]` in profile queries.
    fn behavior(&self, name: &str) -> Value {
        let _ = name;
        Value::Undefined
    }
}

/// An event as the store holds it, borrowed.
#[derive(Clone, Copy, Debug)]
pub struct EventRecord<'a> {
    /// The event name.
    pub name: &'a str,
    /// Event time, epoch ms.
    pub time_ms: i64,
    /// The user.
    pub distinct_id: &'a str,
    /// The deduplication id.
    pub insert_id: &'a str,
    /// The other properties.
    pub properties: &'a serde_json::Map<String, serde_json::Value>,
    /// The user's profile properties, when profiles are joined in.
    pub user: Option<&'a serde_json::Map<String, serde_json::Value>>,
}

impl Record for EventRecord<'_> {
    fn field(&self, field: Field) -> Value {
        match field {
            Field::Time => Value::DateTime(self.time_ms),
            Field::Name => Value::String(self.name.to_string()),
            Field::DistinctId => Value::String(self.distinct_id.to_string()),
            Field::InsertId => Value::String(self.insert_id.to_string()),
        }
    }

    fn property(&self, name: &str) -> Value {
        self.properties.get(name).map_or(Value::Undefined, Value::from_json)
    }

    fn user(&self, name: &str) -> Value {
        self.user.and_then(|u| u.get(name)).map_or(Value::Undefined, Value::from_json)
    }
}

/// A profile: every accessor but `behaviors` reads its properties.
#[derive(Clone, Copy, Debug)]
pub struct ProfileRecord<'a> {
    /// The profile's properties.
    pub properties: &'a serde_json::Map<String, serde_json::Value>,
    /// Behaviour counts by name, when the query defines behaviours.
    pub behaviors: Option<&'a serde_json::Map<String, serde_json::Value>>,
}

impl Record for ProfileRecord<'_> {
    fn field(&self, _field: Field) -> Value {
        Value::Undefined
    }

    fn property(&self, name: &str) -> Value {
        self.properties.get(name).map_or(Value::Undefined, Value::from_json)
    }

    fn user(&self, name: &str) -> Value {
        self.property(name)
    }

    fn behavior(&self, name: &str) -> Value {
        self.behaviors.and_then(|b| b.get(name)).map_or(Value::Undefined, Value::from_json)
    }
}
