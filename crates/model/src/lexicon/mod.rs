//! Lexicon schemas: a project's data dictionary, as Mixpanel's Lexicon Schemas API keeps
//! it. An entry describes one event (or the user profile) with a JSON Schema subset:
//! `description`, `properties` (each with a `type`), `required`, and
//! `metadata["com.mixpanel"]` (display name, tags, hidden, dropped, contacts).
//!
//! - [`check`]: the subset a `schemaJson` must keep to, each problem named by its place
//!   in the request (`entries[3].schemaJson.properties.amount.type`).
//! - [`declarations`]: what the entries make ingestion do: drop events and properties
//!   declared `dropped`, count values that break their declared type.
//!
//! This module also says what a request means: the entries of a batch
//! ([`parse_batch`]), how a replaced entry keeps the Mixpanel metadata the request left
//! out ([`merged`]), and what an entry costs against the per-minute budget ([`items`]).

pub mod check;
pub mod declarations;

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use serde_json::{Map, Value};

pub use check::{Problem, check_name, check_schema};
pub use declarations::{Applied, Declarations, EventDeclaration, JsonType};

/// What an entry describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntityType {
    /// An event, by name.
    Event,
    /// User profiles (Mixpanel names the entry `$user`).
    Profile,
}

impl EntityType {
    /// Both, in listing order.
    pub const ALL: [EntityType; 2] = [EntityType::Event, EntityType::Profile];

    /// The spelling of paths and bodies.
    pub fn as_str(self) -> &'static str {
        match self {
            EntityType::Event => "event",
            EntityType::Profile => "profile",
        }
    }

    /// The entity type `text` spells, if it is one.
    pub fn parse(text: &str) -> Option<EntityType> {
        EntityType::ALL.into_iter().find(|t| t.as_str() == text)
    }
}

/// One entry of the dictionary.
#[derive(Clone, Debug, PartialEq)]
pub struct SchemaEntry {
    /// What it describes.
    pub entity_type: EntityType,
    /// The event's name (or the profile entry's).
    pub name: String,
    /// The schema, as checked by [`check_schema`].
    pub schema: Value,
}

/// The most schemas one request may delete, by a delete or by `truncate` (Mixpanel's
/// "3,000 truncations/deletions per request").
pub const MAX_DELETIONS_PER_REQUEST: u64 = 3_000;

/// The Mixpanel metadata key.
pub const MIXPANEL: &str = "com.mixpanel";

/// A batch upload: its entries (the last of several with one type and name wins) and
/// whether the rest of the dictionary is to be truncated.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// The entries, in request order, each type and name once.
    pub entries: Vec<SchemaEntry>,
    /// `truncate`: delete every entry the batch does not name.
    pub truncate: bool,
}

/// Reads the body of `POST /schemas`: `{"entries": [...], "truncate": false}` and no
/// other key. Every problem is reported, each naming its place. Entries marked as
/// inferred (`metadata.sextant.inferred`, as `GET /schemas` shows what was sent but
/// never declared) are passed over.
pub fn parse_batch(body: &Value) -> Result<Batch, Vec<Problem>> {
    let mut problems = Vec::new();
    let Some(object) = body.as_object() else {
        return Err(vec![("body".into(), "must be a JSON object with `entries`".into())]);
    };
    for key in object.keys().filter(|k| !matches!(k.as_str(), "entries" | "truncate")) {
        problems.push((key.clone(), "is not a key of this body (`entries`, `truncate`)".into()));
    }
    let truncate = match object.get("truncate") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            problems.push(("truncate".into(), "must be true or false".into()));
            false
        }
    };
    let mut entries: Vec<SchemaEntry> = Vec::new();
    match object.get("entries") {
        Some(Value::Array(items)) => {
            // Where each (type, name) is in `entries`: the last of several wins, in
            // the place of the first.
            let mut at: HashMap<(EntityType, String), usize> = HashMap::new();
            for (i, item) in items.iter().enumerate() {
                if is_inferred(item) {
                    continue;
                }
                if let Some(entry) = parse_entry(item, &format!("entries[{i}]"), &mut problems) {
                    match at.entry((entry.entity_type, entry.name.clone())) {
                        std::collections::hash_map::Entry::Occupied(seen) => entries[*seen.get()] = entry,
                        std::collections::hash_map::Entry::Vacant(place) => {
                            place.insert(entries.len());
                            entries.push(entry);
                        }
                    }
                }
            }
        }
        Some(_) => problems.push(("entries".into(), "must be a list of schema entries".into())),
        None => problems.push(("entries".into(), "is required: a list of schema entries".into())),
    }
    if problems.is_empty() { Ok(Batch { entries, truncate }) } else { Err(problems) }
}

/// Whether an entry is one `GET /schemas` listed as inferred (sent, never declared): a
/// client that writes back what it read declares nothing by it.
fn is_inferred(item: &Value) -> bool {
    item.pointer("/schemaJson/metadata/sextant/inferred") == Some(&Value::Bool(true))
}

fn parse_entry(item: &Value, at: &str, problems: &mut Vec<Problem>) -> Option<SchemaEntry> {
    let Some(object) = item.as_object() else {
        problems.push((at.into(), "must be an object with `entityType`, `name` and `schemaJson`".into()));
        return None;
    };
    let before = problems.len();
    for key in object.keys().filter(|k| !matches!(k.as_str(), "entityType" | "name" | "schemaJson")) {
        problems.push((format!("{at}.{key}"), "is not a key of an entry (`entityType`, `name`, `schemaJson`)".into()));
    }
    let entity_type = match object.get("entityType") {
        Some(Value::String(t)) => EntityType::parse(t),
        _ => None,
    };
    if entity_type.is_none() {
        problems.push((format!("{at}.entityType"), "is required: `event` or `profile`".into()));
    }
    let name = match object.get("name") {
        Some(Value::String(name)) => {
            check_name(name, &format!("{at}.name"), problems);
            Some(name.clone())
        }
        _ => {
            problems.push((format!("{at}.name"), "is required: a string".into()));
            None
        }
    };
    match object.get("schemaJson") {
        Some(schema) => check_schema(schema, &format!("{at}.schemaJson"), problems),
        None => problems.push((format!("{at}.schemaJson"), "is required: an object".into())),
    }
    match (entity_type, name, object.get("schemaJson")) {
        (Some(entity_type), Some(name), Some(schema)) if problems.len() == before => {
            let mut schema = schema.clone();
            forget_annotations(&mut schema);
            Some(SchemaEntry { entity_type, name, schema })
        }
        _ => None,
    }
}

/// Reads the body of `POST /schemas/{entityType}/{name}`: one schema.
pub fn parse_one(entity_type: EntityType, name: &str, mut schema: Value) -> Result<SchemaEntry, Vec<Problem>> {
    let mut problems = Vec::new();
    check_name(name, "name", &mut problems);
    check_schema(&schema, "body", &mut problems);
    forget_annotations(&mut schema);
    if problems.is_empty() { Ok(SchemaEntry { entity_type, name: name.into(), schema }) } else { Err(problems) }
}

/// Where Sextant adds what it knows to a schema it shows (`metadata.sextant`: the
/// violations counted, whether an entry was inferred); never stored, since a client may
/// send back what it read.
pub const SEXTANT: &str = "sextant";

/// Sets `metadata.sextant.<key>` on a schema shown to a client.
pub fn annotate(schema: &mut Value, key: &str, value: Value) {
    let Some(object) = schema.as_object_mut() else { return };
    let metadata = object.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
    let Some(metadata) = metadata.as_object_mut() else { return };
    let ours = metadata.entry(SEXTANT).or_insert_with(|| Value::Object(Map::new()));
    if let Some(ours) = ours.as_object_mut() {
        ours.insert(key.into(), value);
    }
}

/// Removes what [`annotate`] added.
fn forget_annotations(schema: &mut Value) {
    if let Some(metadata) = schema.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.remove(SEXTANT);
    }
}

/// What an entry costs against the per-minute budget of events and properties
/// (Mixpanel's "4,000 events and properties updated per minute"): itself and each
/// property it declares.
pub fn items(entry: &SchemaEntry) -> u64 {
    1 + entry.schema.get("properties").and_then(Value::as_object).map_or(0, |p| p.len() as u64)
}

/// `new` as it replaces `current`: the request's schema, except that each
/// `metadata["com.mixpanel"]` key the request leaves out keeps its current value (as
/// the spec says), for the entry and for each property both declare.
pub fn merged(current: &Value, mut new: Value) -> Value {
    keep_mixpanel_metadata(current, &mut new);
    if let (Some(old), Some(Value::Object(props))) =
        (current.get("properties").and_then(Value::as_object), new.get_mut("properties"))
    {
        for (name, property) in props.iter_mut() {
            if let Some(before) = old.get(name) {
                keep_mixpanel_metadata(before, property);
            }
        }
    }
    new
}

fn keep_mixpanel_metadata(current: &Value, new: &mut Value) {
    let Some(kept) = current.pointer("/metadata/com.mixpanel").and_then(Value::as_object) else { return };
    let Some(new) = new.as_object_mut() else { return };
    let metadata = new.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
    let Some(metadata) = metadata.as_object_mut() else { return };
    let mixpanel = metadata.entry(MIXPANEL).or_insert_with(|| Value::Object(Map::new()));
    let Some(mixpanel) = mixpanel.as_object_mut() else { return };
    for (key, value) in kept {
        mixpanel.entry(key.clone()).or_insert_with(|| value.clone());
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_batch_names_every_problem_by_place() {
        let body = json!({"entries": [
            {"entityType": "event", "name": "Purchase", "schemaJson": {"properties": {"amount": {"type": "number"}}}},
            {"entityType": "thing", "name": "", "schemaJson": {"properties": {"a": {"type": "decimal"}}}},
        ], "truncate": "yes", "extra": 1});
        let problems = parse_batch(&body).unwrap_err();
        let fields: Vec<&str> = problems.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "extra",
                "truncate",
                "entries[1].entityType",
                "entries[1].name",
                "entries[1].schemaJson.properties.a.type"
            ]
        );
    }

    #[test]
    fn the_last_of_one_name_wins_and_items_count_properties() {
        let body = json!({"entries": [
            {"entityType": "event", "name": "A", "schemaJson": {"description": "first"}},
            {"entityType": "profile", "name": "A", "schemaJson": {}},
            {"entityType": "event", "name": "A", "schemaJson": {"properties": {"x": {"type": "string"}, "y": {"type": "integer"}}}},
        ], "truncate": true});
        let batch = parse_batch(&body).unwrap();
        assert!(batch.truncate);
        assert_eq!(batch.entries.len(), 2);
        assert_eq!(batch.entries[0].entity_type, EntityType::Event);
        assert_eq!(items(&batch.entries[0]), 3, "the last of `A`, in the place of the first");
        assert_eq!(batch.entries[1].entity_type, EntityType::Profile);
        let read_back = json!({"entries": [
            {"entityType": "event", "name": "Sent", "schemaJson": {"metadata": {"sextant": {"inferred": true}}}},
            {"entityType": "event", "name": "Declared", "schemaJson": {"metadata": {"sextant": {"inferred": false, "count": 3}}}}
        ]});
        let batch = parse_batch(&read_back).unwrap();
        assert_eq!(batch.entries.len(), 1, "inferred entries declare nothing");
        assert_eq!(batch.entries[0].schema, json!({"metadata": {}}), "Sextant's annotations are not stored");
    }

    #[test]
    fn a_replacement_keeps_the_mixpanel_metadata_it_leaves_out() {
        let current = json!({
            "description": "old",
            "properties": {"amount": {"type": "number", "metadata": {"com.mixpanel": {"hidden": true}}}},
            "metadata": {"com.mixpanel": {"displayName": "Buy", "tags": ["core"], "hidden": true}}
        });
        let new = json!({
            "description": "new",
            "properties": {"amount": {"type": "integer"}, "sku": {"type": "string"}},
            "metadata": {"com.mixpanel": {"hidden": false}}
        });
        let out = merged(&current, new);
        assert_eq!(out["description"], "new");
        assert_eq!(out["metadata"]["com.mixpanel"], json!({"displayName": "Buy", "tags": ["core"], "hidden": false}));
        assert_eq!(
            out["properties"]["amount"],
            json!({"type": "integer", "metadata": {"com.mixpanel": {"hidden": true}}})
        );
        assert_eq!(out["properties"]["sku"], json!({"type": "string"}));
    }
}
