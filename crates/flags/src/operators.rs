//! The two JSONLogic operators the official SDKs add for runtime rules, with the SDKs'
//! shared golden vectors (`tests/data/*_compare_tests.json`, from mixpanel-python's
//! `mixpanel/flags/test-data`) as their contract:
//!
//! - `{"semver_compare": [actual, symbol, target]}`: SemVer 2.0.0 ordering, after
//!   stripping a leading `v` and padding a partial core with zeros (`1.2` is `1.2.0`);
//!   anything that is then not a valid version fails closed (false).
//! - `{"datetime_compare": [actual, symbol, target]}`: `actual` an RFC 3339 string,
//!   `target` epoch milliseconds, compared in whole seconds.
//!
//! `symbol` is one of `===`, `!==`, `<`, `<=`, `>`, `>=`; any other fails closed.

use std::cmp::Ordering;
use std::sync::LazyLock;

use chrono::NaiveDate;
use regex::Regex;

/// The longest operand `semver_compare` looks at (node-semver's `MAX_LENGTH`).
const MAX_SEMVER_LENGTH: usize = 256;

/// The official SemVer 2.0.0 expression (semver.org), as the SDKs use it, with `[0-9]`
/// for `\d`: Rust's `\d` also matches other scripts' digits, which Python's pattern
/// with `re.ASCII` semantics for these operands would not order as numbers.
static SEMVER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(?:-((?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$",
    )
    .expect("the SemVer expression compiles")
});

/// RFC 3339 with each field's shape (ASCII digits only, so the fields are byte ranges);
/// ranges are checked when the instant is built.
static RFC3339: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$")
        .expect("the RFC 3339 expression compiles")
});

/// Whether `ordering` satisfies `symbol`; an unknown symbol never does.
fn satisfies(ordering: Ordering, symbol: &str) -> bool {
    match symbol {
        "===" => ordering == Ordering::Equal,
        "!==" => ordering != Ordering::Equal,
        "<" => ordering == Ordering::Less,
        "<=" => ordering != Ordering::Greater,
        ">" => ordering == Ordering::Greater,
        ">=" => ordering != Ordering::Less,
        _ => false,
    }
}

/// `semver_compare`'s verdict.
pub fn semver_compare(actual: &str, symbol: &str, target: &str) -> bool {
    if actual.len() > MAX_SEMVER_LENGTH || target.len() > MAX_SEMVER_LENGTH {
        return false;
    }
    let (actual, target) = (normalize_semver(actual), normalize_semver(target));
    if !SEMVER.is_match(&actual) || !SEMVER.is_match(&target) {
        return false;
    }
    satisfies(compare_semver(&actual, &target), symbol)
}

/// Strips a leading `v` and pads the core to three numbers: `v1.2-rc.1` is `1.2.0-rc.1`.
fn normalize_semver(value: &str) -> String {
    let value = value.trim();
    let value = value.strip_prefix(['v', 'V']).unwrap_or(value);
    let suffix_at = value.find(['-', '+']).unwrap_or(value.len());
    let (core, suffix) = value.split_at(suffix_at);
    let mut parts: Vec<&str> = core.split('.').collect();
    while parts.len() < 3 {
        parts.push("0");
    }
    format!("{}{suffix}", parts.join("."))
}

fn is_numeric(identifier: &str) -> bool {
    !identifier.is_empty() && identifier.bytes().all(|b| b.is_ascii_digit())
}

/// Digits without leading zeros: the longer is larger, and equal lengths compare as text
/// (no overflow on versions past 64 bits).
fn compare_numeric(a: &str, b: &str) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// SemVer 2.0.0 §11: cores numerically, a release above its prereleases, prerelease
/// fields one by one (numeric below alphanumeric), then the longer list.
fn compare_semver(a: &str, b: &str) -> Ordering {
    let (a_core, a_pre) = split_semver(a);
    let (b_core, b_pre) = split_semver(b);
    for (x, y) in a_core.iter().zip(&b_core) {
        let ordering = compare_numeric(x, y);
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
    match (a_pre.is_empty(), b_pre.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        (false, false) => {}
    }
    for (x, y) in a_pre.iter().zip(&b_pre) {
        let ordering = match (is_numeric(x), is_numeric(y)) {
            (true, true) => compare_numeric(x, y),
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
            (false, false) => x.cmp(y),
        };
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
    a_pre.len().cmp(&b_pre.len())
}

/// The core's numbers and the prerelease's fields, build metadata dropped.
fn split_semver(version: &str) -> (Vec<&str>, Vec<&str>) {
    let version = version.split_once('+').map_or(version, |(v, _)| v);
    match version.split_once('-') {
        None => (version.split('.').collect(), Vec::new()),
        Some((core, pre)) => (core.split('.').collect(), pre.split('.').collect()),
    }
}

/// A target of `datetime_compare`: epoch milliseconds, as JSON gives them.
#[derive(Clone, Copy, Debug)]
pub enum Millis {
    /// A whole number.
    Integer(i64),
    /// A number with a fraction (or too large for an integer).
    Float(f64),
}

/// `datetime_compare`'s verdict.
pub fn datetime_compare(actual: &str, symbol: &str, target: Millis) -> bool {
    let (Some(actual), Some(target)) = (rfc3339_seconds(actual), millis_to_seconds(target)) else {
        return false;
    };
    satisfies(actual.cmp(&target), symbol)
}

/// Whole seconds since the epoch of an RFC 3339 instant (fraction dropped), or `None` for
/// anything malformed or impossible (30 February, hour 24, offset +24:00).
fn rfc3339_seconds(value: &str) -> Option<i64> {
    let normalized = value.trim().to_uppercase();
    let fields = RFC3339.captures(&normalized)?;
    let number = |i: usize| fields.get(i).and_then(|m| m.as_str().parse::<u32>().ok());
    let (year, month, day) = (number(1)?, number(2)?, number(3)?);
    let (hour, minute, second) = (number(4)?, number(5)?, number(6)?);
    let offset = match fields.get(7)?.as_str() {
        "Z" => 0,
        text => {
            let (hours, minutes): (i64, i64) = (text.get(1..3)?.parse().ok()?, text.get(4..6)?.parse().ok()?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            let seconds = hours * 3600 + minutes * 60;
            if text.starts_with('-') { -seconds } else { seconds }
        }
    };
    // Python's `datetime` (the reference) cannot hold year 0 and refuses it; so do we.
    if year == 0 {
        return None;
    }
    let at = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?.and_hms_opt(hour, minute, second)?;
    Some(at.and_utc().timestamp() - offset)
}

/// Epoch milliseconds to whole seconds, truncated toward zero; `None` past int64.
fn millis_to_seconds(target: Millis) -> Option<i64> {
    let millis = match target {
        // `i64::MIN` is -2^63, whose magnitude the SDKs' int64 bound refuses.
        Millis::Integer(n) if n != i64::MIN => n,
        Millis::Integer(_) => return None,
        Millis::Float(f) if f.is_finite() && f.abs() < 9.223_372_036_854_776e18 => f.trunc() as i64,
        Millis::Float(_) => return None,
    };
    Some(millis / 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semver_edges() {
        assert!(semver_compare("v1.2", "===", "1.2.0"));
        assert!(semver_compare("1.0.0-alpha", "<", "1.0.0-alpha.1"));
        assert!(semver_compare("1.0.0-alpha.beta", "<", "1.0.0-beta"));
        assert!(semver_compare("1.0.0-rc.1", "<", "1.0.0"));
        assert!(semver_compare("1.0.0+build", "===", "1.0.0"));
        assert!(!semver_compare("01.0.0", "===", "1.0.0"));
        assert!(!semver_compare("1.2.3", "~", "1.2.3"));
        assert!(semver_compare("99999999999999999999.0.0", ">", "9999999999999999999.0.0"));
    }

    #[test]
    fn datetime_edges() {
        let jul16 = Millis::Integer(1_784_160_000_000);
        assert!(datetime_compare("2026-07-16T00:00:00Z", "===", jul16));
        assert!(datetime_compare("2026-07-16T02:00:00+02:00", "===", jul16));
        assert!(datetime_compare("2026-07-16t00:00:00.999z", "===", jul16));
        assert!(!datetime_compare("2026-02-30T00:00:00Z", "===", jul16));
        assert!(!datetime_compare("2026-07-16T00:00:00+24:00", "<", jul16));
        assert!(!datetime_compare("2026-07-16T00:00:00Z", "===", Millis::Float(f64::NAN)));
        assert!(datetime_compare("1969-12-31T23:59:59Z", "===", Millis::Integer(-1_999)));
        // Digits of other scripts are no digits here (they would split bytes mid-character).
        assert!(!datetime_compare("2026-07-16T00:00:00+1\u{0660}:00", "<", jul16));
        assert!(!semver_compare("1.\u{0660}.0", "===", "1.0.0"));
    }
}
