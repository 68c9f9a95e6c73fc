//! Splits source text into tokens, each with its position in characters from 1.

use crate::ast::Pos;
use crate::error::ExprError;

/// One token.
#[derive(Clone, Debug, PartialEq)]
pub enum Token {
    /// A number literal.
    Number(f64),
    /// A quoted string, escapes resolved.
    Str(String),
    /// A name: keyword, function, accessor source or bound variable.
    Ident(String),
    /// Punctuation or an operator symbol.
    Sym(&'static str),
    /// The end of the input.
    End,
}

impl Token {
    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        match self {
            Token::Number(n) => format!("number `{n}`"),
            Token::Str(s) => format!("string {s:?}"),
            Token::Ident(s) => format!("`{s}`"),
            Token::Sym(s) => format!("`{s}`"),
            Token::End => "the end of the expression".to_string(),
        }
    }
}

const SYMBOLS: &[&str] = &["==", "!=", "<=", ">=", "=", "<", ">", "+", "-", "*", "/", "%", "(", ")", "[", "]", ","];

/// Tokenises `src`. The last token is always [`Token::End`].
pub fn tokenize(src: &str) -> Result<Vec<(Token, Pos)>, ExprError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let pos = Pos(i + 1);
        if c.is_whitespace() {
            i += 1;
        } else if c == '"' || c == '\'' {
            let (s, next) = string(&chars, i)?;
            out.push((Token::Str(s), pos));
            i = next;
        } else if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())) {
            let (n, next) = number(&chars, i)?;
            out.push((Token::Number(n), pos));
            i = next;
        } else if c.is_alphabetic() || c == '_' || c == '$' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$') {
                i += 1;
            }
            out.push((Token::Ident(chars[start..i].iter().collect()), pos));
        } else if let Some(sym) =
            SYMBOLS.iter().find(|s| s.chars().enumerate().all(|(k, sc)| chars.get(i + k) == Some(&sc)))
        {
            out.push((Token::Sym(sym), pos));
            i += sym.chars().count();
        } else {
            return Err(ExprError::syntax(format!("unexpected character `{c}`"), pos));
        }
    }
    out.push((Token::End, Pos(chars.len() + 1)));
    Ok(out)
}

fn string(chars: &[char], start: usize) -> Result<(String, usize), ExprError> {
    let quote = chars[start];
    let mut s = String::new();
    let mut i = start + 1;
    loop {
        let Some(&c) = chars.get(i) else {
            return Err(ExprError::syntax("unterminated string", Pos(start + 1)));
        };
        if c == quote {
            return Ok((s, i + 1));
        }
        if c != '\\' {
            s.push(c);
            i += 1;
            continue;
        }
        let esc = chars.get(i + 1).copied();
        let ch = match esc {
            Some('"') => '"',
            Some('\'') => '\'',
            Some('\\') => '\\',
            Some('/') => '/',
            Some('n') => '\n',
            Some('t') => '\t',
            Some('r') => '\r',
            Some('b') => '\u{8}',
            Some('f') => '\u{c}',
            Some('u') => {
                let hex: String = chars.iter().skip(i + 2).take(4).collect();
                let code = (hex.len() == 4).then(|| u32::from_str_radix(&hex, 16).ok()).flatten();
                let ch = code.and_then(char::from_u32).ok_or_else(|| {
                    ExprError::syntax("`\\u` must be followed by four hex digits of a character", Pos(i + 1))
                })?;
                s.push(ch);
                i += 6;
                continue;
            }
            Some(other) => return Err(ExprError::syntax(format!("unknown escape `\\{other}` in string"), Pos(i + 1))),
            None => return Err(ExprError::syntax("unterminated string", Pos(start + 1))),
        };
        s.push(ch);
        i += 2;
    }
}

fn number(chars: &[char], start: usize) -> Result<(f64, usize), ExprError> {
    let mut i = start;
    let digits = |i: &mut usize| {
        while chars.get(*i).is_some_and(|c| c.is_ascii_digit()) {
            *i += 1;
        }
    };
    digits(&mut i);
    if chars.get(i) == Some(&'.') {
        i += 1;
        digits(&mut i);
    }
    if matches!(chars.get(i), Some('e' | 'E')) {
        let mut j = i + 1;
        if matches!(chars.get(j), Some('+' | '-')) {
            j += 1;
        }
        if chars.get(j).is_some_and(|c| c.is_ascii_digit()) {
            i = j;
            digits(&mut i);
        }
    }
    let text: String = chars[start..i].iter().collect();
    match text.parse::<f64>() {
        Ok(n) if n.is_finite() => Ok((n, i)),
        _ => Err(ExprError::syntax(format!("number `{text}` is out of range"), Pos(start + 1))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<Token> {
        tokenize(src).unwrap().into_iter().map(|(t, _)| t).collect()
    }

    #[test]
    fn tokens_and_positions() {
        let toks = tokenize(r#"properties["a b"] >= 1.5e3"#).unwrap();
        assert_eq!(toks[0].0, Token::Ident("properties".into()));
        assert_eq!(toks[2].0, Token::Str("a b".into()));
        assert_eq!(toks[4].0, Token::Sym(">="));
        assert_eq!(toks[4].1.0, 19);
        assert_eq!(toks[5].0, Token::Number(1500.0));
    }

    #[test]
    fn escapes_and_quotes() {
        assert_eq!(kinds(r#""a\"b\\c""#)[0], Token::Str("a\"b\\c".into()));
        assert_eq!(kinds(r#"'it\'s'"#)[0], Token::Str("it's".into()));
        assert_eq!(kinds(r#""\u00e9""#)[0], Token::Str("é".into()));
        assert!(tokenize(r#""abc"#).is_err());
        assert!(tokenize(r#""\q""#).is_err());
        assert!(tokenize("1e999").is_err());
        assert!(tokenize("a # b").is_err());
    }
}
