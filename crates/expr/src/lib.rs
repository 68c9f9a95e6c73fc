//! Mixpanel's segmentation expression language, once for every surface.
//!
//! `where`, `on`, `born_where`, engage `selector` and JQL selectors all use the same
//! small language (reference `mixpanel-query-reference.md` part 1). This crate owns it:
//!
//! - [`parse`]: text to tree ([`ast`]), with positions in every error;
//!   [`ast::Expr`]'s `Display` prints it back (the printed text parses to the same tree);
//!   [`conjunction`] joins two sources as trees.
//! - [`Program::new`]: the semantic checks for one surface ([`Scope`]) and one
//!   project's [`Options`]; what both back ends take.
//! - [`Program::eval`]: the interpreter over one [`Record`], for flag rules, JQL
//!   selectors and anything that filters in Rust.
//! - [`sql`]: a compiler to the store's SQL, so filters run inside the store. DuckDB is
//!   the first dialect; the compiler is written against [`sql::Dialect`] so ClickHouse
//!   can be added without touching the parser or the semantics. Inside it: `sql::dialect`
//!   ([`sql::Dialect`] and [`sql::DuckDb`], where a dialect plugs in), `sql::alts` and
//!   `sql::combine` (a value's typed alternatives and the SQL joining their conditions),
//!   `sql::columns` ([`sql::Columns`] and property access), `sql::node` (literals,
//!   variables and operators), `sql::compare` (`==`, orderings, `in`), `sql::functions`
//!   (function calls, one module per family), `sql::bindings` (`let` values written
//!   once) and `sql::budget` (the limit on the SQL written).
//!
//! The rules both back ends follow are in [`value`] (types and casts) and [`eval`]
//! (operators and functions); the DuckDB store's agreement test runs random
//! expressions through both and requires the same answer for every record.
//!
//! # Layout
//! - `lexer`: source text to tokens, each with its position.
//! - `parser`: tokens to the tree (the grammar and its precedence).
//! - [`ast`]: the syntax tree every surface shares.
//! - `print`: the tree back to source text, with only the parentheses it needs.
//! - [`check`]: the semantic checks, before any record is read.
//! - [`value`]: the value model and its casts.
//! - [`eval`]: the interpreter, its operators and functions.
//! - [`record`]: what an expression reads, one event or profile.
//! - [`lookup`]: lookup tables as expressions see them.
//! - [`sql`]: the compiler to the store's SQL (its modules are named above).
//! - [`error`]: errors that say what is wrong and where.

pub mod ast;
pub mod check;
pub mod error;
pub mod eval;
mod lexer;
pub mod lookup;
mod parser;
mod print;
pub mod record;
pub mod sql;
pub mod value;

use std::collections::HashMap;

pub use ast::{Expr, ExprKind, Function};
pub use error::{ErrorKind, ExprError};
pub use lookup::{LookupTable, Lookups, Target};
pub use parser::parse;
pub use record::{EventRecord, Field, ProfileRecord, Record};
pub use value::Value;

/// Longest expression accepted, in characters (Mixpanel's formula limit).
pub const MAX_LENGTH: usize = 20_000;

/// Deepest nesting accepted; deeper input is refused before it can exhaust the stack
/// of the parser or of any pass that walks the tree.
pub const MAX_DEPTH: usize = 64;

pub use check::MAX_EXPANDED;
pub use eval::MAX_STRING_BYTES;

/// `a and b` for two expressions given as text, each parsed on its own and the two
/// joined as trees, then printed: neither can reach into the other (joining the texts
/// as `(b) and (a)` let `x) or (true` escape the `and`).
pub fn conjunction(a: &str, b: &str) -> Result<String, ExprError> {
    let (a, b) = (parse(a)?, parse(b)?);
    let both = Expr::new(ExprKind::Binary { op: ast::BinaryOp::And, lhs: Box::new(a), rhs: Box::new(b) });
    Ok(both.to_string())
}

/// Which records `properties[...]` reads, and which other accessors exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Event queries: `properties` (the event), `user` (its profile), `event` (fields).
    Event,
    /// Profile queries: `properties` and `user` (the profile), `behaviors`.
    Profile,
}

/// Per-project settings that change what an expression means.
#[derive(Clone, Debug)]
pub struct Options {
    /// The project's timezone: date literals are wall-clock time there.
    pub timezone: chrono_tz::Tz,
    /// Whether string `==`, `!=` and `in` respect case. Mixpanel documents them as
    /// case-insensitive for custom properties; the default follows that everywhere.
    pub case_sensitive: bool,
    /// "Now", in epoch ms, for `today()`: fixed per query so both back ends agree.
    pub now_ms: i64,
    /// The lookup tables mapped to properties the expression reads ([`lookup`]).
    pub lookups: std::sync::Arc<lookup::Lookups>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            timezone: chrono_tz::UTC,
            case_sensitive: false,
            now_ms: chrono::Utc::now().timestamp_millis(),
            lookups: Default::default(),
        }
    }
}

/// A checked expression, ready for either back end.
#[derive(Clone, Debug)]
pub struct Program {
    expr: Expr,
    scope: Scope,
    options: Options,
    /// Regular expressions written as literals, compiled once.
    regexes: HashMap<String, regex::Regex>,
}

impl Program {
    /// Parses and checks `src` for `scope`.
    pub fn parse(src: &str, scope: Scope, options: Options) -> Result<Program, ExprError> {
        Program::new(parse(src)?, scope, options)
    }

    /// Checks a tree for `scope`.
    pub fn new(expr: Expr, scope: Scope, options: Options) -> Result<Program, ExprError> {
        let regexes = check::check(&expr, scope)?;
        Ok(Program { expr, scope, options, regexes })
    }

    /// The tree.
    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    /// The surface it was checked for.
    pub fn scope(&self) -> Scope {
        self.scope
    }

    /// The project settings it runs with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The same program reading `lookups` for its mapped properties (lookup tables do
    /// not change what is valid, so nothing is checked again).
    pub fn with_lookups(mut self, lookups: std::sync::Arc<lookup::Lookups>) -> Program {
        self.options.lookups = lookups;
        self
    }

    /// The properties it reads that a lookup table could be mapped to.
    pub fn referenced_properties(&self) -> Vec<(Target, String)> {
        lookup::referenced_properties(&self.expr, self.scope)
    }

    /// Evaluates the expression on one record.
    pub fn eval(&self, record: &dyn Record) -> Value {
        eval::Evaluator::new(self, record).eval(&self.expr)
    }

    /// The segment keys an `on` puts the record under: none when undefined; a list's
    /// distinct elements, one key each; otherwise one key. A key is the text `string()`
    /// gives, and null is `"null"`.
    pub fn segment_keys(&self, record: &dyn Record) -> Vec<String> {
        let tz = self.options.timezone;
        let key = |v: &Value| match v.to_string_value(tz) {
            Value::String(s) => Some(s),
            Value::Null => Some("null".to_string()),
            _ => None,
        };
        match self.eval(record) {
            Value::List(items) => {
                let mut keys: Vec<String> = Vec::new();
                for k in items.iter().filter_map(key) {
                    if !keys.contains(&k) {
                        keys.push(k);
                    }
                }
                keys
            }
            v => key(&v).into_iter().collect(),
        }
    }

    /// The expression's value where it is a finite number, else 0 (what the sum and
    /// average reports assume for other values).
    pub fn number_or_zero(&self, record: &dyn Record) -> f64 {
        match self.eval(record) {
            Value::Number(n) if n.is_finite() => n,
            _ => 0.0,
        }
    }

    /// Whether a `where` keeps the record: only a boolean `true` does.
    pub fn matches(&self, record: &dyn Record) -> bool {
        self.eval(record).is_true()
    }

    pub(crate) fn regex(&self, pattern: &str) -> Option<std::borrow::Cow<'_, regex::Regex>> {
        match self.regexes.get(pattern) {
            Some(r) => Some(std::borrow::Cow::Borrowed(r)),
            None => check::compile_regex(pattern).ok().map(std::borrow::Cow::Owned),
        }
    }
}
