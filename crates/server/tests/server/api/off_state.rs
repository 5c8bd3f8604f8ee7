//! The explicit off state (`product.md`, "Off state"): a non-boolean flag names the variation it
//! serves when off (booleans default to `false`), environments inherit it, turning off, a kill
//! and an archived prerequisite serve it and say so; and a database an earlier version wrote
//! (no off variations, environments never edited serving the last variation) is upgraded at
//! start, audited, without changing what anyone is served.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchyard_engine::eval::Env;
use switchyard_engine::{Context, Snapshot};
use switchyard_server::records::EnvData;
use switchyard_store::{AuditRecord, Expected, Store, Write};
use switchyard_testkit::server::TestServer;

switchyard_testkit::backend_tests![off_state];

const FLAGS: &str = "/api/v1/projects/default/flags";
const PROD: &str = "/api/v1/projects/default/environments/production";
const STAGING: &str = "/api/v1/projects/default/environments/staging";

async fn off_state(url: String) {
    let server = TestServer::in_process(&url).start().await;
    creating_a_flag_names_its_off_variation(&server).await;
    off_kill_and_targeting_serve_it(&server).await;
    an_archived_prerequisite_is_off(&server).await;
    imported_flags_keep_their_origins_off(&server).await;

    // A database as the previous version left it: old-form flags, no upgrade marker.
    let store = server.state().unwrap().store.clone();
    write_previous_version_data(&store).await;
    let admin = server.admin.clone();
    server.stop().await;

    let server = TestServer::in_process(&url).admin(&admin).start().await;
    let store = server.state().unwrap().store.clone();
    let before = expected_when_off();
    assert_eq!(
        served_when_off(&store).await,
        before,
        "nothing served changes"
    );
    for (flag, off) in [
        ("legacy-model", "large"),
        ("legacy-null", "b"),
        ("legacy-bool", "off"),
        ("legacy-ld", "2"),
    ] {
        let stored = server.admin_get(&format!("{FLAGS}/{flag}")).await;
        assert_eq!(stored["off_variation"], off, "{flag}: {stored}");
    }
    let staging = server
        .admin_get(&format!("{STAGING}/flags/legacy-model"))
        .await;
    assert_eq!(
        staging["serves_when_off"],
        json!({"variation": "large", "value": "gpt-large"})
    );
    let upgrades = upgrade_records(&server).await;
    assert_eq!(upgrades.len(), 1, "{upgrades:?}");
    let record = &upgrades[0];
    assert_eq!(record["action"], "flag:upgrade-off-variation");
    let after = &record["after"];
    let model = after["flags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["flag"] == "legacy-model")
        .unwrap();
    assert_eq!(model["off_variation"], "large");
    assert_eq!(model["environments_with_their_own"]["production"], "small");
    // Stored targeting without an off variation keeps the caller's default, and says so.
    assert_eq!(
        after["callers_default"],
        json!(["default/production/legacy-null"])
    );
    assert_eq!(
        after["archived_on"],
        json!(["default/production/legacy-archived"])
    );
    assert!(
        record["comment"]
            .as_str()
            .unwrap()
            .contains("caller's default"),
        "{record}"
    );
    server.stop().await;

    // Once only: another start finds the marker and changes nothing.
    let server = TestServer::in_process(&url).admin(&admin).start().await;
    assert_eq!(upgrade_records(&server).await.len(), 1);
    let store = server.state().unwrap().store.clone();
    assert_eq!(served_when_off(&store).await, before);
    server.stop().await;
}

async fn refused(server: &TestServer, method: Method, path: &str, body: Value) -> Value {
    let (status, answer) = server
        .call(Some(&server.admin), method, path, Some(body))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["error"]["code"], "validation_failed", "{answer}");
    answer["error"].clone()
}

fn model_flag() -> Value {
    json!({"key": "model", "kind": "json", "variations": [
        {"key": "small", "value": {"model": "small"}},
        {"key": "large", "value": {"model": "large"}}]})
}

async fn creating_a_flag_names_its_off_variation(server: &TestServer) {
    // No silent default for anything but a boolean.
    let error = refused(server, Method::POST, FLAGS, model_flag()).await;
    assert_eq!(error["field"], "off_variation", "{error}");
    assert!(
        error["message"].as_str().unwrap().contains("small, large"),
        "the refusal lists the keys to choose from: {error}"
    );
    let mut unknown = model_flag();
    unknown["off_variation"] = json!("medium");
    let error = refused(server, Method::POST, FLAGS, unknown).await;
    assert_eq!(error["field"], "off_variation", "{error}");

    let mut model = model_flag();
    model["off_variation"] = json!("small");
    let created = server.admin_post(FLAGS, model).await;
    assert_eq!(created["off_variation"], "small");
    // Every environment inherits it: off, serving `small` (index 0, not the last variation).
    for env in ["production", "staging"] {
        assert_eq!(
            created["environments"][env]["off_variation"], 0,
            "{created}"
        );
    }

    // Booleans default to their `false` variation, wherever it is.
    let boolean = server
        .admin_post(FLAGS, json!({"key": "switch", "kind": "boolean"}))
        .await;
    assert_eq!(boolean["off_variation"], "off");
    let reversed = server
        .admin_post(
            FLAGS,
            json!({"key": "reversed", "kind": "boolean", "variations": [
                {"key": "no", "value": false}, {"key": "yes", "value": true}]}),
        )
        .await;
    assert_eq!(reversed["off_variation"], "no");
    assert_eq!(reversed["environments"]["staging"]["off_variation"], 0);

    // An update without the field keeps it; variations that drop its key are refused.
    let mut update = model_flag();
    update["version"] = json!(1);
    update["description"] = json!("which model answers");
    let updated = server
        .admin(Method::PUT, &format!("{FLAGS}/model"), Some(update))
        .await;
    assert_eq!(updated["off_variation"], "small");
    let renamed = json!({"key": "model", "kind": "json", "version": 2, "variations": [
        {"key": "tiny", "value": {"model": "small"}}, {"key": "large", "value": {"model": "large"}}]});
    let error = refused(server, Method::PUT, &format!("{FLAGS}/model"), renamed).await;
    assert_eq!(error["field"], "off_variation", "{error}");
}

async fn off_kill_and_targeting_serve_it(server: &TestServer) {
    let path = format!("{PROD}/flags/model");
    // Targeting written without an off variation inherits the flag's, stored explicitly.
    let written = server
        .admin(
            Method::PUT,
            &path,
            Some(json!({"version": 0, "on": true, "fallthrough": {"variation": 1}})),
        )
        .await;
    assert_eq!(written["off_variation"], 0, "{written}");
    let small = json!({"variation": "small", "value": {"model": "small"}});
    assert_eq!(written["serves_when_off"], small);
    // Turning off and killing name what everyone now gets.
    let off = server
        .admin_post(&format!("{path}/toggle"), json!({"on": false}))
        .await;
    assert_eq!(
        (&off["on"], &off["serves_when_off"]),
        (&json!(false), &small)
    );
    server
        .admin_post(&format!("{path}/toggle"), json!({"on": true}))
        .await;
    let killed = server
        .admin_post(&format!("{path}/kill"), json!({"comment": "drill"}))
        .await;
    assert_eq!(killed["serves_when_off"], small, "{killed}");
    let store = &server.state().unwrap().store;
    let (variation, reason) = evaluate(store, "production", "model").await;
    assert_eq!(
        (variation.as_deref(), reason.as_str()),
        (Some("small"), "OFF")
    );
    // An environment may choose another.
    let staging = server
        .admin(
            Method::PUT,
            &format!("{STAGING}/flags/model"),
            Some(json!({"version": 0, "on": false, "off_variation": 1,
                        "fallthrough": {"variation": 0}})),
        )
        .await;
    assert_eq!(staging["serves_when_off"]["variation"], "large");
}

async fn an_archived_prerequisite_is_off(server: &TestServer) {
    server
        .admin_post(FLAGS, json!({"key": "base", "kind": "boolean"}))
        .await;
    server
        .admin_post(FLAGS, json!({"key": "dependent", "kind": "boolean"}))
        .await;
    let on = |prerequisites: Value| {
        json!({"version": 0, "on": true, "fallthrough": {"variation": 0},
               "prerequisites": prerequisites})
    };
    for (flag, body) in [
        ("base", on(json!([]))),
        ("dependent", on(json!([{"key": "base", "variation": 0}]))),
    ] {
        server
            .admin(Method::PUT, &format!("{PROD}/flags/{flag}"), Some(body))
            .await;
    }
    let store = &server.state().unwrap().store;
    let (variation, reason) = evaluate(store, "production", "dependent").await;
    assert_eq!(
        (variation.as_deref(), reason.as_str()),
        (Some("on"), "FALLTHROUGH")
    );

    // Archived while `dependent` requires it, so only when forced.
    server
        .admin_post(&format!("{FLAGS}/base/archive"), json!({"force": true}))
        .await;
    let (variation, reason) = evaluate(store, "production", "base").await;
    assert_eq!(
        (variation.as_deref(), reason.as_str()),
        (Some("off"), "OFF")
    );
    let (variation, reason) = evaluate(store, "production", "dependent").await;
    assert_eq!(
        (variation.as_deref(), reason.as_str()),
        (Some("off"), "PREREQUISITE_FAILED")
    );
}

/// A LaunchDarkly flag may have no off variation: off, it serves the caller's default (its
/// `offVariation: null`), and targeting written without one keeps that meaning.
async fn imported_flags_keep_their_origins_off(server: &TestServer) {
    let created = server
        .admin_post(
            FLAGS,
            json!({"key": "ld-flag", "kind": "string", "dialect": "launchdarkly",
                   "variations": [{"key": "a", "value": "x"}, {"key": "b", "value": "y"}]}),
        )
        .await;
    assert!(created["off_variation"].is_null(), "{created}");
    let written = server
        .admin(
            Method::PUT,
            &format!("{PROD}/flags/ld-flag"),
            Some(json!({"version": 0, "on": false, "fallthrough": {"variation": 1}})),
        )
        .await;
    assert!(written["off_variation"].is_null(), "{written}");
    assert!(written["serves_when_off"].is_null(), "{written}");
    let store = &server.state().unwrap().store;
    for env in ["production", "staging"] {
        let (variation, reason) = evaluate(store, env, "ld-flag").await;
        assert_eq!((variation, reason.as_str()), (None, "OFF"), "{env}");
    }
}

/// One environment's flag evaluated the way delivery serves it: the variation's key (`None`:
/// the caller's default) and the reason.
async fn evaluate(store: &Store, env: &str, flag: &str) -> (Option<String>, String) {
    let data = EnvData::load(store, "default", env).await.unwrap();
    let snapshot = Snapshot::compile(&data.dataset());
    let context = Context::from_json(&json!({"key": "user-1"})).unwrap();
    let env = Env {
        now_ms: 0,
        random: 0,
    };
    let evaluation = snapshot.evaluate(flag, &context, &env);
    let key = evaluation.variation.map(|v| v.key.clone());
    (key, evaluation.reason.kind_name().to_owned())
}

/// What each old-form flag serves when off, in each environment.
async fn served_when_off(store: &Store) -> Vec<(String, Option<String>)> {
    let mut served = Vec::new();
    for flag in ["legacy-model", "legacy-null", "legacy-bool", "legacy-ld"] {
        for env in ["production", "staging"] {
            let (variation, reason) = evaluate(store, env, flag).await;
            assert_eq!(reason, "OFF", "{flag} in {env}");
            served.push((format!("{flag}/{env}"), variation));
        }
    }
    served
}

/// What the previous version served: an explicit index as stored, `null` the caller's
/// default, and an environment never edited the last variation.
fn expected_when_off() -> Vec<(String, Option<String>)> {
    [
        ("legacy-model/production", Some("small")),
        ("legacy-model/staging", Some("large")),
        ("legacy-null/production", None),
        ("legacy-null/staging", Some("b")),
        ("legacy-bool/production", Some("off")),
        ("legacy-bool/staging", Some("off")),
        ("legacy-ld/production", Some("2")),
        ("legacy-ld/staging", Some("2")),
    ]
    .into_iter()
    .map(|(at, key)| (at.to_owned(), key.map(str::to_owned)))
    .collect()
}

/// Documents as the previous version stored them (no `off_variation` on flags), written to
/// the store directly, and the upgrade marker removed as if it had never run.
async fn write_previous_version_data(store: &Store) {
    let flag = |key: &str, kind: &str, variations: Value, extra: Value| {
        let mut body = json!({"key": key, "kind": kind, "variations": variations,
            "salt": "5eed", "tags": [], "temporary": false, "client_visible": false,
            "archived": false});
        for (field, value) in extra.as_object().unwrap() {
            body[field] = value.clone();
        }
        ("flag", "default", key.to_owned(), body)
    };
    let strings = |keys: &[&str], prefix: &str| {
        let variations: Vec<Value> = keys
            .iter()
            .map(|k| json!({"key": k, "value": format!("{prefix}-{k}")}))
            .collect();
        json!(variations)
    };
    let booleans = json!([{"key": "on", "value": true}, {"key": "off", "value": false}]);
    let targeting =
        |flag: &str, body: Value| ("targeting", "default/production", flag.to_owned(), body);
    let documents = [
        flag(
            "legacy-model",
            "string",
            strings(&["small", "medium", "large"], "gpt"),
            json!({}),
        ),
        targeting(
            "legacy-model",
            json!({"on": false, "off_variation": 0, "fallthrough": {"variation": 1}}),
        ),
        flag(
            "legacy-null",
            "string",
            strings(&["a", "b"], "v"),
            json!({}),
        ),
        targeting(
            "legacy-null",
            json!({"on": false, "off_variation": null, "fallthrough": {"variation": 0}}),
        ),
        flag("legacy-bool", "boolean", booleans.clone(), json!({})),
        flag(
            "legacy-ld",
            "number",
            json!([{"key": "0", "value": 1}, {"key": "1", "value": 2}, {"key": "2", "value": 3}]),
            json!({"dialect": "launchdarkly"}),
        ),
        flag(
            "legacy-archived",
            "boolean",
            booleans,
            json!({"archived": true}),
        ),
        targeting(
            "legacy-archived",
            json!({"on": true, "off_variation": 1, "fallthrough": {"variation": 0}}),
        ),
    ];
    let mut writes: Vec<Write> = documents
        .into_iter()
        .map(|(kind, scope, key, body)| Write::Put {
            kind: kind.into(),
            scope: scope.into(),
            key,
            body,
            expected: Expected::Absent,
        })
        .collect();
    writes.push(Write::Delete {
        kind: "upgrade".into(),
        scope: String::new(),
        key: "explicit-off-variation".into(),
        expected: Expected::Any,
    });
    let audit = AuditRecord {
        at_ms: 0,
        actor: json!({"kind": "system", "id": "test"}),
        action: "test:previous-version-data".into(),
        resource: "test".into(),
        outcome: "allowed".into(),
        before: None,
        after: None,
        comment: None,
        request_id: None,
    };
    store.commit(&writes, &audit).await.unwrap();
}

async fn upgrade_records(server: &TestServer) -> Vec<Value> {
    let page = server.admin_get("/api/v1/audit?resource=upgrade/").await;
    page["records"].as_array().unwrap().clone()
}
