//! The definitions a project holds: `flags`, `segments`, `envs` and `tokens`.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::json;
use switchyard_testkit::server::{Method, TestServer};

use super::{Cli, PROJECT, status_of, write};

/// `flags list/get/create/toggle/target/delete`.
pub(super) async fn flags(cli: &Cli, server: &TestServer, dir: &Path) {
    let table = cli.ok(&["flags", "list"]);
    assert!(table.starts_with("KEY"), "{table}");
    let checkout = table.lines().find(|l| l.starts_with("checkout ")).unwrap();
    assert!(checkout.contains("production:on"), "{table}");
    let listed = cli.json(&["flags", "list"]);
    assert_eq!(listed.as_array().unwrap().len(), 4, "{listed}");
    let found = cli.json(&["flags", "list", "--q", "bann"]);
    assert_eq!(found.as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found[0]["key"], "banner");
    let banner = cli.json(&["flags", "get", "banner"]);
    assert_eq!(banner["off_variation"], "plain");
    assert_eq!(
        banner,
        server.admin_get(&format!("{PROJECT}/flags/banner")).await
    );
    cli.fails(&["flags", "get", "nope"], 2);

    let created = cli.json(&["flags", "create", "beta", "--comment", "try it"]);
    assert_eq!(
        (&created["kind"], &created["off_variation"]),
        (&json!("boolean"), &json!("off"))
    );
    assert_eq!(
        server.admin_get(&format!("{PROJECT}/flags/beta")).await["kind"],
        "boolean"
    );
    // Strict input: a misspelt field in the file is refused before anything is sent.
    let typo = write(dir, "typo.json", &json!({"kind": "boolean", "tagz": ["x"]}));
    let refused = cli.fails(&["flags", "create", "typo", "--file", &typo], 2);
    assert!(refused.contains("unknown field `tagz`"), "{refused}");
    assert_eq!(
        status_of(server, &format!("{PROJECT}/flags/typo")).await,
        404
    );

    let targeting = format!("{PROJECT}/environments/production/flags/beta");
    let refused = cli.fails(&["flags", "toggle", "beta", "--env", "production"], 1);
    assert!(refused.contains("--on"), "a toggle never flips: {refused}");
    let out = cli.ok(&[
        "flags",
        "toggle",
        "beta",
        "--env",
        "production",
        "--on",
        "--comment",
        "launch",
    ]);
    assert!(
        out.starts_with("beta is ON in production (version "),
        "{out}"
    );
    assert_eq!(server.admin_get(&targeting).await["on"], true);
    let out = cli.ok(&["flags", "toggle", "beta", "--env", "production", "--off"]);
    assert!(out.contains("beta is OFF in production"), "{out}");
    assert!(out.contains("everyone gets off (false)"), "{out}");
    assert_eq!(server.admin_get(&targeting).await["on"], false);

    let rules = json!({"on": true, "off_variation": 1, "fallthrough": {"variation": 1},
        "rules": [{"id": "de", "condition": {"attribute": "country", "op": "in", "values": ["DE"]},
                   "serve": {"variation": 0}}]});
    let file = write(dir, "targeting.json", &rules);
    let target = [
        "flags",
        "target",
        "beta",
        "--env",
        "production",
        "--file",
        &file,
    ];
    let answer = cli.json(&target);
    assert_eq!(answer["rules"][0]["id"], "de");
    let stored = server.admin_get(&targeting).await;
    assert_eq!(
        (&stored["on"], &stored["rules"][0]["id"]),
        (&json!(true), &json!("de"))
    );
    let typo = write(
        dir,
        "typo-targeting.json",
        &json!({"on": true, "rulez": []}),
    );
    let target = [
        "flags",
        "target",
        "beta",
        "--env",
        "production",
        "--file",
        &typo,
    ];
    let refused = cli.fails(&target, 2);
    assert!(refused.contains("unknown field `rulez`"), "{refused}");
    assert_eq!(
        server.admin_get(&targeting).await["version"],
        stored["version"]
    );

    // Archive and restore (what SDKs see is the server tests'), and the stale report.
    let archived = cli.json(&["flags", "archive", "beta", "--comment", "shipped"]);
    assert_eq!(archived["archived"], true, "{archived}");
    let listed = cli.json(&["flags", "list", "--archived"]);
    assert_eq!(listed[0]["key"], "beta", "{listed}");
    let refused = cli.fails(&["flags", "archive", "beta"], 2);
    assert!(refused.contains("already archived"), "{refused}");
    let restored = cli.json(&["flags", "restore", "beta", "--comment", "again"]);
    assert_eq!(restored["archived"], false, "{restored}");
    assert_eq!(
        restored["version"],
        archived["version"].as_i64().unwrap() + 1
    );
    let report = cli.json(&["flags", "stale", "--env", "production", "--days", "7"]);
    assert_eq!(report["days"], 7, "{report}");
    let table = cli.ok(&["flags", "stale", "--env", "production"]);
    assert!(table.starts_with("FLAG"), "{table}");
    let refused = cli.fails(&["flags", "stale", "--env", "production", "--days", "0"], 2);
    assert!(refused.contains("days"), "{refused}");

    cli.json(&["flags", "delete", "beta", "--comment", "done"]);
    assert_eq!(
        status_of(server, &format!("{PROJECT}/flags/beta")).await,
        404
    );
}

/// `segments apply/list/get/delete`: apply creates, then replaces.
pub(super) async fn segments(cli: &Cli, server: &TestServer, dir: &Path) {
    let stored = format!("{PROJECT}/environments/production/segments/staff");
    let staff = json!({"key": "staff", "included": [{"kind": "user", "values": ["ann"]}]});
    let file = write(dir, "staff.json", &staff);
    let apply = ["segments", "apply", "--env", "production", "--file", &file];
    let created = cli.json(&apply);
    assert_eq!(created["version"], 1, "{created}");
    let staff = json!({"key": "staff", "included": [{"kind": "user", "values": ["ann", "ben"]}]});
    write(dir, "staff.json", &staff);
    let replaced = cli.json(&apply);
    assert_eq!(replaced["version"], 2, "{replaced}");
    let segment = server.admin_get(&stored).await;
    assert_eq!(segment["included"][0]["values"], json!(["ann", "ben"]));

    let table = cli.ok(&["segments", "list", "--env", "production"]);
    let row: Vec<&str> = table.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(row, ["staff", "1", "0", "2"], "{table}");
    let got = cli.json(&["segments", "get", "staff", "--env", "production"]);
    assert_eq!(got, segment);
    let typo = write(
        dir,
        "typo-segment.json",
        &json!({"key": "staff", "includedd": []}),
    );
    let refused = cli.fails(
        &["segments", "apply", "--env", "production", "--file", &typo],
        2,
    );
    assert!(refused.contains("unknown field `includedd`"), "{refused}");

    cli.json(&["segments", "delete", "staff", "--env", "production"]);
    assert_eq!(status_of(server, &stored).await, 404);
}

/// `envs list/create/delete`.
pub(super) async fn envs(cli: &Cli, server: &TestServer) {
    let table = cli.ok(&["envs", "list"]);
    let keys: Vec<&str> = table
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(keys, ["production", "staging"], "{table}");
    let created = cli.json(&["envs", "create", "qa", "--name", "QA"]);
    assert_eq!(
        (&created["key"], &created["name"]),
        (&json!("qa"), &json!("QA"))
    );
    let listed = server.admin_get(&format!("{PROJECT}/environments")).await;
    assert!(
        listed.as_array().unwrap().iter().any(|e| e["key"] == "qa"),
        "{listed}"
    );
    let deleted = cli.json(&["envs", "delete", "qa"]);
    assert_eq!(deleted["deleted"], "proj/default:env/qa");
    assert_eq!(
        status_of(server, &format!("{PROJECT}/environments/qa")).await,
        404
    );
}

/// `tokens create/list/revoke`: a scoped token can do what its statements allow and no more,
/// and a revoked one nothing.
pub(super) async fn tokens(cli: &Cli, server: &TestServer, dir: &Path) {
    let refused = cli.fails(&["tokens", "create", "vague"], 1);
    assert!(refused.contains("--scope-file"), "{refused}");
    let scope = json!([{"effect": "allow", "actions": ["flag:read"], "resources": ["**"]}]);
    let scope = write(dir, "scope.json", &scope);
    let created = cli.run(&["tokens", "create", "reader", "--scope-file", &scope]);
    assert_eq!(created.code, Some(0), "{}", created.stderr);
    let secret = created.stdout.trim().to_owned();
    assert!(secret.starts_with("syt_"), "{secret}");
    assert!(
        created.stderr.contains("shown only once"),
        "{}",
        created.stderr
    );
    let flags = format!("{PROJECT}/flags");
    let reader = server.client_as(Some(&secret));
    let (status, _) = reader.call(Method::GET, &flags, None).await.unwrap();
    assert_eq!(status, 200);
    let create = Some(json!({"key": "nope", "kind": "boolean"}));
    let (status, _) = reader.call(Method::POST, &flags, create).await.unwrap();
    assert_eq!(status, 403, "the scope allows reading only");

    let unscoped = cli.json(&[
        "tokens",
        "create",
        "ci",
        "--unscoped",
        "--expires-in-days",
        "7",
    ]);
    assert!(unscoped["token"].as_str().unwrap().starts_with("syt_"));
    let week_ms = 7 * 24 * 3_600_000;
    let lifetime =
        unscoped["expires_at_ms"].as_i64().unwrap() - unscoped["created_at_ms"].as_i64().unwrap();
    assert_eq!(lifetime, week_ms, "{unscoped}");

    let listed = cli.json(&["tokens", "list"]);
    let names: BTreeSet<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        names.is_superset(&BTreeSet::from(["bootstrap", "reader", "ci"])),
        "{listed}"
    );
    let table = cli.ok(&["tokens", "list"]);
    let reader_row = table.lines().find(|l| l.contains(" reader ")).unwrap();
    assert!(reader_row.ends_with("true"), "scoped: {table}");

    let id = secret.split('_').nth(1).unwrap();
    cli.json(&["tokens", "revoke", id]);
    let (status, _) = reader.call(Method::GET, &flags, None).await.unwrap();
    assert_eq!(status, 401, "a revoked token is refused");
}
