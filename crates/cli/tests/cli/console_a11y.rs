//! The console's accessibility, keyboard use, shareable addresses and dark theme in a real
//! headless Chromium (`clients/console-e2e/a11y.mjs`) against the `switchyard` binary:
//! axe-core finds no serious or critical violation on any page in the light or the dark theme;
//! signing in, reaching a flag, moving between its tabs and turning it on (the dialog confirmed)
//! work with the keyboard alone; `#/flag/x?project=web&env=staging` opens that project and
//! environment in a fresh browser; the dark theme chosen in the header survives a reload.
//! Screenshots go to `target/console-a11y-screenshots` (and `dark.png` to
//! `target/console-screenshots` as well).

use serde_json::json;
use switchyard_testkit::server::TestServer;

use crate::console::chromium_or_skip;
use crate::{BIN, fresh_dir};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_accessibility_keyboard_addresses_and_dark_theme() {
    let Some(chromium) = chromium_or_skip() else {
        return;
    };
    let dir = fresh_dir("console-a11y");
    let mut server = TestServer::binary(BIN).data_dir(&dir).start().await;

    chromium.run(
        "a11y.mjs",
        &[server.base.as_str(), server.admin.as_str()],
        "console-a11y-screenshots",
    );

    // The keyboard's toggle went through the API as the account that signed in.
    let audit = server
        .admin_get("/api/v1/audit?resource=proj/default:env/production:flag/checkout&limit=20")
        .await;
    let toggled_by = audit["records"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["action"] == "flag:toggle" && r["outcome"] == "allowed")
        .map(|r| r["actor"]["account"].clone());
    assert_eq!(toggled_by, Some(json!("ana")), "{audit}");
    server.kill();
    let _ = std::fs::remove_dir_all(&dir);
}
