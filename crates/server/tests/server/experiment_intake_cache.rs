//! The intake keeps each environment's running experiments in memory (`docs/events.md`,
//! "Experiment units"): a batch right after an experiment starts counts toward it, and one
//! right after it stops does not, even when a batch before filled the cache.

use serde_json::{Value, json};
use switchyard_testkit::server::{SdkKeyKind, TestServer};

use crate::PROD;

switchyard_testkit::backend_tests! {
    sqlite: [the_running_experiments_follow_start_and_stop],
    postgres: [the_running_experiments_follow_start_and_stop],
}

/// A batch of one exposure to `layout` (variation `a`) per key, each with a `purchase`; exposed
/// now, so after an experiment's start (a unit's exposure is at or after it).
async fn post(server: &TestServer, key: &str, users: &[String]) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let mut events: Vec<Value> = users
        .iter()
        .map(|user| {
            json!({"type": "exposure", "at_ms": now, "flag": "layout", "version": 1,
                   "variation": "a", "reason": "FALLTHROUGH",
                   "contexts": [{"kind": "user", "key": user}]})
        })
        .collect();
    events.extend(users.iter().map(|user| {
        json!({"type": "metric", "at_ms": now + 1, "name": "purchase", "value": 1.0,
               "contexts": [{"kind": "user", "key": user}]})
    }));
    let batch = json!({"format": 1, "sdk": "test", "start_ms": now - 1000, "end_ms": now + 1,
                       "events": events});
    let posted = reqwest::Client::new()
        .post(format!("{}/events/v1/bulk", server.base))
        .header("authorization", key)
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status().as_u16(), 202);
}

fn users(prefix: &str) -> Vec<String> {
    (0..10).map(|i| format!("{prefix}-{i}")).collect()
}

/// Units the experiment's results count, over every variation.
async fn units(server: &TestServer, id: &str) -> u64 {
    let answer = server
        .admin_get(&format!("{PROD}/experiments/{id}/results"))
        .await;
    answer["units"]
        .as_array()
        .map(|arms| arms.iter().filter_map(|arm| arm["units"].as_u64()).sum())
        .unwrap_or(0)
}

async fn the_running_experiments_follow_start_and_stop(url: String) {
    let server = TestServer::in_process(&url).start().await;
    crate::experiments::conversion_metric(&server).await;
    server
        .string_flag_serving_a("layout", ["narrow", "wide"])
        .await;
    let key = server.sdk_key(SdkKeyKind::Server).await;
    // Before any experiment: the environment's (empty) list is read and kept.
    post(&server, &key, &users("before")).await;

    let created = server
        .admin_post(
            &format!("{PROD}/experiments"),
            json!({"flag": "layout", "name": "cache", "variations": ["a", "b"], "control": "a",
                   "traffic_percent": 100, "primary_metric": "conversion"}),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let started = server
        .admin_post(&format!("{PROD}/experiments/{id}/start"), json!({}))
        .await;
    assert_eq!(started["state"], "running", "{started}");
    post(&server, &key, &users("during")).await;
    assert_eq!(
        units(&server, &id).await,
        10,
        "the batch after the start counted"
    );

    let stopped = server
        .admin_post(&format!("{PROD}/experiments/{id}/stop"), json!({}))
        .await;
    assert_eq!(stopped["state"], "stopped", "{stopped}");
    post(&server, &key, &users("after")).await;
    assert_eq!(
        units(&server, &id).await,
        10,
        "the batch after the stop did not count"
    );
}
