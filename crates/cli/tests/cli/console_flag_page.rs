//! The console's flag page and list (`crates/server/console/flags.js`) in a real headless
//! Chromium (`clients/console-e2e/flag-page.mjs`) against the `switchyard` binary: the off
//! variation shown in the state line and the list, edited on the Targeting tab and saved through
//! one review-and-save step with a comment; the Turn off and Kill dialogs naming exactly what
//! everyone gets (Kill apart, in an Emergency box); the tabs by keyboard; a non-boolean flag
//! created with its off variation, archived, restored and deleted with its key typed; and
//! paging through 2,000 flags. Screenshots go to `target/console-flag-page-screenshots`.

use serde_json::json;
use switchyard_testkit::server::{Method, TestServer};

use crate::console::chromium_or_skip;
use crate::{BIN, fresh_dir};

const PROJECT: &str = "/api/v1/projects/default";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flag_page_in_headless_chromium() {
    let Some(chromium) = chromium_or_skip() else {
        return;
    };
    let dir = fresh_dir("console-flag-page");
    let mut server = TestServer::binary(BIN).data_dir(&dir).start().await;
    server
        .admin_post(
            &format!("{PROJECT}/flags"),
            json!({"key": "model", "kind": "string", "off_variation": "small",
                   "variations": [{"key": "small", "name": "Small model", "value": "small"},
                                  {"key": "large", "name": "Large model", "value": "large"}]}),
        )
        .await;
    server
        .admin(
            Method::PUT,
            &format!("{PROJECT}/environments/production/flags/model"),
            Some(json!({"version": 0, "on": true, "fallthrough": {"variation": 1}})),
        )
        .await;

    let stdout = chromium.run(
        "flag-page.mjs",
        &[server.base.as_str(), server.admin.as_str()],
        "console-flag-page-screenshots",
    );
    println!("{stdout}");

    // The review's comment landed in the audit record of the targeting write that changed the
    // off variation (targets were saved later, and the seed's write came before).
    let audit = server
        .admin_get("/api/v1/audit?resource=proj/default:env/production:flag/model&limit=20")
        .await;
    let saved = audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            r["action"] == "flag:update"
                && r["before"]["off_variation"] == 0
                && r["after"]["off_variation"] == 1
        })
        .unwrap_or_else(|| panic!("no flag:update record: {audit}"));
    assert_eq!(saved["comment"], "large model when off", "{saved}");
    assert_eq!(saved["after"]["off_variation"], 1, "{saved}");
    // The delete's comment too.
    let deleted = server
        .admin_get("/api/v1/audit?resource=proj/default:flag/doomed&limit=20")
        .await;
    let record = deleted["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "flag:delete")
        .unwrap_or_else(|| panic!("no flag:delete record: {deleted}"));
    assert_eq!(record["comment"], "never shipped", "{record}");
    server.kill();
    let _ = std::fs::remove_dir_all(&dir);
}
