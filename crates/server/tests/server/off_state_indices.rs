//! Safe off states: a flag definition update that removes or reorders variations an
//! environment uses by position (its off variation, default rule, rules, targets, another
//! flag's prerequisite) is refused, naming the environment and the use; appending variations
//! and renaming them still work and leave every environment serving what it served.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchyard_testkit::server::TestServer;

use crate::PROD;

switchyard_testkit::backend_tests![off_state_survives_variation_edits];

const MODEL: &str = "/api/v1/projects/default/flags/model";

fn variation(key: &str, name: &str) -> Value {
    json!({"key": key, "value": format!("gpt-{key}"), "name": name})
}

/// `PUT` the definition of `model` with `variations`, at its current version.
async fn define(server: &TestServer, variations: Vec<Value>) -> (StatusCode, Value) {
    let version = server.admin_get(MODEL).await["version"].clone();
    let body = json!({"key": "model", "kind": "string", "off_variation": "small",
        "variations": variations, "version": version});
    server
        .call(Some(&server.admin), Method::PUT, MODEL, Some(body))
        .await
}

async fn target(server: &TestServer, flag: &str, targeting: Value) {
    let path = format!("{PROD}/flags/{flag}");
    let mut body = targeting;
    body["version"] = server.admin_get(&path).await["version"].clone();
    server.admin(Method::PUT, &path, Some(body)).await;
}

async fn off_state_survives_variation_edits(url: String) {
    let server = TestServer::in_process(&url).start().await;
    let small = variation("small", "Small model");
    let medium = variation("medium", "Medium model");
    let large = variation("large", "Large model");
    server
        .admin_post(
            "/api/v1/projects/default/flags",
            json!({"key": "model", "kind": "string", "off_variation": "small",
                "variations": [small, medium, large]}),
        )
        .await;
    server
        .admin_post(
            "/api/v1/projects/default/flags",
            json!({"key": "dependent", "kind": "boolean"}),
        )
        .await;
    // Production: off, serving the large model; on, it would serve small. `dependent`
    // requires model's medium variation.
    target(
        &server,
        "model",
        json!({"on": false, "off_variation": 2, "fallthrough": {"variation": 0}}),
    )
    .await;
    target(
        &server,
        "dependent",
        json!({"on": true, "off_variation": 1, "fallthrough": {"variation": 0},
            "prerequisites": [{"key": "model", "variation": 1}]}),
    )
    .await;

    // Removing the large model would change what production serves while off.
    let (status, refused) = define(&server, vec![small.clone(), medium.clone()]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["error"]["field"], "variations", "{refused}");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(
            "production's off variation is variation 2 (“Large model”), which this change removes"
        ),
        "{message}"
    );

    // Swapping small and medium would move the default rule and dependent's prerequisite.
    let (status, refused) =
        define(&server, vec![medium.clone(), small.clone(), large.clone()]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(
            "production's default rule is variation 0 (“Small model”), which this change \
             replaces with “Medium model”"
        ),
        "{message}"
    );
    assert!(
        message.contains("production's prerequisite of dependent on model is variation 1"),
        "{message}"
    );
    assert!(!message.contains("staging"), "{message}");

    // Config as code: a document that reorders the variations but leaves production's
    // targeting as it is live is refused the same way.
    let mut exported = server.admin_get("/api/v1/projects/default/config").await;
    let flags = exported["config"]["flags"].as_array_mut().unwrap();
    let document = flags.iter_mut().find(|f| f["key"] == "model").unwrap();
    document["variations"] = json!([medium.clone(), small.clone(), large.clone()]);
    let body = json!({"config": exported["config"].clone()});
    for route in ["plan", "apply"] {
        let (status, refused) = server
            .call(
                Some(&server.admin),
                Method::POST,
                &format!("/api/v1/projects/default/config/{route}"),
                Some(body.clone()),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{route}: {refused}"
        );
        let message = refused["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("production's default rule is variation 0 (“Small model”)"),
            "{route}: {message}"
        );
    }

    // Appending a variation and renaming one are fine; production still serves the large
    // model while off.
    let renamed = variation("small", "Compact model");
    let huge = variation("huge", "Huge model");
    let (status, body) = define(&server, vec![renamed, medium, large, huge]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["variations"].as_array().unwrap().len(), 4, "{body}");
    let production = server.admin_get(&format!("{PROD}/flags/model")).await;
    assert_eq!(production["off_variation"], 2, "{production}");
    server.stop().await;
}
