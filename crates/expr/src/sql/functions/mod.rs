//! Function calls. [`Compiler::call`] dispatches on the function to one method per
//! function, grouped by family: `control` for the functions that bind a name or choose
//! a branch (`let`, `any`, `all`, `if`, `ifs`), which take their arguments unevaluated;
//! `convert` for type conversions and dates (`defined`, `boolean`, `number`, `string`,
//! `datetime`, `today`); `math` for rounding, `min` and `max`; `strings` for text and
//! regular expressions. A function not covered is declined, and the interpreter runs it.

mod control;
mod convert;
mod math;
mod strings;

use crate::ast::{Expr, Function};
use crate::sql::alts::Val;
use crate::sql::{Compiler, Result, unsupported};

impl Compiler<'_> {
    /// A call of `function` on `args`.
    pub(super) fn call(&mut self, function: Function, args: &[Expr]) -> Result<Val> {
        use Function as F;
        match function {
            F::Let => return self.call_let(args),
            F::Any | F::All => return self.call_any_all(function, args),
            F::Filter | F::Map | F::Sum | F::ParseUrl | F::Datedif => {
                return unsupported(format!("`{}`", function.name()));
            }
            F::If | F::Ifs => return self.call_if(function, args),
            F::Today => return Ok(self.call_today()),
            _ => {}
        }
        let v = args.iter().map(|a| self.value(a)).collect::<Result<Vec<_>>>()?;
        match function {
            F::Defined => Ok(self.call_defined(&v[0])),
            F::Boolean => Ok(self.call_boolean(&v[0])),
            F::Number => Ok(self.call_number(&v[0])),
            F::String => self.call_string(&v),
            F::Floor | F::Round | F::Ceil => Ok(self.call_round(function, &v[0])),
            F::Datetime => Ok(self.call_datetime(&v[0])),
            F::HasPrefix | F::HasSuffix => Ok(self.call_has_affix(function, &v[0], &v[1])),
            F::Min | F::Max => Ok(self.call_min_max(function, &v[0], &v[1])),
            F::Upper | F::Lower => Ok(self.call_upper_lower(function, &v[0])),
            F::Len => self.call_len(&v[0]),
            F::Left | F::Right | F::Mid => Ok(self.call_substring(function, &v)),
            F::Split => self.call_split(&v),
            F::RegexMatch | F::RegexExtract | F::RegexReplace => self.call_regex(function, args, &v),
            _ => unsupported(format!("`{}`", function.name())),
        }
    }
}
