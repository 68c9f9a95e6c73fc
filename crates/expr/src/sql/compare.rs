//! Comparisons: `==` (with a fast path for a property against a string literal), the
//! orderings `<`, `<=`, `>`, `>=` (numbers, datetimes, and date strings as dates), and
//! `in` (substring or list membership), following the interpreter's rules on types and
//! case; and the pairing of alternatives of the same kind they all build on.

use super::alts::{Alt, Kind, Payload, Val};
use super::combine::{and, case, cond_sql, or_terms};
use super::{Compiler, Result, unsupported};
use crate::ast::BinaryOp;
use crate::value::{DATETIME_PATTERN, local_to_ms, parse_naive_datetime};

impl Compiler<'_> {
    /// Pairs of scalar alternatives of the same kind: `(when, payload a, payload b)`.
    pub(super) fn pairs(&self, a: &Val, b: &Val, kind: Kind) -> Option<(Option<String>, String, String)> {
        let ((wa, pa), (wb, pb)) = (a.scalar(kind)?, b.scalar(kind)?);
        Some((and(&[&wa, &wb]), pa, pb))
    }

    /// A datetime against a string, in either order, both as instants:
    /// `(when, left instant, right instant)`.
    fn time_string_pairs(&self, a: &Val, b: &Val) -> Vec<(Option<String>, String, String)> {
        let mut out = Vec::new();
        if let (Some((wt, pt)), Some((ws, ps))) = (a.scalar(Kind::Time), b.scalar(Kind::Str)) {
            out.push((and(&[&wt, &ws]), pt, self.instant(b, &ps)));
        }
        if let (Some((ws, ps)), Some((wt, pt))) = (a.scalar(Kind::Str), b.scalar(Kind::Time)) {
            out.push((and(&[&ws, &wt]), self.instant(a, &ps), pt));
        }
        out
    }

    /// A string value as an instant: literals in the project's timezone (folded now),
    /// data as UTC.
    pub(super) fn instant(&self, v: &Val, payload: &str) -> String {
        if let Some(s) = &v.literal_str {
            return match parse_naive_datetime(s) {
                Some(n) => format!("{}", local_to_ms(n, self.program.options().timezone)),
                None => "NULL".into(),
            };
        }
        let d = self.dialect;
        format!("(CASE WHEN {} THEN {} END)", d.full_match(payload, DATETIME_PATTERN), d.parse_datetime(payload))
    }

    fn lower(&self, s: &str) -> String {
        if self.program.options().case_sensitive { s.to_string() } else { format!("lower({s})") }
    }

    fn string_eq(&self, a: &Val, pa: &str, b: &Val, pb: &str) -> String {
        if self.program.options().case_sensitive {
            return format!("{pa} = {pb}");
        }
        // Fold the literal's case now rather than per row.
        let side = |v: &Val, p: &str| match &v.literal_str {
            Some(s) => self.dialect.string(&s.to_lowercase()),
            None => format!("lower({p})"),
        };
        format!("{} = {}", side(a, pa), side(b, pb))
    }

    /// `a == b`: a condition that is never NULL.
    pub(super) fn equal(&mut self, a: &Val, b: &Val) -> Result<String> {
        let c = self.equal_condition(a, b)?;
        Ok(if c == "FALSE" || c == "TRUE" { c } else { format!("coalesce({c}, FALSE)") })
    }

    /// `a == b` where NULL may stand for false (a filter keeps only TRUE rows).
    pub(super) fn equal_condition(&mut self, a: &Val, b: &Val) -> Result<String> {
        // Fast path: a dynamic value against a string literal that no other type prints
        // as. Then "is a string equal to it" is just "its text equals it".
        if let Some(fast) = self.equal_literal_fast(a, b).or_else(|| self.equal_literal_fast(b, a)) {
            return Ok(fast);
        }
        let mut terms = Vec::new();
        for kind in [Kind::Bool, Kind::Num, Kind::Time] {
            if let Some((w, pa, pb)) = self.pairs(a, b, kind) {
                terms.push(and(&[&w, &Some(format!("{pa} = {pb}"))]).unwrap_or_default());
            }
        }
        if let Some((w, pa, pb)) = self.pairs(a, b, Kind::Str) {
            terms.push(and(&[&w, &Some(self.string_eq(a, &pa, b, &pb))]).unwrap_or_default());
        }
        for (w, l, r) in self.time_string_pairs(a, b) {
            terms.push(and(&[&w, &Some(format!("{l} = {r}"))]).unwrap_or_default());
        }
        if let (Some(x), Some(y)) = (a.alt(Kind::Null), b.alt(Kind::Null)) {
            terms.push(cond_sql(&and(&[&x.when, &y.when])));
        }
        for kind in [Kind::List, Kind::Object] {
            if let (Some(x), Some(y)) = (a.alt(kind), b.alt(kind)) {
                match (&x.payload, &y.payload) {
                    (Payload::Items(p), Payload::Items(q)) => {
                        if p.len() == q.len() {
                            let mut parts = vec![];
                            for (i, j) in p.iter().zip(q) {
                                parts.push(format!("({})", self.equal(i, j)?));
                            }
                            let all = if parts.is_empty() { "TRUE".into() } else { parts.join(" AND ") };
                            terms.push(and(&[&x.when, &y.when, &Some(all)]).unwrap_or_default());
                        }
                    }
                    _ => return unsupported("comparing lists or objects from data"),
                }
            }
        }
        if !a.total && !b.total {
            terms.push(format!("({}) AND ({})", self.undefined(a), self.undefined(b)));
        }
        Ok(or_terms(terms))
    }

    fn equal_literal_fast(&self, dynamic: &Val, literal: &Val) -> Option<String> {
        let s = literal.literal_str.as_ref()?;
        let str_alt = dynamic.alt(Kind::Str)?;
        let Payload::Sql(p) = &str_alt.payload else { return None };
        // Only for a dynamic read: every alternative but the string one is a type the
        // literal cannot print as.
        if !dynamic.dynamic {
            return None;
        }
        let lower = s.to_lowercase();
        let could_be_other = lower.chars().any(|c| c.is_ascii_digit())
            || matches!(lower.as_str(), "true" | "false" | "inf" | "-inf" | "+inf" | "nan" | "infinity" | "-infinity")
            || lower.starts_with('[')
            || lower.starts_with('{')
            || parse_naive_datetime(s).is_some();
        if could_be_other {
            return None;
        }
        Some(if self.program.options().case_sensitive {
            format!("{p} = {}", self.dialect.string(s))
        } else {
            format!("lower({p}) = {}", self.dialect.string(&lower))
        })
    }

    pub(super) fn order(&mut self, op: BinaryOp, a: &Val, b: &Val) -> Result<Val> {
        Ok(Val::sql(Kind::Bool, case(self.order_branches(op, a, b))))
    }

    /// `a < b` and friends, one branch per pair of kinds that compare; the branches'
    /// conditions exclude each other, and no branch means undefined.
    pub(super) fn order_branches(&self, op: BinaryOp, a: &Val, b: &Val) -> Vec<(Option<String>, String)> {
        let sym = op.symbol();
        let mut branches: Vec<(Option<String>, String)> = Vec::new();
        let same_kind = [Kind::Num, Kind::Time].into_iter().filter_map(|k| self.pairs(a, b, k));
        for (w, l, r) in same_kind.chain(self.time_string_pairs(a, b)) {
            branches.push((w, format!("{l} {sym} {r}")));
        }
        if let Some((w, pa, pb)) = self.pairs(a, b, Kind::Str) {
            let d = self.dialect;
            // Two date strings compare as dates (both read the same way), others by bytes.
            let both = format!("{} AND {}", d.full_match(&pa, DATETIME_PATTERN), d.full_match(&pb, DATETIME_PATTERN));
            let (ia, ib) = (d.parse_datetime(&pa), d.parse_datetime(&pb));
            let expr = format!(
                "CASE WHEN {both} AND {ia} IS NOT NULL AND {ib} IS NOT NULL THEN {ia} {sym} {ib} ELSE {pa} {sym} {pb} END"
            );
            branches.push((w, expr));
        }
        branches
    }

    fn membership(&mut self, needle: &Val, list: &Alt) -> Result<String> {
        self.any_element(list, |me, element| me.equal(needle, &element))
    }

    /// A condition: `cond` holds for some element of a list (a literal or from data).
    /// Elements are values, not literals, as they are in the interpreter.
    pub(super) fn any_element(
        &mut self,
        list: &Alt,
        mut cond: impl FnMut(&mut Self, Val) -> Result<String>,
    ) -> Result<String> {
        match &list.payload {
            Payload::Items(items) => {
                let mut terms = vec![];
                for item in items {
                    terms.push(cond(self, Val { literal_str: None, ..item.clone() })?);
                }
                Ok(or_terms(terms))
            }
            Payload::Dynamic(v) => {
                self.next_var += 1;
                let var = format!("x{}", self.next_var);
                let element = self.dynamic(&var, None);
                self.lambda_depth += 1;
                let c = cond(self, element);
                self.lambda_depth -= 1;
                Ok(self.dialect.list_any(v, &var, &c?))
            }
            _ => unsupported("a list that is neither a literal nor read from data"),
        }
    }

    /// `a in b`: substring of a string, or member of a list; otherwise undefined.
    pub(super) fn in_branches(&mut self, a: &Val, b: &Val) -> Result<Vec<(Option<String>, String)>> {
        let mut branches = Vec::new();
        if let Some((w, pa, pb)) = self.pairs(a, b, Kind::Str) {
            branches.push((w, format!("contains({}, {})", self.lower(&pb), self.lower(&pa))));
        }
        if let Some(list) = b.alt(Kind::List) {
            let m = self.membership(a, list)?;
            branches.push((list.when.clone(), m));
        }
        Ok(branches)
    }
}
