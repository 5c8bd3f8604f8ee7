//! Project-level flag changes under change requests (`docs/governance.md`, "What is held"): a
//! flag's archive (forced too), restore, definition and deletion change every environment, so
//! while any environment requires approvals they wait in the strictest one (the most required,
//! ties to the first by key) for another person's approval; what SDKs see changes only when they
//! apply, a base that moved on refuses the apply, and with every count at 0 they apply at once.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchyard_server::access::SdkKeyKind;
use switchyard_testkit::server::TestServer;

use crate::PROD;
use crate::change_requests::support::{
    approver, audited, held, person, served, set_required_approvals, until_served,
};

const STAGING: &str = "/api/v1/projects/default/environments/staging";
const REQUESTS: &str = "/api/v1/projects/default/change-requests";
const FLAGS: &str = "/api/v1/projects/default/flags";
const CHECKOUT: &str = "/api/v1/projects/default/flags/checkout";

switchyard_testkit::backend_tests![project_level_flag_changes_wait_in_the_strictest_environment];

/// Sets staging's required approvals.
async fn require_in_staging(server: &TestServer, count: u32) {
    let current = server.admin_get(STAGING).await;
    let body = json!({"key": "staging", "name": current["name"], "required_approvals": count,
                      "version": current["version"]});
    server.admin(Method::PUT, STAGING, Some(body)).await;
}

/// `who` approves the request at `path`: the status and the request.
async fn approve(server: &TestServer, who: Option<&str>, path: &str) -> (StatusCode, Value) {
    let body = json!({"comment": "looked at it"});
    server
        .call(who, Method::POST, &format!("{path}/approve"), Some(body))
        .await
}

/// The flag's stored version.
async fn version_of(server: &TestServer, flag: &str) -> i64 {
    server.admin_get(&format!("{FLAGS}/{flag}")).await["version"]
        .as_i64()
        .unwrap()
}

/// OFREP's status and error code for `checkout` in production.
async fn ofrep_status(server: &TestServer, key: &str) -> (u16, Value) {
    let answer = reqwest::Client::new()
        .post(format!("{}/ofrep/v1/evaluate/flags/checkout", server.base))
        .header("x-api-key", key)
        .json(&json!({"context": {"targetingKey": "u-1"}}))
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    (
        status,
        answer.json::<Value>().await.unwrap()["errorCode"].clone(),
    )
}

async fn project_level_flag_changes_wait_in_the_strictest_environment(url: String) {
    let server = TestServer::in_process(&url).start().await;
    for flag in ["checkout", "gate"] {
        server
            .admin_post(FLAGS, json!({"key": flag, "kind": "boolean"}))
            .await;
    }
    // `gate` requires `checkout` in production, so archiving checkout needs `force`.
    let on = |prerequisites: Value| {
        json!({"version": 0, "on": true, "fallthrough": {"variation": 0},
               "prerequisites": prerequisites})
    };
    for (flag, body) in [
        ("checkout", on(json!([]))),
        ("gate", on(json!([{"key": "checkout", "variation": 0}]))),
    ] {
        server
            .admin(Method::PUT, &format!("{PROD}/flags/{flag}"), Some(body))
            .await;
    }
    let key = server.sdk_key(SdkKeyKind::Server).await;
    until_served(&server, &key, json!(true)).await;
    let walt = person(&server, "walt", "writer").await;
    let walt = Some(walt.as_str());
    let ada = approver(&server, "ada").await;
    let ada = Some(ada.as_str());

    // While no environment requires approvals, a definition applies at once.
    let version = version_of(&server, "checkout").await;
    let definition = |name: &str| json!({"key": "checkout", "kind": "boolean", "name": name});
    let mut body = definition("Checkout");
    body["version"] = json!(version);
    let (status, answer) = server.call(walt, Method::PUT, CHECKOUT, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["name"], "Checkout");

    // One approval in production: a forced archive is held there (refused as before without
    // `force`, and then no change request is made).
    let (status, answer) = set_required_approvals(&server, json!(1)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let archive = format!("{CHECKOUT}/archive");
    let (status, refused) = server
        .call(walt, Method::POST, &archive, Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["error"]["field"], "force");
    assert_eq!(server.admin_get(REQUESTS).await, json!([]));
    let version = version_of(&server, "checkout").await;
    let (path, request) = held(
        &server,
        walt,
        Method::POST,
        &archive,
        Some(json!({"force": true, "comment": "launched"})),
    )
    .await;
    assert_eq!(request["operation"], "archive_flag");
    assert_eq!(request["environment"], "production");
    assert_eq!(request["target"], "checkout");
    assert_eq!(request["required_approvals"], 1);
    assert_eq!(request["resource"], "proj/default:flag/checkout");
    assert_eq!(request["action"], "flag:archive");
    assert_eq!(
        request["base"],
        json!([{"kind": "flag", "key": "checkout", "version": version}])
    );
    assert_eq!(request["after"]["archived"], true);
    assert_eq!(request["after"]["forced"], true);
    assert_eq!(request["after"]["dependents"], json!(["production/gate"]));
    assert_eq!(
        server.admin_get(CHECKOUT).await["archived"],
        false,
        "held, not archived"
    );
    assert_eq!(served(&server, &key).await, json!(true));

    // Nobody approves their own; another person's approval applies it: SDKs lose the flag.
    let (status, answer) = approve(&server, walt, &path).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert_eq!(served(&server, &key).await, json!(true));
    let (status, applied) = approve(&server, ada, &path).await;
    assert_eq!(status, StatusCode::OK, "{applied}");
    assert_eq!(applied["state"], "applied");
    until_served(&server, &key, Value::Null).await;
    assert_eq!(
        ofrep_status(&server, &key).await,
        (404, json!("FLAG_NOT_FOUND"))
    );
    assert_eq!(server.admin_get(CHECKOUT).await["archived"], true);
    let trail = audited(&server, "proj/default:flag/checkout").await;
    let (action, comment) = trail.last().unwrap();
    assert_eq!(action, "flag:archive");
    let id = request["id"].as_str().unwrap();
    assert!(
        comment.contains(&format!(
            "change request {id} (revision 1) by walt, approved by ada"
        )),
        "{comment}"
    );

    // Restoring is held too, and brings it back when approved.
    let restore = format!("{CHECKOUT}/restore");
    let (path, request) = held(&server, walt, Method::POST, &restore, None).await;
    assert_eq!(request["operation"], "restore_flag");
    assert_eq!(served(&server, &key).await, Value::Null);
    let (status, answer) = approve(&server, ada, &path).await;
    assert_eq!(
        (status, &answer["state"]),
        (StatusCode::OK, &json!("applied"))
    );
    until_served(&server, &key, json!(true)).await;

    // A definition is held; one sent with If-Match keeps its version in the stored body, so it
    // applies without the header. A second one at the same version, approved first, moves the
    // base: the first then refuses to apply (409) and is in conflict until its author revises it.
    let version = version_of(&server, "checkout").await;
    let (status, answer) = server
        .call_with(
            walt,
            Method::PUT,
            CHECKOUT,
            Some(definition("Checkout A")),
            &[("if-match", format!("\"{version}\""))],
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let first = &answer["change_request"];
    assert_eq!(first["operation"], "update_flag");
    assert_eq!(first["request"]["version"], version);
    assert_eq!(first["before"]["name"], "Checkout");
    assert_eq!(first["after"]["name"], "Checkout A");
    let first = format!("{REQUESTS}/{}", first["id"].as_str().unwrap());
    let mut body = definition("Checkout B");
    body["version"] = json!(version);
    let (second, _) = held(&server, walt, Method::PUT, CHECKOUT, Some(body)).await;
    assert_eq!(server.admin_get(CHECKOUT).await["name"], "Checkout");
    let (status, answer) = approve(&server, ada, &second).await;
    assert_eq!(
        (status, &answer["state"]),
        (StatusCode::OK, &json!("applied"))
    );
    assert_eq!(server.admin_get(CHECKOUT).await["name"], "Checkout B");
    let (status, answer) = approve(&server, ada, &first).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert_eq!(server.admin_get(&first).await["state"], "conflict");
    assert_eq!(server.admin_get(CHECKOUT).await["name"], "Checkout B");
    // Revised onto the new version, it applies.
    let mut revised = definition("Checkout A");
    revised["version"] = json!(version_of(&server, "checkout").await);
    let (status, answer) = server
        .call(
            walt,
            Method::PUT,
            &first,
            Some(json!({"request": revised, "revision": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        (
            &answer["revision"],
            &answer["state"],
            &answer["environment"]
        ),
        (&json!(2), &json!("pending"), &json!("production"))
    );
    let (status, answer) = approve(&server, ada, &first).await;
    assert_eq!(
        (status, &answer["state"]),
        (StatusCode::OK, &json!("applied"))
    );
    assert_eq!(server.admin_get(CHECKOUT).await["name"], "Checkout A");

    // The strictest environment holds it: staging with 2, then production on a tie (first by
    // key), with that count.
    require_in_staging(&server, 2).await;
    let (path, request) = held(
        &server,
        walt,
        Method::POST,
        &format!("{FLAGS}/gate/archive"),
        None,
    )
    .await;
    assert_eq!(
        (&request["environment"], &request["required_approvals"]),
        (&json!("staging"), &json!(2))
    );
    let (status, answer) = server
        .call(walt, Method::POST, &format!("{path}/withdraw"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    set_required_approvals(&server, json!(2)).await;
    let (path, request) = held(
        &server,
        walt,
        Method::DELETE,
        &format!("{FLAGS}/gate?comment=unused"),
        None,
    )
    .await;
    assert_eq!(request["operation"], "delete_flag");
    assert_eq!(request["request"], json!({"comment": "unused"}));
    assert_eq!(
        (&request["environment"], &request["required_approvals"]),
        (&json!("production"), &json!(2))
    );
    server.admin_get(&format!("{FLAGS}/gate")).await;
    // It changes every environment, so the strictest count when it applies decides: with
    // production lowered to 1, staging still requires 2 and one approval applies nothing;
    // once staging is lowered too, that approval is enough.
    set_required_approvals(&server, json!(1)).await;
    let (status, answer) = approve(&server, ada, &path).await;
    assert_eq!(
        (status, &answer["state"]),
        (StatusCode::OK, &json!("pending"))
    );
    require_in_staging(&server, 1).await;
    let (status, answer) = server
        .call(ada, Method::POST, &format!("{path}/apply"), None)
        .await;
    assert_eq!(
        (status, &answer["state"]),
        (StatusCode::OK, &json!("applied")),
        "{answer}"
    );
    let (status, _) = server
        .call(ada, Method::GET, &format!("{FLAGS}/gate"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A project-level change cannot be scheduled: it belongs to no one environment.
    let (status, answer) = server
        .call(
            walt,
            Method::POST,
            "/api/v1/projects/default/scheduled-changes",
            Some(
                json!({"environment": "production", "operation": "archive_flag",
                        "target": "checkout", "request": {}, "at": "2099-01-01T00:00:00Z"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["error"]["field"], "operation");

    // Every count back at 0: an archive applies at once, as before.
    require_in_staging(&server, 0).await;
    set_required_approvals(&server, json!(0)).await;
    let (status, answer) = server
        .call(walt, Method::POST, &archive, Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["archived"], true);
    until_served(&server, &key, Value::Null).await;
    let open = server.admin_get(&format!("{REQUESTS}?state=pending")).await;
    assert_eq!(open, json!([]));
    server.stop().await;
}
