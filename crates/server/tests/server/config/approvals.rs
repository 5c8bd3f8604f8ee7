//! Where an environment requires approvals, an apply that changes it becomes one change request
//! with the whole diff; approving it applies everything in one commit, and a base that moved
//! meanwhile refuses it.

use reqwest::Method;
use serde_json::{Value, json};
use switchyard_server::api::types::Operation;
use switchyard_testkit::server::TestServer;

use super::{
    DEV, PROD, SHOP, audit_head, audited_since, build_shop, config_call, export, flag_mut, put,
};

/// `ada`, who may read the project and approve its change requests: her token.
async fn approver(server: &TestServer) -> String {
    let role = json!({"name": "shop-approver", "statements": [{"effect": "allow",
        "actions": ["change-request:approve", "change-request:read", "flag:read"],
        "resources": ["proj/shop:**"]}]});
    server.admin_post("/api/v1/roles", role).await;
    let body =
        json!({"name": "ada", "roles": ["shop-approver"], "password": "a long enough password"});
    server.admin_post("/api/v1/accounts", body).await;
    let token = json!({"name": "ada", "account": "ada", "unscoped": true});
    let token = server.admin_post("/api/v1/tokens", token).await;
    token["token"].as_str().unwrap().to_owned()
}

/// `ada` approves change request `id`: the status and the request.
async fn approve(server: &TestServer, ada: &str, id: &Value) -> (reqwest::StatusCode, Value) {
    let path = format!("{SHOP}/change-requests/{}/approve", id.as_str().unwrap());
    server.call(Some(ada), Method::POST, &path, None).await
}

pub(super) async fn an_apply_needing_approval_is_one_change_request(url: String) {
    let server = TestServer::in_process(&url).start().await;
    build_shop(&server).await;
    let ada = approver(&server).await;
    let admin = server.admin.clone();
    let prod = server.admin_get(PROD).await;
    let body = json!({"key": "prod", "name": prod["name"], "critical": true,
        "required_approvals": 1, "version": prod["version"]});
    put(&server, PROD, body).await;
    let exported = export(&server).await;

    // Banner's definition, checkout off in dev and a new target in prod.
    let mut config = exported["config"].clone();
    flag_mut(&mut config, "banner")["name"] = json!("Banner");
    flag_mut(&mut config, "checkout")["environments"]["dev"]["on"] = json!(false);
    flag_mut(&mut config, "checkout")["environments"]["prod"]["targets"][0]["values"] =
        json!(["alice", "carol"]);
    let body = json!({"config": config, "comment": "spring settings"});
    let (status, plan) = config_call(&server, &admin, "plan", body.clone()).await;
    assert!(status.is_success(), "{status} {plan}");
    assert_eq!(plan["required_approvals"], 1);
    let (status, answer) = config_call(&server, &admin, "apply", body).await;
    assert_eq!(status.as_u16(), 202, "{answer}");
    let request = &answer["change_request"];
    assert_eq!(request["operation"], "apply_config");
    assert_eq!(request["environment"], "prod");
    assert_eq!(request["required_approvals"], 1);
    assert_eq!(
        request["after"], plan["changes"],
        "the request shows the whole diff"
    );
    let kinds: Vec<&str> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["resource"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "proj/shop:flag/banner",
            "proj/shop:env/dev:flag/checkout",
            "proj/shop:env/prod:flag/checkout"
        ]
    );
    assert_eq!(export(&server).await, exported, "nothing changed yet");

    // Approved: everything at once, in one commit with one config:apply record.
    let head = audit_head(&server).await;
    let (status, approved) = approve(&server, &ada, &request["id"]).await;
    assert!(status.is_success(), "{status} {approved}");
    assert_eq!(approved["state"], "applied", "{approved}");
    assert_eq!(export(&server).await["config"], config);
    let applies: Vec<Value> = audited_since(&server, &head["seq"])
        .await
        .into_iter()
        .filter(|r| r["action"] == "config:apply")
        .collect();
    assert_eq!(applies.len(), 1, "{applies:?}");
    assert_eq!(applies[0]["after"], plan["changes"]);
    let note = applies[0]["comment"].as_str().unwrap();
    assert!(note.contains("approved by ada"), "{note}");

    // A second request, then its base moves (dev, which needs no approval, changes through
    // the API): approving it is a 409, the request is in conflict, and nothing of it applies.
    let mut second = config.clone();
    flag_mut(&mut second, "checkout")["environments"]["prod"]["targets"][0]["values"] =
        json!(["alice", "carol", "dave"]);
    let input = serde_json::from_value(json!({"config": second})).unwrap();
    let held = server.client().apply_config("shop", &input).await.unwrap();
    let held = held.change_request().expect("held for approval");
    assert_eq!(held.body.operation, Operation::ApplyConfig);
    let request = serde_json::to_value(held).unwrap();
    let dev = server.admin_get(&format!("{DEV}/flags/checkout")).await;
    let toggle = json!({"on": true});
    let path = format!("{DEV}/flags/checkout/toggle");
    server.admin(Method::POST, &path, Some(toggle)).await;
    assert_ne!(
        server.admin_get(&format!("{DEV}/flags/checkout")).await["version"],
        dev["version"]
    );
    let moved = export(&server).await;
    let (status, answer) = approve(&server, &ada, &request["id"]).await;
    assert_eq!(status.as_u16(), 409, "{answer}");
    let path = format!("{SHOP}/change-requests/{}", request["id"].as_str().unwrap());
    assert_eq!(server.admin_get(&path).await["state"], "conflict");
    assert_eq!(export(&server).await, moved);

    // Its author revises it onto the project as it is now; approved, it applies.
    let mut rebased = moved["config"].clone();
    flag_mut(&mut rebased, "checkout")["environments"]["prod"]["targets"][0]["values"] =
        json!(["alice", "carol", "dave"]);
    let body = json!({"request": {"config": rebased}, "revision": 1});
    let revised = server.admin(Method::PUT, &path, Some(body)).await;
    assert_eq!(
        (&revised["state"], &revised["revision"]),
        (&json!("pending"), &json!(2))
    );
    assert_eq!(revised["request"]["expect_revision"], moved["revision"]);
    let (status, approved) = approve(&server, &ada, &request["id"]).await;
    assert!(status.is_success(), "{status} {approved}");
    assert_eq!(approved["state"], "applied", "{approved}");
    assert_eq!(export(&server).await["config"], rebased);
    server.stop().await;
}

/// `carl`, who may do anything in the project but whose own role requires two approvals of
/// his toggles in dev (which requires none): his token.
async fn cautious(server: &TestServer) -> String {
    let role = json!({"name": "cautious", "statements": [
        {"effect": "allow", "actions": ["*"], "resources": ["proj/shop", "proj/shop:**"]},
        {"effect": "require_approval", "approvals": 2, "actions": ["flag:toggle"],
         "resources": ["proj/shop:env/dev:**"]}]});
    server.admin_post("/api/v1/roles", role).await;
    let body = json!({"name": "carl", "roles": ["cautious"], "password": "a long enough password"});
    server.admin_post("/api/v1/accounts", body).await;
    let token = json!({"name": "carl", "account": "carl", "unscoped": true});
    let token = server.admin_post("/api/v1/tokens", token).await;
    token["token"].as_str().unwrap().to_owned()
}

/// The caller's own `require_approval` statement holds an apply (in the project's first
/// environment where no environment requires approvals) and its count is the request's: one
/// approval of two applies nothing.
pub(super) async fn a_policy_on_one_change_holds_the_apply(url: String) {
    let server = TestServer::in_process(&url).start().await;
    build_shop(&server).await;
    let ada = approver(&server).await;
    let carl = cautious(&server).await;
    let exported = export(&server).await;
    let mut config = exported["config"].clone();
    flag_mut(&mut config, "checkout")["environments"]["dev"]["on"] = json!(false);
    let (status, answer) = config_call(&server, &carl, "apply", json!({"config": config})).await;
    assert_eq!(status.as_u16(), 202, "{answer}");
    let request = &answer["change_request"];
    assert_eq!(
        (
            &request["environment"],
            &request["policy_approvals"],
            &request["required_approvals"]
        ),
        (&json!("dev"), &json!(2), &json!(2)),
        "{request}"
    );
    let (status, approved) = approve(&server, &ada, &request["id"]).await;
    assert!(status.is_success(), "{status} {approved}");
    assert_eq!(approved["state"], "pending", "{approved}");
    assert_eq!(
        export(&server).await,
        exported,
        "one approval of two applies nothing"
    );
    server.stop().await;
}

/// A revision that changes another environment waits in it, with its count; a revision that
/// changes nothing is still a revision (not a 500).
pub(super) async fn a_revision_moves_to_the_environment_it_changes(url: String) {
    let server = TestServer::in_process(&url).start().await;
    build_shop(&server).await;
    let ada = approver(&server).await;
    for (path, key, count) in [(DEV, "dev", 1), (PROD, "prod", 2)] {
        let env = server.admin_get(path).await;
        let body = json!({"key": key, "name": env["name"], "critical": env["critical"],
            "required_approvals": count, "version": env["version"]});
        put(&server, path, body).await;
    }
    let exported = export(&server).await;
    let admin = server.admin.clone();
    let mut dev_only = exported["config"].clone();
    flag_mut(&mut dev_only, "checkout")["environments"]["dev"]["on"] = json!(false);
    let (status, answer) = config_call(&server, &admin, "apply", json!({"config": dev_only})).await;
    assert_eq!(status.as_u16(), 202, "{answer}");
    let request = &answer["change_request"];
    assert_eq!(
        (&request["environment"], &request["required_approvals"]),
        (&json!("dev"), &json!(1))
    );
    let path = format!("{SHOP}/change-requests/{}", request["id"].as_str().unwrap());

    // Revised to change prod instead: it waits in prod, and one approval is not enough.
    let mut prod_only = exported["config"].clone();
    flag_mut(&mut prod_only, "checkout")["environments"]["prod"]["on"] = json!(false);
    let body = json!({"request": {"config": prod_only}, "revision": 1});
    let revised = server.admin(Method::PUT, &path, Some(body)).await;
    assert_eq!(
        (&revised["environment"], &revised["required_approvals"]),
        (&json!("prod"), &json!(2)),
        "{revised}"
    );
    let (status, approved) = approve(&server, &ada, &request["id"]).await;
    assert!(status.is_success(), "{status} {approved}");
    assert_eq!(approved["state"], "pending", "{approved}");
    assert_eq!(export(&server).await, exported, "nothing applied");

    // Revised into the project as it is: a revision that changes nothing.
    let body = json!({"request": {"config": exported["config"]}, "revision": 2});
    let (status, revised) = server
        .call(Some(&admin), Method::PUT, &path, Some(body))
        .await;
    assert!(status.is_success(), "{status} {revised}");
    assert_eq!(revised["revision"], 3, "{revised}");
    assert_eq!(revised["after"], json!([]), "{revised}");
    server.stop().await;
}
