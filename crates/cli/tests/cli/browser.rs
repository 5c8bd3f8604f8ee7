//! A browser page on another origin, built with the official OpenFeature web SDK and OFREP web
//! provider and a client SDK key, in Debian's headless Chromium (`clients/browser-e2e`, driven
//! by playwright-core; both installed by `.ci/run`) against the real `serve` binary: the page
//! shows the evaluated values with their reasons, a click tracked through Switchyard's
//! OpenFeature tracking wrapper (`clients/openfeature-tracking-js`) reaches the visitor's cohort,
//! a toggle reaches the page, and it keeps its values while the server is down and follows it
//! again once the server is back on the same origin. Beside it, in plain HTTP, the CORS answers
//! a browser relies on. Screenshots go to `target/browser-screenshots`.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchyard_testkit::server::{SdkKeyKind, TestServer, free_port, wait_for};

use crate::{BIN, fresh_dir, serve_fresh};

/// An origin no environment lists once the test has narrowed them all.
const STRANGER: &str = "http://stranger.test:8080";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_sdk_page_on_another_origin() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let harness = root.join("clients/browser-e2e");
    let chromium = std::env::var("CHROMIUM").unwrap_or("/usr/bin/chromium".into());
    let installed = ["playwright-core", "@openfeature/ofrep-web-provider"]
        .iter()
        .all(|package| harness.join("node_modules").join(package).exists());
    if !installed || !Path::new(&chromium).exists() {
        switchyard_testkit::skip(
            "the browser test needs Debian's chromium and npm ci --prefix clients/browser-e2e",
        );
        return;
    }

    // A fixed port, so that the restarted server is the same origin to the page.
    let dir = fresh_dir("browser");
    let listen = format!("127.0.0.1:{}", free_port());
    let mut server = start(&dir, &listen, None).await;
    seed_flags(&server).await;
    let client_key = server.sdk_key(SdkKeyKind::Client).await;
    let server_key = server.sdk_key(SdkKeyKind::Server).await;

    let shots = root.join("target/browser-screenshots");
    let mut node = Command::new("node")
        .arg(harness.join("browser.mjs"))
        .args([&server.base, &client_key, &server.admin])
        .arg(&shots)
        .env("CHROMIUM", &chromium)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start node");
    let mut answers = node.stdin.take().unwrap();
    let mut requests = lines(node.stdout.take().unwrap());
    let mut stderr = node.stderr.take().unwrap();
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });

    let mut said = Vec::new();
    loop {
        let next = tokio::time::timeout(Duration::from_secs(90), requests.recv()).await;
        let Some(line) = next.expect("the browser script went silent for 90 s") else {
            break;
        };
        said.push(line.clone());
        let answer = if let Some(origin) = line.strip_prefix("origin ") {
            narrow_to(&server, origin).await;
            check_cors(&server, origin, &client_key, &server_key).await;
            "go"
        } else if line == "kill" {
            server.kill();
            "down"
        } else if line == "restart" {
            let admin = server.admin.clone();
            server = start(&dir, &listen, Some(&admin)).await;
            "up"
        } else {
            continue;
        };
        writeln!(answers, "{answer}").expect("answer the browser script");
    }
    drop(answers);
    let status = node.wait().unwrap();
    let errors = errors.join().unwrap();
    let said = said.join("\n");
    assert!(
        status.success(),
        "browser run failed (screenshots in {}):\n{said}\n{errors}",
        shots.display()
    );
    assert!(
        said.lines().any(|line| line.starts_with("OK ")),
        "{said}\n{errors}"
    );
    // The toggle-to-page times and what the page saw, for the record (not asserted: the
    // script's deadlines are generous).
    for line in said.lines() {
        if line.starts_with("measured ") || line.starts_with("note ") {
            println!("{line}");
        }
    }
    for shot in [
        "01-values",
        "02-toggled",
        "03-server-down",
        "04-after-restart",
    ] {
        assert!(shots.join(format!("{shot}.png")).exists(), "{shot}");
    }

    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// What the page relies on after a reload while the server was down, without a browser.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ofrep_stream_catches_up_from_its_url() {
    let (server, dir) = serve_fresh("browser-stream").await;
    seed_flags(&server).await;
    let client_key = server.sdk_key(SdkKeyKind::Client).await;
    stream_catches_up(&server, &client_key).await;
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// The OFREP stream's URL names the revision its answer was evaluated at: connected later (a
/// page restored from its cache), it announces a change made since at once; connected up to
/// date, it says only that it is open.
async fn stream_catches_up(server: &TestServer, client_key: &str) {
    let http = reqwest::Client::new();
    let stream_url = || async {
        let answer: Value = http
            .post(format!("{}/ofrep/v1/evaluate/flags", server.base))
            .bearer_auth(client_key)
            .json(&json!({"context": {"targetingKey": "visitor-1"}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["eventStreams"][0]["url"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    // The first frame a stream sends.
    let first_frame = |url: String| async move {
        let mut stream = reqwest::get(&url).await.unwrap();
        assert_eq!(stream.status(), StatusCode::OK);
        let mut frame = String::new();
        while !frame.contains("\n\n") {
            let chunk = tokio::time::timeout(Duration::from_secs(10), stream.chunk()).await;
            let chunk = chunk.expect("a first frame within 10 s").unwrap().unwrap();
            frame.push_str(&String::from_utf8_lossy(&chunk));
        }
        frame
    };
    let before = stream_url().await;
    assert!(before.contains("&revision="), "{before}");
    let path = "/api/v1/projects/default/environments/production/flags/greeting/toggle";
    server
        .admin_post(
            path,
            json!({"on": false, "comment": "made while no stream listened"}),
        )
        .await;
    // Once the change is served (its answers name a new revision), the old URL catches up.
    let after = wait_for("the change to be served", 10, || async {
        let url = stream_url().await;
        (url != before).then_some(url)
    })
    .await;
    let frame = first_frame(before).await;
    assert!(frame.contains("refetchEvaluation"), "{frame}");
    let frame = first_frame(after).await;
    assert!(frame.starts_with(": open"), "{frame}");
}

/// `serve` on `listen` from `dir`; a restart names the admin token it cannot print again.
async fn start(dir: &PathBuf, listen: &str, admin: Option<&str>) -> TestServer {
    let binary = TestServer::binary(BIN)
        .data_dir(dir)
        .args(["--listen", listen]);
    match admin {
        Some(token) => binary.admin(token).start().await,
        None => binary.start().await,
    }
}

/// Every line the script prints, as it prints it.
fn lines(stdout: impl Read + Send + 'static) -> tokio::sync::mpsc::UnboundedReceiver<String> {
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

/// Two client-visible flags the page shows (a boolean served to everyone, a string with a rule
/// for Germany, where the page's visitor is) and one the client key must not see.
async fn seed_flags(server: &TestServer) {
    let flags = [
        json!({"key": "new-checkout", "kind": "boolean", "client_visible": true}),
        json!({"key": "greeting", "kind": "string", "client_visible": true,
               "off_variation": "plain", "variations": [
                   {"key": "plain", "value": "hello"}, {"key": "german", "value": "hallo"}]}),
        json!({"key": "internal-only", "kind": "boolean"}),
    ];
    for flag in flags {
        server
            .admin_post("/api/v1/projects/default/flags", flag)
            .await;
    }
    let on = json!({"version": 0, "on": true, "off_variation": 1, "fallthrough": {"variation": 0}});
    let greeting = json!({"version": 0, "on": true, "off_variation": 0,
        "fallthrough": {"variation": 0},
        "rules": [{"id": "de", "condition": {"attribute": "country", "op": "in", "values": ["DE"]},
                   "serve": {"variation": 1}}]});
    for (flag, targeting) in [
        ("new-checkout", &on),
        ("greeting", &greeting),
        ("internal-only", &on),
    ] {
        let path = format!("/api/v1/projects/default/environments/production/flags/{flag}");
        server
            .admin(Method::PUT, &path, Some(targeting.clone()))
            .await;
    }
}

/// Lets only the page's origin read client-key answers, in every environment (so that no
/// environment admits other origins to a preflight either).
async fn narrow_to(server: &TestServer, origin: &str) {
    let environments = server
        .admin_get("/api/v1/projects/default/environments")
        .await;
    for environment in environments.as_array().unwrap() {
        let key = environment["key"].as_str().unwrap();
        let input = json!({
            "key": key, "name": environment["name"], "critical": environment["critical"],
            "version": environment["version"], "allowed_origins": [origin],
        });
        let path = format!("/api/v1/projects/default/environments/{key}");
        server.admin(Method::PUT, &path, Some(input)).await;
    }
}

/// The CORS answers the page depends on, in plain HTTP: a preflight from the page's origin is
/// answered with what the browser needs, one from an origin no environment lists is refused;
/// the real answer is readable by the page's origin with the client key (and its ETag and data
/// age exposed, a 304 included), never with a server key, and not by another origin.
async fn check_cors(server: &TestServer, origin: &str, client_key: &str, server_key: &str) {
    let http = reqwest::Client::new();
    let url = format!("{}/ofrep/v1/evaluate/flags", server.base);
    let header = |response: &reqwest::Response, name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let preflight = |from: &str| {
        http.request(Method::OPTIONS, &url)
            .header("origin", from)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type,if-none-match",
            )
            .send()
    };
    let allowed = preflight(origin).await.unwrap();
    assert!(allowed.status().is_success(), "{}", allowed.status());
    assert_eq!(
        header(&allowed, "access-control-allow-origin").as_deref(),
        Some(origin)
    );
    let methods = header(&allowed, "access-control-allow-methods").unwrap();
    assert!(methods.contains("POST"), "{methods}");
    let headers = header(&allowed, "access-control-allow-headers")
        .unwrap()
        .to_ascii_lowercase();
    for needed in ["authorization", "content-type", "if-none-match"] {
        assert!(headers.contains(needed), "{headers}");
    }
    let refused = preflight(STRANGER).await.unwrap();
    assert!(
        !refused.status().is_success(),
        "a preflight from an origin no environment lists: {}",
        refused.status()
    );
    assert_eq!(header(&refused, "access-control-allow-origin"), None);

    let evaluate = |key: &str, from: &str, etag: Option<&str>| {
        let mut request = http
            .post(&url)
            .header("origin", from)
            .bearer_auth(key)
            .json(&json!({"context": {"targetingKey": "visitor-1", "country": "DE"}}));
        if let Some(etag) = etag {
            request = request.header("if-none-match", etag);
        }
        request.send()
    };
    let readable = evaluate(client_key, origin, None).await.unwrap();
    assert_eq!(readable.status(), StatusCode::OK);
    assert_eq!(
        header(&readable, "access-control-allow-origin").as_deref(),
        Some(origin)
    );
    let exposed = header(&readable, "access-control-expose-headers").unwrap();
    for needed in ["ETag", "X-Switchyard-Data-Age"] {
        assert!(exposed.contains(needed), "{exposed}");
    }
    let etag = header(&readable, "etag").expect("an ETag");
    let body: Value = readable.json().await.unwrap();
    let keys: Vec<&str> = body["flags"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|flag| flag["key"].as_str())
        .collect();
    assert!(!keys.contains(&"internal-only"), "{keys:?}");
    // The provider revalidates with If-None-Match: its 304 must be readable too.
    let unchanged = evaluate(client_key, origin, Some(&etag)).await.unwrap();
    assert_eq!(unchanged.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(
        header(&unchanged, "access-control-allow-origin").as_deref(),
        Some(origin)
    );

    let server_answer = evaluate(server_key, origin, None).await.unwrap();
    assert_eq!(server_answer.status(), StatusCode::OK);
    assert_eq!(header(&server_answer, "access-control-allow-origin"), None);
    assert_eq!(
        header(&server_answer, "access-control-expose-headers"),
        None
    );
    let elsewhere = evaluate(client_key, STRANGER, None).await.unwrap();
    assert_eq!(elsewhere.status(), StatusCode::OK);
    assert_eq!(header(&elsewhere, "access-control-allow-origin"), None);
}
