//! The console's Playground (`crates/server/console/playground.js`) and getting started
//! (`onboarding.js`) in a real headless Chromium (`clients/console-e2e/playground.mjs`) against
//! the `switchyard` binary, walked as a newcomer would: sign in with a password, the empty
//! project's getting-started steps, a first flag, an SDK key copied from the page, the SDK
//! setup page waiting for the first evaluation until a real OFREP request made with that key
//! shows up, and the playground's answer. Then, in a second project, the playground names what
//! decided each answer: a rule (by its id and condition), an individual target, a segment, a failed
//! prerequisite, an off flag, and a pasted JSON context.
//!
//! Screenshots go to `target/console-walkthrough-screenshots`, or to the directory
//! `SWITCHYARD_WALKTHROUGH_DIR` names (`docs/walkthrough` holds the published run).

use std::path::{Path, PathBuf};

use serde_json::json;
use switchyard_testkit::server::{Method, TestServer};

use crate::console::chromium_or_skip;
use crate::{BIN, fresh_dir};

const LAB: &str = "/api/v1/projects/lab";
const PASSWORD: &str = "correct horse battery staple";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn playground_and_onboarding_in_headless_chromium() {
    let Some(chromium) = chromium_or_skip() else {
        return;
    };
    let dir = fresh_dir("console-playground");
    let mut server = TestServer::binary(BIN).data_dir(&dir).start().await;
    // A newcomer signs in with a password, as an administrator.
    server
        .admin_post(
            "/api/v1/accounts",
            json!({"name": "ana", "password": PASSWORD, "roles": ["admin"]}),
        )
        .await;
    seed_lab(&server).await;

    // A relative directory is the repository's (cargo runs tests in the crate's directory).
    let published = std::env::var("SWITCHYARD_WALKTHROUGH_DIR").ok();
    let shots = match &published {
        Some(dir) => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(dir),
        None => PathBuf::from("console-walkthrough-screenshots"),
    };
    let stdout = chromium.run(
        "playground.mjs",
        &[server.base.as_str(), "ana", PASSWORD],
        &shots.to_string_lossy(),
    );
    if published.is_some() {
        assert_small_enough_to_publish(&shots);
    }
    // The page created the key, and the OFREP call made with it counted.
    let activity = server
        .admin_get("/api/v1/projects/default/environments/production/activity")
        .await;
    assert!(
        activity["last_evaluation_ms"].is_i64(),
        "{activity}\n{stdout}"
    );
    // The playground recorded nothing: lab saw no evaluation at all.
    let lab = server
        .admin_get(&format!("{LAB}/environments/production/activity"))
        .await;
    assert_eq!(lab["last_evaluation_ms"], json!(null), "{lab}");
    server.kill();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Project `lab`: `checkout` targets u-target individually, serves rule `beta-users` to segment
/// `beta` (u-beta) and rule `pro-plan` to plan "pro", else off; `dependent` requires `gate`
/// (off) to be on; `dark` is off.
async fn seed_lab(server: &TestServer) {
    server
        .admin_post("/api/v1/projects", json!({"key": "lab", "name": "Lab"}))
        .await;
    server
        .admin_post(
            &format!("{LAB}/environments"),
            json!({"key": "production", "name": "Production"}),
        )
        .await;
    server
        .admin_post(
            &format!("{LAB}/environments/production/segments"),
            json!({"key": "beta", "included": [{"kind": "user", "values": ["u-beta"]}]}),
        )
        .await;
    for key in ["checkout", "gate", "dependent", "dark"] {
        server
            .admin_post(
                &format!("{LAB}/flags"),
                json!({"key": key, "kind": "boolean"}),
            )
            .await;
    }
    let targeting = [
        (
            "checkout",
            json!({"version": 0, "on": true,
                "targets": [{"kind": "user", "variation": 0, "values": ["u-target"]}],
                "rules": [
                    {"id": "beta-users",
                     "condition": {"kind": "user", "attribute": "", "op": "segment_match", "values": ["beta"]},
                     "serve": {"variation": 0}},
                    {"id": "pro-plan",
                     "condition": {"kind": "user", "attribute": "plan", "op": "in", "values": ["pro"]},
                     "serve": {"variation": 0}}],
                "fallthrough": {"variation": 1}}),
        ),
        (
            "dependent",
            json!({"version": 0, "on": true, "prerequisites": [{"key": "gate", "variation": 0}],
                   "fallthrough": {"variation": 0}}),
        ),
    ];
    for (flag, body) in targeting {
        server
            .admin(
                Method::PUT,
                &format!("{LAB}/environments/production/flags/{flag}"),
                Some(body),
            )
            .await;
    }
}

/// Pictures committed with the docs stay few and small: at most 8, each at most 150 KB.
fn assert_small_enough_to_publish(dir: &Path) {
    let pictures: Vec<(String, u64)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.file_name().to_string_lossy().ends_with(".png"))
        .map(|entry| {
            let size = entry.metadata().unwrap().len();
            (entry.file_name().to_string_lossy().into_owned(), size)
        })
        .collect();
    assert!(pictures.len() <= 8, "{pictures:?}");
    for (name, size) in &pictures {
        assert!(*size <= 150 * 1024, "{name} is {size} bytes: {pictures:?}");
    }
}
