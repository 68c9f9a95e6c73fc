//! Text functions: `has_prefix` and `has_suffix` (case-insensitive), `upper`, `lower`,
//! `len` (of a string or a list), `left`, `right`, `mid`, `split` with a part number,
//! and the regular-expression functions `regex_match`, `regex_extract` and
//! `regex_replace`, which compile only with literal patterns (and replacements).

use crate::ast::{Expr, ExprKind, Function, Literal};
use crate::sql::alts::{Alt, Kind, Payload, Val};
use crate::sql::combine::{and, case};
use crate::sql::{Compiler, Result, unsupported};

/// A boolean value from branches whose conditions exclude each other.
fn bool_of(branches: Vec<(Option<String>, String)>) -> Val {
    Val::sql(Kind::Bool, case(branches))
}

impl Compiler<'_> {
    /// `has_prefix(s, p)` and `has_suffix(s, p)`.
    pub(super) fn call_has_affix(&self, function: Function, x: &Val, y: &Val) -> Val {
        match self.pairs(x, y, Kind::Str) {
            Some((w, s, p)) => {
                let f = if function == Function::HasPrefix { "starts_with" } else { "ends_with" };
                bool_of(vec![(w, format!("{f}(lower({s}), lower({p}))"))])
            }
            None => Val::default(),
        }
    }

    /// `upper(s)` and `lower(s)`: SQL's function of the same name.
    pub(super) fn call_upper_lower(&self, function: Function, v: &Val) -> Val {
        match v.scalar(Kind::Str) {
            Some((w, s)) => Val::of(vec![Alt {
                kind: Kind::Str,
                when: w,
                payload: Payload::sql(format!("{}({s})", function.name())),
            }]),
            None => Val::default(),
        }
    }

    /// `len(x)`: characters of a string, elements of a list.
    pub(super) fn call_len(&self, v: &Val) -> Result<Val> {
        let d = self.dialect;
        let mut branches = vec![];
        if let Some((w, s)) = v.scalar(Kind::Str) {
            branches.push((w, format!("CAST(length({s}) AS DOUBLE)")));
        }
        if let Some(list) = v.alt(Kind::List) {
            let n = match &list.payload {
                Payload::Items(items) => format!("{}.0", items.len()),
                Payload::Dynamic(p) => d.list_len(p),
                _ => return unsupported("len"),
            };
            branches.push((list.when.clone(), n));
        }
        Ok(Val::sql(Kind::Num, case(branches)))
    }

    /// `left(s, n)`, `right(s, n)` and `mid(s, start, n)`.
    pub(super) fn call_substring(&self, function: Function, v: &[Val]) -> Val {
        use Function as F;
        let Some((ws, s)) = v[0].scalar(Kind::Str) else { return Val::default() };
        let count = |val: &Val| -> Option<(Option<String>, String, String)> {
            let (w, n) = val.scalar(Kind::Num)?;
            Some((w, format!("{n} >= 0 AND {n} < 1e15"), format!("CAST(trunc({n}) AS BIGINT)")))
        };
        let (Some((w1, ok1, n1)), last) = (count(&v[1]), v.get(2).map(count)) else {
            return Val::default();
        };
        let (expr, guard, when) = match function {
            F::Left => (format!("left({s}, {n1})"), ok1, and(&[&ws, &w1])),
            F::Right => (format!("right({s}, {n1})"), ok1, and(&[&ws, &w1])),
            _ => {
                let Some(Some((w2, ok2, n2))) = last else { return Val::default() };
                (format!("substring({s}, {n1}, {n2})"), format!("{ok1} AND {ok2} AND {n1} >= 1"), and(&[&ws, &w1, &w2]))
            }
        };
        Val::of(vec![Alt {
            kind: Kind::Str,
            when,
            payload: Payload::sql(format!("(CASE WHEN {guard} THEN {expr} END)")),
        }])
    }

    /// `split(s, delimiter, n)`: part `n` (from 1); without `n` (the list of parts) the
    /// interpreter takes over.
    pub(super) fn call_split(&self, v: &[Val]) -> Result<Val> {
        let d = self.dialect;
        if v.len() < 3 {
            return unsupported("split() without a part number");
        }
        let (Some((ws, s)), Some((wd, dl)), Some((wn, n))) =
            (v[0].scalar(Kind::Str), v[1].scalar(Kind::Str), v[2].scalar(Kind::Num))
        else {
            return Ok(Val::default());
        };
        let guard = format!("length({dl}) = 1 AND ascii({dl}) < 128 AND {n} >= 1 AND {n} < 1e15");
        let part = d.split_part(&s, &dl, &format!("trunc({n})"));
        Ok(Val::of(vec![Alt {
            kind: Kind::Str,
            when: and(&[&ws, &wd, &wn]),
            payload: Payload::sql(format!("(CASE WHEN {guard} THEN {part} END)")),
        }]))
    }

    /// `regex_match(s, pattern)`, `regex_extract(s, pattern[, group])` and
    /// `regex_replace(s, pattern, replacement)`; `args` are the unevaluated arguments
    /// (the group number must be a literal), `v` their values.
    pub(super) fn call_regex(&self, function: Function, args: &[Expr], v: &[Val]) -> Result<Val> {
        use Function as F;
        let d = self.dialect;
        let Some(pattern) = &v[1].literal_str else {
            return unsupported("a regular expression that is not a literal");
        };
        let Some((w, s)) = v[0].scalar(Kind::Str) else { return Ok(Val::default()) };
        Ok(match function {
            F::RegexMatch => bool_of(vec![(w, d.regex_search(&s, pattern))]),
            F::RegexExtract => {
                let group = match args.get(2).map(|a| &a.kind) {
                    None => 0,
                    Some(ExprKind::Literal(Literal::Number(g))) if *g >= 0.0 && g.fract() == 0.0 => *g as usize,
                    _ => return unsupported("regex_extract group that is not a whole-number literal"),
                };
                let groups = self.program.regex(pattern).map_or(0, |r| r.captures_len());
                if group >= groups {
                    return Ok(Val::default());
                }
                if group > 0 {
                    return unsupported("regex_extract of a capture group");
                }
                let e = format!(
                    "CASE WHEN {} THEN {} END",
                    d.regex_search(&s, pattern),
                    d.regex_extract(&s, pattern, group)
                );
                Val::of(vec![Alt { kind: Kind::Str, when: w, payload: Payload::sql(e) }])
            }
            _ => {
                let Some(replacement) = &v[2].literal_str else {
                    return unsupported("a replacement that is not a literal");
                };
                if replacement.contains(['$', '\\']) {
                    return unsupported("a replacement with group references");
                }
                let e = d.regex_replace(&s, pattern, replacement);
                Val::of(vec![Alt { kind: Kind::Str, when: w, payload: Payload::sql(e) }])
            }
        })
    }
}
