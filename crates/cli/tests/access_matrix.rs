//! The role and credential matrix over real HTTP: every endpoint of
//! `sextant_server::endpoints::ENDPOINTS` (which a unit test keeps equal to the served
//! routes) is called with every kind of credential, and each answer must be what the
//! table and `sextant_model::access::MATRIX` say: allowed (anything but 401 and 403,
//! and never a server error) or refused (401 or 403).

mod common;

use common::*;
use serde_json::{Value, json};
use sextant_model::ApiFamily;
use sextant_model::access::{Principal, Rule};
use sextant_model::project::Role;
use sextant_server::endpoints::{ENDPOINTS, Endpoint, Guard};

/// Every limit lifted: the walk sends about a thousand requests, a few of them failing.
const UNLIMITED: &str = "[rate_limits.default.export]\nper_second = 0\nper_hour = 0\nconcurrent = 0\n\
                         [rate_limits.default.query]\nper_hour = 0\nconcurrent = 0\n\
                         [rate_limits.default.app]\nper_minute = 0\n\
                         [rate_limits.default.lexicon]\nper_minute = 0\nitems_per_minute = 0\n\
                         [rate_limits.default.lookup_tables]\nper_day = 0\n\
                         [rate_limits.default.gdpr]\nper_second = 0\n\
                         [rate_limits.client_failures]\nburst = 0\n";

/// How a request presents its credential.
#[derive(Clone, Debug)]
enum Credential {
    /// The project token: HTTP Basic, or inside the records sent.
    Token(String),
    /// HTTP Basic user and password.
    Basic(String, String),
    /// An API token as a bearer.
    Bearer(String),
}

struct Caller {
    label: String,
    principal: Principal,
    /// An API token's families.
    families: Vec<ApiFamily>,
    credential: Credential,
}

fn record_for(e: &Endpoint, token: Option<&str>, n: usize) -> Value {
    let now = now_ms() / 1000;
    let mut record = match e.path {
        "/engage" => json!({"$distinct_id": "probe", "$set": {"n": n}}),
        "/groups" => json!({"$group_key": "company", "$group_id": "probe", "$set": {"n": n}}),
        _ => {
            json!({"event": "probe", "properties": {"distinct_id": "probe", "time": now, "$insert_id": format!("p{n}")}})
        }
    };
    if let Some(token) = token {
        match e.path {
            "/engage" | "/groups" => record["$token"] = json!(token),
            _ => record["properties"]["token"] = json!(token),
        }
    }
    record
}

async fn call(s: &TestServer, e: &Endpoint, caller: &Caller, org: i64, n: usize) -> (u16, String) {
    let pid = s.creds.project_id;
    // The organisation's calls on one project name none that exists: a DELETE must not
    // take away the project every other row is called in.
    let path = if e.path.starts_with("/api/app/organizations/") {
        e.path.replace("{project_id}", "999999")
    } else {
        e.path.to_string()
    };
    let path = path
        .replace("{project_id}", &pid.to_string())
        .replace("{organization_id}", &org.to_string())
        .replace("{entity_type}", "event")
        .replace("{name}", "probe");
    let path =
        path.split('/').map(|seg| if seg.starts_with('{') { "999999" } else { seg }).collect::<Vec<_>>().join("/");
    let ingestion = matches!(e.path, "/track" | "/import" | "/engage" | "/groups");
    // The project token goes inside the records of the endpoints that read it there.
    let token_in_records = match &caller.credential {
        Credential::Token(t) if ingestion && e.path != "/import" => Some(t.as_str()),
        _ => None,
    };
    let mut url = s.url(&format!("{path}?project_id={pid}"));
    let method = reqwest::Method::from_bytes(e.method.as_bytes()).unwrap();
    let mut request = s.http.request(method.clone(), &url);
    if ingestion {
        let records = json!([record_for(e, token_in_records, n)]);
        if method == reqwest::Method::GET {
            url = format!("{url}&data={}", urlencode(&b64(&records.to_string())));
            request = s.http.get(&url);
        } else {
            request = request.json(&records);
        }
    } else if matches!(e.method, "POST" | "PATCH") {
        request = request.json(&json!({}));
    } else if e.method == "PUT" {
        request = request.header("content-type", "text/csv").body("id,name\n1,a\n");
    }
    request = match &caller.credential {
        Credential::Token(t) if token_in_records.is_none() => request.basic_auth(t, Some("")),
        Credential::Token(_) => request,
        Credential::Basic(user, password) => request.basic_auth(user, Some(password)),
        Credential::Bearer(token) => request.bearer_auth(token),
    };
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default().chars().take(300).collect())
}

/// What the table says `caller` may do at `e`. The owner's account is the
/// organisation's owner; the others have a project role only.
fn expected(e: &Endpoint, caller: &Caller) -> bool {
    let org_admin = caller.principal == Principal::ServiceAccount(Role::Owner);
    sextant_server::endpoints::allows(e, caller.principal, &caller.families, org_admin)
}

#[tokio::test]
async fn every_endpoint_answers_every_credential_as_the_table_says() {
    let s = TestServer::start_with_config(UNLIMITED);
    let pid = s.creds.project_id.to_string();
    let boot: Value = serde_json::from_str(&std::fs::read_to_string(s.dir.join("bootstrap.json")).unwrap()).unwrap();
    let org = boot["organization_id"].as_i64().unwrap();

    let mut callers = vec![
        Caller {
            label: "project token".into(),
            principal: Principal::ProjectToken,
            families: vec![],
            credential: Credential::Token(s.creds.token.clone()),
        },
        Caller {
            label: "project secret".into(),
            principal: Principal::ProjectSecret,
            families: vec![],
            credential: Credential::Basic(s.creds.secret.clone(), String::new()),
        },
        Caller {
            label: "owner".into(),
            principal: Principal::ServiceAccount(Role::Owner),
            families: vec![],
            credential: Credential::Basic(s.creds.sa_user.clone(), s.creds.sa_secret.clone()),
        },
    ];
    for (role, r) in [("admin", Role::Admin), ("analyst", Role::Analyst), ("consumer", Role::Consumer)] {
        let sa = s.cli_json(&["service-account", "create", "--project", &pid, "--role", role]);
        callers.push(Caller {
            label: role.into(),
            principal: Principal::ServiceAccount(r),
            families: vec![],
            credential: Credential::Basic(
                sa["username"].as_str().unwrap().into(),
                sa["secret"].as_str().unwrap().into(),
            ),
        });
    }
    // For each family, a token holding only it and a token holding every other one.
    for family in ApiFamily::ALL {
        for (label, families) in [
            (format!("token: {family}"), vec![family]),
            (format!("token: all but {family}"), ApiFamily::ALL.into_iter().filter(|f| *f != family).collect()),
        ] {
            let names: Vec<&str> = families.iter().map(|f| f.as_str()).collect();
            let made = s.cli_json(&["token", "create", "--project", &pid, "--families", &names.join(",")]);
            callers.push(Caller {
                label,
                principal: Principal::ApiToken,
                families,
                credential: Credential::Bearer(made["token"].as_str().unwrap().into()),
            });
        }
    }

    let mut wrong = Vec::new();
    let mut n = 0;
    for e in ENDPOINTS {
        for caller in &callers {
            // API tokens: the ones that say something about this endpoint's family.
            if let (Principal::ApiToken, Guard::Operation(op)) = (caller.principal, e.guard) {
                let family = match sextant_model::access::rule(Principal::ApiToken, op) {
                    Rule::Family(f) | Rule::WithinScope(f) => Some(f),
                    Rule::Allow | Rule::Deny => None,
                };
                let relevant = match family {
                    Some(f) => caller.label == format!("token: {f}") || caller.label == format!("token: all but {f}"),
                    None => caller.label == "token: app" || caller.label == "token: all but app",
                };
                if !relevant {
                    continue;
                }
            }
            n += 1;
            let (status, body) = call(&s, e, caller, org, n).await;
            let allowed = expected(e, caller);
            let refused = status == 401 || status == 403;
            if status >= 500 || allowed == refused {
                wrong.push(format!(
                    "{} {} as {}: {status} (the table says {}) {body}",
                    e.method,
                    e.path,
                    caller.label,
                    if allowed { "allowed" } else { "refused" }
                ));
            }
        }
    }
    assert!(n > 500, "only {n} calls");
    assert!(wrong.is_empty(), "{} of {n} answers disagree with the table:\n{}", wrong.len(), wrong.join("\n"));
}
