//! Approval required by a policy statement rather than an environment's count
//! (`docs/governance.md`, "Requiring approvals"): a role's `require_approval` statement holds
//! its holders' matching writes — in an environment, and project-level ones — while others'
//! take effect; a token scope may add the requirement, never drop it.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchyard_server::access::SdkKeyKind;
use switchyard_testkit::server::TestServer;

use super::support::{approver, held, person, served, until_served};

const STAGING_CHECKOUT: &str = "/api/v1/projects/default/environments/staging/flags/checkout";
const CHECKOUT_DEFINITION: &str = "/api/v1/projects/default/flags/checkout";

switchyard_testkit::backend_tests![a_role_can_require_approval_of_its_holders];

fn role(name: &str, statements: Value) -> Value {
    json!({"name": name, "statements": statements})
}

async fn a_role_can_require_approval_of_its_holders(url: String) {
    let server = TestServer::in_process(&url).start().await;
    server
        .admin_post(
            "/api/v1/projects/default/flags",
            json!({"key": "checkout", "kind": "boolean"}),
        )
        .await;
    let admin = Some(server.admin.as_str());
    let allow = json!({"effect": "allow", "actions": ["flag:*", "change-request:update"],
                       "resources": ["proj/default:**"]});

    // A requirement names its count, and only a requirement has one.
    let bad = [
        (
            json!({"effect": "require_approval", "actions": ["flag:toggle"],
                "resources": ["**"]}),
            "statements[1].approvals",
        ),
        (
            json!({"effect": "require_approval", "actions": ["flag:toggle"],
                "resources": ["**"], "approvals": 11}),
            "statements[1].approvals",
        ),
        (
            json!({"effect": "allow", "actions": ["flag:toggle"], "resources": ["**"],
                "approvals": 1}),
            "statements[1].approvals",
        ),
    ];
    for (statement, field) in bad {
        let body = role("contractor", json!([allow, statement]));
        let (status, answer) = server
            .call(admin, Method::POST, "/api/v1/roles", Some(body))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert_eq!(answer["error"]["field"], field, "{answer}");
    }
    let requirement = json!({"effect": "require_approval", "approvals": 1,
        "actions": ["flag:toggle", "flag:archive"],
        "resources": ["proj/default:env/staging:**", "proj/default:flag/*"]});
    server
        .admin_post(
            "/api/v1/roles",
            role("contractor", json!([allow, requirement])),
        )
        .await;
    let carl = person(&server, "carl", "contractor").await;
    let carl = Some(carl.as_str());
    let walt = person(&server, "walt", "writer").await;
    let walt = Some(walt.as_str());
    let ada = approver(&server, "ada").await;
    let ada = Some(ada.as_str());
    let key = server.sdk_key(SdkKeyKind::Server).await;

    // Staging requires nothing, but carl's toggle there waits for someone else; walt's does not.
    let on = json!({"on": true, "comment": "carl's"});
    let (path, request) = held(
        &server,
        carl,
        Method::POST,
        &format!("{STAGING_CHECKOUT}/toggle"),
        Some(on),
    )
    .await;
    assert_eq!(
        (&request["required_approvals"], &request["policy_approvals"]),
        (&json!(1), &json!(1)),
        "{request}"
    );
    assert_eq!(server.admin_get(STAGING_CHECKOUT).await["on"], false);
    let (status, answer) = server
        .call(carl, Method::POST, &format!("{path}/apply"), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "no approval yet: {answer}");
    let (status, answer) = server
        .call(ada, Method::POST, &format!("{path}/approve"), None)
        .await;
    assert_eq!(
        (status, &answer["state"]),
        (StatusCode::OK, &json!("applied")),
        "{answer}"
    );
    assert_eq!(server.admin_get(STAGING_CHECKOUT).await["on"], true);
    let (status, answer) = server
        .call(
            walt,
            Method::POST,
            &format!("{STAGING_CHECKOUT}/toggle"),
            Some(json!({"on": false})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    // Outside the statement's resources carl's writes take effect.
    let production = "/api/v1/projects/default/environments/production/flags/checkout";
    let (status, answer) = server
        .call(
            carl,
            Method::POST,
            &format!("{production}/toggle"),
            Some(json!({"on": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    until_served(&server, &key, json!(true)).await;

    // A project-level write it names waits too, in the project's first environment, as the
    // environment's count would make it; SDKs still get the flag.
    let (path, request) = held(
        &server,
        carl,
        Method::POST,
        &format!("{CHECKOUT_DEFINITION}/archive"),
        Some(json!({"comment": "retire it"})),
    )
    .await;
    assert_eq!(
        (&request["environment"], &request["operation"]),
        (&json!("production"), &json!("archive_flag")),
        "{request}"
    );
    assert_eq!(served(&server, &key).await, json!(true));
    server
        .call(carl, Method::POST, &format!("{path}/withdraw"), None)
        .await;

    // A token may add a requirement to itself (narrower), and cannot leave its owner's out.
    let scoped = json!({"name": "careful", "account": "walt", "statements": [
        {"effect": "allow", "actions": ["flag:*"], "resources": ["proj/**"]},
        {"effect": "require_approval", "approvals": 1, "actions": ["flag:toggle"],
         "resources": ["proj/default:env/staging:**"]}]});
    let token = server.admin_post("/api/v1/tokens", scoped).await;
    let careful = token["token"].as_str().unwrap().to_owned();
    held(
        &server,
        Some(&careful),
        Method::POST,
        &format!("{STAGING_CHECKOUT}/toggle"),
        Some(json!({"on": true})),
    )
    .await;
    let (status, answer) = server
        .call(
            walt,
            Method::POST,
            &format!("{STAGING_CHECKOUT}/toggle"),
            Some(json!({"on": true})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the account itself is not bound: {answer}"
    );
    let verified = server.admin_get("/api/v1/audit/verify").await;
    assert_eq!(verified["ok"], true, "{verified}");
}
