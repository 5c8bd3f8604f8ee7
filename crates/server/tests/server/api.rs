//! The control plane through HTTP: a real server started in-process on port 0, on SQLite and on
//! a throwaway PostgreSQL cluster, with the same scenarios on both.

use std::future::Future;
use std::pin::Pin;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchyard_server::bootstrap;
use switchyard_store::Store;
use switchyard_testkit::postgres::TempCluster;
use switchyard_testkit::server::TestServer;

type Scenario = fn(String) -> Pin<Box<dyn Future<Output = ()>>>;

const SCENARIOS: &[(&str, Scenario)] = &[
    ("changes_validation_and_concurrency", |url| {
        Box::pin(changes_validation_and_concurrency(url))
    }),
    ("authorization_matrix", |url| {
        Box::pin(authorization_matrix(url))
    }),
    ("replicas_share_one_database", |url| {
        Box::pin(replicas_share_one_database(url))
    }),
    ("operations_endpoints", |url| {
        Box::pin(operations_endpoints(url))
    }),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    let dir = std::env::temp_dir().join(format!("switchyard-api-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (i, (name, scenario)) in SCENARIOS.iter().enumerate() {
        eprintln!("sqlite: {name}");
        scenario(format!("sqlite://{}/s{i}.db", dir.display())).await;
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    let Some(cluster) = TempCluster::start() else {
        return;
    };
    for (name, scenario) in SCENARIOS {
        eprintln!("postgres: {name}");
        scenario(cluster.create_database()).await;
    }
}

const FLAGS: &str = "/api/v1/projects/default/flags";
const PROD: &str = "/api/v1/projects/default/environments/production";
const STAGING: &str = "/api/v1/projects/default/environments/staging";

async fn changes_validation_and_concurrency(url: String) {
    let server = TestServer::in_process(&url).start().await;
    let admin = Some(server.admin.clone());
    let admin = admin.as_deref();
    let created = server
        .admin(
            Method::POST,
            FLAGS,
            Some(json!({"key": "checkout", "kind": "boolean", "comment": "new flow"})),
        )
        .await;
    assert_eq!(created["variations"][0]["key"], "on");
    assert_eq!(created["environments"]["production"]["on"], false);

    // Targeting: a version is required, a stale one is refused with the current version.
    let targeting = json!({"on": true, "fallthrough": {"variation": 0}, "off_variation": 1});
    let path = format!("{PROD}/flags/checkout");
    let (status, body) = server
        .call(admin, Method::PUT, &path, Some(targeting.clone()))
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("version"))
    );
    let mut with_version = targeting.clone();
    with_version["version"] = json!(0);
    with_version["comment"] = json!("launch");
    let (status, body) = server
        .call(admin, Method::PUT, &path, Some(with_version.clone()))
        .await;
    assert_eq!((status, &body["version"]), (StatusCode::OK, &json!(1)));
    let (status, body) = server
        .call(admin, Method::PUT, &path, Some(with_version))
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::CONFLICT, &json!("conflict"))
    );
    assert_eq!(body["error"]["current_version"], 1);
    assert!(
        body["error"]["request_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
    let stale = [("if-match", "\"0\"".to_owned())];
    let (status, body) = server
        .call_with(admin, Method::PUT, &path, Some(targeting.clone()), &stale)
        .await;
    assert_eq!(
        (status, &body["error"]["current_version"]),
        (StatusCode::PRECONDITION_FAILED, &json!(1))
    );

    // Two writers holding the same version: exactly one wins, the other learns the new version.
    let fresh = [("if-match", "\"1\"".to_owned())];
    let (a, b) = tokio::join!(
        server.call_with(
            admin,
            Method::PUT,
            &path,
            Some(json!({"on": false, "fallthrough": {"variation": 0}})),
            &fresh
        ),
        server.call_with(
            admin,
            Method::PUT,
            &path,
            Some(json!({"on": true, "fallthrough": {"variation": 1}})),
            &fresh
        ),
    );
    let mut statuses = [a.0.as_u16(), b.0.as_u16()];
    statuses.sort();
    assert!(
        statuses == [200, 409] || statuses == [200, 412],
        "{statuses:?}"
    );

    // A toggle needs no version and cannot lose a concurrent change.
    let toggled = server
        .admin(
            Method::POST,
            &format!("{PROD}/flags/checkout/toggle"),
            Some(json!({"on": true, "comment": "go"})),
        )
        .await;
    assert_eq!(toggled["on"], true);
    let flipped = server
        .admin(Method::POST, &format!("{PROD}/flags/checkout/toggle"), None)
        .await;
    assert_eq!(flipped["on"], false);

    // Field-level validation, all 4xx, nothing written.
    let invalid_cases = [
        (
            Method::PUT,
            path.clone(),
            json!({"version": 4, "on": true, "fallthrough": {"variation": 7}}),
            "flags[checkout].fallthrough.variation",
        ),
        (
            Method::POST,
            FLAGS.to_owned(),
            json!({"key": "bad key!", "kind": "boolean"}),
            "key",
        ),
        (
            Method::POST,
            FLAGS.to_owned(),
            json!({"key": "n", "kind": "number", "variations": [{"value": 1}, {"value": "two"}]}),
            "variations[1].value",
        ),
        (
            Method::POST,
            FLAGS.to_owned(),
            json!({"key": "dup", "kind": "string", "variations": [{"key": "a", "value": "x"}, {"key": "a", "value": "y"}]}),
            "variations[1].key",
        ),
        (
            Method::POST,
            FLAGS.to_owned(),
            json!({"key": "cfg", "kind": "json",
            "json_schema": {"type": "object", "required": ["model"], "properties": {"model": {"type": "string"}}},
            "variations": [{"value": {"model": "small"}}, {"value": {"temperature": 1}}]}),
            "variations[1].value",
        ),
        (
            Method::POST,
            FLAGS.to_owned(),
            json!({"key": "k", "kind": "boolean", "json_schema": {"type": 12}}),
            "json_schema",
        ),
        (
            Method::POST,
            format!("{STAGING}/segments"),
            json!({"key": "s", "rules": [{"condition": {"attribute": "email", "op": "matches", "values": ["("]}}]}),
            "segments[s].rules[0].condition.values[0]",
        ),
    ];
    for (method, path, body, field) in invalid_cases {
        let (status, answer) = server.call(admin, method, &path, Some(body.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert_eq!(answer["error"]["code"], "validation_failed");
        assert!(
            answer["error"]["field"]
                .as_str()
                .is_some_and(|f| f.starts_with(field)),
            "{field}: {answer}"
        );
    }
    // Prerequisite cycles are refused.
    server
        .admin(
            Method::POST,
            FLAGS,
            Some(json!({"key": "a", "kind": "boolean"})),
        )
        .await;
    server
        .admin(
            Method::POST,
            FLAGS,
            Some(json!({"key": "b", "kind": "boolean"})),
        )
        .await;
    let prereq = |on: &str| json!({"version": 0, "fallthrough": {"variation": 0}, "prerequisites": [{"key": on, "variation": 0}]});
    server
        .admin(Method::PUT, &format!("{PROD}/flags/a"), Some(prereq("b")))
        .await;
    let (status, body) = server
        .call(
            admin,
            Method::PUT,
            &format!("{PROD}/flags/b"),
            Some(prereq("a")),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // Deleting a flag another depends on is a conflict; nothing half-deleted.
    let (status, _) = server
        .call(admin, Method::DELETE, &format!("{FLAGS}/b"), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    server.admin(Method::GET, &format!("{FLAGS}/b"), None).await;

    // Malformed bodies, huge bodies, unknown routes, missing tokens: clear 4xx in one shape.
    let (status, body) = server
        .call_with(
            admin,
            Method::POST,
            FLAGS,
            None,
            &[("content-type", "application/json".into())],
        )
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::BAD_REQUEST, &json!("bad_request"))
    );
    let huge = json!({"key": "huge", "kind": "string", "description": "x".repeat(2 * 1024 * 1024)});
    // On its own connection: the server answers 413 without reading the rest and closes it.
    let response = reqwest::Client::new()
        .post(format!("{}{FLAGS}", server.base))
        .bearer_auth(&server.admin)
        .json(&huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "payload_too_large");
    let (status, body) = server
        .call(admin, Method::GET, "/api/v1/nothing", None)
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::NOT_FOUND, &json!("not_found"))
    );
    let (status, body) = server.call(None, Method::GET, FLAGS, None).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::UNAUTHORIZED, &json!("unauthorized"))
    );
    let (status, _) = server
        .call(Some("syt_nope_nope"), Method::GET, FLAGS, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Every change is in the audit log with its comment, and the chain verifies.
    let audit = server
        .admin(
            Method::GET,
            "/api/v1/audit?resource=proj/default:env/production:flag/checkout",
            None,
        )
        .await;
    let records = audit["records"].as_array().unwrap();
    let actions: Vec<&str> = records
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["flag:toggle", "flag:toggle", "flag:update", "flag:update"]
    );
    assert_eq!(records[1]["comment"], "go");
    assert_eq!(records[1]["after"]["on"], true);
    assert_eq!(
        (&records[0]["before"]["on"], &records[0]["after"]["on"]),
        (&json!(true), &json!(false))
    );
    assert_eq!(records[3]["comment"], "launch");
    let verified = server
        .admin(Method::GET, "/api/v1/audit/verify", None)
        .await;
    assert_eq!(verified["ok"], true, "{verified}");
    server.stop().await;
}

/// Every principal × endpoint, with the expected allow or deny written out.
async fn authorization_matrix(url: String) {
    let server = TestServer::in_process(&url).start().await;
    // Data the endpoints act on.
    server
        .admin(
            Method::POST,
            FLAGS,
            Some(json!({"key": "checkout", "kind": "boolean"})),
        )
        .await;
    for (env, segment) in [
        ("staging", "beta-1"),
        ("staging", "beta-2"),
        ("staging", "gamma"),
        ("production", "beta-1"),
    ] {
        let path = format!("/api/v1/projects/default/environments/{env}/segments");
        server
            .admin(Method::POST, &path, Some(json!({"key": segment})))
            .await;
    }
    server
        .admin(Method::POST, "/api/v1/roles", Some(json!({"name": "ops", "statements": [
            {"effect": "allow", "actions": ["project:read", "env:read", "flag:*", "segment:*", "audit:read"], "resources": ["**"]},
            {"effect": "deny", "actions": ["flag:toggle"], "resources": ["proj/default:env/production:**"]}
        ]})))
        .await;
    for (name, role) in [("rita", "reader"), ("walt", "writer"), ("olga", "ops")] {
        let body = json!({"name": name, "roles": [role], "password": "a long enough password"});
        server
            .admin(Method::POST, "/api/v1/accounts", Some(body))
            .await;
    }
    let token = |account: &str, statements: Value| {
        let body = json!({"name": format!("{account} token"), "account": account, "statements": statements});
        let server = &server;
        async move {
            server
                .admin(Method::POST, "/api/v1/tokens", Some(body))
                .await["token"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let principals: Vec<(&str, String)> = vec![
        ("admin", server.admin.clone()),
        ("reader", token("rita", Value::Null).await),
        ("writer", token("walt", Value::Null).await),
        // May only edit two segments in one environment.
        ("two-segments", token("walt", json!([
            {"effect": "allow", "actions": ["segment:read", "segment:update"],
             "resources": ["proj/default:env/staging:segment/beta-1", "proj/default:env/staging:segment/beta-2"]}
        ])).await),
        // Everything in staging, but never more than its owner (a writer) may do.
        ("staging-only", token("walt", json!([{"effect": "allow", "actions": ["*"], "resources": ["proj/default:env/staging:**"]}])).await),
        ("ops-no-prod-toggle", token("olga", Value::Null).await),
    ];
    // Columns follow `principals`: admin, reader, writer, two-segments, staging-only, ops.
    let matrix: Vec<(Method, String, Option<&str>, [bool; 6])> = vec![
        (
            Method::GET,
            "/api/v1/projects/default".into(),
            None,
            [true, true, true, false, false, true],
        ),
        (
            Method::GET,
            format!("{FLAGS}/checkout"),
            None,
            [true, true, true, false, false, true],
        ),
        (
            Method::GET,
            format!("{STAGING}/flags/checkout"),
            None,
            [true, true, true, false, true, true],
        ),
        (
            Method::POST,
            format!("{STAGING}/flags/checkout/toggle"),
            None,
            [true, false, true, false, true, true],
        ),
        (
            Method::POST,
            format!("{PROD}/flags/checkout/toggle"),
            None,
            [true, false, true, false, false, false],
        ),
        (
            Method::PUT,
            format!("{PROD}/flags/checkout"),
            Some("targeting"),
            [true, false, true, false, false, true],
        ),
        (
            Method::PUT,
            format!("{FLAGS}/checkout"),
            Some("flag"),
            [true, false, true, false, false, true],
        ),
        (
            Method::POST,
            FLAGS.into(),
            Some("new-flag"),
            [true, false, true, false, false, true],
        ),
        (
            Method::PUT,
            format!("{STAGING}/segments/beta-1"),
            Some("segment"),
            [true, false, true, true, true, true],
        ),
        (
            Method::PUT,
            format!("{STAGING}/segments/beta-2"),
            Some("segment"),
            [true, false, true, true, true, true],
        ),
        (
            Method::PUT,
            format!("{STAGING}/segments/gamma"),
            Some("segment"),
            [true, false, true, false, true, true],
        ),
        (
            Method::PUT,
            format!("{PROD}/segments/beta-1"),
            Some("segment"),
            [true, false, true, false, false, true],
        ),
        (
            Method::GET,
            format!("{STAGING}/segments/gamma"),
            None,
            [true, true, true, false, true, true],
        ),
        (
            Method::GET,
            format!("{STAGING}/sdk-keys"),
            None,
            [true, false, false, false, false, false],
        ),
        (
            Method::POST,
            "/api/v1/projects/default/environments".into(),
            Some("new-env"),
            [true, false, false, false, false, false],
        ),
        (
            Method::GET,
            "/api/v1/audit".into(),
            None,
            [true, true, true, false, false, true],
        ),
        (
            Method::GET,
            "/api/v1/audit/verify".into(),
            None,
            [true, false, false, false, false, false],
        ),
        (
            Method::POST,
            "/api/v1/accounts".into(),
            Some("new-account"),
            [true, false, false, false, false, false],
        ),
        (
            Method::GET,
            "/api/v1/roles/reader".into(),
            None,
            [true, false, false, false, false, false],
        ),
    ];
    let mut denials = 0;
    for (method, path, body_kind, expected) in &matrix {
        for ((who, token), allowed) in principals.iter().zip(expected) {
            // A body that would succeed: fresh version, fresh key.
            let version = || async {
                let current = server.admin(Method::GET, path, None).await;
                current["version"].clone()
            };
            let body = match *body_kind {
                None => None,
                Some("targeting") => {
                    Some(json!({"version": version().await, "fallthrough": {"variation": 0}}))
                }
                Some("flag") => Some(
                    json!({"version": version().await, "key": "checkout", "kind": "boolean", "tags": [who]}),
                ),
                Some("segment") => {
                    let key = path.rsplit('/').next().unwrap();
                    Some(
                        json!({"version": version().await, "key": key, "included": [{"values": [who]}]}),
                    )
                }
                Some(kind) => Some(
                    json!({"key": format!("{kind}-{who}"), "name": format!("{kind}-{who}"), "kind": "boolean"}),
                ),
            };
            let (status, answer) = server.call(Some(token), method.clone(), path, body).await;
            if *allowed {
                assert!(
                    status.is_success(),
                    "{who} should be allowed {method} {path}: {status} {answer}"
                );
            } else {
                assert_eq!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{who} should be denied {method} {path}: {answer}"
                );
                assert_eq!(answer["error"]["code"], "forbidden");
                denials += 1;
            }
            let (status, _) = server.call(None, method.clone(), path, None).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "anonymous {method} {path}"
            );
        }
    }
    // Every denied attempt is in the audit log, and lists show only what a token may read.
    let audit = server
        .admin(Method::GET, "/api/v1/audit?limit=1000", None)
        .await;
    let denied = audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["outcome"] == "denied")
        .count();
    assert_eq!(denied, denials);
    // `GET /me` tells each token what the matrix above enforced, and audits nothing.
    for (resource, toggles) in [
        (
            "proj/default:env/production:flag/checkout",
            [true, false, true, false, false, false],
        ),
        (
            "proj/default:env/staging:flag/checkout",
            [true, false, true, false, true, true],
        ),
    ] {
        for ((who, token), allowed) in principals.iter().zip(toggles) {
            let path = format!("/api/v1/me?resource={resource}");
            let (status, me) = server.call(Some(token), Method::GET, &path, None).await;
            assert_eq!(status, StatusCode::OK, "{who}: {me}");
            let actions: Vec<&str> = me["actions"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            assert_eq!(
                actions.contains(&"flag:toggle"),
                allowed,
                "{who} on {resource}: {me}"
            );
            assert_eq!(
                actions.contains(&"flag:read"),
                *who != "two-segments" && (*who != "staging-only" || resource.contains("staging")),
                "{who}: {me}"
            );
        }
    }
    let (_, me) = server
        .call(Some(&principals[1].1), Method::GET, "/api/v1/me", None)
        .await;
    assert_eq!(
        (&me["account"], &me["actions"]),
        (&json!("rita"), &json!([]))
    );
    let (status, _) = server.call(None, Method::GET, "/api/v1/me", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let audit_after = server
        .admin(Method::GET, "/api/v1/audit?limit=1000", None)
        .await;
    assert_eq!(
        audit_after["records"], audit["records"],
        "a permission check is not audited"
    );
    let staging_only = &principals[4].1;
    let (_, flags) = server
        .call(Some(staging_only), Method::GET, FLAGS, None)
        .await;
    assert_eq!(flags, json!([]));
    let (_, segments) = server
        .call(
            Some(&principals[3].1),
            Method::GET,
            &format!("{STAGING}/segments"),
            None,
        )
        .await;
    let keys: Vec<&str> = segments
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["beta-1", "beta-2"]);
    // A scoped token cannot mint itself a wider one.
    let (status, _) = server
        .call(
            Some(&principals[3].1),
            Method::POST,
            "/api/v1/tokens",
            Some(json!({"name": "wider"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let verified = server
        .admin(Method::GET, "/api/v1/audit/verify", None)
        .await;
    assert_eq!(verified["ok"], true);
    server.stop().await;
}

async fn replicas_share_one_database(url: String) {
    let first = TestServer::in_process(&url).start().await;
    let second = TestServer::in_process(&url)
        .admin(&first.admin)
        .start()
        .await;
    first
        .admin(
            Method::POST,
            FLAGS,
            Some(json!({"key": "shared", "kind": "boolean"})),
        )
        .await;
    let seen = second
        .admin(Method::GET, &format!("{FLAGS}/shared"), None)
        .await;
    assert_eq!(seen["version"], 1);
    // The same stale version through both replicas: one wins, no lost update.
    let body = |tag: &str| json!({"key": "shared", "kind": "boolean", "tags": [tag], "version": 1});
    let admin = Some(first.admin.clone());
    let path = format!("{FLAGS}/shared");
    let (a, b) = tokio::join!(
        first.call(admin.as_deref(), Method::PUT, &path, Some(body("first"))),
        second.call(admin.as_deref(), Method::PUT, &path, Some(body("second"))),
    );
    let mut statuses = [a.0.as_u16(), b.0.as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 409]);
    let winner = if a.0.is_success() { "first" } else { "second" };
    assert_eq!(
        second
            .admin(Method::GET, &format!("{FLAGS}/shared"), None)
            .await["tags"],
        json!([winner])
    );
    // A second bootstrap on the same database does nothing.
    assert!(
        bootstrap(&Store::open(&url).await.unwrap())
            .await
            .unwrap()
            .is_none()
    );
    first.stop().await;
    second.stop().await;
}

async fn operations_endpoints(url: String) {
    let server = TestServer::in_process(&url).start().await;
    let (status, body) = server.call(None, Method::GET, "/healthz", None).await;
    assert_eq!((status, &body["status"]), (StatusCode::OK, &json!("ok")));
    let (status, body) = server.call(None, Method::GET, "/readyz", None).await;
    assert_eq!((status, &body["ready"]), (StatusCode::OK, &json!(true)));
    server.admin(Method::GET, "/api/v1/projects", None).await;
    let (status, metrics) = server.call(None, Method::GET, "/metrics", None).await;
    let metrics = metrics.as_str().unwrap_or_default().to_owned();
    assert_eq!(status, StatusCode::OK);
    assert!(metrics.contains("switchyard_http_requests_total{method=\"GET\",route=\"/api/v1/projects\",status=\"200\"} 1"), "{metrics}");
    // The OpenAPI document lists every route with its action.
    let (status, doc) = server
        .call(None, Method::GET, "/api/v1/openapi.json", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let toggle =
        &doc["paths"]["/api/v1/projects/{project}/environments/{env}/flags/{flag}/toggle"]["post"];
    assert_eq!(toggle["x-switchyard-action"], "flag:toggle");
    assert_eq!(doc["paths"].as_object().unwrap().len(), 39);
    assert!(
        doc["paths"]["/api/v1/changes"]["get"]["responses"]["200"]["content"]["text/event-stream"]
            .is_object()
    );
    // Every schema reference resolves to a schema the document defines.
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let text = doc.to_string();
    let references: Vec<&str> = text
        .split("\"#/components/schemas/")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap())
        .collect();
    assert!(references.len() > 40, "{} references", references.len());
    let dangling: Vec<&&str> = references
        .iter()
        .filter(|name| !schemas.contains_key(**name))
        .collect();
    assert!(
        dangling.is_empty(),
        "unresolved schema references: {dangling:?}"
    );
    // A request id sent by the caller comes back.
    let response = reqwest::Client::new()
        .get(format!("{}/healthz", server.base))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "abc-123");
    server.stop().await;
}
