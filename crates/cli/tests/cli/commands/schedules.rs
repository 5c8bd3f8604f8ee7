//! Scheduled changes from the CLI (`docs/governance.md`, "Scheduled changes"): `schedule
//! toggle/remove-targets/targeting`, `change-requests schedule` (a new time, or none),
//! `change-requests list --scheduled` and the new states, `flags remove-targets`, and
//! `envs create/update --required-approvals`. The binary runs on the wall clock, so the
//! changes that must run are scheduled a few seconds ahead and awaited: the server's runner
//! looks every second.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use switchyard_engine::time::format_rfc3339_ms;
use switchyard_testkit::server::{Method, TestServer, eventually};

use super::{Cli, PROJECT, write};

const FLAG: &str = "launch";

/// An RFC 3339 time `seconds` from now.
fn in_seconds(seconds: i64) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    format_rfc3339_ms(now.as_millis() as i64 + seconds * 1000)
}

/// The ids of the change requests a `--output json` list printed.
fn ids(list: &Value) -> Vec<&str> {
    let requests = list.as_array().unwrap();
    requests.iter().filter_map(|r| r["id"].as_str()).collect()
}

fn targeting_path(env: &str) -> String {
    format!("{PROJECT}/environments/{env}/flags/{FLAG}")
}

/// The user keys individually targeted by the flag in `env`.
async fn targeted(server: &TestServer, env: &str) -> Vec<String> {
    let targeting = server.admin_get(&targeting_path(env)).await;
    let targets = targeting["targets"].as_array().cloned().unwrap_or_default();
    let values = targets.iter().flat_map(|t| t["values"].as_array().cloned());
    let keys = values
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned));
    keys.collect()
}

/// The state of change request `id`.
async fn state_of(server: &TestServer, id: &str) -> Value {
    let request = server
        .admin_get(&format!("{PROJECT}/change-requests/{id}"))
        .await;
    request["state"].clone()
}

/// `switchyard schedule toggle FLAG --env staging --on|--off --at AT`: the request's id.
fn schedule_toggle(cli: &Cli, on: bool, at: &str) -> String {
    let state = if on { "--on" } else { "--off" };
    let args = [
        "schedule", "toggle", FLAG, "--env", "staging", state, "--at", at,
    ];
    let scheduled = cli.json(&args);
    assert_eq!(scheduled["state"], "pending", "{scheduled}");
    scheduled["id"].as_str().unwrap().to_owned()
}

async fn required_approvals(cli: &Cli) {
    let updated = cli.json(&[
        "envs",
        "update",
        "staging",
        "--required-approvals",
        "1",
        "--comment",
        "four eyes",
    ]);
    assert_eq!(updated["required_approvals"], 1, "{updated}");
    let table = cli.ok(&["envs", "list"]);
    assert!(
        table.lines().next().unwrap().contains("APPROVALS"),
        "{table}"
    );
    let staging = table.lines().find(|l| l.starts_with("staging")).unwrap();
    assert!(staging.split_whitespace().any(|c| c == "1"), "{table}");
    let refused = cli.fails(
        &["envs", "update", "staging", "--required-approvals", "11"],
        1,
    );
    assert!(refused.contains("--required-approvals"), "{refused}");

    let created = cli.json(&["envs", "create", "sox", "--required-approvals", "2"]);
    assert_eq!(created["required_approvals"], 2, "{created}");
    cli.json(&["envs", "delete", "sox"]);
}

pub(super) async fn scheduled_changes(cli: &Cli, server: &TestServer, dir: &Path) {
    required_approvals(cli).await;
    server
        .admin_post(
            &format!("{PROJECT}/flags"),
            json!({"key": FLAG, "kind": "boolean"}),
        )
        .await;
    let account = json!({"name": "ada", "roles": ["admin"], "password": "a long enough password"});
    server.admin_post("/api/v1/accounts", account).await;
    let token = json!({"name": "ada", "account": "ada", "unscoped": true});
    let ada = server.admin_post("/api/v1/tokens", token).await;
    let ada = ada["token"].as_str().unwrap().to_owned();

    // Bad input names what is wrong, and schedules nothing.
    let past = ["schedule", "toggle", FLAG, "--env", "staging", "--on"];
    let refused = cli.fails(&[&past[..], &["--at", "2020-01-01T00:00:00Z"]].concat(), 2);
    assert!(refused.contains("field at"), "{refused}");
    let refused = cli.fails(&[&past[..], &["--at", "tomorrow"]].concat(), 2);
    assert!(refused.contains("--at"), "{refused}");
    let refused = cli.fails(&["change-requests", "list", "--state", "late"], 1);
    assert!(refused.contains("--state"), "{refused}");

    // A toggle scheduled for later is a pending request with its time in the list.
    let later = in_seconds(600);
    let launch = schedule_toggle(cli, true, &later);
    let table = cli.ok(&["change-requests", "list", "--scheduled"]);
    assert!(table.lines().next().unwrap().contains("RUN_AT"), "{table}");
    let shown = cli.json(&["change-requests", "show", &launch]);
    let run_at = shown["run_at"].as_str().unwrap();
    assert!(
        table
            .lines()
            .any(|l| l.starts_with(&launch) && l.contains(run_at)),
        "{table}"
    );

    // Unscheduled, a request waits for its approvals like any other (and leaves the list of
    // scheduled ones); in table output the CLI says where the request is.
    let args = ["schedule", "toggle", FLAG, "--env", "staging", "--off"];
    let ran = cli.run(&[&args[..], &["--at", &later]].concat());
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("scheduled as change request"),
        "{}",
        ran.stderr
    );
    let off: Value = serde_json::from_str(&ran.stdout).unwrap();
    let off = off["id"].as_str().unwrap().to_owned();
    let cleared = cli.json(&["change-requests", "schedule", &off, "--clear"]);
    assert_eq!(
        (&cleared["state"], &cleared["run_at_ms"]),
        (&json!("pending"), &Value::Null),
        "{cleared}"
    );
    let scheduled = cli.json(&["change-requests", "list", "--scheduled"]);
    assert!(ids(&scheduled).contains(&launch.as_str()), "{scheduled}");
    assert!(!ids(&scheduled).contains(&off.as_str()), "{scheduled}");
    cli.json(&["change-requests", "withdraw", &off]);

    // Approved while its time is far off, the launch waits; moved to soon, the runner applies
    // it then. A request without its approval at its time expires instead, and one in an
    // environment that needs none simply runs (here: a targeting file).
    let approve = format!("{PROJECT}/change-requests/{launch}/approve");
    let (status, answer) = server
        .call(
            Some(&ada),
            Method::POST,
            &approve,
            Some(json!({"revision": 1})),
        )
        .await;
    assert_eq!(
        (status.as_u16(), &answer["state"]),
        (200, &json!("pending"))
    );
    let soon = in_seconds(4);
    let moved = cli.json(&[
        "change-requests",
        "schedule",
        &launch,
        "--at",
        &soon,
        "--revision",
        "1",
    ]);
    assert_eq!(
        moved["run_at"],
        format_rfc3339_ms(moved["run_at_ms"].as_i64().unwrap())
    );
    let unapproved = schedule_toggle(cli, false, &in_seconds(4));
    let targeting = json!({"on": true, "off_variation": 1, "fallthrough": {"variation": 1},
        "targets": [{"kind": "user", "variation": 0, "values": ["alice", "bob", "carol"]}]});
    let file = write(dir, "scheduled-targeting.json", &targeting);
    let args = [
        "schedule",
        "targeting",
        FLAG,
        "--env",
        "production",
        "--file",
        &file,
    ];
    let targets = cli.json(&[&args[..], &["--at", &in_seconds(4)]].concat());
    let targets = targets["id"].as_str().unwrap().to_owned();
    assert_eq!(
        server.admin_get(&targeting_path("staging")).await["on"],
        false
    );
    eventually("the scheduled changes to run", 20, || async {
        state_of(server, &launch).await == "applied"
            && state_of(server, &unapproved).await == "expired"
            && state_of(server, &targets).await == "applied"
    })
    .await;
    assert_eq!(
        server.admin_get(&targeting_path("staging")).await["on"],
        true
    );
    assert_eq!(
        targeted(server, "production").await,
        ["alice", "bob", "carol"]
    );
    let expired = cli.json(&["change-requests", "list", "--state", "expired"]);
    assert_eq!(ids(&expired), [unapproved.as_str()], "{expired}");
    let shown = cli.json(&["change-requests", "show", &launch]);
    let steps: Vec<&str> = shown["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["step"].as_str())
        .collect();
    assert!(steps.ends_with(&["scheduled", "applied"]), "{shown}");

    // Removing targets now, and at a time (an end date for the last one).
    let removed = cli.json(&[
        "flags",
        "remove-targets",
        FLAG,
        "--env",
        "production",
        "--values",
        "alice,bob",
        "--comment",
        "trial over",
    ]);
    assert_eq!(
        removed["targets"][0]["values"],
        json!(["carol"]),
        "{removed}"
    );
    let args = ["flags", "remove-targets", FLAG, "--env", "production"];
    let refused = cli.fails(&[&args[..], &["--values", "alice"]].concat(), 2);
    assert!(refused.contains("field values"), "{refused}");
    let args = ["schedule", "remove-targets", FLAG, "--env", "production"];
    let end = cli.json(&[&args[..], &["--values", "carol", "--at", &in_seconds(4)]].concat());
    let end = end["id"].as_str().unwrap().to_owned();
    eventually("the end date to remove the target", 20, || async {
        state_of(server, &end).await == "applied"
    })
    .await;
    assert!(targeted(server, "production").await.is_empty());

    cli.json(&["envs", "update", "staging", "--required-approvals", "0"]);
}
