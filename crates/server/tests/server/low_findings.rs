//! Low findings of the hardening pass (`docs/security.md`, "Low findings"): webhooks refused at
//! internal addresses unless allowed, and every error the API answers in its JSON shape.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchyard_server::releases::WebhookTargets;
use switchyard_testkit::server::TestServer;

const WEBHOOKS: &str = "/api/v1/projects/default/webhooks";

async fn sqlite_server(name: &str) -> (TestServer, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("switchyard-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}/switchyard.db", dir.display());
    (TestServer::in_process(&url).start().await, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_to_internal_targets_are_refused_unless_allowed() {
    let (server, dir) = sqlite_server("webhook-targets").await;
    let state = server.state().expect("in process");
    // What `serve` does without --webhook-allow-hosts.
    state.webhooks.allow_targets(WebhookTargets::default());
    let admin = Some(server.admin.as_str());
    for url in [
        "http://127.0.0.1:9/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/",
        "http://[::1]:9/",
        "http://10.0.0.8/",
        "http://192.168.1.20/",
        "http://0.0.0.0:9/",
        "http://localhost:9/",
        "http://metadata.google.internal/computeMetadata/v1/",
    ] {
        let (code, body) = server
            .call(admin, Method::POST, WEBHOOKS, Some(json!({"url": url})))
            .await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {body}");
        assert_eq!(body["error"]["field"], "url", "{url}: {body}");
    }
    // A public host is accepted (nothing is sent until an event).
    let (code, body) = server
        .call(
            admin,
            Method::POST,
            WEBHOOKS,
            Some(json!({"url": "https://hooks.example.com/switchyard"})),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    // The operator's allowlist admits loopback (as the test servers do).
    state
        .webhooks
        .allow_targets(WebhookTargets::parse("127.0.0.0/8,::1").unwrap());
    let (code, body) = server
        .call(
            admin,
            Method::POST,
            WEBHOOKS,
            Some(json!({"url": "http://127.0.0.1:9/hook"})),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    let (code, _) = server
        .call(
            admin,
            Method::POST,
            WEBHOOKS,
            Some(json!({"url": "http://169.254.169.254/"})),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "still not metadata");
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// The status, and the body as JSON (failing when it is not JSON).
async fn json_answer(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = response.text().await.unwrap();
    assert!(
        content_type.starts_with("application/json"),
        "{status}: {content_type:?} {text:?}"
    );
    (status, serde_json::from_str(&text).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_api_error_is_json() {
    let (server, dir) = sqlite_server("json-errors").await;
    let http = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", server.base);

    // A query parameter of the wrong type names the parameter.
    let (status, body) = json_answer(
        http.get(url("/api/v1/audit?limit=many"))
            .bearer_auth(&server.admin),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "validation_failed");
    assert_eq!(body["error"]["field"], "limit", "{body}");

    // A query parameter the route does not know is named too.
    let (status, body) = json_answer(
        http.get(url("/api/v1/me?resourse=audit"))
            .bearer_auth(&server.admin),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "resourse", "{body}");

    // A 2 MB body, announced by its length: the server answers before reading it, so it is
    // sent by hand (a client sending all of it would see the connection close first).
    let paths = [
        "/api/v1/projects/default/flags",
        "/api/v1/auth/token",
        // Where the body is read as raw bytes before the handler runs (event intake, OFREP):
        // axum's own 413 was plain text.
        "/events/v1/bulk",
        "/ofrep/v1/evaluate/flags",
    ];
    for path in paths {
        let (head, body) = raw_request(&server, "POST", path, 2 * 1024 * 1024).await;
        assert!(head.starts_with("HTTP/1.1 413"), "{path}: {head}");
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{path}: {head}"
        );
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"]["code"], "payload_too_large", "{path}: {body}");
    }

    // A method the route does not have.
    let (status, body) =
        json_answer(http.delete(url("/api/v1/audit")).bearer_auth(&server.admin)).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    assert_eq!(body["error"]["code"], "method_not_allowed");

    // A long URL that reaches the router: 404 in the API's shape.
    let long = format!("/api/v1/projects/{}", "p".repeat(30_000));
    let (status, body) = json_answer(http.get(url(&long)).bearer_auth(&server.admin)).await;
    assert!(status.is_client_error(), "{status} {body}");
    assert!(body["error"]["code"].is_string(), "{body}");

    // A URI longer than HTTP/1 parsing accepts (64 KiB; clients refuse to send one, so it is
    // written by hand) is refused by hyper before any middleware runs (docs/security.md).
    let huge = format!("/api/v1/projects/{}", "p".repeat(70_000));
    let (head, body) = raw_request(&server, "GET", &huge, 0).await;
    assert!(head.starts_with("HTTP/1.1 414"), "{head}");
    assert_eq!(body, "", "hyper's 414 has no body");

    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// `method path` written on a socket by hand with a body of `length` bytes: the response head
/// and body. The body is written beside the reading, and a server may answer (and close) before
/// it has read all of it.
async fn raw_request(
    server: &TestServer,
    method: &str,
    path: &str,
    length: usize,
) -> (String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = server.base.trim_start_matches("http://");
    let admin = &server.admin;
    let socket = tokio::net::TcpStream::connect(address).await.unwrap();
    let (mut reader, mut writer) = socket.into_split();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Content-Length: {length}\r\nAuthorization: Bearer {admin}\r\nConnection: close\r\n\r\n"
    );
    let sending = tokio::spawn(async move {
        let _ = writer.write_all(head.as_bytes()).await;
        let chunk = vec![b'x'; 64 * 1024];
        let mut left = length;
        while left > 0 {
            let n = left.min(chunk.len());
            if writer.write_all(&chunk[..n]).await.is_err() {
                break;
            }
            left -= n;
        }
        writer
    });
    let mut answer = Vec::new();
    let mut buffer = [0_u8; 16 * 1024];
    loop {
        match reader.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buffer[..n]),
        }
        let text = String::from_utf8_lossy(&answer);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let declared = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(str::to_owned)
                })
                .and_then(|v| v.trim().parse::<usize>().ok());
            if declared.is_some_and(|n| body.len() >= n) {
                break;
            }
        }
    }
    sending.abort();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    (head.to_owned(), body.to_owned())
}

/// Accepts webhook deliveries on loopback and keeps each body.
async fn receiver() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = received.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut data = Vec::new();
            let mut buffer = [0_u8; 4096];
            let body = loop {
                let n = socket.read(&mut buffer).await.unwrap_or(0);
                if n == 0 {
                    break String::new();
                }
                data.extend_from_slice(&buffer[..n]);
                let text = String::from_utf8_lossy(&data).into_owned();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length: ")
                                .and_then(|v| v.trim().parse::<usize>().ok())
                        })
                        .unwrap_or(0);
                    if body.len() >= length {
                        break body.to_owned();
                    }
                }
            };
            kept.lock().unwrap().push(body);
            let ok = "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
            let _ = socket.write_all(ok.as_bytes()).await;
        }
    });
    (url, received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_to_a_target_no_longer_allowed_is_refused() {
    let (server, dir) = sqlite_server("webhook-delivery").await;
    let state = server.state().expect("in process");
    server.seed_delivery_flags().await;
    let (url, received) = receiver().await;
    // Created while loopback is allowed (as the test servers allow it)…
    server
        .admin_post(WEBHOOKS, json!({"url": url, "events": ["flag.killed"]}))
        .await;
    // …then the allowlist no longer has it: the delivery checks again and does not send.
    state.webhooks.allow_targets(WebhookTargets::default());
    let prod = "/api/v1/projects/default/environments/production";
    server
        .admin(Method::POST, &format!("{prod}/flags/theme/kill"), None)
        .await;
    switchyard_testkit::server::wait_for("the refused delivery to finish", 30, || async {
        (state.webhooks.running() == 0).then_some(())
    })
    .await;
    assert_eq!(received.lock().unwrap().len(), 0, "nothing was sent");
    // Allowed again, the next event arrives (so the receiver and the event did work).
    state.webhooks.allow_targets(WebhookTargets::loopback());
    server
        .admin(Method::POST, &format!("{prod}/flags/checkout/kill"), None)
        .await;
    let bodies = switchyard_testkit::server::wait_for("the allowed delivery", 30, || async {
        let bodies = received.lock().unwrap().clone();
        (!bodies.is_empty()).then_some(bodies)
    })
    .await;
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    assert!(bodies[0].contains("checkout"), "{}", bodies[0]);
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
