//! The evaluation playground and onboarding's activity check (issue 24): every reason with what
//! decided it and a sentence in words, strict input, flags a reader may not read left out,
//! nothing recorded or audited; and the activity summary before and after a real OFREP
//! evaluation.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchyard_testkit::server::{DeliveryConfig, SdkKeyKind, TestServer, wait_for};

use crate::PROD;

switchyard_testkit::backend_tests! {
    sqlite: [playground_explains_every_reason, activity_follows_real_evaluations],
    postgres: [activity_follows_real_evaluations],
}

const FLAGS: &str = "/api/v1/projects/default/flags";

fn boolean(key: &str) -> Value {
    json!({"key": key, "kind": "boolean", "variations": [
        {"key": "on", "value": true, "name": "On"},
        {"key": "off", "value": false, "name": "Off"}]})
}

async fn target(server: &TestServer, flag: &str, targeting: Value) {
    let path = format!("{PROD}/flags/{flag}");
    let version = server.admin_get(&path).await["version"].clone();
    let mut body = targeting;
    body["version"] = version;
    server.admin(Method::PUT, &path, Some(body)).await;
}

/// `checkout`: a target, a segment rule, a 25/75 rollout rule for Germany, `Off` otherwise;
/// `dependent` requires `gate` to serve `On`, which it does not; `model` is off; `retired` is
/// archived; `secret` is there for the reader who may not read it.
async fn seed(server: &TestServer) {
    for key in ["checkout", "gate", "dependent", "retired", "secret"] {
        server.admin_post(FLAGS, boolean(key)).await;
    }
    server
        .admin_post(
            FLAGS,
            json!({"key": "model", "kind": "string", "off_variation": "small", "variations": [
                {"key": "small", "value": "gpt-small", "name": "Small"},
                {"key": "large", "value": "gpt-large", "name": "Large"}]}),
        )
        .await;
    server
        .admin_post(
            &format!("{PROD}/segments"),
            json!({"key": "beta", "included": [{"kind": "user", "values": ["u-beta"]}]}),
        )
        .await;
    target(
        server,
        "checkout",
        json!({"on": true, "off_variation": 1, "fallthrough": {"variation": 1},
            "targets": [{"kind": "user", "variation": 0, "values": ["u-target"]}],
            "rules": [
                {"id": "beta-users", "condition": {"op": "segment_match", "values": ["beta"]},
                 "serve": {"variation": 0}},
                {"id": "germany", "condition": {"attribute": "country", "op": "in", "values": ["de"]},
                 "serve": {"rollout": {"variations": [
                     {"variation": 0, "weight": 25000}, {"variation": 1, "weight": 75000}]}}}]}),
    )
    .await;
    target(
        server,
        "gate",
        json!({"on": true, "off_variation": 1, "fallthrough": {"variation": 1}}),
    )
    .await;
    target(
        server,
        "dependent",
        json!({"on": true, "off_variation": 1, "fallthrough": {"variation": 0},
            "prerequisites": [{"key": "gate", "variation": 0}]}),
    )
    .await;
    server
        .admin_post(&format!("{FLAGS}/retired/archive"), json!({}))
        .await;
}

async fn evaluate(server: &TestServer, token: &str, body: Value) -> (StatusCode, Value) {
    let path = format!("{PROD}/evaluate");
    server
        .call(Some(token), Method::POST, &path, Some(body))
        .await
}

/// The one answer for `flag` and `context`, as the admin sees it.
async fn answer(server: &TestServer, flag: &str, context: Value) -> Value {
    let body = json!({"context": context, "flag": flag});
    let (status, answer) = evaluate(server, &server.admin, body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["environment"], "production");
    let evaluations = answer["evaluations"].as_array().unwrap();
    assert_eq!(evaluations.len(), 1, "{answer}");
    evaluations[0].clone()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn explanation(answer: &Value) -> &str {
    answer["explanation"].as_str().unwrap()
}

async fn newest_audit_seq(server: &TestServer) -> Value {
    server.admin_get("/api/v1/audit?limit=1").await["records"][0]["seq"].clone()
}

async fn playground_explains_every_reason(url: String) {
    let server = TestServer::in_process(&url).start().await;
    seed(&server).await;
    let key = server.sdk_key(SdkKeyKind::Server).await;
    let audited = newest_audit_seq(&server).await;

    // Every flag the environment delivers, by key: the archived one is not among them.
    let everything = json!({"context": {"targetingKey": "u-x"}});
    let keys = wait_for("the playground to serve the seeded flags", 20, || async {
        let (status, all) = evaluate(&server, &server.admin, everything.clone()).await;
        assert_eq!(status, StatusCode::OK, "{all}");
        let keys: Vec<String> = all["evaluations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["flag"].as_str().unwrap().to_owned())
            .collect();
        (keys.len() == 5).then_some(keys)
    })
    .await;
    assert_eq!(keys, ["checkout", "dependent", "gate", "model", "secret"]);

    // An individual target.
    let targeted = answer(&server, "checkout", json!({"targetingKey": "u-target"})).await;
    assert_eq!(targeted["reason"], "TARGET_MATCH", "{targeted}");
    assert_eq!(targeted["value"], true);
    assert_eq!(targeted["variation"], "on");
    assert_eq!(targeted["variation_name"], "On");
    assert_eq!(
        targeted["target"],
        json!({"kind": "user", "key": "u-target"})
    );
    assert_eq!(
        explanation(&targeted),
        "user u-target is an individual target of this flag, so On (true)."
    );

    // A rule testing a segment the context is in (a native context).
    let beta = answer(
        &server,
        "checkout",
        json!({"kind": "user", "key": "u-beta"}),
    )
    .await;
    assert_eq!(beta["reason"], "RULE_MATCH", "{beta}");
    assert_eq!(beta["rule_id"], "beta-users");
    assert_eq!(beta["rule_index"], 0);
    assert_eq!(beta["rule_description"], "in segment \"beta\"");
    assert_eq!(beta["segments"], json!(["beta"]));
    assert_eq!(beta["target"], Value::Null);
    assert_eq!(
        explanation(&beta),
        "Rule 1 (beta-users) matched (if in segment \"beta\"): the context is in segment beta, \
         so On (true)."
    );

    // A rollout rule: the sentence gives the share of the served variation, and the
    // variation is the one OFREP serves the same context.
    for user in ["u-de-1", "u-de-2", "u-de-3", "u-de-4"] {
        let context = json!({"targetingKey": user, "country": "de"});
        let german = answer(&server, "checkout", context.clone()).await;
        let remote: Value = reqwest::Client::new()
            .post(format!("{}/ofrep/v1/evaluate/flags/checkout", server.base))
            .bearer_auth(&key)
            .json(&json!({"context": context}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            german["variation"], remote["variant"],
            "{german} vs {remote}"
        );
        assert_eq!(german["reason"], "RULE_MATCH", "{german}");
        assert_eq!(
            (&german["rule_id"], &german["rule_index"]),
            (&json!("germany"), &json!(1))
        );
        assert_eq!(german["rule_description"], "user.country in \"de\"");
        assert_eq!(german["segments"], json!([]));
        assert_eq!(german["in_experiment"], false);
        let share = if german["variation"] == "on" {
            "25 % bucket for On, so On (true)"
        } else {
            "75 % bucket for Off, so Off (false)"
        };
        assert_eq!(
            explanation(&german),
            format!(
                "Rule 2 (germany) matched (if user.country in \"de\"), and its rollout put the \
                 context in the {share}."
            ),
        );
    }

    // Nothing matched.
    let nobody = answer(&server, "checkout", json!({"targetingKey": "u-x"})).await;
    assert_eq!(nobody["reason"], "FALLTHROUGH", "{nobody}");
    assert_eq!(nobody["value"], false);
    assert_eq!(nobody["rule_id"], Value::Null);
    assert_eq!(
        explanation(&nobody),
        "No individual target or rule matched, so the default rule serves Off (false)."
    );

    // A failed prerequisite, named with what it served and what was required.
    let dependent = answer(&server, "dependent", json!({"targetingKey": "u-x"})).await;
    assert_eq!(dependent["reason"], "PREREQUISITE_FAILED", "{dependent}");
    assert_eq!(dependent["prerequisite"], "gate");
    assert_eq!(dependent["variation"], "off");
    assert_eq!(
        explanation(&dependent),
        "Prerequisite gate served Off (false), not On, so the flag serves its off variation \
         Off (false)."
    );

    // An off flag says what off serves.
    let model = answer(&server, "model", json!({"targetingKey": "u-x"})).await;
    assert_eq!(model["reason"], "OFF", "{model}");
    assert_eq!(model["value"], "gpt-small");
    assert_eq!(model["variation_name"], "Small");
    assert_eq!(
        explanation(&model),
        "The flag is off in production, so everyone gets its off variation Small \
         (\"gpt-small\")."
    );

    // An archived flag is not delivered: FLAG_NOT_FOUND, as an SDK would get.
    let retired = answer(&server, "retired", json!({"targetingKey": "u-x"})).await;
    assert_eq!(retired["reason"], "ERROR", "{retired}");
    assert_eq!(retired["error_code"], "FLAG_NOT_FOUND");
    assert_eq!(retired["value"], Value::Null);
    assert!(explanation(&retired).contains("archived"), "{retired}");

    // Strict input: an unknown field, and a malformed context, each named.
    let (status, refused) = evaluate(
        &server,
        &server.admin,
        json!({"context": {"targetingKey": "u-x"}, "flags": "checkout"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["error"]["field"], "flags", "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown field `flags`"),
        "{refused}"
    );
    for (context, field) in [
        (json!({"kind": "user", "name": "no key"}), "context.key"),
        (json!({"targetingKey": 7}), "context.targetingKey"),
        (
            json!({"kind": "multi", "org": {"name": "acme"}}),
            "context.org.key",
        ),
    ] {
        let body = json!({"context": context, "flag": "checkout"});
        let (status, refused) = evaluate(&server, &server.admin, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{context}: {refused}");
        assert_eq!(refused["error"]["field"], field, "{context}: {refused}");
    }

    // Nothing the playground did was audited.
    assert_eq!(newest_audit_seq(&server).await, audited);

    // A reader that may read only checkout's targeting sees only checkout, and is refused
    // another flag by name.
    let reader = server
        .admin_post(
            "/api/v1/tokens",
            json!({"name": "checkout reader", "statements": [{"effect": "allow",
                "actions": ["flag:read", "env:read"],
                "resources": ["proj/default:env/production:flag/checkout"]}]}),
        )
        .await;
    let reader = reader["token"].as_str().unwrap();
    let (status, seen) = evaluate(&server, reader, everything.clone()).await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    let flags: Vec<&Value> = seen["evaluations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["flag"])
        .collect();
    assert_eq!(flags, [&json!("checkout")], "{seen}");
    let (status, refused) = evaluate(
        &server,
        reader,
        json!({"context": {"targetingKey": "u-x"}, "flag": "secret"}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");

    // A reader of `dependent` who may not read its prerequisite `gate` learns that gate
    // failed, never what gate served or what its variations are called.
    let dependent_reader = server
        .admin_post(
            "/api/v1/tokens",
            json!({"name": "dependent reader", "statements": [{"effect": "allow",
                "actions": ["flag:read", "env:read"],
                "resources": ["proj/default:env/production:flag/dependent"]}]}),
        )
        .await;
    let dependent_reader = dependent_reader["token"].as_str().unwrap();
    let (status, seen) = evaluate(
        &server,
        dependent_reader,
        json!({"context": {"targetingKey": "u-x"}, "flag": "dependent"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    let dependent = &seen["evaluations"][0];
    assert_eq!(dependent["reason"], "PREREQUISITE_FAILED", "{seen}");
    assert_eq!(dependent["prerequisite"], "gate");
    assert_eq!(
        explanation(dependent),
        "Prerequisite gate did not serve a required variation, so the flag serves its off \
         variation Off (false)."
    );
    server.stop().await;
}

/// Onboarding waits for the first evaluation: the summary is empty until an application
/// evaluates (here through OFREP, which the server records), and playground evaluations do
/// not count.
async fn activity_follows_real_evaluations(url: String) {
    let server = TestServer::in_process(&url)
        .delivery(DeliveryConfig {
            events_flush: Duration::from_millis(50),
            ..DeliveryConfig::default()
        })
        .start()
        .await;
    seed(&server).await;
    let activity = format!("{PROD}/activity");
    let quiet = json!({"last_evaluation_ms": null, "evaluations_24h": 0, "flags_evaluated_24h": 0});
    assert_eq!(server.admin_get(&activity).await, quiet);

    // The playground evaluates, and records nothing.
    let (status, answer) = evaluate(
        &server,
        &server.admin,
        json!({"context": {"targetingKey": "u-beta"}, "flag": "checkout"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    let key = server.sdk_key(SdkKeyKind::Server).await;
    let before = now_ms();
    for _ in 0..2 {
        let response = reqwest::Client::new()
            .post(format!("{}/ofrep/v1/evaluate/flags/gate", server.base))
            .bearer_auth(&key)
            .json(&json!({"context": {"targetingKey": "u-1"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    let after = now_ms();
    let seen = wait_for(
        "the OFREP evaluations to reach the aggregates",
        20,
        || async {
            let seen = server.admin_get(&activity).await;
            (seen["evaluations_24h"] == 2).then_some(seen)
        },
    )
    .await;
    assert_eq!(seen["flags_evaluated_24h"], 1, "{seen}");
    let last = seen["last_evaluation_ms"].as_i64().unwrap();
    // The start of the minute they happened in.
    assert!(
        last % 60_000 == 0 && last > before - 60_000 && last <= after,
        "{seen}: evaluated between {before} and {after}"
    );
    // The playground's evaluation of checkout was not counted.
    let counted = server
        .admin_get(&format!("{PROD}/flags/checkout/evaluations"))
        .await;
    assert_eq!(counted, json!([]), "{counted}");

    // A reader that may not read gate sees no activity.
    let reader = server
        .admin_post(
            "/api/v1/tokens",
            json!({"name": "checkout reader", "statements": [{"effect": "allow",
                "actions": ["flag:read", "env:read"],
                "resources": ["proj/default:env/production:flag/checkout"]}]}),
        )
        .await;
    let (status, theirs) = server
        .call(reader["token"].as_str(), Method::GET, &activity, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{theirs}");
    assert_eq!(theirs, quiet);
    server.stop().await;
}
