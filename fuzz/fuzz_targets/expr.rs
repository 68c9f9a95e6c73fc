//! Any text given to the expression language: parsing never panics or overflows the
//! stack, a parsed expression prints to text that parses back to the same tree, and a
//! checked one evaluates on a record and compiles to SQL (or declines) without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sextant_expr::sql::{Columns, duckdb_predicate};
use sextant_expr::{EventRecord, Options, Program, Scope, parse};

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else { return };
    let Ok(expr) = parse(src) else { return };
    let printed = expr.to_string();
    let reparsed = parse(&printed).unwrap_or_else(|e| panic!("printed form {printed:?} does not parse: {e}"));
    assert_eq!(expr, reparsed, "print/parse round trip changed the tree of {src:?}");

    let properties: serde_json::Map<String, serde_json::Value> = serde_json::from_str(
        r#"{"a": 1, "b": "x", "c": [1, "two", null], "d": {"k": true}, "e": null, "t": "2024-01-02T03:04:05"}"#,
    )
    .unwrap_or_default();
    for scope in [Scope::Event, Scope::Profile] {
        let options = Options { now_ms: 1_700_000_000_000, ..Options::default() };
        let Ok(program) = Program::new(expr.clone(), scope, options) else { continue };
        let record = EventRecord {
            name: "Signed up",
            time_ms: 1_700_000_000_000,
            distinct_id: "u1",
            insert_id: "i1",
            properties: &properties,
            user: Some(&properties),
        };
        let _ = program.eval(&record);
        let _ = duckdb_predicate(&program, &Columns::default());
    }
});
