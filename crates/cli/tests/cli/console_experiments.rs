//! The console's experiments pages (`crates/server/console/experiments.js`) in a real headless
//! Chromium (`clients/console-e2e/experiments.mjs`, as the console test runs it) against the
//! `switchyard` binary. Two running experiments get SDK traffic through the events intake:
//! `checkout`, whose treatment converts three times as often as its control, and `banner`, whose
//! control lost a third of its units on the way (a sample ratio mismatch). The page shows the
//! first one's verdict in words with its plots, the second one's "results untrustworthy" first;
//! a metric refused for a field shows the refusal beside that field; an experiment's plan is
//! created through the form with every field; a reader's start/stop/ship are disabled with the
//! reason; a start in an environment requiring approval links the change request it became. Screenshots go to `target/console-experiments-screenshots`.

use std::time::Duration;

use serde_json::json;
use switchyard_sdk::{Client, Context, EventsConfig, Reason};
use switchyard_testkit::server::{Method, SdkKeyKind, TestServer, eventually};

use crate::console::{chromium_or_skip, reader_token};
use crate::{BIN, fresh_dir};

const PROJECT: &str = "/api/v1/projects/default";
const PROD: &str = "/api/v1/projects/default/environments/production";

/// A boolean flag on in `env`, serving "off" to everyone (an experiment's starting point).
async fn flag_serving_off(server: &TestServer, env: &str, key: &str) {
    let path = format!("{PROJECT}/environments/{env}/flags/{key}");
    let current = server.admin_get(&path).await;
    let body = json!({"version": current["version"], "on": true, "off_variation": 1,
                      "fallthrough": {"variation": 1}});
    server.admin(Method::PUT, &path, Some(body)).await;
}

/// Creates a draft experiment in `env` comparing off (control) with on, 50/50, on the flag's
/// default rule: its id.
async fn draft_experiment(server: &TestServer, env: &str, flag: &str, name: &str) -> String {
    let created = server
        .admin_post(
            &format!("{PROJECT}/environments/{env}/experiments"),
            json!({"name": name, "flag": flag, "variations": ["off", "on"], "control": "off",
                   "traffic_percent": 100, "primary_metric": "conversion",
                   "method": "fixed_horizon", "cuped": false}),
        )
        .await;
    created["id"].as_str().unwrap().to_owned()
}

/// Creates and starts an experiment in production (see [`draft_experiment`]): its id.
async fn running_experiment(server: &TestServer, flag: &str, name: &str) -> String {
    let id = draft_experiment(server, "production", flag, name).await;
    server
        .admin_post(&format!("{PROD}/experiments/{id}/start"), json!({}))
        .await;
    id
}

/// The units the results count so far, over every variation.
async fn units_counted(server: &TestServer, id: &str) -> u64 {
    let results = server
        .admin_get(&format!("{PROD}/experiments/{id}/results"))
        .await;
    results["units"]
        .as_array()
        .map(|units| units.iter().filter_map(|u| u["units"].as_u64()).sum())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn experiments_pages_in_headless_chromium() {
    let Some(chromium) = chromium_or_skip() else {
        return;
    };
    let dir = fresh_dir("console-experiments");
    let server = TestServer::binary(BIN).data_dir(&dir).start().await;
    server
        .admin_post(
            &format!("{PROJECT}/environments"),
            json!({"key": "qa", "name": "QA"}),
        )
        .await;
    for flag in ["checkout", "banner", "search"] {
        server
            .admin_post(
                &format!("{PROJECT}/flags"),
                json!({"key": flag, "kind": "boolean"}),
            )
            .await;
        flag_serving_off(&server, "production", flag).await;
    }
    flag_serving_off(&server, "qa", "checkout").await;
    server
        .admin_post(
            &format!("{PROJECT}/metrics"),
            json!({"key": "conversion", "name": "Checkout conversion", "event": "purchase",
                   "kind": "proportion", "direction": "increase_is_good", "mde": 0.05}),
        )
        .await;
    let checkout = running_experiment(&server, "checkout", "New checkout").await;
    let banner = running_experiment(&server, "banner", "Bigger banner").await;
    // qa requires an approval from now on: starting this draft there is a change request.
    let held = draft_experiment(&server, "qa", "checkout", "Held start").await;
    let qa = format!("{PROJECT}/environments/qa");
    let version = server.admin_get(&qa).await["version"].clone();
    let body = json!({"key": "qa", "name": "QA", "required_approvals": 1, "version": version});
    server.admin(Method::PUT, &qa, Some(body)).await;

    // SDK traffic. checkout: 600 users, "on" converts 30 % of them, "off" 10 %. banner: an
    // assignment read without reporting decides who is dropped: every "off" user after the
    // first third is never exposed, as if its variation failed to report.
    let key = server.sdk_key(SdkKeyKind::Server).await;
    let events = EventsConfig {
        flush_interval: Duration::from_millis(100),
        ..EventsConfig::default()
    };
    let silent = EventsConfig {
        enabled: false,
        ..EventsConfig::default()
    };
    let reporting = Client::builder(&server.base, &key)
        .events(events)
        .build()
        .await;
    let assignments = Client::builder(&server.base, &key)
        .events(silent)
        .build()
        .await;
    assert!(reporting.is_initialized() && assignments.is_initialized());
    let (mut checkout_units, mut banner_units, mut banner_off) = (0, 0, 0);
    for i in 0..600 {
        let user = Context::from_json(&json!({"key": format!("user-{i}")})).unwrap();
        let detail = reporting.bool_detail("checkout", &user, false);
        // Served by the experiment's rollout on the default rule.
        assert!(
            matches!(
                detail.reason,
                Reason::Fallthrough {
                    in_rollout: true,
                    ..
                }
            ),
            "{detail:?}"
        );
        checkout_units += 1;
        let converts = if detail.value { i % 10 < 3 } else { i % 10 < 1 };
        if converts {
            reporting.track("purchase", &user, 1.0);
        }
        if !assignments.bool_value("banner", &user, false) {
            banner_off += 1;
            if banner_off % 3 != 1 {
                continue;
            }
        }
        reporting.bool_value("banner", &user, false);
        banner_units += 1;
    }
    reporting.close().await;
    eventually("the checkout units to be counted", 30, || async {
        units_counted(&server, &checkout).await == checkout_units
    })
    .await;
    eventually("the banner units to be counted", 30, || async {
        units_counted(&server, &banner).await == banner_units
    })
    .await;

    let reader = &reader_token(&server).await;

    chromium.run(
        "experiments.mjs",
        &[
            server.base.as_str(),
            server.admin.as_str(),
            reader,
            checkout.as_str(),
            banner.as_str(),
            held.as_str(),
        ],
        "console-experiments-screenshots",
    );

    // The plan created through the form holds every field as typed.
    let experiments = server.admin_get(&format!("{PROD}/experiments")).await;
    let planned = experiments
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "Search ranking")
        .unwrap_or_else(|| panic!("{experiments}"));
    assert_eq!(
        (
            &planned["flag"],
            &planned["variations"],
            &planned["control"],
            &planned["weights"],
            &planned["traffic_percent"],
        ),
        (
            &json!("search"),
            &json!(["on", "off"]),
            &json!("off"),
            &json!([60.0, 40.0]),
            &json!(50.0),
        ),
        "{planned}"
    );
    assert_eq!(
        (
            &planned["primary_metric"],
            &planned["secondary_metrics"],
            &planned["guardrail_metrics"],
            &planned["method"],
            &planned["alpha"],
            &planned["prior"],
            &planned["cuped"],
            &planned["pre_period_hours"],
            &planned["correction"],
        ),
        (
            &json!("conversion"),
            &json!(["revenue_per_order"]),
            &json!([]),
            &json!("bayesian"),
            &json!(0.1),
            &json!({"mean": 0.01, "stddev": 0.2}),
            &json!(false),
            &json!(48),
            &json!("benjamini_hochberg"),
        ),
        "{planned}"
    );
    let mut server = server;
    server.kill();
    let _ = std::fs::remove_dir_all(&dir);
}
