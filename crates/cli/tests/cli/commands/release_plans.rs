//! `switchyard release-plans …` (`docs/releases.md`, "Waves") against a real `serve` of its own
//! whose guard looks every 100 ms: a plan over three environments with a short first wave
//! (`show` reports it running, then baking with its deadline in the reader's time zone, then the
//! second wave running), pause, resume and abort, the list, a misspelt field in the file refused
//! by name, and a plan touching an environment that requires approvals printed as its change
//! request.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use chrono::{FixedOffset, TimeZone as _};
use serde_json::{Value, json};
use switchyard_testkit::server::{TestServer, wait_for};

use super::{Cli, PROJECT};
use crate::{BIN, fresh_dir};

const FLAG: &str = "waves";

/// Wave 1 ramps for 3 s and bakes 3 s; wave 2 stays at its first stage for an hour, so the
/// plan is still running when paused; wave 3 never gets its turn.
const PLAN: &str = r#"# A release plan as a person writes it.
flag: waves
variation: "on"
waves:
  - environment: staging
    stages: [{percent: 50, min_bake_s: 3}]
    bake_s: 3
  - environment: production
    stages: [{percent: 20, min_bake_s: 3600}]
  - environment: eu
    stages: [{percent: 50, min_bake_s: 1}]
"#;

/// Each wave's state, as `show --output json` prints the plan.
fn wave_states(plan: &Value) -> Vec<&str> {
    let waves = plan["waves"].as_array().unwrap();
    waves.iter().map(|w| w["state"].as_str().unwrap()).collect()
}

/// `show ID --output json` until its waves are in `states`: the plan.
async fn until_waves(cli: &Cli, id: &str, states: &[&str]) -> Value {
    let what = format!("release plan {id}'s waves to be {states:?}");
    wait_for(&what, 30, || {
        let plan = cli.json(&["release-plans", "show", id]);
        async move { (wave_states(&plan) == states).then_some(plan) }
    })
    .await
}

/// The row of wave `number` in `show`'s table.
fn wave_row(table: &str, number: usize) -> String {
    let prefix = format!("{number} ");
    let row = table.lines().find(|line| line.starts_with(&prefix));
    row.unwrap_or_else(|| panic!("no wave {number} in:\n{table}"))
        .to_owned()
}

/// `show ID`'s table as a person in time zone `tz` (a `TZ` value) sees it.
fn show_in_zone(cli: &Cli, id: &str, tz: &str) -> String {
    let output = Command::new(BIN)
        .args(["release-plans", "show", id])
        .env("SWITCHYARD_URL", &cli.base)
        .env("SWITCHYARD_TOKEN", &cli.token)
        .env("TZ", tz)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// `flag` on in `env`, serving "off" to everyone: the release ramps "on" on the fallthrough.
async fn serve_off(server: &TestServer, env: &str) {
    let path = format!("{PROJECT}/environments/{env}/flags/{FLAG}");
    let current = server.admin_get(&path).await;
    let body = json!({"version": current["version"], "on": true, "off_variation": 1,
                      "fallthrough": {"variation": 1}});
    server
        .admin(switchyard_testkit::server::Method::PUT, &path, Some(body))
        .await;
}

/// Runs the release-plans commands on a server of their own (the guard must look often), and
/// counts what succeeded in `parent`'s tally of subcommands.
pub(super) async fn release_plans(parent: &Cli) {
    let dir = fresh_dir("cli-release-plans");
    std::fs::create_dir_all(&dir).unwrap();
    let data = dir.join("data");
    let server = TestServer::binary(BIN)
        .data_dir(&data)
        .args(["--guard-interval-ms", "100"])
        .start()
        .await;
    let cli = Cli {
        base: server.base.clone(),
        token: server.admin.clone(),
        succeeded: RefCell::new(BTreeSet::new()),
    };
    server
        .admin_post(
            &format!("{PROJECT}/environments"),
            json!({"key": "eu", "name": "EU"}),
        )
        .await;
    server
        .admin_post(
            &format!("{PROJECT}/flags"),
            json!({"key": FLAG, "kind": "boolean"}),
        )
        .await;
    for env in ["staging", "production", "eu"] {
        serve_off(&server, env).await;
    }

    refuses_a_misspelt_field(&cli, &dir);

    let file = dir.join("plan.yaml");
    std::fs::write(&file, PLAN).unwrap();
    let file = file.to_str().unwrap();
    let created = cli.json(&[
        "release-plans",
        "create",
        "--file",
        file,
        "--comment",
        "three regions",
    ]);
    assert_eq!(created["state"], "running", "{created}");
    assert_eq!(created["comment"], "three regions", "{created}");
    let id = created["id"].as_str().unwrap().to_owned();

    // Wave 1 runs (for 3 s): its release's stage and percent are in the table.
    let table = wait_for("show to say wave 1 runs", 30, || {
        let table = cli.ok(&["release-plans", "show", &id]);
        async move { wave_row(&table, 1).contains("running").then_some(table) }
    })
    .await;
    assert!(
        table.contains(&format!("release plan {id} of waves")),
        "{table}"
    );
    assert!(table.contains(": running"), "{table}");
    let first = wave_row(&table, 1);
    assert!(
        first.contains("staging") && first.contains("running"),
        "{table}"
    );
    assert!(first.contains("1 of 1: 50 %"), "{table}");
    assert!(wave_row(&table, 3).contains("pending"), "{table}");

    // Then it bakes: the table says until when, in the zone of whoever runs it (here UTC+5:30,
    // a POSIX TZ rule, so no time zone database is needed).
    let india = FixedOffset::east_opt(5 * 3600 + 1800).unwrap();
    let baking = wait_for("wave 1 to bake, shown in local time", 30, || {
        let plan = cli.json(&["release-plans", "show", &id]);
        let table = show_in_zone(&cli, &id, "IST-5:30");
        async move {
            let until = plan["waves"][0]["baking_until_ms"].as_i64()?;
            let local = india.timestamp_millis_opt(until).single()?;
            let shown = local.format("%Y-%m-%d %H:%M:%S +05:30").to_string();
            let row = wave_row(&table, 1);
            (row.contains("baking") && row.contains(&shown)).then_some(table)
        }
    })
    .await;
    assert!(wave_row(&baking, 2).contains("pending"), "{baking}");

    // Then wave 2 runs, in production.
    until_waves(&cli, &id, &["completed", "running", "pending"]).await;
    let table = cli.ok(&["release-plans", "show", &id]);
    let second = wave_row(&table, 2);
    assert!(
        second.contains("production") && second.contains("1 of 1: 20 %"),
        "{table}"
    );

    // Pause, resume, abort.
    let paused = cli.json(&["release-plans", "pause", &id, "--comment", "a dashboard"]);
    assert_eq!(paused["state"], "paused", "{paused}");
    let table = cli.ok(&["release-plans", "show", &id]);
    assert!(
        table.lines().next().unwrap().ends_with(": paused"),
        "{table}"
    );
    let resumed = cli.ok(&["release-plans", "resume", &id]);
    assert!(
        resumed.lines().next().unwrap().ends_with(": running"),
        "{resumed}"
    );

    let listed = cli.json(&["release-plans", "list", "--flag", FLAG]);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["id"], id.as_str());
    let none = cli.json(&["release-plans", "list", "--flag", "another"]);
    assert_eq!(none, json!([]));
    let table = cli.ok(&["release-plans", "list"]);
    assert!(table.starts_with("ID"), "{table}");
    assert!(
        table.contains(&id) && table.contains("staging → production → eu"),
        "{table}"
    );

    let aborted = cli.json(&["release-plans", "abort", &id, "--comment", "enough"]);
    assert_eq!(aborted["state"], "aborted", "{aborted}");
    let plan = until_waves(&cli, &id, &["completed", "aborted", "not_started"]).await;
    assert_eq!(plan["state"], "aborted");
    let table = cli.ok(&["release-plans", "show", &id]);
    assert!(
        table.lines().next().unwrap().contains("aborted (ended)"),
        "{table}"
    );

    held_for_approval(&cli, file);

    parent
        .succeeded
        .borrow_mut()
        .extend(cli.succeeded.borrow().iter().copied());
    server.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}

/// A field the plan does not have is refused before anything is sent, named with its path.
fn refuses_a_misspelt_field(cli: &Cli, dir: &Path) {
    let misspelt = PLAN.replace("    bake_s: 3\n", "    bake_secs: 3\n");
    let file = dir.join("misspelt.yaml");
    std::fs::write(&file, misspelt).unwrap();
    let args = ["release-plans", "create", "--file", file.to_str().unwrap()];
    let refused = cli.fails(&args, 2);
    assert!(
        refused.contains("unknown field `waves[0].bake_secs`"),
        "{refused}"
    );
    assert!(refused.contains("misspelt.yaml"), "{refused}");
    // JSON too, and a typo at the top.
    let file = dir.join("misspelt.json");
    let body = json!({"flag": FLAG, "varation": "on", "waves": [{"environment": "staging"}]});
    std::fs::write(&file, body.to_string()).unwrap();
    let refused = cli.fails(
        &["release-plans", "create", "--file", file.to_str().unwrap()],
        2,
    );
    assert!(refused.contains("`varation`"), "{refused}");
}

/// Where an environment requires approvals the whole plan waits as one change request, which
/// `create` prints.
fn held_for_approval(cli: &Cli, file: &str) {
    cli.ok(&["envs", "update", "eu", "--required-approvals", "1"]);
    let ran = cli.run(&[
        "release-plans",
        "create",
        "--file",
        file,
        "--output",
        "json",
    ]);
    assert_eq!(ran.code, Some(0), "{}{}", ran.stdout, ran.stderr);
    let held: Value = serde_json::from_str(&ran.stdout).unwrap();
    let request = &held["change_request"];
    assert_eq!(request["state"], "pending", "{held}");
    assert_eq!(request["operation"], "start_release_plan", "{held}");
    let ran = cli.run(&["release-plans", "create", "--file", file]);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("waits for approval as change request"),
        "{}",
        ran.stderr
    );
}
