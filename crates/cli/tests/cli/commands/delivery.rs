//! What happens in an environment: `exposures` and `metrics` after an application ran,
//! `release …` and `kill`, and a `relay` in front of the server.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use switchyard_sdk::{Client as Sdk, Context, EventsConfig};
use switchyard_testkit::server::{SdkKeyKind, TestServer, eventually, free_port, wait_for};

use super::{Cli, PROJECT, ofrep};
use crate::BIN;

/// `exposures` and `metrics` after an application (the Rust SDK) evaluated `limit` for ten
/// users and reported a latency for each: both say what the API says.
pub(super) async fn events(cli: &Cli, server: &TestServer) {
    let key = server.sdk_key(SdkKeyKind::Server).await;
    let sdk = Sdk::builder(&server.base, &key)
        .events(EventsConfig {
            flush_interval: Duration::from_millis(100),
            ..EventsConfig::default()
        })
        .build()
        .await;
    let mut served = BTreeSet::new();
    for i in 0..10 {
        let user = Context::from_json(&json!({"key": format!("user-{i}")})).unwrap();
        let detail = sdk.number_detail("limit", &user, -1.0);
        served.insert((format!("user-{i}"), detail.variation.unwrap()));
        sdk.track("latency_ms", &user, f64::from(i));
    }
    sdk.close().await;

    let api = |what: &str| format!("{PROJECT}/environments/production/flags/limit/{what}");
    let exposed = wait_for("ten exposures", 10, || async {
        let exposed = cli.json(&["exposures", "limit", "--env", "production"]);
        (exposed.as_array().unwrap().len() == 10).then_some(exposed)
    })
    .await;
    let got: BTreeSet<(String, String)> = exposed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["key"].as_str().unwrap().to_owned(),
                e["variation"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(got, served);
    let table = cli.ok(&[
        "exposures",
        "limit",
        "--env",
        "production",
        "--variation",
        "low",
    ]);
    let lows = served.iter().filter(|(_, v)| v == "low").count();
    assert_eq!(table.lines().count(), 1 + lows, "{table}");
    assert!(
        table.lines().skip(1).all(|l| l.contains(" low ")),
        "{table}"
    );
    let limited = cli.json(&["exposures", "limit", "--env", "production", "--limit", "3"]);
    assert_eq!(limited.as_array().unwrap().len(), 3);

    let metrics = wait_for("the latency metric", 10, || async {
        let metrics = cli.json(&["metrics", "limit", "--env", "production"]);
        let count: i64 = metrics
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["count"].as_i64().unwrap())
            .sum();
        (count == 10).then_some(metrics)
    })
    .await;
    let sum: f64 = metrics
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["sum"].as_f64().unwrap())
        .sum();
    assert_eq!(sum, 45.0, "{metrics}");
    let table = cli.ok(&["metrics", "limit", "--env", "production"]);
    assert!(table.starts_with("METRIC"), "{table}");
    assert!(
        table.lines().skip(1).all(|l| l.starts_with("latency_ms ")),
        "{table}"
    );
    // Both say what the API says (over all time, as all of it is within the CLI's 24 hours).
    let all_time = "from=0&to=9999999999999";
    let api_metrics = server.admin_get(&api(&format!("metrics?{all_time}"))).await;
    assert_eq!(metrics, api_metrics);
    let api_exposures = server
        .admin_get(&api(&format!("exposures?{all_time}")))
        .await;
    assert_eq!(exposed, api_exposures);
}

/// `release start/status/list/pause/resume/advance/rollback/abort` and `kill`, each checked
/// against the release and the targeting the server holds.
pub(super) async fn releases(cli: &Cli, server: &TestServer) {
    let production = format!("{PROJECT}/environments/production");
    let targeting = format!("{production}/flags/banner");
    let before = server.admin_get(&targeting).await["fallthrough"].clone();
    let start = [
        "release",
        "start",
        "--env",
        "production",
        "--flag",
        "banner",
        "--variation",
        "german",
    ];
    let started = cli.json(&start);
    let id = started["id"].as_str().unwrap().to_owned();
    assert_eq!(started["state"], "running");
    assert_ne!(
        server.admin_get(&targeting).await["fallthrough"],
        before,
        "the release serves"
    );
    let status = cli.ok(&["release", "status", &id, "--env", "production"]);
    assert!(
        status.contains(&format!(
            "release {id} of banner → \"german\": running at stage 0"
        )),
        "{status}"
    );
    let held = cli.json(&["release", "pause", &id, "--env", "production"]);
    assert_eq!(held["state"], "holding");
    let resumed = cli.json(&["release", "resume", &id, "--env", "production"]);
    assert_eq!(resumed["state"], "running");
    let advanced = cli.json(&["release", "advance", &id, "--env", "production"]);
    assert_eq!(advanced["stage"], 1);
    let rolled_back = cli.ok(&[
        "release",
        "rollback",
        &id,
        "--env",
        "production",
        "--comment",
        "bad",
    ]);
    assert!(rolled_back.contains("rolled_back"), "{rolled_back}");
    let release = server
        .admin_get(&format!("{production}/releases/{id}"))
        .await;
    assert_eq!(release["state"], "rolled_back");
    assert_eq!(
        server.admin_get(&targeting).await["fallthrough"],
        before,
        "restored"
    );

    let second = cli.json(&start)["id"].as_str().unwrap().to_owned();
    let aborted = cli.json(&["release", "abort", &second, "--env", "production"]);
    assert_eq!(aborted["state"], "aborted");
    assert_eq!(
        server.admin_get(&targeting).await["fallthrough"],
        before,
        "restored"
    );
    let listed = cli.json(&["release", "list", "--env", "production"]);
    let states: Vec<(&Value, &Value)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (&r["id"], &r["state"]))
        .collect();
    assert_eq!(
        states,
        [
            (&json!(second), &json!("aborted")),
            (&json!(id), &json!("rolled_back"))
        ],
        "newest first"
    );
    let table = cli.ok(&["release", "list", "--env", "production"]);
    assert!(
        table.lines().nth(1).unwrap().starts_with(&second),
        "{table}"
    );

    let third = cli.json(&start)["id"].as_str().unwrap().to_owned();
    let out = cli.ok(&["kill", "banner", "--env", "production", "--comment", "stop"]);
    assert!(out.contains("banner is OFF in production"), "{out}");
    assert!(out.contains(&format!("release {third} aborted")), "{out}");
    assert_eq!(server.admin_get(&targeting).await["on"], false);
}

/// `relay` with a production SDK key serves what the server serves.
pub(super) async fn relay(cli: &Cli, server: &TestServer, dir: &Path) {
    let key = server.sdk_key(SdkKeyKind::Server).await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let listen = format!("127.0.0.1:{port}");
    let relay_dir = dir.join("relay");
    let mut child: Child = Command::new(BIN)
        .args([
            "relay",
            "--upstream",
            &server.base,
            "--sdk-key",
            &key,
            "--listen",
            &listen,
            "--log",
            "warn",
        ])
        .arg("--data-dir")
        .arg(&relay_dir)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    eventually("the relay to be ready", 30, || async {
        let ready = reqwest::get(format!("{base}/readyz")).await;
        ready.is_ok_and(|r| r.status().is_success())
    })
    .await;
    let context = json!({"targetingKey": "user-1", "country": "DE"});
    for flag in ["checkout", "banner", "limit"] {
        let relayed = ofrep(&base, &key, flag, &context).await;
        let served = ofrep(&server.base, &key, flag, &context).await;
        assert_eq!(
            (&relayed["value"], &relayed["variant"]),
            (&served["value"], &served["variant"]),
            "{flag}"
        );
    }
    child.kill().unwrap();
    let exited = child.wait().unwrap();
    assert!(
        exited.code().is_none(),
        "the relay ran until killed: {exited}"
    );
    cli.succeeded.borrow_mut().insert("relay");
}
