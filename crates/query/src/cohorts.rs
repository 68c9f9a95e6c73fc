//! Cohort definitions as profile queries: the one place a definition (a saved cohort's,
//! or the `where` and `behaviors` of an engage query) becomes what the profile store
//! reads: a checked `where` over profiles and the behaviour counts it may name, each
//! counting events over a window that ends at the moment asked about.
//!
//! Saving a cohort compiles its definition first ([`compile`] at any moment), so a
//! definition that would not run is refused when it is saved. Every mistake is a
//! [`FieldErrors`] of [`INVALID`] naming the part at fault (`where`,
//! `behaviors[i].window`, `behaviors[i].event_selectors[j].selector`, ...).

use std::sync::Arc;

use sextant_expr::{Options, Program, Scope};
use sextant_model::CohortDefinition;
use sextant_model::cohort::{MAX_BEHAVIORS, MAX_EVENT_SELECTORS};
use sextant_storage::BehaviorCount;

use crate::FieldErrors;

/// The context of every mistake in a cohort definition.
pub const INVALID: &str = "invalid cohort definition";

/// A definition ready for the profile store.
#[derive(Clone, Debug, Default)]
pub struct Compiled {
    /// The `where` over profile properties and `behaviors[...]`, when there is one.
    pub filter: Option<Arc<Program>>,
    /// The behaviour counts the `where` may read.
    pub behaviors: Vec<BehaviorCount>,
}

/// Compiles `definition` with the project's `options`, its behaviour windows ending at
/// `as_of_ms` (also "now" for the expressions).
pub fn compile(definition: &CohortDefinition, options: &Options, as_of_ms: i64) -> Result<Compiled, FieldErrors> {
    let options = Options { now_ms: as_of_ms, ..options.clone() };
    let mut problems = Vec::new();
    let filter = match definition.where_.as_deref().map(str::trim).filter(|w| !w.is_empty()) {
        None => None,
        Some(src) => match Program::parse(src, Scope::Profile, options.clone()) {
            Ok(p) => Some(Arc::new(p)),
            Err(e) => {
                problems.push(("where".to_string(), format!("is not a valid expression: {e}")));
                None
            }
        },
    };
    if definition.behaviors.len() > MAX_BEHAVIORS {
        // Alone: the behaviours are not read at all.
        return Err(FieldErrors::one(INVALID, "behaviors", format!("at most {MAX_BEHAVIORS} behaviors are allowed")));
    }
    let mut behaviors = Vec::new();
    for (i, b) in definition.behaviors.iter().enumerate() {
        if b.event_selectors.len() > MAX_EVENT_SELECTORS {
            problems.push((
                format!("behaviors[{i}].event_selectors"),
                format!("at most {MAX_EVENT_SELECTORS} event selectors are allowed"),
            ));
            continue;
        }
        let window = match b.window_ms() {
            Ok(w) => w,
            Err(e) => {
                problems.push((format!("behaviors[{i}].window"), e));
                continue;
            }
        };
        if b.name.trim().is_empty() || b.event_selectors.is_empty() {
            problems.push((format!("behaviors[{i}]"), "needs a name and at least one event selector".into()));
            continue;
        }
        let mut events = Vec::new();
        for (j, sel) in b.event_selectors.iter().enumerate() {
            let selector = match sel.selector.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                None => None,
                Some(src) => match Program::parse(src, Scope::Event, options.clone()) {
                    Ok(p) => Some(Arc::new(p)),
                    Err(e) => {
                        problems.push((format!("behaviors[{i}].event_selectors[{j}].selector"), e.to_string()));
                        None
                    }
                },
            };
            events.push((sel.event.clone(), selector));
        }
        behaviors.push(BehaviorCount { name: b.name.clone(), from_ms: as_of_ms - window, to_ms: as_of_ms, events });
    }
    if !problems.is_empty() {
        return Err(FieldErrors::new(INVALID, problems));
    }
    Ok(Compiled { filter, behaviors })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sextant_model::{Behavior, EventSelector};

    fn behavior(window: &str, selector: Option<&str>) -> Behavior {
        Behavior {
            name: "buys".into(),
            window: window.into(),
            event_selectors: vec![EventSelector { event: "Purchase".into(), selector: selector.map(String::from) }],
        }
    }

    #[test]
    fn windows_end_at_the_moment_asked_about() {
        let definition = CohortDefinition {
            where_: Some("behaviors[\"buys\"] > 1".into()),
            behaviors: vec![behavior("1d", Some("properties[\"amount\"] > 5"))],
        };
        let compiled = compile(&definition, &Options::default(), 100_000_000).unwrap();
        assert!(compiled.filter.is_some());
        let b = &compiled.behaviors[0];
        assert_eq!((b.from_ms, b.to_ms), (100_000_000 - 86_400_000, 100_000_000));
        assert!(b.events[0].1.is_some());
    }

    #[test]
    fn every_mistake_is_named() {
        let definition = CohortDefinition {
            where_: Some("properties[".into()),
            behaviors: vec![behavior("3y", None), behavior("1d", Some("properties["))],
        };
        let fields: Vec<String> =
            compile(&definition, &Options::default(), 0).unwrap_err().fields.into_iter().map(|(k, _)| k).collect();
        assert_eq!(fields, ["where", "behaviors[0].window", "behaviors[1].event_selectors[0].selector"]);
        let many = CohortDefinition { where_: None, behaviors: vec![behavior("1d", None); MAX_BEHAVIORS + 1] };
        assert_eq!(compile(&many, &Options::default(), 0).unwrap_err().fields[0].0, "behaviors");
    }
}
