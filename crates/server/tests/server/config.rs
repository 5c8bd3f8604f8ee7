//! Config as code (`docs/config-as-code.md`): the project as one document. Its export planned
//! again changes nothing; a change made through the API shows in the plan field by field with
//! variation keys; applied to a fresh server it gives the same document and the same
//! assignments; an apply is all or nothing (every problem named by file and field, one audit
//! record, a stale revision refused, deletions only with `prune`), authorized change by change,
//! one change request where approvals are required, and never moves a running release's layer.

mod apply;
mod approvals;
mod round_trip;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchyard_testkit::server::TestServer;

use apply::{
    apply_is_all_or_nothing, each_change_is_authorized, release_layers_stay_with_their_release,
};
use approvals::{
    a_policy_on_one_change_holds_the_apply, a_revision_moves_to_the_environment_it_changes,
    an_apply_needing_approval_is_one_change_request,
};
use round_trip::{
    an_export_applied_to_a_fresh_server_assigns_the_same,
    the_plan_of_an_export_is_empty_and_api_changes_show_in_words,
};

switchyard_testkit::backend_tests! {
    sqlite: [
        the_plan_of_an_export_is_empty_and_api_changes_show_in_words,
        an_export_applied_to_a_fresh_server_assigns_the_same,
        apply_is_all_or_nothing,
        each_change_is_authorized,
        an_apply_needing_approval_is_one_change_request,
        a_policy_on_one_change_holds_the_apply,
        a_revision_moves_to_the_environment_it_changes,
        release_layers_stay_with_their_release,
    ],
    postgres: [an_export_applied_to_a_fresh_server_assigns_the_same],
}

const SHOP: &str = "/api/v1/projects/shop";
const PROD: &str = "/api/v1/projects/shop/environments/prod";
const DEV: &str = "/api/v1/projects/shop/environments/dev";

/// Project `shop`: environments `dev` and `prod` (critical), boolean `checkout` (in prod: a
/// target, a rule on segment `beta`, a 10/90 rollout; in dev: on), string `banner` (blue, green,
/// red; in prod: green, requiring checkout `on`), and segment `beta` in prod.
async fn build_shop(server: &TestServer) {
    server
        .admin_post("/api/v1/projects", json!({"key": "shop", "name": "Shop"}))
        .await;
    for (env, critical) in [("prod", true), ("dev", false)] {
        let body = json!({"key": env, "name": env.to_uppercase(), "critical": critical});
        server
            .admin_post(&format!("{SHOP}/environments"), body)
            .await;
    }
    let flags = format!("{SHOP}/flags");
    server
        .admin_post(&flags, json!({"key": "checkout", "kind": "boolean"}))
        .await;
    let banner = json!({"key": "banner", "kind": "string", "off_variation": "blue",
        "variations": [{"key": "blue", "value": "Blue"}, {"key": "green", "value": "Green"},
                       {"key": "red", "value": "Red"}]});
    server.admin_post(&flags, banner).await;
    let beta = json!({"key": "beta", "included": [{"kind": "user", "values": ["bob"]}]});
    server.admin_post(&format!("{PROD}/segments"), beta).await;
    let checkout = json!({"version": 0, "on": true,
        "targets": [{"kind": "user", "variation": 0, "values": ["alice"]}],
        "rules": [{"id": "beta", "condition": {"op": "segment_match", "values": ["beta"]},
                   "serve": {"variation": 0}}],
        "fallthrough": {"rollout": {"variations": [
            {"variation": 0, "weight": 10000}, {"variation": 1, "weight": 90000}]}}});
    put(server, &format!("{PROD}/flags/checkout"), checkout).await;
    let banner = json!({"version": 0, "on": true, "fallthrough": {"variation": 1},
        "prerequisites": [{"key": "checkout", "variation": 0}]});
    put(server, &format!("{PROD}/flags/banner"), banner).await;
    let dev = json!({"version": 0, "on": true, "fallthrough": {"variation": 0}});
    put(server, &format!("{DEV}/flags/checkout"), dev).await;
}

async fn put(server: &TestServer, path: &str, body: Value) -> Value {
    server.admin(Method::PUT, path, Some(body)).await
}

/// `GET /projects/shop/config` as the admin: `{revision, config}`.
async fn export(server: &TestServer) -> Value {
    server.admin_get(&format!("{SHOP}/config")).await
}

/// `POST /projects/shop/config/{verb}` as `token` with `body`.
async fn config_call(
    server: &TestServer,
    token: &str,
    verb: &str,
    body: Value,
) -> (StatusCode, Value) {
    let path = format!("{SHOP}/config/{verb}");
    server
        .call(Some(token), Method::POST, &path, Some(body))
        .await
}

/// The newest audit record.
async fn audit_head(server: &TestServer) -> Value {
    server.admin_get("/api/v1/audit?limit=1").await["records"][0].clone()
}

/// The audit records newer than `seq`, oldest first.
async fn audited_since(server: &TestServer, seq: &Value) -> Vec<Value> {
    let page = server.admin_get("/api/v1/audit?limit=100").await;
    let mut records: Vec<Value> = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["seq"].as_i64() > seq.as_i64())
        .cloned()
        .collect();
    records.reverse();
    records
}

/// The flag `key` of a document.
fn flag_mut<'a>(config: &'a mut Value, key: &str) -> &'a mut Value {
    config["flags"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|f| f["key"] == key)
        .unwrap()
}
