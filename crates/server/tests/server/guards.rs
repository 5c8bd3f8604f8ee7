//! Two replicas on one database both run the release guard (every `serve` does): each decision
//! about a guarded release is still taken once — one transition, one audit record, one history
//! entry — because the guards race on the release's version and only one commit wins.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::PROD;
use serde_json::{Value, json};
use switchyard_store::Store;
use switchyard_testkit::server::{GuardConfig, TestServer, wait_for};

switchyard_testkit::backend_tests![two_guards_decide_each_release_once];

/// Releases ramped at once: each of their steps is one more chance for the guards to collide.
const RELEASES: usize = 6;

async fn two_guards_decide_each_release_once(url: String) {
    // Both guards look every 20 ms, so their passes overlap on nearly every step.
    let guard = GuardConfig {
        interval: Duration::from_millis(20),
    };
    let first = TestServer::in_process(&url).guard(guard).start().await;
    let second = TestServer::in_process(&url)
        .admin(&first.admin)
        .guard(guard)
        .start()
        .await;
    let mut ids = Vec::new();
    for i in 0..RELEASES {
        let flag = format!("guarded-{i}");
        first.boolean_flag_serving_off(&flag).await;
        // No traffic, no guardrails, no bake: every guard pass may advance a stage.
        let release = first
            .admin_post(
                &format!("{PROD}/releases"),
                json!({"flag": flag, "variation": "on",
                       "stages": [{"percent": 5}, {"percent": 25}, {"percent": 50}]}),
            )
            .await;
        ids.push(release["id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        let done = wait_for("the release to complete", 30, || async {
            let status = second.admin_get(&format!("{PROD}/releases/{id}")).await;
            (status["state"] == "completed").then_some(status)
        })
        .await;
        let events: Vec<&str> = done["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["event"].as_str().unwrap())
            .collect();
        assert_eq!(
            events,
            [
                "release:create",
                "release:advance",
                "release:advance",
                "release:complete"
            ],
            "release {id}: each step once"
        );
    }
    for (i, _) in ids.iter().enumerate() {
        let targeting = first.admin_get(&format!("{PROD}/flags/guarded-{i}")).await;
        assert_eq!(targeting["fallthrough"], json!({"variation": 0}));
    }

    // The audit log holds each guard decision once: per release, two advances and one
    // completion by the release's own actor, and the chain verifies.
    let store = Store::open(&url).await.unwrap();
    let mut decisions: BTreeMap<(String, String), usize> = BTreeMap::new();
    for row in store.audit_page(None, None, 10_000).await.unwrap() {
        let record: Value = serde_json::from_str(&row.record).unwrap();
        if record["actor"]["kind"] == "release" {
            let id = record["actor"]["id"].as_str().unwrap().to_owned();
            let action = record["action"].as_str().unwrap().to_owned();
            *decisions.entry((id, action)).or_default() += 1;
        }
    }
    let mut expected = BTreeMap::new();
    for id in &ids {
        expected.insert((id.clone(), "release:advance".to_owned()), 2);
        expected.insert((id.clone(), "release:complete".to_owned()), 1);
    }
    assert_eq!(decisions, expected);
    let report = store.verify_audit_chain().await.unwrap();
    assert!(report.ok, "{report:?}");
    store.close().await;
    first.stop().await;
    second.stop().await;
}
