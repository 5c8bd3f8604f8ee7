//! The console's Compare page (`crates/server/console/compare.js`) in a real headless Chromium
//! (`clients/console-e2e/compare.mjs`, as the console test runs it) against the `switchyard`
//! binary: reached from the header, staging beside production shows a flag's differences in
//! words, copying two of its three differing parts into critical production (its name typed to
//! confirm) changes exactly those, and copying into an environment that requires an approval
//! shows the change request it became. Screenshots go to `target/console-compare-screenshots`.

use serde_json::json;
use switchyard_testkit::server::{Method, TestServer};

use crate::console::chromium_or_skip;
use crate::{BIN, fresh_dir};

const PROJECT: &str = "/api/v1/projects/default";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_page_in_headless_chromium() {
    let Some(chromium) = chromium_or_skip() else {
        return;
    };
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

    chromium.run(
        "compare.mjs",
        &[server.base.as_str(), server.admin.as_str()],
        "console-compare-screenshots",
    );

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
