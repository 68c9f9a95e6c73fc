//! Saved funnel definitions: ordered steps, a conversion window and an ordering rule.
//!
//! Mixpanel defines funnels in its UI and `GET /funnels` computes one by id; Sextant
//! saves them through its App API and CLI in this shape. The query layer checks the
//! expressions and computes the funnel (`sextant_query::funnels`).

use serde::{Deserialize, Serialize};

/// Most steps a funnel may have (each step is one bit of a 32-bit mask per event).
pub const MAX_STEPS: usize = 32;

/// Longest conversion window: 90 days, in seconds.
pub const MAX_WINDOW_SECONDS: i64 = 90 * 86_400;

/// The conversion window's length when a definition does not give one (in
/// [`DEFAULT_LENGTH_UNIT`]s): Mixpanel's default window is 30 days.
pub const DEFAULT_LENGTH: u32 = 30;

/// The conversion window's unit when a definition does not give one.
pub const DEFAULT_LENGTH_UNIT: LengthUnit = LengthUnit::Day;

/// One step: an event, optionally narrowed by a `where` expression, with a label.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunnelStep {
    /// The event name.
    pub event: String,
    /// A segmentation expression the step's events must satisfy.
    #[serde(default, rename = "where", skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// A display name (`step_label` in answers); the event name when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// The unit of a funnel's conversion window (`length_unit`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LengthUnit {
    /// Seconds.
    Second,
    /// Minutes.
    Minute,
    /// Hours.
    Hour,
    /// Days (24 hours each, not calendar days).
    Day,
}

impl LengthUnit {
    /// Seconds in one unit.
    pub fn seconds(self) -> i64 {
        match self {
            LengthUnit::Second => 1,
            LengthUnit::Minute => 60,
            LengthUnit::Hour => 3_600,
            LengthUnit::Day => 86_400,
        }
    }

    /// Reads `second`, `minute`, `hour` or `day` (plural and any case accepted).
    pub fn parse(text: &str) -> Option<LengthUnit> {
        match text.trim().to_ascii_lowercase().trim_end_matches('s') {
            "second" => Some(LengthUnit::Second),
            "minute" => Some(LengthUnit::Minute),
            "hour" => Some(LengthUnit::Hour),
            "day" => Some(LengthUnit::Day),
            _ => None,
        }
    }
}

/// How steps must follow one another.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FunnelOrder {
    /// Each step after the one before (other events may come between): Mixpanel's default.
    #[default]
    Ordered,
    /// The steps after the first in any order, within the window.
    Any,
}

/// A saved funnel's definition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunnelDefinition {
    /// The steps, in order (at least two, at most [`MAX_STEPS`]).
    pub steps: Vec<FunnelStep>,
    /// The conversion window, in `length_unit`s, counted from step 1 (default 30 days).
    #[serde(default = "default_length")]
    pub length: u32,
    /// The window's unit.
    #[serde(default = "default_length_unit")]
    pub length_unit: LengthUnit,
    /// The ordering rule.
    #[serde(default)]
    pub order: FunnelOrder,
}

fn default_length() -> u32 {
    DEFAULT_LENGTH
}

fn default_length_unit() -> LengthUnit {
    DEFAULT_LENGTH_UNIT
}

impl FunnelDefinition {
    /// The conversion window in seconds.
    pub fn window_seconds(&self) -> i64 {
        i64::from(self.length) * self.length_unit.seconds()
    }

    /// Checks the shape (not the expressions): step count, event names, the window.
    pub fn check(&self) -> Result<(), String> {
        if self.steps.len() < 2 {
            return Err("a funnel needs at least two steps".into());
        }
        if self.steps.len() > MAX_STEPS {
            return Err(format!("a funnel has at most {MAX_STEPS} steps"));
        }
        if let Some(i) = self.steps.iter().position(|s| s.event.trim().is_empty()) {
            return Err(format!("step {} has no event name", i + 1));
        }
        check_window(self.length, self.length_unit)
    }
}

/// Checks a conversion window: at least one unit, at most 90 days.
pub fn check_window(length: u32, unit: LengthUnit) -> Result<(), String> {
    if length == 0 {
        return Err("the conversion window `length` must be at least 1".into());
    }
    if i64::from(length) * unit.seconds() > MAX_WINDOW_SECONDS {
        return Err("the conversion window may not be longer than 90 days".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_minimal_definition_with_defaults() {
        let d: FunnelDefinition =
            serde_json::from_str(r#"{"steps": [{"event": "A"}, {"event": "B", "where": "properties[\"x\"] > 1"}]}"#)
                .unwrap();
        assert_eq!(d.length, 30);
        assert_eq!(d.length_unit, LengthUnit::Day);
        assert_eq!(d.order, FunnelOrder::Ordered);
        assert_eq!(d.steps[1].selector.as_deref(), Some("properties[\"x\"] > 1"));
        assert!(d.check().is_ok());
        assert_eq!(d.window_seconds(), 30 * 86_400);
    }

    #[test]
    fn refuses_bad_shapes() {
        let one = FunnelDefinition {
            steps: vec![FunnelStep { event: "A".into(), selector: None, label: None }],
            length: 1,
            length_unit: LengthUnit::Day,
            order: FunnelOrder::Ordered,
        };
        assert!(one.check().is_err());
        let mut long = one.clone();
        long.steps.push(FunnelStep { event: "B".into(), selector: None, label: None });
        long.length = 91;
        assert!(long.check().is_err());
        long.length = 90;
        assert!(long.check().is_ok());
        assert_eq!(LengthUnit::parse("Hours"), Some(LengthUnit::Hour));
        assert_eq!(LengthUnit::parse("week"), None);
    }
}
