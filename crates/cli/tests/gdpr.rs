//! GDPR and CCPA jobs over HTTP, at Mixpanel's paths (`gdpr.openapi.yaml`):
//!
//! - a deletion removes people (whole identity clusters, in both merge modes) from
//!   every report, from export, engage and the activity feed, and from every byte of
//!   the data directory, while everyone else's answers stay exactly those of a second
//!   server that never received the people;
//! - a deletion killed halfway finishes after a restart, counting each event once; a
//!   job not yet started is cancelled, one started is not; one request a second;
//! - a retrieval's archive holds what export gives for the people (CCPA: one year),
//!   behind a link that refuses other credentials and expires.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

const DAY: i64 = 86_400_000;

/// The GDPR API's one request a second lifted (the limit's own test keeps it).
const NO_GDPR_LIMIT: &str = "[rate_limits.default.export]\nper_second = 0\nper_hour = 0\n[rate_limits.default.query]\nper_hour = 0\nconcurrent = 0\n[rate_limits.default.gdpr]\nper_second = 0\n";

#[derive(Clone)]
struct Proj {
    id: i64,
    token: String,
    secret: String,
}

fn bootstrap(s: &TestServer) -> Proj {
    Proj { id: s.creds.project_id, token: s.creds.token.clone(), secret: s.creds.secret.clone() }
}

fn original_project(s: &TestServer) -> Proj {
    let p = s.cli_json(&["project", "create", "--name", "orig", "--identity-mode", "original"]);
    Proj {
        id: p["id"].as_i64().unwrap(),
        token: p["token"].as_str().unwrap().into(),
        secret: p["secret"].as_str().unwrap().into(),
    }
}

/// A GDPR-scoped API token of `p`, made by the project's owner service account.
async fn gdpr_token(s: &TestServer, p: &Proj, families: &[&str]) -> String {
    let r = s
        .http
        .post(s.url(&format!("/api/app/projects/{}/api-tokens", p.id)))
        .basic_auth(&p.secret, Some(""))
        .json(&json!({"name": "gdpr", "families": families}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json::<Value>().await.unwrap()["results"]["token"].as_str().unwrap().to_string()
}

async fn import(s: &TestServer, p: &Proj, events: &[Value]) {
    for chunk in events.chunks(1_000) {
        let r =
            s.http.post(s.url("/import?strict=1")).basic_auth(&p.secret, Some("")).json(chunk).send().await.unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }
}

async fn engage_updates(s: &TestServer, updates: &[Value]) {
    let r = s.http.post(s.url("/engage?strict=1")).json(updates).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

/// One person: the id a job names, the events and profile updates sent before the job
/// (`old` from closed days, which reach the cold tier; `new` from today, left hot), and
/// the note every record of theirs carries.
struct Person {
    named_as: String,
    old: Vec<Value>,
    new: Vec<Value>,
    profile: Value,
}

fn ev(name: &str, time: i64, insert_id: String, mut props: Value) -> Value {
    props["time"] = json!(time);
    props["$insert_id"] = json!(insert_id);
    json!({"event": name, "properties": props})
}

/// Simplified ID Merge: a device browses, signs up as a user (the merge), and uses the
/// product on closed days and today. The job names people by user id, or by device.
fn simplified_people(now: i64, note: impl Fn(usize) -> String, n: usize) -> Vec<Person> {
    (0..n)
        .map(|k| {
            let (user, device) = (format!("s-user-{k}"), format!("s-dev-{k}"));
            let note = note(k);
            let company = format!("c{}", k % 3);
            let base = json!({"note": note, "company": company, "$lib": "python"});
            let with = |extra: Value| {
                let mut p = base.clone();
                for (key, v) in extra.as_object().unwrap() {
                    p[key] = v.clone();
                }
                p
            };
            let t = |days: i64, minutes: i64| now - days * DAY + minutes * 60_000 + k as i64 * 1000;
            let mut old = vec![
                ev("Visit", t(40, 0), format!("s{k}-0"), with(json!({"$device_id": device}))),
                ev("Signup", t(40, 30), format!("s{k}-1"), with(json!({"$device_id": device, "$user_id": user}))),
            ];
            for (i, days) in [33, 20, 9, 2].into_iter().enumerate() {
                old.push(ev("Use", t(days, 0), format!("s{k}-u{i}"), with(json!({"$user_id": user, "n": i}))));
            }
            let new = vec![ev("Use", now - 3_600_000 + k as i64 * 1000, format!("s{k}-today"), with(json!({"$user_id": user})))];
            let named_as = if k % 3 == 2 { format!("$device:{device}") } else { user.clone() };
            let profile = json!({"$distinct_id": user, "$set": {"name": format!("Person {k}"), "note": note, "company": [company]}, "$ignore_time": true});
            Person { named_as, old, new, profile }
        })
        .collect()
}

/// Original ID Merge: an anonymous id browses, `$identify` joins it to a user, an alias
/// is created, and the alias and the user are used. The job names the alias or the
/// anonymous id.
fn original_people(now: i64, note: impl Fn(usize) -> String, n: usize) -> Vec<Person> {
    (0..n)
        .map(|k| {
            let (user, anon, alias) =
                (format!("o-user-{k}"), format!("00000000-0000-4000-8000-{k:012}"), format!("o-{k}@example.com"));
            let note = note(k);
            let t = |days: i64| now - days * DAY + k as i64 * 1000;
            let old = vec![
                ev("Browse", t(30), format!("o{k}-0"), json!({"distinct_id": anon, "note": note})),
                ev(
                    "$identify",
                    t(30) + 60_000,
                    format!("o{k}-1"),
                    json!({"distinct_id": user, "$identified_id": user, "$anon_id": anon, "note": note}),
                ),
                ev(
                    "$create_alias",
                    t(20),
                    format!("o{k}-2"),
                    json!({"distinct_id": user, "alias": alias, "note": note}),
                ),
                ev("Use", t(10), format!("o{k}-3"), json!({"distinct_id": alias, "note": note})),
                ev("Use", t(3), format!("o{k}-4"), json!({"distinct_id": user, "note": note})),
            ];
            let new = vec![ev(
                "Use",
                now - 7_200_000 + k as i64 * 1000,
                format!("o{k}-5"),
                json!({"distinct_id": alias, "note": note}),
            )];
            let named_as = if k % 2 == 0 { alias } else { anon };
            let profile = json!({"$distinct_id": user, "$set": {"note": note}, "$ignore_time": true});
            Person { named_as, old, new, profile }
        })
        .collect()
}

/// Sends `people`'s records in two phases: the closed days, a pause long enough for
/// the compactor to move them to the cold tier, then today's.
async fn load(s: &TestServer, p: &Proj, people: &[&Person]) {
    let old: Vec<Value> = people.iter().flat_map(|x| x.old.clone()).collect();
    import(s, p, &old).await;
    let profiles: Vec<Value> = people
        .iter()
        .map(|x| {
            let mut u = x.profile.clone();
            u["$token"] = json!(p.token);
            u
        })
        .collect();
    engage_updates(s, &profiles).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let new: Vec<Value> = people.iter().flat_map(|x| x.new.clone()).collect();
    import(s, p, &new).await;
}

async fn get(s: &TestServer, p: &Proj, path: &str) -> Value {
    let r = s.http.get(s.url(path)).basic_auth(&p.secret, Some("")).send().await.unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{path}: {body}");
    body
}

/// Every exported event of `p` over the last 50 days, by `$insert_id`, as (name,
/// distinct id, note); and the raw lines.
async fn exported(s: &TestServer, p: &Proj) -> (BTreeMap<String, (String, String, String)>, Vec<Value>) {
    let now_s = now_ms() / 1000;
    let url = format!("/api/2.0/export?from_date={}&to_date={}", ymd(now_s - 50 * 86_400), ymd(now_s + 86_400));
    let r = s.http.get(s.url(&url)).basic_auth(&p.secret, Some("")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let lines: Vec<Value> = r.text().await.unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let by_id = lines
        .iter()
        .map(|e| {
            let p = &e["properties"];
            let text = |k: &str| p[k].as_str().unwrap_or_default().to_string();
            (text("$insert_id"), (e["event"].as_str().unwrap().to_string(), text("distinct_id"), text("note")))
        })
        .collect();
    (by_id, lines)
}

/// Every user profile of `p`, as (id, properties).
async fn profiles(s: &TestServer, p: &Proj) -> BTreeMap<String, Value> {
    let r = s
        .http
        .post(s.url("/api/query/engage"))
        .basic_auth(&p.secret, Some(""))
        .form(&[("page_size", "1000")])
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["$distinct_id"].as_str().unwrap().to_string(), r["$properties"].clone()))
        .collect()
}

/// The reports whose answers must not change for anyone but the people deleted.
async fn reports(s: &TestServer, p: &Proj, funnel_id: Option<i64>) -> Vec<Value> {
    let now_s = now_ms() / 1000;
    let (from, to) = (ymd(now_s - 45 * 86_400), ymd(now_s));
    let mut out = vec![
        get(s, p, &format!("/api/query/segmentation?event=Use&from_date={from}&to_date={to}&unit=day")).await["data"]
            .clone(),
        get(s, p, &format!("/api/query/segmentation?event=Use&from_date={from}&to_date={to}&unit=week&type=unique"))
            .await["data"]
            .clone(),
        get(
            s,
            p,
            &format!(
                "/api/query/segmentation?event=Use&from_date={from}&to_date={to}&unit=month&on={}",
                urlencode(r#"properties["company"]"#)
            ),
        )
        .await["data"]
            .clone(),
    ];
    if let Some(id) = funnel_id {
        out.push(
            get(s, p, &format!("/api/query/funnels?funnel_id={id}&from_date={from}&to_date={to}")).await["data"]
                .clone(),
        );
        out.push(
            get(
                s,
                p,
                &format!("/api/query/retention?born_event=Signup&event=Use&from_date={from}&to_date={to}&unit=week"),
            )
            .await,
        );
    }
    out
}

async fn save_funnel(s: &TestServer, p: &Proj) -> i64 {
    let body = json!({"name": "Journey", "steps": [{"event": "Visit"}, {"event": "Signup"}, {"event": "Use"}], "length": 60, "length_unit": "day"});
    let r = s
        .http
        .post(s.url(&format!("/api/app/projects/{}/funnels", p.id)))
        .basic_auth(&p.secret, Some(""))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json::<Value>().await.unwrap()["results"]["funnel_id"].as_i64().unwrap()
}

/// `(status, body)` of a GDPR call with `credential` as bearer.
async fn gdpr(
    s: &TestServer,
    method: reqwest::Method,
    path: &str,
    credential: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = s.http.request(method, s.url(path)).bearer_auth(credential);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// Polls a job until it ends; its last status answer.
async fn wait_for_job(s: &TestServer, kind: &str, id: &str, p: &Proj, credential: &str, limit: Duration) -> Value {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let path = format!("/api/app/{kind}/v3.0/{id}?token={}", p.token);
        let (status, body) = gdpr(s, reqwest::Method::GET, &path, credential, None).await;
        if status == 200
            && ["SUCCESS", "FAILURE", "REVOKED"].contains(&body["results"]["status"].as_str().unwrap_or(""))
        {
            return body;
        }
        assert!(status == 200 || status == 429, "{status}: {body}");
        assert!(std::time::Instant::now() < deadline, "job {id} did not end: {body}");
        tokio::time::sleep(Duration::from_millis(1_100)).await;
    }
}

async fn delete_people(s: &TestServer, p: &Proj, credential: &str, ids: Vec<String>) -> Value {
    let path = format!("/api/app/data-deletions/v3.0?token={}", p.token);
    let (status, created) = gdpr(s, reqwest::Method::POST, &path, credential, Some(json!({"distinct_ids": ids}))).await;
    assert_eq!(status, 201, "{created}");
    let id = created["results"]["task_id"].as_str().unwrap().to_string();
    assert_eq!(created["results"]["tracking_id"], json!(id));
    wait_for_job(s, "data-deletions", &id, p, credential, Duration::from_secs(120)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deletion_leaves_nothing_of_the_people_and_everyone_else_as_they_were() {
    let run = marker();
    let now = now_ms();
    let victim = |k: usize, n: usize| k < n;
    let simplified =
        simplified_people(now, |k| if victim(k, 9) { format!("MARKER{run}s{k}") } else { format!("keep-s{k}") }, 30);
    let original =
        original_people(now, |k| if victim(k, 4) { format!("MARKER{run}o{k}") } else { format!("keep-o{k}") }, 12);

    // Server `a` receives everyone; server `b` only the people who stay.
    let a = TestServer::start_with_config(NO_GDPR_LIMIT);
    let b = TestServer::start_with_config(NO_GDPR_LIMIT);
    let (sa, sb) = (bootstrap(&a), bootstrap(&b));
    let (oa, ob) = (original_project(&a), original_project(&b));
    load(&a, &sa, &simplified.iter().collect::<Vec<_>>()).await;
    load(&a, &oa, &original.iter().collect::<Vec<_>>()).await;
    load(&b, &sb, &simplified.iter().enumerate().filter(|(k, _)| !victim(*k, 9)).map(|(_, p)| p).collect::<Vec<_>>())
        .await;
    load(&b, &ob, &original.iter().enumerate().filter(|(k, _)| !victim(*k, 4)).map(|(_, p)| p).collect::<Vec<_>>())
        .await;
    let (fa, fb) = (save_funnel(&a, &sa).await, save_funnel(&b, &sb).await);
    // An engage query copies the profiles into a snapshot; the markers are on disk.
    assert_eq!(profiles(&a, &sa).await.len(), 30);
    assert!(!files_holding(&a.dir, format!("MARKER{run}").as_bytes()).is_empty(), "the byte search finds markers");
    assert_ne!(reports(&a, &sa, Some(fa)).await, reports(&b, &sb, Some(fb)).await, "the people count before");

    let token = gdpr_token(&a, &sa, &["gdpr"]).await;
    // A retrieval's archive is a file derived from a person: it goes with them.
    let path = format!("/api/app/data-retrievals/v3.0?token={}", sa.token);
    let (status, created) =
        gdpr(&a, reqwest::Method::POST, &path, &token, Some(json!({"distinct_ids": ["s-user-1"]}))).await;
    assert_eq!(status, 201, "{created}");
    let retrieval = created["results"]["task_id"].as_str().unwrap().to_string();
    let got = wait_for_job(&a, "data-retrievals", &retrieval, &sa, &token, Duration::from_secs(60)).await;
    let archive_link = got["results"]["results"].as_str().unwrap().to_string();
    assert!(!archive_link.is_empty(), "{got}");
    let done = delete_people(&a, &sa, &token, simplified[..9].iter().map(|p| p.named_as.clone()).collect()).await;
    assert_eq!(done["results"]["status"], "SUCCESS", "{done}");
    assert_eq!(done["results"]["project_id"], json!(sa.id));
    assert_eq!(done["results"]["compliance_type"], "GDPR");
    assert!(done["results"]["date_requested"].is_string() && done["results"]["requesting_user"].is_string());
    let token_o = gdpr_token(&a, &oa, &["gdpr"]).await;
    let done = delete_people(&a, &oa, &token_o, original[..4].iter().map(|p| p.named_as.clone()).collect()).await;
    assert_eq!(done["results"]["status"], "SUCCESS", "{done}");

    // Everyone else's answers are the answers of a server that never had the people.
    for (pa, pb, funnel) in [(&sa, &sb, Some((fa, fb))), (&oa, &ob, None)] {
        let (ea, _) = exported(&a, pa).await;
        let (eb, _) = exported(&b, pb).await;
        assert_eq!(ea, eb, "export");
        assert!(ea.values().all(|(_, _, note)| !note.starts_with("MARKER")));
        assert_eq!(profiles(&a, pa).await, profiles(&b, pb).await, "engage");
        assert_eq!(
            reports(&a, pa, funnel.map(|f| f.0)).await,
            reports(&b, pb, funnel.map(|f| f.1)).await,
            "reports of project {}",
            pa.id
        );
    }
    let now_s = now_ms() / 1000;
    for id in ["s-user-0", "$device:s-dev-2"] {
        let q = format!(
            "/api/query/stream/query?distinct_ids={}&from_date={}&to_date={}",
            urlencode(&json!([id]).to_string()),
            ymd(now_s - 45 * 86_400),
            ymd(now_s)
        );
        let feed = get(&a, &sa, &q).await;
        assert_eq!(feed["results"]["events"], json!([]), "{id}");
    }
    // The audit record: who, which ids, how much was removed; the ids of the clusters
    // are not kept.
    let jobs = a.cli_json(&["gdpr", "jobs", "--project", &sa.id.to_string()]);
    let job = &jobs[0];
    assert_eq!(job["status"], "SUCCESS");
    assert_eq!(job["events_touched"], json!(9 * 7), "{job}");
    assert_eq!(job["profiles_touched"], json!(9), "{job}");
    assert_eq!(job["erase_ids"], Value::Null);
    assert_eq!(job["distinct_ids"].as_array().unwrap().len(), 9);

    let r = a.http.get(&archive_link).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 410, "the deleted person's archive is gone");

    // Nothing of them is left in any file of the data directory.
    let held = files_holding(&a.dir, format!("MARKER{run}").as_bytes());
    // Where in the event store, by 256 KiB block: which tell a table from free space.
    let store = std::fs::read(a.dir.join("events.duckdb")).unwrap();
    let needle = format!("MARKER{run}");
    let blocks: BTreeSet<usize> = store
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle.as_bytes())
        .map(|(i, _)| i.saturating_sub(12_288) / 262_144)
        .collect();
    assert!(held.is_empty(), "markers left in {held:?}, blocks {blocks:?} of events.duckdb");

    // Deletion is no opt-out: a deleted id sends again and is a new person.
    let back = ev("Use", now - 60_000, "s0-back".into(), json!({"$user_id": "s-user-0"}));
    import(&a, &sa, &[back]).await;
    let (ea, _) = exported(&a, &sa).await;
    assert_eq!(ea["s0-back"].1, "s-user-0");

    // The store's own tables hold none of their ids (the one sent again aside).
    let mut a = a;
    a.stop();
    let conn = duckdb::Connection::open(a.dir.join("events.duckdb")).unwrap();
    let mut clusters: BTreeSet<String> = BTreeSet::new();
    for k in 1..9 {
        clusters.extend([format!("s-user-{k}"), format!("$device:s-dev-{k}")]);
    }
    for k in 0..4 {
        clusters.extend([
            format!("o-user-{k}"),
            format!("00000000-0000-4000-8000-{k:012}"),
            format!("o-{k}@example.com"),
        ]);
    }
    let list = clusters.iter().map(|id| format!("'{}'", id.replace('\'', "''"))).collect::<Vec<_>>().join(",");
    for (table, column) in [
        ("events", "distinct_id"),
        ("profiles", "id"),
        ("identities", "id"),
        ("identities", "canonical"),
        ("engage_snapshots", "id"),
    ] {
        let n: i64 = conn
            .query_row(&format!("SELECT count(*) FROM {table} WHERE {column} IN ({list})"), [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0, "{table}.{column}");
    }
    let n: i64 = conn
        .query_row(&format!("SELECT count(*) FROM events WHERE properties::VARCHAR LIKE '%MARKER{run}%'"), [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(n, 0);
}

/// A deletion killed in its second step finishes after a restart, removing each event
/// once; a job queued behind it is cancelled (it had not started) while the started one
/// is not; the GDPR API takes one request a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deletion_killed_halfway_finishes_after_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let run = marker();
    let now = now_ms();
    // 150 people deleted (300 ids with their devices: three steps of 100), 50 kept;
    // each with events on closed days and today.
    let people =
        simplified_people(now, |k| if k < 150 { format!("MARKER{run}s{k}") } else { format!("keep-s{k}") }, 200);
    let mut s = TestServer::start_in_with_env(&dir, RELAXED_LIMITS, &[("SEXTANT_PAUSE_AT", "erasure-second-step")]);
    let p = bootstrap(&s);
    load(&s, &p, &people.iter().collect::<Vec<_>>()).await;
    let (before, _) = exported(&s, &p).await;
    let token = gdpr_token(&s, &p, &["gdpr"]).await;

    let path = format!("/api/app/data-deletions/v3.0?token={}", p.token);
    let ids: Vec<String> = people[..150].iter().map(|x| x.named_as.clone()).collect();
    let (status, created) = gdpr(&s, reqwest::Method::POST, &path, &token, Some(json!({"distinct_ids": ids}))).await;
    assert_eq!(status, 201, "{created}");
    let first = created["results"]["task_id"].as_str().unwrap().to_string();
    // At once: over the limit of one request a second.
    let (status, body) = gdpr(&s, reqwest::Method::POST, &path, &token, Some(json!({"distinct_ids": ["x"]}))).await;
    assert_eq!(status, 429, "{body}");
    let paused = dir.join("paused-at-erasure-second-step");
    for _ in 0..600 {
        if paused.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(paused.exists(), "the job reached its second step");
    // A second job waits behind the first: cancelled, it never runs.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let (status, second) =
        gdpr(&s, reqwest::Method::POST, &path, &token, Some(json!({"distinct_ids": ["s-user-199"]}))).await;
    assert_eq!(status, 201, "{second}");
    let second = second["results"]["task_id"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let item = |id: &str| format!("/api/app/data-deletions/v3.0/{id}?token={}", p.token);
    let (status, body) = gdpr(&s, reqwest::Method::DELETE, &item(&second), &token, None).await;
    assert_eq!(status, 204, "{body}");
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let (status, body) = gdpr(&s, reqwest::Method::DELETE, &item(&first), &token, None).await;
    assert_eq!((status, body["error_code"].as_str()), (405, Some("METHOD_NOT_ALLOWED")), "{body}");
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let (_, body) = gdpr(&s, reqwest::Method::GET, &item(&first), &token, None).await;
    assert_eq!(body["results"]["status"], "STARTED", "{body}");

    s.kill9();
    std::fs::remove_file(&paused).unwrap();
    let s = TestServer::start_in(&dir);
    let done = wait_for_job(&s, "data-deletions", &first, &p, &token, Duration::from_secs(120)).await;
    assert_eq!(done["results"]["status"], "SUCCESS", "{done}");
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let (_, body) = gdpr(&s, reqwest::Method::GET, &item(&second), &token, None).await;
    assert_eq!(body["results"]["status"], "REVOKED", "{body}");

    // Exactly the 150 people's events went, each counted once in the audit record.
    let (after, _) = exported(&s, &p).await;
    let expected: BTreeMap<_, _> = before.into_iter().filter(|(_, (_, _, note))| !note.starts_with("MARKER")).collect();
    assert_eq!(after, expected);
    let jobs = s.cli_json(&["gdpr", "jobs", "--project", &p.id.to_string()]);
    let job = jobs.as_array().unwrap().iter().find(|j| j["tracking_id"] == json!(first)).unwrap();
    assert_eq!(job["events_touched"], json!(150 * 7), "{job}");
    assert_eq!(job["profiles_touched"], json!(150), "{job}");
    assert_eq!(s.cli_json(&["gdpr", "jobs", "--project", &p.id.to_string()]).as_array().unwrap().len(), 2);
    let held = files_holding(&dir, format!("MARKER{run}").as_bytes());
    assert!(held.is_empty(), "markers left in {held:?}");
}

/// A retrieval's archive is export's lines for the person's whole cluster, then their
/// profile; CCPA reads one year and can disclose names or sources only; the link
/// serves the project's GDPR credentials only, and expires.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_retrieval_archive_is_what_export_gives_and_its_link_expires() {
    // A top-level key: before the tables.
    let config = format!("gdpr_archive_ttl_seconds = 6\n{NO_GDPR_LIMIT}");
    let s = TestServer::start_with_config(&config);
    let p = bootstrap(&s);
    let now = now_ms();
    let mut people = simplified_people(now, |k| format!("note-{k}"), 3);
    // An event from two years ago: GDPR returns it, CCPA does not.
    people[0].old.push(ev("Use", now - 730 * DAY, "s0-old".into(), json!({"$user_id": "s-user-0", "note": "old"})));
    load(&s, &p, &people.iter().collect::<Vec<_>>()).await;
    let company = json!([{"$token": p.token, "$group_key": "company", "$group_id": "c0", "$set": {"name": "Acme"}, "$ignore_time": true}]);
    let r = s.http.post(s.url("/groups?strict=1")).json(&company).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let token = gdpr_token(&s, &p, &["gdpr"]).await;

    let retrieve = |body: Value| {
        let (s, token, path) = (&s, token.clone(), format!("/api/app/data-retrievals/v3.0?token={}", p.token));
        async move {
            let (status, created) = gdpr(s, reqwest::Method::POST, &path, &token, Some(body)).await;
            assert_eq!(status, 201, "{created}");
            let id = created["results"]["task_id"].as_str().unwrap().to_string();
            let done = wait_for_job(s, "data-retrievals", &id, &bootstrap(s), &token, Duration::from_secs(60)).await;
            assert_eq!(done["results"]["status"], "SUCCESS", "{done}");
            tokio::time::sleep(Duration::from_millis(1_100)).await;
            done
        }
    };
    let download = |link: String, credential: String| {
        let s = &s;
        async move {
            let r = s.http.get(link).bearer_auth(credential).send().await.unwrap();
            let status = r.status().as_u16();
            tokio::time::sleep(Duration::from_millis(1_100)).await;
            (status, r.text().await.unwrap())
        }
    };

    // GDPR, named by device: the whole cluster, every year.
    let done = retrieve(json!({"distinct_ids": ["$device:s-dev-0"]})).await;
    assert_eq!(done["results"]["distinct_ids"], json!(["$device:s-dev-0"]));
    let link = done["results"]["results"].as_str().unwrap().to_string();
    assert!(link.starts_with(&s.url("/api/app/data-retrievals/v3.0/")), "{link}");
    let (status, text) = download(link.clone(), token.clone()).await;
    assert_eq!(status, 200, "{text}");
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let (events, rest): (Vec<Value>, Vec<Value>) = lines.into_iter().partition(|l| l.get("event").is_some());
    // Export takes 100 days a request: the days around two years ago, then the last 60.
    let mut export: Vec<Value> = Vec::new();
    let now_s = now / 1000;
    for (from, to) in [(now_s - 735 * 86_400, now_s - 725 * 86_400), (now_s - 60 * 86_400, now_s + 86_400)] {
        let url = format!("/api/2.0/export?from_date={}&to_date={}", ymd(from), ymd(to));
        let r = s.http.get(s.url(&url)).basic_auth(&p.secret, Some("")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let lines = r.text().await.unwrap();
        export.extend(
            lines
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap())
                .filter(|e| e["properties"]["distinct_id"] == "s-user-0"),
        );
    }
    assert_eq!(events.len(), 8);
    assert_eq!(events, export, "the archive's events are export's");
    assert_eq!(rest.len(), 2, "{rest:?}");
    assert_eq!(rest[0]["$distinct_id"], "s-user-0");
    assert_eq!(rest[0]["$properties"]["note"], "note-0");
    assert_eq!(
        rest[1],
        json!({"$group_key": "company", "$group_id": "c0", "$properties": {"name": "Acme"}}),
        "the person's group"
    );

    // The link refuses other credentials: none, a token of another family, the
    // project token alone.
    let other = gdpr_token(&s, &p, &["export"]).await;
    assert_eq!(download(link.clone(), other).await.0, 403);
    let r = s.http.get(&link).send().await.unwrap();
    assert_eq!(r.status(), 401);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(download(link.clone(), p.token.clone()).await.0, 401);

    // CCPA: the last year only; categories are names, sources the means.
    let done = retrieve(json!({"distinct_ids": ["s-user-0"], "compliance_type": "CCPA"})).await;
    let (_, text) = download(done["results"]["results"].as_str().unwrap().to_string(), token.clone()).await;
    let ccpa: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(ccpa.iter().filter(|l| l.get("event").is_some()).count(), 7, "not the event of two years ago");
    let done =
        retrieve(json!({"distinct_ids": ["s-user-0"], "compliance_type": "CCPA", "disclosure_type": "Categories"}))
            .await;
    assert_eq!(done["results"]["disclosure_type"], "Categories");
    let (_, text) = download(done["results"]["results"].as_str().unwrap().to_string(), token.clone()).await;
    assert!(!text.contains("note-0"), "{text}");
    assert!(text.contains(r#""profile_properties":["company","name","note"]"#), "{text}");
    assert!(text.contains(r#"{"event":"Use","properties":["#), "{text}");
    let done =
        retrieve(json!({"distinct_ids": ["s-user-0"], "compliance_type": "CCPA", "disclosure_type": "Sources"})).await;
    let (_, text) = download(done["results"]["results"].as_str().unwrap().to_string(), token.clone()).await;
    assert!(text.contains("python") && text.contains("/engage"), "{text}");

    // Expired: 410, and the archive is gone from the disk.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let (status, body) = download(link, token.clone()).await;
    assert_eq!(status, 410, "{body}");
    let left: Vec<_> = std::fs::read_dir(s.dir.join("gdpr"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".jsonl"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// Bad requests get the App API's errors, before any job is made.
#[tokio::test]
async fn bad_requests_are_refused_in_the_app_shape() {
    let s = TestServer::start_with_config(NO_GDPR_LIMIT);
    let p = bootstrap(&s);
    let token = gdpr_token(&s, &p, &["gdpr"]).await;
    let create = format!("/api/app/data-deletions/v3.0?token={}", p.token);
    let too_many: Vec<String> = (0..2_001).map(|i| format!("u{i}")).collect();
    for (body, field) in [
        (json!({"distinct_ids": too_many}), "distinct_ids"),
        (json!({"distinct_ids": []}), "distinct_ids"),
        (json!({"distinct_ids": ["a"], "compliance_type": "HIPAA"}), "compliance_type"),
        (json!({"distinct_ids": ["a"], "disclosure_type": "Data"}), "disclosure_type"),
        (json!({"ids": ["a"]}), "ids"),
    ] {
        let (status, err) = gdpr(&s, reqwest::Method::POST, &create, &token, Some(body)).await;
        assert_eq!(status, 400, "{err}");
        assert_eq!(err["status"], "error");
        assert!(err["details"]["fields"].get(field).is_some(), "{field}: {err}");
    }
    let (status, err) =
        gdpr(&s, reqwest::Method::POST, "/api/app/data-deletions/v3.0", &token, Some(json!({"distinct_ids": ["a"]})))
            .await;
    assert_eq!(status, 400, "no project token: {err}");
    let other = original_project(&s);
    let path = format!("/api/app/data-deletions/v3.0?token={}", other.token);
    let (status, err) = gdpr(&s, reqwest::Method::POST, &path, &token, Some(json!({"distinct_ids": ["a"]}))).await;
    assert_eq!(status, 403, "another project's token: {err}");
    let analyst = gdpr_token(&s, &p, &["query", "export"]).await;
    let (status, err) = gdpr(&s, reqwest::Method::POST, &create, &analyst, Some(json!({"distinct_ids": ["a"]}))).await;
    assert_eq!(status, 403, "{err}");
    let (status, _) =
        gdpr(&s, reqwest::Method::GET, &format!("/api/app/data-deletions/v3.0/123?token={}", p.token), &token, None)
            .await;
    assert_eq!(status, 404);
    let (status, _) = gdpr(&s, reqwest::Method::POST, &create, &token, Some(json!("not an object"))).await;
    assert_eq!(status, 400);
    assert!(s.cli_json(&["gdpr", "jobs", "--project", &p.id.to_string()]).as_array().unwrap().is_empty());
}

/// Sextant's own opt-out list: what an id on it sends is accepted and dropped, events
/// and profile updates alike, until it is taken off; kept with the CLI or over HTTP
/// (`/api/app/opt-outs/v3.0`, whose changes the server applies at once).
#[tokio::test]
async fn opted_out_ids_are_dropped_at_ingestion() {
    let s = TestServer::start_with_config(NO_GDPR_LIMIT);
    let p = bootstrap(&s);
    let out = s.cli_json(&["gdpr", "opt-outs", "--project", &p.id.to_string()]);
    assert_eq!(out, json!([]));
    let status = std::process::Command::new(binary())
        .args(["gdpr", "opt-out", "--project", &p.id.to_string(), "--id", "gone", "--id", "also-gone", "--data-dir"])
        .arg(&s.dir)
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(s.cli_json(&["gdpr", "opt-outs", "--project", &p.id.to_string()]), json!(["also-gone", "gone"]));
    // The server reads the lists again within 10 s.
    tokio::time::sleep(Duration::from_secs(11)).await;
    let now = now_ms();
    import(
        &s,
        &p,
        &[
            ev("A", now - 1000, "x1".into(), json!({"distinct_id": "gone"})),
            ev("A", now - 1000, "x2".into(), json!({"$user_id": "also-gone", "$device_id": "d"})),
            ev("A", now - 1000, "x3".into(), json!({"distinct_id": "stays"})),
        ],
    )
    .await;
    engage_updates(
        &s,
        &[
            json!({"$token": p.token, "$distinct_id": "gone", "$set": {"a": 1}}),
            json!({"$token": p.token, "$distinct_id": "stays", "$set": {"a": 1}}),
        ],
    )
    .await;
    let (events, _) = exported(&s, &p).await;
    assert_eq!(events.keys().collect::<Vec<_>>(), ["x3"]);
    assert_eq!(profiles(&s, &p).await.keys().collect::<Vec<_>>(), ["stays"]);
    // Over HTTP, with the GDPR API's credentials: the server applies a change at once.
    let list = |query: &str| {
        let url = s.url(&format!("/api/app/opt-outs/v3.0?token={}{query}", p.token));
        send(s.http.get(url).basic_auth(&p.secret, Some("")))
    };
    let change = |method: reqwest::Method, body: Value| {
        let url = s.url(&format!("/api/app/opt-outs/v3.0?token={}", p.token));
        send(s.http.request(method, url).basic_auth(&p.secret, Some("")).json(&body))
    };
    let (status, body) = change(reqwest::Method::DELETE, json!({"distinct_ids": ["gone", "never-on"]})).await;
    assert_eq!((status, &body["results"]["changed"]), (200, &json!(1)), "{body}");
    let (status, body) = change(reqwest::Method::POST, json!({"distinct_ids": ["late", "also-gone"]})).await;
    assert_eq!((status, &body["results"]["changed"]), (200, &json!(1)), "{body}");
    import(
        &s,
        &p,
        &[
            ev("A", now - 500, "x4".into(), json!({"distinct_id": "gone"})),
            ev("A", now - 500, "x5".into(), json!({"distinct_id": "late"})),
        ],
    )
    .await;
    let (events, _) = exported(&s, &p).await;
    assert_eq!(events.keys().collect::<Vec<_>>(), ["x3", "x4"]);
    // A page at a time, in id order.
    let (status, first) = list("&limit=1").await;
    assert_eq!((status, &first["results"]["distinct_ids"]), (200, &json!(["also-gone"])), "{first}");
    let next = first["results"]["next"].as_str().unwrap().to_string();
    let (_, second) = list(&format!("&limit=1&after={next}")).await;
    assert_eq!(second["results"], json!({"distinct_ids": ["late"]}), "the last page has no next");
    assert_eq!(s.cli_json(&["gdpr", "opt-outs", "--project", &p.id.to_string()]), json!(["also-gone", "late"]));
    // Refused, naming what is wrong; nothing changes.
    for (method, body, field) in [
        (reqwest::Method::POST, json!({"distinct_ids": []}), "distinct_ids"),
        (reqwest::Method::POST, json!({"distinct_ids": ["a", 7]}), "distinct_ids[1]"),
        (reqwest::Method::DELETE, json!({"ids": ["late"]}), "ids"),
    ] {
        let (status, refused) = change(method, body).await;
        assert_eq!(status, 400, "{refused}");
        assert!(refused.to_string().contains(field), "{field}: {refused}");
    }
    let (status, refused) = list("&limit=0").await;
    assert_eq!(status, 400, "{refused}");
    let url = s.url("/api/app/opt-outs/v3.0?token=not-the-token");
    let (status, _) = send(s.http.get(url).basic_auth(&p.secret, Some(""))).await;
    assert_eq!(status, 403);
    assert_eq!(s.cli_json(&["gdpr", "opt-outs", "--project", &p.id.to_string()]), json!(["also-gone", "late"]));
}
