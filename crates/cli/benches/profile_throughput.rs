//! Profile update throughput of the real server over loopback, and engage query time.
//!
//! Run: `cargo bench --workspace --bench profile_throughput` (optionally
//! `-- UPDATES PROFILES CONNECTIONS`, default 1000000 updates over 100000 profiles from 4
//! connections). Prints a table. The issue's target: at least 50,000 updates/s.
//!
//! Rows measured:
//! - `/engage` `$set`: batches of 2000 updates (JSON array bodies), each acknowledged
//!   (durable) before the connection sends the next;
//! - in-memory fold: the same updates applied with `model::profile::apply` to a hash
//!   map, no I/O: the ceiling the storage path is measured against;
//! - engage query with a `where`: page 0 (which snapshots every match) and then every
//!   page of the snapshot;
//! - engage query without a filter, every profile.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};
use sextant_ingest::{ProfileKind, normalize_profile_update};
use sextant_model::profile::apply;
use sextant_model::{ProfileKey, ProjectId, Properties};

#[path = "../tests/common/mod.rs"]
mod common;

const BATCH: usize = 2000;
const PLANS: [&str; 3] = ["free", "pro", "enterprise"];
const CITIES: [&str; 5] = ["Paris", "Berlin", "Lagos", "Lima", "Osaka"];

fn update(token: &str, i: usize, profiles: usize) -> Value {
    json!({
        "$token": token,
        "$distinct_id": format!("user-{:06}", i % profiles),
        "$set": {
            "plan": PLANS[i % 3],
            "n": i,
            "$city": CITIES[i % 5],
            "$email": format!("user{}@example.com", i % profiles),
            "score": (i % 1000) as f64 / 10.0,
        }
    })
}

fn row(path: &str, n: usize, seconds: f64, unit: &str) {
    println!("| {:<52} | {:>9} | {:>8.2} | {:>11.0} {:<9} |", path, n, seconds, n as f64 / seconds, unit);
}

async fn send_all(server: &common::TestServer, bodies: Arc<Vec<Vec<u8>>>, connections: usize) -> f64 {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (bodies, next, url) = (bodies.clone(), next.clone(), server.url("/engage"));
        let http = reqwest::Client::new();
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { break };
                let r = http.post(&url).header("Content-Type", "application/json").body(body.clone());
                let text = r.send().await.unwrap().text().await.unwrap();
                assert_eq!(text, "1", "an update batch failed");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    started.elapsed().as_secs_f64()
}

async fn engage_all(server: &common::TestServer, filter: Option<&str>) -> (u64, f64, f64) {
    let http = reqwest::Client::new();
    let started = Instant::now();
    let mut form: Vec<(&str, String)> = Vec::new();
    if let Some(w) = filter {
        form.push(("where", w.to_string()));
    }
    let first: Value = http
        .post(server.url("/api/query/engage"))
        .basic_auth(&server.creds.secret, Some(""))
        .form(&form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let first_page = started.elapsed().as_secs_f64();
    let total = first["total"].as_u64().unwrap();
    let session = first["session_id"].as_str().unwrap().to_string();
    let pages = total.div_ceil(1000);
    let mut seen = first["results"].as_array().unwrap().len() as u64;
    for page in 1..pages {
        let mut f = form.clone();
        f.push(("session_id", session.clone()));
        f.push(("page", page.to_string()));
        let body: Value = http
            .post(server.url("/api/query/engage"))
            .basic_auth(&server.creds.secret, Some(""))
            .form(&f)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        seen += body["results"].as_array().unwrap().len() as u64;
    }
    assert_eq!(seen, total);
    (total, first_page, started.elapsed().as_secs_f64())
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let updates = args.first().copied().unwrap_or(1_000_000);
    let profiles = args.get(1).copied().unwrap_or(100_000);
    let connections = args.get(2).copied().unwrap_or(4);
    let server = common::TestServer::start();
    let token = server.creds.token.clone();

    let records: Vec<Value> = (0..updates).map(|i| update(&token, i, profiles)).collect();
    let bodies: Vec<Vec<u8>> =
        records.chunks(BATCH).map(|c| serde_json::to_vec(&Value::Array(c.to_vec())).unwrap()).collect();
    let mb: usize = bodies.iter().map(Vec::len).sum::<usize>() / 1_000_000;

    println!("\n{updates} $set updates over {profiles} profiles, {connections} connections, {mb} MB of JSON\n");
    println!("| {:<52} | {:>9} | {:>8} | {:>21} |", "path", "n", "seconds", "rate");
    println!("|{:-<54}|{:->11}|{:->10}|{:->23}|", "", "", "", "");

    // The ceiling: the same updates folded in memory.
    let started = Instant::now();
    let mut state: HashMap<ProfileKey, Option<Properties>> = HashMap::new();
    for r in &records {
        let u = normalize_profile_update(&r.to_string(), ProfileKind::User, 1_700_000_000_000)
            .unwrap()
            .into_update(ProjectId(1), false);
        apply(state.entry(u.key.clone()).or_default(), &u);
    }
    row("in-memory fold (parse + apply, one thread)", updates, started.elapsed().as_secs_f64(), "updates/s");

    let seconds = send_all(&server, Arc::new(bodies), connections).await;
    row("/engage $set, batches of 2000", updates, seconds, "updates/s");

    let (total, first, all) =
        engage_all(&server, Some(r#"properties["plan"] == "pro" and properties["score"] >= 50"#)).await;
    row("engage where: page 0 (snapshot of every match)", total as usize, first, "profiles/s");
    row("engage where: every page", total as usize, all, "profiles/s");
    let (total, first, all) = engage_all(&server, None).await;
    row("engage, no filter: page 0", total as usize, first, "profiles/s");
    row("engage, no filter: every page", total as usize, all, "profiles/s");
    println!();
}
