//! OFREP: single evaluation (reasons and values), authentication, bulk evaluation with ETags and
//! the advertised stream, and the rate limit.

use serde_json::{Value, json};
use switchyard_testkit::server::{DeliveryConfig, SdkKeyKind, TestServer};

use super::{Stream, quick, toggle};

pub(super) async fn ofrep(url: String) {
    // Low enough that a sequential client exceeds it even in a slow debug build; the rest of
    // this scenario sends far fewer requests per key.
    let config = DeliveryConfig {
        ofrep_rate_limit: 100,
        ..quick()
    };
    let server = TestServer::in_process(&url).delivery(config).start().await;
    server.seed_delivery_flags().await;
    let key = server.sdk_key(SdkKeyKind::Server).await;
    let client_key = server.sdk_key(SdkKeyKind::Client).await;
    let http = reqwest::Client::new();
    let one = |flag: &str| format!("{}/ofrep/v1/evaluate/flags/{flag}", server.base);
    let post = |url: String, key: &str, body: &str| {
        http.post(url)
            .header("x-api-key", key)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
    };
    let ctx_de = r#"{"context": {"targetingKey": "u-1", "country": "DE"}}"#;

    // Reasons and values (data-driven: flag, context, expected status and body fields).
    let cases: &[(&str, &str, u16, Value)] = &[
        (
            "checkout",
            ctx_de,
            200,
            json!({"value": true, "reason": "STATIC", "variant": "on"}),
        ),
        (
            "banner",
            ctx_de,
            200,
            json!({"value": "hallo", "reason": "TARGETING_MATCH", "variant": "german"}),
        ),
        (
            "banner",
            r#"{"context": {"targetingKey": "u-1"}}"#,
            200,
            json!({"value": "hello", "reason": "DEFAULT"}),
        ),
        ("limit", ctx_de, 200, json!({"reason": "SPLIT"})),
        (
            "theme",
            ctx_de,
            200,
            json!({"value": {"bg": "white"}, "reason": "DISABLED", "variant": "light"}),
        ),
        (
            "nope",
            ctx_de,
            404,
            json!({"key": "nope", "errorCode": "FLAG_NOT_FOUND"}),
        ),
        (
            "banner",
            "{not json",
            400,
            json!({"errorCode": "PARSE_ERROR"}),
        ),
        (
            "banner",
            r#"{"context": 5}"#,
            400,
            json!({"errorCode": "PARSE_ERROR"}),
        ),
        (
            "banner",
            r#"{"context": {"kind": 7}}"#,
            400,
            json!({"errorCode": "INVALID_CONTEXT"}),
        ),
        (
            "banner",
            r#"{"context": {"country": "DE"}}"#,
            400,
            json!({"errorCode": "TARGETING_KEY_MISSING"}),
        ),
        // A static flag needs no key.
        (
            "checkout",
            r#"{"context": {}}"#,
            200,
            json!({"value": true}),
        ),
        // A native multi-kind context.
        (
            "banner",
            r#"{"context": {"kind": "multi", "user": {"key": "u", "country": "DE"}, "org": {"key": "o"}}}"#,
            200,
            json!({"value": "hallo"}),
        ),
    ];
    for (flag, body, status, expected) in cases {
        let response = post(one(flag), &key, body).await.unwrap();
        assert_eq!(response.status().as_u16(), *status, "{flag} {body}");
        let got: Value = response.json().await.unwrap();
        for (field, value) in expected.as_object().unwrap() {
            assert_eq!(&got[field], value, "{flag} {body}: {got}");
        }
        if *status == 200 {
            assert!(got["metadata"]["version"].as_u64().unwrap() >= 1);
        }
    }

    // Authentication: Bearer works too; none or wrong is 401; a client key sees client flags only.
    let bearer = http
        .post(one("checkout"))
        .bearer_auth(&key)
        .body(ctx_de)
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), 200);
    assert_eq!(
        http.post(one("checkout"))
            .body(ctx_de)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    for (flag, key, status) in [
        ("checkout", "sys_x_y", 401),
        ("checkout", client_key.as_str(), 200),
        ("banner", client_key.as_str(), 404),
    ] {
        let response = post(one(flag), key, ctx_de).await.unwrap();
        assert_eq!(response.status(), status, "{flag} with {key}");
    }

    // Bulk: every flag, ETag → 304, a change → new body; the advertised stream announces it.
    let bulk = format!("{}/ofrep/v1/evaluate/flags", server.base);
    let response = post(bulk.clone(), &key, ctx_de).await.unwrap();
    assert_eq!(response.status(), 200);
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    let flags = body["flags"].as_array().unwrap();
    assert_eq!(flags.len(), 4);
    let events_url = body["eventStreams"][0]["url"].as_str().unwrap().to_owned();
    assert_eq!(body["eventStreams"][0]["type"], "sse");
    let keyless = post(bulk.clone(), &key, r#"{"context": {}}"#)
        .await
        .unwrap();
    let keyless: Value = keyless.json().await.unwrap();
    let banner = keyless["flags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["key"] == "banner");
    assert_eq!(banner.unwrap()["errorCode"], "TARGETING_KEY_MISSING");
    let client_bulk: Value = post(bulk.clone(), &client_key, ctx_de)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(client_bulk["flags"].as_array().unwrap().len(), 1);
    let revalidate = || {
        http.post(&bulk)
            .header("x-api-key", &key)
            .header("if-none-match", &etag)
            .body(ctx_de)
            .send()
    };
    assert_eq!(revalidate().await.unwrap().status(), 304);
    let mut events = Stream::of(reqwest::get(&events_url).await.unwrap());
    toggle(&server, "checkout", false).await;
    let event = events.next().await.unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&event.data).unwrap()["type"],
        "refetchEvaluation"
    );
    assert_eq!(revalidate().await.unwrap().status(), 200);
    let bad_token = events_url.replace("token=", "token=0");
    assert_eq!(reqwest::get(&bad_token).await.unwrap().status(), 401);
    drop(events);

    // Over the rate limit: 429 with Retry-After (a fresh key, so its budget is full at first).
    let limited_key = server.sdk_key(SdkKeyKind::Server).await;
    let mut limited = None;
    for _ in 0..3000 {
        let response = post(one("checkout"), &limited_key, ctx_de).await.unwrap();
        if response.status() == 429 {
            limited = Some(response);
            break;
        }
    }
    let limited = limited.expect("the rate limit answered 429");
    assert!(
        limited.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    server.stop().await;
}
