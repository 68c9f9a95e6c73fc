//! Test harness: starts the real `sextant` binary on an ephemeral port with a fresh data
//! directory, reads the first-start credentials, and kills the process on drop.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub mod moto;

/// Credentials written to bootstrap.json on first start.
#[derive(Clone, Debug)]
pub struct Creds {
    pub project_id: i64,
    pub token: String,
    pub secret: String,
    pub sa_user: String,
    pub sa_secret: String,
}

/// A running server.
pub struct TestServer {
    child: Option<Child>,
    pub url: String,
    pub addr: String,
    pub dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    pub creds: Creds,
    pub http: reqwest::Client,
    /// `host:port` of the HTTPS listener, when the configuration has a `[tls]` table.
    pub https_addr: Option<String>,
    /// The certificate authority printed in self-signed mode.
    pub ca_cert: Option<PathBuf>,
}

/// Test configuration that lifts the export limits (3 a second, 60 an hour) and the
/// Query API's (60 an hour, 5 at once).
pub const RELAXED_LIMITS: &str = "[rate_limits.default.export]\nper_second = 0\nper_hour = 0\n[rate_limits.default.query]\nper_hour = 0\nconcurrent = 0\n";

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_sextant")
}

impl TestServer {
    /// Starts a server on a new temporary data directory, with the export rate limits
    /// lifted (tests export many times a second); the limits' own tests use
    /// [`TestServer::start_with_config`].
    pub fn start() -> TestServer {
        Self::start_with_config(RELAXED_LIMITS)
    }

    /// Starts a server on a new temporary data directory with `config` as its TOML file.
    pub fn start_with_config(config: &str) -> TestServer {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        let mut server = Self::start_in_with(&dir, config);
        server._tmp = Some(tmp);
        server
    }

    /// Starts a server on `dir` (which may hold data from an earlier run).
    pub fn start_in(dir: &Path) -> TestServer {
        Self::start_in_with(dir, RELAXED_LIMITS)
    }

    pub fn start_in_with(dir: &Path, config: &str) -> TestServer {
        Self::start_in_with_env(dir, config, &[])
    }

    /// Starts a server on `dir` with `config`, and `env` added to its environment.
    pub fn start_in_with_env(dir: &Path, config: &str, env: &[(&str, &str)]) -> TestServer {
        std::fs::create_dir_all(dir).unwrap();
        let config_path = dir.join("test-config.toml");
        std::fs::write(&config_path, config).unwrap();
        let mut child = Command::new(binary())
            .args(["serve", "--listen", "127.0.0.1:0", "--duckdb-memory-limit", "1GB", "--config"])
            .arg(&config_path)
            .arg("--data-dir")
            .arg(dir)
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn sextant");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // Keep reading (and discarding) so the server never blocks on a full pipe.
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.strip_prefix("sextant listening on ") {
                    let _ = tx.send(rest.to_string());
                }
            }
        });
        let wait = || rx.recv_timeout(Duration::from_secs(60)).expect("server did not start within 60 s");
        let first = wait();
        let addr = first.strip_prefix("http://").unwrap().split_whitespace().next().unwrap().to_string();
        // The HTTPS line follows the HTTP one at once when TLS is configured.
        let (https_addr, ca_cert) = if config.contains("[tls]") {
            let line = wait();
            let rest = line.strip_prefix("https://").expect("an https listening line");
            let https_addr = rest.split_whitespace().next().unwrap().to_string();
            let ca = rest.split_once("(clients trust ").map(|(_, p)| PathBuf::from(p.trim_end_matches(')')));
            (Some(https_addr), ca)
        } else {
            (None, None)
        };
        let boot: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("bootstrap.json")).expect("bootstrap.json"))
                .unwrap();
        let creds = Creds {
            project_id: boot["project"]["id"].as_i64().unwrap(),
            token: boot["project"]["token"].as_str().unwrap().to_string(),
            secret: boot["project"]["secret"].as_str().unwrap().to_string(),
            sa_user: boot["service_account"]["username"].as_str().unwrap().to_string(),
            sa_secret: boot["service_account"]["secret"].as_str().unwrap().to_string(),
        };
        TestServer {
            child: Some(child),
            url: format!("http://{addr}"),
            addr,
            dir: dir.to_path_buf(),
            _tmp: None,
            creds,
            // No connection reuse: a 413 answered before the body is read closes the connection.
            http: reqwest::Client::builder().no_gzip().pool_max_idle_per_host(0).build().unwrap(),
            https_addr,
            ca_cert,
        }
    }

    /// `https://localhost:PORT` of the HTTPS listener.
    pub fn https_url(&self, path: &str) -> String {
        let port = self.https_addr.as_deref().expect("no HTTPS listener").rsplit(':').next().unwrap();
        format!("https://localhost:{port}{path}")
    }

    /// A client that trusts the self-signed mode's certificate authority.
    pub fn https_client(&self) -> reqwest::Client {
        let pem = std::fs::read(self.ca_cert.as_ref().expect("no certificate authority")).unwrap();
        reqwest::Client::builder().add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap()).build().unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.url, path)
    }

    /// Imports `events` with the project secret in strict mode and checks they were all taken.
    pub async fn import_ok(&self, events: &[Value]) {
        let r = self
            .http
            .post(self.url("/import?strict=1"))
            .basic_auth(&self.creds.secret, Some(""))
            .json(events)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{:.500}", r.text().await.unwrap_or_default());
    }

    /// The organisation the first start made (`bootstrap.json`).
    pub fn organization(&self) -> i64 {
        let boot: Value =
            serde_json::from_str(&std::fs::read_to_string(self.dir.join("bootstrap.json")).unwrap()).unwrap();
        boot["organization_id"].as_i64().unwrap()
    }

    /// Runs `sextant ARGS --json --data-dir DIR` on this server's data directory.
    pub fn cli_json(&self, args: &[&str]) -> Value {
        let out = Command::new(binary()).args(args).arg("--json").arg("--data-dir").arg(&self.dir).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// A cohort of project 1 made with `sextant cohort create`, from a `where` over
    /// profile properties; answers it as the CLI prints it.
    pub fn cli_cohort(&self, name: &str, where_: &str) -> Value {
        self.cli_json(&["cohort", "create", "--project", "1", "--name", name, "--where", where_])
    }

    /// CPU seconds (user + system) the server process has used so far, read from
    /// `/proc` (benchmarks divide it by the events sent).
    pub fn cpu_seconds(&self) -> f64 {
        self.child.as_ref().map(|c| process_cpu_seconds(&format!("/proc/{}/stat", c.id()))).unwrap_or(0.0)
    }

    /// The server's CPU seconds so far by kind of thread (their names without the
    /// numbers tokio and DuckDB put in them); threads that have ended are not counted.
    #[allow(dead_code)] // only the mixed-load bench reads it
    pub fn thread_cpu_seconds(&self) -> std::collections::BTreeMap<String, f64> {
        let mut out = std::collections::BTreeMap::new();
        let Some(pid) = self.child.as_ref().map(Child::id) else { return out };
        for stat in thread_stats(pid) {
            let kind = stat_name(&stat).trim_end_matches(|c: char| c.is_ascii_digit() || c == '-' || c == '_');
            *out.entry(kind.to_string()).or_insert(0.0) += stat_cpu_seconds(&stat);
        }
        out
    }

    /// Waits until the server is quiet (under 0.3 CPU seconds in 3 s: its compactor and
    /// day timelines done), `most` at the longest.
    pub async fn wait_quiet(&self, most: Duration) {
        let deadline = Instant::now() + most;
        let mut last = self.cpu_seconds();
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_secs(3)).await;
            let now = self.cpu_seconds();
            if now - last < 0.3 {
                return;
            }
            last = now;
        }
    }

    /// (name, nice value) of each of the server's threads, and the main thread's nice
    /// value, read from `/proc`.
    pub fn thread_priorities(&self) -> (Vec<(String, i32)>, i32) {
        let pid = self.child.as_ref().expect("the server runs").id();
        let nice_of = |stat: &str| -> (String, i32) {
            (stat_name(stat).to_string(), stat_fields(stat).get(16).and_then(|f| f.parse().ok()).unwrap())
        };
        let threads = thread_stats(pid).iter().map(|stat| nice_of(stat)).collect();
        let main = nice_of(&std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap()).1;
        (threads, main)
    }

    /// SIGKILL: no shutdown, no checkpoint.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Exports a UTC date range (yesterday..tomorrow by default) with the project secret.
    pub async fn export(&self, extra: &str) -> Vec<Value> {
        let today = chrono_like_today();
        let url = self.url(&format!("/api/2.0/export?from_date={}&to_date={}{extra}", today.0, today.1));
        let resp = self.http.get(url).basic_auth(&self.creds.secret, Some("")).send().await.unwrap();
        assert_eq!(resp.status(), 200, "export failed: {:?}", resp.text().await);
        let text = resp.text().await.unwrap();
        text.lines().map(|l| serde_json::from_str(l).expect("export line is JSON")).collect()
    }

    /// Asks for the deletion of `ids` (a GDPR job, with the project secret) and answers
    /// the job's tracking id.
    pub async fn request_deletion(&self, ids: &[&str]) -> String {
        let deletion = self
            .http
            .post(self.url(&format!("/api/app/data-deletions/v3.0?token={}", self.creds.token)))
            .basic_auth(&self.creds.secret, Some(""))
            .json(&serde_json::json!({ "distinct_ids": ids }));
        let (status, created) = send(deletion).await;
        assert_eq!(status, 201, "{created}");
        created["results"]["task_id"].as_str().map(str::to_string).unwrap_or_default()
    }

    /// Exports everything from 1971 to tomorrow, 100 days at a time is too little, so by windows.
    pub async fn export_range(&self, from: &str, to: &str, extra: &str) -> Vec<Value> {
        let url = self.url(&format!("/api/2.0/export?from_date={from}&to_date={to}{extra}"));
        let resp = self.http.get(url).basic_auth(&self.creds.secret, Some("")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        resp.text().await.unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }
}

/// Every file under `dir`, with how many times `needle` occurs in it.
pub fn files_holding(dir: &std::path::Path, needle: &[u8]) -> Vec<(String, usize)> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                let n = bytes.windows(needle.len()).filter(|w| *w == needle).count();
                if n > 0 {
                    found.push((path.display().to_string(), n));
                }
            }
        }
    }
    found
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// (yesterday, tomorrow) as UTC yyyy-mm-dd, without a date crate.
pub fn chrono_like_today() -> (String, String) {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    (ymd(now - 86_400), ymd(now + 86_400))
}

/// yyyy-mm-dd of a UTC epoch second (civil-from-days).
pub fn ymd(epoch_s: i64) -> String {
    let z = epoch_s.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!("{y:04}-{m:02}-{d:02}")
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

/// A unique marker for one test's events.
pub fn marker() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Events whose `properties.m` equals `m`.
pub fn with_marker<'a>(events: &'a [Value], m: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["properties"]["m"] == m).collect()
}

/// User + system CPU seconds of the process whose `/proc/PID/stat` is at `path`
/// (`/proc/self/stat` for this one); 0 where `/proc` cannot be read.
pub fn process_cpu_seconds(path: &str) -> f64 {
    std::fs::read_to_string(path).map_or(0.0, |stat| stat_cpu_seconds(&stat))
}

/// The `stat` text of each of the process's threads (those that ended while being read
/// are left out).
fn thread_stats(pid: u32) -> Vec<String> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return Vec::new() };
    tasks.flatten().filter_map(|task| std::fs::read_to_string(task.path().join("stat")).ok()).collect()
}

/// The command name in a `stat` text: in parentheses, and it may hold spaces.
fn stat_name(stat: &str) -> &str {
    stat.split_once('(').and_then(|(_, rest)| rest.rsplit_once(')')).map_or("?", |(name, _)| name)
}

/// The fields after the command name: the state is the first (`stat`'s 3rd field).
fn stat_fields(stat: &str) -> Vec<&str> {
    stat.rsplit_once(')').map_or_else(Vec::new, |(_, rest)| rest.split_whitespace().collect())
}

/// utime plus stime (`stat`'s 14th and 15th fields), in clock ticks of 100 a second.
fn stat_cpu_seconds(stat: &str) -> f64 {
    let fields = stat_fields(stat);
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

pub fn b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

pub fn b64url_nopad(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

pub fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `let(v0, "xxxxxxxxxx", let(v1, v0+v0+…, …))`, `levels` deep, 40 copies a level: a few
/// hundred bytes of source standing for 10 * 40^levels bytes once expanded (the abuse
/// suite's and the mixed-load bench's exploding expression).
pub fn let_tower(levels: usize) -> String {
    let mut src = String::from("let(v0, \"xxxxxxxxxx\", ");
    for i in 1..=levels {
        let sum = vec![format!("v{}", i - 1); 40].join("+");
        src.push_str(&format!("let(v{i}, {sum}, "));
    }
    src.push_str(&format!("v{levels} == \"y\""));
    src.push_str(&")".repeat(levels + 1));
    src
}

/// Sends a request and reads its status and JSON body (`null` when the body is not JSON).
pub async fn send(r: reqwest::RequestBuilder) -> (u16, Value) {
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The benches' events `first..first + n` as a gzipped JSON array: event `i` by user
/// `u{i % users}` for a preload (tag `p`), by `{tag}u{i % users}` for live clients,
/// `$insert_id` `{tag}{i:x}`, at `time(i)`.
pub fn bench_batch(first: u64, n: u64, users: u64, time: impl Fn(u64) -> i64, tag: &str) -> Vec<u8> {
    use std::fmt::Write as _;
    let mut body = String::with_capacity(n as usize * 300);
    body.push('[');
    for i in first..first + n {
        if i > first {
            body.push(',');
        }
        let _ = write!(
            body,
            r#"{{"event":"{}","properties":{{"time":{},"distinct_id":"{}u{}","$insert_id":"{tag}{i:x}","plan":"{}","price":{},"$lib":"python"}}}}"#,
            ["View", "Add", "Buy"][(i % 3) as usize],
            time(i),
            if tag == "p" { "" } else { tag },
            i % users,
            ["free", "pro"][(i % 2) as usize],
            i % 100
        );
    }
    body.push(']');
    gzip(body.as_bytes())
}

const SOURCES: [&str; 3] = ["google", "newsletter", "twitter"];
const PLANS: [&str; 3] = ["free", "pro", "enterprise"];

/// A browser-SDK event as benchmarks send it: `i` picks its name, user and property
/// values; `time` is `t0` (seconds) plus `i * step_ms`.
pub fn realistic_event(i: usize, t0: i64, step_ms: i64) -> Value {
    let browsers = ["Chrome", "Safari", "Firefox", "Edge"];
    let oses = ["Mac OS X", "Windows", "iOS", "Android", "Linux"];
    let events = ["Page View", "Sign Up", "Add To Cart", "Purchase", "Search", "Share", "Login"];
    json!({
        "event": events[i % events.len()],
        "properties": {
            "time": t0 * 1000 + (i as i64) * step_ms,
            "distinct_id": format!("$device:{:x}", (i * 2_654_435_761) % 1_000_003),
            "$insert_id": format!("{:016x}{:08x}", i, i * 31),
            "$device_id": format!("{:x}", (i * 2_654_435_761) % 1_000_003),
            "$browser": browsers[i % 4],
            "$browser_version": 120 + (i % 7),
            "$os": oses[i % 5],
            "$current_url": format!("https://shop.example.com/products/{}?ref=home", i % 500),
            "$initial_referrer": "https://www.google.com/",
            "$initial_referring_domain": "www.google.com",
            "$screen_height": 1080,
            "$screen_width": 1920,
            "mp_lib": "web",
            "$lib_version": "2.60.0",
            "utm_source": SOURCES[i % 3],
            "utm_campaign": format!("spring-{}", i % 12),
            "plan": PLANS[i % 3],
            "price": (i % 100) as f64 * 1.25,
            "items": [format!("sku-{}", i % 50), format!("sku-{}", (i + 7) % 50)],
            "logged_in": i.is_multiple_of(2),
            "mp_page_view_id": format!("pv-{}", i / 5),
        }
    })
}
