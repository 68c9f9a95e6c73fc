//! The two back ends of the expression language must agree: for random expressions
//! over a fixed set of varied records, the rows the interpreter keeps are exactly the
//! rows DuckDB keeps when it runs the compiled SQL on the same records.
//!
//! An expression the compiler hands back as unsupported is skipped here (the store then
//! filters with the interpreter); the test also counts how many compiled, so a compiler
//! that gave up on everything would fail.

use std::sync::atomic::{AtomicUsize, Ordering};

use duckdb::Connection;
use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use serde_json::{Value as Json, json};
use sextant_expr::ast::{BinaryOp, Expr, ExprKind, Function, Literal, Source, UnaryOp};
use sextant_expr::sql::{Columns, duckdb_predicate};
use sextant_expr::{EventRecord, Options, Program, Scope};

const TIME_MS: i64 = 1_704_164_645_000; // 2024-01-02T03:04:05Z

fn records() -> Vec<serde_json::Map<String, Json>> {
    let values = [
        json!("pro"),
        json!("Pro"),
        json!("free"),
        json!(""),
        json!("2024-01-01T00:00:00"),
        json!("2024-01-02"),
        json!("12"),
        json!("1.5"),
        json!("a,b,c"),
        json!("true"),
        json!("ÉCOLE"),
        json!(0),
        json!(1),
        json!(-2.5),
        json!(12),
        json!(1000),
        json!(true),
        json!(false),
        json!(null),
        json!([1, "pro"]),
        json!(["x", "Pro"]),
        json!([]),
        json!({"k": 1}),
    ];
    let keys = ["a", "b", "c"];
    let mut out = Vec::new();
    // Every value under every key, plus records where keys are missing.
    for (i, v) in values.iter().enumerate() {
        let mut m = serde_json::Map::new();
        m.insert(keys[i % 3].to_string(), v.clone());
        m.insert(keys[(i + 1) % 3].to_string(), values[(i * 7 + 3) % values.len()].clone());
        out.push(m);
        let mut m = serde_json::Map::new();
        m.insert(keys[(i + 2) % 3].to_string(), v.clone());
        out.push(m);
    }
    out.push(serde_json::Map::new());
    // Keys of one kind each (or null, or missing): compiled without type tests when the
    // kinds are known (see `known_columns`).
    let one_kind: [(&str, Vec<Option<Json>>); 3] = [
        (
            "s",
            vec![Some(json!("pro")), Some(json!("Pro")), Some(json!("12")), Some(json!("")), Some(json!(null)), None],
        ),
        ("n", vec![Some(json!(0)), Some(json!(1.5)), Some(json!(12)), Some(json!(-2)), Some(json!(null)), None, None]),
        ("t", vec![Some(json!(true)), Some(json!(false)), None, Some(json!(true))]),
    ];
    for (i, m) in out.iter_mut().enumerate() {
        for (key, values) in &one_kind {
            if let Some(v) = &values[i % values.len()] {
                m.insert(key.to_string(), v.clone());
            }
        }
    }
    out
}

/// Columns that know each top-level key's kinds and which keys hold `null`, as the
/// store's cold tier tells the compiler.
fn known_columns(recs: &[serde_json::Map<String, Json>]) -> Columns {
    use sextant_expr::sql::{Kind, KindSet};
    let mut kinds: std::collections::HashMap<String, KindSet> = std::collections::HashMap::new();
    let mut nullable = std::collections::HashSet::new();
    for m in recs {
        for (k, v) in m {
            let kind = match v {
                Json::Null => {
                    nullable.insert(k.clone());
                    KindSet::NONE
                }
                Json::Bool(_) => KindSet::of(Kind::Bool),
                Json::Number(_) => KindSet::of(Kind::Num),
                Json::String(_) => KindSet::of(Kind::Str),
                Json::Array(_) => KindSet::of(Kind::List),
                Json::Object(_) => KindSet::of(Kind::Object),
            };
            let entry = kinds.entry(k.clone()).or_default();
            *entry = entry.union(kind);
        }
    }
    kinds.insert("missing".into(), KindSet::NONE);
    Columns {
        kinds: Some(std::sync::Arc::new(kinds)),
        nullable: Some(std::sync::Arc::new(nullable)),
        ..Columns::default()
    }
}

/// The columns every expression is compiled against: properties as the cold tier
/// keeps them (VARIANT) and as the hot tier does (JSON text), each without and with
/// what the store knows of their kinds.
fn column_sets(recs: &[serde_json::Map<String, Json>]) -> [Columns; 4] {
    let text = |c: Columns| Columns { properties: "properties_text".into(), properties_text: true, ..c };
    let known = known_columns(recs);
    [Columns::default(), known.clone(), text(Columns::default()), text(known)]
}

fn setup() -> (Connection, Vec<serde_json::Map<String, Json>>) {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE r (id INTEGER, event VARCHAR, time_ms BIGINT, distinct_id VARCHAR, insert_id VARCHAR, \
         properties VARIANT, properties_text JSON)",
    )
    .unwrap();
    let recs = records();
    for (i, m) in recs.iter().enumerate() {
        let time = TIME_MS + i as i64 * 3_600_000;
        conn.execute(
            "INSERT INTO r VALUES (?, ?, ?, ?, ?, CAST(CAST(? AS JSON) AS VARIANT), CAST(? AS JSON))",
            duckdb::params![
                i as i32,
                format!("E{}", i % 3),
                time,
                format!("u{i}"),
                format!("i{i}"),
                Json::Object(m.clone()).to_string(),
                Json::Object(m.clone()).to_string()
            ],
        )
        .unwrap();
    }
    // Compress to the shredded layout too, as the cold tier is.
    conn.execute_batch("CHECKPOINT").unwrap();
    (conn, recs)
}

fn leaf() -> impl Strategy<Value = Expr> {
    let access = prop_oneof![
        prop::sample::select(vec!["a", "b", "c", "s", "n", "t", "missing"])
            .prop_map(|k| ExprKind::Access { source: Source::Properties, name: k.into() }),
        Just(ExprKind::Access { source: Source::Event, name: "$time".into() }),
        Just(ExprKind::Access { source: Source::Event, name: "$event_name".into() }),
        Just(ExprKind::Access { source: Source::Properties, name: "distinct_id".into() }),
    ];
    let literal = prop_oneof![
        prop::sample::select(vec![0.0, 1.0, 2.5, 12.0, 1000.0, 1704067200.0, 3.0])
            .prop_map(|n| ExprKind::Literal(Literal::Number(n))),
        prop::sample::select(vec![
            "pro",
            "PRO",
            "free",
            "",
            "2024-01-01T00:00:00",
            "2024-01-02",
            "12",
            "a",
            "b,",
            "true",
            "école"
        ])
        .prop_map(|s| ExprKind::Literal(Literal::Str(s.into()))),
        any::<bool>().prop_map(|b| ExprKind::Literal(Literal::Bool(b))),
        Just(ExprKind::Literal(Literal::Null)),
        Just(ExprKind::Literal(Literal::Undefined)),
    ];
    prop_oneof![3 => access, 2 => literal].prop_map(Expr::new)
}

fn expr() -> impl Strategy<Value = Expr> {
    leaf().prop_recursive(4, 24, 3, |inner| {
        let binary_ops = prop::sample::select(vec![
            BinaryOp::Or,
            BinaryOp::And,
            BinaryOp::Eq,
            BinaryOp::Ne,
            BinaryOp::Lt,
            BinaryOp::Le,
            BinaryOp::Gt,
            BinaryOp::Ge,
            BinaryOp::In,
            BinaryOp::Add,
            BinaryOp::Sub,
            BinaryOp::Mul,
            BinaryOp::Div,
            BinaryOp::Rem,
        ]);
        let unary = (prop::sample::select(vec![UnaryOp::Neg, UnaryOp::Not]), inner.clone())
            .prop_map(|(op, e)| ExprKind::Unary { op, operand: Box::new(e) });
        let binary = (binary_ops, inner.clone(), inner.clone()).prop_map(|(op, l, r)| ExprKind::Binary {
            op,
            lhs: Box::new(l),
            rhs: Box::new(r),
        });
        let one_arg = prop::sample::select(vec![
            Function::Defined,
            Function::Boolean,
            Function::Number,
            Function::String,
            Function::Floor,
            Function::Round,
            Function::Ceil,
            Function::Datetime,
            Function::Upper,
            Function::Lower,
            Function::Len,
        ]);
        let call1 = (one_arg, inner.clone()).prop_map(|(function, a)| ExprKind::Call { function, args: vec![a] });
        let two_arg = prop::sample::select(vec![
            Function::HasPrefix,
            Function::HasSuffix,
            Function::Min,
            Function::Max,
            Function::Left,
            Function::Right,
            Function::String,
        ]);
        let call2 = (two_arg, inner.clone(), inner.clone())
            .prop_map(|(function, a, b)| ExprKind::Call { function, args: vec![a, b] });
        let three =
            (prop::sample::select(vec![Function::If, Function::Mid]), inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(function, a, b, c)| ExprKind::Call { function, args: vec![a, b, c] });
        let split = (inner.clone(), prop::sample::select(vec![1.0, 2.0, 4.0])).prop_map(|(s, n)| ExprKind::Call {
            function: Function::Split,
            args: vec![
                s,
                Expr::new(ExprKind::Literal(Literal::Str(",".into()))),
                Expr::new(ExprKind::Literal(Literal::Number(n))),
            ],
        });
        let regex =
            (inner.clone(), prop::sample::select(vec!["^p", "o$", "(?-i)^P", "[0-9]+", "a|b"])).prop_map(|(s, p)| {
                ExprKind::Call {
                    function: Function::RegexMatch,
                    args: vec![s, Expr::new(ExprKind::Literal(Literal::Str(p.into())))],
                }
            });
        let list = prop::collection::vec(inner.clone(), 0..3).prop_map(ExprKind::List);
        let any = (prop::sample::select(vec!["a", "b", "c"]), inner.clone()).prop_map(|(k, rhs)| ExprKind::Call {
            function: Function::Any,
            args: vec![
                Expr::new(ExprKind::Var("X".into())),
                Expr::new(ExprKind::Access { source: Source::Properties, name: k.into() }),
                Expr::new(ExprKind::Binary {
                    op: BinaryOp::Eq,
                    lhs: Box::new(Expr::new(ExprKind::Var("X".into()))),
                    rhs: Box::new(rhs),
                }),
            ],
        });
        // `let(L, value, L op (other + L))`: the name read twice, so a long value is
        // bound once (see `sextant_expr::sql`'s `bindings`) and a short one copied.
        let bind = (inner.clone(), inner.clone(), prop::sample::select(vec![BinaryOp::Eq, BinaryOp::Lt, BinaryOp::Or]))
            .prop_map(|(value, other, op)| {
                let name = || Expr::new(ExprKind::Var("L".into()));
                let sum =
                    Expr::new(ExprKind::Binary { op: BinaryOp::Add, lhs: Box::new(other), rhs: Box::new(name()) });
                let body = Expr::new(ExprKind::Binary { op, lhs: Box::new(name()), rhs: Box::new(sum) });
                ExprKind::Call { function: Function::Let, args: vec![name(), value, body] }
            });
        prop_oneof![
            4 => binary,
            2 => unary,
            2 => call1,
            1 => call2,
            1 => three,
            1 => split,
            1 => regex,
            1 => list,
            1 => any,
            1 => bind,
        ]
        .prop_map(Expr::new)
    })
}

/// Expressions that yield true or false, so filters tell records apart.
fn predicate() -> impl Strategy<Value = Expr> {
    let cmp = (
        prop::sample::select(vec![BinaryOp::Eq, BinaryOp::Ne, BinaryOp::Lt, BinaryOp::Ge, BinaryOp::In]),
        prop_oneof![2 => leaf(), 1 => expr()],
        prop_oneof![2 => leaf(), 1 => expr()],
    )
        .prop_map(|(op, l, r)| Expr::new(ExprKind::Binary { op, lhs: Box::new(l), rhs: Box::new(r) }));
    let call = (prop::sample::select(vec![Function::Defined, Function::Boolean]), prop_oneof![leaf(), expr()])
        .prop_map(|(function, a)| Expr::new(ExprKind::Call { function, args: vec![a] }));
    // A property, maybe through a function, against a literal: the common shape of a
    // real filter, and one that splits the records.
    let property = prop::sample::select(vec!["a", "b", "c"])
        .prop_map(|k| Expr::new(ExprKind::Access { source: Source::Properties, name: k.into() }));
    let wrapped = (
        prop::option::of(prop::sample::select(vec![
            Function::Number,
            Function::String,
            Function::Lower,
            Function::Len,
            Function::Datetime,
            Function::Boolean,
            Function::Floor,
        ])),
        property,
    )
        .prop_map(|(f, p)| match f {
            Some(function) => Expr::new(ExprKind::Call { function, args: vec![p] }),
            None => p,
        });
    let typed = (
        prop::sample::select(vec![BinaryOp::Eq, BinaryOp::Ne, BinaryOp::Lt, BinaryOp::Le, BinaryOp::Gt, BinaryOp::In]),
        wrapped,
        leaf(),
        any::<bool>(),
    )
        .prop_map(|(op, p, l, flip)| {
            let (lhs, rhs) = if flip { (l, p) } else { (p, l) };
            Expr::new(ExprKind::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs) })
        });
    let simple = prop_oneof![3 => typed, 2 => cmp, 1 => call, 1 => expr()];
    let not = simple.clone().prop_map(|e| Expr::new(ExprKind::Unary { op: UnaryOp::Not, operand: Box::new(e) }));
    let single = prop_oneof![3 => simple, 1 => not];
    let combined = (prop::sample::select(vec![BinaryOp::And, BinaryOp::Or]), single.clone(), single.clone())
        .prop_map(|(op, l, r)| Expr::new(ExprKind::Binary { op, lhs: Box::new(l), rhs: Box::new(r) }));
    prop_oneof![3 => single, 1 => combined]
}

/// One database for the property tests, never dropped: DuckDB connections held in
/// thread-locals were destroyed as test threads ended, and CI once saw the test binary
/// end with SIGSEGV there.
static SHARED: std::sync::LazyLock<std::sync::Mutex<(Connection, Vec<Record>)>> =
    std::sync::LazyLock::new(|| std::sync::Mutex::new(setup()));

/// One event's properties.
type Record = serde_json::Map<String, Json>;

static COMPILED: AtomicUsize = AtomicUsize::new(0);
static CASES: AtomicUsize = AtomicUsize::new(0);
static NONTRIVIAL: AtomicUsize = AtomicUsize::new(0);
/// Random expressions whose SQL bound a `let` value once rather than copying it.
static BOUND: AtomicUsize = AtomicUsize::new(0);
/// What a value bound once looks like in DuckDB's SQL.
const BINDING: &str = "list_transform([struct_pack(";

fn check(conn: &Connection, recs: &[serde_json::Map<String, Json>], expr: &Expr, case_sensitive: bool) {
    let options = Options { case_sensitive, now_ms: TIME_MS, ..Options::default() };
    let Ok(program) = Program::new(expr.clone(), Scope::Event, options) else { return };
    CASES.fetch_add(1, Ordering::Relaxed);
    let mut compiled = Vec::new();
    for columns in column_sets(recs) {
        match duckdb_predicate(&program, &columns) {
            Ok(sql) => compiled.push(sql),
            Err(_) => return,
        }
    }
    COMPILED.fetch_add(1, Ordering::Relaxed);
    if compiled.iter().any(|sql| sql.contains(BINDING)) {
        BOUND.fetch_add(1, Ordering::Relaxed);
    }
    for sql in compiled {
        check_predicate(conn, recs, expr, &program, &sql);
    }
}

fn check_predicate(
    conn: &Connection,
    recs: &[serde_json::Map<String, Json>],
    expr: &Expr,
    program: &Program,
    sql: &str,
) {
    let query = format!("SELECT id FROM r WHERE {sql} ORDER BY id");
    let mut stmt = conn.prepare(&query).unwrap_or_else(|e| panic!("{expr}\n{query}\n{e}"));
    let got: Vec<i32> = stmt
        .query_map([], |r| r.get(0))
        .unwrap_or_else(|e| panic!("{expr}\n{query}\n{e}"))
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{expr}\n{query}\n{e}"));
    let want: Vec<i32> = recs
        .iter()
        .enumerate()
        .filter(|(i, m)| {
            let record = EventRecord {
                name: &format!("E{}", i % 3),
                time_ms: TIME_MS + *i as i64 * 3_600_000,
                distinct_id: &format!("u{i}"),
                insert_id: &format!("i{i}"),
                properties: m,
                user: None,
            };
            program.matches(&record)
        })
        .map(|(i, _)| i as i32)
        .collect();
    if std::env::var("AGREE_DEBUG").is_ok() {
        eprintln!("{} {expr}", want.len());
    }
    if !want.is_empty() && want.len() < recs.len() {
        NONTRIVIAL.fetch_add(1, Ordering::Relaxed);
    }
    assert_eq!(got, want, "expression: {expr}\nsql: {query}");
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 1500,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(20_261_122),
        ..ProptestConfig::default()
    })]

    #[test]
    fn interpreter_and_duckdb_agree(e in predicate(), case_sensitive in any::<bool>()) {
        let db = SHARED.lock().unwrap_or_else(|p| p.into_inner());
        check(&db.0, &db.1, &e, case_sensitive);
    }
}

#[test]
fn corpus_agrees() {
    let (conn, recs) = setup();
    let corpus = [
        r#"properties["a"] == "pro""#,
        r#"properties["a"] != "pro""#,
        r#"properties["a"] in [1, "pro", 12]"#,
        r#""pro" in properties["a"]"#,
        r#"not "r" in properties["b"]"#,
        r#"defined(properties["a"]) and not defined(properties["b"])"#,
        r#"properties["a"] > 1 and properties["b"] < 100"#,
        r#"event["$time"] >= datetime("2024-01-02T10:00:00")"#,
        r#"properties["$time"] >= datetime(1704200000)"#,
        r#"properties["a"] >= "2024-01-01T00:00:00""#,
        r#"number(properties["a"]) > 1"#,
        r#"string(properties["a"], "undefined") == "undefined""#,
        r#"any(X, properties["a"], X = "pro")"#,
        r#"(boolean(properties["a"]) == true)"#,
        r#"has_prefix(string(properties["a"]), "2024")"#,
        r#"upper(properties["b"]) == "PRO" or len(properties["c"]) == 2"#,
        r#"regex_match(properties["a"], "^p")"#,
        r#"split(properties["a"], ",", 2) == "b""#,
        r#"if(properties["a"] > 5, "big", "small") == "big""#,
        r#"properties["a"] % 5 == 2 or -properties["b"] < 0"#,
        r#"string(properties["a"]) == "12""#,
        r#"string(properties["c"]) == "[1,\"pro\"]""#,
    ];
    for src in corpus {
        let expr = sextant_expr::parse(src).unwrap();
        let options = Options { now_ms: TIME_MS, ..Options::default() };
        let program = Program::new(expr.clone(), Scope::Event, options).unwrap();
        duckdb_predicate(&program, &Columns::default()).unwrap_or_else(|e| panic!("{src}: {e}"));
        check(&conn, &recs, &expr, false);
        check(&conn, &recs, &expr, true);
    }
}

/// A `let` value read several times is written once, however deep the lets nest, and
/// reads the same records as the interpreter: read from a list lambda (`any`), read
/// inside another binding, shadowed, and used in a segment key.
#[test]
fn let_values_read_often_are_written_once() {
    let (conn, recs) = setup();
    let long = r#"upper(string(properties["a"])) + lower(string(properties["b"]))"#;
    let corpus = [
        format!(r#"let(v, {long}, any(X, properties["c"], X == v) or v == "PRO" or has_prefix(v, "1"))"#),
        format!(r#"let(v, {long}, let(w, v + v + v, w == v + v + v and len(w) > 3))"#),
        format!(r#"let(v, {long}, let(v, v + "x", v == "PROx" or v == "x") or v == "PRO")"#),
        format!(r#"any(X, properties["c"], let(v, {long} + string(X), v == "PRO1" or v == "PROpro"))"#),
    ];
    for src in &corpus {
        let expr = sextant_expr::parse(src).unwrap();
        let options = Options { now_ms: TIME_MS, ..Options::default() };
        let program = Program::new(expr.clone(), Scope::Event, options).unwrap();
        let sql = duckdb_predicate(&program, &Columns::default()).unwrap_or_else(|e| panic!("{src}: {e}"));
        if !src.starts_with("any") {
            assert!(sql.contains(BINDING), "{src} copied its value: {sql}");
        }
        check(&conn, &recs, &expr, false);
        check_keys(&conn, &recs, &expr);
    }

    // Each level reads the one before four times: copied, the text grew fourfold a
    // level (tens of kilobytes at three levels); bound, it grows by one level's text.
    let nested = format!(r#"let(a, {long}, let(b, a + a + a + a, let(c, b + b + b + b, c + c + c + c == "x")))"#);
    let program = Program::new(sextant_expr::parse(&nested).unwrap(), Scope::Event, Options::default()).unwrap();
    let sql = duckdb_predicate(&program, &Columns::default()).unwrap();
    assert!(sql.len() < 8_000, "{} bytes of SQL for {nested}", sql.len());
    check(&conn, &recs, &sextant_expr::parse(&nested).unwrap(), false);
}

/// Member names a JSON Pointer or a JSONPath must escape read the same member from the
/// JSON text as from the VARIANT.
#[test]
fn odd_member_names_read_the_same_from_text() {
    let names = ["a/b", "~1", "~0/~", "", "x.y", "q\"uote", "$ünï", "a b", "[0]", "*", "'"];
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch("CREATE TABLE r (id INTEGER, properties VARIANT, properties_text JSON)").unwrap();
    let mut recs = Vec::new();
    for (i, name) in names.iter().enumerate() {
        // Row i has `name` set to i, and its neighbour's name set to null.
        let mut m = serde_json::Map::new();
        m.insert(name.to_string(), json!(i));
        m.insert(names[(i + 1) % names.len()].to_string(), Json::Null);
        let text = Json::Object(m.clone()).to_string();
        conn.execute(
            "INSERT INTO r VALUES (?, CAST(CAST(? AS JSON) AS VARIANT), CAST(? AS JSON))",
            duckdb::params![i as i32, text, text],
        )
        .unwrap();
        recs.push(m);
    }
    let text = Columns { properties: "properties_text".into(), properties_text: true, ..Columns::default() };
    for (i, name) in names.iter().enumerate() {
        let quoted = Json::String(name.to_string()).to_string();
        for src in [format!("properties[{quoted}] == {i}"), format!("defined(properties[{quoted}])")] {
            let expr = sextant_expr::parse(&src).unwrap_or_else(|e| panic!("{src}: {e}"));
            let program = Program::new(expr, Scope::Event, Options::default()).unwrap();
            let want: Vec<i32> = (0..recs.len())
                .filter(|&j| {
                    let record = EventRecord {
                        name: "E",
                        time_ms: TIME_MS,
                        distinct_id: "u",
                        insert_id: "i",
                        properties: &recs[j],
                        user: None,
                    };
                    program.matches(&record)
                })
                .map(|j| j as i32)
                .collect();
            assert!(want.contains(&(i as i32)), "{src}");
            for columns in [Columns::default(), text.clone()] {
                let sql = duckdb_predicate(&program, &columns).unwrap();
                // The text is read member by member, never converted whole.
                assert_eq!(columns.properties_text, sql.contains("json_extract"), "{sql}");
                let query = format!("SELECT id FROM r WHERE {sql} ORDER BY id");
                let got: Vec<i32> = conn
                    .prepare(&query)
                    .unwrap()
                    .query_map([], |r| r.get(0))
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap_or_else(|e| panic!("{query}: {e}"));
                assert_eq!(got, want, "{src} with properties_text = {}\n{query}", columns.properties_text);
            }
        }
    }
}

#[test]
fn most_random_expressions_compile() {
    interpreter_and_duckdb_agree();
    let (compiled, cases) = (COMPILED.load(Ordering::Relaxed), CASES.load(Ordering::Relaxed));
    let nontrivial = NONTRIVIAL.load(Ordering::Relaxed);
    let bound = BOUND.load(Ordering::Relaxed);
    eprintln!(
        "{compiled} of {cases} expressions compiled; {nontrivial} kept some records and dropped others; \
         {bound} bound a `let` value once"
    );
    assert!(bound > 0, "no random expression bound a `let` value");
    assert!(nontrivial * 8 >= compiled, "too few expressions told records apart: {nontrivial}");
    assert!(compiled * 10 >= cases * 8, "only {compiled} of {cases} expressions compiled to SQL");
}

static KEYS_COMPILED: AtomicUsize = AtomicUsize::new(0);
static KEYS_CASES: AtomicUsize = AtomicUsize::new(0);

/// `on` segment keys: DuckDB's (scalar or list column) against the interpreter's.
fn check_keys(conn: &Connection, recs: &[serde_json::Map<String, Json>], expr: &Expr) {
    let options = Options { now_ms: TIME_MS, ..Options::default() };
    let Ok(program) = Program::new(expr.clone(), Scope::Event, options) else { return };
    KEYS_CASES.fetch_add(1, Ordering::Relaxed);
    let mut compiled = Vec::new();
    for columns in column_sets(recs) {
        let Ok(keys) = sextant_expr::sql::duckdb_segment_key(&program, &columns) else { return };
        compiled.push(keys);
    }
    KEYS_COMPILED.fetch_add(1, Ordering::Relaxed);
    for keys in compiled {
        check_key_sql(conn, recs, expr, &program, &keys);
    }
}

fn check_key_sql(
    conn: &Connection,
    recs: &[serde_json::Map<String, Json>],
    expr: &Expr,
    program: &Program,
    keys: &sextant_expr::sql::SegmentKeySql,
) {
    let list = keys.list().unwrap_or_else(|| "NULL".into());
    let query = format!("SELECT id, CAST({} AS VARCHAR), CAST({list} AS VARCHAR[]) FROM r ORDER BY id", keys.scalar);
    let mut stmt = conn.prepare(&query).unwrap_or_else(|e| panic!("{expr}\n{query}\n{e}"));
    let got: Vec<Vec<String>> = stmt
        .query_map([], |r| {
            let scalar: Option<String> = r.get(1)?;
            let list: Option<Vec<String>> = match r.get_ref(2)? {
                duckdb::types::ValueRef::Null => None,
                _ => match r.get::<_, duckdb::types::Value>(2)? {
                    duckdb::types::Value::List(items) => Some(
                        items
                            .into_iter()
                            .filter_map(|v| match v {
                                duckdb::types::Value::Text(s) => Some(s),
                                _ => None,
                            })
                            .collect(),
                    ),
                    _ => None,
                },
            };
            let mut keys = list.unwrap_or_else(|| scalar.into_iter().collect());
            keys.sort();
            Ok(keys)
        })
        .unwrap_or_else(|e| panic!("{expr}\n{query}\n{e}"))
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{expr}\n{query}\n{e}"));
    let want: Vec<Vec<String>> = recs
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let record = EventRecord {
                name: &format!("E{}", i % 3),
                time_ms: TIME_MS + i as i64 * 3_600_000,
                distinct_id: &format!("u{i}"),
                insert_id: &format!("i{i}"),
                properties: m,
                user: None,
            };
            let mut keys = program.segment_keys(&record);
            keys.sort();
            keys
        })
        .collect();
    assert_eq!(got, want, "expression: {expr}\nsql: {query}");
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 800,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(20_261_123),
        ..ProptestConfig::default()
    })]

    #[test]
    fn segment_keys_agree(e in expr()) {
        let db = SHARED.lock().unwrap_or_else(|p| p.into_inner());
        check_keys(&db.0, &db.1, &e);
    }
}

#[test]
fn segment_key_corpus_agrees_and_most_keys_compile() {
    let (conn, recs) = setup();
    for src in [
        r#"properties["a"]"#,
        r#"properties["c"]"#,
        r#"properties["a"] > 1"#,
        r#"upper(properties["b"])"#,
        r#"number(properties["a"])"#,
        r#"if(defined(properties["a"]), "set", "unset")"#,
        // SQL's least/greatest skip NULLs; min and max of undefined are undefined.
        r#"max(len(false), 0)"#,
        r#"min(properties["a"], 1)"#,
    ] {
        let expr = sextant_expr::parse(src).unwrap();
        let program = Program::new(expr.clone(), Scope::Event, Options::default()).unwrap();
        sextant_expr::sql::duckdb_segment_key(&program, &Columns::default()).unwrap_or_else(|e| panic!("{src}: {e}"));
        check_keys(&conn, &recs, &expr);
    }
    segment_keys_agree();
    let (compiled, cases) = (KEYS_COMPILED.load(Ordering::Relaxed), KEYS_CASES.load(Ordering::Relaxed));
    eprintln!("{compiled} of {cases} `on` expressions compiled");
    assert!(compiled * 10 >= cases * 7, "only {compiled} of {cases} `on` expressions compiled to SQL");
}
