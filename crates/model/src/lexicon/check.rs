//! The JSON Schema subset a Lexicon `schemaJson` keeps to, as Mixpanel's spec describes
//! it:
//!
//! - `description`: text;
//! - `properties`: each property's `type` (one of [`super::JsonType`]'s names, or a
//!   list of them), `description`, and `metadata["com.mixpanel"]` (`displayName`,
//!   `hidden`, `dropped`), nothing else;
//! - `required`: names;
//! - `metadata["com.mixpanel"]`: `$source`, `displayName`, `tags`, `hidden`,
//!   `dropped`, `contacts`, `teamContacts`, nothing else;
//! - `type`, when given, `object`.
//!
//! Other top-level keywords (`$schema`, `additionalProperties`, other vendors' metadata)
//! are kept as sent, as JSON Schema allows. Each problem names its place in the request.

use serde_json::Value;

use super::declarations::JsonType;

/// A problem: the place at fault (`entries[3].schemaJson.properties.amount.type`) and
/// what is wrong there.
pub type Problem = (String, String);

/// The longest name of an entry or a property, in characters (an event name's limit).
pub const MAX_NAME_CHARS: usize = 255;

/// The most properties one entry declares.
pub const MAX_PROPERTIES: usize = 1_000;

/// Checks an entry's or a property's name.
pub fn check_name(name: &str, at: &str, problems: &mut Vec<Problem>) {
    if name.trim().is_empty() {
        problems.push((at.into(), "must not be empty".into()));
    } else if name.chars().any(char::is_control) {
        problems.push((at.into(), "must not hold control characters".into()));
    } else if name.chars().count() > MAX_NAME_CHARS {
        problems.push((at.into(), format!("is longer than {MAX_NAME_CHARS} characters")));
    }
}

/// Checks a `schemaJson` found at `at`, adding each problem.
pub fn check_schema(schema: &Value, at: &str, problems: &mut Vec<Problem>) {
    let Some(object) = schema.as_object() else {
        problems.push((at.into(), "must be an object (a JSON Schema)".into()));
        return;
    };
    text(object.get("description"), &format!("{at}.description"), problems);
    if let Some(kind) = object.get("type")
        && kind != "object"
    {
        problems.push((format!("{at}.type"), "must be `object` when given".into()));
    }
    match object.get("properties") {
        None => {}
        Some(Value::Object(properties)) => {
            if properties.len() > MAX_PROPERTIES {
                problems.push((format!("{at}.properties"), format!("declares more than {MAX_PROPERTIES} properties")));
            }
            for (name, property) in properties {
                let here = format!("{at}.properties.{name}");
                check_name(name, &here, problems);
                check_property(property, &here, problems);
            }
        }
        Some(_) => problems.push((format!("{at}.properties"), "must be an object of property definitions".into())),
    }
    match object.get("required") {
        None => {}
        Some(Value::Array(names)) if names.iter().all(Value::is_string) => {}
        Some(_) => problems.push((format!("{at}.required"), "must be a list of property names".into())),
    }
    let entity_keys: &[(&str, Kind)] = &[
        ("$source", Kind::Text),
        ("displayName", Kind::Text),
        ("tags", Kind::Texts),
        ("hidden", Kind::Flag),
        ("dropped", Kind::Flag),
        ("contacts", Kind::Texts),
        ("teamContacts", Kind::Texts),
    ];
    check_metadata(object.get("metadata"), &format!("{at}.metadata"), entity_keys, problems);
}

fn check_property(property: &Value, at: &str, problems: &mut Vec<Problem>) {
    let Some(object) = property.as_object() else {
        problems.push((at.into(), "must be an object with a `type`".into()));
        return;
    };
    for key in object.keys().filter(|k| !matches!(k.as_str(), "type" | "description" | "metadata")) {
        problems.push((format!("{at}.{key}"), "is not a key of a property (`type`, `description`, `metadata`)".into()));
    }
    let names = JsonType::ALL.map(JsonType::as_str).join(", ");
    match object.get("type") {
        Some(Value::String(t)) if JsonType::parse(t).is_some() => {}
        Some(Value::Array(ts))
            if !ts.is_empty() && ts.iter().all(|t| t.as_str().and_then(JsonType::parse).is_some()) => {}
        Some(_) => problems.push((format!("{at}.type"), format!("must be one of {names} (or a list of them)"))),
        None => problems.push((format!("{at}.type"), format!("is required: one of {names}"))),
    }
    text(object.get("description"), &format!("{at}.description"), problems);
    let property_keys: &[(&str, Kind)] =
        &[("displayName", Kind::Text), ("hidden", Kind::Flag), ("dropped", Kind::Flag)];
    check_metadata(object.get("metadata"), &format!("{at}.metadata"), property_keys, problems);
}

#[derive(Clone, Copy)]
enum Kind {
    Text,
    Texts,
    Flag,
}

fn check_metadata(metadata: Option<&Value>, at: &str, keys: &[(&str, Kind)], problems: &mut Vec<Problem>) {
    let metadata = match metadata {
        None => return,
        Some(Value::Object(m)) => m,
        Some(_) => return problems.push((at.into(), "must be an object".into())),
    };
    let mixpanel = match metadata.get(super::MIXPANEL) {
        None => return,
        Some(Value::Object(m)) => m,
        Some(_) => return problems.push((format!("{at}.com.mixpanel"), "must be an object".into())),
    };
    for (key, value) in mixpanel {
        let here = format!("{at}.com.mixpanel.{key}");
        let fits = match keys.iter().find(|(k, _)| k == key).map(|(_, kind)| *kind) {
            None => {
                let known = keys.iter().map(|(k, _)| format!("`{k}`")).collect::<Vec<_>>().join(", ");
                problems.push((here, format!("is not a Mixpanel metadata key here ({known})")));
                continue;
            }
            Some(Kind::Text) => value.is_string(),
            Some(Kind::Texts) => value.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
            Some(Kind::Flag) => value.is_boolean(),
        };
        if !fits {
            let want = match keys.iter().find(|(k, _)| k == key).map(|(_, kind)| *kind) {
                Some(Kind::Text) => "a string",
                Some(Kind::Texts) => "a list of strings",
                _ => "true or false",
            };
            problems.push((here, format!("must be {want}")));
        }
    }
}

fn text(value: Option<&Value>, at: &str, problems: &mut Vec<Problem>) {
    if value.is_some_and(|v| !v.is_string()) {
        problems.push((at.into(), "must be a string".into()));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn problems(schema: Value) -> Vec<String> {
        let mut out = Vec::new();
        check_schema(&schema, "s", &mut out);
        out.into_iter().map(|(f, _)| f).collect()
    }

    #[test]
    fn the_spec_example_passes() {
        let schema = json!({
            "description": "User completes a purchase",
            "$schema": "http://json-schema.org/draft-07/schema",
            "type": "object",
            "required": ["amount"],
            "properties": {
                "amount": {"type": "number", "description": "Purchase amount",
                           "metadata": {"com.mixpanel": {"displayName": "Amount", "hidden": false, "dropped": false}}},
                "coupon": {"type": ["string", "null"]}
            },
            "metadata": {"com.mixpanel": {"$source": "api", "displayName": "Purchase", "tags": ["core"],
                         "hidden": false, "dropped": false, "contacts": ["a@b.c"], "teamContacts": ["Growth"]},
                         "vendor.other": {"anything": 1}}
        });
        assert!(problems(schema).is_empty());
    }

    #[test]
    fn each_problem_names_its_place() {
        let schema = json!({
            "description": 3,
            "type": "array",
            "required": "amount",
            "properties": {"amount": {"kind": "number"}, "sku": {"type": "text", "metadata": {"com.mixpanel": {"tags": []}}}},
            "metadata": {"com.mixpanel": {"hidden": "yes", "owner": "me"}}
        });
        assert_eq!(
            problems(schema),
            [
                "s.description",
                "s.type",
                "s.properties.amount.kind",
                "s.properties.amount.type",
                "s.properties.sku.type",
                "s.properties.sku.metadata.com.mixpanel.tags",
                "s.required",
                "s.metadata.com.mixpanel.hidden",
                "s.metadata.com.mixpanel.owner",
            ]
        );
        assert_eq!(problems(json!([1])), ["s"]);
    }
}
