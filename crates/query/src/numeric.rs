//! `/segmentation/numeric`: a numeric `on` grouped into ranges.
//!
//! Mixpanel does not document how it chooses ranges; Sextant's rule (reference §1.11's
//! recommendation): at most ten ranges of one width, the smallest 1, 2 or 5 times a
//! power of ten that covers the values seen, starting at a multiple of the width
//! below the smallest value. Each range holds its lower bound; the last also holds its
//! upper one. Labels read `"2,000 - 2,100"` (thousands separated by commas).
//!
//! It runs as two segmentations: the first finds the values `on` takes, the second
//! counts with an `on` that gives each event's range index, so `type=unique` and
//! `average` count users within each range exactly.

use sextant_expr::value::format_number;
use sextant_expr::{Program, Scope};

use crate::QueryError;

/// Most ranges.
pub const MAX_RANGES: usize = 10;

/// One range, `[lower, upper)`, and its label.
#[derive(Clone, Debug, PartialEq)]
pub struct Range {
    /// Lower bound (inclusive).
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
    /// `"lower - upper"`.
    pub label: String,
}

/// The ranges covering `values` (empty without values).
pub fn ranges(values: &[f64]) -> Vec<Range> {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    let (Some(min), Some(max)) = (finite.iter().copied().reduce(f64::min), finite.iter().copied().reduce(f64::max))
    else {
        return Vec::new();
    };
    let width = nice_width(min, max);
    let start = (min / width).floor() * width;
    let mut out = Vec::new();
    let mut lower = start;
    while out.len() < MAX_RANGES * 2 {
        let upper = round(lower + width);
        out.push(Range { lower, upper, label: format!("{} - {}", label(lower), label(upper)) });
        if upper > max {
            break;
        }
        lower = upper;
    }
    out
}

/// The smallest 1, 2 or 5 × 10^k width giving at most [`MAX_RANGES`] ranges.
fn nice_width(min: f64, max: f64) -> f64 {
    let span = max - min;
    if span <= 0.0 {
        return 10f64.powf(min.abs().max(1.0).log10().floor()).max(1.0);
    }
    let mut k = (span / MAX_RANGES as f64).log10().floor() as i32 - 1;
    loop {
        for m in [1.0, 2.0, 5.0] {
            let w = m * 10f64.powi(k);
            let start = (min / w).floor() * w;
            if (((max - start) / w).floor() as usize) < MAX_RANGES {
                return round(w);
            }
        }
        k += 1;
    }
}

/// Rounds away binary noise (0.1 + 0.2).
fn round(x: f64) -> f64 {
    (x * 1e9).round() / 1e9
}

/// A bound as its label shows it: `2,000`, `-1,500.5`.
pub fn label(x: f64) -> String {
    let text = format_number(x);
    let (sign, rest) = match text.strip_prefix('-') {
        Some(r) => ("-", r),
        None => ("", text.as_str()),
    };
    if rest.contains('e') {
        return text;
    }
    let (int, frac) = match rest.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (rest, None),
    };
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    match frac {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

/// An `on` giving the index of each event's range (as text: `"0"`, `"1"`, ...;
/// undefined when the value is not a number); [`relabel`] names them. Ranges are of one
/// width, so the index is arithmetic, which compiles to small SQL; the last range ends
/// above the largest value, so no value's index passes the last.
pub fn range_program(on: &Program, ranges: &[Range]) -> Result<Program, QueryError> {
    let Some(first) = ranges.first() else {
        return Program::parse("undefined", Scope::Event, on.options().clone())
            .map_err(|e| QueryError::new(format!("cannot build the numeric ranges: {e}")));
    };
    let width = first.upper - first.lower;
    // A hair over the quotient, so a value on a boundary lands above it despite rounding.
    let src =
        format!("floor((number({on}) - {lower:?}) / {width:?} + 0.000000001)", on = on.expr(), lower = first.lower);
    Program::parse(&src, Scope::Event, on.options().clone())
        .map_err(|e| QueryError::new(format!("cannot build the numeric ranges: {e}")))
}

/// The label of the range a [`range_program`] key names.
pub fn relabel(key: &str, ranges: &[Range]) -> Option<String> {
    ranges.get(key.parse::<usize>().ok()?).map(|r| r.label.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_group_thousands() {
        assert_eq!(label(2000.0), "2,000");
        assert_eq!(label(1234567.5), "1,234,567.5");
        assert_eq!(label(-1500.0), "-1,500");
        assert_eq!(label(0.5), "0.5");
        assert_eq!(label(100.0), "100");
    }

    #[test]
    fn ranges_are_nice_and_cover_every_value() {
        let r = ranges(&[2013.0, 2150.0, 2980.0]);
        assert_eq!(r.first().unwrap().label, "2,000 - 2,100");
        assert!(r.len() <= MAX_RANGES, "{r:?}");
        assert!(r.last().unwrap().upper >= 2980.0);
        let small = ranges(&[0.1, 0.35, 0.9]);
        assert_eq!(small.first().unwrap().label, "0.1 - 0.2");
        assert_eq!(ranges(&[5.0]).len(), 1);
        assert!(ranges(&[]).is_empty());
        let r = ranges(&[1.0, 10.0]);
        assert_eq!(r.iter().map(|r| r.label.as_str()).collect::<Vec<_>>()[..2], ["1 - 2", "2 - 3"]);
        assert_eq!(r.last().unwrap().label, "10 - 11", "every range ends above what it holds");
        assert_eq!(r.len(), 10);
    }
}

#[cfg(test)]
mod sql_size {
    use super::*;

    #[test]
    fn the_range_index_compiles_to_small_sql() {
        let on = Program::parse(r#"properties["n"]"#, Scope::Event, Default::default()).unwrap();
        let r = ranges(&[1.0, 2.5]);
        let p = range_program(&on, &r).unwrap();
        let k = sextant_expr::sql::duckdb_segment_key(&p, &Default::default()).unwrap();
        assert!(k.scalar.len() < 8000, "{}", k.scalar);
    }
}
