//! Prints a tree back as source text, with only the parentheses precedence needs.
//!
//! `parse(&e.to_string())` gives back a tree equal to `e` (a property test holds us
//! to it), so printed expressions are safe to log, store or send on.

use std::fmt::{self, Write};

use crate::ast::{BinaryOp, Expr, ExprKind, Literal, NEG_PRECEDENCE, NOT_PRECEDENCE, UnaryOp};

const POSTFIX: u8 = 8;
const ATOM: u8 = 9;

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_expr(f, self, 0)
    }
}

fn precedence(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Binary { op, .. } => op.precedence(),
        ExprKind::Unary { op: UnaryOp::Not, .. } => NOT_PRECEDENCE,
        ExprKind::Unary { op: UnaryOp::Neg, .. } => NEG_PRECEDENCE,
        ExprKind::Index { .. } => POSTFIX,
        _ => ATOM,
    }
}

fn write_expr(f: &mut fmt::Formatter<'_>, e: &Expr, min: u8) -> fmt::Result {
    let wrap = precedence(e) < min;
    if wrap {
        f.write_char('(')?;
    }
    match &e.kind {
        ExprKind::Literal(lit) => write_literal(f, lit)?,
        ExprKind::List(items) => {
            f.write_char('[')?;
            write_list(f, items)?;
            f.write_char(']')?;
        }
        ExprKind::Access { source, name } => {
            f.write_str(source.keyword())?;
            f.write_char('[')?;
            write_string(f, name)?;
            f.write_char(']')?;
        }
        ExprKind::Var(name) => f.write_str(name)?,
        ExprKind::Call { function, args } => {
            f.write_str(function.name())?;
            f.write_char('(')?;
            write_list(f, args)?;
            f.write_char(')')?;
        }
        ExprKind::Unary { op: UnaryOp::Not, operand } => {
            f.write_str("not ")?;
            write_expr(f, operand, NOT_PRECEDENCE)?;
        }
        ExprKind::Unary { op: UnaryOp::Neg, operand } => {
            f.write_char('-')?;
            write_expr(f, operand, NEG_PRECEDENCE)?;
        }
        ExprKind::Binary { op, lhs, rhs } => {
            let p = op.precedence();
            let comparison = p == BinaryOp::Eq.precedence();
            write_expr(f, lhs, if comparison { p + 1 } else { p })?;
            write!(f, " {} ", op.symbol())?;
            write_expr(f, rhs, p + 1)?;
        }
        ExprKind::Index { target, index } => {
            write_expr(f, target, POSTFIX)?;
            f.write_char('[')?;
            write_expr(f, index, 0)?;
            f.write_char(']')?;
        }
    }
    if wrap {
        f.write_char(')')?;
    }
    Ok(())
}

fn write_list(f: &mut fmt::Formatter<'_>, items: &[Expr]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write_expr(f, item, 0)?;
    }
    Ok(())
}

fn write_literal(f: &mut fmt::Formatter<'_>, lit: &Literal) -> fmt::Result {
    match lit {
        // `Display` for f64 is the shortest text that reads back as the same number.
        Literal::Number(n) => write!(f, "{n}"),
        Literal::Str(s) => write_string(f, s),
        Literal::Bool(b) => write!(f, "{b}"),
        Literal::Null => f.write_str("null"),
        Literal::Undefined => f.write_str("undefined"),
    }
}

/// A double-quoted string literal that the lexer reads back as `s`.
pub fn write_string(f: &mut impl Write, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\t' => f.write_str("\\t")?,
            '\r' => f.write_str("\\r")?,
            c if (c as u32) < 0x20 => write!(f, "\\u{:04x}", c as u32)?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}
