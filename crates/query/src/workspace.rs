//! Reading through a workspace (`sextant_model::workspace`): a report may not name an
//! event the workspace does not show, nor read a property it hides, and what a report
//! lists (event names, property names, events of the stream or of an export) leaves
//! out what it does not show.
//!
//! The parameters that name events or hold expressions are spelled the same across the
//! Query API (`event`, `born_event`, `on`, `where`, `born_where`, and `name` for a
//! property's values), so [`check_params`] checks every report's request at once; the
//! reports that read events from a saved definition (funnels, saved reports, a cohort's
//! behaviours) or read "any event" check those with [`check_funnel`], [`check_cohort`]
//! and [`check_any_event`]; scans of every event read the shown ones
//! ([`narrow_events`]).

use sextant_expr::{Options, Program, Scope, Target};
use sextant_model::workspace::Visibility;

use crate::FieldErrors;

const CONTEXT: &str = "not shown in this workspace";

/// The parameters naming events (one name, or a JSON array of names).
const EVENT_PARAMS: [&str; 2] = ["event", "born_event"];
/// The parameters holding event expressions.
const EXPRESSION_PARAMS: [&str; 3] = ["on", "where", "born_where"];

/// The event names a parameter holds: a JSON array of names, or one name.
fn names_in(text: &str) -> Vec<String> {
    let trimmed = text.trim();
    if trimmed.starts_with('[')
        && let Ok(names) = serde_json::from_str::<Vec<String>>(trimmed)
    {
        return names;
    }
    vec![text.to_string()]
}

/// Refuses a request (its parameters read through `get`) that names an event `view`
/// does not show, asks for the values of a property it hides, or holds an expression
/// reading one. Expressions that do not parse are left to the report, which explains
/// the mistake.
pub fn check_params<'a>(
    view: &Visibility,
    get: impl Fn(&str) -> Option<&'a str>,
    options: &Options,
) -> Result<(), FieldErrors> {
    if view.is_everything() {
        return Ok(());
    }
    let mut problems = Vec::new();
    for param in EVENT_PARAMS {
        if let Some(text) = get(param).filter(|t| !t.is_empty()) {
            problems.extend(names_in(text).iter().filter_map(|e| view.refuse_event(e)).map(|m| (param.to_string(), m)));
        }
    }
    if let Some(name) = get("name")
        && let Some(problem) = view.refuse_properties([name])
    {
        problems.push(("name".into(), problem));
    }
    for param in EXPRESSION_PARAMS {
        if let Some(src) = get(param).filter(|t| !t.trim().is_empty())
            && let Some(problem) = hidden_in(view, src, options)
        {
            problems.push((param.to_string(), problem));
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(FieldErrors::new(CONTEXT, problems)) }
}

/// Why the event expression `src` may not run in `view`, if it reads a hidden property.
fn hidden_in(view: &Visibility, src: &str, options: &Options) -> Option<String> {
    let program = Program::parse(src, Scope::Event, options.clone()).ok()?;
    let read = program.referenced_properties();
    view.refuse_properties(read.iter().filter(|(t, _)| *t == Target::Event).map(|(_, name)| name.as_str()))
}

/// Refuses events (of a saved funnel's steps, say) that `view` does not show; `field`
/// names where they came from.
pub fn check_events<'a>(
    view: &Visibility,
    field: &str,
    events: impl IntoIterator<Item = &'a str>,
) -> Result<(), FieldErrors> {
    let problems: Vec<(String, String)> =
        events.into_iter().filter_map(|e| view.refuse_event(e)).map(|m| (field.to_string(), m)).collect();
    if problems.is_empty() { Ok(()) } else { Err(FieldErrors::new(CONTEXT, problems)) }
}

/// Refuses event expressions (a saved funnel's step filters, say) that read a property
/// `view` hides; `field` names where they came from.
pub fn check_expressions<'a>(
    view: &Visibility,
    field: &str,
    sources: impl IntoIterator<Item = &'a str>,
    options: &Options,
) -> Result<(), FieldErrors> {
    let problems: Vec<(String, String)> =
        sources.into_iter().filter_map(|src| hidden_in(view, src, options)).map(|m| (field.to_string(), m)).collect();
    if problems.is_empty() { Ok(()) } else { Err(FieldErrors::new(CONTEXT, problems)) }
}

/// Refuses a report over "any event" (`field` left out) in a workspace that shows only
/// some: name an event instead.
pub fn check_any_event(view: &Visibility, field: &str) -> Result<(), FieldErrors> {
    match view.events {
        Some(_) => Err(FieldErrors::one(
            CONTEXT,
            field,
            "is required in this workspace, which shows only some events: name one",
        )),
        None => Ok(()),
    }
}

/// Narrows the event names a scan reads (empty: every event, as stores take them) to
/// those `view` shows: a scan of every event reads the shown ones.
pub fn narrow_names(view: &Visibility, events: &mut Vec<String>) {
    let Some(shown) = &view.events else { return };
    if events.is_empty() {
        events.extend(shown.iter().cloned());
    } else {
        events.retain(|n| shown.contains(n));
    }
}

/// [`narrow_names`] for a list that may be absent (`None`: every event); it stays
/// `None` when the workspace shows every event.
pub fn narrow_events(view: &Visibility, events: &mut Option<Vec<String>>) {
    if view.events.is_some() {
        narrow_names(view, events.get_or_insert_with(Vec::new));
    }
}

/// Refuses a saved funnel's steps (their events, and their `where`s) that `view` does
/// not show; `field` names where the funnel came from.
pub fn check_funnel(
    view: &Visibility,
    field: &str,
    definition: &sextant_model::FunnelDefinition,
    options: &Options,
) -> Result<(), FieldErrors> {
    let steps = &definition.steps;
    check_events(view, field, steps.iter().map(|s| s.event.as_str()))?;
    check_expressions(view, field, steps.iter().filter_map(|s| s.selector.as_deref()), options)
}

/// Refuses a cohort definition (engage's `behaviors`, a saved cohort's) whose
/// behaviours count events `view` does not show or filter them on a property it hides:
/// a profile query through a workspace must not count what the workspace hides.
pub fn check_cohort(
    view: &Visibility,
    field: &str,
    definition: &sextant_model::CohortDefinition,
    options: &Options,
) -> Result<(), FieldErrors> {
    let selectors = definition.behaviors.iter().flat_map(|b| &b.event_selectors);
    check_events(view, field, selectors.clone().map(|s| s.event.as_str()))?;
    check_expressions(view, field, selectors.filter_map(|s| s.selector.as_deref()), options)
}

/// Whether `view` shows every event a cohort definition counts.
pub fn shows_cohort(view: &Visibility, definition: &sextant_model::CohortDefinition) -> bool {
    check_cohort(view, "", definition, &Options::default()).is_ok()
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashMap};

    use super::*;

    fn sales() -> Visibility {
        Visibility {
            events: Some(BTreeSet::from(["Purchase".to_string()])),
            hidden_properties: BTreeSet::from(["email".to_string()]),
        }
    }

    fn check(pairs: &[(&str, &str)]) -> Result<(), FieldErrors> {
        let params: HashMap<&str, &str> = pairs.iter().copied().collect();
        check_params(&sales(), |k| params.get(k).copied(), &Options::default())
    }

    #[test]
    fn requests_naming_what_the_workspace_hides_are_refused() {
        assert!(check(&[("event", "Purchase"), ("on", "properties[\"plan\"]")]).is_ok());
        let e = check(&[("event", "[\"Purchase\", \"Login\"]"), ("where", "properties[\"email\"] == \"x\"")]);
        let fields: Vec<String> = e.unwrap_err().fields.into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["event", "where"]);
        assert!(check(&[("event", "Purchase"), ("name", "email")]).is_err());
        assert!(check(&[("born_event", "Login")]).is_err());
        assert!(check(&[("where", "user[\"email\"] == 1")]).is_ok(), "profile properties are not hidden");
        assert!(check(&[("where", "((")]).is_ok(), "left to the report");
        assert!(check_any_event(&sales(), "event").is_err());
        assert!(check_any_event(&Visibility::default(), "event").is_ok());
        assert!(check_events(&sales(), "funnel_id", ["Purchase", "Login"]).is_err());
        let options = Options::default();
        assert!(check_expressions(&sales(), "funnel_id", ["properties[\"email\"] == 1"], &options).is_err());
        assert!(check_expressions(&sales(), "funnel_id", ["properties[\"plan\"] == 1"], &options).is_ok());
        let mut names = vec!["Login".to_string(), "Purchase".to_string()];
        narrow_names(&sales(), &mut names);
        assert_eq!(names, ["Purchase"]);
        for asked in [None, Some(vec![])] {
            let mut events = asked;
            narrow_events(&sales(), &mut events);
            assert_eq!(events, Some(vec!["Purchase".to_string()]), "every event is every shown event");
        }
        let mut events = None;
        narrow_events(&Visibility::default(), &mut events);
        assert_eq!(events, None);
    }
}
