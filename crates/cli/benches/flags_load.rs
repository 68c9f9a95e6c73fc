//! Feature flags under SDK load (issue 27): `/flags` evaluated remotely for 50 flags at
//! 5,000 requests/s, and `/flags/definitions` polled with `If-None-Match` at 20,000
//! requests/s, each for SECONDS over loopback from a load generator in this process.
//!
//! Run: `cargo bench --workspace --bench flags_load` (optionally `-- SECONDS`, default
//! 60). The generator is open-loop: each of its connections sends on a fixed schedule,
//! so a server that falls behind cannot slow it down. Latency is counted from when a request went out (tokio's timer
//! wakes on millisecond ticks, which would add up to a millisecond of the generator's
//! own to every figure); how late requests went out after they were due is its own
//! column, so a server that falls behind still shows. Requests are `GET /flags?context=...` as the server SDKs send them
//! (the project token as Basic user, `mp_lib`, `lib_version`), over 1,000 contexts with
//! custom properties; and `GET /flags/definitions` with the current ETag (every answer a
//! 304).
//!
//! Prints one table: requests, achieved rate, p50, p99 and max latency, errors (any
//! answer but 200 for `/flags` or 304 for definitions, and transport errors), and the
//! server's and the generator's CPU (percent of one core). Targets: `/flags` p99 under
//! 2 ms with no errors; definitions p99 under 1 ms. The exit code is 0 whatever the
//! verdicts. The generator shares the machine's cores with the server.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[path = "../tests/common/mod.rs"]
mod common;

const FLAGS: usize = 50;
const CONTEXTS: usize = 1_000;

/// One run's result.
struct Run {
    name: &'static str,
    target_rate: u64,
    seconds: f64,
    latencies_ms: Vec<f64>,
    /// How late each request went out after it was due (the generator's own timer has
    /// millisecond granularity; a server that falls behind makes this grow).
    late_ms: Vec<f64>,
    errors: u64,
    server_cpu: f64,
    bench_cpu: f64,
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
}

fn flag(i: usize) -> Value {
    let rule = match i % 5 {
        0 => json!({"==": [{"var": "platform"}, "web"]}),
        1 => json!({"semver_compare": [{"var": "app_version"}, ">=", "2.1.0"]}),
        2 => json!({"in": [{"var": "country"}, ["US", "CA", "GB"]]}),
        _ => Value::Null,
    };
    json!({
        "name": format!("Flag {i}"), "key": format!("flag_{i}"), "tags": [], "status": "enabled",
        "context": if i % 4 == 3 { "device_id" } else { "distinct_id" }, "serving_method": "server",
        "ruleset": {
            "variants": [
                {"key": "control", "value": false, "is_control": true, "split": 0.5},
                {"key": "treatment", "value": true, "is_control": false, "split": 0.5}
            ],
            "rollout": [
                {"rollout_percentage": 0.5, "variant_splits": {}, "runtime_evaluation_rule": rule},
                {"rollout_percentage": 0.25, "variant_splits": {"control": 0.1, "treatment": 0.9}}
            ],
            "test": {"users": {"qa": "treatment"}}
        }
    })
}

/// One keep-alive HTTP/1.1 connection that sends prepared requests and reads answers
/// (status line, `Content-Length` body): far cheaper than a general client, so the
/// generator leaves the cores to the server.
struct Connection {
    stream: tokio::net::TcpStream,
    buffer: Vec<u8>,
}

impl Connection {
    async fn open(addr: &str) -> std::io::Result<Connection> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Connection { stream, buffer: Vec::with_capacity(64 * 1024) })
    }

    /// Sends `request` and returns the answer's status.
    async fn call(&mut self, request: &[u8]) -> std::io::Result<u16> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        self.stream.write_all(request).await?;
        self.buffer.clear();
        let closed = || std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed");
        let head_end = loop {
            if let Some(at) = self.buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(closed());
            }
            self.buffer.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&self.buffer[..head_end]).to_ascii_lowercase();
        let status = head.get(9..12).and_then(|t| t.parse().ok()).unwrap_or(0);
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while self.buffer.len() < head_end + length {
            let mut chunk = [0u8; 16 * 1024];
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(closed());
            }
            self.buffer.extend_from_slice(&chunk[..n]);
        }
        Ok(status)
    }
}

/// Sends the prepared `requests` (round robin) on `connections` schedules adding up to
/// `rate` a second for `seconds`; `ok` is the status expected.
async fn drive(
    name: &'static str,
    s: &common::TestServer,
    rate: u64,
    seconds: f64,
    connections: usize,
    requests: Arc<Vec<Vec<u8>>>,
    ok: u16,
) -> Run {
    let per_connection = Duration::from_secs_f64(connections as f64 / rate as f64);
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let (server_cpu, bench_cpu) = (s.cpu_seconds(), common::process_cpu_seconds("/proc/self/stat"));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..connections {
        let (requests, addr) = (requests.clone(), s.addr.clone());
        tasks.spawn(async move {
            let mut connection = Connection::open(&addr).await.expect("connect");
            // Spread the connections' schedules over one period.
            tokio::time::sleep(per_connection.mul_f64(c as f64 / connections as f64)).await;
            let mut every = tokio::time::interval(per_connection);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let (mut latencies, mut lateness, mut errors, mut i) = (Vec::new(), Vec::new(), 0u64, c);
            loop {
                let due = every.tick().await;
                let sent = Instant::now();
                if sent >= deadline {
                    break;
                }
                lateness.push(sent.duration_since(due.into_std()).as_secs_f64() * 1000.0);
                match connection.call(&requests[i % requests.len()]).await {
                    Ok(status) if status == ok => {}
                    Ok(_) => errors += 1,
                    Err(_) => {
                        errors += 1;
                        connection = Connection::open(&addr).await.expect("connect again");
                    }
                }
                latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                i += connections;
            }
            (latencies, lateness, errors)
        });
    }
    let (mut latencies_ms, mut late_ms, mut errors) = (Vec::new(), Vec::new(), 0);
    while let Some(done) = tasks.join_next().await {
        let (l, late, e) = done.unwrap();
        latencies_ms.extend(l);
        late_ms.extend(late);
        errors += e;
    }
    latencies_ms.sort_by(f64::total_cmp);
    late_ms.sort_by(f64::total_cmp);
    Run {
        name,
        target_rate: rate,
        seconds: started.elapsed().as_secs_f64(),
        latencies_ms,
        late_ms,
        errors,
        server_cpu: s.cpu_seconds() - server_cpu,
        bench_cpu: common::process_cpu_seconds("/proc/self/stat") - bench_cpu,
    }
}

/// A GET request for `path_and_query`, with the project token as Basic user and
/// `extra` header lines.
fn get(s: &common::TestServer, path_and_query: &str, extra: &str) -> Vec<u8> {
    let auth = common::b64(&format!("{}:", s.creds.token));
    format!("GET {path_and_query} HTTP/1.1\r\nHost: {}\r\nAuthorization: Basic {auth}\r\n{extra}\r\n", s.addr)
        .into_bytes()
}

#[tokio::main]
async fn main() {
    let seconds: f64 =
        std::env::args().skip(1).find(|a| !a.starts_with('-')).and_then(|a| a.parse().ok()).unwrap_or(60.0);
    let s = common::TestServer::start();
    let pid = s.creds.project_id;
    let workspaces: Value = s
        .http
        .get(s.url(&format!("/api/app/projects/{pid}/workspaces")))
        .basic_auth(&s.creds.secret, Some(""))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let workspace = workspaces["results"][0]["id"].as_i64().unwrap();
    for i in 0..FLAGS {
        let r = s
            .http
            .post(s.url(&format!("/api/app/projects/{pid}/workspaces/{workspace}/feature-flags")))
            .basic_auth(&s.creds.secret, Some(""))
            .json(&flag(i))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{:?}", r.text().await);
    }
    let token = s.creds.token.clone();
    let query = format!("token={token}&mp_lib=python&lib_version=5.4.1");
    let evaluations: Vec<Vec<u8>> = (0..CONTEXTS)
        .map(|i| {
            let (platform, version, country) =
                (["web", "ios"][i % 2], ["2.0.0", "2.3.1"][i % 2], ["US", "FR", "GB"][i % 3]);
            let context = json!({
                "distinct_id": format!("user-{i}"), "device_id": format!("device-{i}"),
                "custom_properties": {"platform": platform, "app_version": version, "country": country}
            });
            get(&s, &format!("/flags?context={}&{query}", common::urlencode(&context.to_string())), "")
        })
        .collect();
    let answer: Value = s
        .http
        .get(s.url(&format!("/flags?context={}&{query}", common::urlencode(r#"{"distinct_id":"user-0"}"#))))
        .basic_auth(&token, Some(""))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    eprintln!("a context gets {} of {FLAGS} flags", answer["flags"].as_object().map_or(0, |f| f.len()));
    let r =
        s.http.get(s.url(&format!("/flags/definitions?{query}"))).basic_auth(&token, Some("")).send().await.unwrap();
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    eprintln!("definitions: {} bytes", r.bytes().await.unwrap().len());
    let polls = vec![get(&s, &format!("/flags/definitions?{query}"), &format!("If-None-Match: {etag}\r\n"))];
    let runs = [
        drive("/flags (50 flags)", &s, 5_000, seconds, 64, Arc::new(evaluations), 200).await,
        drive("/flags/definitions 304", &s, 20_000, seconds, 128, Arc::new(polls), 304).await,
    ];

    println!();
    println!(
        "| endpoint | target/s | achieved/s | requests | p50 ms | p99 ms | max ms | late p99 ms | errors | server CPU % | bench CPU % |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &runs {
        let l = &r.latencies_ms;
        println!(
            "| {} | {} | {:.0} | {} | {:.3} | {:.3} | {:.1} | {:.3} | {} | {:.0} | {:.0} |",
            r.name,
            r.target_rate,
            l.len() as f64 / r.seconds,
            l.len(),
            percentile(l, 0.5),
            percentile(l, 0.99),
            l.last().copied().unwrap_or(f64::NAN),
            percentile(&r.late_ms, 0.99),
            r.errors,
            100.0 * r.server_cpu / r.seconds,
            100.0 * r.bench_cpu / r.seconds,
        );
    }
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    let p99 = |r: &Run| percentile(&r.latencies_ms, 0.99);
    println!();
    println!(
        "/flags: p99 {:.3} ms (target < 2 ms, no errors): {}",
        p99(&runs[0]),
        verdict(p99(&runs[0]) < 2.0 && runs[0].errors == 0)
    );
    println!("/flags/definitions 304: p99 {:.3} ms (target < 1 ms): {}", p99(&runs[1]), verdict(p99(&runs[1]) < 1.0));
}
