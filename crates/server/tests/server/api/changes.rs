//! Changes through the API: versions and conflicts, toggles, validation, malformed requests and
//! the audit trail.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchyard_testkit::server::TestServer;

use super::{FLAGS, PROD, STAGING};

pub(super) async fn changes_validation_and_concurrency(url: String) {
    let server = TestServer::in_process(&url).start().await;
    let admin = Some(server.admin.clone());
    let admin = admin.as_deref();
    let created = server
        .admin_post(
            FLAGS,
            json!({"key": "checkout", "kind": "boolean", "comment": "new flow"}),
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
        .admin_post(
            &format!("{PROD}/flags/checkout/toggle"),
            json!({"on": true, "comment": "go"}),
        )
        .await;
    assert_eq!(toggled["on"], true);
    // Without `on` it is refused: a flip would not be idempotent.
    let (status, refused) = server
        .call(
            Some(&server.admin),
            Method::POST,
            &format!("{PROD}/flags/checkout/toggle"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let off = server
        .admin_post(
            &format!("{PROD}/flags/checkout/toggle"),
            json!({"on": false}),
        )
        .await;
    assert_eq!(off["on"], false);

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
        .admin_post(FLAGS, json!({"key": "a", "kind": "boolean"}))
        .await;
    server
        .admin_post(FLAGS, json!({"key": "b", "kind": "boolean"}))
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
    server.admin_get(&format!("{FLAGS}/b")).await;

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
    // An empty body reads as `{}`: refused for the fields it lacks.
    assert_eq!(
        (status, &body["error"]["code"]),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            &json!("validation_failed")
        )
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("missing field"),
        "{body}"
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
        .admin_get("/api/v1/audit?resource=proj/default:env/production:flag/checkout")
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
    let verified = server.admin_get("/api/v1/audit/verify").await;
    assert_eq!(verified["ok"], true, "{verified}");
    server.stop().await;
}
