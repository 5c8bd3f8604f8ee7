//! Edits a reviewer makes to exported files, on a project whose files match it: a one-line
//! edit is a one-change plan that applies back to the same bytes; a saved plan refuses edited
//! files and a moved project; an invalid last file, or misspelt and mistyped fields, change
//! nothing and are named by file and field; `--prune` deletes what the files lack; a re-export
//! removes the files of deleted flags and segments; a protected environment makes the apply one
//! change request.

use std::path::Path;

use serde_json::{Value, json};
use switchyard_testkit::server::{Method, TestServer};

use super::super::{Cli, PROJECT, status_of};
use super::{edit_line, revision};

const PRODUCTION: &str = "/api/v1/projects/default/environments/production";

pub(super) async fn reviewed_edits(cli: &Cli, live: &TestServer, files: &Path) {
    let dir = files.to_str().unwrap();
    let banner = format!("{PRODUCTION}/flags/banner");
    let served = |t: &Value| t["rules"][0]["serve"]["variation"].clone();

    // One line: the German rule now serves "plain". The plan is exactly that change, in words.
    edit_line(files, "flags/banner.yaml", "variation: 1", "variation: 0");
    let plan: Value =
        serde_json::from_str(&cli.ran_code(&["plan", "--dir", dir, "--output", "json"], 2))
            .unwrap();
    let changes = plan["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{plan}");
    let change = &changes[0];
    assert_eq!(
        (&change["kind"], &change["environment"], &change["file"]),
        (
            &json!("targeting"),
            &json!("production"),
            &json!("flags/banner.yaml")
        ),
        "{plan}"
    );
    assert_eq!(change["fields"].as_array().unwrap().len(), 1, "{plan}");
    assert_eq!(change["fields"][0]["field"], "rules[id=de].serve", "{plan}");
    let plan_file = files.with_extension("plan.json");
    let plan_file = plan_file.to_str().unwrap();
    let text = cli.ran_code(&["plan", "--dir", dir, "--out", plan_file], 2);
    let line = text
        .lines()
        .find(|l| l.starts_with("~ flags/banner.yaml  targeting production: rules[id=de].serve: "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.contains("\"german\"") && line.contains("\"plain\"") && line.contains('→'),
        "variation keys, not indices: {line}"
    );

    // An apply expecting another revision than the project's changes nothing.
    let stale = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    let refused = cli.fails(&["apply", "--dir", dir, "--expect-revision", stale], 1);
    assert!(
        refused.contains("project changed since revision"),
        "{refused}"
    );
    assert_eq!(served(&live.admin_get(&banner).await), 1, "nothing applied");
    // A saved plan refuses files edited since it was made…
    let before = edit_line(files, "flags/theme.yaml", "on: true", "on: false");
    let refused = cli.fails(&["apply", "--dir", dir, "--plan", plan_file], 1);
    assert!(refused.contains("changed since the plan"), "{refused}");
    std::fs::write(files.join("flags/theme.yaml"), before).unwrap();
    // …and (the server) a project changed since.
    let toggle = format!("{PRODUCTION}/flags/theme/toggle");
    live.admin_post(&toggle, json!({"on": false})).await;
    let refused = cli.fails(&["apply", "--dir", dir, "--plan", plan_file], 1);
    assert!(
        refused.contains("project changed since the plan"),
        "{refused}"
    );
    assert_eq!(served(&live.admin_get(&banner).await), 1, "nothing applied");
    // Back where the plan was made (the revision is the state's), it applies.
    live.admin_post(&toggle, json!({"on": true})).await;
    let applied = cli.ok(&["apply", "--dir", dir, "--plan", plan_file]);
    assert!(applied.contains("Applied 1 change"), "{applied}");
    assert_eq!(served(&live.admin_get(&banner).await), 0);
    std::fs::remove_file(plan_file).ok();
    // The edited file is what the server now exports, byte for byte.
    let exported = cli.json(&["export", "--dir", dir]);
    assert_eq!(exported["changed"], json!([]), "{exported}");

    invalid_files_change_nothing(cli, live, files).await;
    pruning_and_removed_files(cli, live, files).await;
    protected_environment_holds_the_apply(cli, live, files).await;
}

/// A valid change in the first flag file and an invalid one in the last: nothing changes.
/// Misspelt and mistyped fields are all named, by file and field, before anything is sent.
async fn invalid_files_change_nothing(cli: &Cli, live: &TestServer, files: &Path) {
    let dir = files.to_str().unwrap();
    let banner_path = format!("{PRODUCTION}/flags/banner");
    let revision_before = revision(live).await;
    let banner = edit_line(files, "flags/banner.yaml", "on: true", "on: false");
    let theme = edit_line(
        files,
        "flags/theme.yaml",
        "off_variation: 1",
        "off_variation: 7",
    );
    let refused = cli.fails(&["apply", "--dir", dir], 1);
    // The server's problems, one line each, by file and field.
    assert!(
        refused
            .lines()
            .any(|l| l.starts_with("flags/theme.yaml: environments.production.off_variation")),
        "{refused}"
    );
    assert_eq!(revision(live).await, revision_before, "{refused}");
    assert_eq!(live.admin_get(&banner_path).await["on"], true);
    std::fs::write(files.join("flags/theme.yaml"), &theme).unwrap();
    std::fs::write(files.join("flags/banner.yaml"), &banner).unwrap();

    edit_line(files, "flags/banner.yaml", "condition:", "clauses:");
    edit_line(files, "flags/theme.yaml", "on: true", "on: maybe");
    let refused = cli.fails(&["plan", "--dir", dir], 1);
    assert!(
        refused
            .contains("flags/banner.yaml: environments.production.rules[0].clauses: unknown field"),
        "{refused}"
    );
    assert!(
        refused.contains("flags/theme.yaml: environments.production.on: "),
        "{refused}"
    );
    assert!(refused.contains("2 problems"), "{refused}");
    let refused = cli.fails(&["apply", "--dir", dir], 1);
    assert!(refused.contains("nothing was sent"), "{refused}");
    assert_eq!(revision(live).await, revision_before);
    std::fs::write(files.join("flags/theme.yaml"), theme).unwrap();
    std::fs::write(files.join("flags/banner.yaml"), banner).unwrap();
    cli.ran_code(&["plan", "--dir", dir], 0);
}

/// Live flags the files lack are left alone (and listed) unless `--prune`; a re-export removes
/// the files of flags and segments deleted since, and only those.
async fn pruning_and_removed_files(cli: &Cli, live: &TestServer, files: &Path) {
    let dir = files.to_str().unwrap();
    live.admin_post(
        &format!("{PROJECT}/flags"),
        json!({"key": "extra", "kind": "boolean"}),
    )
    .await;
    let plan = cli.ran_code(&["plan", "--dir", dir], 0);
    assert!(plan.contains("extra"), "listed as left alone: {plan}");
    let plan = cli.ran_code(&["plan", "--dir", dir, "--prune"], 2);
    assert!(
        plan.lines().any(|l| l.starts_with("- flags/extra.yaml")),
        "{plan}"
    );
    cli.ok(&["apply", "--dir", dir, "--prune"]);
    assert_eq!(
        status_of(live, &format!("{PROJECT}/flags/extra")).await,
        404
    );

    let staging = format!("{PROJECT}/environments/staging/segments");
    live.admin_post(&staging, json!({"key": "temp"})).await;
    cli.ok(&["export", "--dir", dir]);
    assert!(files.join("segments/staging/temp.yaml").is_file());
    std::fs::write(files.join("flags/notes.txt"), "kept").unwrap();
    std::fs::write(files.join("README.md"), "kept").unwrap();
    live.admin(Method::DELETE, &format!("{staging}/temp"), None)
        .await;
    live.admin(Method::DELETE, &format!("{PROJECT}/flags/limit"), None)
        .await;
    let exported = cli.json(&["export", "--dir", dir]);
    assert_eq!(
        exported["removed"],
        json!(["flags/limit.yaml", "segments/staging/temp.yaml"]),
        "{exported}"
    );
    assert!(!files.join("segments/staging").exists());
    assert!(files.join("flags/notes.txt").is_file() && files.join("README.md").is_file());
    cli.ran_code(&["plan", "--dir", dir, "--prune"], 0);
}

/// With staging requiring an approval, a change to a flag's shared settings waits as one change
/// request: the apply prints it and exits 0, and nothing changes yet.
async fn protected_environment_holds_the_apply(cli: &Cli, live: &TestServer, files: &Path) {
    let dir = files.to_str().unwrap();
    let staging = format!("{PROJECT}/environments/staging");
    let version = live.admin_get(&staging).await["version"].clone();
    let body = json!({"key": "staging", "name": "staging", "required_approvals": 1,
                      "version": version});
    live.admin(Method::PUT, &staging, Some(body)).await;
    cli.ok(&["export", "--dir", dir]);
    edit_line(
        files,
        "flags/banner.yaml",
        "kind: string",
        "kind: string\ndescription: the greeting",
    );
    let held = cli.ok(&["apply", "--dir", dir, "--comment", "describe it"]);
    assert!(
        held.contains("wait for approval as change request"),
        "{held}"
    );
    let requests = live.admin_get(&format!("{PROJECT}/change-requests")).await;
    let pending: Vec<&Value> = requests
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["state"] == "pending")
        .collect();
    assert_eq!(pending.len(), 1, "{requests}");
    let id = pending[0]["id"].as_str().unwrap();
    assert!(held.contains(id), "{id} in {held}");
    let flag = live.admin_get(&format!("{PROJECT}/flags/banner")).await;
    assert!(flag["description"].is_null(), "not applied yet: {flag}");
}
