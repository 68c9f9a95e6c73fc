//! The `sextant` commands that work over a server's API, against a real server: a
//! 1M-line `import` killed halfway and resumed, exported back with each event exactly
//! once; progress drawn on a pseudo-terminal; CSV in with a column mapping; CSV and
//! Parquet out; `query` as a table, CSV and JSON; completions and the man page.

mod common;

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{TestServer, binary};
use serde_json::Value;

const DAY: i64 = 1_704_067_200; // 2024-01-01T00:00:00Z

/// The flags naming the server and its service account.
fn remote(server: &TestServer) -> Vec<String> {
    vec![
        "--url".into(),
        server.url.clone(),
        "--username".into(),
        server.creds.sa_user.clone(),
        "--secret".into(),
        server.creds.sa_secret.clone(),
        "--project-id".into(),
        server.creds.project_id.to_string(),
    ]
}

fn sextant(args: &[String]) -> Command {
    let mut command = Command::new(binary());
    command.args(args).env("HOME", "/nonexistent").env_remove("SEXTANT_URL");
    command
}

fn checkpoint(path: &Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

#[test]
fn a_killed_import_resumes_and_every_event_comes_back_once() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("events.ndjson");
    // 1M events over 150 days (two export requests), without `$insert_id`s.
    const N: i64 = 1_000_000;
    let mut file = std::io::BufWriter::new(std::fs::File::create(&source).unwrap());
    for i in 0..N {
        let time = DAY + i * (150 * 86_400) / N;
        writeln!(
            file,
            r#"{{"event":"E{}","properties":{{"distinct_id":"u{}","time":{time},"n":{i}}}}}"#,
            i % 5,
            i % 1000
        )
        .unwrap();
    }
    file.flush().unwrap();
    drop(file);
    let source_arg = source.display().to_string();
    let mut args = vec!["import".to_string(), source_arg.clone(), "--no-progress".into()];
    args.extend(remote(&server));

    // Kill it with a third or more acknowledged.
    let mut child = sextant(&args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let checkpoint_path = dir.path().join("events.ndjson.checkpoint.json");
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let done = checkpoint(&checkpoint_path).and_then(|c| c["next_record"].as_i64()).unwrap_or(0);
        if done >= N / 3 {
            break;
        }
        assert!(child.try_wait().unwrap().is_none(), "the import ended before it was killed");
        assert!(Instant::now() < deadline, "no progress: {done} records acknowledged");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let killed_at = checkpoint(&checkpoint_path).unwrap();
    assert!(killed_at["next_record"].as_i64().unwrap() < N, "{killed_at}");
    assert_eq!(killed_at["complete"], false);

    // Resume on a pseudo-terminal (`script`), so the progress bar is drawn.
    let mut resume: Vec<String> = args.iter().filter(|a| *a != "--no-progress").cloned().collect();
    resume.push("--json".into());
    let line =
        std::iter::once(binary().to_string()).chain(resume).map(|a| shell_quote(&a)).collect::<Vec<_>>().join(" ");
    let out = Command::new("script")
        .args(["-qfec", &format!("HOME=/nonexistent {line}"), "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let terminal = String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n");
    assert!(out.status.success(), "{terminal}");
    assert!(terminal.contains("events/s") && terminal.contains("ETA"), "no progress bar drawn: {terminal:.2000}");
    let json_at = terminal.find("{\n").unwrap_or_else(|| panic!("no summary: {terminal:.3000}"));
    let summary: Value = serde_json::from_str(&terminal[json_at..]).unwrap();
    assert_eq!(summary["imported"], N, "{summary}");
    assert_eq!(summary["failed"], 0);
    assert_eq!(summary["skipped"], killed_at["next_record"]);
    assert_eq!(checkpoint(&checkpoint_path).unwrap()["complete"], true);
    // A finished import is not run twice by accident.
    let again = sextant(&args).output().unwrap();
    assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains("--restart"));

    // Export the range (150 days: two requests) once per event.
    let output = dir.path().join("out.jsonl");
    let mut export = vec!["export".into(), "--from".into(), "2024-01-01".into(), "--to".into(), "2024-06-30".into()];
    export.extend(["--dedup".into(), "--no-progress".into(), "-o".into(), output.display().to_string()]);
    export.extend(remote(&server));
    let out = sextant(&export).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&output).unwrap();
    let mut seen = HashSet::new();
    for line in text.lines() {
        let event: Value = serde_json::from_str(line).unwrap();
        let n = event["properties"]["n"].as_i64().unwrap();
        assert!(seen.insert(n), "event {n} came back twice");
        assert_eq!(event["event"], format!("E{}", n % 5));
    }
    assert_eq!(seen.len() as i64, N);
}

fn shell_quote(arg: &str) -> String {
    format!("'{}'", arg.replace('\'', r"'\''"))
}

#[test]
fn csv_in_with_a_mapping_csv_and_parquet_out() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("sales.csv");
    std::fs::write(
        &source,
        "Action,User,When,plan,amount\nBuy,u1,2024-01-01T10:00:00Z,pro,9.5\nBuy,u2,2024-01-01T11:00:00Z,free,3\nRefund,u1,not a time,pro,9.5\n",
    )
    .unwrap();
    // One row a batch: the row that cannot be an event makes a batch of its own,
    // which is answered without a request (the server refuses an empty one).
    let mut args = vec!["import".into(), source.display().to_string(), "--json".into(), "--no-progress".into()];
    args.extend(["--batch-size".into(), "1".into()]);
    args.extend(["--map", "event=Action", "--map", "distinct_id=User", "--map", "time=When"].map(String::from));
    args.extend(remote(&server));
    let out = sextant(&args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((summary["imported"].as_i64(), summary["failed"].as_i64()), (Some(2), Some(1)), "{summary}");
    let failures = std::fs::read_to_string(dir.path().join("sales.csv.failures.ndjson")).unwrap();
    assert!(failures.contains("\"record\":2") && failures.contains("not a time"), "{failures}");

    let export = |format: &str, file: &str| {
        let path = dir.path().join(file);
        let mut args = vec!["export".into(), "--from".into(), "2024-01-01".into(), "--to".into(), "2024-01-01".into()];
        args.extend([
            "--format".into(),
            format.into(),
            "--no-progress".into(),
            "-o".into(),
            path.display().to_string(),
        ]);
        args.extend(remote(&server));
        let out = sextant(&args).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        path
    };
    let csv = std::fs::read_to_string(export("csv", "out.csv")).unwrap();
    let header = csv.lines().next().unwrap();
    for column in ["event", "distinct_id", "time", "plan", "amount"] {
        assert!(header.split(',').any(|c| c == column), "{header}");
    }
    assert_eq!(csv.lines().count(), 3, "{csv}");
    let parquet = export("parquet", "out.parquet");
    let db = duckdb::Connection::open_in_memory().unwrap();
    let (rows, amount): (i64, f64) = db
        .query_row(&format!("SELECT count(*), sum(amount) FROM read_parquet('{}')", parquet.display()), [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((rows, amount), (2, 12.5));

    // Bad flags are explained, not guessed at.
    let mut bad =
        vec!["import".into(), source.display().to_string(), "--restart".into(), "--map".into(), "event=Nope".into()];
    bad.extend(remote(&server));
    let out = sextant(&bad).output().unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("Nope"));
    let out = sextant(&["export".into(), "--from".into(), "2024-01-01".into(), "--to".into(), "2024-01-01".into()])
        .output()
        .unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("--url"));
}

#[test]
fn reports_as_tables_csv_and_json() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("events.ndjson");
    let lines: Vec<String> = (0..30)
        .map(|i| {
            let browser = ["Chrome", "Safari", "Firefox"][i % 3];
            format!(
                r#"{{"event":"Buy","properties":{{"distinct_id":"u{i}","time":{},"$browser":"{browser}"}}}}"#,
                DAY + i as i64 * 60
            )
        })
        .collect();
    std::fs::write(&source, lines.join("\n")).unwrap();
    let mut args = vec!["import".into(), source.display().to_string(), "--no-progress".into()];
    args.extend(remote(&server));
    assert!(sextant(&args).output().unwrap().status.success());

    let query = |extra: &[&str]| {
        let mut args: Vec<String> =
            ["query", "segmentation", "--event", "Buy", "--from", "2024-01-01", "--to", "2024-01-01"]
                .map(String::from)
                .to_vec();
        args.extend(extra.iter().map(|s| s.to_string()));
        args.extend(remote(&server));
        let out = sextant(&args).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let csv = query(&["--on", r#"properties["$browser"]"#, "--csv"]);
    let mut rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.remove(0), "segment,2024-01-01");
    rows.sort();
    assert_eq!(rows, ["Chrome,10", "Firefox,10", "Safari,10"]);
    let table = query(&[]);
    assert!(table.contains("segment") && table.contains("│ Buy") && table.contains("30"), "{table}");
    let json: Value = serde_json::from_str(&query(&["--json"])).unwrap();
    assert_eq!(json["data"]["values"]["Buy"]["2024-01-01"], 30);

    let script = dir.path().join("count.js");
    std::fs::write(&script, "function main() { return Events({from_date: '2024-01-01', to_date: '2024-01-01'}).groupBy([function(e) { return e.properties.$browser; }], mixpanel.reducer.count()); }").unwrap();
    let mut args = vec!["query".into(), "jql".into(), script.display().to_string(), "--csv".into()];
    args.extend(remote(&server));
    let out = sextant(&args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("key,value") && text.contains(r#""[""Chrome""]",10"#), "{text}");

    // A refusal is explained, with the client's hint.
    let mut args: Vec<String> =
        ["query", "segmentation", "--event", "Buy", "--from", "2024-01-01", "--to", "2024-01-01"]
            .map(String::from)
            .to_vec();
    args.extend(["--url".into(), server.url.clone(), "--api-secret".into(), "wrong".into()]);
    let out = sextant(&args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("401") && stderr.contains("hint:"), "{stderr}");
}

#[test]
fn completions_and_the_man_page() {
    let out = sextant(&["completions".into(), "bash".into()]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success() && text.contains("sextant") && text.contains("import"), "{text:.500}");
    let out = sextant(&["man".into()]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success() && text.contains(".TH"), "{text:.500}");
    assert!(text.contains("sextant"));
}
