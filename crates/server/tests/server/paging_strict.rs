//! List and audit queries are strict: a misspelt parameter is refused, never ignored (an
//! ignored filter widens the answer silently).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchyard_testkit::server::TestServer;

use crate::PROD;

switchyard_testkit::backend_tests![misspelt_query_parameters_are_refused];

const FLAGS: &str = "/api/v1/projects/default/flags";

async fn get(server: &TestServer, token: &str, path: &str) -> (StatusCode, Value) {
    server.call(Some(token), Method::GET, path, None).await
}

async fn misspelt_query_parameters_are_refused(url: String) {
    let server = TestServer::in_process(&url).start().await;
    server
        .admin_post(FLAGS, json!({"key": "checkout", "kind": "boolean"}))
        .await;
    let segments = format!("{PROD}/segments");
    for (path, field) in [
        (
            "/api/v1/audit?environment=production".to_owned(),
            "environment",
        ),
        ("/api/v1/audit?actor=admin&limt=10".to_owned(), "limt"),
        (format!("{FLAGS}?limt=10"), "limt"),
        (format!("{FLAGS}?archived=false&tags=x"), "tags"),
        (format!("{segments}?limt=10"), "limt"),
        (format!("{segments}?q=beta"), "q"),
    ] {
        let (status, body) = get(&server, &server.admin, &path).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {body}");
        assert_eq!(body["error"]["code"], "validation_failed", "{path}: {body}");
        assert_eq!(body["error"]["field"], field, "{path}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(field), "{path}: {body}");
    }
    // What the console and the client send is still taken.
    for path in [
        "/api/v1/audit?actor=admin&action=flag:*&project=default&env=production&flag=checkout\
         &from=0&to=9999999999999&resource=proj/&before=999999&limit=50"
            .to_owned(),
        format!("{FLAGS}?q=check&tag=x&kind=boolean&archived=false&limit=10"),
        format!("{FLAGS}?limit=1"),
        format!("{segments}?limit=10"),
    ] {
        let (status, body) = get(&server, &server.admin, &path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
    server.stop().await;
}
