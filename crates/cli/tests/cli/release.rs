//! `switchyard release …` and `switchyard kill` against a real `switchyard serve`: start a
//! release from a file, read its status (people's and JSON), pause, resume, advance, and kill
//! the flag, which aborts the release and restores the previous serving.

use std::process::Command;

use switchyard_testkit::server::{TestServer, eventually};

use crate::{BIN, fresh_dir};
use serde_json::{Value, json};

/// Runs the CLI against `base` with `token`; returns (success, stdout, stderr).
fn cli(base: &str, token: &str, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(BIN)
        .args(args)
        .args(["--url", base, "--token", token])
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn json_of(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_commands_and_the_kill_switch() {
    let dir = fresh_dir("cli-release");
    std::fs::create_dir_all(&dir).unwrap();
    let mut server = TestServer::binary(BIN).data_dir(&dir).start().await;
    server.seed_delivery_flags().await;
    let token = server.first_start_token.clone().unwrap();
    let base = server.base.clone();

    // `banner` serves "plain" to everyone but Germany; release "german" on the fallthrough.
    let file = dir.join("release.json");
    std::fs::write(
        &file,
        json!({"stages": [{"percent": 10, "min_bake_s": 3600}, {"percent": 40, "min_bake_s": 3600}],
               "guardrails": [{"metric": "error", "max_treated_rate": 0.5}]})
        .to_string(),
    )
    .unwrap();
    let (ok, out, err) = cli(
        &base,
        &token,
        &[
            "release",
            "start",
            "--env",
            "production",
            "--flag",
            "banner",
            "--variation",
            "german",
            "--file",
            file.to_str().unwrap(),
            "--output",
            "json",
        ],
    );
    assert!(ok, "{err}");
    let started = json_of(&out);
    let id = started["id"].as_str().unwrap().to_owned();
    assert_eq!(started["state"], "running");

    let (ok, out, err) = cli(
        &base,
        &token,
        &["release", "status", &id, "--env", "production"],
    );
    assert!(ok, "{err}");
    assert!(out.contains("running at stage 0 of 2 (10 %)"), "{out}");
    assert!(out.contains("error: treated 0 / control 0"), "{out}");
    assert!(out.contains("next decision at"), "{out}");

    let (ok, out, err) = cli(
        &base,
        &token,
        &[
            "release",
            "pause",
            &id,
            "--env",
            "production",
            "--comment",
            "checking",
            "--output",
            "json",
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(json_of(&out)["state"], "holding");
    let (ok, out, _) = cli(
        &base,
        &token,
        &["release", "pause", &id, "--env", "production"],
    );
    assert!(!ok, "pausing twice is refused: {out}");
    let (ok, _, err) = cli(
        &base,
        &token,
        &["release", "resume", &id, "--env", "production"],
    );
    assert!(ok, "{err}");
    let (ok, out, err) = cli(
        &base,
        &token,
        &[
            "release",
            "advance",
            &id,
            "--env",
            "production",
            "--output",
            "json",
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(json_of(&out)["stage"], 1);
    let (ok, out, err) = cli(&base, &token, &["release", "list", "--env", "production"]);
    assert!(ok, "{err}");
    assert!(out.contains(&id) && out.contains("running"), "{out}");

    let (ok, out, err) = cli(&base, &token, &["kill", "banner", "--env", "production"]);
    assert!(ok, "{err}");
    assert!(out.contains("banner is OFF in production"), "{out}");
    assert!(out.contains(&format!("release {id} aborted")), "{out}");
    let served = &server;
    let get = |path: String| {
        let path = format!("/api/v1/projects/default{path}");
        async move { served.admin_get(&path).await }
    };
    let targeting = get("/environments/production/flags/banner".into()).await;
    assert_eq!(targeting["on"], false);
    assert_eq!(
        targeting["fallthrough"],
        json!({"variation": 0}),
        "the layer is gone"
    );
    let release = get(format!("/environments/production/releases/{id}")).await;
    assert_eq!(release["state"], "aborted");
    eventually("the audit log to show the kill", 5, || async {
        let audit = server.admin_get("/api/v1/audit?limit=5").await;
        audit["records"]
            .as_array()
            .is_some_and(|r| r.iter().any(|r| r["action"] == "flag:kill"))
    })
    .await;

    server.kill();
    let _ = std::fs::remove_dir_all(&dir);
}
