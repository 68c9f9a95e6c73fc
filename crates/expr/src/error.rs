//! Errors a caller shows to the user: each says what is wrong and where.

use std::fmt;

use crate::ast::Pos;

/// Why an expression was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The text does not follow the grammar.
    Syntax,
    /// It parses but means nothing: an unknown name, a wrong argument count, a
    /// property source the surface does not have, a bad regular expression.
    Semantic,
    /// Longer than [`crate::MAX_LENGTH`], nested deeper than [`crate::MAX_DEPTH`], or
    /// larger than [`crate::MAX_EXPANDED`] once `let` names are replaced.
    TooLarge,
}

/// An expression error, with the position (characters from 1) it refers to.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ExprError {
    /// What kind of problem.
    pub kind: ErrorKind,
    /// The explanation, without the position.
    pub message: String,
    /// Where in the source, when it is about one place.
    pub pos: Option<Pos>,
}

impl ExprError {
    pub(crate) fn syntax(message: impl Into<String>, pos: Pos) -> Self {
        ExprError { kind: ErrorKind::Syntax, message: message.into(), pos: Some(pos) }
    }

    pub(crate) fn semantic(message: impl Into<String>, pos: Pos) -> Self {
        ExprError { kind: ErrorKind::Semantic, message: message.into(), pos: Some(pos) }
    }

    pub(crate) fn too_large(message: impl Into<String>, pos: Option<Pos>) -> Self {
        ExprError { kind: ErrorKind::TooLarge, message: message.into(), pos }
    }
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pos {
            Some(pos) if pos.0 > 0 => write!(f, "{} at {}", self.message, pos),
            _ => f.write_str(&self.message),
        }
    }
}
