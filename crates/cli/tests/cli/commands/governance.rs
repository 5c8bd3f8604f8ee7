//! `change-requests list/show/approve/reject/withdraw/apply` against an environment that
//! requires one approval (`docs/governance.md`).

use serde_json::{Value, json};
use switchyard_testkit::server::{Method, TestServer};

use super::{Cli, PROJECT};

const STAGING: &str = "/api/v1/projects/default/environments/staging";

async fn require_approvals(server: &TestServer, count: u32) {
    let version = server.admin_get(STAGING).await["version"].clone();
    let body = json!({"key": "staging", "name": "staging", "required_approvals": count,
                      "version": version});
    server.admin(Method::PUT, STAGING, Some(body)).await;
}

/// A toggle of `checkout` in staging by `token`, held: the change request's id.
async fn held_toggle(server: &TestServer, token: &str, on: bool) -> String {
    let path = format!("{STAGING}/flags/checkout/toggle");
    let (status, answer) = server
        .call(Some(token), Method::POST, &path, Some(json!({"on": on})))
        .await;
    assert_eq!(status.as_u16(), 202, "{answer}");
    answer["change_request"]["id"].as_str().unwrap().to_owned()
}

pub(super) async fn change_requests(cli: &Cli, server: &TestServer) {
    let body = json!({"name": "walt", "roles": ["writer"], "password": "a long enough password"});
    server.admin_post("/api/v1/accounts", body).await;
    let token = json!({"name": "walt", "account": "walt", "unscoped": true});
    let walt: Value = server.admin_post("/api/v1/tokens", token).await;
    let walt = walt["token"].as_str().unwrap().to_owned();
    require_approvals(server, 1).await;
    let targeting = format!("{PROJECT}/environments/staging/flags/checkout");
    let before = server.admin_get(&targeting).await;

    // A held write through the CLI says where it waits, and changes nothing.
    let held = cli.fails(
        &["flags", "toggle", "checkout", "--env", "staging", "--on"],
        2,
    );
    assert!(held.contains("change-requests show"), "{held}");
    assert_eq!(server.admin_get(&targeting).await, before);

    let id = held_toggle(server, &walt, true).await;
    let table = cli.ok(&["change-requests", "list"]);
    assert!(table.starts_with("ID"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with(&id) && l.contains("walt")),
        "{table}"
    );
    let pending = cli.json(&[
        "change-requests",
        "list",
        "--state",
        "pending",
        "--env",
        "staging",
    ]);
    assert!(
        pending
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == id.as_str()),
        "{pending}"
    );
    let shown = cli.json(&["change-requests", "show", &id]);
    assert_eq!(
        (&shown["after"]["on"], &shown["author"]),
        (&json!(true), &json!("walt"))
    );
    let refused = cli.fails(&["change-requests", "approve", &id, "--revision", "7"], 2);
    assert!(refused.contains("revision"), "{refused}");
    let applied = cli.json(&[
        "change-requests",
        "approve",
        &id,
        "--revision",
        "1",
        "--comment",
        "ok",
    ]);
    assert_eq!(applied["state"], "applied", "{applied}");
    assert_eq!(server.admin_get(&targeting).await["on"], true);

    let rejected = held_toggle(server, &walt, false).await;
    let answer = cli.json(&[
        "change-requests",
        "reject",
        &rejected,
        "--comment",
        "keep it on",
    ]);
    assert_eq!(answer["state"], "rejected", "{answer}");

    // The admin's own requests: never approved by the admin, withdrawn, applied once the
    // environment no longer requires an approval.
    let own = held_toggle(server, &server.admin, false).await;
    let refused = cli.fails(&["change-requests", "approve", &own], 2);
    assert!(refused.contains("own change request"), "{refused}");
    let answer = cli.json(&["change-requests", "withdraw", &own]);
    assert_eq!(answer["state"], "withdrawn", "{answer}");
    let own = held_toggle(server, &server.admin, false).await;
    require_approvals(server, 0).await;
    let answer = cli.json(&[
        "change-requests",
        "apply",
        &own,
        "--comment",
        "count lowered",
    ]);
    assert_eq!(answer["state"], "applied", "{answer}");
    assert_eq!(server.admin_get(&targeting).await["on"], false);
}
