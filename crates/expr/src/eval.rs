//! The interpreter: operator rules of reference §1.7 and the functions of §1.8.
//!
//! The rules, in short (the SQL compiler emits the same ones):
//! - arithmetic needs two numbers (else undefined); `/` or `%` by zero is undefined;
//!   `+` also joins two strings;
//! - `==` is always true or false: different types are unequal; two undefined values
//!   are equal; strings compare without regard to case unless the project says so;
//!   a datetime equals a date string that names the same instant;
//! - `<`-style comparisons take two numbers, two datetimes, a datetime and a date
//!   string, or two strings (as dates when both are, else by bytes); else undefined;
//! - `in`: substring of a string, or member (by `==`) of a list; else undefined;
//! - `and`/`or` count anything but `true` as false; `not undefined` is true, `not` of
//!   a non-boolean is undefined;
//! - a date string written in the expression is wall-clock time in the project's
//!   timezone; one read from data is UTC, as Mixpanel stores them.

use std::cmp::Ordering;

use chrono::{Datelike, NaiveDate, TimeZone};

use crate::ast::{BinaryOp, Expr, ExprKind, Function, Literal, Source, UnaryOp};
use crate::check::DATEDIF_UNITS;
use crate::lookup::Target;
use crate::record::{Record, field};
use crate::value::{Value, data_string_to_ms, local_to_ms, parse_naive_datetime};
use crate::{Program, Scope};

/// Latest instant `datetime(seconds)` accepts: the end of year 9999.
pub const MAX_EPOCH_SECONDS: f64 = 253_402_300_799.0;

/// Evaluates one program on one record.
pub struct Evaluator<'a> {
    program: &'a Program,
    record: &'a dyn Record,
    vars: Vec<(String, Value)>,
}

impl<'a> Evaluator<'a> {
    /// An evaluator with no bound names.
    pub fn new(program: &'a Program, record: &'a dyn Record) -> Self {
        Evaluator { program, record, vars: Vec::new() }
    }

    fn case_sensitive(&self) -> bool {
        self.program.options.case_sensitive
    }

    fn tz(&self) -> chrono_tz::Tz {
        self.program.options.timezone
    }

    /// The value of `e`.
    pub fn eval(&mut self, e: &Expr) -> Value {
        match &e.kind {
            ExprKind::Literal(lit) => match lit {
                Literal::Number(n) => Value::Number(*n),
                Literal::Str(s) => Value::String(s.clone()),
                Literal::Bool(b) => Value::Bool(*b),
                Literal::Null => Value::Null,
                Literal::Undefined => Value::Undefined,
            },
            ExprKind::List(items) => Value::List(items.iter().map(|i| self.eval(i)).collect()),
            ExprKind::Access { source, name } => self.access(*source, name),
            ExprKind::Var(name) => {
                self.vars.iter().rev().find(|(n, _)| n == name).map_or(Value::Undefined, |(_, v)| v.clone())
            }
            ExprKind::Call { function, args } => self.call(*function, args),
            ExprKind::Unary { op: UnaryOp::Neg, operand } => match self.eval(operand) {
                Value::Number(n) => Value::Number(-n),
                _ => Value::Undefined,
            },
            ExprKind::Unary { op: UnaryOp::Not, operand } => match self.eval(operand) {
                Value::Bool(b) => Value::Bool(!b),
                Value::Undefined => Value::Bool(true),
                _ => Value::Undefined,
            },
            ExprKind::Binary { op, lhs, rhs } => self.binary(*op, lhs, rhs),
            ExprKind::Index { target, index } => {
                if let Some(v) = self.lookup_index(target, index) {
                    return v;
                }
                self.index(target, index)
            }
        }
    }

    /// `properties["p"]["column"]` where `p` is mapped to a lookup table.
    fn lookup_index(&mut self, target: &Expr, index: &Expr) -> Option<Value> {
        let ExprKind::Access { source, name } = &target.kind else { return None };
        let program = self.program;
        let lookups = &program.options.lookups;
        if lookups.is_empty() {
            return None;
        }
        let mapped = Target::of(program.scope, *source)?;
        lookups.table(mapped, name)?;
        let Value::String(column) = self.eval(index) else { return Some(Value::Undefined) };
        let key = self.access(*source, name);
        lookups.read(mapped, name, &key, &column)
    }

    fn index(&mut self, target: &Expr, index: &Expr) -> Value {
        match (self.eval(target), self.eval(index)) {
            (Value::List(items), Value::Number(i)) if i >= 0.0 && i.fract() == 0.0 => {
                items.get(i as usize).cloned().unwrap_or(Value::Undefined)
            }
            (Value::Object(map), Value::String(key)) => map.get(&key).map_or(Value::Undefined, Value::from_json),
            _ => Value::Undefined,
        }
    }

    fn access(&self, source: Source, name: &str) -> Value {
        let scope = self.program.scope;
        if let Some(f) = field(scope, source, name) {
            return self.record.field(f);
        }
        let value = match (scope, source) {
            (_, Source::Properties) => self.record.property(name),
            (_, Source::User) => self.record.user(name),
            (Scope::Profile, Source::Behaviors) => self.record.behavior(name),
            _ => Value::Undefined,
        };
        if matches!(value, Value::Undefined) && name.contains('.') {
            return self.dotted_lookup(source, name).unwrap_or(value);
        }
        value
    }

    /// `properties["p.column"]`, absent as a property, where `p` is mapped.
    fn dotted_lookup(&self, source: Source, name: &str) -> Option<Value> {
        let lookups = &self.program.options.lookups;
        let target = Target::of(self.program.scope, source)?;
        let (property, column) = lookups.split_dotted(target, name)?;
        let key = self.access(source, property);
        lookups.read(target, property, &key, column)
    }

    fn binary(&mut self, op: BinaryOp, lhs: &Expr, rhs: &Expr) -> Value {
        let (a, b) = (self.eval(lhs), self.eval(rhs));
        match op {
            BinaryOp::And => Value::Bool(a.is_true() && b.is_true()),
            BinaryOp::Or => Value::Bool(a.is_true() || b.is_true()),
            BinaryOp::Eq => Value::Bool(self.equal(&a, lit(lhs), &b, lit(rhs))),
            BinaryOp::Ne => Value::Bool(!self.equal(&a, lit(lhs), &b, lit(rhs))),
            BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => match self.order(&a, lit(lhs), &b, lit(rhs)) {
                Some(ord) => Value::Bool(match op {
                    BinaryOp::Lt => ord == Ordering::Less,
                    BinaryOp::Le => ord != Ordering::Greater,
                    BinaryOp::Gt => ord == Ordering::Greater,
                    _ => ord != Ordering::Less,
                }),
                None => Value::Undefined,
            },
            BinaryOp::In => match (&a, &b) {
                (Value::String(needle), Value::String(hay)) => Value::Bool(if self.case_sensitive() {
                    hay.contains(needle.as_str())
                } else {
                    hay.to_lowercase().contains(&needle.to_lowercase())
                }),
                (_, Value::List(items)) => Value::Bool(items.iter().any(|item| self.equal(&a, lit(lhs), item, false))),
                _ => Value::Undefined,
            },
            BinaryOp::Add => match (a, b) {
                (Value::Number(x), Value::Number(y)) => Value::Number(x + y),
                (Value::String(x), Value::String(y)) if x.len() + y.len() <= MAX_STRING_BYTES => Value::String(x + &y),
                _ => Value::Undefined,
            },
            BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem => match (a, b) {
                (Value::Number(x), Value::Number(y)) => match op {
                    BinaryOp::Sub => Value::Number(x - y),
                    BinaryOp::Mul => Value::Number(x * y),
                    _ if y == 0.0 => Value::Undefined,
                    BinaryOp::Div => Value::Number(x / y),
                    _ => Value::Number(x % y),
                },
                _ => Value::Undefined,
            },
        }
    }

    /// A string as an instant: literals in the project's timezone, data as UTC.
    fn string_instant(&self, s: &str, literal: bool) -> Option<i64> {
        if literal { parse_naive_datetime(s).map(|n| local_to_ms(n, self.tz())) } else { data_string_to_ms(s) }
    }

    /// `==`, with `a_lit`/`b_lit` saying whether each side is a string literal.
    pub fn equal(&self, a: &Value, a_lit: bool, b: &Value, b_lit: bool) -> bool {
        match (a, b) {
            (Value::Undefined, Value::Undefined) | (Value::Null, Value::Null) => true,
            (Value::Bool(x), Value::Bool(y)) => x == y,
            (Value::Number(x), Value::Number(y)) => x == y,
            (Value::String(x), Value::String(y)) => {
                if self.case_sensitive() {
                    x == y
                } else {
                    x == y || x.to_lowercase() == y.to_lowercase()
                }
            }
            (Value::DateTime(x), Value::DateTime(y)) => x == y,
            (Value::DateTime(t), Value::String(s)) => self.string_instant(s, b_lit) == Some(*t),
            (Value::String(s), Value::DateTime(t)) => self.string_instant(s, a_lit) == Some(*t),
            (Value::List(x), Value::List(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(p, q)| self.equal(p, false, q, false))
            }
            (Value::Object(x), Value::Object(y)) => {
                x.len() == y.len()
                    && x.iter().all(|(k, v)| {
                        y.get(k).is_some_and(|w| self.equal(&Value::from_json(v), false, &Value::from_json(w), false))
                    })
            }
            _ => false,
        }
    }

    fn order(&self, a: &Value, a_lit: bool, b: &Value, b_lit: bool) -> Option<Ordering> {
        match (a, b) {
            (Value::Number(x), Value::Number(y)) => x.partial_cmp(y),
            (Value::DateTime(x), Value::DateTime(y)) => Some(x.cmp(y)),
            (Value::DateTime(t), Value::String(s)) => Some(t.cmp(&self.string_instant(s, b_lit)?)),
            (Value::String(s), Value::DateTime(t)) => Some(self.string_instant(s, a_lit)?.cmp(t)),
            (Value::String(x), Value::String(y)) => match (parse_naive_datetime(x), parse_naive_datetime(y)) {
                (Some(p), Some(q)) => Some(p.cmp(&q)),
                _ => Some(x.as_bytes().cmp(y.as_bytes())),
            },
            _ => None,
        }
    }

    fn with_var<T>(&mut self, name: &str, value: Value, f: impl FnOnce(&mut Self) -> T) -> T {
        self.vars.push((name.to_string(), value));
        let out = f(self);
        self.vars.pop();
        out
    }

    fn call(&mut self, function: Function, args: &[Expr]) -> Value {
        use Function as F;
        if function.binds() {
            return self.binding_call(function, args);
        }
        match function {
            F::If => {
                let pick = if self.eval(&args[0]).is_true() { &args[1] } else { &args[2] };
                return self.eval(pick);
            }
            F::Ifs => {
                for pair in args.chunks(2) {
                    if self.eval(&pair[0]).is_true() {
                        return self.eval(&pair[1]);
                    }
                }
                return Value::Undefined;
            }
            F::Datetime => {
                return match self.eval(&args[0]) {
                    Value::Number(s) => seconds_to_datetime(s),
                    Value::String(s) => {
                        self.string_instant(&s, lit(&args[0])).map_or(Value::Undefined, Value::DateTime)
                    }
                    Value::DateTime(t) => Value::DateTime(t),
                    _ => Value::Undefined,
                };
            }
            _ => {}
        }
        let v: Vec<Value> = args.iter().map(|a| self.eval(a)).collect();
        let tz = self.tz();
        match function {
            F::Defined => Value::Bool(!matches!(v[0], Value::Undefined | Value::Null)),
            F::Boolean => Value::Bool(v[0].to_bool()),
            F::Number => v[0].to_number().map_or(Value::Undefined, Value::Number),
            F::String => match (&v[0], v.get(1)) {
                (Value::Undefined, Some(default)) => default.clone(),
                (x, _) => x.to_string_value(tz),
            },
            F::Floor | F::Round | F::Ceil => match v[0] {
                Value::Number(n) => Value::Number(match function {
                    F::Floor => n.floor(),
                    F::Ceil => n.ceil(),
                    _ => n.round(),
                }),
                _ => Value::Undefined,
            },
            F::HasPrefix | F::HasSuffix => match (&v[0], &v[1]) {
                (Value::String(s), Value::String(p)) => {
                    let (s, p) = (s.to_lowercase(), p.to_lowercase());
                    Value::Bool(if function == F::HasPrefix { s.starts_with(&p) } else { s.ends_with(&p) })
                }
                _ => Value::Undefined,
            },
            F::Min | F::Max => match (&v[0], &v[1]) {
                (Value::Number(a), Value::Number(b)) => {
                    Value::Number(if function == F::Min { a.min(*b) } else { a.max(*b) })
                }
                _ => Value::Undefined,
            },
            F::Upper | F::Lower => match &v[0] {
                Value::String(s) => {
                    Value::String(if function == F::Upper { s.to_uppercase() } else { s.to_lowercase() })
                }
                _ => Value::Undefined,
            },
            F::Len => match &v[0] {
                Value::String(s) => Value::Number(s.chars().count() as f64),
                Value::List(items) => Value::Number(items.len() as f64),
                _ => Value::Undefined,
            },
            F::Left | F::Right => match (&v[0], count(&v[1])) {
                (Value::String(s), Some(n)) => {
                    let len = s.chars().count();
                    let n = n.min(len);
                    let skip = if function == F::Left { 0 } else { len - n };
                    Value::String(s.chars().skip(skip).take(n).collect())
                }
                _ => Value::Undefined,
            },
            F::Mid => match (&v[0], count(&v[1]), count(&v[2])) {
                (Value::String(s), Some(start), Some(n)) if start >= 1 => {
                    Value::String(s.chars().skip(start - 1).take(n).collect())
                }
                _ => Value::Undefined,
            },
            F::Split => match (&v[0], &v[1], v.get(2)) {
                (Value::String(s), Value::String(d), n) if d.len() == 1 && d.is_ascii() => {
                    let mut parts = s.split(d.as_str());
                    match n {
                        None => Value::List(parts.map(|p| Value::String(p.to_string())).collect()),
                        Some(n) => match count(n) {
                            Some(i) if i >= 1 => parts.nth(i - 1).map_or(Value::Undefined, |p| Value::String(p.into())),
                            _ => Value::Undefined,
                        },
                    }
                }
                _ => Value::Undefined,
            },
            F::Sum => match &v[0] {
                Value::List(items) => Value::Number(
                    items.iter().filter_map(|i| if let Value::Number(n) = i { Some(*n) } else { None }).sum(),
                ),
                _ => Value::Undefined,
            },
            F::Today => today_ms(&self.program.options).map_or(Value::Undefined, Value::DateTime),
            F::RegexMatch | F::RegexExtract | F::RegexReplace => self.regex_call(function, &v),
            F::ParseUrl => match (&v[0], &v[1]) {
                (Value::String(url), Value::String(part)) => {
                    parse_url(url, part).map_or(Value::Undefined, Value::String)
                }
                _ => Value::Undefined,
            },
            F::Datedif => match (&v[0], &v[1], &v[2]) {
                (Value::DateTime(a), Value::DateTime(b), Value::String(unit)) => {
                    datedif(*a, *b, unit, tz).map_or(Value::Undefined, |n| Value::Number(n as f64))
                }
                _ => Value::Undefined,
            },
            F::If | F::Ifs | F::Datetime | F::Let | F::Any | F::All | F::Filter | F::Map => Value::Undefined,
        }
    }

    fn regex_call(&self, function: Function, v: &[Value]) -> Value {
        let (Value::String(s), Value::String(pattern)) = (&v[0], &v[1]) else { return Value::Undefined };
        let Some(re) = self.program.regex(pattern) else { return Value::Undefined };
        match function {
            Function::RegexMatch => Value::Bool(re.is_match(s)),
            Function::RegexExtract => {
                let group = match v.get(2) {
                    None => 0,
                    Some(g) => match count(g) {
                        Some(g) => g,
                        None => return Value::Undefined,
                    },
                };
                re.captures(s)
                    .and_then(|c| c.get(group))
                    .map_or(Value::Undefined, |m| Value::String(m.as_str().to_string()))
            }
            _ => match &v[2] {
                Value::String(replacement) => {
                    let mut capped =
                        Capped { replacement, room: MAX_STRING_BYTES.saturating_sub(s.len()), over: false };
                    let out = re.replace_all(s, &mut capped);
                    if capped.over { Value::Undefined } else { Value::String(out.into_owned()) }
                }
                _ => Value::Undefined,
            },
        }
    }

    fn binding_call(&mut self, function: Function, args: &[Expr]) -> Value {
        let ExprKind::Var(name) = &args[0].kind else { return Value::Undefined };
        let value = self.eval(&args[1]);
        if function == Function::Let {
            return self.with_var(name, value, |me| me.eval(&args[2]));
        }
        let Value::List(items) = value else { return Value::Undefined };
        let mut results = Vec::with_capacity(items.len());
        for item in &items {
            results.push(self.with_var(name, item.clone(), |me| me.eval(&args[2])));
        }
        match function {
            Function::Any => Value::Bool(results.iter().any(Value::is_true)),
            Function::All => Value::Bool(results.iter().all(Value::is_true)),
            Function::Filter => {
                Value::List(items.into_iter().zip(&results).filter(|(_, r)| r.is_true()).map(|(i, _)| i).collect())
            }
            _ => Value::List(results),
        }
    }
}

/// The longest string an expression may build (by `+` or `regex_replace`); a longer
/// result is undefined. Stored string properties are far shorter (ingestion truncates
/// them), so only a runaway expression meets this, and it must not take the memory of
/// every other request: `regex_replace(s, "", "$0$0…")` multiplies `s` by the
/// replacement's length at every position.
pub const MAX_STRING_BYTES: usize = 1 << 20;

/// A `regex_replace` replacement that stops writing once the output would pass
/// [`MAX_STRING_BYTES`] and remembers that it did.
struct Capped<'a> {
    replacement: &'a str,
    /// Bytes the replacements may add in all, beyond the input's length.
    room: usize,
    over: bool,
}

impl regex::Replacer for &mut Capped<'_> {
    fn replace_append(&mut self, caps: &regex::Captures<'_>, dst: &mut String) {
        if self.over {
            return;
        }
        let start = dst.len();
        caps.expand(self.replacement, dst);
        let added = dst.len() - start;
        match self.room.checked_sub(added) {
            Some(left) => self.room = left,
            None => {
                self.over = true;
                dst.truncate(start);
            }
        }
    }
}

/// Whether `e` is a string literal (date strings in the source are project time).
fn lit(e: &Expr) -> bool {
    matches!(e.kind, ExprKind::Literal(Literal::Str(_)))
}

/// A non-negative whole count from a number (fractions are cut off).
fn count(v: &Value) -> Option<usize> {
    match v {
        Value::Number(n) if *n >= 0.0 && *n < 1e15 => Some(n.trunc() as usize),
        _ => None,
    }
}

/// `today()`: midnight at the start of `now_ms`'s day in the project's timezone.
pub fn today_ms(options: &crate::Options) -> Option<i64> {
    let tz = options.timezone;
    let day = chrono::DateTime::from_timestamp_millis(options.now_ms)?.with_timezone(&tz).date_naive();
    Some(local_to_ms(day.and_hms_opt(0, 0, 0)?, tz))
}

/// `datetime(seconds)`: rounded to the millisecond; years after 9999 are undefined.
pub fn seconds_to_datetime(s: f64) -> Value {
    if s.abs() <= MAX_EPOCH_SECONDS { Value::DateTime((s * 1000.0).round() as i64) } else { Value::Undefined }
}

/// The host of a URL (`full_domain`) or its registrable domain (`domain`): the last two
/// labels, or three when the second-last is a common second-level label under a
/// two-letter country code (`example.co.uk`).
pub fn parse_url(url: &str, part: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit('@').next()?.split(':').next()?.trim_end_matches('.').to_lowercase();
    if host.is_empty() || host.contains(char::is_whitespace) {
        return None;
    }
    match part {
        "full_domain" => Some(host),
        "domain" => {
            let labels: Vec<&str> = host.split('.').collect();
            if labels.len() <= 2 || host.parse::<std::net::Ipv4Addr>().is_ok() {
                return Some(host);
            }
            let n = labels.len();
            let second_level = ["co", "com", "org", "net", "gov", "edu", "ac"];
            let keep = if labels[n - 1].len() == 2 && second_level.contains(&labels[n - 2]) { 3 } else { 2 };
            Some(labels[n - keep..].join("."))
        }
        _ => None,
    }
}

/// Spreadsheet `DATEDIF` on the project-local dates of two instants.
pub fn datedif(start_ms: i64, end_ms: i64, unit: &str, tz: chrono_tz::Tz) -> Option<i64> {
    let date = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms).map(|t| tz.from_utc_datetime(&t.naive_utc()).date_naive())
    };
    let (a, b) = (date(start_ms)?, date(end_ms)?);
    if a > b {
        return None;
    }
    let unit = unit.to_ascii_uppercase();
    if !DATEDIF_UNITS.contains(&unit.as_str()) {
        return None;
    }
    let months = |a: NaiveDate, b: NaiveDate| {
        let mut m = (b.year() - a.year()) as i64 * 12 + b.month() as i64 - a.month() as i64;
        if b.day() < a.day() {
            m -= 1;
        }
        m
    };
    Some(match unit.as_str() {
        "D" => (b - a).num_days(),
        "M" => months(a, b),
        "Y" => months(a, b) / 12,
        "YM" => months(a, b) % 12,
        "MD" => {
            if b.day() >= a.day() {
                (b.day() - a.day()) as i64
            } else {
                // days from a's day-of-month in the month before b, to b
                let prev = b.with_day(1)? - chrono::Duration::days(1);
                let anchor = prev.with_day(a.day().min(prev.day()))?;
                (b - anchor).num_days()
            }
        }
        _ => {
            // YD: days between the dates as if in the same year (b's year, or the year before).
            let shifted = NaiveDate::from_ymd_opt(b.year(), a.month(), a.day())
                .or_else(|| NaiveDate::from_ymd_opt(b.year(), a.month(), 28))?;
            if shifted <= b {
                (b - shifted).num_days()
            } else {
                let prev = NaiveDate::from_ymd_opt(b.year() - 1, a.month(), a.day())
                    .or_else(|| NaiveDate::from_ymd_opt(b.year() - 1, a.month(), 28))?;
                (b - prev).num_days()
            }
        }
    })
}
