//! Which event properties a script can read, found in its text, so that only those are
//! read from the store and parsed by the engine: the whole object costs most of a
//! script's time (on the benchmark's events, 20 to 50 properties each).
//!
//! A script qualifies when every mention of `properties` names one property: as
//! `.properties.NAME`, `.properties["NAME"]` (or `'NAME'`), or in a path string such as
//! `"properties.NAME"` or `"event.properties.NAME"`. Anything else (`Object.keys(
//! e.properties)`, `var p = e.properties`, `e["properties"]`) reads the whole object,
//! and so do scripts that can reach names or objects the text does not show: `eval`,
//! `Function`, `JSON.stringify`, `Reflect`, `Proxy`, `with`, `isEqual`.
//!
//! An event object itself can still reach the answer whole (`Events().filter(...)`):
//! the library marks each partial `properties` object, and an answer holding one is
//! thrown away and the script run again with every property ([`crate::run`]).

/// Words after which a script may read properties its text does not name.
const OPAQUE: [&str; 7] = ["eval", "Function", "stringify", "Reflect", "Proxy", "with", "isEqual"];

/// Names on `Object.prototype`: `e.properties.hasOwnProperty("x")` reads `x`, not a
/// property named `hasOwnProperty`.
const PROTOTYPE: [&str; 9] = [
    "hasOwnProperty",
    "isPrototypeOf",
    "propertyIsEnumerable",
    "toLocaleString",
    "toString",
    "valueOf",
    "constructor",
    "__proto__",
    "__defineGetter__",
];

/// The properties the script reads, sorted; `None` when it may read any.
pub(crate) fn names(script: &str) -> Option<Vec<String>> {
    if OPAQUE.iter().any(|w| contains_word(script, w)) {
        return None;
    }
    let mut names = Vec::new();
    let bytes = script.as_bytes();
    let mut from = 0;
    while let Some(at) = script[from..].find("properties") {
        let start = from + at;
        let end = start + "properties".len();
        from = end;
        if !is_word_boundary(bytes, start, end) {
            continue;
        }
        names.push(named_after(&script[end..])?);
    }
    names.sort();
    names.dedup();
    Some(names)
}

/// The property named right after a mention: `.NAME` or `["NAME"]`.
fn named_after(rest: &str) -> Option<String> {
    let rest = rest.trim_start();
    if let Some(after) = rest.strip_prefix('.') {
        let name: String = after.chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '$').collect();
        let plain = !name.is_empty() && !PROTOTYPE.contains(&name.as_str());
        return plain.then_some(name);
    }
    let inside = rest.strip_prefix('[')?.trim_start();
    let quote = inside.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let literal = &inside[1..];
    let close = literal.find(quote)?;
    let name = &literal[..close];
    let closed = literal[close + 1..].trim_start().starts_with(']');
    let plain = closed && !name.is_empty() && !name.contains(['\\', '.']) && !PROTOTYPE.contains(&name);
    plain.then(|| name.to_string())
}

fn is_word_boundary(bytes: &[u8], start: usize, end: usize) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'$';
    (start == 0 || !word(bytes[start - 1])) && bytes.get(end).is_none_or(|b| !word(*b))
}

fn contains_word(script: &str, word: &str) -> bool {
    let bytes = script.as_bytes();
    let mut from = 0;
    while let Some(at) = script[from..].find(word) {
        let start = from + at;
        if is_word_boundary(bytes, start, start + word.len()) {
            return true;
        }
        from = start + word.len();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(script: &str) -> Option<Vec<&'static str>> {
        names(script).map(|v| v.into_iter().map(|s| &*s.leak()).collect())
    }

    #[test]
    fn named_properties_are_found() {
        assert_eq!(of("e => e.properties.amount > 1 && e.properties['$city'] == 'x'"), Some(vec!["$city", "amount"]));
        assert_eq!(of(r#"groupBy(["properties.plan", "event.properties.n"], f)"#), Some(vec!["n", "plan"]));
        assert_eq!(of(r#"selector: 'properties["amount"] > 15'"#), Some(vec!["amount"]));
        assert_eq!(of("e => e.name == 'x'"), Some(vec![]));
        // `my_properties` is another word.
        assert_eq!(of("var my_properties = 1; e.properties.a"), Some(vec!["a"]));
    }

    #[test]
    fn anything_else_reads_every_property() {
        for script in [
            "Object.keys(event.properties)",
            "var p = e.properties; p.x",
            "e['properties'].x",
            "e.properties[name]",
            "e.properties.hasOwnProperty('x')",
            "JSON.stringify(e)",
            "eval('e.prop' + 'erties')",
            "e.properties[\"a.b\"]",
            "_.isEqual(a, b) || e.properties.x",
        ] {
            assert_eq!(names(script), None, "{script}");
        }
    }
}
