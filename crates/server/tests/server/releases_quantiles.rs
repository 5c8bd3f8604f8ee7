//! A release's status shows, for a `mean` guardrail, each cohort's p50, p90 and p99 from the
//! stored histograms, within 1 % of the quantiles of what the application reported.

use std::time::Duration;

use crate::PROD;
use serde_json::{Value, json};
use switchyard_sdk::{Client, Context, EventsConfig};
use switchyard_testkit::server::{GuardConfig, SdkKeyKind, TestServer, wait_for};

switchyard_testkit::backend_tests! {
    sqlite: [mean_guardrails_show_each_cohorts_quantiles],
    postgres: [mean_guardrails_show_each_cohorts_quantiles],
}

/// The sample's quantile at rank ⌊q (n − 1)⌋, the one the histogram's bound refers to.
fn exact_quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[(q * (sorted.len() - 1) as f64).floor() as usize]
}

async fn mean_guardrails_show_each_cohorts_quantiles(url: String) {
    // The guard must not end the release while the test reads it; status assesses on read.
    let server = TestServer::in_process(&url)
        .guard(GuardConfig {
            interval: Duration::from_secs(3600),
        })
        .start()
        .await;
    server.boolean_flag_serving_off("slow-checkout").await;
    let started = server
        .admin_post(
            &format!("{PROD}/releases"),
            json!({"flag": "slow-checkout", "variation": "on",
                   "stages": [{"percent": 50, "min_bake_s": 3600}],
                   "guardrails": [{"metric": "latency_ms", "kind": "mean"}]}),
        )
        .await;
    let id = started["id"].as_str().unwrap().to_owned();

    let key = server.sdk_key(SdkKeyKind::Server).await;
    let client = Client::builder(&server.base, &key)
        .events(EventsConfig {
            flush_interval: Duration::from_millis(100),
            ..EventsConfig::default()
        })
        .build()
        .await;
    let user = |i: u32| Context::from_json(&json!({"key": format!("user-{i}")})).unwrap();
    wait_for("the release layer to reach the SDK", 10, || async {
        (0..100)
            .any(|i| client.bool_value("slow-checkout", &user(i), false))
            .then_some(())
    })
    .await;
    // Treated requests take 200–449 ms, control ones 100–349 ms.
    let (mut treated, mut control) = (Vec::new(), Vec::new());
    for i in 0..600 {
        let context = user(i);
        let on = client.bool_value("slow-checkout", &context, false);
        let value = f64::from(if on { 200 } else { 100 } + (i * 7) % 250);
        client.track("latency_ms", &context, value);
        if on { &mut treated } else { &mut control }.push(value);
    }
    let evidence: Value = wait_for("every latency event in the assessment", 30, || async {
        let status = server.admin_get(&format!("{PROD}/releases/{id}")).await;
        let evidence = status["assessment"]["guardrails"][0].clone();
        // The metric events may be stored before the evaluation counts the SDK sends with a
        // later batch; until both cohorts have evaluations the assessment shows no means (seen
        // on a loaded machine), so wait for those too.
        (evidence["treated"] == treated.len()
            && evidence["control"] == control.len()
            && evidence["treated_mean"].is_number()
            && evidence["control_mean"].is_number()
            && evidence["treated_quantiles"].is_object()
            && evidence["control_quantiles"].is_object())
        .then_some(evidence)
    })
    .await;
    for (cohort, values) in [("treated", &mut treated), ("control", &mut control)] {
        values.sort_by(f64::total_cmp);
        let quantiles = &evidence[format!("{cohort}_quantiles")];
        for (name, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99)] {
            let exact = exact_quantile(values, q);
            let got = quantiles[name]
                .as_f64()
                .unwrap_or_else(|| panic!("{cohort} {name} missing: {evidence}"));
            assert!(
                (got - exact).abs() <= 0.01 * exact * (1.0 + 1e-9),
                "{cohort} {name}: {got} for {exact}: {evidence}"
            );
        }
    }
    // Beside the means, which still come from the sums.
    let mean = |values: &[f64]| values.iter().sum::<f64>() / values.len() as f64;
    let treated_mean = evidence["treated_mean"].as_f64().unwrap();
    assert!((treated_mean - mean(&treated)).abs() < 1e-9, "{evidence}");
    let control_mean = evidence["control_mean"].as_f64().unwrap();
    assert!((control_mean - mean(&control)).abs() < 1e-9, "{evidence}");
    client.close().await;
}
