//! Numeric functions: `floor`, `round` and `ceil` of a number, and `min` and `max` of
//! two; undefined for any other argument, as in the interpreter.

use crate::ast::Function;
use crate::sql::Compiler;
use crate::sql::alts::{Alt, Kind, Payload, Val};

impl Compiler<'_> {
    /// `floor(x)`, `round(x)` and `ceil(x)`: SQL's function of the same name.
    pub(super) fn call_round(&self, function: Function, v: &Val) -> Val {
        let name = function.name();
        self.numeric(v, |p| format!("{name}({p})"))
    }

    /// `min(a, b)` and `max(a, b)` of two numbers.
    pub(super) fn call_min_max(&self, function: Function, x: &Val, y: &Val) -> Val {
        match self.pairs(x, y, Kind::Num) {
            Some((w, a, b)) => {
                let f = if function == Function::Min { "least" } else { "greatest" };
                // SQL's least/greatest skip NULLs; an undefined argument makes the
                // result undefined, as in the interpreter.
                let sql = format!("CASE WHEN {a} IS NULL OR {b} IS NULL THEN NULL ELSE {f}({a}, {b}) END");
                Val::of(vec![Alt { kind: Kind::Num, when: w, payload: Payload::sql(sql) }])
            }
            None => Val::default(),
        }
    }
}
