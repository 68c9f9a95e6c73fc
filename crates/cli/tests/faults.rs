//! Faults the server must come through with nothing acknowledged lost or counted twice
//! (issue "Hold under abuse"): a SIGKILL in the middle of a compaction move and of a
//! day-timeline build, and a data directory whose disk fills up. (A timeline damaged
//! on disk is `a_timeline_damaged_on_disk_is_detected_and_rebuilt` in the DuckDB
//! store's tests.)
//!
//! The kills land at an exact moment: the server runs with `SEXTANT_PAUSE_AT`, stops
//! for good at that point of its work and says so with a file, and the test then kills
//! it (see `sextant_storage_duckdb::pause`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

const DAY_S: i64 = 86_400;

/// Signups yesterday and plays yesterday and today by 60 users: yesterday's rows make
/// a closed day, which gets a timeline; retention reads them in each user's time order.
fn events(m: &str) -> Vec<Value> {
    let now = now_ms() / 1000;
    let yesterday = (now / DAY_S - 1) * DAY_S;
    let mut out = Vec::new();
    for u in 0..60 {
        let user = format!("{m}-u{u}");
        let mut add = |event: &str, time: i64, n: usize| {
            let id = format!("u{u}-{event}-{n}");
            out.push(
                json!({"event": event, "properties": {"time": time, "distinct_id": user, "$insert_id": id, "m": m}}),
            );
        };
        add("Signup", yesterday + 3600 + u, 0);
        for n in 0..(u % 4) as usize {
            add("Play", yesterday + 7200 + 60 * n as i64 + u, n);
        }
        if u % 3 == 0 {
            add("Play", now - 60, 9);
        }
    }
    out
}

/// What the kill must leave unchanged: every event exported once, and two reports,
/// one read from event counts and one from each user's events in time order.
#[derive(Debug, PartialEq)]
struct Answers {
    exported: usize,
    segmentation: Value,
    retention: Value,
}

async fn answers(s: &TestServer, m: &str) -> Answers {
    let events = s.export("").await;
    let mine = with_marker(&events, m);
    let mut ids: Vec<&str> = mine.iter().map(|e| e["properties"]["$insert_id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    let before = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), before, "an event was exported twice");
    let (from, to) = chrono_like_today();
    let get = |path: String| async move {
        let r = s.http.get(s.url(&path)).basic_auth(&s.creds.secret, Some("")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        r.json::<Value>().await.unwrap()
    };
    let segmentation = get(format!("/api/query/segmentation?event=Play&from_date={from}&to_date={to}&unit=day")).await
        ["data"]["values"]
        .clone();
    let retention =
        get(format!("/api/query/retention?born_event=Signup&event=Play&from_date={from}&to_date={to}")).await;
    Answers { exported: ids.len(), segmentation, retention }
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "waited 60 s for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn files_ending(dir: &Path, ending: &str) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.to_string_lossy().ends_with(ending)).collect())
        .unwrap_or_default()
}

/// Imports, lets the store reach `point`, kills it there, restarts it, and checks the
/// answers before, during the pause, after the restart, and after the restarted store
/// has finished the interrupted work.
async fn killed_at(point: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut s = TestServer::start_in_with_env(dir, RELAXED_LIMITS, &[("SEXTANT_PAUSE_AT", point)]);
    let m = marker();
    let sent = events(&m);
    s.import_ok(&sent).await;
    let before = answers(&s, &m).await;
    assert_eq!(before.exported, sent.len());

    let paused = dir.join(format!("paused-at-{point}"));
    wait_for(&format!("the store to reach {point}"), || paused.exists()).await;
    assert_eq!(answers(&s, &m).await, before, "paused at {point}");
    s.kill9();
    std::fs::remove_file(&paused).unwrap();

    let mut s = TestServer::start_in(dir);
    assert_eq!(answers(&s, &m).await, before, "restarted after a kill at {point}");
    // The restarted store moves what the killed move did not, and builds yesterday's
    // timeline; the half-written one is gone.
    let timelines = dir.join("timelines");
    wait_for("yesterday's timeline", || !files_ending(&timelines, ".tl").is_empty()).await;
    assert_eq!(files_ending(&timelines, ".tmp"), Vec::<PathBuf>::new());
    assert_eq!(answers(&s, &m).await, before, "after the interrupted work was done again");
    s.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_compaction_move() {
    killed_at("compaction-move").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_timeline_build() {
    killed_at("timeline-write").await;
}

/// A kill between a lookup replace's two writes (the store's rows committed, the control
/// plane's row count and columns not yet): after the restart the table is listed with
/// what it holds, and those rows count under the project's cap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_between_a_lookup_replace_and_its_record() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let point = "lookup-replaced";
    let mut s = TestServer::start_in_with_env(dir, RELAXED_LIMITS, &[("SEXTANT_PAUSE_AT", point)]);
    let body = json!({"name": "Plans", "mappings": ["event:plan_id"]});
    let r = s.http.post(s.url("/api/app/projects/1/lookup-tables")).basic_auth(&s.creds.secret, Some("")).json(&body);
    let r = r.send().await.unwrap();
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.unwrap()["results"]["id"].as_str().unwrap().to_string();
    let url = s.url(&format!("/lookup-tables/{id}?project_id=1"));
    let put = s
        .http
        .put(url)
        .basic_auth(&s.creds.secret, Some(""))
        .header("Content-Type", "text/csv")
        .body("plan,tier\np0,Enterprise\np1,Starter\np2,Free\n")
        .timeout(Duration::from_secs(60));
    let waiting = tokio::spawn(put.send());
    let paused = dir.join(format!("paused-at-{point}"));
    wait_for(&format!("the store to reach {point}"), || paused.exists()).await;
    s.kill9();
    assert!(waiting.await.unwrap().is_err(), "the replace was never answered");
    std::fs::remove_file(&paused).unwrap();

    let s = TestServer::start_in(dir);
    let r = s.http.get(s.url(&format!("/api/app/projects/1/lookup-tables/{id}"))).basic_auth(&s.creds.secret, Some(""));
    let table: Value = r.send().await.unwrap().json().await.unwrap();
    assert_eq!(table["results"]["row_count"], 3, "{table}");
    assert_eq!(table["results"]["columns"], json!(["plan", "tier"]), "{table}");
    let t = now_ms();
    let event =
        json!({"event": "Buy", "properties": {"time": t, "distinct_id": "u", "$insert_id": "b1", "plan_id": "p1"}});
    s.import_ok(&[event]).await;
    let exported = s.export(&format!("&where={}", urlencode(r#"properties["plan_id.tier"] == "Starter""#))).await;
    assert_eq!(exported.len(), 1, "the replaced rows are read: {exported:?}");
}

/// A tmpfs mounted for the test, unmounted (lazily, after the server's files close)
/// when dropped.
struct Mount(PathBuf, #[allow(dead_code)] tempfile::TempDir);

impl Mount {
    fn tmpfs(size: &str) -> Option<Mount> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "sextant-test"])
            .arg(&path)
            .status()
            .is_ok_and(|s| s.success());
        mounted.then_some(Mount(path, dir))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn batch(m: &str, name: &str, n: usize) -> Vec<Value> {
    let t = now_ms() / 1000 - 60;
    (0..n)
        .map(|i| {
            let id = format!("{name}-{i}");
            json!({"event": name, "properties": {"time": t, "distinct_id": id, "$insert_id": id, "m": m}})
        })
        .collect()
}

/// Fills the file system holding `path` to the last byte.
fn fill(path: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 1 << 20];
    loop {
        if let Err(e) = f.write_all(&chunk).and_then(|()| f.flush()) {
            assert_eq!(e.raw_os_error(), Some(28), "filling the disk: {e}");
            break;
        }
    }
    // What is left is smaller than a chunk.
    while f.write_all(&[0u8; 4096]).is_ok() {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_then_resumes_by_itself() {
    // Only root may mount a file system; CI runs as root.
    let Some(mount) = Mount::tmpfs("96m") else {
        eprintln!("skipped: this test mounts a tmpfs, which needs root");
        return;
    };
    let dir = mount.0.join("data");
    let config = format!("min_free_disk_mb = 16\n{RELAXED_LIMITS}");
    let mut s = TestServer::start_in_with(&dir, &config);
    let m = marker();
    let before = batch(&m, "before", 500);
    s.import_ok(&before).await;
    // The writer's idle checkpoint and the compactor's move run while there is room.
    tokio::time::sleep(Duration::from_secs(4)).await;

    let filler = mount.0.join("filler");
    fill(&filler);
    for attempt in 0..3 {
        let refused = batch(&m, &format!("refused{attempt}"), 200);
        let r = s
            .http
            .post(s.url("/import?strict=1"))
            .basic_auth(&s.creds.secret, Some(""))
            .json(&refused)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 503);
        assert!(r.headers().contains_key("retry-after"));
        let body: Value = r.json().await.unwrap();
        assert!(body["error"].as_str().unwrap().contains("disk is full"), "{body}");
    }
    let r = s.http.get(s.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200, "the server answers while its disk is full");
    tokio::time::sleep(Duration::from_secs(3)).await;

    std::fs::remove_file(&filler).unwrap();
    let after = batch(&m, "after", 500);
    s.import_ok(&after).await;
    let mut expected: Vec<String> =
        before.iter().chain(&after).map(|e| e["properties"]["$insert_id"].as_str().unwrap().to_string()).collect();
    expected.sort();
    let stored = |events: Vec<Value>| {
        let mut ids: Vec<String> = with_marker(&events, &m)
            .iter()
            .map(|e| e["properties"]["$insert_id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(stored(s.export("").await), expected, "every acknowledged event once, no refused one");
    // Time for the resumed compactor's move and the writer's checkpoint before the restart.
    tokio::time::sleep(Duration::from_secs(4)).await;
    s.stop();
    let restarted = TestServer::start_in_with(&dir, &config);
    assert_eq!(stored(restarted.export("").await), expected, "after a restart");
    drop(restarted);
    drop(s);
    drop(mount);
}
