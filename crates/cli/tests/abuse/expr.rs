//! Case 1: an expression whose size explodes through `let` is refused before any work,
//! with a 400 in the Query API's shape, and costs the server nothing.

use std::time::{Duration, Instant};

use crate::common::*;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exploding_let_is_a_400_before_any_work() {
    let _serial = one_at_a_time().await;
    let s = TestServer::start();
    s.import_ok(&[serde_json::json!({"event": "Play", "properties": {
        "distinct_id": "u1", "time": now_ms() / 1000, "$insert_id": "p1"}})])
        .await;
    let bystander = Bystander::beside(&s);
    let (from, to) = chrono_like_today();
    // Six levels stand for about 41 GB of text; before, five levels answered after 7.8 s
    // and six drove the server to 12 GB.
    for levels in [4, 6] {
        let src = urlencode(&let_tower(levels));
        for path in [
            format!("/api/query/segmentation?event=Play&from_date={from}&to_date={to}&where={src}"),
            format!("/api/2.0/export?from_date={from}&to_date={to}&where={src}"),
        ] {
            let started = Instant::now();
            let (status, body) = get_json(&s, &path).await;
            assert_eq!(status, 400, "{levels} levels, {path:.60}: {body}");
            let error = body["error"].as_str().unwrap_or_default();
            assert!(error.contains("200000"), "the error names the limit: {body}");
            assert!(body.get("request").is_some(), "the Query API's error shape: {body}");
            assert!(started.elapsed() < Duration::from_secs(2), "refused at once, not after building it");
        }
    }
    // Two levels (16 KB expanded) is an ordinary expression.
    let src = urlencode(&let_tower(2));
    let (status, body) =
        get_json(&s, &format!("/api/query/segmentation?event=Play&from_date={from}&to_date={to}&where={src}")).await;
    assert_eq!(status, 200, "{body}");
    alive(&s).await;
    bystander.finish(Duration::from_secs(2)).await;
}
