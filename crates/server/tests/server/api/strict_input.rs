//! Strict input, both sides: every API body refuses a field it does not know, naming it (a
//! misspelling must never change behaviour), while what servers and SDKs read from each other —
//! stored documents, snapshots, streams — still accepts fields a newer peer may add.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchyard_engine::{Dataset, Snapshot};
use switchyard_store::{AuditRecord, Expected, Write};
use switchyard_testkit::server::TestServer;

const FLAGS: &str = "/api/v1/projects/default/flags";
const PROD: &str = "/api/v1/projects/default/environments/production";

pub(super) async fn strict_input(url: String) {
    let server = TestServer::in_process(&url).start().await;
    every_write_route_refuses_an_unknown_field(&server).await;
    misspellings_that_used_to_change_behaviour(&server).await;
    readers_of_peer_data_stay_lenient(&server).await;
    server.stop().await;
}

/// Each route with a body in the OpenAPI document, given a misspelt field: 422
/// `validation_failed` naming it, before anything else is looked at.
async fn every_write_route_refuses_an_unknown_field(server: &TestServer) {
    let document = server.admin_get("/api/v1/openapi.json").await;
    let mut checked = 0;
    for (path, operations) in document["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            if operation.get("requestBody").is_none() {
                continue;
            }
            // Path parameters need not exist: the body is refused before they are looked up.
            let concrete: String = path
                .split('/')
                .map(|part| if part.starts_with('{') { "x" } else { part })
                .collect::<Vec<_>>()
                .join("/");
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let (status, body) = server
                .call(
                    Some(&server.admin),
                    method.clone(),
                    &concrete,
                    Some(json!({"misspelt_field": 1})),
                )
                .await;
            assert_eq!(
                (status, &body["error"]["code"], &body["error"]["field"]),
                (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &json!("validation_failed"),
                    &json!("misspelt_field")
                ),
                "{method} {path}: {body}"
            );
            checked += 1;
        }
    }
    // 27 routes had a body when this was written; fewer means the document lost some.
    assert!(checked >= 27, "only {checked} routes with a body");
}

/// The findings that started this: each was accepted and changed what was served.
async fn misspellings_that_used_to_change_behaviour(server: &TestServer) {
    server
        .admin_post(FLAGS, json!({"key": "strict", "kind": "boolean"}))
        .await;
    let refused = |body: Value| async move {
        let (status, answer) = server
            .call(
                Some(&server.admin),
                body["method"].as_str().unwrap().parse().unwrap(),
                body["path"].as_str().unwrap(),
                Some(body["body"].clone()),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        answer["error"]["field"].clone()
    };
    let targeting = format!("{PROD}/flags/strict");
    let cases = [
        // A rule with `clauses` was stored as an empty condition that matched everyone.
        (
            json!({"method": "PUT", "path": targeting, "body": {"on": true, "fallthrough": {"variation": 1},
            "rules": [{"clauses": [{"attribute": "email", "op": "ends_with", "values": ["@x"]}],
                       "serve": {"variation": 0}}]}}),
            "rules[0].clauses",
        ),
        // Misspelt `rule`/`target` emptied the rules and targets.
        (
            json!({"method": "PUT", "path": targeting, "body": {"on": true, "fallthrough": {"variation": 1},
            "rule": []}}),
            "rule",
        ),
        (
            json!({"method": "PUT", "path": targeting, "body": {"on": true, "fallthrough": {"variation": 1},
            "target": []}}),
            "target",
        ),
        // A toggle with `enabled` or `off` flipped the flag.
        (
            json!({"method": "POST", "path": format!("{targeting}/toggle"), "body": {"enabled": false}}),
            "enabled",
        ),
        (
            json!({"method": "POST", "path": format!("{targeting}/toggle"), "body": {"off": true}}),
            "off",
        ),
        // `statement` instead of `statements` created a token with all of its owner's rights.
        (
            json!({"method": "POST", "path": "/api/v1/tokens", "body": {"name": "ci",
            "statement": [{"effect": "allow", "actions": ["flag:read"], "resources": ["*"]}]}}),
            "statement",
        ),
        (
            json!({"method": "POST", "path": FLAGS, "body": {"key": "typo", "kind": "boolean", "tgas": ["x"]}}),
            "tgas",
        ),
    ];
    for (case, field) in cases {
        assert_eq!(refused(case.clone()).await, json!(field), "{case}");
    }
    // Nothing of the refused writes landed: still off, no rules, no `typo` flag.
    let stored = server.admin_get(&targeting).await;
    assert_eq!(stored["on"], false, "{stored}");
    assert!(stored.get("rules").is_none(), "{stored}");
    let (status, _) = server
        .call(
            Some(&server.admin),
            Method::GET,
            &format!("{FLAGS}/typo"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A toggle must say which state it sets (a flip is not idempotent) ...
    let toggle = format!("{targeting}/toggle");
    assert_eq!(
        refused(json!({"method": "POST", "path": toggle, "body": {}})).await,
        json!("on")
    );
    // ... and a token without `statements` needs `"unscoped": true`.
    assert_eq!(
        refused(json!({"method": "POST", "path": "/api/v1/tokens", "body": {"name": "ci"}})).await,
        json!("statements")
    );
    server.admin_post(&toggle, json!({"on": true})).await;
    a_scoped_token_mints_nothing_wider(server).await;
    let token = server
        .admin_post("/api/v1/tokens", json!({"name": "ci", "unscoped": true}))
        .await;
    assert!(token["statements"].is_null(), "{token}");
}

/// Fields a newer peer adds are read past: a snapshot or stored document with them still
/// loads and evaluates the same.
async fn readers_of_peer_data_stay_lenient(server: &TestServer) {
    let snapshot = json!({"flags": [{"key": "f", "kind": "boolean", "on": true,
        "variations": [{"value": false, "added_later": 1}, {"value": true}],
        "fallthrough": {"variation": 1, "added_later": true}, "off_variation": 0,
        "rules": [{"condition": {"attribute": "a", "op": "in", "values": ["x"], "added_later": 0},
                   "serve": {"variation": 0}, "added_later": []}],
        "added_later": {"x": 1}}], "segments": [], "added_later": "yes"});
    let dataset: Dataset = serde_json::from_value(snapshot).unwrap();
    let compiled = Snapshot::compile(&dataset);
    assert!(compiled.problems().is_empty(), "{:?}", compiled.problems());

    // A stored targeting document with a field this version does not know still reads.
    let store = &server.state().unwrap().store;
    let (kind, scope, key) = ("targeting", "default/production", "strict");
    let stored = store
        .get(kind, scope, key)
        .await
        .unwrap()
        .expect("written by the toggle above");
    let mut body = stored.body.clone();
    body["added_later"] = json!({"by": "a newer server"});
    let write = Write::Put {
        kind: kind.into(),
        scope: scope.into(),
        key: key.into(),
        body,
        expected: Expected::Version(stored.version),
    };
    let audit = AuditRecord {
        at_ms: 0,
        actor: json!({"kind": "system", "id": "test"}),
        action: "test:write".into(),
        resource: "test".into(),
        outcome: "allowed".into(),
        before: None,
        after: None,
        comment: None,
        request_id: None,
    };
    store.commit(&[write], &audit).await.unwrap();
    let read = server.admin_get(&format!("{PROD}/flags/strict")).await;
    assert_eq!(read["on"], true, "{read}");
}

/// `"unscoped": true` from a token that is itself scoped would hand out its owner's full rights:
/// a scoped token may mint only some of its own allow statements, keeping its denies.
async fn a_scoped_token_mints_nothing_wider(server: &TestServer) {
    let read = json!({"effect": "allow", "actions": ["flag:read"], "resources": ["**"]});
    let mint = json!({"effect": "allow", "actions": ["token:create"], "resources": ["**"]});
    let no_prod = json!({"effect": "deny", "actions": ["flag:read"],
        "resources": ["proj/default:env/production:**"]});
    let minter = server
        .admin_post(
            "/api/v1/tokens",
            json!({"name": "minter", "statements": [read, mint, no_prod]}),
        )
        .await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let everything = json!({"effect": "allow", "actions": ["*"], "resources": ["**"]});
    for (body, allowed) in [
        (json!({"name": "wider", "unscoped": true}), false),
        (json!({"name": "wider", "statements": [everything]}), false),
        (json!({"name": "no-denies", "statements": [read]}), false),
        (
            json!({"name": "narrower", "statements": [read, no_prod]}),
            true,
        ),
    ] {
        let (status, answer) = server
            .call(
                Some(&minter),
                Method::POST,
                "/api/v1/tokens",
                Some(body.clone()),
            )
            .await;
        let expected = if allowed {
            StatusCode::CREATED
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(status, expected, "{body}: {answer}");
    }
}
