//! Authorization: every principal × endpoint, with the expected allow or deny written out.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchyard_testkit::server::TestServer;

use super::{FLAGS, PROD, STAGING};

/// Allowed, and denied, in a row of the matrix.
const Y: bool = true;
const N: bool = false;

/// The matrix's rows, one a line: `METHOD path, body => [allowed for each principal]`, where
/// `body` names the request body that would succeed (`None` for no body).
macro_rules! matrix {
    ($($method:ident $path:expr, $body:expr => $allowed:expr;)*) => {
        vec![$((Method::$method, String::from($path), $body, $allowed)),*]
    };
}

/// Every principal × endpoint, with the expected allow or deny written out.
pub(super) async fn authorization_matrix(url: String) {
    let server = TestServer::in_process(&url).start().await;
    // Data the endpoints act on.
    server
        .admin_post(FLAGS, json!({"key": "checkout", "kind": "boolean"}))
        .await;
    for (env, segment) in [
        ("staging", "beta-1"),
        ("staging", "beta-2"),
        ("staging", "gamma"),
        ("production", "beta-1"),
    ] {
        let path = format!("/api/v1/projects/default/environments/{env}/segments");
        server.admin_post(&path, json!({"key": segment})).await;
    }
    server
        .admin_post("/api/v1/roles", json!({"name": "ops", "statements": [
            {"effect": "allow", "actions": ["project:read", "env:read", "flag:*", "segment:*", "audit:read"], "resources": ["**"]},
            {"effect": "deny", "actions": ["flag:toggle"], "resources": ["proj/default:env/production:**"]}
        ]}))
        .await;
    for (name, role) in [("rita", "reader"), ("walt", "writer"), ("olga", "ops")] {
        let body = json!({"name": name, "roles": [role], "password": "a long enough password"});
        server.admin_post("/api/v1/accounts", body).await;
    }
    let token = |account: &str, statements: Value| {
        let mut body = json!({"name": format!("{account} token"), "account": account});
        match statements {
            Value::Null => body["unscoped"] = json!(true),
            statements => body["statements"] = statements,
        }
        let server = &server;
        async move {
            server.admin_post("/api/v1/tokens", body).await["token"]
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
    let matrix = matrix! {
        GET "/api/v1/projects/default", None => [Y, Y, Y, N, N, Y];
        GET format!("{FLAGS}/checkout"), None => [Y, Y, Y, N, N, Y];
        GET format!("{STAGING}/flags/checkout"), None => [Y, Y, Y, N, Y, Y];
        POST format!("{STAGING}/flags/checkout/toggle"), Some("toggle") => [Y, N, Y, N, Y, Y];
        POST format!("{PROD}/flags/checkout/toggle"), Some("toggle") => [Y, N, Y, N, N, N];
        PUT format!("{PROD}/flags/checkout"), Some("targeting") => [Y, N, Y, N, N, Y];
        PUT format!("{FLAGS}/checkout"), Some("flag") => [Y, N, Y, N, N, Y];
        POST FLAGS, Some("new-flag") => [Y, N, Y, N, N, Y];
        PUT format!("{STAGING}/segments/beta-1"), Some("segment") => [Y, N, Y, Y, Y, Y];
        PUT format!("{STAGING}/segments/beta-2"), Some("segment") => [Y, N, Y, Y, Y, Y];
        PUT format!("{STAGING}/segments/gamma"), Some("segment") => [Y, N, Y, N, Y, Y];
        PUT format!("{PROD}/segments/beta-1"), Some("segment") => [Y, N, Y, N, N, Y];
        GET format!("{STAGING}/segments/gamma"), None => [Y, Y, Y, N, Y, Y];
        GET format!("{STAGING}/sdk-keys"), None => [Y, N, N, N, N, N];
        POST "/api/v1/projects/default/environments", Some("new-env") => [Y, N, N, N, N, N];
        GET "/api/v1/audit", None => [Y, Y, Y, N, N, Y];
        GET "/api/v1/audit/verify", None => [Y, N, N, N, N, N];
        POST "/api/v1/accounts", Some("new-account") => [Y, N, N, N, N, N];
        GET "/api/v1/roles/reader", None => [Y, N, N, N, N, N];
    };
    let mut denials = 0;
    for (method, path, body_kind, expected) in &matrix {
        for ((who, token), allowed) in principals.iter().zip(expected) {
            // A body that would succeed: fresh version, fresh key.
            let version = || async {
                let current = server.admin_get(path).await;
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
                Some("toggle") => Some(json!({"on": true})),
                Some("new-flag") => Some(
                    json!({"key": format!("new-flag-{who}"), "name": format!("new-flag-{who}"), "kind": "boolean"}),
                ),
                Some("new-account") => Some(json!({"name": format!("new-account-{who}")})),
                Some(kind) => {
                    Some(json!({"key": format!("{kind}-{who}"), "name": format!("{kind}-{who}")}))
                }
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
    let audit = server.admin_get("/api/v1/audit?limit=1000").await;
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
    let audit_after = server.admin_get("/api/v1/audit?limit=1000").await;
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
    let verified = server.admin_get("/api/v1/audit/verify").await;
    assert_eq!(verified["ok"], true);
    server.stop().await;
}
