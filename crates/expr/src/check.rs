//! Semantic checks: everything that can be known wrong before reading a record.
//!
//! - an accessor the surface does not have (`behaviors[...]` on events, `event[...]`
//!   on profiles) or an `event[...]` name that is not a field;
//! - a bare name no `any`/`all`/`filter`/`map`/`let` binds;
//! - `and`, `or` or `not` applied to something that can never be true or false;
//! - a literal argument a function cannot use: a bad regular expression, a `split`
//!   delimiter that is not one ASCII character, an unknown `parse_url` part or
//!   `datedif` unit;
//! - an expression whose values could grow past [`MAX_EXPANDED`] (see there).
//!
//! Function names and argument counts are checked by the parser, at the call.

use std::collections::HashMap;

use crate::ast::{BinaryOp, Expr, ExprKind, Function, Literal, Source, UnaryOp};
use crate::record::{EVENT_FIELDS, field};
use crate::{ExprError, Scope};

/// The largest an expression may be once every name bound by `let` (or by `any`,
/// `all`, `filter`, `map`) is replaced by what it stands for: nodes, with a string
/// literal counting its bytes. Ten times the longest source ([`crate::MAX_LENGTH`]).
///
/// `+` concatenates strings, so `let(a, "xxxxxxxxxx", let(b, a+a+…+a, let(c, b+b+…+b,
/// …)))` holds values about 40 times longer a level while its source stays short, and
/// the back ends copy some bound values at each use (the interpreter its value, the SQL
/// compiler the text of short ones and of those inside `any` and `all`). Before this
/// bound, five levels made 25 MB of SQL and six drove the server to 12 GB. It is
/// checked before anything is built, in time linear in the source.
pub const MAX_EXPANDED: u64 = 200_000;

/// Checks `expr`; returns the literal regular expressions, compiled.
pub fn check(expr: &Expr, scope: Scope) -> Result<HashMap<String, regex::Regex>, ExprError> {
    let mut c = Checker { scope, bound: Vec::new(), regexes: HashMap::new() };
    let expanded = c.visit(expr)?;
    if expanded > MAX_EXPANDED {
        return Err(ExprError::too_large(
            format!(
                "expression too large: with each `let` name replaced by its value it stands for more than \
                 {MAX_EXPANDED} terms (the limit); bind smaller values or use fewer references"
            ),
            None,
        ));
    }
    Ok(c.regexes)
}

/// Compiles a pattern the way the regex functions use it: case-insensitive unless it
/// starts with `(?-i)`.
pub fn compile_regex(pattern: &str) -> Result<regex::Regex, regex::Error> {
    regex::RegexBuilder::new(pattern).case_insensitive(true).size_limit(1 << 20).build()
}

/// `datedif` units.
pub const DATEDIF_UNITS: [&str; 6] = ["D", "M", "Y", "MD", "YM", "YD"];

struct Checker {
    scope: Scope,
    /// The names in scope, innermost last, each with the expanded size of its value.
    bound: Vec<(String, u64)>,
    regexes: HashMap<String, regex::Regex>,
}

impl Checker {
    /// Checks `e`; returns its expanded size (see [`MAX_EXPANDED`]), saturating.
    fn visit(&mut self, e: &Expr) -> Result<u64, ExprError> {
        match &e.kind {
            ExprKind::Access { source, name } => self.access(e, *source, name).map(|()| 1),
            ExprKind::Literal(Literal::Str(s)) => Ok(s.len().max(1) as u64),
            ExprKind::Var(name) => {
                if let Some((_, size)) = self.bound.iter().rev().find(|(b, _)| b == name) {
                    Ok(*size)
                } else {
                    Err(ExprError::semantic(
                        format!("unknown name `{name}`; a bare name is only valid inside any, all, filter, map or let"),
                        e.pos,
                    ))
                }
            }
            ExprKind::Binary { op: op @ (BinaryOp::And | BinaryOp::Or), lhs, rhs } => {
                for side in [lhs, rhs] {
                    never_boolean(side, op.symbol())?;
                }
                Ok(1u64.saturating_add(self.visit(lhs)?).saturating_add(self.visit(rhs)?))
            }
            ExprKind::Unary { op: UnaryOp::Not, operand } => {
                never_boolean(operand, "not")?;
                Ok(1u64.saturating_add(self.visit(operand)?))
            }
            ExprKind::Call { function, args } if function.binds() => {
                let ExprKind::Var(name) = &args[0].kind else { unreachable!("checked by the parser") };
                // `let`'s name stands for the value; the others' for one element of the
                // list, which is no larger than the list.
                let value = self.visit(&args[1])?;
                self.bound.push((name.clone(), value));
                let body = self.visit(&args[2]);
                self.bound.pop();
                Ok(1u64.saturating_add(value).saturating_add(body?))
            }
            ExprKind::Call { function, args } => {
                self.literal_arguments(*function, args)?;
                self.visit_all(args.iter())
            }
            _ => self.visit_all(e.children().into_iter()),
        }
    }

    /// One node over `children`: one plus their expanded sizes.
    fn visit_all<'e>(&mut self, children: impl Iterator<Item = &'e Expr>) -> Result<u64, ExprError> {
        let mut size = 1u64;
        for c in children {
            size = size.saturating_add(self.visit(c)?);
        }
        Ok(size)
    }

    fn access(&self, e: &Expr, source: Source, name: &str) -> Result<(), ExprError> {
        match (self.scope, source) {
            (Scope::Event, Source::Behaviors) => {
                Err(ExprError::semantic("`behaviors[...]` is only available in profile queries", e.pos))
            }
            (Scope::Profile, Source::Event) => {
                Err(ExprError::semantic("`event[...]` is only available in event queries", e.pos))
            }
            (Scope::Event, Source::Event) if field(self.scope, source, name).is_none() => Err(ExprError::semantic(
                format!("`event[{name:?}]` is not an event field; use one of {EVENT_FIELDS}, or properties[...]"),
                e.pos,
            )),
            _ => Ok(()),
        }
    }

    fn literal_arguments(&mut self, function: Function, args: &[Expr]) -> Result<(), ExprError> {
        let literal = |i: usize| match args.get(i).map(|a| &a.kind) {
            Some(ExprKind::Literal(Literal::Str(s))) => Some((s.as_str(), args[i].pos)),
            _ => None,
        };
        match function {
            Function::RegexExtract | Function::RegexMatch | Function::RegexReplace => {
                if let Some((pattern, pos)) = literal(1) {
                    let re = compile_regex(pattern).map_err(|e| {
                        ExprError::semantic(format!("invalid regular expression {pattern:?}: {}", first_line(&e)), pos)
                    })?;
                    self.regexes.insert(pattern.to_string(), re);
                }
            }
            Function::Split => {
                if let Some((d, pos)) = literal(1)
                    && !(d.len() == 1 && d.is_ascii())
                {
                    return Err(ExprError::semantic("the `split` delimiter must be one ASCII character", pos));
                }
            }
            Function::ParseUrl => {
                if let Some((part, pos)) = literal(1)
                    && !matches!(part, "domain" | "full_domain")
                {
                    return Err(ExprError::semantic(
                        format!("`parse_url` part must be \"domain\" or \"full_domain\", got {part:?}"),
                        pos,
                    ));
                }
            }
            Function::Datedif => {
                if let Some((unit, pos)) = literal(2)
                    && !DATEDIF_UNITS.contains(&unit.to_ascii_uppercase().as_str())
                {
                    return Err(ExprError::semantic(
                        format!("`datedif` unit must be one of D, M, Y, MD, YM, YD; got {unit:?}"),
                        pos,
                    ));
                }
            }
            _ => {}
        }
        Ok(())
    }
}

fn first_line(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines().last().unwrap_or("").trim().trim_start_matches("error: ").to_string()
}

/// `and`/`or`/`not` take booleans; an operand that can only be a number, a string or a
/// list is a mistake worth a 400 (Mixpanel calls it an error). Values read from data
/// are checked per record instead (they count as false).
fn never_boolean(e: &Expr, op: &str) -> Result<(), ExprError> {
    let what = match &e.kind {
        ExprKind::Literal(Literal::Number(_)) => "a number",
        ExprKind::Literal(Literal::Str(_)) => "a string",
        ExprKind::List(_) => "a list",
        ExprKind::Binary {
            op: BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem, ..
        } => "an arithmetic result",
        ExprKind::Unary { op: UnaryOp::Neg, .. } => "a number",
        _ => return Ok(()),
    };
    Err(ExprError::semantic(format!("`{op}` needs true/false operands, but this is {what}"), e.pos))
}
