//! Experiments over HTTP, at Mixpanel's paths: the lifecycle (draft, launch, conclude,
//! decide), archiving, and the flag an experiment reads marked running while it runs.

mod common;

use common::*;
use serde_json::{Value, json};

async fn call(s: &TestServer, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut r = s.http.request(method, s.url(path)).basic_auth(&s.creds.secret, Some(""));
    if let Some(body) = body {
        r = r.json(&body);
    }
    send(r).await
}

#[tokio::test]
async fn an_experiment_runs_its_course_and_marks_its_flag() {
    use reqwest::Method;
    let s = TestServer::start();
    let pid = s.creds.project_id;
    let flag_body = json!({
        "name": "Checkout", "key": "checkout", "tags": [], "context": "distinct_id", "serving_method": "server",
        "status": "enabled",
        "ruleset": {"variants": [{"key": "on", "value": true, "is_control": false, "split": 1.0}],
                    "rollout": [{"rollout_percentage": 1.0, "variant_splits": {}}]}
    });
    let (status, flag) =
        call(&s, Method::POST, &format!("/api/app/projects/{pid}/workspaces/1/feature-flags"), Some(flag_body)).await;
    assert_eq!(status, 200, "{flag}");
    let flag_id = flag["results"]["id"].as_str().unwrap().to_string();

    // A draft; a flag that does not exist, or a field the spec lacks, is refused.
    let base = "/api/app/workspaces/1/experiments";
    let (status, err) =
        call(&s, Method::POST, base, Some(json!({"name": "X", "settings": {"feature_flag_id": "nope"}}))).await;
    assert_eq!(status, 400, "{err}");
    let (status, err) = call(&s, Method::POST, base, Some(json!({"name": "X", "colour": "red"}))).await;
    assert_eq!((status, err.to_string().contains("colour")), (400, true), "{err}");
    let body = json!({"name": "New checkout", "hypothesis": "more purchases", "settings": {"feature_flag_id": flag_id},
                      "metrics": [{"event": "Purchase"}], "tags": ["q4"]});
    let (status, made) = call(&s, Method::POST, base, Some(body)).await;
    assert_eq!(status, 200, "{made}");
    let e = &made["results"];
    assert_eq!((e["status"].as_str(), e["content_type"].as_str()), (Some("draft"), Some("experiments")));
    assert_eq!(e["feature_flag"]["key"], "checkout");
    let id = e["id"].as_str().unwrap().to_string();
    let item = format!("{base}/{id}");

    // Only a running experiment concludes; launching starts it and marks its flag.
    let (status, err) = call(&s, Method::PUT, &format!("{item}/force_conclude"), Some(json!({}))).await;
    assert_eq!(status, 400, "{err}");
    let (status, launched) = call(&s, Method::PUT, &format!("{item}/launch"), None).await;
    assert_eq!(status, 200, "{launched}");
    assert_eq!(launched["results"]["status"], "active");
    assert!(launched["results"]["start_date"].is_string());
    let flags = |s: &TestServer| {
        let r = s.http.post(s.url("/flags")).basic_auth(&s.creds.token, Some(""));
        r.json(&json!({"context": {"distinct_id": "u1"}}))
    };
    let (_, answer) = send(flags(&s)).await;
    assert_eq!(answer["flags"]["checkout"]["experiment_id"], json!(id));
    assert_eq!(answer["flags"]["checkout"]["is_experiment_active"], true);

    // One running experiment a flag: another launched onto it is refused.
    let (_, second) =
        call(&s, Method::POST, base, Some(json!({"name": "Rival", "settings": {"feature_flag_id": flag_id}}))).await;
    let rival = format!("{base}/{}", second["results"]["id"].as_str().unwrap());
    let (status, err) = call(&s, Method::PUT, &format!("{rival}/launch"), None).await;
    assert_eq!(status, 409, "{err}");
    let (_, still) = call(&s, Method::GET, &rival, None).await;
    assert_eq!(still["results"]["status"], "draft");
    call(&s, Method::DELETE, &rival, None).await;
    let (_, answer) = send(flags(&s)).await;
    assert_eq!(
        answer["flags"]["checkout"]["is_experiment_active"], true,
        "deleting a draft leaves the mark it does not hold"
    );

    // Changed while running; the status moves forward only.
    let (status, changed) = call(&s, Method::PATCH, &item, Some(json!({"description": "v2"}))).await;
    assert_eq!((status, &changed["results"]["description"]), (200, &json!("v2")), "{changed}");
    let (status, err) = call(&s, Method::PATCH, &item, Some(json!({"status": "draft"}))).await;
    assert_eq!(status, 400, "{err}");

    // Decided: the flag's experiment is marked stopped, the decision kept.
    let (status, decided) =
        call(&s, Method::PATCH, &format!("{item}/decide"), Some(json!({"success": true, "variant": "on"}))).await;
    assert_eq!(status, 200, "{decided}");
    assert_eq!(decided["results"]["status"], "success");
    assert_eq!(decided["results"]["settings"]["decision"]["variant"], "on");
    assert!(decided["results"]["end_date"].is_string());
    let (_, answer) = send(flags(&s)).await;
    assert_eq!(answer["flags"]["checkout"]["is_experiment_active"], false);
    let (status, _) = call(&s, Method::PATCH, &format!("{item}/decide"), Some(json!({"variant": "on"}))).await;
    assert_eq!(status, 400, "a decision needs `success`");

    // Archived: listed only when asked; restored; deleted.
    let (status, _) = call(&s, Method::POST, &format!("{item}/archive"), None).await;
    assert_eq!(status, 200);
    let (_, listed) = call(&s, Method::GET, base, None).await;
    assert_eq!(listed["results"].as_array().unwrap().len(), 0);
    let (_, listed) = call(&s, Method::GET, &format!("{base}?include_archived=true"), None).await;
    assert!(listed["results"][0]["deleted"].is_string());
    let (status, restored) = call(&s, Method::DELETE, &format!("{item}/archive"), None).await;
    assert_eq!((status, restored["results"]["deleted"].is_null()), (200, true), "{restored}");
    let (status, _) = call(&s, Method::DELETE, &item, None).await;
    assert_eq!(status, 200);
    let (status, _) = call(&s, Method::GET, &item, None).await;
    assert_eq!(status, 404);
    // A workspace that does not exist.
    let (status, _) = call(&s, Method::GET, "/api/app/workspaces/999/experiments", None).await;
    assert_eq!(status, 404);
}

/// The standard normal's upper tail (Abramowitz and Stegun 7.1.26, error under 1.5e-7).
fn upper_tail(z: f64) -> f64 {
    let x = z / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly =
        t * (0.254_829_592 + t * (-0.284_496_736 + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    0.5 * poly * (-x * x).exp()
}

#[tokio::test]
async fn results_count_each_person_once_across_merged_identities() {
    use reqwest::Method;
    let s = TestServer::start();
    let pid = s.creds.project_id;
    let flag_body = json!({
        "name": "Checkout", "key": "checkout", "tags": [], "context": "distinct_id", "serving_method": "server",
        "status": "enabled",
        "ruleset": {"variants": [
                        {"key": "control", "value": false, "is_control": true, "split": 0.5},
                        {"key": "treatment", "value": true, "is_control": false, "split": 0.5}],
                    "rollout": [{"rollout_percentage": 1.0, "variant_splits": {}}]}
    });
    let (_, flag) =
        call(&s, Method::POST, &format!("/api/app/projects/{pid}/workspaces/1/feature-flags"), Some(flag_body)).await;
    let flag_id = flag["results"]["id"].as_str().unwrap();
    let base = "/api/app/workspaces/1/experiments";
    let body =
        json!({"name": "Checkout", "settings": {"feature_flag_id": flag_id}, "metrics": [{"event": "Purchase"}]});
    let (_, made) = call(&s, Method::POST, base, Some(body)).await;
    let item = format!("{base}/{}", made["results"]["id"].as_str().unwrap());
    let (status, _) = call(&s, Method::GET, &format!("{item}/results"), None).await;
    assert_eq!(status, 400, "a draft has no results");
    call(&s, Method::PUT, &format!("{item}/launch"), None).await;
    let now = now_ms();
    let start = chrono_iso(now - 3 * 3_600_000);
    let (status, _) = call(&s, Method::PATCH, &item, Some(json!({"start_date": start}))).await;
    assert_eq!(status, 200);

    // 300 people: a third exposed as a user, a third as a device that later logs in
    // (merged into the user) and buys as the user, a third exposed twice (the first
    // exposure counts). Control converts 30 %, treatment 50 %; purchases before exposure
    // do not count.
    let mut events = Vec::new();
    let mut expected: std::collections::BTreeMap<&str, (u64, u64, f64)> = Default::default();
    let exposed_at = now - 2 * 3_600_000;
    let exposure = |props: Value, variant: &str, t: i64, n: usize| {
        let mut p = props;
        p["Experiment name"] = json!("checkout");
        p["Variant name"] = json!(variant);
        p["$experiment_type"] = json!("feature_flag");
        p["time"] = json!(t);
        p["$insert_id"] = json!(format!("x{n}"));
        json!({"event": "$experiment_started", "properties": p})
    };
    let event = |name: &str, props: Value, t: i64, id: String| {
        let mut p = props;
        p["time"] = json!(t);
        p["$insert_id"] = json!(id);
        json!({"event": name, "properties": p})
    };
    for i in 0..300usize {
        let variant = if i % 2 == 0 { "control" } else { "treatment" };
        let user = format!("u{i}");
        let converts = if variant == "control" { i % 10 < 3 } else { i % 10 < 5 || i % 10 == 9 };
        let t = exposed_at + i as i64 * 1000;
        match i % 3 {
            0 => events.push(exposure(json!({"$user_id": user}), variant, t, i)),
            1 => {
                let device = format!("d{i}");
                events.push(exposure(json!({"$device_id": device}), variant, t, i));
                events.push(event("Login", json!({"$device_id": device, "$user_id": user}), t + 500, format!("l{i}")));
            }
            _ => {
                events.push(exposure(json!({"$user_id": user}), variant, t, i));
                let other = if variant == "control" { "treatment" } else { "control" };
                events.push(exposure(json!({"$user_id": user}), other, t + 200, i + 10_000));
            }
        }
        // A purchase an hour before exposure never counts.
        events.push(event("Purchase", json!({"$user_id": user, "amount": 100}), t - 3_600_000, format!("early{i}")));
        let amount = (i % 7) as f64 + 1.5;
        if converts {
            events.push(event("Purchase", json!({"$user_id": user, "amount": amount}), t + 60_000, format!("p{i}")));
        }
        let e = expected.entry(variant).or_default();
        e.0 += 1;
        e.1 += u64::from(converts);
        e.2 += if converts { amount } else { 0.0 };
    }
    for chunk in events.chunks(500) {
        s.import_ok(chunk).await;
    }

    let (status, got) = call(&s, Method::GET, &format!("{item}/results"), None).await;
    assert_eq!(status, 200, "{got}");
    let r = &got["results"];
    assert_eq!(r["control"], "control");
    for (variant, (exposed, converted, _)) in &expected {
        assert_eq!(r["variants"][variant]["exposed"], json!(exposed), "{variant}: {r}");
        assert_eq!(r["variants"][variant]["converted"], json!(converted), "{variant}: {r}");
    }
    // The z-test, computed here.
    let (n1, x1, _) = expected["control"];
    let (n2, x2, _) = expected["treatment"];
    let (p1, p2) = (x1 as f64 / n1 as f64, x2 as f64 / n2 as f64);
    let pooled = (x1 + x2) as f64 / (n1 + n2) as f64;
    let z = (p2 - p1) / (pooled * (1.0 - pooled) * (1.0 / n1 as f64 + 1.0 / n2 as f64)).sqrt();
    let versus = &r["variants"]["treatment"]["versus_control"];
    assert!((versus["p_value"].as_f64().unwrap() - 2.0 * upper_tail(z.abs())).abs() < 1e-5, "{versus}");
    assert!((versus["lift"].as_f64().unwrap() - (p2 - p1) / p1).abs() < 1e-9, "{versus}");
    assert!(r["variants"]["control"]["versus_control"].is_null());

    // The numeric metric: the mean per exposed person of the amounts bought.
    let (status, got) = call(&s, Method::GET, &format!("{item}/results?metric=Purchase&property=amount"), None).await;
    assert_eq!(status, 200, "{got}");
    for (variant, (exposed, _, sum)) in &expected {
        let mean = got["results"]["variants"][variant]["mean"].as_f64().unwrap();
        assert!((mean - sum / *exposed as f64).abs() < 1e-9, "{variant}: {mean} {got}");
    }
    assert!(got["results"]["variants"]["treatment"]["versus_control"]["p_value"].is_number());
    // A one-day window holds every purchase (a minute after exposure); none is refused.
    let (_, got) = call(&s, Method::GET, &format!("{item}/results?window_days=1"), None).await;
    assert_eq!(got["results"]["variants"]["control"]["converted"], json!(x1));
    let (status, _) = call(&s, Method::GET, &format!("{item}/results?window_days=0"), None).await;
    assert_eq!(status, 400);
}

fn chrono_iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).unwrap().to_rfc3339()
}
