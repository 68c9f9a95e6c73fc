//! Cohorts: saved definitions of a set of users, evaluated when they are used.
//!
//! A definition is a `where` over profile properties and/or behaviours in the form the
//! engage query takes: each behaviour counts a user's events of some names (optionally
//! narrowed by a `selector` expression) over a trailing window, and the `where` reads
//! the counts as `behaviors["name"]`.

use serde::{Deserialize, Serialize};

/// Most behaviours one definition (or engage query) may name. Each is a scan of the
/// project's events over its window; Mixpanel's cohort builder offers a handful per
/// cohort, so twenty is generous and bounds what one request can make the store do.
pub const MAX_BEHAVIORS: usize = 20;

/// Most event selectors one behaviour may list.
pub const MAX_EVENT_SELECTORS: usize = 20;

/// What makes a user a member.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CohortDefinition {
    /// A segmentation expression over `properties[...]` and `behaviors[...]`.
    #[serde(rename = "where", default, skip_serializing_if = "Option::is_none")]
    pub where_: Option<String>,
    /// Named event counts the `where` may read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub behaviors: Vec<Behavior>,
}

/// A named count of each user's events.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Behavior {
    /// The name `behaviors["name"]` reads.
    pub name: String,
    /// The trailing window, such as `30d` (also `h`, `w`; up to 3650 days).
    pub window: String,
    /// Which events count: any of these.
    pub event_selectors: Vec<EventSelector>,
}

/// Events of one name, optionally narrowed by an expression over their properties.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventSelector {
    /// The event name.
    pub event: String,
    /// A `where` over the event's properties.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
}

impl Behavior {
    /// The window in milliseconds, or why it cannot be read.
    pub fn window_ms(&self) -> Result<i64, String> {
        let w = self.window.trim();
        let (digits, unit) = w.split_at(w.find(|c: char| !c.is_ascii_digit()).unwrap_or(w.len()));
        let n: i64 = digits.parse().map_err(|_| format!("window `{w}` must be a number and a unit, such as 30d"))?;
        let unit_ms = match unit {
            "h" => 3_600_000,
            "d" | "" => 86_400_000,
            "w" => 7 * 86_400_000,
            _ => return Err(format!("window `{w}`: the unit must be h, d or w")),
        };
        let ms = n.saturating_mul(unit_ms);
        if n <= 0 || ms > 3650 * 86_400_000 {
            return Err(format!("window `{w}` must be more than 0 and at most 3650 days"));
        }
        Ok(ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engage_form_reads_and_windows_parse() {
        let def: CohortDefinition = serde_json::from_str(
            r#"{"where": "behaviors[\"buys\"] > 1", "behaviors": [{"window": "30d", "name": "buys", "event_selectors": [{"event": "Purchase"}]}]}"#,
        )
        .unwrap();
        assert_eq!(def.behaviors[0].window_ms(), Ok(30 * 86_400_000));
        assert!(Behavior { window: "0d".into(), ..def.behaviors[0].clone() }.window_ms().is_err());
        assert!(Behavior { window: "3y".into(), ..def.behaviors[0].clone() }.window_ms().is_err());
    }
}
