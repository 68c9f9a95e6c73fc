//! Case 2: `/engage` updates that carry huge lists cannot hold the writer (which commits
//! every project's events) for long: one operation carries at most 10,000 items, a
//! profile's list holds at most that many, and `$union` costs what it carries.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::*;
use crate::support::*;

async fn engage(s: &TestServer, updates: &Value) -> (u16, String) {
    let r = s.http.post(s.url("/engage?verbose=1")).json(updates).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_unions_on_one_profile_leave_other_projects_served() {
    let _serial = one_at_a_time().await;
    let s = TestServer::start();
    let bystander = Bystander::beside(&s);
    let token = s.creds.token.clone();
    let union = |n: usize, offset: usize| {
        let items: Vec<String> = (offset..offset + n).map(|i| format!("item-{i}")).collect();
        json!([{"$token": token, "$distinct_id": "hoarder", "$union": {"tags": items}}])
    };
    // Before: four 60,000-item unions made another project's /track wait up to 19.7 s.
    let attacks: Vec<_> = (0..4)
        .map(|k| {
            let (http, url, body) = (s.http.clone(), s.url("/engage?verbose=1"), union(60_000, k * 60_000));
            tokio::spawn(async move {
                let r = http.post(url).json(&body).send().await.unwrap();
                (r.status().as_u16(), r.text().await.unwrap())
            })
        })
        .collect();
    for attack in attacks {
        let (status, body) = attack.await.unwrap();
        assert_eq!(status, 200, "{body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["status"], 0, "refused per record: {body}");
        assert!(body["error"].as_str().unwrap().contains("at most 10000"), "{body}");
    }
    // At the cap, accepted; past it on the stored list, refused (the store sees it, and
    // the answer says so), and the list stays at the cap.
    for k in 0..3 {
        let (status, body) = engage(&s, &union(10_000, k * 5_000)).await;
        assert_eq!(status, 200, "{body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["status"], u8::from(k == 0), "{body}");
        if k > 0 {
            assert!(body["error"].as_str().unwrap().contains("'$union.tags' is invalid"), "{body}");
        }
    }
    let strict = s.http.post(s.url("/engage?strict=1")).json(&union(10_000, 20_000)).send().await.unwrap();
    assert_eq!(strict.status(), 400);
    let strict: Value = strict.json().await.unwrap();
    assert_eq!(strict["failed_records"][0]["field"], "$union.tags", "{strict}");
    assert_eq!(strict["num_records_imported"], 0, "{strict}");
    let r = s.http.post(s.url("/api/query/engage")).basic_auth(&s.creds.secret, Some(""));
    let page: Value = r.form(&[("distinct_id", "hoarder")]).send().await.unwrap().json().await.unwrap();
    let tags = page["results"][0]["$properties"]["tags"].as_array().unwrap().len();
    assert!(tags <= 10_000, "a list never passes the cap: {tags}");
    alive(&s).await;
    bystander.finish(Duration::from_secs(2)).await;
}
