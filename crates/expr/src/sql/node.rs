//! Compiling one expression node: literals (folded now), variables, property access,
//! `not` and negation, and the binary operators, as a value ([`Compiler::value`]) or as
//! a filter that keeps the rows where the node is `true` ([`Compiler::filter`]); with
//! the truthiness and definedness tests and the merging of guarded alternatives that
//! the operators and functions share.

use super::alts::{Alt, Kind, Payload, Val};
use super::combine::{and, case, cond_sql, kept_when_true, or_terms};
use super::{Compiler, Result, unsupported};
use crate::ast::{BinaryOp, Expr, ExprKind, Literal, UnaryOp};

impl Compiler<'_> {
    /// Keeps the rows where `e` is `true` (see [`Compiler::filter_unbudgeted`]).
    pub(super) fn filter(&mut self, e: &Expr) -> Result<String> {
        let sql = self.filter_unbudgeted(e)?;
        self.charge(sql.len())?;
        Ok(sql)
    }

    /// Keeps the rows where `e` is `true`. Inside `and`/`or`, SQL's NULL and FALSE mean
    /// the same (not kept), so no coalescing is needed there.
    fn filter_unbudgeted(&mut self, e: &Expr) -> Result<String> {
        match &e.kind {
            ExprKind::Binary { op: op @ (BinaryOp::And | BinaryOp::Or), lhs, rhs } => {
                let (a, b) = (self.filter(lhs)?, self.filter(rhs)?);
                let word = if *op == BinaryOp::And { "AND" } else { "OR" };
                Ok(format!("({a}) {word} ({b})"))
            }
            // A comparison kept only when true needs neither the NULL-to-FALSE coalescing
            // nor the CASE that makes "types differ" undefined: the type test becomes one
            // more conjunct, placed after the comparison so that DuckDB, which evaluates
            // AND left to right over a shrinking selection, runs it on fewer rows.
            ExprKind::Binary { op, lhs, rhs } if op.is_comparison() || *op == BinaryOp::In => {
                let (a, b) = (self.value(lhs)?, self.value(rhs)?);
                match op {
                    BinaryOp::Eq => self.equal_condition(&a, &b),
                    BinaryOp::Ne => Ok(format!("NOT ({})", self.equal(&a, &b)?)),
                    BinaryOp::In => Ok(kept_when_true(self.in_branches(&a, &b)?)),
                    _ => Ok(kept_when_true(self.order_branches(*op, &a, &b))),
                }
            }
            _ => {
                let v = self.value(e)?;
                Ok(self.truthy(&v))
            }
        }
    }

    /// True when the value is boolean true; FALSE or NULL otherwise.
    fn truthy(&self, v: &Val) -> String {
        let terms: Vec<String> = v
            .alts
            .iter()
            .filter(|a| a.kind == Kind::Bool)
            .map(|a| match (&a.when, &a.payload) {
                (None, Payload::Sql(p)) => p.clone(),
                (Some(w), Payload::Sql(p)) => format!("({w}) AND ({p})"),
                _ => "FALSE".into(),
            })
            .collect();
        or_terms(terms)
    }

    pub(super) fn strict_truthy(&self, v: &Val) -> String {
        let t = self.truthy(v);
        if t == "FALSE" || t == "TRUE" { t } else { format!("coalesce({t}, FALSE)") }
    }

    /// A condition: the value is defined (and not null when `null_counts` is false).
    pub(super) fn defined(&self, v: &Val, null_counts: bool) -> String {
        let terms: Vec<String> = v
            .alts
            .iter()
            .filter(|a| null_counts || a.kind != Kind::Null)
            .map(|a| match &a.payload {
                Payload::Sql(p) => and(&[&a.when, &Some(format!("{p} IS NOT NULL"))]).unwrap_or_default(),
                _ => cond_sql(&a.when),
            })
            .collect();
        or_terms(terms)
    }

    pub(super) fn undefined(&self, v: &Val) -> String {
        if v.total {
            return "FALSE".into();
        }
        let d = self.defined(v, true);
        if d == "FALSE" { "TRUE".into() } else { format!("NOT coalesce({d}, FALSE)") }
    }

    /// The value of `e`, charged to the budget (see [`Compiler::charge`]).
    pub(super) fn value(&mut self, e: &Expr) -> Result<Val> {
        let v = self.value_unbudgeted(e)?;
        self.charge(v.sql_len())?;
        Ok(v)
    }

    fn value_unbudgeted(&mut self, e: &Expr) -> Result<Val> {
        let d = self.dialect;
        Ok(match &e.kind {
            ExprKind::Literal(lit) => match lit {
                Literal::Number(n) => Val::sql(Kind::Num, d.number(*n)).total(),
                Literal::Str(s) => Val { literal_str: Some(s.clone()), ..Val::sql(Kind::Str, d.string(s)).total() },
                Literal::Bool(b) => Val::sql(Kind::Bool, if *b { "TRUE" } else { "FALSE" }.into()).total(),
                Literal::Null => Val::one(Kind::Null, Payload::None).total(),
                Literal::Undefined => Val::default(),
            },
            ExprKind::List(items) => {
                let vals = items.iter().map(|i| self.value(i)).collect::<Result<Vec<_>>>()?;
                Val::one(Kind::List, Payload::Items(vals)).total()
            }
            ExprKind::Access { source, name } => self.access(*source, name)?,
            ExprKind::Var(name) => match self.vars.iter().rev().find(|(n, _)| n == name) {
                Some((_, v)) => v.clone(),
                None => return unsupported(format!("unbound name {name}")),
            },
            ExprKind::Unary { op: UnaryOp::Neg, operand } => {
                let v = self.value(operand)?;
                self.numeric(&v, |p| format!("(-{p})"))
            }
            ExprKind::Unary { op: UnaryOp::Not, operand } => {
                let v = self.value(operand)?;
                let bool_alt = v.alt(Kind::Bool);
                let mut branches = Vec::new();
                if let Some(Alt { when, payload: Payload::Sql(p), .. }) = bool_alt {
                    if v.alts.len() == 1 && when.is_none() {
                        return Ok(Val::sql(Kind::Bool, format!("coalesce(NOT ({p}), TRUE)")));
                    }
                    branches.push((and(&[when, &Some(format!("{p} IS NOT NULL"))]), format!("NOT ({p})")));
                }
                branches.push((Some(self.undefined(&v)), "TRUE".into()));
                Val::sql(Kind::Bool, case(branches))
            }
            ExprKind::Binary { op, lhs, rhs } => {
                let (a, b) = (self.value(lhs)?, self.value(rhs)?);
                self.binary(*op, &a, &b)?
            }
            ExprKind::Call { function, args } => self.call(*function, args)?,
            ExprKind::Index { .. } => return unsupported("index"),
        })
    }

    /// One number result from the number alternative of `v`.
    pub(super) fn numeric(&self, v: &Val, f: impl Fn(&str) -> String) -> Val {
        match v.alt(Kind::Num) {
            Some(Alt { when, payload: Payload::Sql(p), .. }) => {
                Val::of(vec![Alt { kind: Kind::Num, when: when.clone(), payload: Payload::sql(f(p)) }])
            }
            _ => Val::default(),
        }
    }

    fn binary(&mut self, op: BinaryOp, a: &Val, b: &Val) -> Result<Val> {
        Ok(match op {
            BinaryOp::And | BinaryOp::Or => {
                let word = if op == BinaryOp::And { "AND" } else { "OR" };
                Val::sql(Kind::Bool, format!("({}) {word} ({})", self.strict_truthy(a), self.strict_truthy(b))).total()
            }
            BinaryOp::Eq => Val::sql(Kind::Bool, self.equal(a, b)?).total(),
            BinaryOp::Ne => Val::sql(Kind::Bool, format!("NOT ({})", self.equal(a, b)?)).total(),
            BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => self.order(op, a, b)?,
            BinaryOp::In => Val::sql(Kind::Bool, case(self.in_branches(a, b)?)),
            BinaryOp::Add => {
                let mut alts = vec![];
                if let Some((w, pa, pb)) = self.pairs(a, b, Kind::Num) {
                    alts.push(Alt { kind: Kind::Num, when: w, payload: Payload::sql(format!("({pa} + {pb})")) });
                }
                if let Some((w, pa, pb)) = self.pairs(a, b, Kind::Str) {
                    alts.push(Alt { kind: Kind::Str, when: w, payload: Payload::sql(format!("({pa} || {pb})")) });
                }
                Val::of(alts)
            }
            BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem => match self.pairs(a, b, Kind::Num) {
                Some((w, pa, pb)) => {
                    let sql = match op {
                        BinaryOp::Sub => format!("({pa} - {pb})"),
                        BinaryOp::Mul => format!("({pa} * {pb})"),
                        BinaryOp::Div => format!("(CASE WHEN {pb} <> 0 THEN {pa} / {pb} END)"),
                        _ => format!("(CASE WHEN {pb} <> 0 THEN {pa} % {pb} END)"),
                    };
                    Val::of(vec![Alt { kind: Kind::Num, when: w, payload: Payload::sql(sql) }])
                }
                None => Val::default(),
            },
        })
    }

    /// Merges alternatives of the same kind into one CASE each.
    pub(super) fn merge(&self, alts: Vec<Alt>) -> Result<Val> {
        let mut out: Vec<Alt> = Vec::new();
        let mut kinds: Vec<Kind> = Vec::new();
        for a in &alts {
            if !kinds.contains(&a.kind) {
                kinds.push(a.kind);
            }
        }
        for kind in kinds {
            let group: Vec<&Alt> = alts.iter().filter(|a| a.kind == kind).collect();
            if group.len() == 1 {
                out.push(group[0].clone());
                continue;
            }
            match kind {
                Kind::Null => {
                    let when = or_terms(group.iter().map(|a| cond_sql(&a.when)).collect());
                    out.push(Alt { kind, when: Some(when), payload: Payload::None });
                }
                Kind::Bool | Kind::Num | Kind::Str | Kind::Time => {
                    let when = or_terms(group.iter().map(|a| cond_sql(&a.when)).collect());
                    let mut branches = vec![];
                    for a in &group {
                        let Payload::Sql(p) = &a.payload else { return unsupported("mixed payloads") };
                        branches.push((Some(cond_sql(&a.when)), p.clone()));
                    }
                    out.push(Alt { kind, when: Some(when), payload: Payload::sql(case(branches)) });
                }
                _ => return unsupported("lists or objects from several branches"),
            }
        }
        Ok(Val::of(out))
    }

    pub(super) fn guarded(alts: &[Alt], cond: &str) -> Vec<Alt> {
        alts.iter().map(|a| Alt { when: and(&[&Some(cond.to_string()), &a.when]), ..a.clone() }).collect()
    }
}
