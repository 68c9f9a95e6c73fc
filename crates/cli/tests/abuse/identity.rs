//! Case 3: one `$user_id` with a new random `$device_id` on every event grows its
//! cluster to the Simplified cap and no further; every event is still stored, and the
//! other project's client is served throughout.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::*;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_with_endless_devices_stops_at_the_cap() {
    let _serial = one_at_a_time().await;
    let s = TestServer::start();
    let bystander = Bystander::beside(&s);
    let m = marker();
    let cap = 10_000; // sextant_model::identity::MAX_SIMPLIFIED_CLUSTER_IDS
    let (batches, per_batch) = (6, 2000);
    for b in 0..batches {
        let events: Vec<Value> = (0..per_batch)
            .map(|i| {
                let n = b * per_batch + i;
                json!({"event": "Seen", "properties": {"$user_id": "one-user", "$device_id": format!("dev-{n}"),
                       "time": now_ms() / 1000, "$insert_id": format!("seen-{n}"), "m": m}})
            })
            .collect();
        s.import_ok(&events).await;
    }
    let exported = s.export("&event=%5B%22Seen%22%5D").await;
    let seen = with_marker(&exported, &m);
    assert_eq!(seen.len(), batches * per_batch, "every event stored");
    assert!(seen.iter().all(|e| e["properties"]["distinct_id"] == "one-user"));
    let refused =
        seen.iter().filter(|e| e["properties"]["$identity_failure_reason"] == "errClusterSizeLimitExceeded").count();
    // The cluster holds the user id and cap - 1 devices; each later device is refused.
    assert_eq!(refused, batches * per_batch - (cap - 1));
    alive(&s).await;
    bystander.finish(Duration::from_secs(2)).await;
}
