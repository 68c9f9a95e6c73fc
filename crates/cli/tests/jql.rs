//! JQL over HTTP: the corpus under `tests/jql/` (each case a script, optional params
//! and the expected answer or error, against the dataset beside them), and the
//! sandbox's limits, each met by a script that tries to get past it while other
//! queries go on.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

/// Small limits, so the sandbox's tests are quick: a 3-second deadline, 64 MiB of heap,
/// 1 MiB of answer, one script at a time (so a script still running after its answer
/// would make the next one wait for a slot: 429).
const CONFIG: &str = "jql_memory_mb = 64\njql_output_mb = 1\n\
[rate_limits.default.query]\nper_hour = 0\nconcurrent = 0\n\
[rate_limits.default.jql]\nper_hour = 0\nconcurrent = 1\n\
[http]\njql_deadline_seconds = 3\n";

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/jql")
}

/// `2024-01-0DTHH:MM:SSZ` as epoch seconds (the dataset's only form of time).
fn epoch_seconds(iso: &str) -> i64 {
    let day: i64 = iso[8..10].parse().unwrap();
    let hour: i64 = iso[11..13].parse().unwrap();
    1_704_067_200 + (day - 1) * 86_400 + hour * 3_600
}

/// Imports the dataset's events and sets its profiles.
async fn load(s: &TestServer) {
    let dataset: Value =
        serde_json::from_str(&std::fs::read_to_string(corpus().join("dataset.json")).unwrap()).unwrap();
    let mut events = dataset["events"].as_array().unwrap().clone();
    for e in &mut events {
        let t = epoch_seconds(e["properties"]["time"].as_str().unwrap());
        e["properties"]["time"] = json!(t);
    }
    s.import_ok(&events).await;
    let updates: Vec<Value> = dataset["profiles"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(id, p)| json!({"$token": s.creds.token, "$distinct_id": id, "$set": p}))
        .collect();
    let r = s.http.post(s.url("/engage?verbose=1")).json(&updates).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

async fn jql(s: &TestServer, script: &str, params: Option<&str>) -> (u16, Value) {
    let mut form = vec![("script", script.to_string())];
    if let Some(p) = params {
        form.push(("params", p.to_string()));
    }
    send(s.http.post(s.url("/api/query/jql")).basic_auth(&s.creds.secret, Some("")).form(&form)).await
}

/// Equal as JSON, numbers to a millionth.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => (x.as_f64().unwrap() - y.as_f64().unwrap()).abs() < 1e-6,
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_corpus() {
    let s = TestServer::start_with_config(CONFIG);
    load(&s).await;
    let dir = corpus().join("cases");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".js").map(str::to_string))
        .collect();
    names.sort();
    assert!(names.len() >= 40, "the corpus went missing: {names:?}");
    let mut failures = Vec::new();
    for name in &names {
        let read = |ext: &str| std::fs::read_to_string(dir.join(format!("{name}.{ext}"))).ok();
        let script = read("js").unwrap();
        let params = read("params.json");
        let (status, body) = jql(&s, &script, params.as_deref()).await;
        match (read("json"), read("error")) {
            (Some(expected), None) => {
                let expected: Value = serde_json::from_str(&expected).unwrap();
                if status != 200 || !same(&body, &expected) {
                    failures.push(format!("{name}: {status} {body}\n  expected {expected}"));
                }
            }
            (None, Some(message)) => {
                let error = body["error"].as_str().unwrap_or_default();
                if status != 400 || !error.contains(message.trim()) || body["request"] != "/api/query/jql" {
                    failures.push(format!("{name}: {status} {body}\n  expected a 400 saying {message:?}"));
                }
            }
            _ => panic!("{name}: needs exactly one of {name}.json and {name}.error"),
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), names.len(), failures.join("\n"));

    // The script names one property, so its events are first read with that one alone;
    // they reach the answer whole, so they are read again with every property.
    let (status, body) = jql(
        &s,
        "function main() { return Events({from_date: '2024-01-01', to_date: '2024-01-03'}).filter(e => e.properties.amount > 25); }",
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let items: Vec<&Value> = body.as_array().unwrap().iter().map(|e| &e["properties"]["items"]).collect();
    assert_eq!(items, [&json!(2), &json!(5)], "every property of the answer's events: {body}");

    // The legacy path and a missing script.
    let form = [("script", "function main() { return People().reduce(mixpanel.reducer.count()); }")];
    let (status, body) =
        send(s.http.post(s.url("/api/2.0/jql")).basic_auth(&s.creds.secret, Some("")).form(&form)).await;
    assert_eq!((status, body), (200, json!([4])));
    let (status, body) = jql(&s, " ", None).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("script is required"), "{body}");
    let (status, body) = jql(&s, "function main() { return People(); }", Some("{not json")).await;
    assert_eq!(status, 400, "{body}");
}

/// Waits out the one JQL slot of a script that was stopped: it must be free again
/// within a second and a half of the answer.
async fn slot_is_free(s: &TestServer) {
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, body) = jql(s, "function main() { return People().reduce(mixpanel.reducer.count()); }", None).await;
    assert_eq!((status, body), (200, json!([4])), "the stopped script still holds its slot");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_holds() {
    let s = TestServer::start_with_config(CONFIG);
    load(&s).await;
    let segmentation = || async {
        let (status, body) = send(
            s.http
                .get(s.url("/api/query/segmentation?event=view&from_date=2024-01-01&to_date=2024-01-03&type=general"))
                .basic_auth(&s.creds.secret, Some("")),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        body["data"]["values"]["view"].as_object().unwrap().values().map(|v| v.as_i64().unwrap()).sum::<i64>()
    };

    // A runaway loop and a catastrophic regular expression: stopped at the deadline,
    // while a segmentation query next to them answers.
    for script in [
        "function main() { while (true) {} }",
        "function main() { /(a+)+$/.test('a'.repeat(40) + '!'); return People(); }",
        "function main() { return Events({from_date: '2024-01-01', to_date: '2024-01-03'}).map(function (e) { for (;;) {} }); }",
    ] {
        let started = Instant::now();
        let (running, views) = tokio::join!(jql(&s, script, None), async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            segmentation().await
        });
        assert_eq!(views, 5, "segmentation beside {script}");
        let (status, body) = running;
        assert_eq!(status, 503, "{script}: {body}");
        assert_eq!(body["request"], "/api/query/jql", "{body}");
        assert!(started.elapsed() < Duration::from_secs(10), "{script} took {:?}", started.elapsed());
        slot_is_free(&s).await;
    }

    // Memory, stack and output: each a 400 that says which limit.
    for (script, says) in [
        ("function main() { var a = []; for (;;) a.push(new Array(100000).fill(1)); }", "memory limit of 64 MB"),
        ("function main() { var s = 'x'; for (;;) s = s + s; }", "string too long"),
        ("function f(n) { return f(n + 1) + 1; }\nfunction main() { return f(0); }", "stack"),
        (
            "function main() { return Events({from_date: '2024-01-01', to_date: '2024-01-03'}).map(e => 'x'.repeat(200000)); }",
            "more than the limit of 1 MB",
        ),
    ] {
        let (status, body) = jql(&s, script, None).await;
        assert_eq!(status, 400, "{script}: {body}");
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.to_lowercase().contains(&says.to_lowercase()), "{script}: {error}");
        assert_eq!(segmentation().await, 5);
    }

    // Nothing outside the language is reachable.
    let reach = r#"
        var names = ["require", "process", "fetch", "XMLHttpRequest", "setTimeout", "setInterval", "std", "os",
                     "print", "console", "Deno", "Bun", "module", "exports", "WebAssembly", "scriptArgs"];
        var found = names.filter(function (n) { return typeof globalThis[n] !== "undefined"; });
        var viaFunction = (function () { try { return typeof Function("return process")(); } catch (e) { return String(e.name); } })();
        var viaConstructor = typeof ({}).constructor.constructor("return this")().require;
        function main() {
          return People().reduce(mixpanel.reducer.count()).map(function () { return [found, viaFunction, viaConstructor]; });
        }"#;
    let (status, body) = jql(&s, reach, None).await;
    assert_eq!((status, body), (200, json!([[[], "ReferenceError", "undefined"]])));
    for script in [
        "import fs from 'fs';\nfunction main() { return People(); }",
        "function main() { return require('fs'); }",
        "function main() { import('fs'); return People().reduce(mixpanel.reducer.count()); }",
    ] {
        let (status, body) = jql(&s, script, None).await;
        // `import()` finds no loader: its promise never settles, the script goes on.
        if script.contains("import(") {
            assert_eq!((status, body), (200, json!([4])), "{script}");
        } else {
            assert_eq!(status, 400, "{script}: {body}");
        }
    }
    let health = s.http.get(s.url("/readyz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixpanel_utils_runs_jql() {
    let s = TestServer::start_with_config(CONFIG);
    load(&s).await;
    let python = std::env::var("SEXTANT_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients/mixpanel_utils_jql.py");
    let out = std::process::Command::new(&python)
        .arg(&script)
        .args([&s.url, &s.creds.secret])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}; run scripts/test to install mixpanel-utils"));
    assert!(out.status.success(), "mixpanel-utils failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        got["by_name"],
        json!([{"key": ["purchase"], "value": 4}, {"key": ["signup"], "value": 3}, {"key": ["view"], "value": 5}])
    );
    // The same with `format="csv"`: a row per group, the key's parts as columns.
    assert_eq!(got["by_name_csv"], "key.0,value\npurchase,4\nsignup,3\nview,5\n");
    // Its own script: each event as {event, properties: {distinct_id, time in seconds, <chosen>}}.
    assert_eq!(
        got["events"],
        json!([
            {"event": "purchase", "properties": {"distinct_id": "u1", "time": 1_704_186_000, "amount": 30}},
            {"event": "purchase", "properties": {"distinct_id": "u2", "time": 1_704_196_800, "amount": 10}},
            {"event": "purchase", "properties": {"distinct_id": "u3", "time": 1_704_276_000, "amount": 50}},
            {"event": "purchase", "properties": {"distinct_id": "u1", "time": 1_704_283_200, "amount": 20}},
        ])
    );
    let mut pro: Vec<String> = got["people"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["$distinct_id"].as_str().unwrap_or_default().to_string())
        .collect();
    pro.sort();
    assert_eq!(pro, ["u1", "u4"], "{}", got["people"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workspace_narrows_what_scripts_read() {
    let s = TestServer::start_with_config(CONFIG);
    load(&s).await;
    let (status, created) = send(
        s.http
            .post(s.url(&format!("/api/app/projects/{}/workspaces", s.creds.project_id)))
            .basic_auth(&s.creds.secret, Some(""))
            .json(&json!({"name": "Views", "events": ["view"], "hidden_properties": ["ms"]})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let workspace = created["results"]["id"].as_i64().unwrap().to_string();
    let through = |script: &str| {
        let form = [("script", script.to_string()), ("workspace_id", workspace.clone())];
        send(s.http.post(s.url("/api/query/jql")).basic_auth(&s.creds.secret, Some("")).form(&form))
    };
    // Every event: only the shown ones; their hidden property is gone; the store's
    // groupBy narrows the same way.
    let every = "function main() { return Events({from_date: '2024-01-01', to_date: '2024-01-03'})";
    let (status, body) = through(&format!("{every}.map(e => [e.name, e.properties.ms === undefined]); }}")).await;
    assert_eq!(
        (status, body),
        (200, json!([["view", true], ["view", true], ["view", true], ["view", true], ["view", true]]))
    );
    let (status, body) = through(&format!("{every}.groupBy(['name'], mixpanel.reducer.count()); }}")).await;
    assert_eq!((status, body), (200, json!([{"key": ["view"], "value": 5}])));
    // Naming a hidden event, or filtering on a hidden property, is refused.
    for selector in ["{event: 'purchase'}", "{event: 'view', selector: 'properties[\"ms\"] > 100'}"] {
        let script = format!(
            "function main() {{ return Events({{from_date: '2024-01-01', to_date: '2024-01-03', event_selectors: [{selector}]}}); }}"
        );
        let (status, body) = through(&script).await;
        assert_eq!(status, 400, "{selector}: {body}");
    }
}
