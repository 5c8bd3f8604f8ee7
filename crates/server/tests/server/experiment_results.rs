//! Experiment results end to end (`docs/experiments.md`, "Reading the results"): an application
//! using the Rust SDK evaluates flags under running experiments and tracks conversions; the
//! results route analyses what the intake counted. A known 5 % lift on a proportion metric is
//! significant in the right direction and worded so; a seeded A/A experiment is not; extra
//! exposures to one arm (a broken assignment) flag the experiment untrustworthy, warning first.

use std::time::Duration;

use serde_json::{Value, json};
use switchyard_sdk::{Client, Context, EventsConfig};
use switchyard_testkit::server::{SdkKeyKind, TestServer, wait_for};

use crate::PROD;

switchyard_testkit::backend_tests! {
    sqlite: [a_known_lift_is_significant_an_a_a_is_not_and_a_ratio_mismatch_is_flagged],
    postgres: [],
}

const METRICS: &str = "/api/v1/projects/default/metrics";
/// Units per arm of the lift experiment: at 50 % against 52.5 % the z statistic is about 2.8.
const LIFT_UNITS: u64 = 16_000;
/// Units of the A/A experiment, both arms converting at 50 % by a seeded generator.
const AA_UNITS: u64 = 4_000;
/// Exposures to one arm only, posted on top of the A/A's: a sample ratio mismatch.
const INJECTED: u64 = 600;

/// Creates and starts a fixed-horizon experiment on `flag`'s fallthrough: a (control) against
/// b, all traffic, `metric` primary. Returns its id.
async fn experiment(server: &TestServer, flag: &str, metric: &str) -> String {
    let created = server
        .admin_post(
            &format!("{PROD}/experiments"),
            json!({"flag": flag, "name": format!("{flag} test"), "variations": ["a", "b"],
                   "control": "a", "traffic_percent": 100, "primary_metric": metric,
                   "method": "fixed_horizon"}),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let started = server
        .admin_post(&format!("{PROD}/experiments/{id}/start"), json!({}))
        .await;
    assert_eq!(started["state"], "running", "{started}");
    id
}

/// A deterministic generator (a 64-bit LCG's top bits) in [0, 1).
struct Seeded(u64);

impl Seeded {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn user(key: &str) -> Context {
    Context::from_json(&json!({"key": key})).unwrap()
}

async fn results(server: &TestServer, id: &str) -> Value {
    server
        .admin_get(&format!("{PROD}/experiments/{id}/results"))
        .await
}

/// Waits until the results count `units` units in all.
async fn results_with(server: &TestServer, id: &str, units: u64) -> Value {
    wait_for("the experiment's units to be counted", 30, || async {
        let answer = results(server, id).await;
        let counted: u64 = answer["units"]
            .as_array()?
            .iter()
            .filter_map(|u| u["units"].as_u64())
            .sum();
        (counted == units).then_some(answer)
    })
    .await
}

async fn a_known_lift_is_significant_an_a_a_is_not_and_a_ratio_mismatch_is_flagged(url: String) {
    let server = TestServer::in_process(&url).start().await;
    for (key, event) in [("checkout", "purchase"), ("signup", "signed_up")] {
        let metric = json!({"key": key, "name": key, "event": event, "kind": "proportion",
                            "direction": "increase_is_good", "mde": 0.05});
        server.admin_post(METRICS, metric).await;
    }
    server
        .string_flag_serving_a("new-checkout", ["classic", "new"])
        .await;
    server
        .string_flag_serving_a("new-signup", ["classic", "new"])
        .await;
    let lift = experiment(&server, "new-checkout", "checkout").await;
    let aa = experiment(&server, "new-signup", "signup").await;

    // The SDK starts after the experiments, so it serves their rollouts from its first answer.
    let key = server.sdk_key(SdkKeyKind::Server).await;
    let client = Client::builder(&server.base, &key)
        .events(EventsConfig {
            flush_interval: Duration::from_millis(100),
            capacity: 200_000,
            ..EventsConfig::default()
        })
        .build()
        .await;
    assert!(client.is_initialized());

    // The lift experiment: b's users convert at exactly 52.5 %, a's at 50 % (the k-th user of
    // an arm converts when ⌊(k+1)·rate⌋ passes ⌊k·rate⌋), whatever the split turns out to be.
    let mut seen = [0u64; 2];
    for i in 0..LIFT_UNITS {
        let context = user(&format!("buyer-{i}"));
        let detail = client.string_detail("new-checkout", &context, "none");
        let (arm, rate) = match detail.variation.as_deref() {
            Some("a") => (0, 0.5),
            Some("b") => (1, 0.525),
            other => panic!("served {other:?}"),
        };
        let k = seen[arm] as f64;
        seen[arm] += 1;
        if ((k + 1.0) * rate).floor() > (k * rate).floor() {
            client.track("purchase", &context, 1.0);
        }
    }
    // The A/A: both arms convert at 50 %, each arm's users drawn in turn from its own seeded
    // generator, so the outcome does not depend on which users the experiment's (random) seed
    // puts in which arm.
    let mut draws = [Seeded(0x0005_eeda), Seeded(0x0005_eedb)];
    for i in 0..AA_UNITS {
        let context = user(&format!("visitor-{i}"));
        let detail = client.string_detail("new-signup", &context, "none");
        let arm = match detail.variation.as_deref() {
            Some("a") => 0,
            Some("b") => 1,
            other => panic!("served {other:?}"),
        };
        if draws[arm].next() < 0.5 {
            client.track("signed_up", &context, 1.0);
        }
    }
    client.close().await;

    let answer = results_with(&server, &lift, LIFT_UNITS).await;
    assert_eq!(answer["state"], "running");
    assert_eq!(answer["phase"], 1);
    assert_eq!(answer["srm"]["trustworthy"], true, "{answer}");
    assert_eq!(answer["trustworthy"], true);
    assert_eq!(answer["warnings"], json!([]), "{answer}");
    let checkout = &answer["metrics"][0];
    assert_eq!(checkout["metric"], "checkout");
    assert_eq!(checkout["role"], "primary");
    let control = &checkout["variations"][0];
    assert_eq!(control["variation"], "a");
    assert!(
        (control["mean"].as_f64().unwrap() - 0.5).abs() < 1e-3,
        "{control}"
    );
    let b = &checkout["variations"][1];
    assert_eq!(b["variation"], "b");
    assert_eq!(b["significant"], true, "{checkout}");
    assert_eq!(b["better"], true);
    let relative = &b["lift"]["relative"];
    let estimate = relative["estimate"].as_f64().unwrap();
    assert!((estimate - 0.05).abs() < 0.002, "{relative}");
    assert!(relative["low"].as_f64().unwrap() > 0.0, "{relative}");
    assert!(
        b["lift"]["adjusted_p_value"].as_f64().unwrap() < 0.05,
        "{b}"
    );
    let verdict = checkout["verdict"].as_str().unwrap();
    assert!(verdict.starts_with("b raised checkout by 5."), "{verdict}");
    assert!(verdict.contains(", p "), "{verdict}");
    let size = &checkout["sample_size"];
    assert!(
        size["units_per_variation"].as_u64().unwrap() > 5_000,
        "{size}"
    );
    assert!(size["days"].is_u64(), "{size}");
    let cumulative = answer["cumulative"].as_array().unwrap();
    assert!(!cumulative.is_empty(), "{answer}");
    let today = cumulative.last().unwrap();
    assert_eq!(today["variation"], "b");
    assert!((today["estimate"].as_f64().unwrap() - estimate).abs() < 1e-12);

    let answer = results_with(&server, &aa, AA_UNITS).await;
    assert_eq!(answer["trustworthy"], true, "{answer}");
    let signup = &answer["metrics"][0];
    let b = &signup["variations"][1];
    assert_eq!(b["significant"], false, "{signup}");
    assert!(b["lift"]["p_value"].as_f64().unwrap() > 0.05, "{b}");
    let verdict = signup["verdict"].as_str().unwrap();
    assert!(
        verdict.starts_with("No detectable difference yet between b and a on signup: "),
        "{verdict}"
    );

    // A broken assignment: 600 more units exposed to b only.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let events: Vec<Value> = (0..INJECTED)
        .map(|i| {
            json!({"type": "exposure", "at_ms": now, "flag": "new-signup", "version": 1,
                   "variation": "b", "reason": "FALLTHROUGH",
                   "contexts": [{"kind": "user", "key": format!("injected-{i}")}]})
        })
        .collect();
    let batch = json!({"format": 1, "sdk": "test", "start_ms": now - 1000, "end_ms": now,
                       "events": events});
    let posted = reqwest::Client::new()
        .post(format!("{}/events/v1/bulk", server.base))
        .header("authorization", &key)
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status().as_u16(), 202);
    let answer = results_with(&server, &aa, AA_UNITS + INJECTED).await;
    assert_eq!(answer["trustworthy"], false, "{answer}");
    assert_eq!(answer["srm"]["trustworthy"], false);
    assert!(answer["srm"]["p_value"].as_f64().unwrap() < 0.001);
    let first = answer["warnings"][0].as_str().unwrap();
    assert!(
        first.starts_with("Sample ratio mismatch (p < 0.001)"),
        "{first}"
    );
    assert!(first.contains("do not trust these results"), "{first}");
}
