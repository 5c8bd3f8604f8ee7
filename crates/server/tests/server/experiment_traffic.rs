//! An experiment on part of the traffic (`docs/experiments.md`, "Traffic"): the contexts outside
//! it are served the previous variation (here the control) by the same rollout, and their SDK
//! exposures say only the variation and `FALLTHROUGH`. The server re-buckets each exposure, so
//! only the experiment's own share becomes units: about 20 % of the exposed contexts, split
//! evenly, with no sample ratio mismatch from a control swollen by the rest.

use std::time::Duration;

use serde_json::{Value, json};
use switchyard_engine::{Context as EngineContext, Dataset, Env, Snapshot};
use switchyard_sdk::{Client, Context, EventsConfig};
use switchyard_testkit::server::{SdkKeyKind, TestServer, wait_for};

use crate::PROD;

switchyard_testkit::backend_tests! {
    sqlite: [a_twenty_percent_experiment_counts_only_its_share],
    postgres: [],
}

const USERS: u64 = 4_000;
const FLAG: &str = "partial-checkout";

/// The users the flag's served rollout puts in the experiment, with their variation, by the
/// engine the SDK evaluates with (the flag as served, read back from the API).
fn in_experiment(served: &Value) -> Vec<(u64, String)> {
    let flag = json!({"key": FLAG, "kind": "string", "on": true,
                      "variations": [{"key": "a", "value": "classic"}, {"key": "b", "value": "new"}],
                      "fallthrough": served["fallthrough"]});
    let data = Dataset::from_json(&json!({"flags": [flag]}).to_string()).unwrap();
    let snapshot = Snapshot::compile(&data);
    let env = Env {
        now_ms: 0,
        random: 0,
    };
    (0..USERS)
        .filter_map(|i| {
            let context = EngineContext::from_json(&json!({"key": format!("buyer-{i}")})).unwrap();
            let evaluation = snapshot.evaluate(FLAG, &context, &env);
            let tracked = serde_json::to_value(evaluation.reason).unwrap()["in_experiment"] == true;
            tracked.then(|| (i, evaluation.variation.unwrap().key.clone()))
        })
        .collect()
}

/// Whether user `i` converts: every third one, inside the experiment or not.
fn converts(i: u64) -> bool {
    i.is_multiple_of(3)
}

async fn a_twenty_percent_experiment_counts_only_its_share(url: String) {
    let server = TestServer::in_process(&url).start().await;
    server
        .admin_post(
            "/api/v1/projects/default/metrics",
            json!({"key": "checkout", "name": "checkout", "event": "purchase",
                   "kind": "proportion", "direction": "increase_is_good", "mde": 0.05}),
        )
        .await;
    server.string_flag_serving_a(FLAG, ["classic", "new"]).await;
    let created = server
        .admin_post(
            &format!("{PROD}/experiments"),
            json!({"flag": FLAG, "name": "partial", "variations": ["a", "b"], "control": "a",
                   "traffic_percent": 20, "primary_metric": "checkout"}),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let started = server
        .admin_post(&format!("{PROD}/experiments/{id}/start"), json!({}))
        .await;
    assert_eq!(started["state"], "running", "{started}");
    let served = server.admin_get(&format!("{PROD}/flags/{FLAG}")).await;
    let tracked = in_experiment(&served);
    let expected = tracked.len() as u64;
    let share = expected as f64 / USERS as f64;
    assert!(
        (share - 0.2).abs() <= 0.03,
        "{expected} of {USERS} in the experiment"
    );

    let key = server.sdk_key(SdkKeyKind::Server).await;
    let client = Client::builder(&server.base, &key)
        .events(EventsConfig {
            flush_interval: Duration::from_millis(100),
            capacity: 50_000,
            ..EventsConfig::default()
        })
        .build()
        .await;
    assert!(client.is_initialized());
    let mut served_a = 0;
    for i in 0..USERS {
        let context = Context::from_json(&json!({"key": format!("buyer-{i}")})).unwrap();
        let detail = client.string_detail(FLAG, &context, "none");
        served_a += u64::from(detail.variation.as_deref() == Some("a"));
        if converts(i) {
            client.track("purchase", &context, 1.0);
        }
    }
    client.close().await;
    // Most users got the control: 80 % from the untracked rest, half the experiment's 20 %.
    assert!(served_a > USERS * 8 / 10, "{served_a} served a");

    let answer = wait_for("the experiment's units to be counted", 30, || async {
        let answer = server
            .admin_get(&format!("{PROD}/experiments/{id}/results"))
            .await;
        let counted: u64 = answer["units"]
            .as_array()?
            .iter()
            .filter_map(|u| u["units"].as_u64())
            .sum();
        (counted == expected).then_some(answer)
    })
    .await;
    let units: Vec<u64> = answer["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["units"].as_u64().unwrap())
        .collect();
    let arm = |variation: &'static str| tracked.iter().filter(move |(_, v)| v == variation);
    assert_eq!(
        units,
        vec![arm("a").count() as u64, arm("b").count() as u64],
        "{answer}"
    );
    let control_share = units[0] as f64 / expected as f64;
    assert!((control_share - 0.5).abs() < 0.1, "split {units:?}");
    assert_eq!(answer["srm"]["trustworthy"], true, "{answer}");
    let warnings = answer["warnings"].as_array().unwrap();
    assert!(
        !warnings
            .iter()
            .any(|w| w.as_str().unwrap().starts_with("Sample ratio mismatch")),
        "{answer}"
    );
    // The control's conversions are its own units' only, not the rest's.
    let converted = arm("a").filter(|(i, _)| converts(*i)).count() as f64;
    let mean = answer["metrics"][0]["variations"][0]["mean"]
        .as_f64()
        .unwrap();
    assert!((mean - converted / units[0] as f64).abs() < 1e-9, "{mean}");
}
