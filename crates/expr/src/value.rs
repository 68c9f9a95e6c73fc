//! The value model (reference §1.5) and the casts of §1.9.
//!
//! Both back ends follow these definitions; where a rule had to be chosen (number
//! formatting, which date strings count as dates) the SQL compiler emits the same rule,
//! and `tests/agreement` in the DuckDB store checks that the two never differ.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone};
use chrono_tz::Tz;

/// A value during evaluation.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A missing property, or the result of an operation on mismatched types.
    Undefined,
    /// JSON `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// Every number is a double, as in JSON and JavaScript.
    Number(f64),
    /// Text.
    String(String),
    /// An instant, in milliseconds since the Unix epoch (UTC).
    DateTime(i64),
    /// A JSON array or list literal.
    List(Vec<Value>),
    /// A JSON object.
    Object(serde_json::Map<String, serde_json::Value>),
}

impl Value {
    /// The value of a stored JSON property. Strings stay strings: comparisons decide
    /// when a date string counts as a date.
    pub fn from_json(v: &serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => n.as_f64().map_or(Value::Undefined, Value::Number),
            serde_json::Value::String(s) => Value::String(s.clone()),
            serde_json::Value::Array(items) => Value::List(items.iter().map(Value::from_json).collect()),
            serde_json::Value::Object(map) => Value::Object(map.clone()),
        }
    }

    /// The value as JSON, for results that leave the evaluator (undefined becomes null).
    pub fn to_json(&self, tz: Tz) -> serde_json::Value {
        match self {
            Value::Undefined | Value::Null => serde_json::Value::Null,
            Value::Bool(b) => (*b).into(),
            Value::Number(n) => serde_json::Number::from_f64(*n).map_or(serde_json::Value::Null, Into::into),
            Value::String(s) => s.clone().into(),
            Value::DateTime(ms) => format_datetime(*ms, tz).into(),
            Value::List(items) => items.iter().map(|v| v.to_json(tz)).collect(),
            Value::Object(map) => serde_json::Value::Object(map.clone()),
        }
    }

    /// The name of the value's type, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Undefined => "undefined",
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::DateTime(_) => "datetime",
            Value::List(_) => "list",
            Value::Object(_) => "object",
        }
    }

    /// `true` only for boolean true: what `where` keeps.
    pub fn is_true(&self) -> bool {
        matches!(self, Value::Bool(true))
    }

    /// `boolean(x)` (§1.9).
    pub fn to_bool(&self) -> bool {
        match self {
            Value::Undefined | Value::Null => false,
            Value::Bool(b) => *b,
            Value::Number(n) => *n != 0.0 && !n.is_nan(),
            Value::String(s) => !(s.is_empty() || s == "false"),
            Value::DateTime(_) => true,
            Value::List(items) => !items.is_empty(),
            Value::Object(map) => !map.is_empty(),
        }
    }

    /// `number(x)` (§1.9); `None` is undefined.
    pub fn to_number(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(*n),
            Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            Value::String(s) => parse_number(s),
            Value::DateTime(ms) => Some(*ms as f64 / 1000.0),
            _ => None,
        }
    }

    /// `string(x)` (§1.9): text, `Null` for null, `Undefined` for undefined.
    pub fn to_string_value(&self, tz: Tz) -> Value {
        match self {
            Value::Undefined => Value::Undefined,
            Value::Null => Value::Null,
            Value::Bool(b) => Value::String(b.to_string()),
            Value::Number(n) => Value::String(format_number(*n)),
            Value::String(s) => Value::String(s.clone()),
            Value::DateTime(ms) => Value::String(format_datetime(*ms, tz)),
            Value::List(_) | Value::Object(_) => {
                let mut out = String::new();
                write_json(&mut out, self, tz);
                Value::String(out)
            }
        }
    }
}

/// Compact JSON text of a list or object, numbers printed by [`format_number`].
/// (A JSON number written with a zero fraction, `1.0`, prints as `1`: the value model
/// keeps no difference between the two.)
fn write_json(out: &mut String, v: &Value, tz: Tz) {
    match v {
        Value::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, item, tz);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String(k.clone()).to_string());
                out.push(':');
                write_json(out, &Value::from_json(item), tz);
            }
            out.push('}');
        }
        Value::Number(n) => out.push_str(&format_number(*n)),
        other => out.push_str(&other.to_json(tz).to_string()),
    }
}

/// What `number("...")` accepts: an optional sign, digits with an optional fraction,
/// and an optional exponent. No spaces, no `inf` or `nan`, no hex.
pub fn parse_number(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let mut digits = i - int_start;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        digits += i - frac_start;
    }
    if digits == 0 {
        return None;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let exp_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == exp_start {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    s.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// The pattern [`parse_number`] accepts, for SQL back ends.
pub const NUMBER_PATTERN: &str = r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?";

/// How numbers print: integers below 10^15 without a fraction (`5`, not `5.0`, as
/// JavaScript prints them); anything else in the shortest form that reads back exactly,
/// positional from 10^-4 up to 10^16 and with an exponent outside (`1e+16`, `2.5e-05`).
pub fn format_number(n: f64) -> String {
    if n.is_nan() {
        return "nan".into();
    }
    if n.is_infinite() {
        return if n > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if n == n.trunc() && n.abs() < 1e15 {
        return format!("{}", n as i64);
    }
    // `{:e}` gives the shortest round-trip digits: "1.2345e17", "2.5e-5".
    let sci = format!("{n:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let sign = if negative { "-" } else { "" };
    if (-4..16).contains(&exp) {
        let point = exp + 1; // digits before the decimal point
        let body = if point <= 0 {
            format!("0.{}{}", "0".repeat((-point) as usize), digits)
        } else if point as usize >= digits.len() {
            format!("{}{}.0", digits, "0".repeat(point as usize - digits.len()))
        } else {
            format!("{}.{}", &digits[..point as usize], &digits[point as usize..])
        };
        format!("{sign}{body}")
    } else {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() { String::new() } else { format!(".{rest}") };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{first}{frac}e{esign}{:02}", exp.abs())
    }
}

/// The date strings that count as dates: `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SS` and
/// `YYYY-MM-DD HH:MM:SS`, each field zero-padded and in range.
pub fn parse_naive_datetime(s: &str) -> Option<NaiveDateTime> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = b.get(r)?;
        if part.iter().all(u8::is_ascii_digit) { std::str::from_utf8(part).ok()?.parse().ok() } else { None }
    };
    if !(b.len() == 10 || b.len() == 19) || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
    if b.len() == 10 {
        return date.and_hms_opt(0, 0, 0);
    }
    if !(b[10] == b'T' || b[10] == b' ') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    date.and_hms_opt(num(11..13)?, num(14..16)?, num(17..19)?)
}

/// The pattern [`parse_naive_datetime`] accepts (before range checks), for SQL back ends.
pub const DATETIME_PATTERN: &str = r"[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}:[0-9]{2})?";

/// A date string read as wall-clock time in `tz`, as epoch ms. A time skipped by a
/// daylight-saving change reads as the instant just after the gap; a repeated one as
/// its first occurrence.
pub fn local_to_ms(naive: NaiveDateTime, tz: Tz) -> i64 {
    match tz.from_local_datetime(&naive) {
        chrono::LocalResult::Single(t) => t.timestamp_millis(),
        chrono::LocalResult::Ambiguous(first, _) => first.timestamp_millis(),
        chrono::LocalResult::None => {
            // In a gap: the wall clock jumped over it; step forward to the first valid minute.
            let mut probe = naive;
            for _ in 0..180 {
                probe += chrono::Duration::minutes(1);
                if let Some(t) = tz.from_local_datetime(&probe).earliest() {
                    return t.timestamp_millis();
                }
            }
            naive.and_utc().timestamp_millis()
        }
    }
}

/// A date string from data (a property value): read as UTC, as Mixpanel stores them.
pub fn data_string_to_ms(s: &str) -> Option<i64> {
    parse_naive_datetime(s).map(|n| n.and_utc().timestamp_millis())
}

/// `YYYY-MM-DDTHH:MM:SS` in `tz`.
pub fn format_datetime(ms: i64, tz: Tz) -> String {
    match DateTime::from_timestamp_millis(ms) {
        Some(t) => t.with_timezone(&tz).format("%Y-%m-%dT%H:%M:%S").to_string(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_like_the_store() {
        let cases = [
            (5.0, "5"),
            (-0.0, "0"),
            (0.1, "0.1"),
            (1.5, "1.5"),
            (1e300, "1e+300"),
            (1e-7, "1e-07"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (0.000123, "0.000123"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.0 / 3.0, "0.3333333333333333"),
            (2.5e-5, "2.5e-05"),
            (-12.25, "-12.25"),
        ];
        for (n, text) in cases {
            assert_eq!(format_number(n), text, "{n}");
        }
    }

    #[test]
    fn number_strings() {
        for ok in ["5", "-5", "+1.5", ".5", "5.", "1e3", "1E-3"] {
            assert!(parse_number(ok).is_some(), "{ok}");
        }
        for bad in ["", " 5", "5 ", "inf", "nan", "0x10", "1e", ".", "-", "1,5", "1e999"] {
            assert!(parse_number(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn date_strings() {
        assert!(parse_naive_datetime("2024-01-31").is_some());
        assert!(parse_naive_datetime("2024-01-31T23:59:59").is_some());
        assert!(parse_naive_datetime("2024-01-31 23:59:59").is_some());
        for bad in ["2024-1-31", "2024-02-30", "2024-01-31T24:00:00", "2024-01-31T12:00", "2024-01-31Z", "x"] {
            assert!(parse_naive_datetime(bad).is_none(), "{bad}");
        }
        let paris: Tz = "Europe/Paris".parse().unwrap();
        let ms = local_to_ms(parse_naive_datetime("2024-07-01T12:00:00").unwrap(), paris);
        assert_eq!(format_datetime(ms, chrono_tz::UTC), "2024-07-01T10:00:00");
        assert_eq!(format_datetime(ms, paris), "2024-07-01T12:00:00");
    }
}
