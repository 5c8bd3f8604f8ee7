//! The explicit off state through the CLI against a real `switchyard serve`: `flags create`
//! refuses a non-boolean flag without `--off-variation`, `flags toggle --off` and `kill` say
//! what everyone now gets, and `import` of the example file (an AI model config) keeps its off
//! variation.

use std::process::Command;

use serde_json::{Value, json};

use crate::serve_fresh;

/// Runs the CLI against `base` with `token`; returns (success, stdout, stderr).
fn cli(base: &str, token: &str, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(crate::BIN)
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_variation_on_the_command_line() {
    let (server, dir) = serve_fresh("cli-off-state").await;
    let token = server.first_start_token.clone().unwrap();
    let base = server.base.clone();
    let file = dir.join("model.json");
    let model = json!({"kind": "string", "variations": [
        {"key": "small", "value": "gpt-small"}, {"key": "large", "value": "gpt-large"}]});
    std::fs::write(&file, model.to_string()).unwrap();
    let file = file.to_str().unwrap();

    let (ok, _, err) = cli(&base, &token, &["flags", "create", "model", "--file", file]);
    assert!(!ok, "created without an off variation");
    assert!(err.contains("off_variation"), "{err}");
    let (ok, out, err) = cli(
        &base,
        &token,
        &[
            "flags",
            "create",
            "model",
            "--file",
            file,
            "--off-variation",
            "small",
        ],
    );
    assert!(ok, "{err}");
    let created: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(created["off_variation"], "small");

    let (ok, out, err) = cli(
        &base,
        &token,
        &["flags", "toggle", "model", "--env", "production", "--off"],
    );
    assert!(ok, "{err}");
    assert!(out.contains("everyone gets small (\"gpt-small\")"), "{out}");
    let (ok, out, err) = cli(&base, &token, &["kill", "model", "--env", "staging"]);
    assert!(ok, "{err}");
    assert!(out.contains("everyone gets small"), "{out}");

    // The example file's AI model config names its off variation, and import keeps it.
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/flags.yaml");
    let (ok, _, err) = cli(
        &base,
        &token,
        &["import", "--data", example, "--env", "staging"],
    );
    assert!(ok, "{err}");
    let (ok, out, err) = cli(&base, &token, &["flags", "get", "checkout-model"]);
    assert!(ok, "{err}");
    let imported: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(imported["off_variation"], "small", "{imported}");
    assert_eq!(imported["environments"]["production"]["off_variation"], 0);

    server.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}
