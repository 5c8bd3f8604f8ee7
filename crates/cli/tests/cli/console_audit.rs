//! The console's readable history (`crates/server/console/audit.js`) and release page
//! (`releases.js`) in a real headless Chromium (`clients/console-e2e/audit.mjs`) against the
//! `switchyard` binary: over 2,000 audit records (toggles and refused toggles through the API)
//! paged through in the
//! console to the oldest record and back, filters by person, flag, action and time narrowing the
//! log as the API does, entries as sentences naming the account and the variation, times in the
//! browser's zone, the `historyList` component a flag's History tab shows, and a release page
//! with its charts' axes and legends and the current stage's bake deadline. Screenshots go to
//! `target/console-audit-screenshots`.

use serde_json::{Value, json};
use switchyard_testkit::server::{Method, TestServer};

use crate::console::chromium_or_skip;
use crate::{BIN, fresh_dir};

const PASSWORD: &str = "correct horse battery staple";

/// A token of a new account `name` holding `role`.
async fn token_of(server: &TestServer, name: &str, role: &str) -> String {
    server
        .admin_post(
            "/api/v1/accounts",
            json!({"name": name, "password": PASSWORD, "roles": [role]}),
        )
        .await;
    let (status, token): (_, Value) = server
        .client()
        .call(
            Method::POST,
            "/api/v1/auth/token",
            Some(json!({"account": name, "password": PASSWORD, "token_name": "console"})),
        )
        .await
        .unwrap();
    assert!(status.is_success(), "{status} {token}");
    token["token"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_history_and_release_page_in_headless_chromium() {
    let Some(chromium) = chromium_or_skip() else {
        return;
    };
    let dir = fresh_dir("console-audit");
    let mut server = TestServer::binary(BIN).data_dir(&dir).start().await;
    let ana = token_of(&server, "ana", "writer").await;
    let rita = token_of(&server, "rita", "reader").await;

    let stdout = chromium.run(
        "audit.mjs",
        &[
            server.base.as_str(),
            server.admin.as_str(),
            ana.as_str(),
            rita.as_str(),
        ],
        "console-audit-screenshots",
    );
    println!("{stdout}");

    // The log the browser paged through really holds the records it was given.
    let newest = server.admin_get("/api/v1/audit?limit=1").await;
    let records = newest["records"][0]["seq"].as_i64().unwrap();
    assert!(records >= 2000, "{newest}");
    server.kill();
    let _ = std::fs::remove_dir_all(&dir);
}
