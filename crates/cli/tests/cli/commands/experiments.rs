//! `switchyard experiments …` (`docs/experiments.md`, "Running an experiment"): metric
//! definitions created from a file (a bad one refused naming what is wrong), listed, shown and
//! deleted; an experiment created from a file, listed, shown, started (the flag's fallthrough
//! now serves its rollout), stopped (served as before), and a second one shipped (the winner
//! served to everyone).

use std::path::Path;

use serde_json::{Value, json};
use switchyard_testkit::server::{Method, TestServer};

use super::Cli;

const PROD: &str = "/api/v1/projects/default/environments/production";

fn write(dir: &Path, name: &str, body: &Value) -> String {
    let path = dir.join(name);
    std::fs::write(&path, body.to_string()).unwrap();
    path.to_string_lossy().into_owned()
}

pub(super) async fn experiments(cli: &Cli, server: &TestServer, dir: &Path) {
    server
        .admin_post(
            "/api/v1/projects/default/flags",
            json!({"key": "cli-layout", "kind": "string", "off_variation": "a",
                   "variations": [{"key": "a", "value": "classic"}, {"key": "b", "value": "wide"}]}),
        )
        .await;
    let targeting = format!("{PROD}/flags/cli-layout");
    let body =
        json!({"version": 0, "on": true, "off_variation": 0, "fallthrough": {"variation": 0}});
    server.admin(Method::PUT, &targeting, Some(body)).await;

    // Metric definitions.
    let metric = json!({"key": "cli-signup", "event": "signup", "kind": "proportion",
                        "direction": "increase_is_good", "mde": 0.03});
    let file = write(dir, "metric.json", &metric);
    let table = cli.ok(&["experiments", "metrics", "create", "--file", &file]);
    assert!(
        table.contains("cli-signup") && table.contains("proportion"),
        "{table}"
    );
    let mut bad = metric.clone();
    bad["key"] = json!("cli-bad");
    bad["kind"] = json!("median");
    let bad = write(dir, "bad-metric.json", &bad);
    let said = cli.fails(&["experiments", "metrics", "create", "--file", &bad], 2);
    assert!(said.contains("median"), "{said}");
    let listed = cli.json(&["experiments", "metrics", "list"]);
    let keys: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["key"].as_str())
        .collect();
    assert!(keys.contains(&"cli-signup"), "{listed}");
    let shown = cli.json(&["experiments", "metrics", "show", "cli-signup"]);
    assert_eq!(
        (&shown[0]["mde"], &shown[0]["window_hours"]),
        (&json!(0.03), &json!(72))
    );

    // An experiment: create, list, show, start, stop.
    let plan = json!({"flag": "cli-layout", "name": "wide layout", "variations": ["a", "b"],
                      "control": "a", "traffic_percent": 50, "primary_metric": "cli-signup"});
    let file = write(dir, "experiment.json", &plan);
    let env = ["--env", "production"];
    let created = cli.json(&[&["experiments", "create", "--file", &file][..], &env].concat());
    assert_eq!(created["state"], "draft", "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let list = cli.ok(&[&["experiments", "list"][..], &env].concat());
    assert!(list.contains(&id) && list.contains("wide layout"), "{list}");
    let shown = cli.ok(&[&["experiments", "show", &id][..], &env].concat());
    assert!(shown.contains("state:      draft (phase 1)"), "{shown}");
    let started = cli.json(&[&["experiments", "start", &id, "--comment", "go"][..], &env].concat());
    assert_eq!(started["state"], "running", "{started}");
    let served = server.admin_get(&targeting).await;
    assert_eq!(
        served["fallthrough"]["rollout"]["experiment"], true,
        "{served}"
    );
    let stopped = cli.json(&[&["experiments", "stop", &id][..], &env].concat());
    assert_eq!(stopped["state"], "stopped");
    let served = server.admin_get(&targeting).await;
    assert_eq!(served["fallthrough"], json!({"variation": 0}));

    // A second one ships b.
    let second = cli.json(&[&["experiments", "create", "--file", &file][..], &env].concat());
    let id = second["id"].as_str().unwrap().to_owned();
    cli.ok(&[&["experiments", "start", &id][..], &env].concat());
    let ship = [
        "experiments",
        "ship",
        &id,
        "--variation",
        "b",
        "--comment",
        "b wins",
    ];
    let shipped = cli.ok(&[&ship[..], &env].concat());
    assert!(shipped.contains("shipped:    b"), "{shipped}");
    let served = server.admin_get(&targeting).await;
    assert_eq!(served["fallthrough"], json!({"variation": 1}));

    // A metric no running experiment uses can go.
    let unused = json!({"key": "cli-unused", "event": "x", "kind": "count",
                        "direction": "decrease_is_good", "mde": 0.1});
    let file = write(dir, "unused.json", &unused);
    cli.ok(&["experiments", "metrics", "create", "--file", &file]);
    let deleted = cli.ok(&["experiments", "metrics", "delete", "cli-unused"]);
    assert!(
        deleted.contains("proj/default:metric/cli-unused"),
        "{deleted}"
    );
}
