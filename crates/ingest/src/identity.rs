//! Identity merge at ingestion, once the event's project (and so its mode) is known
//! (wire-semantics §2.2, §2.3).

use sextant_model::IdentityOp;

use crate::normalize::NormalizedEvent;

/// Simplified ID Merge: `$user_id`, else `$device:` and `$device_id`, becomes the
/// `distinct_id`; an event with neither keeps its `distinct_id` and gains the
/// `$device_id` (for a `$device:` id) or `$user_id` (any other) it implies. An event
/// with both maps the device to the user.
pub fn simplified(event: &mut NormalizedEvent) -> Option<IdentityOp> {
    let (device, user) = (event.identity.device_id.clone(), event.identity.user_id.clone());
    match (device, user) {
        (Some(device), Some(user)) => {
            event.distinct_id = user.clone();
            Some(IdentityOp::DeviceToUser { device: format!("$device:{device}"), user })
        }
        (None, Some(user)) => {
            event.distinct_id = user;
            None
        }
        (Some(device), None) => {
            event.distinct_id = format!("$device:{device}");
            None
        }
        (None, None) => {
            if event.distinct_id.is_empty() {
                return None;
            }
            match event.distinct_id.strip_prefix("$device:") {
                Some(device) => {
                    let device = device.to_string();
                    add_property(event, "$device_id", &device);
                    event.identity.device_id = Some(device);
                }
                None => {
                    let user = event.distinct_id.clone();
                    add_property(event, "$user_id", &user);
                    event.identity.user_id = Some(user);
                }
            }
            None
        }
    }
}

/// Original ID Merge: what `$identify`, `$create_alias` and `$merge` ask of the graph.
/// `$merge` counts only through `/import` (`via_import`); elsewhere, and for identity
/// events that lack their ids, the answer is the refusal to record on the event.
pub fn original(event: &NormalizedEvent, via_import: bool) -> Result<Option<IdentityOp>, &'static str> {
    let p = &event.identity;
    match event.event.as_str() {
        "$identify" => {
            let identified = p.identified_id.clone().unwrap_or_else(|| event.distinct_id.clone());
            match (&p.anon_id, identified.is_empty()) {
                (Some(anon), false) => Ok(Some(IdentityOp::Identify { anon: anon.clone(), identified })),
                _ => Err("errMissingIdentifyIds"),
            }
        }
        "$create_alias" => match (&p.alias, event.distinct_id.is_empty()) {
            (Some(alias), false) => {
                Ok(Some(IdentityOp::Alias { alias: alias.clone(), distinct_id: event.distinct_id.clone() }))
            }
            _ => Err("errMissingAliasIds"),
        },
        "$merge" if !via_import => Err("errMergeOnlyThroughImport"),
        "$merge" => match p.merge_ids.as_deref() {
            Some([a, b]) if !a.is_empty() && !b.is_empty() => {
                Ok(Some(IdentityOp::Merge { a: a.clone(), b: b.clone() }))
            }
            _ => Err("errMergeNeedsTwoDistinctIds"),
        },
        _ => Ok(None),
    }
}

/// Adds `"name": value` to the event's properties (a JSON object's text).
pub fn add_property(event: &mut NormalizedEvent, name: &str, value: &str) {
    let entry = format!(
        "{}:{}",
        serde_json::to_string(name).unwrap_or_default(),
        serde_json::to_string(value).unwrap_or_default()
    );
    let body = event.properties.trim();
    let rest = body.strip_prefix('{').unwrap_or("}").trim_start();
    event.properties = if rest.starts_with('}') { format!("{{{entry}}}") } else { format!("{{{entry},{rest}") };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::IdentityProps;

    fn event(name: &str, distinct_id: &str, identity: IdentityProps) -> NormalizedEvent {
        NormalizedEvent {
            token: None,
            event: name.into(),
            time_ms: 0,
            distinct_id: distinct_id.into(),
            insert_id: "i".into(),
            properties: r#"{"a":1}"#.into(),
            identity,
        }
    }

    #[test]
    fn simplified_chooses_the_distinct_id() {
        let both = IdentityProps { device_id: Some("d".into()), user_id: Some("u".into()), ..Default::default() };
        let mut e = event("x", "ignored", both);
        assert_eq!(simplified(&mut e), Some(IdentityOp::DeviceToUser { device: "$device:d".into(), user: "u".into() }));
        assert_eq!(e.distinct_id, "u");
        let mut e = event("x", "", IdentityProps { device_id: Some("d".into()), ..Default::default() });
        assert_eq!(simplified(&mut e), None);
        assert_eq!(e.distinct_id, "$device:d");
        let mut e = event("x", "$device:abc", IdentityProps::default());
        simplified(&mut e);
        assert_eq!(e.properties, r#"{"$device_id":"abc","a":1}"#);
        let mut e = event("x", "known", IdentityProps::default());
        simplified(&mut e);
        assert_eq!(e.properties, r#"{"$user_id":"known","a":1}"#);
    }

    #[test]
    fn original_reads_identity_events() {
        let identify =
            IdentityProps { anon_id: Some("a".into()), identified_id: Some("u".into()), ..Default::default() };
        assert_eq!(
            original(&event("$identify", "u", identify), false),
            Ok(Some(IdentityOp::Identify { anon: "a".into(), identified: "u".into() }))
        );
        let merge = IdentityProps { merge_ids: Some(vec!["x".into(), "y".into()]), ..Default::default() };
        assert!(original(&event("$merge", "", merge.clone()), false).is_err());
        assert_eq!(
            original(&event("$merge", "", merge), true),
            Ok(Some(IdentityOp::Merge { a: "x".into(), b: "y".into() }))
        );
        assert_eq!(original(&event("Page View", "u", IdentityProps::default()), true), Ok(None));
    }
}
