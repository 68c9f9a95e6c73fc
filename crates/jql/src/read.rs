//! Reading a source from the stores into the script, batch by batch, each batch one
//! JSON array the library parses at once (a JSON parse per batch costs far less than
//! building objects across the boundary one property at a time).
//!
//! - Events come from [`EventStore::export`] with `dedup`: time order, each
//!   `distinct_id` resolved through the identity graph, one copy of each duplicate
//!   (the one ingested last), as every report counts them. The event object is
//!   Mixpanel's: `{name, distinct_id, time, sampling_factor, properties}`, `time` in
//!   milliseconds of the project's wall clock.
//! - Profiles come from [`ProfileStore::query_profiles`], page after page:
//!   `{distinct_id, time, last_seen, properties}`.
//! - A join reads the profiles first (into memory, keyed by id), then streams the events
//!   past them.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::StreamExt;
use sextant_expr::{EventRecord, Options, Program};
use sextant_model::StoredEvent;
use sextant_model::profile::{Properties, USER_PROFILES};
use sextant_model::workspace::Visibility;
use sextant_storage::{BucketUnit, EventStore, ExportQuery, ProfileQuery, ProfileStore, TimeBuckets};

use crate::sandbox::Sandbox;
use crate::source::{EventFilter, JoinType, SelectorCheck};
use crate::{JqlError, Stores};

/// Items per batch handed to the script.
const BATCH: usize = 2000;
/// Profiles per page read from the profile store.
const PAGE: u64 = 5000;

/// What reading needs besides the stores: the project and what its reader may see.
pub(crate) struct Scope<'a> {
    pub project: sextant_model::ProjectId,
    pub options: &'a Options,
    pub view: &'a Visibility,
    pub runtime: &'a tokio::runtime::Handle,
    /// The script's memory budget: a join's profiles, held outside the engine, count
    /// against it too.
    pub memory_bytes: usize,
    /// Only these event properties are read (`crate::projection`); `None`: all.
    pub projection: Option<Vec<String>>,
}

impl Scope<'_> {
    /// Reads `names` too, when reading a projection.
    pub(crate) fn read_also(&mut self, names: impl IntoIterator<Item = String>) {
        if let Some(projection) = &mut self.projection {
            projection.extend(names);
            projection.sort();
            projection.dedup();
        }
    }
}

const EVENTS: u8 = 0;
const PROFILES: u8 = 1;
const JOINED: u8 = 2;

/// Streams the events `filter` selects into the script.
pub(crate) fn events(sandbox: &Sandbox, stores: &Stores, scope: &Scope, filter: &EventFilter) -> Result<(), JqlError> {
    let clock = Clock::new(scope.options, filter);
    let mut batch = Batch::new(EVENTS, scope);
    each_event(sandbox, stores.events.as_ref(), scope, filter, false, |e, properties| {
        batch.open();
        write_event(&mut batch.text, e, properties, &clock);
        batch.flush_if_full(sandbox)
    })?;
    batch.flush(sandbox)
}

/// Streams the profiles `filter` selects into the script.
pub(crate) fn people(
    sandbox: &Sandbox,
    stores: &Stores,
    scope: &Scope,
    filter: Option<Arc<Program>>,
) -> Result<(), JqlError> {
    let mut batch = Batch::new(PROFILES, scope);
    each_profile(sandbox, stores.profiles.as_ref(), scope, filter, |id, properties| {
        batch.open();
        write_profile(&mut batch.text, id, &properties, scope.options);
        batch.flush_if_full(sandbox)
    })?;
    batch.flush(sandbox)
}

/// Streams `join(Events, People)` items into the script.
pub(crate) fn join(
    sandbox: &Sandbox,
    stores: &Stores,
    scope: &Scope,
    (events, users): (&EventFilter, Option<Arc<Program>>),
    kind: JoinType,
    selectors: &[SelectorCheck],
) -> Result<(), JqlError> {
    // Each profile is kept as the JSON the engine reads, and its properties as well only
    // when the join's selectors read them.
    let mut profiles: HashMap<String, (String, Option<Properties>)> = HashMap::new();
    let mut held = 0usize;
    each_profile(sandbox, stores.profiles.as_ref(), scope, users, |id, properties| {
        let mut text = String::new();
        write_profile(&mut text, id, &properties, scope.options);
        // The parsed copy, when kept, is counted at about its text's size again.
        held += id.len() + text.len() * if selectors.is_empty() { 1 } else { 2 };
        if held > scope.memory_bytes {
            return Err(JqlError::Limit(format!(
                "join(): the profiles take more than the script's memory limit of {} MB",
                scope.memory_bytes >> 20
            )));
        }
        profiles.insert(id.to_string(), (text, (!selectors.is_empty()).then_some(properties)));
        Ok(())
    })?;
    let clock = Clock::new(scope.options, events);
    let mut paired: HashSet<String> = HashSet::new();
    let mut batch = Batch::new(JOINED, scope);
    each_event(sandbox, stores.events.as_ref(), scope, events, !selectors.is_empty(), |e, properties| {
        let id = &e.row.distinct_id;
        let user = profiles.get(id);
        if user.is_none() && matches!(kind, JoinType::Inner | JoinType::Right) {
            return Ok(());
        }
        if !selectors.is_empty() {
            let properties = properties.parsed();
            let record = record(e, &properties, user.and_then(|(_, p)| p.as_ref()));
            if !selectors.iter().any(|s| s.matches(&e.row.event, &record)) {
                return Ok(());
            }
        }
        if user.is_some() && matches!(kind, JoinType::Right | JoinType::Full) {
            paired.insert(id.clone());
        }
        batch.open();
        batch.text.push('{');
        // An event without a distinct_id has none in its join item either.
        if !id.is_empty() {
            batch.text.push_str("\"distinct_id\":");
            push_json_str(&mut batch.text, id);
            batch.text.push(',');
        }
        batch.text.push_str("\"event\":");
        write_event(&mut batch.text, e, properties, &clock);
        if let Some((text, _)) = user {
            batch.text.push_str(",\"user\":");
            batch.text.push_str(text);
        }
        batch.text.push('}');
        batch.flush_if_full(sandbox)
    })?;
    if matches!(kind, JoinType::Right | JoinType::Full) {
        let mut alone: Vec<(&String, &String)> =
            profiles.iter().filter(|(id, _)| !paired.contains(*id)).map(|(id, (text, _))| (id, text)).collect();
        alone.sort();
        for (id, text) in alone {
            batch.open();
            batch.text.push_str("{\"distinct_id\":");
            push_json_str(&mut batch.text, id);
            batch.text.push_str(",\"user\":");
            batch.text.push_str(text);
            batch.text.push('}');
            batch.flush_if_full(sandbox)?;
        }
    }
    batch.flush(sandbox)
}

/// Calls `each` with every selected event and its properties, parsed only when the
/// selectors must be checked here, the workspace hides some, or `parse` asks.
fn each_event(
    sandbox: &Sandbox,
    store: &dyn EventStore,
    scope: &Scope,
    filter: &EventFilter,
    parse: bool,
    mut each: impl FnMut(&StoredEvent, &Props) -> Result<(), JqlError>,
) -> Result<(), JqlError> {
    let mut names = filter.names.clone();
    sextant_query::workspace::narrow_events(scope.view, &mut names);
    let query = ExportQuery {
        project_id: scope.project,
        from_ms: filter.from_ms,
        to_ms: filter.to_ms,
        events: names,
        limit: None,
        users: None,
        filter: filter.pushed.clone(),
        dedup: true,
        properties: scope.projection.clone(),
    };
    let parse = parse || filter.exact.is_some() || !scope.view.hidden_properties.is_empty();
    let mut chunks = store.export(query);
    while let Some(chunk) = scope.runtime.block_on(chunks.next()) {
        sandbox.stop.checkpoint()?;
        for e in chunk? {
            if !parse {
                each(&e, &Props::Raw(&e.row.properties))?;
                continue;
            }
            let mut properties: Properties = serde_json::from_str(&e.row.properties).unwrap_or_default();
            if !filter.keeps(&e.row.event, &record(&e, &properties, None)) {
                continue;
            }
            scope.view.strip(&mut properties);
            each(&e, &Props::Parsed(properties))?;
        }
    }
    Ok(())
}

/// An event's properties: the stored JSON object as it is, or parsed.
enum Props<'a> {
    Raw(&'a str),
    Parsed(Properties),
}

impl Props<'_> {
    fn write(&self, out: &mut String) {
        match self {
            Props::Raw(text) if !text.trim().is_empty() => out.push_str(text),
            Props::Raw(_) => out.push_str("{}"),
            Props::Parsed(p) => out.push_str(&serde_json::to_string(p).unwrap_or_else(|_| "{}".into())),
        }
    }

    fn parsed(&self) -> std::borrow::Cow<'_, Properties> {
        match self {
            Props::Raw(text) => std::borrow::Cow::Owned(serde_json::from_str(text).unwrap_or_default()),
            Props::Parsed(p) => std::borrow::Cow::Borrowed(p),
        }
    }
}

fn record<'a>(e: &'a StoredEvent, properties: &'a Properties, user: Option<&'a Properties>) -> EventRecord<'a> {
    EventRecord {
        name: &e.row.event,
        time_ms: e.row.time_ms,
        distinct_id: &e.row.distinct_id,
        insert_id: &e.row.insert_id,
        properties,
        user,
    }
}

/// Calls `each` with every selected profile, page after page.
fn each_profile(
    sandbox: &Sandbox,
    store: &dyn ProfileStore,
    scope: &Scope,
    filter: Option<Arc<Program>>,
    mut each: impl FnMut(&str, Properties) -> Result<(), JqlError>,
) -> Result<(), JqlError> {
    let mut query = ProfileQuery {
        project_id: scope.project,
        group_key: USER_PROFILES.to_string(),
        ids: None,
        filter,
        session_id: None,
        page: 0,
        page_size: PAGE,
        behaviors: Vec::new(),
        count_only: false,
    };
    loop {
        sandbox.stop.checkpoint()?;
        let page = scope.runtime.block_on(store.query_profiles(query.clone()))?;
        let done = (query.page + 1) * PAGE >= page.total || page.profiles.is_empty();
        for (id, properties) in page.profiles {
            each(&id, properties)?;
        }
        if done {
            return Ok(());
        }
        query.session_id = Some(page.session_id);
        query.page += 1;
    }
}

/// Project-local time: each UTC instant shifted by the timezone's offset then.
struct Clock {
    offsets: TimeBuckets,
}

impl Clock {
    fn new(options: &Options, filter: &EventFilter) -> Clock {
        let offsets = sextant_query::calendar::offsets(options.timezone, filter.from_ms, filter.to_ms);
        Clock { offsets: TimeBuckets { unit: BucketUnit::Day, offsets } }
    }

    fn local(&self, utc_ms: i64) -> i64 {
        utc_ms + self.offsets.offset_at(utc_ms)
    }
}

fn write_event(out: &mut String, e: &StoredEvent, properties: &Props, clock: &Clock) {
    out.push_str("{\"name\":");
    push_json_str(out, &e.row.event);
    if !e.row.distinct_id.is_empty() {
        out.push_str(",\"distinct_id\":");
        push_json_str(out, &e.row.distinct_id);
    }
    out.push_str(",\"time\":");
    out.push_str(&clock.local(e.row.time_ms).to_string());
    out.push_str(",\"sampling_factor\":1,\"properties\":");
    properties.write(out);
    out.push('}');
}

fn write_profile(out: &mut String, id: &str, properties: &Properties, options: &Options) {
    out.push_str("{\"distinct_id\":");
    push_json_str(out, id);
    if let Some(seen) = properties.get("$last_seen").and_then(|v| v.as_str()).and_then(last_seen_ms) {
        let local = seen + sextant_query::calendar::offsets(options.timezone, seen, seen + 1)[0].1;
        out.push_str(&format!(",\"time\":{local},\"last_seen\":{local}"));
    }
    out.push_str(",\"properties\":");
    out.push_str(&serde_json::to_string(properties).unwrap_or_else(|_| "{}".into()));
    out.push('}');
}

/// `$last_seen` (`YYYY-MM-DDTHH:MM:SS`, UTC) as epoch ms.
fn last_seen_ms(text: &str) -> Option<i64> {
    let t = chrono::NaiveDateTime::parse_from_str(text.trim_end_matches('Z'), "%Y-%m-%dT%H:%M:%S%.f").ok()?;
    Some(t.and_utc().timestamp_millis())
}

fn push_json_str(out: &mut String, s: &str) {
    out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into()));
}

/// A JSON array being written, handed over when it holds [`BATCH`] items.
struct Batch {
    text: String,
    items: usize,
    /// What it holds: [`EVENTS`], [`PROFILES`] or [`JOINED`].
    kind: u8,
    /// Its events carry only some of their properties.
    partial: bool,
}

impl Batch {
    fn new(kind: u8, scope: &Scope) -> Batch {
        let partial = kind != PROFILES && scope.projection.is_some();
        Batch { text: String::from("["), items: 0, kind, partial }
    }

    /// Starts the next item.
    fn open(&mut self) {
        if self.items > 0 {
            self.text.push(',');
        }
        self.items += 1;
    }

    fn flush_if_full(&mut self, sandbox: &Sandbox) -> Result<(), JqlError> {
        if self.items >= BATCH { self.flush(sandbox) } else { Ok(()) }
    }

    fn flush(&mut self, sandbox: &Sandbox) -> Result<(), JqlError> {
        if self.items == 0 {
            return Ok(());
        }
        self.text.push(']');
        let result = sandbox.push(&self.text, self.kind, self.partial);
        self.text.clear();
        self.text.push('[');
        self.items = 0;
        result
    }
}
