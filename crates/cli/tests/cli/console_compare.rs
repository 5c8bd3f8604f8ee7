//! The console's Compare page (`crates/server/console/compare.js`) in a real headless Chromium
//! (`clients/console-e2e/compare.mjs`, as the console test runs it) against the `switchyard`
//! binary: reached from the header, staging beside production shows a flag's differences in
//! words, copying two of its three differing parts into critical production (its name typed to
//! confirm) changes exactly those, and copying into an environment that requires an approval
//! shows the change request it became. Screenshots go to `target/console-compare-screenshots`.

use std::path::Path;
use std::process::Command;

use serde_json::json;
use switchyard_testkit::server::{Method, TestServer};

use crate::{BIN, fresh_dir};

const PROJECT: &str = "/api/v1/projects/default";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_page_in_headless_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let harness = root.join("clients/console-e2e");
    let chromium = std::env::var("CHROMIUM").unwrap_or("/usr/bin/chromium".into());
    if !harness.join("node_modules/playwright-core").exists() || !Path::new(&chromium).exists() {
        switchyard_testkit::skip(
            "the console test needs Debian's chromium and npm ci --prefix clients/console-e2e",
        );
        return;
    }
    let dir = fresh_dir("console-compare");
    let mut server = TestServer::binary(BIN).data_dir(&dir).start().await;
    server
        .admin_post(
            &format!("{PROJECT}/environments"),
            json!({"key": "qa", "name": "QA", "required_approvals": 1}),
        )
        .await;
    server
        .admin_post(
            &format!("{PROJECT}/flags"),
            json!({"key": "promo", "kind": "boolean"}),
        )
        .await;
    let staging = json!({"version": 0, "on": true,
        "rules": [{"id": "r1", "condition": {"kind": "user", "attribute": "plan", "op": "in",
                                             "values": ["pro"]},
                   "serve": {"variation": 0}}],
        "fallthrough": {"variation": 1}});
    server
        .admin(
            Method::PUT,
            &format!("{PROJECT}/environments/staging/flags/promo"),
            Some(staging),
        )
        .await;

    let shots = root.join("target/console-compare-screenshots");
    let output = Command::new("node")
        .arg(harness.join("compare.mjs"))
        .args([&server.base, &server.admin])
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

    // The copy went through the targeting write: audited as promoted, with the typed comment.
    let audit = server
        .admin_get("/api/v1/audit?resource=proj/default:env/production:flag/promo&limit=10")
        .await;
    let newest = &audit["records"][0];
    assert_eq!(
        (&newest["action"], &newest["comment"]),
        (
            &json!("flag:update"),
            &json!("promoted from staging: rules, fallthrough (rules first)")
        ),
        "{audit}"
    );
    server.kill();
    let _ = std::fs::remove_dir_all(&dir);
}
