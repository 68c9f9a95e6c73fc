//! What `main()` asked to read, as the library describes it (`__sextant.plan()`), and
//! that description checked and compiled: dates into UTC bounds, selectors into
//! segmentation-expression programs the store runs.

use std::sync::Arc;

use serde::Deserialize;
use sextant_expr::{Options, Program, Scope, Target};
use sextant_model::time::parse_date;
use sextant_model::workspace::Visibility;
use sextant_query::workspace;

use crate::JqlError;

/// What `main()` returned: the source, and the first stage when the store can run it.
#[derive(Debug, Deserialize)]
pub(crate) struct Plan {
    pub source: Source,
    pub native: Option<crate::native::NativeGroupBy>,
}

/// A data source.
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub(crate) enum Source {
    /// `Events({...})`.
    Events(EventsSpec),
    /// `People({...})`.
    People(PeopleSpec),
    /// `join(Events(...), People(...), {...})`.
    Join {
        events: EventsSpec,
        people: PeopleSpec,
        #[serde(rename = "type")]
        kind: JoinType,
        selectors: Vec<Selector>,
    },
}

/// `Events()`'s options.
#[derive(Debug, Deserialize)]
pub(crate) struct EventsSpec {
    from_date: String,
    to_date: String,
    event_selectors: Vec<Selector>,
}

/// `People()`'s options.
#[derive(Debug, Deserialize)]
pub(crate) struct PeopleSpec {
    user_selectors: Vec<Selector>,
}

/// Which pairs a join keeps.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum JoinType {
    /// Events and profiles alike, paired where they can be.
    Full,
    /// Every event, with its profile when there is one.
    Left,
    /// Every profile: with each of its events, or alone.
    Right,
    /// Events that have a profile.
    Inner,
}

/// One selector: an event name, an expression, or both.
#[derive(Debug, Deserialize)]
pub(crate) struct Selector {
    event: Option<String>,
    selector: Option<String>,
}

impl Selector {
    /// Its expression; a blank one is none (it matches everything).
    fn expression(&self) -> Option<&str> {
        self.selector.as_deref().filter(|t| !t.trim().is_empty())
    }
}

/// The years a date may name: a range beyond them is a mistake, and costs work before
/// the first event is read (the timezone's offsets over it).
const YEARS: std::ops::RangeInclusive<i32> = 1970..=2100;

/// Events to read: a UTC range, the names the store keeps, the expression it filters
/// with, and, when the selectors cannot be pushed down as one expression, each
/// selector to check per event.
#[derive(Debug)]
pub(crate) struct EventFilter {
    pub from_ms: i64,
    pub to_ms: i64,
    pub names: Option<Vec<String>>,
    pub pushed: Option<Arc<Program>>,
    pub exact: Option<Vec<SelectorCheck>>,
}

/// One selector, checked per event: its name (any when `None`) and its expression.
#[derive(Debug)]
pub(crate) struct SelectorCheck {
    event: Option<String>,
    program: Option<Program>,
}

/// The event properties `program` reads.
fn event_reads(program: &Program) -> impl Iterator<Item = String> + '_ {
    program.referenced_properties().into_iter().filter(|(t, _)| *t == Target::Event).map(|(_, name)| name)
}

impl SelectorCheck {
    /// The event properties its expression reads.
    pub(crate) fn reads(&self) -> Vec<String> {
        self.program.as_ref().map(|p| event_reads(p).collect()).unwrap_or_default()
    }

    fn all(selectors: &[Selector], programs: Vec<Option<Program>>) -> Vec<SelectorCheck> {
        selectors.iter().zip(programs).map(|(s, program)| SelectorCheck { event: s.event.clone(), program }).collect()
    }

    /// Whether the event named `name` (and read as `record`) passes.
    pub(crate) fn matches(&self, name: &str, record: &sextant_expr::EventRecord<'_>) -> bool {
        self.event.as_deref().is_none_or(|e| e == name) && self.program.as_ref().is_none_or(|p| p.matches(record))
    }
}

impl EventsSpec {
    /// The range (project-local dates, both inclusive) and the selectors, compiled.
    pub(crate) fn compile(&self, options: &Options) -> Result<EventFilter, JqlError> {
        let date = |name: &str, text: &str| {
            parse_date(text).filter(|d| YEARS.contains(&chrono::Datelike::year(d))).ok_or_else(|| {
                JqlError::Script(format!("Events(): {name} must be a date, YYYY-MM-DD, from 1970 to 2100"))
            })
        };
        let (from, to) = (date("from_date", &self.from_date)?, date("to_date", &self.to_date)?);
        if to < from {
            return Err(JqlError::Script("Events(): to_date is before from_date".into()));
        }
        let (from_ms, to_ms) = sextant_query::calendar::date_range_ms(from, to, options.timezone);
        let mut filter = EventFilter { from_ms, to_ms, names: None, pushed: None, exact: None };
        let selectors = &self.event_selectors;
        if selectors.is_empty() {
            return Ok(filter);
        }
        let programs = compile_all(selectors, Scope::Event, options, "event_selectors")?;
        // As the reference has it: selectors see the event's properties only (a join's
        // selectors see the profile too).
        if programs.iter().flatten().any(|p| p.referenced_properties().iter().any(|(t, _)| *t == Target::User)) {
            return Err(JqlError::Script(
                "event_selectors read event properties only; user[...] belongs in join() selectors".into(),
            ));
        }
        // A selector without an event name matches any event.
        if selectors.iter().all(|s| s.event.is_some()) {
            let mut names: Vec<String> = selectors.iter().filter_map(|s| s.event.clone()).collect();
            names.sort();
            names.dedup();
            filter.names = Some(names);
        }
        let expressions: Vec<&str> = selectors.iter().filter_map(Selector::expression).collect();
        match (selectors.len(), expressions.len()) {
            (_, 0) => {}
            (1, 1) => filter.pushed = programs.into_iter().next().flatten().map(Arc::new),
            (n, m) => {
                // The store keeps events that pass any selector's expression (a superset
                // when no selector is expression-free), and each is checked exactly here.
                if n == m {
                    filter.pushed = Some(Arc::new(any_of(&expressions, Scope::Event, options)?));
                }
                filter.exact = Some(SelectorCheck::all(selectors, programs));
            }
        }
        Ok(filter)
    }
}

impl EventsSpec {
    /// Refuses selectors that name an event the reader's workspace does not show or read
    /// a property it hides (the store filters before anything is hidden).
    pub(crate) fn check_view(&self, view: &Visibility, options: &Options) -> Result<(), JqlError> {
        check_view(&self.event_selectors, "event_selectors", view, options)
    }
}

/// [`EventsSpec::check_view`] for any event selectors (a join's too).
pub(crate) fn check_view(
    selectors: &[Selector],
    field: &str,
    view: &Visibility,
    options: &Options,
) -> Result<(), JqlError> {
    let script = |e: sextant_query::FieldErrors| JqlError::Script(e.to_string());
    workspace::check_events(view, field, selectors.iter().filter_map(|s| s.event.as_deref())).map_err(script)?;
    workspace::check_expressions(view, field, selectors.iter().filter_map(Selector::expression), options)
        .map_err(script)
}

impl EventFilter {
    /// The event properties its expressions read (what a per-event check needs).
    pub(crate) fn reads(&self) -> Vec<String> {
        let mut names: Vec<String> = self.pushed.iter().flat_map(|p| event_reads(p).collect::<Vec<_>>()).collect();
        names.extend(self.exact.iter().flatten().flat_map(SelectorCheck::reads));
        names
    }

    /// Whether an event the store returned passes the selectors (only asked when
    /// [`EventFilter::exact`] is set).
    pub(crate) fn keeps(&self, name: &str, record: &sextant_expr::EventRecord<'_>) -> bool {
        self.exact.as_ref().is_none_or(|exact| exact.iter().any(|s| s.matches(name, record)))
    }
}

impl PeopleSpec {
    /// The profile filter: any selector's expression.
    pub(crate) fn compile(&self, options: &Options) -> Result<Option<Arc<Program>>, JqlError> {
        let expressions: Vec<&str> = self.user_selectors.iter().filter_map(Selector::expression).collect();
        compile_all(&self.user_selectors, Scope::Profile, options, "user_selectors")?;
        // A selector with no expression keeps every profile.
        if expressions.is_empty() || expressions.len() < self.user_selectors.len() {
            return Ok(None);
        }
        Ok(Some(Arc::new(any_of(&expressions, Scope::Profile, options)?)))
    }
}

/// `join()`'s selectors: pairs kept when any matches (`properties[...]` the event's,
/// `user[...]` the profile's).
pub(crate) fn join_selectors(selectors: &[Selector], options: &Options) -> Result<Vec<SelectorCheck>, JqlError> {
    let programs = compile_all(selectors, Scope::Event, options, "join selectors")?;
    Ok(SelectorCheck::all(selectors, programs))
}

fn compile_all(
    selectors: &[Selector],
    scope: Scope,
    options: &Options,
    what: &str,
) -> Result<Vec<Option<Program>>, JqlError> {
    selectors
        .iter()
        .enumerate()
        .map(|(i, s)| match s.expression() {
            Some(text) => Program::parse(text, scope, options.clone())
                .map(Some)
                .map_err(|e| JqlError::Script(format!("{what}[{i}].selector: {e}"))),
            None => Ok(None),
        })
        .collect()
}

fn any_of(expressions: &[&str], scope: Scope, options: &Options) -> Result<Program, JqlError> {
    let text = expressions.iter().map(|e| format!("({e})")).collect::<Vec<_>>().join(" or ");
    Program::parse(&text, scope, options.clone()).map_err(|e| JqlError::Script(format!("selectors: {e}")))
}
