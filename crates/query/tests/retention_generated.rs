//! A second, independent check of retention and addiction: a generated dataset of
//! 300,000 events (some still in the append tier, most compacted), computed through the
//! report layer, the store and the forward-pass kernels, against answers computed here
//! with plain SQL (joins of each cohort to its users' later events) straight on the
//! DuckDB file. January in Paris has no DST change, so the SQL uses a fixed +01:00.

#[path = "support/generator.rs"]
mod generator;

use std::collections::BTreeMap;

use sextant_expr::Options;
use sextant_model::ProjectId;
use sextant_query::params::Params;
use sextant_query::retention::{AddictionRequest, RetentionRequest};
use sextant_storage::{EventStore, ReportStore};
use sextant_storage_duckdb::{DuckDbStore, StoreOptions};

const FROM_MS: i64 = 1_704_409_200_000; // 2024-01-05T00:00+01:00
const TO_MS: i64 = 1_707_087_600_000; // 2024-02-05T00:00+01:00
const DAY: i64 = 86_400_000;

/// date → (first, counts).
type Cohorts = BTreeMap<String, (u64, Vec<u64>)>;

fn params(query: &str) -> BTreeMap<String, String> {
    query.split('&').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), v.replace("%20", " "))).collect()
}

fn options() -> Options {
    Options { timezone: "Europe/Paris".parse().unwrap(), ..Options::default() }
}

/// Cohorts from SQL rows `(date, k, users)`, `k = -1` being the cohort size.
fn sql_cohorts(conn: &duckdb::Connection, sql: &str, intervals: usize) -> Cohorts {
    let mut out = Cohorts::new();
    let mut stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut rows = stmt.query([]).unwrap();
    while let Some(r) = rows.next().unwrap() {
        let date: String = r.get(0).unwrap();
        let k: i64 = r.get(1).unwrap();
        let n: i64 = r.get(2).unwrap();
        let entry = out.entry(date).or_insert_with(|| (0, vec![0; intervals]));
        if k < 0 {
            entry.0 = n as u64;
        } else if (k as usize) < intervals {
            entry.1[k as usize] = n as u64;
        }
    }
    out
}

fn answer_cohorts(answer: &BTreeMap<String, serde_json::Value>) -> Cohorts {
    answer
        .iter()
        .filter(|(_, v)| v["first"].as_u64() != Some(0))
        .map(|(d, v)| {
            let counts = v["counts"].as_array().unwrap().iter().map(|c| c.as_u64().unwrap()).collect();
            (d.clone(), (v["first"].as_u64().unwrap(), counts))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_and_addiction_match_plain_sql_on_a_generated_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        DuckDbStore::open(dir.path(), &StoreOptions { memory_limit: "1GB".into(), ..StoreOptions::default() }).unwrap();
    let mut batches = Vec::new();
    let spec = generator::Spec {
        project: ProjectId(1),
        events: 300_000,
        users: 20_000,
        from_ms: FROM_MS - 3 * DAY,
        to_ms: TO_MS + 30 * DAY,
        seed: 13,
    };
    generator::generate(&spec, 20_000, |b| batches.push(b));
    for (i, b) in batches.into_iter().enumerate() {
        store.append(b).await.unwrap();
        if i == 10 {
            store.compact_now().await.unwrap();
        }
    }

    let range = "from_date=2024-01-05&to_date=2024-02-04";
    let birth = params(&format!("{range}&born_event=Sign Up&event=Play&interval_count=3"));
    let compounded = params(&format!("{range}&retention_type=compounded&event=Search&unit=week&interval_count=2"));
    let addiction = params(&format!("{range}&event=Play&unit=day&addiction_unit=hour"));
    let mut got = Vec::new();
    for p in [&birth, &compounded] {
        let r = RetentionRequest::parse(&Params::new(|n| p.get(n).map(String::as_str)), &options()).unwrap();
        let rows = store.behaviour(r.query(ProjectId(1))).await.unwrap();
        got.push(answer_cohorts(&r.answer(&rows)));
    }
    let a = AddictionRequest::parse(&Params::new(|n| addiction.get(n).map(String::as_str)), &options()).unwrap();
    let rows = store.behaviour(a.query(ProjectId(1))).await.unwrap();
    let addicted = a.answer(&rows).data;
    store.close().await.unwrap();

    let conn = duckdb::Connection::open(dir.path().join("events.duckdb")).unwrap();
    let ev = "(SELECT DISTINCT event, distinct_id AS u, time_ms AS t, insert_id FROM events WHERE project_id = 1)";
    let ts = |t: &str| format!("make_timestamp(({t} + 3600000) * 1000)");
    let birth_sql = format!(
        "WITH ev AS {ev},
         born AS (SELECT u, min(t) AS b FROM ev WHERE event = 'Sign Up' GROUP BY u),
         cohort AS (SELECT u, b, strftime({}, '%Y-%m-%d') AS d FROM born WHERE b >= {FROM_MS} AND b < {TO_MS}),
         back AS (SELECT DISTINCT c.u, c.d, (x.t - c.b) // {DAY} AS k FROM cohort c JOIN ev x
                  ON x.u = c.u AND x.event = 'Play' AND x.t >= c.b AND x.t >= {FROM_MS} AND x.t < c.b + 4 * {DAY})
         SELECT d, -1, count(*) FROM cohort GROUP BY d
         UNION ALL SELECT d, k, count(*) FROM back GROUP BY d, k",
        ts("b")
    );
    let compounded_sql = format!(
        "WITH ev AS {ev},
         entry AS (SELECT u, date_trunc('week', {t}) AS w, min(t) AS t0 FROM ev
                   WHERE event = 'Search' AND t >= {FROM_MS} AND t < {TO_MS} GROUP BY u, w),
         back AS (SELECT DISTINCT e.u, e.w, datediff('week', e.w, date_trunc('week', {xt})) AS k FROM entry e JOIN ev x
                  ON x.u = e.u AND x.event = 'Search' AND x.t > e.t0)
         SELECT strftime(w, '%Y-%m-%d'), -1, count(*) FROM entry GROUP BY w
         UNION ALL SELECT strftime(w, '%Y-%m-%d'), k, count(*) FROM back WHERE k <= 2 GROUP BY w, k",
        t = ts("t"),
        xt = ts("x.t"),
    );
    for (i, (got, sql)) in got.iter().zip([(birth_sql, 4), (compounded_sql, 3)]).enumerate() {
        let want = sql_cohorts(&conn, &sql.0, sql.1);
        assert!(want.values().any(|c| c.1.iter().skip(1).any(|n| *n > 0)), "case {i}: users should come back");
        assert_eq!(got, &want, "case {i}");
    }

    // Addiction: users per day by distinct hours, accumulated here into "at least k+1".
    let hours_sql = format!(
        "SELECT strftime(day, '%Y-%m-%d') AS d, n, count(*) FROM (
           SELECT u, date_trunc('day', {t}) AS day, count(DISTINCT ((t + 3600000) // 3600000)) AS n FROM {ev} e
           WHERE event = 'Play' AND t >= {FROM_MS} AND t < {TO_MS} GROUP BY u, day) GROUP BY d, n",
        t = ts("t"),
    );
    let mut want: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut stmt = conn.prepare(&hours_sql).unwrap();
    let mut rows = stmt.query([]).unwrap();
    while let Some(r) = rows.next().unwrap() {
        let (d, n, users): (String, i64, i64) = (r.get(0).unwrap(), r.get(1).unwrap(), r.get(2).unwrap());
        let counts = want.entry(d).or_insert_with(|| vec![0; 24]);
        for c in counts.iter_mut().take(n as usize) {
            *c += users as u64;
        }
    }
    assert!(want.values().any(|c| c[2] > 0), "some users play in three hours of a day");
    let got: BTreeMap<String, Vec<u64>> = addicted
        .iter()
        .map(|(d, v)| (d.clone(), serde_json::from_value::<Vec<u64>>(v.clone()).unwrap()))
        .filter(|(_, v)| v[0] > 0)
        .collect();
    assert_eq!(got, want);
}
