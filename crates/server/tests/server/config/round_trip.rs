//! The document and the live project agree: an export planned again changes nothing, a change
//! made through the API shows in the plan in words, and an export applied to a fresh server
//! exports the same and assigns every context the same variation.

use reqwest::Method;
use serde_json::{Value, json};
use switchyard_server::api::types::ConfigApplyInput;
use switchyard_testkit::server::{TestServer, wait_for};

use super::{PROD, SHOP, audit_head, build_shop, config_call, export, put};

pub(super) async fn the_plan_of_an_export_is_empty_and_api_changes_show_in_words(url: String) {
    let server = TestServer::in_process(&url).start().await;
    build_shop(&server).await;
    let exported = export(&server).await;
    let revision = exported["revision"].as_str().unwrap().to_owned();
    assert!(revision.starts_with("sha256:"), "{revision}");
    assert_eq!(exported["config"]["format"], 1);
    // The document keeps what decides assignments.
    let keys: Vec<&Value> = exported["config"]["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| &f["key"])
        .collect();
    assert_eq!(
        keys,
        [&json!("banner"), &json!("checkout")],
        "sorted by key"
    );
    let checkout = &exported["config"]["flags"][1];
    assert!(!checkout["salt"].as_str().unwrap().is_empty());
    assert_eq!(checkout["environments"]["prod"]["rules"][0]["id"], "beta");
    assert_eq!(exported["config"]["segments"][0]["environment"], "prod");
    assert_eq!(
        exported,
        export(&server).await,
        "the same state exports the same"
    );

    let admin = server.admin.clone();
    let body = json!({"config": exported["config"]});
    let (status, plan) = config_call(&server, &admin, "plan", body.clone()).await;
    assert!(status.is_success(), "{status} {plan}");
    assert_eq!(plan["changes"], json!([]), "{plan}");
    assert_eq!(plan["unmanaged"], json!([]));
    assert_eq!(plan["revision"], revision.as_str());
    assert_eq!(plan["required_approvals"], 0);

    // Through the API: banner serves red in prod, and gets a description.
    let banner = format!("{PROD}/flags/banner");
    let live = server.admin_get(&banner).await;
    let mut targeting = json!({"version": live["version"], "on": true,
        "fallthrough": {"variation": 2}, "prerequisites": [{"key": "checkout", "variation": 0}]});
    put(&server, &banner, targeting.take()).await;
    let flag = server.admin_get(&format!("{SHOP}/flags/banner")).await;
    let mut definition = flag.clone();
    for field in ["environments", "version"] {
        definition.as_object_mut().unwrap().remove(field);
    }
    definition["description"] = json!("the top banner");
    definition["version"] = flag["version"].clone();
    put(&server, &format!("{SHOP}/flags/banner"), definition).await;

    let (status, plan) = config_call(&server, &admin, "plan", body.clone()).await;
    assert!(status.is_success(), "{status} {plan}");
    assert_ne!(plan["revision"], revision.as_str(), "the project moved on");
    assert_eq!(plan["revision"], export(&server).await["revision"]);
    let changes = plan["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 2, "{plan}");
    // The plan goes from live to the document: the definition first, then its targeting.
    let (definition, targeting) = (&changes[0], &changes[1]);
    assert_eq!(
        (
            &definition["kind"],
            &definition["action"],
            &definition["file"]
        ),
        (
            &json!("flag"),
            &json!("update"),
            &json!("flags/banner.yaml")
        )
    );
    assert_eq!(
        definition["fields"],
        json!([{"field": "description", "before": "the top banner"}])
    );
    assert_eq!(targeting["kind"], "targeting");
    assert_eq!(targeting["environment"], "prod");
    assert_eq!(targeting["resource"], "proj/shop:env/prod:flag/banner");
    let fallthrough = &targeting["fields"][0];
    assert_eq!(fallthrough["field"], "fallthrough", "{targeting}");
    let (before, after) = (
        fallthrough["before"].as_str().unwrap(),
        fallthrough["after"].as_str().unwrap(),
    );
    assert!(
        before.contains("\"red\"") && after.contains("\"green\""),
        "{fallthrough}"
    );
    assert!(
        !before.contains('2') && !after.contains('1'),
        "no indices: {fallthrough}"
    );

    // Applying the export puts it back: the same state has the same revision again.
    let (status, applied) = config_call(&server, &admin, "apply", body).await;
    assert!(status.is_success(), "{status} {applied}");
    assert_eq!(applied["revision"], revision.as_str(), "{applied}");
    assert_eq!(export(&server).await, exported);
    server.stop().await;
}

/// What `key` is served for `checkout` in `shop`/`prod` through OFREP with `sdk_key`.
async fn served(server: &TestServer, sdk_key: &str, key: &str) -> Value {
    let answer = reqwest::Client::new()
        .post(format!("{}/ofrep/v1/evaluate/flags/checkout", server.base))
        .header("x-api-key", sdk_key)
        .json(&json!({"context": {"targetingKey": key}}))
        .send()
        .await
        .unwrap();
    answer.json::<Value>().await.unwrap()["value"].clone()
}

/// A server SDK key of `shop`/`prod`, once that environment serves `checkout`.
async fn serving_key(server: &TestServer) -> String {
    let key = server
        .admin_post(&format!("{PROD}/sdk-keys"), json!({"kind": "server"}))
        .await;
    let key = key["key"].as_str().unwrap().to_owned();
    wait_for("shop/prod to serve checkout", 20, || async {
        served(server, &key, "u-0").await.is_boolean().then_some(())
    })
    .await;
    key
}

pub(super) async fn an_export_applied_to_a_fresh_server_assigns_the_same(url: String) {
    // The original on a SQLite file of its own; the fresh server on the backend under test.
    let backend = url.split(':').next().unwrap_or_default();
    let dir = std::env::temp_dir().join(format!(
        "switchyard-config-original-{backend}-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let original_url = format!("sqlite://{}/original.db", dir.display());
    let original = TestServer::in_process(&original_url).start().await;
    build_shop(&original).await;
    let exported = export(&original).await;
    let fresh = TestServer::in_process(&url).start().await;
    let (status, _) = fresh
        .call(Some(&fresh.admin), Method::GET, SHOP, None)
        .await;
    assert_eq!(status.as_u16(), 404);
    let before = audit_head(&fresh).await;
    let admin = fresh.admin.clone();
    let body = json!({"config": exported["config"], "comment": "from the original"});
    let (status, applied) = config_call(&fresh, &admin, "apply", body).await;
    assert!(status.is_success(), "{status} {applied}");
    assert_eq!(applied["revision"], exported["revision"], "{applied}");
    let kinds: Vec<&str> = applied["plan"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "project",
            "environment",
            "environment",
            "segment",
            "flag",
            "targeting",
            "flag",
            "targeting",
            "targeting"
        ]
    );
    // Byte for byte the same document: salts, rule ids, variation keys, seeds kept.
    assert_eq!(export(&fresh).await, exported);
    // One audit record for the whole apply.
    let head = audit_head(&fresh).await;
    assert_eq!(
        head["seq"].as_i64(),
        Some(before["seq"].as_i64().unwrap() + 1)
    );
    assert_eq!(
        (&head["action"], &head["resource"], &head["comment"]),
        (
            &json!("config:apply"),
            &json!("proj/shop"),
            &json!("from the original")
        )
    );
    // Applied again, through the typed client: nothing to do.
    let typed = fresh.client().project_config("shop").await.unwrap();
    assert_eq!(serde_json::to_value(&typed).unwrap(), exported);
    let input = ConfigApplyInput {
        config: typed.config,
        prune: true,
        expect_revision: Some(typed.revision.clone()),
        comment: None,
    };
    let plan = fresh.client().plan_config("shop", &input).await.unwrap();
    assert!(plan.is_empty() && plan.unmanaged.is_empty(), "{plan:?}");
    let again = fresh.client().apply_config("shop", &input).await.unwrap();
    let again = again.applied().unwrap();
    assert!(again.plan.is_empty());
    assert_eq!(again.revision, typed.revision);
    assert_eq!(
        audit_head(&fresh).await["seq"],
        head["seq"],
        "nothing to audit"
    );

    // Every context gets the same variation on both servers; the 10/90 split is real.
    let (key_a, key_b) = (serving_key(&original).await, serving_key(&fresh).await);
    let mut on = 0;
    for i in 0..200 {
        let key = format!("user-{i}");
        let a = served(&original, &key_a, &key).await;
        assert_eq!(a, served(&fresh, &key_b, &key).await, "{key}");
        on += usize::from(a == json!(true));
    }
    assert!((5..=45).contains(&on), "{on} of 200 on, for a 10 % rollout");
    original.stop().await;
    fresh.stop().await;
    std::fs::remove_dir_all(&dir).unwrap();
}
