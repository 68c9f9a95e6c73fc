//! SQL text combinators over the alternatives' conditions: `AND` and `OR` of
//! optional conditions (`None` meaning "always"), `CASE` over branches, and the
//! cheaper form a filter can take when it only keeps rows where the result is true.

use std::fmt::Write;

/// The conditions given, joined with AND; `None` (always) when none is given.
pub(super) fn and(parts: &[&Option<String>]) -> Option<String> {
    let conds: Vec<&String> = parts.iter().filter_map(|p| p.as_ref()).collect();
    match conds.len() {
        0 => None,
        1 => Some(conds[0].clone()),
        _ => Some(conds.iter().map(|c| format!("({c})")).collect::<Vec<_>>().join(" AND ")),
    }
}

/// A condition as SQL: `TRUE` for `None` (always).
pub(super) fn cond_sql(c: &Option<String>) -> String {
    c.clone().unwrap_or_else(|| "TRUE".into())
}

/// Terms joined with OR: `FALSE` for none.
pub(super) fn or_terms(terms: Vec<String>) -> String {
    match terms.len() {
        0 => "FALSE".into(),
        1 => terms.into_iter().next().unwrap_or_default(),
        _ => format!("({})", terms.iter().map(|t| format!("({t})")).collect::<Vec<_>>().join(" OR ")),
    }
}

/// Branches whose conditions exclude each other, as a filter: each branch's expression
/// and then its condition. NULL where a CASE would be NULL, which a filter drops alike.
pub(super) fn kept_when_true(branches: Vec<(Option<String>, String)>) -> String {
    or_terms(
        branches
            .into_iter()
            .map(|(when, then)| match when {
                None => then,
                Some(w) => format!("({then}) AND ({w})"),
            })
            .collect(),
    )
}

/// `CASE WHEN c1 THEN e1 ... END` (NULL when no branch holds); a `None` condition
/// always holds, and a lone always-true branch is just its expression.
pub(super) fn case(branches: Vec<(Option<String>, String)>) -> String {
    match branches.as_slice() {
        [] => "NULL".into(),
        [(None, then)] => then.clone(),
        _ => {
            let mut out = String::from("CASE");
            for (when, then) in &branches {
                let _ = write!(out, " WHEN {} THEN {then}", cond_sql(when));
            }
            out.push_str(" END");
            out
        }
    }
}
