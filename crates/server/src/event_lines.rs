//! One stored event as a line of raw export:
//! `{"event": ..., "properties": {"time": ..., "distinct_id": ..., "$insert_id": ...,
//! <stored properties>}}`. Raw export streams these lines; the activity feed streams
//! the same objects inside its JSON array, so both show an event the same way.

use sextant_model::StoredEvent;
use sextant_model::workspace::Visibility;

/// Appends one JSON line, without the properties `view` hides. Stored properties are
/// already a JSON object, so they are spliced in as text rather than parsed again
/// (unless some must be left out).
pub fn write_line(out: &mut String, e: &StoredEvent, time_in_ms: bool, view: &Visibility) {
    let r = &e.row;
    let time = if time_in_ms { r.time_ms } else { r.time_ms.div_euclid(1000) };
    out.push_str("{\"event\":");
    out.push_str(&serde_json::to_string(&r.event).unwrap_or_default());
    out.push_str(",\"properties\":{\"time\":");
    out.push_str(&time.to_string());
    out.push_str(",\"distinct_id\":");
    out.push_str(&serde_json::to_string(&r.distinct_id).unwrap_or_default());
    out.push_str(",\"$insert_id\":");
    out.push_str(&serde_json::to_string(&r.insert_id).unwrap_or_default());
    let shown;
    let mut inner = r.properties.trim();
    if !view.hidden_properties.is_empty() {
        // Stored properties are always an object; were one not, nothing of it is shown
        // rather than what the workspace hides.
        let mut properties =
            serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(inner).unwrap_or_default();
        view.strip(&mut properties);
        shown = serde_json::to_string(&properties).unwrap_or_default();
        inner = &shown;
    }
    let inner = inner.strip_prefix('{').and_then(|s| s.strip_suffix('}')).unwrap_or("").trim();
    if !inner.is_empty() {
        out.push(',');
        out.push_str(inner);
    }
    out.push_str("}}\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use sextant_model::{EventRow, ProjectId};

    #[test]
    fn lines_splice_stored_properties() {
        let e = StoredEvent {
            row: EventRow {
                project_id: ProjectId(1),
                event: "Sign \"up\"".into(),
                time_ms: 1_700_000_000_987,
                distinct_id: "u".into(),
                insert_id: "i".into(),
                properties: r#"{"a":1}"#.into(),
            },
            seq: 1,
        };
        let mut out = String::new();
        write_line(&mut out, &e, false, &Visibility::default());
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(v["event"], "Sign \"up\"");
        assert_eq!(v["properties"]["time"], 1_700_000_000);
        assert_eq!(v["properties"]["a"], 1);
        out.clear();
        let bare = StoredEvent { row: EventRow { properties: "{}".into(), ..e.row.clone() }, seq: 1 };
        write_line(&mut out, &bare, true, &Visibility::default());
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(v["properties"]["time"], 1_700_000_000_987_i64);
        out.clear();
        let hiding = Visibility { hidden_properties: ["a".to_string()].into(), ..Default::default() };
        write_line(&mut out, &e, false, &hiding);
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert!(v["properties"].get("a").is_none() && v["properties"]["distinct_id"] == "u", "{v}");
    }
}
