//! The columns of the rows being filtered ([`Columns`]), what the store knows about the
//! kinds of value each property holds ([`KindSet`]), and property access: reading a
//! member of the properties (or of a joined profile) as a dynamic value and splitting
//! it into one alternative per kind, with no type test where the kinds are known.

use super::alts::{Alt, Kind, Payload, Val};
use super::combine::and;
use super::{Compiler, Result, unsupported};
use crate::Scope;
use crate::ast::Source;
use crate::record::{Field, field};

/// The columns of the rows being filtered.
#[derive(Clone, Debug)]
pub struct Columns {
    /// The properties, as the dialect's dynamic type (DuckDB: VARIANT), or as JSON text
    /// when [`Columns::properties_text`] says so.
    pub properties: String,
    /// Whether [`Columns::properties`] is JSON text (DuckDB's hot tier). A member is then
    /// read from the text directly: DuckDB parses the text and converts the one value
    /// (about 0.5 µs a row, measured on 595-byte events) instead of converting every
    /// member of the object to VARIANT first (about 4.4 µs).
    pub properties_text: bool,
    /// Event time, epoch ms (BIGINT).
    pub time_ms: String,
    /// Event name.
    pub event: String,
    /// Distinct id.
    pub distinct_id: String,
    /// Insert id.
    pub insert_id: String,
    /// The user's profile properties, when profiles are joined in.
    pub user: Option<String>,
    /// Whether [`Columns::user`] is JSON text, as [`Columns::properties_text`].
    pub user_text: bool,
    /// The event property names that have ever held JSON `null`, when the store keeps
    /// that list; `None` when any name may. Telling a `null` from a missing member costs
    /// DuckDB a read of the whole VARIANT column (its extraction gives SQL NULL for
    /// both), so names never seen null skip the test: a null there is a missing member.
    pub nullable: Option<std::sync::Arc<std::collections::HashSet<String>>>,
    /// The kinds of value each listed top-level event property holds in these rows, when
    /// the store knows them. Testing a value's type costs DuckDB a decoding of the value
    /// (about five times the cost of reading it as text), so a name that has only ever
    /// held strings is read as text without a test, and so on.
    pub kinds: Option<std::sync::Arc<std::collections::HashMap<String, KindSet>>>,
}

/// The kinds of value a property has held (besides JSON `null`, which
/// [`Columns::nullable`] tracks): a set of [`Kind`]s, or `OTHER` for anything the
/// compiler does not model, which means "test every row".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KindSet(u8);

impl KindSet {
    /// No value of any kind (the property is never set, or only to `null`).
    pub const NONE: KindSet = KindSet(0);
    /// A value of a type outside [`Kind`].
    pub const OTHER: KindSet = KindSet(1 << 7);

    /// The set holding `kind` alone.
    pub fn of(kind: Kind) -> KindSet {
        KindSet(1 << kind as u8)
    }

    /// Both sets.
    pub fn union(self, other: KindSet) -> KindSet {
        KindSet(self.0 | other.0)
    }

    /// Whether `kind` is in the set.
    pub fn contains(self, kind: Kind) -> bool {
        self.0 & (1 << kind as u8) != 0
    }

    /// The set as one byte, for storing.
    pub fn bits(self) -> u8 {
        self.0
    }

    /// The set stored by [`KindSet::bits`].
    pub fn from_bits(bits: u8) -> KindSet {
        KindSet(bits)
    }

    fn is_known(self) -> bool {
        self.0 & Self::OTHER.0 == 0
    }
}

impl Default for Columns {
    fn default() -> Self {
        Columns {
            properties: "properties".into(),
            properties_text: false,
            time_ms: "time_ms".into(),
            event: "event".into(),
            distinct_id: "distinct_id".into(),
            insert_id: "insert_id".into(),
            user: None,
            user_text: false,
            nullable: None,
            kinds: None,
        }
    }
}

impl Compiler<'_> {
    /// The value of `source[name]`: an event field's column, or a member of the event's
    /// properties or of the profile's, split into one alternative per kind.
    pub(super) fn access(&self, source: Source, name: &str) -> Result<Val> {
        let c = self.columns;
        if let Some(f) = field(self.program.scope(), source, name) {
            return Ok(match f {
                Field::Time => Val::sql(Kind::Time, c.time_ms.clone()),
                Field::Name => Val::sql(Kind::Str, c.event.clone()),
                Field::DistinctId => Val::sql(Kind::Str, c.distinct_id.clone()),
                Field::InsertId => Val::sql(Kind::Str, c.insert_id.clone()),
            }
            .total());
        }
        if let Some(target) = crate::lookup::Target::of(self.program.scope(), source)
            && self.program.options().lookups.split_dotted(target, name).is_some()
        {
            return unsupported("a lookup-table column");
        }
        let (object, text) = match (self.program.scope(), source) {
            (_, Source::Properties) => (&c.properties, c.properties_text),
            (Scope::Profile, Source::User) => (&c.properties, c.properties_text),
            (Scope::Event, Source::User) => match &c.user {
                Some(u) => (u, c.user_text),
                None => return Ok(Val::default()), // no profile joined: undefined, as in Rust
            },
            _ => return unsupported("behaviors"),
        };
        let d = self.dialect;
        let v = if text { d.text_member(object, name) } else { d.member(object, name) };
        let never_null = matches!((self.program.scope(), source), (Scope::Event, Source::Properties))
            && c.nullable.as_ref().is_some_and(|names| !names.contains(name));
        let exists = match (never_null, text) {
            (true, _) => "FALSE".to_string(),
            (false, true) => d.text_has_member(object, name),
            (false, false) => d.has_member(object, name),
        };
        let known = match (self.program.scope(), source, &c.kinds) {
            (Scope::Event, Source::Properties, Some(kinds)) => kinds.get(name).copied().filter(|k| k.is_known()),
            _ => None,
        };
        Ok(match known {
            Some(kinds) => self.dynamic_of(&v, (!never_null).then_some(exists), kinds),
            None => self.dynamic(&v, Some(exists)),
        })
    }

    /// [`Self::dynamic`] for a value known to hold only `kinds` (or `null`, when
    /// `exists` is given): no type test for a value of one scalar kind.
    fn dynamic_of(&self, v: &str, exists: Option<String>, kinds: KindSet) -> Val {
        let d = self.dialect;
        let mut alts = Vec::new();
        if let Some(exists) = &exists {
            alts.push(Alt {
                kind: Kind::Null,
                when: and(&[&Some(exists.clone()), &Some(d.is_kind(v, Kind::Null))]),
                payload: Payload::None,
            });
        }
        let present: Vec<Kind> = [Kind::Bool, Kind::Num, Kind::Str, Kind::List, Kind::Object]
            .into_iter()
            .filter(|k| kinds.contains(*k))
            .collect();
        match present.as_slice() {
            [kind @ (Kind::Bool | Kind::Num | Kind::Str)] => {
                // The payload is SQL NULL exactly where the value is missing or `null`.
                let payload = d.payload_of_only(v, *kind);
                let when = exists.as_ref().map(|_| format!("{payload} IS NOT NULL"));
                alts.push(Alt { kind: *kind, when, payload: Payload::sql(payload) });
            }
            _ => {
                for kind in present {
                    let payload = match kind {
                        Kind::List | Kind::Object => Payload::Dynamic(v.to_string()),
                        _ => Payload::sql(d.payload(v, kind)),
                    };
                    alts.push(Alt { kind, when: Some(d.is_kind(v, kind)), payload });
                }
            }
        }
        Val { dynamic: true, ..Val::of(alts) }
    }

    /// The alternatives of a dynamic value; `exists` separates null from missing.
    pub(super) fn dynamic(&self, v: &str, exists: Option<String>) -> Val {
        let d = self.dialect;
        let mut alts = Vec::new();
        let null_when = and(&[&exists, &Some(d.is_kind(v, Kind::Null))]);
        alts.push(Alt { kind: Kind::Null, when: null_when, payload: Payload::None });
        for kind in [Kind::Bool, Kind::Num, Kind::Str] {
            alts.push(Alt { kind, when: Some(d.is_kind(v, kind)), payload: Payload::sql(d.payload(v, kind)) });
        }
        for kind in [Kind::List, Kind::Object] {
            alts.push(Alt { kind, when: Some(d.is_kind(v, kind)), payload: Payload::Dynamic(v.to_string()) });
        }
        Val { dynamic: true, ..Val::of(alts) }
    }
}
