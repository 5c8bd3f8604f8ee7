//! `envs compare` and `flags promote` (`docs/environments.md`): a flag set up in staging is
//! compared with production in words, promoted part by part and then whole (after which the
//! two are the same), a misspelt part is refused by name, and a promotion into an environment
//! that requires approvals prints its change request.

use serde_json::json;
use switchyard_testkit::server::Method;
use switchyard_testkit::server::TestServer;

use super::{Cli, PROJECT};

pub(super) async fn environments_side_by_side(cli: &Cli, server: &TestServer) {
    let flags = format!("{PROJECT}/flags");
    server
        .admin_post(&flags, json!({"key": "promo", "kind": "boolean"}))
        .await;
    let staging = format!("{PROJECT}/environments/staging/flags/promo");
    let production = format!("{PROJECT}/environments/production/flags/promo");
    let body = json!({"version": 0, "on": true,
        "targets": [{"kind": "user", "variation": 0, "values": ["ann"]}],
        "fallthrough": {"variation": 1}});
    server.admin(Method::PUT, &staging, Some(body)).await;

    // In words, each side under its environment's name.
    let table = cli.ok(&[
        "envs",
        "compare",
        "staging",
        "production",
        "--flag",
        "promo",
    ]);
    assert!(
        table.starts_with("promo differs in on, targets, fallthrough (staging v1, production v0)"),
        "{table}"
    );
    for line in [
        "  on\n    staging     on\n    production  off\n",
        "  targets[kind=user]\n    staging     \"on\": ann\n    production  (none)\n",
        "  fallthrough\n    staging     variation \"off\"\n    production  variation \"on\"\n",
    ] {
        assert!(table.contains(line), "{line:?} in:\n{table}");
    }
    // Every flag, for scripts.
    let all = cli.json(&["envs", "compare", "staging", "production"]);
    let promo = all["flags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["flag"] == "promo")
        .unwrap();
    assert_eq!(promo["parts"], json!(["on", "targets", "fallthrough"]));

    // Only the targets: production stays off.
    let promoted = cli.json(&[
        "flags",
        "promote",
        "promo",
        "--from",
        "staging",
        "--to",
        "production",
        "--parts",
        "targets",
        "--comment",
        "ann first",
    ]);
    assert_eq!(
        (&promoted["targets"], &promoted["on"]),
        (
            &json!([{"kind": "user", "variation": 0, "values": ["ann"]}]),
            &json!(false)
        )
    );
    let audit = server
        .admin_get("/api/v1/audit?limit=1&resource=proj/default:env/production:flag/promo")
        .await;
    assert_eq!(
        audit["records"][0]["comment"],
        "promoted from staging: targets (ann first)"
    );
    let refused = cli.fails(
        &[
            "flags",
            "promote",
            "promo",
            "--from",
            "staging",
            "--to",
            "production",
            "--parts",
            "colours",
        ],
        2,
    );
    assert!(refused.contains("unknown part \"colours\""), "{refused}");

    // Everything: then the two are the same.
    cli.ok(&[
        "flags",
        "promote",
        "promo",
        "--from",
        "staging",
        "--to",
        "production",
    ]);
    let table = cli.ok(&[
        "envs",
        "compare",
        "staging",
        "production",
        "--flag",
        "promo",
    ]);
    assert_eq!(table, "the same in staging and production: promo\n");
    assert_eq!(server.admin_get(&production).await["on"], true);

    // Into an environment that requires an approval: the change request is printed.
    cli.ok(&["envs", "create", "gated", "--required-approvals", "1"]);
    let held = cli.run(&[
        "flags", "promote", "promo", "--from", "staging", "--to", "gated", "--parts", "on",
    ]);
    assert_eq!(held.code, Some(0), "{}", held.stderr);
    assert!(
        held.stderr.contains("waits for approval as change request"),
        "{}",
        held.stderr
    );
    let request: serde_json::Value = serde_json::from_str(&held.stdout).unwrap();
    let request = &request["change_request"];
    assert_eq!(
        (&request["operation"], &request["environment"]),
        (&json!("update_targeting"), &json!("gated"))
    );
    // Leave the server as the later steps expect it.
    let id = request["id"].as_str().unwrap();
    server
        .admin_post(
            &format!("{PROJECT}/change-requests/{id}/withdraw"),
            json!({}),
        )
        .await;
    server
        .admin(
            Method::DELETE,
            &format!("{PROJECT}/environments/gated"),
            None,
        )
        .await;
    server
        .admin(Method::DELETE, &format!("{flags}/promo"), None)
        .await;
}
