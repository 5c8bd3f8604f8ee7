//! An apply is all or nothing: a document with problems (the last flag's, a segment's) changes
//! nothing and names every one by file and field; a good one is one audit record; a stale
//! revision is refused; deletions need `prune`; each change is authorized as if made alone; a
//! running release's layer is left to the release.

use reqwest::Method;
use serde_json::{Value, json};
use switchyard_testkit::server::TestServer;

use super::{PROD, SHOP, audit_head, audited_since, build_shop, config_call, export, flag_mut};

pub(super) async fn apply_is_all_or_nothing(url: String) {
    let server = TestServer::in_process(&url).start().await;
    build_shop(&server).await;
    let admin = server.admin.clone();
    let exported = export(&server).await;
    let revision = exported["revision"].clone();
    let head = audit_head(&server).await;

    // Strict input: a misspelt field deep in a flag's targeting is named, never dropped.
    let mut typo = exported["config"].clone();
    flag_mut(&mut typo, "checkout")["environments"]["prod"]["rules"][0]["clauses"] = json!([]);
    let (status, answer) = config_call(&server, &admin, "apply", json!({"config": typo})).await;
    assert_eq!(status.as_u16(), 422, "{answer}");
    let field = answer["error"]["field"].as_str().unwrap();
    assert!(field.ends_with("rules[0].clauses"), "{field}");

    // A good change first (banner's name), then a last flag and a segment with problems.
    let mut config = exported["config"].clone();
    flag_mut(&mut config, "banner")["name"] = json!("Banner");
    let zeta = json!({"key": "zeta", "kind": "string", "salt": "5a17",
        "variations": [{"key": "a", "value": "A"}, {"key": "b", "value": "B"}],
        "environments": {"prod": {"on": true, "fallthrough": {"variation": 7}}}});
    config["flags"].as_array_mut().unwrap().push(zeta);
    let broken = json!({"environment": "prod", "key": "zz", "salt": "0a0b",
        "rules": [{"condition": {"op": "segment_match", "values": ["nope"]}}]});
    config["segments"].as_array_mut().unwrap().push(broken);
    let (status, answer) = config_call(&server, &admin, "apply", json!({"config": config})).await;
    assert_eq!(status.as_u16(), 422, "{answer}");
    let error = &answer["error"];
    assert_eq!(error["code"], "validation_failed");
    let problems: Vec<(String, String)> = error["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["file"].as_str().unwrap().into(),
                p["field"].as_str().unwrap().into(),
            )
        })
        .collect();
    let named = |file: &str, field: &str| {
        problems
            .iter()
            .any(|p| p.0 == file && p.1.starts_with(field))
    };
    assert!(named("flags/zeta.yaml", "off_variation"), "{problems:?}");
    assert!(
        named("flags/zeta.yaml", "environments.prod.fallthrough"),
        "{problems:?}"
    );
    assert!(named("segments/prod/zz.yaml", "rules[0]"), "{problems:?}");
    assert!(problems.len() >= 3, "{problems:?}");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("{} problems", problems.len())),
        "{message}"
    );
    assert!(message.contains("segments/prod/zz.yaml"), "{message}");
    // The plan says the same, and nothing changed: not the good part either.
    let (status, planned) = config_call(&server, &admin, "plan", json!({"config": config})).await;
    assert_eq!(status.as_u16(), 422, "{planned}");
    assert_eq!(planned["error"]["problems"], error["problems"]);
    assert_eq!(export(&server).await["revision"], revision);
    assert_eq!(audit_head(&server).await["seq"], head["seq"]);

    // Only the good change, expecting the exported revision: one audit record.
    let mut config = exported["config"].clone();
    flag_mut(&mut config, "banner")["name"] = json!("Banner");
    let body = json!({"config": config, "expect_revision": revision, "comment": "rename"});
    let (status, applied) = config_call(&server, &admin, "apply", body.clone()).await;
    assert!(status.is_success(), "{status} {applied}");
    let records = audited_since(&server, &head["seq"]).await;
    assert_eq!(records.len(), 1, "{records:?}");
    let record = &records[0];
    assert_eq!(
        (&record["action"], &record["resource"], &record["comment"]),
        (
            &json!("config:apply"),
            &json!("proj/shop"),
            &json!("rename")
        )
    );
    assert_eq!(record["after"], applied["plan"]["changes"]);
    assert_eq!(
        record["after"][0]["fields"],
        json!([{"field": "name", "after": "Banner"}])
    );
    let moved = export(&server).await["revision"].clone();
    assert_ne!(moved, revision);
    assert_eq!(applied["revision"], moved);

    // The same body again: its revision is stale now, so 409 and nothing changes.
    let head = audit_head(&server).await;
    let mut stale = body.clone();
    flag_mut(&mut stale["config"], "banner")["name"] = json!("Stale");
    let (status, answer) = config_call(&server, &admin, "apply", stale).await;
    assert_eq!(status.as_u16(), 409, "{answer}");
    assert_eq!(answer["error"]["field"], "expect_revision");
    assert_eq!(export(&server).await["revision"], moved);
    assert_eq!(audit_head(&server).await["seq"], head["seq"]);

    // Banner left out: without prune it is unmanaged and stays; with prune it goes.
    let mut config = export(&server).await["config"].clone();
    config["flags"]
        .as_array_mut()
        .unwrap()
        .retain(|f| f["key"] != "banner");
    let (status, plan) = config_call(&server, &admin, "plan", json!({"config": config})).await;
    assert!(status.is_success(), "{status} {plan}");
    assert_eq!(plan["changes"], json!([]));
    assert_eq!(plan["unmanaged"], json!(["proj/shop:flag/banner"]));
    let (status, applied) = config_call(&server, &admin, "apply", json!({"config": config})).await;
    assert!(status.is_success(), "{status} {applied}");
    assert_eq!(
        server.admin_get(&format!("{SHOP}/flags/banner")).await["key"],
        "banner"
    );
    let body = json!({"config": config, "prune": true});
    let (status, plan) = config_call(&server, &admin, "plan", body.clone()).await;
    assert!(status.is_success(), "{status} {plan}");
    let actions: Vec<(&str, &str)> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["resource"].as_str().unwrap(),
                c["action"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("proj/shop:flag/banner", "delete"),
            ("proj/shop:env/prod:flag/banner", "delete")
        ]
    );
    let (status, applied) = config_call(&server, &admin, "apply", body).await;
    assert!(status.is_success(), "{status} {applied}");
    let (status, _) = server
        .call(
            Some(&admin),
            Method::GET,
            &format!("{SHOP}/flags/banner"),
            None,
        )
        .await;
    assert_eq!(status.as_u16(), 404);
    assert_eq!(export(&server).await["config"], config);
    server.stop().await;
}

/// The document with checkout's targeting in `env` turned off.
fn turned_off(config: &Value, envs: &[&str]) -> Value {
    let mut config = config.clone();
    for env in envs {
        flag_mut(&mut config, "checkout")["environments"][env]["on"] = json!(false);
    }
    config
}

pub(super) async fn each_change_is_authorized(url: String) {
    let server = TestServer::in_process(&url).start().await;
    build_shop(&server).await;
    let account =
        json!({"name": "dana", "roles": ["writer"], "password": "a long enough password"});
    server.admin_post("/api/v1/accounts", account).await;
    let token = json!({"name": "dev only", "account": "dana", "statements": [
        {"effect": "allow", "actions": ["*"], "resources": ["proj/shop:env/dev:**"]}]});
    let dev_only = server.admin_post("/api/v1/tokens", token).await;
    let dev_only = dev_only["token"].as_str().unwrap().to_owned();
    let exported = export(&server).await;

    // Changing dev and prod: refused whole, naming prod's targeting, audited as denied.
    let both = turned_off(&exported["config"], &["dev", "prod"]);
    let (status, answer) = config_call(&server, &dev_only, "apply", json!({"config": both})).await;
    assert_eq!(status.as_u16(), 403, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("proj/shop:env/prod:flag/checkout"),
        "{message}"
    );
    let denied = audit_head(&server).await;
    assert_eq!(
        (&denied["outcome"], &denied["action"], &denied["resource"]),
        (
            &json!("denied"),
            &json!("flag:toggle"),
            &json!("proj/shop:env/prod:flag/checkout")
        )
    );
    assert_eq!(export(&server).await, exported, "nothing changed");
    // Its plan needs read on the whole project, which the token does not have.
    let (status, _) = config_call(&server, &dev_only, "plan", json!({"config": both})).await;
    assert_eq!(status.as_u16(), 403);

    // Dev alone is the token's to change.
    let dev = turned_off(&exported["config"], &["dev"]);
    let (status, applied) = config_call(&server, &dev_only, "apply", json!({"config": dev})).await;
    assert!(status.is_success(), "{status} {applied}");
    assert_eq!(export(&server).await["config"], dev);
    server.stop().await;
}

pub(super) async fn release_layers_stay_with_their_release(url: String) {
    let server = TestServer::in_process(&url).start().await;
    build_shop(&server).await;
    let admin = server.admin.clone();
    // Banner's prod fallthrough becomes a release layer (a long bake: it stays at stage 0).
    let release = json!({"flag": "banner", "variation": "red",
        "stages": [{"percent": 50, "min_bake_s": 3600}]});
    let started = server
        .admin_post(&format!("{PROD}/releases"), release)
        .await;
    let id = started["id"].as_str().unwrap().to_owned();
    let exported = export(&server).await;
    let layer =
        &flag_mut(&mut exported["config"].clone(), "banner")["environments"]["prod"]["fallthrough"]
            ["release"]
            .clone();
    assert_eq!(layer["weight"], 50000, "{layer}");

    // Its weight changed in the document: refused, naming the release.
    let mut config = exported["config"].clone();
    flag_mut(&mut config, "banner")["environments"]["prod"]["fallthrough"]["release"]["weight"] =
        json!(100000);
    let (status, answer) = config_call(&server, &admin, "apply", json!({"config": config})).await;
    assert_eq!(status.as_u16(), 409, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains(&format!("release {id}")), "{message}");
    assert_eq!(export(&server).await, exported);

    // The same layer with another change to the targeting is the document's to make.
    let mut config = exported["config"].clone();
    flag_mut(&mut config, "banner")["environments"]["prod"]["targets"] =
        json!([{"kind": "user", "variation": 0, "values": ["carol"]}]);
    let (status, applied) = config_call(&server, &admin, "apply", json!({"config": config})).await;
    assert!(status.is_success(), "{status} {applied}");
    assert_eq!(export(&server).await["config"], config);
    server.stop().await;
}
