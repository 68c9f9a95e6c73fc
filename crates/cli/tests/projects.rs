//! Projects and workspaces over HTTP: an organisation's owners make, list, configure
//! and delete projects (changes reach the token cache and the rate limiter at once);
//! a workspace shows only some events and hides some properties to the reads that go
//! through it, and confines its members.

mod common;

use common::*;
use serde_json::{Value, json};

fn now_s() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

#[tokio::test]
async fn an_organization_makes_configures_and_deletes_projects() {
    let s = TestServer::start();
    let org = s.organization();
    let base = s.url(&format!("/api/app/organizations/{org}/projects"));
    let owner = |r: reqwest::RequestBuilder| r.basic_auth(&s.creds.sa_user, Some(&s.creds.sa_secret));

    // Made with its settings; the secret is shown once, and the token works at once.
    let body = json!({"name": "Shop", "timezone": "Europe/Paris", "region": "us", "identity_merge": "original",
                      "rate_limits": {"app": {"per_minute": 1000}}});
    let (status, made) = send(owner(s.http.post(&base)).json(&body)).await;
    assert_eq!(status, 201, "{made}");
    let shop = made["results"].clone();
    let id = shop["id"].as_i64().unwrap();
    assert_eq!((shop["timezone"].as_str(), shop["identity_merge"].as_str()), (Some("Europe/Paris"), Some("original")));
    assert_eq!(shop["rate_limits"], json!({"app": {"per_minute": 1000}}));
    assert_eq!(shop["effective_rate_limits"]["app"]["per_minute"], 1000);
    let (token, secret) = (shop["token"].as_str().unwrap().to_string(), shop["secret"].as_str().unwrap().to_string());
    let event = json!([{"event": "Purchase", "properties": {"token": token, "distinct_id": "u1", "time": now_s()}}]);
    let (status, body) = send(s.http.post(s.url("/track?verbose=1")).json(&event)).await;
    assert_eq!((status, body["status"].as_i64()), (200, Some(1)), "{body}");

    // Listed newest first, a page at a time, trimmed by `fields`, with its workspaces.
    let (status, page) =
        send(owner(s.http.get(format!("{base}?limit=1&fields=id,name,workspaces&expand=workspaces")))).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["results"][0]["id"], id);
    assert_eq!(page["results"][0]["workspaces"][0]["name"], "All Project Data");
    assert!(page["results"][0].get("token").is_none() && page["hasNext"] == true, "{page}");
    let (status, next) =
        send(owner(s.http.get(format!("{base}?limit=1&next={}", page["next"].as_str().unwrap())))).await;
    assert_eq!((status, next["results"][0]["id"].as_i64()), (200, Some(s.creds.project_id)));
    assert_eq!(send(owner(s.http.get(format!("{base}?expand=owners")))).await.0, 400);

    // Configured: limits apply to the next request; the mode is fixed now that it has data.
    let one = format!("{base}/{id}");
    let (status, changed) = send(owner(s.http.patch(&one)).json(&json!({"name": "Shop EU", "timezone": "UTC",
        "rate_limits": {"app": {"per_minute": 2}}})))
    .await;
    assert_eq!((status, changed["results"]["name"].as_str()), (200, Some("Shop EU")), "{changed}");
    let as_secret = |r: reqwest::RequestBuilder| r.basic_auth(&secret, Some(""));
    let own = s.url(&format!("/api/app/projects/{id}"));
    let r = as_secret(s.http.get(&own)).send().await.unwrap();
    assert_eq!(r.headers()["x-ratelimit-limit"], "2", "the new limit, at once");
    assert_eq!(r.json::<Value>().await.unwrap()["results"]["timezone"], "UTC");
    send(as_secret(s.http.get(&own))).await;
    assert_eq!(send(as_secret(s.http.get(&own))).await.0, 429, "two a minute");
    let (status, refused) = send(owner(s.http.patch(&one)).json(&json!({"identity_merge": "simplified"}))).await;
    assert_eq!(status, 409, "{refused}");
    let (status, refused) =
        send(owner(s.http.patch(&one)).json(&json!({"timezone": "Mars/Olympus", "colour": 1}))).await;
    assert_eq!(status, 400, "{refused}");
    assert!(refused["details"]["fields"]["colour"].is_string(), "{refused}");
    assert_eq!(send(owner(s.http.patch(&one)).json(&json!({"timezone": "Mars/Olympus"}))).await.0, 400);

    // Deleted with its data; its token stops working at once, and another project's
    // events stay.
    s.import_ok(&[json!({"event": "Kept", "properties": {"distinct_id": "k", "time": now_s(), "$insert_id": "k1"}})])
        .await;
    let (_, empty) = send(owner(s.http.post(&base)).json(&json!({"name": "Scratch"}))).await;
    let empty = empty["results"].clone();
    let scratch = format!("{base}/{}", empty["id"]);
    let probe = json!([{"event": "x", "properties": {"token": empty["token"], "distinct_id": "u"}}]);
    assert_eq!(send(s.http.post(s.url("/track?verbose=1")).json(&probe)).await.1["status"], 1, "the token works");
    let (status, gone) = send(owner(s.http.delete(&scratch))).await;
    assert_eq!((status, gone["results"]["id"].clone()), (200, empty["id"].clone()), "{gone}");
    assert_eq!(send(s.http.post(s.url("/track?verbose=1")).json(&probe)).await.0, 401, "and now it does not");
    assert_eq!(send(owner(s.http.get(&scratch))).await.0, 404);
    assert_eq!(send(owner(s.http.delete(&scratch))).await.0, 404);
    assert_eq!(s.export("").await.len(), 1, "the default project's event stays");

    // Only the organisation's owners and admins manage projects; members read their own.
    let pid = s.creds.project_id.to_string();
    let analyst = s.cli_json(&["service-account", "create", "--project", &pid, "--role", "consumer"]);
    let as_consumer =
        |r: reqwest::RequestBuilder| r.basic_auth(analyst["username"].as_str().unwrap(), analyst["secret"].as_str());
    assert_eq!(send(as_consumer(s.http.get(&base))).await.0, 403);
    assert_eq!(send(as_consumer(s.http.post(&base)).json(&json!({"name": "x"}))).await.0, 403);
    let (status, mine) =
        send(as_consumer(s.http.get(s.url(&format!("/api/app/projects/{pid}?expand=workspaces"))))).await;
    assert_eq!((status, mine["results"]["workspaces"][0]["is_default"].as_bool()), (200, Some(true)), "{mine}");
    let other_org = send(owner(s.http.get(s.url(&format!("/api/app/organizations/{}/projects", org + 1))))).await.0;
    assert!(other_org == 401 || other_org == 403, "{other_org}");

    // The CLI changes the same settings.
    let limits = r#"{"export": {"per_second": 0}}"#;
    let changed =
        s.cli_json(&["project", "configure", "--project", &pid, "--timezone", "Asia/Tokyo", "--rate-limits", limits]);
    assert_eq!(
        (changed["timezone"].as_str(), changed["rate_limits"].clone()),
        (Some("Asia/Tokyo"), json!({"export": {"per_second": 0}}))
    );
    let (_, mine) = send(as_consumer(s.http.get(s.url(&format!("/api/app/projects/{pid}"))))).await;
    assert_eq!(mine["results"]["timezone"], "Asia/Tokyo");
}

#[tokio::test]
async fn a_workspace_shows_its_readers_only_what_it_says() {
    let s = TestServer::start();
    let pid = s.creds.project_id;
    let base = s.url(&format!("/api/app/projects/{pid}/workspaces"));
    let owner = |r: reqwest::RequestBuilder| r.basic_auth(&s.creds.sa_user, Some(&s.creds.sa_secret));
    let now = now_s();
    let events: Vec<Value> = (0..6)
        .map(|i| {
            let name = if i % 2 == 0 { "Purchase" } else { "Login" };
            json!({"event": name, "properties": {"distinct_id": format!("u{i}"), "time": now - 60, "$insert_id": format!("e{i}"),
                   "email": "a@b.c", "plan": "pro"}})
        })
        .collect();
    s.import_ok(&events).await;

    let analyst = s.cli_json(&["service-account", "create", "--project", &pid.to_string(), "--role", "analyst"]);
    let as_analyst =
        |r: reqwest::RequestBuilder| r.basic_auth(analyst["username"].as_str().unwrap(), analyst["secret"].as_str());
    let body = json!({"name": "Sales", "events": ["Purchase"], "hidden_properties": ["email"]});
    let (status, made) = send(owner(s.http.post(&base)).json(&body)).await;
    assert_eq!(status, 201, "{made}");
    let sales = made["results"]["id"].as_i64().unwrap();
    assert_eq!(made["results"]["events"], json!(["Purchase"]));
    assert!(made["results"]["created"].is_string() && made["results"]["is_default"] == false, "{made}");
    let (_, all) = send(as_analyst(s.http.get(&base))).await;
    assert_eq!(all["results"].as_array().unwrap().len(), 2, "every role reads them: {all}");
    let default = all["results"][1]["id"].as_i64().unwrap();
    assert_eq!(send(as_analyst(s.http.post(&base)).json(&body)).await.0, 403, "an analyst changes none");

    // Reports through it: its events only, its hidden properties refused.
    let (from, to) = chrono_like_today();
    let report = |params: &str| {
        s.url(&format!("/api/query/segmentation?project_id={pid}&from_date={from}&to_date={to}&{params}"))
    };
    let (status, ok) =
        send(as_analyst(s.http.get(report(&format!("event=Purchase&workspace_id={sales}&on=properties[\"plan\"]")))))
            .await;
    assert_eq!(status, 200, "{ok}");
    let (status, refused) = send(as_analyst(s.http.get(report(&format!("event=Login&workspace_id={sales}"))))).await;
    assert_eq!(status, 400, "{refused}");
    assert!(refused["error"].as_str().unwrap().contains("not shown in this workspace"), "{refused}");
    let hidden = format!("event=Purchase&workspace_id={sales}&where=properties[\"email\"]==\"a@b.c\"");
    assert_eq!(send(as_analyst(s.http.get(report(&hidden)))).await.0, 400);
    assert_eq!(send(as_analyst(s.http.get(report("event=Login&workspace_id=999999")))).await.0, 400);
    assert_eq!(send(as_analyst(s.http.get(report("event=Login&workspace_id=x")))).await.0, 400);
    let names = s.url(&format!("/api/query/events/names?project_id={pid}&type=general&workspace_id={sales}"));
    assert_eq!(send(as_analyst(s.http.get(names))).await.1, json!(["Purchase"]));
    let exported = s.export(&format!("&workspace_id={sales}")).await;
    assert_eq!(exported.len(), 3);
    assert!(exported.iter().all(|e| e["event"] == "Purchase" && e["properties"].get("email").is_none()));
    assert!(exported.iter().all(|e| e["properties"]["plan"] == "pro"));
    assert_eq!(s.export(&format!("&workspace_id={sales}&event=[]")).await.len(), 3, "no events named: those shown");
    let behaviors = |event: &str| {
        let b = json!([{"name": "b", "window": "30d", "event_selectors": [{"event": event}]}]).to_string();
        let form = [("behaviors", b.as_str()), ("where", "behaviors[\"b\"] > 0")];
        owner(s.http.post(s.url(&format!("/api/query/engage?project_id={pid}&workspace_id={sales}")))).form(&form)
    };
    let (status, refused) = send(behaviors("Login")).await;
    assert_eq!(status, 400, "profiles are not counted by events the workspace hides: {refused}");
    assert_eq!(send(behaviors("Purchase")).await.0, 200);
    assert_eq!(s.export("").await.len(), 6, "without a workspace, everything");

    // A member reads only through its workspaces, whatever it names; owners and admins
    // manage workspaces and are no members.
    let admin = s.cli_json(&["service-account", "create", "--project", &pid.to_string(), "--role", "admin"]);
    let (status, refused) =
        send(owner(s.http.patch(format!("{base}/{sales}"))).json(&json!({"members": [admin["id"]]}))).await;
    assert_eq!(status, 400, "{refused}");
    let member = json!({"members": [analyst["id"]]});
    let (status, changed) = send(owner(s.http.patch(format!("{base}/{sales}"))).json(&member)).await;
    assert_eq!((status, changed["results"]["members"].clone()), (200, json!([analyst["id"]])), "{changed}");
    let (status, refused) = send(as_analyst(s.http.get(report("event=Login")))).await;
    assert_eq!(status, 400, "its own workspace applies unnamed: {refused}");
    assert_eq!(send(as_analyst(s.http.get(report(&format!("event=Login&workspace_id={default}"))))).await.0, 403);
    assert_eq!(send(owner(s.http.get(report("event=Login")))).await.0, 200, "others still read everything");

    // The default workspace shows everything and stays.
    assert_eq!(send(owner(s.http.patch(format!("{base}/{default}"))).json(&json!({"events": ["A"]}))).await.0, 400);
    assert_eq!(send(owner(s.http.delete(format!("{base}/{default}")))).await.0, 409);
    assert_eq!(send(owner(s.http.delete(format!("{base}/{sales}")))).await.0, 200);
    assert_eq!(send(as_analyst(s.http.get(report("event=Login")))).await.0, 200, "freed with the workspace");
}
