//! What the benchmarks over a generated store share: filling it (the generator's
//! events, `crate::generator`, then copies of them), counting it, and timing.

#![allow(dead_code)] // each benchmark uses its part

use std::time::Instant;

use sextant_model::ProjectId;
use sextant_storage::EventStore;
use sextant_storage_duckdb::DuckDbStore;

/// Events the generator writes through ingestion; larger stores repeat them ([`replicate`]).
pub const BASE_EVENTS: u64 = 10_000_000;

/// Fills an empty store with `n` events of project 1 between `from_ms` and `to_ms`:
/// up to [`BASE_EVENTS`] generated and ingested, then copies of them. A store that
/// already holds them is left as it is.
pub async fn fill(store: &DuckDbStore, n: u64, from_ms: i64, to_ms: i64) {
    let base = n.min(BASE_EVENTS);
    if stored(store).await == 0 {
        let t = Instant::now();
        let spec = crate::generator::Spec {
            project: ProjectId(1),
            events: base,
            users: (base / 50).max(1000),
            from_ms,
            to_ms,
            seed: 42,
        };
        // Appended as generated, so memory holds one batch at a time.
        crate::generator::generate(&spec, 50_000, |b| {
            tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(store.append(b))).unwrap()
        });
        let appended = t.elapsed().as_secs_f64();
        store.compact_now().await.unwrap();
        println!(
            "generated and stored {base} events in {appended:.1} s, compacted in {:.1} s",
            t.elapsed().as_secs_f64() - appended
        );
    }
    if stored(store).await < n {
        let t = Instant::now();
        let replicas = n.div_ceil(base);
        replicate(store, replicas).await;
        println!(
            "{} events: the generator's {base}, {replicas} times over with disjoint user and insert ids, in {:.1} s",
            stored(store).await,
            t.elapsed().as_secs_f64()
        );
    }
}

/// The first of `runs` runs and the best, in seconds.
pub fn first_and_best(runs: usize, mut f: impl FnMut()) -> (f64, f64) {
    let times: Vec<f64> = (0..runs.max(1))
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    (times[0], times.iter().copied().fold(f64::INFINITY, f64::min))
}

/// Events in the store.
pub async fn stored(store: &DuckDbStore) -> u64 {
    store
        .with_connection(|c| Ok(c.query_row("SELECT count(*) FROM events", [], |r| r.get::<_, i64>(0)).unwrap()))
        .await
        .unwrap() as u64
}

/// Makes the store `replicas` times its generated events: each copy of them under other
/// user and insert ids (a suffix), with later sequence numbers, straight into the cold
/// tier. Generating and ingesting 100 million events through the JSON path takes over an
/// hour and twice the disk of the result on this machine; copying the stored VARIANT
/// values takes minutes, and keeps the generator's mix, user activity and properties.
pub async fn replicate(store: &DuckDbStore, replicas: u64) {
    store
        .with_connection(move |c| {
            let last: i64 = c.query_row("SELECT max(seq) FROM events_cold", [], |r| r.get(0)).unwrap();
            for k in 1..replicas {
                c.execute_batch(&format!(
                    "INSERT INTO events_cold (project_id, event, time_ms, distinct_id, insert_id, seq, properties,
                                              user_hash, copy_hash, superseded)
                     SELECT project_id, event, time_ms, distinct_id || '~{k}', insert_id || '~{k}', seq + {k} * {last},
                            properties, hash(distinct_id || '~{k}'), hash(insert_id || '~{k}'), superseded
                     FROM events_cold WHERE seq <= {last};
                     CHECKPOINT;"
                ))
                .unwrap();
            }
            Ok(())
        })
        .await
        .unwrap();
}
