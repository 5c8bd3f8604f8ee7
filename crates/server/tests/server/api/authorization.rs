//! Authorization: every route of the OpenAPI document (built from the `routes!` table) × every
//! kind of principal. The expected outcome is computed from the route's action and the
//! principal's policy (built-in roles, token statements), not written out by hand; a route the
//! table below does not know fails the test, so a new route cannot go untested.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchyard_server::access::{Policy, Statement, TokenRecord, builtin_role, resources as res};
use switchyard_server::records::{self, GLOBAL};
use switchyard_store::{AuditRecord, Expected};
use switchyard_testkit::server::TestServer;

use super::{FLAGS, STAGING};

mod entries;

use entries::{Decides, NEW_ID, prepare};

/// Who calls, and what the server should make of the credential.
struct Principal {
    name: &'static str,
    token: Option<String>,
    /// The owner's roles and the token's own statements; `None`: the credential is refused.
    access: Option<Access>,
    account: &'static str,
}

struct Access {
    owner: Policy,
    scope: Option<Policy>,
}

impl Access {
    fn allows(&self, action: &str, resource: &str) -> bool {
        self.owner.allows(action, resource) && self.scope_allows(action, resource)
    }

    fn scope_allows(&self, action: &str, resource: &str) -> bool {
        self.scope
            .as_ref()
            .is_none_or(|scope| scope.allows(action, resource))
    }
}

pub(super) async fn authorization_matrix(url: String) {
    let server = TestServer::in_process(&url).start().await;
    let principals = principals(&server).await;
    let document = server.admin_get("/api/v1/openapi.json").await;
    let mut routes = Vec::new();
    for (path, operations) in document["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let action = operation["x-switchyard-action"]
                .as_str()
                .unwrap_or_default();
            routes.push((method.to_uppercase(), path.clone(), action.to_owned()));
        }
    }
    // 62 routes when this was written; fewer means the document lost some.
    assert!(
        routes.len() >= 62,
        "only {} routes in the OpenAPI document",
        routes.len()
    );
    let (mut attempts, mut denials) = (0, 0);
    // Per principal: (allowed, forbidden, unauthorized) answers.
    let mut tally = vec![(0, 0, 0); principals.len()];
    for (method, path, action) in &routes {
        let route = format!("{method} {path}");
        for (index, who) in principals.iter().enumerate() {
            attempts += 1;
            let Some(attempt) = prepare(&server, &route, who, attempts).await else {
                panic!("no authorization matrix entry for {route}: add one to `prepare`");
            };
            // A route that checks the action its body names is audited under that action.
            let action = match &attempt.decides {
                Decides::Named { action, .. } => action,
                _ => action.as_str(),
            };
            let expected = expect(who, action, &attempt.decides);
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            let newest_before = newest_seq(&server).await;
            let (status, answer) = if attempt.stream {
                open_stream(&server, who.token.as_deref(), &attempt.path).await
            } else {
                server
                    .call(who.token.as_deref(), method, &attempt.path, attempt.body)
                    .await
            };
            let what = format!("{} {route} ({})", who.name, attempt.path);
            match expected {
                StatusCode::OK => {
                    assert!(status.is_success(), "{what}: {status} {answer}");
                    tally[index].0 += 1;
                }
                StatusCode::FORBIDDEN => {
                    assert_eq!(status, expected, "{what}: {answer}");
                    assert_eq!(answer["error"]["code"], "forbidden", "{what}");
                    // The denial is the one denied record since the call began; background work
                    // (a release plan starting its wave, the guard) may have recorded beside it.
                    let denied = denied_since(&server, newest_before).await;
                    assert_eq!(
                        denied.len(),
                        1,
                        "{what}: denied records since the call: {denied:?}"
                    );
                    let record = &denied[0];
                    assert_eq!(
                        (&record["outcome"], &record["action"]),
                        (&json!("denied"), &json!(action)),
                        "{what}: {record}"
                    );
                    if let Decides::On(resource)
                    | Decides::OwnToken(resource)
                    | Decides::Named { resource, .. } = &attempt.decides
                        && !resource.contains(NEW_ID)
                    {
                        assert_eq!(record["resource"], json!(resource), "{what}");
                    }
                    denials += 1;
                    tally[index].1 += 1;
                }
                _ => {
                    assert_eq!(status, expected, "{what}: {answer}");
                    assert_eq!(answer["error"]["code"], "unauthorized", "{what}");
                    tally[index].2 += 1;
                }
            }
        }
    }
    // Every denial was audited once, and nothing else was audited as denied.
    assert_eq!(denied_in_audit_log(&server).await, denials);
    eprintln!(
        "authorization matrix: {} routes, {attempts} attempts, {denials} denials",
        routes.len()
    );
    // Each kind of principal met the outcomes it should somewhere, or the matrix proves little:
    // the admin is never refused, the others are refused some routes and allowed others, and a
    // refused credential gets nothing but sign-in and kill triggers.
    let routes = routes.len();
    for (who, &(allowed, forbidden, unauthorized)) in principals.iter().zip(&tally) {
        let counts = format!(
            "{}: {allowed} allowed, {forbidden} forbidden, {unauthorized} unauthorized",
            who.name
        );
        match (who.name, &who.access) {
            ("admin", _) => assert_eq!((allowed, forbidden), (routes, 0), "{counts}"),
            (_, Some(_)) => assert!(
                allowed > 0 && forbidden > 0 && unauthorized == 0,
                "{counts}"
            ),
            (_, None) => assert_eq!(
                (allowed, forbidden, unauthorized),
                (2, 0, routes - 2),
                "{counts}"
            ),
        }
    }
    me_answers_what_the_matrix_enforced(&server, &principals).await;
    let verified = server.admin_get("/api/v1/audit/verify").await;
    assert_eq!(verified["ok"], true);
    server.stop().await;
}

/// How many records of the whole audit log, page by page, are denials.
async fn denied_in_audit_log(server: &TestServer) -> usize {
    let mut denied = 0;
    let mut path = "/api/v1/audit?limit=1000".to_owned();
    loop {
        let page = server.admin_get(&path).await;
        denied += page["records"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["outcome"] == "denied")
            .count();
        match page["next_before"].as_i64() {
            Some(before) => path = format!("/api/v1/audit?limit=1000&before={before}"),
            None => return denied,
        }
    }
}

/// What the server should answer `who` on a route checking `action`.
fn expect(who: &Principal, action: &str, decides: &Decides) -> StatusCode {
    if let Decides::Credential = decides {
        return StatusCode::OK;
    }
    let Some(access) = &who.access else {
        return StatusCode::UNAUTHORIZED;
    };
    let allowed = match decides {
        Decides::On(resource) | Decides::Named { resource, .. } => access.allows(action, resource),
        Decides::OwnToken(resource) => {
            access.scope_allows(action, resource) || access.allows(action, resource)
        }
        Decides::Filtered | Decides::AnyToken | Decides::Credential => true,
    };
    if allowed {
        StatusCode::OK
    } else {
        StatusCode::FORBIDDEN
    }
}

fn policy(statements: Value) -> Policy {
    Policy {
        statements: serde_json::from_value::<Vec<Statement>>(statements).unwrap(),
    }
}

fn role(name: &str) -> Policy {
    Policy {
        statements: builtin_role(name).unwrap(),
    }
}

/// Every kind of principal: built-in roles, narrower tokens, and refused credentials.
async fn principals(server: &TestServer) -> Vec<Principal> {
    server
        .admin_post(FLAGS, json!({"key": "checkout", "kind": "boolean"}))
        .await;
    server
        .admin_post(&format!("{STAGING}/segments"), json!({"key": "beta"}))
        .await;
    server
        .admin_post(
            "/api/v1/roles",
            json!({"name": "ops", "statements": [
            {"effect": "allow", "actions": ["flag:*"], "resources": ["**"]}]}),
        )
        .await;
    for (name, role) in [
        ("rita", "reader"),
        ("walt", "writer"),
        ("olga", "reader"),
        ("dora", "writer"),
    ] {
        let body = json!({"name": name, "roles": [role], "password": "a long enough password"});
        server.admin_post("/api/v1/accounts", body).await;
    }
    let token = |account: &str, statements: &Value| {
        let mut body = json!({"name": format!("{account} token"), "account": account});
        match statements {
            Value::Null => body["unscoped"] = json!(true),
            statements => body["statements"] = statements.clone(),
        }
        async move { server.admin_post("/api/v1/tokens", body).await }
    };
    let secret = |token: &Value| token["token"].as_str().unwrap().to_owned();
    // May read and toggle flags and edit segments, in the default project only.
    let scoped = json!([{"effect": "allow",
        "actions": ["flag:read", "flag:toggle", "segment:read", "segment:update"],
        "resources": ["proj/default:**"]}]);
    // Everything in staging, but never more than its owner (a writer) may do.
    let staging = json!([{"effect": "allow", "actions": ["*"], "resources": ["proj/default:env/staging:**"]}]);
    let revoked = token("walt", &Value::Null).await;
    server
        .admin(
            Method::DELETE,
            &format!("/api/v1/tokens/{}", revoked["id"].as_str().unwrap()),
            None,
        )
        .await;
    let expired = token("walt", &Value::Null).await;
    expire(server, expired["id"].as_str().unwrap()).await;
    let disabled = token("dora", &Value::Null).await;
    server
        .admin(
            Method::PUT,
            "/api/v1/accounts/dora",
            Some(json!({"version": 1, "disabled": true})),
        )
        .await;
    let sdk_key = server
        .sdk_key(switchyard_server::access::SdkKeyKind::Server)
        .await;
    let valid = |owner: &str, scope: &Value| {
        Some(Access {
            owner: role(owner),
            scope: (!scope.is_null()).then(|| policy(scope.clone())),
        })
    };
    vec![
        Principal {
            name: "admin",
            token: Some(server.admin.clone()),
            access: valid("admin", &Value::Null),
            account: "admin",
        },
        Principal {
            name: "reader",
            token: Some(secret(&token("rita", &Value::Null).await)),
            access: valid("reader", &Value::Null),
            account: "rita",
        },
        Principal {
            name: "writer",
            token: Some(secret(&token("walt", &Value::Null).await)),
            access: valid("writer", &Value::Null),
            account: "walt",
        },
        Principal {
            name: "scoped",
            token: Some(secret(&token("walt", &scoped).await)),
            access: valid("writer", &scoped),
            account: "walt",
        },
        Principal {
            name: "staging-only",
            token: Some(secret(&token("walt", &staging).await)),
            access: valid("writer", &staging),
            account: "walt",
        },
        Principal {
            name: "anonymous",
            token: None,
            access: None,
            account: "walt",
        },
        Principal {
            name: "revoked",
            token: Some(secret(&revoked)),
            access: None,
            account: "walt",
        },
        Principal {
            name: "expired",
            token: Some(secret(&expired)),
            access: None,
            account: "walt",
        },
        Principal {
            name: "disabled-account",
            token: Some(secret(&disabled)),
            access: None,
            account: "dora",
        },
        Principal {
            name: "sdk-key",
            token: Some(sdk_key),
            access: None,
            account: "walt",
        },
    ]
}

/// Moves a token's expiry into the past, as time passing would.
async fn expire(server: &TestServer, id: &str) {
    let store = &server.state().unwrap().store;
    let stored = records::get::<TokenRecord>(store, GLOBAL, id)
        .await
        .unwrap()
        .unwrap();
    let mut token = stored.record;
    token.expires_at_ms = Some(token.created_at_ms - 1);
    let write = records::put(GLOBAL, id, &token, Expected::Version(stored.version));
    let audit = AuditRecord {
        at_ms: 0,
        actor: json!({"kind": "system", "id": "test"}),
        action: "test:expire".into(),
        resource: "test".into(),
        outcome: "allowed".into(),
        before: None,
        after: None,
        comment: None,
        request_id: None,
    };
    store.commit(&[write], &audit).await.unwrap();
}

/// Opens an event stream and reads its status (and the body only of a refusal).
async fn open_stream(server: &TestServer, token: Option<&str>, path: &str) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new().get(format!("{}{path}", server.base));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    if status.is_success() {
        let kind = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(kind.starts_with("text/event-stream"), "{path}: {kind}");
        return (status, Value::Null);
    }
    (status, response.json().await.unwrap())
}

/// `GET /me` tells each token what the matrix enforced, and audits nothing.
async fn me_answers_what_the_matrix_enforced(server: &TestServer, principals: &[Principal]) {
    let before = server.admin_get("/api/v1/audit?limit=1000").await;
    for resource in [
        res::env_flag("default", "production", "checkout"),
        res::env_flag("default", "staging", "checkout"),
        res::project("default"),
    ] {
        for who in principals {
            let path = format!("/api/v1/me?resource={resource}");
            let (status, me) = server
                .call(who.token.as_deref(), Method::GET, &path, None)
                .await;
            let Some(access) = &who.access else {
                assert_eq!(status, StatusCode::UNAUTHORIZED, "{}: {me}", who.name);
                continue;
            };
            assert_eq!(status, StatusCode::OK, "{}: {me}", who.name);
            for action in ["flag:toggle", "flag:read", "project:update"] {
                let listed = me["actions"].as_array().unwrap().contains(&json!(action));
                assert_eq!(
                    listed,
                    access.allows(action, &resource),
                    "{} {action} on {resource}: {me}",
                    who.name
                );
            }
        }
    }
    let after = server.admin_get("/api/v1/audit?limit=1000").await;
    assert_eq!(
        after["records"], before["records"],
        "a permission check is not audited"
    );
    // A list shows only what the token may read.
    let staging_only = principals[4].token.as_deref();
    let (_, flags) = server.call(staging_only, Method::GET, FLAGS, None).await;
    assert_eq!(flags, json!([]));
}

/// The newest audit record's sequence number (0 for an empty log).
async fn newest_seq(server: &TestServer) -> i64 {
    let newest = server.admin_get("/api/v1/audit?limit=1").await;
    newest["records"][0]["seq"].as_i64().unwrap_or(0)
}

/// The denied audit records newer than `after`, newest first.
async fn denied_since(server: &TestServer, after: i64) -> Vec<Value> {
    let page = server.admin_get("/api/v1/audit?limit=50").await;
    let records = page["records"].as_array().cloned().unwrap_or_default();
    records
        .into_iter()
        .filter(|r| r["seq"].as_i64().unwrap_or(0) > after && r["outcome"] == json!("denied"))
        .collect()
}
