//! What the change-request scenario does again and again: people, what SDKs see, the
//! environment's count, the audit trail of a resource.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchyard_testkit::server::{TestServer, wait_for};

use super::{PROD, REQUESTS};

/// A person with `roles` (or the statements of a custom role) and an unscoped token: the token.
pub(crate) async fn person(server: &TestServer, name: &str, role: &str) -> String {
    let body = json!({"name": name, "roles": [role], "password": "a long enough password"});
    server.admin_post("/api/v1/accounts", body).await;
    let token = json!({"name": name, "account": name, "unscoped": true});
    let token = server.admin_post("/api/v1/tokens", token).await;
    token["token"].as_str().unwrap().to_owned()
}

/// `name`, who may read and approve the project's change requests but change nothing
/// (a role `approver` made for them): their token.
pub(crate) async fn approver(server: &TestServer, name: &str) -> String {
    let role = json!({"name": "approver", "statements": [{"effect": "allow",
        "actions": ["change-request:approve", "change-request:read", "flag:read"],
        "resources": ["proj/default:**"]}]});
    server.admin_post("/api/v1/roles", role).await;
    person(server, name, "approver").await
}

/// What an SDK evaluating `checkout` in production gets (OFREP).
pub(crate) async fn served(server: &TestServer, key: &str) -> Value {
    let answer = reqwest::Client::new()
        .post(format!("{}/ofrep/v1/evaluate/flags/checkout", server.base))
        .header("x-api-key", key)
        .json(&json!({"context": {"targetingKey": "u-1"}}))
        .send()
        .await
        .unwrap();
    answer.json::<Value>().await.unwrap()["value"].clone()
}

/// Waits until SDKs get `value` for `checkout`.
pub(crate) async fn until_served(server: &TestServer, key: &str, value: Value) {
    wait_for(&format!("checkout to serve {value}"), 20, || async {
        (served(server, key).await == value).then_some(())
    })
    .await;
}

pub(crate) async fn set_required_approvals(
    server: &TestServer,
    count: Value,
) -> (StatusCode, Value) {
    let version = server.admin_get(PROD).await["version"].clone();
    let body = json!({"key": "production", "name": "production", "critical": true,
                      "required_approvals": count, "version": version});
    server
        .call(Some(&server.admin), Method::PUT, PROD, Some(body))
        .await
}

/// Each audit action recorded on `resource`, oldest first.
pub(crate) async fn audited(server: &TestServer, resource: &str) -> Vec<(String, String)> {
    let page = server
        .admin_get(&format!("/api/v1/audit?limit=1000&resource={resource}"))
        .await;
    let mut actions: Vec<(String, String)> = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["action"].as_str().unwrap_or_default().to_owned(),
                r["comment"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    actions.reverse();
    actions
}

/// `who`'s write that the server holds for approval: the `202`, then the change request's
/// path and body.
pub(crate) async fn held(
    server: &TestServer,
    who: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (String, Value) {
    let (status, answer) = server.call(who, method, path, body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let request = answer["change_request"].clone();
    (
        format!("{REQUESTS}/{}", request["id"].as_str().unwrap()),
        request,
    )
}
