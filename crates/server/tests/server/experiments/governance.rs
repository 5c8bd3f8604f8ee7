//! In an environment that requires approvals, starting and shipping an experiment are change
//! requests that apply when approved (replaying their routes); a stop never waits.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchyard_testkit::server::TestServer;

use super::{EXPERIMENTS, conversion_metric, layout_flag, plan};
use crate::PROD;
use crate::change_requests::support::{approver, person, set_required_approvals};

switchyard_testkit::backend_tests! {
    sqlite: [start_and_ship_wait_for_approval_and_a_stop_does_not],
    postgres: [],
}

const REQUESTS: &str = "/api/v1/projects/default/change-requests";

/// `path` posted by `token`, which the environment turns into a change request: it, checked.
async fn proposed(server: &TestServer, token: &str, path: &str, body: Value, op: &str) -> Value {
    let (status, answer) = server
        .call(Some(token), Method::POST, path, Some(body))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let request = answer["change_request"].clone();
    assert_eq!(request["operation"], op, "{request}");
    request
}

async fn approve(server: &TestServer, token: &str, request: &Value) {
    let path = format!("{REQUESTS}/{}/approve", request["id"].as_str().unwrap());
    let (status, answer) = server.call(Some(token), Method::POST, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["state"], "applied", "{answer}");
}

async fn new_experiment(server: &TestServer) -> String {
    let created = server.admin_post(EXPERIMENTS, plan()).await;
    format!("{EXPERIMENTS}/{}", created["id"].as_str().unwrap())
}

async fn start_and_ship_wait_for_approval_and_a_stop_does_not(url: String) {
    let server = TestServer::in_process(&url).start().await;
    layout_flag(&server).await;
    conversion_metric(&server).await;
    let walt = person(&server, "walt", "writer").await;
    let ada = approver(&server, "ada").await;
    let (status, answer) = set_required_approvals(&server, json!(1)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let targeting = format!("{PROD}/flags/layout");

    let one = new_experiment(&server).await;
    let start = format!("{one}/start");
    let request = proposed(&server, &walt, &start, json!({}), "start_experiment").await;
    assert_eq!(server.admin_get(&one).await["state"], "draft");
    let fallthrough = &server.admin_get(&targeting).await["fallthrough"];
    assert_eq!(
        fallthrough,
        &json!({"variation": 0}),
        "nothing served before approval"
    );
    approve(&server, &ada, &request).await;
    assert_eq!(server.admin_get(&one).await["state"], "running");
    let rollout = &server.admin_get(&targeting).await["fallthrough"]["rollout"];
    assert_eq!(rollout["experiment"], true, "{rollout}");

    let ship = format!("{one}/ship");
    let body = json!({"variation": "b", "comment": "b converts better"});
    let request = proposed(&server, &walt, &ship, body, "ship_experiment").await;
    assert_eq!(server.admin_get(&one).await["state"], "running");
    approve(&server, &ada, &request).await;
    let shipped = server.admin_get(&one).await;
    assert_eq!(shipped["state"], "shipped", "{shipped}");
    let fallthrough = &server.admin_get(&targeting).await["fallthrough"];
    assert_eq!(fallthrough, &json!({"variation": 1}));

    // Back to a single variation, a second experiment; its stop takes effect at once.
    let two = new_experiment(&server).await;
    let request = proposed(
        &server,
        &walt,
        &format!("{two}/start"),
        json!({}),
        "start_experiment",
    )
    .await;
    approve(&server, &ada, &request).await;
    let (status, stopped) = server
        .call(Some(&walt), Method::POST, &format!("{two}/stop"), None)
        .await;
    assert_eq!(
        (status, &stopped["state"]),
        (StatusCode::OK, &json!("stopped")),
        "{stopped}"
    );
    let fallthrough = &server.admin_get(&targeting).await["fallthrough"];
    assert_eq!(fallthrough, &json!({"variation": 1}));
    let why = stopped["history"].as_array().unwrap().last().unwrap()["detail"].clone();
    assert!(
        why.as_str().unwrap().contains("not subject to approval"),
        "{why}"
    );
}
