//! CORS on the endpoints browsers use: preflights are answered from the origin list, real
//! answers are readable cross-origin only with a client key, and everything else (server-key
//! endpoints, the admin API) answers no CORS.

use reqwest::{Method, StatusCode};
use switchyard_testkit::server::{SdkKeyKind, TestServer};

use super::quick;

const ORIGIN: &str = "https://app.example";

pub(super) async fn cors(url: String) {
    let server = TestServer::in_process(&url).delivery(quick()).start().await;
    server.seed_delivery_flags().await;
    let server_key = server.sdk_key(SdkKeyKind::Server).await;
    let client_key = server.sdk_key(SdkKeyKind::Client).await;
    let http = reqwest::Client::new();
    let at = |path: &str| format!("{}{path}", server.base);
    let header = |response: &reqwest::Response, name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };

    // Preflights carry no key: answered 204 with what a browser needs to send the real request.
    for (path, method) in [
        ("/ofrep/v1/evaluate/flags", "POST"),
        ("/ofrep/v1/evaluate/flags/checkout", "POST"),
        ("/ofrep/v1/events/some-key", "GET"),
        ("/events/v1/bulk", "POST"),
    ] {
        let response = http
            .request(Method::OPTIONS, at(path))
            .header("origin", ORIGIN)
            .header("access-control-request-method", method)
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::NO_CONTENT,
            "preflight {path}"
        );
        assert_eq!(
            header(&response, "access-control-allow-origin").as_deref(),
            Some(ORIGIN)
        );
        assert_eq!(header(&response, "vary").as_deref(), Some("Origin"));
        let methods = header(&response, "access-control-allow-methods").unwrap();
        assert!(methods.contains(method), "{path}: {methods}");
        let allowed = header(&response, "access-control-allow-headers").unwrap();
        for needed in [
            "Authorization",
            "Content-Type",
            "If-None-Match",
            "Last-Event-ID",
        ] {
            assert!(allowed.contains(needed), "{path}: {allowed}");
        }
        assert!(header(&response, "access-control-max-age").is_some());
    }

    // The real answer: readable cross-origin with a client key, never with a server key.
    let evaluate = |key: &str| {
        http.post(at("/ofrep/v1/evaluate/flags"))
            .header("origin", ORIGIN)
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json")
            .body(r#"{"context": {"targetingKey": "u-1"}}"#)
            .send()
    };
    let response = evaluate(&client_key).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(header(&response, "etag").is_some());
    assert_eq!(
        header(&response, "access-control-allow-origin").as_deref(),
        Some(ORIGIN)
    );
    let exposed = header(&response, "access-control-expose-headers").unwrap();
    for needed in ["ETag", "X-Switchyard-Data-Age"] {
        assert!(exposed.contains(needed), "{exposed}");
    }
    let response = evaluate(&server_key).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "access-control-allow-origin"), None);
    assert_eq!(header(&response, "access-control-expose-headers"), None);
    let response = evaluate("syc_nope").await.unwrap();
    assert_eq!(header(&response, "access-control-allow-origin"), None);

    // The OFREP event stream (opened by `EventSource`, key in its URL) with a client key.
    let response = evaluate(&client_key).await.unwrap();
    let body: serde_json::Value = response.json().await.unwrap();
    let events_url = body["eventStreams"][0]["url"].as_str().unwrap().to_owned();
    let stream = http
        .get(&events_url)
        .header("origin", ORIGIN)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    assert_eq!(
        header(&stream, "access-control-allow-origin").as_deref(),
        Some(ORIGIN)
    );
    drop(stream);

    // Event intake with a client key (a browser's `track`) is readable cross-origin too.
    let batch = r#"{"format": 1, "sdk": "browser-test", "start_ms": 1700000000000,
        "end_ms": 1700000005000, "dropped": 0, "summaries": [], "events": [{"type": "metric",
        "at_ms": 1700000001000, "contexts": [{"kind": "user", "key": "u-1"}],
        "name": "clicks", "value": 1.0}]}"#;
    let intake = |key: &str| {
        http.post(at("/events/v1/bulk"))
            .header("origin", ORIGIN)
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json")
            .body(batch)
            .send()
    };
    let response = intake(&client_key).await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(
        header(&response, "access-control-allow-origin").as_deref(),
        Some(ORIGIN)
    );
    let response = intake(&server_key).await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(header(&response, "access-control-allow-origin"), None);

    // Client keys never receive raw rules: the snapshot and stream stay server-key only, and
    // answer no CORS.
    for path in ["/sdk/v1/snapshot", "/sdk/v1/stream"] {
        let response = http
            .get(at(path))
            .header("origin", ORIGIN)
            .header("authorization", format!("Bearer {client_key}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
        assert_eq!(
            header(&response, "access-control-allow-origin"),
            None,
            "{path}"
        );
        let preflight = http
            .request(Method::OPTIONS, at(path))
            .header("origin", ORIGIN)
            .header("access-control-request-method", "GET")
            .send()
            .await
            .unwrap();
        assert_ne!(preflight.status(), StatusCode::NO_CONTENT, "{path}");
        assert_eq!(
            header(&preflight, "access-control-allow-origin"),
            None,
            "{path}"
        );
    }

    // The admin API answers no CORS.
    let preflight = http
        .request(Method::OPTIONS, at("/api/v1/projects"))
        .header("origin", ORIGIN)
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert_ne!(preflight.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&preflight, "access-control-allow-origin"), None);
    let response = http
        .get(at("/api/v1/projects"))
        .header("origin", ORIGIN)
        .send()
        .await
        .unwrap();
    assert_eq!(header(&response, "access-control-allow-origin"), None);

    server.stop().await;
}

/// An environment narrowed to one origin: that origin reads client-key answers, another gets
/// no `Access-Control-Allow-Origin`; the preflight (no key, no environment) stays permissive.
pub(super) async fn narrowed(url: String) {
    let server = TestServer::in_process(&url).delivery(quick()).start().await;
    server.seed_delivery_flags().await;
    let client_key = server.sdk_key(SdkKeyKind::Client).await;
    let path = "/api/v1/projects/default/environments/production";
    let current = server.admin_get(path).await;
    let mut input = serde_json::json!({
        "key": "production",
        "name": current["name"],
        "critical": current["critical"],
        "version": current["version"],
        "allowed_origins": ["https://App.example/"],
    });
    let updated = server.admin(Method::PUT, path, Some(input.clone())).await;
    assert_eq!(updated["allowed_origins"], serde_json::json!([ORIGIN]));
    input["allowed_origins"] = serde_json::json!(["https://app.example/login"]);
    input["version"] = updated["version"].clone();
    let (status, body) = server
        .call(Some(&server.admin), Method::PUT, path, Some(input))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "allowed_origins");
    // An update that does not name the list (a form that does not know it) keeps it: absent
    // must never widen a narrowed environment back to any origin.
    let unnamed = serde_json::json!({
        "name": updated["name"], "critical": updated["critical"],
        "description": "renamed", "version": updated["version"],
    });
    let kept = server.admin(Method::PUT, path, Some(unnamed)).await;
    assert_eq!(
        kept["allowed_origins"],
        serde_json::json!([ORIGIN]),
        "{kept}"
    );

    let http = reqwest::Client::new();
    let evaluate = |origin: &str| {
        http.post(format!("{}/ofrep/v1/evaluate/flags", server.base))
            .header("origin", origin)
            .header("authorization", format!("Bearer {client_key}"))
            .header("content-type", "application/json")
            .body(r#"{"context": {"targetingKey": "u-1"}}"#)
            .send()
    };
    let allow_origin = |response: &reqwest::Response| {
        response
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let response = evaluate(ORIGIN).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(allow_origin(&response).as_deref(), Some(ORIGIN));
    let response = evaluate("https://evil.example").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(allow_origin(&response), None);
    let preflight = http
        .request(
            Method::OPTIONS,
            format!("{}/ofrep/v1/evaluate/flags", server.base),
        )
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), StatusCode::NO_CONTENT);

    server.stop().await;
}
