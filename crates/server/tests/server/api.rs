//! The control plane through HTTP: a real server started in-process on port 0, on SQLite and on
//! a throwaway PostgreSQL cluster, with the same scenarios on both.

mod audit;
mod authorization;
mod bad_input;
mod changes;
mod off_state;
mod sign_in;
mod strict_input;

use reqwest::{Method, StatusCode};
use serde_json::json;
use switchyard_server::bootstrap;
use switchyard_store::Store;
use switchyard_testkit::server::TestServer;

use audit::audit_tamper_evidence;
use authorization::authorization_matrix;
use bad_input::bad_input;
use changes::changes_validation_and_concurrency;
use sign_in::{parallel_guesses_get_no_more_tries, sign_in_throttling_and_token_lifetimes};
use strict_input::strict_input;

switchyard_testkit::backend_tests![
    audit_tamper_evidence,
    changes_validation_and_concurrency,
    authorization_matrix,
    bad_input,
    sign_in_throttling_and_token_lifetimes,
    parallel_guesses_get_no_more_tries,
    replicas_share_one_database,
    operations_endpoints,
    strict_input,
];

const FLAGS: &str = "/api/v1/projects/default/flags";
const PROD: &str = "/api/v1/projects/default/environments/production";
const STAGING: &str = "/api/v1/projects/default/environments/staging";

async fn replicas_share_one_database(url: String) {
    let first = TestServer::in_process(&url).start().await;
    let second = TestServer::in_process(&url)
        .admin(&first.admin)
        .start()
        .await;
    first
        .admin_post(FLAGS, json!({"key": "shared", "kind": "boolean"}))
        .await;
    let seen = second.admin_get(&format!("{FLAGS}/shared")).await;
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
        second.admin_get(&format!("{FLAGS}/shared")).await["tags"],
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
    server.admin_get("/api/v1/projects").await;
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
    assert_eq!(doc["paths"].as_object().unwrap().len(), 74);
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
