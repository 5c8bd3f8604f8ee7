//! Data files: `import` (native YAML and JSON, LaunchDarkly, Unleash), `validate` and `eval`.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{Value, json};
use switchyard_testkit::server::TestServer;

use super::{Cli, PROJECT, ofrep, repo, write};

/// `import` of native YAML and JSON, LaunchDarkly and Unleash data into `staging`, and
/// `eval`/`validate` on the same files: what the server serves is what `eval` says offline.
pub(super) async fn imports_and_offline_evaluation(cli: &Cli, server: &TestServer, dir: &Path) {
    let yaml = repo("examples/flags.yaml");
    let out = cli.ok(&["import", "--data", &yaml, "--env", "staging"]);
    assert_eq!(
        out.trim(),
        "imported 2 flags and 1 segments into default/staging"
    );
    let staging = format!("{PROJECT}/environments/staging");
    let imported = server
        .admin_get(&format!("{staging}/flags/new-checkout"))
        .await;
    let rule_ids: Vec<&Value> = imported["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["id"])
        .collect();
    assert_eq!(
        rule_ids,
        [&json!("staff"), &json!("beta"), &json!("eu-gold")]
    );
    let beta = server.admin_get(&format!("{staging}/segments/beta")).await;
    assert_eq!(beta["included"][0]["values"], json!(["carol"]));
    // Production keeps its own targeting: the flag is new there, and off.
    let production = format!("{PROJECT}/environments/production/flags/new-checkout");
    assert_eq!(server.admin_get(&production).await["on"], false);
    // A re-import keeps a flag's archived state (an update may not flip it).
    let flag = format!("{PROJECT}/flags/new-checkout");
    let force = json!({"force": true});
    server.admin_post(&format!("{flag}/archive"), force).await;
    cli.ok(&["import", "--data", &yaml, "--env", "staging"]);
    assert_eq!(server.admin_get(&flag).await["archived"], true);
    server
        .admin_post(&format!("{flag}/restore"), json!({}))
        .await;

    // Native JSON, with a prerequisite (the conformance files hold deliberately broken flags,
    // which the server refuses).
    let native = json!({"segments": [], "flags": [
        {"key": "plan", "kind": "string", "on": true, "off_variation": 0,
         "variations": [{"key": "free", "value": "free"}, {"key": "pro", "value": "pro"}],
         "targets": [{"kind": "user", "variation": 1, "values": ["pat"]}],
         "fallthrough": {"variation": 0}},
        {"key": "pro-tools", "kind": "boolean", "on": true, "off_variation": 0,
         "variations": [{"key": "off", "value": false}, {"key": "on", "value": true}],
         "prerequisites": [{"key": "plan", "variation": 1}], "fallthrough": {"variation": 1}}]});
    let native_json = write(dir, "native.json", &native);
    let summary = cli.json(&["import", "--data", &native_json, "--env", "staging"]);
    assert_eq!(
        (&summary["flags"], &summary["environment"]),
        (&json!(2), &json!("staging"))
    );
    let plan = server.admin_get(&format!("{PROJECT}/flags/plan")).await;
    assert_eq!(plan["off_variation"], "free", "{plan}");
    let gate = server
        .admin_get(&format!("{staging}/flags/pro-tools"))
        .await;
    assert_eq!(gate["prerequisites"][0]["key"], "plan", "{gate}");

    let launchdarkly = write(
        dir,
        "launchdarkly.json",
        &json!({
        "flags": {
            "ld-checkout": {"key": "ld-checkout", "on": true, "variations": [false, true],
                "offVariation": 0, "fallthrough": {"variation": 0},
                "targets": [{"values": ["alice"], "variation": 1}],
                "rules": [{"id": "beta", "variation": 1, "clauses": [
                    {"attribute": "key", "op": "segmentMatch", "values": ["ld-beta"], "negate": false}]}],
                "prerequisites": [], "salt": "s1", "version": 4},
            "ld-banner": {"key": "ld-banner", "on": false, "variations": ["hello", "hallo"],
                "offVariation": 1, "fallthrough": {"variation": 0}, "targets": [], "rules": [],
                "prerequisites": [{"key": "ld-checkout", "variation": 1}], "salt": "s2", "version": 1}},
        "segments": {"ld-beta": {"key": "ld-beta", "included": ["bob"], "excluded": [],
            "rules": [], "salt": "x", "version": 1}}}),
    );
    let out = cli.ok(&[
        "import",
        "--data",
        &launchdarkly,
        "--format",
        "launchdarkly",
        "--env",
        "staging",
    ]);
    assert_eq!(
        out.trim(),
        "imported 2 flags and 1 segments into default/staging"
    );
    assert_eq!(
        server
            .admin_get(&format!("{PROJECT}/flags/ld-banner"))
            .await["off_variation"],
        "1"
    );
    assert_eq!(
        server
            .admin_get(&format!("{staging}/segments/ld-beta"))
            .await["key"],
        "ld-beta"
    );

    let unleash = write(
        dir,
        "unleash.json",
        &json!({"version": 2, "segments": [], "features": [
        {"name": "un-search", "enabled": true, "variants": [], "strategies": [{"name": "flexibleRollout",
            "parameters": {"rollout": "100", "stickiness": "default", "groupId": "un-search"},
            "constraints": [{"contextName": "country", "operator": "IN", "values": ["DE"]}]}]},
        {"name": "un-dark", "enabled": false, "strategies": [{"name": "default", "parameters": {}}]}]}),
    );
    let summary = cli.json(&[
        "import", "--data", &unleash, "--format", "unleash", "--env", "staging",
    ]);
    assert_eq!(
        (&summary["flags"], &summary["segments"]),
        (&json!(2), &json!(0)),
        "{summary}"
    );
    assert_eq!(
        server.admin_get(&format!("{staging}/flags/un-dark")).await["on"],
        false
    );

    // Each file is valid, and a broken one is refused with its field and exit status 1.
    for (file, format) in [
        (&yaml, "native"),
        (&native_json, "native"),
        (&launchdarkly, "launchdarkly"),
        (&unleash, "unleash"),
    ] {
        let out = cli.ok(&["validate", "--data", file, "--format", format]);
        assert!(out.starts_with("ok: "), "{file}: {out}");
    }
    let broken = write(
        dir,
        "broken.json",
        &json!({"flags": [{"key": "b", "kind": "boolean",
        "variations": [{"key": "off", "value": false}, {"key": "on", "value": true}],
        "on": true, "off_variation": 0, "fallthrough": {"variation": 7}}]}),
    );
    let ran = cli.run(&["validate", "--data", &broken]);
    assert_eq!(ran.code, Some(1), "{}{}", ran.stdout, ran.stderr);
    assert!(ran.stdout.contains("fallthrough"), "{}", ran.stdout);

    // The server serves what `eval` computes offline from the same file (OpenFeature contexts:
    // `targetingKey` is the key, and an Unleash `userId`).
    let key = server
        .admin_post(&format!("{staging}/sdk-keys"), json!({"kind": "server"}))
        .await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let cases = [
        (
            &yaml,
            "native",
            "new-checkout",
            json!({"key": "dana", "email": "dana@corp.example"}),
            json!({"targetingKey": "dana", "email": "dana@corp.example"}),
        ),
        (
            &yaml,
            "native",
            "new-checkout",
            json!({"key": "carol"}),
            json!({"targetingKey": "carol"}),
        ),
        (
            &yaml,
            "native",
            "new-checkout",
            json!({"key": "erin"}),
            json!({"targetingKey": "erin"}),
        ),
        (
            &yaml,
            "native",
            "checkout-model",
            json!({"key": "erin", "plan": "pro"}),
            json!({"targetingKey": "erin", "plan": "pro"}),
        ),
        (
            &native_json,
            "native",
            "pro-tools",
            json!({"key": "pat"}),
            json!({"targetingKey": "pat"}),
        ),
        (
            &native_json,
            "native",
            "pro-tools",
            json!({"key": "sam"}),
            json!({"targetingKey": "sam"}),
        ),
        (
            &launchdarkly,
            "launchdarkly",
            "ld-checkout",
            json!({"kind": "user", "key": "bob"}),
            json!({"targetingKey": "bob"}),
        ),
        (
            &launchdarkly,
            "launchdarkly",
            "ld-checkout",
            json!({"kind": "user", "key": "zoe"}),
            json!({"targetingKey": "zoe"}),
        ),
        (
            &launchdarkly,
            "launchdarkly",
            "ld-banner",
            json!({"kind": "user", "key": "alice"}),
            json!({"targetingKey": "alice"}),
        ),
        (
            &unleash,
            "unleash",
            "un-search",
            json!({"userId": "u1", "properties": {"country": "DE"}}),
            json!({"targetingKey": "u1", "country": "DE"}),
        ),
        (
            &unleash,
            "unleash",
            "un-search",
            json!({"userId": "u1", "properties": {"country": "FR"}}),
            json!({"targetingKey": "u1", "country": "FR"}),
        ),
    ];
    let mut values = BTreeSet::new();
    for (file, format, flag, context, openfeature) in cases {
        let context = context.to_string();
        let args = [
            "eval",
            "--data",
            file,
            "--format",
            format,
            "--flag",
            flag,
            "--context",
            &context,
        ];
        let offline: Value = serde_json::from_str(&cli.ok(&args)).unwrap();
        let served = ofrep(&server.base, &key, flag, &openfeature).await;
        assert_eq!(
            served["value"], offline["value"],
            "{flag} for {context}: {served} vs {offline}"
        );
        values.insert(offline["value"].to_string());
    }
    assert!(
        values.len() >= 3,
        "the cases serve different values: {values:?}"
    );
}
