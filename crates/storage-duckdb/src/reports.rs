//! Reports over events: segmentation counts, computed inside DuckDB.
//!
//! One SQL statement reads only the rows of the asked events and range, computes each
//! event's local time from the offsets the query layer supplies, its bucket and its
//! segment keys (the compiled `on`), drops duplicate copies, and counts. When `where`
//! or `on` does not compile, the same rows are read and the interpreter decides in Rust,
//! with the same answers (tests/expr_agreement checks the two back ends agree).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use duckdb::Connection;
use sextant_expr::sql::{duckdb_number_or_zero, duckdb_predicate, duckdb_segment_key};
use sextant_expr::{Program, Target};
use sextant_storage::{
    BucketUnit, Measure, Result, SegmentCount, SegmentQuery, SegmentValue, TimeBuckets, TopSegments,
};

use crate::interpreted::{quote, reads_user};
use crate::kinds::KindCache;
use crate::tier::{Tier, TierScan};
use crate::{backend, copies};

/// Local time of the row `e`, from the offsets in force over the range.
fn local_time_sql(buckets: &TimeBuckets) -> String {
    match buckets.offsets.as_slice() {
        [] => "e.time_ms".into(),
        [(_, only)] => format!("(e.time_ms + {only})"),
        [(_, first), rest @ ..] => {
            let mut case = String::from("(e.time_ms + CASE");
            let mut current = *first;
            for (from, offset) in rest {
                case.push_str(&format!(" WHEN e.time_ms < {from} THEN {current}"));
                current = *offset;
            }
            case.push_str(&format!(" ELSE {current} END)"));
            case
        }
    }
}

/// The bucket start of the local time `t`, as [`TimeBuckets::bucket_of_local`] computes it.
fn bucket_sql(unit: BucketUnit, t: &str) -> String {
    let floor = |w: i64| format!("({t} - (({t} % {w}) + {w}) % {w})");
    match unit {
        BucketUnit::Minute => floor(60_000),
        BucketUnit::Hour => floor(3_600_000),
        BucketUnit::Day => floor(86_400_000),
        BucketUnit::Week => {
            let day = floor(86_400_000);
            format!("({day} - ((({day} // 86400000 + 3) % 7) + 7) % 7 * 86400000)")
        }
        BucketUnit::Month => format!("epoch_ms(date_trunc('month', epoch_ms({t})))"),
        BucketUnit::Days { days, origin } => {
            let w = i64::from(days.max(1)) * 86_400_000;
            format!("({origin} + (({t} - {origin}) - ((({t} - {origin}) % {w}) + {w}) % {w}))")
        }
    }
}

/// Counts a segmentation on `conn`, in one transaction: what it learns of the
/// properties' kinds describes the rows it then reads.
pub fn segment(conn: &Connection, q: &SegmentQuery, kinds: &KindCache) -> Result<Vec<SegmentCount>> {
    if q.from_ms >= q.to_ms {
        return Ok(Vec::new());
    }
    conn.execute_batch("BEGIN TRANSACTION").map_err(backend)?;
    let out = segment_in_transaction(conn, q, kinds);
    // Read only: ending it either way changes nothing.
    let _ = conn.execute_batch(if out.is_ok() { "COMMIT" } else { "ROLLBACK" });
    out
}

fn segment_in_transaction(conn: &Connection, q: &SegmentQuery, kinds: &KindCache) -> Result<Vec<SegmentCount>> {
    let uid = crate::identity::distinct_id_sql(conn, q.project_id).map_err(backend)?;
    let join_user = reads_user(q.filter.as_ref()) || reads_user(q.on.as_ref()) || reads_user(q.sum.as_ref());
    // Canonical ids cost a lookup per event: only users and profile joins need them.
    let uid = if q.measure != Measure::Events || join_user { uid } else { "e.distinct_id" };
    // Constants are written into the SQL (numbers, and names quoted), so that each tier
    // and branch below can repeat the condition without counting parameters.
    let mut head =
        format!("e.project_id = {} AND e.time_ms >= {} AND e.time_ms < {}", q.project_id.0, q.from_ms, q.to_ms);
    if !q.events.is_empty() {
        let names: Vec<String> = q.events.iter().map(|n| quote(n)).collect();
        head.push_str(&format!(" AND e.event IN ({})", names.join(", ")));
    }
    let bucket = bucket_sql(q.buckets.unit, &local_time_sql(&q.buckets));
    // Each tier is read by its own SELECT with the property expressions written directly
    // on the table: DuckDB then reads only the VARIANT fields they name (measured: about
    // 15 times faster than the same expression over the `events` view or a subquery).
    let nullable = crate::nullable::of_project(conn, q.project_id.0).map_err(backend)?;
    let names = event_properties([&q.filter, &q.on, &q.sum]);
    let kinds = kinds.of(conn, q.project_id.0, &q.events, &names).map_err(backend)?;
    let tiers = [Tier::Cold, Tier::Hot].map(|tier| {
        let kinds = (tier == Tier::Cold).then_some(&kinds);
        tier_select(&TierScan { tier, head: &head, uid, join_user, nullable: &nullable, kinds }, q, &bucket)
    });
    match (&tiers[0], &tiers[1]) {
        (Ok(cold), Ok(hot)) => {
            // Each tier gives the copy of an event that counts, once (see `crate::copies`),
            // so rows are counted as they come.
            let inner = format!("{cold} UNION ALL {hot}");
            let keep_segment = if q.on.is_some() { "WHERE seg IS NOT NULL" } else { "" };
            let (events, users) = match q.measure {
                Measure::Events => ("count(*)", "0"),
                Measure::Users => ("0", "count(DISTINCT uid)"),
                Measure::Both => ("count(*)", "count(DISTINCT uid)"),
            };
            let sum = if q.sum.is_some() { "sum(v)" } else { "0.0" };
            // Group only by what varies: one event and no `on` group by bucket alone
            // (measured on 100M events, distinct users by day: 1.43 s against 1.70 s
            // with the constant event and segment as keys too).
            let (event, by_event) = match q.events.as_slice() {
                [one] => (quote(one), ""),
                _ => ("event".to_string(), ", event"),
            };
            let (seg, by_seg) = if q.on.is_some() { ("seg", ", seg") } else { ("CAST(NULL AS VARCHAR)", "") };
            let grouped = format!(
                "SELECT bucket, {event} AS event, {seg} AS seg, {events} AS n_events, {users} AS n_users, {sum} AS v
                 FROM ({inner}) {keep_segment} GROUP BY bucket{by_event}{by_seg}"
            );
            let sql = match q.top.filter(|_| q.on.is_some()) {
                None => grouped,
                Some(top) => top_segments_sql(&grouped, top),
            };
            let mut stmt = conn.prepare(&sql).map_err(backend)?;
            let mut rows = stmt.query([]).map_err(backend)?;
            let mut out = Vec::new();
            while let Some(row) = rows.next().map_err(backend)? {
                out.push(SegmentCount {
                    bucket: row.get(0).map_err(backend)?,
                    event: row.get(1).map_err(backend)?,
                    segment: row.get(2).map_err(backend)?,
                    events: row.get::<_, i64>(3).map_err(backend)? as u64,
                    users: row.get::<_, i64>(4).map_err(backend)? as u64,
                    sum: row.get::<_, Option<f64>>(5).map_err(backend)?.unwrap_or(0.0),
                });
            }
            out.sort_by(order);
            Ok(out)
        }
        (Err(why), _) | (_, Err(why)) => {
            tracing::debug!(%why, "segmentation evaluated per event");
            per_event(conn, q, &head, uid, join_user)
        }
    }
}

/// Only the cells of the segments `top` keeps, ranked as [`TopSegments::keep`] ranks
/// them, from `grouped` (cells with columns `seg`, `n_events`, `n_users`).
fn top_segments_sql(grouped: &str, top: TopSegments) -> String {
    let value = match top.by {
        SegmentValue::Events => "n_events",
        SegmentValue::Users => "n_users",
        SegmentValue::EventsPerUser => "CASE WHEN n_users = 0 THEN 0.0 ELSE n_events / n_users END",
    };
    format!(
        "WITH cells AS MATERIALIZED ({grouped})
         SELECT * FROM cells WHERE seg IN
             (SELECT seg FROM cells GROUP BY seg ORDER BY sum({value}) DESC, seg LIMIT {})",
        // DuckDB's LIMIT is a BIGINT; "no limit" comes as usize::MAX.
        top.limit.min(i64::MAX as usize)
    )
}

/// The top-level event property names the expressions read.
pub(crate) fn event_properties<'a>(programs: impl IntoIterator<Item = &'a Option<Arc<Program>>>) -> Vec<String> {
    let mut names: Vec<String> = programs
        .into_iter()
        .flatten()
        .flat_map(|p| p.referenced_properties())
        .filter(|(target, _)| *target == Target::Event)
        .map(|(_, name)| name)
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Property names of one event's occurrences, most common first.
pub fn property_names(
    conn: &Connection,
    project: sextant_model::ProjectId,
    event: &str,
    from_ms: i64,
    to_ms: i64,
    limit: usize,
) -> Result<Vec<(String, u64)>> {
    // Each event once (the copy that counts): about three times faster than `DISTINCT`
    // over the key and the names (measured at 10M events: 15.4 s against 5.4 s).
    let head = format!(
        "e.project_id = {} AND e.event = {} AND e.time_ms >= {from_ms} AND e.time_ms < {to_ms}",
        project.0,
        quote(event)
    );
    let sql = format!(
        "SELECT k, count(*) AS n FROM (SELECT unnest(variant_keys(e.properties)) AS k FROM {})
         GROUP BY k ORDER BY n DESC, k LIMIT ?",
        copies::kept_events(&head)
    );
    let mut stmt = conn.prepare(&sql).map_err(backend)?;
    let args = duckdb::params![limit as i64];
    let rows = stmt.query_map(args, |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))).map_err(backend)?;
    rows.collect::<std::result::Result<Vec<_>, _>>().map_err(backend)
}

/// One tier's rows as `(bucket, event, seg, uid, v)`, filtered, the copy of each event
/// that counts only (see [`crate::copies`]), or why the expressions do not compile.
fn tier_select(
    scan: &TierScan,
    q: &SegmentQuery,
    bucket: &str,
) -> std::result::Result<String, sextant_expr::sql::CompileError> {
    let TierScan { tier, head, join_user, .. } = *scan;
    // Distinct users need no choice between copies (they share the distinct id) unless
    // an expression reads the copies' properties.
    let all_copies = q.measure == Measure::Users && q.filter.is_none() && q.on.is_none() && q.sum.is_none();
    let rows = match (tier, all_copies) {
        (Tier::Cold, false) => format!("events_cold e WHERE {head} AND NOT e.superseded"),
        (Tier::Hot, false) => format!("{} WHERE TRUE", copies::hot_kept(head)),
        (Tier::Cold, true) => format!("events_cold e WHERE {head}"),
        (Tier::Hot, true) => format!("events_hot e WHERE {head}"),
    };
    let (from, uid) =
        if join_user { (format!("{} WHERE TRUE", scan.with_profile(&rows)), "e.uid") } else { (rows, scan.uid) };
    let columns = scan.columns();
    let filter = match &q.filter {
        None => "TRUE".to_string(),
        Some(p) => duckdb_predicate(p, &columns)?,
    };
    let sum = match &q.sum {
        None => "0.0".to_string(),
        Some(p) => duckdb_number_or_zero(p, &columns)?,
    };
    // The cold tier also gives the key's hashes, for the anti-join against hot copies.
    let keys = match tier {
        Tier::Cold => ", e.time_ms, e.user_hash, e.copy_hash",
        Tier::Hot => "",
    };
    let select = |segment: &str, condition: &str| {
        format!(
            "SELECT {bucket} AS bucket, e.event AS event, {segment} AS seg, {uid} AS uid, {sum} AS v{keys}
             FROM {from} AND ({filter}){condition}"
        )
    };
    let selected = match &q.on {
        None => select("CAST(NULL AS VARCHAR)", ""),
        Some(p) => {
            let k = duckdb_segment_key(p, &columns)?;
            let scalar = format!("CAST({} AS VARCHAR)", k.scalar);
            match (&k.list_when, &k.list_texts) {
                // Lists are rare: rows holding one are read apart (a cheap type test) and
                // unnested, so the common rows pay for no list work.
                (Some(is_list), Some(texts)) => format!(
                    "{} UNION ALL {}",
                    select(&scalar, &format!(" AND NOT coalesce({is_list}, FALSE)")),
                    select(&format!("unnest(CAST({texts} AS VARCHAR[]))"), &format!(" AND coalesce({is_list}, FALSE)")),
                ),
                _ => select(&scalar, ""),
            }
        }
    };
    Ok(match tier {
        Tier::Cold if !all_copies => {
            let kept = copies::cold_kept(&selected, head);
            format!("SELECT bucket, event, seg, uid, v FROM ({kept})")
        }
        _ if all_copies => format!("SELECT bucket, event, seg, uid, v FROM ({selected})"),
        _ => selected,
    })
}

/// The interpreter's path: reads the rows and filters, keys and counts them in Rust.
fn per_event(conn: &Connection, q: &SegmentQuery, head: &str, uid: &str, join_user: bool) -> Result<Vec<SegmentCount>> {
    type Cell = (i64, String, Option<String>);
    let mut events: HashMap<Cell, u64> = HashMap::new();
    let mut sums: HashMap<Cell, f64> = HashMap::new();
    let mut users: HashMap<Cell, HashSet<String>> = HashMap::new();
    // Each event read once (the copy that counts), and its segment keys are distinct.
    crate::interpreted::each_record(conn, head, uid, join_user, true, |record, uid| {
        if let Some(filter) = &q.filter
            && !filter.matches(record)
        {
            return;
        }
        let segments: Vec<Option<String>> = match &q.on {
            None => vec![None],
            Some(on) => on.segment_keys(record).into_iter().map(Some).collect(),
        };
        let bucket = q.buckets.bucket_of(record.time_ms);
        let value = q.sum.as_ref().map_or(0.0, |p| p.number_or_zero(record));
        for segment in segments {
            let cell = (bucket, record.name.to_string(), segment);
            if q.measure != Measure::Users {
                *events.entry(cell.clone()).or_default() += 1;
            }
            *sums.entry(cell.clone()).or_default() += value;
            if q.measure != Measure::Events {
                users.entry(cell).or_default().insert(uid.to_string());
            }
        }
    })?;
    let cells: HashSet<Cell> = events.keys().chain(users.keys()).cloned().collect();
    let mut out: Vec<SegmentCount> = cells
        .into_iter()
        .map(|cell| SegmentCount {
            events: events.get(&cell).copied().unwrap_or(0),
            users: users.get(&cell).map_or(0, |u| u.len() as u64),
            sum: sums.get(&cell).copied().unwrap_or(0.0),
            bucket: cell.0,
            event: cell.1,
            segment: cell.2,
        })
        .collect();
    if let Some(top) = q.top.filter(|_| q.on.is_some()) {
        top.keep(&mut out);
    }
    out.sort_by(order);
    Ok(out)
}

/// Answers in a stable order: bucket, event, segment.
fn order(a: &SegmentCount, b: &SegmentCount) -> std::cmp::Ordering {
    (a.bucket, &a.event, &a.segment).cmp(&(b.bucket, &b.event, &b.segment))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_buckets_match_the_rust_ones() {
        let conn = Connection::open_in_memory().unwrap();
        let units = [
            BucketUnit::Minute,
            BucketUnit::Hour,
            BucketUnit::Day,
            BucketUnit::Week,
            BucketUnit::Month,
            BucketUnit::Days { days: 7, origin: 1_700_000_000_000 - 1_700_000_000_000 % 86_400_000 },
        ];
        let buckets = |unit| TimeBuckets { unit, offsets: vec![(0, 3_600_000), (1_711_846_800_000, 7_200_000)] };
        for unit in units {
            let b = buckets(unit);
            for t in [1_700_000_000_123_i64, 1_711_846_799_999, 1_711_846_800_000, 1_709_251_199_000, 86_400_000 * 3] {
                let sql =
                    format!("SELECT {} FROM (SELECT {t}::BIGINT AS time_ms) e", bucket_sql(unit, &local_time_sql(&b)));
                let got: i64 = conn.query_row(&sql, [], |r| r.get(0)).unwrap();
                assert_eq!(got, b.bucket_of(t), "{unit:?} at {t}");
            }
        }
    }
}
