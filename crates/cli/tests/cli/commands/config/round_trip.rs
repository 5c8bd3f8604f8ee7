//! One project through config as code: exported twice (same bytes), planned unchanged (exit 0),
//! applied to a second server with an empty database and exported there (the same files, so
//! the same salts and seeds: every context gets the same variation on both), then drift made
//! through the API (exit 2, the change named), and the edits of `edits`.

use std::cell::RefCell;
use std::collections::BTreeSet;

use serde_json::{Value, json};
use switchyard_testkit::server::{Method, SdkKeyKind, TestServer};

use super::super::{Cli, PROJECT, ofrep};
use super::{changed_lines, edits, tree};
use crate::{fresh_dir, serve_fresh};

fn cli_for(server: &TestServer) -> Cli {
    Cli {
        base: server.base.clone(),
        token: server.admin.clone(),
        succeeded: RefCell::new(BTreeSet::new()),
    }
}

/// The flags of `testdata/delivery-flags.json`, a segment in production that a rule of
/// `checkout` uses, and a guarded-release-free split: what the files must carry.
async fn seed(server: &TestServer) {
    server.seed_delivery_flags().await;
    let segments = format!("{PROJECT}/environments/production/segments");
    let staff = json!({"key": "staff", "included": [{"kind": "user", "values": ["ann", "ben"]}]});
    server.admin_post(&segments, staff).await;
    let checkout = format!("{PROJECT}/environments/production/flags/checkout");
    let current = server.admin_get(&checkout).await;
    let targeting = json!({
        "on": true,
        "rules": [{"id": "staff", "condition": {"op": "segment_match", "values": ["staff"]}, "serve": {"variation": 0}}],
        "fallthrough": {"rollout": {"variations": [
            {"variation": 0, "weight": 10000}, {"variation": 1, "weight": 90000}]}},
        "version": current["version"],
    });
    server.admin(Method::PUT, &checkout, Some(targeting)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_plan_apply_round_trip() {
    let (mut live, live_data) = serve_fresh("config-live").await;
    seed(&live).await;
    let cli = cli_for(&live);
    let files = fresh_dir("config-files");
    let dir = files.to_str().unwrap();

    // Exporting twice gives the same bytes; each file points its editor at its schema.
    let out = cli.ok(&["export", "--dir", dir]);
    assert!(out.contains("wrote    flags/checkout.yaml"), "{out}");
    let first = tree(&files);
    let again = cli.json(&["export", "--dir", dir]);
    assert_eq!(again["changed"], json!([]), "{again}");
    assert!(tree(&files) == first, "a second export wrote other bytes");
    let names: Vec<&str> = first.keys().map(String::as_str).collect();
    for name in [
        ".schema/flag.json",
        ".schema/project.json",
        ".schema/segment.json",
        "project.yaml",
        "flags/banner.yaml",
        "flags/checkout.yaml",
        "flags/limit.yaml",
        "flags/theme.yaml",
        "segments/production/staff.yaml",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    let text = |name: &str| String::from_utf8_lossy(&first[name]).into_owned();
    let checkout = text("flags/checkout.yaml");
    assert!(
        checkout.starts_with("# yaml-language-server: $schema=../.schema/flag.json\nformat: 1\n"),
        "{checkout}"
    );
    assert!(
        checkout.contains("salt:") && checkout.contains("id: staff"),
        "{checkout}"
    );
    let staff = text("segments/production/staff.yaml");
    assert!(
        staff.starts_with("# yaml-language-server: $schema=../../.schema/segment.json\n"),
        "{staff}"
    );
    assert!(
        !staff.contains("version"),
        "no store versions in files: {staff}"
    );
    assert!(
        text("project.yaml").starts_with("# yaml-language-server: $schema=.schema/project.json\n")
    );

    // Unchanged: nothing to do, exit 0.
    let plan = cli.ran_code(&["plan", "--dir", dir], 0);
    assert!(plan.contains("No changes"), "{plan}");

    // Onto a server with an empty database: the same files come back out of it.
    let (mut fresh, fresh_data) = serve_fresh("config-fresh").await;
    let fresh_cli = cli_for(&fresh);
    let applied = fresh_cli.ok(&["apply", "--dir", dir, "--comment", "from git"]);
    assert!(applied.contains("Applied"), "{applied}");
    assert!(applied.contains("+ flags/checkout.yaml"), "{applied}");
    let copy = fresh_dir("config-copy");
    fresh_cli.ok(&["export", "--dir", copy.to_str().unwrap()]);
    let copied = tree(&copy);
    assert_eq!(
        copied.keys().collect::<Vec<_>>(),
        first.keys().collect::<Vec<_>>()
    );
    for (name, bytes) in &first {
        assert!(
            copied[name] == *bytes,
            "{name} differs after the round trip:\n{}\n---\n{}",
            String::from_utf8_lossy(bytes),
            String::from_utf8_lossy(&copied[name])
        );
    }
    assert_eq!(revision_of(&fresh).await, revision_of(&live).await);
    fresh_cli.ran_code(&["plan", "--dir", dir], 0);
    // Same salts and seeds: every context lands in the same bucket on both servers.
    same_assignments(&live, &fresh).await;
    fresh.kill();

    // Drift through the API: plan exits 2 and names the change, for people and for machines.
    let toggle = format!("{PROJECT}/environments/production/flags/theme/toggle");
    live.admin_post(&toggle, json!({"on": true})).await;
    let plan = cli.ran_code(&["plan", "--dir", dir], 2);
    assert!(
        plan.lines()
            .any(|l| l.starts_with("~ flags/theme.yaml  targeting production: on:")),
        "{plan}"
    );
    assert!(
        plan.contains("0 to create, 1 to change, 0 to delete"),
        "{plan}"
    );
    let json_plan = cli.ran_code(&["plan", "--dir", dir, "--output", "json"], 2);
    let json_plan: Value = serde_json::from_str(&json_plan).unwrap();
    let changes = json_plan["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{json_plan}");
    assert_eq!(
        (
            &changes[0]["file"],
            &changes[0]["action"],
            &changes[0]["fields"][0]["field"]
        ),
        (&json!("flags/theme.yaml"), &json!("update"), &json!("on"))
    );
    // Exported again, the drift is one line of one file.
    cli.ok(&["export", "--dir", dir]);
    let drifted = tree(&files);
    for (name, bytes) in &first {
        if name != "flags/theme.yaml" {
            assert!(drifted[name] == *bytes, "{name} changed");
        }
    }
    let lines = changed_lines(&first["flags/theme.yaml"], &drifted["flags/theme.yaml"]);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(
        (lines[0].0.trim(), lines[0].1.trim()),
        ("on: false", "on: true")
    );
    cli.ran_code(&["plan", "--dir", dir], 0);

    edits::reviewed_edits(&cli, &live, &files).await;

    live.kill();
    for dir in [live_data, fresh_data, files, copy] {
        std::fs::remove_dir_all(dir).ok();
    }
}

async fn revision_of(server: &TestServer) -> Value {
    server.admin_get(&format!("{PROJECT}/config")).await["revision"].clone()
}

/// `checkout` (a segment rule and a 10/90 split) and `limit` (50/50) give each of 100 users the
/// same variation on both servers.
async fn same_assignments(live: &TestServer, fresh: &TestServer) {
    let live_key = live.sdk_key(SdkKeyKind::Server).await;
    let fresh_key = fresh.sdk_key(SdkKeyKind::Server).await;
    let mut variants = BTreeSet::new();
    for flag in ["checkout", "limit"] {
        for user in ["ann"]
            .into_iter()
            .map(str::to_owned)
            .chain((0..100).map(|i| format!("u{i}")))
        {
            let context = json!({"targetingKey": user});
            let here = ofrep(&live.base, &live_key, flag, &context).await;
            let there = ofrep(&fresh.base, &fresh_key, flag, &context).await;
            assert_eq!(here["variant"], there["variant"], "{flag} for {user}");
            variants.insert(format!("{flag}={}", here["variant"]));
        }
    }
    // Both variations of each split were served, so the comparison could have failed.
    assert_eq!(variants.len(), 4, "{variants:?}");
}
