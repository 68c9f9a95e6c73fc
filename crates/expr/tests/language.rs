//! The language as the reference describes it: the example corpus (§1.13), the operator
//! and casting tables (§1.7, §1.9), error messages with positions, and the parser's
//! round trip and depth limit.

use proptest::prelude::*;
use serde_json::{Map, Value as Json, json};
use sextant_expr::ast::{BinaryOp, Expr, ExprKind, Function, Literal, Source, UnaryOp};
use sextant_expr::{EventRecord, ExprError, Options, Program, Scope, Value, parse, record::ProfileRecord};

const T: i64 = 1_704_067_200_000; // 2024-01-01T00:00:00Z

fn props(v: Json) -> Map<String, Json> {
    v.as_object().cloned().unwrap()
}

fn eval_on(src: &str, p: &Map<String, Json>, user: Option<&Map<String, Json>>) -> Value {
    let program = Program::parse(src, Scope::Event, Options { now_ms: T, ..Options::default() })
        .unwrap_or_else(|e| panic!("{src}: {e}"));
    program.eval(&EventRecord { name: "Signup", time_ms: T, distinct_id: "u1", insert_id: "i1", properties: p, user })
}

fn eval(src: &str, p: Json) -> Value {
    eval_on(src, &props(p), None)
}

#[test]
fn reference_corpus() {
    let t = Value::Bool(true);
    let f = Value::Bool(false);
    let cases: Vec<(&str, Json, Value)> = vec![
        (r#"properties["account_id"] in [1,2,3,4]"#, json!({"account_id": 3}), t.clone()),
        (r#"properties["account_id"] in [1,2,3,4]"#, json!({"account_id": 5}), f.clone()),
        (r#"defined(properties["My Prop"])"#, json!({"My Prop": "x"}), t.clone()),
        (r#"not defined(properties["city"])"#, json!({}), t.clone()),
        (r#"event["$time"] >= datetime("2024-01-01T00:00:00")"#, json!({}), t.clone()),
        (r#"event["$time"] > datetime("2024-01-01T00:00:00")"#, json!({}), f.clone()),
        (r#"(properties["$city"] == "Chicago")"#, json!({"$city": "Chicago"}), t.clone()),
        (r#"(properties["$city"] != "Chicago")"#, json!({}), t.clone()),
        (
            r#"("Facebook" in properties["$referring_domain"])"#,
            json!({"$referring_domain": "m.facebook.com"}),
            t.clone(),
        ),
        (
            r#"(not "Facebook" in properties["$referring_domain"])"#,
            json!({"$referring_domain": "google.com"}),
            t.clone(),
        ),
        (r#"(defined (properties["$device"]))"#, json!({"$device": "iPhone"}), t.clone()),
        (r#"(not defined (properties["$device"]))"#, json!({"$device": "iPhone"}), f.clone()),
        (
            r#"(properties["$browser"] == "Chrome" and not "" in properties["$email"])"#,
            json!({"$browser": "Chrome"}),
            t.clone(),
        ),
        (r#""yahoo" in properties["$email"]"#, json!({"$email": "a@yahoo.com"}), t.clone()),
        (r#"properties["country"] == "US" and user["age"] > 30"#, json!({"country": "US"}), f.clone()),
        (
            r#"((defined (properties["k"])) AND ((any(X, properties["k"], X="v")) OR
               (string(properties["k"], "undefined") == "v")))
               AND (number(properties["mp_processing_time_ms"]) < 1700000000000)"#,
            json!({"k": ["a", "v"], "mp_processing_time_ms": 1600000000000_i64}),
            t.clone(),
        ),
        (r#"(boolean(properties["flag"]) == true)"#, json!({"flag": "yes"}), t.clone()),
        (
            r#"properties["plan"] == "premium" and defined(properties["email"])"#,
            json!({"plan": "Premium", "email": "e"}),
            t.clone(),
        ),
        (
            r#"properties["$last_seen"] > datetime("2023-09-01T00:00:00")"#,
            json!({"$last_seen": "2023-10-01T00:00:00"}),
            t.clone(),
        ),
        (r#"properties["$time"]>=datetime(1623860880)"#, json!({}), t.clone()),
        (
            r#"properties["$last_seen"] >= "2021-06-01T00:00:00""#,
            json!({"$last_seen": "2021-06-02T00:00:00"}),
            t.clone(),
        ),
        (
            r#"datetime(1386972989 - 2592000) > properties["$last_seen"]"#,
            json!({"$last_seen": "2013-01-01T00:00:00"}),
            t.clone(),
        ),
        (r#"string(properties["organization"])"#, json!({"organization": 12}), Value::String("12".into())),
        (r#"properties["mp_country_code"]"#, json!({"mp_country_code": "FR"}), Value::String("FR".into())),
    ];
    for (src, p, want) in cases {
        assert_eq!(eval(src, p.clone()), want, "{src} on {p}");
    }
    // JQL user selectors read the profile as user[...].
    let profile = props(json!({"signup_date": "2016-03-01T00:00:00"}));
    let program =
        Program::parse(r#"has_prefix(string(user["signup_date"]), "2016")"#, Scope::Profile, Options::default())
            .unwrap();
    assert!(program.matches(&ProfileRecord { properties: &profile, behaviors: None }));
    let program =
        Program::parse(r#"user["$email"] == "allison@example.com""#, Scope::Profile, Options::default()).unwrap();
    let profile = props(json!({"$email": "allison@example.com"}));
    assert!(program.matches(&ProfileRecord { properties: &profile, behaviors: None }));
}

#[test]
fn operator_table() {
    let u = Value::Undefined;
    let b = Value::Bool;
    let n = Value::Number;
    let s = |x: &str| Value::String(x.into());
    let p = json!({"n": 7, "s": "Abc", "t": true, "z": null, "l": [1, "x"], "d": "2024-01-01T00:00:00"});
    let cases: Vec<(&str, Value)> = vec![
        // arithmetic: numbers only, division by zero undefined, remainder follows the dividend
        ("properties[\"n\"] + 1", n(8.0)),
        ("properties[\"n\"] - \"1\"", u.clone()),
        ("properties[\"n\"] / 0", u.clone()),
        ("-7 % 3", n(-1.0)),
        ("properties[\"missing\"] * 2", u.clone()),
        ("properties[\"s\"] + \"d\"", s("Abcd")),
        ("properties[\"s\"] + 1", u.clone()),
        ("-properties[\"s\"]", u.clone()),
        // equality: always boolean; different types unequal; case-insensitive strings
        ("properties[\"n\"] == \"7\"", b(false)),
        ("properties[\"s\"] == \"abc\"", b(true)),
        ("properties[\"missing\"] == \"x\"", b(false)),
        ("properties[\"missing\"] != \"x\"", b(true)),
        ("properties[\"missing\"] == undefined", b(true)),
        ("properties[\"z\"] == null", b(true)),
        ("properties[\"z\"] == undefined", b(false)),
        ("properties[\"l\"] == [1, \"X\"]", b(true)),
        ("properties[\"t\"] = true", b(true)),
        // ordering: numbers, datetimes, date strings; else undefined
        ("properties[\"n\"] > 5", b(true)),
        ("properties[\"missing\"] > 5", u.clone()),
        ("properties[\"s\"] > 5", u.clone()),
        ("properties[\"t\"] > false", u.clone()),
        ("properties[\"d\"] < datetime(\"2024-01-02\")", b(true)),
        ("properties[\"d\"] >= \"2023-12-31\"", b(true)),
        ("\"b\" > \"a\"", b(true)),
        // in: substring, list membership, else undefined
        ("\"b\" in properties[\"s\"]", b(true)),
        ("\"x\" in properties[\"l\"]", b(true)),
        ("1 in properties[\"l\"]", b(true)),
        ("2 in properties[\"l\"]", b(false)),
        ("1 in properties[\"s\"]", u.clone()),
        ("\"a\" in properties[\"missing\"]", u.clone()),
        ("properties[\"n\"] not in [7, 8]", b(false)),
        // and/or/not with undefined
        ("properties[\"missing\"] > 5 or true", b(true)),
        ("properties[\"missing\"] > 5 and true", b(false)),
        ("not (properties[\"missing\"] > 5)", b(true)),
        ("not properties[\"s\"]", u.clone()),
        ("not properties[\"t\"]", b(false)),
    ];
    for (src, want) in cases {
        assert_eq!(eval(src, p.clone()), want, "{src}");
    }
}

#[test]
fn casting_table() {
    let b = Value::Bool;
    let n = Value::Number;
    let s = |x: &str| Value::String(x.into());
    let p = json!({"empty": "", "false": "false", "zero": 0, "num": 2.5, "t": true, "z": null, "l": [], "l2": [1], "big": 1e21});
    let cases: Vec<(&str, Value)> = vec![
        ("boolean(properties[\"empty\"])", b(false)),
        ("boolean(properties[\"false\"])", b(false)),
        ("boolean(\"0\")", b(true)),
        ("boolean(properties[\"zero\"])", b(false)),
        ("boolean(properties[\"num\"])", b(true)),
        ("boolean(properties[\"z\"])", b(false)),
        ("boolean(properties[\"missing\"])", b(false)),
        ("boolean(properties[\"l\"])", b(false)),
        ("boolean(properties[\"l2\"])", b(true)),
        ("boolean(datetime(0))", b(true)),
        ("number(\"12.5\")", n(12.5)),
        ("number(\"12abc\")", Value::Undefined),
        ("number(properties[\"t\"])", n(1.0)),
        ("number(properties[\"z\"])", Value::Undefined),
        ("number(datetime(\"2024-01-01\"))", n(1_704_067_200.0)),
        ("number(properties[\"l\"])", Value::Undefined),
        ("string(properties[\"num\"])", s("2.5")),
        ("string(properties[\"zero\"])", s("0")),
        ("string(properties[\"big\"])", s("1e+21")),
        ("string(properties[\"t\"])", s("true")),
        ("string(properties[\"z\"])", Value::Null),
        ("string(properties[\"missing\"])", Value::Undefined),
        ("string(properties[\"missing\"], \"none\")", s("none")),
        ("string(datetime(1704067200))", s("2024-01-01T00:00:00")),
        ("string(properties[\"l2\"])", s("[1]")),
        ("defined(properties[\"z\"])", b(false)),
    ];
    for (src, want) in cases {
        assert_eq!(eval(src, p.clone()), want, "{src}");
    }
}

#[test]
fn functions() {
    let s = |x: &str| Value::String(x.into());
    let n = Value::Number;
    let p = json!({"url": "https://www.Example.co.uk:8080/a?b", "csv": "a,b,c", "name": "Ünïcode"});
    let cases: Vec<(&str, Value)> = vec![
        ("if(1 > 0, \"y\", \"n\")", s("y")),
        ("ifs(false, 1, properties[\"missing\"] > 1, 2)", Value::Undefined),
        ("ifs(false, 1, true, 2)", n(2.0)),
        ("has_prefix(\"Hello\", \"he\")", Value::Bool(true)),
        ("has_suffix(\"Hello\", \"LO\")", Value::Bool(true)),
        ("min(3, 2) + max(3, 2)", n(5.0)),
        ("upper(\"abc\") + lower(\"DEF\")", s("ABCdef")),
        ("parse_url(properties[\"url\"], \"full_domain\")", s("www.example.co.uk")),
        ("parse_url(properties[\"url\"], \"domain\")", s("example.co.uk")),
        ("regex_extract(\"order-123-x\", \"[0-9]+\")", s("123")),
        ("regex_extract(\"order-123-x\", \"(o)(r)\", 2)", s("r")),
        ("regex_match(\"ABC\", \"abc\")", Value::Bool(true)),
        ("regex_match(\"ABC\", \"(?-i)abc\")", Value::Bool(false)),
        ("regex_replace(\"a1b22\", \"[0-9]+\", \"#\")", s("a#b#")),
        ("datedif(datetime(\"2024-01-31\"), datetime(\"2024-03-01\"), \"M\")", n(1.0)),
        ("datedif(datetime(\"2024-01-31\"), datetime(\"2024-03-01\"), \"D\")", n(30.0)),
        ("datedif(datetime(\"2020-02-29\"), datetime(\"2024-02-28\"), \"Y\")", n(3.0)),
        ("today() == datetime(\"2024-01-01\")", Value::Bool(true)),
        ("len(properties[\"name\"])", n(7.0)),
        ("len(split(properties[\"csv\"], \",\"))", n(3.0)),
        ("split(properties[\"csv\"], \",\", 2)", s("b")),
        ("split(properties[\"csv\"], \",\", 9)", Value::Undefined),
        ("let(X, 5, X * X)", n(25.0)),
        ("all(X, [1, 2], X > 0) and not any(X, [1, 2], X > 5)", Value::Bool(true)),
        ("sum(map(X, filter(Y, [1, \"a\", 3, 4], Y != 3), X * 10))", n(50.0)),
        ("sum([1, \"2\", 3])", n(4.0)),
    ];
    for (src, want) in cases {
        assert_eq!(eval(src, p.clone()), want, "{src}");
    }
    // left/right/mid count characters, not bytes: "Ün" + "c" + "bcd".
    assert_eq!(eval("left(\"Ünïcode\", 2) + right(\"abc\", 1) + mid(\"abcdef\", 2, 3)", json!({})), s("Üncbcd"));
}

#[test]
fn date_literals_are_project_time_and_data_is_utc() {
    let paris = Options { timezone: "Europe/Paris".parse().unwrap(), now_ms: T, ..Options::default() };
    let program =
        Program::parse(r#"event["$time"] == datetime("2024-01-01T01:00:00")"#, Scope::Event, paris.clone()).unwrap();
    let p = Map::new();
    let rec = EventRecord { name: "e", time_ms: T, distinct_id: "u", insert_id: "i", properties: &p, user: None };
    assert!(program.matches(&rec), "01:00 in Paris is midnight UTC");
    let p = props(json!({"d": "2024-01-01T00:00:00"}));
    let rec = EventRecord { properties: &p, ..rec };
    let program = Program::parse(r#"event["$time"] == datetime(properties["d"])"#, Scope::Event, paris).unwrap();
    assert!(program.matches(&rec), "a date string from data is UTC");
}

#[test]
fn case_sensitivity_is_a_setting() {
    let p = props(json!({"plan": "Pro"}));
    let rec = EventRecord { name: "e", time_ms: T, distinct_id: "u", insert_id: "i", properties: &p, user: None };
    let run = |src: &str, case_sensitive: bool| {
        Program::parse(src, Scope::Event, Options { case_sensitive, ..Options::default() }).unwrap().matches(&rec)
    };
    assert!(run(r#"properties["plan"] == "pro""#, false));
    assert!(!run(r#"properties["plan"] == "pro""#, true));
    assert!(run(r#""RO" in properties["plan"]"#, false));
    assert!(!run(r#""RO" in properties["plan"]"#, true));
}

fn err(src: &str, scope: Scope) -> String {
    match Program::parse(src, scope, Options::default()) {
        Ok(_) => panic!("{src} should be refused"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn errors_say_what_and_where() {
    let cases = [
        ("fooo(1)", "unknown function `fooo` at 1"),
        (r#"properties["a"] == fooo (1)"#, "unknown function `fooo` at 20"),
        (r#"properties["a""#, "expected `]` after property name, found the end of the expression at 15"),
        ("properties[a]", "expected a quoted property name after `properties[`, found `a` at 12"),
        ("1 +", "expected a value, found the end of the expression at 4"),
        ("(1 == 1", "expected `)` to close the parenthesis, found the end of the expression at 8"),
        ("1 < 2 < 3", "comparisons cannot be chained; combine them with `and` or add parentheses at 7"),
        ("\"abc", "unterminated string at 1"),
        ("1 # 2", "unexpected character `#` at 3"),
        ("", "the expression is empty at 1"),
        ("X == 1", "unknown name `X`; a bare name is only valid inside any, all, filter, map or let at 1"),
        ("defined(1, 2)", "`defined` takes 1 argument, got 2 at 1"),
        ("ifs(true)", "`ifs` takes at least 2 arguments, got 1 at 1"),
        ("any(\"X\", [1], true)", "the first argument of `any` must be a bare name such as X at 5"),
        ("1 and true", "`and` needs true/false operands, but this is a number at 1"),
        ("regex_match(\"a\", \"(\")", "invalid regular expression \"(\": unclosed group at 18"),
        ("split(\"a\", \"ab\")", "the `split` delimiter must be one ASCII character at 12"),
        (r#"event["colour"] == 1"#, "`event[\"colour\"]` is not an event field"),
        (r#"behaviors["b"] > 0"#, "`behaviors[...]` is only available in profile queries at 1"),
    ];
    for (src, want) in cases {
        let got = err(src, Scope::Event);
        assert!(got.starts_with(want), "{src}: got {got:?}, want {want:?}");
    }
    assert!(err(r#"event["$time"] > 0"#, Scope::Profile).contains("only available in event queries"));
}

#[test]
fn leniency() {
    for src in [
        r#"properties["a"] = 1 AND properties["b"] == 2 Or NOT defined (properties["c"])"#,
        r#"TRUE and False"#,
        r#"'single' == "single""#,
        r#"properties["x"] not in ["a", "b"]"#,
        r#"1.5e3 > .5"#,
    ] {
        parse(src).unwrap_or_else(|e| panic!("{src}: {e}"));
    }
    assert_eq!(eval("'single' == \"single\"", json!({})), Value::Bool(true));
}

#[test]
fn limits() {
    let deep = format!("{}1{}", "(".repeat(200), ")".repeat(200));
    let e = parse(&deep).unwrap_err();
    assert_eq!(e.kind, sextant_expr::ErrorKind::TooLarge);
    let nots = format!("{}true", "not ".repeat(10_000));
    assert_eq!(parse(&nots).unwrap_err().kind, sextant_expr::ErrorKind::TooLarge);
    let negs = format!("{}1", "-".repeat(100_000));
    assert!(parse(&negs).is_err());
    let long = format!("\"{}\"", "a".repeat(30_000));
    assert_eq!(parse(&long).unwrap_err().kind, sextant_expr::ErrorKind::TooLarge);
    // Long but flat is fine.
    let flat = vec![r#"properties["a"] == 1"#; 300].join(" or ");
    parse(&flat).unwrap();
}

/// `let(a, "xxxxxxxxxx", let(b, a+a+…, let(c, b+b+…, …)))`, `levels` deep, each level
/// `width` copies of the one before.
fn let_tower(levels: usize, width: usize) -> String {
    let names: Vec<String> = (0..=levels).map(|i| format!("v{i}")).collect();
    let mut src = String::new();
    src.push_str(&format!("let({}, \"xxxxxxxxxx\", ", names[0]));
    for i in 1..=levels {
        let sum = vec![names[i - 1].as_str(); width].join("+");
        src.push_str(&format!("let({}, {sum}, ", names[i]));
    }
    src.push_str(&format!("{} == \"y\"", names[levels]));
    src.push_str(&")".repeat(levels + 1));
    src
}

#[test]
fn growth_through_let_is_refused_before_anything_is_built() {
    // 10 * 40^3 = 640,000 bytes once expanded: over the limit, refused by the check
    // (not by running out of memory building it), with a message naming the limit.
    let src = let_tower(3, 40);
    assert!(src.len() < sextant_expr::MAX_LENGTH);
    let e = Program::parse(&src, Scope::Event, Options::default()).unwrap_err();
    assert_eq!(e.kind, sextant_expr::ErrorKind::TooLarge);
    assert!(e.message.contains(&sextant_expr::MAX_EXPANDED.to_string()), "{e}");
    // Six levels (about 41 GB) is refused just as fast: sizes saturate.
    assert!(Program::parse(&let_tower(6, 40), Scope::Event, Options::default()).is_err());
    // Two levels (16,000 bytes) is an ordinary expression, evaluated and compiled.
    assert_eq!(eval(&let_tower(2, 40), json!({})), Value::Bool(false));
    let ok = Program::parse(&let_tower(2, 40), Scope::Event, Options::default()).unwrap();
    sextant_expr::sql::Compiler::new(&ok, &sextant_expr::sql::DuckDb, &Default::default()).predicate().unwrap();
}

#[test]
fn the_compiler_declines_before_its_text_grows_past_the_budget() {
    // Nested arithmetic on a property doubles the SQL text at each level without any
    // `let`; the compiler gives up early (the interpreter then runs it) instead of
    // building megabytes first.
    let mut src = String::from("properties[\"n\"]");
    for _ in 0..40 {
        src = format!("if(defined({src}), {src}, 1)");
        if src.len() > 15_000 {
            break;
        }
    }
    let p = Program::parse(&format!("{src} > 1"), Scope::Event, Options::default()).unwrap();
    let compiled = sextant_expr::sql::Compiler::new(&p, &sextant_expr::sql::DuckDb, &Default::default()).predicate();
    if let Ok(sql) = compiled {
        assert!(sql.len() <= 256 * 1024);
    }
}

#[test]
fn strings_longer_than_the_cap_are_undefined() {
    let big = "x".repeat(600_000);
    let p = props(json!({ "s": big }));
    assert_eq!(eval_on(r#"defined(properties["s"] + properties["s"])"#, &p, None), Value::Bool(false));
    assert!(matches!(eval_on(r#"properties["s"] + "y""#, &p, None), Value::String(_)));
    // An empty match at every position, each replaced by 10 bytes: 6 MB, refused.
    assert_eq!(eval_on(r#"regex_replace(properties["s"], "", "0123456789")"#, &p, None), Value::Undefined);
    assert_eq!(eval(r#"regex_replace("abc", "b", "$0$0")"#, json!({})), Value::String("abbc".into()));
}

#[test]
fn a_conjunction_of_sources_keeps_each_whole() {
    // Joined as text, `(false) and (true) or (true)` would keep everything.
    assert!(sextant_expr::conjunction("false", "true) or (true").is_err());
    let both = sextant_expr::conjunction(r#"properties["a"] == 1 or true"#, "false").unwrap();
    assert_eq!(eval(&both, json!({"a": 1})), Value::Bool(false));
    let both = sextant_expr::conjunction(r#"properties["a"] == 1 or true"#, "not false").unwrap();
    assert_eq!(eval(&both, json!({})), Value::Bool(true));
}

fn arb_expr() -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![
        (0u32..100_000).prop_map(|n| ExprKind::Literal(Literal::Number(n as f64 / 8.0))),
        "[a-zA-Z \"\\\\é$.\n]{0,6}".prop_map(|s| ExprKind::Literal(Literal::Str(s))),
        any::<bool>().prop_map(|b| ExprKind::Literal(Literal::Bool(b))),
        Just(ExprKind::Literal(Literal::Null)),
        Just(ExprKind::Literal(Literal::Undefined)),
        (prop::sample::select(vec![Source::Properties, Source::User, Source::Event]), "[a-z$ \"]{0,5}")
            .prop_map(|(source, name)| ExprKind::Access { source, name }),
    ]
    .prop_map(Expr::new);
    leaf.prop_recursive(5, 40, 4, |inner| {
        let ops = prop::sample::select(vec![
            BinaryOp::Or,
            BinaryOp::And,
            BinaryOp::Eq,
            BinaryOp::Ne,
            BinaryOp::Lt,
            BinaryOp::Ge,
            BinaryOp::In,
            BinaryOp::Add,
            BinaryOp::Sub,
            BinaryOp::Mul,
            BinaryOp::Rem,
        ]);
        prop_oneof![
            (ops, inner.clone(), inner.clone()).prop_map(|(op, l, r)| ExprKind::Binary {
                op,
                lhs: Box::new(l),
                rhs: Box::new(r)
            }),
            (prop::sample::select(vec![UnaryOp::Neg, UnaryOp::Not]), inner.clone())
                .prop_map(|(op, e)| ExprKind::Unary { op, operand: Box::new(e) }),
            prop::collection::vec(inner.clone(), 0..3).prop_map(ExprKind::List),
            (prop::sample::select(vec![Function::Upper, Function::Defined, Function::Number]), inner.clone())
                .prop_map(|(function, a)| ExprKind::Call { function, args: vec![a] }),
            (inner.clone(), inner.clone())
                .prop_map(|(t, i)| ExprKind::Index { target: Box::new(t), index: Box::new(i) }),
        ]
        .prop_map(Expr::new)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    /// Printing then parsing gives back the same tree.
    #[test]
    fn print_parse_round_trip(e in arb_expr()) {
        let text = e.to_string();
        let back = parse(&text).map_err(|err: ExprError| TestCaseError::fail(format!("{text}: {err}")))?;
        prop_assert_eq!(&back, &e, "{}", text);
    }

    /// Arbitrary text never panics the parser.
    #[test]
    fn parser_never_panics(s in "[a-z()\\[\\]\"'=<>!+*/%, .0-9\\\\-]{0,80}") {
        let _ = parse(&s);
    }
}

mod lookup_tables {
    use std::sync::Arc;

    use serde_json::json;
    use sextant_expr::{EventRecord, LookupTable, Lookups, Options, ProfileRecord, Program, Scope, Target, Value};

    fn songs() -> Arc<LookupTable> {
        let mut t = LookupTable { columns: vec!["id".into(), "artist".into(), "plays".into()], ..Default::default() };
        for (id, artist, plays) in [("s1", "Nina", 10), ("s2", "Miles", 3), ("42", "Answer", 42)] {
            let row = json!({"artist": artist, "plays": plays});
            t.rows.insert(id.into(), row.as_object().unwrap().clone());
        }
        Arc::new(t)
    }

    fn options() -> Options {
        let mut lookups = Lookups::default();
        lookups.insert(Target::Event, "song_id", songs());
        lookups.insert(Target::User, "favourite", songs());
        Options { lookups: Arc::new(lookups), ..Options::default() }
    }

    fn eval_event(src: &str, props: serde_json::Value) -> Value {
        let props = props.as_object().unwrap().clone();
        let user = json!({"favourite": "s2"}).as_object().unwrap().clone();
        let rec = EventRecord {
            name: "play",
            time_ms: 0,
            distinct_id: "u",
            insert_id: "i",
            properties: &props,
            user: Some(&user),
        };
        Program::parse(src, Scope::Event, options()).unwrap().eval(&rec)
    }

    #[test]
    fn mapped_columns_read_as_nested_properties() {
        let p = json!({"song_id": "s1"});
        assert_eq!(eval_event(r#"properties["song_id"]["artist"]"#, p.clone()), Value::String("Nina".into()));
        assert_eq!(eval_event(r#"properties["song_id.artist"]"#, p.clone()), Value::String("Nina".into()));
        assert_eq!(eval_event(r#"properties["song_id.plays"] > 5"#, p.clone()), Value::Bool(true));
        assert_eq!(eval_event(r#"properties["song_id"]["nope"]"#, p.clone()), Value::Undefined);
        assert_eq!(eval_event(r#"properties["song_id"] == "s1""#, p.clone()), Value::Bool(true));
        assert_eq!(eval_event(r#"user["favourite.artist"]"#, p), Value::String("Miles".into()));
    }

    #[test]
    fn keys_are_matched_as_text_and_lists_element_wise() {
        assert_eq!(
            eval_event(r#"properties["song_id.artist"]"#, json!({"song_id": 42})),
            Value::String("Answer".into())
        );
        assert_eq!(eval_event(r#"properties["song_id.artist"]"#, json!({"song_id": "s9"})), Value::Undefined);
        assert_eq!(eval_event(r#"properties["song_id.artist"]"#, json!({})), Value::Undefined);
        assert_eq!(
            eval_event(r#"properties["song_id"]["artist"]"#, json!({"song_id": ["s1", "s9", "s2"]})),
            Value::List(vec![Value::String("Nina".into()), Value::String("Miles".into())])
        );
        assert_eq!(
            eval_event(r#""Miles" in properties["song_id.artist"]"#, json!({"song_id": ["s1", "s2"]})),
            Value::Bool(true)
        );
    }

    #[test]
    fn a_real_dotted_property_wins_and_unmapped_properties_are_untouched() {
        let p = json!({"song_id": "s1", "song_id.artist": "literal", "other": {"artist": "obj"}});
        assert_eq!(eval_event(r#"properties["song_id.artist"]"#, p.clone()), Value::String("literal".into()));
        assert_eq!(eval_event(r#"properties["other"]["artist"]"#, p), Value::String("obj".into()));
    }

    #[test]
    fn profiles_read_their_mapped_properties() {
        let props = json!({"favourite": "s1"}).as_object().unwrap().clone();
        let rec = ProfileRecord { properties: &props, behaviors: None };
        let p = Program::parse(r#"properties["favourite.artist"] == "nina""#, Scope::Profile, options()).unwrap();
        assert!(p.matches(&rec));
    }

    #[test]
    fn dotted_lookups_are_left_to_the_interpreter() {
        let p = Program::parse(r#"properties["song_id.artist"] == "Nina""#, Scope::Event, options()).unwrap();
        assert!(
            sextant_expr::sql::Compiler::new(&p, &sextant_expr::sql::DuckDb, &Default::default()).predicate().is_err()
        );
        let p = Program::parse(r#"properties["x.y"] == "Nina""#, Scope::Event, options()).unwrap();
        assert!(
            sextant_expr::sql::Compiler::new(&p, &sextant_expr::sql::DuckDb, &Default::default()).predicate().is_ok()
        );
    }

    #[test]
    fn references_name_every_dotted_prefix() {
        let e = sextant_expr::parse(r#"properties["a.b.c"] == user["u"]"#).unwrap();
        let refs = sextant_expr::lookup::referenced_properties(&e, Scope::Event);
        assert!(refs.contains(&(Target::Event, "a".into())));
        assert!(refs.contains(&(Target::Event, "a.b".into())));
        assert!(refs.contains(&(Target::User, "u".into())));
    }
}
