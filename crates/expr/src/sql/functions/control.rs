//! The functions that bind a name or choose a branch, and so take their arguments
//! unevaluated: `let` (the bound value compiled once, and bound or copied at each use
//! as `sql::bindings` decides),
//! `any` and `all` (the condition compiled once per list element, or once over a list
//! read from data), and `if` and `ifs` (each branch's alternatives guarded by its
//! condition and the falsity of the ones before, then merged per kind).

use crate::ast::{Expr, ExprKind, Function};
use crate::sql::alts::{Alt, Kind, Payload, Val};
use crate::sql::bindings::uses;
use crate::sql::{Compiler, Result, unsupported};

impl Compiler<'_> {
    /// `let(name, value, expr)`: `expr` with `name` bound to `value`.
    pub(super) fn call_let(&mut self, args: &[Expr]) -> Result<Val> {
        let ExprKind::Var(name) = &args[0].kind else { return unsupported("let") };
        let v = self.value(&args[1])?;
        let v = self.bound(v, uses(&args[2], name));
        self.vars.push((name.clone(), v));
        let out = self.value(&args[2]);
        self.vars.pop();
        out
    }

    /// `any(name, list, cond)` and `all(name, list, cond)`: `cond` holds for some, or
    /// every, element of the list.
    pub(super) fn call_any_all(&mut self, function: Function, args: &[Expr]) -> Result<Val> {
        use Function as F;
        let ExprKind::Var(name) = &args[0].kind else { return unsupported("any") };
        let list = self.value(&args[1])?;
        let Some(alt) = list.alt(Kind::List).cloned() else { return Ok(Val::default()) };
        let body = |me: &mut Self, element: Val| -> Result<String> {
            me.vars.push((name.clone(), element));
            let v = me.value(&args[2]);
            me.vars.pop();
            let v = v?;
            Ok(if function == F::Any { me.strict_truthy(&v) } else { format!("NOT {}", me.strict_truthy(&v)) })
        };
        let found = self.any_element(&alt, body)?;
        let result = if function == F::Any { found } else { format!("NOT ({found})") };
        let when = alt.when.clone();
        Ok(Val::of(vec![Alt { kind: Kind::Bool, when, payload: Payload::sql(result) }]))
    }

    /// `if(cond, then, else)` and `ifs(c1, v1, c2, v2, ...)`: the value of the first
    /// branch whose condition is true.
    pub(super) fn call_if(&mut self, function: Function, args: &[Expr]) -> Result<Val> {
        let mut alts = vec![];
        let mut previous: Vec<String> = vec![];
        let pairs: Vec<(Option<&Expr>, &Expr)> = if function == Function::If {
            vec![(Some(&args[0]), &args[1]), (None, &args[2])]
        } else {
            args.chunks(2).map(|p| (Some(&p[0]), &p[1])).collect()
        };
        for (cond, value) in pairs {
            let mut guard: Vec<String> = previous.iter().map(|p| format!("NOT {p}")).collect();
            if let Some(c) = cond {
                let c = self.value(c)?;
                let t = self.strict_truthy(&c);
                guard.push(t.clone());
                previous.push(t);
            }
            let v = self.value(value)?;
            let guard = if guard.is_empty() { "TRUE".to_string() } else { guard.join(" AND ") };
            alts.extend(Self::guarded(&v.alts, &guard));
        }
        self.merge(alts)
    }
}
