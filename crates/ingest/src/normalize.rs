//! Per-event validation and normalisation (wire-semantics §1.2 to §1.6).
//!
//! A record either becomes a [`NormalizedEvent`], is dropped on purpose (`$ignore`, or
//! older than `/track`'s five-day window, both answered as success as Mixpanel does), or
//! fails with a [`RecordError`] naming the field.

use serde_json::value::RawValue;
use serde_json::{Map, Value};
use sextant_model::limits::{
    IMPORT_EARLIEST_MS, IMPORT_FUTURE_TOLERANCE_MS, MAX_EVENT_BYTES, MAX_INSERT_ID_BYTES, MAX_LIST_ELEMENTS,
    MAX_NESTING_DEPTH, MAX_OBJECT_KEYS, MAX_PROPERTIES, MAX_STRING_CHARS, TRACK_WINDOW_DAYS, is_blocked_id,
};
use sextant_model::time::{DAY_MS, time_value_to_ms};
use sextant_model::{EventRow, ProjectId};
use sha2::{Digest, Sha256};

use crate::error::RecordError;
use crate::properties::{Properties, SentProperties, truncate};

/// Which ingestion endpoint received the record; the rules differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `/track`: recent events from client SDKs.
    Track,
    /// `/import`: historical events from servers, authenticated.
    Import {
        /// `strict=1`: `$insert_id` is required.
        strict: bool,
    },
}

/// What the server knows about the request, passed to every record.
#[derive(Clone, Debug)]
pub struct IngestContext {
    /// Which endpoint.
    pub endpoint: Endpoint,
    /// Receipt time, epoch milliseconds.
    pub now_ms: i64,
    /// The host the client addressed (`$mp_api_endpoint`).
    pub api_endpoint: String,
    /// The client's address, used for a distinct_id when none is sent and `ip=1`.
    pub client_ip: Option<String>,
    /// Whether `ip=1` was sent.
    pub use_ip: bool,
    /// The geolocation database, when the server has one.
    pub geo: Option<std::sync::Arc<dyn crate::geo::Geolocate>>,
}

/// An event that passed validation; it still needs its token resolved to a project.
#[derive(Clone, Debug, PartialEq)]
pub struct NormalizedEvent {
    /// `properties.token`, if the record carried one.
    pub token: Option<String>,
    /// Event name.
    pub event: String,
    /// Epoch milliseconds.
    pub time_ms: i64,
    /// distinct_id (possibly empty).
    pub distinct_id: String,
    /// `$insert_id`, sent or generated.
    pub insert_id: String,
    /// Remaining properties as a JSON object.
    pub properties: String,
    /// What identity merge reads from the event (it stays in `properties` too).
    pub identity: IdentityProps,
}

/// The properties identity merge reads: `$device_id` and `$user_id` (Simplified ID
/// Merge), and those of the `$identify`, `$create_alias` and `$merge` events (Original).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IdentityProps {
    /// `$device_id`, as text.
    pub device_id: Option<String>,
    /// `$user_id`, as text.
    pub user_id: Option<String>,
    /// `$identified_id`.
    pub identified_id: Option<String>,
    /// `$anon_id`, or the JavaScript SDK's `$anon_distinct_id`.
    pub anon_id: Option<String>,
    /// `alias` of `$create_alias`.
    pub alias: Option<String>,
    /// `$distinct_ids` of `$merge`.
    pub merge_ids: Option<Vec<String>>,
}

impl IdentityProps {
    /// Refuses an id with a control character (see [`check_id`]), naming its property.
    fn check_ids(&self) -> Result<(), RecordError> {
        let singles = [
            ("properties.$device_id", &self.device_id),
            ("properties.$user_id", &self.user_id),
            ("properties.$identified_id", &self.identified_id),
            ("properties.$anon_id", &self.anon_id),
            ("properties.alias", &self.alias),
        ];
        for (field, id) in singles {
            if let Some(id) = id {
                check_id(field, id)?;
            }
        }
        self.merge_ids.iter().flatten().try_for_each(|id| check_id("properties.$distinct_ids", id))
    }
}

impl NormalizedEvent {
    /// The storable row, once the project is known.
    pub fn into_row(self, project_id: ProjectId) -> EventRow {
        EventRow {
            project_id,
            event: self.event,
            time_ms: self.time_ms,
            distinct_id: self.distinct_id,
            insert_id: self.insert_id,
            properties: self.properties,
        }
    }
}

/// The fate of one record.
// `Accepted` is nearly every record; boxing it would cost an allocation per event.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Store it.
    Accepted(NormalizedEvent),
    /// Valid, deliberately not stored (answered as success).
    Dropped(DropReason),
}

/// Why a valid record was not stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// The event carried `$ignore`.
    Ignored,
    /// A `/track` event older than the five-day window.
    TooOld,
}

/// Properties the server owns: taken out of `properties` (kept as columns, or not stored).
const LIFTED: [&str; 5] = ["time", "distinct_id", "$insert_id", "token", "ip"];

/// A record as sent: its name, and its properties as (name, value text) pairs.
#[derive(serde::Deserialize)]
struct Record<'a> {
    #[serde(default)]
    event: Option<Value>,
    #[serde(borrow, default)]
    properties: Option<SentProperties<'a>>,
}

/// Validates and normalises one record (`raw` is its JSON text).
pub fn normalize_event(raw: &str, ctx: &IngestContext) -> Result<Outcome, RecordError> {
    let invalid_json = |e: serde_json::Error| RecordError::invalid("event", format!("invalid JSON: {e}"));
    // Checked first: a struct would also be read from a JSON list.
    if !raw.trim_start().starts_with('{') {
        return Err(match serde_json::from_str::<&RawValue>(raw) {
            Ok(_) => RecordError::invalid("event", "record must be a JSON object"),
            Err(e) => invalid_json(e),
        });
    }
    let record: Record = serde_json::from_str(raw).map_err(invalid_json)?;
    let mut props = match record.properties {
        None | Some(SentProperties::Null) => Properties::default(),
        Some(SentProperties::Object(pairs)) => Properties::from_pairs(pairs).map_err(invalid_json)?,
        Some(SentProperties::NotObject) => {
            return Err(RecordError::invalid("properties", "must be a JSON object"));
        }
    };
    let insert_id_sent = match props.get("$insert_id").as_deref() {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let fail = |e: RecordError| e.with_insert_id(insert_id_sent.as_deref());

    if raw.len() > MAX_EVENT_BYTES {
        return Err(fail(RecordError::invalid("event", format!("event is larger than {MAX_EVENT_BYTES} bytes"))));
    }
    let event = match record.event {
        Some(Value::String(s)) if !s.trim().is_empty() => truncate(s),
        _ => return Err(fail(RecordError::invalid("event", "must be a non-empty string"))),
    };
    if props.contains_key("$ignore") {
        return Ok(Outcome::Dropped(DropReason::Ignored));
    }

    let time_ms = match event_time(&props, ctx, &event).map_err(fail)? {
        Some(t) => t,
        None => return Ok(Outcome::Dropped(DropReason::TooOld)),
    };
    let distinct_id = distinct_id(&props, ctx).map_err(fail)?;
    let insert_id = match insert_id_sent.as_deref() {
        Some(id) => validate_insert_id(id).map_err(fail)?,
        None if props.get("$insert_id").is_some_and(|v| !v.is_null()) => {
            return Err(fail(RecordError::invalid("properties.$insert_id", "must be a string")));
        }
        None if matches!(ctx.endpoint, Endpoint::Import { strict: true }) => {
            return Err(RecordError::invalid("properties.$insert_id", "is required"));
        }
        None => uuid::Uuid::new_v4().simple().to_string(),
    };
    let token = match props.get("token").as_deref() {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    let address =
        crate::geo::AddressChoice::read(props.get("ip").as_deref()).address(ctx.client_ip.as_deref(), ctx.use_ip);
    for key in LIFTED {
        props.remove(key);
    }
    if let Some(geo) = &ctx.geo {
        let coordinates =
            crate::geo::coordinates(props.get("$latitude").as_deref(), props.get("$longitude").as_deref());
        if let Some((place, _)) = crate::geo::place_of(geo.as_ref(), coordinates, address) {
            let mut placed = Map::new();
            crate::geo::place_event(&mut placed, &place);
            props.insert_missing(placed);
        }
    }
    if props.len() > MAX_PROPERTIES {
        return Err(fail(RecordError::invalid(
            "properties",
            format!("has {} properties; at most {MAX_PROPERTIES} are allowed", props.len()),
        )));
    }
    for (key, value) in props.parsed_mut() {
        clean_value(value, 1).map_err(|at| fail(at.into_error(key)))?;
    }
    props.insert("$mp_api_endpoint", Value::String(ctx.api_endpoint.clone()));
    props.insert("$mp_api_timestamp_ms", Value::from(ctx.now_ms));
    props.insert("mp_processing_time_ms", Value::from(ctx.now_ms));
    props.insert("$mp_event_size", Value::from(raw.len()));
    if matches!(ctx.endpoint, Endpoint::Import { .. }) {
        props.insert("$import", Value::Bool(true));
    }
    let identity = identity_props(&event, &props);
    identity.check_ids().map_err(fail)?;
    let properties = props.to_json(raw.len() + 160).map_err(invalid_json)?;
    Ok(Outcome::Accepted(NormalizedEvent { token, event, time_ms, distinct_id, insert_id, properties, identity }))
}

/// Reads what identity merge needs; the other properties of identity events are only
/// looked at for those events.
fn identity_props(event: &str, props: &Properties) -> IdentityProps {
    let text = |key: &str| match props.get(key).as_deref() {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let mut found = IdentityProps { device_id: text("$device_id"), user_id: text("$user_id"), ..Default::default() };
    match event {
        "$identify" => {
            found.identified_id = text("$identified_id");
            found.anon_id = text("$anon_id").or_else(|| text("$anon_distinct_id"));
        }
        "$create_alias" => found.alias = text("alias"),
        "$merge" => {
            found.merge_ids = match props.get("$distinct_ids").as_deref() {
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|v| v.as_str().map(str::to_string).or_else(|| v.as_i64().map(|n| n.to_string())))
                    .collect(),
                _ => None,
            }
        }
        _ => {}
    }
    found
}

/// The event time in ms, `Ok(None)` for a `/track` event outside the window.
fn event_time(props: &Properties, ctx: &IngestContext, event: &str) -> Result<Option<i64>, RecordError> {
    let field = "properties.time";
    let bad = || RecordError::invalid(field, "must be specified as seconds since epoch");
    let parsed = match props.get("time").as_deref() {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(n.as_f64().and_then(time_value_to_ms).ok_or_else(bad)?),
        Some(Value::String(s)) => Some(s.trim().parse::<f64>().ok().and_then(time_value_to_ms).ok_or_else(bad)?),
        Some(_) => return Err(bad()),
    };
    match ctx.endpoint {
        Endpoint::Track => {
            let t = parsed.unwrap_or(ctx.now_ms);
            if t < ctx.now_ms - TRACK_WINDOW_DAYS * DAY_MS {
                return Ok(None);
            }
            Ok(Some(t.min(ctx.now_ms)))
        }
        Endpoint::Import { .. } => {
            // Identity events are instructions more than history: the Python SDK's
            // `merge` imports `$merge` without a time, so they default to now.
            let identity_event = matches!(event, "$merge" | "$identify" | "$create_alias");
            let t = match parsed {
                Some(t) => t,
                None if identity_event => ctx.now_ms,
                None => return Err(RecordError::invalid(field, "is required")),
            };
            if t < IMPORT_EARLIEST_MS {
                return Err(RecordError::invalid(field, "must be on or after 1971-01-01"));
            }
            if t > ctx.now_ms + IMPORT_FUTURE_TOLERANCE_MS {
                return Err(RecordError::invalid(field, "must not be more than 1 hour in the future"));
            }
            Ok(Some(t.min(ctx.now_ms)))
        }
    }
}

fn distinct_id(props: &Properties, ctx: &IngestContext) -> Result<String, RecordError> {
    let field = "properties.distinct_id";
    let id = match props.get("distinct_id").as_deref() {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        None | Some(Value::Null) => {
            return Ok(match (&ctx.client_ip, ctx.use_ip) {
                (Some(ip), true) => ip_distinct_id(ip),
                _ => String::new(),
            });
        }
        Some(_) => return Err(RecordError::invalid(field, "must be a string")),
    };
    if is_blocked_id(&id) {
        return Err(RecordError::invalid(field, format!("{id:?} is not an acceptable distinct_id")));
    }
    check_id(field, &id)?;
    Ok(truncate(id))
}

/// Refuses an id holding a control character (NUL, a line break, ...). No SDK makes
/// one; a NUL can only come from a hostile or broken client, and such ids break exports
/// and tools downstream. Mixpanel's documents are silent; UNCONFIRMED, see
/// docs/compatibility.md.
pub(crate) fn check_id(field: &str, id: &str) -> Result<(), RecordError> {
    if id.chars().any(char::is_control) {
        return Err(RecordError::invalid(field, "must not contain control characters"));
    }
    Ok(())
}

/// A stable distinct_id derived from the client's address, for `ip=1` events without one.
fn ip_distinct_id(ip: &str) -> String {
    let digest = Sha256::digest(ip.as_bytes());
    format!("$ip:{}", hex::encode(&digest[..12]))
}

fn validate_insert_id(id: &str) -> Result<String, RecordError> {
    let field = "properties.$insert_id";
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(RecordError {
            field: field.into(),
            message: "'$insert_id' is invalid: must only contain alphanumeric or hyphen '-' characters".into(),
            insert_id: None,
        });
    }
    if id.len() > MAX_INSERT_ID_BYTES {
        return Err(RecordError::invalid(field, format!("must be at most {MAX_INSERT_ID_BYTES} bytes")));
    }
    if is_blocked_id(id) {
        return Err(RecordError::invalid(field, format!("{id:?} is not an acceptable $insert_id")));
    }
    Ok(id.to_string())
}

/// Where inside a property value a limit was broken, and which; the field path is
/// only spelled out when there is an error to report.
struct Violation {
    /// Keys from the property down to the offending value (innermost last).
    path: Vec<String>,
    reason: String,
}

impl Violation {
    fn into_error(mut self, property: &str) -> RecordError {
        self.path.push(property.to_string());
        self.path.push("properties".to_string());
        self.path.reverse();
        RecordError::invalid(&self.path.join("."), self.reason)
    }
}

/// Truncates strings in place and checks list and object sizes and nesting depth.
fn clean_value(value: &mut Value, depth: usize) -> Result<(), Violation> {
    let violation = |reason: String| Violation { path: Vec::new(), reason };
    match value {
        Value::String(s) => truncate_in_place(s),
        Value::Array(items) => {
            if depth > MAX_NESTING_DEPTH {
                return Err(violation(format!("nested deeper than {MAX_NESTING_DEPTH} levels")));
            }
            if items.len() > MAX_LIST_ELEMENTS {
                return Err(violation(format!(
                    "list has {} elements; at most {MAX_LIST_ELEMENTS} are allowed",
                    items.len()
                )));
            }
            for item in items {
                clean_value(item, depth + 1)?;
            }
        }
        Value::Object(map) => {
            if depth > MAX_NESTING_DEPTH {
                return Err(violation(format!("nested deeper than {MAX_NESTING_DEPTH} levels")));
            }
            if map.len() > MAX_OBJECT_KEYS {
                return Err(violation(format!("object has {} keys; at most {MAX_OBJECT_KEYS} are allowed", map.len())));
            }
            if map.keys().any(|k| k.len() > MAX_STRING_CHARS) {
                *map = std::mem::take(map).into_iter().map(|(k, v)| (truncate(k), v)).collect();
            }
            for (k, v) in map.iter_mut() {
                clean_value(v, depth + 1).map_err(|mut e| {
                    e.path.push(k.clone());
                    e
                })?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn truncate_in_place(s: &mut String) {
    *s = truncate(std::mem::take(s));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_700_000_000_000;

    fn ctx(endpoint: Endpoint) -> IngestContext {
        IngestContext {
            endpoint,
            now_ms: NOW,
            api_endpoint: "localhost".into(),
            client_ip: Some("10.1.2.3".into()),
            use_ip: false,
            geo: None,
        }
    }

    fn accept(v: Value, endpoint: Endpoint) -> NormalizedEvent {
        match normalize_event(&v.to_string(), &ctx(endpoint)).unwrap() {
            Outcome::Accepted(e) => e,
            other => panic!("expected accepted, got {other:?}"),
        }
    }

    fn reject(v: Value, endpoint: Endpoint) -> RecordError {
        normalize_event(&v.to_string(), &ctx(endpoint)).unwrap_err()
    }

    const IMPORT: Endpoint = Endpoint::Import { strict: true };

    #[test]
    fn a_full_track_event_is_normalised() {
        let e = accept(
            json!({"event": "Signup", "properties": {"token": "tok", "time": 1_699_999_999.5,
                   "distinct_id": "u1", "$insert_id": "abc-123", "plan": "pro", "ip": "1.2.3.4"}}),
            Endpoint::Track,
        );
        assert_eq!(e.token.as_deref(), Some("tok"));
        assert_eq!(e.time_ms, 1_699_999_999_500);
        assert_eq!(e.distinct_id, "u1");
        assert_eq!(e.insert_id, "abc-123");
        let props: Value = serde_json::from_str(&e.properties).unwrap();
        assert_eq!(props["plan"], "pro");
        assert_eq!(props["$mp_api_timestamp_ms"], NOW);
        for lifted in LIFTED {
            assert!(props.get(lifted).is_none(), "{lifted} should not be repeated in properties");
        }
        assert!(props.get("$import").is_none());
    }

    #[test]
    fn track_fills_time_clamps_the_future_and_drops_the_old() {
        let e = accept(json!({"event": "a", "properties": {}}), Endpoint::Track);
        assert_eq!(e.time_ms, NOW);
        let e = accept(json!({"event": "a", "properties": {"time": NOW + 10_000}}), Endpoint::Track);
        assert_eq!(e.time_ms, NOW);
        let old = NOW - 6 * DAY_MS;
        assert_eq!(
            normalize_event(&json!({"event": "a", "properties": {"time": old}}).to_string(), &ctx(Endpoint::Track)),
            Ok(Outcome::Dropped(DropReason::TooOld))
        );
    }

    #[test]
    fn import_time_rules() {
        let base = |t: Value| json!({"event": "a", "properties": {"time": t, "distinct_id": "u", "$insert_id": "x1"}});
        assert_eq!(accept(base(json!(NOW / 1000 - 86400 * 400)), IMPORT).time_ms, NOW - 86_400_000 * 400);
        assert_eq!(accept(base(json!(NOW + 60_000)), IMPORT).time_ms, NOW);
        let e = reject(base(json!(NOW + 2 * 3_600_000)), IMPORT);
        assert_eq!(e.field, "properties.time");
        assert_eq!(e.insert_id.as_deref(), Some("x1"));
        assert_eq!(
            reject(base(json!(1000)), IMPORT).message,
            "'properties.time' is invalid: must be on or after 1971-01-01"
        );
        assert_eq!(
            reject(base(json!("soon")), IMPORT).message,
            "'properties.time' is invalid: must be specified as seconds since epoch"
        );
        let no_time = json!({"event": "a", "properties": {"distinct_id": "u", "$insert_id": "x1"}});
        assert_eq!(reject(no_time, IMPORT).field, "properties.time");
    }

    #[test]
    fn ids_with_control_characters_are_refused() {
        let e = reject(json!({"event": "a", "properties": {"distinct_id": "a\u{0}b"}}), Endpoint::Track);
        assert_eq!(e.field, "properties.distinct_id");
        let e =
            reject(json!({"event": "a", "properties": {"distinct_id": "d", "$user_id": "a\u{0}b"}}), Endpoint::Track);
        assert_eq!(e.field, "properties.$user_id");
        assert!(e.message.contains("control characters"), "{}", e.message);
        let e = reject(json!({"event": "a", "properties": {"$device_id": "x\ny"}}), Endpoint::Track);
        assert_eq!(e.field, "properties.$device_id");
        accept(json!({"event": "a", "properties": {"distinct_id": "émoji 🎉 ok", "$user_id": "ü"}}), Endpoint::Track);
    }

    #[test]
    fn blocked_distinct_ids_and_bad_insert_ids_are_refused() {
        let e = reject(json!({"event": "a", "properties": {"distinct_id": "Undefined"}}), Endpoint::Track);
        assert_eq!(e.field, "properties.distinct_id");
        let e = reject(json!({"event": "a", "properties": {"$insert_id": "a_b"}}), Endpoint::Track);
        assert_eq!(e.message, "'$insert_id' is invalid: must only contain alphanumeric or hyphen '-' characters");
        let long = "a".repeat(37);
        assert_eq!(
            reject(json!({"event": "a", "properties": {"$insert_id": long}}), Endpoint::Track).field,
            "properties.$insert_id"
        );
        let strict_missing = json!({"event": "a", "properties": {"time": NOW, "distinct_id": "u"}});
        assert_eq!(reject(strict_missing.clone(), IMPORT).field, "properties.$insert_id");
        assert_eq!(accept(strict_missing, Endpoint::Import { strict: false }).insert_id.len(), 32);
    }

    #[test]
    fn strings_are_truncated_and_limits_enforced() {
        let long = "é".repeat(300);
        let e = accept(
            json!({"event": long.clone(), "properties": {"s": long, "n": {"deep": ["x".repeat(400)]}}}),
            Endpoint::Track,
        );
        assert_eq!(e.event.chars().count(), 255);
        let props: Value = serde_json::from_str(&e.properties).unwrap();
        assert_eq!(props["s"].as_str().unwrap().chars().count(), 255);
        assert_eq!(props["n"]["deep"][0].as_str().unwrap().len(), 255);

        let many: Map<String, Value> = (0..256).map(|i| (format!("p{i}"), json!(i))).collect();
        assert_eq!(reject(json!({"event": "a", "properties": many}), Endpoint::Track).field, "properties");
        let ok = json!({"event": "a", "properties": {"d": {"a": {"b": {"c": 1}}}}});
        accept(ok, Endpoint::Track);
        let deep = json!({"event": "a", "properties": {"d": {"a": {"b": {"c": {"e": 1}}}}}});
        assert_eq!(reject(deep, Endpoint::Track).field, "properties.d.a.b.c");
        let list: Vec<i32> = (0..256).collect();
        assert_eq!(reject(json!({"event": "a", "properties": {"l": list}}), Endpoint::Track).field, "properties.l");
    }

    #[test]
    fn ignore_drops_and_import_marks() {
        assert_eq!(
            normalize_event(r#"{"event":"a","properties":{"$ignore":true}}"#, &ctx(Endpoint::Track)),
            Ok(Outcome::Dropped(DropReason::Ignored))
        );
        let e = accept(json!({"event": "a", "properties": {"time": NOW, "$insert_id": "i"}}), IMPORT);
        assert!(e.properties.contains(r#""$import":true"#));
    }

    #[test]
    fn missing_event_name_and_non_objects() {
        assert_eq!(reject(json!({"properties": {}}), Endpoint::Track).field, "event");
        assert_eq!(reject(json!([1]), Endpoint::Track).field, "event");
        assert_eq!(reject(json!({"event": "a", "properties": 3}), Endpoint::Track).field, "properties");
    }

    #[test]
    fn ip_derived_distinct_id_only_with_ip_flag() {
        let mut c = ctx(Endpoint::Track);
        c.use_ip = true;
        let Outcome::Accepted(e) = normalize_event(r#"{"event":"a"}"#, &c).unwrap() else { panic!() };
        assert!(e.distinct_id.starts_with("$ip:"));
        assert_eq!(accept(json!({"event": "a"}), Endpoint::Track).distinct_id, "");
    }
}
