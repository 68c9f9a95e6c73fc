//! Annotations and their tags over HTTP, in the shapes of Mixpanel's annotations spec:
//! made, read by date range, changed, deleted; tags listed with whether they are used;
//! every role reads them and analysts and above change them.

mod common;

use common::*;
use serde_json::{Value, json};

fn base(s: &TestServer) -> String {
    s.url(&format!("/api/app/projects/{}/annotations", s.creds.project_id))
}

#[tokio::test]
async fn annotations_are_made_listed_by_date_changed_and_deleted() {
    let s = TestServer::start();
    let owner = |r: reqwest::RequestBuilder| r.basic_auth(&s.creds.sa_user, Some(&s.creds.sa_secret));
    let (status, launch) =
        send(owner(s.http.post(format!("{}/tags", base(&s)))).json(&json!({"name": "launch"}))).await;
    assert_eq!(status, 200, "{launch}");
    assert_eq!(launch["name"], "launch");
    assert_eq!(launch["project_id"], s.creds.project_id);
    assert_eq!(launch["has_annotations"], false);

    let made = json!({"date": "2026-03-01 09:00:00", "description": "v2 shipped", "tags": [launch["id"]]});
    let (status, first) = send(owner(s.http.post(base(&s))).json(&made)).await;
    assert_eq!(status, 201, "{first}");
    let first = &first["results"];
    assert_eq!(first["date"], "2026-03-01 09:00:00");
    assert_eq!(first["description"], "v2 shipped");
    assert_eq!(first["tags"], json!([{"id": launch["id"], "name": "launch"}]));
    assert_eq!(first["user"]["first_name"], s.creds.sa_user.as_str());
    assert!(first["user"]["id"].is_i64(), "{first}");
    let keys: Vec<&String> = first.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["date", "description", "id", "tags", "user"], "the spec's keys and no others");
    let (_, second) =
        send(owner(s.http.post(base(&s))).json(&json!({"date": "2026-03-04", "description": "outage"}))).await;
    let (first_id, second_id) = (first["id"].as_i64().unwrap(), second["results"]["id"].as_i64().unwrap());
    assert_eq!(second["results"]["date"], "2026-03-04 00:00:00");

    // By date: both ends inclusive, either open.
    let ids = |page: &Value| {
        page["results"].as_array().unwrap().iter().map(|a| a["id"].as_i64().unwrap()).collect::<Vec<_>>()
    };
    let (_, all) = send(owner(s.http.get(base(&s)))).await;
    assert_eq!(ids(&all), [first_id, second_id]);
    assert_eq!(all.as_object().unwrap().keys().collect::<Vec<_>>(), ["results", "status"], "no paging keys");
    let (_, from) = send(owner(s.http.get(format!("{}?fromDate=2026-03-02", base(&s))))).await;
    assert_eq!(ids(&from), [second_id]);
    let (_, to) = send(owner(s.http.get(format!("{}?toDate=2026-03-01", base(&s))))).await;
    assert_eq!(ids(&to), [first_id]);
    let (status, bad) = send(owner(s.http.get(format!("{}?fromDate=March", base(&s))))).await;
    assert_eq!(status, 400, "{bad}");
    assert_eq!(bad["status"], "error");

    // Changed: the description and the tags; the tag list tells which are used.
    let (_, outage) = send(owner(s.http.post(format!("{}/tags", base(&s)))).json(&json!({"name": "outage"}))).await;
    let change = json!({"description": "v2.0 shipped", "tags": [outage["id"]]});
    let (status, changed) = send(owner(s.http.patch(format!("{}/{first_id}", base(&s)))).json(&change)).await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["results"]["description"], "v2.0 shipped");
    assert_eq!(changed["results"]["tags"], json!([{"id": outage["id"], "name": "outage"}]));
    let (_, tags) = send(owner(s.http.get(format!("{}/tags", base(&s))))).await;
    let used: Vec<(&str, bool)> =
        tags.as_array().unwrap().iter().map(|t| (t["name"].as_str().unwrap(), t["has_annotations"] == true)).collect();
    assert_eq!(used, [("launch", false), ("outage", true)]);
    let (_, again) = send(owner(s.http.post(format!("{}/tags", base(&s)))).json(&json!({"name": "launch"}))).await;
    assert_eq!(again["id"], launch["id"], "a name names one tag");

    // Refusals name the field; an unknown tag or id is refused.
    let (status, refused) = send(owner(s.http.post(base(&s))).json(&json!({"description": "no date"}))).await;
    assert_eq!(status, 400);
    assert!(refused["details"]["fields"]["date"].is_string(), "{refused}");
    let (status, refused) =
        send(owner(s.http.post(base(&s))).json(&json!({"date": "2026-13-01", "description": "x"}))).await;
    assert_eq!(status, 400, "{refused}");
    let (status, _) =
        send(owner(s.http.post(base(&s))).json(&json!({"date": "2026-03-01", "description": "x", "tags": [999]})))
            .await;
    assert_eq!(status, 400);
    assert_eq!(send(owner(s.http.get(format!("{}/999", base(&s))))).await.0, 404);

    // Deleted: the spec's answer, and gone.
    let (status, deleted) = send(owner(s.http.delete(format!("{}/{first_id}", base(&s))))).await;
    assert_eq!((status, deleted), (200, json!({"status": "ok", "results": {"id": first_id}})));
    assert_eq!(send(owner(s.http.get(format!("{}/{first_id}", base(&s))))).await.0, 404);
    let (_, all) = send(owner(s.http.get(base(&s)))).await;
    assert_eq!(ids(&all), [second_id]);
}

#[tokio::test]
async fn every_role_reads_annotations_and_analysts_and_above_change_them() {
    let s = TestServer::start();
    let pid = s.creds.project_id.to_string();
    let made = json!({"date": "2026-03-01", "description": "note"});
    for (role, may_change) in [("owner", true), ("admin", true), ("analyst", true), ("consumer", false)] {
        let sa = s.cli_json(&["service-account", "create", "--project", &pid, "--role", role]);
        let as_role =
            |r: reqwest::RequestBuilder| r.basic_auth(sa["username"].as_str().unwrap(), sa["secret"].as_str());
        assert_eq!(send(as_role(s.http.get(base(&s)))).await.0, 200, "{role} reads");
        assert_eq!(send(as_role(s.http.get(format!("{}/tags", base(&s))))).await.0, 200, "{role} reads tags");
        let (status, body) = send(as_role(s.http.post(base(&s))).json(&made)).await;
        assert_eq!(status, if may_change { 201 } else { 403 }, "{role}: {body}");
        let (status, _) = send(as_role(s.http.post(format!("{}/tags", base(&s)))).json(&json!({"name": role}))).await;
        assert_eq!(status, if may_change { 200 } else { 403 }, "{role} makes a tag");
    }
    // The project token reads nothing.
    let (status, _) = send(s.http.get(base(&s)).basic_auth(&s.creds.token, Some(""))).await;
    assert!(status == 401 || status == 403, "{status}");
}

#[tokio::test]
async fn reports_show_the_annotations_of_their_range_when_asked() {
    let s = TestServer::start();
    let (yesterday, tomorrow) = chrono_like_today();
    let owner = |r: reqwest::RequestBuilder| r.basic_auth(&s.creds.sa_user, Some(&s.creds.sa_secret));
    let (_, tag) = send(owner(s.http.post(format!("{}/tags", base(&s)))).json(&json!({"name": "release"}))).await;
    let note = json!({"date": format!("{yesterday} 12:00:00"), "description": "v3", "tags": [tag["id"]]});
    assert_eq!(send(owner(s.http.post(base(&s))).json(&note)).await.0, 201);
    let outside = json!({"date": "2020-01-01", "description": "long ago"});
    assert_eq!(send(owner(s.http.post(base(&s))).json(&outside)).await.0, 201);
    s.import_ok(&[
        json!({"event": "Play", "properties": {"distinct_id": "u", "time": now_ms() / 1000, "$insert_id": "a1"}}),
    ])
    .await;

    let report = |extra: &str| {
        s.http
            .get(s.url(&format!(
                "/api/query/segmentation?event=Play&from_date={yesterday}&to_date={tomorrow}&unit=day{extra}"
            )))
            .basic_auth(&s.creds.secret, Some(""))
    };
    let (status, plain) = send(report("")).await;
    assert_eq!(status, 200, "{plain}");
    assert!(plain.get("annotations").is_none(), "only when asked: {plain}");
    let (_, with) = send(report("&annotations=true")).await;
    let notes = with["annotations"].as_array().unwrap();
    assert_eq!(notes.len(), 1, "{with}");
    assert_eq!(notes[0]["description"], "v3");
    assert_eq!(notes[0]["tags"], json!(["release"]));
    assert_eq!(with["data"], plain["data"], "the answer itself is unchanged");
    let (status, bad) = send(report("&annotations=maybe")).await;
    assert_eq!(status, 400, "{bad}");
    // The value reports too.
    for kind in ["sum", "average"] {
        let url = format!(
            "/api/query/segmentation/{kind}?event=Play&from_date={yesterday}&to_date={tomorrow}&on=1&annotations=true"
        );
        let (status, with) = send(s.http.get(s.url(&url)).basic_auth(&s.creds.secret, Some(""))).await;
        assert_eq!(status, 200, "{with}");
        assert_eq!(with["annotations"].as_array().map(Vec::len), Some(1), "{kind}: {with}");
        assert!(with["results"].is_object(), "{with}");
    }
}
