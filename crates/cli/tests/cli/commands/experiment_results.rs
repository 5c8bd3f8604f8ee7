//! `switchyard experiments results` (`docs/experiments.md`, "Reading the results"): a running
//! experiment's exposures and conversions, posted as an SDK batch, read back as a table (the
//! verdict in words, each variation's lift, the sample size) and as the API's JSON; an unknown
//! experiment fails naming it.

use serde_json::{Value, json};
use switchyard_testkit::server::{SdkKeyKind, TestServer};

use super::{Cli, PROJECT};

const PROD: &str = "/api/v1/projects/default/environments/production";

/// 100 units per arm; 30 of a's convert and 60 of b's.
fn batch(now: i64) -> Value {
    let mut events = Vec::new();
    for i in 0..200 {
        let variation = if i % 2 == 0 { "a" } else { "b" };
        let user = json!([{"kind": "user", "key": format!("cli-unit-{i}")}]);
        events.push(
            json!({"type": "exposure", "at_ms": now, "flag": "cli-experiment",
            "version": 1, "variation": variation, "reason": "FALLTHROUGH", "contexts": user}),
        );
        let converts = if i % 2 == 0 { i % 20 < 6 } else { i % 10 < 6 };
        if converts {
            events.push(
                json!({"type": "metric", "at_ms": now + 1, "name": "cli-purchase",
                "value": 1.0, "contexts": user}),
            );
        }
    }
    json!({"format": 1, "sdk": "cli-test", "start_ms": now - 1000, "end_ms": now + 1,
           "events": events})
}

pub(super) async fn experiment_results(cli: &Cli, server: &TestServer) {
    server
        .admin_post(
            &format!("{PROJECT}/metrics"),
            json!({"key": "cli-conversion", "event": "cli-purchase", "kind": "proportion",
                   "direction": "increase_is_good", "mde": 0.05}),
        )
        .await;
    server
        .string_flag_serving_a("cli-experiment", ["old", "new"])
        .await;
    let created = server
        .admin_post(
            &format!("{PROD}/experiments"),
            json!({"flag": "cli-experiment", "name": "CLI checkout", "variations": ["a", "b"],
                   "control": "a", "traffic_percent": 100,
                   "primary_metric": "cli-conversion"}),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    server
        .admin_post(&format!("{PROD}/experiments/{id}/start"), json!({}))
        .await;

    let key = server.sdk_key(SdkKeyKind::Server).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let posted = reqwest::Client::new()
        .post(format!("{}/events/v1/bulk", server.base))
        .header("authorization", key)
        .json(&batch(now))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status().as_u16(), 202);

    let args = ["experiments", "results", id.as_str(), "--env", "production"];
    let answer = cli.json(&args);
    assert_eq!(answer["experiment"], id.as_str());
    assert_eq!(answer["units"][0]["units"], 100, "{answer}");
    assert_eq!(answer["units"][1]["units"], 100, "{answer}");
    let checkout = &answer["metrics"][0];
    assert_eq!(checkout["variations"][1]["mean"], 0.6, "{checkout}");
    let verdict = checkout["verdict"].as_str().unwrap();
    assert!(
        verdict.starts_with("b raised cli-conversion by 100.0 % ["),
        "{verdict}"
    );

    let table = cli.ok(&args);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with(&format!(
            "Experiment CLI checkout ({id}) on flag cli-experiment"
        )),
        "{table}"
    );
    assert!(
        lines[1].starts_with("Units: a 100 (planned 50.0 %), b 100"),
        "{table}"
    );
    assert!(table.contains(&format!("  {verdict}\n")), "{table}");
    assert!(
        table.contains("  b: 100 units, mean 0.6000  lift +100.0 % ["),
        "{table}"
    );
    assert!(table.contains("Sample size for a 5.0 % MDE: "), "{table}");

    let refused = cli.fails(
        &["experiments", "results", "no-such", "--env", "production"],
        2,
    );
    assert!(refused.contains("no-such"), "{refused}");
}
