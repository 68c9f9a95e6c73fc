//! An organisation's service accounts over HTTP, in the shapes of Mixpanel's
//! service-accounts spec: listed, made with project roles (the secret shown once),
//! added to and removed from projects, deleted everywhere at once; only the
//! organisation's owners and admins manage them.

mod common;

use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn an_organization_manages_its_service_accounts() {
    let s = TestServer::start();
    let org = s.organization();
    let base = s.url(&format!("/api/app/organizations/{org}/service-accounts"));
    let owner = |r: reqwest::RequestBuilder| r.basic_auth(&s.creds.sa_user, Some(&s.creds.sa_secret));
    let pid = s.creds.project_id;
    let second = s.cli_json(&["project", "create", "--name", "Second"])["id"].as_i64().unwrap();

    // Made with a role in one project; the secret is shown once and works there.
    let made = json!({"username": "CI bot", "role": "consumer", "expires": "2099-01-01T00:00:00Z",
                      "projects": [{"id": pid, "role": "analyst"}]});
    let (status, made) = send(owner(s.http.post(&base)).json(&made)).await;
    assert_eq!(status, 201, "{made}");
    let bot = made["results"].clone();
    assert_eq!(made["status"], "ok");
    assert!(bot["token"].is_string() && bot["username"].as_str().unwrap().starts_with("ci-bot."), "{bot}");
    assert_eq!(bot["expires"], "2099-01-01T00:00:00.000Z");
    assert_eq!(
        bot["creator"],
        json!(
            serde_json::from_str::<Value>(&std::fs::read_to_string(s.dir.join("bootstrap.json")).unwrap()).unwrap()["service_account"]
                ["id"]
        )
    );
    let as_bot = |r: reqwest::RequestBuilder| r.basic_auth(bot["username"].as_str().unwrap(), bot["token"].as_str());
    let reads = |project: i64| s.url(&format!("/api/query/events/names?project_id={project}&type=general"));
    assert_eq!(send(as_bot(s.http.get(reads(pid)))).await.0, 200, "an analyst of the first project reads it");
    assert_eq!(send(as_bot(s.http.get(reads(second)))).await.0, 403, "and has no role in the second");
    let tokenless = json!([{"event": "e", "properties": {"distinct_id": "u"}}]);
    let track = s.url(&format!("/track?project_id={pid}"));
    assert_eq!(
        send(as_bot(s.http.post(&track)).json(&tokenless)).await.0,
        403,
        "an analyst lends no project to /track"
    );

    // Listed and read back, the secret never again.
    let (_, all) = send(owner(s.http.get(&base))).await;
    let ids: Vec<i64> = all["results"].as_array().unwrap().iter().map(|a| a["id"].as_i64().unwrap()).collect();
    assert!(ids.contains(&bot["id"].as_i64().unwrap()) && ids.len() == 2, "{all}");
    assert_eq!(all["results"][0]["username"], s.creds.sa_user.as_str(), "oldest first");
    assert!(all["results"].as_array().unwrap().iter().all(|a| a.get("token").is_none()));
    let one = format!("{base}/{}", bot["id"]);
    let (status, got) = send(owner(s.http.get(&one))).await;
    assert_eq!((status, &got["results"]["id"]), (200, &bot["id"]));

    // Added to the second project, then taken out of it.
    let add = json!({"projects": [{"id": second, "role": "consumer"}], "service_account_ids": [bot["id"]]});
    assert_eq!(
        send(owner(s.http.post(format!("{base}/add-to-project"))).json(&add)).await,
        (200, json!({"status": "ok"}))
    );
    assert_eq!(send(as_bot(s.http.get(reads(second)))).await.0, 200);
    let remove = json!({"projects": [{"id": second, "service_account_ids": [bot["id"]]}]});
    assert_eq!(send(owner(s.http.post(format!("{base}/remove-from-project"))).json(&remove)).await.0, 200);
    assert_eq!(send(as_bot(s.http.get(reads(second)))).await.0, 403);

    // Refusals: a member that is no admin, another organisation, bad bodies, strangers.
    assert_eq!(send(as_bot(s.http.get(&base))).await.0, 403, "a consumer of the organization manages nothing");
    let other = s.url(&format!("/api/app/organizations/{}/service-accounts", org + 1));
    assert_eq!(send(owner(s.http.get(&other))).await.0, 401);
    let (status, refused) = send(owner(s.http.post(&base)).json(&json!({"role": "king"}))).await;
    assert_eq!(status, 400);
    assert!(
        refused["details"]["fields"]["username"].is_string() && refused["details"]["fields"]["role"].is_string(),
        "{refused}"
    );
    let stranger = json!({"projects": [{"id": 9999, "role": "admin"}], "service_account_ids": [bot["id"]]});
    assert_eq!(send(owner(s.http.post(format!("{base}/add-to-project"))).json(&stranger)).await.0, 400);
    assert_eq!(
        send(s.http.get(&base).basic_auth(&s.creds.secret, Some(""))).await.0,
        401,
        "the project secret is no organization credential"
    );

    // An admin of the organization gives no role above its own, and touches no owner.
    let (_, ops) = send(owner(s.http.post(&base)).json(&json!({"username": "ops", "role": "admin"}))).await;
    let ops = ops["results"].clone();
    let as_ops = |r: reqwest::RequestBuilder| r.basic_auth(ops["username"].as_str().unwrap(), ops["token"].as_str());
    let boss = json!({"username": "boss", "role": "owner"});
    assert_eq!(send(as_ops(s.http.post(&base)).json(&boss)).await.0, 403, "no owner made by an admin");
    let owns = json!({"username": "x", "projects": [{"id": pid, "role": "owner"}]});
    assert_eq!(send(as_ops(s.http.post(&base)).json(&owns)).await.0, 403, "no project owner either");
    let me_owner = json!({"projects": [{"id": pid, "role": "owner"}], "service_account_ids": [ops["id"]]});
    assert_eq!(send(as_ops(s.http.post(format!("{base}/add-to-project"))).json(&me_owner)).await.0, 403);
    let first = all["results"][0]["id"].clone();
    assert_eq!(send(as_ops(s.http.delete(format!("{base}/{first}")))).await.0, 403, "the owner stays");
    let demote = json!({"projects": [{"id": pid, "role": "consumer"}], "service_account_ids": [first]});
    assert_eq!(send(as_ops(s.http.post(format!("{base}/add-to-project"))).json(&demote)).await.0, 403);
    let out = json!({"projects": [{"id": pid, "service_account_ids": [first]}]});
    assert_eq!(send(as_ops(s.http.post(format!("{base}/remove-from-project"))).json(&out)).await.0, 403);
    let (status, _) = send(as_ops(s.http.post(&base)).json(&json!({"username": "reader"}))).await;
    assert_eq!(status, 201, "a consumer it may make");
    let many: Vec<Value> = (0..101).map(|i| json!({"id": i, "role": "consumer"})).collect();
    let too_many = json!({"projects": many, "service_account_ids": [1]});
    assert_eq!(send(owner(s.http.post(format!("{base}/add-to-project"))).json(&too_many)).await.0, 400);

    // A token made by an account dies with it.
    let tokener = json!({"username": "tokener", "projects": [{"id": pid, "role": "admin"}]});
    let (_, tokener) = send(owner(s.http.post(&base)).json(&tokener)).await;
    let tokener = tokener["results"].clone();
    let tokens = s.url(&format!("/api/app/projects/{pid}/api-tokens"));
    let (status, token) = send(
        s.http
            .post(&tokens)
            .basic_auth(tokener["username"].as_str().unwrap(), tokener["token"].as_str())
            .json(&json!({"name": "t", "families": ["query"]})),
    )
    .await;
    assert_eq!(status, 201, "{token}");
    let bearer = token["results"]["token"].as_str().unwrap().to_string();
    assert_eq!(send(s.http.get(reads(pid)).bearer_auth(&bearer)).await.0, 200);
    assert_eq!(send(owner(s.http.delete(format!("{base}/{}", tokener["id"])))).await.0, 200);
    assert_eq!(send(s.http.get(reads(pid)).bearer_auth(&bearer)).await.0, 401, "revoked with its maker");

    // An account does not delete itself.
    let me = format!("{base}/{}", all["results"][0]["id"]);
    assert_eq!(send(owner(s.http.delete(&me))).await.0, 400);

    // Deleted: gone from every project at once.
    assert_eq!(send(owner(s.http.delete(&one))).await, (200, json!({"status": "ok"})));
    assert_eq!(send(as_bot(s.http.get(reads(pid)))).await.0, 401);
    assert_eq!(send(owner(s.http.get(&one))).await.0, 404);
}

/// The CLI manages an organisation's service accounts on the same rules.
#[tokio::test]
async fn the_cli_lists_deletes_and_moves_service_accounts() {
    let s = TestServer::start();
    let pid = s.creds.project_id.to_string();
    let sa = s.cli_json(&["service-account", "create", "--project", &pid, "--role", "analyst"]);
    let id = sa["id"].to_string();
    let listed = s.cli_json(&["service-account", "list"]);
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(binary()).args(args).arg("--data-dir").arg(&s.dir).output().unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stderr).to_string())
    };
    let reads = s.url(&format!("/api/query/events/names?project_id={pid}&type=general"));
    let as_sa = |r: reqwest::RequestBuilder| r.basic_auth(sa["username"].as_str().unwrap(), sa["secret"].as_str());
    assert_eq!(as_sa(s.http.get(&reads)).send().await.unwrap().status(), 200);
    assert!(cli(&["service-account", "remove-from-project", "--id", &id, "--project", &pid]).0);
    assert_eq!(as_sa(s.http.get(&reads)).send().await.unwrap().status(), 403);
    assert!(cli(&["service-account", "add-to-project", "--id", &id, "--project", &pid, "--role", "consumer"]).0);
    assert_eq!(as_sa(s.http.get(&reads)).send().await.unwrap().status(), 200);
    let (ok, err) = cli(&["service-account", "add-to-project", "--id", &id, "--project", "9999", "--role", "admin"]);
    assert!(!ok && err.contains("not in organization"), "{err}");
    assert!(cli(&["service-account", "delete", "--id", &id]).0);
    assert_eq!(as_sa(s.http.get(&reads)).send().await.unwrap().status(), 401);
}
