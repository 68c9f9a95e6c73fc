//! The typed alternatives a compiled value is made of. Properties are dynamically
//! typed, so a [`Val`] is a list of [`Alt`]s, each a [`Kind`], the condition under
//! which the value has that kind, and the SQL of its payload; the conditions exclude
//! each other, and a row meeting none of them holds *undefined*.

/// A value's type, as the compiler tracks it. Undefined is the absence of any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// JSON null.
    Null,
    /// Boolean.
    Bool,
    /// Double.
    Num,
    /// Text.
    Str,
    /// Epoch ms.
    Time,
    /// A list.
    List,
    /// An object.
    Object,
}

#[derive(Clone, Debug)]
pub(super) enum Payload {
    /// Scalar SQL of the kind's type; NULL means undefined.
    Sql(String),
    /// A dynamic (VARIANT) list or object.
    Dynamic(String),
    /// A list literal.
    Items(Vec<Val>),
    /// Null has no payload.
    None,
}

impl Payload {
    /// A scalar payload, parenthesised so it can be embedded anywhere.
    pub(super) fn sql(text: String) -> Payload {
        let simple = text.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '.')
            || (text.starts_with('(') && text.ends_with(')') && balanced_outer(&text));
        Payload::Sql(if simple { text } else { format!("({text})") })
    }
}

/// Whether the first `(` closes at the last character.
fn balanced_outer(text: &str) -> bool {
    let mut depth = 0i32;
    let mut in_str = false;
    for (i, c) in text.char_indices() {
        match c {
            '\'' => in_str = !in_str,
            '(' if !in_str => depth += 1,
            ')' if !in_str => {
                depth -= 1;
                if depth == 0 && i != text.len() - 1 {
                    return false;
                }
            }
            _ => {}
        }
    }
    depth == 0
}

#[derive(Clone, Debug)]
pub(super) struct Alt {
    pub(super) kind: Kind,
    /// `None`: always.
    pub(super) when: Option<String>,
    pub(super) payload: Payload,
}

#[derive(Clone, Debug, Default)]
pub(super) struct Val {
    pub(super) alts: Vec<Alt>,
    /// Written as a string literal: date strings read in the project's timezone.
    pub(super) literal_str: Option<String>,
    /// Never undefined (a literal or a NOT NULL column).
    pub(super) total: bool,
    /// Read from a dynamic (VARIANT) value: a property or a list element.
    pub(super) dynamic: bool,
}

impl Val {
    /// Bytes of SQL text the value holds.
    pub(super) fn sql_len(&self) -> usize {
        self.alts
            .iter()
            .map(|a| {
                a.when.as_ref().map_or(0, String::len)
                    + match &a.payload {
                        Payload::Sql(p) | Payload::Dynamic(p) => p.len(),
                        Payload::Items(items) => items.iter().map(Val::sql_len).sum(),
                        Payload::None => 0,
                    }
            })
            .sum()
    }

    pub(super) fn one(kind: Kind, payload: Payload) -> Val {
        Val::of(vec![Alt { kind, when: None, payload }])
    }

    pub(super) fn of(alts: Vec<Alt>) -> Val {
        Val { alts, literal_str: None, total: false, dynamic: false }
    }

    pub(super) fn total(self) -> Val {
        Val { total: true, ..self }
    }

    pub(super) fn sql(kind: Kind, sql: String) -> Val {
        Val::one(kind, Payload::sql(sql))
    }

    pub(super) fn alt(&self, kind: Kind) -> Option<&Alt> {
        self.alts.iter().find(|a| a.kind == kind)
    }

    /// The scalar alternative of `kind`: `(when, payload)`.
    pub(super) fn scalar(&self, kind: Kind) -> Option<(Option<String>, String)> {
        match self.alt(kind) {
            Some(Alt { when, payload: Payload::Sql(p), .. }) => Some((when.clone(), p.clone())),
            _ => None,
        }
    }
}
