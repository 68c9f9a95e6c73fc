//! Recursive-descent parser for the extended grammar (reference §1.3, precedence §1.4).
//!
//! Keywords and function names match in any case; `=` is `==`; `a not in b` is
//! `not (a in b)`; a function name may be followed by whitespace before `(`.
//! Comparisons do not chain: `a < b < c` is an error rather than a surprise.

use crate::ast::{BinaryOp, Expr, ExprKind, Function, Literal, Pos, Source, UnaryOp};
use crate::error::ExprError;
use crate::lexer::{Token, tokenize};
use crate::{MAX_DEPTH, MAX_LENGTH};

/// Parses one expression; the whole input must be consumed.
pub fn parse(src: &str) -> Result<Expr, ExprError> {
    let length = src.chars().count();
    if length > MAX_LENGTH {
        return Err(ExprError::too_large(
            format!("the expression is {length} characters long; at most {MAX_LENGTH} are allowed"),
            None,
        ));
    }
    let tokens = tokenize(src)?;
    let mut p = Parser { tokens, at: 0, depth: 0 };
    if p.peek() == &Token::End {
        return Err(ExprError::syntax("the expression is empty", p.pos()));
    }
    let expr = p.expr()?;
    match p.peek() {
        Token::End => Ok(expr),
        other => {
            Err(ExprError::syntax(format!("unexpected {} after a complete expression", other.describe()), p.pos()))
        }
    }
}

struct Parser {
    tokens: Vec<(Token, Pos)>,
    at: usize,
    depth: usize,
}

fn keyword(token: &Token, word: &str) -> bool {
    matches!(token, Token::Ident(s) if s.eq_ignore_ascii_case(word))
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.tokens[self.at].0
    }

    fn peek_at(&self, ahead: usize) -> &Token {
        &self.tokens[(self.at + ahead).min(self.tokens.len() - 1)].0
    }

    fn pos(&self) -> Pos {
        self.tokens[self.at].1
    }

    fn bump(&mut self) -> (Token, Pos) {
        let t = self.tokens[self.at].clone();
        if self.at < self.tokens.len() - 1 {
            self.at += 1;
        }
        t
    }

    fn eat_sym(&mut self, sym: &str) -> bool {
        if matches!(self.peek(), Token::Sym(s) if *s == sym) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn expect_sym(&mut self, sym: &'static str, after: &str) -> Result<(), ExprError> {
        if self.eat_sym(sym) {
            Ok(())
        } else {
            Err(ExprError::syntax(format!("expected `{sym}` {after}, found {}", self.peek().describe()), self.pos()))
        }
    }

    /// Guards every recursive step, so hostile input cannot overflow the stack.
    fn enter(&mut self) -> Result<(), ExprError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ExprError::too_large(
                format!("the expression is nested more than {MAX_DEPTH} levels deep"),
                Some(self.pos()),
            ));
        }
        Ok(())
    }

    fn expr(&mut self) -> Result<Expr, ExprError> {
        self.enter()?;
        let e = self.or();
        self.depth -= 1;
        e
    }

    /// One left-associative level: `next (op next)*`, with `op` read by `operator`.
    fn left_assoc(
        &mut self,
        operator: fn(&Token) -> Option<BinaryOp>,
        next: fn(&mut Self) -> Result<Expr, ExprError>,
    ) -> Result<Expr, ExprError> {
        let mut lhs = next(self)?;
        while let Some(op) = operator(self.peek()) {
            let pos = self.bump().1;
            let rhs = next(self)?;
            lhs = binary(op, lhs, rhs, pos);
        }
        Ok(lhs)
    }

    fn or(&mut self) -> Result<Expr, ExprError> {
        self.left_assoc(|t| keyword(t, "or").then_some(BinaryOp::Or), Self::and)
    }

    fn and(&mut self) -> Result<Expr, ExprError> {
        self.left_assoc(|t| keyword(t, "and").then_some(BinaryOp::And), Self::not)
    }

    fn not(&mut self) -> Result<Expr, ExprError> {
        if keyword(self.peek(), "not") {
            let pos = self.bump().1;
            self.enter()?;
            let operand = self.not();
            self.depth -= 1;
            return Ok(Expr { kind: ExprKind::Unary { op: UnaryOp::Not, operand: Box::new(operand?) }, pos });
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, ExprError> {
        let lhs = self.additive()?;
        let pos = self.pos();
        let (op, negate) = match self.peek() {
            Token::Sym("==" | "=") => (BinaryOp::Eq, false),
            Token::Sym("!=") => (BinaryOp::Ne, false),
            Token::Sym("<") => (BinaryOp::Lt, false),
            Token::Sym("<=") => (BinaryOp::Le, false),
            Token::Sym(">") => (BinaryOp::Gt, false),
            Token::Sym(">=") => (BinaryOp::Ge, false),
            t if keyword(t, "in") => (BinaryOp::In, false),
            t if keyword(t, "not") && keyword(self.peek_at(1), "in") => {
                self.bump();
                (BinaryOp::In, true)
            }
            _ => return Ok(lhs),
        };
        self.bump();
        let rhs = self.additive()?;
        if is_comparison(self.peek()) {
            return Err(ExprError::syntax(
                "comparisons cannot be chained; combine them with `and` or add parentheses",
                self.pos(),
            ));
        }
        let cmp = binary(op, lhs, rhs, pos);
        Ok(if negate { Expr { kind: ExprKind::Unary { op: UnaryOp::Not, operand: Box::new(cmp) }, pos } } else { cmp })
    }

    fn additive(&mut self) -> Result<Expr, ExprError> {
        let operator = |t: &Token| match t {
            Token::Sym("+") => Some(BinaryOp::Add),
            Token::Sym("-") => Some(BinaryOp::Sub),
            _ => None,
        };
        self.left_assoc(operator, Self::multiplicative)
    }

    fn multiplicative(&mut self) -> Result<Expr, ExprError> {
        let operator = |t: &Token| match t {
            Token::Sym("*") => Some(BinaryOp::Mul),
            Token::Sym("/") => Some(BinaryOp::Div),
            Token::Sym("%") => Some(BinaryOp::Rem),
            _ => None,
        };
        self.left_assoc(operator, Self::unary)
    }

    fn unary(&mut self) -> Result<Expr, ExprError> {
        if self.peek() == &Token::Sym("-") {
            let pos = self.bump().1;
            self.enter()?;
            let operand = self.unary();
            self.depth -= 1;
            return Ok(Expr { kind: ExprKind::Unary { op: UnaryOp::Neg, operand: Box::new(operand?) }, pos });
        }
        self.postfix()
    }

    fn postfix(&mut self) -> Result<Expr, ExprError> {
        let mut e = self.primary()?;
        while self.peek() == &Token::Sym("[") {
            let pos = self.bump().1;
            let index = self.expr()?;
            self.expect_sym("]", "to close the index")?;
            e = Expr { kind: ExprKind::Index { target: Box::new(e), index: Box::new(index) }, pos };
        }
        Ok(e)
    }

    fn primary(&mut self) -> Result<Expr, ExprError> {
        let (token, pos) = self.bump();
        let kind = match token {
            Token::Number(n) => ExprKind::Literal(Literal::Number(n)),
            Token::Str(s) => ExprKind::Literal(Literal::Str(s)),
            Token::Sym("(") => {
                let inner = self.expr()?;
                self.expect_sym(")", "to close the parenthesis")?;
                return Ok(inner);
            }
            Token::Sym("[") => ExprKind::List(self.items("]", "to close the list")?),
            Token::Ident(word) => return self.word(word, pos),
            other => {
                return Err(ExprError::syntax(format!("expected a value, found {}", other.describe()), pos));
            }
        };
        Ok(Expr { kind, pos })
    }

    /// Comma-separated expressions up to `close` (the opening token already taken).
    fn items(&mut self, close: &'static str, after: &str) -> Result<Vec<Expr>, ExprError> {
        self.enter()?;
        let mut items = Vec::new();
        if !self.eat_sym(close) {
            loop {
                items.push(self.expr()?);
                if self.eat_sym(close) {
                    break;
                }
                self.expect_sym(",", &format!("or `{close}` {after}"))?;
            }
        }
        self.depth -= 1;
        Ok(items)
    }

    fn word(&mut self, word: String, pos: Pos) -> Result<Expr, ExprError> {
        let lower = word.to_ascii_lowercase();
        let literal = match lower.as_str() {
            "true" => Some(Literal::Bool(true)),
            "false" => Some(Literal::Bool(false)),
            "null" => Some(Literal::Null),
            "undefined" => Some(Literal::Undefined),
            _ => None,
        };
        if let Some(lit) = literal {
            return Ok(Expr { kind: ExprKind::Literal(lit), pos });
        }
        if let Some(source) = Source::from_keyword(&lower) {
            if self.peek() == &Token::Sym("[") {
                self.bump();
                let name = match self.bump() {
                    (Token::Str(name), _) => name,
                    (other, at) => {
                        return Err(ExprError::syntax(
                            format!("expected a quoted property name after `{word}[`, found {}", other.describe()),
                            at,
                        ));
                    }
                };
                self.expect_sym("]", "after property name")?;
                return Ok(Expr { kind: ExprKind::Access { source, name }, pos });
            }
            if self.peek() != &Token::Sym("(") {
                return Err(ExprError::syntax(format!("expected `[` after `{word}`"), self.pos()));
            }
        }
        if self.peek() == &Token::Sym("(") {
            let function = Function::from_name(&word)
                .ok_or_else(|| ExprError::semantic(format!("unknown function `{word}`"), pos))?;
            self.bump();
            let args = self.items(")", &format!("to close the call of `{}`", function.name()))?;
            check_call(function, &args, pos)?;
            return Ok(Expr { kind: ExprKind::Call { function, args }, pos });
        }
        if matches!(lower.as_str(), "and" | "or" | "not" | "in") {
            return Err(ExprError::syntax(format!("expected a value, found `{word}`"), pos));
        }
        Ok(Expr { kind: ExprKind::Var(word), pos })
    }
}

fn check_call(function: Function, args: &[Expr], pos: Pos) -> Result<(), ExprError> {
    let (min, max) = function.arity();
    let n = args.len();
    if n < min || n > max {
        let expected = match (min, max) {
            (a, b) if a == b => format!("{a}"),
            (a, usize::MAX) => format!("at least {a}"),
            (a, b) => format!("{a} to {b}"),
        };
        let plural = if expected == "1" { "" } else { "s" };
        return Err(ExprError::semantic(
            format!("`{}` takes {expected} argument{plural}, got {n}", function.name()),
            pos,
        ));
    }
    if function == Function::Ifs && !n.is_multiple_of(2) {
        return Err(ExprError::semantic("`ifs` takes pairs of condition and value", pos));
    }
    if function.binds() && !matches!(args[0].kind, ExprKind::Var(_)) {
        return Err(ExprError::semantic(
            format!("the first argument of `{}` must be a bare name such as X", function.name()),
            args[0].pos,
        ));
    }
    Ok(())
}

fn is_comparison(t: &Token) -> bool {
    matches!(t, Token::Sym("==" | "=" | "!=" | "<" | "<=" | ">" | ">=")) || keyword(t, "in")
}

fn binary(op: BinaryOp, lhs: Expr, rhs: Expr, pos: Pos) -> Expr {
    Expr { kind: ExprKind::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs) }, pos }
}
