//! What every abuse test checks besides the attacker's answer: the server is alive, a
//! well-behaved client of another project kept being served within a bound while the
//! attack ran, and every event it was told was stored comes back from export once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::*;

/// The loopback address the well-behaved client sends from: another client than the
/// attacker (which sends from 127.0.0.1, or [`attacker`]'s address), as it would be on
/// the internet, so that failures charged to the attacker's address are not its own.
pub const BYSTANDER_ADDRESS: &str = "127.0.0.2";

/// An HTTP client sending from 127.0.0.3, a client address of its own.
pub fn attacker() -> reqwest::Client {
    reqwest::Client::builder()
        .local_address("127.0.0.3".parse::<std::net::IpAddr>().unwrap())
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

/// Held by each abuse test for its whole run: the tests run one at a time, so that the
/// bound on the well-behaved client's wait measures the attack, not eleven other servers
/// sharing the machine's two cores.
pub async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

/// A project of its own for the well-behaved client.
pub struct Project {
    pub token: String,
    pub secret: String,
}

/// Creates another project on `s`.
pub fn other_project(s: &TestServer) -> Project {
    let p = s.cli_json(&["project", "create", "--name", &format!("bystander-{}", marker())]);
    Project { token: p["token"].as_str().unwrap().into(), secret: p["secret"].as_str().unwrap().into() }
}

/// A client that sends one `/track` event at a time, in a loop, until stopped.
pub struct Bystander {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Served>,
    secret: String,
    url: String,
}

/// What the bystander saw.
pub struct Served {
    /// `$insert_id`s of the events answered `1`.
    pub stored: Vec<String>,
    /// Requests that did not answer `1`, with why.
    pub failures: Vec<String>,
    /// The slowest answer.
    pub worst: Duration,
}

impl Bystander {
    /// Starts sending to `s` for a project of its own, created for it.
    pub fn beside(s: &TestServer) -> Bystander {
        Bystander::start(s, &other_project(s))
    }

    /// Starts sending to `s` for `p`.
    pub fn start(s: &TestServer, p: &Project) -> Bystander {
        let stop = Arc::new(AtomicBool::new(false));
        let (url, token, flag) = (s.url("/track"), p.token.clone(), stop.clone());
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .local_address(BYSTANDER_ADDRESS.parse::<std::net::IpAddr>().unwrap())
            .build()
            .unwrap();
        let task = tokio::spawn(async move {
            let mut served = Served { stored: Vec::new(), failures: Vec::new(), worst: Duration::ZERO };
            let mut n = 0;
            while !flag.load(Ordering::Relaxed) && n < 10_000 {
                n += 1;
                let id = format!("bystander-{n}-{}", &marker()[..8]);
                let event = json!({"event": "Calm", "properties": {
                    "token": token, "distinct_id": "calm-user", "$insert_id": id, "time": now_ms() / 1000}});
                let started = Instant::now();
                let answer = http.post(&url).json(&json!([event])).send().await;
                served.worst = served.worst.max(started.elapsed());
                match answer {
                    Ok(r) => {
                        let status = r.status();
                        let body = r.text().await.unwrap_or_default();
                        if status == 200 && body == "1" {
                            served.stored.push(id);
                        } else {
                            served.failures.push(format!("{status}: {body:.200}"));
                        }
                    }
                    Err(e) => served.failures.push(e.to_string()),
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            served
        });
        Bystander { stop, task, secret: p.secret.clone(), url: s.url("") }
    }

    /// Stops the client and checks what it saw: every request served, none slower than
    /// `bound`, and each stored event exported exactly once.
    pub async fn finish(self, bound: Duration) {
        // Let it run a little past the attack, so it is measured after it too.
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.stop.store(true, Ordering::Relaxed);
        let served = self.task.await.unwrap();
        assert!(served.failures.is_empty(), "the well-behaved client was refused: {:?}", served.failures);
        assert!(!served.stored.is_empty(), "the well-behaved client sent nothing");
        assert!(served.worst < bound, "the well-behaved client waited {:?} (bound {bound:?})", served.worst);
        let (from, to) = chrono_like_today();
        let export = reqwest::Client::new()
            .get(format!("{}/api/2.0/export?from_date={from}&to_date={to}&event=%5B%22Calm%22%5D", self.url))
            .basic_auth(&self.secret, Some(""))
            .send()
            .await
            .unwrap();
        assert_eq!(export.status(), 200);
        let text = export.text().await.unwrap();
        let mut exported: Vec<String> = text
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["properties"]["$insert_id"].as_str().unwrap().to_string()
            })
            .collect();
        exported.sort();
        let mut stored = served.stored;
        stored.sort();
        assert_eq!(exported, stored, "every acknowledged event exported exactly once");
    }
}

/// The server still answers.
pub async fn alive(s: &TestServer) {
    let r = reqwest::get(s.url("/healthz")).await.expect("the server is down");
    assert_eq!(r.status(), 200);
}

/// A GET with the project secret: (status, body as JSON or as a string).
pub async fn get_json(s: &TestServer, path_and_query: &str) -> (u16, Value) {
    let r = s.http.get(s.url(path_and_query)).basic_auth(&s.creds.secret, Some("")).send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}
