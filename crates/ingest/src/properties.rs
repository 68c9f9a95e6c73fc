//! An event's properties as sent, parsed once and mostly left as text.
//!
//! Nearly every property of a real event is a short string, a number or a flag that is
//! stored exactly as it arrived. Building a `serde_json::Value` tree for each record
//! and writing it back out cost about as much as the rest of ingestion together, so a
//! record's properties are read as `(name, JSON text)` pairs borrowed from the request
//! body: a string short enough to need no truncation and free of escapes, `true`,
//! `false` and `null` stay text and are copied out as they came; anything else (numbers,
//! long or escaped strings, lists, objects) is parsed to a `Value`, which also checks it
//! the way parsing the whole record used to. The properties are written out sorted by
//! name, as a `serde_json::Map` would: the stored text is the same as before.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use sextant_model::limits::MAX_STRING_CHARS;

/// One property's value: untouched text, or parsed.
#[derive(Debug)]
pub(crate) enum Prop<'a> {
    /// A short plain string, `true`, `false` or `null`, exactly as sent.
    Text(&'a str),
    /// Everything else, parsed (and later truncated and checked against the limits).
    Parsed(Value),
}

/// The properties of one record: unique names, sorted, the last of repeated names kept
/// (as JSON objects are read everywhere else).
#[derive(Debug, Default)]
pub(crate) struct Properties<'a> {
    entries: Vec<(Cow<'a, str>, Prop<'a>)>,
}

impl<'a> Properties<'a> {
    /// Reads a `properties` object. `Ok(None)` when the text is not an object; an error
    /// when a value cannot be parsed (such as a number out of range).
    #[cfg(test)]
    pub(crate) fn parse(text: &'a str) -> Result<Option<Properties<'a>>, serde_json::Error> {
        match serde_json::from_str::<SentProperties<'a>>(text)? {
            SentProperties::Object(pairs) => Properties::from_pairs(pairs).map(Some),
            SentProperties::Null | SentProperties::NotObject => Ok(None),
        }
    }

    /// The properties of an object read as (name, value text) pairs in the order sent;
    /// an error when a value cannot be parsed (such as a number out of range).
    pub(crate) fn from_pairs(pairs: Pairs<'a>) -> Result<Properties<'a>, serde_json::Error> {
        let mut entries = Vec::with_capacity(pairs.len() + 5);
        for (name, raw) in pairs {
            let name = match name {
                Cow::Borrowed(s) if s.len() > MAX_STRING_CHARS => Cow::Owned(truncate(s.to_string())),
                Cow::Owned(s) => Cow::Owned(truncate(s)),
                name => name,
            };
            entries.push((name, Prop::read(raw.get())?));
        }
        // Stable, so equal names keep their order and the last one sent is kept.
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let mut unique: Vec<(Cow<'a, str>, Prop<'a>)> = Vec::with_capacity(entries.len() + 5);
        for entry in entries {
            match unique.last_mut() {
                Some(last) if last.0 == entry.0 => *last = entry,
                _ => unique.push(entry),
            }
        }
        Ok(Properties { entries: unique })
    }

    fn position(&self, name: &str) -> Result<usize, usize> {
        self.entries.binary_search_by(|(k, _)| k.as_ref().cmp(name))
    }

    /// The value of `name`, if sent.
    pub(crate) fn get(&self, name: &str) -> Option<Cow<'_, Value>> {
        let index = self.position(name).ok()?;
        Some(match &self.entries[index].1 {
            Prop::Parsed(v) => Cow::Borrowed(v),
            // Text values are valid JSON of a simple kind (checked in `Prop::read`).
            Prop::Text(text) => Cow::Owned(serde_json::from_str(text).unwrap_or(Value::Null)),
        })
    }

    /// Whether `name` was sent (whatever its value).
    pub(crate) fn contains_key(&self, name: &str) -> bool {
        self.position(name).is_ok()
    }

    /// Removes `name` if present.
    pub(crate) fn remove(&mut self, name: &str) {
        if let Ok(index) = self.position(name) {
            self.entries.remove(index);
        }
    }

    /// Sets `name`, replacing a sent value.
    pub(crate) fn insert(&mut self, name: &'a str, value: Value) {
        match self.position(name) {
            Ok(index) => self.entries[index].1 = Prop::Parsed(value),
            Err(index) => self.entries.insert(index, (Cow::Borrowed(name), Prop::Parsed(value))),
        }
    }

    /// Adds each of `values` that was not sent.
    pub(crate) fn insert_missing(&mut self, values: Map<String, Value>) {
        for (name, value) in values {
            if let Err(index) = self.position(&name) {
                self.entries.insert(index, (Cow::Owned(name), Prop::Parsed(value)));
            }
        }
    }

    /// How many properties there are.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Each property's name and its parsed value, for checks that only concern parsed
    /// values (text values are within every limit by construction).
    pub(crate) fn parsed_mut(&mut self) -> impl Iterator<Item = (&str, &mut Value)> {
        self.entries.iter_mut().filter_map(|(name, value)| {
            let name: &Cow<'a, str> = name;
            match value {
                Prop::Parsed(value) => Some((name.as_ref(), value)),
                Prop::Text(_) => None,
            }
        })
    }

    /// The properties as one JSON object, names in order.
    pub(crate) fn to_json(&self, capacity: usize) -> Result<String, serde_json::Error> {
        let mut out: Vec<u8> = Vec::with_capacity(capacity);
        out.push(b'{');
        for (i, (name, value)) in self.entries.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            serde_json::to_writer(&mut out, name.as_ref())?;
            out.push(b':');
            match value {
                Prop::Text(text) => out.extend_from_slice(text.as_bytes()),
                Prop::Parsed(v) => serde_json::to_writer(&mut out, v)?,
            }
        }
        out.push(b'}');
        // Only UTF-8 went in: `serde_json`'s own output and slices of a `&str`.
        Ok(String::from_utf8(out).unwrap_or_default())
    }
}

impl<'a> Prop<'a> {
    /// Keeps `text` (one JSON value, already checked as JSON) as text when it is stored
    /// exactly as sent, and parses it otherwise.
    fn read(text: &'a str) -> Result<Prop<'a>, serde_json::Error> {
        // A string's text is at least as long as its characters, so one no longer than
        // the limit (plus its quotes) needs no truncation; without escapes, serde_json
        // would write it back byte for byte.
        let plain_string =
            text.len() <= MAX_STRING_CHARS + 2 && text.starts_with('"') && !text.as_bytes().contains(&b'\\');
        if plain_string || matches!(text, "true" | "false" | "null") {
            Ok(Prop::Text(text))
        } else {
            serde_json::from_str(text).map(Prop::Parsed)
        }
    }
}

/// Cuts a string to [`MAX_STRING_CHARS`] characters.
pub(crate) fn truncate(mut s: String) -> String {
    if s.len() > MAX_STRING_CHARS
        && let Some((idx, _)) = s.char_indices().nth(MAX_STRING_CHARS)
    {
        s.truncate(idx);
    }
    s
}

/// A JSON object's (name, value text) pairs in the order sent.
pub(crate) type Pairs<'a> = Vec<(Cow<'a, str>, &'a RawValue)>;

/// A record's `properties` value, read in the same pass as the rest of the record (it
/// used to be kept as text and read again): an object's pairs, `null`, or anything else.
pub(crate) enum SentProperties<'a> {
    /// `null`.
    Null,
    /// An object.
    Object(Pairs<'a>),
    /// A value of another type (an error for the caller to report).
    NotObject,
}

impl<'de: 'a, 'a> Deserialize<'de> for SentProperties<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SentVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for SentVisitor<'a> {
            type Value = SentProperties<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(32));
                while let Some((Name(name), value)) = map.next_entry::<Name<'de>, &'de RawValue>()? {
                    pairs.push((name, value));
                }
                Ok(SentProperties::Object(pairs))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(SentProperties::Null)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(SentProperties::NotObject)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(SentProperties::NotObject)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(SentProperties::NotObject)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(SentProperties::NotObject)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(SentProperties::NotObject)
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(SentProperties::NotObject)
            }
        }
        deserializer.deserialize_any(SentVisitor(std::marker::PhantomData))
    }
}

/// A property name, borrowed from the request body unless it had escapes.
#[derive(Deserialize)]
struct Name<'a>(#[serde(borrow)] Cow<'a, str>);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The text the old path stored: the object parsed to a `Map` and written back.
    fn through_map(text: &str) -> String {
        serde_json::from_str::<Value>(text).unwrap().to_string()
    }

    #[test]
    fn writes_what_a_parsed_map_would() {
        for text in [
            r#"{"b":"x","a":1,"c":[1,"two",{"z":null}],"d":true,"e":null,"f":1.5e3,"g":-0.0}"#,
            r#"{"esc\"aped":"line\nbreak","u":"\u00e9t\u00e9","plain":"été","dup":1,"dup":"last"}"#,
            r#"{ "spaced" : "value" , "n" : 10 , "o" : { "k" : [ 1 , 2 ] } }"#,
            r#"{}"#,
        ] {
            let props = Properties::parse(text).unwrap().unwrap();
            assert_eq!(props.to_json(0).unwrap(), through_map(text), "{text}");
        }
    }

    #[test]
    fn long_strings_and_names_are_parsed_so_they_can_be_truncated() {
        let long = "x".repeat(MAX_STRING_CHARS + 1);
        let text = json!({ "s": long, "t": "x".repeat(MAX_STRING_CHARS), long.clone(): 1 }).to_string();
        let mut props = Properties::parse(&text).unwrap().unwrap();
        assert!(matches!(props.entries.iter().find(|e| e.0 == "s").unwrap().1, Prop::Parsed(_)));
        assert!(matches!(props.entries.iter().find(|e| e.0 == "t").unwrap().1, Prop::Text(_)));
        assert!(props.contains_key(&long[..MAX_STRING_CHARS]));
        assert_eq!(props.parsed_mut().count(), 2);
    }

    #[test]
    fn lookups_inserts_and_removals() {
        let mut props = Properties::parse(r#"{"time":1700000000,"distinct_id":"u1","token":"t"}"#).unwrap().unwrap();
        assert_eq!(props.get("distinct_id").as_deref(), Some(&json!("u1")));
        assert_eq!(props.get("time").as_deref(), Some(&json!(1_700_000_000)));
        props.remove("token");
        props.insert("$import", json!(true));
        props.insert("distinct_id", json!("u2"));
        props.insert_missing([("$city".to_string(), json!("Paris")), ("time".into(), json!(0))].into_iter().collect());
        assert_eq!(
            props.to_json(0).unwrap(),
            r#"{"$city":"Paris","$import":true,"distinct_id":"u2","time":1700000000}"#
        );
        assert_eq!(props.len(), 4);
    }

    fn any_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let text = prop_oneof![
            "[a-z$ _]{0,6}",
            "[\\u{0}-\\u{7f}]{0,8}",
            "[\"\\\\\n\té\u{1F600}a]{0,4}",
            proptest::string::string_regex("x{250,260}").unwrap(),
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
            text.prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 5, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map("[a-c\"]{0,2}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        /// Any object, names in any order and some repeated, spaced or not, comes out
        /// as the map-parsed text would (before truncation, which the caller does).
        #[test]
        fn any_object_matches_the_map_path(
            pairs in proptest::collection::vec(("[a-e\"\\\\é]{0,3}", any_json()), 0..12),
            spaced in proptest::bool::ANY,
        ) {
            let sep = if spaced { " , " } else { "," };
            let body: Vec<String> = pairs
                .iter()
                .map(|(k, v)| format!("{}:{}", Value::String(k.clone()), v))
                .collect();
            let text = format!("{{{}}}", body.join(sep));
            let props = Properties::parse(&text).unwrap().unwrap();
            proptest::prop_assert_eq!(props.to_json(0).unwrap(), through_map(&text));
        }
    }

    #[test]
    fn non_objects_and_bad_numbers() {
        assert!(Properties::parse("3").unwrap().is_none());
        assert!(Properties::parse("[1]").unwrap().is_none());
        assert!(Properties::parse(r#"{"n":1e400}"#).is_err());
    }
}
