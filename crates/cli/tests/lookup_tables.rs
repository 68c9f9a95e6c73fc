//! Lookup tables: created and mapped through the CLI and the App API, listed and
//! replaced through Mixpanel's `/lookup-tables` API, and read as nested properties by
//! export's `where`, engage and cohorts.

mod common;

use common::*;
use serde_json::{Value, json};

async fn put_csv(s: &TestServer, id: &str, csv: &[u8], gzip_it: bool) -> (u16, Value) {
    let url = s.url(&format!("/lookup-tables/{id}?project_id={}", s.creds.project_id));
    let mut r =
        s.http.put(url).basic_auth(&s.creds.sa_user, Some(&s.creds.sa_secret)).header("Content-Type", "text/csv");
    r = if gzip_it { r.header("Content-Encoding", "gzip").body(gzip(csv)) } else { r.body(csv.to_vec()) };
    let r = r.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn list(s: &TestServer) -> (u16, Value) {
    let url = s.url(&format!("/lookup-tables?project_id={}", s.creds.project_id));
    let r = s.http.get(url).basic_auth(&s.creds.sa_user, Some(&s.creds.sa_secret)).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

fn plays(s: &TestServer) -> Vec<Value> {
    let t = now_ms();
    let play = |n: usize, song: Value| json!({"event": "Play", "properties": {"time": t - n as i64, "distinct_id": format!("u{n}"), "$insert_id": format!("p{n}"), "song_id": song}});
    let _ = s;
    vec![
        play(1, json!("s1")),
        play(2, json!("s2")),
        play(3, json!(42)),
        play(4, json!(["s1", "s2"])),
        play(5, json!("nope")),
    ]
}

async fn export_where(s: &TestServer, expr: &str) -> Vec<String> {
    let mut ids: Vec<String> = s
        .export(&format!("&where={}", urlencode(expr)))
        .await
        .iter()
        .map(|e| e["properties"]["distinct_id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn tables_are_created_replaced_and_read_as_nested_properties() {
    let s = TestServer::start();
    s.import_ok(&plays(&s)).await;

    // Created through the CLI, mapped to the event property `song_id`.
    let t = s.cli_json(&["lookup-table", "create", "--project", "1", "--name", "Songs", "--map", "event:song_id"]);
    let id = t["id"].as_str().unwrap().to_string();
    assert_eq!(t["mappings"], json!([{"target": "event", "property": "song_id"}]));
    let (status, body) = list(&s).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"code": 200, "status": "OK", "results": [{"id": id, "name": "Songs"}]}));

    // Before any upload, the mapped columns read as undefined.
    assert_eq!(export_where(&s, r#"defined(properties["song_id"]["artist"])"#).await, Vec::<String>::new());

    let csv = "id,artist,plays,live,genres\n\
               s1,Nina Simone,10,true,\"[\"\"jazz\"\",\"\"soul\"\"]\"\n\
               s2,Miles Davis,3,false,\"[\"\"jazz\"\"]\"\n\
               42,The Answer,42,,\n";
    let (status, body) = put_csv(&s, &id, csv.as_bytes(), false).await;
    assert_eq!((status, body), (200, json!({"code": 200, "status": "OK"})));

    assert_eq!(export_where(&s, r#"properties["song_id"]["artist"] == "Nina Simone""#).await, ["u1"]);
    assert_eq!(
        export_where(&s, r#"properties["song_id.artist"] == "the answer""#).await,
        ["u3"],
        "numbers match keys as text"
    );
    assert_eq!(export_where(&s, r#"properties["song_id.plays"] > 5"#).await, ["u1", "u3"]);
    assert_eq!(export_where(&s, r#"properties["song_id.live"] == false"#).await, ["u2"]);
    assert_eq!(export_where(&s, r#""soul" in properties["song_id.genres"]"#).await, ["u1"]);
    assert_eq!(
        export_where(&s, r#""Miles Davis" in properties["song_id"]["artist"]"#).await,
        ["u2", "u4"],
        "a list maps element by element (u4), and `in` over a string is a substring test (u2)"
    );
    assert_eq!(export_where(&s, r#"any(a, properties["song_id.artist"], a == "nina simone")"#).await, ["u4"]);
    assert_eq!(export_where(&s, r#"not defined(properties["song_id.artist"])"#).await, ["u5"]);

    // A replace is whole and retroactive: old keys are gone, new values apply to past events.
    let (status, _) = put_csv(&s, &id, b"id,artist\ns2,Coltrane\nnope,Found\n", true).await;
    assert_eq!(status, 200);
    assert_eq!(export_where(&s, r#"defined(properties["song_id.artist"])"#).await, ["u2", "u4", "u5"]);
    assert_eq!(export_where(&s, r#"properties["song_id.plays"] > 5"#).await, Vec::<String>::new());

    // The App API shows the shape of the last upload.
    let r = s.http.get(s.url("/api/app/projects/1/lookup-tables")).basic_auth(&s.creds.secret, Some(""));
    let page: Value = r.send().await.unwrap().json().await.unwrap();
    assert_eq!(page["results"][0]["row_count"], 2, "{page}");
    assert_eq!(page["results"][0]["columns"], json!(["id", "artist"]));
    assert!(page["results"][0]["replaced"].is_string());
}

#[tokio::test]
async fn profile_properties_map_for_engage_and_cohorts() {
    let s = TestServer::start();
    let updates: Vec<Value> = (0..4)
        .map(|i| json!({"$token": s.creds.token, "$distinct_id": format!("u{i}"), "$set": {"plan_id": format!("p{}", i % 2)}}))
        .collect();
    let r = s.http.post(s.url("/engage")).json(&updates).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "1");

    let body = json!({"name": "Plans", "mappings": ["user:plan_id"]});
    let r = s.http.post(s.url("/api/app/projects/1/lookup-tables")).basic_auth(&s.creds.secret, Some("")).json(&body);
    let r = r.send().await.unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    let id = created["results"]["id"].as_str().unwrap().to_string();
    let (status, _) = put_csv(&s, &id, b"plan,tier,seats\np0,Enterprise,50\np1,Starter,1\n", false).await;
    assert_eq!(status, 200);

    let r = s.http.post(s.url("/api/query/engage")).basic_auth(&s.creds.secret, Some(""));
    let r = r.form(&[("where", r#"properties["plan_id.tier"] == "Enterprise""#)]).send().await.unwrap();
    let page: Value = r.json().await.unwrap();
    let ids: Vec<&str> =
        page["results"].as_array().unwrap().iter().map(|p| p["$distinct_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["u0", "u2"], "{page}");
    assert_eq!(page["total"], 2);

    let big = s.cli_json(&[
        "cohort",
        "create",
        "--project",
        "1",
        "--name",
        "Big",
        "--where",
        r#"user["plan_id"]["seats"] >= 10"#,
    ]);
    let r = s.http.post(s.url("/api/query/cohorts/list")).basic_auth(&s.creds.secret, Some(""));
    let cohorts: Value = r.send().await.unwrap().json().await.unwrap();
    assert_eq!(cohorts[0]["id"], big["id"]);
    assert_eq!(cohorts[0]["count"], 2);

    // Unmapping takes the nested properties away.
    let r =
        s.http.patch(s.url(&format!("/api/app/projects/1/lookup-tables/{id}"))).basic_auth(&s.creds.secret, Some(""));
    let r = r.json(&json!({"mappings": []})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = s.http.get(s.url(&format!("/api/app/projects/1/lookup-tables/{id}"))).basic_auth(&s.creds.secret, Some(""));
    let one: Value = r.send().await.unwrap().json().await.unwrap();
    assert_eq!((&one["results"]["id"], &one["results"]["mappings"]), (&json!(id), &json!([])), "{one}");
    let r = s.http.post(s.url("/api/query/cohorts/list")).basic_auth(&s.creds.secret, Some(""));
    let cohorts: Value = r.send().await.unwrap().json().await.unwrap();
    assert_eq!(cohorts[0]["count"], 0);
}

#[tokio::test]
async fn bad_uploads_fail_whole_in_mixpanels_shape() {
    let s = TestServer::start();
    let t = s.cli_json(&["lookup-table", "create", "--project", "1", "--name", "T", "--map", "event:k"]);
    let id = t["id"].as_str().unwrap().to_string();
    let (status, _) = put_csv(&s, &id, b"id,v\na,1\n", false).await;
    assert_eq!(status, 200);

    let (status, body) = put_csv(&s, &id, b"id,v\nb,2\n,3\nc,1,2\nb,4\n", false).await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"code": 400, "error": "Some data points in the request failed validation.", "status": "Bad Request",
               "failed_records": [
                   {"index": 1, "message": "primary key is required and cannot be blank"},
                   {"index": 2, "message": "invalid row: wrong number of fields"},
                   {"index": 3, "message": "invalid row: row indexes 0 and 3 have the same primary key"}]})
    );
    let many: String = std::iter::once("id,v\n".to_string()).chain((0..25).map(|_| ",1\n".to_string())).collect();
    let (_, body) = put_csv(&s, &id, many.as_bytes(), false).await;
    assert_eq!(body["failed_records"].as_array().unwrap().len(), 10);

    let (status, body) = put_csv(&s, &id, b"id,v,v\na,1,2\n", false).await;
    assert_eq!(status, 400);
    assert_eq!(body["status"], "Bad Request");
    assert!(body["error"].as_str().unwrap().contains("twice"), "{body}");

    // Nothing was replaced by the failures.
    s.import_ok(&[
        json!({"event": "E", "properties": {"time": now_ms(), "distinct_id": "x", "$insert_id": "e1", "k": "a"}}),
    ])
    .await;
    let found = s.export(&format!("&where={}", urlencode(r#"properties["k.v"] == 1"#))).await;
    assert_eq!(found.len(), 1);

    let missing = "f077cb07-008a-4955-8a4a-b4c163db3a87";
    let (status, body) = put_csv(&s, missing, b"id,v\na,1\n", false).await;
    assert_eq!(status, 404);
    assert_eq!(
        body,
        json!({"code": 404, "error": format!("Lookup table with id '{missing}' was not found."), "status": "Not Found"})
    );

    // Credentials: none, the public token, and a wrong project.
    let url = s.url(&format!("/lookup-tables/{id}?project_id=1"));
    let r = s.http.put(&url).body("id,v\na,1\n").send().await.unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "Unauthorized");
    let r = s.http.put(&url).basic_auth(&s.creds.token, Some("")).body("id,v\na,1\n").send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = s.http.get(s.url("/lookup-tables")).basic_auth(&s.creds.secret, Some("")).send().await.unwrap();
    assert_eq!(r.status(), 200, "the project secret lists without project_id");

    // Over 100 MB uncompressed: 413, even when it arrives gzipped.
    let big = vec![b'a'; 101 * 1024 * 1024];
    let (status, body) = put_csv(&s, &id, &big, true).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["code"], 413);
}

#[tokio::test]
async fn mappings_are_validated() {
    let s = TestServer::start();
    let post = |body: Value| {
        s.http.post(s.url("/api/app/projects/1/lookup-tables")).basic_auth(&s.creds.secret, Some("")).json(&body).send()
    };
    let r = post(json!({"name": "A", "mappings": [{"target": "event", "property": "sku"}]})).await.unwrap();
    assert_eq!(r.status(), 201);
    let r = post(json!({"name": "B", "mappings": ["event:sku"]})).await.unwrap();
    assert_eq!(r.status(), 409, "a property maps to one table");
    let r = post(json!({"name": "C", "mappings": ["session:sku"]})).await.unwrap();
    assert_eq!(r.status(), 400);
    let r = post(json!({"name": "D", "mappings": ["event:distinct_id"]})).await.unwrap();
    assert_eq!(r.status(), 400);
    let r = post(json!({"mappings": ["user:x"]})).await.unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["details"]["fields"]["name"], "is required");

    // Deleting through the App API removes the table and frees its properties.
    let (_, listed) = list(&s).await;
    let id = listed["results"][0]["id"].as_str().unwrap().to_string();
    let r =
        s.http.delete(s.url(&format!("/api/app/projects/1/lookup-tables/{id}"))).basic_auth(&s.creds.secret, Some(""));
    assert_eq!(r.send().await.unwrap().status(), 200);
    let r = post(json!({"name": "B", "mappings": ["event:sku"]})).await.unwrap();
    assert_eq!(r.status(), 201);
    let (status, _) = put_csv(&s, &id, b"id,v\na,1\n", false).await;
    assert_eq!(status, 404);
}
