//! The `$experiment_started` event that records a context's exposure to a flag's
//! variant, with the property names the official SDKs send (the remote providers'
//! `Experiment name`, `Variant name`, `$experiment_type`, `Flag evaluation mode` and the
//! fetch timings, and the local providers' `$experiment_id`, `$is_experiment_active` and
//! `$is_qa_tester` when the flag has them), so an experiment counts an exposure `/flags`
//! records exactly as one an SDK tracks.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use crate::Selected;

/// The exposure event's name, as every SDK sends it.
pub const EXPOSURE_EVENT: &str = "$experiment_started";

/// When the evaluation that exposed the context began and ended, in epoch ms.
#[derive(Clone, Copy, Debug)]
pub struct Fetch {
    /// When the request arrived.
    pub started_ms: i64,
    /// When its variants were chosen; the exposure's time.
    pub completed_ms: i64,
}

/// The `/import` record of `distinct_id`'s exposure to `selected`, the variant of the
/// flag `flag_key`. Its `$insert_id` is the same for the same flag, variant, user and
/// millisecond, so a record sent twice is stored once.
pub fn exposure(flag_key: &str, selected: &Selected, distinct_id: &str, fetch: Fetch) -> Value {
    let iso = |ms: i64| {
        DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(SecondsFormat::Millis, false)
    };
    let id = crate::hash::fnv1a(&[
        flag_key.as_bytes(),
        b"\0",
        selected.variant_key.as_bytes(),
        b"\0",
        distinct_id.as_bytes(),
        b"\0",
        &fetch.completed_ms.to_le_bytes(),
    ]);
    let mut properties = Map::new();
    properties.insert("distinct_id".into(), json!(distinct_id));
    properties.insert("time".into(), json!(fetch.completed_ms));
    properties.insert("$insert_id".into(), json!(format!("exposure-{id:016x}")));
    properties.insert("Experiment name".into(), json!(flag_key));
    properties.insert("Variant name".into(), json!(selected.variant_key));
    properties.insert("$experiment_type".into(), json!("feature_flag"));
    properties.insert("Flag evaluation mode".into(), json!("remote"));
    properties.insert("Variant fetch start time".into(), json!(iso(fetch.started_ms)));
    properties.insert("Variant fetch complete time".into(), json!(iso(fetch.completed_ms)));
    properties.insert("Variant fetch latency (ms)".into(), json!(fetch.completed_ms - fetch.started_ms));
    if let Some(experiment) = &selected.experiment_id {
        properties.insert("$experiment_id".into(), json!(experiment));
    }
    if let Some(active) = selected.is_experiment_active {
        properties.insert("$is_experiment_active".into(), json!(active));
    }
    properties.insert("$is_qa_tester".into(), json!(selected.is_qa_tester));
    json!({"event": EXPOSURE_EVENT, "properties": properties})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selected(experiment: Option<&str>) -> Selected {
        Selected {
            variant_key: "on".into(),
            variant_value: json!(true),
            experiment_id: experiment.map(String::from),
            is_experiment_active: experiment.map(|_| true),
            is_qa_tester: false,
        }
    }

    #[test]
    fn carries_the_sdks_names_and_the_flags_experiment() {
        let fetch = Fetch { started_ms: 1_765_000_000_000, completed_ms: 1_765_000_000_004 };
        let e = exposure("banner", &selected(Some("exp-1")), "ann", fetch);
        let p = &e["properties"];
        assert_eq!(e["event"], "$experiment_started");
        assert_eq!((&p["Experiment name"], &p["Variant name"]), (&json!("banner"), &json!("on")));
        assert_eq!((&p["$experiment_type"], &p["Flag evaluation mode"]), (&json!("feature_flag"), &json!("remote")));
        assert_eq!((&p["$experiment_id"], &p["$is_experiment_active"]), (&json!("exp-1"), &json!(true)));
        assert_eq!(p["Variant fetch latency (ms)"], 4);
        assert_eq!(p["Variant fetch start time"], "2025-12-06T05:46:40.000+00:00");
        assert_eq!(p["time"], fetch.completed_ms);
        let plain = exposure("banner", &selected(None), "ann", fetch);
        assert!(plain["properties"].get("$experiment_id").is_none());
        assert_eq!(plain["properties"]["$insert_id"], p["$insert_id"], "one exposure, one id");
        let other = exposure("banner", &selected(None), "bob", fetch);
        assert_ne!(other["properties"]["$insert_id"], p["$insert_id"]);
    }
}
