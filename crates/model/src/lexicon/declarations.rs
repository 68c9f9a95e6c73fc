//! What a project's event schemas make ingestion do. An event declared `dropped`
//! (`metadata["com.mixpanel"].dropped`) is not stored; a property declared `dropped` is
//! removed from the events that carry it; a value that is not of its property's declared
//! type is stored all the same (nothing sent is lost) and counted, so the dictionary can
//! show how often what is sent breaks what was documented. Profile schemas only
//! document: Mixpanel drops events and event properties alone.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::{EntityType, MIXPANEL, SchemaEntry};

/// A JSON type a property may declare.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JsonType {
    /// A list.
    Array,
    /// `true` or `false`.
    Boolean,
    /// A number without a fractional part.
    Integer,
    /// `null`.
    Null,
    /// Any number.
    Number,
    /// An object.
    Object,
    /// Text.
    String,
}

impl JsonType {
    /// Every type, as the spec lists them.
    pub const ALL: [JsonType; 7] = [
        JsonType::Array,
        JsonType::Boolean,
        JsonType::Integer,
        JsonType::Null,
        JsonType::Number,
        JsonType::Object,
        JsonType::String,
    ];

    /// Its name in a schema.
    pub fn as_str(self) -> &'static str {
        match self {
            JsonType::Array => "array",
            JsonType::Boolean => "boolean",
            JsonType::Integer => "integer",
            JsonType::Null => "null",
            JsonType::Number => "number",
            JsonType::Object => "object",
            JsonType::String => "string",
        }
    }

    /// The type `text` names, if it names one.
    pub fn parse(text: &str) -> Option<JsonType> {
        JsonType::ALL.into_iter().find(|t| t.as_str() == text)
    }

    /// Whether `value` is of this type (an integer is a number too; `2.0` is an
    /// integer, as JSON Schema says).
    pub fn admits(self, value: &Value) -> bool {
        match (self, value) {
            (JsonType::Array, Value::Array(_))
            | (JsonType::Boolean, Value::Bool(_))
            | (JsonType::Null, Value::Null)
            | (JsonType::Number, Value::Number(_))
            | (JsonType::Object, Value::Object(_))
            | (JsonType::String, Value::String(_)) => true,
            (JsonType::Integer, Value::Number(n)) => {
                n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            _ => false,
        }
    }
}

/// What one event's schema declares.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EventDeclaration {
    /// Not stored at all.
    pub dropped: bool,
    /// Hidden from the event lists.
    pub hidden: bool,
    /// Properties removed from the event.
    pub dropped_properties: HashSet<String>,
    /// Properties hidden from the property lists.
    pub hidden_properties: HashSet<String>,
    /// The types each typed property may hold.
    pub types: HashMap<String, Vec<JsonType>>,
}

/// What applying a declaration to an event's properties did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Applied {
    /// The properties without the dropped ones, when any was there.
    pub properties: Option<String>,
    /// The properties whose value broke its declared type.
    pub violations: Vec<String>,
}

impl EventDeclaration {
    /// Whether the declaration changes or checks anything in an event's properties.
    pub fn acts_on_properties(&self) -> bool {
        !self.dropped_properties.is_empty() || !self.types.is_empty()
    }

    /// Applies the declaration to an event's properties (a JSON object's text): removes
    /// the dropped properties and names those whose value breaks its type. Text that is
    /// not an object is left alone.
    pub fn apply(&self, properties: &str) -> Applied {
        if !self.acts_on_properties() {
            return Applied::default();
        }
        let Ok(mut object) = serde_json::from_str::<Map<String, Value>>(properties) else {
            return Applied::default();
        };
        let violations = self
            .types
            .iter()
            .filter(|(name, types)| object.get(*name).is_some_and(|v| !types.iter().any(|t| t.admits(v))))
            .map(|(name, _)| name.clone())
            .collect();
        let before = object.len();
        object.retain(|name, _| !self.dropped_properties.contains(name));
        let properties = (object.len() != before).then(|| Value::Object(object).to_string());
        Applied { properties, violations }
    }
}

/// A project's event declarations, by event name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Declarations {
    events: HashMap<String, EventDeclaration>,
}

impl Declarations {
    /// The declarations the project's entries make (profile entries make none).
    pub fn from_entries<'a>(entries: impl IntoIterator<Item = &'a SchemaEntry>) -> Declarations {
        let mut events = HashMap::new();
        for entry in entries.into_iter().filter(|e| e.entity_type == EntityType::Event) {
            let declaration = EventDeclaration {
                dropped: flag(&entry.schema, "dropped"),
                hidden: flag(&entry.schema, "hidden"),
                ..EventDeclaration::default()
            };
            let declaration = entry.schema.get("properties").and_then(Value::as_object).into_iter().flatten().fold(
                declaration,
                |mut d, (name, property)| {
                    if flag(property, "dropped") {
                        d.dropped_properties.insert(name.clone());
                    }
                    if flag(property, "hidden") {
                        d.hidden_properties.insert(name.clone());
                    }
                    let types: Vec<JsonType> = match property.get("type") {
                        Some(Value::String(t)) => JsonType::parse(t).into_iter().collect(),
                        Some(Value::Array(ts)) => {
                            ts.iter().filter_map(|t| t.as_str().and_then(JsonType::parse)).collect()
                        }
                        _ => Vec::new(),
                    };
                    if !types.is_empty() {
                        d.types.insert(name.clone(), types);
                    }
                    d
                },
            );
            events.insert(entry.name.clone(), declaration);
        }
        Declarations { events }
    }

    /// The declaration of the event `name`, if it has one.
    pub fn event(&self, name: &str) -> Option<&EventDeclaration> {
        self.events.get(name)
    }

    /// Whether the event `name` is hidden.
    pub fn hides_event(&self, name: &str) -> bool {
        self.events.get(name).is_some_and(|d| d.hidden)
    }

    /// Whether the property `property` is hidden on the event `event` (on any event
    /// when `event` is `None` and every event that declares it hides it).
    pub fn hides_property(&self, event: Option<&str>, property: &str) -> bool {
        match event {
            Some(event) => self.events.get(event).is_some_and(|d| d.hidden_properties.contains(property)),
            None => {
                let mut declaring = self
                    .events
                    .values()
                    .filter(|d| d.types.contains_key(property) || d.hidden_properties.contains(property))
                    .peekable();
                declaring.peek().is_some() && declaring.all(|d| d.hidden_properties.contains(property))
            }
        }
    }
}

fn flag(schema: &Value, key: &str) -> bool {
    schema.get("metadata").and_then(|m| m.get(MIXPANEL)).and_then(|m| m.get(key)).and_then(Value::as_bool) == Some(true)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn entry(name: &str, schema: Value) -> SchemaEntry {
        SchemaEntry { entity_type: EntityType::Event, name: name.into(), schema }
    }

    #[test]
    fn dropped_and_typed_properties_act() {
        let entries = [
            entry("Noise", json!({"metadata": {"com.mixpanel": {"dropped": true, "hidden": true}}})),
            entry(
                "Buy",
                json!({"properties": {
                    "amount": {"type": "number"},
                    "qty": {"type": "integer"},
                    "note": {"type": ["string", "null"]},
                    "secret": {"type": "string", "metadata": {"com.mixpanel": {"dropped": true, "hidden": true}}}
                }}),
            ),
        ];
        let d = Declarations::from_entries(&entries);
        assert!(d.event("Noise").unwrap().dropped);
        assert!(d.hides_event("Noise") && !d.hides_event("Buy"));
        assert!(d.hides_property(Some("Buy"), "secret") && d.hides_property(None, "secret"));
        assert!(!d.hides_property(None, "amount"));
        let buy = d.event("Buy").unwrap();
        let applied = buy.apply(r#"{"amount": "12", "qty": 2.0, "note": null, "secret": "x", "other": 1}"#);
        assert_eq!(applied.violations, ["amount"]);
        let kept: Value = serde_json::from_str(applied.properties.as_deref().unwrap()).unwrap();
        assert_eq!(kept, json!({"amount": "12", "qty": 2.0, "note": null, "other": 1}));
        let clean = buy.apply(r#"{"amount": 3, "qty": 1}"#);
        assert_eq!(clean, Applied::default());
        assert!(!d.event("Noise").unwrap().acts_on_properties());
    }

    #[test]
    fn profile_entries_declare_nothing_for_ingestion() {
        let entries = [SchemaEntry {
            entity_type: EntityType::Profile,
            name: "$user".into(),
            schema: json!({"metadata": {"com.mixpanel": {"dropped": true}}}),
        }];
        assert!(Declarations::from_entries(&entries).event("$user").is_none());
    }
}
