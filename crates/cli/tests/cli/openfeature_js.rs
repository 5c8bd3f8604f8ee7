//! Protocol compatibility with a real third-party client: the official OpenFeature JavaScript
//! server SDK with its OFREP provider (`clients/openfeature-js`, installed by `.ci/run`) against
//! the `switchyard serve` binary.

use std::path::Path;
use std::process::Command;

use switchyard_engine::hash::native_bucket;
use switchyard_testkit::server::SdkKeyKind;

use crate::serve_fresh;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openfeature_js_server_sdk_over_ofrep() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let client_dir = root.join("clients/openfeature-js");
    if !client_dir
        .join("node_modules/@openfeature/ofrep-provider")
        .exists()
    {
        switchyard_testkit::skip(
            "the OpenFeature JS client is not installed (npm ci --prefix clients/openfeature-js)",
        );
        return;
    }
    let (mut server, dir) = serve_fresh("ofjs").await;
    server.seed_delivery_flags().await;
    let key = server.sdk_key(SdkKeyKind::Server).await;

    let de = json!({"targetingKey": "user-1", "country": "DE"});
    let us = json!({"targetingKey": "user-2", "country": "US"});
    // (case, expected value, variant, reason, error code); variant/reason `null` = not checked.
    let cases: Vec<(Value, Value, Value, Value, Value)> = vec![
        (
            json!({"type": "boolean", "flag": "checkout", "default": false, "context": us}),
            json!(true),
            json!("on"),
            json!("STATIC"),
            json!(null),
        ),
        (
            json!({"type": "boolean", "flag": "checkout", "default": false, "context": us, "client": "apiKey"}),
            json!(true),
            json!("on"),
            json!("STATIC"),
            json!(null),
        ),
        (
            json!({"type": "string", "flag": "banner", "default": "x", "context": de}),
            json!("hallo"),
            json!("german"),
            json!("TARGETING_MATCH"),
            json!(null),
        ),
        (
            json!({"type": "string", "flag": "banner", "default": "x", "context": us}),
            json!("hello"),
            json!("plain"),
            json!("DEFAULT"),
            json!(null),
        ),
        (
            json!({"type": "object", "flag": "theme", "default": {}, "context": us}),
            json!({"bg": "white"}),
            json!("light"),
            json!("DISABLED"),
            json!(null),
        ),
        (
            json!({"type": "boolean", "flag": "missing", "default": true, "context": us}),
            json!(true),
            json!(null),
            json!("ERROR"),
            json!("FLAG_NOT_FOUND"),
        ),
        (
            json!({"type": "string", "flag": "banner", "default": "x", "context": {"country": "DE"}}),
            json!("x"),
            json!(null),
            json!("ERROR"),
            json!("TARGETING_KEY_MISSING"),
        ),
        (
            json!({"type": "boolean", "flag": "banner", "default": true, "context": us}),
            json!(true),
            json!(null),
            json!("ERROR"),
            json!("TYPE_MISMATCH"),
        ),
        (
            json!({"type": "boolean", "flag": "checkout", "default": false, "context": us, "client": "badKey"}),
            json!(false),
            json!(null),
            json!("ERROR"),
            json!("GENERAL"),
        ),
    ];
    // What the JS client reports for a list of cases.
    let evaluate_in_js = |cases: &Value| -> Vec<Value> {
        let output = Command::new("node")
            .arg(client_dir.join("check.mjs"))
            .arg(cases.to_string())
            .env("SWITCHYARD_URL", &server.base)
            .env("SWITCHYARD_SDK_KEY", &key)
            .output()
            .expect("node runs");
        assert!(
            output.status.success(),
            "node failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    };
    let input: Vec<Value> = cases.iter().map(|c| c.0.clone()).collect();
    let results = evaluate_in_js(&Value::from(input));
    assert_eq!(results.len(), cases.len());
    for ((case, value, variant, reason, error), got) in cases.iter().zip(&results) {
        assert_eq!(&got["value"], value, "{case} → {got}");
        assert_eq!(&got["reason"], reason, "{case} → {got}");
        assert_eq!(&got["errorCode"], error, "{case} → {got}");
        if !variant.is_null() {
            assert_eq!(&got["variant"], variant, "{case} → {got}");
            assert!(
                got["version"].as_u64().unwrap() >= 1,
                "flag version in metadata: {got}"
            );
        }
    }

    // The split flag, reason SPLIT: user-2's side of the 50/50 split follows from the flag's
    // random salt by the native hashing (bucket below 50,000: `low`).
    let split = json!([{"type": "number", "flag": "limit", "default": -1, "context": us}]);
    let got = evaluate_in_js(&split);
    assert_eq!(got[0]["reason"], "SPLIT");
    let flag = server
        .admin_get("/api/v1/projects/default/flags/limit")
        .await;
    let prefix = format!("limit.{}", flag["salt"].as_str().unwrap());
    let expected = match native_bucket(&prefix, "user-2") < 50_000 {
        true => (json!(10), json!("low")),
        false => (json!(20.5), json!("high")),
    };
    assert_eq!(
        (got[0]["value"].clone(), got[0]["variant"].clone()),
        expected,
        "{}",
        got[0]
    );

    server.kill();
    let _ = std::fs::remove_dir_all(&dir);
}
