//! The console's Release plans page (`crates/server/console/waves.js`) in a real headless
//! Chromium (`clients/console-e2e/waves.mjs`, as the console test runs it) against the
//! `switchyard` binary with a 100 ms guard: a plan over staging → production → eu reached from
//! its flag's page shows every wave's state, its release's stage and its bake; a reader's
//! buttons are disabled and say why; Abort aborts the running wave and the later waves never
//! start; a plan started from a JSON body with a misspelt field is refused with the field named,
//! then started. Screenshots go to `target/console-waves-screenshots`.

use serde_json::json;
use switchyard_testkit::server::{Method, TestServer};

use crate::console::{chromium_or_skip, reader_token};
use crate::{BIN, fresh_dir};

const PROJECT: &str = "/api/v1/projects/default";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_plans_page_in_headless_chromium() {
    let Some(chromium) = chromium_or_skip() else {
        return;
    };
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
    let reader = &reader_token(&server).await;

    chromium.run(
        "waves.mjs",
        &[
            server.base.as_str(),
            server.admin.as_str(),
            reader,
            id.as_str(),
        ],
        "console-waves-screenshots",
    );

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
