//! Starting the real `switchyard` binary, shared by the CLI's test binaries.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

pub struct Served {
    pub child: Child,
    pub base: String,
    pub first_start_token: Option<String>,
}

/// A failing test must not leave its server running (it would hold the test's output open).
impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the binary on `data_dir` and waits (with a deadline) until it answers.
pub async fn serve(data_dir: &Path) -> Served {
    let port = free_port();
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--log",
            "warn",
        ])
        .arg("--data-dir")
        .arg(data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let token = Arc::new(Mutex::new(None));
    let found = token.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(value) = line.trim().strip_prefix("admin API token: ") {
                *found.lock().unwrap() = Some(value.to_owned());
            }
        }
    });
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while reqwest::get(format!("{base}/readyz"))
        .await
        .map(|r| r.status().is_success())
        .ok()
        != Some(true)
    {
        assert!(Instant::now() < deadline, "server did not become ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let first_start_token = token.lock().unwrap().clone();
    Served {
        child,
        base,
        first_start_token,
    }
}

/// Seeds `testdata/delivery-flags.json` through the API (flags in project `default`, targeting
/// in `production`) and returns a new production server SDK key.
pub async fn seed_delivery_fixture(server: &Served) -> String {
    let token = server.first_start_token.clone().unwrap();
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: &str, body: serde_json::Value| {
        http.request(
            method,
            format!("{}/api/v1/projects/default{path}", server.base),
        )
        .bearer_auth(&token)
        .json(&body)
        .send()
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let fixture: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("testdata/delivery-flags.json")).unwrap(),
    )
    .unwrap();
    for flag in fixture["flags"].as_array().unwrap() {
        let response = call(reqwest::Method::POST, "/flags", flag.clone())
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{}",
            response.text().await.unwrap()
        );
    }
    for (flag, targeting) in fixture["production"].as_object().unwrap() {
        let path = format!("/environments/production/flags/{flag}");
        let current: serde_json::Value = call(reqwest::Method::GET, &path, serde_json::Value::Null)
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut body = targeting.clone();
        body["version"] = current["version"].clone();
        let response = call(reqwest::Method::PUT, &path, body).await.unwrap();
        assert!(
            response.status().is_success(),
            "{}",
            response.text().await.unwrap()
        );
    }
    let key: serde_json::Value = call(
        reqwest::Method::POST,
        "/environments/production/sdk-keys",
        serde_json::json!({"kind": "server"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    key["key"].as_str().unwrap().to_owned()
}

/// Polls `check` until it holds, failing the test after `seconds`.
pub async fn eventually<F, Fut>(what: &str, seconds: u64, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
