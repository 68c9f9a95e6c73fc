//! The day timelines answer behavioural scans exactly as the SQL scan does: the same
//! rows, in the same order, whatever is still in the hot tier, arrived late for a
//! closed day, was retried, happened at one instant, or belongs to an id merged into
//! another user before or after the timelines were built.

use std::sync::Arc;

use sextant_model::{EventRow, IdentityEdge, IdentityOp, ProjectId};
use sextant_storage::{BehaviourQuery, BehaviourRows, EventCondition, EventStore, ReportStore};
use sextant_storage_duckdb::{DuckDbStore, StoreOptions};

const DAY: i64 = 86_400_000;
const FROM_MS: i64 = 1_709_251_200_000; // 2024-03-01T00:00Z
const DAYS: i64 = 7;
const NAMES: [&str; 4] = ["A", "B", "C", "D"];

/// A small deterministic generator (no dependency on the store's own).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

fn events(rng: &mut Lcg, project: i64, n: usize, first_id: usize) -> Vec<EventRow> {
    let mut out = Vec::new();
    for i in 0..n {
        // Times on a one-minute grid, so a user often has two events at one instant.
        let time_ms = FROM_MS + rng.next((DAYS * 1440) as u64) as i64 * 60_000;
        let row = EventRow {
            project_id: ProjectId(project),
            event: NAMES[rng.next(4) as usize].to_string(),
            time_ms,
            distinct_id: format!("u{}", rng.next(300)),
            insert_id: format!("i{}", first_id + i),
            properties: "{}".into(),
        };
        if rng.next(20) == 0 {
            out.push(row.clone()); // a retried copy
        }
        out.push(row);
    }
    out
}

fn identify(project: i64, anon: u64, identified: u64) -> IdentityEdge {
    IdentityEdge {
        project_id: ProjectId(project),
        row: 0,
        op: IdentityOp::Identify { anon: format!("u{anon}"), identified: format!("u{identified}") },
    }
}

fn query(from_ms: i64, to_ms: i64, conditions: Vec<EventCondition>) -> BehaviourQuery {
    BehaviourQuery {
        project_id: ProjectId(1),
        from_ms,
        to_ms,
        conditions,
        filter: None,
        segment: None,
        segment_mask: 0,
    }
}

fn queries() -> Vec<BehaviourQuery> {
    let named = |n: &str| EventCondition::named(n, None);
    vec![
        query(FROM_MS, FROM_MS + DAYS * DAY, vec![named("A"), named("B"), named("C")]),
        // Partial days at both ends, a repeated step, a name that never occurs.
        query(FROM_MS + DAY / 3, FROM_MS + 5 * DAY + 7 * 3_600_000, vec![named("B"), named("B"), named("Nope")]),
        // Any event, and a condition that holds only from the third day.
        query(
            FROM_MS - DAY,
            FROM_MS + (DAYS + 1) * DAY,
            vec![
                EventCondition { event: None, filter: None, from_ms: None },
                EventCondition { event: Some("D".into()), filter: None, from_ms: Some(FROM_MS + 2 * DAY + 1) },
            ],
        ),
    ]
}

/// Each user's rows, as the kernels see them: every user's rows together (checked),
/// in time order, simultaneous rows by mask (checked); users in any order.
fn by_user(rows: &BehaviourRows) -> std::collections::BTreeMap<u64, Vec<(i64, u32, u32)>> {
    let mut out = std::collections::BTreeMap::new();
    for range in rows.users() {
        let user = rows.user[range.start];
        let mine: Vec<(i64, u32, u32)> = range.map(|i| (rows.time_ms[i], rows.mask[i], rows.segment[i])).collect();
        assert!(mine.windows(2).all(|w| w[0] <= w[1]), "a user's rows in (time, mask) order");
        assert!(out.insert(user, mine).is_none(), "a user's rows together");
    }
    out
}

async fn compare(store: &DuckDbStore, stage: &str) {
    for q in queries() {
        let fast = store.behaviour(q.clone()).await.unwrap();
        let sql_query = q.clone();
        let sql: BehaviourRows = store
            .with_connection(move |c| {
                sextant_storage_duckdb::behaviour::scan(&c, &sql_query, None, &Default::default())
            })
            .await
            .unwrap();
        assert!(!sql.is_empty(), "{stage}: the case scans something");
        assert_eq!(fast.len(), sql.len(), "{stage}: {:?}", q.conditions);
        assert_eq!(fast.segments, sql.segments);
        assert_eq!(by_user(&fast), by_user(&sql), "{stage}: the same rows for {:?}", q.conditions);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timelines_answer_scans_as_sql_does() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        DuckDbStore::open(dir.path(), &StoreOptions { memory_limit: "1GB".into(), ..StoreOptions::default() }).unwrap();
    let mut rng = Lcg(5);
    // Closed days, compacted: the timelines are built. Some ids already merged.
    let first = events(&mut rng, 1, 20_000, 0);
    let carrier = first[..1].to_vec();
    store.append(first).await.unwrap();
    store.append(events(&mut rng, 2, 2_000, 100_000)).await.unwrap();
    let edges = (0..20).map(|k| identify(1, 200 + k, k)).collect();
    store.append_with_identity(carrier.clone(), edges).await.unwrap();
    store.compact_now().await.unwrap();
    let files = std::fs::read_dir(dir.path().join("timelines"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "tl"))
        .count();
    assert_eq!(files, (DAYS * 2) as usize, "one timeline per project and day");
    compare(&store, "all compacted").await;

    // More events still in the hot tier (some retrying compacted ones), and ids merged
    // after the timelines were built.
    let mut more = events(&mut rng, 1, 5_000, 20_000);
    more.extend(events(&mut Lcg(5), 1, 2_000, 0));
    store.append(more).await.unwrap();
    let edges = (0..10).map(|k| identify(1, 250 + k, 30 + k)).collect();
    store.append_with_identity(carrier, edges).await.unwrap();
    compare(&store, "with a hot tier").await;

    // A late row for a closed day, in the cold tier but not yet in its timeline.
    store
        .with_connection(|c| {
            c.execute_batch(&format!(
                "INSERT INTO events_cold (project_id, event, time_ms, distinct_id, insert_id, seq, properties, user_hash, copy_hash)
                 SELECT 1, 'A', {t}, 'u7', 'late', (SELECT max(seq) + 1000 FROM events), '{{}}'::JSON::VARIANT, hash('u7'), hash('late')",
                t = FROM_MS + 2 * DAY + 123
            ))
            .unwrap();
            Ok(())
        })
        .await
        .unwrap();
    compare(&store, "with a late row").await;

    // Everything compacted and rebuilt.
    store.compact_now().await.unwrap();
    compare(&store, "rebuilt").await;
    store.close().await.unwrap();

    // Reopened: the timelines are read back from their files.
    let store =
        DuckDbStore::open(dir.path(), &StoreOptions { memory_limit: "1GB".into(), ..StoreOptions::default() }).unwrap();
    compare(&store, "reopened").await;
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_timeline_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        DuckDbStore::open(dir.path(), &StoreOptions { memory_limit: "1GB".into(), ..StoreOptions::default() }).unwrap();
    store.append(events(&mut Lcg(9), 1, 3_000, 0)).await.unwrap();
    store.compact_now().await.unwrap();
    store.close().await.unwrap();
    let path = std::fs::read_dir(dir.path().join("timelines")).unwrap().next().unwrap().unwrap().path();
    std::fs::write(&path, b"SXTL0001 but cut short").unwrap();
    let store = Arc::new(
        DuckDbStore::open(dir.path(), &StoreOptions { memory_limit: "1GB".into(), ..StoreOptions::default() }).unwrap(),
    );
    compare(&store, "one timeline missing").await;
    // The compactor rebuilds it at start; asking again waits for that.
    store.build_timelines().await.unwrap();
    assert!(std::fs::metadata(&path).unwrap().len() > 1000);
    compare(&store, "rebuilt").await;
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeline_damaged_on_disk_is_detected_and_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        DuckDbStore::open(dir.path(), &StoreOptions { memory_limit: "1GB".into(), ..StoreOptions::default() }).unwrap();
    store.append(events(&mut Lcg(11), 1, 3_000, 0)).await.unwrap();
    store.compact_now().await.unwrap();
    store.close().await.unwrap();
    let path = std::fs::read_dir(dir.path().join("timelines")).unwrap().next().unwrap().unwrap().path();
    // One bit in the middle of the file, its length unchanged: every structural check
    // still passes, only the checksum can tell.
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x04;
    std::fs::write(&path, &bytes).unwrap();
    assert!(sextant_storage_duckdb::timelines::DayFile::open(&path).is_err());
    let store = Arc::new(
        DuckDbStore::open(dir.path(), &StoreOptions { memory_limit: "1GB".into(), ..StoreOptions::default() }).unwrap(),
    );
    compare(&store, "one timeline damaged").await;
    store.build_timelines().await.unwrap();
    sextant_storage_duckdb::timelines::DayFile::open(&path).expect("rebuilt whole");
    compare(&store, "rebuilt").await;
    store.close().await.unwrap();
}
