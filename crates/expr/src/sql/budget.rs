//! The budget on the SQL text the compiler writes. An expression whose SQL would grow
//! past it (one value too long, or too much written in all, as the `let` values still
//! copied at every use can make it; see `bindings`) is declined, and the interpreter
//! evaluates it instead.

use super::{Compiler, Result, unsupported};

/// Longest SQL the compiler emits before handing the expression to the interpreter.
/// Checked at every node as it is built, so a value is refused before anything larger
/// is made from it.
pub(super) const MAX_SQL: usize = 256 * 1024;

/// SQL text the compiler may write in all, over every node of one expression: a node's
/// text holds its children's, so an expression compiling to [`MAX_SQL`] at the most
/// [`crate::MAX_DEPTH`] deep writes no more than this. It bounds what copies of bound
/// values (the short ones, and those inside `any` and `all`, written out at every use)
/// can cost before the interpreter takes over.
const MAX_SQL_WRITTEN: usize = 64 * MAX_SQL;

impl Compiler<'_> {
    /// Counts `len` bytes of SQL just written; declines the expression when one value's
    /// text passes [`MAX_SQL`] or all of them together [`MAX_SQL_WRITTEN`].
    pub(super) fn charge(&mut self, len: usize) -> Result<()> {
        self.written = self.written.saturating_add(len);
        if len > MAX_SQL || self.written > MAX_SQL_WRITTEN {
            return unsupported("the compiled SQL would be too long");
        }
        Ok(())
    }
}
