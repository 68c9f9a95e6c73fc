//! The Lexicon as `GET /schemas` shows it: the declared schemas merged with what the
//! store has seen the project send ([`sextant_storage::EventStore::dictionary`]).
//!
//! Sextant's additions go under each schema's `metadata.sextant` (a key Mixpanel's spec
//! leaves open, and one an upload never stores):
//!
//! - on a declared event that was sent: `inferred: false`, `count`, `firstSeen`,
//!   `lastSeen`, and `undeclared`: each property sent but not declared, with the kinds
//!   of value it held and when it first appeared (`{"kinds", "firstSeen"}`);
//! - on a declared event, `violations`: per declared property, how many values broke
//!   its type;
//! - an event sent but never declared is listed as an entry of its own, `inferred:
//!   true`, each property typed by what it held, with the same `count`, `firstSeen` and
//!   `lastSeen`, and `sent`: each property's kinds and first appearance, as
//!   `undeclared` gives them.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use sextant_model::lexicon::{EntityType, JsonType, SchemaEntry, annotate};
use sextant_storage::{SeenEvent, SeenProperty};

/// Values that broke a declared type, by (event, property).
pub type Violations = BTreeMap<(String, String), u64>;

/// The entries to show: `declared` (in entity type and name order) with the violations
/// counted against them and, when `seen` is given, what was sent merged in.
pub fn merged(declared: Vec<SchemaEntry>, seen: Option<Vec<SeenEvent>>, violations: &Violations) -> Vec<SchemaEntry> {
    let mut seen: BTreeMap<String, SeenEvent> =
        seen.unwrap_or_default().into_iter().map(|e| (e.name.clone(), e)).collect();
    let mut out: Vec<SchemaEntry> = declared
        .into_iter()
        .map(|mut entry| {
            if entry.entity_type == EntityType::Event {
                count_violations(&mut entry, violations);
                if let Some(sent) = seen.remove(&entry.name) {
                    describe_declared(&mut entry, &sent);
                }
            }
            entry
        })
        .collect();
    out.extend(seen.into_values().map(inferred_entry));
    out.sort_by(|a, b| (a.entity_type, &a.name).cmp(&(b.entity_type, &b.name)));
    out
}

fn count_violations(entry: &mut SchemaEntry, violations: &Violations) {
    let declared = entry.schema.get("properties").and_then(Value::as_object);
    let counted: Map<String, Value> = violations
        .range((entry.name.clone(), String::new())..)
        .take_while(|((event, _), _)| *event == entry.name)
        .filter(|((_, property), _)| declared.is_some_and(|d| d.contains_key(property)))
        .map(|((_, property), n)| (property.clone(), Value::from(*n)))
        .collect();
    if !counted.is_empty() {
        annotate(&mut entry.schema, "violations", Value::Object(counted));
    }
}

fn describe_declared(entry: &mut SchemaEntry, sent: &SeenEvent) {
    let declared = entry.schema.get("properties").and_then(Value::as_object);
    let undeclared: Map<String, Value> = sent
        .properties
        .iter()
        .filter(|p| !declared.is_some_and(|d| d.contains_key(&p.name)))
        .map(|p| (p.name.clone(), sent_value(p)))
        .collect();
    annotate(&mut entry.schema, "inferred", Value::Bool(false));
    seen_times(&mut entry.schema, sent);
    annotate(&mut entry.schema, "undeclared", Value::Object(undeclared));
}

fn inferred_entry(sent: SeenEvent) -> SchemaEntry {
    let properties: Map<String, Value> =
        sent.properties.iter().map(|p| (p.name.clone(), json!({"type": one_type(&p.kinds).as_str()}))).collect();
    let each: Map<String, Value> = sent.properties.iter().map(|p| (p.name.clone(), sent_value(p))).collect();
    let mut schema = json!({"properties": properties});
    annotate(&mut schema, "inferred", Value::Bool(true));
    seen_times(&mut schema, &sent);
    annotate(&mut schema, "sent", Value::Object(each));
    SchemaEntry { entity_type: EntityType::Event, name: sent.name, schema }
}

fn seen_times(schema: &mut Value, sent: &SeenEvent) {
    annotate(schema, "count", Value::from(sent.count));
    annotate(schema, "firstSeen", Value::String(iso(sent.first_ms)));
    annotate(schema, "lastSeen", Value::String(iso(sent.last_ms)));
}

/// What was seen of one property: `{"kinds": [...], "firstSeen"}`.
fn sent_value(p: &SeenProperty) -> Value {
    let kinds: Vec<Value> = p.kinds.iter().map(|k| Value::from(k.as_str())).collect();
    json!({"kinds": kinds, "firstSeen": iso(p.first_ms)})
}

/// The one type a schema gives a property that held `kinds`: the kind itself; a number
/// for integers and fractions; the other kind beside `null`; text when several kinds
/// remain (every kind is under `sent`).
fn one_type(kinds: &[JsonType]) -> JsonType {
    let mut rest: Vec<JsonType> = kinds.iter().copied().filter(|k| *k != JsonType::Null).collect();
    if rest.iter().all(|k| matches!(k, JsonType::Integer | JsonType::Number)) && rest.len() == 2 {
        return JsonType::Number;
    }
    match rest.len() {
        0 => JsonType::Null,
        1 => rest.remove(0),
        _ => JsonType::String,
    }
}

fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(name: &str, props: &[(&str, &[JsonType])]) -> SeenEvent {
        SeenEvent {
            name: name.into(),
            count: 3,
            first_ms: 0,
            last_ms: 86_400_000,
            properties: props
                .iter()
                .map(|(n, k)| SeenProperty { name: (*n).into(), kinds: k.to_vec(), first_ms: 0 })
                .collect(),
        }
    }

    #[test]
    fn sent_and_declared_are_merged_in_order() {
        use JsonType::*;
        let declared = vec![
            SchemaEntry {
                entity_type: EntityType::Event,
                name: "Buy".into(),
                schema: json!({"properties": {"amount": {"type": "number"}}}),
            },
            SchemaEntry { entity_type: EntityType::Profile, name: "$email".into(), schema: json!({}) },
        ];
        let sent = vec![
            seen("Buy", &[("amount", &[String]), ("sku", &[Null, String])]),
            seen("Anon", &[("n", &[Integer, Number]), ("x", &[Boolean, String]), ("z", &[Null])]),
        ];
        let violations = Violations::from([(("Buy".into(), "amount".into()), 2), (("Buy".into(), "gone".into()), 9)]);
        let out = merged(declared, Some(sent), &violations);
        let names: Vec<&str> = out.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["Anon", "Buy", "$email"]);
        assert_eq!(
            out[0].schema,
            json!({"properties": {"n": {"type": "number"}, "x": {"type": "string"}, "z": {"type": "null"}},
                   "metadata": {"sextant": {"inferred": true, "count": 3, "firstSeen": "1970-01-01T00:00:00Z",
                   "lastSeen": "1970-01-02T00:00:00Z",
                   "sent": {"n": {"kinds": ["integer", "number"], "firstSeen": "1970-01-01T00:00:00Z"},
                            "x": {"kinds": ["boolean", "string"], "firstSeen": "1970-01-01T00:00:00Z"},
                            "z": {"kinds": ["null"], "firstSeen": "1970-01-01T00:00:00Z"}}}}})
        );
        let ours = &out[1].schema["metadata"]["sextant"];
        assert_eq!(ours["inferred"], false);
        assert_eq!(ours["violations"], json!({"amount": 2}));
        assert_eq!(
            ours["undeclared"],
            json!({"sku": {"kinds": ["null", "string"], "firstSeen": "1970-01-01T00:00:00Z"}})
        );
        assert_eq!(out[2].schema, json!({}));
        // Without what was sent: the declared entries and their violations only.
        let alone = merged(out[1..].to_vec(), None, &Violations::new());
        assert_eq!(alone.len(), 2);
    }
}
