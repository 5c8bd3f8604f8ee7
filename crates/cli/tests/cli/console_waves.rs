//! The console's Release plans page (`crates/server/console/waves.js`) in a real headless
//! Chromium (`clients/console-e2e/waves.mjs`, as the console test runs it) against the
//! `switchyard` binary with a 100 ms guard: a plan over staging → production → eu reached from
//! its flag's page shows every wave's state, its release's stage and its bake; a reader's
//! buttons are disabled and say why; Abort aborts the running wave and the later waves never
//! start; a plan started from a JSON body with a misspelt field is refused with the field named,
//! then started. Screenshots go to `target/console-waves-screenshots`.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};
use switchyard_testkit::server::{Method, TestServer};

use crate::{BIN, fresh_dir};

const PASSWORD: &str = "correct horse battery staple";
const PROJECT: &str = "/api/v1/projects/default";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_plans_page_in_headless_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let harness = root.join("clients/console-e2e");
    let chromium = std::env::var("CHROMIUM").unwrap_or("/usr/bin/chromium".into());
    if !harness.join("node_modules/playwright-core").exists() || !Path::new(&chromium).exists() {
        switchyard_testkit::skip(
            "the console test needs Debian's chromium and npm ci --prefix clients/console-e2e",
        );
        return;
    }
    let dir = fresh_dir("console-waves");
    let mut server = TestServer::binary(BIN)
        .data_dir(&dir)
        .args(["--guard-interval-ms", "100"])
        .start()
        .await;
    server
        .admin_post(
            &format!("{PROJECT}/environments"),
            json!({"key": "eu", "name": "EU"}),
        )
        .await;
    server
        .admin_post(
            &format!("{PROJECT}/flags"),
            json!({"key": "waves", "kind": "boolean"}),
        )
        .await;
    for env in ["staging", "production", "eu"] {
        let path = format!("{PROJECT}/environments/{env}/flags/waves");
        let current = server.admin_get(&path).await;
        let body = json!({"version": current["version"], "on": true, "off_variation": 1,
                          "fallthrough": {"variation": 1}});
        server.admin(Method::PUT, &path, Some(body)).await;
    }
    // Wave 1 stays at its first stage for an hour: running while the page is looked at.
    let hour = json!([{"percent": 20, "min_bake_s": 3600}]);
    let plan = server
        .admin_post(
            &format!("{PROJECT}/release-plans"),
            json!({"flag": "waves", "variation": "on", "waves": [
                {"environment": "staging", "stages": hour, "bake_s": 60},
                {"environment": "production", "stages": hour},
                {"environment": "eu", "stages": hour},
            ]}),
        )
        .await;
    let id = plan["id"].as_str().unwrap().to_owned();
    server
        .admin_post(
            "/api/v1/accounts",
            json!({"name": "viewer", "password": PASSWORD, "roles": ["reader"]}),
        )
        .await;
    let reader: Value = server
        .client()
        .call(
            Method::POST,
            "/api/v1/auth/token",
            Some(json!({"account": "viewer", "password": PASSWORD, "token_name": "console"})),
        )
        .await
        .map(|(status, body)| {
            assert!(status.is_success(), "{status} {body}");
            body
        })
        .unwrap();
    let reader = reader["token"].as_str().unwrap();

    let shots = root.join("target/console-waves-screenshots");
    let output = Command::new("node")
        .arg(harness.join("waves.mjs"))
        .args([&server.base, &server.admin, reader, &id])
        .arg(&shots)
        .env("CHROMIUM", &chromium)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "console run failed (screenshots in {}):\n{stdout}\n{stderr}",
        shots.display()
    );
    assert!(stdout.starts_with("OK "), "{stdout}");

    // The abort went through the API, audited with the comment typed in the page.
    let audit = server
        .admin_get(&format!(
            "/api/v1/audit?resource=proj/default:release-plan/{id}&limit=100"
        ))
        .await;
    let records = audit["records"].as_array().unwrap();
    assert!(
        records
            .iter()
            .any(|r| r["action"] == "release-plan:abort" && r["comment"] == "wrong build"),
        "{audit}"
    );
    server.kill();
    let _ = std::fs::remove_dir_all(&dir);
}
