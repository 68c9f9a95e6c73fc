//! Values bound by `let`, written once. A bound value used more than once, longer than
//! [`COPY_UP_TO`] and not a property read as it is, becomes a record computed once a
//! row (its alternatives' conditions and payloads as members, see [`Dialect::bind`]),
//! and each use reads a member; each finished SQL text is then wrapped in the bindings
//! it reads, innermost last. Without this, each use copied the value's text, so
//! `let(a, v, a + a + … + a)` wrote `v` as many times as it was used, and nested lets
//! multiplied (issue 23: five levels made 25 MB of SQL from a short source).
//!
//! Only a `let` outside any list lambda (`any`, `all`) is bound: a value there may
//! read the lambda's element, which the binding, written around the whole expression,
//! cannot see. Those are still copied, as are short values, values used once and
//! properties read as they are, for which the record would cost more than it saves.
//!
//! An `on` expression's segment key is three texts (the scalar key, whether the value is
//! a list, and the list's texts), each wrapped in the bindings it reads: a record read
//! by more than one of them is computed once for each.
//!
//! [`Dialect::bind`]: super::Dialect::bind

use super::alts::{Alt, Payload, Val};
use super::{Compiler, MAX_SQL, Result, unsupported};
use crate::ast::{Expr, ExprKind};

/// The longest value (in bytes of SQL) still copied at each use rather than bound: a
/// short value costs less written out again than read from a record.
pub(super) const COPY_UP_TO: usize = 200;

/// How many times `body` reads the name `name` (a use inside a binding of the same
/// name reads that binding instead).
pub(super) fn uses(body: &Expr, name: &str) -> usize {
    match &body.kind {
        ExprKind::Var(n) => usize::from(n == name),
        ExprKind::Call { function, args } if function.binds() => {
            let shadowed = matches!(&args[0].kind, ExprKind::Var(n) if n == name);
            uses(&args[1], name) + if shadowed { 0 } else { uses(&args[2], name) }
        }
        _ => body.children().into_iter().map(|c| uses(c, name)).sum(),
    }
}

impl Compiler<'_> {
    /// What a name bound to `v` stands for, used `uses` times: `v` itself when copying
    /// it costs little or it cannot be bound here, else reads of a new binding's record.
    pub(super) fn bound(&mut self, v: Val, uses: usize) -> Val {
        // A property read as it is (`dynamic`) is copied: a use costs one member read and
        // one cast, where a record would compute every kind's test and cast each row.
        let bindable = self.lambda_depth == 0
            && uses > 1
            && !v.dynamic
            && v.sql_len() > COPY_UP_TO
            && !v.alts.iter().any(|a| matches!(a.payload, Payload::Items(_)));
        if !bindable {
            return Val { literal_str: None, ..v };
        }
        let d = self.dialect;
        self.next_var += 1;
        // The trailing `_` keeps one name from being part of another (`l1_`, `l12_`), so
        // `close` can tell which bindings a text reads.
        let var = format!("l{}_", self.next_var);
        let mut fields = Vec::new();
        let mut alts = Vec::with_capacity(v.alts.len());
        for (i, a) in v.alts.into_iter().enumerate() {
            let when = a.when.map(|w| {
                let name = format!("w{i}");
                let read = d.field(&var, &name);
                fields.push((name, w));
                read
            });
            let mut read = |p: String| {
                let name = format!("p{i}");
                let read = d.field(&var, &name);
                fields.push((name, p));
                read
            };
            let payload = match a.payload {
                Payload::Sql(p) => Payload::Sql(read(p)),
                Payload::Dynamic(p) => Payload::Dynamic(read(p)),
                other => other,
            };
            alts.push(Alt { kind: a.kind, when, payload });
        }
        self.bindings.push((var, d.record(&fields)));
        Val { alts, literal_str: None, total: v.total, dynamic: false }
    }

    /// `sql`, finished, inside the bindings it reads (directly, or through the record of
    /// another it reads), so a text that reads none computes none; declined, before
    /// anything is written, when the whole would be longer than [`MAX_SQL`].
    pub(super) fn close(&self, sql: String) -> Result<String> {
        let mut needed = vec![false; self.bindings.len()];
        for i in (0..self.bindings.len()).rev() {
            let var = &self.bindings[i].0;
            needed[i] = sql.contains(var.as_str())
                || self.bindings[i + 1..]
                    .iter()
                    .zip(&needed[i + 1..])
                    .any(|((_, record), n)| *n && record.contains(var.as_str()));
        }
        let kept: Vec<&(String, String)> =
            self.bindings.iter().zip(&needed).filter(|(_, n)| **n).map(|(b, _)| b).collect();
        // Each wrapper adds its record and a few dozen bytes of its own.
        let total = kept.iter().fold(sql.len(), |n, (var, record)| n.saturating_add(record.len() + 2 * var.len() + 64));
        if total > MAX_SQL {
            return unsupported("the compiled SQL would be too long");
        }
        Ok(kept.iter().rev().fold(sql, |body, (var, record)| self.dialect.bind(var, record, &body)))
    }
}
