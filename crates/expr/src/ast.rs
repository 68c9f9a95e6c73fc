//! The syntax tree every surface shares.
//!
//! Spans are kept for error messages only: two trees are equal when their shapes and
//! values are, wherever they came from, so `parse(print(e)) == e` is a meaningful test.

use std::fmt;

/// Where a node starts in the source, counted in characters from 1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pos(pub usize);

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// One node of an expression.
#[derive(Clone, Debug)]
pub struct Expr {
    /// What the node is.
    pub kind: ExprKind,
    /// Where it starts in the source.
    pub pos: Pos,
}

impl PartialEq for Expr {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
    }
}

impl Expr {
    /// A node without a source position (built by code rather than parsed).
    pub fn new(kind: ExprKind) -> Self {
        Expr { kind, pos: Pos(0) }
    }

    /// The node's children, in source order.
    pub fn children(&self) -> Vec<&Expr> {
        match &self.kind {
            ExprKind::Literal(_) | ExprKind::Access { .. } | ExprKind::Var(_) => vec![],
            ExprKind::List(items) => items.iter().collect(),
            ExprKind::Call { args, .. } => args.iter().collect(),
            ExprKind::Unary { operand, .. } => vec![operand],
            ExprKind::Binary { lhs, rhs, .. } => vec![lhs, rhs],
            ExprKind::Index { target, index } => vec![target, index],
        }
    }
}

/// The kinds of node.
#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// `12`, `"text"`, `true`, `null`, `undefined`.
    Literal(Literal),
    /// `[a, b, c]`.
    List(Vec<Expr>),
    /// `properties["name"]`, `user["name"]`, `event["$time"]`, `behaviors["name"]`.
    Access {
        /// Which record the name is read from.
        source: Source,
        /// The property name, exactly as written.
        name: String,
    },
    /// A bare name bound by `any`, `all`, `filter`, `map` or `let`.
    Var(String),
    /// `name(args...)`; the name is resolved when parsed, so an unknown one is an error.
    Call {
        /// The function.
        function: Function,
        /// Its arguments; for the binding functions the first is a [`ExprKind::Var`].
        args: Vec<Expr>,
    },
    /// `-x`, `not x`.
    Unary {
        /// The operator.
        op: UnaryOp,
        /// Its operand.
        operand: Box<Expr>,
    },
    /// `a op b`.
    Binary {
        /// The operator.
        op: BinaryOp,
        /// Left operand.
        lhs: Box<Expr>,
        /// Right operand.
        rhs: Box<Expr>,
    },
    /// `target[index]`: a list element (from 0) or an object member.
    Index {
        /// The list or object.
        target: Box<Expr>,
        /// The position or key.
        index: Box<Expr>,
    },
}

/// A constant written in the source.
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    /// A number; the source has no negative literals (that is unary minus).
    Number(f64),
    /// A string.
    Str(String),
    /// `true` or `false`.
    Bool(bool),
    /// `null`.
    Null,
    /// `undefined`.
    Undefined,
}

/// The record an accessor reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// `properties[...]`: the event's properties, or the profile's in profile queries.
    Properties,
    /// `user[...]`: the profile of the event's user.
    User,
    /// `event[...]`: the event's own fields (`$time`, name, ids).
    Event,
    /// `behaviors[...]`: named behaviour counts of a profile query.
    Behaviors,
}

impl Source {
    /// The keyword that writes it.
    pub fn keyword(self) -> &'static str {
        match self {
            Source::Properties => "properties",
            Source::User => "user",
            Source::Event => "event",
            Source::Behaviors => "behaviors",
        }
    }

    /// The source written by `word`, if it is one.
    pub fn from_keyword(word: &str) -> Option<Source> {
        match word {
            "properties" => Some(Source::Properties),
            "user" => Some(Source::User),
            "event" => Some(Source::Event),
            "behaviors" => Some(Source::Behaviors),
            _ => None,
        }
    }
}

/// Prefix operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    /// `-x`
    Neg,
    /// `not x`
    Not,
}

/// Infix operators. `=` parses as [`BinaryOp::Eq`]; `a not in b` as `not (a in b)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    /// `or`
    Or,
    /// `and`
    And,
    /// `==` or `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `in`: substring of a string, or member of a list.
    In,
    /// `+`: sum or concatenation.
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Rem,
}

impl BinaryOp {
    /// `==`, `!=`, `<`, `<=`, `>`, `>=`.
    pub fn is_comparison(self) -> bool {
        matches!(self, BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge)
    }

    /// How the operator is written.
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Or => "or",
            BinaryOp::And => "and",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::In => "in",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Rem => "%",
        }
    }

    /// Binding strength: higher binds tighter (reference §1.4).
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And => 2,
            // 3 is `not`
            BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge | BinaryOp::In => 4,
            BinaryOp::Add | BinaryOp::Sub => 5,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem => 6,
        }
    }
}

/// Precedence of `not`.
pub const NOT_PRECEDENCE: u8 = 3;
/// Precedence of unary minus.
pub const NEG_PRECEDENCE: u8 = 7;

macro_rules! functions {
    ($($variant:ident = $name:literal, $min:literal ..= $max:expr, $doc:literal;)*) => {
        /// Every function the language knows. Names are matched case-insensitively.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Function {
            $(#[doc = $doc] $variant,)*
        }

        impl Function {
            /// All functions, for documentation and tests.
            pub const ALL: &'static [Function] = &[$(Function::$variant,)*];

            /// The canonical (lower-case) name.
            pub fn name(self) -> &'static str {
                match self { $(Function::$variant => $name,)* }
            }

            /// The function called `name`, in any case.
            pub fn from_name(name: &str) -> Option<Function> {
                let lower = name.to_ascii_lowercase();
                match lower.as_str() { $($name => Some(Function::$variant),)* _ => None }
            }

            /// Fewest and most arguments (`usize::MAX` for no upper bound).
            pub fn arity(self) -> (usize, usize) {
                match self { $(Function::$variant => ($min, $max),)* }
            }
        }
    };
}

functions! {
    Defined = "defined", 1..=1, "`defined(x)`: x is neither undefined nor null.";
    Boolean = "boolean", 1..=1, "`boolean(x)`: cast to boolean.";
    Number = "number", 1..=1, "`number(x)`: cast to number.";
    String = "string", 1..=2, "`string(x[, default])`: cast to string; `default` when x is undefined.";
    Floor = "floor", 1..=1, "`floor(n)`.";
    Round = "round", 1..=1, "`round(n)`: halves away from zero.";
    Ceil = "ceil", 1..=1, "`ceil(n)`.";
    Datetime = "datetime", 1..=1, "`datetime(x)`: epoch seconds or an ISO date string to a datetime.";
    HasPrefix = "has_prefix", 2..=2, "`has_prefix(s, p)`, case-insensitive.";
    HasSuffix = "has_suffix", 2..=2, "`has_suffix(s, p)`, case-insensitive.";
    If = "if", 3..=3, "`if(cond, then, else)`.";
    Ifs = "ifs", 2..=usize::MAX, "`ifs(c1, v1, c2, v2, ...)`: the value of the first true condition.";
    Min = "min", 2..=2, "`min(a, b)` of numbers.";
    Max = "max", 2..=2, "`max(a, b)` of numbers.";
    Upper = "upper", 1..=1, "`upper(s)`.";
    Lower = "lower", 1..=1, "`lower(s)`.";
    ParseUrl = "parse_url", 2..=2, "`parse_url(url, \"domain\" | \"full_domain\")`.";
    RegexExtract = "regex_extract", 2..=3, "`regex_extract(s, pattern[, group])`.";
    RegexMatch = "regex_match", 2..=2, "`regex_match(s, pattern)`.";
    RegexReplace = "regex_replace", 3..=3, "`regex_replace(s, pattern, replacement)`.";
    Datedif = "datedif", 3..=3, "`datedif(start, end, unit)` with unit D, M, Y, MD, YM or YD.";
    Today = "today", 0..=0, "`today()`: the start of today in the project's timezone.";
    Len = "len", 1..=1, "`len(s)` in characters, or `len(list)`.";
    Left = "left", 2..=2, "`left(s, n)`: the first n characters.";
    Right = "right", 2..=2, "`right(s, n)`: the last n characters.";
    Mid = "mid", 3..=3, "`mid(s, start, n)`: n characters from position start (from 1).";
    Split = "split", 2..=3, "`split(s, delimiter[, n])`: the list of parts, or part n (from 1).";
    Let = "let", 3..=3, "`let(name, value, expr)`: expr with name bound to value.";
    Any = "any", 3..=3, "`any(name, list, cond)`: cond holds for some element.";
    All = "all", 3..=3, "`all(name, list, cond)`: cond holds for every element.";
    Filter = "filter", 3..=3, "`filter(name, list, cond)`: the elements for which cond holds.";
    Map = "map", 3..=3, "`map(name, list, expr)`: expr of each element.";
    Sum = "sum", 1..=1, "`sum(list)`: the sum of its numbers; other elements are skipped.";
}

impl Function {
    /// Whether the first argument is a name this call binds in its last argument.
    pub fn binds(self) -> bool {
        matches!(self, Function::Let | Function::Any | Function::All | Function::Filter | Function::Map)
    }
}
